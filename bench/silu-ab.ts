// EfficientNet-B0's SiLU layers on the calling thread, this checkout's
// conv-fma.wasm against another build of it (e.g. main's), in ONE process,
// alternating call by call so drifts of the shared machine hit both alike;
// each layer also without its activation, as a control (the epilogue is all
// that changed, so those should not move).
//   flock /tmp/groupconv-bench.lock npx tsx bench/silu-ab.ts --baseline /tmp/effnet-base/src/kernels/wasm/conv-fma.wasm [--rounds 15]
// The baseline file is loaded as the 'simd' variant's module (only on this
// thread, hence no engine), so both sides plan the same microkernel; their
// outputs must be the same bits, which is checked. Times are this thread's
// CPU time per call (process.cpuUsage: nothing else runs in the process), which
// a loaded machine inflates less than wall time.
import type { ActivationOption } from '../src/index.js';
import { checkActivation } from '../src/kernels/epilogue.js';
import { compareBuilds, wasmAbArgs, type WasmAbLayer } from './support/wasm-ab.js';

const { rounds } = wasmAbArgs(15);

const LAYERS: WasmAbLayer[] = [
  { name: 'pw 16->96@112', input: [8, 16, 112, 112], weight: [96, 16, 1, 1], options: {} },
  { name: 'pw 24->144@56', input: [8, 24, 56, 56], weight: [144, 24, 1, 1], options: {} },
  { name: 'pw 80->480@14', input: [8, 80, 14, 14], weight: [480, 80, 1, 1], options: {} },
  { name: 'dw3x3 s1 144@56', input: [8, 144, 56, 56], weight: [144, 1, 3, 3], options: { padding: 1, groups: 144 } },
  { name: 'dw3x3 s2 96@112', input: [8, 96, 112, 112], weight: [96, 1, 3, 3], options: { stride: 2, padding: 1, groups: 96 } },
  { name: 'dw5x5 s1 240@28', input: [8, 240, 28, 28], weight: [240, 1, 5, 5], options: { padding: 2, groups: 240 } },
  { name: 'dw5x5 s1 1152@7', input: [8, 1152, 7, 7], weight: [1152, 1, 5, 5], options: { padding: 2, groups: 1152 } },
  { name: 'SE 1x1 48->1152@1', input: [8, 48, 1, 1], weight: [1152, 48, 1, 1], options: {} },
  { name: 'conv3x3 s2 3@224', input: [8, 3, 224, 224], weight: [32, 3, 3, 3], options: { stride: 2, padding: 1 } },
];

const cpuMs = (call: () => void) => {
  const start = process.cpuUsage();
  call();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

console.log(`CPU ms per call on this thread (median of ${rounds} alternating rounds), and the median per-round ratio baseline / current`);
console.log(`${'layer'.padEnd(18)} ${'act'.padEnd(5)} current baseline  speedup  kernel`);
for (const l of LAYERS) {
  for (const activation of ['silu', 'none'] as ActivationOption[]) {
    const r = await compareBuilds(l, rounds, cpuMs, { activation: checkActivation(activation), weightScale: 1 / Math.sqrt(l.weight.slice(1).reduce((a, b) => a * b, 1)) });
    console.log(
      `${l.name.padEnd(18)} ${String(activation).padEnd(5)} ${r.current.toFixed(2).padStart(7)} ${r.baseline.toFixed(2).padStart(8)} ${r.speedup.toFixed(2).padStart(7)}x  ${r.microkernel}${r.same ? '' : '  OUTPUTS DIFFER'}`,
    );
  }
}
