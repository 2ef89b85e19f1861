import { errors } from '../errors.js';
import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

/** a + b for tensors of the same shape (the residual add). */
export function add(a: Tensor, b: Tensor): Tensor {
  checkTensor('a', a);
  checkTensor('b', b);
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) throw errors.shapeMismatch('b.shape', a.shape, b.shape);
  const out = outputArray(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + b.data[i];
  return { shape: [...a.shape], data: out };
}

/**
 * torch.flatten(x, startDim): dimensions from startDim on merged into one. A
 * negative startDim counts from the end, as in PyTorch (-1 is the last).
 */
export function flatten(x: Tensor, startDim = 1): Tensor {
  checkTensor('x', x);
  const rank = Math.max(1, x.shape.length);
  if (!Number.isInteger(startDim) || startDim < -rank || startDim >= rank) {
    throw errors.invalid('startDim', `dimension out of range (expected to be in range of [${-rank}, ${rank - 1}], but got ${startDim})`);
  }
  if (startDim < 0) startDim += rank;
  const rest = x.shape.slice(startDim).reduce((p, d) => p * d, 1);
  const data = outputArray(x.data.length);
  data.set(x.data);
  return { shape: [...x.shape.slice(0, startDim), rest], data };
}
