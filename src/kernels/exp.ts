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
// here; a plain f32x4 mul, add or sub there, never a fused multiply-add), so
// the two agree exactly. Within 1.02 ulp of exp over the whole float32 range
// (scripts/exp-accuracy.ts tries every float32; test/exp.test.ts a sample).
// NaN gives NaN; inputs below -104 give +0, above 89 +Infinity (the clamp to
// that range changes no result).
import {
  EXP_C2, EXP_C3, EXP_C4, EXP_C5, EXP_C6, EXP_LN2_HIGH, EXP_LN2_LOW, EXP_LOG2E, EXP_MAX_INPUT, EXP_MIN_INPUT, EXP_ROUNDER,
} from './wasm/exp-constants.js';

const f = Math.fround;

/** e^x of a float32 value, as the epilogue computes it. */
export function expFloat32(x: number): number {
  // The clamp as the kernel's pmax / pmin: NaN passes through.
  let v = x < EXP_MIN_INPUT ? EXP_MIN_INPUT : f(x);
  v = EXP_MAX_INPUT < v ? EXP_MAX_INPUT : v;
  const k = f(f(f(v * EXP_LOG2E) + EXP_ROUNDER) - EXP_ROUNDER);
  let r = f(v - f(k * EXP_LN2_HIGH));
  r = f(r - f(k * EXP_LN2_LOW));
  const z = f(r * r);
  const low = f(f(EXP_C3 * r) + EXP_C2);
  const high = f(f(EXP_C5 * r) + EXP_C4);
  const poly = f(low + f(z * f(high + f(EXP_C6 * z))));
  const p = f(f(f(poly * z) + r) + 1);
  const k1 = Math.floor(k / 2);
  return f(f(p * 2 ** k1) * 2 ** (k - k1));
}
