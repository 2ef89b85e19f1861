// A program's runner, on a worker (or on the calling thread: callingThread,
// program.ts): goes through the program's stages in order, claiming each
// stage's tasks from the run's table, and waits at a barrier (program-table.ts)
// until the stage's last task is done before the next stage. So N layers cost
// the main thread one hand-off per worker, not N.
// Conv stages compute through slice-runner.ts (an engine call's own code),
// ranged stages through runRanged: the same kernels as the calling thread.
import { threadId } from 'node:worker_threads';
import { runRanged } from '../kernels/ranged/index.js';
import { withThreadScratch } from '../kernels/thread-scratch.js';
import { SpinBudget } from './barrier-spin.js';
import { arenaView, sharedArena } from '../memory/arena.js';
import type { ConvSlice } from '../conv/geometry.js';
import { LEFT_WAITING, loadDescription, ProgramTable, sleepUntilMoved, STAGE_CANCELLED, taskLayoutOf, tasksOf, type ChainMember, type ProgramDescription, type Sleep, type StageDescription, type TaskLayout } from './program-table.js';
import { absoluteNow, type BeforeTask, type ConvRunMessage, type ProgramRunMessage, type RunnerReport } from './protocol.js';
import { planOf, runSlice, viewOf, type RunContext } from './slice-runner.js';
import { waitAsync } from './wait-async.js';
import { nativeChainOf, nativeClockOffset, nativeRunsOf, nativeStagesOf, STAGE_RECORD, type NativeChain, type NativeRun } from './native-stages.js';
import { arenaMemoryView, nativeKernels } from '../kernels/native/index.js';

/** This thread's barrier spin budget, learnt over every run it takes part in (barrier-spin.ts). */
const spinBudget = new SpinBudget();

/** What runStageTasks reports (native/addon.c): tasks run, finished the last, a task claimed and not run, moved the word. */
const stageResult = new Int32Array(4);

interface Decoded {
  description: ProgramDescription;
  layout: TaskLayout;
  /** Its runs of native convolution stages (native-stages.ts), made at the first run that may take them. */
  nativeRuns?: Map<number, NativeRun>;
  /** Each stage's tasks' records for runStageTasks (native-stages.ts), made at the first cut run that may take them. */
  nativeStages?: Array<Float64Array | null>;
  /** Each chain stage's members' records per task (native-stages.ts), made at the first run that may take them. */
  nativeChains?: Array<NativeChain | null>;
}

/** Decoded descriptions by program id (never reused); the cap bounds memory over one-shot programs. */
const programs = new Map<number, Decoded>();
const PROGRAM_CACHE_SIZE = 32;

function programOf(message: ProgramRunMessage): Decoded {
  let decoded = programs.get(message.programId);
  if (decoded) {
    programs.delete(message.programId);
  } else {
    const description = loadDescription(message.program);
    decoded = { description, layout: taskLayoutOf(description) };
    if (programs.size >= PROGRAM_CACHE_SIZE) programs.delete(programs.keys().next().value!);
  }
  programs.set(message.programId, decoded);
  return decoded;
}

const bufferView = (table: ProgramTable, index: number): Float32Array => {
  const { byteOffset, length } = table.buffer(index);
  return arenaView(byteOffset, length);
};

/** What the tests' fault hook sees of a conv stage: the engine call it stands for. */
function convMessageOf(stage: ConvStage, table: ProgramTable, message: ProgramRunMessage): ConvRunMessage {
  return {
    kind: 'conv',
    planId: stage.planId,
    plan: stage.plan,
    input: table.buffer(stage.input),
    weight: stage.weight,
    bias: stage.bias,
    output: table.buffer(stage.output),
    residual: stage.residual < 0 ? null : table.buffer(stage.residual),
    scratch: message.scratch,
    table: message.table,
    tasks: tasksOf(stage),
    runner: message.runner,
  };
}

type ConvStage = Extract<ChainMember, { kind: 'conv' }>;
type RangedStage = Extract<ChainMember, { kind: 'ranged' }>;

/** A stage's tensors as arena views, resolved once per run by each runner (not per task). */
type Resolved = { kind: 'conv'; context: RunContext } | { kind: 'ranged'; inputs: Float32Array[]; outputs: Float32Array[] };

/**
 * A stage's views kept on the (decoded, cached) stage itself from this thread's last run: a forward's
 * buffers are the same block run after run, and making every view again (a Float32Array per tensor, the
 * plan's cache refreshed) was most of a batch-1 forward's time between its kernels. `key` is what they were
 * made from, the arena's memory and each buffer's place; `run` the run that last checked it.
 */
interface KeptViews {
  key: number[];
  memory: ArrayBufferLike;
  run: number;
  resolved: Resolved;
}
const KEPT = Symbol('views from the last run');
type WithKept = ChainMember & { [KEPT]?: KeptViews };

let lastRunId = 0;

/** One runner's state for one run: the table, and each stage's views once resolved. */
class RunnerRun {
  private scratchView: Float32Array | null = null;
  private readonly id = ++lastRunId;
  /** Where chain tasks' members go to the native kernels: the chain stages' records, and the clock's offset in a profiled run. */
  nativeChains: { chains: Array<NativeChain | null>; clock: number | null } | null = null;

  constructor(
    readonly table: ProgramTable,
    readonly message: ProgramRunMessage,
    private readonly beforeTask?: BeforeTask,
  ) {}

  private resolve(stage: ChainMember): Resolved {
    const kept = (stage as WithKept)[KEPT];
    if (kept?.run === this.id) return kept.resolved;
    const key = this.keyOf(stage);
    const memory = sharedArena().buffer;
    if (kept && kept.memory === memory && sameKey(kept.key, key)) {
      kept.run = this.id;
      return kept.resolved;
    }
    const resolved = this.make(stage);
    (stage as WithKept)[KEPT] = { key, memory, run: this.id, resolved };
    return resolved;
  }

  /** The places the stage's views are made from: its buffers' (offset, length) in this run's table, and the scratch's. */
  private keyOf(stage: ChainMember): number[] {
    // No closure here: run from the sources (tsx), each one made costs a call to esbuild's __name.
    const key: number[] = [this.message.scratch.byteOffset, this.message.scratch.length];
    if (stage.kind === 'conv') {
      this.addPlace(key, stage.input);
      this.addPlace(key, stage.output);
      if (stage.residual >= 0) this.addPlace(key, stage.residual);
      if (stage.scale >= 0) this.addPlace(key, stage.scale);
    } else {
      for (const b of stage.inputs) this.addPlace(key, b);
      for (const b of stage.outputs) this.addPlace(key, b);
    }
    return key;
  }

  private addPlace(key: number[], buffer: number): void {
    const { byteOffset, length } = this.table.buffer(buffer);
    key.push(byteOffset, length);
  }

  private make(stage: ChainMember): Resolved {
    const { table } = this;
    if (stage.kind === 'conv') {
      this.scratchView ??= viewOf(this.message.scratch)!;
      const context: RunContext = {
        plan: planOf(stage.planId, stage.plan),
        input: bufferView(table, stage.input),
        weight: viewOf(stage.weight)!,
        bias: viewOf(stage.bias),
        output: bufferView(table, stage.output),
        residual: stage.residual < 0 ? null : bufferView(table, stage.residual),
        scale: stage.scale < 0 ? null : { data: bufferView(table, stage.scale), first: stage.scaleFirst },
        scratch: this.scratchView,
      };
      return { kind: 'conv', context };
    }
    return { kind: 'ranged', inputs: stage.inputs.map((b) => bufferView(table, b)), outputs: stage.outputs.map((b) => bufferView(table, b)) };
  }

  conv(stage: ConvStage, slice: ConvSlice): void {
    this.beforeTask?.(convMessageOf(stage, this.table, this.message), slice);
    runSlice((this.resolve(stage) as Extract<Resolved, { kind: 'conv' }>).context, this.table, slice);
  }

  ranged(stage: RangedStage, start: number, end: number): void {
    const { inputs, outputs } = this.resolve(stage) as Extract<Resolved, { kind: 'ranged' }>;
    if (!stage.op.scratchFloats) return runRanged(stage.op, inputs, outputs, start, end);
    this.scratchView ??= viewOf(this.message.scratch)!;
    withThreadScratch(this.scratchView, () => runRanged(stage.op, inputs, outputs, start, end));
  }
}

function sameKey(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs task `local` (its index within the stage; `task` in the whole table) of `stage`. */
function runTask(run: RunnerRun, stage: StageDescription, s: number, local: number, task: number): void {
  if (stage.kind === 'conv') {
    const { slices, positions } = stage;
    const slice: ConvSlice = { batchStart: slices[4 * local], batchEnd: slices[4 * local + 1], outChannelStart: slices[4 * local + 2], outChannelEnd: slices[4 * local + 3] };
    if (positions) {
      slice.positionStart = positions[2 * local];
      slice.positionEnd = positions[2 * local + 1];
    }
    run.conv(stage, slice);
  } else if (stage.kind === 'ranged') {
    run.ranged(stage, stage.ranges[2 * local], stage.ranges[2 * local + 1]);
  } else {
    runChainTask(run, stage, s, local, task);
  }
}

/**
 * Every member of a chain on the task's images: each member's slice or
 * units for those images only, in order. The chain's members read and write
 * only their own images' parts of the buffers (chains.ts; checked per run), so what
 * this task reads was written by this task, earlier.
 */
function runChainTask(run: RunnerRun, chain: Extract<StageDescription, { kind: 'chain' }>, s: number, local: number, task: number): void {
  const { members, images } = chain;
  const first = chain.runs[2 * local];
  const last = chain.runs[2 * local + 1];
  const native = run.nativeChains?.chains[s] ?? null;
  for (let m = 0; m < members.length; m++) {
    if (run.table.cancelled()) return;
    run.table.enterMember(task, m);
    if (native?.native[m]) {
      // This member and the native ones after it in one call (native-stages.ts), as a one-runner run's stages
      // go: the JavaScript between two kernels was 3-5 us a member and image at batch 8. A member the call
      // did not reach (a kernel that could not allocate, a cancelled run) goes the usual way, below.
      let end = m + 1;
      while (end < members.length && native.native[end]) end++;
      const ran = runMembersNatively(run, native, local, m, end);
      // Each member's own end (its last record's, or the one before it for a layout op over no units) in a
      // profiled run; else one time for all, as a one-runner run records its call.
      const timed = native.times !== undefined && run.nativeChains!.clock !== null;
      const now = absoluteNow();
      const starts = native.starts[local];
      for (let k = 0; k < ran; k++) {
        const last = starts[m + k + 1] - starts[m] - 1;
        run.table.memberFinished(s, local, m + k, timed && last >= 0 ? native.times![2 * last + 1] : now);
      }
      m += ran;
      if (m === end) {
        m--;
        continue;
      }
      if (run.table.cancelled()) return;
      run.table.enterMember(task, m);
    }
    const member = members[m];
    if (member.kind === 'conv') {
      run.conv(member, { batchStart: first, batchEnd: last, outChannelStart: 0, outChannelEnd: member.slices[3] });
    } else {
      const perImage = member.ranges[1] / images;
      run.ranged(member, first * perImage, last * perImage);
    }
    run.table.memberFinished(s, local, m, absoluteNow());
  }
}

/**
 * Members [from, to) of chain task `local` in one native call: how many members it ran whole (each record's
 * times in native.times when profiled). A member it stopped inside (a cancelled run between two copies) did
 * not finish; run again from its start, its copies give the same bytes.
 */
function runMembersNatively(run: RunnerRun, native: NativeChain, local: number, from: number, to: number): number {
  const { clock } = run.nativeChains!;
  const starts = native.starts[local];
  const records = native.records[local].subarray(starts[from] * STAGE_RECORD, starts[to] * STAGE_RECORD);
  const count = starts[to] - starts[from];
  const kernels = nativeKernels()!;
  let done: number;
  if (clock === null) done = kernels.runStages(arenaMemoryView(), records, count, run.table.floats.byteOffset, run.message.table);
  else {
    native.times ??= new Float64Array(2 * Math.max(...native.records.map((r) => r.length / STAGE_RECORD)));
    done = kernels.runStages(arenaMemoryView(), records, count, run.table.floats.byteOffset, run.message.table, native.times, clock);
  }
  let members = 0;
  while (from + members < to && starts[from + members + 1] - starts[from] <= done) members++;
  return members;
}

/**
 * One runner of a program run: each stage's tasks as it claims them, then the
 * barrier; a chain's segments as their tasks become ready, then the barrier.
 * A worker's: it sleeps in Atomics.wait whenever it finds nothing to do.
 */
export function runProgramTasks(message: ProgramRunMessage, beforeTask?: BeforeTask): RunnerReport {
  const steps = runnerSteps(message, sleepUntilMoved, beforeTask);
  const step = steps.next();
  // sleepUntilMoved never gives a wait back, so the runner never stops halfway.
  if (!step.done) throw new Error('a worker runner left a wait to its caller');
  return step.value;
}

/** How long the calling thread sleeps in Atomics.wait before it waits on its event loop instead. */
export const CALLING_THREAD_SLEEP_MS = 10;

const sleepOnCallingThread: Sleep = (ints, index, value) => Atomics.wait(ints, index, value, CALLING_THREAD_SLEEP_MS) !== 'timed-out';

/**
 * One runner of a program run on the calling thread, beside runners on the workers (callingThread,
 * program.ts). It computes synchronously and sleeps as a worker does, but for at most
 * CALLING_THREAD_SLEEP_MS at a time: past that it waits on the event loop (Atomics.waitAsync), where the
 * death of a worker that holds a task it waits for is heard and cancels the run.
 */
export async function runProgramTasksHere(message: ProgramRunMessage): Promise<RunnerReport> {
  const steps = runnerSteps(message, sleepOnCallingThread);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    const { ints, waiting } = step.value;
    const result = waitAsync(ints, waiting.index, waiting.value);
    if (result.async) await result.value;
  }
}

/**
 * The runner itself: yields its table when `sleep` gave a wait back (the caller waits until
 * `table.waiting` moves, then resumes it), returns its report when the run is over for it.
 */
function* runnerSteps(message: ProgramRunMessage, sleep: Sleep, beforeTask?: BeforeTask): Generator<ProgramTable, RunnerReport, void> {
  const decoded = programOf(message);
  const { description, layout } = decoded;
  const table = new ProgramTable(sharedArena().buffer, message.table, description.stages.length, description.buffers, layout);
  const run = new RunnerRun(table, message, beforeTask);
  let ran = 0;
  const { stages } = description;
  // The tests' fault hook sees every conv task as an engine call: it keeps every task on this path.
  const native = !beforeTask ? nativeKernels() : null;
  // Profiled, the native calls time each task against this thread's clock.
  const clock = native && message.profiled ? nativeClockOffset() : null;
  const nativeRuns = native && message.nativeRuns ? (decoded.nativeRuns ??= nativeRunsOf(description)) : null;
  const nativeStages = native && !message.nativeRuns ? (decoded.nativeStages ??= nativeStagesOf(description)) : null;
  if (native) run.nativeChains = { chains: (decoded.nativeChains ??= description.stages.map((st) => (st.kind === 'chain' ? nativeChainOf(st) : null))), clock };
  for (let s = 0; s < stages.length; s++) {
    const stage = stages[s];
    const nativeRun = nativeRuns?.get(s);
    if (nativeRun) {
      // Alone in this run, the runner claims the run's tasks in order (from the front), has the native
      // kernels compute them in one call, then records them as runOneTask would have: one start and end
      // time for all, or each task's own in a profiled run. A task the call did not reach (a kernel that
      // could not allocate, a cancelled run) and the rest of its stage go the usual way; later stages of
      // the run too.
      const claimed: number[] = [];
      for (let c = nativeRun.from; c < nativeRun.to; c++) {
        for (let t = 0; t < layout.count[c]; t++) claimed.push(table.claim(c, message.runner));
      }
      const times = clock === null ? null : (nativeRun.times ??= new Float64Array(2 * nativeRun.tasks));
      const start = absoluteNow();
      const done = times
        ? native!.runStages(arenaMemoryView(), nativeRun.records, nativeRun.tasks, table.floats.byteOffset, message.table, times, clock!)
        : native!.runStages(arenaMemoryView(), nativeRun.records, nativeRun.tasks, table.floats.byteOffset, message.table);
      const end = absoluteNow();
      let k = 0;
      let c = nativeRun.from;
      for (; c < nativeRun.to; c++) {
        const count = layout.count[c];
        const stageDone = Math.max(0, Math.min(count, done - k));
        for (let t = 0; t < stageDone; t++) {
          table.started(claimed[k + t], times ? times[2 * (k + t)] : start, threadId);
          table.finished(claimed[k + t], times ? times[2 * (k + t) + 1] : end);
          table.finishedOne(c);
          ran++;
        }
        if (stageDone < count) {
          for (let t = stageDone; t < count && !table.cancelled(); t++) {
            const task = claimed[k + t];
            if (!runOneTask(run, stages[c], c, task - layout.first[c], task)) break;
            ran++;
          }
        }
        k += count;
        let state = table.awaitStage(c, spinBudget, sleep);
        while (state === LEFT_WAITING) {
          yield table;
          state = table.awaitStage(c, spinBudget, sleep);
        }
        if (state === STAGE_CANCELLED) return { threadId, tasks: ran };
      }
      s = nativeRun.to - 1;
      continue;
    }
    if (stage.kind === 'chain') {
      // A chain: its segments (the stages that continue it) without a barrier between them, a barrier at its end.
      let end = s + 1;
      while (end < stages.length && continuesChain(stages[end])) end++;
      const hint = { low: s };
      for (;;) {
        const task = table.claimReady(s, end, message.runner, spinBudget, hint, sleep);
        if (task === LEFT_WAITING) {
          yield table;
          continue;
        }
        if (task < 0) break;
        let c = s;
        while (task >= layout.first[c] + layout.count[c]) c++;
        if (!runOneTask(run, stages[c], c, task - layout.first[c], task)) break;
        table.markDone(task);
        ran++;
      }
      s = end - 1;
    } else {
      const records = nativeStages?.[s];
      // Left to this loop: every task without records, and after a native call that stopped at a task it
      // could not run, the tasks no runner has claimed yet. A call that found none left claimed them all.
      let claimHere = true;
      if (records) {
        // Beside other runners: this runner's claims of the stage and their tasks in one native call, which
        // leaves waking the barrier's sleepers, and a task whose kernel could not allocate, to this code.
        const tableAt = table.ints.byteOffset;
        const buffersAt = table.floats.byteOffset;
        const timesAt = table.timesByteOffset;
        const first = layout.first[s];
        const count = layout.count[s];
        if (clock === null) native!.runStageTasks(arenaMemoryView(), records, tableAt, s, stages.length, first, count, message.runner, buffersAt, timesAt, stageResult);
        else native!.runStageTasks(arenaMemoryView(), records, tableAt, s, stages.length, first, count, message.runner, buffersAt, timesAt, stageResult, clock, threadId);
        ran += stageResult[0];
        if (stageResult[1] === 1) table.finishedNatively(s, stageResult[3] === 1);
        const unrun = stageResult[2];
        if (unrun >= 0 && runOneTask(run, stage, s, unrun - layout.first[s], unrun)) ran++;
        claimHere = unrun >= 0;
      }
      while (claimHere && !table.cancelled()) {
        const task = table.claim(s, message.runner);
        if (task < 0) break;
        if (!runOneTask(run, stage, s, task - layout.first[s], task)) break;
        ran++;
      }
    }
    let state = table.awaitStage(s, spinBudget, sleep);
    while (state === LEFT_WAITING) {
      yield table;
      state = table.awaitStage(s, spinBudget, sleep);
    }
    if (state === STAGE_CANCELLED) break;
  }
  return { threadId, tasks: ran };
}

/** Whether `stage` is a segment continuing the chain before it (chains.ts, chainSegments). */
const continuesChain = (stage: StageDescription): boolean => stage.kind === 'chain' && stage.continues === true;

/**
 * Runs one claimed task and counts it; false if the run was cancelled meanwhile (a task cut short by the
 * cancel flag is not finished: the run failed, and its table tells how far it got). A task that throws
 * cancels the run (waking the runners at the barrier) and rethrows; its claim in the table tells the main
 * thread which stage it was.
 */
function runOneTask(run: RunnerRun, stage: StageDescription, s: number, local: number, task: number): boolean {
  const { table } = run;
  table.started(task, absoluteNow(), threadId);
  try {
    runTask(run, stage, s, local, task);
  } catch (error) {
    table.cancel();
    throw error;
  }
  if (table.cancelled()) return false;
  table.finished(task, absoluteNow());
  table.finishedOne(s);
  return true;
}
