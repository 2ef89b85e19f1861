// The zoo's models as objects: seed shapes, PyTorch parameter counts, options,
// state_dict loading (and its failures), initialisation.
import { describe, expect, it } from 'vitest';
import { ArgumentError, models, numel, parseSafetensors, Random, serializeSafetensors, type Tensor } from '../src/index.js';
import { seededTensor } from './support/tensors.js';
import { buildModel, caseIO, caseState, zooCases, type ModelName } from './support/zoo-fixtures.js';

describe('output shapes from the seeds', () => {
  it('GroupedBottleneck(64, 128, groups 8, stride 2): [2, 64, 32, 32] -> [2, 128, 16, 16]', () => {
    const block = new models.GroupedBottleneck({ inChannels: 64, outChannels: 128, groups: 8, stride: 2 });
    expect(block.forward(seededTensor(1, [2, 64, 32, 32])).shape).toEqual([2, 128, 16, 16]);
  });

  it('DepthwiseSeparableConv(32, 64): [4, 32, 64, 64] -> [4, 64, 64, 64]', () => {
    const block = new models.DepthwiseSeparableConv({ inChannels: 32, outChannels: 64 });
    expect(block.forward(seededTensor(2, [4, 32, 64, 64])).shape).toEqual([4, 64, 64, 64]);
  });

  it('MiniGroupNet(groups 8): [4, 3, 64, 64] -> [4, 10]', () => {
    const net = new models.MiniGroupNet({ groups: 8 });
    expect(net.forward(seededTensor(3, [4, 3, 64, 64])).shape).toEqual([4, 10]);
  });

  it('GlobalDepthwiseConv(512, 7): [1, 512, 7, 7] -> [1, 512, 1, 1]', () => {
    const gdc = new models.GlobalDepthwiseConv({ channels: 512, size: 7 });
    expect(gdc.conv.weight.shape).toEqual([512, 1, 7, 7]);
    expect(gdc.forward(seededTensor(4, [1, 512, 7, 7])).shape).toEqual([1, 512, 1, 1]);
  });
});

// sum(p.numel() for p in m.parameters()) from PyTorch 1.13 (make_fixtures.py).
const PYTORCH_PARAMETER_COUNTS: [ModelName, Record<string, unknown>, number][] = [
  ['ResNeXtBlock', { inChannels: 256 }, 71_168],
  ['ResNeXtBlock', { inChannels: 256, cardinality: 64, bottleneckWidth: 4 }, 141_824],
  ['ShuffleBlock', { inChannels: 256, outChannels: 256 }, 5_440],
  ['ShuffleBlock', { inChannels: 240, outChannels: 240, groups: 3 }, 10_860],
  ['DepthwiseSeparableConv', { inChannels: 32, outChannels: 64 }, 2_464],
  ['GroupedBottleneck', { inChannels: 64, outChannels: 128, groups: 8, stride: 2 }, 25_856],
  ['GroupedBottleneck', { inChannels: 128, outChannels: 128 }, 26_112],
  ['GroupedBottleneck', { inChannels: 12, outChannels: 12, bottleneckRatio: 0.375, groups: 4 }, 172],
  ['GroupedBottleneck', { inChannels: 8, outChannels: 20, bottleneckRatio: 0.275, groups: 2 }, 594],
  ['MiniGroupNet', {}, 155_210],
  ['MiniGroupNet', { groups: 8 }, 132_170],
  ['MiniGroupNet', { inChannels: 1, numClasses: 100, groups: 16 }, 142_628],
  ['GlobalDepthwiseConv', { channels: 512, size: 7 }, 26_112],
  ['ResNetBottleneck', { inChannels: 256, width: 64 }, 70_400],
];

describe('parameter counts equal PyTorch’s', () => {
  it.each(PYTORCH_PARAMETER_COUNTS.map(([name, options, count]) => [`${name}(${JSON.stringify(options)})`, name, options, count] as const))(
    '%s',
    (_label, name, options, count) => {
      expect(buildModel(name, options).parameterCount()).toBe(count);
    },
  );

  it('and every configuration in the fixtures’ cases.json', () => {
    for (const entry of zooCases.parameter_counts) expect(buildModel(entry.model, entry.options).parameterCount()).toBe(entry.parameter_count);
  });

  it('ResNet versus ResNeXt: 69,632 versus 70,144 convolution weights, as in the seed', () => {
    const convWeights = (m: models.ZooModel) =>
      m.namedParameters().filter(([, t]) => t.shape.length === 4).reduce((sum, [, t]) => sum + numel(t.shape), 0);
    expect(convWeights(new models.ResNetBottleneck({ inChannels: 256, width: 64 }))).toBe(69_632);
    expect(convWeights(new models.ResNeXtBlock({ inChannels: 256 }))).toBe(70_144);
  });

  it('GroupedBottleneck rounds the hidden width as Python does (12 x 0.375 = 4.5 -> 4)', () => {
    expect(new models.GroupedBottleneck({ inChannels: 12, outChannels: 12, bottleneckRatio: 0.375, groups: 4 }).hidden).toBe(4);
    expect(new models.GroupedBottleneck({ inChannels: 12, outChannels: 20, bottleneckRatio: 0.125, groups: 2 }).hidden).toBe(2);
    expect(new models.GroupedBottleneck({ inChannels: 12, outChannels: 12, bottleneckRatio: 0.125, groups: 2 }).hidden).toBe(2);
  });
});

describe('state_dict', () => {
  const c = zooCases.models.find((m) => m.id === 'grouped_bottleneck_s2')!;

  it('uses PyTorch’s names', () => {
    expect(Object.keys(new models.MiniGroupNet().stateDict())).toContain('stage1.reduce.1.running_mean');
    expect(Object.keys(new models.MiniGroupNet().stateDict())).toContain('stem.0.weight');
    expect(Object.keys(new models.MiniGroupNet().stateDict())).toContain('fc.bias');
    expect(Object.keys(new models.ResNeXtBlock({ inChannels: 64 }).stateDict())).toContain('conv.3.weight');
    expect(Object.keys(new models.ShuffleBlock({ inChannels: 64, outChannels: 64 }).stateDict())).toEqual(
      expect.arrayContaining(['gconv1.weight', 'bn3.running_var', 'dwconv.weight']),
    );
  });

  it('loads a PyTorch checkpoint with num_batches_tracked (I64) and ignores those', () => {
    const state = caseState(c);
    expect(Object.keys(state).filter((k) => k.endsWith('num_batches_tracked')).length).toBeGreaterThan(0);
    const model = buildModel(c.model, c.options);
    model.loadStateDict(state);
    expect(model.stateDict()['reduce.1.running_var'].data).toEqual(state['reduce.1.running_var'].data);
  });

  it('round-trips through safetensors bytes: same tensors, same output', () => {
    const model = buildModel(c.model, c.options);
    model.loadStateDict(caseState(c));
    const copy = buildModel(c.model, c.options);
    copy.loadStateDict(parseSafetensors(serializeSafetensors(model.stateDict())));
    const { input } = caseIO(c);
    expect(copy.forward(input).data).toEqual(model.forward(input).data);
  });

  const failsCleanly = (mutate: (state: Record<string, Tensor>) => void, message: RegExp) => {
    const model = buildModel(c.model, c.options);
    const before = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, t.data.slice()]));
    const state = caseState(c);
    mutate(state);
    expect(() => model.loadStateDict(state)).toThrow(ArgumentError);
    expect(() => model.loadStateDict(state)).toThrow(message);
    // Nothing was half-loaded.
    for (const [k, t] of Object.entries(model.stateDict())) expect(t.data).toEqual(before[k]);
  };

  it('names a missing key', () => failsCleanly((s) => delete s['skip.1.running_mean'], /missing: skip\.1\.running_mean/));
  it('names an unexpected key', () => failsCleanly((s) => (s['skip.2.weight'] = s['skip.1.weight']), /unexpected: skip\.2\.weight/));
  it('names a mis-shaped tensor', () =>
    failsCleanly((s) => (s['group_conv.0.weight'] = { shape: [32, 8, 3, 3], data: new Float32Array(32 * 8 * 9) }), /group_conv\.0\.weight.*\[32, 4, 3, 3\]/));
  it('rejects a key in the wrong model (a ResNeXt checkpoint in a ResNet block)', () => {
    const resnext = new models.ResNeXtBlock({ inChannels: 64, cardinality: 8, bottleneckWidth: 2 });
    expect(() => new models.ResNetBottleneck({ inChannels: 64, width: 16 }).loadStateDict(resnext.stateDict())).toThrow(/conv\.3\.weight/);
  });
});

describe('initialisation', () => {
  it('as PyTorch’s defaults: BatchNorm weight 1, bias 0, mean 0, var 1; conv weights within 1/sqrt(fanIn)', () => {
    const block = new models.GroupedBottleneck({ inChannels: 64, outChannels: 128, groups: 8, stride: 2 });
    const state = block.stateDict();
    expect([...state['reduce.1.weight'].data].every((v) => v === 1)).toBe(true);
    expect([...state['reduce.1.bias'].data].every((v) => v === 0)).toBe(true);
    expect([...state['reduce.1.running_mean'].data].every((v) => v === 0)).toBe(true);
    expect([...state['reduce.1.running_var'].data].every((v) => v === 1)).toBe(true);
    const w = state['group_conv.0.weight'];
    const bound = 1 / Math.sqrt(w.shape[1] * 9);
    expect(Math.max(...w.data.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.data.map(Math.abs))).toBeGreaterThan(0.9 * bound);
  });

  it('the same seed builds the same weights, another seed different ones', () => {
    const a = new models.MiniGroupNet({ seed: 5 }).stateDict();
    const b = new models.MiniGroupNet({ seed: 5 }).stateDict();
    const other = new models.MiniGroupNet({ seed: 6 }).stateDict();
    for (const key of Object.keys(a)) expect(b[key].data).toEqual(a[key].data);
    expect(other['stage2.group_conv.0.weight'].data).not.toEqual(a['stage2.group_conv.0.weight'].data);
  });
});

describe('bad options and inputs fail clearly', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['unknown option', () => new models.ResNeXtBlock({ inChannels: 64, groups: 4 } as never), /unknown option 'groups'/],
    ['missing inChannels', () => new models.ResNeXtBlock({} as never), /requires the option 'inChannels'/],
    ['no options at all', () => new models.DepthwiseSeparableConv(undefined as never), /expects an options object/],
    ['fractional channels', () => new models.ResNetBottleneck({ inChannels: 64.5, width: 16 }), /inChannels: must be a positive integer/],
    ['ShuffleBlock with a residual of mismatched width', () => new models.ShuffleBlock({ inChannels: 64, outChannels: 128 }), /outChannels: the residual add/],
    ['ShuffleBlock groups not dividing outChannels / 4', () => new models.ShuffleBlock({ inChannels: 48, outChannels: 48, groups: 8 }), /groups: the bottleneck width/],
    ['GroupedBottleneck groups not dividing the hidden width', () => new models.GroupedBottleneck({ inChannels: 64, outChannels: 128, groups: 3 }), /groups: the hidden width .* = 64/],
    ['GroupedBottleneck ratio rounding to zero', () => new models.GroupedBottleneck({ inChannels: 8, outChannels: 8, bottleneckRatio: 0.05, groups: 1 }), /bottleneckRatio/],
    ['GlobalDepthwiseConv bad size', () => new models.GlobalDepthwiseConv({ channels: 8, size: [7] as never }), /size/],
    ['MiniGroupNet groups not dividing 64', () => new models.MiniGroupNet({ groups: 5 }), /groups/],
  ];
  it.each(cases)('%s', (_label, build, message) => {
    expect(build).toThrow(ArgumentError);
    expect(build).toThrow(message);
  });

  it('an input with the wrong channel count names the model and the shape', () => {
    const block = new models.ResNeXtBlock({ inChannels: 64, cardinality: 8 });
    expect(() => block.forward(seededTensor(1, [1, 32, 4, 4]))).toThrow(/x\.shape: ResNeXtBlock expects \[N, 64, H, W\], got \[1, 32, 4, 4\]/);
  });

  it('forwardWith rejects something that is not a runner, and a bad input, before running', async () => {
    const block = new models.DepthwiseSeparableConv({ inChannels: 4, outChannels: 8 });
    await expect(block.forwardWith({} as never, seededTensor(1, [1, 4, 5, 5]))).rejects.toThrow(/runner/);
    await expect(block.forwardWith({ conv2d: () => Promise.reject(new Error('must not be called')) }, seededTensor(1, [1, 3, 5, 5]))).rejects.toThrow(
      /x\.shape/,
    );
  });
});

describe('GlobalDepthwiseConv computes a learned weighted average per channel', () => {
  it('matches sum(w * x) per channel followed by BatchNorm, computed independently', () => {
    const gdc = new models.GlobalDepthwiseConv({ channels: 6, size: [3, 4], seed: 9 });
    const state = gdc.stateDict();
    const r = new Random(3);
    for (const key of ['bn.weight', 'bn.bias', 'bn.running_mean']) state[key].data.forEach((_, i, a) => (a[i] = r.normal()));
    state['bn.running_var'].data.forEach((_, i, a) => (a[i] = r.uniform(0.1, 1.1)));
    const x = seededTensor(11, [2, 6, 3, 4]);
    const y = gdc.forward(x);
    expect(y.shape).toEqual([2, 6, 1, 1]);
    for (let n = 0; n < 2; n++) {
      for (let ch = 0; ch < 6; ch++) {
        let sum = 0;
        for (let i = 0; i < 12; i++) sum += state['conv.weight'].data[ch * 12 + i] * x.data[(n * 6 + ch) * 12 + i];
        const bn = ((sum - state['bn.running_mean'].data[ch]) / Math.sqrt(state['bn.running_var'].data[ch] + 1e-5)) * state['bn.weight'].data[ch] + state['bn.bias'].data[ch];
        expect(y.data[n * 6 + ch]).toBeCloseTo(bn, 5);
      }
    }
  });
});
