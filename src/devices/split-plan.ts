// What the device workers run: each device's piece of each layer (plain data,
// sent to its worker once) and the traffic between pieces. Which device
// computes what comes from the split planner's channels plan (src/split/,
// turned into pieces by from-plan.ts); this file only describes the pieces.
import { resolveShapes, type ConvGeometry } from '../conv/geometry.js';
import { errors } from '../errors.js';
import type { MaxPool2dOptions } from '../ops/pooling.js';
import type { GraphNode } from '../split/graph.js';
import { overlap, rangeLength, type Range } from './channel-range.js';

export type LayerOp =
  | { kind: 'conv'; stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number }
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
  /** The paper's name for AlexNet (conv1, lrn1, pool1, fc6, ...), the graph's label otherwise. */
  label: string;
  op: LayerOp;
  /** The graph node the layer comes from. */
  node: GraphNode;
}

/** Shapes of every layer's input and output for a whole-model input shape. */
export interface LayerShapes {
  input: number[];
  output: number[];
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
  const { stride, padding, dilation, groups } = piece.op;
  return resolveShapes(local, piece.weight.shape, piece.bias?.shape ?? null, { stride, padding, dilation, groups }).geometry;
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

export type { DeviceMemory } from '../split/plan-types.js';
