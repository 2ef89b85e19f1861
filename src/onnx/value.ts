// The values an ONNX graph computes with. Float tensors are groupconv Tensors
// (shape + Float32Array) with a dtype tag, so the project's ops take them as is.
// Integer tensors (shapes, indices, axes: what exporters compute around
// Reshape) are kept as doubles: exact to 2^53, far beyond any dimension, and
// INT64's extremes (Slice's "to the end") still compare as huge. Booleans are bytes.
import { errors } from '../errors.js';
import { outputArray, stridesOf } from '../tensor/tensor.js';

export type DType = 'float32' | 'int64' | 'bool';

export interface FloatValue {
  dtype: 'float32';
  shape: number[];
  data: Float32Array;
}
export interface IntValue {
  dtype: 'int64';
  shape: number[];
  data: Float64Array;
}
export interface BoolValue {
  dtype: 'bool';
  shape: number[];
  data: Uint8Array;
}
export type Value = FloatValue | IntValue | BoolValue;

/**
 * The most elements one value may hold (1 GiB of float32). A corrupted or
 * hostile file can declare any shape; this stops it before the allocation.
 */
export const MAX_ELEMENTS = 2 ** 28;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkSize(shape: readonly number[]): number {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw errors.onnxValue(`invalid tensor shape [${shape}]`);
  }
  const n = sizeOf(shape);
  if (n > MAX_ELEMENTS) throw errors.onnxValue(`a tensor of shape [${shape}] (${n} elements) is larger than groupconv allows (${MAX_ELEMENTS})`);
  return n;
}

/**
 * A new zero-filled Float32Array for an op's output (outputArray: from the
 * caller's allocator when one is set), refused past MAX_ELEMENTS: attributes
 * (pads, dilations) or operand shapes can ask for far more than the inputs hold.
 */
export function floatArray(n: number): Float32Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ELEMENTS) throw errors.onnxValue(`an output of ${n} elements is larger than groupconv allows (${MAX_ELEMENTS})`);
  return outputArray(n);
}

export function floatValue(shape: readonly number[], data?: Float32Array): FloatValue {
  const n = checkSize(shape);
  if (data && data.length !== n) throw errors.onnxValue(`shape [${shape}] holds ${n} values, data has ${data.length}`);
  return { dtype: 'float32', shape: [...shape], data: data ?? outputArray(n) };
}

export function intValue(shape: readonly number[], data?: ArrayLike<number>): IntValue {
  const n = checkSize(shape);
  if (data && data.length !== n) throw errors.onnxValue(`shape [${shape}] holds ${n} values, data has ${data.length}`);
  const out = new Float64Array(n);
  if (data) out.set(data);
  return { dtype: 'int64', shape: [...shape], data: out };
}

export function boolValue(shape: readonly number[], data?: Uint8Array): BoolValue {
  const n = checkSize(shape);
  return { dtype: 'bool', shape: [...shape], data: data ?? new Uint8Array(n) };
}

/** A new value of `dtype` and `shape`, zero-filled. */
export function emptyValue(dtype: DType, shape: readonly number[]): Value {
  if (dtype === 'float32') return floatValue(shape);
  if (dtype === 'int64') return intValue(shape);
  return boolValue(shape);
}

/** Same data, another shape (no copy: values are never written after they are made). */
export function reshaped<V extends Value>(v: V, shape: readonly number[]): V {
  return { ...v, shape: [...shape] };
}

export function scalarInt(n: number): IntValue {
  return intValue([], [n]);
}

/** The integers of a value (a shape, axes, indices) as a plain array. */
export function intsOf(v: Value): number[] {
  return Array.from(v.data as ArrayLike<number>, (x) => Math.trunc(x));
}

export function expectFloat(v: Value | undefined, what: string): FloatValue {
  if (!v) throw errors.onnxValue(`${what} is missing`);
  if (v.dtype !== 'float32') throw errors.onnxValue(`${what} must be float32, got ${v.dtype}`);
  return v;
}

export function expectInts(v: Value | undefined, what: string): number[] {
  if (!v) throw errors.onnxValue(`${what} is missing`);
  if (v.dtype === 'float32') throw errors.onnxValue(`${what} must be integers, got float32`);
  return intsOf(v);
}

/** Normalizes a possibly negative axis for a tensor of `rank` (ONNX counts negative axes from the end). */
export function axisOf(axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw errors.onnxValue(`${what} ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

export { stridesOf };
