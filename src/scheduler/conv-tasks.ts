// How one convolution's output is cut into tasks for the worker pool. Pure
// functions of the geometry: the engine, the tests and the benchmark tables all
// see the same partition. Every task is a rectangle (images x output channels)
// of the output, tasks never overlap and together cover it exactly once, so
// workers write disjoint slices of one shared output and nothing is concatenated.
import { sliceMacs, type ConvGeometry, type ConvSlice } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { readsInputInPlace } from '../kernels/plan/index.js';

/**
 * - `'group'`: one task per channel group, the AlexNet picture (groups=2 on two
 *   workers: each worker computes one half), whatever the worker count.
 * - `'balanced'`: tasks sized by FLOPs so every worker stays busy. A convolution
 *   large enough is over-decomposed into about TASKS_PER_WORKER tasks per worker
 *   (runs of images, then runs of whole groups, then runs of 4-channel blocks
 *   within groups), handed out largest first: the engine's runners claim tasks
 *   as they finish, so a worker that starts late or is slowed down by another
 *   process simply computes fewer of them. A small one gets one task per worker
 *   of (nearly) equal FLOPs: whole-group runs when that balances, otherwise
 *   groups split by batch or by output channels (this covers groups=1).
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
 * (1 = perfect; 2 workers sharing one task give 2). With workers of equal speed
 * this is what the engine's runners do: 'balanced' lists its tasks largest
 * first and each runner claims the next task as soon as it is free.
 */
export function partitionImbalance(tasks: readonly ConvTask[], workers: number): number {
  return lptImbalance(
    tasks.map((t) => t.macs),
    workers,
  );
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

/**
 * Tasks per worker that 'balanced' aims at when the convolution is large enough:
 * with several tasks each, a disturbance to one worker (a late wake-up, another
 * process on its core) costs at most part of one task instead of half the call.
 */
export const TASKS_PER_WORKER = 4;

/**
 * An over-decomposed partition prefers at least this many tasks per worker
 * (fewer only if no balanced split reaches it).
 */
const ENOUGH_TASKS_PER_WORKER = 3;

/**
 * Tasks beyond one per worker are made only while each keeps at least this
 * many MACs on average. Measured: claiming a task, timing it and reading its
 * slice costs a runner about 0.3 µs (≤ 1 µs), and the WebAssembly kernels run
 * about 5,000-13,000 MACs/µs, so a task of 2M MACs takes 150-400 µs and its own
 * overhead stays below 1%.
 */
export const MIN_TASK_MACS = 2_000_000;

/**
 * Measured cost of the per-task input copy, in MACs per copied float: a task
 * with a slice of a group's channels re-copies that group's padded input planes
 * for each of its images (about 0.2 ns per float against about 12 MACs per ns
 * for the kernels, on AlexNet conv2 and a 3x3 56x56 layer).
 */
const COPY_MACS_PER_FLOAT = 2.5;

/** Splits within groups are used only while their extra input copies cost at most this fraction of the convolution. */
const MAX_COPY_OVERHEAD = 0.02;

function balanced(g: ConvGeometry, workers: number): ConvSlice[] {
  if (workers === 1) return [channels(g, 0, g.outChannels)];
  const total = sliceMacs(g, channels(g, 0, g.outChannels));
  const target = Math.min(TASKS_PER_WORKER * workers, Math.floor(total / MIN_TASK_MACS));
  return (target > workers && overDecomposed(g, workers, target)) || onePerWorker(g, workers);
}

/** A split of the output channels into pieces, and how many times each group's input is copied per image. */
interface ChannelScheme {
  pieces: Array<[number, number]>;
  copiesPerGroup: number;
}

/**
 * The channel pieces 'balanced' may combine with runs of images: runs of
 * whole groups (each group's input copied once per image, as by any split by
 * images), then each group cut into runs of 4-channel blocks (the kernel tiles
 * 4 output channels at a time from the group's first channel, so a run
 * starting elsewhere or of another length would fall back to single-channel
 * tiles); each such run copies its group's input again.
 */
function channelSchemes(g: ConvGeometry, maxPieces: number): ChannelScheme[] {
  const perGroup = g.outChannelsPerGroup;
  const schemes: ChannelScheme[] = [];
  for (let runs = 1; runs <= Math.min(g.groups, maxPieces); runs++) {
    schemes.push({ pieces: evenRuns(g.groups, runs).map(([a, b]) => [a * perGroup, b * perGroup]), copiesPerGroup: 1 });
  }
  const blocks = Math.ceil(perGroup / 4);
  for (let runs = 2; runs <= Math.min(blocks, Math.floor(maxPieces / g.groups)); runs++) {
    const pieces: Array<[number, number]> = [];
    for (let group = 0; group < g.groups; group++) {
      const first = group * perGroup;
      for (const [a, b] of evenRuns(blocks, runs)) pieces.push([first + 4 * a, first + Math.min(4 * b, perGroup)]);
    }
    schemes.push({ pieces, copiesPerGroup: runs });
  }
  return schemes;
}

/** Floats of one group's input the kernel copies (padded) per image; none when it reads the input in place. */
function copiedFloatsPerGroupImage(g: ConvGeometry): number {
  return readsInputInPlace(g) ? 0 : g.inChannelsPerGroup * (g.inHeight + g.padTop + g.padBottom) * (g.inWidth + g.padLeft + g.padRight);
}

/**
 * Image runs x channel pieces, between workers + 1 and `target` tasks, that
 * balance (predicted, largest first) within the tolerance. Preferred, in order:
 * at least ENOUGH_TASKS_PER_WORKER tasks per worker (or `target` if smaller),
 * fewer input copies, more tasks, more image runs (images never share a copy).
 * Tasks are listed largest first. Null when no such split exists.
 */
function overDecomposed(g: ConvGeometry, workers: number, target: number): ConvSlice[] | null {
  const enough = Math.min(target, ENOUGH_TASKS_PER_WORKER * workers);
  const total = sliceMacs(g, channels(g, 0, g.outChannels));
  const copyMacs = copiedFloatsPerGroupImage(g) * COPY_MACS_PER_FLOAT * g.groups * g.batch;
  let best: { key: number[]; scheme: ChannelScheme; imageRuns: number } | null = null;
  for (const scheme of channelSchemes(g, target)) {
    if ((scheme.copiesPerGroup - 1) * copyMacs > MAX_COPY_OVERHEAD * total) continue;
    const widths = scheme.pieces.map(([a, b]) => b - a);
    // Most image runs first: the likely winner, so the key check skips most of the rest.
    for (let imageRuns = Math.min(g.batch, Math.floor(target / scheme.pieces.length)); imageRuns >= 1; imageRuns--) {
      const count = imageRuns * scheme.pieces.length;
      if (count <= workers) continue;
      // Lexicographic, larger is better; checked before the (costlier) balance.
      const key = [count >= enough ? 1 : 0, -scheme.copiesPerGroup, count, imageRuns];
      if (best && !isGreater(key, best.key)) continue;
      // Every task's MACs are proportional to its images x channels.
      const sizes: number[] = [];
      for (const [b0, b1] of evenRuns(g.batch, imageRuns)) for (const width of widths) sizes.push((b1 - b0) * width);
      if (lptImbalance(sizes, workers) > 1 + BALANCE_TOLERANCE) continue;
      best = { key, scheme, imageRuns };
    }
  }
  if (!best) return null;
  const slices: ConvSlice[] = [];
  for (const [b0, b1] of evenRuns(g.batch, best.imageRuns)) {
    for (const [c0, c1] of best.scheme.pieces) slices.push({ batchStart: b0, batchEnd: b1, outChannelStart: c0, outChannelEnd: c1 });
  }
  const macs = slices.map((s) => sliceMacs(g, s));
  return slices.map((_, i) => i).sort((a, b) => macs[b] - macs[a] || a - b).map((i) => slices[i]);
}

function isGreater(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

/** partitionImbalance on task sizes alone. */
function lptImbalance(sizes: readonly number[], workers: number): number {
  const total = sizes.reduce((sum, s) => sum + s, 0);
  if (total === 0) return 1;
  const loads = new Array<number>(workers).fill(0);
  for (const size of [...sizes].sort((a, b) => b - a)) {
    let least = 0;
    for (let w = 1; w < workers; w++) if (loads[w] < loads[least]) least = w;
    loads[least] += size;
  }
  return Math.max(...loads) / (total / workers);
}

/** One task per worker (the split for convolutions too small to over-decompose). */
function onePerWorker(g: ConvGeometry, workers: number): ConvSlice[] {
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
    // Cost: the busiest worker's share when cells are handed out largest first
    // (every candidate covers the same output, so the imbalance orders them alike).
    const sizes = slices.map((s) => (s.batchEnd - s.batchStart) * (s.outChannelEnd - s.outChannelStart));
    const cost = lptImbalance(sizes, workers) + slices.length * 1e-9; // fewer tasks on a tie
    if (!best || cost < best.cost) best = { cost, slices };
  }
  return best!.slices;
}
