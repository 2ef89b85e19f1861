// The model representation the split planner reads: layers in execution order,
// each an operation on named values, with its weights' names and shapes. It
// knows nothing of Module classes, so the zoo, AlexNet (from-modules.ts) and
// ONNX models (from-onnx.ts) all map onto it; shapes follow from an input shape.
import { errors } from '../errors.js';
import { maxPool2d } from '../ops/pooling.js';

export type Pair = [number, number];

export type GraphOp =
  /** `padEnd` (bottom, right) when it differs from `padding` (top, left): ONNX's asymmetric pads. */
  | { kind: 'conv'; inChannels: number; outChannels: number; kernel: Pair; stride: Pair; padding: Pair; dilation: Pair; groups: number; padEnd?: Pair }
  | { kind: 'linear'; inFeatures: number; outFeatures: number }
  | { kind: 'relu' }
  | { kind: 'dropout' }
  | { kind: 'identity' }
  | { kind: 'lrn'; size: number; alpha: number; beta: number; k: number }
  | { kind: 'maxpool'; kernel: Pair; stride: Pair; padding: Pair; dilation: Pair; ceilMode: boolean }
  | { kind: 'avgpool'; kernel: Pair; stride: Pair; padding: Pair; ceilMode?: boolean }
  | { kind: 'adaptiveavgpool'; outputSize: Pair }
  | { kind: 'batchnorm'; channels: number }
  | { kind: 'add' }
  | { kind: 'concat' }
  | { kind: 'shuffle'; groups: number }
  | { kind: 'flatten'; startDim: number }
  // Kinds ONNX graphs add (from-onnx.ts); each names the operation it stands for, not an ONNX class.
  /** A per-value function of one activation (sigmoid, clip, hardswish, or arithmetic with a constant). */
  | { kind: 'elementwise'; fn: string }
  /** Two activations combined value by value, the second broadcast where its dimension is 1 (squeeze-and-excitation's per-channel scale). */
  | { kind: 'broadcast'; fn: string }
  /** Zero padding of the spatial dimensions: [top, left, bottom, right]. */
  | { kind: 'pad'; pads: [number, number, number, number] }
  /** Channels [start, end) of its input (a channel Split or Slice). */
  | { kind: 'slice'; start: number; end: number }
  /** Softmax over the features of [N, features]: every output reads every feature. */
  | { kind: 'softmax' }
  /**
   * An operation whose outputs the planner does not relate to its inputs'
   * channels (a layout Transpose, a LayerNormalization over the last axis):
   * any slice of its output is computed from its whole inputs. `shape` is its
   * output's after the batch dimension, for the image size the graph was built for.
   */
  | { kind: 'opaque'; opType: string; shape: number[] };

export type OpKind = GraphOp['kind'];

/** A weight or buffer of a node, by its state_dict name; dimension 0 indexes the node's outputs. */
export interface WeightSpec {
  name: string;
  shape: number[];
  /** Parameters are learnable (counted as PyTorch's parameters()); buffers (BatchNorm's running statistics) are resident too. */
  role: 'parameter' | 'buffer';
}

export interface GraphNode {
  /** Unique; the module's state_dict prefix where there is one ('features.4', 'conv.3'), else a made-up one ('add', 'relu:2'). */
  name: string;
  /** Display name: the paper's for AlexNet (conv1, lrn1, fc6), otherwise the name. */
  label: string;
  op: GraphOp;
  /** Values read (an add reads two); 'input' is the model's input. */
  inputs: string[];
  /** The value written, named after the node. */
  output: string;
  weights: WeightSpec[];
}

export interface ModelGraph {
  /** The model's name (its class, or the ONNX graph's name). */
  name: string;
  input: string;
  /** Channels the input must have. */
  inputChannels: number;
  nodes: GraphNode[];
  output: string;
}

export const GRAPH_INPUT = 'input';

function pooled(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

/** Output shape of one node from its inputs' shapes. Throws, naming the node, when they do not fit. */
export function outputShape(node: GraphNode, inputs: readonly (readonly number[])[]): number[] {
  const x = inputs[0];
  const op = node.op;
  const mismatch = (message: string) => errors.invalid('inputShape', `${node.label}: ${message}, got input [${x.join(', ')}]`);
  switch (op.kind) {
    case 'conv': {
      if (x.length !== 4 || x[1] !== op.inChannels) throw mismatch(`expects [N, ${op.inChannels}, H, W]`);
      const end = op.padEnd ?? op.padding;
      const size = (i: 0 | 1) => Math.floor((x[2 + i] + op.padding[i] + end[i] - op.dilation[i] * (op.kernel[i] - 1) - 1) / op.stride[i]) + 1;
      const out = [x[0], op.outChannels, size(0), size(1)];
      if (out[2] <= 0 || out[3] <= 0) throw mismatch(`input is smaller than the ${op.kernel.join('x')} kernel`);
      return out;
    }
    case 'linear':
      if (x.length !== 2 || x[1] !== op.inFeatures) throw mismatch(`expects [N, ${op.inFeatures}]`);
      return [x[0], op.outFeatures];
    case 'maxpool': {
      if (x.length !== 4) throw mismatch('expects [N, C, H, W]');
      const { kernel, stride, padding, dilation, ceilMode } = op;
      const one = maxPool2d({ shape: [1, 1, x[2], x[3]], data: new Float32Array(x[2] * x[3]) }, { kernelSize: kernel, stride, padding, dilation, ceilMode });
      return [x[0], x[1], one.shape[2], one.shape[3]];
    }
    case 'avgpool':
      if (x.length !== 4) throw mismatch('expects [N, C, H, W]');
      if (op.ceilMode) {
        // PyTorch's ceil_mode rule is max pooling's (a last window must start inside the input or its left padding).
        const one = maxPool2d({ shape: [1, 1, x[2], x[3]], data: new Float32Array(x[2] * x[3]) }, { kernelSize: op.kernel, stride: op.stride, padding: op.padding, ceilMode: true });
        return [x[0], x[1], one.shape[2], one.shape[3]];
      }
      return [x[0], x[1], pooled(x[2], op.kernel[0], op.stride[0], op.padding[0]), pooled(x[3], op.kernel[1], op.stride[1], op.padding[1])];
    case 'adaptiveavgpool':
      if (x.length !== 4) throw mismatch('expects [N, C, H, W]');
      return [x[0], x[1], ...op.outputSize];
    case 'batchnorm':
      if (x.length !== 4 || x[1] !== op.channels) throw mismatch(`expects [N, ${op.channels}, H, W]`);
      return [...x];
    case 'add': {
      const y = inputs[1];
      if (x.length !== y.length || x.some((d, i) => d !== y[i])) throw mismatch(`adds operands of different shapes ([${y.join(', ')}])`);
      return [...x];
    }
    case 'concat':
      return [x[0], inputs.reduce((sum, s) => sum + s[1], 0), ...x.slice(2)];
    case 'shuffle':
      if (x.length !== 4 || x[1] % op.groups !== 0) throw mismatch(`channels are not divisible by groups=${op.groups}`);
      return [...x];
    case 'flatten':
      return [...x.slice(0, op.startDim), x.slice(op.startDim).reduce((p, d) => p * d, 1)];
    case 'broadcast': {
      const y = inputs[1];
      const fits = x.length === y.length && y.every((d, i) => d === x[i] || d === 1);
      if (!fits) throw mismatch(`cannot broadcast [${y.join(', ')}] onto it`);
      return [...x];
    }
    case 'pad': {
      if (x.length !== 4) throw mismatch('expects [N, C, H, W]');
      const [t, l, b, r] = op.pads;
      return [x[0], x[1], x[2] + t + b, x[3] + l + r];
    }
    case 'slice':
      if (x.length < 2 || op.end > x[1] || op.start < 0 || op.start >= op.end) throw mismatch(`has no channels [${op.start}, ${op.end})`);
      return [x[0], op.end - op.start, ...x.slice(2)];
    case 'softmax':
      if (x.length !== 2) throw mismatch('expects [N, features]');
      return [...x];
    case 'opaque':
      return [x[0], ...op.shape];
    default:
      return [...x];
  }
}

/** Every value's shape for a model input of `inputShape`. */
export function inferShapes(graph: ModelGraph, inputShape: readonly number[]): Map<string, number[]> {
  if (inputShape.length !== 4 || inputShape[1] !== graph.inputChannels || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw errors.invalid('inputShape', `${graph.name} takes [N, ${graph.inputChannels}, H, W] of positive integers, got [${inputShape.join(', ')}]`);
  }
  const shapes = new Map<string, number[]>([[graph.input, [...inputShape]]]);
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((v) => {
      const s = shapes.get(v);
      if (!s) throw errors.invalid('graph', `${node.label} reads '${v}' before anything writes it`);
      return s;
    });
    shapes.set(node.output, outputShape(node, inputs));
  }
  return shapes;
}

/** The values each node's output feeds, so a planner knows how long a value lives. */
export function lastUse(graph: ModelGraph): Map<string, number> {
  const last = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.inputs.forEach((v) => last.set(v, i)));
  last.set(graph.output, graph.nodes.length);
  return last;
}

/** Multiply-adds x 2 for conv and linear; one operation per output value for the rest (what balances a pipeline). */
export function nodeFlops(node: GraphNode, inputs: readonly (readonly number[])[], output: readonly number[]): number {
  const count = output.reduce((p, d) => p * d, 1);
  const op = node.op;
  if (op.kind === 'conv') return 2 * count * (op.inChannels / op.groups) * op.kernel[0] * op.kernel[1];
  if (op.kind === 'linear') return 2 * count * op.inFeatures;
  if (op.kind === 'flatten' || op.kind === 'dropout' || op.kind === 'identity' || op.kind === 'slice') return 0;
  if (op.kind === 'lrn') return count * op.size;
  return count * Math.max(1, inputs.length);
}
