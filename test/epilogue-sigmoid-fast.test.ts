// The sigmoid's and SiLU's short path (wasm/assembly/exp.ts, expNegatedForSigmoid4:
// taken when all four lanes' exp inputs are at most 88, inputs clamped at -86,
// 2^k added to the exponent bits) against the JavaScript reference, bit for
// bit, where that path runs: densely over the range it covers, every float32
// around its two edges (exp input 88, where vectors leave it, and -86, where
// the clamp starts), through the three ways a microkernel applies the
// epilogue (a pass over output planes: 1x1; in registers: depthwise 3x3 in
// place; one lane at a time: Winograd), in both builds.
import { afterAll, describe, expect, it } from 'vitest';
import { conv2d, convBiasActivation, Random, type ActivationOption, type Tensor } from '../src/index.js';
import { sigmoidValue, siluValue } from '../src/kernels/epilogue.js';
import { configureKernels, resetKernelOptions } from '../src/kernels/options.js';
import { preferredWasmVariant } from '../src/kernels/plan/selection.js';
import { hasWasmRelaxedSimd, type WasmVariant } from '../src/kernels/wasm/runtime.js';
import { firstBitDifference } from './support/tensors.js';

afterAll(() => resetKernelOptions());

const bitsOf = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];

/** Every float32 from a to b (a < b, same sign), in order. */
function everyFloatBetween(a: number, b: number): number[] {
  const values: number[] = [];
  const from = new Float32Array(1);
  const fromBits = new Uint32Array(from.buffer);
  const [lo, hi] = [bitsOf(a), bitsOf(b)].sort((p, q) => p - q);
  for (let bits = lo; bits <= hi; bits++) {
    fromBits[0] = bits;
    values.push(from[0]);
  }
  return values;
}

/**
 * Convolution outputs x for the activations: sigmoid(x) takes exp(-x), so the
 * edges are x = -88 and x = 86. Every float32 within 2^14 of each edge's bit
 * pattern on both sides, then every 2^10-th float32 of |x| <= 90 in order
 * (neighbours alike, so most vectors stay on the short path).
 */
const VALUES: Float32Array = (() => {
  const values: number[] = [];
  for (const edge of [-88, 86]) {
    const b = bitsOf(edge);
    const f = new Float32Array(Uint32Array.of(b - 2 ** 14, b + 2 ** 14).buffer);
    values.push(...everyFloatBetween(f[0], f[1]));
  }
  const last = bitsOf(90);
  const f = new Float32Array(1);
  const fb = new Uint32Array(f.buffer);
  for (const sign of [0, 0x80000000]) {
    for (let b = 0; b <= last; b += 2 ** 10) {
      fb[0] = (b | sign) >>> 0;
      values.push(f[0]);
    }
  }
  // A multiple of 4 * 64 so every layout below has whole vectors.
  while (values.length % 256 !== 0) values.push(0.5);
  return Float32Array.from(values);
})();

const REFERENCES: [string, ActivationOption, (x: number, fusedExp: boolean) => number][] = [
  ['sigmoid', 'sigmoid', sigmoidValue],
  ['silu', 'silu', siluValue],
];

/**
 * The convolution with the activation against the activation's reference applied to the convolution without it,
 * the exp's multiply-adds fused as the build fuses them (the relaxed-SIMD one does).
 */
function expectReferenceBits(x: Tensor, w: Tensor, options: { padding?: number; groups?: number }, activation: ActivationOption, reference: (v: number, fusedExp: boolean) => number): void {
  const plain = conv2d(x, w, null, options);
  const fused = convBiasActivation(x, w, null, { ...options, activation });
  const fusedExp = preferredWasmVariant() === 'fma';
  expect(firstBitDifference(fused.data, Float32Array.from(plain.data, (v) => reference(v, fusedExp)))).toBe(-1);
}

const variants: WasmVariant[] = hasWasmRelaxedSimd() ? ['simd', 'fma'] : ['simd'];

describe.each(variants)('sigmoid and silu short path, %s build', (variant) => {
  it.each(REFERENCES)('%s over a 1x1 convolution (a pass over the output planes) computes the reference bits', (_name, activation, reference) => {
    const previous = configureKernels({ wasmVariant: variant });
    try {
      // Weight 1, no bias: the activation sees the values themselves.
      expectReferenceBits({ shape: [1, 1, 1, VALUES.length], data: VALUES }, { shape: [1, 1, 1, 1], data: Float32Array.of(1) }, {}, activation, reference);
    } finally {
      configureKernels(previous);
    }
  });

  it.each(REFERENCES)('%s over a depthwise 3x3 read in place (in registers) computes the reference bits', (_name, activation, reference) => {
    const previous = configureKernels({ wasmVariant: variant });
    try {
      const channels = 4;
      const width = 64;
      const height = VALUES.length / channels / width;
      // Centre tap 1, the others 0: outputs are the values (0 * a neighbour is a zero that leaves them as they are).
      const w = new Float32Array(channels * 9);
      for (let c = 0; c < channels; c++) w[c * 9 + 4] = 1;
      expectReferenceBits(
        { shape: [1, channels, height, width], data: VALUES }, { shape: [channels, 1, 3, 3], data: w }, { padding: 1, groups: channels }, activation, reference,
      );
    } finally {
      configureKernels(previous);
    }
  });

  it.each(REFERENCES)('%s over Winograd (one lane at a time) computes the reference bits', (_name, activation, reference) => {
    const previous = configureKernels({ wasmVariant: variant });
    try {
      const random = new Random(14);
      // 32 channels at 16x16: the plan takes Winograd here (plan/selection.ts).
      const x = { shape: [1, 32, 16, 16], data: Float32Array.from({ length: 32 * 256 }, () => random.uniform(-6, 6)) };
      const w = { shape: [32, 32, 3, 3], data: Float32Array.from({ length: 32 * 32 * 9 }, () => random.uniform(-1, 1)) };
      expectReferenceBits(x, w, { padding: 1 }, activation, reference);
    } finally {
      configureKernels(previous);
    }
  });
});
