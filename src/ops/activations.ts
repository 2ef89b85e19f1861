// The activations the convolution's epilogue fuses, as element-wise ops: the
// reference the fused kernels are held to, bit for bit (the definitions and
// their float32 rules are in src/kernels/epilogue.ts). relu is src/ops/relu.ts.
import { applyEpilogue, checkActivation, type ActivationOption } from '../kernels/epilogue.js';
import { epilogueFusesExp } from '../kernels/plan/selection.js';
import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

/** torch.clamp(x, min, max) per element, as std::min(std::max(x, min), max): NaN passes through, -0 stays -0 at min = 0; min and max are rounded to float32. */
export function clip(x: Tensor, min: number, max: number, into?: Float32Array): Tensor {
  return activate(x, { kind: 'clip', min, max }, into);
}

/** torch.nn.functional.hardswish: x * relu6(x + 3) / 6 per element, each operation in float32 as PyTorch orders them. */
export function hardswish(x: Tensor, into?: Float32Array): Tensor {
  return activate(x, 'hardswish', into);
}

/** Any activation the epilogue fuses, applied on its own (the unfused sequence's last step). */
export function activate(x: Tensor, act: ActivationOption, into?: Float32Array): Tensor {
  checkTensor('x', x);
  const checked = checkActivation(act);
  const out = outputArray(x.data.length, into);
  if (out !== x.data) out.set(x.data);
  applyEpilogue(out, null, checked, 0, out.length, epilogueFusesExp());
  return { shape: [...x.shape], data: out };
}
