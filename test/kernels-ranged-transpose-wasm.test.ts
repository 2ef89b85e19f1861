// Transpose's WebAssembly row loop (ranged/simd-loops.ts transposeRowsWasm,
// wasm/assembly/layout.ts) against the JavaScript loop it stands in for and
// against the transpose written out by index, bit for bit (NaN payloads,
// signed zeros, subnormals): the arena's arrays take the WebAssembly loop, the
// same values in plain arrays the JavaScript one. Every two-piece cut of the
// rows, every single row and random partitions, so the loop's counters are
// checked from every starting row; ranks past the four leading dimensions the
// loop takes, strided rows and arrays outside the arena keep the JavaScript
// loop.
import { describe, expect, it } from 'vitest';
import { Random, zeros } from '../src/index.js';
import { runRanged, type RangedOp } from '../src/kernels/ranged/index.js';
import { transposeOp } from '../src/kernels/ranged/layout.js';
import { transposeRowsWasm } from '../src/kernels/ranged/simd-loops.js';
import { configureKernels } from '../src/kernels/options.js';
import { wasmKernelsAvailable } from '../src/kernels/plan/selection.js';
import { everyCut, inArena, runOneInput, valuesWithBits } from './support/ranged.js';
import { firstBitDifference } from './support/tensors.js';

// Quiet NaNs with payloads (a signalling one would be quieted by the strided JavaScript loop's double), zeros, subnormals, infinities.
const SPECIAL_BITS = [0x7fc0beef, 0xffc00001, 0x80000000, 0x00000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000];
const UNWRITTEN = 0x7fa1dead;

const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

const values = (random: Random, n: number) => valuesWithBits(random, n, SPECIAL_BITS);


/** x of `shape` transposed by `perm`, element by element on the bits. */
function transposed(x: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, d) => product(shape.slice(d + 1)));
  const out = new Float32Array(x.length);
  const from = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const to = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    let rest = i;
    let at = 0;
    for (let d = outShape.length - 1; d >= 0; d--) {
      at += (rest % outShape[d]) * strides[perm[d]];
      rest = Math.floor(rest / outShape[d]);
    }
    to[i] = from[at];
  }
  return out;
}

const cuts = everyCut;

const run = (op: RangedOp, x: Float32Array, out: Float32Array, ranges: [number, number][]) => runOneInput(op, x, out, ranges, UNWRITTEN);

describe('Transpose rows in WebAssembly', () => {
  it('run here (otherwise the comparisons below compare the JavaScript loop with itself)', () => {
    expect(wasmKernelsAvailable()).toBe(true);
  });

  const cases: [string, number[], number[], boolean][] = [
    // name, x's shape, perm, whether the rows are contiguous and few enough leading dimensions for the WebAssembly loop
    ['channel shuffle [0,2,1,3,4] (ShuffleNetV2, rows of H*W)', [2, 2, 3, 5, 4], [0, 2, 1, 3, 4], true],
    ['channel shuffle at 7x7, odd channels', [3, 2, 7, 7, 7], [0, 2, 1, 3, 4], true],
    ['channel shuffle with rows of 600 floats (the bulk copy)', [2, 2, 3, 600], [0, 2, 1, 3], true],
    ['channels last [0,2,3,1] (strided rows: the JavaScript loop either way)', [2, 3, 5, 4], [0, 2, 3, 1], false],
    ['identity: one row of everything', [2, 3, 5, 4], [0, 1, 2, 3], true],
    ['identity-like merge [1,0,2,3] (rows of 20)', [2, 3, 5, 4], [1, 0, 2, 3], true],
    ['odd sizes [2,0,1,3]', [3, 5, 7, 11], [2, 0, 1, 3], true],
    ['rows of 1 float', [4, 6, 1], [1, 0, 2], true],
    ['rows of 1 float after a merge', [6, 5, 1, 1], [1, 0, 2, 3], true],
    ['two dimensions swapped in front of a 3-float row', [5, 3, 3], [1, 0, 2], true],
    ['four leading dimensions', [2, 3, 2, 3, 2, 5], [3, 2, 1, 0, 4, 5], true],
    ['six leading dimensions (the JavaScript loop)', [2, 2, 2, 3, 2, 2, 5], [1, 0, 3, 2, 5, 4, 6], false],
  ];

  it.each(cases)('%s: every cut gives the transpose\'s bits in both loops', (_name, shape, perm, wasm) => {
    const random = new Random(product(shape) + perm.length);
    const x = values(random, product(shape));
    const op = transposeOp(shape, perm);
    const expected = transposed(x, shape, perm);
    const xArena = inArena(x);
    const outArena = zeros([x.length], { shared: true }).data;
    const strides = op.params.strides as number[];
    // The loop the arena's arrays take: transposeRowsWasm says whether it ran.
    const probe = zeros([x.length], { shared: true }).data;
    const ran = strides[strides.length - 1] === 1 && transposeRowsWasm(xArena, probe, 0, op.units, op.params.shape as number[], strides);
    expect(ran).toBe(wasm);
    if (ran) expect(firstBitDifference(probe, expected)).toBe(-1);
    for (const ranges of cuts(op.units, random)) {
      const viaArena = run(op, xArena, outArena, ranges);
      expect(firstBitDifference(viaArena, expected), JSON.stringify(ranges)).toBe(-1);
      const viaJs = run(op, x, new Float32Array(x.length), ranges);
      expect(firstBitDifference(viaJs, viaArena), JSON.stringify(ranges)).toBe(-1);
    }
  });

  it('arrays outside the arena, or kernels forced to JavaScript, keep the JavaScript loop: the WebAssembly one writes nothing and says so', () => {
    const shape = [2, 2, 3, 5, 4];
    const op = transposeOp(shape, [0, 2, 1, 3, 4]);
    const params = [op.params.shape as number[], op.params.strides as number[]] as const;
    const x = values(new Random(3), product(shape));
    const inside = inArena(x);
    for (const [from, to] of [
      [x, zeros([x.length], { shared: true }).data],
      [inside, new Float32Array(x.length)],
      [x, new Float32Array(x.length)],
    ]) {
      new Uint32Array(to.buffer, to.byteOffset, to.length).fill(UNWRITTEN);
      expect(transposeRowsWasm(from, to, 0, op.units, ...params)).toBe(false);
      expect(new Uint32Array(to.buffer, to.byteOffset, to.length).every((b) => b === UNWRITTEN)).toBe(true);
    }
    const out = zeros([x.length], { shared: true }).data;
    const previous = configureKernels({ forceJs: true });
    try {
      expect(transposeRowsWasm(inside, out, 0, op.units, ...params)).toBe(false);
      expect(out.every((v) => Object.is(v, 0))).toBe(true);
      // The JavaScript loop on the arena's arrays gives the same bits.
      runRanged(op, [inside], [out], 0, op.units);
    } finally {
      configureKernels(previous);
    }
    expect(firstBitDifference(out, transposed(x, shape, [0, 2, 1, 3, 4]))).toBe(-1);
  });
});
