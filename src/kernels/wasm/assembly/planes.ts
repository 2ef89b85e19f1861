// Phase planes: a group's input copied once into scratch with its zero
// padding and, when strided, split by stride phase (column x of phase rx holds
// padded column x*strideW + rx, same for rows). In that layout every tap
// (input channel, ky, kx) of every output position p = oy * planeWidth + ox
// reads the element at p + tapOffset, so a tile of output positions along a
// row is a run of contiguous floats for every tap: plain v128 loads, no
// im2col buffer, no bounds checks.

import { copyFloats, padPlanes, zeroFloats } from './primitives';

/** Copies one image's group of input channels into phase planes (zero padding included). */
export function buildPlanes(
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
  const planeBytes = (<usize>(planeH * planeW)) << 2;
  for (let c = 0; c < channels; c++) {
    const srcPlane = src + ((<usize>(c * h * w)) << 2);
    const dstChannel = dst + ((<usize>(c * channelStride)) << 2);
    for (let ry = 0; ry < strideH; ry++) {
      const phaseRow = dstChannel + <usize>(ry * strideW) * planeBytes;
      for (let y = 0; y < planeH; y++) {
        const iy = y * strideH + ry - padTop;
        const rowOffset = (<usize>(y * planeW)) << 2;
        if (iy < 0 || iy >= h) {
          for (let rx = 0; rx < strideW; rx++) zeroFloats(phaseRow + <usize>rx * planeBytes + rowOffset, planeW);
          continue;
        }
        const srcRow = srcPlane + ((<usize>(iy * w)) << 2);
        if (strideW == 2) splitRowStride2(phaseRow + rowOffset, phaseRow + planeBytes + rowOffset, srcRow, w, padLeft, planeW);
        else {
          for (let rx = 0; rx < strideW; rx++) {
            const row = phaseRow + <usize>rx * planeBytes + rowOffset;
            const first = firstInside(rx, strideW, padLeft, planeW);
            const end = endInside(rx, strideW, padLeft, w, planeW, first);
            zeroFloats(row, first);
            gatherColumns(row, srcRow, first, end, strideW, rx - padLeft);
            zeroFloats(row + (<usize>end << 2), planeW - end);
          }
        }
      }
    }
  }
}

// Phase rx's plane column x holds input column x * strideW + rx - padLeft; the
// columns inside the row are [firstInside, endInside), padding on either side.
// Both are found once per row so the copy between them has no bounds check.

@inline function firstInside(rx: i32, strideW: i32, padLeft: i32, planeW: i32): i32 {
  const before = padLeft - rx;
  const first = before <= 0 ? 0 : (before + strideW - 1) / strideW;
  return min(first, planeW);
}

/** One past the last plane column of phase rx inside the row, never below `first`. */
@inline function endInside(rx: i32, strideW: i32, padLeft: i32, w: i32, planeW: i32, first: i32): i32 {
  const last = w - 1 + padLeft - rx;
  const end = last < 0 ? 0 : min(last / strideW + 1, planeW);
  return max(end, first);
}

/** row[x] = srcRow[x * strideW + shift] for x in [from, to), every one inside the row. */
@inline function gatherColumns(row: usize, srcRow: usize, from: i32, to: i32, strideW: i32, shift: i32): void {
  for (let x = from; x < to; x++) store<f32>(row + (<usize>x << 2), load<f32>(srcRow + ((<usize>(x * strideW + shift)) << 2)));
}

/**
 * Stride 2 in x: both phases' rows at once. Where four plane columns of both
 * phases are inside the row, their eight input columns are contiguous: two
 * loads, split into even and odd lanes, are four columns of each phase.
 */
@inline function splitRowStride2(even: usize, odd: usize, srcRow: usize, w: i32, padLeft: i32, planeW: i32): void {
  const evenFirst = firstInside(0, 2, padLeft, planeW);
  const evenEnd = endInside(0, 2, padLeft, w, planeW, evenFirst);
  const oddFirst = firstInside(1, 2, padLeft, planeW);
  const oddEnd = endInside(1, 2, padLeft, w, planeW, oddFirst);
  const vectorFirst = max(evenFirst, oddFirst);
  const vectorEnd = vectorFirst + (max(min(evenEnd, oddEnd) - vectorFirst, 0) & ~3);
  zeroFloats(even, evenFirst);
  zeroFloats(odd, oddFirst);
  gatherColumns(even, srcRow, evenFirst, min(vectorFirst, evenEnd), 2, -padLeft);
  gatherColumns(odd, srcRow, oddFirst, min(vectorFirst, oddEnd), 2, 1 - padLeft);
  for (let x = vectorFirst; x < vectorEnd; x += 4) {
    const from = srcRow + ((<usize>(2 * x - padLeft)) << 2);
    const low = v128.load(from);
    const high = v128.load(from, 16);
    v128.store(even + (<usize>x << 2), v128.shuffle<f32>(low, high, 0, 2, 4, 6));
    v128.store(odd + (<usize>x << 2), v128.shuffle<f32>(low, high, 1, 3, 5, 7));
  }
  gatherColumns(even, srcRow, max(vectorEnd, evenFirst), evenEnd, 2, -padLeft);
  gatherColumns(odd, srcRow, max(vectorEnd, oddFirst), oddEnd, 2, 1 - padLeft);
  zeroFloats(even + (<usize>evenEnd << 2), planeW - evenEnd);
  zeroFloats(odd + (<usize>oddEnd << 2), planeW - oddEnd);
}

/** Copies the valid columns of `rows` plane-layout rows into output planes. */
export function copyOut(tmp: usize, tmpStride: usize, out: usize, outStride: usize, rows: i32, outH: i32, outW: i32, planeW: i32): void {
  for (let j = 0; j < rows; j++) {
    const from = tmp + <usize>j * tmpStride;
    const to = out + <usize>j * outStride;
    for (let oy = 0; oy < outH; oy++) {
      copyFloats(to + ((<usize>(oy * outW)) << 2), from + ((<usize>(oy * planeW)) << 2), outW);
    }
  }
}

/** Floats of zeroed slack after the phase planes, read by the extra lanes of a row's last vector. */
export const PLANE_SLACK: i32 = 4;
