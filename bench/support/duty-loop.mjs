// Another tenant on one core: spins for BUSY µs, then sleeps for IDLE µs, until killed.
// What bench/busy-core.sh runs beside a benchmark (pinned to a vCPU with taskset).
//   node bench/support/duty-loop.mjs BUSY_US IDLE_US
const [busyUs, idleUs] = process.argv.slice(2).map(Number);
if (!(busyUs > 0) || !(idleUs >= 0)) {
  console.error('usage: node bench/support/duty-loop.mjs BUSY_US IDLE_US (BUSY_US > 0, IDLE_US >= 0)');
  process.exit(2);
}
// Atomics.wait on a word nobody changes: a sleep of fractions of a millisecond, which setTimeout does not give.
const word = new Int32Array(new SharedArrayBuffer(4));
let x = 1;
for (;;) {
  const end = performance.now() + busyUs / 1000;
  while (performance.now() < end) x = x * 1.0000001 + 1e-9;
  if (idleUs > 0) Atomics.wait(word, 0, 0, idleUs / 1000);
  if (x === 0) console.log(x); // keeps the loop's work
}
