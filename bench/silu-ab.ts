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
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { errors } from '../src/errors.js';
import { fullSlice, Random, resolveConv2d, type ActivationOption, type Conv2dOptions } from '../src/index.js';
import { checkActivation } from '../src/kernels/epilogue.js';
import { configureKernels } from '../src/kernels/options.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../src/kernels/plan/index.js';
import { hasWasmRelaxedSimd, WASM_URLS, type WasmVariant } from '../src/kernels/wasm/runtime.js';
import { median } from '../src/statistics.js';
import { perRoundRatios, rotated } from './support/rounds.js';

const { values } = parseArgs({ options: { baseline: { type: 'string' }, rounds: { type: 'string', default: '15' } } });
if (!values.baseline) throw errors.badFlag('--baseline', 'a conv-fma.wasm to compare with is required');
if (!hasWasmRelaxedSimd()) throw errors.relaxedSimdMissing();
const rounds = Number(values.rounds);
WASM_URLS.simd = pathToFileURL(values.baseline); // before the first plan compiles it
const SIDES = { current: 'fma', baseline: 'simd' } as const satisfies Record<string, WasmVariant>;
type Side = keyof typeof SIDES;

const LAYERS: { name: string; input: number[]; weight: number[]; options: Conv2dOptions }[] = [
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

const fill = (random: Random, n: number, scale: number) => Float32Array.from({ length: n }, () => random.normal() * scale);
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
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
    const random = new Random(1);
    const input = fill(random, size(l.input), 1);
    const weight = fill(random, size(l.weight), 1 / Math.sqrt(size(l.weight.slice(1))));
    const bias = fill(random, l.weight[0], 0.5);
    const g = resolveConv2d({ shape: l.input, data: input }, { shape: l.weight, data: weight }, { shape: [l.weight[0]], data: bias }, l.options).geometry;
    const runs = {} as Record<Side, { call: () => void; out: Float32Array; microkernel: string; close: () => void }>;
    for (const side of Object.keys(SIDES) as Side[]) {
      const previous = configureKernels({ wasmVariant: SIDES[side] });
      const plan = planConv(g, weight, null, checkActivation(activation));
      configureKernels(previous);
      const scratch = new Float32Array(planScratchFloats(plan));
      const out = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
      const call = () => runPlan(plan, input, weight, bias, out, fullSlice(g), scratch);
      call(); // compiles and warms up
      runs[side] = { call, out, microkernel: plan.microkernel, close: () => releasePlan(plan) };
    }
    const ms: Record<Side, number[]> = { current: [], baseline: [] };
    for (let round = 0; round < rounds; round++) {
      for (const side of rotated(Object.keys(SIDES) as Side[], round)) ms[side].push(cpuMs(runs[side].call));
    }
    const same = runs.current.out.every((v, i) => Object.is(v, runs.baseline.out[i]));
    const speedup = median(perRoundRatios(ms.baseline, ms.current));
    console.log(
      `${l.name.padEnd(18)} ${String(activation).padEnd(5)} ${median(ms.current).toFixed(2).padStart(7)} ${median(ms.baseline).toFixed(2).padStart(8)} ${speedup.toFixed(2).padStart(7)}x  ${runs.current.microkernel}${same ? '' : '  OUTPUTS DIFFER'}`,
    );
    for (const run of Object.values(runs)) run.close();
  }
}
