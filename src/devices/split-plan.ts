// How AlexNet is cut across devices, as in the paper's figure 2: every layer's
// output channels (features, for the fully connected layers) are split evenly
// (as near as the count allows),
// each device holding the weights of its own outputs only. What a device must
// read to compute its outputs (its "needs" range) decides the traffic: the
// grouped convolutions read only their own group, conv3 and the fully
// connected layers read everything, and LRN reads a few neighbouring maps.
import { resolveShapes, type ConvGeometry } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { convScratchFloats, packedConvFloats } from '../kernels/plan/index.js';
import { Conv2d } from '../layers/conv2d.js';
import { Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU } from '../layers/layers.js';
import type { Module } from '../layers/module.js';
import type { AlexNet } from '../models/alexnet.js';
import { maxPool2d, type MaxPool2dOptions } from '../ops/pooling.js';
import { numel } from '../tensor/tensor.js';
import { overlap, rangeBytes, rangeLength, type Range } from './channel-range.js';

export type LayerOp =
  | { kind: 'conv'; stride: number | [number, number]; padding: number | [number, number]; groups: number }
  | { kind: 'linear' }
  | { kind: 'relu' }
  | { kind: 'dropout' }
  | { kind: 'lrn'; size: number; alpha: number; beta: number; k: number }
  | { kind: 'maxpool'; options: MaxPool2dOptions }
  | { kind: 'flatten' };

/** One layer of the model, in execution order. */
export interface LayerSpec {
  /** state_dict prefix, e.g. 'features.4'; 'flatten' for the reshape between features and classifier. */
  name: string;
  /** The paper's name: conv1, lrn1, pool1, fc6, ... */
  label: string;
  op: LayerOp;
  module: Module;
}

/** What one device runs for one layer: plain data, sent to its worker once. */
export interface DevicePiece {
  layer: number;
  name: string;
  /** For conv, `groups` is the number of groups this device's outputs span (1 when it holds part of one group). */
  op: LayerOp;
  /** Channels (features) of the layer's input the device reads. */
  needs: Range;
  /** Channels (features) of the layer's output the device computes and keeps. */
  produces: Range;
  /** The device's rows of the weight ([outputs it produces, ...]) and bias, or null. */
  weight: { shape: number[]; data: Float32Array } | null;
  bias: { shape: number[]; data: Float32Array } | null;
  /** Number of weight and bias values (kept when the buffers move to the device). */
  parameters: number;
}

/** Geometry of a device's convolution: its input channels, its rows of the weight, the groups those rows span. */
export function pieceGeometry(piece: DevicePiece, inputShape: readonly number[]): ConvGeometry {
  if (piece.op.kind !== 'conv' || !piece.weight) throw errors.deviceProtocol(`${piece.name} is not a convolution`);
  const [N, , H, W] = inputShape;
  const local = [N, rangeLength(piece.needs), H, W];
  const { stride, padding, groups } = piece.op;
  return resolveShapes(local, piece.weight.shape, piece.bias?.shape ?? null, { stride, padding, groups }).geometry;
}

/** The layers of AlexNet in execution order, with the paper's names. */
export function alexNetLayers(model: AlexNet): LayerSpec[] {
  const layers: LayerSpec[] = [];
  let conv = 0;
  let lrn = 0;
  let pool = 0;
  let fc = 5;
  let last = 0; // number of the last conv or fc, which names the ReLU after it
  const add = (name: string, module: Module) => {
    let label: string;
    let op: LayerOp;
    if (module instanceof Conv2d) {
      label = `conv${(last = ++conv)}`;
      const { stride, padding, groups } = module.options;
      if (typeof padding === 'string') throw errors.invalid(name, 'string padding is not supported by the device split');
      op = { kind: 'conv', stride, padding, groups };
    } else if (module instanceof Linear) {
      label = `fc${(last = ++fc)}`;
      op = { kind: 'linear' };
    } else if (module instanceof ReLU) {
      label = `relu${last}`;
      op = { kind: 'relu' };
    } else if (module instanceof Dropout) {
      label = `dropout${fc + 1}`;
      op = { kind: 'dropout' };
    } else if (module instanceof LocalResponseNorm) {
      label = `lrn${++lrn}`;
      op = { kind: 'lrn', ...module.options };
    } else if (module instanceof MaxPool2d) {
      label = `pool${++pool}`;
      op = { kind: 'maxpool', options: module.options };
    } else if (module instanceof Flatten) {
      label = 'flatten';
      op = { kind: 'flatten' };
    } else {
      throw errors.invalid(name, `layer ${module.constructor.name} is not supported by the device split`);
    }
    layers.push({ name, label, op, module });
  };
  model.features.layers.forEach((m, i) => add(`features.${i}`, m));
  add('flatten', model.flatten);
  model.classifier.layers.forEach((m, i) => add(`classifier.${i}`, m));
  return layers;
}

/** Shapes of every layer's input and output for a whole-model input shape. */
export interface LayerShapes {
  input: number[];
  output: number[];
}

export function layerShapes(layers: readonly LayerSpec[], inputShape: readonly number[]): LayerShapes[] {
  let shape = [...inputShape];
  return layers.map((layer) => {
    const input = shape;
    const [N, C] = input;
    switch (layer.op.kind) {
      case 'conv':
        shape = (layer.module as Conv2d).outputShape(input);
        break;
      case 'linear':
        shape = [N, (layer.module as Linear).weight.shape[0]];
        break;
      case 'maxpool': {
        const pooled = maxPool2d({ shape: [1, 1, input[2], input[3]], data: new Float32Array(input[2] * input[3]) }, layer.op.options);
        shape = [N, C, pooled.shape[2], pooled.shape[3]];
        break;
      }
      case 'flatten':
        shape = [N, numel(input.slice(1))];
        break;
      default:
        shape = [...input];
    }
    return { input, output: shape };
  });
}

/** Device d's share of `size` outputs: near-equal contiguous parts, the first `size % devices` one larger. */
function share(what: string, size: number, devices: number, d: number): Range {
  if (size < devices) throw errors.invalid('devices', `${what} has ${size} outputs, fewer than the ${devices} devices`);
  const base = Math.floor(size / devices);
  const extra = size % devices;
  const start = d * base + Math.min(d, extra);
  return [start, start + base + (d < extra ? 1 : 0)];
}

function rows(t: { shape: number[]; data: Float32Array }, range: Range): { shape: number[]; data: Float32Array } {
  const rowSize = numel(t.shape.slice(1));
  return { shape: [range[1] - range[0], ...t.shape.slice(1)], data: t.data.slice(range[0] * rowSize, range[1] * rowSize) };
}

/**
 * Every device's piece of every layer. `plane` is the per-channel size of the
 * map entering flatten (pooled^2), which turns channel ranges into feature ranges.
 * Weight slices are copies: the host model keeps its own tensors.
 */
export function partition(layers: readonly LayerSpec[], devices: number, flattenPlane: number): DevicePiece[][] {
  if (!Number.isInteger(devices) || devices <= 0) throw errors.notPositiveInteger('devices', devices);
  const pieces: DevicePiece[][] = Array.from({ length: devices }, () => []);
  // Channels of the current activation each device holds; the input image is on every device.
  let held: Range[] = Array.from({ length: devices }, () => [0, 3] as Range);
  layers.forEach((layer, index) => {
    const next: Range[] = [];
    for (let d = 0; d < devices; d++) {
      const own = held[d];
      let needs: Range = own;
      let produces: Range = own;
      let op = layer.op;
      let weight: DevicePiece['weight'] = null;
      let bias: DevicePiece['bias'] = null;
      switch (layer.op.kind) {
        case 'conv': {
          const conv = layer.module as Conv2d;
          const groups = layer.op.groups;
          produces = share(`${layer.name} (${layer.label})`, conv.outChannels, devices, d);
          const outPerGroup = conv.outChannels / groups;
          const inPerGroup = conv.inChannels / groups;
          const firstGroup = Math.floor(produces[0] / outPerGroup);
          const endGroup = Math.ceil(produces[1] / outPerGroup);
          if (endGroup - firstGroup > 1 && (produces[0] % outPerGroup !== 0 || produces[1] % outPerGroup !== 0)) {
            throw errors.invalid('devices', `${layer.label}: a device's ${produces[1] - produces[0]} outputs would straddle its ${groups} groups unevenly`);
          }
          needs = [firstGroup * inPerGroup, endGroup * inPerGroup];
          op = { ...layer.op, groups: endGroup - firstGroup };
          weight = rows(conv.weight, produces);
          bias = conv.bias && rows(conv.bias, produces);
          break;
        }
        case 'linear': {
          const linear = layer.module as Linear;
          const [outputs, inputs] = linear.weight.shape;
          produces = share(`${layer.name} (${layer.label})`, outputs, devices, d);
          needs = [0, inputs];
          weight = rows(linear.weight, produces);
          bias = linear.bias && rows(linear.bias, produces);
          break;
        }
        case 'lrn': {
          const channels = held[devices - 1][1];
          needs = [Math.max(0, own[0] - Math.floor(layer.op.size / 2)), Math.min(channels, own[1] + Math.floor((layer.op.size - 1) / 2))];
          break;
        }
        case 'flatten':
          produces = [own[0] * flattenPlane, own[1] * flattenPlane];
          break;
        default:
          break;
      }
      const parameters = (weight ? weight.data.length : 0) + (bias ? bias.data.length : 0);
      pieces[d].push({ layer: index, name: layer.name, op, needs, produces, weight, bias, parameters });
      next.push(produces);
    }
    held = next;
  });
  return pieces;
}

/** What one device receives from the others for one layer: source device and channel range. */
export interface Transfer {
  from: number;
  range: Range;
}

/** For each device, the pieces of the layer's input it must receive from other devices. */
export function transfersInto(pieces: readonly DevicePiece[][], layer: number): Transfer[][] {
  return pieces.map((own, d) => {
    if (layer === 0) return []; // the image comes from the host, to every device
    const needs = own[layer].needs;
    const out: Transfer[] = [];
    pieces.forEach((other, e) => {
      if (e === d) return;
      const range = overlap(needs, other[layer - 1].produces);
      if (range) out.push({ from: e, range });
    });
    return out;
  });
}

export interface DeviceLayerCost {
  parameters: number;
  /** The parameters' bytes (4 each). */
  weightBytes: number;
  /** What the kernel's packed form of the weights adds (Winograd), resident like the weights. */
  transformedWeightBytes: number;
  /** Bytes this device receives from other devices before running the layer. */
  receivedBytes: number;
  /** Bytes of the layer's input the device reads (own share + received) plus the output it writes. */
  activationBytes: number;
  /** The convolution kernel's scratch memory (phase planes, output rows), held while the layer runs. */
  scratchBytes: number;
  /**
   * Bytes of activations held while the input is assembled: the own share plus
   * the assembled input it is copied into with the received pieces (0 when the
   * device already holds exactly the input it needs).
   */
  assembleBytes: number;
}

/**
 * Bytes a piece's convolution weights take on its device beyond the weights
 * themselves: a Winograd layer keeps 16 transformed floats per 3x3 kernel (9
 * floats) instead of the weights; other kernels keep the weights, reordered.
 */
function transformedWeightBytes(piece: DevicePiece): number {
  if (piece.op.kind !== 'conv' || !piece.weight) return 0;
  const packed = packedConvFloats(piece.weight.shape, { stride: piece.op.stride });
  return Math.max(0, packed - numel(piece.weight.shape)) * 4;
}

/** Per layer, per device: parameters, weight bytes, traffic and working set for an input of `inputShape`. */
export function layerCosts(pieces: readonly DevicePiece[][], shapes: readonly LayerShapes[]): DeviceLayerCost[][] {
  return shapes.map((shape, layer) => {
    const transfers = transfersInto(pieces, layer);
    const N = shape.input[0];
    const inPlane = numel(shape.input.slice(2));
    const outPlane = numel(shape.output.slice(2));
    return pieces.map((own, d) => {
      const piece = own[layer];
      const parameters = piece.parameters;
      // flatten and dropout keep the data: the output is the input (relabelled), so it costs nothing extra.
      const outputBytes = piece.op.kind === 'flatten' || piece.op.kind === 'dropout' ? 0 : rangeBytes(piece.produces, N, outPlane);
      const needsBytes = rangeBytes(piece.needs, N, inPlane);
      // What the device holds on entering the layer: the image, or its share of the previous layer's output.
      const held: Range = layer === 0 ? [0, shape.input[1]] : own[layer - 1].produces;
      const assembles = held[0] !== piece.needs[0] || held[1] !== piece.needs[1];
      return {
        parameters,
        weightBytes: parameters * 4,
        transformedWeightBytes: transformedWeightBytes(piece),
        receivedBytes: transfers[d].reduce((sum, t) => sum + rangeBytes(t.range, N, inPlane), 0),
        activationBytes: needsBytes + outputBytes,
        scratchBytes: piece.op.kind === 'conv' ? convScratchFloats(pieceGeometry(piece, shape.input)) * 4 : 0,
        assembleBytes: assembles ? rangeBytes(held, N, inPlane) + needsBytes : 0,
      };
    });
  });
}

export interface DeviceMemory {
  device: number;
  weightBytes: number;
  /** What Winograd's transformed weights add to weightBytes (see DeviceLayerCost). */
  transformedWeightBytes: number;
  /** Activations held at the busiest moment (see deviceMemory). */
  activationBytes: number;
  /** Kernel scratch held at that moment. */
  scratchBytes: number;
  /** weightBytes + transformedWeightBytes + activationBytes + scratchBytes: what the device must hold at its busiest moment. */
  totalBytes: number;
  /** Layer of the busiest moment. */
  peakLayer: string;
}

/**
 * Memory each device needs: its resident weights for the life of the model,
 * plus the largest working set of any one layer, as the device worker holds it
 * (src/devices/device-state.ts): while it assembles a layer's input, its own
 * share and the assembled input; while it computes, the input (own share and
 * what it received), the output it writes and the kernel's scratch. Between
 * layers only a device's output share stays, which is never more than that.
 * (The kernels' tap tables, a few KiB per convolution and input shape, are left out.)
 */
export function deviceMemory(pieces: readonly DevicePiece[][], shapes: readonly LayerShapes[], layers: readonly LayerSpec[]): DeviceMemory[] {
  const costs = layerCosts(pieces, shapes);
  return pieces.map((_, d) => {
    let weightBytes = 0;
    let transformedWeightBytes = 0;
    let peak = { activationBytes: 0, scratchBytes: 0 };
    let peakLayer = layers[0].label;
    costs.forEach((layer, i) => {
      const cost = layer[d];
      weightBytes += cost.weightBytes;
      transformedWeightBytes += cost.transformedWeightBytes;
      const computing = { activationBytes: cost.activationBytes, scratchBytes: cost.scratchBytes };
      const assembling = { activationBytes: cost.assembleBytes, scratchBytes: 0 };
      const busiest = assembling.activationBytes > computing.activationBytes + computing.scratchBytes ? assembling : computing;
      if (busiest.activationBytes + busiest.scratchBytes > peak.activationBytes + peak.scratchBytes) {
        peak = busiest;
        peakLayer = layers[i].label;
      }
    });
    const { activationBytes, scratchBytes } = peak;
    const totalBytes = weightBytes + transformedWeightBytes + activationBytes + scratchBytes;
    return { device: d, weightBytes, transformedWeightBytes, activationBytes, scratchBytes, totalBytes, peakLayer };
  });
}
