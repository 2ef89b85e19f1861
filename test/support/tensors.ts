// Test tensors: seeded random values, and comparison bit for bit (what the
// engine promises against one thread, where closeness would hide a changed
// summation order).
import { expect } from 'vitest';
import { Random, zeros, type Tensor } from '../../src/index.js';

/**
 * Standard normal values times `scale`, drawn in order from `random`, so a
 * test that draws the same tensors from the same seed sees the same values.
 * `shared` places the tensor in the shared arena (the engine's and the
 * kernels' in-place path).
 */
export function randomTensor(random: Random, shape: readonly number[], { scale = 1, shared = false } = {}): Tensor {
  const t = zeros(shape, { shared });
  for (let i = 0; i < t.data.length; i++) t.data[i] = random.normal() * scale;
  return t;
}

/** randomTensor from a generator of its own, for tests that want one fixed tensor per seed. */
export function seededTensor(seed: number, shape: readonly number[]): Tensor {
  return randomTensor(new Random(seed), shape);
}

/** The values' bit patterns: toEqual on these tells -0 from 0 and one NaN from another. */
export function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/** Index of the first element whose bits differ, or -1. NaNs compare by bits too. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = bits(a);
  const y = bits(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Asserts `a` has `b`'s shape and bits (a failure lists the differing words). */
export function expectSameBits(a: Tensor, b: Tensor): void {
  expect(a.shape).toEqual(b.shape);
  expect(Array.from(bits(a.data))).toEqual(Array.from(bits(b.data)));
}
