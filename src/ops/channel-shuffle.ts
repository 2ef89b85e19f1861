import { errors } from '../errors.js';
import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

/**
 * ShuffleNet's channel shuffle: reshape (N, G, C/G, H, W), transpose(1, 2),
 * reshape back. Output channel j*G + i is input channel i*(C/G) + j.
 */
export function channelShuffle(x: Tensor, groups: number): Tensor {
  checkTensor('x', x, [4]);
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups <= 0) throw errors.notPositiveInteger('groups', groups);
  const [N, C, H, W] = x.shape;
  if (C % groups !== 0) throw errors.channelsNotDivisible('groups', C, groups);
  const perGroup = C / groups;
  const plane = H * W;
  const out = outputArray(x.data.length);
  for (let n = 0; n < N; n++) {
    const base = n * C * plane;
    for (let i = 0; i < groups; i++) {
      for (let j = 0; j < perGroup; j++) {
        const from = base + (i * perGroup + j) * plane;
        const to = base + (j * groups + i) * plane;
        out.set(x.data.subarray(from, from + plane), to);
      }
    }
  }
  return { shape: [...x.shape], data: out };
}
