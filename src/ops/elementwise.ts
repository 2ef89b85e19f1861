import { errors } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';

/** a + b for tensors of the same shape (the residual add). */
export function add(a: Tensor, b: Tensor): Tensor {
  checkTensor('a', a);
  checkTensor('b', b);
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) throw errors.shapeMismatch('b.shape', a.shape, b.shape);
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + b.data[i];
  return { shape: [...a.shape], data: out };
}

/** torch.flatten(x, startDim): dimensions from startDim on merged into one. */
export function flatten(x: Tensor, startDim = 1): Tensor {
  checkTensor('x', x);
  if (!Number.isInteger(startDim) || startDim < 0 || startDim >= Math.max(1, x.shape.length)) {
    throw errors.invalid('startDim', `must be an integer in [0, ${x.shape.length - 1}], got ${startDim}`);
  }
  const rest = x.shape.slice(startDim).reduce((p, d) => p * d, 1);
  return { shape: [...x.shape.slice(0, startDim), rest], data: x.data.slice() };
}
