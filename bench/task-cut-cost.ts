// The fixed cost of cutting a small convolution into more tasks, on one
// thread: runPlan over a whole batch-1 layer (depthwise, and MobileNetV2's
// last 1x1 layers at 7x7) in 1 call against the same layer cut into 2, 4, 8
// and 16 runs of output channels (4-channel blocks for the 1x1), alternated, medians
// over many rounds. What is left over the 1-call time, per extra call, is the
// kernel entry's fixed cost (operands, views, the WebAssembly call).
//
//   npx tsx bench/task-cut-cost.ts
import { evenRuns } from '../src/scheduler/conv-tasks.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../src/kernels/plan/index.js';
import { resolveConv2d, zeros } from '../src/index.js';
import { median } from '../src/statistics.js';

const layers = [
  { name: 'dw 3x3 96ch 112x112 s2', c: 96, out: 96, groups: 96, hw: 112, k: 3, stride: 2 },
  { name: 'dw 3x3 144ch 56x56', c: 144, out: 144, groups: 144, hw: 56, k: 3, stride: 1 },
  { name: 'dw 5x5 672ch 14x14', c: 672, out: 672, groups: 672, hw: 14, k: 5, stride: 1 },
  { name: 'dw 3x3 960ch 7x7', c: 960, out: 960, groups: 960, hw: 7, k: 3, stride: 1 },
  { name: '1x1 960->320 7x7', c: 960, out: 320, groups: 1, hw: 7, k: 1, stride: 1 },
  { name: '1x1 320->1280 7x7', c: 320, out: 1280, groups: 1, hw: 7, k: 1, stride: 1 },
];
/** Runs of output channels, whole 4-channel blocks where the layer has more than 1 per group (the kernel tiles 4 at a time). */
const runsOf = (out: number, groups: number, n: number) =>
  groups === out ? evenRuns(out, n) : evenRuns(out / 4, n).map(([a, b]) => [4 * a, 4 * b] as [number, number]);
const cuts = [1, 2, 4, 8, 16];
for (const l of layers) {
  const x = zeros([1, l.c, l.hw, l.hw], { shared: true });
  const w = zeros([l.out, l.c / l.groups, l.k, l.k], { shared: true });
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i);
  for (let i = 0; i < w.data.length; i++) w.data[i] = Math.cos(i);
  const g = resolveConv2d(x, w, null, { stride: l.stride, padding: (l.k - 1) / 2, groups: l.groups }).geometry;
  const out = zeros([1, l.out, g.outHeight, g.outWidth], { shared: true });
  const plan = planConv(g, w.data);
  const scratch = zeros([Math.max(1, planScratchFloats(plan))], { shared: true });
  const times = cuts.map(() => [] as number[]);
  for (let round = 0; round < 400; round++) {
    cuts.forEach((n, i) => {
      const runs = runsOf(l.out, l.groups, n);
      const t0 = performance.now();
      for (const [a, b] of runs) runPlan(plan, x.data, w.data, null, out.data, { batchStart: 0, batchEnd: 1, outChannelStart: a, outChannelEnd: b }, scratch.data);
      times[i].push(performance.now() - t0);
    });
  }
  const base = median(times[0]);
  console.log(`${l.name}: ` + cuts.map((n, i) => `${n} calls ${(median(times[i]) * 1000).toFixed(1)} µs`).join(', ') + `; per extra call ${(((median(times[4]) - base) / 15) * 1000).toFixed(2)} µs`);
  releasePlan(plan);
}
