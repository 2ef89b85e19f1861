// One test per argument rule of torch.nn.functional.conv2d: each must throw an
// ArgumentError naming the argument and quoting the offending values.
import { describe, expect, it } from 'vitest';
import { ArgumentError, conv2d, type Conv2dOptions, type Tensor } from '../src/index.js';

const t = (shape: number[]): Tensor => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

function expectArgumentError(run: () => unknown, argument: string, ...fragments: (string | RegExp)[]): void {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ArgumentError);
  const error = caught as ArgumentError;
  expect(error.argument).toBe(argument);
  expect(error.message.startsWith(`${argument}: `)).toBe(true);
  for (const f of fragments) expect(error.message).toMatch(f);
}

const x = t([1, 4, 8, 8]);
const w = t([4, 4, 3, 3]);
const opts = (o: Conv2dOptions) => () => conv2d(x, w, null, o);

describe('conv2d argument errors', () => {
  it('input channels not divisible by groups', () => {
    expectArgumentError(() => conv2d(t([1, 5, 8, 8]), t([4, 2, 3, 3]), null, { groups: 2 }), 'input.shape[1] (input channels)', '5 channels', 'groups=2');
  });

  it('output channels not divisible by groups', () => {
    expectArgumentError(() => conv2d(t([1, 6, 8, 8]), t([5, 3, 3, 3]), null, { groups: 2 }), 'weight.shape[0] (output channels)', '5 channels', 'groups=2');
  });

  it("weight's second dimension not Cin/groups", () => {
    expectArgumentError(() => conv2d(t([1, 6, 8, 8]), t([4, 2, 3, 3]), null, { groups: 2 }), 'weight.shape', '[4, 2, 3, 3]', '4 channels', 'has 6');
  });

  it('groups not a positive integer', () => {
    for (const groups of [0, -1, 1.5, Number.NaN, '2' as unknown as number]) {
      expectArgumentError(opts({ groups }), 'groups', 'positive integer');
    }
  });

  it('stride not positive', () => {
    expectArgumentError(opts({ stride: 0 }), 'stride', 'positive integer', '0');
    expectArgumentError(opts({ stride: [1, 0] }), 'stride', '[1, 0]');
    expectArgumentError(opts({ stride: -2 }), 'stride', '-2');
    expectArgumentError(opts({ stride: 1.5 }), 'stride', '1.5');
    expectArgumentError(opts({ stride: [1, 2, 3] as unknown as [number, number] }), 'stride', 'pair');
  });

  it('dilation not positive', () => {
    expectArgumentError(opts({ dilation: 0 }), 'dilation', 'positive integer');
    expectArgumentError(opts({ dilation: [2, -1] }), 'dilation', '[2, -1]');
  });

  it('negative padding', () => {
    expectArgumentError(opts({ padding: -1 }), 'padding', 'non-negative', '-1');
    expectArgumentError(opts({ padding: [0, -2] }), 'padding', '[0, -2]');
    expectArgumentError(opts({ padding: 'full' as 'same' }), 'padding', "'full'", "'same'");
  });

  it('bias length not Cout', () => {
    expectArgumentError(() => conv2d(x, w, t([3])), 'bias.shape', '4 values', '[3]');
    expectArgumentError(() => conv2d(x, w, t([4, 1])), 'bias.shape', '[4, 1]');
  });

  it("'same' with stride > 1", () => {
    expectArgumentError(opts({ padding: 'same', stride: 2 }), 'padding', "'same'", 'stride [2, 2]');
    expectArgumentError(opts({ padding: 'same', stride: [1, 3] }), 'padding', 'stride [1, 3]');
  });

  it('a dilated kernel larger than the padded input', () => {
    expectArgumentError(() => conv2d(t([1, 2, 4, 4]), t([2, 2, 7, 7]), null, { padding: 1 }), 'weight.shape', '7 x 7', '6 x 6');
    expectArgumentError(() => conv2d(t([1, 2, 4, 4]), t([2, 2, 3, 3]), null, { dilation: 3 }), 'weight.shape', '7 x 7', '4 x 4');
  });

  it('wrong ranks', () => {
    expectArgumentError(() => conv2d(t([4, 8, 8, 1, 1]), w), 'input.shape', 'rank 3 or 4');
    expectArgumentError(() => conv2d(t([8, 8]), w), 'input.shape', 'rank 2');
    expectArgumentError(() => conv2d(x, t([4, 4, 9])), 'weight.shape', 'rank 4');
  });

  it('shape values that are not non-negative integers', () => {
    expectArgumentError(() => conv2d({ shape: [1, 4, 8, -8], data: new Float32Array(0) }, w), 'input.shape', '-8');
    expectArgumentError(() => conv2d(x, { shape: [4, 4, 3, 2.5], data: new Float32Array(120) }), 'weight.shape', '2.5');
  });

  it('data length not matching the shape', () => {
    expectArgumentError(() => conv2d({ shape: [1, 4, 8, 8], data: new Float32Array(255) }, w), 'input.data', '256', '255');
    expectArgumentError(() => conv2d(x, w, { shape: [4], data: new Float32Array(5) }), 'bias.data', '4', '5');
  });

  it('not a tensor, or not float32', () => {
    expectArgumentError(() => conv2d(null as unknown as Tensor, w), 'input', 'null');
    expectArgumentError(() => conv2d({ shape: [1, 4, 8, 8], data: new Float64Array(256) as unknown as Float32Array }, w), 'input.data', 'Float64Array');
  });

  it('unknown options are refused rather than ignored', () => {
    expectArgumentError(opts({ group: 2 } as Conv2dOptions), 'options', "'group'");
  });
});

describe('accepted forms', () => {
  it('unbatched [C, H, W] input gives an unbatched output equal to the batched one', () => {
    const input = t([4, 8, 8]);
    input.data.forEach((_, i) => (input.data[i] = Math.sin(i)));
    const weight = t([6, 2, 3, 3]);
    weight.data.forEach((_, i) => (weight.data[i] = Math.cos(i)));
    const unbatched = conv2d(input, weight, null, { groups: 2, padding: 1 });
    const batched = conv2d({ shape: [1, 4, 8, 8], data: input.data }, weight, null, { groups: 2, padding: 1 });
    expect(unbatched.shape).toEqual([6, 8, 8]);
    expect(unbatched.data).toEqual(batched.data);
  });

  it('an empty batch gives an empty output', () => {
    expect(conv2d(t([0, 4, 8, 8]), w).shape).toEqual([0, 4, 6, 6]);
  });
});
