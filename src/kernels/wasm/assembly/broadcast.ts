// A tensor times one value per run of `inner` elements: squeeze-and-excitation's
// [N, C, H, W] * [N, C, 1, 1] (ranged/binary.ts's yRuns and xRuns layouts),
// bit for bit the JavaScript loops: a float32 product rounded once is what
// JavaScript's double product of two float32 values rounds to on its store,
// and the operands keep their order, which decides whose NaN comes out when
// both are NaN.

@inline function mulRunsOrdered(x: usize, scales: usize, out: usize, from: i32, to: i32, inner: i32, period: i32, scalesFirst: bool): void {
  let i = from;
  while (i < to) {
    const run = i / inner;
    const stop = min(to, (run + 1) * inner);
    const s = v128.load32_splat(scales + (<usize>(run % period) << 2));
    for (; i + 8 <= stop; i += 8) {
      const at = <usize>i << 2;
      const a = v128.load(x + at);
      const b = v128.load(x + at, 16);
      v128.store(out + at, scalesFirst ? f32x4.mul(s, a) : f32x4.mul(a, s));
      v128.store(out + at, scalesFirst ? f32x4.mul(s, b) : f32x4.mul(b, s), 16);
    }
    for (; i < stop; i++) {
      const at = <usize>i << 2;
      const a = v128.load32_zero(x + at);
      v128.store32_lane(out + at, scalesFirst ? f32x4.mul(s, a) : f32x4.mul(a, s), 0);
    }
  }
}

/**
 * out[i] = x[i] * scales[floor(i / inner) % period] for i in [from, to), or
 * scales[...] * x[i] when `scalesFirst` (x, scales, out: byte offsets of
 * element 0; out may be x).
 */
export function mulRuns(x: usize, scales: usize, out: usize, from: i32, to: i32, inner: i32, period: i32, scalesFirst: bool): void {
  if (scalesFirst) mulRunsOrdered(x, scales, out, from, to, inner, period, true);
  else mulRunsOrdered(x, scales, out, from, to, inner, period, false);
}
