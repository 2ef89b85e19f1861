import { checkTensor, type Tensor } from '../tensor/tensor.js';

/** max(x, 0), elementwise. */
export function relu(x: Tensor): Tensor {
  checkTensor('x', x);
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i];
    out[i] = v > 0 ? v : 0;
  }
  return { shape: [...x.shape], data: out };
}
