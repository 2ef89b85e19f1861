// The ranged kernels by name (types.ts says what a ranged kernel is), one
// file per family. Workers and the calling thread look kernels up here, so
// both run the same code.
import { errors } from '../../errors.js';
import { binaryKernels } from './binary.js';
import { layoutKernels } from './layout.js';
import { linearKernels } from './linear.js';
import { normalizationKernels } from './normalization.js';
import { poolKernels } from './pool.js';
import type { RangedKernel, RangedOp } from './types.js';
import { unaryKernels } from './unary.js';

export type { RangedKernel, RangedOp, RangedParams } from './types.js';
export { ELEMENT_BLOCK, elementUnits, unitAt } from './units.js';

export const RANGED_KERNELS: Record<string, RangedKernel> = {
  ...unaryKernels,
  ...binaryKernels,
  ...poolKernels,
  ...normalizationKernels,
  ...layoutKernels,
  ...linearKernels,
};

/** Runs units [start, end) of `op`. */
export function runRanged(op: RangedOp, inputs: readonly Float32Array[], outputs: readonly Float32Array[], start: number, end: number): void {
  const kernel = Object.hasOwn(RANGED_KERNELS, op.kernel) ? RANGED_KERNELS[op.kernel] : undefined;
  if (!kernel) throw errors.invalid('op.kernel', `no ranged kernel is named '${op.kernel}' (known: ${Object.keys(RANGED_KERNELS).join(', ')})`);
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= op.units)) {
    throw errors.invalid('range', `[${start}, ${end}) is not within ${op.kernel}'s ${op.units} units`);
  }
  kernel(op.params, inputs, outputs, start, end);
}

/** Runs all of `op`'s units on this thread: what the ONNX host ops do, so they compute a stage's bits by construction. */
export function runAllUnits(op: RangedOp, inputs: readonly Float32Array[], outputs: readonly Float32Array[]): void {
  runRanged(op, inputs, outputs, 0, op.units);
}
