// The epilogue's float32 exp (src/kernels/exp.ts) and the activations built on
// it: against Math.exp and float64 formulas over a dense sample of every
// float32 (every 2^12-th bit pattern, both signs, plus the edges), with the
// bounds stated below; and the WebAssembly versions (the exp on its own, and
// sigmoid / silu / hardsigmoid through a convolution's epilogue) against the
// JavaScript reference, bit for bit, in both builds.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { convBiasActivation, type ActivationOption } from '../src/index.js';
import { checkActivation, hardsigmoidValue, sigmoidValue, siluValue } from '../src/kernels/epilogue.js';
import { expFloat32 } from '../src/kernels/exp.js';
import { configureKernels, resetKernelOptions } from '../src/kernels/options.js';
import { hasWasmRelaxedSimd, WASM_URLS, type WasmVariant } from '../src/kernels/wasm/runtime.js';
import { firstBitDifference } from './support/tensors.js';

afterAll(() => resetKernelOptions());

const bitsOf = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
const fromBits = (b: number) => new Float32Array(Uint32Array.of(b).buffer)[0];

/** The spacing of float32 values at |v| (v a float64): 2^(e - 23) for v in [2^e, 2^(e+1)), 2^-149 below the normal range. */
function ulpAt(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** Every 2^12-th float32 bit pattern (NaNs left out: their own test), then the edges of exp and each one's 8 neighbours on both sides. */
const SAMPLE: Float32Array = (() => {
  const values: number[] = [];
  for (let b = 0; b < 2 ** 32; b += 2 ** 12) {
    const x = fromBits(b);
    if (!Number.isNaN(x)) values.push(x);
  }
  const edges = [
    0, -0, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 1e-7, -1e-7, 1, -1, 0.34657359, -0.34657359,
    88.72283172607422, // the largest x whose exp is finite
    -87.33654022216797, // exp is 2^-126 here: the subnormals below
    -103.97207641601562, // the last x whose exp is not 0
    -104, 89, -150, 150, 127.5, -126.5,
  ];
  for (const e of edges) {
    const b = bitsOf(e);
    for (let d = -8; d <= 8; d++) {
      const x = fromBits((b + d) >>> 0);
      if (!Number.isNaN(x)) values.push(x);
    }
  }
  return Float32Array.from(values);
})();

/** A module of one build over a memory of its own, with room for the sample in and out. */
function wasmExp(variant: WasmVariant, count: number): { exp: (src: number, dst: number, n: number) => void; memory: WebAssembly.Memory } {
  const pages = Math.ceil((count * 8) / 65536) + 1;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
  const module = new WebAssembly.Module(readFileSync(WASM_URLS[variant]));
  const { exports } = new WebAssembly.Instance(module, { env: { memory } });
  return { exp: exports.expFloats as (src: number, dst: number, n: number) => void, memory };
}

const variants: WasmVariant[] = hasWasmRelaxedSimd() ? ['simd', 'fma'] : ['simd'];

describe('exp', () => {
  it(`is within 1 ulp of Math.exp over ${SAMPLE.length} float32 values (every 2^12-th bit pattern and the edges)`, () => {
    let worst = 0;
    let worstAt = 0;
    let correctlyRounded = 0;
    for (const x of SAMPLE) {
      const got = expFloat32(x);
      const exact = Math.exp(x);
      const rounded = Math.fround(exact);
      if (got === rounded) correctlyRounded++;
      if (!Number.isFinite(rounded)) {
        // Beyond 88.7228317 exp overflows, as float32's does.
        expect(got, `exp(${x})`).toBe(Infinity);
        continue;
      }
      const error = Math.abs(got - exact) / ulpAt(exact);
      if (error > worst) [worst, worstAt] = [error, x];
    }
    expect(worst, `worst at x = ${worstAt}`).toBeLessThan(1);
    // Most results are the correctly rounded ones (the rest one ulp off): a broken coefficient loses this.
    expect(correctlyRounded / SAMPLE.length).toBeGreaterThan(0.99);
  });

  it('the edges: exp(±0) = 1, exp(-Infinity) = +0, exp(Infinity) = Infinity, NaN stays NaN, overflow and underflow where float32 has them', () => {
    expect(expFloat32(0)).toBe(1);
    expect(expFloat32(-0)).toBe(1);
    expect(Object.is(expFloat32(-Infinity), 0)).toBe(true);
    expect(expFloat32(Infinity)).toBe(Infinity);
    expect(Number.isNaN(expFloat32(NaN))).toBe(true);
    expect(expFloat32(88.72283172607422)).toBe(Math.fround(Math.exp(88.72283172607422)));
    expect(Number.isFinite(expFloat32(88.72283172607422))).toBe(true);
    expect(expFloat32(fromBits(bitsOf(88.72283172607422) + 1))).toBe(Infinity);
    // The smallest subnormal, and the first x whose exp rounds to 0.
    expect(expFloat32(-103.97207641601562)).toBe(2 ** -149);
    expect(Object.is(expFloat32(fromBits(bitsOf(-103.97207641601562) + 1)), 0)).toBe(true);
    expect(expFloat32(1)).toBe(Math.fround(Math.E));
  });

  it.each(variants)('the WebAssembly exp computes the reference bits on every sampled value, %s build (vectors and a scalar tail)', (variant) => {
    const n = SAMPLE.length - ((SAMPLE.length % 4) + 4 === 4 ? 1 : 0); // never a multiple of 4: the tail runs
    expect(n % 4).not.toBe(0);
    const { exp, memory } = wasmExp(variant, n);
    const src = new Float32Array(memory.buffer, 0, n);
    const dst = new Float32Array(memory.buffer, n * 4, n);
    src.set(SAMPLE.subarray(0, n));
    exp(0, n * 4, n);
    const expected = Float32Array.from(src, expFloat32);
    expect(firstBitDifference(dst, expected)).toBe(-1);
    // NaN in, NaN out.
    src.fill(NaN, 0, 5);
    exp(0, n * 4, 5);
    expect(Array.from(dst.subarray(0, 5)).every(Number.isNaN)).toBe(true);
  });
});

describe('sigmoid, silu and hardsigmoid', () => {
  const finite = SAMPLE.filter((x) => Number.isFinite(x));

  it('sigmoid is within 2.5 ulp of 1 / (1 + e^-x) in float64 and silu within 3.5 ulp of x / (1 + e^-x), wherever e^-x is a finite float32; below, both are 0', () => {
    let worstSigmoid = 0;
    let worstSilu = 0;
    for (const x of finite) {
      if (x < -88.72283172607422) {
        // e^-x overflows float32, so 1 / (1 + e^-x) is 0, as torch.sigmoid's float32 formula gives.
        expect(sigmoidValue(x), `sigmoid(${x})`).toBe(0);
        expect(Object.is(siluValue(x), -0) || Number.isNaN(siluValue(x)), `silu(${x})`).toBe(true);
        continue;
      }
      const s = 1 / (1 + Math.exp(-x));
      worstSigmoid = Math.max(worstSigmoid, Math.abs(sigmoidValue(x) - s) / ulpAt(s));
      const silu = x * s;
      if (Number.isFinite(Math.fround(silu))) worstSilu = Math.max(worstSilu, Math.abs(siluValue(x) - silu) / ulpAt(silu));
    }
    expect(worstSigmoid).toBeLessThan(2.5);
    expect(worstSilu).toBeLessThan(3.5);
  });

  it('sigmoid and silu at the ends: 0 and 1, -0 and x, NaN passes', () => {
    expect(sigmoidValue(-Infinity)).toBe(0);
    expect(sigmoidValue(-200)).toBe(0);
    expect(sigmoidValue(200)).toBe(1);
    expect(sigmoidValue(Infinity)).toBe(1);
    expect(sigmoidValue(0)).toBe(0.5);
    expect(siluValue(200)).toBe(200);
    expect(Object.is(siluValue(-200), -0)).toBe(true);
    expect(siluValue(0)).toBe(0);
    expect(Number.isNaN(sigmoidValue(NaN)) && Number.isNaN(siluValue(NaN))).toBe(true);
  });

  it('hardsigmoid is within 2^-24 of max(0, min(1, alpha x + beta)) in float64; saturates at 0 and 1; NaN passes', () => {
    for (const [alpha, beta] of [[Math.fround(1 / 6), 0.5], [Math.fround(0.2), 0.5], [Math.fround(-0.7), Math.fround(0.1)]]) {
      let worst = 0;
      for (const x of finite) {
        const exact = Math.max(0, Math.min(1, alpha * x + beta));
        worst = Math.max(worst, Math.abs(hardsigmoidValue(x, alpha, beta) - exact));
      }
      expect(worst, `alpha ${alpha}, beta ${beta}`).toBeLessThanOrEqual(2 ** -24);
    }
    const torch = checkActivation('hardsigmoid') as { alpha: number; beta: number };
    expect(torch).toEqual({ kind: 'hardsigmoid', alpha: Math.fround(1 / 6), beta: 0.5 });
    expect(hardsigmoidValue(-3, torch.alpha, torch.beta)).toBe(0);
    expect(hardsigmoidValue(3, torch.alpha, torch.beta)).toBe(1);
    expect(hardsigmoidValue(Infinity, torch.alpha, torch.beta)).toBe(1);
    expect(Number.isNaN(hardsigmoidValue(NaN, torch.alpha, torch.beta))).toBe(true);
  });

  const ACTIVATIONS: [string, ActivationOption, (x: number) => number][] = [
    ['sigmoid', 'sigmoid', sigmoidValue],
    ['silu', 'silu', siluValue],
    ['hardsigmoid (PyTorch)', 'hardsigmoid', (x) => hardsigmoidValue(x, Math.fround(1 / 6), 0.5)],
    ['hardsigmoid (alpha -0.7, beta 0.1)', { kind: 'hardsigmoid', alpha: -0.7, beta: 0.1 }, (x) => hardsigmoidValue(x, Math.fround(-0.7), Math.fround(0.1))],
  ];
  // Through a 1x1 convolution of weight 1 and no bias, the activation sees the sample itself (x * 1 + 0 = x, -0 becoming +0).
  const x = { shape: [1, 1, 1, SAMPLE.length], data: Float32Array.from(SAMPLE, (v) => v + 0) };
  const w = { shape: [1, 1, 1, 1], data: Float32Array.of(1) };
  for (const variant of variants) {
    it.each(ACTIVATIONS)(`%s through the convolution's epilogue computes the reference's bits on every sampled value, ${variant} build`, (_name, activation, reference) => {
      const previous = configureKernels({ wasmVariant: variant });
      try {
        const y = convBiasActivation(x, w, null, { activation });
        expect(firstBitDifference(y.data, Float32Array.from(x.data, reference))).toBe(-1);
        // NaN in, NaN out (its payload is the platform's).
        const nan = { shape: [1, 1, 1, 5], data: new Float32Array(5).fill(NaN) };
        expect(Array.from(convBiasActivation(nan, w, null, { activation }).data).every(Number.isNaN)).toBe(true);
      } finally {
        configureKernels(previous);
      }
    });
  }
});
