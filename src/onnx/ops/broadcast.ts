// ONNX multidirectional (numpy) broadcasting for the binary elementwise ops.
import { fail } from './attrs.js';
import { emptyValue, sizeOf, stridesOf, type DType, type Value } from '../value.js';

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(`shapes [${a}] and [${b}] do not broadcast`);
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Strides of `shape` read as `outShape` (0 along broadcast dimensions). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_, i) => (i < offset || shape[i - offset] === 1 ? 0 : own[i - offset]));
}

type Data = Float32Array | Float64Array | Uint8Array;

/**
 * out[i] = f(a[i'], b[i'']) over the broadcast shape. Same-shape and
 * scalar operands (nearly every call in a CNN) take a flat loop; the rest walk
 * the output with a counter per dimension, moving each input's offset by strides.
 */
export function binaryOp(a: Value, b: Value, outType: DType, f: (x: number, y: number) => number): Value {
  const shape = broadcastShape(a.shape, b.shape);
  const out = emptyValue(outType, shape);
  const o = out.data as Data;
  const x = a.data as Data;
  const y = b.data as Data;
  const n = o.length;
  if (n === 0) return out;
  if (x.length === n && y.length === n) {
    for (let i = 0; i < n; i++) o[i] = f(x[i], y[i]);
  } else if (y.length === 1 && x.length === n) {
    const v = y[0];
    for (let i = 0; i < n; i++) o[i] = f(x[i], v);
  } else if (x.length === 1 && y.length === n) {
    const v = x[0];
    for (let i = 0; i < n; i++) o[i] = f(v, y[i]);
  } else {
    const rank = shape.length;
    const sa = broadcastStrides(a.shape, shape);
    const sb = broadcastStrides(b.shape, shape);
    // The innermost dimension in a loop of its own: the common [N,C,H,W] * [N,C,1,1] case runs H*W at a time.
    const last = rank - 1;
    const inner = shape[last];
    const ia = sa[last];
    const ib = sb[last];
    const counter = new Array<number>(rank).fill(0);
    let offA = 0;
    let offB = 0;
    for (let i = 0; i < n; i += inner) {
      for (let j = 0; j < inner; j++) o[i + j] = f(x[offA + j * ia], y[offB + j * ib]);
      for (let d = last - 1; d >= 0; d--) {
        counter[d]++;
        offA += sa[d];
        offB += sb[d];
        if (counter[d] < shape[d]) break;
        offA -= sa[d] * shape[d];
        offB -= sb[d] * shape[d];
        counter[d] = 0;
      }
    }
  }
  return out;
}

/** The numbers of `v` repeated to fill `shape` (Clip's bounds, Gemm's C). */
export function broadcastTo(v: Value, shape: readonly number[]): Float64Array {
  const target = emptyValue('int64', shape);
  const r = binaryOp(target, v, 'int64', (_, y) => y);
  if (sizeOf(r.shape) !== sizeOf(shape)) fail(`cannot broadcast [${v.shape}] to [${shape}]`);
  return r.data as Float64Array;
}

/** `v` repeated to the broadcast of its shape and `shape` (Expand, and Where's three operands). */
export function expandTo(v: Value, shape: readonly number[]): Value {
  const target = emptyValue('bool', shape);
  return binaryOp(v, target, v.dtype, (x) => x);
}
