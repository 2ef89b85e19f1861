// Concat's, Split / Slice's and the fused channel shuffle's copies (ranged/layout.ts) through each way they
// run: memmove in the native kernels and WebAssembly's row copy (simd-loops.ts,
// arenaCopier) for the arena's arrays, set() for plain ones. Each is checked
// bit for bit (NaN payloads, signed zeros, subnormals) against the result
// written out by index, over every two-piece cut, every single unit and random
// partitions of the units, into outputs prefilled with a pattern no copy writes.
import { describe, expect, it, vi } from 'vitest';
import { Random, zeros } from '../src/index.js';
import { runRanged, type RangedOp } from '../src/kernels/ranged/index.js';
import { concatOp, layoutCopies, shuffleConcatOp, sliceOp, transposeOp } from '../src/kernels/ranged/layout.js';
import { arenaCopier } from '../src/kernels/ranged/simd-loops.js';
import { nativeKernelsBuilt } from '../src/kernels/native/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { everyCut, inArena, valuesWithBits } from './support/ranged.js';
import { firstBitDifference } from './support/tensors.js';

const SPECIAL_BITS = [0x7fc0beef, 0xffc00001, 0x80000000, 0x00000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000];
const UNWRITTEN = 0x7fa1dead;

const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/** Every element of `shapes` concatenated along `axis`, index by index. */
function concatenated(inputs: readonly Float32Array[], shapes: readonly number[][], axis: number): Float32Array {
  const outer = product(shapes[0].slice(0, axis));
  const inner = product(shapes[0].slice(axis + 1));
  const out: number[] = [];
  const bits = inputs.map((x) => new Uint32Array(x.buffer, x.byteOffset, x.length));
  for (let o = 0; o < outer; o++) {
    shapes.forEach((s, k) => {
      for (let i = 0; i < s[axis] * inner; i++) out.push(bits[k][o * s[axis] * inner + i]);
    });
  }
  return new Float32Array(Uint32Array.from(out).buffer);
}

/** Output k: indexes [begins[k], begins[k] + counts[k]) of `axis`, index by index. */
function sliced(x: Float32Array, shape: readonly number[], axis: number, begins: number[], counts: number[]): Float32Array[] {
  const outer = product(shape.slice(0, axis));
  const inner = product(shape.slice(axis + 1));
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return begins.map((b, k) => {
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (let j = b; j < b + counts[k]; j++) for (let i = 0; i < inner; i++) out.push(bits[(o * shape[axis] + j) * inner + i]);
    return new Float32Array(Uint32Array.from(out).buffer);
  });
}

function prefilled(outputs: readonly Float32Array[]): void {
  for (const out of outputs) new Uint32Array(out.buffer, out.byteOffset, out.length).fill(UNWRITTEN);
}

function runCut(op: RangedOp, inputs: readonly Float32Array[], outputs: readonly Float32Array[], ranges: [number, number][]): void {
  prefilled(outputs);
  for (const [start, end] of ranges) runRanged(op, inputs, outputs, start, end);
}

/** The ways the copies run here: [name, kernel options]; the native one only where its kernels run. */
const ways: [string, { native: boolean }][] = [
  ['memmove (native kernels)', { native: true }],
  ['WebAssembly row copy', { native: false }],
];

describe.each(ways)('Concat and Slice copies: %s', (_way, options) => {
  // Without native kernels here (another CPU, GROUPCONV_NATIVE=0) their way is skipped; the other still runs.
  const skip = options.native && nativeKernelsBuilt() === null;

  const withOptions = <T>(body: () => T): T => {
    const previous = configureKernels(options);
    try {
      return body();
    } finally {
      configureKernels(previous);
    }
  };

  it.skipIf(skip)('the arena\'s arrays take it (memmove only with the native kernels on), plain arrays set()', () => {
    const native = nativeKernelsBuilt();
    const spy = native ? vi.spyOn(native, 'copyRuns') : null;
    try {
      withOptions(() => {
        const a = inArena(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
        const b = zeros([8], { shared: true }).data;
        const copy = arenaCopier(a, b);
        expect(copy).not.toBeNull();
        copy!(2, 5, 1, 3, 0, 0);
        expect([...b]).toEqual([0, 0, 0, 0, 0, 3, 4, 5]);
        // Strided: runs of 2 every 4 floats of a, every 3 of b.
        const c = zeros([8], { shared: true }).data;
        arenaCopier(a, c)!(0, 0, 2, 2, 4, 3);
        expect([...c]).toEqual([1, 2, 0, 5, 6, 0, 0, 0]);
        expect(arenaCopier(a, new Float32Array(8))).toBeNull();
        expect(arenaCopier(new Float32Array(8), b)).toBeNull();
      });
      if (spy) expect(spy).toHaveBeenCalledTimes(options.native ? 2 : 0);
    } finally {
      spy?.mockRestore();
    }
  });

  const concatCases: [string, number[][], number][] = [
    ['channels of three inputs (planes of 20)', [[2, 3, 5, 4], [2, 1, 5, 4], [2, 6, 5, 4]], 1],
    ['ShuffleNetV2 halves at 7x7 (planes of 49)', [[3, 5, 7, 7], [3, 5, 7, 7]], 1],
    ['last axis (runs of 4 and 2)', [[2, 3, 5, 4], [2, 3, 5, 2]], 3],
    ['images', [[2, 3, 5], [1, 3, 5]], 0],
    ['runs of one float', [[4, 3, 1], [4, 2, 1]], 1],
  ];

  it.skipIf(skip).each(concatCases)('Concat %s: every cut gives the concatenation\'s bits', (_name, shapes, axis) => {
    const random = new Random(product(shapes[0]) + axis);
    const plain = shapes.map((s) => valuesWithBits(random, product(s), SPECIAL_BITS));
    const arena = plain.map(inArena);
    const op = concatOp(shapes, axis);
    const expected = concatenated(plain, shapes, axis);
    const out = zeros([expected.length], { shared: true }).data;
    const viaSet = new Float32Array(expected.length);
    withOptions(() => {
      for (const ranges of everyCut(op.units, random)) {
        runCut(op, arena, [out], ranges);
        expect(firstBitDifference(out, expected), JSON.stringify(ranges)).toBe(-1);
        runCut(op, plain, [viaSet], ranges);
        expect(firstBitDifference(viaSet, expected), JSON.stringify(ranges)).toBe(-1);
      }
    });
  });

  const sliceCases: [string, number[], number, number[], number[]][] = [
    ['Split of channels into [2, 3, 1]', [2, 6, 5, 4], 1, [0, 2, 5], [2, 3, 1]],
    ['ShuffleNetV2\'s halves at 7x7', [3, 10, 7, 7], 1, [0, 5], [5, 5]],
    ['Slice of channels [2, 7)', [2, 8, 5, 4], 1, [2], [5]],
    ['Slice of rows [1, 3)', [2, 8, 5, 4], 2, [1], [2]],
    ['Slice of the last axis (runs of 3)', [2, 3, 7], 2, [4], [3]],
  ];

  it.skipIf(skip).each(sliceCases)('%s: every cut gives the slices\' bits', (_name, shape, axis, begins, counts) => {
    const random = new Random(product(shape) + axis * 7 + begins.length);
    const plain = valuesWithBits(random, product(shape), SPECIAL_BITS);
    const x = inArena(plain);
    const op = sliceOp(shape, axis, begins, counts);
    const expected = sliced(plain, shape, axis, begins, counts);
    const outs = expected.map((e) => zeros([e.length], { shared: true }).data);
    const viaSet = expected.map((e) => new Float32Array(e.length));
    withOptions(() => {
      for (const ranges of everyCut(op.units, random)) {
        runCut(op, [x], outs, ranges);
        outs.forEach((o, k) => expect(firstBitDifference(o, expected[k]), `output ${k} ${JSON.stringify(ranges)}`).toBe(-1));
        runCut(op, [plain], viaSet, ranges);
        viaSet.forEach((o, k) => expect(firstBitDifference(o, expected[k]), `output ${k} ${JSON.stringify(ranges)}`).toBe(-1));
      }
    });
  });

  const shuffleCases: [string, number, number, number, number, number[], number[]][] = [
    // name, images, groups, channels per input, inner, begins, counts
    ['ShuffleNetV2: two halves shuffled, then cut in halves again', 3, 2, 5, 6, [0, 5], [5, 5]],
    ['two halves shuffled, one output of all', 2, 2, 7, 4, [0], [14]],
    ['three groups, uneven cuts', 2, 3, 4, 5, [0, 7, 9], [7, 2, 3]],
    ['a slice of the middle only (an odd start)', 2, 2, 6, 3, [3], [5]],
    ['planes of one float', 4, 2, 3, 1, [0, 3], [3, 3]],
  ];

  it.skipIf(skip).each(shuffleCases)('shuffled Concat, %s: every cut gives the Concat -> Reshape -> Transpose -> Slices\' bits', (_name, images, groups, channels, inner, begins, counts) => {
    const random = new Random(images * 100 + groups * 10 + channels + inner);
    const plain = Array.from({ length: groups }, () => valuesWithBits(random, images * channels * inner, SPECIAL_BITS));
    const arena = plain.map(inArena);
    // The shuffled tensor written out by index: its channel i * groups + k is input k's channel i.
    const shuffled = new Uint32Array(images * channels * groups * inner);
    const bits = plain.map((x) => new Uint32Array(x.buffer));
    for (let n = 0; n < images; n++)
      for (let i = 0; i < channels; i++)
        for (let k = 0; k < groups; k++)
          for (let e = 0; e < inner; e++) shuffled[((n * channels + i) * groups + k) * inner + e] = bits[k][(n * channels + i) * inner + e];
    const expected = sliced(new Float32Array(shuffled.buffer), [images, channels * groups, inner], 1, begins, counts);
    const op = shuffleConcatOp(images, groups, channels, inner, begins, counts);
    expect(op.units).toBe(images * counts.reduce((a, c) => a + c, 0));
    const outs = expected.map((e) => zeros([e.length], { shared: true }).data);
    const viaSet = expected.map((e) => new Float32Array(e.length));
    withOptions(() => {
      for (const ranges of everyCut(op.units, random)) {
        runCut(op, arena, outs, ranges);
        outs.forEach((o, k) => expect(firstBitDifference(o, expected[k]), `output ${k} ${JSON.stringify(ranges)}`).toBe(-1));
        runCut(op, plain, viaSet, ranges);
        viaSet.forEach((o, k) => expect(firstBitDifference(o, expected[k]), `output ${k} ${JSON.stringify(ranges)}`).toBe(-1));
      }
    });
  });
});

// layoutCopies: the copies each op's kernel makes, as the native calls run them in a chain task's records
// (src/engine/native-stages.ts). Replayed here with set(), over every cut, they give the kernel's bits, and
// write nothing else; ops that are not copies of runs have none.
describe('layoutCopies', () => {
  function replay(op: RangedOp, inputs: readonly Float32Array[], outputs: readonly Float32Array[], ranges: [number, number][]): void {
    prefilled(outputs);
    for (const [start, end] of ranges) {
      for (const [i, o, from, to, count, length, fromStride, toStride] of layoutCopies(op, start, end)!) {
        for (let r = 0; r < count; r++) outputs[o].set(inputs[i].subarray(from + r * fromStride, from + r * fromStride + length), to + r * toStride);
      }
    }
  }

  it('replays Concat, Slice and the channel shuffle with their kernels\' bits, over every cut', () => {
    const random = new Random(17);
    const cases: Array<{ op: RangedOp; inputs: Float32Array[]; outputs: number[] }> = [
      { op: concatOp([[2, 3, 5, 4], [2, 1, 5, 4], [2, 6, 5, 4]], 1), inputs: [120, 40, 240].map((n) => valuesWithBits(random, n, SPECIAL_BITS)), outputs: [400] },
      { op: sliceOp([2, 6, 5, 4], 1, [0, 2, 5], [2, 3, 1]), inputs: [valuesWithBits(random, 240, SPECIAL_BITS)], outputs: [80, 120, 40] },
      { op: shuffleConcatOp(2, 3, 4, 5, [0, 7, 9], [7, 2, 3]), inputs: [40, 40, 40].map((n) => valuesWithBits(random, n, SPECIAL_BITS)), outputs: [70, 20, 30] },
      { op: shuffleConcatOp(3, 2, 5, 6, [0, 5], [5, 5]), inputs: [90, 90].map((n) => valuesWithBits(random, n, SPECIAL_BITS)), outputs: [90, 90] },
    ];
    for (const { op, inputs, outputs } of cases) {
      const byKernel = outputs.map((n) => new Float32Array(n));
      const replayed = outputs.map((n) => new Float32Array(n));
      for (const ranges of everyCut(op.units, random)) {
        runCut(op, inputs, byKernel, ranges);
        replay(op, inputs, replayed, ranges);
        replayed.forEach((o, k) => expect(firstBitDifference(o, byKernel[k]), `${op.kernel} output ${k} ${JSON.stringify(ranges)}`).toBe(-1));
      }
    }
  });

  it('has none for ops that are not copies of runs', () => {
    expect(layoutCopies(transposeOp([2, 3, 4], [0, 2, 1]), 0, 1)).toBeNull();
    expect(layoutCopies({ kernel: 'relu', params: { elements: 8 }, units: 1, costPerUnit: 8 }, 0, 1)).toBeNull();
  });
});
