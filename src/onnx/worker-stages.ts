// Which plan steps the engine's workers can run, and how: a step becomes a
// WorkerStage, a ranged kernel (kernels/ranged) over values in shared memory,
// or an alias (a Reshape-like step whose output is its input's data under a
// new shape, so nothing runs). A step with no stage runs on the calling thread.
// A stage computes exactly the bits the step's host kernel computes: the host
// ops run the same kernels (or, for max pooling, LRN and Gemm, the same
// WebAssembly kernels, whose bits do not depend on the range).
//
// Attributes are read from the node and constant inputs (Clip's bounds,
// Slice's starts, Pad's pads, ReduceMean's axes) from plan.constants, so a
// stage's params are plain numbers. Whatever a stage cannot take (another
// dtype, an input that is not a constant where one is needed, a Softmax whose
// meaning depends on the opset) returns null and runs on the calling thread.
import { BINARY_MODES, binaryLayout, binaryRangedOp } from '../kernels/ranged/binary.js';
import type { RangedOp } from '../kernels/ranged/index.js';
import { concatOp, padOp, sliceOp, transposeOp } from '../kernels/ranged/layout.js';
import { gemmOp, gemmRowsOp } from '../kernels/ranged/linear.js';
import { batchNormOp, layerNormOp, lrnOp, softmaxOp } from '../kernels/ranged/normalization.js';
import { globalPoolOp, maxPool2dOp, windowPoolOp } from '../kernels/ranged/pool.js';
import { unaryOp } from '../kernels/ranged/unary.js';
import type { OnnxNode } from './graph.js';
import { resolvePads } from './ops/conv.js';
import { transposed2d } from './ops/matmul.js';
import type { Plan, PlanStep } from './plan.js';
import { floatValue, intsOf, sizeOf } from './value.js';

export type WorkerStage =
  /** `op` reads `inputs` (float32 activations or constants, in the kernel's order) and writes `outputs`, whose shapes are the plan's. */
  | { kind: 'ranged'; op: RangedOp; inputs: string[]; outputs: string[] }
  /** `output` is `input`'s data under the plan's shape for `output`. */
  | { kind: 'alias'; input: string; output: string };

/** Op types whose output is their input's data under another shape. */
const ALIASES = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout', 'If']);

/** Unary op types and their kernels; the attributes each reads, with ONNX's defaults. */
const UNARY: Record<string, { kernel: string; floats?: Record<string, number> }> = {
  Relu: { kernel: 'relu' },
  Sigmoid: { kernel: 'sigmoid' },
  HardSigmoid: { kernel: 'hardSigmoid', floats: { alpha: 0.2, beta: 0.5 } },
  HardSwish: { kernel: 'hardSwish' },
  LeakyRelu: { kernel: 'leakyRelu', floats: { alpha: 0.01 } },
  Erf: { kernel: 'erf' },
  Sqrt: { kernel: 'sqrt' },
  Tanh: { kernel: 'tanh' },
  Exp: { kernel: 'exp' },
  Neg: { kernel: 'neg' },
  Abs: { kernel: 'abs' },
};

const BINARY: Record<string, string> = { Add: 'add', Sub: 'sub', Mul: 'mul', Div: 'div', Pow: 'pow' };

/** A node's attribute of one type, or undefined. */
function attribute<T>(node: OnnxNode, name: string, type: string): T | undefined {
  const a = node.attributes.get(name);
  return a && a.type === type ? (a.value as T) : undefined;
}
/** The first axis of an activation of rank 2 or more (the batch): element kernels are cut image by image over it. */
const imagesOf = (shape: readonly number[]) => (shape.length >= 2 ? shape[0] : 1);
const intAttr = (node: OnnxNode, name: string, fallback: number) => attribute<number>(node, name, 'INT') ?? fallback;
const floatAttr = (node: OnnxNode, name: string, fallback: number) => attribute<number>(node, name, 'FLOAT') ?? fallback;
const intsAttr = (node: OnnxNode, name: string) => attribute<number[]>(node, name, 'INTS');

/** The stage that runs `step` on workers, or null when it runs on the calling thread. */
export function workerStageOf(step: PlanStep, plan: Plan): WorkerStage | null {
  const present = (names: readonly string[]) => names.filter((n) => n !== '');
  const floats = (names: readonly string[]) => names.every((n) => n !== '' && plan.dtypes.get(n) === 'float32');
  const { node } = step;
  const type = node.opType;
  const outputs = present(step.outputs);
  const x = step.inputs[0];
  if (ALIASES.has(type)) {
    if (outputs.length !== 1 || step.outputs[0] === '' || !floats([x, step.outputs[0]])) return null;
    return { kind: 'alias', input: x, output: step.outputs[0] };
  }
  if (!floats([x]) || outputs.length === 0 || !floats(outputs)) return null;
  const shape = plan.shapes.get(x)!;
  const out = plan.shapes.get(outputs[0])!;
  const ranged = (op: RangedOp | null, inputs = [x], outs = [outputs[0]]): WorkerStage | null => (op ? { kind: 'ranged', op, inputs, outputs: outs } : null);
  const constant = (name: string | undefined) => (name ? plan.constants.get(name) : undefined);
  const constantInts = (index: number): number[] | null | undefined => {
    const name = step.inputs[index];
    if (!name) return undefined;
    const v = constant(name);
    return v && v.dtype !== 'float32' ? intsOf(v) : null;
  };

  if (Object.hasOwn(UNARY, type)) {
    const { kernel, floats: defaults = {} } = UNARY[type];
    const params = Object.fromEntries(Object.entries(defaults).map(([name, d]) => [name, floatAttr(node, name, d)]));
    return ranged(unaryOp(kernel, sizeOf(shape), params, imagesOf(shape)));
  }
  if (Object.hasOwn(BINARY, type)) {
    const y = step.inputs[1];
    if (!floats([y])) return null;
    const r = binaryRangedOp(BINARY[type], shape, plan.shapes.get(y)!);
    return r ? ranged(r.op, [x, y]) : null;
  }
  switch (type) {
    case 'Clip': {
      // Bounds: attributes before opset 11, optional constant inputs from 11 on.
      const bound = (index: number, name: string, fallback: number): number | null => {
        const input = step.inputs[index];
        if (!input) return floatAttr(node, name, fallback);
        const v = constant(input);
        return v && v.dtype === 'float32' && v.data.length === 1 ? v.data[0] : null;
      };
      const min = bound(1, 'min', -Infinity);
      const max = bound(2, 'max', Infinity);
      return min === null || max === null ? null : ranged(unaryOp('clip', sizeOf(shape), { min, max }, imagesOf(shape)));
    }
    case 'MaxPool':
    case 'AveragePool':
      return ranged(poolOpOf(node, shape, out));
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
      if (shape.length < 3) return null;
      return ranged(globalPoolOp(type === 'GlobalMaxPool' ? 'globalMaxPool' : 'globalAveragePool', shape[0] * shape[1], sizeOf(shape.slice(2))));
    case 'ReduceMean': {
      // Over trailing axes (the spatial ones: a global average pool; the last: LayerNorm's mean as
      // torch < opset 17 exports it), each mean a run of contiguous values summed in the lane order of kernels/plane-mean.ts.
      // Axes: an attribute, or an input from opset 18.
      const axes = intsAttr(node, 'axes') ?? constantInts(1);
      if (!axes || axes.length === 0) return null;
      const reduced = new Set(axes.map((a) => (a < 0 ? a + shape.length : a)));
      const first = shape.length - reduced.size;
      if (![...reduced].every((a) => a >= first && a < shape.length)) return null;
      return ranged(globalPoolOp('globalAveragePool', sizeOf(shape.slice(0, first)), sizeOf(shape.slice(first))));
    }
    case 'BatchNormalization': {
      const params = step.inputs.slice(1, 5);
      if (outputs.length !== 1 || shape.length < 2 || !floats(params) || params.some((n) => sizeOf(plan.shapes.get(n)!) !== shape[1])) return null;
      return ranged(batchNormOp(shape, floatAttr(node, 'epsilon', 1e-5)), [x, ...params]);
    }
    case 'LRN':
      if (shape.length < 3) return null;
      return ranged(lrnOp(shape, intAttr(node, 'size', 1), floatAttr(node, 'alpha', 1e-4), floatAttr(node, 'beta', 0.75), floatAttr(node, 'bias', 1)));
    case 'Softmax': {
      // Along the last axis, where opsets < 13 (2-D coercion at axis) and >= 13 (one axis) agree.
      const rank = shape.length;
      const given = attribute<number>(node, 'axis', 'INT');
      const axis = given === undefined ? (rank === 2 ? 1 : null) : given < 0 ? given + rank : given;
      if (axis !== rank - 1 || rank === 0) return null;
      return ranged(softmaxOp(sizeOf(shape.slice(0, -1)), shape[rank - 1], 1));
    }
    case 'Concat': {
      const inputs = step.inputs;
      if (!floats(inputs)) return null;
      const rank = shape.length;
      const axis = intAttr(node, 'axis', 0);
      return ranged(concatOp(inputs.map((n) => plan.shapes.get(n)!), axis < 0 ? axis + rank : axis), inputs);
    }
    case 'Split': {
      if (outputs.length !== step.outputs.length) return null;
      const axis = intAttr(node, 'axis', 0);
      const ax = axis < 0 ? axis + shape.length : axis;
      const counts = outputs.map((n) => plan.shapes.get(n)![ax]);
      const begins = counts.map((_, k) => counts.slice(0, k).reduce((a, c) => a + c, 0));
      return ranged(sliceOp(shape, ax, begins, counts), [x], outputs);
    }
    case 'Slice':
      return ranged(sliceOpOf(shape, constantInts, node));
    case 'Transpose': {
      const perm = intsAttr(node, 'perm') ?? shape.map((_, i) => shape.length - 1 - i);
      return ranged(transposeOp(shape, perm));
    }
    case 'Pad':
      return ranged(padOpOf(step, shape, out, constantInts, constant, node));
    case 'Gemm':
      return gemmStageOf(step, plan, node, shape);
    case 'MatMul':
      return matmulStageOf(step, plan, shape);
    case 'LayerNormalization': {
      // Outputs Y [, Mean [, InvStdDev]] in that order, with no gap.
      if (step.outputs.slice(0, outputs.length).some((n) => n === '')) return null;
      const [, scale, bias] = step.inputs;
      const rank = shape.length;
      const axis = intAttr(node, 'axis', -1);
      const ax = axis < 0 ? axis + rank : axis;
      const inputs = bias ? [x, scale, bias] : [x, scale];
      if (!floats(inputs) || ax < 0 || ax >= rank) return null;
      return ranged(layerNormOp(sizeOf(shape.slice(0, ax)), sizeOf(shape.slice(ax)), floatAttr(node, 'epsilon', 1e-5), !!bias), inputs, outputs);
    }
    default:
      return null;
  }
}

/** Gemm as the host runs it: nn.Linear's form through linear() by column blocks, any other by rows. */
function gemmStageOf(step: PlanStep, plan: Plan, node: OnnxNode, shape: number[]): WorkerStage | null {
  const [x, w, c] = step.inputs;
  const wShape = plan.shapes.get(w);
  const float = (n: string) => plan.dtypes.get(n) === 'float32';
  if (!float(w) || (c && !float(c)) || shape.length !== 2 || wShape?.length !== 2) return null;
  const transA = intAttr(node, 'transA', 0) === 1;
  const transB = intAttr(node, 'transB', 0) === 1;
  const alpha = floatAttr(node, 'alpha', 1);
  const beta = floatAttr(node, 'beta', 1);
  const [M, K] = transA ? [shape[1], shape[0]] : shape;
  const N = transB ? wShape[0] : wShape[1];
  const cShape = c ? plan.shapes.get(c)! : null;
  const inputs = c ? [x, w, c] : [x, w];
  const output = [step.outputs[0]];
  // ops/matmul.ts's condition for linear().
  if (!transA && transB && alpha === 1 && (!cShape || (beta === 1 && cShape.length === 1 && cShape[0] === N))) {
    return { kind: 'ranged', op: gemmOp(M, K, N, !!c), inputs, outputs: output };
  }
  let runs: [number, number] | null = null;
  if (cShape) {
    const layout = binaryLayout([M, N], cShape);
    if (!layout || layout.shape.length !== 2 || layout.shape[0] !== M || layout.shape[1] !== N) return null;
    const p = layout.params;
    if (p.mode === BINARY_MODES.same) runs = [1, M * N];
    else if (p.mode === BINARY_MODES.yRuns) runs = [p.inner as number, p.period as number];
    else return null;
  }
  return { kind: 'ranged', op: gemmRowsOp(M, K, N, transA, transB, alpha, beta, runs), inputs, outputs: output };
}

/**
 * MatMul of activations [..., K] by a constant [K, N] (ConvNeXt's channels-last
 * MLP), which the host runs as linear() with B transposed once: the stage reads
 * that transposed copy, added to plan.constants as '<B>#transposed' (the same
 * array the host caches, so it is placed in shared memory with the other constants).
 */
function matmulStageOf(step: PlanStep, plan: Plan, shape: number[]): WorkerStage | null {
  const [x, w] = step.inputs;
  const b = plan.constants.get(w);
  if (!b || b.dtype !== 'float32' || b.shape.length !== 2 || shape.length < 2 || shape[shape.length - 1] !== b.shape[0]) return null;
  const [K, N] = b.shape;
  const name = `${w}#transposed`;
  if (!plan.constants.has(name)) {
    plan.constants.set(name, floatValue([N, K], transposed2d(b)));
    plan.shapes.set(name, [N, K]);
    plan.dtypes.set(name, 'float32');
  }
  const op = gemmOp(sizeOf(shape.slice(0, -1)), K, N, false);
  return { kind: 'ranged', op, inputs: [x, name], outputs: [step.outputs[0]] };
}

/** MaxPool / AveragePool: the window the host resolves (ops/pool.ts), maxPool2d where the host takes it. */
function poolOpOf(node: OnnxNode, shape: number[], outShape: number[]): RangedOp | null {
  const kernel = intsAttr(node, 'kernel_shape');
  if (!kernel || shape.length !== kernel.length + 2 || kernel.length > 3 || node.outputs.filter((o) => o !== '').length !== 1) return null;
  const spatial = shape.slice(2);
  const strides = intsAttr(node, 'strides') ?? kernel.map(() => 1);
  const dilations = intsAttr(node, 'dilations') ?? kernel.map(() => 1);
  const autoPad = attribute<string>(node, 'auto_pad', 'STRING') ?? 'NOTSET';
  const [begin, end] = resolvePads(autoPad, intsAttr(node, 'pads'), spatial, kernel, strides, dilations);
  const out = outShape.slice(2);
  const planes = shape[0] * shape[1];
  if (node.opType === 'MaxPool') {
    const fits = kernel.length === 2 && begin[0] === end[0] && begin[1] === end[1] && begin[0] <= kernel[0] / 2 && begin[1] <= kernel[1] / 2 && !autoPad.startsWith('SAME');
    if (fits) {
      return maxPool2dOp({
        planes,
        inHeight: spatial[0],
        inWidth: spatial[1],
        outHeight: out[0],
        outWidth: out[1],
        kernel: [kernel[0], kernel[1]],
        stride: [strides[0], strides[1]],
        padding: [begin[0], begin[1]],
        dilation: [dilations[0], dilations[1]],
      });
    }
  } else if (dilations.some((d) => d !== 1)) {
    return null;
  }
  const lead = 3 - kernel.length;
  const to3d = (values: number[], fill: number) => [...new Array<number>(lead).fill(fill), ...values];
  const window = {
    size: to3d(spatial, 1),
    kernel: to3d(kernel, 1),
    stride: to3d(strides, 1),
    dilation: to3d(dilations, 1),
    begin: to3d(begin, 0),
    end: to3d(end, 0),
    out: to3d(out, 1),
  };
  const includePad = intAttr(node, 'count_include_pad', 0) === 1;
  return windowPoolOp(node.opType === 'MaxPool' ? 'max' : 'avg', includePad, planes, window);
}

/** A Slice with step 1 that cuts one axis at most (others whole), as ONNX clamps starts and ends. */
function sliceOpOf(shape: number[], constantInts: (i: number) => number[] | null | undefined, node: OnnxNode): RangedOp | null {
  const fromAttributes = node.attributes.has('starts');
  const starts = fromAttributes ? intsAttr(node, 'starts') : constantInts(1);
  const ends = fromAttributes ? intsAttr(node, 'ends') : constantInts(2);
  const axes = fromAttributes ? intsAttr(node, 'axes') : constantInts(3);
  const steps = fromAttributes ? undefined : constantInts(4);
  if (!starts || !ends || axes === null || steps === null || starts.length !== ends.length) return null;
  if (steps && steps.some((s) => s !== 1)) return null;
  const rank = shape.length;
  const cut: { axis: number; begin: number; count: number }[] = [];
  (axes ?? starts.map((_, i) => i)).forEach((a, i) => {
    const axis = a < 0 ? a + rank : a;
    const dim = shape[axis];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const begin = clamp(starts[i]);
    const count = Math.max(0, clamp(ends[i]) - begin);
    if (begin !== 0 || count !== dim) cut.push({ axis, begin, count });
  });
  if (cut.length > 1 || new Set(cut.map((c) => c.axis)).size !== cut.length) return null;
  const { axis, begin, count } = cut[0] ?? { axis: 0, begin: 0, count: shape[0] };
  if (rank === 0) return null;
  return sliceOp(shape, axis, [begin], [count]);
}

/** A constant-mode Pad: pads (and axes) from the attribute or constant inputs, as ops/shape.ts reads them. */
function padOpOf(
  step: PlanStep,
  shape: number[],
  outShape: number[],
  constantInts: (i: number) => number[] | null | undefined,
  constant: (name: string | undefined) => ReturnType<Plan['constants']['get']>,
  node: OnnxNode,
): RangedOp | null {
  const mode = attribute<string>(node, 'mode', 'STRING') ?? 'constant';
  const rank = shape.length;
  if (mode !== 'constant' || rank === 0) return null;
  const pads = intsAttr(node, 'pads') ?? constantInts(1);
  const axesGiven = constantInts(3);
  if (!pads || axesGiven === null) return null;
  const axes = axesGiven ? axesGiven.map((d) => (d < 0 ? d + rank : d)) : shape.map((_, i) => i);
  if (pads.length !== 2 * axes.length) return null;
  const begin = shape.map(() => 0);
  axes.forEach((d, i) => {
    begin[d] = pads[i];
  });
  let fill = floatAttr(node, 'value', 0);
  const valueName = step.inputs[2];
  if (valueName) {
    const v = constant(valueName);
    if (!v || v.dtype !== 'float32') return null;
    if (v.data.length > 0) fill = v.data[0];
  }
  return padOp(shape, outShape, begin, fill);
}
