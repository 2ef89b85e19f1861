import { reluKernel } from '../kernels/relu.js';
import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

/**
 * torch.relu, elementwise: negatives become 0; NaN and -0 pass through
 * unchanged, as in PyTorch. Through WebAssembly SIMD when x and the output are
 * in the shared arena (a device's activations), else in JavaScript: the same bits.
 */
export function relu(x: Tensor, into?: Float32Array): Tensor {
  checkTensor('x', x);
  const out = outputArray(x.data.length, into);
  if (!reluKernel(x.data, out)) reluReference(x.data, out);
  return { shape: [...x.shape], data: out };
}

/** ReLU in JavaScript: the reference the kernel is tested against, and the fallback. */
export function reluReference(x: Float32Array, out: Float32Array): void {
  // On the bits, without a data-dependent branch: activations' signs are close
  // to random, and `v < 0 ? 0 : v` mispredicted often enough to take 2-3x as long.
  // A negative value's sign mask clears it to +0; -0 and NaN (any sign) keep
  // their bits, as torch.relu leaves them, through a branch that is rarely taken.
  const src = new Int32Array(x.buffer, x.byteOffset, x.length);
  const dst = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < dst.length; i++) {
    const bits = src[i];
    const cleared = bits & ~(bits >> 31);
    dst[i] = bits === -0x80000000 || (bits & 0x7fffffff) > 0x7f800000 ? bits : cleared;
  }
}
