// The engine splits a layer's output by images and output channels across
// workers and must match one thread bit for bit. Each output element's sum
// order is fixed by the plan, so any slicing must give identical bits, and a
// slice must write its own elements and nothing else.
import { describe, expect, it } from 'vitest';
import { Random, conv2d, type Conv2dOptions, type ConvSlice } from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import type { KernelPlan } from '../src/kernels/plan/index.js';
import type { WasmVariant } from '../src/kernels/wasm/runtime.js';

const WASM_VARIANTS: WasmVariant[] = ['fma', 'simd'];
import { runThroughPlan } from './support/kernel-run.js';
import { randomConvOfShapes } from './support/random-conv.js';
import { bits } from './support/tensors.js';

/** Random cuts of [0, n) into consecutive ranges. */
function cuts(r: Random, n: number, pieces: number): [number, number][] {
  const points = new Set([0, n]);
  for (let i = 0; i < pieces - 1; i++) points.add(r.int(0, n));
  const sorted = [...points].sort((a, b) => a - b);
  return sorted.slice(1).map((end, i) => [sorted[i], end]);
}

function randomSlicing(r: Random, plan: KernelPlan): ConvSlice[] {
  const g = plan.geometry;
  const slices: ConvSlice[] = [];
  for (const [batchStart, batchEnd] of cuts(r, g.batch, r.int(1, 3))) {
    for (const [outChannelStart, outChannelEnd] of cuts(r, g.outChannels, r.int(2, 6))) {
      slices.push({ batchStart, batchEnd, outChannelStart, outChannelEnd });
    }
  }
  return slices;
}

const layers: [string, number[], number[], Conv2dOptions][] = [
  ['dense 3x3 (4-channel tiles + single-channel remainder)', [3, 6, 11, 13], [11, 6, 3, 3], { padding: 1 }],
  ['groups=2, 5x5, groups of 9 output channels', [2, 20, 9, 9], [18, 10, 5, 5], { padding: 2, groups: 2 }],
  ['depthwise, multiplier 2, stride 2', [3, 7, 15, 12], [14, 1, 3, 3], { groups: 7, stride: 2, padding: 1 }],
  ['depthwise 3x3, stride 1 (row-pointer kernel), 13 wide', [2, 5, 9, 13], [5, 1, 3, 3], { groups: 5, padding: 1 }],
  ['grouped 1x1 read in place', [2, 24, 7, 9], [24, 3, 1, 1], { groups: 8 }],
  ['grouped 1x1 with 4-channel blocks (strided taps, no tap table), 11 wide', [2, 16, 9, 11], [20, 8, 1, 1], { groups: 2 }],
  ['grouped 1x1, 6 channels per group (a 4-channel block, then a 2-channel 16-position tile), 36 positions', [2, 12, 6, 6], [12, 6, 1, 1], { groups: 2 }],
  ['dilated, asymmetric same padding', [2, 12, 10, 10], [12, 4, 2, 3], { groups: 3, padding: 'same', dilation: [2, 1] }],
  ['Winograd 3x3 (32 channels per group), 11 x 13: odd, edge tiles cut', [2, 64, 11, 13], [22, 32, 3, 3], { groups: 2, padding: 1 }],
];

describe('results do not depend on how the output is sliced', () => {
  for (const [name, xShape, wShape, options] of layers) {
    for (const variant of WASM_VARIANTS) {
      for (const mode of [false, true]) it(`${name}, ${mode ? 'plane' : 'row'} mode, ${variant} build`, () => {
        const previous = configureKernels({ planeMode: mode, wasmVariant: variant });
        try {
          checkSlicings(xShape, wShape, options);
        } finally {
          configureKernels(previous);
        }
      });
    }
  }

  function checkSlicings(xShape: number[], wShape: number[], options: Conv2dOptions): void {
    {
      const r = new Random(xShape.reduce((a, b) => a * 31 + b, 5));
      const { input, weight, bias } = randomConvOfShapes(r, xShape, wShape, options);
      const whole = runThroughPlan(input, weight, bias, options).output;
      expect(whole.data.some(Number.isNaN)).toBe(false);
      for (let trial = 0; trial < 6; trial++) {
        const sliced = runThroughPlan(input, weight, bias, options, (plan) => randomSlicing(r, plan)).output;
        expect(bits(sliced.data)).toEqual(bits(whole.data)); // NaN left anywhere would differ too
      }
      // The single-thread public path (plain arrays, staged) gives the same bits.
      expect(bits(conv2d(input, weight, bias, options).data)).toEqual(bits(whole.data));
    }
  }

  it.each([
    ['direct', 2],
    ['Winograd', 32],
  ])('a slice writes only its own elements (%s kernel)', (kind, cinG) => {
    const r = new Random(3);
    const { input, weight, options } = randomConvOfShapes(r, [2, 4 * cinG, 9, 9], [12, cinG, 3, 3], { groups: 4, padding: 1 }, { bias: false });
    const slice = { batchStart: 1, batchEnd: 2, outChannelStart: 3, outChannelEnd: 9 };
    // Winograd runs where the native kernels do not (they take its layers direct): off, to test it here.
    const previous = configureKernels({ native: kind !== 'Winograd' });
    let run;
    try {
      run = runThroughPlan(input, weight, null, options, () => [slice]);
    } finally {
      configureKernels(previous);
    }
    const { plan, output } = run;
    expect(plan.kind).toBe(kind === 'Winograd' ? 'winograd' : 'small-groups');
    const plane = 81;
    for (let i = 0; i < output.data.length; i++) {
      const n = Math.floor(i / (12 * plane));
      const oc = Math.floor(i / plane) % 12;
      const inside = n === 1 && oc >= 3 && oc < 9;
      expect(Number.isNaN(output.data[i])).toBe(!inside);
    }
  });
});
