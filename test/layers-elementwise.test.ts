// The residual add and flatten.
import { describe, expect, it } from 'vitest';
import { add, Flatten, flatten, type Tensor } from '../src/index.js';
import { layerTensors as t } from './support/zoo-fixtures.js';

describe('add (the residual add)', () => {
  it('matches PyTorch’s float32 x + y exactly', () => {
    const got = add(t['add.a'], t['add.b']);
    expect(got.shape).toEqual([2, 3, 4, 4]);
    expect(got.data).toEqual(t['add.expected'].data);
  });

  it('rounds to float32 once, like a float32 add', () => {
    const a = { shape: [1], data: new Float32Array([16777216]) };
    const b = { shape: [1], data: new Float32Array([1]) };
    expect(add(a, b).data[0]).toBe(16777216); // 2^24 + 1 is not a float32
  });

  it('leaves both inputs alone and rejects different shapes, naming b', () => {
    const a = t['add.a'];
    const copy = a.data.slice();
    add(a, t['add.b']);
    expect(a.data).toEqual(copy);
    const c: Tensor = { shape: [2, 3, 4, 2], data: new Float32Array(48) };
    expect(() => add(a, c)).toThrow(/b\.shape: expected shape \[2, 3, 4, 4\], got \[2, 3, 4, 2\]/);
  });
});

describe('flatten', () => {
  const x: Tensor = { shape: [2, 3, 4, 5], data: Float32Array.from({ length: 120 }, (_, i) => i) };

  it('torch.flatten(x, 1): [2, 3, 4, 5] -> [2, 60], row-major order kept', () => {
    const y = flatten(x, 1);
    expect(y.shape).toEqual([2, 60]);
    expect(y.data).toEqual(x.data);
    expect(y.data).not.toBe(x.data);
  });

  it('other start dimensions, and the Flatten layer (default start 1)', () => {
    expect(flatten(x, 0).shape).toEqual([120]);
    expect(flatten(x, 2).shape).toEqual([2, 3, 20]);
    expect(flatten(x, 3).shape).toEqual([2, 3, 4, 5]);
    // Negative dimensions count from the end, as torch.flatten's start_dim.
    expect(flatten(x, -1).shape).toEqual([2, 3, 4, 5]);
    expect(flatten(x, -2).shape).toEqual([2, 3, 20]);
    expect(flatten(x, -4).shape).toEqual([120]);
    expect(flatten(x, -3).data).toEqual(x.data);
    expect(new Flatten().forward(x).shape).toEqual([2, 60]);
  });

  it('rejects a start dimension outside the tensor', () => {
    expect(() => flatten(x, 4)).toThrow(/startDim: dimension out of range \(expected to be in range of \[-4, 3\], but got 4\)/);
    expect(() => flatten(x, -5)).toThrow(/startDim.*got -5/);
    expect(() => flatten(x, 1.5)).toThrow(/startDim/);
  });
});
