// The fused epilogue y = act(conv + bias [+ residual]) against the unfused
// sequence (conv2d, then `add`, then the activation op), bit for bit: for every
// activation, with and without a residual, across every microkernel, in both
// WebAssembly builds, in plane and row mode, sliced, and through the
// JavaScript fallback. Then the activations' definitions against values
// worked out by hand, and the argument errors.
import { afterAll, describe, expect, it } from 'vitest';
import {
  activate as activationOp, add, ArgumentError, clip, conv2d, convBiasActivation, hardswish, outputShapeOf, Random, relu,
  resolveConv2d, sharedArena, tensor, toShared, zeros, type ActivationOption, type Conv2dOptions, type Tensor,
} from '../src/index.js';
import { checkActivation } from '../src/kernels/epilogue.js';
import { configureKernels, resetKernelOptions } from '../src/kernels/options.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../src/kernels/plan/index.js';

afterAll(() => resetKernelOptions());

const ACTIVATIONS: ActivationOption[] = [
  'none', 'relu', { kind: 'clip', min: 0, max: 6 }, { kind: 'clip', min: -0.25, max: 0.5 }, 'hardswish', 'sigmoid', 'silu', 'hardsigmoid',
  { kind: 'hardsigmoid', alpha: 0.2, beta: 0.5 },
];
const nameOf = (a: ActivationOption) => (typeof a === 'string' ? a : JSON.stringify(a));

function randomTensor(random: Random, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return { shape, data: Float32Array.from({ length: n }, () => scale * random.uniform(-1, 1)) };
}

/**
 * A residual with values the activations treat specially sprinkled in: NaN, ±0, ±Infinity, clip's bounds,
 * hardswish's and hardsigmoid's -3 and 3, and where exp overflows (89, -89) and underflows (-104).
 */
function residualFor(random: Random, shape: number[]): Tensor {
  const r = randomTensor(random, shape, 4);
  const special = [Number.NaN, -0, 0, Infinity, -Infinity, 6, -3, 3, 0.5, -0.25, 89, -89, -104, 20, -20];
  for (let i = 0; i < r.data.length; i += 7) r.data[i] = special[(i / 7) % special.length];
  return r;
}

/** The unfused sequence: conv2d, `+ residual` (add), then the activation as its own op. */
function unfused(x: Tensor, w: Tensor, b: Tensor, options: Conv2dOptions, act: ActivationOption, residual: Tensor | null): Tensor {
  let y = conv2d(x, w, b, options);
  if (residual) y = add(y, residual);
  return activationOp(y, act);
}

/** Index of the first element whose bits differ (NaN equal to NaN, whatever its payload), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

/**
 * The fused plan run the engine's way: every tensor in the shared arena, the
 * output NaN-filled, computed in three slices (cut by images and at odd output
 * channels), so an epilogue that strays out of its slice or skips part of it shows.
 */
function fusedSliced(x: Tensor, w: Tensor, b: Tensor, options: Conv2dOptions, act: ActivationOption, residual: Tensor | null) {
  const resolved = resolveConv2d(x, w, b, options);
  const g = resolved.geometry;
  const [xs, ws, bs] = [toShared(x), toShared(w), toShared(b)];
  const rs = residual ? toShared(residual) : null;
  const output = zeros(outputShapeOf(resolved), { shared: true });
  output.data.fill(Number.NaN);
  const plan = planConv(g, ws.data, null, checkActivation(act));
  const cut = Math.max(1, Math.floor(g.outChannels / 3) | 1);
  const slices = [
    { batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: g.outChannels },
    { batchStart: 1, batchEnd: g.batch, outChannelStart: 0, outChannelEnd: cut },
    { batchStart: 1, batchEnd: g.batch, outChannelStart: cut, outChannelEnd: g.outChannels },
  ];
  try {
    const scratch = zeros([Math.max(1, planScratchFloats(plan))], { shared: true });
    for (const slice of slices) runPlan(plan, xs.data, ws.data, bs.data, output.data, slice, scratch.data, rs ? rs.data : null);
    return { microkernel: plan.microkernel, output };
  } finally {
    releasePlan(plan);
  }
}

// Shapes steered to each microkernel (as in kernels-golden.test.ts), batch 2 so slices cut by images.
const CASES: [string, number[], number[], Conv2dOptions, string][] = [
  ['depthwise 3x3 in place, width 7 (the window)', [2, 6, 7, 7], [6, 1, 3, 3], { groups: 6, padding: 1 }, 'depthwise3x3InPlace'],
  ['depthwise 3x3 in place, width 8 (the shuffled edge)', [2, 5, 9, 8], [5, 1, 3, 3], { groups: 5, padding: 1 }, 'depthwise3x3InPlace'],
  ['depthwise 3x3 in place, 6 x 3 (only the window)', [2, 3, 6, 3], [3, 1, 3, 3], { groups: 3, padding: 1 }, 'depthwise3x3InPlace'],
  ['depthwise 3x3 in place, 5 x 14 (MobileNet width, odd height)', [2, 2, 5, 14], [2, 1, 3, 3], { groups: 2, padding: 1 }, 'depthwise3x3InPlace'],
  ['depthwise 3x3 over padded rows (multiplier 4)', [2, 3, 9, 10], [12, 1, 3, 3], { groups: 3, padding: 1 }, 'depthwise3x3Rows'],
  ['depthwise 3x3 at stride 2 in place, 11 x 11 (odd: the window pads)', [2, 6, 11, 11], [6, 1, 3, 3], { groups: 6, padding: 1, stride: 2 }, 'depthwise3x3Stride2InPlace'],
  ['depthwise 3x3 at stride 2 in place, 10 x 28 (MobileNet width: a partial last vector)', [2, 3, 10, 28], [3, 1, 3, 3], { groups: 3, padding: 1, stride: 2 }, 'depthwise3x3Stride2InPlace'],
  ['depthwise 3x3 at stride 2 over phase planes (padding 0)', [2, 6, 11, 11], [6, 1, 3, 3], { groups: 6, stride: 2 }, 'depthwiseTaps9'],
  ['pointwise, 30 channels per group (4x8 blocks and the 2x16 tile)', [2, 60, 7, 9], [60, 30, 1, 1], { groups: 2 }, 'pointwiseStrided'],
  ['pointwise over 256 channels, 18 x 18: positions in chunks (plane mode)', [2, 256, 18, 18], [6, 256, 1, 1], {}, 'pointwiseStrided'],
  ['pointwise at stride 2, 13 output channels', [2, 16, 9, 9], [13, 16, 1, 1], { stride: 2 }, 'pointwiseStrided'],
  ['pointwise over 9 channels per group', [2, 18, 6, 6], [6, 9, 1, 1], { groups: 2 }, 'pointwiseStridedTaps9'],
  ['direct, small groups 3x3', [2, 16, 10, 10], [16, 4, 3, 3], { groups: 4, padding: 1 }, 'direct'],
  ['direct, depthwise 5x5', [2, 8, 10, 10], [8, 1, 5, 5], { groups: 8, padding: 2 }, 'direct'],
  ['direct, 3x3 at stride 2, 14 output channels', [2, 40, 9, 9], [14, 40, 3, 3], { stride: 2, padding: 1 }, 'direct'],
  ['Winograd 3x3, 9 channels per group (blocks and singles)', [2, 64, 9, 7], [18, 32, 3, 3], { groups: 2, padding: 1 }, 'winograd'],
  ['Winograd 5x5 (sub-kernels), odd output size', [2, 32, 7, 9], [6, 32, 5, 5], { padding: 1 }, 'winograd'],
];

describe.each(['fma', 'simd'] as const)('fused = unfused, bit for bit, %s build', (variant) => {
  describe.each(CASES.map((c) => [c[0], c] as const))('%s', (_name, [, xShape, wShape, options, microkernel]) => {
    for (const planeMode of microkernel === 'direct' || microkernel.startsWith('pointwise') ? [true, false] : [null]) {
      it(`every activation, with and without a residual${planeMode === null ? '' : `, ${planeMode ? 'plane' : 'row'} mode`}`, () => {
        // Winograd runs where the native kernels do not (they take its layers direct): off, to test it here.
        const previous = configureKernels({ wasmVariant: variant, planeMode, ...(microkernel === 'winograd' ? { native: false } : {}) });
        try {
          const random = new Random(xShape.reduce((p, d) => p * 31 + d, 7));
          const x = randomTensor(random, xShape);
          const w = randomTensor(random, wShape, 0.5);
          const b = randomTensor(random, [wShape[0]]);
          const residual = residualFor(random, outputShapeOf(resolveConv2d(x, w, b, options)));
          for (const act of ACTIVATIONS) {
            for (const r of [null, residual]) {
              const where = `${nameOf(act)}, ${r ? 'with' : 'without'} residual`;
              const expected = unfused(x, w, b, options, act, r);
              const fused = fusedSliced(x, w, b, options, act, r);
              expect(fused.microkernel, where).toBe(microkernel);
              expect(firstDifference(fused.output.data, expected.data), where).toBe(-1);
              // The op on plain arrays (staged through the arena) computes the same bits.
              expect(firstDifference(convBiasActivation(x, w, b, { ...options, activation: act, residual: r }).data, expected.data), where).toBe(-1);
            }
          }
        } finally {
          configureKernels(previous);
        }
      });
    }
  });
});

describe('-0 through the kernels: relu and clip 0..6 keep it, as their reference ops do', () => {
  // Zero weights over negative inputs from a -0 bias: every tap inside the input adds 0 * -1 = -0, so the
  // convolution is -0 wherever no tap reads padding (+0). (Winograd's transforms subtract inputs: +0 there.)
  it.each(CASES.map((c) => [c[0], c] as const))('%s', (_name, [, xShape, wShape, options, microkernel]) => {
    const x: Tensor = { shape: xShape, data: new Float32Array(xShape.reduce((p, d) => p * d, 1)).fill(-1) };
    const w: Tensor = { shape: wShape, data: new Float32Array(wShape.reduce((p, d) => p * d, 1)) };
    const b: Tensor = { shape: [wShape[0]], data: new Float32Array(wShape[0]).fill(-0) };
    for (const act of ['relu', { kind: 'clip', min: 0, max: 6 }] as ActivationOption[]) {
      const fused = fusedSliced(x, w, b, options, act, null).output.data;
      if (microkernel !== 'winograd') expect(fused.some((v) => Object.is(v, -0)), nameOf(act)).toBe(true);
      expect(firstDifference(fused, unfused(x, w, b, options, act, null).data), nameOf(act)).toBe(-1);
    }
  });
});

describe('the JavaScript fallback applies the same epilogue', () => {
  it.each(CASES.slice(0, 6).map((c) => [c[0], c] as const))('%s', (_name, [, xShape, wShape, options]) => {
    const previous = configureKernels({ forceJs: true });
    try {
      const random = new Random(11);
      const x = randomTensor(random, xShape);
      const w = randomTensor(random, wShape, 0.5);
      const b = randomTensor(random, [wShape[0]]);
      const residual = residualFor(random, outputShapeOf(resolveConv2d(x, w, b, options)));
      for (const act of ACTIVATIONS) {
        const fused = fusedSliced(x, w, b, options, act, residual);
        expect(fused.microkernel).toBe('reference');
        expect(firstDifference(fused.output.data, unfused(x, w, b, options, act, residual).data), nameOf(act)).toBe(-1);
      }
    } finally {
      configureKernels(previous);
    }
  });
});

describe('the activations, on values worked out by hand', () => {
  const x = tensor([-7, -3, -1.5, -0, 0, 0.25, 2.5, 3, 6, 9, Number.NaN, -Infinity, Infinity], [13]);
  const bitsOf = (t: Tensor) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));

  it('relu: negatives to +0, -0 and NaN unchanged (torch.relu)', () => {
    expect(Array.from(activationOp(x, 'relu').data)).toEqual([0, 0, 0, -0, 0, 0.25, 2.5, 3, 6, 9, Number.NaN, 0, Infinity]);
    expect(bitsOf(activationOp(x, 'relu'))).toEqual(bitsOf(relu(x)));
  });

  it('clip (ReLU6 is clip 0..6): std::min(std::max(x, min), max), NaN passes through, -0 stays -0', () => {
    expect(Array.from(clip(x, 0, 6).data)).toEqual([0, 0, 0, -0, 0, 0.25, 2.5, 3, 6, 6, Number.NaN, 0, 6]);
    expect(Array.from(clip(x, -2, 1).data)).toEqual([-2, -2, -1.5, -0, 0, 0.25, 1, 1, 1, 1, Number.NaN, -2, 1]);
    // Bounds are float32: 0.1 becomes 0.100000001490116...
    expect(clip(tensor([0], [1]), 0.1, 0.2).data[0]).toBe(Math.fround(0.1));
  });

  it('hardswish: x * relu6(x + 3) / 6 (0 below -3, x above 3)', () => {
    const got = Array.from(hardswish(x).data);
    expect(got.slice(0, 10)).toEqual([-0, -0, Math.fround((-1.5 * 1.5) / 6), -0, 0, Math.fround((0.25 * 3.25) / 6), Math.fround((2.5 * 5.5) / 6), 3, 6, 9]);
    expect(Number.isNaN(got[10])).toBe(true);
    expect(Number.isNaN(got[11])).toBe(true); // -Infinity * 0, as in PyTorch
    expect(got[12]).toBe(Infinity);
  });

  it('sigmoid, silu, hardsigmoid: 0.5, 0 and 0.5 at 0; the ends at ±Infinity; float32 steps in between', () => {
    const sigmoid = Array.from(activationOp(x, 'sigmoid').data);
    expect(sigmoid[4]).toBe(0.5);
    expect(sigmoid[11]).toBe(0);
    expect(sigmoid[12]).toBe(1);
    expect(Number.isNaN(sigmoid[10])).toBe(true);
    // 1 / (1 + e^7): e^7 = 1096.6331584284585, and the epilogue's exp gives float32's nearest.
    expect(sigmoid[9]).toBe(Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-9)))));
    expect(sigmoid[0]).toBe(Math.fround(1 / Math.fround(1 + Math.fround(1096.6331584284585))));
    const silu = Array.from(activationOp(x, 'silu').data);
    expect(silu[7]).toBe(Math.fround(3 * Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-3))))));
    expect(Object.is(silu[3], -0)).toBe(true);
    expect(Number.isNaN(silu[11])).toBe(true); // -Infinity * 0
    // PyTorch's nn.Hardsigmoid as exported (alpha 1/6 in float32, beta 0.5): 0 from -3, 1 from 3.
    const hard = Array.from(activationOp(x, 'hardsigmoid').data);
    const sixth = Math.fround(1 / 6);
    expect(hard.slice(0, 10)).toEqual([0, 0, Math.fround(Math.fround(-1.5 * sixth) + 0.5), 0.5, 0.5, Math.fround(Math.fround(0.25 * sixth) + 0.5), Math.fround(Math.fround(2.5 * sixth) + 0.5), 1, 1, 1]);
    expect(Number.isNaN(hard[10])).toBe(true);
    expect([hard[11], hard[12]]).toEqual([0, 1]);
    expect(Array.from(activationOp(x, { kind: 'hardsigmoid', alpha: -1, beta: 0 }).data).slice(0, 6)).toEqual([1, 1, 1, 0, 0, 0]); // -0 + 0 is +0
  });

  it('ReLU6 through the fused op is clip 0..6 of the convolution', () => {
    // A 1x1 convolution by weight 1: the output is the input plus the bias.
    const input = tensor([-2, 1, 5, 8], [1, 1, 2, 2]);
    const y = convBiasActivation(input, tensor([1], [1, 1, 1, 1]), tensor([0.5], [1]), { activation: { kind: 'clip', min: 0, max: 6 } });
    expect(Array.from(y.data)).toEqual([0, 1.5, 5.5, 6]);
    const withResidual = convBiasActivation(input, tensor([1], [1, 1, 1, 1]), null, { activation: 'relu', residual: tensor([1, -2, 0.5, -9], [1, 1, 2, 2]) });
    expect(Array.from(withResidual.data)).toEqual([0, 0, 5.5, 0]);
  });
});

describe('argument errors name the argument and the values, before anything is allocated', () => {
  const x = tensor(new Float32Array(2 * 4 * 5 * 5), [2, 4, 5, 5]);
  const w = tensor(new Float32Array(4 * 9), [4, 1, 3, 3]);
  const options: Conv2dOptions = { groups: 4, padding: 1 };

  const expectError = (run: () => unknown, argument: string, ...fragments: string[]) => {
    const before = sharedArena().stats().liveBytes;
    let error: unknown;
    try {
      run();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as ArgumentError).argument).toBe(argument);
    for (const f of fragments) expect((error as Error).message).toContain(f);
    expect(sharedArena().stats().liveBytes).toBe(before);
  };

  it('an unknown activation (the message lists the fused ones)', () => {
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: 'tanh' as never }), 'activation', "'tanh'", "'relu'", "'silu'", "'hardsigmoid'");
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: { kind: 'gelu' } as never }), 'activation', "'gelu'");
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: 42 as never }), 'activation', '42');
  });

  it('clip with min > max, or a bound that is not a number', () => {
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: { kind: 'clip', min: 6, max: 0 } }), 'activation', 'min 6', 'max 0');
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: { kind: 'clip', min: Number.NaN, max: 1 } }), 'activation', 'min NaN');
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: { kind: 'clip', min: 0 } as never }), 'activation', 'max undefined');
  });

  it('hardsigmoid with alpha or beta not a finite number', () => {
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: { kind: 'hardsigmoid', alpha: Number.NaN, beta: 0.5 } }), 'activation', 'alpha NaN');
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: { kind: 'hardsigmoid', alpha: 0.2, beta: Infinity } }), 'activation', 'beta Infinity');
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: { kind: 'hardsigmoid', alpha: '0.2' } as never }), 'activation', "alpha '0.2'");
  });

  it('a residual of the wrong shape, or not a tensor', () => {
    expectError(() => convBiasActivation(x, w, null, { ...options, residual: zeros([2, 4, 5, 4]) }), 'residual.shape', '[2, 4, 5, 5]', '[2, 4, 5, 4]');
    expectError(() => convBiasActivation(x, w, null, { ...options, residual: { shape: [2, 4, 5, 5] } as never }), 'residual', 'expected a tensor');
  });

  it("conv2d's own errors come first, as conv2d raises them", () => {
    expectError(() => convBiasActivation(x, w, null, { groups: 3, activation: 'tanh' as never }), 'weight.shape[0] (output channels)', 'not divisible by groups=3');
    expectError(() => convBiasActivation(x, w, null, { ...options, activation: 'relu', bogus: 1 } as never), 'options', "'bogus'");
  });
});
