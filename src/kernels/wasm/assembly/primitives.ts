// What every kernel family shares: the multiply-add, the strided tiles, short
// copies, partial stores, the bias.

// Multiply-add of the kernel. The relaxed-SIMD build (conv-fma.wasm) fuses it
// into one FMA where the CPU has one; the plain build multiplies, rounds, then
// adds. Every tile and the scalar tails go through these two, so either build
// computes every output element with the same operations whatever the slicing.
@inline export function madd(w: v128, x: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(w, x, acc);
  return f32x4.add(acc, f32x4.mul(w, x));
}

@inline export function maddScalar(w: f32, x: f32, acc: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(w), f32x4.splat(x), f32x4.splat(acc)), 0);
  return acc + w * x;
}

/** tile4x8 when tap t reads src + t * tapStride (1x1 kernels read in place): no tap table load. */
@inline export function tile4x8Strided(src: usize, tapCount: i32, tapStride: usize, weights: usize, dst: usize, dstStride: usize, b0: f32, b1: f32, b2: f32, b3: f32): void {
  let a00 = f32x4.splat(b0), a01 = a00;
  let a10 = f32x4.splat(b1), a11 = a10;
  let a20 = f32x4.splat(b2), a21 = a20;
  let a30 = f32x4.splat(b3), a31 = a30;
  let wp = weights;
  let ip = src;
  const wEnd = weights + (<usize>tapCount << 4);
  for (; wp < wEnd; wp += 16) {
    const x0 = v128.load(ip), x1 = v128.load(ip, 16);
    let wv = v128.load32_splat(wp);
    a00 = madd(wv, x0, a00);
    a01 = madd(wv, x1, a01);
    wv = v128.load32_splat(wp, 4);
    a10 = madd(wv, x0, a10);
    a11 = madd(wv, x1, a11);
    wv = v128.load32_splat(wp, 8);
    a20 = madd(wv, x0, a20);
    a21 = madd(wv, x1, a21);
    wv = v128.load32_splat(wp, 12);
    a30 = madd(wv, x0, a30);
    a31 = madd(wv, x1, a31);
    ip += tapStride;
  }
  let o = dst;
  v128.store(o, a00); v128.store(o, a01, 16);
  o += dstStride;
  v128.store(o, a10); v128.store(o, a11, 16);
  o += dstStride;
  v128.store(o, a20); v128.store(o, a21, 16);
  o += dstStride;
  v128.store(o, a30); v128.store(o, a31, 16);
}


/** One channel x 8 positions, tap t at src + t * tapStride, weight t at weights + t * weightStride. */
@inline export function tile1x8Strided(src: usize, tapCount: i32, tapStride: usize, weights: usize, weightStride: usize, dst: usize, b: f32): void {
  let a0 = f32x4.splat(b), a1 = a0;
  let wp = weights;
  let ip = src;
  for (let t = 0; t < tapCount; t++) {
    const wv = v128.load32_splat(wp);
    a0 = madd(wv, v128.load(ip), a0);
    a1 = madd(wv, v128.load(ip, 16), a1);
    wp += weightStride;
    ip += tapStride;
  }
  v128.store(dst, a0);
  v128.store(dst, a1, 16);
}

// Rows here are short (tens of floats): V8 runs memory.copy / memory.fill as
// calls into the runtime, which cost more than the copy itself, so copy inline.
@inline export function copyFloats(dst: usize, src: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < count; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

@inline export function zeroFloats(dst: usize, count: i32): void {
  let i = 0;
  const zero = f32x4.splat(0);
  for (; i + 4 <= count; i += 4) v128.store(dst + (<usize>i << 2), zero);
  for (; i < count; i++) store<f32>(dst + (<usize>i << 2), 0);
}

/**
 * Copies `channels` planes of h x w floats into zero-padded planes of planeH x
 * planeW, channelStride floats apart, the input's top left at (padTop,
 * padLeft); what lies past the input is zero.
 */
@inline export function padPlanes(src: usize, dst: usize, channels: i32, h: i32, w: i32, padTop: i32, padLeft: i32, planeH: i32, planeW: i32, channelStride: i32): void {
  for (let c = 0; c < channels; c++) {
    const srcPlane = src + ((<usize>(c * h * w)) << 2);
    const dstPlane = dst + ((<usize>(c * channelStride)) << 2);
    for (let y = 0; y < planeH; y++) {
      const row = dstPlane + ((<usize>(y * planeW)) << 2);
      const iy = y - padTop;
      if (iy < 0 || iy >= h) {
        zeroFloats(row, planeW);
        continue;
      }
      zeroFloats(row, padLeft);
      copyFloats(row + (<usize>padLeft << 2), srcPlane + ((<usize>(iy * w)) << 2), w);
      zeroFloats(row + ((<usize>(padLeft + w)) << 2), planeW - padLeft - w);
    }
  }
}

/** Stores the first `lanes` (1..4) lanes of v at ptr. */
@inline export function storeLanes(ptr: usize, v: v128, lanes: i32): void {
  if (lanes == 4) {
    v128.store(ptr, v);
    return;
  }
  store<f32>(ptr, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(ptr, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(ptr, f32x4.extract_lane(v, 2), 8);
}

@inline export function biasAt(bias: usize, oc: i32): f32 {
  return bias ? load<f32>(bias + (<usize>oc << 2)) : 0;
}
