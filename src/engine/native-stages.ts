// A program's runs of convolution stages in one native call each, where one
// runner computes the whole run (the one-runner way, an engine of one worker);
// and, where a run is cut for several runners, each runner's share of a stage
// in one native call (runStageTasks: it claims a task, then runs that task's
// record); and a chain task's runs of such members in one call each
// (nativeChainOf: the members' records narrowed to the task's images, a
// Concat's or channel shuffle's as one record a copy). A
// profiled run takes the same calls, which then time each task
// (nativeClockOffset): a profile measures the code an unprofiled run runs.
//
// Between two kernels a task spent about 4 us in JavaScript at batch 1 (claim,
// start time, the slice, runPlan's checks and operands, the end time, the
// barrier), not for what that code does (0.8 us warm) but because the kernel
// before it had pushed its code and objects out of the cache: 0.5-0.6 ms of
// efficientnet_b0's 9-ms forward on one thread (docs/benchmarks.md, "A
// forward's JavaScript between its kernels"). Here each such task is a record
// of the arguments runPlan would pass the native kernel (native/addon.c,
// runStages), made once per program and thread, and a run of consecutive
// convolution stages is one call: the same kernels with the same arguments, so
// the same bits. A global average pool (squeeze-and-excitation's, between a
// block's convolutions) joins the run as its ranged kernel's native call, and so
// does a fully connected layer (a classifier's Gemm, after its pool); other
// ranged stages, and convolutions the native kernels do not take, stay on the
// runner's own path.
import { nativeKernels } from '../kernels/native/index.js';
import { nativeKernelOf, type NativeKind } from '../kernels/plan/index.js';
import { activationCode, NO_ACTIVATION } from '../kernels/epilogue.js';
import { nativeLinearKernels } from '../kernels/linear.js';
import { isCopyOp, layoutCopies } from '../kernels/ranged/layout.js';
import { gemmColumns } from '../kernels/ranged/linear.js';
import type { ChainMember, ProgramDescription, StageDescription } from './program-table.js';
import { absoluteNow } from './protocol.js';
import { planOf } from './slice-runner.js';

/** Doubles a task's record holds (native/addon.c's STAGE_RECORD). */
export const STAGE_RECORD = 32;

const KINDS: Record<NativeKind, number> = { pointwise: 1, depthwise: 2, depthwiseAcrossChannels: 3, dense: 4 };
const GLOBAL_AVERAGE = 5;
const LINEAR = 6;
const COPY = 7;

/** A run of consecutive stages [from, to) whose every task has a record, in task order. */
export interface NativeRun {
  from: number;
  to: number;
  records: Float64Array;
  tasks: number;
  /** A profiled run's task times from runStages (start, end a task), made at the first. */
  times?: Float64Array;
}

let clockOffset: number | null = null;

/**
 * What to add to the native kernels' now() to get this thread's absoluteNow() (protocol.ts), measured once
 * per thread: the two read the same monotonic clock from different origins. Of a few tries, the one whose
 * two absoluteNow() reads around now() were closest, taken at their midpoint.
 */
export function nativeClockOffset(): number {
  if (clockOffset !== null) return clockOffset;
  const native = nativeKernels()!;
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const before = absoluteNow();
    const now = native.now();
    const after = absoluteNow();
    if (after - before < best) {
      best = after - before;
      offset = (before + after) / 2 - now;
    }
  }
  clockOffset = offset;
  return offset;
}

/**
 * The description's runs of native stages, by first stage. A stage joins a run when it is a conv stage
 * whose plan runs on a native kernel here (nativeKernelOf), or a global average pool where the native
 * kernels run; its tasks' records follow its slices (and runs of positions) or ranges as runTask reads them.
 */
export function nativeRunsOf(description: ProgramDescription): Map<number, NativeRun> {
  const runs = new Map<number, NativeRun>();
  const perStage = recordsByStage(description);
  for (let from = 0; from < perStage.length; ) {
    if (perStage[from] === null) {
      from++;
      continue;
    }
    let to = from;
    while (to < perStage.length && perStage[to] !== null) to++;
    const tasks = perStage.slice(from, to).flatMap((r) => r!);
    runs.set(from, { from, to, records: packed(tasks), tasks: tasks.length });
    from = to;
  }
  return runs;
}

/**
 * Each stage's tasks' records, for a runner that shares the stage with others (runStageTasks: it claims a
 * task, then runs that task's record), or null where the stage does not run natively.
 */
export function nativeStagesOf(description: ProgramDescription): Array<Float64Array | null> {
  return recordsByStage(description).map((records) => (records === null ? null : packed(records)));
}

function packed(tasks: readonly number[][]): Float64Array {
  const records = new Float64Array(tasks.length * STAGE_RECORD);
  tasks.forEach((r, i) => records.set(r, i * STAGE_RECORD));
  return records;
}

/** Each stage's tasks' records (see the header), or null where the stage stays on the runner's own path. */
function recordsByStage(description: ProgramDescription): Array<number[][] | null> {
  return description.stages.map((stage): number[][] | null => {
    if (stage.kind === 'chain' || !hasRecords(stage)) return null;
    const records: number[][] = [];
    if (stage.kind === 'ranged') {
      for (let t = 0; t < stage.ranges.length / 2; t++) records.push(rangedRecord(stage, stage.ranges[2 * t], stage.ranges[2 * t + 1]));
      return records;
    }
    for (let t = 0; t < stage.slices.length / 4; t++) {
      const [b0, b1, c0, c1] = stage.slices.slice(4 * t, 4 * t + 4);
      const q0 = stage.positions ? stage.positions[2 * t] : 0;
      const q1 = stage.positions ? stage.positions[2 * t + 1] : wholePlane(stage);
      records.push(convRecord(stage, b0, b1, c0, c1, q0, q1));
    }
    return records;
  });
}

/**
 * A chain's records (program-table.ts: each member over every image): per task the records of its images'
 * part of every member, in member order, a member's from `starts[task][m]` to `starts[task][m + 1]` (a
 * convolution's, a pool's or a Gemm's one, a Concat's or a channel shuffle's one a copy); `native[m]` says
 * which members have them (the others go the runner's own way, between native calls). Null where no member
 * has one.
 */
export interface NativeChain {
  native: boolean[];
  /** Per task, its members' records, STAGE_RECORD doubles each. */
  records: Float64Array[];
  /** Per task, each member's first record, then the record count. */
  starts: Int32Array[];
  /** A profiled run's record times from runStages (start, end a record), made at the first. */
  times?: Float64Array;
}

export function nativeChainOf(chain: Extract<StageDescription, { kind: 'chain' }>): NativeChain | null {
  const native = chain.members.map((member) => hasRecords(member) || copiesAsRecords(member));
  if (!native.some(Boolean)) return null;
  const records: Float64Array[] = [];
  const starts: Int32Array[] = [];
  for (let t = 0; t < chain.runs.length / 2; t++) {
    const [first, last] = [chain.runs[2 * t], chain.runs[2 * t + 1]];
    const task: number[][] = [];
    const start = new Int32Array(chain.members.length + 1);
    chain.members.forEach((member, m) => {
      start[m] = task.length;
      if (!native[m]) return;
      // The member narrowed to the task's images, as the runner's chain loop narrows it.
      if (member.kind === 'conv') {
        task.push(convRecord(member, first, last, 0, member.slices[3], 0, wholePlane(member)));
        return;
      }
      const [u0, u1] = [(first * member.ranges[1]) / chain.images, (last * member.ranges[1]) / chain.images];
      if (copiesAsRecords(member)) task.push(...copyRecords(member, u0, u1));
      else task.push(rangedRecord(member, u0, u1));
    });
    start[chain.members.length] = task.length;
    records.push(packed(task));
    starts.push(start);
  }
  return { native, records, starts };
}

/** Whether `stage` is a Concat, Split / Slice or channel shuffle whose copies the native kernels make here (ranged/layout.ts, layoutCopies). */
const copiesAsRecords = (stage: ChainMember): boolean => stage.kind === 'ranged' && isCopyOp(stage.op) && nativeKernels() !== null;

/** A Concat's, Split's or channel shuffle's units [start, end) as one record a copy. */
function copyRecords(stage: RangedMember, start: number, end: number): number[][] {
  return layoutCopies(stage.op, start, end)!.map(([input, output, from, to, count, length, fromStride, toStride]) => [
    COPY, stage.inputs[input], stage.outputs[output], -1, -1, 0, 0, -1, 0, 0, 0, from, to, count, length, fromStride, toStride,
  ]);
}

type ConvMember = Extract<ChainMember, { kind: 'conv' }>;
type RangedMember = Extract<ChainMember, { kind: 'ranged' }>;

const wholePlane = (stage: ConvMember): number => {
  const g = planOf(stage.planId, stage.plan).geometry;
  return g.outHeight * g.outWidth;
};

/** Whether the native calls compute `stage`'s tasks: a conv whose plan runs on a native kernel here, a global average pool or a Gemm where those run. */
function hasRecords(stage: ChainMember): boolean {
  if (stage.kind === 'ranged') {
    if (stage.op.kernel === 'globalAveragePool') return nativeKernels() !== null;
    if (stage.op.kernel === 'gemm') return nativeLinearKernels() !== null;
    return false;
  }
  const plan = planOf(stage.planId, stage.plan);
  return nativeKernelOf(plan) !== null && plan.packed !== null;
}

/** A ranged stage's record for units [start, end): a global average pool's planes, or a Gemm's blocks of output columns. */
function rangedRecord(stage: RangedMember, start: number, end: number): number[] {
  if (stage.op.kernel === 'globalAveragePool') {
    // The ranged kernel's own call (ranged/pool.ts: globalAveragePlanesSimd, program buffers being the arena's).
    return [GLOBAL_AVERAGE, stage.inputs[0], stage.outputs[0], -1, -1, 0, 0, -1, 0, 0, 0, start, end, stage.op.params.plane as number];
  }
  // The ranged Gemm's own call where it takes the native kernel (kernels/linear.ts, linearColumns).
  const { rows, inFeatures, outFeatures, bias } = stage.op.params as Record<string, number>;
  const [o0, o1] = gemmColumns(outFeatures, start, end);
  return [LINEAR, stage.inputs[0], stage.outputs[0], stage.inputs[1], bias === 1 ? stage.inputs[2] : -1, 0, 0, -1, 0, 0, 0, rows, inFeatures, outFeatures, o0, o1];
}

/** A conv stage's record for images [b0, b1), output channels [c0, c1) and positions [q0, q1): runPlan's arguments. */
function convRecord(stage: ConvMember, b0: number, b1: number, c0: number, c1: number, q0: number, q1: number): number[] {
  const plan = planOf(stage.planId, stage.plan);
  const kind = nativeKernelOf(plan)!;
  const g = plan.geometry;
  const { code, min, max } = activationCode(plan.activation ?? NO_ACTIVATION);
  // An empty slice (a stage of no outputs) runs nothing, as runPlan does.
  const empty = b1 <= b0 || c1 <= c0 || q1 <= q0;
  return [
    KINDS[kind], stage.input, stage.output, stage.residual, stage.scale ?? -1, stage.scaleFirst ? 1 : 0,
    plan.packed!.byteOffset, stage.bias ? stage.bias.byteOffset : -1, code, min, max,
    empty ? 0 : b0, empty ? 0 : b1, c0, c1, q0, q1,
    g.inChannels, g.outChannels, g.groups, g.inHeight, g.inWidth, g.kernelHeight, g.strideH, g.padTop, g.padLeft, g.outHeight, g.outWidth,
  ];
}
