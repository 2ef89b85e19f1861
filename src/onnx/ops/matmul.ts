// Gemm and MatMul. nn.Linear exports as Gemm(transB=1) on 2-D input and as
// MatMul (+ Add) on more dimensions (ConvNeXt's channels-last MLP); both run on
// the project's linear() (the WebAssembly kernel). Other forms take plain loops
// with double-precision sums.
import { linear } from '../../ops/linear.js';
import { fail } from './attrs.js';
import { broadcastShape, broadcastTo } from './broadcast.js';
import { expectFloat, floatArray, floatValue, MAX_ELEMENTS, sizeOf, stridesOf, type FloatValue } from '../value.js';
import type { OpFactory } from './attrs.js';

// A MatMul's constant B [K, N], transposed once to linear's weight layout [N, K].
const transposedWeights = new WeakMap<Float32Array, Float32Array>();

/** B [K, N] as [N, K], once per constant (cached by its data), so every thread reads the same array. */
export function transposed2d(b: FloatValue): Float32Array {
  let t = transposedWeights.get(b.data);
  if (!t) {
    const [K, N] = b.shape;
    t = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) t[n * K + k] = b.data[k * N + n];
    transposedWeights.set(b.data, t);
  }
  return t;
}

function matmul(a: FloatValue, b: FloatValue): FloatValue {
  if (a.shape.length === 0 || b.shape.length === 0) fail('MatMul needs tensors of rank 1 or more');
  // Rank 1 operands: a row vector on the left, a column vector on the right, dropped again after.
  const aShape = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bShape = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const M = aShape[aShape.length - 2];
  const K = aShape[aShape.length - 1];
  const N = bShape[bShape.length - 1];
  if (bShape[bShape.length - 2] !== K) fail(`cannot multiply [${a.shape}] by [${b.shape}]`);
  const drop = (shape: number[]) => {
    let s = shape;
    if (a.shape.length === 1) s = [...s.slice(0, -2), s[s.length - 1]];
    if (b.shape.length === 1) s = s.slice(0, -1);
    return s;
  };
  if (bShape.length === 2) {
    // [..., M, K] x [K, N]: every row of A times B, linear() with B transposed.
    const rows = sizeOf(aShape.slice(0, -1));
    if (rows * N > MAX_ELEMENTS) fail(`an output of ${rows * N} elements is larger than groupconv allows`);
    const r = linear({ shape: [rows, K], data: a.data }, { shape: [N, K], data: transposed2d({ ...b, shape: bShape }) });
    return floatValue(drop([...aShape.slice(0, -1), N]), r.data);
  }
  const batch = broadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
  const out = floatArray(sizeOf(batch) * M * N);
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const batchStrides = stridesOf(batch);
  const offsetIn = (own: number[], index: number) => {
    // Offset of batch entry `index` (of the broadcast batch) in an operand with batch dims `own`.
    const lead = batch.length - own.length;
    const ownStrides = stridesOf(own);
    let off = 0;
    let rest = index;
    for (let d = 0; d < batch.length; d++) {
      const i = Math.floor(rest / batchStrides[d]);
      rest -= i * batchStrides[d];
      if (d >= lead && own[d - lead] !== 1) off += i * ownStrides[d - lead];
    }
    return off;
  };
  for (let t = 0; t < sizeOf(batch); t++) {
    const ao = offsetIn(aBatch, t) * M * K;
    const bo = offsetIn(bBatch, t) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += a.data[ao + m * K + k] * b.data[bo + k * N + n];
        out[(t * M + m) * N + n] = sum;
      }
    }
  }
  return floatValue(drop([...batch, M, N]), out);
}

export const matmulOps: Record<string, OpFactory> = {
  MatMul: (a) => {
    a.done();
    return ([x, y]) => [matmul(expectFloat(x, 'A'), expectFloat(y, 'B'))];
  },
  Gemm: (a) => {
    const alpha = a.float('alpha', 1);
    const beta = a.float('beta', 1);
    const transA = a.int('transA', 0);
    const transB = a.int('transB', 0);
    a.require(transA === 0 || transA === 1, 'transA', transA, 'must be 0 or 1');
    a.require(transB === 0 || transB === 1, 'transB', transB, 'must be 0 or 1');
    a.ignore('broadcast'); // opset < 7: C broadcasts anyway here
    a.done();
    return ([x, y, z]) => {
      const A = expectFloat(x, 'A');
      const B = expectFloat(y, 'B');
      const C = z ? expectFloat(z, 'C') : undefined;
      if (A.shape.length !== 2 || B.shape.length !== 2) fail(`Gemm needs 2-D A and B, got [${A.shape}] and [${B.shape}]`);
      const [M, K] = transA ? [A.shape[1], A.shape[0]] : A.shape;
      const [K2, N] = transB ? [B.shape[1], B.shape[0]] : B.shape;
      if (K !== K2) fail(`cannot multiply A [${A.shape}] (transA=${transA}) by B [${B.shape}] (transB=${transB})`);
      // nn.Linear: x W^T + b, exactly linear().
      if (!transA && transB && alpha === 1 && (!C || (beta === 1 && C.shape.length === 1 && C.shape[0] === N))) {
        const r = linear(A, B, C ?? null);
        return [floatValue(r.shape, r.data)];
      }
      const c = C ? broadcastTo(C, [M, N]) : null;
      const out = floatArray(M * N);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let sum = 0;
          for (let k = 0; k < K; k++) {
            const av = transA ? A.data[k * M + m] : A.data[m * K + k];
            const bv = transB ? B.data[n * K + k] : B.data[k * N + n];
            sum += av * bv;
          }
          out[m * N + n] = alpha * sum + (c ? beta * c[m * N + n] : 0);
        }
      }
      return [floatValue([M, N], out)];
    };
  },
};
