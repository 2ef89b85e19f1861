// Runs conv2d's arguments through the kernel plan contract the way the engine
// does: every tensor in the shared arena, packed weights, caller scratch.
import { fullSlice, outputShapeOf, resolveConv2d, toShared, zeros, type Conv2dOptions, type ConvSlice, type Tensor } from '../../src/index.js';
import { planConv, planScratchFloats, releasePlan, runPlan, type KernelPlan } from '../../src/kernels/plan/index.js';

export interface PlannedRun {
  plan: KernelPlan;
  output: Tensor;
}

/** Plans the convolution and runs `slices` (default: the whole output) into a NaN-filled shared output. */
export function runThroughPlan(
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  options: Conv2dOptions,
  slices?: (plan: KernelPlan) => ConvSlice[],
): PlannedRun {
  const resolved = resolveConv2d(input, weight, bias, options);
  const g = resolved.geometry;
  const x = toShared(input);
  const w = toShared(weight);
  const b = bias ? toShared(bias) : null;
  const output = zeros(outputShapeOf(resolved), { shared: true });
  output.data.fill(Number.NaN); // any element a kernel forgets stays NaN
  const plan = planConv(g, w.data);
  try {
    for (const slice of slices ? slices(plan) : [fullSlice(g)]) {
      const scratch = zeros([planScratchFloats(plan)], { shared: true });
      runPlan(plan, x.data, w.data, b ? b.data : null, output.data, slice, scratch.data);
    }
    return { plan: { ...plan }, output };
  } finally {
    releasePlan(plan);
  }
}

/** The golden tolerance: atol = 1e-5 * sqrt(K) * max|w| * max|x|, rtol = 1e-5. */
export function goldenTolerance(input: Tensor, weight: Tensor): { atol: number; rtol: number } {
  const [, cinG, kh, kw] = weight.shape;
  const maxAbs = (t: Tensor) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { atol: 1e-5 * Math.sqrt(cinG * kh * kw) * maxAbs(weight) * maxAbs(input), rtol: 1e-5 };
}
