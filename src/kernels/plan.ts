import type { ConvGeometry, ConvSlice } from '../conv/geometry.js';
import { referenceKernel } from './reference.js';

/**
 * How one convolution will be computed, decided once per layer on the main
 * thread: which kernel, and where its packed weights live. A plan is plain
 * data (it survives structured clone), so it can be sent to workers once and
 * run there on any slice.
 */
export interface KernelPlan {
  /** Kernel name, e.g. 'reference'. */
  kind: string;
  geometry: ConvGeometry;
  /** Weights repacked for the kernel, in the shared arena: byte offset and float count. */
  packed: { byteOffset: number; length: number } | null;
}

/** Chooses a kernel for the geometry and packs its weights (main thread: packing may allocate). */
export function planConv(geometry: ConvGeometry, _weight: Float32Array): KernelPlan {
  return { kind: 'reference', geometry, packed: null };
}

/** Floats of scratch memory one task over `slice` needs (allocated by the main thread per task). */
export function planScratchFloats(_plan: KernelPlan, _slice: ConvSlice): number {
  return 0;
}

/** Computes `slice` of the output with the plan's kernel; the same code on every thread. */
export function runPlan(
  plan: KernelPlan,
  input: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  output: Float32Array,
  slice: ConvSlice,
  _scratch: Float32Array | null,
): void {
  referenceKernel(plan.geometry, input, weight, bias, output, slice);
}

/** Frees what planConv allocated (packed weights). */
export function releasePlan(_plan: KernelPlan): void {}
