// How the flat kernels cut their output into units: blocks of elements.
import type { RangedParams } from './types.js';

/** Elements per unit of the flat elementwise kernels: large enough that a unit's overhead is noise. */
export const ELEMENT_BLOCK = 4096;

/**
 * Units of `elements` values cut into ELEMENT_BLOCK blocks. With `images` > 1
 * (the output's first axis), each image is cut on its own, so no block straddles
 * two images and image i is a whole number of units: what lets the engine run
 * the op image by image in a chain (engine/chains.ts). Elementwise results do not
 * depend on where the blocks end, so either cut gives the same bits.
 */
export function elementUnits(elements: number, images = 1): number {
  const per = perImage(elements, images);
  return per === null ? Math.ceil(elements / ELEMENT_BLOCK) : images * Math.ceil(per / ELEMENT_BLOCK);
}

/** The params a flat kernel's units are read by (elementRange, unitAt): the element count and, when cut image by image, each image's. */
export function elementParams(elements: number, images = 1): RangedParams {
  const per = perImage(elements, images);
  return per === null ? { elements } : { elements, perImage: per };
}

function perImage(elements: number, images: number): number | null {
  return images > 1 && elements > 0 && elements % images === 0 ? elements / images : null;
}

/** Where unit `u` starts, in elements (u may be the unit count: then the end). */
function unitStart(params: RangedParams, u: number): number {
  const n = params.elements as number;
  const per = params.perImage as number | undefined;
  if (per === undefined) return Math.min(n, u * ELEMENT_BLOCK);
  const k = Math.ceil(per / ELEMENT_BLOCK);
  return Math.min(n, Math.floor(u / k) * per + (u % k) * ELEMENT_BLOCK);
}

/** The elements [from, to) that units [start, end) of a flat kernel cover: one run, since units tile the elements in order. */
export function elementRange(params: RangedParams, start: number, end: number): [number, number] {
  return [unitStart(params, start), unitStart(params, end)];
}

/** The unit holding element `e`, or with `up` the first unit that starts at or after it (elementRange's inverse). */
export function unitAt(params: RangedParams, e: number, up: boolean): number {
  const per = params.perImage as number | undefined;
  const round = up ? Math.ceil : Math.floor;
  if (per === undefined) return round(e / ELEMENT_BLOCK);
  const k = Math.ceil(per / ELEMENT_BLOCK);
  const image = Math.floor(e / per);
  return image * k + round((e - image * per) / ELEMENT_BLOCK);
}
