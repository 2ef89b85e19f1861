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
