import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

/** torch.relu, elementwise: negatives become 0; NaN and -0 pass through unchanged, as in PyTorch. */
export function relu(x: Tensor, into?: Float32Array): Tensor {
  checkTensor('x', x);
  const out = outputArray(x.data.length, into);
  // On the bits, without a data-dependent branch: activations' signs are close
  // to random, and `v < 0 ? 0 : v` mispredicted often enough to take 2-3x as long.
  // A negative value's sign mask clears it to +0; -0 and NaN (any sign) keep
  // their bits, as torch.relu leaves them, through a branch that is rarely taken.
  const src = new Int32Array(x.data.buffer, x.data.byteOffset, x.data.length);
  const dst = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < dst.length; i++) {
    const bits = src[i];
    const cleared = bits & ~(bits >> 31);
    dst[i] = bits === -0x80000000 || (bits & 0x7fffffff) > 0x7f800000 ? bits : cleared;
  }
  return { shape: [...x.shape], data: out };
}
