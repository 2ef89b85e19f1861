// The ranged kernels' loops that have a WebAssembly SIMD twin computing the
// same bits (wasm/assembly/global-pool.ts, broadcast.ts): squeeze-and-
// excitation's GlobalAveragePool and Mul, a tenth of EfficientNet-B0's time
// as JavaScript loops. They run in place on the arena's memory, so they take
// arrays the arena owns (the workers' and the memory plan's values); anything
// else, or a machine without SIMD, keeps the JavaScript loop.
import { sharedArena } from '../../memory/arena.js';
import { preferredWasmVariant, wasmKernelsAvailable } from '../plan/selection.js';
import { wasmLayerKernels } from '../wasm/runtime.js';

function inArena(arrays: readonly Float32Array[]): boolean {
  if (!wasmKernelsAvailable()) return false;
  const arena = sharedArena();
  return arrays.every((a) => arena.owns(a));
}

/** out[q] for planes [start, end) of `plane` floats: the mean of x's plane q as pool.ts's loop computes it; false, having written nothing, when the SIMD loop cannot run here. */
export function globalAveragePlanesSimd(x: Float32Array, out: Float32Array, start: number, end: number, plane: number): boolean {
  if (!inArena([x, out])) return false;
  wasmLayerKernels(preferredWasmVariant()).globalAveragePlanes(x.byteOffset, out.byteOffset, start, end, plane);
  return true;
}

/**
 * out[i] = x[i] * scales[floor(i / inner) % period] for i in [from, to) (the
 * scale as the first operand when `scalesFirst`), as binary.ts's loops; false,
 * having written nothing, when the SIMD loop cannot run here.
 */
export function mulRunsSimd(x: Float32Array, scales: Float32Array, out: Float32Array, from: number, to: number, inner: number, period: number, scalesFirst: boolean): boolean {
  if (!inArena([x, scales, out])) return false;
  wasmLayerKernels(preferredWasmVariant()).mulRuns(x.byteOffset, scales.byteOffset, out.byteOffset, from, to, inner, period, scalesFirst ? 1 : 0);
  return true;
}
