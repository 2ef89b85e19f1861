// The Conv2d layer: the parameter figures of the seed material, shapes and
// FLOPs, its initialisation, and its output against independent references.
import { describe, expect, it } from 'vitest';
import { ArgumentError, Conv2d, conv2d, numel, referenceConv2d, Sequential, type Tensor } from '../src/index.js';
import { seededTensor } from './support/tensors.js';
import { expectTensorClose } from './support/tolerance.js';

const conv = (inChannels: number, outChannels: number, kernelSize: number, options: Partial<ConstructorParameters<typeof Conv2d>[0]> = {}) =>
  new Conv2d({ inChannels, outChannels, kernelSize, bias: false, ...options });

describe('parameter counts from the seeds', () => {
  it.each([
    [1, 73_728],
    [2, 36_864],
    [4, 18_432],
    [8, 9_216],
    [16, 4_608],
    [32, 2_304],
    [64, 1_152],
  ])('Conv2d(64, 128, 3, groups=%i, bias=False): %i', (groups, count) => {
    const layer = conv(64, 128, 3, { padding: 1, groups });
    expect(layer.parameterCount()).toBe(count);
    expect(layer.weight.shape).toEqual([128, 64 / groups, 3, 3]);
  });

  it('Conv2d(64, 64, 3, groups=64), depthwise: 576, weight [64, 1, 3, 3]', () => {
    const layer = conv(64, 64, 3, { padding: 1, groups: 64 });
    expect(layer.parameterCount()).toBe(576);
    expect(layer.weight.shape).toEqual([64, 1, 3, 3]);
  });

  it.each([
    [1, 589_824],
    [2, 294_912],
    [4, 147_456],
    [32, 18_432],
    [256, 2_304],
  ])('Conv2d(256, 256, 3, groups=%i): %i', (groups, count) => {
    expect(conv(256, 256, 3, { padding: 1, groups }).parameterCount()).toBe(count);
  });

  it('AlexNet conv2, 96 -> 256, 5x5: 614,400 with groups 1; 307,200 with groups 2, 153,600 per group', () => {
    expect(conv(96, 256, 5, { padding: 2 }).parameterCount()).toBe(614_400);
    const grouped = conv(96, 256, 5, { padding: 2, groups: 2 });
    expect(grouped.parameterCount()).toBe(307_200);
    // One group's filters: the first 128 output channels.
    expect(numel(grouped.weight.shape) / 2).toBe(153_600);
    expect(grouped.weight.shape).toEqual([256, 48, 5, 5]);
  });

  it('Conv2d(4, 8, 3) with bias: weight [8, 4, 3, 3], 288 weights + 8 bias; groups 2: weight [8, 2, 3, 3], 144 weights', () => {
    const plain = new Conv2d({ inChannels: 4, outChannels: 8, kernelSize: 3 });
    expect(plain.weight.shape).toEqual([8, 4, 3, 3]);
    expect(numel(plain.weight.shape)).toBe(288);
    expect(plain.bias!.shape).toEqual([8]);
    expect(plain.parameterCount()).toBe(296);
    const grouped = new Conv2d({ inChannels: 4, outChannels: 8, kernelSize: 3, groups: 2 });
    expect(grouped.weight.shape).toEqual([8, 2, 3, 3]);
    expect(numel(grouped.weight.shape)).toBe(144);
    expect(grouped.parameterCount()).toBe(152);
    expect(Object.keys(grouped.stateDict())).toEqual(['weight', 'bias']);
  });

  it('Conv2d(3, 9, 3, groups=3): weight [9, 1, 3, 3]', () => {
    expect(new Conv2d({ inChannels: 3, outChannels: 9, kernelSize: 3, groups: 3 }).weight.shape).toEqual([9, 1, 3, 3]);
  });

  it('ResNet bottleneck 256 -> 64 -> 64 -> 256 (1x1, 3x3, 1x1, no bias): 69,632', () => {
    const block = new Sequential(conv(256, 64, 1), conv(64, 64, 3, { padding: 1 }), conv(64, 256, 1));
    expect(block.parameterCount()).toBe(69_632);
    expect(Object.keys(block.stateDict())).toEqual(['0.weight', '1.weight', '2.weight']);
  });

  it('ResNeXt 32x4d block 256 -> 128 -> 128 (3x3, groups 32) -> 256: 70,144', () => {
    const block = new Sequential(conv(256, 128, 1), conv(128, 128, 3, { padding: 1, groups: 32 }), conv(128, 256, 1));
    expect(block.parameterCount()).toBe(70_144);
  });

  it('rejects the GroupedConvNet example of seed 001 (3 input channels, groups=4) with a clear error', () => {
    const build = () => new Conv2d({ inChannels: 3, outChannels: 64, kernelSize: 3, padding: 1, groups: 4 });
    expect(build).toThrow(ArgumentError);
    expect(build).toThrow(/inChannels: 3 channels are not divisible by groups=4/);
  });

  it('rejects output channels not divisible by groups, and non-positive sizes', () => {
    expect(() => conv(4, 6, 3, { groups: 4 })).toThrow(/outChannels: 6 channels are not divisible by groups=4/);
    expect(() => conv(0, 6, 3)).toThrow(/inChannels: must be a positive integer/);
    expect(() => conv(4, 8, 3, { groups: 0 })).toThrow(/groups: must be a positive integer/);
    expect(() => conv(4, 8, 0)).toThrow(/kernelSize/);
    expect(() => conv(4, 8, 3, { stride: 0 })).toThrow(ArgumentError);
  });
});

describe('outputShape and flops', () => {
  it('AlexNet conv1: 3 -> 96, 11x11, stride 4 on 227x227 -> 55x55', () => {
    const layer = new Conv2d({ inChannels: 3, outChannels: 96, kernelSize: 11, stride: 4 });
    expect(layer.outputShape([1, 3, 227, 227])).toEqual([1, 96, 55, 55]);
    // 2 x (96 x 55 x 55 outputs x 3 x 11 x 11 multiply-adds)
    expect(layer.flops([1, 3, 227, 227])).toBe(2 * 96 * 55 * 55 * 363);
  });

  it('AlexNet conv2 on [1, 96, 27, 27], padding 2: groups halve the FLOPs (895,795,200 -> 447,897,600)', () => {
    const dense = conv(96, 256, 5, { padding: 2 });
    const grouped = conv(96, 256, 5, { padding: 2, groups: 2 });
    expect(dense.outputShape([1, 96, 27, 27])).toEqual([1, 256, 27, 27]);
    expect(grouped.outputShape([1, 96, 27, 27])).toEqual([1, 256, 27, 27]);
    expect(dense.flops([1, 96, 27, 27])).toBe(895_795_200);
    expect(grouped.flops([1, 96, 27, 27])).toBe(447_897_600);
  });

  it('stride, dilation and asymmetric padding; the batch scales FLOPs', () => {
    const layer = new Conv2d({ inChannels: 8, outChannels: 16, kernelSize: [3, 5], stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 4 });
    // H: floor((20 + 2 - 2 - 1) / 2) + 1 = 10; W: floor((15 + 4 - 8 - 1) / 1) + 1 = 11
    expect(layer.outputShape([3, 8, 20, 15])).toEqual([3, 16, 10, 11]);
    expect(layer.flops([3, 8, 20, 15])).toBe(2 * 3 * 16 * 10 * 11 * 2 * 15);
    expect(layer.forward(seededTensor(1, [3, 8, 20, 15])).shape).toEqual([3, 16, 10, 11]);
  });

  it("padding 'same' keeps the size; a wrong input is rejected naming the shape", () => {
    const layer = conv(4, 8, 4, { padding: 'same' });
    expect(layer.outputShape([1, 4, 9, 7])).toEqual([1, 8, 9, 7]);
    expect(() => layer.outputShape([1, 5, 9, 7])).toThrow(ArgumentError);
  });
});

describe('initialisation', () => {
  it('weights and bias uniform within 1/sqrt(fanIn), fanIn = Cin/groups x kH x kW', () => {
    const layer = new Conv2d({ inChannels: 32, outChannels: 64, kernelSize: 3, groups: 4, seed: 3 });
    const bound = 1 / Math.sqrt(8 * 9);
    const weights = [...layer.weight.data];
    expect(Math.max(...weights.map(Math.abs))).toBeLessThanOrEqual(bound);
    // Uniform over the whole range: close to the bound at both ends, mean near zero.
    expect(Math.max(...weights)).toBeGreaterThan(0.98 * bound);
    expect(Math.min(...weights)).toBeLessThan(-0.98 * bound);
    expect(Math.abs(weights.reduce((a, b) => a + b, 0) / weights.length)).toBeLessThan(0.05 * bound);
    expect(Math.max(...[...layer.bias!.data].map(Math.abs))).toBeLessThanOrEqual(bound);
  });

  it('same seed, same weights; another seed, other weights', () => {
    const options = { inChannels: 8, outChannels: 8, kernelSize: 3, groups: 2 };
    const a = new Conv2d({ ...options, seed: 42 });
    const b = new Conv2d({ ...options, seed: 42 });
    const c = new Conv2d({ ...options, seed: 43 });
    expect(b.weight.data).toEqual(a.weight.data);
    expect(b.bias!.data).toEqual(a.bias!.data);
    expect(c.weight.data).not.toEqual(a.weight.data);
  });
});

// Direct six-loop grouped convolution (stride 1, no padding), written
// independently of the library for the checks below.
function naiveGroupedConv(x: Tensor, w: Tensor, bias: Tensor | null, groups: number): Tensor {
  const [N, Cin, H, W] = x.shape;
  const [Cout, CinG, kH, kW] = w.shape;
  const Ho = H - kH + 1;
  const Wo = W - kW + 1;
  const out = new Float32Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Cout; co++) {
      const g = Math.floor(co / (Cout / groups));
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          let sum = bias ? bias.data[co] : 0;
          for (let ci = 0; ci < CinG; ci++)
            for (let ky = 0; ky < kH; ky++)
              for (let kx = 0; kx < kW; kx++) {
                sum += w.data[((co * CinG + ci) * kH + ky) * kW + kx] * x.data[((n * Cin + g * CinG + ci) * H + oy + ky) * W + ox + kx];
              }
          out[((n * Cout + co) * Ho + oy) * Wo + ox] = sum;
        }
    }
  return { shape: [N, Cout, Ho, Wo], data: out };
}

/** Every output within 1e-5 of the reference's: far below a wrong or missing term with these unit-scale values. */
const expectNear = (got: Tensor, expected: Tensor) => expectTensorClose(got, expected, { atol: 1e-5, rtol: 0 });

describe('forward', () => {
  it('depthwise with channel multiplier 3 (Conv2d(4, 12, 3, groups=4)) equals referenceConv2d and a naive loop', () => {
    const layer = new Conv2d({ inChannels: 4, outChannels: 12, kernelSize: 3, groups: 4, seed: 7 });
    const x = seededTensor(8, [2, 4, 7, 6]);
    const y = layer.forward(x);
    expectNear(y, referenceConv2d(x, layer.weight, layer.bias, { groups: 4 }));
    expectNear(y, naiveGroupedConv(x, layer.weight, layer.bias, 4));
    // Output channels 3..5 read only input channel 1, channels 6..8 only input channel 2: change channel 2.
    const x2 = { shape: x.shape, data: x.data.slice() };
    for (let n = 0; n < 2; n++) for (let i = 0; i < 42; i++) x2.data[(n * 4 + 2) * 42 + i] += 1;
    const y2 = layer.forward(x2);
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < 3 * 20; i++) expect(y2.data[(n * 12 + 3) * 20 + i]).toBe(y.data[(n * 12 + 3) * 20 + i]);
      for (let i = 0; i < 3 * 20; i++) expect(y2.data[(n * 12 + 6) * 20 + i]).not.toBe(y.data[(n * 12 + 6) * 20 + i]);
    }
  });

  it('grouped pointwise (Conv2d(16, 8, 1, groups=4)) equals referenceConv2d and a naive loop', () => {
    const layer = new Conv2d({ inChannels: 16, outChannels: 8, kernelSize: 1, groups: 4, seed: 9 });
    const x = seededTensor(10, [3, 16, 5, 5]);
    const y = layer.forward(x);
    expectNear(y, referenceConv2d(x, layer.weight, layer.bias, { groups: 4 }));
    expectNear(y, naiveGroupedConv(x, layer.weight, layer.bias, 4));
  });

  it('with padding and stride equals referenceConv2d with the same options', () => {
    const layer = new Conv2d({ inChannels: 6, outChannels: 9, kernelSize: 3, stride: 2, padding: 1, groups: 3, seed: 11 });
    const x = seededTensor(12, [2, 6, 9, 8]);
    expectNear(layer.forward(x), referenceConv2d(x, layer.weight, layer.bias, { stride: 2, padding: 1, groups: 3 }));
  });

  it('forwardWith hands the runner its weight, bias and options', async () => {
    const layer = new Conv2d({ inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1, groups: 2, seed: 1 });
    const x = seededTensor(2, [1, 4, 5, 5]);
    const seen: unknown[] = [];
    const y = await layer.forwardWith(
      {
        conv2d: (input, weight, bias, options) => {
          seen.push(input, weight, bias, options.groups, options.padding);
          return conv2d(input, weight, bias, options);
        },
      },
      x,
    );
    expect(seen).toEqual([x, layer.weight, layer.bias, 2, 1]);
    expect(y.data).toEqual(layer.forward(x).data);
  });
});
