#!/bin/bash
# Runs a command while another process keeps one vCPU busy: bench/support/duty-loop.mjs
# pinned there with taskset, spinning BUSY µs out of every BUSY + IDLE. How
# docs/benchmarks.md made the issue's "second thread that does not pay" on purpose.
#   bench/busy-core.sh [--cpu 1] [--busy-us 1000000] [--idle-us 0] -- COMMAND...
#   bench/busy-core.sh --busy-us 2000 --idle-us 2000 -- npm run -s bench:peers -- --model M.onnx --batch 1 --threads 1,2 --calling-thread both
set -e
cpu=1; busy=1000000; idle=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) cpu=$2; shift 2 ;;
    --busy-us) busy=$2; shift 2 ;;
    --idle-us) idle=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "bench/busy-core.sh: unknown flag '$1' (expected --cpu, --busy-us, --idle-us, then -- COMMAND)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "bench/busy-core.sh: no command after --" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
taskset -c "$cpu" node "$here/support/duty-loop.mjs" "$busy" "$idle" &
loop=$!
trap 'kill $loop 2>/dev/null; wait $loop 2>/dev/null' EXIT
sleep 0.3
echo "== vCPU $cpu busy $busy µs of every $((busy + idle)) ($(uptime))"
"$@"
