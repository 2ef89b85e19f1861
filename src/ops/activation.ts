import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

/** torch.relu, elementwise: negatives become 0; NaN and -0 pass through unchanged, as in PyTorch. */
export function relu(x: Tensor, into?: Float32Array): Tensor {
  checkTensor('x', x);
  const out = outputArray(x.data.length, into);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i];
    out[i] = v < 0 ? 0 : v;
  }
  return { shape: [...x.shape], data: out };
}
