// Layers Winograd takes without the native kernels, on one thread: WebAssembly's Winograd plan (the
// native kernels off) against the direct plan the native kernels run (kernels/plan/selection.ts,
// nativeDirectRuns), alternating call by call, batch 8, ReLU. Effective GFLOP/s count the direct
// convolution's FLOPs. AlexNet's conv2-conv5, ResNet's 3x3 layers, ResNeXt's last stage.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/winograd-vs-native.ts
import { resolveShapes } from '../src/conv/geometry.js';
import { configureKernels } from '../src/kernels/options.js';
import { planConv, releasePlan, runPlan } from '../src/kernels/plan/index.js';
import { Random, zeros } from '../src/index.js';
import { median } from '../src/statistics.js';
const shapes = [[96, 256, 2, 5, 2, 27], [256, 384, 1, 3, 1, 13], [384, 384, 2, 3, 1, 13], [384, 256, 2, 3, 1, 13], [64, 64, 1, 3, 1, 56], [128, 128, 1, 3, 1, 28], [256, 256, 1, 3, 1, 14], [512, 512, 1, 3, 1, 7], [1024, 1024, 32, 3, 1, 7]];
const batch = 8;
for (const [cin, cout, groups, k, pad, side] of shapes) {
  const random = new Random(1);
  const x = zeros([batch, cin, side, side], { shared: true });
  for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform(-1, 1);
  const weight = new Float32Array(cout * (cin / groups) * k * k).map(() => random.uniform(-0.1, 0.1));
  const bias = zeros([cout], { shared: true });
  const { geometry } = resolveShapes(x.shape, [cout, cin / groups, k, k], [cout], { padding: pad, groups });
  const out = zeros([batch, cout, geometry.outHeight, geometry.outWidth], { shared: true });
  const planWith = (native: boolean) => {
    const previous = configureKernels({ native });
    try {
      return planConv(geometry, weight, null, { kind: 'relu' });
    } finally {
      configureKernels(previous);
    }
  };
  const plans = { winograd: planWith(false), direct: planWith(true) };
  const t: Record<string, number[]> = { winograd: [], direct: [] };
  for (let r = 0; r < 12; r++) for (const v of (r % 2 ? ['direct', 'winograd'] : ['winograd', 'direct']) as Array<'winograd' | 'direct'>) {
    const previous = configureKernels({ native: v === 'direct' });
    const t0 = performance.now();
    runPlan(plans[v], x.data, weight, bias.data, out.data, { batchStart: 0, batchEnd: batch, outChannelStart: 0, outChannelEnd: cout }, null, null);
    t[v].push(performance.now() - t0);
    configureKernels(previous);
  }
  const flops = 2 * batch * cout * (cin / groups) * k * k * geometry.outHeight * geometry.outWidth;
  const [w, d] = [median(t.winograd.slice(2)), median(t.direct.slice(2))];
  console.log(`${cin}->${cout} g${groups} ${k}x${k} @${side}: ${plans.winograd.kind} ${w.toFixed(2)} ms (${(flops / w / 1e6).toFixed(0)} eff GFLOP/s), native direct (${plans.direct.kind}) ${d.toFixed(2)} ms (${(flops / d / 1e6).toFixed(0)}), winograd/direct ${(w / d).toFixed(2)}x`);
  releasePlan(plans.winograd); releasePlan(plans.direct);
}
