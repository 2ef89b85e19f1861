// Binary arithmetic with ONNX (numpy) broadcasting, over blocks of output
// elements (units.ts). binaryLayout sorts a pair of shapes into the cases a
// CNN has, each with a loop of its own per operation:
//   same     operands of one shape;
//   yRuns    y repeats along x: y[floor(i / inner) % period] (a scalar,
//            squeeze-and-excitation's [N,C,H,W] * [N,C,1,1], a per-channel
//            [C,1,1] constant, a bias along the last axis);
//   xRuns    the same with the operands' roles swapped;
//   general  anything else, by strides (rare: one shared loop).
// Arithmetic is in double precision, rounded once on the store: for + - * /
// exactly float32's. Mul by runs (squeeze-and-excitation's) goes through
// WebAssembly SIMD where it can (simd-loops.ts), with the same bits. The ONNX host ops (onnx/ops/elementwise.ts) run these
// kernels over all their units.
import { mulRunsSimd } from './simd-loops.js';
import type { RangedKernel, RangedOp, RangedParams } from './types.js';
import { ELEMENT_BLOCK, elementParams, elementRange, elementUnits } from './units.js';

export const BINARY_MODES = { same: 0, yRuns: 1, xRuns: 2, general: 3 } as const;

/** Broadcast shape of a and b, or null when they do not broadcast. */
export function broadcastShapeOf(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/**
 * How `small` (left-padded to `out`'s rank) repeats over `out`, when its
 * dimensions other than 1 are one contiguous run equal to out's there:
 * [inner, period] with small's index floor(i / inner) % period. Null otherwise.
 */
function runsOf(small: readonly number[], out: readonly number[]): [number, number] | null {
  const padded = [...new Array<number>(out.length - small.length).fill(1), ...small];
  const first = padded.findIndex((d) => d !== 1);
  if (first < 0) return [product(out), 1];
  let last = padded.length - 1;
  while (padded[last] === 1) last--;
  for (let i = first; i <= last; i++) if (padded[i] !== out[i]) return null;
  return [product(out.slice(last + 1)), product(out.slice(first, last + 1))];
}

/** The params of a binary kernel for operands of shapes a and b (null when they do not broadcast). */
export function binaryLayout(a: readonly number[], b: readonly number[]): { shape: number[]; params: RangedParams } | null {
  const shape = broadcastShapeOf(a, b);
  if (!shape) return null;
  const elements = product(shape);
  const na = product(a);
  const nb = product(b);
  if (na === elements && nb === elements) return { shape, params: { mode: BINARY_MODES.same, elements } };
  if (na === elements) {
    const runs = runsOf(b, shape);
    if (runs) return { shape, params: { mode: BINARY_MODES.yRuns, elements, inner: runs[0], period: runs[1] } };
  }
  if (nb === elements) {
    const runs = runsOf(a, shape);
    if (runs) return { shape, params: { mode: BINARY_MODES.xRuns, elements, inner: runs[0], period: runs[1] } };
  }
  const stridesFor = (own: readonly number[]) => {
    const lead = shape.length - own.length;
    const strides = new Array<number>(shape.length).fill(0);
    let s = 1;
    for (let i = own.length - 1; i >= 0; i--) {
      strides[lead + i] = own[i] === 1 ? 0 : s;
      s *= own[i];
    }
    return strides;
  };
  return { shape, params: { mode: BINARY_MODES.general, elements, shape, aStrides: stridesFor(a), bStrides: stridesFor(b) } };
}

/** The general case: output elements [from, to), each operand's offset walked by strides. One loop shared by every op. */
function general(p: RangedParams, x: Float32Array, y: Float32Array, out: Float32Array, from: number, to: number, f: (a: number, b: number) => number): void {
  const shape = p.shape as number[];
  const sa = p.aStrides as number[];
  const sb = p.bStrides as number[];
  const rank = shape.length;
  const counter = new Array<number>(rank).fill(0);
  let offA = 0;
  let offB = 0;
  let rest = from;
  for (let d = rank - 1; d >= 0; d--) {
    counter[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
    offA += counter[d] * sa[d];
    offB += counter[d] * sb[d];
  }
  for (let i = from; i < to; i++) {
    out[i] = f(x[offA], y[offB]);
    for (let d = rank - 1; d >= 0; d--) {
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

// One kernel per operation; in each, one loop per layout. The repetition is
// deliberate: a shared loop calling the operation through one call site goes
// megamorphic in V8 and ran EfficientNet's Mul about 4x slower (115 against
// 27 ms; docs/benchmarks.md, "Whole models"). The loops over runs walk
// [from, to) a run of `inner` elements (one y value) at a time.

const add: RangedKernel = (p, [x, y], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  switch (p.mode) {
    case BINARY_MODES.same:
      for (let i = from; i < to; i++) out[i] = x[i] + y[i];
      return;
    case BINARY_MODES.yRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = y[run % period];
        for (; i < stop; i++) out[i] = x[i] + v;
      }
      return;
    }
    case BINARY_MODES.xRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = x[run % period];
        for (; i < stop; i++) out[i] = v + y[i];
      }
      return;
    }
    default:
      general(p, x, y, out, from, to, (a, b) => a + b);
  }
};

const sub: RangedKernel = (p, [x, y], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  switch (p.mode) {
    case BINARY_MODES.same:
      for (let i = from; i < to; i++) out[i] = x[i] - y[i];
      return;
    case BINARY_MODES.yRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = y[run % period];
        for (; i < stop; i++) out[i] = x[i] - v;
      }
      return;
    }
    case BINARY_MODES.xRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = x[run % period];
        for (; i < stop; i++) out[i] = v - y[i];
      }
      return;
    }
    default:
      general(p, x, y, out, from, to, (a, b) => a - b);
  }
};

const mul: RangedKernel = (p, [x, y], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  switch (p.mode) {
    case BINARY_MODES.same:
      for (let i = from; i < to; i++) out[i] = x[i] * y[i];
      return;
    case BINARY_MODES.yRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      if (mulRunsSimd(x, y, out, from, to, inner, period, false)) return;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = y[run % period];
        for (; i < stop; i++) out[i] = x[i] * v;
      }
      return;
    }
    case BINARY_MODES.xRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      if (mulRunsSimd(y, x, out, from, to, inner, period, true)) return;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = x[run % period];
        for (; i < stop; i++) out[i] = v * y[i];
      }
      return;
    }
    default:
      general(p, x, y, out, from, to, (a, b) => a * b);
  }
};

const div: RangedKernel = (p, [x, y], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  switch (p.mode) {
    case BINARY_MODES.same:
      for (let i = from; i < to; i++) out[i] = x[i] / y[i];
      return;
    case BINARY_MODES.yRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = y[run % period];
        for (; i < stop; i++) out[i] = x[i] / v;
      }
      return;
    }
    case BINARY_MODES.xRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = x[run % period];
        for (; i < stop; i++) out[i] = v / y[i];
      }
      return;
    }
    default:
      general(p, x, y, out, from, to, (a, b) => a / b);
  }
};

/** x^2, the exporter's square, as x*x: what PyTorch computes for pow(x, 2). */
function power(a: number, b: number): number {
  return b === 2 ? a * a : Math.pow(a, b);
}

const pow: RangedKernel = (p, [x, y], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  switch (p.mode) {
    case BINARY_MODES.same:
      for (let i = from; i < to; i++) out[i] = power(x[i], y[i]);
      return;
    case BINARY_MODES.yRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = y[run % period];
        if (v === 2) for (; i < stop; i++) out[i] = x[i] * x[i];
        else for (; i < stop; i++) out[i] = Math.pow(x[i], v);
      }
      return;
    }
    case BINARY_MODES.xRuns: {
      const inner = p.inner as number;
      const period = p.period as number;
      for (let i = from; i < to; ) {
        const run = Math.floor(i / inner);
        const stop = Math.min(to, (run + 1) * inner);
        const v = x[run % period];
        for (; i < stop; i++) out[i] = power(v, y[i]);
      }
      return;
    }
    default:
      general(p, x, y, out, from, to, power);
  }
};

export const binaryKernels: Record<string, RangedKernel> = { add, sub, mul, div, pow };

/** `kernel` (add, sub, mul, div, pow) over operands of shapes a and b, or null when they do not broadcast. */
export function binaryRangedOp(kernel: string, a: readonly number[], b: readonly number[]): { op: RangedOp; shape: number[] } | null {
  const layout = binaryLayout(a, b);
  if (!layout) return null;
  const elements = layout.params.elements as number;
  // Cut image by image (the output's first axis), so a chain can run one image's units: see elementUnits.
  const images = layout.shape.length >= 2 ? layout.shape[0] : 1;
  return { op: { kernel, params: { ...layout.params, ...elementParams(elements, images) }, units: elementUnits(elements, images), costPerUnit: ELEMENT_BLOCK }, shape: layout.shape };
}
