// GlobalAveragePool over whole planes, bit for bit the ranged kernel's
// JavaScript (ranged/pool.ts), the native kernel's (native/kernels.h) and the
// host's adaptiveAvgPool2d(x, 1): the lane order of kernels/plane-mean.ts.
// Sixteen running sums in double precision, sum j over the elements
// i = j (mod 16) in order from +0, in eight f64x2 (sums 2m and 2m + 1 in
// a[m]); then j and j + 8, j and j + 4, j and j + 2, the last two; divided
// once by the plane's size and rounded to float32. Eight chains of adds in
// flight within one plane.

/** Floats [p, p + n) of a quad (n below 4: the rest +0, nothing past the plane read). */
@inline function quadAt(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** The floats of a quad's high half, as the low half of another (for f64x2.promote_low_f32x4). */
@inline function high(v: v128): v128 {
  return v128.shuffle<f32>(v, v, 2, 3, 2, 3);
}

/** out[q] for planes q in [start, end) of `plane` floats each: the mean of x's plane q (x, out: byte offsets of plane 0's data and mean). */
export function globalAveragePlanes(x: usize, out: usize, start: i32, end: i32, plane: i32): void {
  const planeBytes = <usize>plane << 2;
  const divisor = <f64>plane;
  for (let q = start; q < end; q++) {
    const p = x + <usize>q * planeBytes;
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    let a4 = f64x2.splat(0), a5 = f64x2.splat(0), a6 = f64x2.splat(0), a7 = f64x2.splat(0);
    let i = 0;
    for (; i + 16 <= plane; i += 16) {
      const at = p + (<usize>i << 2);
      const v0 = v128.load(at);
      const v1 = v128.load(at, 16);
      const v2 = v128.load(at, 32);
      const v3 = v128.load(at, 48);
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v0));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(high(v0)));
      a2 = f64x2.add(a2, f64x2.promote_low_f32x4(v1));
      a3 = f64x2.add(a3, f64x2.promote_low_f32x4(high(v1)));
      a4 = f64x2.add(a4, f64x2.promote_low_f32x4(v2));
      a5 = f64x2.add(a5, f64x2.promote_low_f32x4(high(v2)));
      a6 = f64x2.add(a6, f64x2.promote_low_f32x4(v3));
      a7 = f64x2.add(a7, f64x2.promote_low_f32x4(high(v3)));
    }
    // The last floats, fewer than 16, into the sums they belong to (+0 in the others, which leaves them as they were).
    if (i < plane) {
      const at = p + (<usize>i << 2);
      const left = plane - i;
      const v0 = quadAt(at, left);
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v0));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(high(v0)));
      if (left > 4) {
        const v1 = quadAt(at + 16, left - 4);
        a2 = f64x2.add(a2, f64x2.promote_low_f32x4(v1));
        a3 = f64x2.add(a3, f64x2.promote_low_f32x4(high(v1)));
      }
      if (left > 8) {
        const v2 = quadAt(at + 32, left - 8);
        a4 = f64x2.add(a4, f64x2.promote_low_f32x4(v2));
        a5 = f64x2.add(a5, f64x2.promote_low_f32x4(high(v2)));
      }
      if (left > 12) {
        const v3 = quadAt(at + 48, left - 12);
        a6 = f64x2.add(a6, f64x2.promote_low_f32x4(v3));
        a7 = f64x2.add(a7, f64x2.promote_low_f32x4(high(v3)));
      }
    }
    // Sums j and j + 8 (a[m] and a[m + 4]), then j and j + 4 (s[m] and s[m + 2]), j and j + 2, the last two.
    const t = f64x2.add(f64x2.add(f64x2.add(a0, a4), f64x2.add(a2, a6)), f64x2.add(f64x2.add(a1, a5), f64x2.add(a3, a7)));
    const sum = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
    store<f32>(out + (<usize>q << 2), <f32>(sum / divisor));
  }
}
