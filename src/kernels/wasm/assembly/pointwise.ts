// Pointwise microkernel pieces: taps a uniform byte step apart (1x1 kernels),
// so tiles step a pointer instead of reading the tap table.

import { block1Taps9 } from './depthwise';
import { madd } from './primitives';
import { block1 } from './tiles';

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
export function block2Strided(
  src: usize, taps: usize, tapCount: i32, tapStep: usize, w0: usize, dst0: usize, dst1: usize,
  outH: i32, outW: i32, planeW: i32, overRead: bool, b0: f32, b1: f32, nineTaps: bool,
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
  // Nine taps and no 16-position run: the row from 0, by the nine-tap tiles.
  if (nineTaps && wide == 0) {
    block1Taps9(src, taps, w0, 4, dst0, outH, outW, planeW, overRead, b0);
    block1Taps9(src, taps, w1, 4, dst1, outH, outW, planeW, overRead, b1);
    return;
  }
  block1(src, taps, tapCount, w0, 4, dst0, outH, outW, planeW, overRead, b0, wide);
  block1(src, taps, tapCount, w1, 4, dst1, outH, outW, planeW, overRead, b1, wide);
}
