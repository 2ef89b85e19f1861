// ReLU (PyTorch's values bit for bit, special values included) and Identity.
import { describe, expect, it } from 'vitest';
import { Identity, ReLU, relu } from '../src/index.js';
import { layerTensors as t } from './support/zoo-fixtures.js';

describe('ReLU', () => {
  it('matches torch.relu exactly, with 0, -0, +-inf, NaN and subnormals', () => {
    const got = new ReLU().forward(t['relu.input']);
    const expected = t['relu.expected'];
    expect(got.shape).toEqual(expected.shape);
    // Object.is tells -0 from 0 and NaN from everything else.
    for (let i = 0; i < got.data.length; i++) expect(Object.is(got.data[i], expected.data[i]), `element ${i}: ${got.data[i]} vs ${expected.data[i]}`).toBe(true);
  });

  it('NaN stays NaN and -0 stays -0, as in PyTorch', () => {
    const y = relu({ shape: [4], data: new Float32Array([NaN, -0, -3, 3]) });
    expect(Number.isNaN(y.data[0])).toBe(true);
    expect(Object.is(y.data[1], -0)).toBe(true);
    expect([y.data[2], y.data[3]]).toEqual([0, 3]);
  });

  it('returns a new tensor and leaves its input alone', () => {
    const x = { shape: [1, 3], data: new Float32Array([-1, 0, 1]) };
    const y = relu(x);
    expect(y.data).not.toBe(x.data);
    expect([...x.data]).toEqual([-1, 0, 1]);
  });

  it('rejects something that is not a tensor', () => {
    expect(() => relu({ shape: [2], data: [1, 2] } as never)).toThrow(/x\.data/);
  });
});

describe('Identity', () => {
  it('returns its input itself, as nn.Identity does, and has no state', () => {
    const x = { shape: [1, 2], data: new Float32Array([1, 2]) };
    const id = new Identity();
    expect(id.forward(x)).toBe(x);
    expect(id.parameterCount()).toBe(0);
    expect(id.stateDict()).toEqual({});
  });
});
