// BatchNormalization (inference), LRN, Softmax and ReduceMean (the mean of
// LayerNorm as torch < opset 17 exports it). BatchNormalization, LRN,
// Softmax and LayerNormalization run the ranged kernels (kernels/ranged/normalization.ts) over all
// their units: the code the engine's workers run.
import { runAllUnits } from '../../kernels/ranged/index.js';
import { batchNormOp, layerNormOp, lrnOp, softmaxOp } from '../../kernels/ranged/normalization.js';
import { globalPoolOp } from '../../kernels/ranged/pool.js';
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
  const out = floatArray(x.data.length);
  runAllUnits(batchNormOp(x.shape, eps), [x.data, scale.data, bias.data, mean.data, variance.data], [out]);
  return floatValue(x.shape, out);
}

/**
 * ONNX LRN: the window is [c - floor((size-1)/2), c + ceil((size-1)/2)]; PyTorch's is the same for
 * odd sizes, where 4-D input runs localResponseNorm's arithmetic (kernels/ranged/normalization.ts).
 */
function lrn(x: FloatValue, size: number, alpha: number, beta: number, bias: number): FloatValue {
  if (x.shape.length < 3) fail(`input [${x.shape}] has no spatial dimensions`);
  const out = floatArray(x.data.length);
  runAllUnits(lrnOp(x.shape, size, alpha, beta, bias), [x.data], [out]);
  return floatValue(x.shape, out);
}

/** Softmax over rows of `length` values, `inner` apart. */
function softmax(x: FloatValue, outer: number, length: number, inner: number): FloatValue {
  const out = floatArray(x.data.length);
  runAllUnits(softmaxOp(outer, length, inner), [x.data], [out]);
  return floatValue(x.shape, out);
}

function reduceMean(x: FloatValue, axes: number[] | undefined, keepDims: boolean): FloatValue {
  const rank = x.shape.length;
  const reduced = new Set((axes && axes.length > 0 ? axes : x.shape.map((_, i) => i)).map((a) => axisOf(a, rank)));
  const kept = x.shape.map((d, i) => (reduced.has(i) ? 1 : d));
  const outShape = keepDims ? kept : x.shape.filter((_, i) => !reduced.has(i));
  // Over trailing axes each mean is a run of contiguous values: the global average pool's kernel, which
  // the engine's workers run for it (worker-stages.ts).
  const first = rank - reduced.size;
  if ([...reduced].every((a) => a >= first)) {
    const means = floatArray(sizeOf(x.shape.slice(0, first)));
    runAllUnits(globalPoolOp('globalAveragePool', means.length, sizeOf(x.shape.slice(first))), [x.data], [means]);
    return floatValue(outShape, means);
  }
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
  return floatValue(outShape, out);
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
  runAllUnits(layerNormOp(rows, rowLength, eps, bias !== undefined), bias ? [x.data, scale.data, bias.data] : [x.data, scale.data], [out, means, invStd]);
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
