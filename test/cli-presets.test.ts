import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../src/errors.js';
import { PRESETS, describeLayer, findPreset, layerFlops, layerGeometry, weightShape } from '../src/cli/presets.js';

// FLOPs per image (2 x multiply-accumulates), from Cout * Ho * Wo * (Cin / groups) * kH * kW:
// the AlexNet figures are the paper's 105M / 224M / 150M / 112M / 75M MACs.
const EXPECTED: Record<string, { groups: number; out: number; flops: number; weight: number[] }> = {
  'alexnet-conv1': { groups: 1, out: 55, flops: 2 * 96 * 55 * 55 * 3 * 11 * 11, weight: [96, 3, 11, 11] },
  'alexnet-conv2': { groups: 2, out: 27, flops: 447_897_600, weight: [256, 48, 5, 5] },
  'alexnet-conv3': { groups: 1, out: 13, flops: 299_040_768, weight: [384, 256, 3, 3] },
  'alexnet-conv4': { groups: 2, out: 13, flops: 224_280_576, weight: [384, 192, 3, 3] },
  'alexnet-conv5': { groups: 2, out: 13, flops: 149_520_384, weight: [256, 192, 3, 3] },
  'resnext-conv': { groups: 32, out: 56, flops: 28_901_376, weight: [128, 4, 3, 3] },
  depthwise: { groups: 256, out: 28, flops: 3_612_672, weight: [256, 1, 3, 3] },
  'shufflenet-pw': { groups: 8, out: 28, flops: 11_289_600, weight: [240, 30, 1, 1] },
  dense: { groups: 1, out: 28, flops: 924_844_032, weight: [256, 256, 3, 3] },
};

describe('layer presets', () => {
  it('has exactly the documented presets', () => {
    expect(PRESETS.map((p) => p.name)).toEqual(Object.keys(EXPECTED));
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`${name}: shape and FLOPs`, () => {
      const layer = findPreset(name)!;
      expect(layer.groups).toBe(expected.groups);
      expect(layer.batch).toBe(8);
      expect(weightShape(layer, layer.groups)).toEqual(expected.weight);
      const g = layerGeometry(layer, layer.groups, 1);
      expect([g.outHeight, g.outWidth]).toEqual([expected.out, expected.out]);
      expect(layerFlops(layer, layer.groups, 1)).toBe(expected.flops);
      // FLOPs are linear in the batch.
      expect(layerFlops(layer, layer.groups, 8)).toBe(8 * expected.flops);
    });
  }

  it('AlexNet conv2 without the split costs twice the FLOPs', () => {
    const conv2 = findPreset('alexnet-conv2')!;
    expect(layerFlops(conv2, 1, 8)).toBe(2 * layerFlops(conv2, 2, 8));
    expect(conv2.defaultGroups).toEqual([1, 2]);
    expect(describeLayer(conv2)).toBe('96 -> 256, 5x5, pad 2, 27x27 -> 27x27');
  });

  it('rejects groups that do not divide the channels, naming the count', () => {
    const conv2 = findPreset('alexnet-conv2')!;
    expect(() => layerGeometry(conv2, 5, 8)).toThrow(ArgumentError);
    expect(() => layerGeometry(conv2, 5, 8)).toThrow('96 input channels are not divisible by groups=5');
    // 96 divides by 96 but 256 does not.
    expect(() => layerGeometry(conv2, 96, 8)).toThrow('256 output channels are not divisible by groups=96');
  });
});
