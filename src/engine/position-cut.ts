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
// Expansions keep the channel cut: their input is the small side, and the
// depthwise layer after them reads, channel by channel, the planes one runner
// wrote (claims from both ends, program-table.ts).
import type { ConvGeometry, ConvSlice } from '../conv/geometry.js';
import { runsOnNativePointwise, type KernelPlan } from '../kernels/plan/index.js';

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
 * boundaries on POSITION_RUN_ALIGN), or null where the channel cut stays: more
 * than one image (images are cut first), several runners, the native 1x1
 * kernel (the one that computes a run of positions), fewer output channels
 * than input channels, and at least MIN_POSITIONS_PER_RUNNER positions a
 * runner.
 */
export function positionCut(g: ConvGeometry, plan: KernelPlan, runners: number): ConvSlice[] | null {
  const plane = g.outHeight * g.outWidth;
  if (runners < 2 || g.batch !== 1 || g.outChannels >= g.inChannels || plane < runners * MIN_POSITIONS_PER_RUNNER) return null;
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
