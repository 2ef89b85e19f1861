// Property test: the fast kernels agree with the reference convolution on many
// random layer shapes per kernel kind (seeded, so failures reproduce), with
// sizes that leave SIMD and tile remainders, strides, dilations, paddings
// ('same' with an odd total included), batches and bias or none. Specs rotate
// through the shape-chosen tiling, forced plane mode and forced row mode, so
// every tile and tail path runs. The direct kinds run with Winograd off; the
// Winograd kind takes stride-1 3x3, 5x5, 3x5, 5x3 and 6x6 kernels with any
// channel count but 1.
import { describe, expect, it } from 'vitest';
import { Random, referenceConv2d, type Conv2dOptions } from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import type { KernelKind } from '../src/kernels/plan/index.js';
import { runThroughPlan } from './support/kernel-run.js';
import { randomConvOfShapes } from './support/random-conv.js';
import { goldenTolerance, worstViolation } from './support/tolerance.js';

interface Spec {
  input: number[];
  weight: number[];
  bias: boolean;
  options: Conv2dOptions;
}

function randomSpec(r: Random, kind: KernelKind): Spec {
  const pick = <T>(values: T[]): T => values[r.int(0, values.length - 1)];
  if (kind === 'winograd') {
    const groups = pick([1, 2, 3]);
    const style = r.int(0, 2);
    const padding: Conv2dOptions['padding'] = style === 0 ? 'same' : style === 1 ? 'valid' : [r.int(0, 3), r.int(0, 3)];
    return {
      input: [r.int(1, 3), groups * r.int(2, 40), r.int(6, 23), r.int(6, 23)],
      weight: [0, 0, ...pick([[3, 3], [3, 3], [5, 5], [3, 5], [5, 3], [6, 6]])],
      bias: r.uniform(0, 1) < 0.6,
      options: { groups, padding },
    };
  }
  const groups = kind === 'general' ? pick([1, 2, 3]) : kind === 'depthwise' ? r.int(1, 12) : r.int(1, 6);
  const cinG = kind === 'depthwise' ? 1 : kind === 'small-groups' ? r.int(2, 16) : kind === 'general' ? r.int(17, 40) : r.int(2, 20);
  const coutG = kind === 'depthwise' ? pick([1, 1, 2, 3]) : r.int(1, 11);
  const pointwise = kind === 'pointwise';
  const kh = pointwise ? 1 : r.int(kind === 'small-groups' || kind === 'general' ? 2 : 1, 5);
  const kw = pointwise ? 1 : r.int(kind === 'small-groups' || kind === 'general' ? 2 : 1, 5);
  const stride: [number, number] = [r.int(1, 3), r.int(1, 3)];
  const dilation: [number, number] = pointwise ? [1, 1] : [r.int(1, 2), r.int(1, 3)];
  let padding: Conv2dOptions['padding'];
  const style = r.int(0, 3);
  if (style === 0 && !pointwise) {
    padding = 'same';
    stride[0] = stride[1] = 1;
  } else if (style === 1) padding = 'valid';
  else padding = [r.int(0, 3), r.int(0, 3)];
  const h = r.int((kh - 1) * dilation[0] + 1, 23);
  const w = r.int((kw - 1) * dilation[1] + 1, 23);
  return {
    input: [r.int(1, 3), groups * cinG, h, w],
    weight: [groups * coutG, cinG, kh, kw],
    bias: r.uniform(0, 1) < 0.6,
    options: { groups, stride, dilation, padding },
  };
}

const SPECS_PER_KIND = 40;

function fillWinogradWeight(r: Random, spec: Spec): Spec {
  if (spec.weight[0] !== 0) return spec;
  const groups = spec.options.groups as number;
  return { ...spec, weight: [groups * r.int(1, 11), spec.input[1] / groups, spec.weight[2], spec.weight[3]] };
}

for (const kind of ['depthwise', 'pointwise', 'small-groups', 'general', 'winograd'] as KernelKind[]) {
  describe(`${kind} kernel vs referenceConv2d`, () => {
    const r = new Random(7 + kind.length);
    for (let i = 0; i < SPECS_PER_KIND; i++) {
      const spec = fillWinogradWeight(r, randomSpec(r, kind));
      const seed = r.int(0, 1 << 30);
      const mode = ([null, true, false] as const)[i % 3];
      it(`#${i} (${mode === null ? 'chosen' : mode ? 'plane' : 'row'} mode): input [${spec.input}] weight [${spec.weight}] ${JSON.stringify(spec.options)}${spec.bias ? ' +bias' : ''}`, () => {
        const { input, weight, bias } = randomConvOfShapes(new Random(seed), spec.input, spec.weight, spec.options, { bias: spec.bias });
        // Winograd runs where the native kernels do not (they take its layers direct): off, to test it here.
        const previous = configureKernels({ planeMode: mode, winogradMinChannels: kind === 'winograd' ? 1 : null, ...(kind === 'winograd' ? { native: false } : {}) });
        let run;
        try {
          run = runThroughPlan(input, weight, bias, spec.options);
        } finally {
          configureKernels(previous);
        }
        const { plan, output } = run;
        expect(plan.kind).toBe(kind);
        if (mode !== null && kind !== 'winograd') expect(plan.wasm?.planeMode).toBe(mode);
        const expected = referenceConv2d(input, weight, bias, spec.options);
        expect(output.shape).toEqual(expected.shape);
        expect(worstViolation(output.data, expected.data, goldenTolerance(input, weight))).toBeNull();
      });
    }
  });
}
