// foldBatchNorm, and the zoo's blocks computed with fused layers (BatchNorm
// folded into the convolutions, activation and residual add in the kernels'
// epilogue) against their PyTorch fixtures, on one thread and on the engine.
import { afterAll, describe, expect, it } from 'vitest';
import {
  ArgumentError, batchNorm2d, conv2d, convBiasActivation, dispose, foldBatchNorm, GroupedConvEngine, tensor,
  type ActivationOption, type BatchNorm2d, type Conv2d, type Conv2dOptions, type Tensor,
} from '../src/index.js';
import { firstBitDifference } from './support/tensors.js';
import { expectTensorClose, zooTolerance } from './support/tolerance.js';
import { buildModel, caseIO, caseState, zooCases, type ModelCase } from './support/zoo-fixtures.js';

describe('foldBatchNorm', () => {
  it('folds per output channel: weight * gamma / sqrt(var + eps), (bias - mean) * that + beta', () => {
    // Channel 0: scale 4 / sqrt(3 + 1) = 2. Channel 1: scale 1 / sqrt(0.25 + 1).
    const folded = foldBatchNorm(tensor([2, -1, 0.5, 3], [2, 2, 1, 1]), tensor([1, 0], [2]), {
      runningMean: tensor([0.5, -2], [2]),
      runningVar: tensor([3, 0.25], [2]),
      weight: tensor([4, 1], [2]),
      bias: tensor([-1, 0.5], [2]),
      eps: 1,
    });
    expect(folded.weight.shape).toEqual([2, 2, 1, 1]);
    expect(Array.from(folded.weight.data)).toEqual([4, -2, 0.5 * (1 / Math.sqrt(1.25)), 3 * (1 / Math.sqrt(1.25))].map(Math.fround));
    expect(Array.from(folded.bias.data)).toEqual([0, Math.fround(2 / Math.sqrt(1.25) + 0.5)]);
  });

  it('without a conv bias or affine parameters: the shift is -mean * scale', () => {
    const folded = foldBatchNorm(tensor([3], [1, 1, 1, 1]), null, { runningMean: tensor([2], [1]), runningVar: tensor([4], [1]), eps: 0 });
    expect(Array.from(folded.weight.data)).toEqual([1.5]);
    expect(Array.from(folded.bias.data)).toEqual([-1]);
  });

  it('computes in float64 and rounds once', () => {
    // A scale that float32 steps would round twice: 1 / sqrt(3 + 1e-5) then * 0.1.
    const folded = foldBatchNorm(tensor([0.1], [1, 1, 1, 1]), null, { runningMean: tensor([0], [1]), runningVar: tensor([3], [1]) });
    expect(folded.weight.data[0]).toBe(Math.fround(Math.fround(0.1) / Math.sqrt(3 + 1e-5)));
  });

  it('a conv then its BatchNorm from the zoo (ResNeXt conv.0, conv.1), within the zoo tolerance', () => {
    const c = zooCases.models.find((m) => m.id === 'resnext_block')!;
    const state = caseState(c);
    const { input } = caseIO(c);
    const bn = { runningMean: state['conv.1.running_mean'], runningVar: state['conv.1.running_var'], weight: state['conv.1.weight'], bias: state['conv.1.bias'] };
    const unfolded = batchNorm2d(conv2d(input, state['conv.0.weight']), bn);
    const folded = foldBatchNorm(state['conv.0.weight'], null, bn);
    const maxAbs = unfolded.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectTensorClose(conv2d(input, folded.weight, folded.bias), unfolded, zooTolerance(maxAbs), 'folded conv.0');
  });

  it('argument errors name the argument and values', () => {
    const w = tensor([1, 2], [2, 1, 1, 1]);
    const stats = { runningMean: tensor([0, 0], [2]), runningVar: tensor([1, 1], [2]) };
    const fails = (run: () => unknown, argument: string, fragment: string) => {
      let error: unknown;
      try {
        run();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as ArgumentError).argument).toBe(argument);
      expect((error as Error).message).toContain(fragment);
    };
    fails(() => foldBatchNorm(w, null, { ...stats, runningVar: tensor([1, 1, 1], [3]) }), 'runningVar.shape', 'got shape [3]');
    fails(() => foldBatchNorm(w, null, { ...stats, weight: tensor([1], [1]) }), 'bn.weight.shape', '2 values');
    fails(() => foldBatchNorm(w, tensor([1, 2, 3], [3]), stats), 'bias.shape', 'got shape [3]');
    fails(() => foldBatchNorm(w, null, { ...stats, eps: -1 }), 'eps', '-1');
    fails(() => foldBatchNorm(w, null, { runningVar: stats.runningVar } as never), 'runningMean', 'expected a tensor');
  });
});

/** One fused layer of a block: a convolution, its BatchNorm folded in (if any), the activation, and whether the block's input is added. */
interface FusedLayer {
  conv: Conv2d;
  bn: BatchNorm2d | null;
  activation: ActivationOption;
  residual: boolean;
}

/** Runs a block's fused layers: on this thread (run = convBiasActivation), or on an engine. */
type LayerRunner = (x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions & { activation: ActivationOption }, residual: Tensor | null) => Promise<Tensor>;

async function runFused(layers: FusedLayer[], input: Tensor, run: LayerRunner): Promise<Tensor> {
  let x = input;
  for (const l of layers) {
    const { weight, bias } = l.bn
      ? foldBatchNorm(l.conv.weight, l.conv.bias, { runningMean: l.bn.runningMean, runningVar: l.bn.runningVar, weight: l.bn.weight, bias: l.bn.bias, eps: l.bn.eps })
      : { weight: l.conv.weight, bias: l.conv.bias };
    x = await run(x, weight, bias, { ...l.conv.options, activation: l.activation }, l.residual ? input : null);
  }
  return x;
}

/** The zoo blocks as fused layers: ResNeXt / ResNet bottlenecks (relu(bn(conv) + identity)) and MobileNet's depthwise separable conv. */
function fusedLayersOf(c: ModelCase): FusedLayer[] {
  const model = buildModel(c.model, c.options);
  model.loadStateDict(caseState(c));
  if (c.model === 'DepthwiseSeparableConv') {
    const m = model as unknown as { dw: Conv2d; pw: Conv2d; bn: BatchNorm2d };
    return [
      { conv: m.dw, bn: null, activation: 'none', residual: false },
      { conv: m.pw, bn: m.bn, activation: 'relu', residual: false },
    ];
  }
  const seq = (model as unknown as { conv: { layers: unknown[] } }).conv.layers;
  const conv = (i: number) => seq[i] as Conv2d;
  const bn = (i: number) => seq[i] as BatchNorm2d;
  return [
    { conv: conv(0), bn: bn(1), activation: 'relu', residual: false },
    { conv: conv(3), bn: bn(4), activation: 'relu', residual: false },
    { conv: conv(6), bn: bn(7), activation: 'relu', residual: true },
  ];
}

const BLOCKS = zooCases.models.filter((c) => ['resnext_block', 'resnet_bottleneck', 'depthwise_separable', 'depthwise_separable_s2_k5'].includes(c.id));

describe('zoo blocks with fused layers match PyTorch', () => {
  const engine = new GroupedConvEngine({ workers: 2 });
  afterAll(() => engine.close());

  it('covers the bottlenecks and depthwise separable cases', () => expect(BLOCKS.map((c) => c.id).sort()).toEqual(['depthwise_separable', 'depthwise_separable_s2_k5', 'resnet_bottleneck', 'resnext_block']));

  it.each(BLOCKS.map((c) => [c.id, c] as const))('%s: one thread within the zoo tolerance, the engine (2 workers) the same bits', async (_id, c) => {
    const { input, expected } = caseIO(c);
    const layers = fusedLayersOf(c);
    const single = await runFused(layers, input, async (x, w, b, options, residual) => convBiasActivation(x, w, b, { ...options, residual }));
    expect(single.shape).toEqual(c.output_shape);
    expectTensorClose(single, expected, zooTolerance(c.max_abs_expected), c.id);

    const owned: Tensor[] = [];
    const onEngine = await runFused(layers, input, async (x, w, b, options, residual) => {
      const { activation, ...convOptions } = options;
      const layer = engine.layer(w, b, { ...convOptions, activation });
      try {
        const out = await layer.run(x, { residual });
        owned.push(out);
        return out;
      } finally {
        layer.close();
      }
    });
    expect(firstBitDifference(onEngine.data, single.data)).toBe(-1);
    dispose(...owned);
  });
});
