// Pad's WebAssembly row loop (ranged/simd-loops.ts padRowsWasm,
// wasm/assembly/layout.ts) against the JavaScript loop it stands in for and
// against the pad written out by index, bit for bit: the arena's arrays take
// the WebAssembly loop, the same values in plain arrays the JavaScript one.
// Padding and cropping on every axis, fills of 0 (and -0, written +0), 1.5
// and NaN, rows of 1 float and rows long enough for the bulk copy; every
// two-piece cut of the rows, every single row and random partitions. Ranks
// past the four leading dimensions the loop takes and arrays outside the
// arena keep the JavaScript loop.
import { describe, expect, it } from 'vitest';
import { Random, zeros } from '../src/index.js';
import { runRanged, type RangedOp } from '../src/kernels/ranged/index.js';
import { padOp } from '../src/kernels/ranged/layout.js';
import { padRowsWasm } from '../src/kernels/ranged/simd-loops.js';
import { configureKernels } from '../src/kernels/options.js';
import { wasmKernelsAvailable } from '../src/kernels/plan/selection.js';
import { everyCut, inArena, runOneInput, valuesWithBits } from './support/ranged.js';
import { firstBitDifference } from './support/tensors.js';

const SPECIAL_BITS = [0x7fc0beef, 0xffc00001, 0x7fa00001, 0x80000000, 0x00000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000];
const UNWRITTEN = 0x7fa1dead;

const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

const values = (random: Random, n: number) => valuesWithBits(random, n, SPECIAL_BITS);


/** out[i...] = x[i... - begin...] inside x, else the fill (as float32; -0 as +0), on the bits. */
function padded(x: Float32Array, inShape: readonly number[], outShape: readonly number[], begin: readonly number[], fill: number): Float32Array {
  const out = new Float32Array(product(outShape));
  const fillBits = new Uint32Array(Float32Array.of(fill === 0 ? 0 : fill).buffer)[0];
  const from = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const to = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    let rest = i;
    let at = 0;
    let inside = true;
    for (let d = outShape.length - 1, stride = 1; d >= 0; d--) {
      const k = (rest % outShape[d]) - begin[d];
      rest = Math.floor(rest / outShape[d]);
      if (k < 0 || k >= inShape[d]) inside = false;
      at += k * stride;
      stride *= inShape[d];
    }
    to[i] = inside ? from[at] : fillBits;
  }
  return out;
}

const cuts = everyCut;

const run = (op: RangedOp, x: Float32Array, out: Float32Array, ranges: [number, number][]) => runOneInput(op, x, out, ranges, UNWRITTEN);

/** pads: ONNX order, every axis' begin then every axis' end (negative crops). */
function shapes(inShape: number[], pads: number[]): { outShape: number[]; begin: number[] } {
  const rank = inShape.length;
  return { outShape: inShape.map((n, d) => n + pads[d] + pads[rank + d]), begin: pads.slice(0, rank) };
}

describe('Pad rows in WebAssembly', () => {
  it('run here (otherwise the comparisons below compare the JavaScript loop with itself)', () => {
    expect(wasmKernelsAvailable()).toBe(true);
  });

  const cases: [string, number[], number[], number, boolean][] = [
    // name, x's shape, pads, fill, whether the WebAssembly loop takes it (at most four leading dimensions)
    ['spatial pad by 1 (a conv\'s padding)', [2, 3, 5, 4], [0, 0, 1, 1, 0, 0, 1, 1], 0, true],
    ['uneven spatial pad, fill -0 (written +0)', [2, 3, 5, 4], [0, 0, 1, 2, 0, 0, 2, 1], -0, true],
    ['channels and columns, fill 1.5', [2, 3, 5, 4], [0, 1, 1, 0, 0, 0, 0, 3], 1.5, true],
    ['cropping with negative pads, fill NaN', [2, 3, 5, 4], [0, 0, -1, 1, 0, 0, 2, -2], Number.NaN, true],
    ['every column cropped away (all fill)', [2, 3, 4], [0, 1, 2, 0, -2, -4], 7, true],
    ['odd sizes padded on every axis', [3, 5, 7, 9], [1, 2, 0, 3, 2, 0, 1, 4], -2.25, true],
    ['rows of 1 float', [3, 4, 1], [1, 0, 0, 0, 2, 0], 0.5, true],
    ['one dimension', [7], [2, 3], 1, true],
    ['rows of 700 floats (the bulk copy)', [2, 3, 700], [0, 1, 5, 1, 0, 3], 0, true],
    ['four leading dimensions', [2, 2, 3, 2, 5], [0, 1, 0, 1, 2, 1, 0, 1, 0, 1], 3, true],
    ['five leading dimensions (the JavaScript loop)', [2, 2, 2, 3, 2, 5], [0, 1, 0, 1, 0, 2, 1, 0, 1, 0, 1, 0], 3, false],
  ];

  it.each(cases)('%s: every cut gives the pad\'s bits in both loops', (_name, inShape, pads, fill, wasm) => {
    const random = new Random(product(inShape) + pads.length);
    const x = values(random, product(inShape));
    const { outShape, begin } = shapes(inShape, pads);
    const op = padOp(inShape, outShape, begin, fill);
    const expected = padded(x, inShape, outShape, begin, fill);
    const xArena = inArena(x);
    const size = product(outShape);
    const outArena = zeros([size], { shared: true }).data;
    // The loop the arena's arrays take: padRowsWasm says whether it ran.
    const p = op.params;
    const last = outShape.length - 1;
    const c0 = Math.max(0, begin[last]);
    const c1 = Math.min(outShape[last], inShape[last] + begin[last]);
    const probe = zeros([size], { shared: true }).data;
    expect(padRowsWasm(xArena, probe, 0, op.units, inShape, outShape, begin, p.fill as number, c0, c1)).toBe(wasm);
    if (wasm) expect(firstBitDifference(probe, expected)).toBe(-1);
    for (const ranges of cuts(op.units, random)) {
      const viaArena = run(op, xArena, outArena, ranges);
      expect(firstBitDifference(viaArena, expected), JSON.stringify(ranges)).toBe(-1);
      const viaJs = run(op, x, new Float32Array(size), ranges);
      expect(firstBitDifference(viaJs, viaArena), JSON.stringify(ranges)).toBe(-1);
    }
  });

  it('arrays outside the arena, or kernels forced to JavaScript, keep the JavaScript loop: the WebAssembly one writes nothing and says so', () => {
    const inShape = [2, 3, 5, 4];
    const { outShape, begin } = shapes(inShape, [0, 0, 1, 1, 0, 0, 1, 1]);
    const op = padOp(inShape, outShape, begin, 1.5);
    const x = values(new Random(5), product(inShape));
    const inside = inArena(x);
    const size = product(outShape);
    const args = [0, op.units, inShape, outShape, begin, 1.5, 1, 5] as const;
    for (const [from, to] of [
      [x, zeros([size], { shared: true }).data],
      [inside, new Float32Array(size)],
      [x, new Float32Array(size)],
    ]) {
      new Uint32Array(to.buffer, to.byteOffset, to.length).fill(UNWRITTEN);
      expect(padRowsWasm(from, to, ...args)).toBe(false);
      expect(new Uint32Array(to.buffer, to.byteOffset, to.length).every((b) => b === UNWRITTEN)).toBe(true);
    }
    const out = zeros([size], { shared: true }).data;
    const previous = configureKernels({ forceJs: true });
    try {
      expect(padRowsWasm(inside, out, ...args)).toBe(false);
      expect(out.every((v) => Object.is(v, 0))).toBe(true);
      runRanged(op, [inside], [out], 0, op.units);
    } finally {
      configureKernels(previous);
    }
    expect(firstBitDifference(out, padded(x, inShape, outShape, begin, 1.5))).toBe(-1);
  });
});
