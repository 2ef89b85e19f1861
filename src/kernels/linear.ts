// The fully connected kernel (AlexNet's fc6-fc8, the models' classifiers):
// WebAssembly SIMD over the weights as PyTorch stores them, [out, in], so a
// layer needs no packing and a device's rows of a split layer run as they are.
import { sharedArena } from '../memory/arena.js';
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
  if (!wasmKernelsAvailable()) return false;
  const arena = sharedArena();
  if (!arena.canAllocate && ![x, weight, out, ...(bias ? [bias] : [])].every((a) => arena.owns(a))) return false;
  if (rows === 0 || outFeatures === 0) return true;
  const operands = new Operands();
  try {
    const xAt = operands.address(x, true);
    const weightAt = operands.address(weight, true);
    const biasAt = bias ? operands.address(bias, true) : 0;
    const outInPlace = arena.owns(out);
    const outAt = operands.address(out, false);
    wasmLinearRows(preferredWasmVariant())(xAt, weightAt, biasAt, outAt, rows, inFeatures, outFeatures, 0, outFeatures);
    if (!outInPlace) out.set(new Float32Array(arena.buffer, outAt, rows * outFeatures));
  } finally {
    operands.release();
  }
  return true;
}
