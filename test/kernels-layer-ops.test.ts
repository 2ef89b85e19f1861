// The LRN, max pooling and ReLU kernels (src/kernels/{lrn,max-pool,relu}.ts,
// WebAssembly SIMD) against their JavaScript references in src/ops, through
// both builds, on random shapes and the edge cases: widths that are not a
// multiple of 4, padding, ceil mode, dilation, size-1 windows, even LRN sizes,
// NaN, -0, infinities. And what the device split relies on: a channel range of
// LRN computed from its window has the bits of the whole tensor's.
import { afterEach, describe, expect, it } from 'vitest';
import { Random, localResponseNorm, maxPool2d, relu, type Tensor } from '../src/index.js';
import { lrnKernel } from '../src/kernels/lrn.js';
import { maxPoolKernel, maxPoolKernelFor } from '../src/kernels/max-pool.js';
import { reluKernel } from '../src/kernels/relu.js';
import { configureKernels, resetKernelOptions } from '../src/kernels/options.js';
import { hasWasmRelaxedSimd, type WasmVariant } from '../src/kernels/wasm/runtime.js';
import { sharedArena } from '../src/memory/arena.js';
import { localResponseNormChannels, localResponseNormChannelsReference } from '../src/ops/normalization.js';
import { maxPool2dReference, resolveMaxPool2d, type MaxPool2dOptions } from '../src/ops/pooling.js';
import { reluReference } from '../src/ops/relu.js';
import { bits, randomTensor } from './support/tensors.js';

afterEach(() => {
  resetKernelOptions();
});

const SPECIALS = [NaN, -NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45];

/** Random normals with some special values (one in `every`) sprinkled in. */
function withSpecials(r: Random, shape: number[], every: number, shared = false): Tensor {
  const t = randomTensor(r, shape, { shared });
  for (let i = 0; i < t.data.length; i++) if (r.int(1, every) === 1) t.data[i] = SPECIALS[r.int(0, SPECIALS.length - 1)];
  return t;
}

/** Equal as PyTorch compares results: every element the same value, -0 told from 0, any NaN against any NaN. */
function expectSameValues(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`${label}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

const variants: WasmVariant[] = hasWasmRelaxedSimd() ? ['fma', 'simd'] : ['simd'];

describe.each(variants)('max pooling kernel, %s build', (variant) => {
  const cases: [number[], MaxPool2dOptions][] = [
    [[2, 3, 55, 55], { kernelSize: 3, stride: 2 }], // AlexNet's
    [[1, 4, 13, 13], { kernelSize: 3, stride: 2, ceilMode: true }],
    [[1, 2, 7, 9], { kernelSize: 2 }],
    [[2, 2, 8, 11], { kernelSize: 3, stride: 1, padding: 1 }],
    [[1, 3, 9, 10], { kernelSize: [3, 2], stride: [2, 1], padding: [1, 1], ceilMode: true }],
    [[1, 2, 12, 13], { kernelSize: 3, stride: 2, padding: 1, dilation: 2 }],
    [[1, 2, 11, 14], { kernelSize: [2, 3], stride: [3, 3], dilation: [2, 1], ceilMode: true }],
    [[1, 1, 5, 5], { kernelSize: 1 }], // a size-1 window: a copy
    [[1, 1, 6, 17], { kernelSize: 1, stride: [1, 2] }],
    [[3, 1, 1, 1], { kernelSize: 1 }],
    [[1, 2, 5, 7], { kernelSize: 5, stride: 4, padding: 2, ceilMode: true }],
    [[1, 1, 10, 23], { kernelSize: [1, 4], stride: [1, 5], padding: [0, 2] }],
  ];
  for (const [shape, options] of cases) {
    it(`x [${shape}], ${JSON.stringify(options)}: the reference's values bit for bit`, () => {
      configureKernels({ wasmVariant: variant });
      const r = new Random(shape.reduce((a, v) => a * 31 + v, 7));
      const x = withSpecials(r, shape, 17);
      const g = resolveMaxPool2d(x.shape, options);
      const out = new Float32Array(g.planes * g.outHeight * g.outWidth).fill(12345);
      expect(maxPoolKernel(x.data, out, g)).toBe(true); // the kernel ran
      const expected = maxPool2dReference(x, options);
      expectSameValues(out, expected.data, maxPoolKernelFor(g));
      // Through the op, from an input already in the arena.
      const shared = { shape: x.shape, data: sharedArena().allocateFloat32(x.data.length) };
      shared.data.set(x.data);
      expect(bits(maxPool2d(shared, options).data)).toEqual(bits(out));
    });
  }

  it('keeps the first of equal zeros in scan order, as PyTorch (row by row), and lets NaN win', () => {
    configureKernels({ wasmVariant: variant });
    // Window 2x2: -0 at (0, 1) comes before +0 at (1, 0) row by row, though not column by column.
    const x = { shape: [1, 1, 2, 8], data: Float32Array.from([-1, -0, -0, 0, -5, NaN, -Infinity, -Infinity, 0, -1, 0, -0, NaN, 2, -Infinity, -Infinity]) };
    const y = maxPool2d(x, { kernelSize: 2 });
    expect(Object.is(y.data[0], -0)).toBe(true);
    expect(Object.is(y.data[1], -0)).toBe(true);
    expect(Number.isNaN(y.data[2])).toBe(true);
    expect(y.data[3]).toBe(-Infinity);
    expectSameValues(y.data, maxPool2dReference(x, { kernelSize: 2 }).data, 'ties');
  });

  it('random shapes and options against the reference', () => {
    configureKernels({ wasmVariant: variant });
    const r = new Random(99);
    for (let trial = 0; trial < 60; trial++) {
      // Random.int is inclusive at both ends.
      const kernel: [number, number] = [r.int(1, 4), r.int(1, 4)];
      const options: MaxPool2dOptions = {
        kernelSize: kernel,
        stride: [r.int(1, 3), r.int(1, 3)],
        padding: [r.int(0, Math.floor(kernel[0] / 2)), r.int(0, Math.floor(kernel[1] / 2))],
        dilation: [r.int(1, 2), r.int(1, 2)],
        ceilMode: r.int(0, 1) === 1,
      };
      const shape = [r.int(1, 2), r.int(1, 3), r.int(8, 19), r.int(8, 19)];
      const x = withSpecials(r, shape, 40);
      const expected = maxPool2dReference(x, options);
      const g = resolveMaxPool2d(x.shape, options);
      const out = new Float32Array(expected.data.length);
      expect(maxPoolKernel(x.data, out, g)).toBe(true);
      expectSameValues(out, expected.data, `trial ${trial}: x [${shape}], ${JSON.stringify(options)}`);
    }
  });
});

describe.each(variants)('ReLU kernel, %s build', (variant) => {
  it('the reference bits (NaN payloads, -0, infinities, subnormals) for every length 0..37 and in place', () => {
    configureKernels({ wasmVariant: variant });
    const r = new Random(5);
    const arena = sharedArena();
    for (let length = 0; length <= 37; length++) {
      const x = withSpecials(r, [length], 3, true);
      // A NaN with a payload and its sign bit set: torch.relu keeps it as it is.
      if (length > 2) bits(x.data)[length - 1] = 0xffc01234;
      const expected = new Float32Array(length);
      reluReference(x.data, expected);
      const out = arena.allocateFloat32(length);
      expect(reluKernel(x.data, out)).toBe(true);
      expect(bits(out), `length ${length}`).toEqual(bits(expected));
      expect(bits(relu(x).data)).toEqual(bits(expected)); // the op, outside the arena: the JavaScript
      expect(reluKernel(x.data, x.data)).toBe(true);
      expect(bits(x.data), `length ${length}, in place`).toEqual(bits(expected));
    }
  });
});

describe.each(variants)('LRN kernel, %s build', (variant) => {
  /** Within a few float32 roundings of the float64 reference: the kernel rounds each of its ~size + 6 operations. */
  function expectNearReference(actual: Float32Array, expected: Float32Array, label: string): void {
    for (let i = 0; i < expected.length; i++) {
      const a = actual[i];
      const e = expected[i];
      if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
      if (!(Math.abs(a - e) <= 8 * 2 ** -24 * Math.abs(e))) expect.fail(`${label}: element ${i} is ${a}, expected ${e}`);
    }
  }

  const cases: [number[], { size: number; alpha: number; beta: number; k: number }][] = [
    [[2, 12, 13, 13], { size: 5, alpha: 1e-4, beta: 0.75, k: 2 }], // AlexNet's, on a small map
    [[1, 7, 4, 5], { size: 4, alpha: 0.3, beta: 0.75, k: 1 }], // an even size: one channel more before than after
    [[1, 3, 3, 3], { size: 1, alpha: 0.5, beta: 0.75, k: 1 }],
    [[2, 5, 2, 3], { size: 9, alpha: 1, beta: 0.75, k: 0.5 }], // a window wider than the tensor
    [[1, 4, 1, 1], { size: 2, alpha: 2, beta: 0.75, k: 1 }],
  ];
  for (const [shape, options] of cases) {
    it(`x [${shape}], ${JSON.stringify(options)}: within float32 rounding of the reference`, () => {
      configureKernels({ wasmVariant: variant });
      const r = new Random(shape.reduce((a, v) => a * 13 + v, options.size));
      const x = randomTensor(r, shape, { scale: 3 });
      const [N, C, H, W] = shape;
      const expected = { shape, data: new Float32Array(x.data.length) };
      localResponseNormChannelsReference(x, options, 0, C, expected, 0);
      const out = new Float32Array(x.data.length);
      expect(lrnKernel(x.data, out, { batch: N, channels: C, plane: H * W, outChannels: C }, options, 0, C, 0)).toBe(true);
      expectNearReference(out, expected.data, `x [${shape}]`);
      expect(bits(localResponseNorm(x, options).data)).toEqual(bits(out)); // the op runs the kernel
    });
  }

  it('leaves other betas to the JavaScript (no power function without data segments)', () => {
    configureKernels({ wasmVariant: variant });
    const x = randomTensor(new Random(4), [1, 6, 5, 7]);
    const options = { size: 3, alpha: 0.2, beta: 0.5, k: 1.5 };
    const out = new Float32Array(x.data.length).fill(3);
    expect(lrnKernel(x.data, out, { batch: 1, channels: 6, plane: 35, outChannels: 6 }, options, 0, 6, 0)).toBe(false);
    expect([...new Set(out)]).toEqual([3]); // nothing written
    const expected = { shape: x.shape, data: new Float32Array(x.data.length) };
    localResponseNormChannelsReference(x, options, 0, 6, expected, 0);
    expect(bits(localResponseNorm(x, options).data)).toEqual(bits(expected.data));
  });

  it('NaN, infinities, -0 and zeros as the reference', () => {
    configureKernels({ wasmVariant: variant });
    const x = withSpecials(new Random(3), [1, 6, 3, 5], 5);
    const options = { size: 3, alpha: 1e-4, beta: 0.75, k: 2 };
    const expected = { shape: x.shape, data: new Float32Array(x.data.length) };
    localResponseNormChannelsReference(x, options, 0, 6, expected, 0);
    const out = localResponseNorm(x, options).data;
    expectNearReference(out, expected.data, 'specials');
  });

  it('a channel range computed from its window (what a device holds) has the bits of the whole tensor', () => {
    configureKernels({ wasmVariant: variant });
    const r = new Random(11);
    for (const size of [5, 4, 1, 3]) {
      const options = { size, alpha: 1e-4, beta: 0.75, k: 2 };
      const x = randomTensor(r, [2, 16, 5, 7], { scale: 4 });
      const [N, C, H, W] = x.shape;
      const plane = H * W;
      const whole = localResponseNorm(x, options);
      for (const [start, end] of [[0, 8], [8, 16], [3, 11], [15, 16], [0, 16]]) {
        // The window: the range and its neighbours, as a device receives them.
        const lo = Math.max(0, start - Math.floor(size / 2));
        const hi = Math.min(C, end + Math.floor((size - 1) / 2));
        const window = { shape: [N, hi - lo, H, W], data: sharedArena().allocateFloat32(N * (hi - lo) * plane) };
        for (let n = 0; n < N; n++) window.data.set(x.data.subarray((n * C + lo) * plane, (n * C + hi) * plane), n * (hi - lo) * plane);
        const out = { shape: [N, end - start, H, W], data: sharedArena().allocateFloat32(N * (end - start) * plane) };
        localResponseNormChannels(window, options, start - lo, end - lo, out, 0);
        for (let n = 0; n < N; n++) {
          const expected = whole.data.subarray((n * C + start) * plane, (n * C + end) * plane);
          expect(bits(out.data.subarray(n * (end - start) * plane, (n + 1) * (end - start) * plane)), `size ${size}, [${start}, ${end})`).toEqual(bits(expected));
        }
      }
    }
  });

  it('writes only its channel range of a larger output, from outStart on', () => {
    configureKernels({ wasmVariant: variant });
    const x = randomTensor(new Random(8), [2, 6, 3, 3]);
    const options = { size: 3, alpha: 0.1, beta: 0.75, k: 1 };
    const whole = localResponseNorm(x, options);
    const out = { shape: [2, 5, 3, 3], data: new Float32Array(2 * 5 * 9).fill(7) };
    localResponseNormChannels(x, options, 2, 5, out, 1);
    for (let n = 0; n < 2; n++) {
      expect([...out.data.subarray(n * 45, n * 45 + 9)]).toEqual(new Array(9).fill(7));
      expect(bits(out.data.subarray(n * 45 + 9, n * 45 + 36))).toEqual(bits(whole.data.subarray(n * 54 + 18, n * 54 + 45)));
      expect([...out.data.subarray(n * 45 + 36, n * 45 + 45)]).toEqual(new Array(9).fill(7));
    }
  });
});

describe('the two builds', () => {
  it.runIf(variants.length === 2)('compute the same bits for LRN and max pooling (no multiply-add to fuse)', () => {
    const x = randomTensor(new Random(21), [2, 10, 13, 13]);
    const results = variants.map((variant) => {
      configureKernels({ wasmVariant: variant });
      return [localResponseNorm(x, { size: 5, alpha: 1e-4, beta: 0.75, k: 2 }).data, maxPool2d(x, { kernelSize: 3, stride: 2 }).data];
    });
    expect(bits(results[0][0])).toEqual(bits(results[1][0]));
    expect(bits(results[0][1])).toEqual(bits(results[1][1]));
  });
});
