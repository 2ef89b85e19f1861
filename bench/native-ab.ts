// The native 1x1 and depthwise kernels (native/kernels.h) against the
// WebAssembly kernels on one thread, layer by layer: each shape's plan run over a batch with
// configureKernels({ native }) on and off, alternating call by call, the
// median of each, GFLOP/s (2 x multiply-accumulates), and a check that the two
// gave the same bits (they must: kernels.md, "Native 1x1 kernels").
//
// A shape is `CINxCOUT@SIDE` (a 1x1 convolution), `dwCkKsS@SIDE` (depthwise, C channels, KxK, stride S,
// padding K / 2; SIDE the input's), `cCINxCOUTkKsSpP@SIDE` (a dense KxK convolution at stride S, padding P)
// or `fcROWSxINxOUT` (a fully connected layer; the batch is its rows). --activation picks the epilogue (relu, silu, none); --width 8 runs the
// native kernels' AVX2 build where the CPU has AVX-512 too.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/native-ab.ts [--rounds 15] [--batch 8] [--shapes 64x256@56,16x96@112,dw144k5s1@28] [--activation silu]
import { parseArgs } from 'node:util';
import { resolveShapes } from '../src/conv/geometry.js';
import type { Activation } from '../src/kernels/epilogue.js';
import { nativeKernelsBuilt } from '../src/kernels/native/index.js';
import { linearColumns } from '../src/kernels/linear.js';
import { configureKernels } from '../src/kernels/options.js';
import { planConv, releasePlan, runPlan } from '../src/kernels/plan/index.js';
import { Random, zeros } from '../src/index.js';
import { median } from '../src/statistics.js';

/** 1x1 layers of the four torchvision models measured in benchmarks.md: in x out @ plane side. */
const DEFAULT_SHAPES = '32x16@112,16x96@112,96x24@56,144x24@56,24x144@56,64x256@56,512x256@28,576x96@14,96x576@14,1024x512@14,1152x192@7,2048x512@7';
/** efficientnet_b0's and mobilenet_v2's depthwise layers. */
const DEPTHWISE_SHAPES = 'dw32k3s1@112,dw96k3s2@112,dw144k3s1@56,dw144k5s2@56,dw240k5s1@28,dw240k3s2@28,dw480k3s1@14,dw672k5s1@14,dw672k5s2@14,dw1152k5s1@7,dw960k3s1@7';
const ACTIVATIONS: Record<string, Activation> = { none: { kind: 'none' }, relu: { kind: 'relu' }, silu: { kind: 'silu' } };

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '15' }, batch: { type: 'string', default: '8' }, shapes: { type: 'string', default: `${DEFAULT_SHAPES},${DEPTHWISE_SHAPES}` }, activation: { type: 'string', default: 'relu' }, width: { type: 'string' } },
});
const activation = ACTIVATIONS[values.activation!];
// --width 8: the AVX2 build of the kernels on a CPU that also has AVX-512.
if (values.width) nativeKernelsBuilt()?.useWidth(Number(values.width));
const rounds = Number(values.rounds);
const batch = Number(values.batch);
if (!nativeKernelsBuilt()) {
  console.log('the native kernels are not built here, or this CPU has no AVX-512: `npm run build:native`');
  process.exit(1);
}
console.log(`batch ${batch}, one thread, median of ${rounds} alternating calls each, native with ${nativeKernelsBuilt()!.width()}-float vectors`);
console.log(`${'layer'.padEnd(16)} ${'wasm ms'.padStart(8)} ${'GFLOP/s'.padStart(8)} ${'native ms'.padStart(10)} ${'GFLOP/s'.padStart(8)}  native/wasm  bits`);
for (const spec of values.shapes!.split(',')) {
  const fc = /^fc(\d+)x(\d+)x(\d+)$/.exec(spec);
  if (fc) {
    linearAb(spec, Number(fc[1]), Number(fc[2]), Number(fc[3]));
    continue;
  }
  const pointwise = /^(\d+)x(\d+)@(\d+)$/.exec(spec);
  const depthwise = /^dw(\d+)k(\d+)s(\d+)@(\d+)$/.exec(spec);
  const dense = /^c(\d+)x(\d+)k(\d+)s(\d+)p(\d+)@(\d+)$/.exec(spec);
  if (!pointwise && !depthwise && !dense) throw new Error(`--shapes: ${spec} is none of CINxCOUT@SIDE, dwCkKsS@SIDE, cCINxCOUTkKsSpP@SIDE, fcROWSxINxOUT`);
  const [cin, cout, side, k, stride, padding] = pointwise
    ? [Number(pointwise[1]), Number(pointwise[2]), Number(pointwise[3]), 1, 1, 0]
    : depthwise
      ? [Number(depthwise[1]), Number(depthwise[1]), Number(depthwise[4]), Number(depthwise[2]), Number(depthwise[3]), Number(depthwise[2]) >> 1]
      : [Number(dense![1]), Number(dense![2]), Number(dense![6]), Number(dense![3]), Number(dense![4]), Number(dense![5])];
  const random = new Random(1);
  const x = zeros([batch, cin, side, side], { shared: true });
  for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform(-1, 1);
  const cinG = depthwise ? 1 : cin;
  const weight = new Float32Array(cout * cinG * k * k);
  for (let i = 0; i < weight.length; i++) weight[i] = random.uniform(-1, 1) / Math.sqrt(cinG * k * k);
  const bias = zeros([cout], { shared: true });
  for (let i = 0; i < cout; i++) bias.data[i] = random.uniform(-0.5, 0.5);
  const { geometry } = resolveShapes(x.shape, [cout, cinG, k, k], [cout], { stride, padding, groups: depthwise ? cin : 1 });
  const plan = planConv(geometry, weight, null, activation);
  const outShape = [batch, cout, geometry.outHeight, geometry.outWidth];
  const outs = { wasm: zeros(outShape, { shared: true }), native: zeros(outShape, { shared: true }) };
  alternate(spec, 2 * batch * cout * cinG * k * k * geometry.outHeight * geometry.outWidth, outs, (out) =>
    runPlan(plan, x.data, weight, bias.data, out, { batchStart: 0, batchEnd: batch, outChannelStart: 0, outChannelEnd: cout }, null, null),
  );
  releasePlan(plan);
}

/** A fully connected layer through linearColumns, native and WebAssembly alternating, as the convolutions above. */
function linearAb(spec: string, rows: number, inF: number, outF: number): void {
  const random = new Random(1);
  const x = zeros([rows, inF], { shared: true });
  for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform(-1, 1);
  const weight = zeros([outF, inF], { shared: true });
  for (let i = 0; i < weight.data.length; i++) weight.data[i] = random.uniform(-1, 1) / Math.sqrt(inF);
  const bias = zeros([outF], { shared: true });
  const outs = { wasm: zeros([rows, outF], { shared: true }), native: zeros([rows, outF], { shared: true }) };
  alternate(spec, 2 * rows * inF * outF, outs, (out) => linearColumns(x.data, weight.data, bias.data, out, rows, inF, outF, 0, outF));
}

/** `run` with the native kernels off and on, alternating call by call after a warm-up, each into its own output: the medians' line, bits compared. */
function alternate(spec: string, flops: number, outs: Record<'wasm' | 'native', { data: Float32Array }>, run: (out: Float32Array) => void): void {
  const times: Record<'wasm' | 'native', number[]> = { wasm: [], native: [] };
  const call = (variant: 'wasm' | 'native') => {
    const previous = configureKernels({ native: variant === 'native' });
    try {
      const t0 = performance.now();
      run(outs[variant].data);
      return performance.now() - t0;
    } finally {
      configureKernels(previous);
    }
  };
  for (let i = 0; i < 3; i++) for (const v of ['wasm', 'native'] as const) call(v);
  for (let round = 0; round < rounds; round++) for (const v of round % 2 ? (['native', 'wasm'] as const) : (['wasm', 'native'] as const)) times[v].push(call(v));
  const same = outs.wasm.data.every((v, i) => Object.is(v, outs.native.data[i]));
  const gflops = (ms: number) => (flops / (ms * 1e6)).toFixed(1);
  const [w, n] = [median(times.wasm), median(times.native)];
  console.log(`${spec.padEnd(16)} ${w.toFixed(2).padStart(8)} ${gflops(w).padStart(8)} ${n.toFixed(2).padStart(10)} ${gflops(n).padStart(8)}  ${(w / n).toFixed(2).padStart(10)}x  ${same ? 'same' : 'DIFFERENT'}`);
}
