// Where a program cuts a convolution by positions instead of output channels.
//
// At batch 1 a stage's tasks are slices of output channels, and a 1x1 layer's
// task reads its whole input whatever channels it computes. Where the layer has
// fewer outputs than inputs (an inverted residual block's projection, 144 -> 24
// at 56x56), that read is most of a task's time: cut in two by channels, each
// half took about what the whole layer took on one thread, and half of what it
// read was lines the other core had just written (docs/benchmarks.md, "Batch 1
// on an Intel host: projections cut by positions"). Cut by positions, each
// runner reads the input of its own positions only, once, and computes every
// output channel there, as onnxruntime's NCHWc pointwise kernel cuts a layer
// with one filter set by rows.
//
// A layer whose output a depthwise layer reads keeps the channel cut, unless
// it has fewer outputs than inputs: the depthwise layer reads, channel by
// channel, the planes one runner wrote (claims from both ends,
// program-table.ts), where after a cut by positions half of each plane would
// be the other core's. So an expansion (24 -> 144, then a depthwise 3x3) keeps
// it, and so does ShuffleNetV2's first 1x1 of a branch (58 -> 58); its second,
// which feeds the Concat and shuffle, is cut by positions.
import type { ConvGeometry, ConvSlice } from '../conv/geometry.js';
import { runsOnNativePointwise, type KernelPlan } from '../kernels/plan/index.js';

/** A stage as position-cut.ts sees it: the buffers it reads and writes, and a conv's geometry (null for other stages). */
export interface StageBuffers {
  reads: readonly number[];
  writes: readonly number[];
  geometry: ConvGeometry | null;
}

const isDepthwise = (g: ConvGeometry | null): boolean => g !== null && g.groups > 1 && g.groups === g.inChannels && g.groups === g.outChannels;

/** Whether a depthwise layer reads what stage `i` writes, before another stage overwrites it. */
export function feedsDepthwise(stages: readonly StageBuffers[], i: number): boolean {
  const written = new Set(stages[i].writes);
  for (let j = i + 1; j < stages.length && written.size > 0; j++) {
    const { reads, writes, geometry } = stages[j];
    if (isDepthwise(geometry) && reads.some((b) => written.has(b))) return true;
    for (const b of writes) written.delete(b);
  }
  return false;
}

/**
 * A run's boundary is a multiple of this many positions: a 16-float vector,
 * so that on planes of whole vectors two runners' writes do not share a line
 * and every tile but the plane's last is whole.
 */
export const POSITION_RUN_ALIGN = 16;

/** Fewer positions a runner than this keep the channel cut: on a 7x7 plane the input is small enough that the cut by channels scaled (1.0-1.1x busy time). */
export const MIN_POSITIONS_PER_RUNNER = 4 * POSITION_RUN_ALIGN;

/**
 * The tasks of `g` cut by positions for `runners` runners (one run each,
 * boundaries on POSITION_RUN_ALIGN), or null where the channel cut stays. Cut
 * by positions: one image (more are cut by images first), several runners,
 * the native 1x1 kernel (the one that computes a run of positions), at least
 * MIN_POSITIONS_PER_RUNNER positions a runner, and fewer output channels than
 * input channels or no depthwise layer reading the output (`feedsDepthwise`).
 */
export function positionCut(g: ConvGeometry, plan: KernelPlan, runners: number, feedsDepthwise: boolean): ConvSlice[] | null {
  const plane = g.outHeight * g.outWidth;
  if (runners < 2 || g.batch !== 1 || plane < runners * MIN_POSITIONS_PER_RUNNER) return null;
  if (feedsDepthwise && g.outChannels >= g.inChannels) return null;
  if (!runsOnNativePointwise(plan)) return null;
  const slices: ConvSlice[] = [];
  let start = 0;
  for (let r = 1; r <= runners; r++) {
    const end = r === runners ? plane : Math.round((r * plane) / runners / POSITION_RUN_ALIGN) * POSITION_RUN_ALIGN;
    slices.push({ batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: g.outChannels, positionStart: start, positionEnd: end });
    start = end;
  }
  return slices;
}
