// The epilogue's float32 exp (src/kernels/exp.ts) and the activations built on
// it, with its multiply-adds fused (the relaxed-SIMD build's and the native
// kernels' rounding) and not (the plain build's): against Math.exp and float64
// formulas over a dense sample of every float32 (every 2^12-th bit pattern,
// both signs, plus the edges), with the bounds stated below; the fused
// multiply-add against an exact one in integers; and the WebAssembly versions
// (the exp on its own, and sigmoid / silu / hardsigmoid through a
// convolution's epilogue) against the JavaScript reference, bit for bit, in
// both builds.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { convBiasActivation, type ActivationOption } from '../src/index.js';
import { checkActivation, hardsigmoidValue, sigmoidValue, siluValue } from '../src/kernels/epilogue.js';
import { expFloat32, fusedMultiplyAdd } from '../src/kernels/exp.js';
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

/** a * b + c for float32 a, b, c, exactly, as an integer times 2^-298 (every float32 product and float32 is one). */
function exactScaled(a: number, b: number, c: number): bigint {
  const scaled = (v: number, shift: number): bigint => {
    // v = m * 2^e with m an integer of at most 24 bits: v * 2^shift as a BigInt, exact.
    if (v === 0) return 0n;
    const e = Math.max(Math.floor(Math.log2(Math.abs(v))) - 23, -149);
    return BigInt(v / 2 ** e) << BigInt(e + shift);
  };
  return scaled(a, 149) * scaled(b, 149) + scaled(c, 298);
}

/** The float32 nearest `n * 2^-298` (ties to even), by counting bits: no floating-point rounding involved. */
function roundScaledToFloat32(n: bigint): number {
  if (n === 0n) return 0;
  const negative = n < 0n;
  let m = negative ? -n : n;
  const bits = m.toString(2).length;
  // The value is m * 2^-298 with m's top bit at 2^(bits - 1 - 298): keep 24 bits, or fewer below 2^-126.
  const top = bits - 1 - 298;
  const lowest = Math.max(top - 23, -149); // the exponent of the last kept bit
  const drop = lowest + 298;
  let kept: bigint;
  if (drop > 0) {
    const half = 1n << BigInt(drop - 1);
    const rest = m & ((1n << BigInt(drop)) - 1n);
    kept = m >> BigInt(drop);
    if (rest > half || (rest === half && (kept & 1n) === 1n)) kept += 1n;
  } else {
    kept = m << BigInt(-drop);
  }
  const value = Number(kept) * 2 ** lowest;
  return Math.fround(negative ? -value : value);
}

describe('fusedMultiplyAdd', () => {
  it('is a * b + c rounded once to float32, against an exact sum in integers, where float64 then float32 would round twice', () => {
    const random = { state: 7 };
    const next = () => (random.state = (random.state * 1103515245 + 12345) >>> 0);
    const cases: [number, number, number][] = [];
    // The exp's own operands: products near the rounder, Cody-Waite steps, the polynomial's terms.
    for (let i = 0; i < 20000; i++) {
      const a = Math.fround((next() / 2 ** 32 - 0.5) * 2 ** ((next() % 40) - 20));
      const b = Math.fround((next() / 2 ** 32 - 0.5) * 2 ** ((next() % 40) - 20));
      const c = Math.fround((next() / 2 ** 32 - 0.5) * 2 ** ((next() % 48) - 24));
      cases.push([a, b, c]);
    }
    // c + p with p = 2^-24 (1 + 2^-23)(1 - 2^-23) = 2^-24 - 2^-70 and c's last bit odd: the exact sum lies a
    // hair under the float32 midpoint above c, float64 rounds it onto that midpoint, and float32 then rounds
    // the tie to even, up: twice rounded is wrong here, once rounded gives c.
    for (let k = 0; k < 200; k++) {
      const c = Math.fround((1 + (2 * k + 1) * 2 ** -23) * 2 ** (k % 7));
      const a = Math.fround(2 ** -24 * (1 + 2 ** -23) * 2 ** (k % 7));
      cases.push([a, Math.fround(1 - 2 ** -23), c], [-a, Math.fround(1 - 2 ** -23), -c]);
    }
    // Results in float32's subnormal range, where it keeps fewer than 24 bits.
    for (let k = 0; k < 100; k++) {
      const a = Math.fround((1 + ((k * 7919) % 1000) / 1000) * 2 ** -70);
      const b = Math.fround((1 + ((k * 104729) % 1000) / 1000) * 2 ** (-60 - (k % 20)));
      cases.push([a, b, Math.fround(((k % 3) - 1) * 2 ** -140)], [a, -b, Math.fround(2 ** -149 * (k + 1))]);
    }
    const big = Math.fround(3.4e38);
    cases.push([0, 5, -0], [-0, 5, -0], [2 ** -149, 2 ** -149, 0], [big, 2, -big], [Math.fround(1 / 3), 3, -1]);
    let twiceRoundedDiffers = 0;
    for (const [a, b, c] of cases) {
      const expected = roundScaledToFloat32(exactScaled(a, b, c));
      const got = fusedMultiplyAdd(a, b, c);
      // A zero's sign is IEEE's rule for an exact zero sum, checked below; the integers carry none.
      if (expected === 0) expect(got === 0, `${a} * ${b} + ${c}`).toBe(true);
      else expect(got, `${a} * ${b} + ${c}`).toBe(expected);
      if (Math.fround(a * b + c) !== expected) twiceRoundedDiffers++;
    }
    // The cases include sums where rounding to float64 first gives another float32: the test can tell the two apart.
    expect(twiceRoundedDiffers).toBeGreaterThan(0);
    expect(Object.is(fusedMultiplyAdd(-0, 5, -0), -0)).toBe(true);
    expect(Object.is(fusedMultiplyAdd(0, 5, -0), 0)).toBe(true);
    expect(Number.isNaN(fusedMultiplyAdd(NaN, 1, 1))).toBe(true);
    expect(fusedMultiplyAdd(big, 2, 0)).toBe(Infinity);
  });
});

describe.each([false, true])('exp, multiply-adds fused: %s', (fused) => {
  it(`is within 1 ulp of Math.exp over ${SAMPLE.length} float32 values (every 2^12-th bit pattern and the edges)`, () => {
    let worst = 0;
    let worstAt = 0;
    let correctlyRounded = 0;
    for (const x of SAMPLE) {
      const got = expFloat32(x, fused);
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
    const exp = (x: number) => expFloat32(x, fused);
    expect(exp(0)).toBe(1);
    expect(exp(-0)).toBe(1);
    expect(Object.is(exp(-Infinity), 0)).toBe(true);
    expect(exp(Infinity)).toBe(Infinity);
    expect(Number.isNaN(exp(NaN))).toBe(true);
    expect(exp(88.72283172607422)).toBe(Math.fround(Math.exp(88.72283172607422)));
    expect(Number.isFinite(exp(88.72283172607422))).toBe(true);
    expect(exp(fromBits(bitsOf(88.72283172607422) + 1))).toBe(Infinity);
    // The smallest subnormal, and the first x whose exp rounds to 0.
    expect(exp(-103.97207641601562)).toBe(2 ** -149);
    expect(Object.is(exp(fromBits(bitsOf(-103.97207641601562) + 1)), 0)).toBe(true);
    expect(exp(1)).toBe(Math.fround(Math.E));
  });

  // The relaxed-SIMD build fuses, the plain one does not.
  for (const variant of variants.filter((v) => (v === 'fma') === fused)) it(`the WebAssembly exp computes the reference bits on every sampled value, ${variant} build (vectors and a scalar tail)`, () => {
    const n = SAMPLE.length - ((SAMPLE.length % 4) + 4 === 4 ? 1 : 0); // never a multiple of 4: the tail runs
    expect(n % 4).not.toBe(0);
    const { exp, memory } = wasmExp(variant, n);
    const src = new Float32Array(memory.buffer, 0, n);
    const dst = new Float32Array(memory.buffer, n * 4, n);
    src.set(SAMPLE.subarray(0, n));
    exp(0, n * 4, n);
    const expected = Float32Array.from(src, (x) => expFloat32(x, fused));
    expect(firstBitDifference(dst, expected)).toBe(-1);
    // NaN in, NaN out.
    src.fill(NaN, 0, 5);
    exp(0, n * 4, 5);
    expect(Array.from(dst.subarray(0, 5)).every(Number.isNaN)).toBe(true);
  });
});

describe('sigmoid, silu and hardsigmoid', () => {
  const finite = SAMPLE.filter((x) => Number.isFinite(x));

  it.each([false, true])('sigmoid is within 2.5 ulp of 1 / (1 + e^-x) in float64 and silu within 3.5 ulp of x / (1 + e^-x), wherever e^-x is a finite float32; below, both are 0 (exp fused: %s)', (fused) => {
    let worstSigmoid = 0;
    let worstSilu = 0;
    for (const x of finite) {
      if (x < -88.72283172607422) {
        // e^-x overflows float32, so 1 / (1 + e^-x) is 0, as torch.sigmoid's float32 formula gives.
        expect(sigmoidValue(x, fused), `sigmoid(${x})`).toBe(0);
        expect(Object.is(siluValue(x, fused), -0) || Number.isNaN(siluValue(x, fused)), `silu(${x})`).toBe(true);
        continue;
      }
      const s = 1 / (1 + Math.exp(-x));
      worstSigmoid = Math.max(worstSigmoid, Math.abs(sigmoidValue(x, fused) - s) / ulpAt(s));
      const silu = x * s;
      if (Number.isFinite(Math.fround(silu))) worstSilu = Math.max(worstSilu, Math.abs(siluValue(x, fused) - silu) / ulpAt(silu));
    }
    expect(worstSigmoid).toBeLessThan(2.5);
    expect(worstSilu).toBeLessThan(3.5);
  });

  it('the two roundings differ on some sampled values, so the builds are told apart', () => {
    let differ = 0;
    for (const x of finite) if (!Object.is(siluValue(x, true), siluValue(x, false))) differ++;
    expect(differ).toBeGreaterThan(100);
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

  const ACTIVATIONS: [string, ActivationOption, (x: number, fused: boolean) => number][] = [
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
        expect(firstBitDifference(y.data, Float32Array.from(x.data, (v) => reference(v, variant === 'fma')))).toBe(-1);
        // NaN in, NaN out (its payload is the platform's).
        const nan = { shape: [1, 1, 1, 5], data: new Float32Array(5).fill(NaN) };
        expect(Array.from(convBiasActivation(nan, w, null, { activation }).data).every(Number.isNaN)).toBe(true);
      } finally {
        configureKernels(previous);
      }
    });
  }
});
