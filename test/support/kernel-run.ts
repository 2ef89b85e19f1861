// Runs conv2d's arguments through the kernel plan contract: the way the engine
// does (every tensor in the shared arena, packed weights, caller scratch), and
// on plain arrays on this thread (what the engine's results must equal).
import { fullSlice, outputShapeOf, resolveConv2d, toShared, zeros, type Conv2dOptions, type ConvSlice, type Tensor } from '../../src/index.js';
import { planConv, planScratchFloats, releasePlan, runPlan, type KernelPlan } from '../../src/kernels/plan/index.js';
import type { ConvSpec } from './random-conv.js';

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

/** runPlan on this thread over the whole output, on plain arrays: what "the same kernel on one thread" computes. */
export function singleThreadPlan(spec: ConvSpec): Tensor {
  const resolved = resolveConv2d(spec.input, spec.weight, spec.bias, spec.options);
  const g = resolved.geometry;
  const plan = planConv(g, spec.weight.data);
  const slice = fullSlice(g);
  const scratchFloats = planScratchFloats(plan);
  const output = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  runPlan(plan, spec.input.data, spec.weight.data, spec.bias?.data ?? null, output, slice, scratchFloats > 0 ? new Float32Array(scratchFloats) : null);
  releasePlan(plan);
  return { shape: outputShapeOf(resolved), data: output };
}
