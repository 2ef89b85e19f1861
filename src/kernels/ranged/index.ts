// The ranged kernels by name (types.ts says what a ranged kernel is). Workers
// and the calling thread look kernels up here, so both run the same code.
import { errors } from '../../errors.js';
import { reluReference } from '../../ops/relu.js';
import type { RangedKernel, RangedOp } from './types.js';

export type { RangedKernel, RangedOp, RangedParams } from './types.js';

/** Elements per unit of the flat elementwise kernels: large enough that a unit's overhead is noise. */
export const ELEMENT_BLOCK = 4096;

const relu: RangedKernel = (params, [x], [out], start, end) => {
  const n = params.elements as number;
  const from = start * ELEMENT_BLOCK;
  const to = Math.min(n, end * ELEMENT_BLOCK);
  reluReference(x.subarray(from, to), out.subarray(from, to));
};

export const RANGED_KERNELS: Record<string, RangedKernel> = { relu };

/** Runs units [start, end) of `op`. */
export function runRanged(op: RangedOp, inputs: readonly Float32Array[], outputs: readonly Float32Array[], start: number, end: number): void {
  const kernel = Object.hasOwn(RANGED_KERNELS, op.kernel) ? RANGED_KERNELS[op.kernel] : undefined;
  if (!kernel) throw errors.invalid('op.kernel', `no ranged kernel is named '${op.kernel}' (known: ${Object.keys(RANGED_KERNELS).join(', ')})`);
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= op.units)) {
    throw errors.invalid('range', `[${start}, ${end}) is not within ${op.kernel}'s ${op.units} units`);
  }
  kernel(op.params, inputs, outputs, start, end);
}
