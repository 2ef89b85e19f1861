// Half-precision floats (IEEE binary16 and bfloat16), as safetensors and ONNX
// files store weights, widened to numbers: both are exact in float32.

const bits = new Uint32Array(1);
const bitsAsFloat = new Float32Array(bits.buffer);

/** IEEE half precision bits to a number (exact: every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** bfloat16 bits to a number: the upper half of a float32. */
export function bfloat16ToFloat(h: number): number {
  bits[0] = (h & 0xffff) << 16;
  return bitsAsFloat[0];
}
