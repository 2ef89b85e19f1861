// Graphs of the models groupconv builds from modules: the zoo (read from the
// one step description their forward passes run) and AlexNet. This is the one
// place that maps layer classes onto graph operations.
import { errors } from '../errors.js';
import { Conv2d } from '../layers/conv2d.js';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  ChannelShuffle,
  Dropout,
  Flatten,
  Identity,
  Linear,
  LocalResponseNorm,
  MaxPool2d,
  ReLU,
  Sequential,
} from '../layers/layers.js';
import type { Module } from '../layers/module.js';
import { AlexNet } from '../models/alexnet.js';
import { ZooModel, type Step } from '../models/model.js';
import type { Tensor } from '../tensor/tensor.js';
import { GRAPH_INPUT, type GraphNode, type GraphOp, type ModelGraph, type Pair, type WeightSpec } from './graph.js';

const pair = (v: number | readonly number[]): Pair => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** A leaf layer's operation, or null for a container. */
function leafOp(name: string, m: Module): GraphOp | null {
  if (m instanceof Conv2d) {
    const { stride, padding, dilation, groups } = m.options;
    if (typeof padding === 'string') throw errors.invalid(name, `padding '${padding}' is not supported by the split planner`);
    return { kind: 'conv', inChannels: m.inChannels, outChannels: m.outChannels, kernel: pair(m.kernelSize), stride: pair(stride), padding: pair(padding), dilation: pair(dilation), groups };
  }
  if (m instanceof Linear) return { kind: 'linear', inFeatures: m.weight.shape[1], outFeatures: m.weight.shape[0] };
  if (m instanceof ReLU) return { kind: 'relu' };
  if (m instanceof Dropout) return { kind: 'dropout' };
  if (m instanceof Identity) return { kind: 'identity' };
  if (m instanceof Flatten) return { kind: 'flatten', startDim: m.startDim };
  if (m instanceof LocalResponseNorm) return { kind: 'lrn', ...m.options };
  if (m instanceof BatchNorm2d) return { kind: 'batchnorm', channels: m.numFeatures };
  if (m instanceof ChannelShuffle) return { kind: 'shuffle', groups: m.groups };
  if (m instanceof AdaptiveAvgPool2d) return { kind: 'adaptiveavgpool', outputSize: pair(m.outputSize) };
  if (m instanceof MaxPool2d) {
    const o = m.options;
    return { kind: 'maxpool', kernel: pair(o.kernelSize), stride: pair(o.stride ?? o.kernelSize), padding: pair(o.padding ?? 0), dilation: pair(o.dilation ?? 1), ceilMode: !!o.ceilMode };
  }
  return null;
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  private readonly used = new Set<string>();
  /** Placeholder tensors stand for values: the step description passes them around without reading them. */
  private readonly valueOf = new WeakMap<Tensor, string>();

  placeholder(value: string): Tensor {
    const t: Tensor = { shape: [], data: new Float32Array(0) };
    this.valueOf.set(t, value);
    return t;
  }

  value(t: Tensor): string {
    const v = this.valueOf.get(t);
    if (v === undefined) throw errors.invalid('model', 'its step description computes a tensor outside its steps, which the split planner cannot follow');
    return v;
  }

  private unique(name: string): string {
    let candidate = name;
    for (let i = 2; this.used.has(candidate); i++) candidate = `${name}:${i}`;
    this.used.add(candidate);
    return candidate;
  }

  add(name: string, op: GraphOp, inputs: string[], weights: WeightSpec[] = []): string {
    const unique = this.unique(name);
    this.nodes.push({ name: unique, label: unique, op, inputs, output: unique, weights });
    return unique;
  }

  /** Adds `m` run on value `input` under the state_dict prefix `prefix`; returns its output value. */
  module(prefix: string, m: Module, input: string): string {
    const op = leafOp(prefix, m);
    if (op) {
      const weights: WeightSpec[] = [
        ...m.namedParameters(`${prefix}.`).map(([name, t]): WeightSpec => ({ name, shape: [...t.shape], role: 'parameter' })),
        ...m.namedBuffers(`${prefix}.`).map(([name, t]): WeightSpec => ({ name, shape: [...t.shape], role: 'buffer' })),
      ];
      return this.add(prefix, op, [input], weights);
    }
    if (m instanceof Sequential) return m.layers.reduce((v, layer, i) => this.module(join(prefix, String(i)), layer, v), input);
    if (m instanceof ZooModel) return this.zoo(prefix, m, input);
    if (m instanceof AlexNet) {
      const features = this.module(join(prefix, 'features'), m.features, input);
      const flat = this.module(join(prefix, 'flatten'), m.flatten, features);
      return this.module(join(prefix, 'classifier'), m.classifier, flat);
    }
    throw errors.invalid('model', `${prefix || 'the model'}: layer ${m.constructor.name} is not supported by the split planner`);
  }

  private zoo(prefix: string, model: ZooModel, input: string): string {
    const names = new Map<Module, string>(model.namedChildren().map(([name, child]) => [child, name]));
    const graph = model.steps(this.placeholder(input));
    let next = graph.next();
    while (!next.done) {
      const s: Step = next.value;
      let out: string;
      if (s.kind === 'module') {
        const name = names.get(s.module);
        if (name === undefined) throw errors.invalid('model', `${model.constructor.name} runs a module it does not register`);
        out = this.module(join(prefix, name), s.module, this.value(s.input));
      } else if (s.kind === 'add') {
        out = this.add(join(prefix, 'add'), { kind: 'add' }, s.inputs.map((t) => this.value(t)));
      } else if (s.kind === 'channelShuffle') {
        out = this.add(join(prefix, 'shuffle'), { kind: 'shuffle', groups: s.groups }, [this.value(s.input)]);
      } else {
        out = this.add(join(prefix, 'flatten'), { kind: 'flatten', startDim: s.startDim }, [this.value(s.input)]);
      }
      next = graph.next(this.placeholder(out));
    }
    return this.value(next.value);
  }
}

const join = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);

/**
 * AlexNet's layers by the paper's names: conv1..conv5, fc6..fc8, each ReLU
 * after its layer's number, lrn1, lrn2, pool1..pool3, dropout6 and dropout7
 * before fc6 and fc7, flatten.
 */
function paperLabels(nodes: GraphNode[]): void {
  const count: Record<string, number> = { conv: 0, lrn: 0, maxpool: 0 };
  let fc = 5;
  let last = 0;
  for (const node of nodes) {
    const kind = node.op.kind;
    if (kind === 'conv') node.label = `conv${(last = ++count.conv)}`;
    else if (kind === 'linear') node.label = `fc${(last = ++fc)}`;
    else if (kind === 'relu') node.label = `relu${last}`;
    else if (kind === 'dropout') node.label = `dropout${fc + 1}`;
    else if (kind === 'lrn') node.label = `lrn${++count.lrn}`;
    else if (kind === 'maxpool') node.label = `pool${++count.maxpool}`;
  }
}

/** The graph of a zoo model or AlexNet. */
export function graphOfModule(model: Module): ModelGraph {
  const builder = new GraphBuilder();
  const output = builder.module('', model, GRAPH_INPUT);
  let inputChannels: number;
  if (model instanceof AlexNet) {
    paperLabels(builder.nodes);
    inputChannels = 3;
  } else {
    const first = builder.nodes.find((n) => n.op.kind === 'conv');
    if (!first || first.op.kind !== 'conv') throw errors.invalid('model', `${model.constructor.name} has no convolution to read its input channels from`);
    inputChannels = first.op.inChannels;
  }
  return { name: model.constructor.name, input: GRAPH_INPUT, inputChannels, nodes: builder.nodes, output };
}
