// channel_shuffle (function and layer) against the PyTorch golden cases: a pure
// rearrangement, so the match must be exact.
import { describe, expect, it } from 'vitest';
import { ArgumentError, ChannelShuffle, channelShuffle, tensor } from '../src/index.js';
import { readF32, shuffleCases } from './support/golden.js';

describe('channelShuffle against PyTorch', () => {
  const withData = shuffleCases.filter((c) => !c.expect_error);

  it('has the 7 data cases and 1 error case', () => {
    expect(withData.length).toBe(7);
    expect(shuffleCases.filter((c) => c.expect_error).length).toBe(1);
  });

  it.each(withData.map((c) => [c.id, c] as const))('%s (exact)', (_id, c) => {
    const input = { shape: c.input_shape, data: readF32(c.files!.input) };
    const expected = readF32(c.files!.output);
    const got = channelShuffle(input, c.groups);
    expect(got.shape).toEqual(c.output_shape);
    expect(got.data).toEqual(expected);
    if (c.expected_values) expect([...got.data]).toEqual(c.expected_values);
    // The layer does the same, and neither touches its input.
    expect(new ChannelShuffle(c.groups).forward(input).data).toEqual(expected);
    expect(input.data).toEqual(readF32(c.files!.input));
  });

  it.each(shuffleCases.filter((c) => c.expect_error).map((c) => [c.id, c] as const))('%s is rejected', (_id, c) => {
    const input = tensor(new Float32Array(c.input_shape.reduce((a, b) => a * b, 1)), c.input_shape);
    expect(() => channelShuffle(input, c.groups)).toThrow(ArgumentError);
    expect(() => channelShuffle(input, c.groups)).toThrow(/6 channels are not divisible by groups=4/);
    expect(() => new ChannelShuffle(c.groups).forward(input)).toThrow(ArgumentError);
  });
});

describe('channelShuffle arguments', () => {
  const x = tensor([0, 1, 2, 3, 4, 5, 6, 7], [1, 8, 1, 1]);

  it('the seed’s arange(8): G=2 -> [0, 4, 1, 5, 2, 6, 3, 7], G=4 -> [0, 2, 4, 6, 1, 3, 5, 7]', () => {
    expect([...channelShuffle(x, 2).data]).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    expect([...channelShuffle(x, 4).data]).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
  });

  it('shuffling by G then by C/G restores the order', () => {
    expect([...channelShuffle(channelShuffle(x, 2), 4).data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('rejects bad groups and non-4-D input', () => {
    expect(() => channelShuffle(x, 0)).toThrow(/groups: must be a positive integer/);
    expect(() => channelShuffle(x, 1.5)).toThrow(/groups/);
    expect(() => new ChannelShuffle(-2)).toThrow(/groups/);
    expect(() => channelShuffle(tensor([1, 2, 3, 4], [4, 1, 1]), 2)).toThrow(/x\.shape/);
  });
});
