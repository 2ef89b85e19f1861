// The two WebAssembly builds of one checkout against each other on issue #7's
// layer suite, in ONE process, alternating call by call so drifts of the shared
// machine hit both alike: conv-fma.wasm (relaxed SIMD, fused multiply-add)
// against conv.wasm (plain SIMD), each on its own 1-worker GroupedConvEngine
// (a call's dispatch is tens of µs beside kernels of milliseconds).
//   flock /tmp/groupconv-bench.lock npx tsx bench/kernel-ab.ts [--rounds 9] [--layers resnext,dense]
// A layer's kernel plan is made at its first call and takes the build the
// kernel switches name then (configureKernels({ wasmVariant }): GROUPCONV_WASM is
// read once per process), so each build's layers make their first call under
// their own setting. The
// two builds round differently, so their outputs differ: a layer whose outputs
// come out identical ran the same code on both sides, and is flagged.
// To compare kernels across commits, run bench/engine-ab.ts against the other
// checkout and read its 1-worker rows.
import { parseArgs } from 'node:util';
import { GroupedConvEngine, Random, zeros, type Tensor } from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { median } from '../src/statistics.js';
import { layerFlops, outputShape, suiteLayers } from './peers/suite.js';
import { perRoundRatios, rotated } from './support/rounds.js';
import { randomShared } from './support/tensors.js';
import { timeMs } from './support/timing.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    layers: { type: 'string', default: '' },
  },
});
const rounds = Number(values.rounds);
const layers = suiteLayers(values.layers!);
const BUILDS = ['fma', 'simd'] as const;
type Build = (typeof BUILDS)[number];

/** Runs `first` with the kernel switches set for `build`, then puts them back. */
async function underBuild<T>(build: Build, first: () => Promise<T>): Promise<T> {
  const saved = configureKernels({ wasmVariant: build });
  try {
    return await first();
  } finally {
    configureKernels(saved);
  }
}

const sameBits = (a: Tensor, b: Tensor) => a.data.every((v, i) => Object.is(v, b.data[i]));

const engines = Object.fromEntries(BUILDS.map((b) => [b, new GroupedConvEngine({ workers: 1 })])) as Record<Build, GroupedConvEngine>;
for (const engine of Object.values(engines)) await engine.warmup();

console.log(`GFLOP/s on one worker (median of ${rounds} alternating rounds), and the median per-round ratio fma / simd`);
console.log(`${'layer'.padEnd(18)}     fma    simd  fma/simd`);
for (const l of layers) {
  const [cout, cinG, kh, kw] = l.weight;
  const random = new Random(1);
  const input = randomShared(random, l.input, 1);
  const weight = randomShared(random, l.weight, 1 / Math.sqrt(cinG * kh * kw));
  const bias = randomShared(random, [cout], 0.5);
  const runs = {} as Record<Build, { call: () => Promise<unknown>; out: Tensor; close: () => void }>;
  for (const build of BUILDS) {
    const layer = engines[build].layer(weight, bias, l.options);
    const out = zeros(outputShape(l), { shared: true });
    await underBuild(build, () => layer.run(input, { out })); // makes the plan, compiles and warms up
    runs[build] = { call: () => layer.run(input, { out }), out, close: () => layer.close() };
  }
  const ms: Record<Build, number[]> = { fma: [], simd: [] };
  for (let round = 0; round < rounds; round++) {
    for (const build of rotated(BUILDS, round)) ms[build].push(await timeMs(runs[build].call));
  }
  const gflops = BUILDS.map((b) => layerFlops(l) / median(ms[b]) / 1e6);
  const ratio = median(perRoundRatios(ms.simd, ms.fma));
  const note = sameBits(runs.fma.out, runs.simd.out) ? '  (identical outputs: both ran the same code)' : '';
  console.log(`${l.name.padEnd(18)} ${gflops.map((g) => g.toFixed(1).padStart(7)).join(' ')}  ${ratio.toFixed(2).padStart(7)}x${note}`);
  for (const run of Object.values(runs)) run.close();
}
for (const engine of Object.values(engines)) await engine.close();
