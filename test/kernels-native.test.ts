// The native kernels (native/addon.c, kernels.h; src/kernels/native/): 1x1, depthwise and dense
// against the WebAssembly kernels they stand in for, bit for bit: every shape's
// outputs with bias or none, a residual or none, every epilogue, odd channel
// counts (the 4-channel blocks' leftovers), planes that are not whole strips
// of 32 positions, channel ranges that start and end inside a block, special
// values (NaN, signed zeros, infinities, subnormals, values at the clip and
// hardswish bounds), at every vector width the CPU runs (16 floats with
// AVX-512F, 8 with AVX2 and FMA). Also: they are built and used wherever the
// CPU has either, GROUPCONV_NATIVE=0 turns them off and =avx2 picks the
// 8-float build, and the engine's workers run them with the calling thread's
// WebAssembly bits.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveShapes } from '../src/conv/geometry.js';
import type { Activation } from '../src/kernels/epilogue.js';
import { linearColumns } from '../src/kernels/linear.js';
import { maxPoolKernel } from '../src/kernels/max-pool.js';
import { globalAveragePlanesSimd } from '../src/kernels/ranged/simd-loops.js';
import { nativeKernels, nativeKernelsBuilt } from '../src/kernels/native/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { planConv, releasePlan, runPlan, type KernelPlan } from '../src/kernels/plan/index.js';
import { GroupedConvEngine, Random, zeros, type Tensor } from '../src/index.js';
import { resolveMaxPool2d, type MaxPool2dOptions } from '../src/ops/pooling.js';
import { firstBitDifference } from './support/tensors.js';

const ROOT = join(import.meta.dirname, '..');
const cpuFlags = new Set(readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'))?.split(/\s+/) ?? []);
/** The vector widths (floats) this CPU runs the native kernels at, widest first: AVX-512F, AVX2 with FMA. */
const WIDTHS = [...(cpuFlags.has('avx512f') ? [16] : []), ...(cpuFlags.has('avx2') && cpuFlags.has('fma') ? [8] : [])];

/** A copy with every NaN the same NaN. */
function nanAsOne(a: Float32Array): Float32Array {
  return a.map((v) => (Number.isNaN(v) ? NaN : v));
}

const SPECIAL = [NaN, -0, 0, Infinity, -Infinity, 1e-40, -1e-40, -3, 3, 6, -6, 0.5];

function shared(shape: number[], random: Random, special = false): Tensor {
  const t = zeros(shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = special && i % 7 === 3 ? SPECIAL[(i >> 3) % SPECIAL.length] : random.uniform(-4, 4);
  return t;
}

/** The layer's output over `ranges` of output channels (each through runPlan), with the native kernel on or off. */
function run(native: boolean, shape: { cin: number; cout: number; h: number; w: number; batch: number; specials?: boolean }, activation: Activation, withBias: boolean, withResidual: boolean, ranges: Array<[number, number]>, seed: number): Float32Array {
  const random = new Random(seed);
  const { cin, cout, h, w, batch } = shape;
  const x = shared([batch, cin, h, w], random, shape.specials ?? true);
  const weight = new Float32Array(cout * cin);
  for (let i = 0; i < weight.length; i++) weight[i] = random.uniform(-1, 1);
  const bias = withBias ? shared([cout], random) : null;
  const residual = withResidual ? shared([batch, cout, h, w], random, true) : null;
  const out = zeros([batch, cout, h, w], { shared: true });
  const { geometry } = resolveShapes([batch, cin, h, w], [cout, cin, 1, 1], withBias ? [cout] : null, {});
  const previous = configureKernels({ native });
  const plan = planConv(geometry, weight, null, activation);
  try {
    expect(plan.microkernel).toMatch(/^pointwise/);
    for (const [c0, c1] of ranges) runPlan(plan, x.data, weight, bias?.data ?? null, out.data, { batchStart: 0, batchEnd: batch, outChannelStart: c0, outChannelEnd: c1 }, null, residual?.data ?? null);
  } finally {
    releasePlan(plan);
    configureKernels(previous);
  }
  return out.data;
}

/** The plan over every image, output channels cut into `ranges`, a call each. */
function runRanges(plan: KernelPlan, x: Float32Array, weight: Float32Array, bias: Float32Array | null, out: Float32Array, residual: Float32Array | null, batch: number, ranges: Array<[number, number]>): void {
  for (const [c0, c1] of ranges) runPlan(plan, x, weight, bias, out, { batchStart: 0, batchEnd: batch, outChannelStart: c0, outChannelEnd: c1 }, null, residual);
}

/** [WebAssembly's output, the native one]: the same bits. */
function expectSameBits([wasm, native]: Float32Array[], where: string): void {
  const at = firstBitDifference(native, wasm);
  expect(at, `${where}: at ${at} native ${native[at]} wasm ${wasm[at]}`).toBe(-1);
}

/**
 * A KxK convolution's outputs with the native kernels off and on, every epilogue, with and without bias and
 * residual, each cut of output channels: the same bits. The WebAssembly side runs direct too (Winograd off),
 * as planning keeps such layers direct where the native kernels run. `checkPlan` sees each plan.
 */
function expectConvBits(
  shape: { cin: number; cout: number; groups: number; k: number; stride: number; pad: number; h: number; w: number; batch: number },
  cuts: Array<Array<[number, number]>>,
  checkPlan: (plan: KernelPlan) => void,
): void {
  const { cin, cout, groups, k, stride, pad, h, w, batch } = shape;
  let seed = 1;
  for (const activation of ACTIVATIONS) {
    for (const [withBias, withResidual] of [[true, false], [false, true], [true, true]] as const) {
      for (const ranges of cuts) {
        const outputs = [false, true].map((native) => {
          const random = new Random(seed);
          const x = shared([batch, cin, h, w], random, true);
          const weight = new Float32Array(cout * (cin / groups) * k * k);
          for (let i = 0; i < weight.length; i++) weight[i] = random.uniform(-1, 1);
          const bias = withBias ? shared([cout], random) : null;
          const { geometry } = resolveShapes(x.shape, [cout, cin / groups, k, k], withBias ? [cout] : null, { padding: pad, stride, groups });
          const residual = withResidual ? shared([batch, cout, geometry.outHeight, geometry.outWidth], random, true) : null;
          const out = zeros([batch, cout, geometry.outHeight, geometry.outWidth], { shared: true });
          const previous = configureKernels({ native, winogradMinChannels: native ? 32 : null });
          const plan = planConv(geometry, weight, null, activation);
          try {
            checkPlan(plan);
            runRanges(plan, x.data, weight, bias?.data ?? null, out.data, residual?.data ?? null, batch, ranges);
          } finally {
            releasePlan(plan);
            configureKernels(previous);
          }
          return out.data;
        });
        expectSameBits(outputs, `${activation.kind} bias ${withBias} residual ${withResidual} ranges ${JSON.stringify(ranges)}`);
        seed++;
      }
    }
  }
}

const ACTIVATIONS: Activation[] = [
  { kind: 'none' },
  { kind: 'relu' },
  { kind: 'clip', min: 0, max: 6 },
  { kind: 'clip', min: -0.5, max: 0.25 },
  { kind: 'hardswish' },
  { kind: 'hardsigmoid', alpha: 0.2, beta: 0.5 },
  { kind: 'sigmoid' },
  { kind: 'silu' },
];

const SHAPES = [
  { cin: 16, cout: 96, h: 12, w: 12, batch: 2 },
  { cin: 37, cout: 13, h: 9, w: 9, batch: 1 },
  { cin: 3, cout: 30, h: 7, w: 5, batch: 3 },
  { cin: 64, cout: 8, h: 1, w: 1, batch: 4 },
  { cin: 232, cout: 58, h: 7, w: 7, batch: 1 },
  { cin: 5, cout: 17, h: 33, w: 1, batch: 1 },
  // Rows of 81 floats, not whole vectors, with taps enough for several chunks of positions: each chunk
  // copied to aligned rows first (kernels.h, pointwise), then its last position on its own; batch 3, so
  // the later images start off alignment too.
  { cin: 1200, cout: 20, h: 9, w: 9, batch: 3 },
  // Planes 2 to 4 positions past whole vectors (10x10: 100 = 6 x 16 + 4 = 12 x 8 + 4; 6x3: 18 = 16 + 2 =
  // 2 x 8 + 2): those positions go through their own pass across channels (kernels.h, lastPositions), two
  // vectors of channels at a time, then one, then the channels past the last block; with more input
  // channels than that pass gathers (1100 > FEW_POSITIONS_MAX), through the tiles.
  { cin: 70, cout: 75, h: 10, w: 10, batch: 2 },
  { cin: 20, cout: 40, h: 6, w: 3, batch: 1 },
  { cin: 1100, cout: 10, h: 10, w: 10, batch: 1 },
  // One position (a squeeze-excitation's layers): a vector across output channels, 4 vectors at a time,
  // then 1, then channels one by one (a range starting inside a block, the 3 past the last block). No
  // special values in the input: over one position every output sums every input channel, so one NaN
  // would make them all NaN, whatever the order of the sums.
  { cin: 48, cout: 1152, h: 1, w: 1, batch: 1, specials: false },
  { cin: 1152, cout: 48, h: 1, w: 1, batch: 2, specials: false },
  { cin: 40, cout: 83, h: 1, w: 1, batch: 2, specials: false },
];

describe.skipIf(WIDTHS.length === 0 || process.env.GROUPCONV_NATIVE === '0')('the native kernels (this CPU has AVX-512F, or AVX2 and FMA; GROUPCONV_NATIVE=0 skips them)', () => {
  it('are built and chosen here, at the widest vectors this CPU runs (unless GROUPCONV_NATIVE=avx2)', () => {
    expect(nativeKernelsBuilt()).not.toBeNull();
    expect(nativeKernels()).not.toBeNull();
    expect(nativeKernels()!.width()).toBe(process.env.GROUPCONV_NATIVE === 'avx2' ? 8 : WIDTHS[0]);
    expect(() => nativeKernels()!.useWidth(4)).toThrow(/useWidth: expected 16 .* or 8/);
    const previous = configureKernels({ native: false });
    try {
      expect(nativeKernels()).toBeNull();
    } finally {
      configureKernels(previous);
    }
  });

  describe.each(WIDTHS)('with %i-float vectors', (width) => {
    let previousWidth = 0;
    beforeAll(() => {
      previousWidth = nativeKernels()!.useWidth(width);
    });
    afterAll(() => {
      nativeKernels()!.useWidth(previousWidth);
    });

    for (const shape of SHAPES) {
      it(`gives the WebAssembly kernel's bits: ${shape.cin} -> ${shape.cout}, ${shape.h}x${shape.w}, batch ${shape.batch}, every epilogue, with and without bias and residual, cut into channel ranges`, () => {
        const { cout } = shape;
        const cuts: Array<Array<[number, number]>> = [[[0, cout]], [[0, Math.min(5, cout)], [Math.min(5, cout), cout]], [[0, 1], [1, Math.min(11, cout)], [Math.min(11, cout), cout]]];
        let seed = 1;
        for (const activation of ACTIVATIONS) {
          for (const [withBias, withResidual] of [[true, false], [false, true], [true, true]] as const) {
            for (const ranges of cuts) {
              const wasm = run(false, shape, activation, withBias, withResidual, ranges, seed);
              const native = run(true, shape, activation, withBias, withResidual, ranges, seed);
              const at = firstBitDifference(native, wasm);
              expect(at, `${activation.kind} bias ${withBias} residual ${withResidual} ranges ${JSON.stringify(ranges)}: at ${at} native ${native[at]} wasm ${wasm[at]}`).toBe(-1);
              seed++;
            }
          }
        }
      });
    }

    it('over one position, a range of output channels writes only its own channels, however it falls on the vectors', () => {
      const shape = { cin: 40, cout: 83, h: 1, w: 1, batch: 1, specials: false };
      const whole = run(true, shape, { kind: 'silu' }, true, true, [[0, 83]], 7);
      // Ranges starting and ending inside a 4-channel block and inside a vector, one vector whole, the channels past the last block.
      for (const [c0, c1] of [[5, 11], [1, 2], [16, 32], [13, 70], [79, 83], [81, 82]] as Array<[number, number]>) {
        const part = run(true, shape, { kind: 'silu' }, true, true, [[c0, c1]], 7);
        for (let c = 0; c < 83; c++) {
          const expected = c >= c0 && c < c1 ? whole[c] : 0;
          expect(Object.is(part[c], expected), `range [${c0}, ${c1}) channel ${c}: ${part[c]}, expected ${expected}`).toBe(true);
        }
      }
    });

    // The activations alone, on values chosen for their float32 edge cases: a 1x1 convolution of two input
    // channels, the values and zeros, with weights 1 and 0 and no bias hands each value to the epilogue as it
    // is (one input channel would be a depthwise layer). Sigmoid and SiLU take a short path for a vector
    // whose every lane is at least -88 (kernels.h, expNegatedForSigmoid), exp4(-x) otherwise, by 16 or 8 lanes
    // where WebAssembly decides by 4: the sweep runs sorted (whole vectors on either side of -88) and shuffled
    // (one slow lane among fast ones), and crosses -104, -88, -86, 88 and 89, where exp's clamps and the
    // short path's bounds are.
    it('gives the WebAssembly epilogues\' bits on a sweep of float32 edge cases, sorted and shuffled', () => {
      const values: number[] = [];
      for (let v = -130; v <= 100; v += 0.0137) values.push(v);
      for (const edge of [-104, -89, -88, -87, -86, -1, 0, 1, 86, 88, 89]) {
        const f = new Float32Array([edge]);
        const bits = new Int32Array(f.buffer);
        for (let d = -3; d <= 3; d++) {
          bits[0] = new Int32Array(new Float32Array([edge]).buffer)[0] + d;
          values.push(f[0]);
        }
      }
      const specialBits = [0x7fc00000, 0xffc00001, 0x7f800001, 0xff812345, 0x7f800000, 0xff800000, 0x80000000, 0x00000001, 0x807fffff, 0x7f7fffff, 0xff7fffff];
      const shuffled = [...values];
      const random = new Random(21);
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(random.uniform(0, i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      const n = values.length * 2 + specialBits.length;
      const x = zeros([1, 2, 1, n], { shared: true });
      x.data.set(values, 0);
      x.data.set(shuffled, values.length);
      new Uint32Array(x.data.buffer, x.data.byteOffset + 2 * values.length * 4, specialBits.length).set(specialBits);
      const cout = 12;
      const weight = new Float32Array(2 * cout).map((_, i) => (i % 2 === 0 ? 1 : 0));
      const { geometry } = resolveShapes(x.shape, [cout, 2, 1, 1], null, {});
      for (const activation of ACTIVATIONS) {
        const outputs = [false, true].map((native) => {
          const out = zeros([1, cout, 1, n], { shared: true });
          const previous = configureKernels({ native });
          const plan = planConv(geometry, weight, null, activation);
          try {
            expect(plan.kind).toBe('pointwise');
            runRanges(plan, x.data, weight, null, out.data, null, 1, [[0, cout]]);
          } finally {
            releasePlan(plan);
            configureKernels(previous);
          }
          return out.data;
        });
        expectSameBits(outputs, activation.kind);
      }
    });

    const DEPTHWISE = [
      { c: 24, h: 14, w: 14, k: 3, pad: 1, stride: 1, batch: 2 },
      { c: 7, h: 5, w: 17, k: 3, pad: 1, stride: 1, batch: 1 },
      { c: 5, h: 9, w: 33, k: 5, pad: 2, stride: 1, batch: 2 },
      { c: 3, h: 7, w: 7, k: 3, pad: 0, stride: 1, batch: 1 },
      { c: 4, h: 1, w: 1, k: 3, pad: 1, stride: 1, batch: 3 },
      { c: 6, h: 12, w: 40, k: 5, pad: 2, stride: 1, batch: 1 },
      { c: 8, h: 6, w: 50, k: 3, pad: 1, stride: 1, batch: 2 },
      // At 8 floats a 3x3 at stride 1 goes by pairs of strips, 4 rows a block: here the last pair's second
      // strip holds 4 outputs, and the last block 1 row.
      { c: 3, h: 9, w: 44, k: 3, pad: 1, stride: 1, batch: 1 },
      { c: 3, h: 28, w: 28, k: 5, pad: 2, stride: 1, batch: 1 },
      { c: 4, h: 16, w: 17, k: 3, pad: 1, stride: 2, batch: 2 },
      { c: 3, h: 28, w: 28, k: 5, pad: 2, stride: 2, batch: 1 },
      { c: 5, h: 15, w: 34, k: 3, pad: 0, stride: 2, batch: 1 },
      { c: 3, h: 9, w: 33, k: 5, pad: 1, stride: 2, batch: 2 },
      { c: 2, h: 1, w: 1, k: 3, pad: 1, stride: 2, batch: 1 },
      { c: 3, h: 12, w: 20, k: 7, pad: 3, stride: 1, batch: 1 },
      { c: 3, h: 13, w: 21, k: 7, pad: 3, stride: 2, batch: 1 },
      { c: 2, h: 10, w: 9, k: 2, pad: 0, stride: 2, batch: 2 },
      // Across channels (rows up to 13 wide at 16 floats, 28 at 8): more channels than a vector, the last
      // vector part full, ranges starting inside one; rows of 7 (7 outputs at a time) and of 6 and 12 (8 at
      // a time, the extra ones dropped); input rows and columns past the last window (stride 2, no padding).
      { c: 37, h: 7, w: 7, k: 5, pad: 2, stride: 1, batch: 2 },
      { c: 20, h: 14, w: 14, k: 3, pad: 1, stride: 2, batch: 1 },
      { c: 18, h: 16, w: 16, k: 3, pad: 0, stride: 2, batch: 1 },
      { c: 33, h: 12, w: 12, k: 3, pad: 1, stride: 1, batch: 1 },
      { c: 17, h: 28, w: 28, k: 5, pad: 2, stride: 2, batch: 1 },
      // Rows of 14 and 16: across channels at 16 floats for 5x5, along the row for 3x3.
      { c: 19, h: 14, w: 14, k: 5, pad: 2, stride: 1, batch: 1 },
      { c: 21, h: 16, w: 16, k: 3, pad: 1, stride: 1, batch: 1 },
      { c: 18, h: 31, w: 31, k: 3, pad: 1, stride: 2, batch: 1 },
      // Stride 2 read in place (3x3; 5x5 on rows of one vector): rows of several strips, the last one short,
      // odd and even widths, no padding and padding of 1 and 2, a row of 14 outputs from 28 columns.
      { c: 3, h: 23, w: 71, k: 3, pad: 1, stride: 2, batch: 1 },
      { c: 2, h: 20, w: 64, k: 3, pad: 0, stride: 2, batch: 2 },
      { c: 3, h: 17, w: 30, k: 5, pad: 2, stride: 2, batch: 1 },
      { c: 2, h: 9, w: 29, k: 5, pad: 1, stride: 2, batch: 1 },
      { c: 4, h: 58, w: 57, k: 3, pad: 1, stride: 2, batch: 1 },
      // A 3x3 at stride 1 read in place at 16 floats: no padding, padding wider than the kernel's half
      // (outputs past the input on every side), rows of 14.
      { c: 3, h: 11, w: 37, k: 3, pad: 0, stride: 1, batch: 1 },
      { c: 2, h: 9, w: 20, k: 3, pad: 2, stride: 1, batch: 2 },
      { c: 20, h: 14, w: 14, k: 3, pad: 1, stride: 1, batch: 1 },
    ];

    it('reads a depthwise 3x3 input in place by default, and can be switched to the padded copy and back', () => {
      const native = nativeKernels()!;
      expect(native.depthwiseInPlace()).toBe(true);
      expect(native.useDepthwiseInPlace(false)).toBe(true);
      expect(native.depthwiseInPlace()).toBe(false);
      expect(native.useDepthwiseInPlace(true)).toBe(false);
      expect(native.depthwiseInPlace()).toBe(true);
    });

    // Both ways on any CPU: reading in place (the default) and through the padded copy.
    for (const inPlace of [true, false]) {
      for (const shape of DEPTHWISE) {
        it(`depthwise ${shape.k}x${shape.k} stride ${shape.stride} pad ${shape.pad}, ${shape.c} channels of ${shape.h}x${shape.w}, batch ${shape.batch}, ${inPlace ? 'read in place' : 'copied'}: the WebAssembly kernels' bits, every epilogue, with and without bias and residual, cut into channel ranges`, () => {
          const { c } = shape;
          const outWidth = Math.floor((shape.w + 2 * shape.pad - shape.k) / shape.stride) + 1;
          // The layout plan/run.ts picks: a vector across channels on narrow rows, along the row on wide ones;
          // at 16 floats rows of 14-16 go across channels for 5x5 kernels, and copied for the sigmoid's and
          // SiLU's epilogues too. Where a 3x3 is read in place, at stride 2: across channels only at 16 floats,
          // on rows up to 13 with the sigmoid or SiLU; a 5x5 at 16 floats on rows up to 13.
          const longChain = (kind: Activation['kind']) => kind === 'silu' || kind === 'sigmoid';
          const acrossFor = (kind: Activation['kind']) =>
            inPlace && shape.stride === 2 && shape.k === 3
              ? width === 16 && outWidth <= 13 && longChain(kind)
              : inPlace && shape.stride === 2 && shape.k === 5 && width === 16
                ? outWidth <= 13
                : outWidth <= (width === 16 ? 13 : 28) || (width === 16 && outWidth <= 16 && (shape.k >= 5 || (!inPlace && longChain(kind))));
          const acrossActivations = ACTIVATIONS.filter((a) => acrossFor(a.kind)).length;
          const previous = nativeKernels()!.useDepthwiseInPlace(inPlace);
          const calls = { depthwise: vi.spyOn(nativeKernels()!, 'depthwise'), depthwiseAcrossChannels: vi.spyOn(nativeKernels()!, 'depthwiseAcrossChannels') };
          const cuts: Array<Array<[number, number]>> = [[[0, c]], [[0, 1], [1, c]], ...(c > 17 ? [[[0, 3], [3, 17], [17, c]] as Array<[number, number]>] : [])];
          try {
            expectConvBits({ ...shape, cin: c, cout: c, groups: c }, cuts, (plan) => expect(plan.kind).toBe('depthwise'));
            const runs = 3 * cuts.flat().length * shape.batch;
            expect(calls.depthwiseAcrossChannels).toHaveBeenCalledTimes(acrossActivations * runs);
            expect(calls.depthwise).toHaveBeenCalledTimes((ACTIVATIONS.length - acrossActivations) * runs);
          } finally {
            calls.depthwise.mockRestore();
            calls.depthwiseAcrossChannels.mockRestore();
            nativeKernels()!.useDepthwiseInPlace(previous);
          }
        });
      }
    }

    it('a narrow plane too tall for the channel-interleaved buffer (64 MiB) keeps the plane-by-plane depthwise kernel', () => {
      // 7 wide, k 3, stride 1: 9 padded columns x LANES floats a row; 120000 rows pass 64 MiB at 16 floats (69 MB), not at 8.
      const [h, w] = [120000, 7];
      const random = new Random(3);
      const x = zeros([1, 2, h, w], { shared: true });
      for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform(-1, 1);
      const weight = new Float32Array(2 * 9).map(() => random.uniform(-1, 1));
      const { geometry } = resolveShapes(x.shape, [2, 1, 3, 3], null, { padding: 1, groups: 2 });
      const calls = { depthwise: vi.spyOn(nativeKernels()!, 'depthwise'), depthwiseAcrossChannels: vi.spyOn(nativeKernels()!, 'depthwiseAcrossChannels') };
      const plan = planConv(geometry, weight, null, { kind: 'none' });
      try {
        runRanges(plan, x.data, weight, null, zeros([1, 2, h, w], { shared: true }).data, null, 1, [[0, 2]]);
        const tooTall = 120000 * 9 * width * 4 > 64 * 1024 * 1024;
        expect(calls.depthwise).toHaveBeenCalledTimes(tooTall ? 1 : 0);
        expect(calls.depthwiseAcrossChannels).toHaveBeenCalledTimes(tooTall ? 0 : 1);
      } finally {
        releasePlan(plan);
        calls.depthwise.mockRestore();
        calls.depthwiseAcrossChannels.mockRestore();
      }
    });

    // Direct KxK convolutions the dense kernel takes: 3-channel stems at stride 2, grouped 3x3 (4 and 6
    // output channels per group: one block, a block and two left over), a 5x5, a 1x1 at stride 2, rows
    // wider than one 32-position tile, planes of one output row or one column.
    const DENSE = [
      { cin: 3, cout: 24, groups: 1, k: 3, stride: 2, pad: 1, h: 17, w: 17, batch: 2 },
      { cin: 3, cout: 32, groups: 1, k: 3, stride: 2, pad: 1, h: 12, w: 70, batch: 1 },
      { cin: 16, cout: 16, groups: 4, k: 3, stride: 1, pad: 1, h: 9, w: 35, batch: 2 },
      { cin: 8, cout: 12, groups: 2, k: 3, stride: 2, pad: 1, h: 11, w: 13, batch: 1 },
      { cin: 5, cout: 9, groups: 1, k: 5, stride: 2, pad: 2, h: 10, w: 33, batch: 1 },
      { cin: 8, cout: 12, groups: 1, k: 1, stride: 2, pad: 0, h: 14, w: 14, batch: 2 },
      // 1x1 at a stride without padding goes through the 1x1 kernel over the gathered pixels (channels past
      // the last block, odd planes, stride 3); with padding it stays on the tiles.
      { cin: 40, cout: 37, groups: 1, k: 1, stride: 2, pad: 0, h: 13, w: 15, batch: 2 },
      { cin: 9, cout: 16, groups: 1, k: 1, stride: 3, pad: 0, h: 10, w: 11, batch: 1 },
      { cin: 8, cout: 8, groups: 1, k: 1, stride: 2, pad: 1, h: 9, w: 9, batch: 1 },
      { cin: 6, cout: 8, groups: 2, k: 3, stride: 1, pad: 0, h: 3, w: 40, batch: 1 },
      { cin: 4, cout: 7, groups: 1, k: 3, stride: 1, pad: 1, h: 33, w: 1, batch: 1 },
      // AlexNet's conv1 (11x11 at stride 4, padding 2), and a stride of 3.
      { cin: 3, cout: 16, groups: 1, k: 11, stride: 4, pad: 2, h: 35, w: 39, batch: 2 },
      { cin: 5, cout: 9, groups: 1, k: 3, stride: 3, pad: 1, h: 17, w: 50, batch: 1 },
      // Layers Winograd takes without the native kernels (32 and 48 channels per group at stride 1).
      { cin: 32, cout: 12, groups: 1, k: 3, stride: 1, pad: 1, h: 9, w: 20, batch: 1 },
      { cin: 96, cout: 16, groups: 2, k: 5, stride: 1, pad: 2, h: 7, w: 7, batch: 2 },
    ];

    for (const shape of DENSE) {
      it(`dense ${shape.cin} -> ${shape.cout} in ${shape.groups} group(s), ${shape.k}x${shape.k} stride ${shape.stride} pad ${shape.pad}, ${shape.h}x${shape.w}, batch ${shape.batch}: the WebAssembly kernels' bits, every epilogue, with and without bias and residual, cut into channel ranges`, () => {
        const { cout, batch } = shape;
        const calls = vi.spyOn(nativeKernels()!, 'dense');
        const cuts: Array<Array<[number, number]>> = [[[0, cout]], [[0, 1], [1, 6], [6, cout]]];
        try {
          expectConvBits(shape, cuts, (plan) => expect(plan.kind).not.toBe('winograd'));
          // Every native run went through the dense kernel, one call per image and channel range.
          expect(calls).toHaveBeenCalledTimes(ACTIVATIONS.length * 3 * (1 + 3) * batch);
        } finally {
          calls.mockRestore();
        }
      });
    }

    // Fully connected layers: rows in tiles of 8, 4, 2 and 1, outputs in vectors of 4 or 2, in-features with
    // and without a tail past the last 4, outputs past a range's end computed and not stored.
    const LINEAR = [
      { rows: 8, inF: 1024, outF: 1000 },
      { rows: 1, inF: 1280, outF: 1000 },
      { rows: 3, inF: 7, outF: 5 },
      { rows: 5, inF: 13, outF: 9 },
      { rows: 9, inF: 33, outF: 10 },
      { rows: 2, inF: 4, outF: 17 },
      { rows: 1, inF: 1, outF: 1 },
      { rows: 12, inF: 18, outF: 3 },
    ];
    for (const shape of LINEAR) {
      it(`fully connected, ${shape.rows} rows, ${shape.inF} -> ${shape.outF}: the WebAssembly kernel's bits, with and without bias, cut into output ranges`, () => {
        const { rows, inF, outF } = shape;
        const calls = vi.spyOn(nativeKernels()!, 'linear');
        try {
          let seed = 1;
          for (const withBias of [true, false]) {
            for (const ranges of [[[0, outF]], [[0, Math.min(3, outF)], [Math.min(3, outF), outF]]] as Array<Array<[number, number]>>) {
              const outputs = [false, true].map((useNative) => {
                const random = new Random(seed);
                const x = shared([rows, inF], random, true);
                const weight = shared([outF, inF], random);
                const bias = withBias ? shared([outF], random, true) : null;
                const out = zeros([rows, outF], { shared: true });
                const previous = configureKernels({ native: useNative });
                try {
                  for (const [o0, o1] of ranges) expect(linearColumns(x.data, weight.data, bias?.data ?? null, out.data, rows, inF, outF, o0, o1)).toBe(true);
                } finally {
                  configureKernels(previous);
                }
                return out.data;
              });
              // NaNs as NaNs: where an add meets two NaNs, WebAssembly itself hands back either one depending
              // on the tier V8 compiled it with (kernels.h, linear).
              const at = firstBitDifference(nanAsOne(outputs[1]), nanAsOne(outputs[0]));
              expect(at, `bias ${withBias} ranges ${JSON.stringify(ranges)}: at ${at} native ${outputs[1][at]} wasm ${outputs[0][at]}`).toBe(-1);
              seed++;
            }
          }
          // Each non-empty range of the native runs went through the native kernel.
          expect(calls).toHaveBeenCalledTimes(2 * (1 + (outF > 3 ? 2 : 1)));
        } finally {
          calls.mockRestore();
        }
      });
    }

    // Max pooling at stride 1 or 2 along rows: the winner of PyTorch's scan (first of equal maxima, last of
    // several NaNs, NaN payloads kept), so the WebAssembly kernel's bits. Rows wide enough for groups of 4
    // strips with one partly past the row, padding, ceil mode, windows of 1 to 5, rectangular ones.
    const POOLS: Array<[number[], MaxPool2dOptions]> = [
      [[2, 3, 55, 55], { kernelSize: 3, stride: 2 }],
      [[2, 4, 23, 24], { kernelSize: 3, stride: 2, padding: 1 }],
      [[1, 2, 150, 150], { kernelSize: 3, stride: 2, padding: 1 }],
      [[1, 3, 9, 131], { kernelSize: 3, stride: 1, padding: 1 }],
      [[1, 4, 13, 13], { kernelSize: 3, stride: 2, ceilMode: true }],
      [[2, 2, 8, 11], { kernelSize: 2 }],
      [[1, 2, 17, 19], { kernelSize: 5, stride: 2, padding: 2, ceilMode: true }],
      [[1, 3, 9, 10], { kernelSize: [3, 2], stride: [3, 1], padding: [1, 1], ceilMode: true }],
      [[3, 1, 1, 1], { kernelSize: 1 }],
    ];
    for (const [shape, options] of POOLS) {
      it(`max pooling x [${shape}], ${JSON.stringify(options)}: the WebAssembly kernel's bits, NaN payloads included`, () => {
        const random = new Random(shape.reduce((a, v) => a * 31 + v, 3));
        const x = shared(shape, random, true);
        // Ties between zeros of both signs, and NaNs of several payloads.
        for (let i = 0; i < x.data.length; i += 11) x.data[i] = i % 3 === 0 ? -0 : 0;
        const payloads = new Uint32Array(x.data.buffer, x.data.byteOffset, x.data.length);
        for (let i = 5; i < payloads.length; i += 97) payloads[i] = 0x7fc00000 + (i & 0xff);
        const g = resolveMaxPool2d(x.shape, options);
        const calls = vi.spyOn(nativeKernels()!, 'maxPool');
        try {
          const outputs = [false, true].map((native) => {
            const out = zeros([g.planes * g.outHeight * g.outWidth], { shared: true }).data;
            const previous = configureKernels({ native });
            try {
              expect(maxPoolKernel(x.data, out, g)).toBe(true);
            } finally {
              configureKernels(previous);
            }
            return out;
          });
          expect(calls).toHaveBeenCalledTimes(1);
          expectSameBits(outputs, 'max pooling');
        } finally {
          calls.mockRestore();
        }
      });
    }

    // GlobalAveragePool: each plane's in-order double sum, divided once, in blocks of 16 (8) planes with
    // an element tail and a plane tail; ranges starting inside a block. NaNs compare as NaNs: of two NaNs an
    // add keeps either one, in V8 as here (kernels-ranged-simd.test.ts).
    const AVERAGES: Array<[number, number, number, number]> = [
      [40, 3139, 0, 40],
      [35, 49, 3, 35],
      [17, 196, 1, 17],
      [16, 1, 0, 16],
      [9, 7, 0, 9],
      [64, 12, 5, 61],
    ];
    for (const [planes, plane, start, end] of AVERAGES) {
      it(`global average of planes [${start}, ${end}) of ${planes} planes of ${plane}: WebAssembly's sums, NaNs as NaNs`, () => {
        const random = new Random(planes * 7 + plane);
        const x = shared([planes * plane], random, true);
        // Sums that lose small terms in double: the order of each plane's adds shows.
        for (let i = 0; i < x.data.length; i += 13) x.data[i] = i % 2 === 0 ? 2 ** 60 : -(2 ** 60);
        const calls = vi.spyOn(nativeKernels()!, 'globalAverage');
        try {
          const outputs = [false, true].map((native) => {
            const out = zeros([planes], { shared: true }).data.fill(-7);
            const previous = configureKernels({ native });
            try {
              expect(globalAveragePlanesSimd(x.data, out, start, end, plane)).toBe(true);
            } finally {
              configureKernels(previous);
            }
            return out;
          });
          expect(calls).toHaveBeenCalledTimes(1);
          const at = firstBitDifference(nanAsOne(outputs[1]), nanAsOne(outputs[0]));
          expect(at, `at ${at}: native ${outputs[1][at]}, wasm ${outputs[0][at]}`).toBe(-1);
        } finally {
          calls.mockRestore();
        }
      });
    }

    it('max pooling refused by the native kernel (its padded plane not allocated) goes through WebAssembly; a dilated window never reaches it', () => {
      const random = new Random(8);
      const x = shared([2, 3, 20, 21], random, true);
      const outputs = [false, true].map((refuse) => {
        const g = resolveMaxPool2d(x.shape, { kernelSize: 3, stride: 2, padding: 1 });
        const out = zeros([g.planes * g.outHeight * g.outWidth], { shared: true }).data;
        const calls = vi.spyOn(nativeKernels()!, 'maxPool');
        if (refuse) calls.mockReturnValue(false);
        try {
          expect(maxPoolKernel(x.data, out, g)).toBe(true);
          expect(calls).toHaveBeenCalledTimes(1);
        } finally {
          calls.mockRestore();
        }
        return out;
      });
      expectSameBits(outputs, 'refused');
      const calls = vi.spyOn(nativeKernels()!, 'maxPool');
      try {
        const g = resolveMaxPool2d(x.shape, { kernelSize: 3, stride: 2, dilation: 2 });
        expect(maxPoolKernel(x.data, new Float32Array(g.planes * g.outHeight * g.outWidth), g)).toBe(true);
        expect(calls).not.toHaveBeenCalled();
      } finally {
        calls.mockRestore();
      }
    });

    it('a kernel that cannot allocate its padded planes leaves the slice to WebAssembly, with its bits', () => {
      const native = nativeKernels()!;
      for (const [name, shape, options] of [
        ['depthwise', [2, 4, 30, 31], { padding: 1, stride: 1, groups: 4 }],
        ['depthwiseAcrossChannels', [2, 4, 9, 11], { padding: 1, stride: 1, groups: 4 }],
        ['dense', [2, 3, 9, 11], { padding: 1, stride: 2 }],
      ] as const) {
        const random = new Random(5);
        const x = shared([...shape], random, true);
        const perGroup = name === 'dense' ? 3 : 1;
        const cout = name === 'dense' ? 8 : 4;
        const weight = new Float32Array(cout * perGroup * 9).map(() => random.uniform(-1, 1));
        const { geometry } = resolveShapes(x.shape, [cout, perGroup, 3, 3], null, options);
        const outputs = [false, true].map((refuse) => {
          const out = zeros([2, cout, geometry.outHeight, geometry.outWidth], { shared: true });
          const calls = vi.spyOn(native, name);
          if (refuse) calls.mockReturnValue(false);
          const plan = planConv(geometry, weight, null, { kind: 'silu' });
          try {
            runRanges(plan, x.data, weight, null, out.data, null, 2, [[0, cout]]);
            // Refused, the first image's call is the only one.
            expect(calls).toHaveBeenCalledTimes(refuse ? 1 : 2);
          } finally {
            releasePlan(plan);
            calls.mockRestore();
          }
          return out.data;
        });
        expectSameBits(outputs, name);
      }
    });

    describe('on the engine', () => {
      const engine = new GroupedConvEngine({ workers: 2 });
      afterAll(() => engine.close());

      it("its workers' 1x1 convolutions are bitwise the calling thread's WebAssembly kernel", async () => {
        const random = new Random(9);
        const x = shared([4, 48, 14, 14], random, true);
        const weight = shared([40, 48, 1, 1], random);
        const bias = shared([40], random);
        const layer = engine.layer(weight, bias, { activation: { kind: 'clip', min: 0, max: 6 } });
        const got = (await layer.run(x)) as Tensor;
        layer.close();
        const { geometry } = resolveShapes(x.shape, weight.shape, bias.shape, {});
        const previous = configureKernels({ native: false });
        const plan = planConv(geometry, weight.data, null, { kind: 'clip', min: 0, max: 6 });
        const expected = zeros([4, 40, 14, 14], { shared: true });
        try {
          runPlan(plan, x.data, weight.data, bias.data, expected.data, { batchStart: 0, batchEnd: 4, outChannelStart: 0, outChannelEnd: 40 }, null, null);
        } finally {
          releasePlan(plan);
          configureKernels(previous);
        }
        expect(firstBitDifference(got.data, expected.data)).toBe(-1);
      });
    });
  });
});

describe.skipIf(!WIDTHS.includes(8) || process.env.GROUPCONV_NATIVE === '0')('GROUPCONV_NATIVE=avx2', () => {
  it('runs the 8-float build', () => {
    const script = "import('./src/kernels/native/index.ts').then((m) => console.log(String(m.nativeKernelsBuilt()?.width())))";
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, env: { ...process.env, GROUPCONV_NATIVE: 'avx2' }, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('8');
  });
});

describe('where the native kernel does not run', () => {
  it('GROUPCONV_NATIVE=0 keeps the WebAssembly kernels', () => {
    const script = "import('./src/kernels/native/index.ts').then((m) => console.log(String(m.nativeKernelsBuilt() !== null)))";
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, env: { ...process.env, GROUPCONV_NATIVE: '0' }, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('false');
  });
});
