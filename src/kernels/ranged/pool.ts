// Pooling kernels; a unit is one (image, channel) plane.
//   pool              max or average over a window of up to three spatial
//                     dimensions (fewer are padded with size-1 ones): ONNX's
//                     MaxPool / AveragePool in every form the host runs;
//   maxPool2d         PyTorch's max_pool2d (symmetric padding of at most half
//                     the window) through the WebAssembly kernel, whose bits
//                     are the window loop's;
//   globalAveragePool adaptiveAvgPool2d(x, 1)'s arithmetic: each plane's mean
//                     in the lane order of plane-mean.ts (also ReduceMean
//                     over the spatial axes); through the native or
//                     WebAssembly kernel where it can (simd-loops.ts);
//   globalMaxPool.
import { maxPoolKernel, maxPoolScratchFloats, type MaxPoolGeometry } from '../max-pool.js';
import { planeMean } from '../plane-mean.js';
import { globalAveragePlanesSimd } from './simd-loops.js';
import type { RangedKernel, RangedOp, RangedParams } from './types.js';

/**
 * params: kind (0 max, 1 average), countIncludePad (0 or 1), and per spatial
 * dimension (three, leading ones padded): size, kernel, stride, dilation,
 * begin / end padding, out.
 */
const pool: RangedKernel = (p, [src], [out], start, end) => {
  const size = p.size as number[];
  const k = p.kernel as number[];
  const s = p.stride as number[];
  const d = p.dilation as number[];
  const b = p.begin as number[];
  const e = p.end as number[];
  const o = p.out as number[];
  const max = p.kind === 0;
  const countIncludePad = p.countIncludePad === 1;
  const inPlane = size[0] * size[1] * size[2];
  const outPlane = o[0] * o[1] * o[2];
  for (let plane = start; plane < end; plane++) {
    const base = plane * inPlane;
    let at = plane * outPlane;
    for (let oz = 0; oz < o[0]; oz++) {
      for (let oy = 0; oy < o[1]; oy++) {
        for (let ox = 0; ox < o[2]; ox++) {
          const z0 = oz * s[0] - b[0];
          const y0 = oy * s[1] - b[1];
          const x0 = ox * s[2] - b[2];
          if (max) {
            let best = -Infinity;
            for (let kz = 0; kz < k[0]; kz++) {
              const iz = z0 + kz * d[0];
              if (iz < 0 || iz >= size[0]) continue;
              for (let ky = 0; ky < k[1]; ky++) {
                const iy = y0 + ky * d[1];
                if (iy < 0 || iy >= size[1]) continue;
                const row = base + (iz * size[1] + iy) * size[2];
                for (let kx = 0; kx < k[2]; kx++) {
                  const ix = x0 + kx * d[2];
                  if (ix < 0 || ix >= size[2]) continue;
                  const v = src[row + ix];
                  if (v > best || Number.isNaN(v)) best = v;
                }
              }
            }
            out[at++] = best;
          } else {
            // PyTorch's divisor: the window clipped to the padded input (count_include_pad),
            // or to the input itself; windows reaching past the padding (ceil mode) are clipped too.
            const z1 = Math.min(z0 + k[0], size[0] + e[0]);
            const y1 = Math.min(y0 + k[1], size[1] + e[1]);
            const x1 = Math.min(x0 + k[2], size[2] + e[2]);
            const padded = (z1 - z0) * (y1 - y0) * (x1 - x0);
            const za = Math.max(z0, 0);
            const ya = Math.max(y0, 0);
            const xa = Math.max(x0, 0);
            const zb = Math.min(z1, size[0]);
            const yb = Math.min(y1, size[1]);
            const xb = Math.min(x1, size[2]);
            let sum = 0;
            for (let iz = za; iz < zb; iz++) {
              for (let iy = ya; iy < yb; iy++) {
                const row = base + (iz * size[1] + iy) * size[2];
                for (let ix = xa; ix < xb; ix++) sum += src[row + ix];
              }
            }
            const count = countIncludePad ? padded : (zb - za) * (yb - ya) * (xb - xa);
            out[at++] = count > 0 ? sum / count : NaN;
          }
        }
      }
    }
  }
};

/** The 2-D max pooling's params as the window loop reads them (its fallback). */
export function maxPool2dAsWindow(p: RangedParams): RangedParams {
  const [kh, kw] = p.kernel as number[];
  const [sh, sw] = p.stride as number[];
  const [ph, pw] = p.padding as number[];
  const [dh, dw] = p.dilation as number[];
  return {
    kind: 0,
    countIncludePad: 0,
    size: [1, p.inHeight as number, p.inWidth as number],
    kernel: [1, kh, kw],
    stride: [1, sh, sw],
    dilation: [1, dh, dw],
    begin: [0, ph, pw],
    end: [0, ph, pw],
    out: [1, p.outHeight as number, p.outWidth as number],
  };
}

/**
 * params: a MaxPoolGeometry's numbers but planes (inHeight, inWidth, outHeight,
 * outWidth, kernel, stride, padding, dilation). Where the WebAssembly kernel
 * cannot run (no SIMD, or a worker that cannot stage its scratch), the window
 * loop computes the same bits.
 */
const maxPool2d: RangedKernel = (p, [x], [out], start, end) => {
  if (start === end) return;
  const inPlane = (p.inHeight as number) * (p.inWidth as number);
  const outPlane = (p.outHeight as number) * (p.outWidth as number);
  const g: MaxPoolGeometry = {
    planes: end - start,
    inHeight: p.inHeight as number,
    inWidth: p.inWidth as number,
    outHeight: p.outHeight as number,
    outWidth: p.outWidth as number,
    kernel: p.kernel as [number, number],
    stride: p.stride as [number, number],
    padding: p.padding as [number, number],
    dilation: p.dilation as [number, number],
  };
  if (maxPoolKernel(x.subarray(start * inPlane, end * inPlane), out.subarray(start * outPlane, end * outPlane), g)) return;
  pool(maxPool2dAsWindow(p), [x], [out], start, end);
};

/** params.plane: elements per plane. */
const globalAveragePool: RangedKernel = (p, [x], [out], start, end) => {
  const plane = p.plane as number;
  if (globalAveragePlanesSimd(x, out, start, end, plane)) return;
  for (let q = start; q < end; q++) out[q] = planeMean(x, q * plane, plane);
};

/** params.plane: elements per plane. NaN wins, as in PyTorch. */
const globalMaxPool: RangedKernel = (p, [x], [out], start, end) => {
  const plane = p.plane as number;
  for (let q = start; q < end; q++) {
    let best = -Infinity;
    for (let i = q * plane; i < (q + 1) * plane; i++) {
      const v = x[i];
      if (v > best || Number.isNaN(v)) best = v;
    }
    out[q] = best;
  }
};

export const poolKernels: Record<string, RangedKernel> = { pool, maxPool2d, globalAveragePool, globalMaxPool };

/** The spatial window of `pool`, in three dimensions (leading size-1 ones added). */
export interface Window3d {
  size: number[];
  kernel: number[];
  stride: number[];
  dilation: number[];
  begin: number[];
  end: number[];
  out: number[];
}

export function windowPoolOp(kind: 'max' | 'avg', countIncludePad: boolean, planes: number, w: Window3d): RangedOp {
  const taps = w.kernel[0] * w.kernel[1] * w.kernel[2];
  const params: RangedParams = { kind: kind === 'max' ? 0 : 1, countIncludePad: countIncludePad ? 1 : 0, ...w };
  return { kernel: 'pool', params, units: planes, costPerUnit: w.out[0] * w.out[1] * w.out[2] * taps };
}

export function maxPool2dOp(g: MaxPoolGeometry): RangedOp {
  const { planes, ...params } = g;
  return { kernel: 'maxPool2d', params, units: planes, costPerUnit: g.outHeight * g.outWidth * g.kernel[0] * g.kernel[1], scratchFloats: maxPoolScratchFloats(g) };
}

/**
 * Planes a global average pool's pass sums side by side (native/kernels.h, globalAverage: four, each in its
 * own vectors' lanes, so that eight chains of adds are in flight): tasks are runs of whole passes.
 */
export const GLOBAL_AVERAGE_PLANES_A_PASS = 4;

/**
 * What a global pool's element costs, in the element operations cutRanged weighs: two. One load and one
 * add or max, but its input is what the stage before it wrote, cut by channels, so a task over every
 * plane reads half its lines from the other core's cache. efficientnet_b0's squeezes of 7x7 planes (672
 * to 1280 of them) at batch 1 took 0.007-0.011 ms on one runner and 0.011-0.021 ms as one task on a
 * program of two; cut in two, each runner reads the planes it wrote (docs/benchmarks.md).
 */
const GLOBAL_POOL_COST_PER_ELEMENT = 2;

export function globalPoolOp(kernel: 'globalAveragePool' | 'globalMaxPool', planes: number, plane: number): RangedOp {
  return { kernel, params: { plane }, units: planes, costPerUnit: GLOBAL_POOL_COST_PER_ELEMENT * plane, ...(kernel === 'globalAveragePool' ? { unitBlock: GLOBAL_AVERAGE_PLANES_A_PASS } : {}) };
}
