// The ranged layout kernels' row loops (ranged/layout.ts): Transpose with
// contiguous rows (ShuffleNetV2's channel shuffle among them) and constant
// Pad. A copy gives the same bits however it is done; what costs in
// JavaScript is each row's subarray() and set() (and Pad's two fill()s),
// about 130-160 ns a row, when a row of 49 floats moves in a few; so the loop
// over rows with its counters runs here, one call a range.
//
// Four leading dimensions are what the transposes and pads of exported CNNs
// reach once a transpose's trailing in-order dimensions are merged (the
// shuffle's [N, C/2, 2, H*W] has three, an [N, C, H, W] pad three); the
// caller pads with dimensions of size 1 and keeps the JavaScript loop for more.

// memory.copy is a call into the runtime: about 5 ns a row against 1.6 for the
// vector loop on rows of 1 float, 1.5x the loop's time on rows of 49 and 1.16x
// on rows of 196; from rows of 784 floats on it beats the loop by 6-9% (the
// two alternated in one process, docs/benchmarks.md 2026-11-30).
const BULK_COPY_BYTES: usize = 2048;

@inline function copyRow(dst: usize, src: usize, bytes: usize, bulk: bool): void {
  if (bulk) {
    memory.copy(dst, src, bytes);
    return;
  }
  let i: usize = 0;
  for (; i + 32 <= bytes; i += 32) {
    v128.store(dst + i, v128.load(src + i));
    v128.store(dst + i, v128.load(src + i, 16), 16);
  }
  for (; i < bytes; i += 4) store<u32>(dst + i, load<u32>(src + i));
}

@inline function fillRow(dst: usize, bytes: usize, bits: u32): void {
  const v = i32x4.splat(bits);
  let i: usize = 0;
  for (; i + 16 <= bytes; i += 16) v128.store(dst + i, v);
  for (; i < bytes; i += 4) store<u32>(dst + i, bits);
}

@inline function transposeRowsWith(
  x: usize, out: usize, start: i32, end: i32, inner: i32,
  n1: i32, n2: i32, n3: i32, s0: i32, s1: i32, s2: i32, s3: i32, bulk: bool,
): void {
  let rest = start;
  let c3 = rest % n3;
  rest /= n3;
  let c2 = rest % n2;
  rest /= n2;
  let c1 = rest % n1;
  const c0 = rest / n1;
  // Byte strides as usize: the offset steps back by a whole dimension at each wrap, modulo 2^32 like any address.
  const b0 = <usize>s0 << 2;
  const b1 = <usize>s1 << 2;
  const b2 = <usize>s2 << 2;
  const b3 = <usize>s3 << 2;
  let src = x + <usize>c0 * b0 + <usize>c1 * b1 + <usize>c2 * b2 + <usize>c3 * b3;
  const rowBytes = <usize>inner << 2;
  let dst = out + <usize>start * rowBytes;
  for (let r = start; r < end; r++) {
    copyRow(dst, src, rowBytes, bulk);
    dst += rowBytes;
    src += b3;
    if (++c3 < n3) continue;
    c3 = 0;
    src += b2 - <usize>n3 * b3;
    if (++c2 < n2) continue;
    c2 = 0;
    src += b1 - <usize>n2 * b2;
    if (++c1 < n1) continue;
    c1 = 0;
    src += b0 - <usize>n1 * b1;
  }
}

/**
 * Rows [start, end) of `inner` floats into out (row r at r * inner): row r,
 * whose index over leading dimensions of sizes n0..n3 (row-major) is (c0, c1,
 * c2, c3), is x's run of `inner` floats from c0 * s0 + c1 * s1 + c2 * s2 +
 * c3 * s3 (x, out: byte offsets of element 0; strides in floats).
 */
export function transposeRows(
  x: usize, out: usize, start: i32, end: i32, inner: i32,
  n0: i32, n1: i32, n2: i32, n3: i32, s0: i32, s1: i32, s2: i32, s3: i32,
): void {
  if ((<usize>inner << 2) >= BULK_COPY_BYTES) transposeRowsWith(x, out, start, end, inner, n1, n2, n3, s0, s1, s2, s3, true);
  else transposeRowsWith(x, out, start, end, inner, n1, n2, n3, s0, s1, s2, s3, false);
}

@inline function padRowsWith(
  x: usize, out: usize, start: i32, end: i32, rowLength: i32, c0: i32, c1: i32, xColumn0: i32, fillBits: u32,
  n0: i32, n1: i32, n2: i32, n3: i32, b0: i32, b1: i32, b2: i32, b3: i32,
  m0: i32, m1: i32, m2: i32, m3: i32, s0: i32, s1: i32, s2: i32, s3: i32, bulk: bool,
): void {
  let rest = start;
  let k3 = rest % n3;
  rest /= n3;
  let k2 = rest % n2;
  rest /= n2;
  let k1 = rest % n1;
  let k0 = rest / n1;
  const rowBytes = <usize>rowLength << 2;
  const headBytes = <usize>c0 << 2;
  const copyBytes = <usize>(c1 - c0) << 2;
  const tailBytes = <usize>(rowLength - c1) << 2;
  const columns = c1 > c0;
  let dst = out + <usize>start * rowBytes;
  for (let r = start; r < end; r++) {
    // x's index along each leading dimension; unsigned, one compare is both bounds.
    const i0 = k0 - b0;
    const i1 = k1 - b1;
    const i2 = k2 - b2;
    const i3 = k3 - b3;
    if (columns && <u32>i0 < <u32>m0 && <u32>i1 < <u32>m1 && <u32>i2 < <u32>m2 && <u32>i3 < <u32>m3) {
      const from = <usize>(i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3 + xColumn0) << 2;
      fillRow(dst, headBytes, fillBits);
      copyRow(dst + headBytes, x + from, copyBytes, bulk);
      fillRow(dst + headBytes + copyBytes, tailBytes, fillBits);
    } else {
      fillRow(dst, rowBytes, fillBits);
    }
    dst += rowBytes;
    if (++k3 < n3) continue;
    k3 = 0;
    if (++k2 < n2) continue;
    k2 = 0;
    if (++k1 < n1) continue;
    k1 = 0;
    k0++;
  }
}

/**
 * Rows [start, end) of `rowLength` floats of a constant pad (or crop) into out
 * (row r at r * rowLength): row r, whose index over leading dimensions of
 * sizes n0..n3 (row-major) is (k0, k1, k2, k3), lies inside x when every
 * k - b is within [0, m); then columns [c0, c1) are x's floats from
 * sum((k - b) * s) + xColumn0 and the others `fillBits`; outside, the whole
 * row is `fillBits` (x, out: byte offsets of element 0; strides in floats).
 */
export function padRows(
  x: usize, out: usize, start: i32, end: i32, rowLength: i32, c0: i32, c1: i32, xColumn0: i32, fillBits: u32,
  n0: i32, n1: i32, n2: i32, n3: i32, b0: i32, b1: i32, b2: i32, b3: i32,
  m0: i32, m1: i32, m2: i32, m3: i32, s0: i32, s1: i32, s2: i32, s3: i32,
): void {
  if ((<usize>(c1 - c0) << 2) >= BULK_COPY_BYTES) {
    padRowsWith(x, out, start, end, rowLength, c0, c1, xColumn0, fillBits, n0, n1, n2, n3, b0, b1, b2, b3, m0, m1, m2, m3, s0, s1, s2, s3, true);
  } else {
    padRowsWith(x, out, start, end, rowLength, c0, c1, xColumn0, fillBits, n0, n1, n2, n3, b0, b1, b2, b3, m0, m1, m2, m3, s0, s1, s2, s3, false);
  }
}
