// The epilogue's float32 exp on four lanes: bit for bit the JavaScript
// reference (src/kernels/exp.ts, which explains the method). Its seven
// multiply-adds go through primitives.ts's madd, fused in the relaxed-SIMD
// build and rounded twice in the plain one, as expFloat32(x, fused) computes
// them; every other step is one plain f32x4 operation.

import {
  EXP_C2, EXP_C3, EXP_C4, EXP_C5, EXP_C6, EXP_LN2_HIGH, EXP_LN2_LOW, EXP_LOG2E, EXP_MAX_INPUT, EXP_MIN_INPUT, EXP_ROUNDER,
  EXP_ROUNDER_BITS, EXP_SIGMOID_FAST_MAX, EXP_SIGMOID_MIN_INPUT,
} from '../exp-constants';
import { madd } from './primitives';

@inline export function exp4(x: v128): v128 {
  // pmax(x, lo) = x < lo ? lo : x and pmin(v, hi) = hi < v ? hi : v: NaN passes through.
  const v = f32x4.pmin(f32x4.pmax(x, f32x4.splat(<f32>EXP_MIN_INPUT)), f32x4.splat(<f32>EXP_MAX_INPUT));
  const rounder = f32x4.splat(<f32>EXP_ROUNDER);
  const t = madd(v, f32x4.splat(<f32>EXP_LOG2E), rounder);
  const kf = f32x4.sub(t, rounder);
  // t's bits hold k: t = 1.5 * 2^23 + k, with k in [-150, 128] (NaN: any k, the product stays NaN).
  const k = i32x4.sub(t, i32x4.splat(EXP_ROUNDER_BITS));
  let r = madd(kf, f32x4.splat(-<f32>EXP_LN2_HIGH), v);
  r = madd(kf, f32x4.splat(-<f32>EXP_LN2_LOW), r);
  const z = f32x4.mul(r, r);
  const low = madd(f32x4.splat(<f32>EXP_C3), r, f32x4.splat(<f32>EXP_C2));
  const high = madd(f32x4.splat(<f32>EXP_C5), r, f32x4.splat(<f32>EXP_C4));
  const poly = madd(z, madd(f32x4.splat(<f32>EXP_C6), z, high), low);
  const p = f32x4.add(madd(poly, z, r), f32x4.splat(1));
  // 2^k as 2^k1 * 2^k2, k1 = floor(k / 2): both are normal floats for every k in range.
  const k1 = i32x4.shr_s(k, 1);
  const k2 = i32x4.sub(k, k1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(k1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(k2, bias), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/**
 * exp(-x) for the sigmoid's 1 + exp(-x): exp4(-x)'s bits wherever x <= 86,
 * and above, where both are under 2^-24 so that 1 + either is 1, exp(-86).
 * The epilogue spends most of a SiLU layer here, so when every lane is at
 * least -88 (NaN is not) it takes a shorter path with the same bits:
 * - no negation: with m = min(x, 86) = -max(-x, -86), each step is exp4's on
 *   -x negated, which rounding's symmetry makes exact, fused or not: t =
 *   m (-log2(e)) + R is (-m) log2(e) + R, s = (m + k ln2_hi) + k ln2_lo is
 *   -r, and (-c') s + c is c' r + c (r's zero sign never reaches p: z = r^2,
 *   and poly z + r is +0 + ±0);
 * - no upper clamp, and 2^k added to p's exponent field instead of two
 *   multiplies: p is in [0.7, 1.42] and k in [-124, 127] there, so p * 2^k is a
 *   normal float, exact both ways. t's bits are 0x4b400000 + k, whose low 22
 *   bits are zero, so t << 23 is k << 23.
 * Any other vector goes through exp4 whole.
 */
@inline export function expNegatedForSigmoid4(x: v128): v128 {
  if (i32x4.bitmask(f32x4.ge(x, f32x4.splat(-<f32>EXP_SIGMOID_FAST_MAX))) != 0xf) return exp4(f32x4.neg(x));
  // pmin(x, hi) = hi < x ? hi : x.
  const m = f32x4.pmin(x, f32x4.splat(-<f32>EXP_SIGMOID_MIN_INPUT));
  const rounder = f32x4.splat(<f32>EXP_ROUNDER);
  const t = madd(m, f32x4.splat(-<f32>EXP_LOG2E), rounder);
  const kf = f32x4.sub(t, rounder);
  let s = madd(kf, f32x4.splat(<f32>EXP_LN2_HIGH), m);
  s = madd(kf, f32x4.splat(<f32>EXP_LN2_LOW), s);
  const z = f32x4.mul(s, s);
  const low = madd(f32x4.splat(-<f32>EXP_C3), s, f32x4.splat(<f32>EXP_C2));
  const high = madd(f32x4.splat(-<f32>EXP_C5), s, f32x4.splat(<f32>EXP_C4));
  const poly = madd(z, madd(f32x4.splat(<f32>EXP_C6), z, high), low);
  const p = f32x4.add(madd(poly, z, f32x4.neg(s)), f32x4.splat(1));
  return i32x4.add(p, i32x4.shl(t, 23));
}

/** dst[i] = exp(src[i]) for i in [0, count) (the tests' way to the kernel's exp); dst may be src. */
export function expFloats(src: usize, dst: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const at = <usize>i << 2;
    v128.store(dst + at, exp4(v128.load(src + at)));
  }
  for (; i < count; i++) {
    const at = <usize>i << 2;
    v128.store32_lane(dst + at, exp4(v128.load32_zero(src + at)), 0);
  }
}
