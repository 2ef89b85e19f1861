// Tiles through the tap table, and the row loops that run them over a block
// of 4 output channels (block4) or one channel (block1). Every output element
// is bias + the taps in tap-table order, each tap one madd / maddScalar,
// whichever tile or scalar tail computes it, so results are bitwise
// independent of the tile.

import { madd, maddScalar, storeLanes, tile4x8Strided } from './primitives';

// Weights: [tap][4 channels] (4-channel tiles) or one float per tap at
// weightStride (1-channel tiles). 4 channels x 2 vectors = 8 accumulators:
// with two inputs, a weight (and, in the plain build, the product) that fits
// x64's 15 usable xmm registers (4 x 3 spilled and ran slower in both builds).

@inline export function tile4x8(src: usize, taps: usize, tapEnd: usize, weights: usize, dst: usize, dstStride: usize, b0: f32, b1: f32, b2: f32, b3: f32): void {
  let a00 = f32x4.splat(b0), a01 = a00;
  let a10 = f32x4.splat(b1), a11 = a10;
  let a20 = f32x4.splat(b2), a21 = a20;
  let a30 = f32x4.splat(b3), a31 = a30;
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    const ip = src + <usize>load<i32>(tp);
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
    wp += 16;
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

@inline export function tile4x4(src: usize, taps: usize, tapEnd: usize, weights: usize, dst: usize, dstStride: usize, b0: f32, b1: f32, b2: f32, b3: f32, lanes: i32): void {
  let a0 = f32x4.splat(b0), a1 = f32x4.splat(b1), a2 = f32x4.splat(b2), a3 = f32x4.splat(b3);
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    const x = v128.load(src + <usize>load<i32>(tp));
    a0 = madd(v128.load32_splat(wp), x, a0);
    a1 = madd(v128.load32_splat(wp, 4), x, a1);
    a2 = madd(v128.load32_splat(wp, 8), x, a2);
    a3 = madd(v128.load32_splat(wp, 12), x, a3);
    wp += 16;
  }
  storeLanes(dst, a0, lanes);
  storeLanes(dst + dstStride, a1, lanes);
  storeLanes(dst + 2 * dstStride, a2, lanes);
  storeLanes(dst + 3 * dstStride, a3, lanes);
}

/** One position, four channels: the same float32 multiply-then-add sequence as a SIMD lane. */
@inline export function scalar4(src: usize, taps: usize, tapEnd: usize, weights: usize, dst: usize, dstStride: usize, b0: f32, b1: f32, b2: f32, b3: f32): void {
  let s0 = b0, s1 = b1, s2 = b2, s3 = b3;
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    const x = load<f32>(src + <usize>load<i32>(tp));
    s0 = maddScalar(load<f32>(wp), x, s0);
    s1 = maddScalar(load<f32>(wp, 4), x, s1);
    s2 = maddScalar(load<f32>(wp, 8), x, s2);
    s3 = maddScalar(load<f32>(wp, 12), x, s3);
    wp += 16;
  }
  store<f32>(dst, s0);
  store<f32>(dst + dstStride, s1);
  store<f32>(dst + 2 * dstStride, s2);
  store<f32>(dst + 3 * dstStride, s3);
}

@inline export function tile1x16(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32): void {
  let a0 = f32x4.splat(b), a1 = a0, a2 = a0, a3 = a0;
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    const ip = src + <usize>load<i32>(tp);
    const wv = v128.load32_splat(wp);
    a0 = madd(wv, v128.load(ip), a0);
    a1 = madd(wv, v128.load(ip, 16), a1);
    a2 = madd(wv, v128.load(ip, 32), a2);
    a3 = madd(wv, v128.load(ip, 48), a3);
    wp += weightStride;
  }
  v128.store(dst, a0); v128.store(dst, a1, 16); v128.store(dst, a2, 32); v128.store(dst, a3, 48);
}

@inline export function tile1x8(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32): void {
  let a0 = f32x4.splat(b), a1 = a0;
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    const ip = src + <usize>load<i32>(tp);
    const wv = v128.load32_splat(wp);
    a0 = madd(wv, v128.load(ip), a0);
    a1 = madd(wv, v128.load(ip, 16), a1);
    wp += weightStride;
  }
  v128.store(dst, a0); v128.store(dst, a1, 16);
}

@inline export function tile1x4(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32, lanes: i32): void {
  let a = f32x4.splat(b);
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    a = madd(v128.load32_splat(wp), v128.load(src + <usize>load<i32>(tp)), a);
    wp += weightStride;
  }
  storeLanes(dst, a, lanes);
}

@inline export function scalar1(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32): void {
  let s = b;
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    s = maddScalar(load<f32>(wp), load<f32>(src + <usize>load<i32>(tp)), s);
    wp += weightStride;
  }
  store<f32>(dst, s);
}

/**
 * Four output channels, written row by row straight into their output
 * planes (dst + j * dstStride). A row ends with a partial vector whose extra
 * lanes read plane padding (when `overRead`: the scratch has slack) and are
 * not stored, or else with scalar positions.
 */
export function block4(
  src: usize, taps: usize, tapCount: i32, tapStep: usize, weights: usize, dst: usize, dstStride: usize,
  outH: i32, outW: i32, planeW: i32, overRead: bool, b0: f32, b1: f32, b2: f32, b3: f32,
): void {
  const tapEnd = taps + (<usize>tapCount << 2);
  const firstTap = <usize>load<i32>(taps);
  for (let oy = 0; oy < outH; oy++) {
    const rowSrc = src + ((<usize>(oy * planeW)) << 2);
    const rowDst = dst + ((<usize>(oy * outW)) << 2);
    let ox = 0;
    if (tapStep) {
      for (; ox + 8 <= outW; ox += 8) {
        tile4x8Strided(rowSrc + (<usize>ox << 2) + firstTap, tapCount, tapStep, weights, rowDst + (<usize>ox << 2), dstStride, b0, b1, b2, b3);
      }
    }
    for (; ox + 8 <= outW; ox += 8) {
      tile4x8(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, rowDst + (<usize>ox << 2), dstStride, b0, b1, b2, b3);
    }
    if (ox == outW) continue;
    // Without slack to read past the row (the input read in place), the last
    // 1-7 positions go through one more 4x8 tile ending at the row's end: it
    // recomputes up to 7 positions with the very same operations (so writes
    // the same bits again) where scalar positions ran at a fraction of the
    // tile's rate (mobilenet_v2's and resnext50's 7x7 pointwise layers).
    if (!overRead && outW >= 8) {
      const at = <usize>(outW - 8) << 2;
      if (tapStep) tile4x8Strided(rowSrc + at + firstTap, tapCount, tapStep, weights, rowDst + at, dstStride, b0, b1, b2, b3);
      else tile4x8(rowSrc + at, taps, tapEnd, weights, rowDst + at, dstStride, b0, b1, b2, b3);
      continue;
    }
    for (; ox + 4 <= outW; ox += 4) {
      tile4x4(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, rowDst + (<usize>ox << 2), dstStride, b0, b1, b2, b3, 4);
    }
    if (ox == outW) continue;
    if (overRead) {
      tile4x4(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, rowDst + (<usize>ox << 2), dstStride, b0, b1, b2, b3, outW - ox);
      continue;
    }
    for (; ox < outW; ox++) {
      scalar4(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, rowDst + (<usize>ox << 2), dstStride, b0, b1, b2, b3);
    }
  }
}

/**
 * One output channel, row by row as block4 (weight of tap t at weights + t *
 * weightStride), columns from `fromX` on. Nine-tap kernels have faster ones
 * (depthwise.ts), chosen at planning.
 */
export function block1(
  src: usize, taps: usize, tapCount: i32, weights: usize, weightStride: usize, dst: usize,
  outH: i32, outW: i32, planeW: i32, overRead: bool, b: f32, fromX: i32 = 0,
): void {
  const tapEnd = taps + (<usize>tapCount << 2);
  for (let oy = 0; oy < outH; oy++) {
    const rowSrc = src + ((<usize>(oy * planeW)) << 2);
    const rowDst = dst + ((<usize>(oy * outW)) << 2);
    let ox = fromX;
    for (; ox + 16 <= outW; ox += 16) {
      tile1x16(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, weightStride, rowDst + (<usize>ox << 2), b);
    }
    if (ox + 8 <= outW) {
      tile1x8(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, weightStride, rowDst + (<usize>ox << 2), b);
      ox += 8;
    }
    for (; ox + 4 <= outW; ox += 4) {
      tile1x4(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, weightStride, rowDst + (<usize>ox << 2), b, 4);
    }
    if (ox == outW) continue;
    if (overRead) {
      tile1x4(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, weightStride, rowDst + (<usize>ox << 2), b, outW - ox);
      continue;
    }
    // As in block4: a vector ending at the row's end recomputes the same bits rather than scalar positions.
    if (outW >= 4) {
      const at = <usize>(outW - 4) << 2;
      tile1x4(rowSrc + at, taps, tapEnd, weights, weightStride, rowDst + at, b, 4);
      continue;
    }
    for (; ox < outW; ox++) {
      scalar1(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, weightStride, rowDst + (<usize>ox << 2), b);
    }
  }
}
