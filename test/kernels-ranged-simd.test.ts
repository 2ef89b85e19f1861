// The ranged kernels' SIMD loops (ranged/simd-loops.ts: GlobalAveragePool
// in the native kernels and WebAssembly, Mul by runs) against the
// JavaScript loops they stand in for, bit for bit (Mul's NaN payloads too),
// and against the arithmetic written out here: the arena's arrays take the
// SIMD loop, the same values in plain arrays take the JavaScript one. Plane
// sizes around the 4-float vector and the 4-plane block, ranges cut at
// random, values with NaN, infinities, signed zeros, subnormals and sums
// beyond float32's range sprinkled in.
import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool2d, Random, zeros } from '../src/index.js';
import { binaryLayout } from '../src/kernels/ranged/binary.js';
import { elementUnits, runRanged, type RangedOp } from '../src/kernels/ranged/index.js';
import { globalPoolOp } from '../src/kernels/ranged/pool.js';
import { wasmKernelsAvailable } from '../src/kernels/plan/selection.js';
import { nativeKernelsBuilt } from '../src/kernels/native/index.js';
import { configureKernels } from '../src/kernels/options.js';
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
    /**
     * The lane order written out (kernels/plane-mean.ts): sixteen double sums, sum j over the elements
     * i = j (mod 16) in order from +0, then the tree j + 8, j + 4, j + 2, the last two, then one division.
     */
    function laneOrderMean(x: Float32Array, from: number, count: number): number {
      const s = new Array<number>(16).fill(0);
      for (let i = 0; i < count; i++) s[i % 16] += x[from + i];
      for (let half = 8; half >= 1; half /= 2) for (let j = 0; j < half; j++) s[j] += s[j + half];
      return s[0] / count;
    }
    // Each path that computes it: the native kernels at 16 and 8 floats where they run, WebAssembly, JavaScript.
    const native = nativeKernelsBuilt();
    // Where they run: the widest width this CPU has, and 8 floats below 16 (AVX-512 CPUs have AVX2 too).
    const widths = native ? (native.width() === 16 ? [16, 8] : [8]) : [];
    const paths: Array<[string, () => () => void]> = [
      ...widths.map((w): [string, () => () => void] => [`native, ${w} floats`, () => withNative(w)]),
      ['WebAssembly', () => {
        const previous = configureKernels({ native: false });
        return () => configureKernels(previous);
      }],
    ];
    function withNative(width: number): () => void {
      const before = native!.width();
      native!.useWidth(width);
      return () => native!.useWidth(before);
    }
    const sizes: [number, number][] = [
      [1, 1], [3, 1], [4, 2], [5, 3], [7, 4], [9, 5], [6, 7], [13, 8], [5, 15], [3, 16], [6, 17], [4, 31], [4, 49], [11, 49], [17, 196], [8, 3139],
    ];
    it('runs every path here (otherwise the comparisons below compare the JavaScript loop with itself)', () => {
      expect(paths.length).toBeGreaterThanOrEqual(1);
      expect(paths.some(([name]) => name.startsWith('native')) || nativeKernelsBuilt() === null).toBe(true);
    });
    describe.each(paths)('%s', (_name, use) => {
      it.each(sizes)('%i planes of %i: the JavaScript loop\'s bits, which are the lane-order double sum / size', (planes, plane) => {
        const random = new Random(planes * 1000 + plane);
        const x = values(random, planes * plane, planes * plane < 400 ? 5 : 60);
        const op = globalPoolOp('globalAveragePool', planes, plane);
        const restore = use();
        let simd: Float32Array;
        try {
          simd = run(op, [inArena(x)], zeros([planes], { shared: true }).data, random);
        } finally {
          restore();
        }
        const js = run(op, [x], new Float32Array(planes), random);
        expect(firstDifference(simd, js)).toBe(-1);
        const expected = new Float32Array(planes);
        for (let q = 0; q < planes; q++) expected[q] = laneOrderMean(x, q * plane, plane);
        expect(firstDifference(simd, expected)).toBe(-1);
        // The sample does hold planes with NaN, infinities and signed zeros.
        expect(Array.from(simd).some(Number.isNaN) || planes * plane < 40).toBe(true);
      });

      it('sums by lanes: 2^60 and -2^60 in one lane cancel, the 1s in the others are all kept (in order, all but the last would be lost)', () => {
        // Plane of 40: element 0 is 2^60, element 16 is -2^60 (both in sum 0), every other element 1.
        const plane = 40;
        const x = new Float32Array(4 * plane).fill(1);
        for (let q = 0; q < 4; q++) {
          x[q * plane] = 2 ** 60;
          x[q * plane + 16] = -(2 ** 60);
        }
        const op = globalPoolOp('globalAveragePool', 4, plane);
        const restore = use();
        try {
          const simd = run(op, [inArena(x)], zeros([4], { shared: true }).data, new Random(1));
          // Sum 0 is 2^60 - 2^60 + 1 (element 32) = 1; the other 37 ones survive: 38 / 40. In order, 2^60 + 1 + ...
          // + 1 stays 2^60 (each 1 is below half its ulp), then - 2^60 leaves the 23 ones after it: 23 / 40.
          expect(Array.from(simd)).toEqual([0, 0, 0, 0].map(() => Math.fround(38 / 40)));
        } finally {
          restore();
        }
      });
    });

    it('adaptiveAvgPool2d(x, 1) gives the same bits, and its smaller windows sum in the same order', () => {
      const random = new Random(7);
      const x = values(random, 2 * 3 * 9 * 11, 60);
      const pooled = adaptiveAvgPool2d({ shape: [2, 3, 9, 11], data: x }, 1);
      const op = globalPoolOp('globalAveragePool', 6, 99);
      expect(firstDifference(pooled.data, run(op, [x], new Float32Array(6), random))).toBe(-1);
      // 2 x 3 windows of a 9 x 11 plane: rows [0, 5) and [4, 9), columns [0, 4), [3, 8), [7, 11).
      const cells = adaptiveAvgPool2d({ shape: [2, 3, 9, 11], data: x }, [2, 3]);
      const window = new Float32Array(25);
      for (const [oy, y0, y1] of [[0, 0, 5], [1, 4, 9]]) {
        for (const [ox, x0, x1] of [[0, 0, 4], [1, 3, 8], [2, 7, 11]]) {
          let n = 0;
          for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) window[n++] = x[99 + iy * 11 + ix];
          expect(Object.is(cells.data[6 + oy * 3 + ox], Math.fround(laneOrderMean(window, 0, n))) || Number.isNaN(cells.data[6 + oy * 3 + ox])).toBe(true);
        }
      }
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
