// The two WebAssembly builds against each other on issue #7's layer suite, in
// ONE process on the main thread, alternating call by call, so drifts of the
// shared machine hit both alike: conv-fma.wasm (relaxed SIMD, fused
// multiply-add) against conv.wasm (plain SIMD).
//   flock /tmp/groupconv-bench.lock npx tsx examples/kernel-ab.ts [--rounds 9] [--layers resnext,dense]
// With --baseline other.wasm (e.g. conv-fma.wasm built from another commit),
// the plain build's place is taken by that file: current fma against it.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Random, fullSlice, resolveShapes, zeros, type Tensor } from '../src/index.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../src/kernels/plan/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { WASM_URLS, type WasmVariant } from '../src/kernels/wasm/runtime.js';
import { SUITE, layerFlops } from './peers/suite.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    layers: { type: 'string', default: '' },
    baseline: { type: 'string', default: '' },
  },
});
const other = values.baseline ? 'baseline' : 'simd';
if (values.baseline) WASM_URLS.simd = pathToFileURL(resolve(values.baseline));
const rounds = Number(values.rounds);
const layers = SUITE.filter((l) => !values.layers || values.layers.split(',').some((part) => l.name.includes(part)));
const VARIANTS: WasmVariant[] = ['fma', 'simd'];

function randomShared(random: Random, shape: number[], scale: number): Tensor {
  const t = zeros(shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.normal() * scale;
  return t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

console.log(`GFLOP/s on one thread (median of ${rounds} alternating rounds), and the median per-round ratio fma / ${other}`);
console.log(`${'layer'.padEnd(18)}     fma ${other.padStart(7)}  fma/${other}`);
for (const l of layers) {
  const random = new Random(1);
  const [cout, cinG, kh, kw] = l.weight;
  const input = randomShared(random, l.input, 1);
  const weight = randomShared(random, l.weight, 1 / Math.sqrt(cinG * kh * kw));
  const bias = randomShared(random, [cout], 0.5);
  const { geometry } = resolveShapes(l.input, l.weight, [cout], l.options);
  const output = zeros([geometry.batch, geometry.outChannels, geometry.outHeight, geometry.outWidth], { shared: true });
  const slice = fullSlice(geometry);
  const runs = VARIANTS.map((variant) => {
    const previous = configureKernels({ wasmVariant: variant });
    const plan = planConv(geometry, weight.data);
    configureKernels(previous);
    const scratch = zeros([planScratchFloats(plan)], { shared: true });
    return { plan, call: () => runPlan(plan, input.data, weight.data, bias.data, output.data, slice, scratch.data) };
  });
  for (const run of runs) run.call(); // compile and warm up
  const seconds: number[][] = VARIANTS.map(() => []);
  for (let round = 0; round < rounds; round++) {
    runs.forEach((run, i) => {
      const start = process.hrtime.bigint();
      run.call();
      seconds[i].push(Number(process.hrtime.bigint() - start) / 1e9);
    });
  }
  const gflops = seconds.map((s) => layerFlops(l) / median(s) / 1e9);
  const ratio = median(seconds[1].map((simd, i) => simd / seconds[0][i]));
  console.log(`${l.name.padEnd(18)} ${gflops.map((g) => g.toFixed(1).padStart(7)).join(' ')}  ${ratio.toFixed(2).padStart(7)}x`);
  for (const run of runs) releasePlan(run.plan);
}
