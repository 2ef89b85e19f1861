// The direct microkernels: an implicit GEMM over phase planes (planes.ts) or
// over the input itself when it already has that layout (stride 1, no
// padding). A group's output channels run in blocks of 4 through the 4x8
// tap-table tiles (tiles.ts); the channels left over run in pairs through the
// pointwise 2x16 tile when the taps are a uniform step apart (pointwise.ts),
// else one by one through the single-channel microkernel the plan chose
// (generic tiles, or the nine-tap ones of depthwise.ts). Which channels fall
// in which block depends on the slice, so that choice stays here; everything
// that depends only on the plan arrives as constants from entries.ts.

import { block2Strided } from './pointwise';
import { block1Taps3x3Rows, block1Taps9 } from './depthwise';
import { epiloguePlanes, hasEpilogue } from './epilogue';
import { buildPlanes, copyOut, PLANE_SLACK } from './planes';
import { biasAt, zeroFloats } from './primitives';
import { block1, block4 } from './tiles';

/** The single-channel microkernel of a direct entry point, fixed by the plan (plan/selection.ts). */
export const SINGLE_TILES = 0;
/** Nine taps, their offsets and weights held in registers. */
export const SINGLE_TAPS9 = 1;
/** Nine taps in three runs of three adjacent floats, over planes with slack: three row pointers. */
export const SINGLE_3X3_ROWS = 2;

/**
 * Computes images [batchStart, batchEnd) x output channels [ocStart, ocEnd).
 * Weights: per group, floor(coutG / 4) blocks of [tap][4] then the remaining
 * channels as [tap]. Taps: byte offsets into one group's phase planes.
 * Scratch: the planes (cinG * channelStride floats) and PLANE_SLACK floats,
 * then in plane mode (`copied`) 4 channels of plane-layout rows.
 * directInput: the input itself already is the phase-plane layout, read in place.
 * rowsH x rowsW: the rows the tiles run over: outH x outW (row mode) or one
 * row of all plane-layout positions (plane mode: longer tiles; the planeW -
 * outW extra columns per row are computed and dropped by copyOut when copied).
 * `strided` (taps tapStep bytes apart) and `single` are compile-time
 * constants: each entry point is its own specialised copy.
 * Epilogue (epilogue.ts): `activation` (lo, hi: its parameters) and `residual`
 * (0: none) are applied to each block's output planes right after the block
 * has written them (and, in plane mode, copied them out), while in cache.
 */
@inline export function directSlice(
  input: usize, output: usize, bias: usize, weights: usize, taps: usize, scratch: usize,
  inChannels: i32, h: i32, w: i32, outChannels: i32, outH: i32, outW: i32, cinG: i32, coutG: i32,
  tapCount: i32, strideH: i32, strideW: i32, padTop: i32, padLeft: i32, planeH: i32, planeW: i32, channelStride: i32,
  directInput: bool, tapStep: i32, rowsH: i32, rowsW: i32, copied: bool,
  batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32,
  residual: usize, activation: i32, lo: f32, hi: f32,
  strided: bool, single: i32,
): void {
  const finish = hasEpilogue(activation, residual);
  const plane = outH * outW;
  const outPlane = <usize>(outH * outW) << 2;
  const fullBlocks = coutG >> 2;
  const groupWeights = <usize>(coutG * tapCount) << 2;
  const firstGroup = ocStart / coutG;
  const lastGroup = (ocEnd - 1) / coutG;
  const overRead = !directInput;
  const positions = (outH - 1) * planeW + outW;
  const tmp = scratch + ((<usize>(cinG * channelStride + PLANE_SLACK)) << 2);
  const tmpStride = <usize>positions << 2;
  if (overRead) zeroFloats(scratch + ((<usize>(cinG * channelStride)) << 2), PLANE_SLACK);
  for (let n = batchStart; n < batchEnd; n++) {
    for (let g = firstGroup; g <= lastGroup; g++) {
      const groupInput = input + ((<usize>((n * inChannels + g * cinG) * h * w)) << 2);
      let src = scratch;
      if (directInput) src = groupInput;
      else buildPlanes(groupInput, scratch, cinG, h, w, strideH, strideW, padTop, padLeft, planeH, planeW, channelStride);
      const groupFirst = g * coutG;
      const from = max(ocStart, groupFirst) - groupFirst;
      const to = min(ocEnd, groupFirst + coutG) - groupFirst;
      const gw = weights + <usize>g * groupWeights;
      // A 1x1 layer read in place over a plane larger than the cache: every
      // 4-channel block would sweep the group's whole input again (mobilenet_v2's
      // 16 -> 96 at 112 x 112: 800 KB per image), so its positions run in
      // chunks, each through every channel block while it is in cache. Chunks
      // are whole 16-position tiles and the tiles' tails fall where they did,
      // so every output is computed by the same tile as without chunks.
      const chunk = directInput && strided && !copied && rowsH == 1 ? max(CHUNK_MIN, (CHUNK_BYTES / (cinG << 2)) & ~15) : rowsW;
      for (let p0 = 0; p0 < rowsW; p0 += chunk) {
        const count = min(chunk, rowsW - p0);
        const at = <usize>p0 << 2;
        channelBlocks(
          src + at, output + at, output, bias, residual, gw, taps, tapCount, tapStep, tmp, tmpStride, n, outChannels, outPlane, groupFirst, from, to, fullBlocks,
          rowsH, count, count == rowsW ? plane : count, planeW, overRead, copied, outH, outW, finish, activation, lo, hi, strided, single,
        );
      }
    }
  }
}

/** Input bytes of a chunk of a 1x1 layer's positions (all the group's input channels): about half of L2. */
const CHUNK_BYTES = 262144;
const CHUNK_MIN = 256;

/**
 * Output channels [from, to) of group g (first channel groupFirst) over
 * `rowsH` x `rowsW` positions from src, written from `out` (output + the
 * positions' offset); `plane` floats of each written plane are finished by the
 * epilogue. See directSlice.
 */
@inline function channelBlocks(
  src: usize, out0: usize, output: usize, bias: usize, residual: usize, gw: usize, taps: usize, tapCount: i32, tapStep: i32, tmp: usize, tmpStride: usize,
  n: i32, outChannels: i32, outPlane: usize, groupFirst: i32, from: i32, to: i32, fullBlocks: i32,
  rowsH: i32, rowsW: i32, plane: i32, planeW: i32, overRead: bool, copied: bool, outH: i32, outW: i32,
  finish: bool, activation: i32, lo: f32, hi: f32, strided: bool, single: i32,
): void {
  let j = from;
  while (j < to) {
    const oc = groupFirst + j;
    const out = out0 + ((<usize>(n * outChannels + oc)) * outPlane);
    const block = j >> 2;
    if (block < fullBlocks && (j & 3) == 0 && j + 4 <= to) {
      const bw = gw + ((<usize>(block * tapCount * 4)) << 2);
      block4(src, taps, tapCount, <usize>tapStep, bw, copied ? tmp : out, copied ? tmpStride : outPlane, rowsH, rowsW, planeW, overRead,
        biasAt(bias, oc), biasAt(bias, oc + 1), biasAt(bias, oc + 2), biasAt(bias, oc + 3));
      if (copied) copyOut(tmp, tmpStride, out, outPlane, 4, outH, outW, planeW);
      if (finish) epiloguePlanes(out, residual ? residual + (out - output) : 0, 4, plane, outPlane, activation, lo, hi);
      j += 4;
    } else if (strided && block >= fullBlocks && j + 2 <= to) {
      const wp = gw + ((<usize>(fullBlocks * tapCount * 4 + (j - fullBlocks * 4) * tapCount)) << 2);
      const dst = copied ? tmp : out;
      const dstStride = copied ? tmpStride : outPlane;
      block2Strided(src, taps, tapCount, <usize>tapStep, wp, dst, dst + dstStride, rowsH, rowsW, planeW, overRead, biasAt(bias, oc), biasAt(bias, oc + 1),
        single != SINGLE_TILES);
      if (copied) copyOut(tmp, tmpStride, out, outPlane, 2, outH, outW, planeW);
      if (finish) epiloguePlanes(out, residual ? residual + (out - output) : 0, 2, plane, outPlane, activation, lo, hi);
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
      const dst = copied ? tmp : out;
      const b = biasAt(bias, oc);
      if (single == SINGLE_3X3_ROWS) {
        block1Taps3x3Rows(src, <usize>load<i32>(taps), <usize>load<i32>(taps, 12), <usize>load<i32>(taps, 24), wp, stride, dst, rowsH, rowsW, planeW, b);
      } else if (single == SINGLE_TAPS9) {
        block1Taps9(src, taps, wp, stride, dst, rowsH, rowsW, planeW, overRead, b);
      } else {
        block1(src, taps, tapCount, wp, stride, dst, rowsH, rowsW, planeW, overRead, b);
      }
      if (copied) copyOut(tmp, tmpStride, out, outPlane, 1, outH, outW, planeW);
      if (finish) epiloguePlanes(out, residual ? residual + (out - output) : 0, 1, plane, outPlane, activation, lo, hi);
      j += 1;
    }
  }
}
