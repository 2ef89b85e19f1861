import type { Pair } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { maxPoolKernel, type MaxPoolGeometry } from '../kernels/max-pool.js';
import { LaneMean } from '../kernels/plane-mean.js';
import { checkTensor, outputArray, type Tensor } from '../tensor/tensor.js';

export interface MaxPool2dOptions {
  kernelSize: Pair;
  /** Defaults to kernelSize, as in PyTorch. */
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

function pairOf(name: string, value: Pair, minimum: number): [number, number] {
  const p = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => Number.isInteger(v) && v >= minimum)) {
    throw errors.badPair(name, value, minimum === 1 ? 'a positive integer or a pair' : 'a non-negative integer or a pair');
  }
  return [p[0], p[1]];
}

function pooledSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // As PyTorch: in ceil mode the last window must start inside the input or its left padding.
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/** max_pool2d's arguments checked and resolved against an input shape, as PyTorch does; nothing is computed. */
export function resolveMaxPool2d(shape: readonly number[], options: MaxPool2dOptions): MaxPoolGeometry {
  const k = pairOf('kernelSize', options.kernelSize, 1);
  const s = pairOf('stride', options.stride ?? options.kernelSize, 1);
  const p = pairOf('padding', options.padding ?? 0, 0);
  const d = pairOf('dilation', options.dilation ?? 1, 1);
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2) throw errors.invalid('padding', `must be at most half the kernel size ${k}, got ${p}`);
  const [N, C, H, W] = shape;
  const Ho = pooledSize(H, k[0], s[0], p[0], d[0], !!options.ceilMode);
  const Wo = pooledSize(W, k[1], s[1], p[1], d[1], !!options.ceilMode);
  if (Ho <= 0 || Wo <= 0) throw errors.invalid('x.shape', `input ${H}x${W} is too small for a ${k[0]}x${k[1]} pooling window`);
  return { planes: N * C, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, kernel: k, stride: s, padding: p, dilation: d };
}

/**
 * torch.nn.functional.max_pool2d on [N, C, H, W]; padding counts as -infinity.
 * Through the WebAssembly kernel (kernels/max-pool.ts) where it runs, else in
 * JavaScript (maxPool2dReference): the same bits either way.
 */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions, into?: Float32Array): Tensor {
  checkTensor('x', x, [4]);
  const g = resolveMaxPool2d(x.shape, options);
  const [N, C] = x.shape;
  const out = outputArray(g.planes * g.outHeight * g.outWidth, into);
  if (!maxPoolKernel(x.data, out, g)) maxPoolReference(x.data, out, g);
  return { shape: [N, C, g.outHeight, g.outWidth], data: out };
}

/** max_pool2d in JavaScript, scanning each window as PyTorch does: the reference the kernel is tested against, and the fallback. */
export function maxPool2dReference(x: Tensor, options: MaxPool2dOptions): Tensor {
  checkTensor('x', x, [4]);
  const g = resolveMaxPool2d(x.shape, options);
  const out = outputArray(g.planes * g.outHeight * g.outWidth);
  maxPoolReference(x.data, out, g);
  return { shape: [x.shape[0], x.shape[1], g.outHeight, g.outWidth], data: out };
}

function maxPoolReference(x: Float32Array, out: Float32Array, g: MaxPoolGeometry): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, kernel: k, stride: s, padding: p, dilation: d } = g;
  let o = 0;
  for (let plane = 0; plane < g.planes; plane++) {
    const base = plane * H * W;
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        let best = -Infinity;
        for (let ky = 0; ky < k[0]; ky++) {
          const iy = oy * s[0] - p[0] + ky * d[0];
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < k[1]; kx++) {
            const ix = ox * s[1] - p[1] + kx * d[1];
            if (ix < 0 || ix >= W) continue;
            const v = x[base + iy * W + ix];
            // NaN propagates, as in PyTorch.
            if (v > best || Number.isNaN(v)) best = v;
          }
        }
        out[o++] = best;
      }
    }
  }
}

/**
 * torch.nn.functional.adaptive_avg_pool2d: output cell i averages input [floor(i*In/Out), ceil((i+1)*In/Out)),
 * its elements summed in the lane order of kernels/plane-mean.ts (at output size 1, GlobalAveragePool's bits).
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair = 1): Tensor {
  checkTensor('x', x, [4]);
  const [Ho, Wo] = pairOf('outputSize', outputSize, 1);
  const [N, C, H, W] = x.shape;
  const out = outputArray(N * C * Ho * Wo);
  const mean = new LaneMean();
  let o = 0;
  for (let plane = 0; plane < N * C; plane++) {
    const base = plane * H * W;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = Math.floor((oy * H) / Ho);
      const y1 = Math.ceil(((oy + 1) * H) / Ho);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = Math.floor((ox * W) / Wo);
        const x1 = Math.ceil(((ox + 1) * W) / Wo);
        mean.reset();
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) mean.add(x.data[base + iy * W + ix]);
        out[o++] = mean.mean();
      }
    }
  }
  return { shape: [N, C, Ho, Wo], data: out };
}
