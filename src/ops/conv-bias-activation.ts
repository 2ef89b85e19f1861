// The fused convolution on the calling thread: y = act(conv2d(x, w, b) [+
// residual]) in one kernel call, the activation and residual applied by the
// microkernel as it stores each output (src/kernels/epilogue.ts), not in
// passes of their own. Its bits are those of conv2d, then `add`, then the
// activation op (src/ops/activations.ts), each in float32.
import { fullSlice, outputShapeOf, resolveConv2d, type Conv2dOptions } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { checkActivation, checkResidual, type ActivationOption } from '../kernels/epilogue.js';
import { planConv, releasePlan, runPlan } from '../kernels/plan/index.js';
import { numel, type Tensor } from '../tensor/tensor.js';

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
 * all before anything is allocated. Returns a new tensor.
 */
export function convBiasActivation(input: Tensor, weight: Tensor, bias?: Tensor | null, options: ConvBiasActivationOptions = {}): Tensor {
  const resolved = resolveConv2d(input, weight, bias, convOptionsOf(options));
  const shape = outputShapeOf(resolved);
  const activation = checkActivation(options.activation);
  const residual = options.residual === undefined || options.residual === null ? null : checkResidual(options.residual, shape);
  const g = resolved.geometry;
  const output = new Float32Array(numel(shape));
  const plan = planConv(g, weight.data, null, activation);
  try {
    runPlan(plan, input.data, weight.data, bias ? bias.data : null, output, fullSlice(g), null, residual ? residual.data : null);
  } finally {
    releasePlan(plan);
  }
  return { shape, data: output };
}
