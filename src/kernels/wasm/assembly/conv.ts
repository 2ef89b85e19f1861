// groupconv's WebAssembly SIMD convolution kernel (AssemblyScript).
//
// One algorithm serves every layer shape: an implicit GEMM over a "phase
// plane" copy of the input. For a group, the input is copied once into
// scratch with its zero padding and, when strided, split by stride phase
// (column x of phase rx holds padded column x*strideW + rx, same for rows).
// In that layout every tap (input channel, ky, kx) of every output position
// p = oy * planeWidth + ox reads the element at p + tapOffset, so a tile of
// output positions is a run of contiguous floats for every tap: plain v128
// loads, no im2col buffer, no bounds checks. Columns ox >= outWidth of the
// plane layout are computed and dropped.
//
// Rules that keep this safe on memory shared by several threads:
// - nothing is allocated: every pointer (tensors, packed weights, tap table,
//   scratch) is a byte offset the caller owns;
// - every output element is bias + the taps in tap-table order, multiplied
//   then added in float32 (no FMA), whichever tile or the scalar tail computes
//   it, so results are bitwise independent of how the output is sliced.

const TILE4_POSITIONS: i32 = 12; // 4 output channels x 3 vectors = 12 accumulators
const TILE1_POSITIONS: i32 = 16; // 1 output channel x 4 vectors

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
  const planeFloats = planeH * planeW;
  for (let c = 0; c < channels; c++) {
    const srcPlane = src + ((<usize>(c * h * w)) << 2);
    const dstChannel = dst + ((<usize>(c * channelStride)) << 2);
    if (strideH == 1 && strideW == 1) {
      for (let y = 0; y < planeH; y++) {
        const row = dstChannel + ((<usize>(y * planeW)) << 2);
        const iy = y - padTop;
        if (iy < 0 || iy >= h) {
          memory.fill(row, 0, <usize>planeW << 2);
          continue;
        }
        if (padLeft > 0) memory.fill(row, 0, <usize>padLeft << 2);
        memory.copy(row + (<usize>padLeft << 2), srcPlane + ((<usize>(iy * w)) << 2), <usize>w << 2);
        const right = planeW - padLeft - w;
        if (right > 0) memory.fill(row + ((<usize>(padLeft + w)) << 2), 0, <usize>right << 2);
      }
      continue;
    }
    for (let ry = 0; ry < strideH; ry++) {
      for (let rx = 0; rx < strideW; rx++) {
        const plane = dstChannel + ((<usize>((ry * strideW + rx) * planeFloats)) << 2);
        for (let y = 0; y < planeH; y++) {
          const iy = y * strideH + ry - padTop;
          const row = plane + ((<usize>(y * planeW)) << 2);
          if (iy < 0 || iy >= h) {
            memory.fill(row, 0, <usize>planeW << 2);
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

/**
 * Four output channels over positions [0, positions): weights packed as
 * [tap][4], rows written to dst + j * dstStride.
 */
function block4(
  src: usize,
  taps: usize,
  tapCount: i32,
  weights: usize,
  dst: usize,
  dstStride: usize,
  positions: i32,
  b0: f32,
  b1: f32,
  b2: f32,
  b3: f32,
): void {
  const tapEnd = taps + (<usize>tapCount << 2);
  let p = 0;
  for (; p + TILE4_POSITIONS <= positions; p += TILE4_POSITIONS) {
    let a00 = f32x4.splat(b0), a01 = a00, a02 = a00;
    let a10 = f32x4.splat(b1), a11 = a10, a12 = a10;
    let a20 = f32x4.splat(b2), a21 = a20, a22 = a20;
    let a30 = f32x4.splat(b3), a31 = a30, a32 = a30;
    const base = src + (<usize>p << 2);
    let wp = weights;
    for (let tp = taps; tp < tapEnd; tp += 4) {
      const ip = base + <usize>load<i32>(tp);
      const x0 = v128.load(ip), x1 = v128.load(ip, 16), x2 = v128.load(ip, 32);
      let wv = v128.load32_splat(wp);
      a00 = f32x4.add(a00, f32x4.mul(wv, x0));
      a01 = f32x4.add(a01, f32x4.mul(wv, x1));
      a02 = f32x4.add(a02, f32x4.mul(wv, x2));
      wv = v128.load32_splat(wp, 4);
      a10 = f32x4.add(a10, f32x4.mul(wv, x0));
      a11 = f32x4.add(a11, f32x4.mul(wv, x1));
      a12 = f32x4.add(a12, f32x4.mul(wv, x2));
      wv = v128.load32_splat(wp, 8);
      a20 = f32x4.add(a20, f32x4.mul(wv, x0));
      a21 = f32x4.add(a21, f32x4.mul(wv, x1));
      a22 = f32x4.add(a22, f32x4.mul(wv, x2));
      wv = v128.load32_splat(wp, 12);
      a30 = f32x4.add(a30, f32x4.mul(wv, x0));
      a31 = f32x4.add(a31, f32x4.mul(wv, x1));
      a32 = f32x4.add(a32, f32x4.mul(wv, x2));
      wp += 16;
    }
    let o = dst + (<usize>p << 2);
    v128.store(o, a00); v128.store(o, a01, 16); v128.store(o, a02, 32);
    o += dstStride;
    v128.store(o, a10); v128.store(o, a11, 16); v128.store(o, a12, 32);
    o += dstStride;
    v128.store(o, a20); v128.store(o, a21, 16); v128.store(o, a22, 32);
    o += dstStride;
    v128.store(o, a30); v128.store(o, a31, 16); v128.store(o, a32, 32);
  }
  // Scalar tail: the same float32 multiply-then-add sequence as one SIMD lane.
  for (; p < positions; p++) {
    let s0 = b0, s1 = b1, s2 = b2, s3 = b3;
    const base = src + (<usize>p << 2);
    let wp = weights;
    for (let tp = taps; tp < tapEnd; tp += 4) {
      const x = load<f32>(base + <usize>load<i32>(tp));
      s0 = s0 + load<f32>(wp) * x;
      s1 = s1 + load<f32>(wp, 4) * x;
      s2 = s2 + load<f32>(wp, 8) * x;
      s3 = s3 + load<f32>(wp, 12) * x;
      wp += 16;
    }
    const o = dst + (<usize>p << 2);
    store<f32>(o, s0);
    store<f32>(o + dstStride, s1);
    store<f32>(o + 2 * dstStride, s2);
    store<f32>(o + 3 * dstStride, s3);
  }
}

/** One output channel over positions [0, positions): weight of tap t at weights + t * weightStride. */
function block1(
  src: usize,
  taps: usize,
  tapCount: i32,
  weights: usize,
  weightStride: usize,
  dst: usize,
  positions: i32,
  b: f32,
): void {
  const tapEnd = taps + (<usize>tapCount << 2);
  let p = 0;
  for (; p + TILE1_POSITIONS <= positions; p += TILE1_POSITIONS) {
    let a0 = f32x4.splat(b), a1 = a0, a2 = a0, a3 = a0;
    const base = src + (<usize>p << 2);
    let wp = weights;
    for (let tp = taps; tp < tapEnd; tp += 4) {
      const ip = base + <usize>load<i32>(tp);
      const wv = v128.load32_splat(wp);
      a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(ip)));
      a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(ip, 16)));
      a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(ip, 32)));
      a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(ip, 48)));
      wp += weightStride;
    }
    const o = dst + (<usize>p << 2);
    v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
  }
  for (; p < positions; p++) {
    let s = b;
    const base = src + (<usize>p << 2);
    let wp = weights;
    for (let tp = taps; tp < tapEnd; tp += 4) {
      s = s + load<f32>(wp) * load<f32>(base + <usize>load<i32>(tp));
      wp += weightStride;
    }
    store<f32>(dst + (<usize>p << 2), s);
  }
}

/** Copies the valid columns of `rows` plane-layout rows into output planes. */
function copyOut(tmp: usize, tmpStride: usize, out: usize, outStride: usize, rows: i32, outH: i32, outW: i32, planeW: i32): void {
  for (let j = 0; j < rows; j++) {
    const from = tmp + <usize>j * tmpStride;
    const to = out + <usize>j * outStride;
    for (let oy = 0; oy < outH; oy++) {
      memory.copy(to + ((<usize>(oy * outW)) << 2), from + ((<usize>(oy * planeW)) << 2), <usize>outW << 2);
    }
  }
}

@inline function biasAt(bias: usize, oc: i32): f32 {
  return bias ? load<f32>(bias + (<usize>oc << 2)) : 0;
}

/**
 * Computes images [batchStart, batchEnd) x output channels [ocStart, ocEnd).
 * Weights: per group, floor(coutG / 4) blocks of [tap][4] then the remaining
 * channels as [tap]. Taps: byte offsets into one group's phase planes.
 * Scratch: planes (cinG * channelStride floats) then 4 * positions floats.
 * directInput: the input itself already is the phase-plane layout (stride 1,
 * no padding), so it is read in place.
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
  batchStart: i32,
  batchEnd: i32,
  ocStart: i32,
  ocEnd: i32,
): void {
  const positions = (outH - 1) * planeW + outW;
  const directOutput = planeW == outW;
  const planes = scratch;
  const tmp = scratch + ((<usize>(cinG * channelStride)) << 2);
  const tmpStride = <usize>positions << 2;
  const outPlane = <usize>(outH * outW) << 2;
  const fullBlocks = coutG >> 2;
  const groupWeights = <usize>(coutG * tapCount) << 2;
  const firstGroup = ocStart / coutG;
  const lastGroup = (ocEnd - 1) / coutG;
  for (let n = batchStart; n < batchEnd; n++) {
    for (let g = firstGroup; g <= lastGroup; g++) {
      const groupInput = input + ((<usize>((n * inChannels + g * cinG) * h * w)) << 2);
      let src = planes;
      if (directInput) src = groupInput;
      else buildPlanes(groupInput, planes, cinG, h, w, strideH, strideW, padTop, padLeft, planeH, planeW, channelStride);
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
          const dst = directOutput ? out : tmp;
          const dstStride = directOutput ? outPlane : tmpStride;
          block4(src, taps, tapCount, bw, dst, dstStride, positions,
            biasAt(bias, oc), biasAt(bias, oc + 1), biasAt(bias, oc + 2), biasAt(bias, oc + 3));
          if (!directOutput) copyOut(tmp, tmpStride, out, outPlane, 4, outH, outW, planeW);
          j += 4;
        } else {
          let wp: usize, stride: usize;
          if (block < fullBlocks) {
            wp = gw + ((<usize>(block * tapCount * 4 + (j & 3))) << 2);
            stride = 16;
          } else {
            wp = gw + ((<usize>(fullBlocks * tapCount * 4 + (j - fullBlocks * 4) * tapCount)) << 2);
            stride = 4;
          }
          block1(src, taps, tapCount, wp, stride, directOutput ? out : tmp, positions, biasAt(bias, oc));
          if (!directOutput) copyOut(tmp, tmpStride, out, outPlane, 1, outH, outW, planeW);
          j += 1;
        }
      }
    }
  }
}
