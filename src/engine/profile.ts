// Where the time of one engine call went: per task (which groups, which slice,
// which thread, how long it queued and computed) and per call (wall time,
// dispatch overhead, load imbalance, time per group). Times are milliseconds;
// startMs/endMs count from the start of the call, so a per-thread timeline
// (Gantt chart) can be drawn straight from them.
import type { ConvGeometry } from '../conv/geometry.js';
import type { PartitionPolicy, ConvTask } from '../scheduler/conv-tasks.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TaskReport } from './protocol.js';

export interface TaskProfile {
  /** Position of the task in the call's partition. */
  task: number;
  /** Groups [groupStart, groupEnd) the task's output channels belong to. */
  groupStart: number;
  groupEnd: number;
  /** The task's slice of the output: output channels [outChannelStart, outChannelEnd) of images [batchStart, batchEnd). */
  outChannelStart: number;
  outChannelEnd: number;
  batchStart: number;
  batchEnd: number;
  /** Multiply-accumulates the task computed. */
  macs: number;
  /** worker_threads threadId of the worker that ran it. */
  threadId: number;
  /** From the call handing the task to the pool to the worker starting it. */
  queueWaitMs: number;
  /** Time the worker spent on the task. */
  computeMs: number;
  /** Start and end of the computation, relative to the start of the call. */
  startMs: number;
  endMs: number;
}

export interface ThreadProfile {
  threadId: number;
  /** Sum of computeMs of the tasks this thread ran in the call. */
  busyMs: number;
  tasks: number;
}

export interface ConvProfile {
  policy: PartitionPolicy;
  /** Workers in the engine's pool. */
  workers: number;
  groups: number;
  /** FLOPs of the convolution (2 x multiply-accumulates). */
  flops: number;
  /** From the call to its result. */
  wallMs: number;
  /** Main-thread preparation before the first task was handed to the pool (input copy, output allocation, plan). */
  setupMs: number;
  /** wallMs minus the busiest worker's busy time: what running on workers cost over the computation itself. */
  dispatchOverheadMs: number;
  /** The busiest worker's busy time over the mean over all the pool's workers (1 = perfectly balanced; idle workers count as 0). */
  imbalance: number;
  /** Compute time spent on each group (a task's time is shared among its groups by output channels): length `groups`. */
  perGroupMs: number[];
  /** Busy time per thread that ran tasks of this call. */
  threads: ThreadProfile[];
  tasks: TaskProfile[];
}

/** What a call run with `profile: true` resolves to. */
export interface ProfiledResult {
  output: Tensor;
  profile: ConvProfile;
}

/** Task timings as seen from the main thread. */
export interface TaskTiming {
  task: ConvTask;
  /** Absolute time the task was handed to the pool. */
  submitTime: number;
  report: TaskReport;
}

export function buildProfile(
  g: ConvGeometry,
  policy: PartitionPolicy,
  workers: number,
  callStart: number,
  firstDispatch: number,
  callEnd: number,
  timings: readonly TaskTiming[],
): ConvProfile {
  const tasks: TaskProfile[] = timings.map(({ task, submitTime, report }) => ({
    task: task.index,
    groupStart: task.groupStart,
    groupEnd: task.groupEnd,
    outChannelStart: task.outChannelStart,
    outChannelEnd: task.outChannelEnd,
    batchStart: task.batchStart,
    batchEnd: task.batchEnd,
    macs: task.macs,
    threadId: report.threadId,
    queueWaitMs: Math.max(0, report.startTime - submitTime),
    computeMs: report.endTime - report.startTime,
    startMs: report.startTime - callStart,
    endMs: report.endTime - callStart,
  }));

  const byThread = new Map<number, ThreadProfile>();
  for (const t of tasks) {
    const entry = byThread.get(t.threadId) ?? { threadId: t.threadId, busyMs: 0, tasks: 0 };
    entry.busyMs += t.computeMs;
    entry.tasks += 1;
    byThread.set(t.threadId, entry);
  }
  const threads = [...byThread.values()].sort((a, b) => a.threadId - b.threadId);
  const maxBusy = threads.reduce((m, t) => Math.max(m, t.busyMs), 0);
  const totalBusy = threads.reduce((s, t) => s + t.busyMs, 0);

  const perGroupMs = new Array<number>(g.groups).fill(0);
  const perGroup = g.outChannelsPerGroup;
  for (const t of tasks) {
    const channels = t.outChannelEnd - t.outChannelStart;
    for (let group = t.groupStart; group < t.groupEnd; group++) {
      const overlap = Math.min(t.outChannelEnd, (group + 1) * perGroup) - Math.max(t.outChannelStart, group * perGroup);
      perGroupMs[group] += (t.computeMs * overlap) / channels;
    }
  }

  const wallMs = callEnd - callStart;
  return {
    policy,
    workers,
    groups: g.groups,
    flops: 2 * timings.reduce((s, t) => s + t.task.macs, 0),
    wallMs,
    setupMs: firstDispatch - callStart,
    dispatchOverheadMs: wallMs - maxBusy,
    imbalance: totalBusy > 0 ? maxBusy / (totalBusy / workers) : 1,
    perGroupMs,
    threads,
    tasks,
  };
}
