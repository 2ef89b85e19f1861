// ReLU over a run of floats, exactly as torch.relu: a negative value becomes
// +0; -0 and NaN (either sign) keep their bits. On the bits, without a branch:
// `x < 0` is false for -0 and for NaN, so clearing the lanes where it holds
// keeps both, and the result is bitwise the JavaScript version's (ops/relu.ts).

/** dst[i] = relu(src[i]) for i in [0, count); dst may be src (in place). */
export function reluFloats(src: usize, dst: usize, count: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= count; i += 8) {
    const at = <usize>i << 2;
    const a = v128.load(src + at), b = v128.load(src + at, 16);
    v128.store(dst + at, v128.andnot(a, f32x4.lt(a, zero)));
    v128.store(dst + at, v128.andnot(b, f32x4.lt(b, zero)), 16);
  }
  for (; i + 4 <= count; i += 4) {
    const at = <usize>i << 2;
    const a = v128.load(src + at);
    v128.store(dst + at, v128.andnot(a, f32x4.lt(a, zero)));
  }
  for (; i < count; i++) {
    const at = <usize>i << 2;
    // One lane of the same vector operation, so the tail keeps NaN's bits too.
    const a = v128.load32_zero(src + at);
    v128.store32_lane(dst + at, v128.andnot(a, f32x4.lt(a, zero)), 0);
  }
}
