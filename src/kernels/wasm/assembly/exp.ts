// The epilogue's float32 exp on four lanes: bit for bit the JavaScript
// reference (src/kernels/exp.ts, which explains the method). Every step is a
// plain f32x4 mul, add or sub, never relaxed_madd, even in the relaxed-SIMD
// build: a fused multiply-add rounds once where the reference rounds twice.

import {
  EXP_LN2_HIGH, EXP_LN2_LOW, EXP_LOG2E, EXP_MAX_INPUT, EXP_MIN_INPUT, EXP_P0, EXP_P1, EXP_P2, EXP_P3, EXP_P4, EXP_P5, EXP_ROUNDER,
  EXP_ROUNDER_BITS,
} from '../exp-constants';

@inline export function exp4(x: v128): v128 {
  // pmax(x, lo) = x < lo ? lo : x and pmin(v, hi) = hi < v ? hi : v: NaN passes through.
  const v = f32x4.pmin(f32x4.pmax(x, f32x4.splat(<f32>EXP_MIN_INPUT)), f32x4.splat(<f32>EXP_MAX_INPUT));
  const rounder = f32x4.splat(<f32>EXP_ROUNDER);
  const t = f32x4.add(f32x4.mul(v, f32x4.splat(<f32>EXP_LOG2E)), rounder);
  const kf = f32x4.sub(t, rounder);
  // t's bits hold k: t = 1.5 * 2^23 + k, with k in [-150, 128] (NaN: any k, the product stays NaN).
  const k = i32x4.sub(t, i32x4.splat(EXP_ROUNDER_BITS));
  let r = f32x4.sub(v, f32x4.mul(kf, f32x4.splat(<f32>EXP_LN2_HIGH)));
  r = f32x4.sub(r, f32x4.mul(kf, f32x4.splat(<f32>EXP_LN2_LOW)));
  const z = f32x4.mul(r, r);
  let p = f32x4.splat(<f32>EXP_P0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>EXP_P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>EXP_P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>EXP_P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>EXP_P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>EXP_P5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, z), r), f32x4.splat(1));
  // 2^k as 2^k1 * 2^k2, k1 = floor(k / 2): both are normal floats for every k in range.
  const k1 = i32x4.shr_s(k, 1);
  const k2 = i32x4.sub(k, k1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(k1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(k2, bias), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
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
