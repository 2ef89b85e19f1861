// The native 1x1 kernel (native/pointwise.c) against the WebAssembly pointwise
// kernel on one thread, layer by layer: each shape's plan run over a batch with
// configureKernels({ native }) on and off, alternating call by call, the
// median of each, GFLOP/s (2 x multiply-accumulates), and a check that the two
// gave the same bits (they must: kernels.md, "Native 1x1 kernels").
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/native-ab.ts [--rounds 15] [--batch 8] [--shapes 64x256@56,16x96@112]
import { parseArgs } from 'node:util';
import { resolveShapes } from '../src/conv/geometry.js';
import { nativeKernelsBuilt } from '../src/kernels/native/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { planConv, releasePlan, runPlan } from '../src/kernels/plan/index.js';
import { Random, zeros } from '../src/index.js';
import { median } from '../src/statistics.js';

/** 1x1 layers of the four torchvision models measured in benchmarks.md: in x out @ plane side. */
const DEFAULT_SHAPES = '32x16@112,16x96@112,96x24@56,144x24@56,24x144@56,64x256@56,512x256@28,576x96@14,96x576@14,1024x512@14,1152x192@7,2048x512@7';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, batch: { type: 'string', default: '8' }, shapes: { type: 'string', default: DEFAULT_SHAPES } } });
const rounds = Number(values.rounds);
const batch = Number(values.batch);
if (!nativeKernelsBuilt()) {
  console.log('the native kernels are not built here, or this CPU has no AVX-512: `npm run build:native`');
  process.exit(1);
}
console.log(`batch ${batch}, one thread, median of ${rounds} alternating calls each`);
console.log(`${'layer'.padEnd(16)} ${'wasm ms'.padStart(8)} ${'GFLOP/s'.padStart(8)} ${'native ms'.padStart(10)} ${'GFLOP/s'.padStart(8)}  native/wasm  bits`);
for (const spec of values.shapes!.split(',')) {
  const [, cin, cout, side] = /^(\d+)x(\d+)@(\d+)$/.exec(spec)!.map(Number);
  const random = new Random(1);
  const x = zeros([batch, cin, side, side], { shared: true });
  for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform(-1, 1);
  const weight = new Float32Array(cout * cin);
  for (let i = 0; i < weight.length; i++) weight[i] = random.uniform(-1, 1) / Math.sqrt(cin);
  const bias = zeros([cout], { shared: true });
  for (let i = 0; i < cout; i++) bias.data[i] = random.uniform(-0.5, 0.5);
  const { geometry } = resolveShapes(x.shape, [cout, cin, 1, 1], [cout], {});
  const plan = planConv(geometry, weight, null, { kind: 'relu' });
  const outs = { wasm: zeros([batch, cout, side, side], { shared: true }), native: zeros([batch, cout, side, side], { shared: true }) };
  const times: Record<'wasm' | 'native', number[]> = { wasm: [], native: [] };
  const call = (variant: 'wasm' | 'native') => {
    const previous = configureKernels({ native: variant === 'native' });
    try {
      const t0 = performance.now();
      runPlan(plan, x.data, weight, bias.data, outs[variant].data, { batchStart: 0, batchEnd: batch, outChannelStart: 0, outChannelEnd: cout }, null, null);
      return performance.now() - t0;
    } finally {
      configureKernels(previous);
    }
  };
  for (let i = 0; i < 3; i++) for (const v of ['wasm', 'native'] as const) call(v);
  for (let round = 0; round < rounds; round++) for (const v of round % 2 ? (['native', 'wasm'] as const) : (['wasm', 'native'] as const)) times[v].push(call(v));
  const same = outs.wasm.data.every((v, i) => Object.is(v, outs.native.data[i]));
  const gflops = (ms: number) => ((2 * batch * cin * cout * side * side) / (ms * 1e6)).toFixed(1);
  const [w, n] = [median(times.wasm), median(times.native)];
  console.log(`${`${cin}->${cout} @${side}`.padEnd(16)} ${w.toFixed(2).padStart(8)} ${gflops(w).padStart(8)} ${n.toFixed(2).padStart(10)} ${gflops(n).padStart(8)}  ${(w / n).toFixed(2).padStart(10)}x  ${same ? 'same' : 'DIFFERENT'}`);
  releasePlan(plan);
}
