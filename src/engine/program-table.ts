// What a program is on the wire, for both ends (program.ts on the main thread,
// program-runner.ts on the workers): the description written once into the
// arena when the program is built, and the run table each run writes into
// shared memory (buffer locations, the claim and done counters, task timings).
//
// A program's tensors are numbered *buffers*: the description names buffers,
// and each run says where they are, so one program serves every forward while
// each forward's activations live in memory of its own.
import type { RangedOp } from '../kernels/ranged/index.js';
import type { SpinBudget } from './barrier-spin.js';
import { waitAsync } from './wait-async.js';
import type { ArenaRef, TaskReport } from './protocol.js';
import { loadData, storeData, type StoredData } from './plan-codec.js';

/** One stage as the workers see it. Tasks are flattened: 4 numbers per conv slice, 2 per ranged range. */
export type StageDescription =
  | {
      kind: 'conv';
      planId: number;
      plan: ArenaRef;
      /** Weight and bias are the prepared layer's, fixed for the program's life. */
      weight: ArenaRef;
      bias: ArenaRef | null;
      input: number;
      output: number;
      /** Buffer added in the epilogue, or -1. */
      residual: number;
      /** Buffer of one scale per image and input channel the input is multiplied by as it is read (InputScale), or -1. */
      scale: number;
      /** Whether the scale was the Mul's first operand (whose NaN comes out when both are NaN). */
      scaleFirst: boolean;
      /** batchStart, batchEnd, outChannelStart, outChannelEnd per task. */
      slices: number[];
      /** positionStart, positionEnd per task where the stage is cut by positions (position-cut.ts); else whole planes. */
      positions?: number[];
    }
  | {
      kind: 'ranged';
      op: RangedOp;
      inputs: number[];
      outputs: number[];
      /** start, end per task. */
      ranges: number[];
    }
  | {
      /**
       * Stages run image by image with no barrier between them (program.ts,
       * chains): a task runs every member, in order, on its run of images. Each
       * member is described as one task over every image (a conv slice of all
       * images and channels, a ranged range of all units), which the runner
       * narrows to the task's images.
       */
      kind: 'chain';
      images: number;
      members: ChainMember[];
      /** imageStart, imageEnd per task. */
      runs: number[];
      /**
       * This stage continues the previous one, a segment of the same chain
       * (chains.ts, chainSegments): no barrier between them; its task i waits
       * only for the previous stage's task i (the same images), so a worker
       * that has run out of work there goes on here.
       */
      continues?: boolean;
    };

/** A stage inside a chain. */
export type ChainMember = Exclude<StageDescription, { kind: 'chain' }>;

export interface ProgramDescription {
  buffers: number;
  stages: StageDescription[];
}

export const tasksOf = (stage: StageDescription): number =>
  stage.kind === 'conv' ? stage.slices.length / 4 : stage.kind === 'ranged' ? stage.ranges.length / 2 : stage.runs.length / 2;

/** Main thread: writes `description` into a new arena block (released with the program). */
export const storeDescription = (description: ProgramDescription): StoredData => storeData(description);

/** Worker: reads back what storeDescription wrote. */
export const loadDescription = (ref: ArenaRef): ProgramDescription => loadData<ProgramDescription>(ref);

/**
 * Where a program's tasks are in the run table: stage s owns tasks [first[s], first[s] + count[s]).
 * A chain's tasks also note when each member ended: members[s] times per task, from memberTimeFirst[s].
 */
export interface TaskLayout {
  first: number[];
  count: number[];
  total: number;
  members: number[];
  memberTimeFirst: number[];
  memberTimes: number;
}

export function taskLayoutOf(description: ProgramDescription): TaskLayout {
  const count = description.stages.map(tasksOf);
  const members = description.stages.map((s) => (s.kind === 'chain' ? s.members.length : 0));
  const first: number[] = [];
  const memberTimeFirst: number[] = [];
  let total = 0;
  let memberTimes = 0;
  count.forEach((n, s) => {
    first.push(total);
    memberTimeFirst.push(memberTimes);
    total += n;
    memberTimes += n * members[s];
  });
  return { first, count, total, members, memberTimeFirst, memberTimes };
}

/**
 * How a runner with nothing to do sleeps until `ints[index]` moves from `value`: true once it may have
 * moved, false to give the wait back to its caller (which returns LEFT_WAITING). A worker sleeps in
 * Atomics.wait for as long as it takes; the calling thread (callingThread, program.ts) only for a while,
 * then waits on its event loop, where a worker's death is heard.
 */
export type Sleep = (ints: Int32Array, index: number, value: number) => boolean;

export const sleepUntilMoved: Sleep = (ints, index, value) => {
  Atomics.wait(ints, index, value);
  return true;
};

/** awaitStage's outcomes, and (LEFT_WAITING) claimReady's when its sleep gave the wait back. */
export const STAGE_COMPLETE = 1;
export const STAGE_CANCELLED = 0;
export const LEFT_WAITING = -2;

/**
 * One run of a program, in shared memory. Layout (Int32 words, then 8-byte aligned Float64 words):
 *   Int32  [0] cancel flag (non-zero: stop before the next task or image; where a TaskTable has it),
 *          [1] stages completed (-1 once cancelled, so a runner waiting at a barrier wakes),
 *          [2] chain tasks done (what a runner with no chain task ready waits on: claimReady),
 *          [3] run over (1 once the last stage is complete or the run cancelled: what the calling thread waits on, runOver),
 *          then per stage its next task to claim and its finished-task count,
 *          then per task the runner that claimed it (runner + 1; 0 = unclaimed),
 *          then per task the chain member it is running (0 outside chains), which names a failure's stage,
 *          then per task 1 once it is done and counted (what a chain segment's task for the same images waits for);
 *   Float64 per buffer its byte offset and length (floats), then per task start time, end time (0 until finished), threadId,
 *           then per chain task the end time of each member.
 * The barrier between stages: the runner that finishes a stage's last task
 * moves COMPLETED past it and notifies; the others spin briefly on COMPLETED,
 * then Atomics.wait on it.
 */
/**
 * The most tasks a stage claims from both ends: its claim word holds the tasks taken from the front in
 * its low 16 bits and from the back in the high ones. A stage with more (a 'group' partition of a
 * depthwise layer with tens of thousands of channels) is claimed from the front only.
 */
export const MAX_TWO_ENDED_TASKS = 0x7fff;

export class ProgramTable {
  private static readonly CANCEL = 0;
  private static readonly COMPLETED = 1;
  private static readonly CHAIN_DONE = 2;
  private static readonly RUN_OVER = 3;
  private static readonly HEADER = 4;

  readonly ints: Int32Array;
  readonly floats: Float64Array;

  constructor(
    buffer: ArrayBufferLike,
    byteOffset: number,
    private readonly stages: number,
    private readonly buffers: number,
    private readonly layout: TaskLayout,
  ) {
    this.ints = new Int32Array(buffer, byteOffset, ProgramTable.intWords(stages, layout.total));
    this.floats = new Float64Array(buffer, byteOffset + ProgramTable.floatsOffset(stages, layout.total), 2 * buffers + 3 * layout.total + layout.memberTimes);
  }

  static bytes(stages: number, buffers: number, layout: TaskLayout): number {
    return ProgramTable.floatsOffset(stages, layout.total) + (2 * buffers + 3 * layout.total + layout.memberTimes) * 8;
  }

  private static intWords(stages: number, tasks: number): number {
    return ProgramTable.HEADER + 2 * stages + 3 * tasks;
  }

  private static floatsOffset(stages: number, tasks: number): number {
    return Math.ceil((ProgramTable.intWords(stages, tasks) * 4) / 8) * 8;
  }

  setBuffer(index: number, data: Float32Array): void {
    this.floats[2 * index] = data.byteOffset;
    this.floats[2 * index + 1] = data.length;
  }

  buffer(index: number): ArenaRef {
    return { byteOffset: this.floats[2 * index], length: this.floats[2 * index + 1] };
  }

  cancelled(): boolean {
    return Atomics.load(this.ints, ProgramTable.CANCEL) !== 0;
  }

  /** Sets the cancel flag and wakes every runner waiting at a barrier (or, in the tests' faulty worker, on the flag). */
  cancel(): void {
    Atomics.store(this.ints, ProgramTable.CANCEL, 1);
    Atomics.store(this.ints, ProgramTable.COMPLETED, -1);
    Atomics.notify(this.ints, ProgramTable.COMPLETED);
    Atomics.notify(this.ints, ProgramTable.CANCEL);
    Atomics.notify(this.ints, ProgramTable.CHAIN_DONE);
    this.over();
  }

  private over(): void {
    Atomics.store(this.ints, ProgramTable.RUN_OVER, 1);
    Atomics.notify(this.ints, ProgramTable.RUN_OVER);
  }

  /**
   * Settles once the last stage is complete or the run cancelled (null if it is already). Why the main
   * thread waits on this word rather than only on its runners' reports: a runner asleep at the last
   * barrier reports only once it has woken, 0.1-0.3 ms after the run's last task here, and one word that
   * moves once a run wakes the main thread once (a notify to an async waiter costs the notifier a syscall).
   */
  runOver(): Promise<unknown> | null {
    const waited = waitAsync(this.ints, ProgramTable.RUN_OVER, 0);
    return waited.async ? waited.value : null;
  }

  completed(): number {
    return Atomics.load(this.ints, ProgramTable.COMPLETED);
  }

  /**
   * Claims a task of stage `stage` for `runner`: its index in the whole table, or -1 when every one is taken.
   * Even runners take tasks from the front, odd ones from the back, until the two meet. Why: a stage's
   * tasks are in channel order (or image order), so on two runners each keeps to one end of every
   * activation, stage after stage, and mostly reads lines its own core wrote. Here a line written by
   * the other core read 2.4-3.7x slower than one's own (docs/benchmarks.md, "Tasks claimed from both
   * ends"). A runner that is late or slow still just takes fewer tasks.
   */
  claim(stage: number, runner: number): number {
    const word = ProgramTable.HEADER + 2 * stage;
    const count = this.layout.count[stage];
    let local: number;
    if (count > MAX_TWO_ENDED_TASKS) {
      local = Atomics.add(this.ints, word, 1);
      if (local >= count) return -1;
    } else {
      const fromBack = (runner & 1) === 1;
      for (;;) {
        const claimed = Atomics.load(this.ints, word);
        const front = claimed & 0xffff;
        const back = claimed >>> 16;
        if (front + back >= count) return -1;
        if (Atomics.compareExchange(this.ints, word, claimed, claimed + (fromBack ? 0x10000 : 1)) !== claimed) continue;
        local = fromBack ? count - 1 - back : front;
        break;
      }
    }
    const task = this.layout.first[stage] + local;
    Atomics.store(this.ints, this.claimIndex(task), runner + 1);
    return task;
  }

  /**
   * After runStageTasks (native/addon.c) finished `stage`'s last task on this runner: wakes the runners at
   * its barrier as finishedOne does, and ends the run if `moved` (the call moved the completed stages word)
   * and it was the last stage. The native code cannot wake a thread in Atomics.wait itself.
   */
  finishedNatively(stage: number, moved: boolean): void {
    Atomics.notify(this.ints, ProgramTable.COMPLETED);
    if (moved && stage === this.stages - 1) this.over();
  }

  /** Byte offset of the tasks' times (start, end, thread: three doubles a task), after the buffers' pairs. */
  get timesByteOffset(): number {
    return this.floats.byteOffset + 2 * this.buffers * 8;
  }

  /** Counts a finished task of `stage`; the runner that finishes its last one opens the barrier. */
  finishedOne(stage: number): void {
    const done = Atomics.add(this.ints, ProgramTable.HEADER + 2 * stage + 1, 1) + 1;
    if (done === this.layout.count[stage]) {
      // Unless cancelled meanwhile (-1 stays -1).
      const before = Atomics.compareExchange(this.ints, ProgramTable.COMPLETED, stage, stage + 1);
      Atomics.notify(this.ints, ProgramTable.COMPLETED);
      if (before === stage && stage === this.stages - 1) this.over();
    }
  }

  /**
   * Waits until stage `stage` is complete, spinning as `budget` allows before sleeping as `sleep` does:
   * STAGE_COMPLETE, STAGE_CANCELLED, or LEFT_WAITING when `sleep` gave the wait back (see Sleep; call again
   * once `waiting` has moved).
   */
  awaitStage(stage: number, budget: SpinBudget, sleep: Sleep = sleepUntilMoved): number {
    for (;;) {
      const completed = Atomics.load(this.ints, ProgramTable.COMPLETED);
      if (completed < 0) return STAGE_CANCELLED;
      if (completed > stage) return STAGE_COMPLETE;
      if (budget.spin(() => Atomics.load(this.ints, ProgramTable.COMPLETED) !== completed)) continue;
      if (!sleep(this.ints, ProgramTable.COMPLETED, completed)) return this.leaveWaiting(ProgramTable.COMPLETED, completed);
    }
  }

  /** The word and value the last LEFT_WAITING was about: the caller waits until ints[index] is no longer value. */
  readonly waiting = { index: 0, value: 0 };

  private leaveWaiting(index: number, value: number): number {
    this.waiting.index = index;
    this.waiting.value = value;
    return LEFT_WAITING;
  }

  /**
   * Marks chain task `task` done, after finishedOne counted it: the next
   * segment's task for its images may then be claimed (claimReady), and it
   * is counted before, so the segment it continues completes first and
   * COMPLETED moves past both in order.
   */
  markDone(task: number): void {
    Atomics.store(this.ints, this.doneIndex(task), 1);
    Atomics.add(this.ints, ProgramTable.CHAIN_DONE, 1);
    Atomics.notify(this.ints, ProgramTable.CHAIN_DONE);
  }

  /**
   * Claims for `runner` a task of the chain whose segments are stages [from, to) (each with the same
   * runs of images) that is ready: unclaimed, and its images' task in the previous segment done. The
   * lowest segment first, so images move through the chain together as the workers come free. When
   * none is ready but some are unclaimed, waits (spinning as `budget` allows, then sleeping) until a
   * chain task is done. Returns the task, -1 when every task of the chain is claimed (or the run
   * was cancelled), or LEFT_WAITING when `sleep` gave the wait back (call again, with the same hint).
   *
   * Why not claim in order and wait for the previous segment's task (as before 2026-11-30): a worker
   * that claimed a task whose images another worker still holds waited for it; when that worker ran
   * slow (this machine's cores are shared with other tenants), the fast one stalled at every segment.
   * Claiming only what is ready keeps it on other images.
   */
  claimReady(from: number, to: number, runner: number, budget: SpinBudget, hint: { low: number }, sleep: Sleep = sleepUntilMoved): number {
    const { first, count } = this.layout;
    const runs = count[from];
    for (;;) {
      if (this.cancelled()) return -1;
      // Read before looking, so a task done while we look is not slept through.
      const seen = Atomics.load(this.ints, ProgramTable.CHAIN_DONE);
      let unclaimed = false;
      for (let s = Math.max(from, hint.low); s < to; s++) {
        let open = false;
        for (let r = 0; r < runs; r++) {
          const task = first[s] + r;
          const claim = this.claimIndex(task);
          if (Atomics.load(this.ints, claim) !== 0) continue;
          open = true;
          if (s > from && Atomics.load(this.ints, this.doneIndex(task - runs)) === 0) continue;
          if (Atomics.compareExchange(this.ints, claim, 0, runner + 1) === 0) return task;
        }
        if (open) unclaimed = true;
        else if (!unclaimed) hint.low = s + 1; // every task of segment s claimed, and of those before it
      }
      if (!unclaimed) return -1;
      if (budget.spin(() => Atomics.load(this.ints, ProgramTable.CHAIN_DONE) !== seen || this.cancelled())) continue;
      if (!sleep(this.ints, ProgramTable.CHAIN_DONE, seen)) return this.leaveWaiting(ProgramTable.CHAIN_DONE, seen);
    }
  }

  private doneIndex(task: number): number {
    return this.claimIndex(task) + 2 * this.layout.total;
  }

  claimedBy(task: number): number {
    return Atomics.load(this.ints, this.claimIndex(task)) - 1;
  }

  /** Notes that `task` (a chain's) now runs member `member`: written by its runner, read by the main thread once the runners have returned. */
  enterMember(task: number, member: number): void {
    this.ints[this.claimIndex(task) + this.layout.total] = member;
  }

  memberOf(task: number): number {
    return this.ints[this.claimIndex(task) + this.layout.total];
  }

  private claimIndex(task: number): number {
    return ProgramTable.HEADER + 2 * this.stages + task;
  }

  private timeIndex(task: number): number {
    return 2 * this.buffers + 3 * task;
  }

  started(task: number, time: number, threadId: number): void {
    this.floats[this.timeIndex(task)] = time;
    this.floats[this.timeIndex(task) + 2] = threadId;
  }

  finished(task: number, time: number): void {
    this.floats[this.timeIndex(task) + 1] = time;
  }

  private memberTimeIndex(stage: number, local: number, member: number): number {
    return 2 * this.buffers + 3 * this.layout.total + this.layout.memberTimeFirst[stage] + local * this.layout.members[stage] + member;
  }

  /** Task `local` of chain `stage` finished member `member` at `time`. */
  memberFinished(stage: number, local: number, member: number, time: number): void {
    this.floats[this.memberTimeIndex(stage, local, member)] = time;
  }

  memberEnd(stage: number, local: number, member: number): number {
    return this.floats[this.memberTimeIndex(stage, local, member)];
  }

  isFinished(task: number): boolean {
    return this.floats[this.timeIndex(task) + 1] !== 0;
  }

  report(task: number): TaskReport {
    const at = this.timeIndex(task);
    return { startTime: this.floats[at], endTime: this.floats[at + 1], threadId: this.floats[at + 2] };
  }
}
