// How many cores the machine gives this process now: 1 then 2 worker threads
// each counting for 500 ms. Each of 2 counting about what 1 does: 2 cores;
// each half: about one core, and no 2-worker wall time means anything.
//
//   node bench/cores-available.mjs
import { Worker } from 'node:worker_threads';
const code = `const { parentPort } = require('node:worker_threads'); const t=Date.now(); let x=0; while (Date.now()-t < 500) x++; parentPort.postMessage(x);`;
for (const n of [1, 2]) {
  const t0 = Date.now();
  const res = await Promise.all(Array.from({ length: n }, () => new Promise((r) => { const w = new Worker(code, { eval: true }); w.on('message', (x) => { r(x); w.terminate(); }); })));
  console.log(n, 'threads', Date.now() - t0, 'ms wall; iterations each (M):', res.map((x) => (x / 1e6).toFixed(0)).join(' '));
}
