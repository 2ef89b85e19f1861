// What one device's part of one layer costs: the weights it holds (and what
// the kernel's packed form adds), the activations it reads and writes, the
// kernel's scratch, and simulated time at the device's rate and the link's.
// The memory accounting is the device worker's (src/devices/device-state.ts):
// while it assembles a layer's input, its own share and the assembled input;
// while it computes, the input, the output and the scratch.
import { resolveShapes } from '../conv/geometry.js';
import { convScratchFloats, packedConvFloats } from '../kernels/plan/index.js';
import type { GraphNode } from './graph.js';
import { nodeFlops } from './graph.js';
import type { DeviceLayerPlan, DeviceMemory, LinkModel, Transfer } from './plan-types.js';
import { count, subtractRuns, type Range } from './ranges.js';

const F = 4; // bytes per float

const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
/** Values per channel per image. */
const plane = (shape: readonly number[]) => numel(shape.slice(2));

export function transferMs(bytes: number, link: LinkModel): number {
  return link.latencyUs / 1000 + (bytes * 8) / (link.gbps * 1e6);
}

/** flatten, dropout and identity hand on their input relabelled: their output costs nothing extra. */
const aliasesInput = (node: GraphNode) => node.op.kind === 'flatten' || node.op.kind === 'dropout' || node.op.kind === 'identity';

/** The weight shape of a device's `rows` output channels of a convolution. */
function convRows(node: GraphNode, rows: number): number[] | null {
  if (node.op.kind !== 'conv') return null;
  return [rows, node.op.inChannels / node.op.groups, ...node.op.kernel];
}

export interface DevicePart {
  images: Range;
  /** The runs of output channels it computes; null when the layer is on another device (pipeline). */
  outputs: Range[] | null;
  needs: Range[][];
  groups?: number;
  /** What the device holds of each input on entering the layer. */
  held: Range[][];
  received: { from: number; value: string; ranges: Range[] }[];
  liveBytes: number;
}

/** The costs of device part `part` of `node`, whose inputs and output have the given (whole-batch) shapes. */
export function deviceLayer(
  node: GraphNode,
  inputShapes: readonly number[][],
  outputShape: readonly number[],
  part: DevicePart,
  deviceGflops: number,
  link: LinkModel,
): DeviceLayerPlan {
  const images = part.images[1] - part.images[0];
  const { outputs } = part;
  const base = {
    images: part.images,
    outputs: outputs?.length === 1 ? outputs[0] : null,
    outputRuns: outputs ?? [],
    needs: part.needs,
    ...(part.groups !== undefined ? { groups: part.groups } : {}),
  };
  if (!outputs) {
    const nothing = { parameters: 0, weightBytes: 0, transformedWeightBytes: 0, received: [], receivedBytes: 0, activationBytes: 0 };
    return { ...base, ...nothing, liveBytes: part.liveBytes, scratchBytes: 0, assembleBytes: 0, flops: 0, computeMs: 0, transferMs: 0 };
  }
  const rows = count(outputs);
  const hasRows = node.op.kind === 'conv' || node.op.kind === 'linear' || node.op.kind === 'batchnorm';
  let parameters = 0;
  let resident = 0;
  if (hasRows) {
    for (const w of node.weights) {
      const values = rows * numel(w.shape.slice(1));
      resident += values;
      if (w.role === 'parameter') parameters += values;
    }
  }
  let transformedWeightBytes = 0;
  let scratchBytes = 0;
  const weightRows = convRows(node, rows);
  // A device can hold none of a grouped convolution whose groups follow their input (channels.ts): nothing to plan.
  if (weightRows && node.op.kind === 'conv' && rows > 0) {
    const { stride, padding, dilation } = node.op;
    transformedWeightBytes = Math.max(0, packedConvFloats(weightRows, { stride, dilation }) - numel(weightRows)) * F;
    const [, , H, W] = inputShapes[0];
    const local = [images, count(part.needs[0]), H, W];
    scratchBytes = convScratchFloats(resolveShapes(local, weightRows, null, { stride, padding, dilation, groups: part.groups ?? node.op.groups }).geometry) * F;
  }
  const bytesOf = (ranges: readonly Range[], shape: readonly number[]) => count(ranges) * images * plane(shape) * F;
  const received: Transfer[] = part.received.map((r) => ({ ...r, bytes: bytesOf(r.ranges, inputShapes[node.inputs.indexOf(r.value)]) }));
  const receivedBytes = received.reduce((s, t) => s + t.bytes, 0);
  const needsBytes = part.needs.reduce((s, needs, i) => s + bytesOf(needs, inputShapes[i]), 0);
  const outputBytes = aliasesInput(node) ? 0 : bytesOf(outputs, outputShape);
  let assembleBytes = 0;
  part.needs.forEach((needs, i) => {
    const held = part.held[i];
    const exact = count(subtractRuns(needs, held)) === 0 && count(needs) === count(held);
    if (!exact) assembleBytes += bytesOf(held, inputShapes[i]) + bytesOf(needs, inputShapes[i]);
  });
  const batch = outputShape[0];
  const wholeFlops = nodeFlops(node, inputShapes, outputShape);
  const flops = (wholeFlops * (rows / outputShape[1]) * images) / batch;
  return {
    ...base,
    parameters,
    weightBytes: resident * F,
    transformedWeightBytes,
    received,
    receivedBytes,
    activationBytes: needsBytes + outputBytes,
    liveBytes: part.liveBytes,
    scratchBytes,
    assembleBytes,
    flops,
    computeMs: flops / (deviceGflops * 1e6),
    transferMs: received.reduce((s, t) => s + transferMs(t.bytes, link), 0),
  };
}

/**
 * A device's memory: its resident weights for the life of the model plus its
 * busiest moment, assembling or computing, with whatever it keeps alive
 * across the layer. (The kernels' tap tables, a few KiB per convolution, are
 * left out.)
 */
export function deviceMemory(device: number, layers: readonly { label: string; part: DeviceLayerPlan }[], budgetBytes: number): DeviceMemory {
  let weightBytes = 0;
  let transformedWeightBytes = 0;
  let peak = { activationBytes: 0, scratchBytes: 0 };
  let peakLayer = layers[0]?.label ?? '';
  for (const { label, part } of layers) {
    weightBytes += part.weightBytes;
    transformedWeightBytes += part.transformedWeightBytes;
    const computing = { activationBytes: part.activationBytes + part.liveBytes, scratchBytes: part.scratchBytes };
    const assembling = { activationBytes: part.assembleBytes + part.liveBytes, scratchBytes: 0 };
    const busiest = assembling.activationBytes > computing.activationBytes + computing.scratchBytes ? assembling : computing;
    if (busiest.activationBytes + busiest.scratchBytes > peak.activationBytes + peak.scratchBytes) {
      peak = busiest;
      peakLayer = label;
    }
  }
  const totalBytes = weightBytes + transformedWeightBytes + peak.activationBytes + peak.scratchBytes;
  return { device, weightBytes, transformedWeightBytes, ...peak, totalBytes, peakLayer, fits: totalBytes <= budgetBytes };
}
