// One graph node of a zoo model computed for some runs of its output channels
// only, under a channels plan: what a device does per layer. Convolutions and
// linear layers compute their output-channel runs through row slices of their
// weights (a grouped convolution through whole groups), with the same
// kernels as the whole layer: each output element is summed in the same
// order whichever other rows are computed beside it, so the bits are the
// whole layer's (compute.ts relies on the same for AlexNet). Per-channel
// layers run their module's forward (BatchNorm with its parameters sliced) on
// the channels the device holds; a shuffle and a flatten only move values.
import { errors } from '../errors.js';
import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm2d, Linear } from '../layers/layers.js';
import type { Module } from '../layers/module.js';
import { conv2d } from '../ops/conv2d.js';
import { add } from '../ops/elementwise.js';
import { linear } from '../ops/linear.js';
import { batchNorm2d, localResponseNormChannels } from '../ops/normalization.js';
import type { GraphNode, OpKind } from '../split/graph.js';
import { count, type Range } from '../split/ranges.js';
import type { Tensor } from '../tensor/tensor.js';
import { blocksOf, gather, type HeldValue } from './channel-runs.js';

/** The layer kinds computeRuns computes by channel runs: every kind the zoo's and AlexNet's graphs have. */
export const CHANNEL_RUN_KINDS: ReadonlySet<OpKind> = new Set<OpKind>(['conv', 'linear', 'batchnorm', 'relu', 'dropout', 'identity', 'maxpool', 'avgpool', 'adaptiveavgpool', 'lrn', 'add', 'shuffle', 'flatten']);

/** Rows [from, to) of a tensor whose first dimension indexes output channels (a view). */
export function rows(t: Tensor, from: number, to: number): Tensor {
  const per = t.data.length / t.shape[0];
  return { shape: [to - from, ...t.shape.slice(1)], data: t.data.subarray(from * per, to * per) };
}

/** A per-channel parameter gathered over `runs` (BatchNorm's). */
function pick(t: Tensor | null, runs: readonly Range[]): Tensor | null {
  if (!t) return null;
  const data = new Float32Array(count(runs));
  let at = 0;
  for (const [a, b] of runs) (data.set(t.data.subarray(a, b), at), (at += b - a));
  return { shape: [data.length], data };
}

/** Output channels `run` of a convolution: the groups it spans whole, or a part of one group. */
function convRun(node: GraphNode, conv: Conv2d, input: HeldValue, run: Range): Tensor {
  const groups = conv.options.groups;
  const outPer = conv.outChannels / groups;
  const inPer = conv.inChannels / groups;
  const first = Math.floor(run[0] / outPer);
  const end = Math.ceil(run[1] / outPer);
  if (end - first > 1 && (run[0] % outPer !== 0 || run[1] % outPer !== 0)) {
    throw errors.deviceProtocol(`${node.label}: output channels [${run.join(', ')}) straddle its groups of ${outPer}`);
  }
  const x = gather(input, [[first * inPer, end * inPer]], `${node.label}'s input`);
  const bias = conv.bias ? rows(conv.bias, run[0], run[1]) : null;
  return conv2d(x, rows(conv.weight, run[0], run[1]), bias, { ...conv.options, groups: end - first });
}

/** Input channel of a channel shuffle feeding output channel o: output j*G + i is input i*(C/G) + j. */
const shuffleSource = (o: number, channels: number, groups: number) => (o % groups) * (channels / groups) + Math.floor(o / groups);

/**
 * Output channels `outputs` of `node` from `inputs` (per input value, what the
 * device holds of it and has received for this node; `channels` is the first
 * input's whole channel count). `module` is the node's module, null for the
 * inline add, shuffle and flatten.
 */
export function computeRuns(node: GraphNode, module: Module | null, inputs: readonly HeldValue[], channels: number, outputs: readonly Range[]): HeldValue {
  const op = node.op;
  const what = (i: number) => `${node.label}'s input ${node.inputs[i]}`;
  if (outputs.length === 0) return { batch: inputs[0].batch, rest: [], blocks: [] };
  switch (op.kind) {
    case 'conv': {
      if (!(module instanceof Conv2d)) throw errors.deviceProtocol(`${node.label}: expected a Conv2d module`);
      const blocks = outputs.map((run) => ({ run, out: convRun(node, module, inputs[0], run) }));
      return { batch: inputs[0].batch, rest: blocks[0].out.shape.slice(2), blocks: blocks.map((b) => ({ run: [b.run[0], b.run[1]], data: b.out.data })) };
    }
    case 'linear': {
      if (!(module instanceof Linear)) throw errors.deviceProtocol(`${node.label}: expected a Linear module`);
      const x = gather(inputs[0], [[0, op.inFeatures]], what(0));
      const blocks = outputs.map((run) => ({ run: [run[0], run[1]] as Range, data: linear(x, rows(module.weight, run[0], run[1]), module.bias ? rows(module.bias, run[0], run[1]) : null).data }));
      return { batch: x.shape[0], rest: [], blocks };
    }
    case 'batchnorm': {
      if (!(module instanceof BatchNorm2d)) throw errors.deviceProtocol(`${node.label}: expected a BatchNorm2d module`);
      const x = gather(inputs[0], outputs, what(0));
      const y = batchNorm2d(x, {
        runningMean: pick(module.runningMean, outputs)!,
        runningVar: pick(module.runningVar, outputs)!,
        weight: pick(module.weight, outputs),
        bias: pick(module.bias, outputs),
        eps: module.eps,
      });
      return blocksOf(y, outputs);
    }
    case 'relu':
    case 'dropout':
    case 'identity':
    case 'maxpool':
    case 'avgpool':
    case 'adaptiveavgpool':
      if (!module) throw errors.deviceProtocol(`${node.label}: no module to run`);
      return blocksOf(module.forward(gather(inputs[0], outputs, what(0))), outputs);
    case 'lrn': {
      // Each run with its window of neighbours, clamped only at the tensor's edges, as the whole layer clamps.
      const { size, alpha, beta, k } = op;
      const blocks = outputs.map(([a, b]) => {
        const window: Range = [Math.max(0, a - Math.floor(size / 2)), Math.min(channels, b + Math.floor((size - 1) / 2))];
        const x = gather(inputs[0], [window], what(0));
        const out = { shape: [x.shape[0], b - a, ...x.shape.slice(2)], data: new Float32Array(x.shape[0] * (b - a) * inputs[0].rest.reduce((p, d) => p * d, 1)) };
        localResponseNormChannels(x, { size, alpha, beta, k }, a - window[0], b - window[0], out, 0);
        return { run: [a, b] as Range, data: out.data };
      });
      return { batch: inputs[0].batch, rest: inputs[0].rest, blocks };
    }
    case 'add':
      return blocksOf(add(gather(inputs[0], outputs, what(0)), gather(inputs[1], outputs, what(1))), outputs);
    case 'shuffle': {
      const sources = outputs.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k): Range => {
        const c = shuffleSource(a + k, channels, op.groups);
        return [c, c + 1];
      }));
      return blocksOf(gather(inputs[0], sources, what(0)), outputs);
    }
    case 'flatten': {
      if (op.startDim !== 1) throw errors.channelsOpNotRunnable(node.label, `flatten from dimension ${op.startDim}`);
      const plane = inputs[0].rest.reduce((p, d) => p * d, 1);
      const blocks = outputs.map(([a, b]) => {
        const x = gather(inputs[0], [[a / plane, b / plane]], what(0));
        return { run: [a, b] as Range, data: x.data };
      });
      return { batch: inputs[0].batch, rest: [], blocks };
    }
    default:
      throw errors.channelsOpNotRunnable(node.label, op.kind);
  }
}

