// Conv: 2-D convolution through the project's conv2d (PyTorch semantics, the
// fast kernels). conv2d pads symmetrically; ONNX pads may differ at the two
// ends (TF-style 'same', auto_pad), so those are padded first, then convolved
// with no padding. The engine path (../engine-run.ts) uses the same setup.
import { conv2d } from '../../ops/conv2d.js';
import { fail, nonNegativeInts, positiveInts, type Attributes } from './attrs.js';
import { padValue } from './shape.js';
import { expectFloat, floatValue, MAX_ELEMENTS, type FloatValue, type Value } from '../value.js';
import type { OnnxNode } from '../graph.js';
import type { OpFactory } from './attrs.js';

export const AUTO_PADS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'];

/** Reads auto_pad/pads/strides/dilations/kernel_shape for `spatial` dimensions (2 for Conv, 1..3 for pools). */
export function windowAttributes(a: Attributes, spatialRanks: number[], dilations = true) {
  const autoPad = a.string('auto_pad', 'NOTSET');
  a.require(AUTO_PADS.includes(autoPad), 'auto_pad', autoPad, `expected one of ${AUTO_PADS.join(', ')}`);
  const kernelShape = a.ints('kernel_shape');
  const strides = a.ints('strides');
  const pads = a.ints('pads');
  const dil = dilations ? a.ints('dilations') : undefined;
  a.require(positiveInts(kernelShape), 'kernel_shape', kernelShape, 'must be positive integers');
  a.require(kernelShape === undefined || spatialRanks.includes(kernelShape.length), 'kernel_shape', kernelShape, `groupconv supports ${spatialRanks.join(' or ')}-D windows here`);
  const rank = kernelShape?.length;
  a.require(positiveInts(strides) && (rank === undefined || strides === undefined || strides.length === rank), 'strides', strides, 'must be one positive integer per window dimension');
  a.require(positiveInts(dil) && (rank === undefined || dil === undefined || dil.length === rank), 'dilations', dil, 'must be one positive integer per window dimension');
  a.require(nonNegativeInts(pads) && (rank === undefined || pads === undefined || pads.length === 2 * rank), 'pads', pads, 'must be two non-negative integers per window dimension');
  return { autoPad, kernelShape, strides, pads, dilations: dil };
}

/** Padding at the start and end of each spatial dimension, auto_pad resolved for this input size. */
export function resolvePads(autoPad: string, pads: number[] | undefined, input: number[], kernel: number[], strides: number[], dilations: number[]): [number[], number[]] {
  const n = input.length;
  if (autoPad === 'VALID') return [new Array(n).fill(0), new Array(n).fill(0)];
  if (autoPad === 'NOTSET') {
    const p = pads ?? new Array(2 * n).fill(0);
    return [p.slice(0, n), p.slice(n)];
  }
  // SAME_*: the output is ceil(input / stride); the extra pixel of an odd total goes at the end (UPPER) or start (LOWER).
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < n; i++) {
    const out = Math.ceil(input[i] / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i]);
    const small = Math.floor(total / 2);
    begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
    end.push(autoPad === 'SAME_UPPER' ? total - small : small);
  }
  return [begin, end];
}

export const convOps: Record<string, OpFactory> = {
  Conv: (a, _opset, node, initializer) => {
    const w = windowAttributes(a, [2]);
    const group = a.int('group', 1);
    a.require(Number.isInteger(group) && group >= 1, 'group', group, 'must be a positive integer');
    a.done();
    // The weight is nearly always an initializer: check its rank now rather than at the first forward.
    const weight = initializer(node.inputs[1]);
    if (weight && weight.shape.length !== 4) throw a.unsupported('kernel_shape', weight.shape.slice(2), `groupconv supports 2-D convolutions (weight [${weight.shape}] is ${weight.shape.length - 2}-D)`);
    const settings: ConvAttributes = { ...w, group };
    convAttributes.set(node, settings);
    return ([x, wt, b]) => [conv(expectFloat(x, 'X'), expectFloat(wt, 'W'), b, settings)];
  },
};

/** A Conv node's attributes, read and checked at load. */
export type ConvAttributes = ReturnType<typeof windowAttributes> & { group: number };

/** The checked attributes of each loaded Conv node, for the engine path (src/onnx/engine-run.ts). */
const convAttributes = new WeakMap<OnnxNode, ConvAttributes>();

export function convAttributesOf(node: OnnxNode): ConvAttributes | undefined {
  return convAttributes.get(node);
}

/** One Conv for one input shape: conv2d's options, and the explicit padding to apply first when ONNX pads differ at the two ends. */
export interface ConvSetup {
  options: { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number };
  /** Set when the input is padded first (then options.padding is 0): the padded input's shape and where the input starts in it. */
  prePad: { shape: number[]; begin: number[] } | null;
  outputShape: number[];
}

/** Resolves a Conv's attributes against its input's and weight's shapes (checks the output's size before anything allocates). */
export function convSetup(x: readonly number[], weight: readonly number[], w: ConvAttributes): ConvSetup {
  if (x.length !== 4 || weight.length !== 4) fail(`groupconv supports 2-D convolutions: X [${x}], W [${weight}]`);
  const kernel = weight.slice(2);
  if (w.kernelShape && (w.kernelShape[0] !== kernel[0] || w.kernelShape[1] !== kernel[1])) fail(`kernel_shape [${w.kernelShape}] differs from W [${weight}]`);
  const strides = w.strides ?? [1, 1];
  const dilations = w.dilations ?? [1, 1];
  const [begin, end] = resolvePads(w.autoPad, w.pads, x.slice(2), kernel, strides, dilations);
  let padding: [number, number] = [begin[0], begin[1]];
  let prePad: ConvSetup['prePad'] = null;
  if (begin[0] !== end[0] || begin[1] !== end[1]) {
    const [N, C, H, W] = x;
    prePad = { shape: [N, C, H + begin[0] + end[0], W + begin[1] + end[1]], begin: [0, 0, begin[0], begin[1]] };
    padding = [0, 0];
  }
  // Checked before conv2d allocates: pads and dilations can make the output far larger than the input.
  const outSize = [0, 1].map((i) => Math.floor((x[2 + i] + begin[i] + end[i] - dilations[i] * (kernel[i] - 1) - 1) / strides[i]) + 1);
  if (x[0] * weight[0] * outSize[0] * outSize[1] > MAX_ELEMENTS) fail(`convolving [${x}] gives an output of ${outSize[0]} x ${outSize[1]} per channel, larger than groupconv allows`);
  return {
    options: { stride: [strides[0], strides[1]], padding, dilation: [dilations[0], dilations[1]], groups: w.group },
    prePad,
    outputShape: [x[0], weight[0], outSize[0], outSize[1]],
  };
}

/** The input as the convolution reads it: padded first when its pads are asymmetric. */
export function convInput(x: FloatValue, setup: ConvSetup): FloatValue {
  return setup.prePad ? (padValue(x, setup.prePad.begin, setup.prePad.shape, 0) as FloatValue) : x;
}

function conv(x: FloatValue, weight: FloatValue, bias: Value | undefined, w: ConvAttributes): FloatValue {
  const setup = convSetup(x.shape, weight.shape, w);
  const b = bias ? expectFloat(bias, 'B') : null;
  const out = conv2d(convInput(x, setup), weight, b, setup.options);
  return floatValue(out.shape, out.data);
}
