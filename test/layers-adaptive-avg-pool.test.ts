// AdaptiveAvgPool2d against PyTorch (float64, rounded to float32).
import { describe, expect, it } from 'vitest';
import { AdaptiveAvgPool2d, adaptiveAvgPool2d, type Tensor } from '../src/index.js';
import { expectTensorClose, float32Ulps } from './support/tolerance.js';
import { layerTensors as t } from './support/zoo-fixtures.js';

// A mean of at most 35 float32 values summed in double: one rounding at the end.
const expectClose = (got: Tensor, expected: Tensor) => expectTensorClose(got, expected, float32Ulps(1, 1e-6));

describe('AdaptiveAvgPool2d against PyTorch', () => {
  it('(1, 1) on 7x5: the global average', () => {
    expectClose(new AdaptiveAvgPool2d([1, 1]).forward(t['adaptive_avg_pool_1x1.input']), t['adaptive_avg_pool_1x1.expected']);
    expectClose(new AdaptiveAvgPool2d(1).forward(t['adaptive_avg_pool_1x1.input']), t['adaptive_avg_pool_1x1.expected']);
  });

  it('(3, 2) on 7x5: uneven, overlapping windows', () => {
    expectClose(adaptiveAvgPool2d(t['adaptive_avg_pool_3x2.input'], [3, 2]), t['adaptive_avg_pool_3x2.expected']);
  });

  it('(4, 5) on 3x3: more outputs than inputs', () => {
    expectClose(adaptiveAvgPool2d(t['adaptive_avg_pool_4x5.input'], [4, 5]), t['adaptive_avg_pool_4x5.expected']);
  });
});

describe('AdaptiveAvgPool2d arguments', () => {
  it('(1, 1) of a constant map is the constant; it has no parameters', () => {
    const pool = new AdaptiveAvgPool2d([1, 1]);
    expect(pool.parameterCount()).toBe(0);
    expect([...pool.forward({ shape: [1, 2, 3, 3], data: new Float32Array(18).fill(2.5) }).data]).toEqual([2.5, 2.5]);
  });

  it('rejects a bad output size and non-4-D input', () => {
    const x = { shape: [1, 1, 2, 2], data: new Float32Array(4) };
    expect(() => adaptiveAvgPool2d(x, 0)).toThrow(/outputSize/);
    expect(() => adaptiveAvgPool2d(x, [1, 2, 3] as never)).toThrow(/outputSize/);
    expect(() => adaptiveAvgPool2d({ shape: [2, 2], data: new Float32Array(4) }, 1)).toThrow(/x\.shape/);
  });
});
