// Closeness of float32 results to expected values: one check, parameterised by
// a tolerance, and the named rules the suites hold results to.
import { expect } from 'vitest';
import type { Tensor } from '../../src/index.js';

/**
 * An element passes when |actual - expected| <= atol + rtol * max(|expected|, floor).
 * `floor` (default 0) keeps a purely relative bound from shrinking to nothing
 * for expected values near zero.
 */
export interface Tolerance {
  atol: number;
  rtol: number;
  floor?: number;
}

export interface Violation {
  index: number;
  actual: number;
  expected: number;
  /** How far the error goes past the bound; Infinity where it is NaN. */
  excess: number;
}

/**
 * The element furthest outside the tolerance, or null when all pass.
 * Identical values always pass, NaN against NaN and infinities included,
 * as PyTorch results are compared: the bound alone would reject them (inf - inf is NaN).
 */
export function worstViolation(actual: Float32Array, expected: Float32Array, tolerance: Tolerance): Violation | null {
  const { atol, rtol, floor = 0 } = tolerance;
  let worst: Violation | null = null;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(b) ? Number.isNaN(a) : a === b) continue;
    const excess = Math.abs(a - b) - (atol + rtol * Math.max(Math.abs(b), floor));
    if (excess <= 0) continue;
    const ranked = Number.isNaN(excess) ? Infinity : excess;
    if (!worst || ranked > worst.excess) worst = { index: i, actual: a, expected: b, excess: ranked };
  }
  return worst;
}

/** Fails the calling test naming the worst element when `actual` is not within `tolerance` of `expected`. */
export function expectClose(actual: Float32Array, expected: Float32Array, tolerance: Tolerance, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const v = worstViolation(actual, expected, tolerance);
  expect(v && `${what}[${v.index}] = ${v.actual}, expected ${v.expected} (${v.excess} past the tolerance)`).toBeNull();
}

/** expectClose for tensors: the same shape, then the values. */
export function expectTensorClose(actual: Tensor, expected: Tensor, tolerance: Tolerance, what = 'values'): void {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  expectClose(actual.data, expected.data, tolerance, what);
}

/** The largest |value|. */
export const maxAbs = (values: Float32Array): number => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * The golden README's rule for a convolution's output (test/golden/README.md):
 * atol = 1e-5 * sqrt(K) * max|weight| * max|input| with K = Cin/groups * kH * kW,
 * rtol = 1e-5. Room for any summation order, far below one product term.
 */
export function goldenTolerance(input: Tensor, weight: Tensor): Tolerance {
  const [, cinG, kh, kw] = weight.shape;
  return { atol: 1e-5 * Math.sqrt(cinG * kh * kw) * maxAbs(weight.data) * maxAbs(input.data), rtol: 1e-5 };
}

/** The zoo's absolute tolerance as a fraction of the output's largest expected magnitude. */
export const ZOO_ATOL_FRACTION = 1e-5;

/**
 * The model zoo's rule for a whole model's output against PyTorch's float64
 * result (test/fixtures/zoo): 1e-5 of max|expected| plus 1e-5 relative.
 */
export function zooTolerance(maxAbsExpected: number): Tolerance {
  return { atol: ZOO_ATOL_FRACTION * maxAbsExpected, rtol: 1e-5 };
}

/**
 * The ONNX issue's rule for an imported model's output against PyTorch's float32
 * run: |got - expected| <= 1e-4 * max|expected| + 1e-4 * |expected|.
 */
export function onnxTolerance(maxAbsExpected: number): Tolerance {
  return { atol: 1e-4 * maxAbsExpected, rtol: 1e-4 };
}

/**
 * `ulps` float32 epsilons (2^-23) relative to the expected value, which counts
 * as at least `smallest`: for results a rounding or two away from exact.
 */
export function float32Ulps(ulps: number, smallest: number): Tolerance {
  return { atol: 0, rtol: ulps * 2 ** -23, floor: smallest };
}
