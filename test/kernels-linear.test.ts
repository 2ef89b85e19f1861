// The fully connected kernel (src/kernels/linear.ts) against an independent
// double-precision dot product, through both WebAssembly builds and the
// JavaScript fallback, and the property AlexNet's device split relies on: a
// device computing some weight rows gets the same bits as the whole layer.
import { afterEach, describe, expect, it } from 'vitest';
import { Random, linear, zeros, type Tensor } from '../src/index.js';
import { linearKernel } from '../src/kernels/linear.js';
import { configureKernels, resetKernelOptions } from '../src/kernels/options.js';
import type { WasmVariant } from '../src/kernels/wasm/runtime.js';
import { bits, randomTensor } from './support/tensors.js';

/**
 * Checks every output against a double-precision dot product, within the
 * worst-case float32 summation bound: (terms + 1) unit roundoffs of the sum of
 * the terms' magnitudes (a wrong term or a missed one is far outside it).
 */
function expectNearReference(x: Tensor, w: Tensor, b: Tensor | null, y: Tensor): void {
  const [outF, inF] = w.shape;
  const rows = x.data.length / inF;
  expect(y.shape).toEqual([...x.shape.slice(0, -1), outF]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let sum = b ? b.data[o] : 0;
      let magnitude = Math.abs(sum);
      for (let i = 0; i < inF; i++) {
        const term = x.data[r * inF + i] * w.data[o * inF + i];
        sum += term;
        magnitude += Math.abs(term);
      }
      const got = y.data[r * outF + o];
      expect(Math.abs(got - sum)).toBeLessThanOrEqual((inF + 2) * 2 ** -24 * magnitude + 1e-30);
    }
  }
}

// Rows in pairs and alone, outputs in fours and alone, in-features with and without a remainder of 4.
const shapes: [number[], number][] = [
  [[1, 1], 1],
  [[3, 7], 5],
  [[2, 4], 4],
  [[8, 33], 9],
  [[5, 256], 12],
  [[2, 3, 10], 6],
];

afterEach(() => {
  resetKernelOptions();
});

for (const variant of ['fma', 'simd'] as WasmVariant[]) {
  describe(`linear, ${variant} build`, () => {
    for (const [xShape, outF] of shapes) {
      for (const withBias of [true, false]) {
        it(`x [${xShape}], ${outF} outputs${withBias ? ', bias' : ''}`, () => {
          configureKernels({ wasmVariant: variant });
          const r = new Random(xShape.reduce((a, v) => a * 7 + v, outF));
          const inF = xShape[xShape.length - 1];
          const x = randomTensor(r, xShape);
          const w = randomTensor(r, [outF, inF]);
          const b = withBias ? randomTensor(r, [outF]) : null;
          expectNearReference(x, w, b, linear(x, w, b));
        });
      }
    }

    it('a device computing some weight rows gets the same bits as the whole layer', () => {
      configureKernels({ wasmVariant: variant });
      const r = new Random(11);
      const x = randomTensor(r, [5, 70]);
      const w = randomTensor(r, [23, 70], { shared: true });
      const b = randomTensor(r, [23]);
      const whole = linear(x, w, b);
      for (const [from, to] of [[0, 12], [12, 23], [3, 4], [5, 22]]) {
        const rows: Tensor = { shape: [to - from, 70], data: w.data.slice(from * 70, to * 70) };
        const part = linear(x, rows, { shape: [to - from], data: b.data.slice(from, to) });
        for (let n = 0; n < 5; n++) {
          expect(bits(part.data.subarray(n * (to - from), (n + 1) * (to - from)))).toEqual(bits(whole.data.subarray(n * 23 + from, n * 23 + to)));
        }
      }
    });

    it('reads arena views in place and plain arrays staged, to the same bits', () => {
      configureKernels({ wasmVariant: variant });
      const r = new Random(5);
      const x = randomTensor(r, [3, 41], { shared: true });
      const w = randomTensor(r, [6, 41], { shared: true });
      const out = zeros([3, 6], { shared: true });
      out.data.fill(Number.NaN);
      expect(linearKernel(x.data, w.data, null, out.data, 3, 41, 6)).toBe(true);
      const staged = linear({ shape: x.shape, data: x.data.slice() }, { shape: w.shape, data: w.data.slice() });
      expect(bits(out.data)).toEqual(bits(staged.data));
    });
  });
}

describe('linear, JavaScript fallback (forced)', () => {
  it('is used where the WebAssembly kernels are not, with double-precision sums', () => {
    configureKernels({ forceJs: true });
    const r = new Random(9);
    const x = randomTensor(r, [3, 37]);
    const w = randomTensor(r, [5, 37]);
    const b = randomTensor(r, [5]);
    expect(linearKernel(x.data, w.data, b.data, new Float32Array(15), 3, 37, 5)).toBe(false);
    expectNearReference(x, w, b, linear(x, w, b));
  });
});
