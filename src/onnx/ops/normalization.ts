// BatchNormalization (inference), LRN, Softmax and ReduceMean (the mean of
// LayerNorm as torch < opset 17 exports it).
import { localResponseNorm } from '../../ops/normalization.js';
import { fail } from './attrs.js';
import { axisOf, expectFloat, expectInts, floatArray, floatValue, sizeOf, stridesOf, type FloatValue } from '../value.js';
import type { OpFactory } from './attrs.js';
import { errors } from '../../errors.js';

function batchNorm(x: FloatValue, scale: FloatValue, bias: FloatValue, mean: FloatValue, variance: FloatValue, eps: number): FloatValue {
  if (x.shape.length < 2) fail(`input [${x.shape}] has no channel dimension`);
  const C = x.shape[1];
  for (const [name, t] of [['scale', scale], ['B', bias], ['mean', mean], ['var', variance]] as const) {
    if (t.data.length !== C) fail(`${name} has ${t.data.length} values for ${C} channels`);
  }
  // batchNorm2d's arithmetic (one scale and shift per channel, folded in double precision), for
  // every rank (BatchNorm1d's [N, C] or [N, C, L] too), written into floatArray so that under
  // forwardWith the output is in shared memory for the Conv that usually follows.
  const inner = sizeOf(x.shape.slice(2));
  const out = floatArray(x.data.length);
  for (let c = 0; c < C; c++) {
    const s = scale.data[c] / Math.sqrt(variance.data[c] + eps);
    const t = bias.data[c] - mean.data[c] * s;
    for (let n = 0; n < x.shape[0]; n++) {
      const base = (n * C + c) * inner;
      for (let i = 0; i < inner; i++) out[base + i] = x.data[base + i] * s + t;
    }
  }
  return floatValue(x.shape, out);
}

/** ONNX LRN: the window is [c - floor((size-1)/2), c + ceil((size-1)/2)]; PyTorch's is the same for odd sizes. */
function lrn(x: FloatValue, size: number, alpha: number, beta: number, bias: number): FloatValue {
  if (x.shape.length === 4 && size % 2 === 1) {
    const r = localResponseNorm(x, { size, alpha, beta, k: bias });
    return floatValue(r.shape, r.data);
  }
  if (x.shape.length < 3) fail(`input [${x.shape}] has no spatial dimensions`);
  const [N, C] = x.shape;
  const plane = sizeOf(x.shape.slice(2));
  const before = Math.floor((size - 1) / 2);
  const after = Math.ceil((size - 1) / 2);
  const out = floatArray(x.data.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const lo = Math.max(0, c - before);
      const hi = Math.min(C - 1, c + after);
      for (let i = 0; i < plane; i++) {
        let sum = 0;
        for (let j = lo; j <= hi; j++) {
          const v = x.data[(n * C + j) * plane + i];
          sum += v * v;
        }
        const at = (n * C + c) * plane + i;
        out[at] = x.data[at] / Math.pow(bias + (alpha / size) * sum, beta);
      }
    }
  }
  return floatValue(x.shape, out);
}

/** Softmax over rows of `length` values, `inner` apart. */
function softmax(x: FloatValue, outer: number, length: number, inner: number): FloatValue {
  const out = floatArray(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * length * inner + i;
      let max = -Infinity;
      for (let j = 0; j < length; j++) max = Math.max(max, x.data[base + j * inner]);
      let sum = 0;
      for (let j = 0; j < length; j++) sum += Math.exp(x.data[base + j * inner] - max);
      for (let j = 0; j < length; j++) out[base + j * inner] = Math.exp(x.data[base + j * inner] - max) / sum;
    }
  }
  return floatValue(x.shape, out);
}

function reduceMean(x: FloatValue, axes: number[] | undefined, keepDims: boolean): FloatValue {
  const rank = x.shape.length;
  const reduced = new Set((axes && axes.length > 0 ? axes : x.shape.map((_, i) => i)).map((a) => axisOf(a, rank)));
  const kept = x.shape.map((d, i) => (reduced.has(i) ? 1 : d));
  const outStrides = stridesOf(kept).map((s, i) => (reduced.has(i) ? 0 : s));
  const sums = new Float64Array(sizeOf(kept));
  const counter = new Array<number>(rank).fill(0);
  let o = 0;
  for (let i = 0; i < x.data.length; i++) {
    sums[o] += x.data[i];
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      o += outStrides[d];
      if (counter[d] < x.shape[d]) break;
      o -= outStrides[d] * x.shape[d];
      counter[d] = 0;
    }
  }
  const count = x.data.length / Math.max(1, sums.length);
  const out = Float32Array.from(sums, (s) => s / count);
  return floatValue(keepDims ? kept : x.shape.filter((_, i) => !reduced.has(i)), out);
}

/**
 * LayerNormalization (opset 17; torch exports nn.LayerNorm as this from 17 on):
 * each row of the dimensions from `axis` on is normalized by its own mean and
 * (population) variance, then scaled and shifted elementwise. Also returns the
 * rows' Mean and InvStdDev, the optional outputs.
 */
function layerNorm(x: FloatValue, scale: FloatValue, bias: FloatValue | undefined, axis: number, eps: number): FloatValue[] {
  const rank = x.shape.length;
  const ax = axisOf(axis, rank);
  const rowLength = sizeOf(x.shape.slice(ax));
  const rows = sizeOf(x.shape.slice(0, ax));
  if (scale.data.length !== rowLength) fail(`Scale [${scale.shape}] does not match the normalized shape [${x.shape.slice(ax)}]`);
  if (bias && bias.data.length !== rowLength) fail(`B [${bias.shape}] does not match the normalized shape [${x.shape.slice(ax)}]`);
  const out = floatArray(x.data.length);
  const means = new Float32Array(rows);
  const invStd = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * rowLength;
    let sum = 0;
    for (let i = 0; i < rowLength; i++) sum += x.data[base + i];
    const mean = sum / rowLength;
    let squares = 0;
    for (let i = 0; i < rowLength; i++) squares += (x.data[base + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(squares / rowLength + eps);
    for (let i = 0; i < rowLength; i++) out[base + i] = (x.data[base + i] - mean) * inv * scale.data[i] + (bias ? bias.data[i] : 0);
    means[r] = mean;
    invStd[r] = inv;
  }
  const statShape = x.shape.map((d, i) => (i < ax ? d : 1));
  return [floatValue(x.shape, out), floatValue(statShape, means), floatValue(statShape, invStd)];
}

export const normalizationOps: Record<string, OpFactory> = {
  LayerNormalization: (a) => {
    const axis = a.int('axis', -1);
    const eps = a.float('epsilon', 1e-5);
    // stash_type 1: statistics in float32 or better (they are in double here).
    const stash = a.int('stash_type', 1);
    a.require(stash === 1, 'stash_type', stash, 'only 1 (float32 statistics) is supported');
    a.done();
    return ([x, scale, bias]) => layerNorm(expectFloat(x, 'X'), expectFloat(scale, 'Scale'), bias ? expectFloat(bias, 'B') : undefined, axis, eps);
  },
  BatchNormalization: (a, opset, node) => {
    const eps = a.float('epsilon', 1e-5);
    a.ignore('momentum', 'is_test', 'consumed_inputs');
    if (opset < 9) {
      const spatial = a.int('spatial', 1);
      a.require(spatial === 1, 'spatial', spatial, 'only spatial = 1 is supported');
    }
    const training = a.int('training_mode', 0);
    a.require(training === 0, 'training_mode', training, 'groupconv runs inference only');
    a.done();
    if (node.outputs.filter((o) => o !== '').length > 1) {
      throw errors.onnxInvalid(a.ctx.source, `has ${node.outputs.length} outputs: the running statistics are training outputs, which groupconv does not compute`, node);
    }
    return ([x, scale, bias, mean, variance]) => [
      batchNorm(expectFloat(x, 'X'), expectFloat(scale, 'scale'), expectFloat(bias, 'B'), expectFloat(mean, 'input_mean'), expectFloat(variance, 'input_var'), eps),
    ];
  },
  LRN: (a) => {
    const size = a.int('size');
    a.require(size !== undefined && Number.isInteger(size) && size >= 1 && size <= 1 << 16, 'size', size, 'LRN needs a positive size');
    const alpha = a.float('alpha', 1e-4);
    const beta = a.float('beta', 0.75);
    const bias = a.float('bias', 1);
    a.done();
    return ([x]) => [lrn(expectFloat(x, 'X'), size!, alpha, beta, bias)];
  },
  Softmax: (a, opset) => {
    // Before opset 13: the input is seen as 2-D, [prod(dims < axis), prod(dims >= axis)], axis 1 by default.
    // From 13 on: along one axis, the last by default.
    const axis = a.int('axis', opset < 13 ? 1 : -1);
    a.done();
    return ([input]) => {
      const x = expectFloat(input, 'input');
      const rank = x.shape.length;
      const ax = axisOf(axis, rank);
      if (opset < 13) return [softmax(x, sizeOf(x.shape.slice(0, ax)), sizeOf(x.shape.slice(ax)), 1)];
      return [softmax(x, sizeOf(x.shape.slice(0, ax)), x.shape[ax], sizeOf(x.shape.slice(ax + 1)))];
    };
  },
  ReduceMean: (a, opset) => {
    const keepDims = a.int('keepdims', 1);
    a.require(keepDims === 0 || keepDims === 1, 'keepdims', keepDims, 'must be 0 or 1');
    // Axes: an attribute before opset 18, an input from 18 (where no axes means all, unless noop_with_empty_axes).
    const axesAttr = opset < 18 ? a.ints('axes') : undefined;
    const noop = opset >= 18 ? a.int('noop_with_empty_axes', 0) : 0;
    a.done();
    return ([input, axesInput]) => {
      const x = expectFloat(input, 'data');
      const axes = axesAttr ?? (axesInput ? expectInts(axesInput, 'axes') : undefined);
      if (noop && (!axes || axes.length === 0)) return [x];
      return [reduceMean(x, axes, keepDims === 1)];
    };
  },
};
