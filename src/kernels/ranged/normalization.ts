// Normalisation kernels: BatchNormalization (inference) and LRN by (image,
// channel) planes, Softmax by lines.
import { localResponseNormChannels } from '../../ops/normalization.js';
import type { RangedKernel, RangedOp } from './types.js';

/**
 * Inputs x, scale, B, mean, var; params channels, inner (elements per plane),
 * eps. batchNorm2d's arithmetic: one scale and shift per channel, folded in
 * double precision, for any rank (BatchNorm1d's [N, C] has planes of one).
 */
const batchNorm: RangedKernel = (p, [x, scale, bias, mean, variance], [out], start, end) => {
  const C = p.channels as number;
  const inner = p.inner as number;
  const eps = p.eps as number;
  for (let plane = start; plane < end; plane++) {
    const c = plane % C;
    const s = scale[c] / Math.sqrt(variance[c] + eps);
    const t = bias[c] - mean[c] * s;
    const base = plane * inner;
    for (let i = base; i < base + inner; i++) out[i] = x[i] * s + t;
  }
};

/**
 * ONNX LRN across channels; params channels, plane, size, alpha, beta, bias,
 * torchOrder. The window is [c - floor((size-1)/2), c + ceil((size-1)/2)]. With
 * torchOrder (the host's choice for 4-D input and odd sizes, where the window
 * is PyTorch's) localResponseNormChannels computes each image's run of
 * channels (WebAssembly for beta 0.75, in PyTorch's order, which does not
 * depend on the channel range); otherwise the host's double-precision loop.
 */
const lrn: RangedKernel = (p, [x], [out], start, end) => {
  const C = p.channels as number;
  const plane = p.plane as number;
  const size = p.size as number;
  const alpha = p.alpha as number;
  const beta = p.beta as number;
  const bias = p.bias as number;
  for (let at = start; at < end; ) {
    const n = Math.floor(at / C);
    const c0 = at - n * C;
    const c1 = Math.min(C, c0 + (end - at));
    if (p.torchOrder === 1) {
      const image = (t: Float32Array) => ({ shape: [1, C, plane, 1], data: t.subarray(n * C * plane, (n + 1) * C * plane) });
      localResponseNormChannels(image(x), { size, alpha, beta, k: bias }, c0, c1, image(out), c0);
    } else {
      const before = Math.floor((size - 1) / 2);
      const after = Math.ceil((size - 1) / 2);
      for (let c = c0; c < c1; c++) {
        const lo = Math.max(0, c - before);
        const hi = Math.min(C - 1, c + after);
        for (let i = 0; i < plane; i++) {
          let sum = 0;
          for (let j = lo; j <= hi; j++) {
            const v = x[(n * C + j) * plane + i];
            sum += v * v;
          }
          const o = (n * C + c) * plane + i;
          out[o] = x[o] / Math.pow(bias + (alpha / size) * sum, beta);
        }
      }
    }
    at += c1 - c0;
  }
};

/** Softmax over lines of `length` values `inner` apart; a unit is one line (outer x inner of them). */
const softmax: RangedKernel = (p, [x], [out], start, end) => {
  const length = p.length as number;
  const inner = p.inner as number;
  for (let line = start; line < end; line++) {
    const o = Math.floor(line / inner);
    const base = o * length * inner + (line - o * inner);
    let max = -Infinity;
    for (let j = 0; j < length; j++) max = Math.max(max, x[base + j * inner]);
    let sum = 0;
    for (let j = 0; j < length; j++) sum += Math.exp(x[base + j * inner] - max);
    for (let j = 0; j < length; j++) out[base + j * inner] = Math.exp(x[base + j * inner] - max) / sum;
  }
};



const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/** BatchNormalization of x [N, C, ...]: inputs x, scale, B, mean, var. */
export function batchNormOp(shape: readonly number[], eps: number): RangedOp {
  const inner = product(shape.slice(2));
  return { kernel: 'batchNorm', params: { channels: shape[1], inner, eps }, units: shape[0] * shape[1], costPerUnit: inner };
}

/** LRN of x [N, C, ...]; `torchOrder` where the host runs localResponseNorm (4-D input, odd size). */
export function lrnOp(shape: readonly number[], size: number, alpha: number, beta: number, bias: number): RangedOp {
  const plane = product(shape.slice(2));
  const torchOrder = shape.length === 4 && size % 2 === 1 ? 1 : 0;
  return { kernel: 'lrn', params: { channels: shape[1], plane, size, alpha, beta, bias, torchOrder }, units: shape[0] * shape[1], costPerUnit: plane * size };
}

/** Softmax over lines of `length` values, `inner` apart, `outer` x `inner` of them. */
export function softmaxOp(outer: number, length: number, inner: number): RangedOp {
  return { kernel: 'softmax', params: { length, inner }, units: outer * inner, costPerUnit: 3 * length };
}

/**
 * LayerNormalization: each row of `length` values normalised by its own mean
 * and population variance (double precision), then scaled and shifted
 * elementwise. Inputs x, scale and, when params.bias is 1, B; outputs Y and,
 * when present, the rows' Mean and InvStdDev. A unit is one row.
 */
const layerNorm: RangedKernel = (p, [x, scale, bias], [out, means, invStd], start, end) => {
  const length = p.length as number;
  const eps = p.eps as number;
  const b = p.bias === 1 ? bias : null;
  for (let r = start; r < end; r++) {
    const base = r * length;
    let sum = 0;
    for (let i = 0; i < length; i++) sum += x[base + i];
    const mean = sum / length;
    let squares = 0;
    for (let i = 0; i < length; i++) squares += (x[base + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(squares / length + eps);
    for (let i = 0; i < length; i++) out[base + i] = (x[base + i] - mean) * inv * scale[i] + (b ? b[i] : 0);
    if (means) means[r] = mean;
    if (invStd) invStd[r] = inv;
  }
};

/** LayerNormalization of `rows` rows of `length` values. */
export function layerNormOp(rows: number, length: number, eps: number, bias: boolean): RangedOp {
  return { kernel: 'layerNorm', params: { length, eps, bias: bias ? 1 : 0 }, units: rows, costPerUnit: 4 * length };
}
export const normalizationKernels: Record<string, RangedKernel> = { batchNorm, lrn, softmax, layerNorm };
