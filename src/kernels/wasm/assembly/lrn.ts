// Local response normalisation across channels, as
// torch.nn.functional.local_response_norm computes it:
//   out = x / (k + alpha * (sum of x^2 over channels [c - size/2, c + (size-1)/2]) / size) ^ beta,
// the window clamped at the tensor's first and last channel (PyTorch pads the
// squares with zeros, and adding +0 to a sum of squares changes no bit).
//
// float32 throughout, in PyTorch's order: the squares rounded, summed from the
// window's first channel on, divided by size (avg_pool3d), times alpha, plus
// k, to the power beta, then the division. PyTorch computes in float32 too,
// so this follows it more closely than the JavaScript's float64
// (ops/normalization.ts); both pass the fixtures' 1e-5 relative tolerance.
// No multiply-add is fused (plain mul then add), so both builds compute the
// same bits.
//
// Each output's sum is computed afresh over its window, in channel order. A
// running sum (add the entering channel's square, subtract the leaving one's)
// would save size - 2 additions per element, but its rounding would depend on
// the channel it started from, and a device computing a channel range must get
// the bits of the whole tensor. SIMD runs over the positions of a plane.

@inline function splat(v: f32): v128 {
  return f32x4.splat(v);
}

/** The window's sum of squares at 4 positions from `at` bytes into a plane, channels [lo, hi] of image base `image`. */
@inline function sumOfSquares(image: usize, planeBytes: usize, lo: i32, hi: i32, at: usize): v128 {
  let sum = splat(0);
  let p = image + <usize>lo * planeBytes + at;
  for (let j = lo; j <= hi; j++) {
    const v = v128.load(p);
    sum = f32x4.add(sum, f32x4.mul(v, v));
    p += planeBytes;
  }
  return sum;
}

/** The same for one position (lanes 1-3 zero): the plane's last plane % 4 positions, with the same operations. */
@inline function sumOfSquares1(image: usize, planeBytes: usize, lo: i32, hi: i32, at: usize): v128 {
  let sum = splat(0);
  let p = image + <usize>lo * planeBytes + at;
  for (let j = lo; j <= hi; j++) {
    const v = v128.load32_zero(p);
    sum = f32x4.add(sum, f32x4.mul(v, v));
    p += planeBytes;
  }
  return sum;
}

/** (sum / size * alpha + k) in PyTorch's order. */
@inline function base(sum: v128, size: v128, alpha: v128, k: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.div(sum, size), alpha), k);
}

/** t^0.75 as sqrt(t * sqrt(t)): two correctly rounded square roots, within 2 ulp of powf. */
@inline function power075(t: v128): v128 {
  return f32x4.sqrt(f32x4.mul(t, f32x4.sqrt(t)));
}

/**
 * Channels [start, end) of x [batch, channels, plane] into out [batch,
 * outChannels, plane] from channel outStart on. The window reads x's channels
 * around each one, clamped to [0, channels): x holds the neighbours a channel
 * range needs (a device's window), or the whole tensor.
 */
@inline function lrnSlice(
  x: usize, out: usize, batch: i32, channels: i32, plane: i32, start: i32, end: i32, outChannels: i32, outStart: i32,
  size: i32, alpha: f32, k: f32,
): void {
  const planeBytes = <usize>plane << 2;
  const before = size >> 1, after = (size - 1) >> 1;
  const sizeV = splat(<f32>size), alphaV = splat(alpha), kV = splat(k);
  const vecEnd = plane & ~3;
  for (let n = 0; n < batch; n++) {
    const image = x + <usize>(n * channels) * planeBytes;
    for (let c = start; c < end; c++) {
      const lo = max(0, c - before), hi = min(channels - 1, c + after);
      const src = image + <usize>c * planeBytes;
      const dst = out + <usize>(n * outChannels + outStart + c - start) * planeBytes;
      let i = 0;
      for (; i < vecEnd; i += 4) {
        const at = <usize>i << 2;
        const t = base(sumOfSquares(image, planeBytes, lo, hi, at), sizeV, alphaV, kV);
        v128.store(dst + at, f32x4.div(v128.load(src + at), power075(t)));
      }
      for (; i < plane; i++) {
        const at = <usize>i << 2;
        const t = base(sumOfSquares1(image, planeBytes, lo, hi, at), sizeV, alphaV, kV);
        v128.store32_lane(dst + at, f32x4.div(v128.load32_zero(src + at), power075(t)), 0);
      }
    }
  }
}

/**
 * LRN with beta = 0.75 (AlexNet's): the power by two SIMD square roots. Other
 * betas run in JavaScript (kernels/lrn.ts): AssemblyScript's Mathf.pow reads
 * lookup tables from a data segment, which this module must not have (it
 * would be written over the shared memory's first bytes).
 */
export function lrnBeta075(
  x: usize, out: usize, batch: i32, channels: i32, plane: i32, start: i32, end: i32, outChannels: i32, outStart: i32,
  size: i32, alpha: f32, k: f32,
): void {
  lrnSlice(x, out, batch, channels, plane, start, end, outChannels, outStart, size, alpha, k);
}
