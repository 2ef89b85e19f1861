// The ranged kernels' loops that have a SIMD twin computing the same bits
// (native/kernels.h; wasm/assembly/global-pool.ts, broadcast.ts, layout.ts): squeeze-
// and-excitation's GlobalAveragePool and Mul, a tenth of EfficientNet-B0's
// time as JavaScript loops, and the row copies of Transpose and Pad, whose
// JavaScript loops pay a subarray() and set() call a row. They run in place
// on the arena's memory, so they take arrays the arena owns (the workers' and
// the memory plan's values); anything else, or a machine without SIMD, keeps
// the JavaScript loop.
import { sharedArena } from '../../memory/arena.js';
import { arenaMemoryView, nativeKernels } from '../native/index.js';
import { preferredWasmVariant, wasmKernelsAvailable } from '../plan/selection.js';
import { wasmLayerKernels } from '../wasm/runtime.js';

function inArena(arrays: readonly Float32Array[]): boolean {
  if (!wasmKernelsAvailable()) return false;
  const arena = sharedArena();
  return arrays.every((a) => arena.owns(a));
}

/**
 * out[q] for planes [start, end) of `plane` floats: the mean of x's plane q as pool.ts's loop computes it
 * (the lane order of kernels/plane-mean.ts), through the native kernel where it runs (native/kernels.h,
 * globalAverage), else the WebAssembly loop; false, having written nothing, when neither can run here.
 */
export function globalAveragePlanesSimd(x: Float32Array, out: Float32Array, start: number, end: number, plane: number): boolean {
  if (!inArena([x, out])) return false;
  const native = nativeKernels();
  if (native) native.globalAverage(arenaMemoryView(), x.byteOffset, 0, -1, out.byteOffset, start, end, plane);
  else wasmLayerKernels(preferredWasmVariant()).globalAveragePlanes(x.byteOffset, out.byteOffset, start, end, plane);
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

/**
 * Copies `count` runs of `length` floats between x and out, run r from x at `from + r * fromStride` to out at
 * `to + r * toStride` (offsets and strides in floats).
 */
export type RunCopier = (from: number, to: number, count: number, length: number, fromStride: number, toStride: number) => void;

/**
 * A copy of runs between x and out in the arena: memmove through the native kernels where they run (one
 * call for every run), else WebAssembly's row copy (memory.copy or its vector loop, a call a run); null when
 * x or out is not the arena's, and the caller copies with set(). Why: Float32Array.set over shared memory
 * copies word by word with relaxed atomics (V8's relaxed_memmove), 2-5x slower on the channel planes the
 * layout kernels move (docs/benchmarks.md).
 */
export function arenaCopier(x: Float32Array, out: Float32Array): RunCopier | null {
  if (!inArena([x, out])) return null;
  const xAt = x.byteOffset;
  const outAt = out.byteOffset;
  const native = nativeKernels();
  if (native) {
    const memory = arenaMemoryView();
    return (from, to, count, length, fromStride, toStride) => native.copyRuns(memory, xAt + from * 4, 0, -1, outAt + to * 4, count, length, fromStride, toStride);
  }
  const wasm = wasmLayerKernels(preferredWasmVariant());
  return (from, to, count, length, fromStride, toStride) => {
    for (let r = 0; r < count; r++) wasm.transposeRows(xAt + (from + r * fromStride) * 4, outAt + (to + r * toStride) * 4, 0, 1, length, 1, 1, 1, 1, 0, 0, 0, 0);
  };
}

/** Leading dimensions the row loops take (wasm/assembly/layout.ts): the shuffle's [N, C/2, 2, H*W] and an [N, C, H, W] pad have three. */
const LEADING = 4;

/**
 * Rows [start, end) of a transpose whose rows are contiguous runs of x (params
 * `shape`, the output's, and `strides`, x's stride of each output dimension,
 * the last 1), as layout.ts's loop copies them; false, having written nothing,
 * when the WebAssembly loop cannot run here or there are more leading
 * dimensions than it takes.
 */
export function transposeRowsWasm(x: Float32Array, out: Float32Array, start: number, end: number, shape: readonly number[], strides: readonly number[]): boolean {
  const last = shape.length - 1;
  if (last > LEADING || !inArena([x, out])) return false;
  // Dimensions of size 1 in front make up the four.
  const pad = LEADING - last;
  const n = (d: number) => (d < pad ? 1 : shape[d - pad]);
  const s = (d: number) => (d < pad ? 0 : strides[d - pad]);
  wasmLayerKernels(preferredWasmVariant()).transposeRows(x.byteOffset, out.byteOffset, start, end, shape[last], n(0), n(1), n(2), n(3), s(0), s(1), s(2), s(3));
  return true;
}

// The fill's float32 bits as Float32Array.fill() stores them.
const fillFloat = new Float32Array(1);
const fillBits = new Uint32Array(fillFloat.buffer);

/**
 * Rows [start, end) of a constant pad, as layout.ts's loop writes them (x of
 * `inShape` into out of `outShape`, x starting at `begin`, `fill` elsewhere;
 * columns [c0, c1) of a row inside x come from x); false, having written
 * nothing, when the WebAssembly loop cannot run here or there are more
 * leading dimensions than it takes.
 */
export function padRowsWasm(
  x: Float32Array, out: Float32Array, start: number, end: number,
  inShape: readonly number[], outShape: readonly number[], begin: readonly number[], fill: number, c0: number, c1: number,
): boolean {
  const last = outShape.length - 1;
  if (last > LEADING || !inArena([x, out])) return false;
  fillFloat[0] = fill;
  const inStrides = [0, 0, 0, 0];
  for (let d = last - 1, s = inShape[last]; d >= 0; d--) {
    inStrides[LEADING - last + d] = s;
    s *= inShape[d];
  }
  const pad = LEADING - last;
  const n = (d: number) => (d < pad ? 1 : outShape[d - pad]);
  const b = (d: number) => (d < pad ? 0 : begin[d - pad]);
  const m = (d: number) => (d < pad ? 1 : inShape[d - pad]);
  wasmLayerKernels(preferredWasmVariant()).padRows(
    x.byteOffset, out.byteOffset, start, end, outShape[last], c0, c1, c0 - begin[last], fillBits[0],
    n(0), n(1), n(2), n(3), b(0), b(1), b(2), b(3), m(0), m(1), m(2), m(3), inStrides[0], inStrides[1], inStrides[2], inStrides[3],
  );
  return true;
}
