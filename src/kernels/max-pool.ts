// Max pooling through WebAssembly SIMD (wasm/assembly/pooling.ts): the same
// bits as the JavaScript in ops/pooling.ts, which is the reference and the
// fallback where SIMD is missing.
import { preferredWasmVariant, wasmKernelsAvailable } from './plan/selection.js';
import { wasmLayerKernels, type WasmMaxPoolKernel } from './wasm/runtime.js';
import { runStaged } from './staged.js';

/** A max pooling resolved to numbers: sizes, then (rows, columns) pairs. */
export interface MaxPoolGeometry {
  /** Images x channels. */
  planes: number;
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/** The kernel for a geometry, chosen once by the stride along rows: whether a tap's 4 columns are one load, two deinterleaved, or gathered. */
export function maxPoolKernelFor(g: MaxPoolGeometry): WasmMaxPoolKernel {
  return g.stride[1] === 1 ? 'maxPoolStride1' : g.stride[1] === 2 ? 'maxPoolStride2' : 'maxPoolStrided';
}

/** Scratch floats: one padded input row and the rows' horizontal maxima (the formula of assembly/pooling.ts). */
export function maxPoolScratchFloats(g: MaxPoolGeometry): number {
  const outVec = (g.outWidth + 3) & ~3;
  const row = (Math.max(g.padding[1] + g.inWidth, outVec * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1]) + 8 + 3) & ~3;
  return row + g.inHeight * outVec;
}

/** Pools x [planes, inHeight, inWidth] into out [planes, outHeight, outWidth]; false, having written nothing, when WebAssembly does not run here. */
export function maxPoolKernel(x: Float32Array, out: Float32Array, g: MaxPoolGeometry): boolean {
  if (!wasmKernelsAvailable()) return false;
  const kernel = wasmLayerKernels(preferredWasmVariant()).maxPool[maxPoolKernelFor(g)];
  return runStaged(x, out, maxPoolScratchFloats(g), false, (xAt, outAt, scratchAt) =>
    kernel(xAt, outAt, scratchAt, g.planes, g.inHeight, g.inWidth, g.outHeight, g.outWidth, ...g.kernel, ...g.stride, ...g.padding, ...g.dilation),
  );
}
