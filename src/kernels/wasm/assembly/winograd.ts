// Winograd F(2x2, 3x3) (Lavin & Gray, 2015) for convolutions at stride 1 and
// dilation 1 with many input channels per group: each 2x2 block of outputs
// ("tile") costs 16 multiply-adds per input channel instead of 36 for a 3x3
// kernel. A larger kernel is cut into subH x subW 3x3 sub-kernels (zero past
// its edge), sub-kernel (sy, sx) reading the input 3 * sy rows and 3 * sx
// columns further: a 5x5 kernel is 4 of them, 64 multiply-adds instead of 100.
// An input "row" of the products below is then (channel, sy, sx): K = cinG *
// subH * subW of them, in that order.
//
//   V = Bt d B   (d: the tile's 4x4 input patch, per input channel)
//   M = sum over input channels of U .* V   (U = G g Gt, made at planning)
//   Y = At M A + bias   (the tile's 2x2 outputs)
//
// The sum is, for each of the 16 positions xi of the 4x4 transform, a
// matrix product [output channels x K] x [K x tiles]: the strided tiles of the
// pointwise kernel compute it, row by row of K in order, from 0. Transforms are additions only. So every
// output element is the same sequence of operations whichever slice (images,
// output channels) computes it, as in the direct kernel.
//
// Layouts (floats):
//   weights, per group: floor(coutG / 4) blocks of [xi][K][4], then the
//     remaining channels one by one as [xi][K];
//   scratch: the group's input zero-padded to (2 * tilesH + 3 * subH - 1) x
//     (2 * tilesW + 3 * subW - 1) per channel, then V [16][K][TILES] (planes
//     xiFloats apart), then M [16][4][TILES].

import { epilogueScalar, hasEpilogue } from './epilogue';
import { padPlanes, tile1x8Strided, tile4x8Strided, zeroFloats } from './primitives';

/** Tiles per chunk. A chunk's V (16 x K x TILES floats) is read once per block of 4 output channels. */
const TILES: i32 = 16;

/**
 * Floats between V's xi planes: K * TILES and 16 more, so the 16 planes a
 * tile's transform writes to do not all fall in one L1 set (planes a multiple
 * of 4 KiB apart would, and evict each other).
 */
@inline function xiFloats(k: i32): i32 {
  return k * TILES + 16;
}

@inline function at(p: usize, r: i32, s: i32, pw: i32): f32 {
  return load<f32>(p + ((<usize>(r * pw + s)) << 2));
}

/** One tile's V = Bt d B, d the 4x4 patch at p (rows pw floats apart), stored at o + xi * xiStride. */
@inline function transform1(p: usize, pw: i32, o: usize, xiStride: usize): void {
  // Bt down each column s: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
  const a0 = at(p, 0, 0, pw) - at(p, 2, 0, pw), b0 = at(p, 1, 0, pw) + at(p, 2, 0, pw), c0 = at(p, 2, 0, pw) - at(p, 1, 0, pw), e0 = at(p, 1, 0, pw) - at(p, 3, 0, pw);
  const a1 = at(p, 0, 1, pw) - at(p, 2, 1, pw), b1 = at(p, 1, 1, pw) + at(p, 2, 1, pw), c1 = at(p, 2, 1, pw) - at(p, 1, 1, pw), e1 = at(p, 1, 1, pw) - at(p, 3, 1, pw);
  const a2 = at(p, 0, 2, pw) - at(p, 2, 2, pw), b2 = at(p, 1, 2, pw) + at(p, 2, 2, pw), c2 = at(p, 2, 2, pw) - at(p, 1, 2, pw), e2 = at(p, 1, 2, pw) - at(p, 3, 2, pw);
  const a3 = at(p, 0, 3, pw) - at(p, 2, 3, pw), b3 = at(p, 1, 3, pw) + at(p, 2, 3, pw), c3 = at(p, 2, 3, pw) - at(p, 1, 3, pw), e3 = at(p, 1, 3, pw) - at(p, 3, 3, pw);
  // Then B along each row, the same pattern.
  store<f32>(o, a0 - a2);
  store<f32>(o + xiStride, a1 + a2);
  store<f32>(o + 2 * xiStride, a2 - a1);
  store<f32>(o + 3 * xiStride, a1 - a3);
  store<f32>(o + 4 * xiStride, b0 - b2);
  store<f32>(o + 5 * xiStride, b1 + b2);
  store<f32>(o + 6 * xiStride, b2 - b1);
  store<f32>(o + 7 * xiStride, b1 - b3);
  store<f32>(o + 8 * xiStride, c0 - c2);
  store<f32>(o + 9 * xiStride, c1 + c2);
  store<f32>(o + 10 * xiStride, c2 - c1);
  store<f32>(o + 11 * xiStride, c1 - c3);
  store<f32>(o + 12 * xiStride, e0 - e2);
  store<f32>(o + 13 * xiStride, e1 + e2);
  store<f32>(o + 14 * xiStride, e2 - e1);
  store<f32>(o + 15 * xiStride, e1 - e3);
}

/** V[xi][c][t - t0] = (Bt d B)[xi] for tiles t0 .. t0 + count of every channel; columns count .. cols are zeroed. */
function transformInput(padded: usize, v: usize, cinG: i32, subH: i32, subW: i32, ph: i32, pw: i32, tw: i32, t0: i32, count: i32, cols: i32): void {
  const k = cinG * subH * subW;
  const xiStride = (<usize>xiFloats(k)) << 2;
  const ty0 = t0 / tw;
  const tx0 = t0 - ty0 * tw;
  for (let q = 0; q < k; q++) {
    const c = q / (subH * subW);
    const sy = (q / subW) % subH;
    const sx = q % subW;
    const plane = padded + ((<usize>(c * ph * pw + 3 * sy * pw + 3 * sx)) << 2);
    let out = v + ((<usize>(q * TILES)) << 2);
    let ty = ty0, tx = tx0;
    let t = 0;
    while (t < count) {
      const p = plane + ((<usize>(2 * ty * pw + 2 * tx)) << 2);
      const o = out + (<usize>t << 2);
      transform1(p, pw, o, xiStride);
      t += 1;
      tx += 1;
      if (tx == tw) {
        tx = 0;
        ty++;
      }
    }
    // Columns past the last tile feed only products that are dropped; zeros keep them finite.
    for (let xi = 0; xi < 16; xi++) zeroFloats(out + <usize>xi * xiStride + (<usize>count << 2), cols - count);
  }
}

@inline function mAt(m: usize, xi: i32, t: i32): f32 {
  return load<f32>(m + ((<usize>(xi * 4 * TILES + t)) << 2));
}

/**
 * Stores one output value at `at` of the plane at `out`, through the epilogue
 * when there is one (the residual plane at `res`, 0 for none): the value is
 * still in a register, so the epilogue costs no pass over the plane.
 */
@inline function put(at: usize, value: f32, out: usize, res: usize, finish: bool, activation: i32, lo: v128, hi: v128): void {
  store<f32>(at, finish ? epilogueScalar(value, res ? res + (at - out) : 0, activation, lo, hi) : value);
}

/**
 * Y = At M B + bias for tiles t0 .. t0 + count of the channel whose M row
 * starts at m; stores the outputs inside the plane `out`, through the
 * epilogue (res: the channel's residual plane, or 0).
 */
function transformOutput(
  m: usize, out: usize, b: f32, outH: i32, outW: i32, tw: i32, t0: i32, count: i32,
  res: usize, activation: i32, loValue: f32, hiValue: f32,
): void {
  const finish = hasEpilogue(activation, res);
  const lo = f32x4.splat(loValue), hi = f32x4.splat(hiValue);
  for (let t = 0; t < count; t++) {
    // At down each column s: (m0 + m1 + m2, m1 - m2 - m3).
    const p0 = mAt(m, 0, t) + mAt(m, 4, t) + mAt(m, 8, t), q0 = mAt(m, 4, t) - mAt(m, 8, t) - mAt(m, 12, t);
    const p1 = mAt(m, 1, t) + mAt(m, 5, t) + mAt(m, 9, t), q1 = mAt(m, 5, t) - mAt(m, 9, t) - mAt(m, 13, t);
    const p2 = mAt(m, 2, t) + mAt(m, 6, t) + mAt(m, 10, t), q2 = mAt(m, 6, t) - mAt(m, 10, t) - mAt(m, 14, t);
    const p3 = mAt(m, 3, t) + mAt(m, 7, t) + mAt(m, 11, t), q3 = mAt(m, 7, t) - mAt(m, 11, t) - mAt(m, 15, t);
    const tile = t0 + t;
    const ty = tile / tw;
    const oy = 2 * ty, ox = 2 * (tile - ty * tw);
    const row = out + ((<usize>(oy * outW + ox)) << 2);
    const right = ox + 1 < outW;
    put(row, p0 + p1 + p2 + b, out, res, finish, activation, lo, hi);
    if (right) put(row + 4, p1 - p2 - p3 + b, out, res, finish, activation, lo, hi);
    if (oy + 1 < outH) {
      const below = row + (<usize>outW << 2);
      put(below, q0 + q1 + q2 + b, out, res, finish, activation, lo, hi);
      if (right) put(below + 4, q1 - q2 - q3 + b, out, res, finish, activation, lo, hi);
    }
  }
}

@inline function biasAt(bias: usize, oc: i32): f32 {
  return bias ? load<f32>(bias + (<usize>oc << 2)) : 0;
}

/**
 * Computes images [batchStart, batchEnd) x output channels [ocStart, ocEnd)
 * of a stride 1, dilation 1 convolution whose kernel is subH x subW 3x3 sub-kernels. Scratch: winogradScratchFloats
 * in plan/layout.ts. The epilogue (activation, residual: epilogue.ts) is
 * applied to each output value as transformOutput stores it.
 */
export function winogradSlice(
  input: usize,
  output: usize,
  bias: usize,
  weights: usize,
  scratch: usize,
  inChannels: i32,
  h: i32,
  w: i32,
  outChannels: i32,
  outH: i32,
  outW: i32,
  cinG: i32,
  coutG: i32,
  subH: i32,
  subW: i32,
  padTop: i32,
  padLeft: i32,
  batchStart: i32,
  batchEnd: i32,
  ocStart: i32,
  ocEnd: i32,
  residual: usize,
  activation: i32,
  lo: f32,
  hi: f32,
): void {
  const th = (outH + 1) >> 1;
  const tw = (outW + 1) >> 1;
  const tiles = th * tw;
  const ph = 2 * th + 3 * subH - 1;
  const pw = 2 * tw + 3 * subW - 1;
  const k = cinG * subH * subW;
  const padded = scratch;
  const v = padded + ((<usize>(cinG * ph * pw)) << 2);
  const m = v + ((<usize>(16 * xiFloats(k))) << 2);
  const outPlane = (<usize>(outH * outW)) << 2;
  const fullBlocks = coutG >> 2;
  const groupWeights = (<usize>(coutG * 16 * k)) << 2;
  const xiStride = (<usize>xiFloats(k)) << 2;
  const tileBytes = <usize>TILES << 2;
  const firstGroup = ocStart / coutG;
  const lastGroup = (ocEnd - 1) / coutG;
  for (let n = batchStart; n < batchEnd; n++) {
    for (let g = firstGroup; g <= lastGroup; g++) {
      padPlanes(input + ((<usize>((n * inChannels + g * cinG) * h * w)) << 2), padded, cinG, h, w, padTop, padLeft, ph, pw, ph * pw);
      const groupFirst = g * coutG;
      const from = max(ocStart, groupFirst) - groupFirst;
      const to = min(ocEnd, groupFirst + coutG) - groupFirst;
      const gw = weights + <usize>g * groupWeights;
      for (let t0 = 0; t0 < tiles; t0 += TILES) {
        const count = min(TILES, tiles - t0);
        const cols = (count + 7) & ~7;
        transformInput(padded, v, cinG, subH, subW, ph, pw, tw, t0, count, cols);
        let j = from;
        while (j < to) {
          const oc = groupFirst + j;
          const out = output + (<usize>(n * outChannels + oc)) * outPlane;
          const block = j >> 2;
          if (block < fullBlocks && (j & 3) == 0 && j + 4 <= to) {
            const bw = gw + ((<usize>(block * 64 * k)) << 2);
            for (let xi = 0; xi < 16; xi++) {
              const src = v + <usize>xi * xiStride;
              const wx = bw + ((<usize>(xi * k * 4)) << 2);
              const dst = m + ((<usize>(xi * 4 * TILES)) << 2);
              for (let c = 0; c < cols; c += 8) tile4x8Strided(src + (<usize>c << 2), k, tileBytes, wx, dst + (<usize>c << 2), tileBytes, 0, 0, 0, 0);
            }
            for (let k = 0; k < 4; k++) {
              const plane = out + <usize>k * outPlane;
              transformOutput(m + ((<usize>(k * TILES)) << 2), plane, biasAt(bias, oc + k), outH, outW, tw, t0, count,
                residual ? residual + (plane - output) : 0, activation, lo, hi);
            }
            j += 4;
          } else {
            // One channel: a lane of its block ([xi][K][4]) or a remaining channel ([xi][K]).
            let wp: usize, stride: usize, xiWeights: usize;
            if (block < fullBlocks) {
              wp = gw + ((<usize>(block * 64 * k + (j & 3))) << 2);
              stride = 16;
            } else {
              wp = gw + ((<usize>(fullBlocks * 64 * k + (j - fullBlocks * 4) * 16 * k)) << 2);
              stride = 4;
            }
            xiWeights = <usize>k * stride;
            for (let xi = 0; xi < 16; xi++) {
              const src = v + <usize>xi * xiStride;
              const dst = m + ((<usize>(xi * 4 * TILES)) << 2);
              for (let c = 0; c < cols; c += 8) tile1x8Strided(src + (<usize>c << 2), k, tileBytes, wp + <usize>xi * xiWeights, stride, dst + (<usize>c << 2), 0);
            }
            transformOutput(m, out, biasAt(bias, oc), outH, outW, tw, t0, count, residual ? residual + (out - output) : 0, activation, lo, hi);
            j += 1;
          }
        }
      }
    }
  }
}
