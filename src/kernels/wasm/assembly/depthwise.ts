// Depthwise microkernels: one output channel of a nine-tap kernel (depthwise
// 3x3, the common case) with its 9 weights held in registers. Chosen at
// planning from the tap pattern (plan/selection.ts); each computes every
// output element as the generic tiles do (bias + the taps in tap-table order,
// one madd each), so they give the same bits, only faster.

import { epiloguePlanes, hasEpilogue, storeFinished } from './epilogue';
import { EPILOGUE_CLIP, EPILOGUE_HARDSIGMOID, EPILOGUE_HARDSWISH, EPILOGUE_NONE, EPILOGUE_RELU, EPILOGUE_SIGMOID, EPILOGUE_SILU } from '../param-block';
import { biasAt, madd, storeLanes, zeroFloats } from './primitives';
import { scalar1 } from './tiles';

/**
 * block1 for 3x3 kernels of one input channel (depthwise 3x3, the common
 * case): the 9 weights and tap offsets are hoisted out of the row loop into
 * registers, and the taps are unrolled. Same multiply-then-add order per tap.
 */
export function block1Taps9(
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
export function block1Taps3x3Rows(
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
  kind: i32 = EPILOGUE_NONE, lo: v128 = f32x4.splat(0), hi: v128 = f32x4.splat(0), resA: bool = false, resC: bool = false, resDelta: usize = 0,
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
  if (kind == EPILOGUE_NONE && !resA && !resC) {
    storeLanes(da + o, a, lanes);
    storeLanes(dc + o, b, lanes);
  } else {
    storeFinished(da + o, a, lanes, kind, lo, hi, resA, resDelta);
    storeFinished(dc + o, b, lanes, kind, lo, hi, resC, resDelta);
  }
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
 * partner is written to; window: 32 floats. The epilogue (epilogue.ts) is
 * applied in registers as each vector is stored: activation `kind` (a
 * constant in each copy), clip's bounds lo and hi, and when `res` the
 * residual at the output address + resDelta (never for the spare row).
 */
@inline function depthwise3x3InPlace(
  src: usize, dst: usize, zeroRow: usize, spareRow: usize, window: usize, h: i32, w: i32, weights: usize, weightStride: usize, b: f32,
  kind: i32, lo: v128, hi: v128, res: bool, resDelta: usize,
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
    const resC = res && y + 1 < h;
    let o: usize = 0;
    if (first) {
      depthwisePair(r0, r1, r2, r3, da, dc, 0, LEFT, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv, 4, kind, lo, hi, res, resC, resDelta);
      o = 16;
    }
    for (; o < middleEnd; o += 16) {
      depthwisePair(r0, r1, r2, r3, da, dc, o, MIDDLE, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv, 4, kind, lo, hi, res, resC, resDelta);
    }
    if (right) {
      depthwisePair(r0, r1, r2, r3, da, dc, o, RIGHT, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv, 4, kind, lo, hi, res, resC, resDelta);
      continue;
    }
    const x = <i32>(o >> 2);
    const lanes = w - x;
    if (lanes <= 0) continue;
    fillWindow(window, r0, x, lanes);
    fillWindow(window + 32, r1, x, lanes);
    fillWindow(window + 64, r2, x, lanes);
    fillWindow(window + 96, r3, x, lanes);
    depthwisePair(window + 4, window + 36, window + 68, window + 100, da + o, dc + o, 0, MIDDLE, w0, w1, w2, w3, w4, w5, w6, w7, w8, bv, lanes,
      kind, lo, hi, res, resC, resDelta);
  }
}

/**
 * Images [batchStart, batchEnd) x output channels [ocStart, ocEnd) of a
 * depthwise 3x3 at stride 1 with padding 1 ('same') and fewer than 4 output
 * channels per group, read in place (depthwise3x3InPlace). Chosen at planning
 * where the scratch holds its zero row, spare row and window: w + w + 32
 * floats. Weights: each channel's 9 consecutively. The epilogue (epilogue.ts)
 * is applied as each vector is stored, by a copy of the kernel per activation.
 */
@inline export function depthwise3x3InPlaceSlice(
  input: usize, output: usize, bias: usize, weights: usize, scratch: usize,
  inChannels: i32, h: i32, w: i32, outChannels: i32, coutG: i32,
  batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32,
  residual: usize, activation: i32, lo: f32, hi: f32,
): void {
  const outPlane = <usize>(h * w) << 2;
  const lov = f32x4.splat(lo), hiv = f32x4.splat(hi);
  const res = residual != 0;
  const resDelta = residual - output; // wraps: output + resDelta is the residual's matching address
  const groupWeights = <usize>(coutG * 9) << 2;
  const firstGroup = ocStart / coutG;
  const lastGroup = (ocEnd - 1) / coutG;
  zeroFloats(scratch, w);
  for (let n = batchStart; n < batchEnd; n++) {
    for (let g = firstGroup; g <= lastGroup; g++) {
      const groupInput = input + ((<usize>((n * inChannels + g) * h * w)) << 2);
      const groupFirst = g * coutG;
      const gw = weights + <usize>g * groupWeights;
      for (let oc = max(ocStart, groupFirst); oc < min(ocEnd, groupFirst + coutG); oc++) {
        const wp = gw + ((<usize>((oc - groupFirst) * 9)) << 2);
        const out = output + ((<usize>(n * outChannels + oc)) * outPlane);
        const zeroRow = scratch, spareRow = scratch + (<usize>w << 2), window = scratch + (<usize>w << 3);
        const b = biasAt(bias, oc);
        // One copy of the kernel per activation, so no copy branches on it per vector.
        if (activation == EPILOGUE_RELU) depthwise3x3InPlace(groupInput, out, zeroRow, spareRow, window, h, w, wp, 4, b, EPILOGUE_RELU, lov, hiv, res, resDelta);
        else if (activation == EPILOGUE_CLIP) depthwise3x3InPlace(groupInput, out, zeroRow, spareRow, window, h, w, wp, 4, b, EPILOGUE_CLIP, lov, hiv, res, resDelta);
        else if (activation == EPILOGUE_HARDSWISH) {
          depthwise3x3InPlace(groupInput, out, zeroRow, spareRow, window, h, w, wp, 4, b, EPILOGUE_HARDSWISH, lov, hiv, res, resDelta);
        } else if (activation == EPILOGUE_SIGMOID) {
          depthwise3x3InPlace(groupInput, out, zeroRow, spareRow, window, h, w, wp, 4, b, EPILOGUE_SIGMOID, lov, hiv, res, resDelta);
        } else if (activation == EPILOGUE_SILU) {
          depthwise3x3InPlace(groupInput, out, zeroRow, spareRow, window, h, w, wp, 4, b, EPILOGUE_SILU, lov, hiv, res, resDelta);
        } else if (activation == EPILOGUE_HARDSIGMOID) {
          depthwise3x3InPlace(groupInput, out, zeroRow, spareRow, window, h, w, wp, 4, b, EPILOGUE_HARDSIGMOID, lov, hiv, res, resDelta);
        } else depthwise3x3InPlace(groupInput, out, zeroRow, spareRow, window, h, w, wp, 4, b, EPILOGUE_NONE, lov, hiv, res, resDelta);
      }
    }
  }
}

// Depthwise 3x3, stride 2, padding 1: computed from the input plane in place,
// without the phase planes, whose copy took most of such a layer's time
// (mobilenet_v2's stride-2 depthwise layers ran at 5 GFLOP/s). Four outputs
// read input columns 2x - 1 .. 2x + 7 of a row: two loads give columns 2x ..
// 2x + 7, split by v128.shuffle into the even columns (tap kx = 1) and the odd
// ones (kx = 2); kx = 0 is the odd vector shifted by one lane, column 2x - 1
// coming from lane 3 of the four floats before 2x (a zero vector at x = 0). A
// missing row (above the first, below the last) is read from a row of zeros;
// a vector whose loads would pass the row's end reads its columns from a
// zero-filled window instead. The padding is the same +0 the phase planes
// hold and the taps run in the same order (bias, then ky, kx), so the results
// are the bits of block1Taps9 over the planes.

/**
 * The three taps (kx = 0, 1, 2) of input row r for the outputs x .. x + 3,
 * added to acc in order: o is the byte offset of column 2x, `prev` holds
 * column 2x - 1 in lane 3.
 */
@inline function stride2Row(r: usize, o: usize, prev: v128, wl: v128, wc: v128, wr: v128, acc: v128): v128 {
  const x0 = v128.load(r + o), x1 = v128.load(r + o, 16);
  const odd = v128.shuffle<f32>(x0, x1, 1, 3, 5, 7);
  let a = madd(wl, v128.shuffle<f32>(prev, odd, 3, 4, 5, 6), acc);
  a = madd(wc, v128.shuffle<f32>(x0, x1, 0, 2, 4, 6), a);
  return madd(wr, odd, a);
}

/**
 * Window row of 12 floats for the vector at output column x of an input row
 * w floats wide: columns 2x - 4 .. 2x + 7, those outside the row zero.
 */
@inline function fillStride2Window(window: usize, row: usize, x: i32, w: i32): void {
  const zero = f32x4.splat(0);
  v128.store(window, zero);
  v128.store(window, zero, 16);
  v128.store(window, zero, 32);
  const first = max(2 * x - 4, 0), end = min(2 * x + 8, w);
  for (let c = first; c < end; c++) store<f32>(window + ((<usize>(c - 2 * x + 4)) << 2), load<f32>(row + (<usize>c << 2)));
}

/**
 * One output channel of a depthwise 3x3 at stride 2, padding 1 (see above)
 * from input plane `src` (h x w) into `dst` (outH x outW). zeroRow: w zeros;
 * window: 48 floats.
 */
function depthwise3x3Stride2InPlace(
  src: usize, dst: usize, zeroRow: usize, window: usize, h: i32, w: i32, outH: i32, outW: i32, weights: usize, b: f32,
): void {
  const weightStride: usize = 4;
  const w0 = v128.load32_splat(weights), w1 = v128.load32_splat(weights + weightStride);
  const w2 = v128.load32_splat(weights + 2 * weightStride), w3 = v128.load32_splat(weights + 3 * weightStride);
  const w4 = v128.load32_splat(weights + 4 * weightStride), w5 = v128.load32_splat(weights + 5 * weightStride);
  const w6 = v128.load32_splat(weights + 6 * weightStride), w7 = v128.load32_splat(weights + 7 * weightStride);
  const w8 = v128.load32_splat(weights + 8 * weightStride);
  const bv = f32x4.splat(b);
  const zero = f32x4.splat(0);
  const rowBytes = <usize>w << 2;
  // Vectors whose two loads (columns 2x .. 2x + 7) stay in the row read it in place.
  const inRow = 4 * min(outW >> 2, w >> 3);
  for (let oy = 0; oy < outH; oy++) {
    const iy = 2 * oy - 1;
    const r0 = iy >= 0 && iy < h ? src + <usize>iy * rowBytes : zeroRow;
    const r1 = iy + 1 < h ? src + <usize>(iy + 1) * rowBytes : zeroRow;
    const r2 = iy + 2 < h ? src + <usize>(iy + 2) * rowBytes : zeroRow;
    const out = dst + ((<usize>(oy * outW)) << 2);
    let x = 0;
    for (; x < inRow; x += 4) {
      const o = <usize>x << 3;
      // Column 2x - 1 is lane 3 of the 4 floats before 2x (padding at x = 0).
      let p0 = zero, p1 = zero, p2 = zero;
      if (x > 0) {
        p0 = v128.load(r0 + o - 16); p1 = v128.load(r1 + o - 16); p2 = v128.load(r2 + o - 16);
      }
      let a = stride2Row(r0, o, p0, w0, w1, w2, bv);
      a = stride2Row(r1, o, p1, w3, w4, w5, a);
      a = stride2Row(r2, o, p2, w6, w7, w8, a);
      v128.store(out + (<usize>x << 2), a);
    }
    for (; x < outW; x += 4) {
      fillStride2Window(window, r0, x, w);
      fillStride2Window(window + 48, r1, x, w);
      fillStride2Window(window + 96, r2, x, w);
      let a = stride2Row(window, 16, v128.load(window), w0, w1, w2, bv);
      a = stride2Row(window + 48, 16, v128.load(window, 48), w3, w4, w5, a);
      a = stride2Row(window + 96, 16, v128.load(window, 96), w6, w7, w8, a);
      storeLanes(out + (<usize>x << 2), a, min(4, outW - x));
    }
  }
}

/**
 * Images [batchStart, batchEnd) x output channels [ocStart, ocEnd) of a
 * depthwise 3x3 at stride 2 with padding 1 and fewer than 4 output channels
 * per group, read in place (depthwise3x3Stride2InPlace). Chosen at planning
 * where the scratch holds the zero row and window: w + 48 floats. Weights:
 * each channel's 9 consecutively. The epilogue (epilogue.ts) runs over each
 * output plane once it is written, while in cache, as after the phase planes'
 * kernels: one copy of the kernel, not one per activation.
 */
export function depthwise3x3Stride2InPlaceSlice(
  input: usize, output: usize, bias: usize, weights: usize, scratch: usize,
  inChannels: i32, h: i32, w: i32, outChannels: i32, outH: i32, outW: i32, coutG: i32,
  batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32,
  residual: usize, activation: i32, lo: f32, hi: f32,
): void {
  const finish = hasEpilogue(activation, residual);
  const plane = outH * outW;
  const outPlane = <usize>plane << 2;
  const zeroRow = scratch, window = scratch + (<usize>w << 2);
  zeroFloats(zeroRow, w);
  for (let n = batchStart; n < batchEnd; n++) {
    for (let oc = ocStart; oc < ocEnd; oc++) {
      const g = oc / coutG;
      const src = input + ((<usize>((n * inChannels + g) * h * w)) << 2);
      const out = output + ((<usize>(n * outChannels + oc)) * outPlane);
      depthwise3x3Stride2InPlace(src, out, zeroRow, window, h, w, outH, outW, weights + ((<usize>(oc * 9)) << 2), biasAt(bias, oc));
      if (finish) epiloguePlanes(out, residual ? residual + (out - output) : 0, 1, plane, outPlane, activation, lo, hi);
    }
  }
}
