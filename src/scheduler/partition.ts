// How one convolution's output is cut into tasks for the worker pool. Pure
// functions of the geometry: the engine, the tests and the benchmark tables all
// see the same partition. Every task is a rectangle (images x output channels)
// of the output, tasks never overlap and together cover it exactly once, so
// workers write disjoint slices of one shared output and nothing is concatenated.
import { sliceMacs, type ConvGeometry, type ConvSlice } from '../conv/geometry.js';
import { errors } from '../errors.js';

/**
 * - `'group'`: one task per channel group, the AlexNet picture (groups=2 on two
 *   workers: each worker computes one half), whatever the worker count.
 * - `'balanced'`: tasks of (nearly) equal FLOPs, one per worker: contiguous runs
 *   of whole groups when that balances, otherwise groups split by batch or by
 *   output channels (this covers groups=1).
 */
export type PartitionPolicy = 'group' | 'balanced';
export const PARTITION_POLICIES: readonly PartitionPolicy[] = ['group', 'balanced'];

/** One unit of work: a slice of the output plus the channel groups it touches. */
export interface ConvTask extends ConvSlice {
  /** Position in the partition (tasks are dispatched in this order). */
  index: number;
  /** Groups [groupStart, groupEnd) that the task's output channels belong to. */
  groupStart: number;
  groupEnd: number;
  /** Multiply-accumulates of the task (FLOPs are twice this). */
  macs: number;
}

/**
 * Predicted load imbalance of a partition: the busiest worker's MACs over the
 * mean per worker, when tasks go largest first to the least loaded worker
 * (1 = perfect; 2 workers sharing one task give 2).
 */
export function partitionImbalance(tasks: readonly ConvTask[], workers: number): number {
  const total = tasks.reduce((sum, t) => sum + t.macs, 0);
  if (total === 0) return 1;
  const loads = new Array<number>(workers).fill(0);
  for (const macs of tasks.map((t) => t.macs).sort((a, b) => b - a)) loads[loads.indexOf(Math.min(...loads))] += macs;
  return Math.max(...loads) / (total / workers);
}

/** A balanced partition is accepted when its largest task is at most this much above the mean. */
const BALANCE_TOLERANCE = 0.05;

/** Splits the output of `g` into tasks for `workers` workers by `policy`. */
export function partitionConv(g: ConvGeometry, policy: PartitionPolicy, workers: number): ConvTask[] {
  if (!PARTITION_POLICIES.includes(policy)) throw errors.invalid('policy', `expected one of ${PARTITION_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${String(policy)}`);
  if (!Number.isInteger(workers) || workers < 1) throw errors.notPositiveInteger('workers', workers);
  if (g.batch === 0 || g.outChannels === 0 || g.outHeight === 0 || g.outWidth === 0) return [];

  const slices = policy === 'group' ? byGroup(g) : balanced(g, workers);
  return slices.map((s, index) => makeTask(g, s, index));
}

function makeTask(g: ConvGeometry, s: ConvSlice, index: number): ConvTask {
  const perGroup = g.outChannelsPerGroup;
  return {
    index,
    batchStart: s.batchStart,
    batchEnd: s.batchEnd,
    outChannelStart: s.outChannelStart,
    outChannelEnd: s.outChannelEnd,
    groupStart: Math.floor(s.outChannelStart / perGroup),
    groupEnd: Math.ceil(s.outChannelEnd / perGroup),
    macs: sliceMacs(g, s),
  };
}

function byGroup(g: ConvGeometry): ConvSlice[] {
  const slices: ConvSlice[] = [];
  for (let group = 0; group < g.groups; group++) {
    slices.push(channels(g, group * g.outChannelsPerGroup, (group + 1) * g.outChannelsPerGroup));
  }
  return slices;
}

function channels(g: ConvGeometry, start: number, end: number): ConvSlice {
  return { batchStart: 0, batchEnd: g.batch, outChannelStart: start, outChannelEnd: end };
}

/** `n` items in at most `parts` contiguous runs whose sizes differ by at most one (larger runs first). */
export function evenRuns(n: number, parts: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  const base = Math.floor(n / parts);
  const extra = n % parts;
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const size = base + (i < extra ? 1 : 0);
    if (size === 0) break;
    runs.push([start, start + size]);
    start += size;
  }
  return runs;
}

/** Largest run over the mean per worker: every output channel (and every image) costs the same. */
function runImbalance(n: number, workers: number): number {
  return Math.ceil(n / workers) / (n / workers);
}

function balanced(g: ConvGeometry, workers: number): ConvSlice[] {
  if (workers === 1) return [channels(g, 0, g.outChannels)];
  const G = g.groups;
  const perGroup = g.outChannelsPerGroup;

  // Candidates in order of preference; the first one that balances wins.
  // 1. Contiguous runs of whole groups: each worker holds whole groups of weights (the AlexNet split).
  // 2. Images split across workers, every group on each: no input is prepared twice.
  // 3. Output channels split evenly, crossing group boundaries where needed.
  const candidates: Array<{ imbalance: number; slices: () => ConvSlice[] }> = [
    {
      imbalance: G >= workers ? runImbalance(G, workers) : Infinity,
      slices: () => evenRuns(G, workers).map(([a, b]) => channels(g, a * perGroup, b * perGroup)),
    },
    {
      imbalance: g.batch >= workers ? runImbalance(g.batch, workers) : Infinity,
      slices: () =>
        evenRuns(g.batch, workers).map(([a, b]) => ({ batchStart: a, batchEnd: b, outChannelStart: 0, outChannelEnd: g.outChannels })),
    },
    {
      imbalance: runImbalance(g.outChannels, workers) * (g.outChannels >= workers ? 1 : workers / g.outChannels),
      slices: () => evenRuns(g.outChannels, workers).map(([a, b]) => channels(g, a, b)),
    },
  ];
  const accepted = candidates.find((c) => c.imbalance <= 1 + BALANCE_TOLERANCE);
  if (accepted) return accepted.slices();
  // Nothing balances on its own (few channels and few images): split both ways.
  return grid(g, workers);
}

/**
 * A grid of image runs x channel runs with about `workers` cells or more, for
 * outputs too small in both directions to balance along one.
 */
function grid(g: ConvGeometry, workers: number): ConvSlice[] {
  let best: { cost: number; slices: ConvSlice[] } | null = null;
  for (let batchParts = 1; batchParts <= Math.min(g.batch, workers); batchParts++) {
    const channelParts = Math.min(g.outChannels, Math.ceil(workers / batchParts));
    const slices: ConvSlice[] = [];
    for (const [b0, b1] of evenRuns(g.batch, batchParts)) {
      for (const [c0, c1] of evenRuns(g.outChannels, channelParts)) {
        slices.push({ batchStart: b0, batchEnd: b1, outChannelStart: c0, outChannelEnd: c1 });
      }
    }
    // Cost: the busiest worker's share when cells are handed out largest first.
    const loads = new Array<number>(workers).fill(0);
    const sizes = slices.map((s) => (s.batchEnd - s.batchStart) * (s.outChannelEnd - s.outChannelStart)).sort((a, b) => b - a);
    for (const size of sizes) loads[loads.indexOf(Math.min(...loads))] += size;
    const cost = Math.max(...loads) + slices.length * 1e-9; // fewer tasks on a tie
    if (!best || cost < best.cost) best = { cost, slices };
  }
  return best!.slices;
}
