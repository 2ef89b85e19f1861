// Max pooling through WebAssembly SIMD (wasm/assembly/pooling.ts): the same
// bits as the JavaScript in ops/pooling.ts, which is the reference and the
// fallback where SIMD is missing.
import { preferredWasmVariant, wasmKernelsAvailable } from './plan/selection.js';
import { wasmLayerKernels, type WasmMaxPoolKernel } from './wasm/runtime.js';
import { arenaMemoryView, nativeKernels } from './native/index.js';
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

/** Whether the native kernel (native/kernels.h, maxPool) takes the geometry: stride 1 or 2 along rows, no dilation. */
function nativeTakes(g: MaxPoolGeometry): boolean {
  return (g.stride[1] === 1 || g.stride[1] === 2) && g.dilation[0] === 1 && g.dilation[1] === 1;
}

/**
 * Pools x [planes, inHeight, inWidth] into out [planes, outHeight, outWidth]: the native kernel where it runs
 * and takes the geometry (a maximum is one of its inputs, chosen in PyTorch's scan order either way, so the
 * same bits), else WebAssembly; false, having written nothing, when neither runs here.
 */
export function maxPoolKernel(x: Float32Array, out: Float32Array, g: MaxPoolGeometry): boolean {
  const native = nativeTakes(g) ? nativeKernels() : null;
  if (native) {
    let done = false;
    const ran = runStaged(x, out, 0, false, (xAt, outAt) => {
      done = native.maxPool(arenaMemoryView(), xAt, 0, -1, outAt, 0, g.planes, g.inHeight, g.inWidth, g.outHeight, g.outWidth, ...g.kernel, ...g.stride, ...g.padding);
    });
    // Not done: its padded plane could not be allocated, and nothing was written.
    if (ran && done) return true;
  }
  if (!wasmKernelsAvailable()) return false;
  const kernel = wasmLayerKernels(preferredWasmVariant()).maxPool[maxPoolKernelFor(g)];
  return runStaged(x, out, maxPoolScratchFloats(g), false, (xAt, outAt, scratchAt) =>
    kernel(xAt, outAt, scratchAt, g.planes, g.inHeight, g.inWidth, g.outHeight, g.outWidth, ...g.kernel, ...g.stride, ...g.padding, ...g.dilation),
  );
}
