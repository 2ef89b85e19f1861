// The ranged kernels' WebAssembly SIMD loops (ranged/simd-loops.ts:
// GlobalAveragePool four planes at a time, Mul by runs) against the
// JavaScript loops they stand in for, bit for bit (Mul's NaN payloads too),
// and against the arithmetic written out here: the arena's arrays take the
// SIMD loop, the same values in plain arrays take the JavaScript one. Plane
// sizes around the 4-float vector and the 4-plane block, ranges cut at
// random, values with NaN, infinities, signed zeros, subnormals and sums
// beyond float32's range sprinkled in.
import { describe, expect, it } from 'vitest';
import { Random, zeros } from '../src/index.js';
import { binaryLayout } from '../src/kernels/ranged/binary.js';
import { elementUnits, runRanged, type RangedOp } from '../src/kernels/ranged/index.js';
import { globalPoolOp } from '../src/kernels/ranged/pool.js';
import { wasmKernelsAvailable } from '../src/kernels/plan/selection.js';
import { inArena, randomPartition } from './support/ranged.js';
import { firstBitDifference } from './support/tensors.js';

const SPECIAL = [Number.NaN, -Number.NaN, Infinity, -Infinity, -0, 0, 3e38, -3e38, 1e-45, -1e-45, 1.5e-39];

/**
 * Index of the first element whose bits differ, NaN matching any NaN, or -1.
 * In a plane holding NaNs of both signs, which one the sum keeps is V8's
 * choice in either loop (it may commute a double addition), as in the
 * host's adaptiveAvgPool2d.
 */
function firstDifference(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) return i;
  return a.length === b.length ? -1 : a.length;
}

/** Normal values with a special one at about one place in `every`. */
function values(random: Random, n: number, every: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = random.uniform(0, 1) < 1 / every ? SPECIAL[Math.floor(random.uniform(0, SPECIAL.length))] : random.normal();
  return a;
}


/** Runs `op` over a random partition of its units into an output prefilled with a NaN no kernel writes. */
function run(op: RangedOp, inputs: Float32Array[], out: Float32Array, random: Random): Float32Array {
  out.fill(Number.NaN);
  new Uint32Array(out.buffer, out.byteOffset, out.length).fill(0x7fa1dead);
  for (const [start, end] of randomPartition(op.units, () => random.uniform(0, 1))) runRanged(op, inputs, [out], start, end);
  return out;
}

describe('ranged SIMD loops', () => {
  it('run here (otherwise the comparisons below compare the JavaScript loops with themselves)', () => {
    expect(wasmKernelsAvailable()).toBe(true);
  });

  describe('GlobalAveragePool', () => {
    const sizes: [number, number][] = [
      [1, 1], [3, 1], [4, 2], [5, 3], [7, 4], [9, 5], [6, 7], [13, 8], [4, 49], [11, 49], [17, 196], [8, 3139],
    ];
    it.each(sizes)('%i planes of %i: the SIMD loop gives the JavaScript loop\'s bits, which are the in-order double sum / size', (planes, plane) => {
      const random = new Random(planes * 1000 + plane);
      const x = values(random, planes * plane, plane < 8 ? 4 : 60);
      const op = globalPoolOp('globalAveragePool', planes, plane);
      const simd = run(op, [inArena(x)], zeros([planes], { shared: true }).data, random);
      const js = run(op, [x], new Float32Array(planes), random);
      expect(firstDifference(simd, js)).toBe(-1);
      const expected = new Float32Array(planes);
      for (let q = 0; q < planes; q++) {
        let sum = 0;
        for (let i = 0; i < plane; i++) sum += x[q * plane + i];
        expected[q] = sum / plane;
      }
      expect(firstDifference(simd, expected)).toBe(-1);
      // The sample does hold planes with NaN, infinities and signed zeros.
      expect(Array.from(simd).some(Number.isNaN) || planes * plane < 40).toBe(true);
    });

    it('sums each plane in order: 2^60, 1, -2^60, 1, ... loses every 1 but the last, where a sum by lanes keeps them all', () => {
      const plane = 12;
      const x = new Float32Array(4 * plane);
      for (let i = 0; i < x.length; i++) x[i] = i % 4 === 0 ? 2 ** 60 : i % 4 === 2 ? -(2 ** 60) : 1;
      const op = globalPoolOp('globalAveragePool', 4, plane);
      const simd = run(op, [inArena(x)], zeros([4], { shared: true }).data, new Random(1));
      // 2^60 + 1 is 2^60 in double: the running sum ends at the last 1, so the mean is 1 / 12 (the exact one is 6 / 12).
      expect(Array.from(simd)).toEqual([1, 1, 1, 1].map(() => Math.fround(1 / 12)));
    });
  });

  describe('Mul by runs', () => {
    const shapes: [string, number[], number[]][] = [
      ['squeeze-excitation [N,C,H,W] * [N,C,1,1]', [2, 7, 9, 11], [2, 7, 1, 1]],
      ['its operands swapped, [N,C,1,1] * [N,C,H,W]', [2, 7, 1, 1], [2, 7, 9, 11]],
      ['a per-channel constant [C,1,1]', [3, 5, 6, 6], [5, 1, 1]],
      ['runs of 1', [2, 3, 5], [2, 3, 5]],
      ['runs of 3', [4, 6, 3], [4, 6, 1]],
      ['a scalar', [5, 4097], [1]],
      ['runs longer than a unit', [2, 3, 64, 70], [2, 3, 1, 1]],
    ];
    it.each(shapes)('%s: the SIMD loop gives the JavaScript loop\'s bits, each a float32 product', (_name, a, b) => {
      const layout = binaryLayout(a, b)!;
      expect(layout.params.mode === 1 || layout.params.mode === 2 || layout.params.mode === 0).toBe(true);
      const elements = layout.params.elements as number;
      const op: RangedOp = { kernel: 'mul', params: layout.params, units: elementUnits(elements), costPerUnit: 4096 };
      const random = new Random(elements);
      const x = values(random, a.reduce((p, d) => p * d, 1), 30);
      const y = values(random, b.reduce((p, d) => p * d, 1), 30);
      const simd = run(op, [inArena(x), inArena(y)], zeros([elements], { shared: true }).data, random);
      const js = run(op, [x, y], new Float32Array(elements), random);
      expect(firstBitDifference(simd, js)).toBe(-1);
      // The values, independently: broadcasting by index arithmetic, each product rounded once to float32.
      const expected = new Float32Array(elements);
      const out = layout.shape;
      for (let i = 0; i < elements; i++) {
        let rest = i;
        let ia = 0;
        let ib = 0;
        let sa = 1;
        let sb = 1;
        for (let d = out.length - 1; d >= 0; d--) {
          const c = rest % out[d];
          rest = Math.floor(rest / out[d]);
          const da = a[d - (out.length - a.length)] ?? 1;
          const db = b[d - (out.length - b.length)] ?? 1;
          if (da !== 1) ia += c * sa;
          if (db !== 1) ib += c * sb;
          sa *= da;
          sb *= db;
        }
        expected[i] = Math.fround(x[ia] * y[ib]);
      }
      const bothNaN = (i: number) => Number.isNaN(simd[i]) && Number.isNaN(expected[i]);
      for (let i = 0; i < elements; i++) if (!Object.is(simd[i], expected[i]) && !bothNaN(i)) expect([i, simd[i]]).toEqual([i, expected[i]]);
    });
  });
});
