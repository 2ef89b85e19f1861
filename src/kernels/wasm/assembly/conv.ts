// groupconv's WebAssembly SIMD convolution kernel (AssemblyScript).
//
// One algorithm serves every layer shape: an implicit GEMM over a "phase
// plane" copy of the input. For a group, the input is copied once into
// scratch with its zero padding and, when strided, split by stride phase
// (column x of phase rx holds padded column x*strideW + rx, same for rows).
// In that layout every tap (input channel, ky, kx) of every output position
// p = oy * planeWidth + ox reads the element at p + tapOffset, so a tile of
// output positions along a row is a run of contiguous floats for every tap:
// plain v128 loads, no im2col buffer, no bounds checks.
//
// Rules that keep this safe on memory shared by several threads:
// - nothing is allocated: every pointer (tensors, packed weights, tap table,
//   scratch) is a byte offset the caller owns;
// - every output element is bias + the taps in tap-table order, each tap one
//   madd / maddScalar below (fused in the relaxed-SIMD build, multiply then
//   add in the plain one), whichever tile or the scalar tail computes it, so
//   results are bitwise independent of how the output is sliced.

import { copyFloats, madd, maddScalar, padPlanes, tile4x8Strided, zeroFloats } from './primitives';

export { winogradSlice } from './winograd';

/** Copies one image's group of input channels into phase planes (zero padding included). */
function buildPlanes(
  src: usize,
  dst: usize,
  channels: i32,
  h: i32,
  w: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  planeH: i32,
  planeW: i32,
  channelStride: i32,
): void {
  if (strideH == 1 && strideW == 1) {
    padPlanes(src, dst, channels, h, w, padTop, padLeft, planeH, planeW, channelStride);
    return;
  }
  const planeFloats = planeH * planeW;
  for (let c = 0; c < channels; c++) {
    const srcPlane = src + ((<usize>(c * h * w)) << 2);
    const dstChannel = dst + ((<usize>(c * channelStride)) << 2);
    for (let ry = 0; ry < strideH; ry++) {
      for (let rx = 0; rx < strideW; rx++) {
        const plane = dstChannel + ((<usize>((ry * strideW + rx) * planeFloats)) << 2);
        for (let y = 0; y < planeH; y++) {
          const iy = y * strideH + ry - padTop;
          const row = plane + ((<usize>(y * planeW)) << 2);
          if (iy < 0 || iy >= h) {
            zeroFloats(row, planeW);
            continue;
          }
          const srcRow = srcPlane + ((<usize>(iy * w)) << 2);
          for (let x = 0; x < planeW; x++) {
            const ix = x * strideW + rx - padLeft;
            store<f32>(row + (<usize>x << 2), ix >= 0 && ix < w ? load<f32>(srcRow + (<usize>ix << 2)) : 0);
          }
        }
      }
    }
  }
}

/** Stores the first `lanes` (1..4) lanes of v at ptr. */
@inline function storeLanes(ptr: usize, v: v128, lanes: i32): void {
  if (lanes == 4) {
    v128.store(ptr, v);
    return;
  }
  store<f32>(ptr, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(ptr, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(ptr, f32x4.extract_lane(v, 2), 8);
}

// Tiles. Weights: [tap][4 channels] (4-channel tiles) or one float per tap at
// weightStride (1-channel tiles). 4 channels x 2 vectors = 8 accumulators:
// with two inputs, a weight (and, in the plain build, the product) that fits
// x64's 15 usable xmm registers (4 x 3 spilled and ran slower in both builds).

@inline function tile4x8(src: usize, taps: usize, tapEnd: usize, weights: usize, dst: usize, dstStride: usize, b0: f32, b1: f32, b2: f32, b3: f32): void {
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

@inline function tile4x4(src: usize, taps: usize, tapEnd: usize, weights: usize, dst: usize, dstStride: usize, b0: f32, b1: f32, b2: f32, b3: f32, lanes: i32): void {
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
@inline function scalar4(src: usize, taps: usize, tapEnd: usize, weights: usize, dst: usize, dstStride: usize, b0: f32, b1: f32, b2: f32, b3: f32): void {
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

@inline function tile1x16(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32): void {
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

@inline function tile1x8(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32): void {
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

@inline function tile1x4(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32, lanes: i32): void {
  let a = f32x4.splat(b);
  let wp = weights;
  for (let tp = taps; tp < tapEnd; tp += 4) {
    a = madd(v128.load32_splat(wp), v128.load(src + <usize>load<i32>(tp)), a);
    wp += weightStride;
  }
  storeLanes(dst, a, lanes);
}

@inline function scalar1(src: usize, taps: usize, tapEnd: usize, weights: usize, weightStride: usize, dst: usize, b: f32): void {
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
function block4(
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
 * block1 for 3x3 kernels of one input channel (depthwise 3x3, the common
 * case): the 9 weights and tap offsets are hoisted out of the row loop into
 * registers, and the taps are unrolled. Same multiply-then-add order per tap.
 */
function block1Taps9(
  src: usize, taps: usize, weights: usize, weightStride: usize, dst: usize,
  outH: i32, outW: i32, planeW: i32, overRead: bool, b: f32,
): void {
  const o0 = <usize>load<i32>(taps), o1 = <usize>load<i32>(taps, 4), o2 = <usize>load<i32>(taps, 8);
  const o3 = <usize>load<i32>(taps, 12), o4 = <usize>load<i32>(taps, 16), o5 = <usize>load<i32>(taps, 20);
  const o6 = <usize>load<i32>(taps, 24), o7 = <usize>load<i32>(taps, 28), o8 = <usize>load<i32>(taps, 32);
  const w0 = v128.load32_splat(weights), w1 = v128.load32_splat(weights + weightStride);
  const w2 = v128.load32_splat(weights + 2 * weightStride), w3 = v128.load32_splat(weights + 3 * weightStride);
  const w4 = v128.load32_splat(weights + 4 * weightStride), w5 = v128.load32_splat(weights + 5 * weightStride);
  const w6 = v128.load32_splat(weights + 6 * weightStride), w7 = v128.load32_splat(weights + 7 * weightStride);
  const w8 = v128.load32_splat(weights + 8 * weightStride);
  const bv = f32x4.splat(b);
  for (let oy = 0; oy < outH; oy++) {
    const rowSrc = src + ((<usize>(oy * planeW)) << 2);
    const rowDst = dst + ((<usize>(oy * outW)) << 2);
    let ox = 0;
    for (; ox + 8 <= outW; ox += 8) {
      const ip = rowSrc + (<usize>ox << 2);
      let a0 = madd(w0, v128.load(ip + o0), bv);
      let a1 = madd(w0, v128.load(ip + o0, 16), bv);
      a0 = madd(w1, v128.load(ip + o1), a0);
      a1 = madd(w1, v128.load(ip + o1, 16), a1);
      a0 = madd(w2, v128.load(ip + o2), a0);
      a1 = madd(w2, v128.load(ip + o2, 16), a1);
      a0 = madd(w3, v128.load(ip + o3), a0);
      a1 = madd(w3, v128.load(ip + o3, 16), a1);
      a0 = madd(w4, v128.load(ip + o4), a0);
      a1 = madd(w4, v128.load(ip + o4, 16), a1);
      a0 = madd(w5, v128.load(ip + o5), a0);
      a1 = madd(w5, v128.load(ip + o5, 16), a1);
      a0 = madd(w6, v128.load(ip + o6), a0);
      a1 = madd(w6, v128.load(ip + o6, 16), a1);
      a0 = madd(w7, v128.load(ip + o7), a0);
      a1 = madd(w7, v128.load(ip + o7, 16), a1);
      a0 = madd(w8, v128.load(ip + o8), a0);
      a1 = madd(w8, v128.load(ip + o8, 16), a1);
      const op = rowDst + (<usize>ox << 2);
      v128.store(op, a0);
      v128.store(op, a1, 16);
    }
    for (; ox < outW; ox += 4) {
      const lanes = min(4, outW - ox);
      if (lanes < 4 && !overRead) break;
      const ip = rowSrc + (<usize>ox << 2);
      let a = madd(w0, v128.load(ip + o0), bv);
      a = madd(w1, v128.load(ip + o1), a);
      a = madd(w2, v128.load(ip + o2), a);
      a = madd(w3, v128.load(ip + o3), a);
      a = madd(w4, v128.load(ip + o4), a);
      a = madd(w5, v128.load(ip + o5), a);
      a = madd(w6, v128.load(ip + o6), a);
      a = madd(w7, v128.load(ip + o7), a);
      a = madd(w8, v128.load(ip + o8), a);
      storeLanes(rowDst + (<usize>ox << 2), a, lanes);
    }
    for (; ox < outW; ox++) {
      scalar1(rowSrc + (<usize>ox << 2), taps, taps + 36, weights, weightStride, rowDst + (<usize>ox << 2), b);
    }
  }
}

/** The columns from `ox` on of one output row of block1Taps3x3Rows, 4 at a time (the last vector masked). */
@inline function row3x3Tail(
  rowSrc: usize, rowDst: usize, ox: i32, outW: i32, rowOffset0: usize, rowOffset1: usize, rowOffset2: usize,
  w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, w8: v128, bv: v128,
): void {
  for (; ox < outW; ox += 4) {
    const lanes = min(4, outW - ox);
    const ip = rowSrc + (<usize>ox << 2);
    const r0 = ip + rowOffset0, r1 = ip + rowOffset1, r2 = ip + rowOffset2;
    let a = madd(w0, v128.load(r0), bv);
    a = madd(w1, v128.load(r0, 4), a);
    a = madd(w2, v128.load(r0, 8), a);
    a = madd(w3, v128.load(r1), a);
    a = madd(w4, v128.load(r1, 4), a);
    a = madd(w5, v128.load(r1, 8), a);
    a = madd(w6, v128.load(r2), a);
    a = madd(w7, v128.load(r2, 4), a);
    a = madd(w8, v128.load(r2, 8), a);
    storeLanes(rowDst + (<usize>ox << 2), a, lanes);
  }
}

/**
 * Output rows oy and oy + 1 (at dst and dst + outRowBytes) over `width` (1 or 2)
 * vectors from ip: rows oy and oy + 1 share input rows 1 and 2, so 4 input
 * rows are loaded for 2 output rows. Each element takes its 9 taps in order.
 * `lanes`: valid outputs from ip on (the last vector may be partial).
 */
@inline function pairTile3x3(
  ip: usize, dst: usize, rowBytes: usize, outRowBytes: usize, rowOffset0: usize, rowOffset1: usize, rowOffset2: usize, width: i32, lanes: i32,
  w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, w8: v128, bv: v128,
): void {
  const r0 = ip + rowOffset0, r1 = ip + rowOffset1, r2 = ip + rowOffset2, r3 = r2 + rowBytes;
  if (width == 2) {
    let x0 = v128.load(r0), x1 = v128.load(r0, 16);
    let a0 = madd(w0, x0, bv), a1 = madd(w0, x1, bv);
    x0 = v128.load(r0, 4); x1 = v128.load(r0, 20);
    a0 = madd(w1, x0, a0); a1 = madd(w1, x1, a1);
    x0 = v128.load(r0, 8); x1 = v128.load(r0, 24);
    a0 = madd(w2, x0, a0); a1 = madd(w2, x1, a1);
    x0 = v128.load(r1); x1 = v128.load(r1, 16);
    a0 = madd(w3, x0, a0); a1 = madd(w3, x1, a1);
    let c0 = madd(w0, x0, bv), c1 = madd(w0, x1, bv);
    x0 = v128.load(r1, 4); x1 = v128.load(r1, 20);
    a0 = madd(w4, x0, a0); a1 = madd(w4, x1, a1);
    c0 = madd(w1, x0, c0); c1 = madd(w1, x1, c1);
    x0 = v128.load(r1, 8); x1 = v128.load(r1, 24);
    a0 = madd(w5, x0, a0); a1 = madd(w5, x1, a1);
    c0 = madd(w2, x0, c0); c1 = madd(w2, x1, c1);
    x0 = v128.load(r2); x1 = v128.load(r2, 16);
    a0 = madd(w6, x0, a0); a1 = madd(w6, x1, a1);
    c0 = madd(w3, x0, c0); c1 = madd(w3, x1, c1);
    x0 = v128.load(r2, 4); x1 = v128.load(r2, 20);
    a0 = madd(w7, x0, a0); a1 = madd(w7, x1, a1);
    c0 = madd(w4, x0, c0); c1 = madd(w4, x1, c1);
    x0 = v128.load(r2, 8); x1 = v128.load(r2, 24);
    a0 = madd(w8, x0, a0); a1 = madd(w8, x1, a1);
    c0 = madd(w5, x0, c0); c1 = madd(w5, x1, c1);
    x0 = v128.load(r3); x1 = v128.load(r3, 16);
    c0 = madd(w6, x0, c0); c1 = madd(w6, x1, c1);
    x0 = v128.load(r3, 4); x1 = v128.load(r3, 20);
    c0 = madd(w7, x0, c0); c1 = madd(w7, x1, c1);
    x0 = v128.load(r3, 8); x1 = v128.load(r3, 24);
    c0 = madd(w8, x0, c0); c1 = madd(w8, x1, c1);
    const np = dst + outRowBytes;
    if (lanes >= 8) {
      v128.store(dst, a0); v128.store(dst, a1, 16);
      v128.store(np, c0); v128.store(np, c1, 16);
    } else {
      v128.store(dst, a0); storeLanes(dst + 16, a1, lanes - 4);
      v128.store(np, c0); storeLanes(np + 16, c1, lanes - 4);
    }
  } else {
    // depthwisePair's MIDDLE vector reads columns -1, 0, +1 of its rows: pointed one float in, the taps' three runs.
    depthwisePair(r0 + 4, r1 + 4, r2 + 4, r3 + 4, dst, dst + outRowBytes, 0, MIDDLE, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv, min(4, lanes));
  }
}

/**
 * block1Taps9 when the 9 taps are three runs of three adjacent floats (a 3x3
 * kernel at stride 1, dilation 1): three row pointers and constant offsets
 * address every load, which frees the registers that nine tap offsets took.
 * Same taps in the same order, so the same bits.
 */
function block1Taps3x3Rows(
  src: usize, rowOffset0: usize, rowOffset1: usize, rowOffset2: usize, weights: usize, weightStride: usize, dst: usize,
  outH: i32, outW: i32, planeW: i32, b: f32,
): void {
  const w0 = v128.load32_splat(weights), w1 = v128.load32_splat(weights + weightStride);
  const w2 = v128.load32_splat(weights + 2 * weightStride), w3 = v128.load32_splat(weights + 3 * weightStride);
  const w4 = v128.load32_splat(weights + 4 * weightStride), w5 = v128.load32_splat(weights + 5 * weightStride);
  const w6 = v128.load32_splat(weights + 6 * weightStride), w7 = v128.load32_splat(weights + 7 * weightStride);
  const w8 = v128.load32_splat(weights + 8 * weightStride);
  const bv = f32x4.splat(b);
  const rowBytes = <usize>planeW << 2;
  let oy = 0;
  // Two output rows at a time where the taps' rows are adjacent plane rows
  // (stride 1, no dilation): rows oy and oy + 1 then share input rows 1 and
  // 2, so 4 input rows are loaded for 2 output rows instead of 6, and 4
  // accumulators run at once. Each element still takes its 9 taps in order.
  const pairs = rowOffset1 - rowOffset0 == rowBytes && rowOffset2 - rowOffset1 == rowBytes ? outH & ~1 : 0;
  for (; oy < pairs; oy += 2) {
    const rowSrc = src + ((<usize>(oy * planeW)) << 2);
    const rowDst = dst + ((<usize>(oy * outW)) << 2);
    let ox = 0;
    for (; ox + 8 <= outW; ox += 8) {
      pairTile3x3(rowSrc + (<usize>ox << 2), rowDst + (<usize>ox << 2), rowBytes, <usize>outW << 2, rowOffset0, rowOffset1, rowOffset2, 2, 8,
        w0, w1, w2, w3, w4, w5, w6, w7, w8, bv);
    }
    // The row pair's last 1-7 outputs: two vectors at most, the last one partial.
    if (ox < outW) {
      pairTile3x3(rowSrc + (<usize>ox << 2), rowDst + (<usize>ox << 2), rowBytes, <usize>outW << 2, rowOffset0, rowOffset1, rowOffset2, outW - ox > 4 ? 2 : 1, outW - ox,
        w0, w1, w2, w3, w4, w5, w6, w7, w8, bv);
    }
  }
  for (; oy < outH; oy++) {
    const rowSrc = src + ((<usize>(oy * planeW)) << 2);
    const rowDst = dst + ((<usize>(oy * outW)) << 2);
    let ox = 0;
    for (; ox + 8 <= outW; ox += 8) {
      const ip = rowSrc + (<usize>ox << 2);
      const r0 = ip + rowOffset0, r1 = ip + rowOffset1, r2 = ip + rowOffset2;
      let a0 = madd(w0, v128.load(r0), bv);
      let a1 = madd(w0, v128.load(r0, 16), bv);
      a0 = madd(w1, v128.load(r0, 4), a0);
      a1 = madd(w1, v128.load(r0, 20), a1);
      a0 = madd(w2, v128.load(r0, 8), a0);
      a1 = madd(w2, v128.load(r0, 24), a1);
      a0 = madd(w3, v128.load(r1), a0);
      a1 = madd(w3, v128.load(r1, 16), a1);
      a0 = madd(w4, v128.load(r1, 4), a0);
      a1 = madd(w4, v128.load(r1, 20), a1);
      a0 = madd(w5, v128.load(r1, 8), a0);
      a1 = madd(w5, v128.load(r1, 24), a1);
      a0 = madd(w6, v128.load(r2), a0);
      a1 = madd(w6, v128.load(r2, 16), a1);
      a0 = madd(w7, v128.load(r2, 4), a0);
      a1 = madd(w7, v128.load(r2, 20), a1);
      a0 = madd(w8, v128.load(r2, 8), a0);
      a1 = madd(w8, v128.load(r2, 24), a1);
      const op = rowDst + (<usize>ox << 2);
      v128.store(op, a0);
      v128.store(op, a1, 16);
    }
    row3x3Tail(rowSrc, rowDst, ox, outW, rowOffset0, rowOffset1, rowOffset2, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv);
  }
}

// Depthwise 3x3, stride 1, padding 1: computed from the input plane in
// place, without the padded copy, which took about a third of such a layer's
// time. A missing row (above the first, below the last) is read from a row
// of zeros; a missing column comes from a lane shuffled in from a zero
// vector, or, for the last vector of a row whose width is not a multiple of
// 4, from a small zero-filled window the row's last floats are copied into
// (so nothing past the input is read). The padding values are the same +0
// the padded copy holds and the taps run in the same order, so the results
// are the same bits as block1Taps3x3Rows on the padded planes.
const LEFT = 0, MIDDLE = 1, RIGHT = 2;

/**
 * One vector of output rows y and y + 1 (at byte offset o of rows da and dc)
 * from input rows r0..r3 (y - 1 .. y + 2). `edge`: LEFT for the first vector
 * of a row (column -1 is padding), RIGHT for the last (column w is), else MIDDLE.
 */
@inline function depthwisePair(
  r0: usize, r1: usize, r2: usize, r3: usize, da: usize, dc: usize, o: usize, edge: i32,
  w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, w8: v128, bv: v128, lanes: i32 = 4,
): void {
  const zero = f32x4.splat(0);
  let c = v128.load(r0 + o);
  let l = edge == LEFT ? v128.shuffle<f32>(zero, c, 0, 4, 5, 6) : v128.load(r0 + o - 4);
  let r = edge == RIGHT ? v128.shuffle<f32>(c, zero, 1, 2, 3, 4) : v128.load(r0 + o + 4);
  let a = madd(w0, l, bv);
  a = madd(w1, c, a);
  a = madd(w2, r, a);
  c = v128.load(r1 + o);
  l = edge == LEFT ? v128.shuffle<f32>(zero, c, 0, 4, 5, 6) : v128.load(r1 + o - 4);
  r = edge == RIGHT ? v128.shuffle<f32>(c, zero, 1, 2, 3, 4) : v128.load(r1 + o + 4);
  a = madd(w3, l, a);
  let b = madd(w0, l, bv);
  a = madd(w4, c, a);
  b = madd(w1, c, b);
  a = madd(w5, r, a);
  b = madd(w2, r, b);
  c = v128.load(r2 + o);
  l = edge == LEFT ? v128.shuffle<f32>(zero, c, 0, 4, 5, 6) : v128.load(r2 + o - 4);
  r = edge == RIGHT ? v128.shuffle<f32>(c, zero, 1, 2, 3, 4) : v128.load(r2 + o + 4);
  a = madd(w6, l, a);
  b = madd(w3, l, b);
  a = madd(w7, c, a);
  b = madd(w4, c, b);
  a = madd(w8, r, a);
  b = madd(w5, r, b);
  c = v128.load(r3 + o);
  l = edge == LEFT ? v128.shuffle<f32>(zero, c, 0, 4, 5, 6) : v128.load(r3 + o - 4);
  r = edge == RIGHT ? v128.shuffle<f32>(c, zero, 1, 2, 3, 4) : v128.load(r3 + o + 4);
  b = madd(w6, l, b);
  b = madd(w7, c, b);
  b = madd(w8, r, b);
  storeLanes(da + o, a, lanes);
  storeLanes(dc + o, b, lanes);
}

/**
 * Window row for the last `lanes` (1-4) columns of a row from column x on:
 * column x - 1 (zero when x is 0), the columns x .. x + lanes - 1, zeros
 * after; 8 floats. depthwisePair reads it as a MIDDLE vector at window + 4.
 */
@inline function fillWindow(window: usize, row: usize, x: i32, lanes: i32): void {
  const zero = f32x4.splat(0);
  v128.store(window, zero);
  v128.store(window, zero, 16);
  if (x > 0) store<f32>(window, load<f32>(row + ((<usize>(x - 1)) << 2)));
  for (let i = 0; i < lanes; i++) store<f32>(window + ((<usize>(i + 1)) << 2), load<f32>(row + ((<usize>(x + i)) << 2)));
}

/**
 * One output channel of a depthwise 3x3 (see above) from input plane `src`
 * (h x w) into `dst`. zeroRow: w zeros; spareRow: w floats the odd last row's
 * partner is written to; window: 32 floats.
 */
function depthwise3x3InPlace(
  src: usize, dst: usize, zeroRow: usize, spareRow: usize, window: usize, h: i32, w: i32, weights: usize, weightStride: usize, b: f32,
): void {
  const w0 = v128.load32_splat(weights), w1 = v128.load32_splat(weights + weightStride);
  const w2 = v128.load32_splat(weights + 2 * weightStride), w3 = v128.load32_splat(weights + 3 * weightStride);
  const w4 = v128.load32_splat(weights + 4 * weightStride), w5 = v128.load32_splat(weights + 5 * weightStride);
  const w6 = v128.load32_splat(weights + 6 * weightStride), w7 = v128.load32_splat(weights + 7 * weightStride);
  const w8 = v128.load32_splat(weights + 8 * weightStride);
  const bv = f32x4.splat(b);
  const rowBytes = <usize>w << 2;
  // Vectors at x = 4k: the first one if its right neighbours (x + 1 .. x + 4)
  // are in the row, then the middle ones while they are; the rest (1-4
  // columns) by the shuffle when the width is a multiple of 4 (from 8 on),
  // else through the window.
  const first = w >= 5;
  const middleEnd: usize = w > 4 ? <usize>(w - 4) << 2 : 0; // a middle vector starts before this byte
  const right = (w & 3) == 0 && w >= 8;
  for (let y = 0; y < h; y += 2) {
    const r1 = src + <usize>y * rowBytes;
    const r0 = y > 0 ? r1 - rowBytes : zeroRow;
    const r2 = y + 1 < h ? r1 + rowBytes : zeroRow;
    const r3 = y + 2 < h ? r1 + 2 * rowBytes : zeroRow;
    const da = dst + <usize>y * rowBytes;
    const dc = y + 1 < h ? da + rowBytes : spareRow;
    let o: usize = 0;
    if (first) {
      depthwisePair(r0, r1, r2, r3, da, dc, 0, LEFT, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv);
      o = 16;
    }
    for (; o < middleEnd; o += 16) {
      depthwisePair(r0, r1, r2, r3, da, dc, o, MIDDLE, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv);
    }
    if (right) {
      depthwisePair(r0, r1, r2, r3, da, dc, o, RIGHT, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv);
      continue;
    }
    const x = <i32>(o >> 2);
    const lanes = w - x;
    if (lanes <= 0) continue;
    fillWindow(window, r0, x, lanes);
    fillWindow(window + 32, r1, x, lanes);
    fillWindow(window + 64, r2, x, lanes);
    fillWindow(window + 96, r3, x, lanes);
    depthwisePair(window + 4, window + 36, window + 68, window + 100, da + o, dc + o, 0, MIDDLE, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv, lanes);
  }
}

/**
 * Two output channels x 16 positions, tap t at src + t * tapStride, the
 * channels' weights at w0 and w1 (4 bytes per tap): 8 accumulators, as the
 * 4-channel tile, where a lone channel's 16-position tile has 4 and so runs
 * its multiply-adds at half the rate.
 */
@inline function tile2x16Strided(src: usize, tapCount: i32, tapStride: usize, w0: usize, w1: usize, dst0: usize, dst1: usize, b0: f32, b1: f32): void {
  let a0 = f32x4.splat(b0), a1 = a0, a2 = a0, a3 = a0;
  let c0 = f32x4.splat(b1), c1 = c0, c2 = c0, c3 = c0;
  let ip = src;
  const end = w0 + (<usize>tapCount << 2);
  let wq = w1;
  for (let wp = w0; wp < end; wp += 4) {
    const x0 = v128.load(ip), x1 = v128.load(ip, 16), x2 = v128.load(ip, 32), x3 = v128.load(ip, 48);
    let wv = v128.load32_splat(wp);
    a0 = madd(wv, x0, a0);
    a1 = madd(wv, x1, a1);
    a2 = madd(wv, x2, a2);
    a3 = madd(wv, x3, a3);
    wv = v128.load32_splat(wq);
    c0 = madd(wv, x0, c0);
    c1 = madd(wv, x1, c1);
    c2 = madd(wv, x2, c2);
    c3 = madd(wv, x3, c3);
    ip += tapStride;
    wq += 4;
  }
  v128.store(dst0, a0); v128.store(dst0, a1, 16); v128.store(dst0, a2, 32); v128.store(dst0, a3, 48);
  v128.store(dst1, c0); v128.store(dst1, c1, 16); v128.store(dst1, c2, 32); v128.store(dst1, c3, 48);
}

/**
 * Two of the channels left over from a group's 4-channel blocks (ShuffleNet's
 * 30 channels per group leave 2), when the taps are a uniform stride apart
 * (1x1 kernels): their 16-position runs through tile2x16Strided, the rest of
 * each row channel by channel through block1 (same taps, same order: the
 * same bits as block1 alone). Weights: one float per tap, w1 right after w0.
 */
function block2Strided(
  src: usize, taps: usize, tapCount: i32, tapStep: usize, w0: usize, dst0: usize, dst1: usize,
  outH: i32, outW: i32, planeW: i32, overRead: bool, b0: f32, b1: f32,
): void {
  const w1 = w0 + (<usize>tapCount << 2);
  const firstTap = <usize>load<i32>(taps);
  const wide = outW & ~15;
  for (let oy = 0; oy < outH; oy++) {
    const rowSrc = src + ((<usize>(oy * planeW)) << 2) + firstTap;
    const row0 = dst0 + ((<usize>(oy * outW)) << 2), row1 = dst1 + ((<usize>(oy * outW)) << 2);
    for (let ox = 0; ox < wide; ox += 16) {
      const at = <usize>ox << 2;
      tile2x16Strided(rowSrc + at, tapCount, tapStep, w0, w1, row0 + at, row1 + at, b0, b1);
    }
  }
  if (wide == outW) return;
  block1(src, taps, tapCount, false, w0, 4, dst0, outH, outW, planeW, overRead, b0, wide);
  block1(src, taps, tapCount, false, w1, 4, dst1, outH, outW, planeW, overRead, b1, wide);
}

/** One output channel, row by row as block4 (weight of tap t at weights + t * weightStride). */
function block1(
  src: usize, taps: usize, tapCount: i32, threeRuns: bool, weights: usize, weightStride: usize, dst: usize,
  outH: i32, outW: i32, planeW: i32, overRead: bool, b: f32, fromX: i32 = 0,
): void {
  if (tapCount == 9 && fromX == 0) {
    // The masked last vector reads past the row, which needs the planes' slack (overRead).
    if (overRead && threeRuns) {
      block1Taps3x3Rows(src, <usize>load<i32>(taps), <usize>load<i32>(taps, 12), <usize>load<i32>(taps, 24), weights, weightStride, dst, outH, outW, planeW, b);
      return;
    }
    block1Taps9(src, taps, weights, weightStride, dst, outH, outW, planeW, overRead, b);
    return;
  }
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
    for (; ox < outW; ox++) {
      scalar1(rowSrc + (<usize>ox << 2), taps, tapEnd, weights, weightStride, rowDst + (<usize>ox << 2), b);
    }
  }
}

@inline function biasAt(bias: usize, oc: i32): f32 {
  return bias ? load<f32>(bias + (<usize>oc << 2)) : 0;
}

/** Copies the valid columns of `rows` plane-layout rows into output planes. */
function copyOut(tmp: usize, tmpStride: usize, out: usize, outStride: usize, rows: i32, outH: i32, outW: i32, planeW: i32): void {
  for (let j = 0; j < rows; j++) {
    const from = tmp + <usize>j * tmpStride;
    const to = out + <usize>j * outStride;
    for (let oy = 0; oy < outH; oy++) {
      copyFloats(to + ((<usize>(oy * outW)) << 2), from + ((<usize>(oy * planeW)) << 2), outW);
    }
  }
}

/** Floats of zeroed slack after the phase planes, read by the extra lanes of a row's last vector. */
const PLANE_SLACK: i32 = 4;


/**
 * Computes images [batchStart, batchEnd) x output channels [ocStart, ocEnd).
 * Weights: per group, floor(coutG / 4) blocks of [tap][4] then the remaining
 * channels as [tap]. Taps: byte offsets into one group's phase planes.
 * Scratch: the planes (cinG * channelStride floats) and PLANE_SLACK floats.
 * directInput: the input itself already is the phase-plane layout (stride 1,
 * no padding), so it is read in place.
 * planeMode: compute each channel's plane-layout positions as one long row
 * (longer tiles; the planeW - outW extra columns per row are computed and
 * dropped) into scratch after the slack, then copy the valid columns out. When
 * planeW == outW the plane layout is the output layout and nothing is copied.
 * tapStep, threeRuns: the tap table's pattern, found once at planning (see
 * plan.ts): a uniform byte step between taps (4-channel tiles then step a
 * pointer) or 0; nine taps in three runs of adjacent floats (the depthwise 3x3
 * kernel then uses row pointers).
 */
export function convSlice(
  input: usize,
  output: usize,
  bias: usize,
  weights: usize,
  taps: usize,
  scratch: usize,
  inChannels: i32,
  h: i32,
  w: i32,
  outChannels: i32,
  outH: i32,
  outW: i32,
  cinG: i32,
  coutG: i32,
  tapCount: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  planeH: i32,
  planeW: i32,
  channelStride: i32,
  directInput: i32,
  planeMode: i32,
  tapStep: i32,
  threeRuns: i32,
  batchStart: i32,
  batchEnd: i32,
  ocStart: i32,
  ocEnd: i32,
): void {
  const outPlane = <usize>(outH * outW) << 2;
  const fullBlocks = coutG >> 2;
  const groupWeights = <usize>(coutG * tapCount) << 2;
  const firstGroup = ocStart / coutG;
  const lastGroup = (ocEnd - 1) / coutG;
  const overRead = !directInput;
  const positions = (outH - 1) * planeW + outW;
  const copied = planeMode && planeW != outW;
  const tmp = scratch + ((<usize>(cinG * channelStride + PLANE_SLACK)) << 2);
  const tmpStride = <usize>positions << 2;
  // Plane mode runs one row of `positions`; row mode outH rows of outW.
  const rowsH = planeMode ? 1 : outH;
  const rowsW = planeMode ? positions : outW;
  if (overRead) zeroFloats(scratch + ((<usize>(cinG * channelStride)) << 2), PLANE_SLACK);
  // Depthwise 3x3 at stride 1 with padding 1 ('same'): read in place (depthwise3x3InPlace), where the scratch
  // holds its zero row, spare row and window (all but the smallest planes).
  const planeRow = planeW << 2;
  const inPlace3x3 = cinG == 1 && coutG < 4 && threeRuns != 0 && !directInput && strideH == 1 && strideW == 1 && padTop == 1 && padLeft == 1 &&
    outH == h && outW == w && channelStride + PLANE_SLACK >= 2 * w + 32 &&
    load<i32>(taps) == 0 && load<i32>(taps, 12) == planeRow && load<i32>(taps, 24) == 2 * planeRow;
  if (inPlace3x3) zeroFloats(scratch, w);
  for (let n = batchStart; n < batchEnd; n++) {
    for (let g = firstGroup; g <= lastGroup; g++) {
      const groupInput = input + ((<usize>((n * inChannels + g * cinG) * h * w)) << 2);
      if (inPlace3x3) {
        const groupFirst = g * coutG;
        const gw = weights + <usize>g * groupWeights;
        for (let oc = max(ocStart, groupFirst); oc < min(ocEnd, groupFirst + coutG); oc++) {
          // coutG < 4 here (one input channel): each channel's 9 weights are consecutive.
          const wp = gw + ((<usize>((oc - groupFirst) * 9)) << 2);
          const out = output + ((<usize>(n * outChannels + oc)) * outPlane);
          depthwise3x3InPlace(groupInput, out, scratch, scratch + (<usize>w << 2), scratch + (<usize>w << 3), h, w, wp, 4, biasAt(bias, oc));
        }
        continue;
      }
      let src = scratch;
      if (directInput) src = groupInput;
      else buildPlanes(groupInput, scratch, cinG, h, w, strideH, strideW, padTop, padLeft, planeH, planeW, channelStride);
      const groupFirst = g * coutG;
      const from = max(ocStart, groupFirst) - groupFirst;
      const to = min(ocEnd, groupFirst + coutG) - groupFirst;
      const gw = weights + <usize>g * groupWeights;
      let j = from;
      while (j < to) {
        const oc = groupFirst + j;
        const out = output + ((<usize>(n * outChannels + oc)) * outPlane);
        const block = j >> 2;
        if (block < fullBlocks && (j & 3) == 0 && j + 4 <= to) {
          const bw = gw + ((<usize>(block * tapCount * 4)) << 2);
          block4(src, taps, tapCount, <usize>tapStep, bw, copied ? tmp : out, copied ? tmpStride : outPlane, rowsH, rowsW, planeW, overRead,
            biasAt(bias, oc), biasAt(bias, oc + 1), biasAt(bias, oc + 2), biasAt(bias, oc + 3));
          if (copied) copyOut(tmp, tmpStride, out, outPlane, 4, outH, outW, planeW);
          j += 4;
        } else if (block >= fullBlocks && tapStep != 0 && j + 2 <= to) {
          const wp = gw + ((<usize>(fullBlocks * tapCount * 4 + (j - fullBlocks * 4) * tapCount)) << 2);
          const dst = copied ? tmp : out;
          const dstStride = copied ? tmpStride : outPlane;
          block2Strided(src, taps, tapCount, <usize>tapStep, wp, dst, dst + dstStride, rowsH, rowsW, planeW, overRead, biasAt(bias, oc), biasAt(bias, oc + 1));
          if (copied) copyOut(tmp, tmpStride, out, outPlane, 2, outH, outW, planeW);
          j += 2;
        } else {
          let wp: usize, stride: usize;
          if (block < fullBlocks) {
            wp = gw + ((<usize>(block * tapCount * 4 + (j & 3))) << 2);
            stride = 16;
          } else {
            wp = gw + ((<usize>(fullBlocks * tapCount * 4 + (j - fullBlocks * 4) * tapCount)) << 2);
            stride = 4;
          }
          block1(src, taps, tapCount, threeRuns != 0, wp, stride, copied ? tmp : out, rowsH, rowsW, planeW, overRead, biasAt(bias, oc));
          if (copied) copyOut(tmp, tmpStride, out, outPlane, 1, outH, outW, planeW);
          j += 1;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Fully connected layers: out[r, o] = bias[o] + x[r, :] . w[o, :], with x
// [rows, inF] and w [outF, inF] as PyTorch stores them (no packing).
//
// Every dot product is computed the same way whichever tile computes it: four
// lane sums over i = lane (mod 4) by multiply-add, the lanes added pairwise
// ((0 + 1) + (2 + 3)), then the inF % 4 last products one by one, then the
// bias; so results do not depend on how outputs are split (between devices).

@inline function laneSum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

@inline function finishDot(acc: v128, xRow: usize, wRow: usize, from: i32, inF: i32, b: f32): f32 {
  let s = laneSum(acc);
  for (let i = from; i < inF; i++) s = maddScalar(load<f32>(wRow + (<usize>i << 2)), load<f32>(xRow + (<usize>i << 2)), s);
  return s + b;
}

/** Outputs [o, o + 4) of rows r and r + 1: the four weight rows are read once for both. */
@inline function dot4x2(x: usize, w: usize, out: usize, bias: usize, r: i32, o: i32, inF: i32, outF: i32): void {
  const rowBytes = <usize>inF << 2;
  const x0 = x + <usize>r * rowBytes, x1 = x0 + rowBytes;
  const w0 = w + <usize>o * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let a00 = f32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  const vecEnd = inF & ~3;
  for (let i = 0; i < vecEnd; i += 4) {
    const at = <usize>i << 2;
    const v0 = v128.load(x0 + at), v1 = v128.load(x1 + at);
    let wv = v128.load(w0 + at);
    a00 = madd(wv, v0, a00); a01 = madd(wv, v1, a01);
    wv = v128.load(w1 + at);
    a10 = madd(wv, v0, a10); a11 = madd(wv, v1, a11);
    wv = v128.load(w2 + at);
    a20 = madd(wv, v0, a20); a21 = madd(wv, v1, a21);
    wv = v128.load(w3 + at);
    a30 = madd(wv, v0, a30); a31 = madd(wv, v1, a31);
  }
  const o0 = out + ((<usize>(r * outF + o)) << 2), o1 = o0 + ((<usize>outF) << 2);
  store<f32>(o0, finishDot(a00, x0, w0, vecEnd, inF, biasAt(bias, o)));
  store<f32>(o1, finishDot(a01, x1, w0, vecEnd, inF, biasAt(bias, o)));
  store<f32>(o0, finishDot(a10, x0, w1, vecEnd, inF, biasAt(bias, o + 1)), 4);
  store<f32>(o1, finishDot(a11, x1, w1, vecEnd, inF, biasAt(bias, o + 1)), 4);
  store<f32>(o0, finishDot(a20, x0, w2, vecEnd, inF, biasAt(bias, o + 2)), 8);
  store<f32>(o1, finishDot(a21, x1, w2, vecEnd, inF, biasAt(bias, o + 2)), 8);
  store<f32>(o0, finishDot(a30, x0, w3, vecEnd, inF, biasAt(bias, o + 3)), 12);
  store<f32>(o1, finishDot(a31, x1, w3, vecEnd, inF, biasAt(bias, o + 3)), 12);
}

/** One output of one row, in the same order as dot4x2. */
@inline function dot1x1(x: usize, w: usize, out: usize, bias: usize, r: i32, o: i32, inF: i32, outF: i32): void {
  const rowBytes = <usize>inF << 2;
  const xr = x + <usize>r * rowBytes, wr = w + <usize>o * rowBytes;
  let acc = f32x4.splat(0);
  const vecEnd = inF & ~3;
  for (let i = 0; i < vecEnd; i += 4) {
    const at = <usize>i << 2;
    acc = madd(v128.load(wr + at), v128.load(xr + at), acc);
  }
  store<f32>(out + ((<usize>(r * outF + o)) << 2), finishDot(acc, xr, wr, vecEnd, inF, biasAt(bias, o)));
}

/**
 * Outputs [oStart, oEnd) of every row. Blocks of 4 outputs are the outer loop
 * so their weight rows stay in cache while every pair of rows reads them: the
 * weights (most of the bytes) come from memory once per call.
 */
export function linearRows(x: usize, w: usize, bias: usize, out: usize, rows: i32, inF: i32, outF: i32, oStart: i32, oEnd: i32): void {
  let o = oStart;
  for (; o + 4 <= oEnd; o += 4) {
    let r = 0;
    for (; r + 2 <= rows; r += 2) dot4x2(x, w, out, bias, r, o, inF, outF);
    for (; r < rows; r++) {
      for (let j = 0; j < 4; j++) dot1x1(x, w, out, bias, r, o + j, inF, outF);
    }
  }
  for (; o < oEnd; o++) {
    for (let r = 0; r < rows; r++) dot1x1(x, w, out, bias, r, o, inF, outF);
  }
}
