// Stride-2 layers of mobilenet_v2 on the calling thread, this checkout's
// conv-fma.wasm against another build of it (e.g. main's), in ONE process,
// alternating call by call so drifts of the shared machine hit both alike.
//   flock /tmp/groupconv-bench.lock npx tsx bench/planes-ab.ts --baseline /work/main/src/kernels/wasm/conv-fma.wasm [--rounds 9]
// The baseline file is loaded as the 'simd' variant's module (only on this
// thread, hence no engine): both sides plan the same kernel, and a change that
// only moves data (the phase planes' copy) must leave the outputs bit for bit
// the same, which is checked.
import { timeMs } from './support/timing.js';
import { compareBuilds, wasmAbArgs, type WasmAbLayer } from './support/wasm-ab.js';

const { rounds } = wasmAbArgs(9);

const LAYERS: WasmAbLayer[] = [
  { name: 'dw3x3 s2 96@112', input: [8, 96, 112, 112], weight: [96, 1, 3, 3], options: { stride: 2, padding: 1, groups: 96 } },
  { name: 'dw3x3 s2 144@56', input: [8, 144, 56, 56], weight: [144, 1, 3, 3], options: { stride: 2, padding: 1, groups: 144 } },
  { name: 'conv3x3 s2 3@224', input: [8, 3, 224, 224], weight: [32, 3, 3, 3], options: { stride: 2, padding: 1, groups: 1 } },
];

console.log(`ms per call on this thread (median of ${rounds} alternating rounds), and the median per-round ratio baseline / current`);
console.log(`${'layer'.padEnd(18)} current baseline  speedup  kernel`);
for (const l of LAYERS) {
  const r = await compareBuilds(l, rounds, timeMs, { weightScale: 1 / 3 });
  console.log(`${l.name.padEnd(18)} ${r.current.toFixed(2).padStart(7)} ${r.baseline.toFixed(2).padStart(8)} ${r.speedup.toFixed(2).padStart(7)}x  ${r.microkernel}${r.same ? '' : '  OUTPUTS DIFFER'}`);
}
