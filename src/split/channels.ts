// The `channels` strategy, AlexNet's two-GPU split generalised: every layer's
// output channels (features) are split over the devices, aligned to its
// groups. What a device reads to compute its outputs decides what it receives:
// a grouped convolution whose groups are all on the device reads only its own
// channels; a layer reading every channel gathers them; LRN reads a halo of
// neighbouring maps; a channel shuffle reads a strided set (all-to-all); a
// residual add's second operand is brought into the first's partition.
// Layers that only move channels move nothing: a Concat keeps its inputs'
// channels on the devices that hold them and a channel Slice takes what each
// device holds of its range, so a value can be held in several runs per
// device; only a later layer that needs other channels pays, and it is counted
// there. A per-channel layer computes on what each device holds, and a
// grouped convolution's groups go where their input is, unless that is too
// unbalanced (REALIGN_LOAD): then the layer first realigns to the even split,
// and the convolution shares its groups evenly.
import { errors } from '../errors.js';
import type { GraphNode, ModelGraph, OpKind } from './graph.js';
import { count, intersect, intersectRuns, normalize, share, shift, subtractRuns, type Range } from './ranges.js';

/** One device's part of one layer under the channels strategy. */
export interface ChannelPiece {
  /** Output channels it computes and keeps: one run, or several where it keeps a Concat's inputs (or a Slice of them) where they are. */
  outputs: Range[];
  /** Per input value, the channels read. */
  needs: Range[][];
  /** For a convolution, the groups the device's rows span. */
  groups?: number;
  /** Per input value, what the device holds of it when the layer starts. */
  held: Range[][];
  /** From which device each needed channel comes: device order, first holder wins. */
  received: { from: number; value: string; ranges: Range[] }[];
}

/** Every device's piece of one layer, and why it realigned its input first when it did. */
export interface ChannelLayer {
  pieces: ChannelPiece[];
  realigned?: string;
}

/**
 * A per-channel layer realigns its input to the even split first when the most
 * loaded device holds more than this many times its even share (channels /
 * devices): the layer's time is that device's, so past 1.5 it would take more
 * than half as long again as balanced. These layers cost one operation per
 * value, so the bar is set to leave the ragged values the planner makes
 * itself in place (ShuffleNetV2's Concat of a kept half and an evenly split
 * branch holds exactly 1.5x on 2 and 4 devices, and the shuffle after it
 * exchanges channels anyway) and to catch a value that has fallen mostly on
 * one device (a Slice of channels one device holds).
 */
export const REALIGN_LOAD = 1.5;

/** Layers that compute on each channel apart (or a window of neighbours), so on what each device holds. */
const PER_CHANNEL: ReadonlySet<OpKind> = new Set<OpKind>(['relu', 'batchnorm', 'maxpool', 'avgpool', 'adaptiveavgpool', 'pad', 'elementwise', 'lrn', 'shuffle', 'add', 'broadcast']);

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

/**
 * A grouped convolution's groups given to the devices holding their input
 * channels: each group to the device that holds most of its input (the first
 * such on a tie), as runs of groups per device. Null when the groups are fewer
 * than the devices, when the input is held whole by several devices (the
 * model's input), or when following the input would load a device more than
 * REALIGN_LOAD times its even share of the groups: then they are shared evenly.
 */
function groupsWhereHeld(node: GraphNode, owned: readonly Range[][]): Range[][] | null {
  if (node.op.kind !== 'conv') return null;
  const { groups, inChannels } = node.op;
  const devices = owned.length;
  if (groups < devices || groups === 1 || load(owned, inChannels) === 0) return null;
  const inPerGroup = inChannels / groups;
  const runs: Range[][] = Array.from({ length: devices }, () => []);
  for (let g = 0; g < groups; g++) {
    const held = owned.map((runs) => count(intersect(runs, [g * inPerGroup, (g + 1) * inPerGroup])));
    runs[held.indexOf(Math.max(...held))].push([g, g + 1]);
  }
  const mostGroups = Math.max(...runs.map(count));
  return (mostGroups * devices) / groups > REALIGN_LOAD ? null : runs.map(normalize);
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

/** The most loaded device's channels over its even share, for a value partitioned over the devices; 0 for one held whole by several (the model's input), which a layer leaves alone. */
function load(owned: readonly Range[][], channels: number): number {
  const counts = owned.map(count);
  if (counts.reduce((a, b) => a + b, 0) !== channels) return 0;
  return (Math.max(...counts) * owned.length) / channels;
}

/**
 * Every device's piece of every layer. `shapes` gives each value's shape;
 * the model's input is on every device (the host sends it to all).
 */
export function channelPieces(graph: ModelGraph, shapes: ReadonlyMap<string, number[]>, devices: number): ChannelLayer[] {
  const held = new Map<string, Range[][]>([[graph.input, Array.from({ length: devices }, (): Range[] => [[0, shapes.get(graph.input)![1]]])]]);
  return graph.nodes.map((node) => {
    const inputs = node.inputs.map((v) => held.get(v)!);
    const channelsOf = (i: number) => shapes.get(node.inputs[i])![1];
    const op = node.op;
    // An add (or broadcast) is partitioned as its first operand split over the devices; a value
    // every device holds whole, such as the model's input, leads nothing.
    const whole = (i: number) => inputs[i].every((runs) => runs.length === 1 && runs[0][0] === 0 && runs[0][1] === channelsOf(i));
    const lead = (op.kind === 'add' || op.kind === 'broadcast') && whole(0) && !whole(1) ? 1 : 0;
    let owned = inputs[lead];
    let realigned: string | undefined;
    if (PER_CHANNEL.has(op.kind) && devices > 1) {
      const channels = channelsOf(lead);
      const ratio = load(owned, channels);
      if (ratio > REALIGN_LOAD) {
        owned = Array.from({ length: devices }, (_, d) => [share(channels, devices, d)]);
        const most = Math.max(...inputs[lead].map(count));
        realigned = `its input ${node.inputs[lead]} is held unevenly (a device holds ${most} of its ${channels} channels, ${ratio.toFixed(2)}x its even share, more than ${REALIGN_LOAD}x), so it is realigned to the even split first`;
      }
    }
    const heldGroups = groupsWhereHeld(node, inputs[0]);
    const pieces: ChannelPiece[] = [];
    for (let d = 0; d < devices; d++) {
      const own = owned[d];
      let outputs: Range[] = own;
      let needs: Range[][] = [own];
      let groups: number | undefined;
      switch (op.kind) {
        case 'conv': {
          if (heldGroups) {
            // Each group where most of its input is: the device reads its groups' channels, most of them its own.
            const perGroup = (size: number) => heldGroups[d].map((r): Range => [r[0] * size, r[1] * size]);
            outputs = perGroup(op.outChannels / op.groups);
            needs = [perGroup(op.inChannels / op.groups)];
            groups = count(heldGroups[d]);
            break;
          }
          const piece = convPiece(node, devices, d);
          outputs = [piece.outputs];
          needs = [[piece.needs]];
          groups = piece.groups;
          break;
        }
        case 'linear':
          outputs = [outputsShare(node, op.outFeatures, devices, d)];
          needs = [[[0, op.inFeatures]]];
          break;
        case 'softmax':
        case 'opaque': {
          // Any slice of the output reads the whole of every input; an opaque output too narrow to
          // split (a channels-last value of height 1) is computed whole on every device.
          const size = shapes.get(node.output)![1];
          outputs = [op.kind === 'opaque' && size < devices ? [0, size] : outputsShare(node, size, devices, d)];
          needs = node.inputs.map((_, i): Range[] => [[0, channelsOf(i)]]);
          break;
        }
        case 'slice': {
          // The device keeps what it holds of [start, end), renumbered from start: nothing moves.
          const taken = intersect(own, [op.start, op.end]);
          outputs = shift(taken, -op.start);
          needs = [taken];
          break;
        }
        case 'broadcast':
          // A per-channel operand (squeeze-and-excitation's scale) is read for the same channels, one broadcast along the channels whole.
          needs = node.inputs.map((_, i): Range[] => (channelsOf(i) === shapes.get(node.output)![1] ? own : [[0, channelsOf(i)]]));
          break;
        case 'lrn': {
          const channels = channelsOf(0);
          needs = [normalize(own.map((r): Range => [Math.max(0, r[0] - Math.floor(op.size / 2)), Math.min(channels, r[1] + Math.floor((op.size - 1) / 2))]))];
          break;
        }
        case 'flatten': {
          const plane = shapes.get(node.output)![1] / channelsOf(0);
          outputs = own.map((r): Range => [r[0] * plane, r[1] * plane]);
          break;
        }
        case 'add':
          // The other operand is brought alike where it is split otherwise.
          needs = [own, own];
          break;
        case 'shuffle':
          needs = [normalize(own.flatMap((r) => shuffleSources(r, channelsOf(0), op.groups)))];
          break;
        case 'concat': {
          // Each input's channels stay on the devices that hold them, placed at the input's offset.
          let offset = 0;
          const placed: Range[] = [];
          needs = node.inputs.map((_, i) => {
            placed.push(...shift(inputs[i][d], offset));
            offset += channelsOf(i);
            return inputs[i][d];
          });
          outputs = normalize(placed);
          break;
        }
        default:
          break; // per-channel layers (ReLU and other elementwise functions, BatchNorm, pooling, padding, dropout) compute on what the device holds
      }
      const received: ChannelPiece['received'] = [];
      node.inputs.forEach((value, i) => {
        let missing = subtractRuns(needs[i], inputs[i][d]);
        for (let e = 0; e < devices && missing.length > 0; e++) {
          if (e === d) continue;
          const from = intersectRuns(missing, inputs[i][e]);
          if (count(from) === 0) continue;
          received.push({ from: e, value, ranges: from });
          missing = subtractRuns(missing, inputs[i][e]);
        }
      });
      pieces.push({ outputs, needs, groups, held: node.inputs.map((_, i) => inputs[i][d]), received });
    }
    held.set(node.output, pieces.map((p) => p.outputs));
    return realigned ? { pieces, realigned } : { pieces };
  });
}
