// Fully connected layers: out[r, o] = bias[o] + x[r, :] . w[o, :], with x
// [rows, inF] and w [outF, inF] as PyTorch stores them (no packing).
//
// Every dot product is computed the same way whichever tile computes it: four
// lane sums over i = lane (mod 4) by multiply-add, the lanes added pairwise
// ((0 + 1) + (2 + 3)), then the inF % 4 last products one by one, then the
// bias; so results do not depend on how outputs are split (between devices).

import { biasAt, madd, maddScalar } from './primitives';

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
