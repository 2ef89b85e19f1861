import { fullSlice, outputShapeOf, resolveConv2d, type Conv2dOptions } from '../conv/geometry.js';
import { referenceKernel } from '../kernels/reference.js';
import { planConv, releasePlan, runPlan } from '../kernels/plan/index.js';
import type { ConvKernel } from '../kernels/kernel.js';
import { numel, outputArray, type Tensor } from '../tensor/tensor.js';

/**
 * torch.nn.functional.conv2d on one thread: input [N, Cin, H, W] (or unbatched
 * [Cin, H, W]), weight [Cout, Cin/groups, kH, kW], optional bias [Cout].
 * Returns a new tensor; the inputs are not modified.
 */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return conv2dWith(fastKernel, input, weight, bias, options);
}

/**
 * The fast kernels (WebAssembly SIMD, chosen by shape; the reference kernel
 * where SIMD is missing) as a ConvKernel: plan, run, release in one call.
 */
export const fastKernel: ConvKernel = (g, input, weight, bias, output, slice) => {
  const plan = planConv(g, weight);
  try {
    runPlan(plan, input, weight, bias, output, slice, null);
  } finally {
    releasePlan(plan);
  }
};

/** The reference convolution (direct loops, double-precision sums): the oracle for every other path. */
export function referenceConv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return conv2dWith(referenceKernel, input, weight, bias, options);
}

/** Runs conv2d's checks, then `kernel` over the whole output on this thread. */
export function conv2dWith(
  kernel: ConvKernel,
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null | undefined,
  options: Conv2dOptions = {},
): Tensor {
  const resolved = resolveConv2d(input, weight, bias, options);
  const shape = outputShapeOf(resolved);
  const output = outputArray(numel(shape));
  kernel(resolved.geometry, input.data, weight.data, bias ? bias.data : null, output, fullSlice(resolved.geometry));
  return { shape, data: output };
}
