// Local response normalisation through WebAssembly SIMD (wasm/assembly/lrn.ts):
// float32, PyTorch's order of operations; the JavaScript in ops/normalization.ts
// (float64) is the reference and the fallback where SIMD is missing.
import { preferredWasmVariant, wasmKernelsAvailable } from './plan/selection.js';
import { wasmLayerKernels } from './wasm/runtime.js';
import { runStaged } from './staged.js';

export interface LrnShape {
  batch: number;
  /** Channels of x (the window a channel range reads, or the whole tensor). */
  channels: number;
  /** Positions per channel: height x width. */
  plane: number;
  /** Channels of out. */
  outChannels: number;
}

export interface LrnParameters {
  size: number;
  alpha: number;
  beta: number;
  k: number;
}

/**
 * LRN of channels [start, end) of x into out from channel outStart on, as
 * localResponseNormChannels, for beta = 0.75 (AlexNet's, the power as two SIMD
 * square roots). Returns false, having written nothing, when WebAssembly does
 * not run here or beta is another: the caller computes in JavaScript, which
 * is then what every thread computes for that layer, the choice depending on
 * beta and the runtime only.
 */
export function lrnKernel(
  x: Float32Array,
  out: Float32Array,
  shape: LrnShape,
  p: LrnParameters,
  start: number,
  end: number,
  outStart: number,
): boolean {
  if (!wasmKernelsAvailable() || p.beta !== 0.75) return false;
  const kernels = wasmLayerKernels(preferredWasmVariant());
  const { batch, channels, plane, outChannels } = shape;
  // The kernel writes only channels [outStart, outStart + end - start) of out.
  const partly = end - start < outChannels;
  return runStaged(x, out, 0, partly, (xAt, outAt) => {
    kernels.lrnBeta075(xAt, outAt, batch, channels, plane, start, end, outChannels, outStart, p.size, p.alpha, p.k);
  });
}
