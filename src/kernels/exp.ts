// The epilogue's float32 exp, as JavaScript: the reference the WebAssembly
// SIMD version (wasm/assembly/exp.ts) computes bit for bit, and the sigmoid
// and SiLU activations' (epilogue.ts) exp.
//
// x = k ln2 + r with k = round(x log2 e) and r by Cody-Waite (two constants),
// exp(r) by a degree-6 polynomial, 1 + r + r^2 P(r), P evaluated as
// (C2 + C3 r) + r^2 ((C4 + C5 r) + C6 r^2): as many operations as Horner's
// scheme, but a chain of 8 dependent ones from r to p where Horner's is 11
// (the epilogue's sigmoid is bound by that chain's latency, docs/epilogue.md),
// then scaled by 2^k as 2^(k >> 1) *
// 2^(k - (k >> 1)): the first product is exact and the second rounds once, so
// a result in the subnormal range is rounded once, not twice, and an overflow
// becomes +Infinity. Every step is one float32 operation, rounded (Math.fround
// here, f32x4 operations there), so the two agree exactly. The seven
// multiply-adds are fused (one rounding) in the relaxed-SIMD build and the
// native kernels, where that made the SiLU epilogue 1.38x faster on AVX-512,
// and two roundings in the plain build: `expFloat32(x, fused)` computes
// either. Within 1.02 ulp of exp over the whole float32 range unfused, 1.04
// fused (scripts/exp-accuracy.ts tries every float32; test/exp.test.ts a
// sample).
// NaN gives NaN; inputs below -104 give +0, above 89 +Infinity (the clamp to
// that range changes no result).
import {
  EXP_C2, EXP_C3, EXP_C4, EXP_C5, EXP_C6, EXP_LN2_HIGH, EXP_LN2_LOW, EXP_LOG2E, EXP_MAX_INPUT, EXP_MIN_INPUT, EXP_ROUNDER,
} from './wasm/exp-constants.js';

const f = Math.fround;

// A float64's two 32-bit halves, low word first on the little-endian hosts Node runs on.
const wide = new Float64Array(1);
const words = new Uint32Array(wide.buffer);

/**
 * a * b + c rounded once to float32, as a fused multiply-add computes it (a, b
 * and c float32 values). a * b is exact in float64 (48 significant bits at
 * most), so only the sum rounds; rounding it to float64 and then to float32
 * could round twice. So the float64 sum is made round-to-odd (where inexact,
 * the odd one of its two float64 neighbours around the exact sum), and a
 * round-to-odd result with at least 2 more bits than float32 rounds to the
 * float32 nearest the exact sum (Boldo and Melquiond, "Emulation of FMA and
 * correctly rounded sums: proved algorithms using rounding to odd", 2008).
 * The sum's error comes from Knuth's TwoSum, exact in float64 here (no
 * overflow: |a * b| < 2^256).
 */
export function fusedMultiplyAdd(a: number, b: number, c: number): number {
  const product = a * b;
  const sum = product + c;
  const productPart = sum - c;
  const error = (product - productPart) + (c - (sum - productPart));
  if (error === 0 || !Number.isFinite(sum)) return f(sum);
  wide[0] = sum;
  if ((words[0] & 1) === 0) {
    // Even: the exact sum lies between `sum` and the neighbour on error's side, which is odd.
    if (sum > 0 === error > 0) words[0] += 1;
    else if (words[0] === 0) {
      words[0] = 0xffffffff;
      words[1] -= 1;
    } else words[0] -= 1;
  }
  return f(wide[0]);
}

/** a * b + c in float32 steps: the product rounded, then the sum (the plain WebAssembly build's multiply-add). */
function multiplyThenAdd(a: number, b: number, c: number): number {
  return f(c + f(a * b));
}

/**
 * e^x of a float32 value, as the epilogue computes it. `fused`: its
 * multiply-adds rounded once (the relaxed-SIMD build, conv-fma.wasm, and the
 * native kernels that match it: kernels.md, "Bitwise determinism"), else the
 * product and the sum each rounded (the plain build).
 */
export function expFloat32(x: number, fused = false): number {
  const madd = fused ? fusedMultiplyAdd : multiplyThenAdd;
  // The clamp as the kernel's pmax / pmin: NaN passes through.
  let v = x < EXP_MIN_INPUT ? EXP_MIN_INPUT : f(x);
  v = EXP_MAX_INPUT < v ? EXP_MAX_INPUT : v;
  const k = f(madd(v, EXP_LOG2E, EXP_ROUNDER) - EXP_ROUNDER);
  let r = madd(k, -EXP_LN2_HIGH, v);
  r = madd(k, -EXP_LN2_LOW, r);
  const z = f(r * r);
  const low = madd(EXP_C3, r, EXP_C2);
  const high = madd(EXP_C5, r, EXP_C4);
  const poly = madd(z, madd(EXP_C6, z, high), low);
  const p = f(madd(poly, z, r) + 1);
  const k1 = Math.floor(k / 2);
  return f(f(p * 2 ** k1) * 2 ** (k - k1));
}
