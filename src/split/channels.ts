// The `channels` strategy, AlexNet's two-GPU split generalised: every layer's
// output channels (features) are split over the devices, aligned to its
// groups. What a device reads to compute its outputs decides what it receives:
// a grouped convolution whose groups are all on the device reads only its own
// channels; a layer reading every channel gathers them; LRN reads a halo of
// neighbouring maps; a channel shuffle reads a strided set (all-to-all); a
// residual add's second operand is brought into the first's partition.
import { errors } from '../errors.js';
import type { GraphNode, ModelGraph } from './graph.js';
import { count, intersect, normalize, share, subtract, type Range } from './ranges.js';

/** One device's part of one layer under the channels strategy. */
export interface ChannelPiece {
  outputs: Range;
  /** Per input value, the channels read. */
  needs: Range[][];
  /** For a convolution, the groups the device's rows span. */
  groups?: number;
  /** Per input value, what the device holds of it when the layer starts. */
  held: Range[];
  /** From which device each needed channel comes: device order, first holder wins. */
  received: { from: number; value: string; ranges: Range[] }[];
}

function outputsShare(node: GraphNode, size: number, devices: number, d: number): Range {
  if (size < devices) throw errors.invalid('devices', `${node.label} has ${size} outputs, fewer than the ${devices} devices`);
  return share(size, devices, d);
}

/** A convolution's rows on device d: whole groups when there are at least as many groups as devices, else an even share inside them. */
function convPiece(node: GraphNode, devices: number, d: number): { outputs: Range; needs: Range; groups: number } {
  if (node.op.kind !== 'conv') throw errors.deviceProtocol('convPiece: not a convolution');
  const { groups, outChannels, inChannels } = node.op;
  const outPerGroup = outChannels / groups;
  const inPerGroup = inChannels / groups;
  if (groups >= devices) {
    const [g0, g1] = share(groups, devices, d);
    return { outputs: [g0 * outPerGroup, g1 * outPerGroup], needs: [g0 * inPerGroup, g1 * inPerGroup], groups: g1 - g0 };
  }
  const outputs = outputsShare(node, outChannels, devices, d);
  const firstGroup = Math.floor(outputs[0] / outPerGroup);
  const endGroup = Math.ceil(outputs[1] / outPerGroup);
  if (endGroup - firstGroup > 1 && (outputs[0] % outPerGroup !== 0 || outputs[1] % outPerGroup !== 0)) {
    throw errors.invalid('devices', `${node.label}: a device's ${outputs[1] - outputs[0]} outputs would straddle its ${groups} groups unevenly`);
  }
  return { outputs, needs: [firstGroup * inPerGroup, endGroup * inPerGroup], groups: endGroup - firstGroup };
}

/** Input channels of a channel shuffle feeding output channels [start, end): output j*G + i is input i*(C/G) + j. */
function shuffleSources(outputs: Range, channels: number, groups: number): Range[] {
  const perGroup = channels / groups;
  const sources: Range[] = [];
  for (let o = outputs[0]; o < outputs[1]; o++) {
    const i = o % groups;
    const j = Math.floor(o / groups);
    const c = i * perGroup + j;
    sources.push([c, c + 1]);
  }
  return normalize(sources);
}

/**
 * Every device's piece of every layer. `shapes` gives each value's shape;
 * the model's input is on every device (the host sends it to all).
 */
export function channelPieces(graph: ModelGraph, shapes: ReadonlyMap<string, number[]>, devices: number): ChannelPiece[][] {
  const held = new Map<string, Range[]>([[graph.input, Array.from({ length: devices }, (): Range => [0, shapes.get(graph.input)![1]])]]);
  return graph.nodes.map((node) => {
    const inputs = node.inputs.map((v) => held.get(v)!);
    const channelsOf = (i: number) => shapes.get(node.inputs[i])![1];
    const pieces: ChannelPiece[] = [];
    for (let d = 0; d < devices; d++) {
      const own = inputs[0][d];
      let outputs: Range = own;
      let needs: Range[][] = [[own]];
      let groups: number | undefined;
      const op = node.op;
      switch (op.kind) {
        case 'conv': {
          const piece = convPiece(node, devices, d);
          outputs = piece.outputs;
          needs = [[piece.needs]];
          groups = piece.groups;
          break;
        }
        case 'linear':
          outputs = outputsShare(node, op.outFeatures, devices, d);
          needs = [[[0, op.inFeatures]]];
          break;
        case 'softmax':
        case 'opaque': {
          // Any slice of the output reads the whole of every input; an opaque output too narrow to
          // split (a channels-last value of height 1) is computed whole on every device.
          const size = shapes.get(node.output)![1];
          outputs = op.kind === 'opaque' && size < devices ? [0, size] : outputsShare(node, size, devices, d);
          needs = node.inputs.map((_, i): Range[] => [[0, channelsOf(i)]]);
          break;
        }
        case 'slice': {
          // The slice is re-split evenly over the devices: each reads its part of the input's channels [start, end).
          const part = outputsShare(node, op.end - op.start, devices, d);
          outputs = part;
          needs = [[[op.start + part[0], op.start + part[1]]]];
          break;
        }
        case 'broadcast': {
          // As add: partitioned as the first operand; a per-channel operand (squeeze-and-excitation's
          // scale) is read for the same channels, one broadcast along the channels whole.
          const split = (i: number) => inputs[i].some((r) => r[0] !== 0 || r[1] !== channelsOf(i));
          const lead = split(0) || !split(1) ? 0 : 1;
          outputs = inputs[lead][d];
          needs = node.inputs.map((_, i): Range[] => (channelsOf(i) === shapes.get(node.output)![1] ? [outputs] : [[0, channelsOf(i)]]));
          break;
        }
        case 'lrn': {
          const channels = channelsOf(0);
          needs = [[[Math.max(0, own[0] - Math.floor(op.size / 2)), Math.min(channels, own[1] + Math.floor((op.size - 1) / 2))]]];
          break;
        }
        case 'flatten': {
          const plane = shapes.get(node.output)![1] / channelsOf(0);
          outputs = [own[0] * plane, own[1] * plane];
          break;
        }
        case 'add': {
          // The sum is partitioned as its first operand split over the devices (a
          // value every device holds whole, such as the model's input, leads
          // nothing); the other operand is brought alike where it is split otherwise.
          const split = (i: number) => inputs[i].some((r) => r[0] !== 0 || r[1] !== channelsOf(i));
          const lead = split(0) || !split(1) ? 0 : 1;
          outputs = inputs[lead][d];
          needs = [[outputs], [outputs]];
          break;
        }
        case 'shuffle':
          needs = [shuffleSources(own, channelsOf(0), op.groups)];
          break;
        case 'concat': {
          const total = shapes.get(node.output)![1];
          outputs = outputsShare(node, total, devices, d);
          let offset = 0;
          needs = node.inputs.map((_, i) => {
            const c = channelsOf(i);
            const part = intersect([outputs], [offset, offset + c]).map((r): Range => [r[0] - offset, r[1] - offset]);
            offset += c;
            return part;
          });
          break;
        }
        default:
          break; // per-channel layers (ReLU and other elementwise functions, BatchNorm, pooling, padding, dropout) compute on what the device holds
      }
      const received: ChannelPiece['received'] = [];
      node.inputs.forEach((value, i) => {
        let missing = subtract(needs[i], inputs[i][d]);
        for (let e = 0; e < devices && missing.length > 0; e++) {
          if (e === d) continue;
          const from = intersect(missing, inputs[i][e]);
          if (count(from) === 0) continue;
          received.push({ from: e, value, ranges: from });
          missing = subtract(missing, inputs[i][e]);
        }
      });
      pieces.push({ outputs, needs, groups, held: node.inputs.map((_, i) => inputs[i][d]), received });
    }
    held.set(node.output, pieces.map((p) => p.outputs));
    return pieces;
  });
}
