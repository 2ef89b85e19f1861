// Unary elementwise kernels over blocks of elements (units.ts). Each has a
// loop of its own, so V8 keeps every loop monomorphic: EfficientNet's SiLU
// runs Sigmoid over every activation, and a shared loop calling f through
// one site would be megamorphic. The ONNX host ops (onnx/ops/elementwise.ts)
// run these same kernels over all their units, so the two agree by construction.
import { hardswishValue } from '../epilogue.js';
import { reluReference } from '../../ops/relu.js';
import { reluKernel } from '../relu.js';
import type { RangedKernel, RangedOp, RangedParams } from './types.js';
import { ELEMENT_BLOCK, elementParams, elementRange, elementUnits } from './units.js';

/** erf to ~1e-10 or better: its Taylor series below 3.5, the asymptotic series of erfc above (where erfc < 1e-6). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3.5) {
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    const x2 = ax * ax;
    const series = 1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2) + 105 / (16 * x2 ** 4);
    r = 1 - (Math.exp(-x2) / (ax * Math.sqrt(Math.PI))) * series;
  }
  return x < 0 ? -r : r;
}

/** Through the WebAssembly kernel where both arrays are in the arena (the engine's case), as ops/relu does: the same bits. */
const relu: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  const xs = x.subarray(from, to);
  const outs = out.subarray(from, to);
  if (!reluKernel(xs, outs)) reluReference(xs, outs);
};

const sigmoid: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
};

/** params.alpha, params.beta: ONNX's max(0, min(1, alpha x + beta)). */
const hardSigmoid: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  const alpha = p.alpha as number;
  const beta = p.beta as number;
  for (let i = from; i < to; i++) out[i] = Math.max(0, Math.min(1, alpha * x[i] + beta));
};

/** PyTorch's hardswish, each step rounded to float32 (the epilogue's, so a fused HardSwish gives these bits). */
const hardSwish: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = hardswishValue(x[i]);
};

/** params.min, params.max; NaN passes through. */
const clip: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  const min = p.min as number;
  const max = p.max as number;
  for (let i = from; i < to; i++) {
    const t = x[i];
    out[i] = t < min ? min : t > max ? max : t;
  }
};

/** params.alpha */
const leakyRelu: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  const alpha = p.alpha as number;
  for (let i = from; i < to; i++) {
    const t = x[i];
    out[i] = t < 0 ? alpha * t : t;
  }
};

const erfKernel: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = erf(x[i]);
};

const sqrt: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = Math.sqrt(x[i]);
};

const tanh: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = Math.tanh(x[i]);
};

const exp: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = Math.exp(x[i]);
};

const neg: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = -x[i];
};

const abs: RangedKernel = (p, [x], [out], start, end) => {
  const [from, to] = elementRange(p, start, end);
  for (let i = from; i < to; i++) out[i] = Math.abs(x[i]);
};

export const unaryKernels: Record<string, RangedKernel> = {
  relu,
  sigmoid,
  hardSigmoid,
  hardSwish,
  clip,
  leakyRelu,
  erf: erfKernel,
  sqrt,
  tanh,
  exp,
  neg,
  abs,
};

/** A unary kernel over `elements` values of `images` images (params: the kernel's own, e.g. alpha); see elementUnits. */
export function unaryOp(kernel: string, elements: number, params: RangedParams = {}, images = 1): RangedOp {
  return { kernel, params: { ...params, ...elementParams(elements, images) }, units: elementUnits(elements, images), costPerUnit: ELEMENT_BLOCK };
}
