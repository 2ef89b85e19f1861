// The fully connected kernel (AlexNet's fc6-fc8, the models' classifiers):
// WebAssembly SIMD, or the native kernel with its bits where it runs, over the
// weights as PyTorch stores them, [out, in], so a layer needs no packing and a
// device's rows of a split layer run as they are.
import { sharedArena } from '../memory/arena.js';
import { arenaMemoryView, nativeKernels } from './native/index.js';
import { Operands } from './operands.js';
import { preferredWasmVariant, wasmKernelsAvailable } from './plan/selection.js';
import { wasmLinearRows } from './wasm/runtime.js';

/**
 * out[r, o] = bias[o] + x[r, :] . weight[o, :] for x [rows, inFeatures] and
 * weight [outFeatures, inFeatures], through WebAssembly when it can run here:
 * SIMD is available and the arrays are in the shared arena or this thread can
 * stage them there. Returns false, having written nothing, when it cannot.
 */
export function linearKernel(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  out: Float32Array,
  rows: number,
  inFeatures: number,
  outFeatures: number,
): boolean {
  return linearColumns(x, weight, bias, out, rows, inFeatures, outFeatures, 0, outFeatures);
}

/**
 * linearKernel for output columns [o0, o1) of every row only (the ranged Gemm's
 * blocks): the kernel computes each dot product the same way whichever columns
 * it is given, so blocks give the bits of one call.
 */
export function linearColumns(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  out: Float32Array,
  rows: number,
  inFeatures: number,
  outFeatures: number,
  o0: number,
  o1: number,
): boolean {
  if (!wasmKernelsAvailable()) return false;
  const arena = sharedArena();
  if (!arena.canAllocate && ![x, weight, out, ...(bias ? [bias] : [])].every((a) => arena.owns(a))) return false;
  if (rows === 0 || o0 === o1) return true;
  const operands = new Operands();
  try {
    const xAt = operands.address(x, true);
    const weightAt = operands.address(weight, true);
    const biasAt = bias ? operands.address(bias, true) : 0;
    const outInPlace = arena.owns(out);
    // Staged, the output is copied in first when the kernel writes only some of its columns.
    const outAt = operands.address(out, o0 > 0 || o1 < outFeatures);
    const native = nativeLinearKernels();
    if (native) native.linear(arenaMemoryView(), xAt, weightAt, biasAt === 0 ? -1 : biasAt, outAt, rows, inFeatures, outFeatures, o0, o1);
    else wasmLinearRows(preferredWasmVariant())(xAt, weightAt, biasAt, outAt, rows, inFeatures, outFeatures, o0, o1);
    if (!outInPlace) out.set(new Float32Array(arena.buffer, outAt, rows * outFeatures));
  } finally {
    operands.release();
  }
  return true;
}

/**
 * The native kernels where linearColumns computes through them, else null: the FMA build's WebAssembly
 * kernels preferred, whose sums the native kernel computes (native/kernels.h, linear), the same bits, faster.
 * The engine's native runs of stages take a Gemm exactly where this says (engine/native-stages.ts).
 */
export function nativeLinearKernels(): ReturnType<typeof nativeKernels> {
  return wasmKernelsAvailable() && preferredWasmVariant() === 'fma' ? nativeKernels() : null;
}
