#!/bin/bash
# OnnxModel.forward of this tree against another (BASE: e.g. a `git archive` of
# an earlier commit with node_modules linked in and bench/onnx-host-forward.ts
# copied in), one process per measurement, alternated: this tree first in odd
# pairs. Prints each process's median ms (bench/onnx-host-forward.ts).
# usage: bench/onnx-host-proc-ab.sh MODEL.onnx BATCH PAIRS BASE
set -e
model=$1; batch=$2; pairs=$3; base=$4
here=$(cd "$(dirname "$0")/.." && pwd)
echo "== $(basename "$model") batch $batch, $pairs process pairs, $(uptime)"
for i in $(seq 1 "$pairs"); do
  if [ $((i % 2)) -eq 1 ]; then order="$here $base"; else order="$base $here"; fi
  for tree in $order; do
    echo "$tree $(cd "$tree" && npx tsx bench/onnx-host-forward.ts --model "$model" --batch "$batch" --runs 5)"
  done
done
