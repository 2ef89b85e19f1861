// The fused convolution on the calling thread: y = act(conv2d(x, w, b) [+
// residual]) in one kernel call, the activation and residual applied by the
// microkernel as it stores each output (src/kernels/epilogue.ts), not in
// passes of their own. Its bits are those of conv2d, then `add`, then the
// activation op (src/ops/activations.ts), each in float32.
import { fullSlice, outputShapeOf, resolveConv2d, type Conv2dOptions, type ConvGeometry } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { checkActivation, checkResidual, type Activation, type ActivationOption } from '../kernels/epilogue.js';
import { planConv, releasePlan, runPlan, type KernelPlan } from '../kernels/plan/index.js';
import { numel, outputArray, type Tensor } from '../tensor/tensor.js';

export interface ConvBiasActivationOptions extends Conv2dOptions {
  /** The activation after the (residual) add: 'relu', { kind: 'clip', min, max } (ReLU6: 0..6), 'hardswish', 'sigmoid', 'silu', 'hardsigmoid' or { kind: 'hardsigmoid', alpha, beta }, or 'none' (the default). */
  activation?: ActivationOption;
  /** Added to the convolution's output before the activation: a tensor of the output's shape (ResNet's identity). */
  residual?: Tensor | null;
}

/** The convolution's options, without the epilogue's (which conv2d's checks would refuse as unknown). */
export function convOptionsOf(options: ConvBiasActivationOptions): Conv2dOptions {
  if (options === null || typeof options !== 'object') throw errors.invalid('options', 'expected an object');
  const convOptions: Record<string, unknown> = { ...options };
  delete convOptions.activation;
  delete convOptions.residual;
  return convOptions as Conv2dOptions;
}

/**
 * act(conv2d(input, weight, bias, options) + residual) on this thread, with
 * conv2d's checks and errors; then the activation and residual are checked,
 * all before anything is allocated. Returns a new tensor, or one over `into`
 * when given (it must hold the output's element count; its contents are
 * overwritten).
 */
export function convBiasActivation(input: Tensor, weight: Tensor, bias?: Tensor | null, options: ConvBiasActivationOptions = {}, into?: Float32Array): Tensor {
  return convBiasActivationWith((g, activation) => planConv(g, weight.data, null, activation), true, input, weight, bias, options, into);
}

/**
 * convBiasActivation with the kernel plan from `planFor` (called after every
 * check): a caller that runs the same layer again keeps its plan, and its
 * packed weights, rather than packing them per call; `owned` plans are
 * released after the call.
 */
export function convBiasActivationWith(
  planFor: (geometry: ConvGeometry, activation: Activation) => KernelPlan,
  owned: boolean,
  input: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  options: ConvBiasActivationOptions = {},
  into?: Float32Array,
): Tensor {
  const resolved = resolveConv2d(input, weight, bias, convOptionsOf(options));
  const shape = outputShapeOf(resolved);
  const activation = checkActivation(options.activation);
  const residual = options.residual === undefined || options.residual === null ? null : checkResidual(options.residual, shape);
  const g = resolved.geometry;
  const output = outputArray(numel(shape), into);
  const plan = planFor(g, activation);
  try {
    runPlan(plan, input.data, weight.data, bias ? bias.data : null, output, fullSlice(g), null, residual ? residual.data : null);
  } finally {
    if (owned) releasePlan(plan);
  }
  return { shape, data: output };
}
