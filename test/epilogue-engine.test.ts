// The fused epilogue on the engine: engine.layer(w, b, { activation }) and
// layer.run(x, { residual }) give, at 1, 2 and 3 workers under both policies,
// the bits convBiasActivation computes on one thread, which are the unfused
// sequence's (conv2d, add, the activation op). Then the engine's argument errors.
import { afterAll, describe, expect, it } from 'vitest';
import {
  activate as activationOp, add, ArgumentError, conv2d, convBiasActivation, dispose, GroupedConvEngine, Random, sharedArena, toShared, zeros,
  type ActivationOption, type Conv2dOptions, type PartitionPolicy, type Tensor,
} from '../src/index.js';
import { configureKernels } from '../src/kernels/options.js';
import { firstBitDifference } from './support/tensors.js';

const engines = [1, 2, 3].flatMap((workers) => (['group', 'balanced'] as PartitionPolicy[]).map((policy) => new GroupedConvEngine({ workers, policy })));
afterAll(() => Promise.all(engines.map((e) => e.close())));

function randomTensor(random: Random, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return { shape, data: Float32Array.from({ length: n }, () => scale * random.uniform(-1, 1)) };
}

// ResNet's 3x3 (Winograd) + residual + relu; MobileNetV2's depthwise 3x3 (in place) + relu6 and its
// projection 1x1 + identity without activation; a grouped 3x3 (direct) + hardswish; batch 3 so tasks cut images.
const LAYERS: [string, number[], number[], Conv2dOptions, ActivationOption, boolean][] = [
  ['ResNet 3x3 + residual + relu', [3, 32, 8, 8], [32, 32, 3, 3], { padding: 1 }, 'relu', true],
  ['MobileNetV2 depthwise 3x3 + relu6', [3, 24, 9, 9], [24, 1, 3, 3], { groups: 24, padding: 1 }, { kind: 'clip', min: 0, max: 6 }, false],
  ['MobileNetV2 depthwise 3x3 at stride 2 + relu6 + residual', [3, 16, 10, 10], [16, 1, 3, 3], { groups: 16, padding: 1, stride: 2 }, { kind: 'clip', min: 0, max: 6 }, true],
  ['MobileNetV2 projection 1x1 + identity, no activation', [3, 48, 7, 7], [24, 48, 1, 1], {}, 'none', true],
  ['grouped 3x3 + hardswish + residual', [3, 16, 9, 9], [20, 4, 3, 3], { groups: 4, padding: 1 }, 'hardswish', true],
  // EfficientNet's SiLU after an expansion 1x1 and a depthwise 3x3 (in place), its squeeze-excitation's
  // sigmoid, and MobileNetV3's hardsigmoid after a 5x5 depthwise (direct).
  ['EfficientNet expansion 1x1 + silu', [3, 16, 8, 8], [64, 16, 1, 1], {}, 'silu', false],
  ['EfficientNet depthwise 3x3 + silu + residual', [3, 24, 9, 9], [24, 1, 3, 3], { groups: 24, padding: 1 }, 'silu', true],
  ['EfficientNet squeeze-excitation 1x1 on 1x1 + sigmoid', [3, 8, 1, 1], [32, 8, 1, 1], {}, 'sigmoid', false],
  ['ResNet 3x3 (Winograd) + residual + sigmoid', [3, 32, 8, 8], [32, 32, 3, 3], { padding: 1 }, 'sigmoid', true],
  ['depthwise 5x5 + hardsigmoid(0.2, 0.5)', [3, 12, 9, 9], [12, 1, 5, 5], { groups: 12, padding: 2 }, { kind: 'hardsigmoid', alpha: 0.2, beta: 0.5 }, false],
];

describe.each(LAYERS.map((l) => [l[0], l] as const))('%s', (_name, [, xShape, wShape, options, activation, withResidual]) => {
  const random = new Random(xShape.reduce((p, d) => p * 17 + d, 3));
  const x = randomTensor(random, xShape);
  const w = randomTensor(random, wShape, 0.3);
  const b = randomTensor(random, [wShape[0]]);
  const outShape = conv2d(x, w, b, options).shape;
  const residual = withResidual ? randomTensor(random, outShape, 2) : null;

  it('one thread: convBiasActivation is the unfused sequence, bit for bit', () => {
    let unfused = conv2d(x, w, b, options);
    if (residual) unfused = add(unfused, residual);
    unfused = activationOp(unfused, activation);
    expect(firstBitDifference(convBiasActivation(x, w, b, { ...options, activation, residual }).data, unfused.data)).toBe(-1);
  });

  it.each(['fma', 'simd'] as const)('the engine at 1-3 workers, both policies, residual copied in or shared: the same bits, %s build', async (variant) => {
    // Plans record the build, so the workers run the one chosen here.
    const previous = configureKernels({ wasmVariant: variant });
    const expected = convBiasActivation(x, w, b, { ...options, activation, residual });
    const sharedResidual = residual ? toShared(residual) : null;
    try {
      for (const engine of engines) {
        const layer = engine.layer(w, b, { ...options, activation });
        try {
          for (const r of residual ? [residual, sharedResidual] : [null]) {
            const where = `${engine.workers} workers, ${engine.policy}, residual ${r === sharedResidual ? 'shared' : 'copied in'}`;
            const { output, profile } = await layer.runProfiled(x, { residual: r });
            expect(output.shape, where).toEqual(expected.shape);
            expect(firstBitDifference(output.data, expected.data), where).toBe(-1);
            // Balanced cuts these layers into several tasks (the group policy keeps an ungrouped layer whole).
            if (engine.workers > 1 && engine.policy === 'balanced') expect(profile.tasks.length, where).toBeGreaterThan(1);
            dispose(output);
          }
        } finally {
          layer.close();
        }
      }
    } finally {
      if (sharedResidual) dispose(sharedResidual);
      configureKernels(previous);
    }
  });
});

describe('engine.conv2d passes the residual on; a layer runs with and without one', () => {
  it('same bits as convBiasActivation, and `out` receives the result', async () => {
    const random = new Random(9);
    const x = randomTensor(random, [2, 8, 6, 6]);
    const w = randomTensor(random, [8, 2, 3, 3]);
    const residual = randomTensor(random, [2, 8, 6, 6]);
    const engine = engines[3];
    const viaConv2d = await engine.conv2d(x, w, null, { groups: 4, padding: 1, residual });
    expect(firstBitDifference(viaConv2d.data, convBiasActivation(x, w, null, { groups: 4, padding: 1, residual }).data)).toBe(-1);
    const layer = engine.layer(w, null, { groups: 4, padding: 1, activation: 'relu' });
    const out = zeros([2, 8, 6, 6], { shared: true });
    await layer.run(x, { residual, out });
    expect(firstBitDifference(out.data, convBiasActivation(x, w, null, { groups: 4, padding: 1, activation: 'relu', residual }).data)).toBe(-1);
    const plain = await layer.run(x);
    expect(firstBitDifference(plain.data, convBiasActivation(x, w, null, { groups: 4, padding: 1, activation: 'relu' }).data)).toBe(-1);
    layer.close();
    dispose(viaConv2d, out, plain);
  });
});

describe('engine argument errors name the argument and values, and leave nothing allocated', () => {
  const engine = engines[1];
  const x = zeros([2, 4, 5, 5]);
  const w = zeros([4, 1, 3, 3]);

  const expectArgumentError = async (run: () => unknown, argument: string, ...fragments: string[]) => {
    const before = sharedArena().stats().liveBytes;
    let error: unknown;
    try {
      await run();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as ArgumentError).argument).toBe(argument);
    for (const f of fragments) expect((error as Error).message).toContain(f);
    expect(sharedArena().stats().liveBytes).toBe(before);
  };

  it("engine.layer: an unknown activation, clip min > max, hardsigmoid's beta NaN", async () => {
    await expectArgumentError(() => engine.layer(w, null, { groups: 4, activation: 'tanh' as never }), 'activation', "'tanh'", "'sigmoid'");
    await expectArgumentError(() => engine.layer(w, null, { groups: 4, activation: { kind: 'hardsigmoid', alpha: 0.2, beta: Number.NaN } }), 'activation', 'beta NaN');
    await expectArgumentError(() => engine.layer(w, null, { groups: 4, activation: { kind: 'clip', min: 1, max: -1 } }), 'activation', 'min 1', 'max -1');
  });

  it('layer.run: a residual of the wrong shape, not a tensor, or overlapping `out`', async () => {
    const layer = engine.layer(w, null, { groups: 4, padding: 1, activation: 'relu' });
    try {
      await expectArgumentError(() => layer.run(x, { residual: zeros([2, 4, 3, 3]) }), 'residual.shape', '[2, 4, 5, 5]', '[2, 4, 3, 3]');
      await expectArgumentError(() => layer.run(x, { residual: 'x' as never }), 'residual', 'expected a tensor');
      const out = zeros([2, 4, 5, 5], { shared: true });
      const before = sharedArena().stats().liveBytes;
      await expect(layer.run(x, { residual: out, out })).rejects.toThrow(/must not overlap/);
      expect(sharedArena().stats().liveBytes).toBe(before);
      dispose(out);
    } finally {
      layer.close();
    }
  });
});
