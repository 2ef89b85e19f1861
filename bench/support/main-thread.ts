// A convolution planned once and run on the main thread over the whole output:
// the same plan contract the engine's workers run, packed weights and scratch
// in the shared arena, no copies. It is what bench:engine, bench:peers and
// engine-vs-main call "the main thread" (or "1 thread").
// The one place under bench/ that reaches past the public API (into the
// kernels' planConv/runPlan): when their entry points change, adapt it here.
import { fullSlice, resolveConv2d, type Conv2dOptions } from '../../src/conv/geometry.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../../src/kernels/plan/index.js';
import { zeros, type Tensor } from '../../src/tensor/tensor.js';

export interface MainThreadConv {
  /** Runs the convolution once into `out`. */
  call(): void;
  /** Frees the plan's packed weights. */
  release(): void;
}

export function mainThreadConv(input: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions, out: Tensor): MainThreadConv {
  const { geometry } = resolveConv2d(input, weight, bias, options);
  const plan = planConv(geometry, weight.data);
  const slice = fullSlice(geometry);
  const scratch = zeros([Math.max(1, planScratchFloats(plan))], { shared: true }).data;
  const biasData = bias?.data ?? null;
  return {
    call: () => runPlan(plan, input.data, weight.data, biasData, out.data, slice, scratch),
    release: () => releasePlan(plan),
  };
}
