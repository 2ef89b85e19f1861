// Max pooling over [planes, H, W] (images x channels flattened: a device's
// channel range runs the same code as the whole tensor), with
// torch.nn.functional.max_pool2d's semantics: padding is -infinity, windows
// may run past the right and bottom edges in ceil mode, dilation spaces the
// taps, and a NaN wins. PyTorch scans a window row by row and takes a value
// when `val > maxval || isnan(val)`; maxTap is that test, so among equal
// maxima (+0 and -0) the first in scan order wins and, of several NaNs, the
// last, bit for bit as in the JavaScript version (ops/pooling.ts).
//
// Separable, in PyTorch's scan order: each input row's maximum over the
// window's columns first (horizontal, into scratch), then the maximum of those
// over the window's rows (vertical, SIMD over output columns). Row maxima
// first keeps the scan order: the first maximum of the first row holding one
// is the first in row-major order.
//
// Scratch (floats; kernels/pooling.ts sizes it with the same formula):
//   one padded input row of rowLength(...) floats, -infinity outside the input,
//   then H rows of the horizontal maxima, outVec = Wo rounded up to 4 apart.

import { storeLanes } from './primitives';

/** PyTorch's `val > maxval || isnan(val) ? val : maxval`, on 4 lanes. */
@inline function maxTap(best: v128, v: v128): v128 {
  // pmax(best, v) = best < v ? v : best: keeps best on ties and when either is NaN;
  // the select then lets a NaN v in.
  return v128.bitselect(v, f32x4.pmax(best, v), f32x4.ne(v, v));
}

/** Floats of one padded row, a multiple of 4: every column the horizontal pass reads, and the input with its left padding. */
@inline function rowLength(w: i32, outVec: i32, kw: i32, sw: i32, pw: i32, dw: i32): i32 {
  return (max(pw + w, outVec * sw + (kw - 1) * dw) + 8 + 3) & ~3;
}

const HORIZONTAL_STRIDE1: i32 = 1;
const HORIZONTAL_STRIDE2: i32 = 2;
const HORIZONTAL_GATHER: i32 = 0;

/** The 4 columns ox.., each s apart, at offset `from` floats into row. */
@inline function gather(row: usize, ox: i32, s: i32, from: i32): v128 {
  const p = row + (<usize>(ox * s + from) << 2);
  const step = <usize>s << 2;
  let v = v128.load32_zero(p);
  v = f32x4.replace_lane(v, 1, load<f32>(p + step));
  v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * step));
  v = f32x4.replace_lane(v, 3, load<f32>(p + 3 * step));
  return v;
}

/** dst[ox] = max over kx of row[ox * s + kx * d], ox in [0, outVec). */
@inline function horizontal(row: usize, dst: usize, outVec: i32, kw: i32, s: i32, d: i32, mode: i32): void {
  for (let ox = 0; ox < outVec; ox += 4) {
    let best = f32x4.splat(-Infinity);
    for (let kx = 0; kx < kw; kx++) {
      let v: v128;
      if (mode == HORIZONTAL_STRIDE1) {
        v = v128.load(row + (<usize>(ox + kx * d) << 2));
      } else if (mode == HORIZONTAL_STRIDE2) {
        // 8 adjacent columns, deinterleaved: the even ones are the 4 windows' taps.
        const p = row + (<usize>(2 * ox + kx * d) << 2);
        v = i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
      } else {
        v = gather(row, ox, s, kx * d);
      }
      best = maxTap(best, v);
    }
    v128.store(dst + (<usize>ox << 2), best);
  }
}

@inline function maxPoolPlanes(
  x: usize, out: usize, scratch: usize, planes: i32, h: i32, w: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, mode: i32,
): void {
  const outVec = (outW + 3) & ~3;
  const row = scratch;
  const rowFloats = rowLength(w, outVec, kw, sw, pw, dw);
  const rows = scratch + (<usize>rowFloats << 2);
  const rowsStride = <usize>outVec << 2;
  const negInf = f32x4.splat(-Infinity);
  // The padding stays -infinity; each input row is copied over the middle.
  for (let i = 0; i < rowFloats; i += 4) v128.store(row + (<usize>i << 2), negInf);
  const inner = row + (<usize>pw << 2);
  const fullEnd = outW & ~3;
  for (let plane = 0; plane < planes; plane++) {
    const src = x + (<usize>(plane * h * w) << 2);
    for (let iy = 0; iy < h; iy++) {
      const line = src + (<usize>(iy * w) << 2);
      let i = 0;
      for (; i + 4 <= w; i += 4) v128.store(inner + (<usize>i << 2), v128.load(line + (<usize>i << 2)));
      for (; i < w; i++) store<f32>(inner + (<usize>i << 2), load<f32>(line + (<usize>i << 2)));
      horizontal(row, rows + <usize>iy * rowsStride, outVec, kw, sw, dw, mode);
    }
    const dst = out + (<usize>(plane * outH * outW) << 2);
    for (let oy = 0; oy < outH; oy++) {
      const top = oy * sh - ph;
      const outRow = dst + (<usize>(oy * outW) << 2);
      for (let ox = 0; ox < outVec; ox += 4) {
        let best = negInf;
        for (let ky = 0; ky < kh; ky++) {
          const iy = top + ky * dh;
          // Rows outside the input are padding: -infinity never wins.
          if (iy < 0 || iy >= h) continue;
          best = maxTap(best, v128.load(rows + <usize>iy * rowsStride + (<usize>ox << 2)));
        }
        if (ox < fullEnd) v128.store(outRow + (<usize>ox << 2), best);
        else storeLanes(outRow + (<usize>ox << 2), best, outW - ox);
      }
    }
  }
}

/** Stride 1 along rows: each tap's 4 columns are one vector load. */
export function maxPoolStride1(
  x: usize, out: usize, scratch: usize, planes: i32, h: i32, w: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
): void {
  maxPoolPlanes(x, out, scratch, planes, h, w, outH, outW, kh, kw, sh, sw, ph, pw, dh, dw, HORIZONTAL_STRIDE1);
}

/** Stride 2 along rows (AlexNet's 3x3/2): two loads deinterleaved per tap. */
export function maxPoolStride2(
  x: usize, out: usize, scratch: usize, planes: i32, h: i32, w: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
): void {
  maxPoolPlanes(x, out, scratch, planes, h, w, outH, outW, kh, kw, sh, sw, ph, pw, dh, dw, HORIZONTAL_STRIDE2);
}

/** Any other stride along rows: each tap's 4 columns gathered lane by lane. */
export function maxPoolStrided(
  x: usize, out: usize, scratch: usize, planes: i32, h: i32, w: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
): void {
  maxPoolPlanes(x, out, scratch, planes, h, w, outH, outW, kh, kw, sh, sw, ph, pw, dh, dw, HORIZONTAL_GATHER);
}
