// How the flat kernels cut their output into units: blocks of elements.
import type { RangedParams } from './types.js';

/** Elements per unit of the flat elementwise kernels: large enough that a unit's overhead is noise. */
export const ELEMENT_BLOCK = 4096;

/** Units of `elements` values cut into ELEMENT_BLOCK blocks. */
export function elementUnits(elements: number): number {
  return Math.ceil(elements / ELEMENT_BLOCK);
}

/** The elements [from, to) that units [start, end) of a flat kernel over `params.elements` values cover. */
export function elementRange(params: RangedParams, start: number, end: number): [number, number] {
  const n = params.elements as number;
  return [Math.min(n, start * ELEMENT_BLOCK), Math.min(n, end * ELEMENT_BLOCK)];
}
