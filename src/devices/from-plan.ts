// The device workers' pieces from the split planner's channels plan: which
// rows of each layer a device computes and reads come from the plan
// (src/split/channels.ts), the weights from the model's state_dict by the
// graph's weight names. The devices run chains of layers, one input each.
import { errors } from '../errors.js';
import type { Module } from '../layers/module.js';
import { inferShapes, type GraphNode, type ModelGraph } from '../split/graph.js';
import type { SplitPlan } from '../split/plan-types.js';
import type { Range } from './channel-range.js';
import type { DeviceLayerCost, DevicePiece, LayerOp, LayerShapes, LayerSpec } from './split-plan.js';

function layerOp(node: GraphNode): LayerOp {
  const op = node.op;
  switch (op.kind) {
    case 'conv':
      return { kind: 'conv', stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups };
    case 'maxpool':
      return { kind: 'maxpool', options: { kernelSize: op.kernel, stride: op.stride, padding: op.padding, dilation: op.dilation, ceilMode: op.ceilMode } };
    case 'lrn':
      return { kind: 'lrn', size: op.size, alpha: op.alpha, beta: op.beta, k: op.k };
    case 'flatten':
      if (op.startDim !== 1) break;
      return { kind: 'flatten' };
    case 'linear':
    case 'relu':
    case 'dropout':
      return { kind: op.kind };
    default:
      break;
  }
  throw errors.invalid('model', `${node.label}: the device workers do not run ${op.kind} layers yet`);
}

/** The graph's layers as the devices run them: a chain, each layer reading the one before. */
export function splitLayers(graph: ModelGraph): LayerSpec[] {
  return graph.nodes.map((node, i) => {
    const previous = i === 0 ? graph.input : graph.nodes[i - 1].output;
    if (node.inputs.length !== 1 || node.inputs[0] !== previous) {
      throw errors.invalid('model', `${node.label}: the device workers run chains of layers, and this one reads ${node.inputs.join(', ')}`);
    }
    return { name: node.name, label: node.label, op: layerOp(node), node };
  });
}

/** Shapes of every layer's input and output for a whole-model input shape. */
export function layerShapes(graph: ModelGraph, inputShape: readonly number[]): LayerShapes[] {
  const shapes = inferShapes(graph, inputShape);
  return graph.nodes.map((node) => ({ input: shapes.get(node.inputs[0])!, output: shapes.get(node.output)! }));
}

function rows(t: { shape: number[]; data: Float32Array }, range: Range): { shape: number[]; data: Float32Array } {
  const rowSize = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [range[1] - range[0], ...t.shape.slice(1)], data: t.data.slice(range[0] * rowSize, range[1] * rowSize) };
}

/** Every device's piece of every layer of a channels plan; weight rows are copies (the host model keeps its own). */
export function devicePieces(model: Module, layers: readonly LayerSpec[], plan: SplitPlan): DevicePiece[][] {
  if (plan.strategy !== 'channels') throw errors.invalid('strategy', `the device workers run the channels plan, not ${plan.strategy}`);
  const tensors = model.stateDict();
  return Array.from({ length: plan.devices }, (_, d) =>
    layers.map((layer, index): DevicePiece => {
      const part = plan.layers[index].devices[d];
      const needs = part.needs[0];
      if (needs.length !== 1 || !part.outputs) throw errors.invalid('model', `${layer.label}: device ${d} reads channels in ${needs.length} runs, which the device workers cannot assemble`);
      const weightOf = (suffix: string) => {
        const spec = layer.node.weights.find((w) => w.name === `${layer.name}.${suffix}`);
        return spec ? rows(tensors[spec.name], part.outputs!) : null;
      };
      const hasRows = layer.op.kind === 'conv' || layer.op.kind === 'linear';
      const weight = hasRows ? weightOf('weight') : null;
      const bias = hasRows ? weightOf('bias') : null;
      const op = layer.op.kind === 'conv' ? { ...layer.op, groups: part.groups ?? layer.op.groups } : layer.op;
      return { layer: index, name: layer.name, op, needs: needs[0], produces: part.outputs, weight, bias, parameters: part.parameters };
    }),
  );
}

/** Per layer, per device: the plan's parameters, weight bytes, traffic and working set. */
export function layerCosts(plan: SplitPlan): DeviceLayerCost[][] {
  return plan.layers.map((layer) =>
    layer.devices.map(({ parameters, weightBytes, transformedWeightBytes, receivedBytes, activationBytes, scratchBytes, assembleBytes }) => ({
      parameters,
      weightBytes,
      transformedWeightBytes,
      receivedBytes,
      activationBytes,
      scratchBytes,
      assembleBytes,
    })),
  );
}
