import { errors } from '../errors.js';
import { lrnKernel } from '../kernels/lrn.js';
import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

export interface BatchNormParameters {
  runningMean: Tensor;
  runningVar: Tensor;
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
}

/** torch.nn.functional.batch_norm in inference mode: (x - mean) / sqrt(var + eps) * weight + bias, per channel. */
export function batchNorm2d(x: Tensor, p: BatchNormParameters): Tensor {
  checkTensor('x', x, [4]);
  const [N, C, H, W] = x.shape;
  for (const [name, t] of [
    ['runningMean', p.runningMean],
    ['runningVar', p.runningVar],
    ['weight', p.weight],
    ['bias', p.bias],
  ] as const) {
    if (!t) continue;
    checkTensor(name, t, [1]);
    if (t.shape[0] !== C) throw errors.shapeMismatch(`${name}.shape`, [C], t.shape);
  }
  const eps = p.eps ?? 1e-5;
  const plane = H * W;
  const out = outputArray(x.data.length);
  for (let c = 0; c < C; c++) {
    // Fold into one scale and shift per channel, in double precision.
    const scale = (p.weight ? p.weight.data[c] : 1) / Math.sqrt(p.runningVar.data[c] + eps);
    const shift = (p.bias ? p.bias.data[c] : 0) - p.runningMean.data[c] * scale;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * plane;
      for (let i = 0; i < plane; i++) out[base + i] = x.data[base + i] * scale + shift;
    }
  }
  return { shape: [...x.shape], data: out };
}

export interface LocalResponseNormOptions {
  size: number;
  alpha?: number;
  beta?: number;
  k?: number;
}

/**
 * torch.nn.functional.local_response_norm across channels:
 * x / (k + alpha / size * sum of x^2 over channels [c - size/2, c + (size-1)/2]) ^ beta.
 * (PyTorch averages the squares over the window, so alpha is divided by size.)
 */
export function localResponseNorm(x: Tensor, options: LocalResponseNormOptions): Tensor {
  checkTensor('x', x, [4]);
  const { size, alpha = 1e-4, beta = 0.75, k = 1 } = options;
  if (!Number.isInteger(size) || size <= 0) throw errors.notPositiveInteger('size', size);
  const [N, C, H, W] = x.shape;
  return localResponseNormChannels(x, { size, alpha, beta, k }, 0, C, { shape: [N, C, H, W], data: outputArray(x.data.length) }, 0);
}

/**
 * LRN of channels [start, end) of `x`, written into `out` from channel
 * `outStart` on. The window reads neighbouring channels of `x` outside the
 * range, which is what a device holding half the maps must receive from the other.
 * Through the WebAssembly kernel (kernels/lrn.ts: float32, in PyTorch's order)
 * wherever it runs, so the host, a single thread and every device compute the
 * same bits; in JavaScript (localResponseNormChannelsReference) where it does not.
 */
export function localResponseNormChannels(
  x: Tensor,
  options: Required<LocalResponseNormOptions>,
  start: number,
  end: number,
  out: Tensor,
  outStart: number,
): Tensor {
  const [N, C, H, W] = x.shape;
  const shape = { batch: N, channels: C, plane: H * W, outChannels: out.shape[1] };
  if (lrnKernel(x.data, out.data, shape, options, start, end, outStart)) return out;
  return localResponseNormChannelsReference(x, options, start, end, out, outStart);
}

/**
 * localResponseNormChannels in JavaScript, in float64 rounded once: the
 * reference the kernel is tested against, and the fallback where WebAssembly
 * SIMD is missing.
 */
export function localResponseNormChannelsReference(
  x: Tensor,
  options: Required<LocalResponseNormOptions>,
  start: number,
  end: number,
  out: Tensor,
  outStart: number,
): Tensor {
  const [N, C, H, W] = x.shape;
  const { size, alpha, beta, k } = options;
  const plane = H * W;
  const before = Math.floor(size / 2);
  const after = Math.floor((size - 1) / 2);
  const outChannels = out.shape[1];
  // AlexNet's beta = 0.75: t^0.75 = sqrt(t * sqrt(t)), within an ulp of Math.pow
  // in double precision (far below float32's rounding) at a fraction of its cost.
  const power = beta === 0.75 ? (t: number) => Math.sqrt(t * Math.sqrt(t)) : (t: number) => Math.pow(t, beta);
  for (let n = 0; n < N; n++) {
    for (let c = start; c < end; c++) {
      const lo = Math.max(0, c - before);
      const hi = Math.min(C - 1, c + after);
      const base = (n * C + c) * plane;
      const outBase = (n * outChannels + outStart + (c - start)) * plane;
      for (let i = 0; i < plane; i++) {
        let sum = 0;
        for (let j = lo; j <= hi; j++) {
          const v = x.data[(n * C + j) * plane + i];
          sum += v * v;
        }
        out.data[outBase + i] = x.data[base + i] / power(k + (alpha * sum) / size);
      }
    }
  }
  return out;
}
