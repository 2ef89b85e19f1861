// BatchNorm2d in inference mode against PyTorch (float64, rounded to float32):
// running statistics, affine weight and bias, eps.
import { describe, expect, it } from 'vitest';
import { ArgumentError, BatchNorm2d, batchNorm2d, type Tensor } from '../src/index.js';
import { expectTensorClose, float32Ulps } from './support/tolerance.js';
import { layerTensors as t } from './support/zoo-fixtures.js';

// Each output is (x - mean) * scale + shift, one rounding away from the exact
// value once scale is formed in double precision: allow 2 float32 ulps.
const expectUlps = (got: Tensor, expected: Tensor) => expectTensorClose(got, expected, float32Ulps(2, 2 ** -126));

function loadedLayer(eps?: number, affine = true): BatchNorm2d {
  const bn = new BatchNorm2d(5, { eps, affine });
  const state: Record<string, Tensor> = {
    running_mean: t['batchnorm2d.running_mean'],
    running_var: t['batchnorm2d.running_var'],
    num_batches_tracked: { shape: [], data: new Float32Array([12]) },
  };
  if (affine) Object.assign(state, { weight: t['batchnorm2d.weight'], bias: t['batchnorm2d.bias'] });
  bn.loadStateDict(state);
  return bn;
}

describe('BatchNorm2d against PyTorch', () => {
  it('with affine parameters, eps 1e-5 (variances down to 1e-4)', () => {
    expectUlps(loadedLayer().forward(t['batchnorm2d.input']), t['batchnorm2d.expected']);
  });

  it('without affine parameters', () => {
    const bn = loadedLayer(undefined, false);
    expect(bn.parameterCount()).toBe(0);
    expect(Object.keys(bn.stateDict())).toEqual(['running_mean', 'running_var']);
    expectUlps(bn.forward(t['batchnorm2d.input']), t['batchnorm2d_no_affine.expected']);
  });

  it('with eps 1e-3', () => {
    expectUlps(loadedLayer(1e-3).forward(t['batchnorm2d.input']), t['batchnorm2d_eps_1e-3.expected']);
  });

  it('eps matters here: 1e-3 instead of 1e-5 is far outside the tolerance', () => {
    const wrong = loadedLayer(1e-3).forward(t['batchnorm2d.input']);
    const expected = t['batchnorm2d.expected'];
    const worst = Math.max(...wrong.data.map((v, i) => Math.abs(v - expected.data[i]) / Math.abs(expected.data[i])));
    expect(worst).toBeGreaterThan(1e-3);
  });

  it('the functional form gives the same values', () => {
    const got = batchNorm2d(t['batchnorm2d.input'], {
      runningMean: t['batchnorm2d.running_mean'],
      runningVar: t['batchnorm2d.running_var'],
      weight: t['batchnorm2d.weight'],
      bias: t['batchnorm2d.bias'],
    });
    expect(got.data).toEqual(loadedLayer().forward(t['batchnorm2d.input']).data);
  });
});

describe('BatchNorm2d as a module', () => {
  it('starts as PyTorch’s: weight 1, bias 0, mean 0, var 1, so it is x / sqrt(1 + eps)', () => {
    const bn = new BatchNorm2d(3);
    expect(bn.parameterCount()).toBe(6);
    expect(Object.keys(bn.stateDict())).toEqual(['weight', 'bias', 'running_mean', 'running_var']);
    const x = { shape: [1, 3, 1, 2], data: new Float32Array([1, -2, 3, 4, 0.5, 10]) };
    const y = bn.forward(x);
    for (let i = 0; i < 6; i++) expect(y.data[i]).toBeCloseTo(x.data[i] / Math.sqrt(1 + 1e-5), 6);
  });

  it('rejects a channel count that differs from numFeatures, naming the statistic', () => {
    const bn = new BatchNorm2d(4);
    expect(() => bn.forward({ shape: [1, 3, 2, 2], data: new Float32Array(12) })).toThrow(ArgumentError);
    expect(() => bn.forward({ shape: [1, 3, 2, 2], data: new Float32Array(12) })).toThrow(/runningMean\.shape: expected shape \[3\], got \[4\]/);
    expect(() => bn.forward({ shape: [4, 2], data: new Float32Array(8) })).toThrow(/x\.shape/);
    expect(() => new BatchNorm2d(0)).toThrow(/numFeatures/);
  });
});
