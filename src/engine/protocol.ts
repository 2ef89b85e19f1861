// The messages between the engine (main thread) and its workers. Tensors never
// travel: they live in the shared arena and messages carry only where they are
// (byte offsets and lengths). A call's tasks do not travel either: the call
// writes its task table (one slice per task) into shared memory and hands one
// "runner" message per worker to the workers' parked runners (doorbell.ts);
// each runner claims tasks from the table with an atomic counter until none is
// left, recording each task's timing in the table. So a call costs
// min(workers, tasks) hand-offs, not one per task.
import type { ConvSlice } from '../conv/geometry.js';

/** A block of the shared arena: byte offset and length in elements (floats, or bytes for the plan). */
export interface ArenaRef {
  byteOffset: number;
  length: number;
}

/** Where an array of the arena is, as messages carry it. */
export const refOf = (data: Float32Array): ArenaRef => ({ byteOffset: data.byteOffset, length: data.length });

/** One runner of a call: claims and computes the call's tasks until none is left or the call is cancelled. */
export interface ConvRunMessage {
  kind: 'conv';
  /** Unique id of the kernel plan; workers cache decoded plans by it. */
  planId: number;
  /** The plan's bytes in the arena (written by storePlan, read by loadPlan: plan-codec.ts), decoded once per worker per plan. */
  plan: ArenaRef;
  input: ArenaRef;
  weight: ArenaRef;
  bias: ArenaRef | null;
  output: ArenaRef;
  /** The call's residual (added in the kernels' epilogue), or none. */
  residual: ArenaRef | null;
  /** This runner's scratch, large enough for any task of the call. */
  scratch: ArenaRef;
  /** Byte offset of the call's task table (see TaskTable); its first Int32 is the cancel flag. */
  table: number;
  /** Tasks in the table. */
  tasks: number;
  /** This runner's number in the call (0-based): recorded against each task it claims. */
  runner: number;
}

/** One runner of a program run (program.ts): goes through the program's stages, claiming each stage's tasks from the run's table. */
export interface ProgramRunMessage {
  kind: 'program';
  /** Unique id of the program; workers cache its decoded description by it. */
  programId: number;
  /** The description's bytes in the arena (program-table.ts), decoded once per worker per program. */
  program: ArenaRef;
  /** This runner's scratch, large enough for any conv stage's task. */
  scratch: ArenaRef;
  /** Byte offset of the run's table (ProgramTable); its first Int32 is the cancel flag, as in a TaskTable. */
  table: number;
  runner: number;
  /** After the run, how long a parked worker polls its doorbell before it blocks (doorbell.ts, PARK_POLL_MS); 0: it blocks at once. */
  pollMs: number;
  /**
   * Whether runs of convolution stages go to the native kernels in one call each (native-stages.ts): this
   * runner is the run's only one. Otherwise each stage's share goes in one call (runStageTasks).
   */
  nativeRuns: boolean;
  /** Whether the run is profiled: the native calls then time each task, as the runner's own path does. */
  profiled: boolean;
}

interface PingMessage {
  kind: 'ping';
}

export type WorkerMessage = ConvRunMessage | ProgramRunMessage | PingMessage;

/**
 * Called before each convolution task a runner claims (an engine call's, or a
 * program's conv stage's, described as the call it stands for), with the task's
 * slice: lets a custom worker entry (the tests' fault injection) act per task.
 */
export type BeforeTask = (message: ConvRunMessage, slice: ConvSlice) => void;

/** What a runner (or a ping) reports back. Times are absolute (performance.timeOrigin + performance.now()), in ms. */
export interface RunnerReport {
  threadId: number;
  /** Tasks this runner computed. */
  tasks: number;
}

/** One task's timing as read back from the task table. */
export interface TaskReport {
  threadId: number;
  startTime: number;
  endTime: number;
}

/** A timestamp comparable across threads: each thread's performance.now() counts from its own origin. */
export function absoluteNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A call's task table in shared memory, read and written by the main thread and
 * every runner. Layout (Int32 words, then 8-byte aligned Float64 words):
 *   Int32  [0] cancel flag (non-zero: stop before the next image), [1] next task to claim,
 *          then per task its slice (batchStart, batchEnd, outChannelStart, outChannelEnd),
 *          then per task the runner that claimed it (runner + 1; 0 = unclaimed);
 *   Float64 per task: start time, end time (0 until it finished), threadId.
 */
export class TaskTable {
  private static readonly CANCEL = 0;
  private static readonly NEXT = 1;
  private static readonly HEADER = 2;

  readonly ints: Int32Array;
  readonly times: Float64Array;

  constructor(buffer: ArrayBufferLike, byteOffset: number, readonly tasks: number) {
    this.ints = new Int32Array(buffer, byteOffset, TaskTable.intWords(tasks));
    this.times = new Float64Array(buffer, byteOffset + TaskTable.timesOffset(tasks), 3 * tasks);
  }

  /** Bytes a table of `tasks` tasks takes. */
  static bytes(tasks: number): number {
    return TaskTable.timesOffset(tasks) + 3 * tasks * 8;
  }

  private static intWords(tasks: number): number {
    return TaskTable.HEADER + 5 * tasks;
  }

  private static timesOffset(tasks: number): number {
    return Math.ceil((TaskTable.intWords(tasks) * 4) / 8) * 8;
  }

  setSlice(task: number, s: ConvSlice): void {
    const at = TaskTable.HEADER + 4 * task;
    this.ints[at] = s.batchStart;
    this.ints[at + 1] = s.batchEnd;
    this.ints[at + 2] = s.outChannelStart;
    this.ints[at + 3] = s.outChannelEnd;
  }

  slice(task: number): ConvSlice {
    const at = TaskTable.HEADER + 4 * task;
    const i = this.ints;
    return { batchStart: i[at], batchEnd: i[at + 1], outChannelStart: i[at + 2], outChannelEnd: i[at + 3] };
  }

  cancelled(): boolean {
    return Atomics.load(this.ints, TaskTable.CANCEL) !== 0;
  }

  /** Sets the cancel flag and wakes anything waiting on it. */
  cancel(): void {
    Atomics.store(this.ints, TaskTable.CANCEL, 1);
    Atomics.notify(this.ints, TaskTable.CANCEL);
  }

  /** Claims the next task for `runner`: its index, or -1 when every task is taken. */
  claim(runner: number): number {
    const task = Atomics.add(this.ints, TaskTable.NEXT, 1);
    if (task >= this.tasks) return -1;
    Atomics.store(this.ints, TaskTable.HEADER + 4 * this.tasks + task, runner + 1);
    return task;
  }

  /** The runner that claimed `task`, or -1. */
  claimedBy(task: number): number {
    return Atomics.load(this.ints, TaskTable.HEADER + 4 * this.tasks + task) - 1;
  }

  started(task: number, time: number, threadId: number): void {
    this.times[3 * task] = time;
    this.times[3 * task + 2] = threadId;
  }

  finished(task: number, time: number): void {
    this.times[3 * task + 1] = time;
  }

  isFinished(task: number): boolean {
    return this.times[3 * task + 1] !== 0;
  }

  report(task: number): TaskReport {
    return { startTime: this.times[3 * task], endTime: this.times[3 * task + 1], threadId: this.times[3 * task + 2] };
  }
}
