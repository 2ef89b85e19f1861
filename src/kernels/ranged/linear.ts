// The fully connected layer (ONNX Gemm as nn.Linear exports it: transB = 1,
// alpha = beta = 1, a bias of one value per output or none) by blocks of
// output columns: every row of x against a block of weight rows, so each
// weight row is read by one unit only. The WebAssembly kernel computes every
// dot product the same way whichever outputs it is given
// (wasm/assembly/linear.ts), so blocks give the bits of one call, which is
// what ops/linear.ts (the host's Gemm) makes.
import { linearColumns } from '../linear.js';
import type { RangedKernel, RangedOp } from './types.js';

/** Output columns per unit: a multiple of 4, the kernel's tile width. */
export const COLUMN_BLOCK = 16;

/** The output columns [o0, o1) of the ranged Gemm's units [start, end). */
export function gemmColumns(outFeatures: number, start: number, end: number): [number, number] {
  return [Math.min(outFeatures, start * COLUMN_BLOCK), Math.min(outFeatures, end * COLUMN_BLOCK)];
}

/** Inputs x [rows, in], weight [out, in], and bias [out] when params.bias is 1; params rows, inFeatures, outFeatures. */
const gemm: RangedKernel = (p, [x, weight, bias], [out], start, end) => {
  const rows = p.rows as number;
  const inF = p.inFeatures as number;
  const outF = p.outFeatures as number;
  const b = p.bias === 1 ? bias : null;
  const [o0, o1] = gemmColumns(outF, start, end);
  if (o0 === o1 || rows === 0) return;
  if (linearColumns(x, weight, b, out, rows, inF, outF, o0, o1)) return;
  // ops/linear.ts's fallback: double-precision sums.
  for (let r = 0; r < rows; r++) {
    const xRow = r * inF;
    for (let o = o0; o < o1; o++) {
      const wRow = o * inF;
      let sum = 0;
      for (let i = 0; i < inF; i++) sum += x[xRow + i] * weight[wRow + i];
      out[r * outF + o] = sum + (b ? b[o] : 0);
    }
  }
};

/**
 * Gemm in its other forms (transA, transB = 0, alpha, beta, C broadcast): the
 * host's loop, double-precision sums. Inputs A, B and, when params.c is 1, C,
 * read as C[floor(i / cInner) % cPeriod] for output element i; params M, K, N,
 * transA, transB, alpha, beta. A unit is one output row.
 */
const gemmRows: RangedKernel = (p, [A, B, C], [out], start, end) => {
  const M = p.M as number;
  const K = p.K as number;
  const N = p.N as number;
  const transA = p.transA === 1;
  const transB = p.transB === 1;
  const alpha = p.alpha as number;
  const beta = p.beta as number;
  const c = p.c === 1 ? C : null;
  const cInner = p.cInner as number;
  const cPeriod = p.cPeriod as number;
  for (let m = start; m < end; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const av = transA ? A[k * M + m] : A[m * K + k];
        const bv = transB ? B[n * K + k] : B[k * N + n];
        sum += av * bv;
      }
      const i = m * N + n;
      out[i] = alpha * sum + (c ? beta * c[Math.floor(i / cInner) % cPeriod] : 0);
    }
  }
};

/** Gemm's general form; `cRuns` [inner, period] when there is a C (binaryLayout's runs of C over [M, N]). */
export function gemmRowsOp(M: number, K: number, N: number, transA: boolean, transB: boolean, alpha: number, beta: number, cRuns: [number, number] | null): RangedOp {
  const params = { M, K, N, transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha, beta, c: cRuns ? 1 : 0, cInner: cRuns ? cRuns[0] : 1, cPeriod: cRuns ? cRuns[1] : 1 };
  return { kernel: 'gemmRows', params, units: M, costPerUnit: K * N };
}

export const linearKernels: Record<string, RangedKernel> = { gemm, gemmRows };

/** x [rows, inFeatures] times weight [outFeatures, inFeatures] transposed, plus bias when `bias`. */
export function gemmOp(rows: number, inFeatures: number, outFeatures: number, bias: boolean): RangedOp {
  return {
    kernel: 'gemm',
    params: { rows, inFeatures, outFeatures, bias: bias ? 1 : 0 },
    units: Math.ceil(outFeatures / COLUMN_BLOCK),
    costPerUnit: rows * inFeatures * COLUMN_BLOCK,
  };
}
