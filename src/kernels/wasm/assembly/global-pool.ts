// GlobalAveragePool over whole planes, bit for bit the ranged kernel's
// JavaScript (ranged/pool.ts) and the host's adaptiveAvgPool2d(x, 1): each
// plane summed in double precision from its first element to its last, +0
// first, then divided once by the plane's size and rounded to float32.
//
// That order is one chain of dependent double additions per plane, so a
// plane on its own waits on the adder's latency at every element. Four
// planes at once keep four chains in flight: two f64x2 sums, planes (a, b) and
// (c, d) in their lanes, each lane still adding its plane's elements in order.

@inline function planeMean(sum: f64, divisor: f64): f32 {
  return <f32>(sum / divisor);
}

/** out[q] for planes q in [start, end) of `plane` floats each: the mean of x's plane q (x, out: byte offsets of plane 0's data and mean). */
export function globalAveragePlanes(x: usize, out: usize, start: i32, end: i32, plane: i32): void {
  const planeBytes = <usize>plane << 2;
  const divisor = <f64>plane;
  let q = start;
  for (; q + 4 <= end; q += 4) {
    const a = x + <usize>q * planeBytes;
    const b = a + planeBytes;
    const c = b + planeBytes;
    const d = c + planeBytes;
    let ab = f64x2.splat(0);
    let cd = f64x2.splat(0);
    let i = 0;
    for (; i + 4 <= plane; i += 4) {
      const at = <usize>i << 2;
      const va = v128.load(a + at);
      const vb = v128.load(b + at);
      const vc = v128.load(c + at);
      const vd = v128.load(d + at);
      // Element j of planes a and b side by side, then of c and d: [a_j, b_j, a_j+1, b_j+1].
      const ab01 = v128.shuffle<f32>(va, vb, 0, 4, 1, 5);
      const ab23 = v128.shuffle<f32>(va, vb, 2, 6, 3, 7);
      const cd01 = v128.shuffle<f32>(vc, vd, 0, 4, 1, 5);
      const cd23 = v128.shuffle<f32>(vc, vd, 2, 6, 3, 7);
      ab = f64x2.add(ab, f64x2.promote_low_f32x4(ab01));
      cd = f64x2.add(cd, f64x2.promote_low_f32x4(cd01));
      ab = f64x2.add(ab, f64x2.promote_low_f32x4(v128.shuffle<f32>(ab01, ab01, 2, 3, 2, 3)));
      cd = f64x2.add(cd, f64x2.promote_low_f32x4(v128.shuffle<f32>(cd01, cd01, 2, 3, 2, 3)));
      ab = f64x2.add(ab, f64x2.promote_low_f32x4(ab23));
      cd = f64x2.add(cd, f64x2.promote_low_f32x4(cd23));
      ab = f64x2.add(ab, f64x2.promote_low_f32x4(v128.shuffle<f32>(ab23, ab23, 2, 3, 2, 3)));
      cd = f64x2.add(cd, f64x2.promote_low_f32x4(v128.shuffle<f32>(cd23, cd23, 2, 3, 2, 3)));
    }
    let sa = f64x2.extract_lane(ab, 0);
    let sb = f64x2.extract_lane(ab, 1);
    let sc = f64x2.extract_lane(cd, 0);
    let sd = f64x2.extract_lane(cd, 1);
    for (; i < plane; i++) {
      const at = <usize>i << 2;
      sa += <f64>load<f32>(a + at);
      sb += <f64>load<f32>(b + at);
      sc += <f64>load<f32>(c + at);
      sd += <f64>load<f32>(d + at);
    }
    const o = out + (<usize>q << 2);
    store<f32>(o, planeMean(sa, divisor));
    store<f32>(o, planeMean(sb, divisor), 4);
    store<f32>(o, planeMean(sc, divisor), 8);
    store<f32>(o, planeMean(sd, divisor), 12);
  }
  for (; q < end; q++) {
    const a = x + <usize>q * planeBytes;
    let sum: f64 = 0;
    for (let i = 0; i < plane; i++) sum += <f64>load<f32>(a + (<usize>i << 2));
    store<f32>(out + (<usize>q << 2), planeMean(sum, divisor));
  }
}
