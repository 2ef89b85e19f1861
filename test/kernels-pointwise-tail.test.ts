// A 1x1 layer read in place has no slack past its rows, so a row's last 1-7
// positions (7 x 7 planes: 49 = 6 x 8 + 1) cannot use a masked vector. They go
// through one more tile ending at the row's end, which recomputes positions
// an earlier tile wrote. Every output must still be bias + its taps in order,
// one multiply-add each: checked here against that sum written out in
// JavaScript (exact for the plain SIMD build: float32 product, then float32
// sum), and in both builds for the same bits in plane and row mode (different
// tiles over the same positions).
import { describe, expect, it } from 'vitest';
import { Random, type Conv2dOptions, type Tensor } from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { runThroughPlan } from './support/kernel-run.js';
import { randomConvOfShapes } from './support/random-conv.js';
import { bits } from './support/tensors.js';

/** The plain build's arithmetic for a 1x1 convolution: bias, then each tap's rounded product added and rounded, in channel order. */
function pointwiseInOrder(x: Tensor, w: Tensor, b: Tensor | null, groups: number): Float32Array {
  const [n, cin, h, wd] = x.shape;
  const cout = w.shape[0];
  const cinG = cin / groups;
  const coutG = cout / groups;
  const plane = h * wd;
  const out = new Float32Array(n * cout * plane);
  for (let img = 0; img < n; img++) {
    for (let oc = 0; oc < cout; oc++) {
      const g = Math.floor(oc / coutG);
      for (let p = 0; p < plane; p++) {
        let acc = b ? b.data[oc] : 0;
        for (let ic = 0; ic < cinG; ic++) {
          acc = Math.fround(acc + Math.fround(w.data[oc * cinG + ic] * x.data[(img * cin + g * cinG + ic) * plane + p]));
        }
        out[(img * cout + oc) * plane + p] = acc;
      }
    }
  }
  return out;
}

// [input shape, output channels, groups]: positions per plane leaving every
// remainder by 8, rows narrower than 8 (row mode), output channels not a
// multiple of 4 (single-channel tiles), ShuffleNet's 2-channel leftover, and
// planes that plane mode runs in chunks of positions.
const layers: Array<[number[], number, number]> = [
  [[2, 12, 7, 7], 10, 1],
  [[1, 8, 5, 5], 7, 1],
  [[2, 6, 3, 3], 5, 1],
  [[1, 16, 7, 9], 14, 2],
  [[1, 9, 2, 3], 6, 1],
  [[1, 20, 14, 14], 12, 1],
  [[2, 12, 6, 11], 12, 2],
  [[1, 60, 7, 7], 60, 2],
  // 256 input channels per group: positions in chunks of 256 (direct.ts), the last chunk partial.
  [[1, 256, 18, 18], 6, 1],
  [[2, 512, 17, 19], 14, 2],
];

describe('1x1 read in place: the last positions of a row', () => {
  for (const [xShape, cout, groups] of layers) {
    const name = `[${xShape}] -> ${cout} channels, ${groups} group(s)`;
    const run = (mode: boolean, variant: 'fma' | 'simd') => {
      const previous = configureKernels({ planeMode: mode, wasmVariant: variant });
      try {
        const r = new Random(xShape.reduce((a, d) => a * 31 + d, cout));
        const options: Conv2dOptions = { groups };
        const { input, weight, bias } = randomConvOfShapes(r, xShape, [cout, xShape[1] / groups, 1, 1], options);
        const { plan, output } = runThroughPlan(input, weight, bias, options);
        expect(plan.wasm?.directInput).toBe(true);
        return { input, weight, bias, output };
      } finally {
        configureKernels(previous);
      }
    };
    it(`${name}: the plain build gives bias + the taps in order, exactly, in plane and row mode`, () => {
      for (const mode of [true, false]) {
        const { input, weight, bias, output } = run(mode, 'simd');
        expect(bits(output.data)).toEqual(bits(pointwiseInOrder(input, weight, bias, groups)));
      }
    });
    it(`${name}: the FMA build gives the same bits in plane and row mode`, () => {
      expect(bits(run(true, 'fma').output.data)).toEqual(bits(run(false, 'fma').output.data));
    });
  }
});
