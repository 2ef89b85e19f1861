// Depthwise 3x3 with padding 1 reads its input in place instead of through a
// zero-padded copy, at stride 1 (padding comes from a zero row, from lanes
// shuffled in from a zero vector, and from a window for a row's last columns)
// and at stride 2 (instead of the phase planes: even and odd columns split by
// shuffles, a zero row, a window where the loads would pass the row). It must
// give the very bits the padded path gives, so each case is checked against
// the same layer run on an input padded by hand with padding 0 (the path that
// reads a padded input as it is at stride 1, through phase planes at stride
// 2), and against the naive oracle. Inputs are finite: WebAssembly leaves the sign of a NaN it
// produces unspecified, so NaN results may differ in that bit between paths.
import { describe, expect, it } from 'vitest';
import { Random, zeros, type Tensor } from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import type { WasmVariant } from '../src/kernels/wasm/runtime.js';
import { runThroughPlan } from './support/kernel-run.js';
import { naiveConv2d } from './support/naive-conv.js';
import { randomConvOfShapes } from './support/random-conv.js';
import { bits } from './support/tensors.js';
import { goldenTolerance, worstViolation } from './support/tolerance.js';

const WASM_VARIANTS: WasmVariant[] = ['fma', 'simd'];

/** x with a border of one zero on every side of every plane. */
function padByHand(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const padded = zeros([n, c, h + 2, w + 2]);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < h; y++) {
      padded.data.set(x.data.subarray((p * h + y) * w, (p * h + y + 1) * w), (p * (h + 2) + y + 1) * (w + 2) + 1);
    }
  }
  return padded;
}

// [height, width, channel multiplier]: heights odd and even (the kernel runs
// rows in pairs); widths multiples of 4 (the last vector's right column by a
// shuffle), 8 (only a first and a last vector), others (the last 1-3 columns
// through the window), 4 and below (no first vector: the window has the left
// padding too), and a plane too small for the kernel's scratch (the padded
// path) as a control.
const shapes: Array<[number, number, number]> = [
  [1, 8, 1],
  [2, 8, 1],
  [3, 12, 2],
  [5, 28, 1],
  [6, 16, 3],
  [28, 28, 1],
  [4, 10, 1],
  [7, 14, 2],
  [7, 7, 1],
  [14, 14, 1],
  [5, 5, 2],
  [9, 6, 1],
  [8, 4, 1],
  [11, 3, 1],
  [13, 1, 2],
  [2, 2, 1],
];

// Stride 2: [height, width, channel multiplier, in place]: heights odd (the
// last output row's bottom tap is padding) and even; widths under 8 (only the
// window), multiples of 8 (every vector in place), MobileNet's 28 and 56 (a
// last vector of 2 outputs through the window), odd widths (the last column's
// right tap is padding); and planes too small for the kernel's scratch (the
// phase planes) as controls.
const stride2Shapes: Array<[number, number, number, boolean]> = [
  [1, 1, 1, false],
  [2, 8, 1, false],
  [3, 9, 2, true],
  [4, 16, 1, true],
  [5, 17, 3, true],
  [10, 28, 1, true],
  [12, 56, 1, true],
  [7, 7, 1, true],
  [14, 14, 2, true],
  [6, 15, 1, true],
  [9, 6, 1, true],
  [11, 3, 1, true],
  [13, 24, 1, true],
];

describe('depthwise 3x3, stride 2, padding 1, read in place', () => {
  for (const variant of WASM_VARIANTS) {
    for (const [h, w, multiplier, inPlace] of stride2Shapes) {
      it(`${h} x ${w}, multiplier ${multiplier}, ${variant} build: the bits of the phase planes and the oracle's values`, () => {
        const previous = configureKernels({ wasmVariant: variant });
        try {
          const r = new Random(h * 100 + w + multiplier + 5000);
          const channels = 3;
          const options = { groups: channels, padding: 1, stride: 2 };
          const { input: x, weight, bias } = randomConvOfShapes(r, [2, channels, h, w], [channels * multiplier, 1, 3, 3], options);
          const direct = runThroughPlan(x, weight, bias, options);
          const planes = runThroughPlan(padByHand(x), weight, bias, { ...options, padding: 0 });
          expect(direct.plan.microkernel).toBe(inPlace ? 'depthwise3x3Stride2InPlace' : 'depthwiseTaps9');
          expect(planes.plan.microkernel).toBe('depthwiseTaps9');
          expect(direct.output.shape).toEqual([2, channels * multiplier, Math.floor((h - 1) / 2) + 1, Math.floor((w - 1) / 2) + 1]);
          expect(bits(direct.output.data)).toEqual(bits(planes.output.data));
          const expected = naiveConv2d(x, weight, bias, { stride: [2, 2], dilation: [1, 1], padding: [1, 1, 1, 1], groups: channels });
          expect(worstViolation(direct.output.data, expected.data, goldenTolerance(x, weight))).toBeNull();
        } finally {
          configureKernels(previous);
        }
      });
    }
  }

  it('a slice of the output channels writes those channels and nothing else', () => {
    const r = new Random(8);
    const options = { groups: 6, padding: 1, stride: 2 };
    const { input: x, weight } = randomConvOfShapes(r, [2, 6, 9, 20], [6, 1, 3, 3], options, { bias: false });
    const whole = runThroughPlan(x, weight, null, options);
    expect(whole.plan.microkernel).toBe('depthwise3x3Stride2InPlace');
    const slice = { batchStart: 1, batchEnd: 2, outChannelStart: 2, outChannelEnd: 5 };
    const part = runThroughPlan(x, weight, null, options, () => [slice]).output;
    const plane = 5 * 10;
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 6; c++) {
        const at = (n * 6 + c) * plane;
        const got = part.data.subarray(at, at + plane);
        if (n === 1 && c >= 2 && c < 5) expect(bits(got)).toEqual(bits(whole.output.data.subarray(at, at + plane)));
        else expect(got.every(Number.isNaN)).toBe(true);
      }
    }
  });
});

describe('depthwise 3x3, padding 1, read in place', () => {
  for (const variant of WASM_VARIANTS) {
    for (const [h, w, multiplier] of shapes) {
      it(`${h} x ${w}, multiplier ${multiplier}, ${variant} build: the bits of the padded path and the oracle's values`, () => {
        const previous = configureKernels({ wasmVariant: variant });
        try {
          const r = new Random(h * 100 + w + multiplier);
          const channels = 3;
          const { input: x, weight, bias } = randomConvOfShapes(r, [2, channels, h, w], [channels * multiplier, 1, 3, 3], { groups: channels, padding: 1 });
          const inPlace = runThroughPlan(x, weight, bias, { groups: channels, padding: 1 }).output;
          const padded = runThroughPlan(padByHand(x), weight, bias, { groups: channels, padding: 0 }).output;
          expect(inPlace.shape).toEqual([2, channels * multiplier, h, w]);
          expect(bits(inPlace.data)).toEqual(bits(padded.data));
          const expected = naiveConv2d(x, weight, bias, { stride: [1, 1], dilation: [1, 1], padding: [1, 1, 1, 1], groups: channels });
          expect(worstViolation(inPlace.data, expected.data, goldenTolerance(x, weight))).toBeNull();
        } finally {
          configureKernels(previous);
        }
      });
    }
  }

  it('a slice of the output channels writes those channels and nothing else', () => {
    const r = new Random(7);
    const { input: x, weight } = randomConvOfShapes(r, [2, 6, 9, 16], [6, 1, 3, 3], { groups: 6, padding: 1 }, { bias: false });
    const whole = runThroughPlan(x, weight, null, { groups: 6, padding: 1 }).output;
    const slice = { batchStart: 1, batchEnd: 2, outChannelStart: 2, outChannelEnd: 5 };
    const part = runThroughPlan(x, weight, null, { groups: 6, padding: 1 }, () => [slice]).output;
    const plane = 9 * 16;
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 6; c++) {
        const at = (n * 6 + c) * plane;
        const inside = n === 1 && c >= 2 && c < 5;
        const got = part.data.subarray(at, at + plane);
        if (inside) expect(bits(got)).toEqual(bits(whole.data.subarray(at, at + plane)));
        else expect(got.every(Number.isNaN)).toBe(true);
      }
    }
  });
});
