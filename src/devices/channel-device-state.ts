// A device's side of a model's channels split, in its thread: for every
// graph node it computes exactly the output-channel runs the plan gives it,
// from the runs it holds of the node's inputs plus the blocks the plan has it
// receive from the other devices for that node, and it keeps its runs of every
// value for the layers after. After each node it hands out the blocks the
// next node's devices need from it (the host carries them to their device),
// so one round trip per layer moves both the results and the traffic.
import { performance } from 'node:perf_hooks';
import { errors } from '../errors.js';
import { ArenaValues } from '../memory/arena-values.js';
import { lastUse, type GraphNode, type ModelGraph } from '../split/graph.js';
import { count, normalize, type Range } from '../split/ranges.js';
import type { Tensor } from '../tensor/tensor.js';
import { blocksOf, gather, heldOf, mergeHeld, type HeldValue } from './channel-runs.js';

/** What the plan gives one device of one node: its output runs, the node's first input's channel count, per input the channels read and their count, and whether no device receives anything for it. */
export interface ChannelNodeSpec {
  outputs: Range[];
  channels: number;
  needs: Range[][];
  channelsOf: number[];
  quiet: boolean;
}

/** How a device computes output runs `spec.outputs` of node `index` from its inputs as held (and received): a zoo model's modules, or an ONNX model's steps. */
export type ChannelNodeCompute = (index: number, inputs: readonly HeldValue[], spec: ChannelNodeSpec) => HeldValue;

/** Channels `ranges` of `value`, dense over them ([N, count(ranges), ...rest]), from device `from` to device `to`. */
export interface ChannelBlock {
  value: string;
  from: number;
  to: number;
  ranges: Range[];
  shape: number[];
  data: Float32Array;
}

/** A block the host should collect from this device after a node: `ranges` of `value` for device `to`. */
export interface ChannelRequest {
  value: string;
  to: number;
  ranges: Range[];
}

export interface ChannelNodeResult {
  /** The blocks asked for, in the order asked. */
  blocks: ChannelBlock[];
  computeMs: number;
  /** Bytes of the blocks this device received for the node. */
  receivedBytes: number;
}

/** A run of nodes: the blocks asked for after the last, each node's compute time, and the bytes received for the first (the others receive nothing). */
export interface ChannelSegmentResult {
  blocks: ChannelBlock[];
  computeMs: number[];
  receivedBytes: number;
}

export class ChannelDeviceState {
  private readonly values = new Map<string, HeldValue>();
  /** This pass's computed blocks in the thread's arena, each freed after the value's last reader (memory/arena-values.ts). */
  private arena = new ArenaValues();
  /** Per node, the values it reads for the last time: dropped after it, as the plan's memory assumes. */
  private readonly dropAfter: string[][];

  constructor(
    private readonly device: number,
    private readonly graph: ModelGraph,
    private readonly compute: ChannelNodeCompute,
    private readonly specs: readonly ChannelNodeSpec[],
  ) {
    this.dropAfter = graph.nodes.map(() => []);
    for (const [value, last] of lastUse(graph)) if (last < graph.nodes.length) this.dropAfter[last].push(value);
  }

  /** A new pass: every device holds the whole input (the host sends it to all), and nothing else. */
  begin(input: Tensor): void {
    this.arena.close();
    this.arena = new ArenaValues();
    this.values.clear();
    this.values.set(this.graph.input, heldOf(input, [0, input.shape[1]]));
  }

  /** Computes node `index`'s runs from what this device holds plus `received`, then cuts out the blocks `requests` asks for. */
  node(index: number, received: readonly ChannelBlock[], requests: readonly ChannelRequest[]): ChannelNodeResult {
    const node = this.graph.nodes[index];
    if (!node) throw errors.deviceProtocol(`device ${this.device}: no node ${index} in a graph of ${this.graph.nodes.length}`);
    const t0 = performance.now();
    const inputs = node.inputs.map((value) => this.inputOf(node, value, received));
    const output = this.arena.step(() => this.compute(index, inputs, this.specs[index]));
    this.values.set(node.output, output);
    for (const block of output.blocks) this.arena.hold(block);
    this.arena.settle();
    const computeMs = performance.now() - t0;
    const blocks = this.extract(requests);
    for (const value of this.dropAfter[index]) {
      for (const block of this.values.get(value)?.blocks ?? []) this.arena.drop(block);
      this.values.delete(value);
    }
    return { blocks, computeMs, receivedBytes: received.reduce((s, b) => s + b.data.byteLength, 0) };
  }

  /**
   * Nodes [from, to) in order: `received` are the first's blocks (the plan has
   * the others receive nothing), `requests` are cut after the last. `onNode`
   * sees each node's index before it runs, so a failure can be placed.
   */
  segment(from: number, to: number, received: readonly ChannelBlock[], requests: readonly ChannelRequest[], onNode: (index: number) => void): ChannelSegmentResult {
    if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= this.graph.nodes.length)) {
      throw errors.deviceProtocol(`device ${this.device}: no nodes [${from}, ${to}) in a graph of ${this.graph.nodes.length}`);
    }
    const computeMs: number[] = [];
    let last: ChannelNodeResult | null = null;
    for (let i = from; i < to; i++) {
      onNode(i);
      last = this.node(i, i === from ? received : [], i === to - 1 ? requests : []);
      computeMs.push(last.computeMs);
    }
    return { blocks: last!.blocks, computeMs, receivedBytes: received.reduce((s, b) => s + b.data.byteLength, 0) };
  }

  /** The blocks `requests` asks for, from what this device holds. */
  extract(requests: readonly ChannelRequest[]): ChannelBlock[] {
    return requests.map((r) => {
      const held = this.values.get(r.value);
      if (!held) throw errors.deviceProtocol(`device ${this.device} holds nothing of ${r.value} to send to device ${r.to}`);
      const t = gather(held, r.ranges, `device ${this.device}'s ${r.value} for device ${r.to}`);
      return { value: r.value, from: this.device, to: r.to, ranges: r.ranges, shape: t.shape, data: t.data };
    });
  }

  /** What this device holds of the model's output: its runs, dense over them. */
  output(): { ranges: Range[]; shape: number[]; data: Float32Array } {
    const held = this.values.get(this.graph.output);
    if (!held) throw errors.deviceProtocol(`device ${this.device} has not computed the output ${this.graph.output}`);
    const ranges = normalize(held.blocks.map((b) => b.run));
    const t = gather(held, ranges, `device ${this.device}'s output`);
    return { ranges, shape: t.shape, data: t.data };
  }

  /** What the device holds of `value` with the blocks received for this node added (they are kept for this node only). */
  private inputOf(node: GraphNode, value: string, received: readonly ChannelBlock[]): HeldValue {
    let held = this.values.get(value);
    for (const block of received) {
      if (block.value !== value) continue;
      if (block.shape[1] !== count(block.ranges)) throw errors.deviceProtocol(`${node.label}: a block of ${value} from device ${block.from} has ${block.shape[1]} channels for ranges of ${count(block.ranges)}`);
      held = mergeHeld(held, blocksOf({ shape: block.shape, data: block.data }, block.ranges));
    }
    if (!held) throw errors.deviceProtocol(`${node.label} on device ${this.device}: nothing of ${value} is held or received`);
    return held;
  }
}
