// LocalResponseNorm, MaxPool2d and Linear against PyTorch 1.13 (fixture made by
// test/fixtures/alexnet/make_fixture.py), and the channel-range LRN the device
// split relies on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Linear, LocalResponseNorm, MaxPool2d, linear, loadSafetensors, localResponseNorm, maxPool2d, ArgumentError } from '../src/index.js';
import { localResponseNormChannels } from '../src/ops/normalization.js';
import { expectClose } from './support/tolerance.js';

const fixture = join(import.meta.dirname, 'fixtures', 'layers', 'layers.safetensors');
const tensors = loadSafetensors(fixture);

/** The case list the fixture script stored in the file's __metadata__. */
function casesOf(path: string): any[] {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')).__metadata__.cases);
}
const cases = casesOf(fixture);

const pair = (v: number | number[] | undefined) => (v === undefined ? undefined : typeof v === 'number' ? v : ([v[0], v[1]] as [number, number]));

describe('LocalResponseNorm matches torch.nn.LocalResponseNorm', () => {
  it.each(cases.filter((c) => c.op === 'lrn'))('$id: size $size, alpha $alpha, beta $beta, k $k', (c) => {
    const x = tensors[`${c.id}.input`];
    const layer = new LocalResponseNorm(c.size, c.alpha, c.beta, c.k);
    const y = layer.forward(x);
    expect(y.shape).toEqual(x.shape);
    expectClose(y.data, tensors[`${c.id}.output`].data, { atol: 1e-6, rtol: 1e-5 }, c.id);
  });

  it('on a channel range, with its neighbours supplied, equals that range of the whole result bit for bit', () => {
    const x = tensors['lrn0.input']; // [2, 7, 4, 5]
    const options = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 };
    const whole = localResponseNorm(x, options);
    const [N, C, H, W] = x.shape;
    const plane = H * W;
    for (const [start, end] of [[0, 3], [3, 7], [2, 5], [6, 7]]) {
      const out = { shape: [N, end - start, H, W], data: new Float32Array(N * (end - start) * plane) };
      localResponseNormChannels(x, options, start, end, out, 0);
      for (let n = 0; n < N; n++) {
        const expected = whole.data.subarray((n * C + start) * plane, (n * C + end) * plane);
        expect(out.data.subarray(n * (end - start) * plane, (n + 1) * (end - start) * plane)).toEqual(expected);
      }
    }
  });

  it('rejects a bad size', () => {
    expect(() => new LocalResponseNorm(0)).toThrow(ArgumentError);
    expect(() => localResponseNorm(tensors['lrn0.input'], { size: 2.5 })).toThrow(/size/);
  });
});

describe('MaxPool2d matches torch.nn.MaxPool2d', () => {
  it.each(cases.filter((c) => c.op === 'maxpool'))('$id: kernel $kernel_size stride $stride padding $padding dilation $dilation ceil $ceil_mode', (c) => {
    const x = tensors[`${c.id}.input`];
    const expected = tensors[`${c.id}.output`];
    const layer = new MaxPool2d({
      kernelSize: pair(c.kernel_size)!,
      stride: pair(c.stride),
      padding: pair(c.padding),
      dilation: pair(c.dilation),
      ceilMode: c.ceil_mode,
    });
    const y = layer.forward(x);
    expect(y.shape).toEqual(expected.shape);
    // A maximum is one of the inputs: exact.
    expect(y.data).toEqual(expected.data);
  });

  it('propagates NaN and rejects padding over half the kernel', () => {
    const x = { shape: [1, 1, 2, 2], data: Float32Array.from([1, NaN, 3, 2]) };
    expect(Number.isNaN(maxPool2d(x, { kernelSize: 2 }).data[0])).toBe(true);
    expect(() => maxPool2d(x, { kernelSize: 2, padding: 2 })).toThrow(/padding/);
  });
});

describe('Linear matches torch.nn.Linear', () => {
  it.each(cases.filter((c) => c.op === 'linear'))('$id (bias $bias)', (c) => {
    const x = tensors[`${c.id}.input`];
    const weight = tensors[`${c.id}.weight`];
    const [outFeatures, inFeatures] = weight.shape;
    const layer = new Linear({ inFeatures, outFeatures, bias: c.bias });
    const state: Record<string, typeof weight> = { weight };
    if (c.bias) state.bias = tensors[`${c.id}.bias`];
    layer.loadStateDict(state);
    const y = layer.forward(x);
    expect(y.shape).toEqual(tensors[`${c.id}.output`].shape);
    expectClose(y.data, tensors[`${c.id}.output`].data, { atol: 1e-5, rtol: 1e-5 }, c.id);
  });

  it('initialises as PyTorch does: U(-1/sqrt(in), 1/sqrt(in)), and rejects a wrong input width', () => {
    const layer = new Linear({ inFeatures: 400, outFeatures: 50, seed: 3 });
    const bound = 1 / Math.sqrt(400);
    const w = layer.weight.data;
    expect(Math.max(...w)).toBeLessThan(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...w)).toBeGreaterThan(0.95 * bound);
    expect(() => linear({ shape: [2, 3], data: new Float32Array(6) }, layer.weight)).toThrow(/last dimension must be 400/);
  });
});
