// ReLU through WebAssembly SIMD (wasm/assembly/activation.ts): the same bits
// as the JavaScript version in ops/relu.ts, which is the fallback.
import { preferredWasmVariant, wasmKernelsAvailable } from './plan/selection.js';
import { wasmLayerKernels } from './wasm/runtime.js';
import { runStaged } from './staged.js';
import { sharedArena } from '../memory/arena.js';

/**
 * out[i] = relu(x[i]) through WebAssembly when both arrays are in the arena:
 * ReLU reads and writes each value once, so staging copies would cost more
 * than the kernel saves, and the JavaScript computes the same bits. Returns
 * false, having written nothing, when it does not run.
 */
export function reluKernel(x: Float32Array, out: Float32Array): boolean {
  if (!wasmKernelsAvailable()) return false;
  const arena = sharedArena();
  if (!arena.owns(x) || !arena.owns(out)) return false;
  const relu = wasmLayerKernels(preferredWasmVariant()).relu;
  return runStaged(x, out, 0, false, (xAt, outAt) => relu(xAt, outAt, x.length));
}
