// What a worker does with a message, kept out of workers/ so the worker entry
// stays a thin shell and this code can be exercised on any thread. It computes
// through the kernel-plan contract only (runPlan), the same call the
// single-threaded path makes, so results do not depend on the thread.
import { threadId } from 'node:worker_threads';
import type { ConvSlice } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { arenaView, sharedArena } from '../memory/arena.js';
import { runPlan, type KernelPlan } from '../kernels/plan/index.js';
import { Doorbells, SlotState, type ParkMessage } from './doorbell.js';
import { loadPlan } from './plan-codec.js';
import { absoluteNow, TaskTable, type ArenaRef, type ConvRunMessage, type RunnerReport, type WorkerMessage } from './protocol.js';

/** Decoded plans by id. Ids are never reused, so entries never go stale; the cap bounds memory over one-shot calls. */
const plans = new Map<number, KernelPlan>();
const PLAN_CACHE_SIZE = 64;

function planOf(message: ConvRunMessage): KernelPlan {
  let plan = plans.get(message.planId);
  if (plan) {
    // Refresh its place in the insertion order, so the least recently used plan goes first.
    plans.delete(message.planId);
  } else {
    plan = loadPlan(message.plan);
    if (plans.size >= PLAN_CACHE_SIZE) plans.delete(plans.keys().next().value!);
  }
  plans.set(message.planId, plan);
  return plan;
}

const view = (ref: ArenaRef | null): Float32Array | null => (ref ? arenaView(ref.byteOffset, ref.length) : null);

/** A call's tensors and plan as seen by one runner, resolved once for all the tasks it claims. */
interface RunContext {
  plan: KernelPlan;
  input: Float32Array;
  weight: Float32Array;
  bias: Float32Array | null;
  output: Float32Array;
  residual: Float32Array | null;
  scratch: Float32Array;
}

function contextOf(message: ConvRunMessage): RunContext {
  return {
    plan: planOf(message),
    input: view(message.input)!,
    weight: view(message.weight)!,
    bias: view(message.bias),
    output: view(message.output)!,
    residual: view(message.residual),
    scratch: view(message.scratch)!,
  };
}

/**
 * Computes one task's slice one image at a time, checking the call's cancel
 * flag between images, so an aborted or closed call stops within one image
 * without killing the worker (which would leave its writes in flight).
 */
function runSlice(context: RunContext, table: TaskTable, slice: ConvSlice): void {
  for (let n = slice.batchStart; n < slice.batchEnd; n++) {
    if (table.cancelled()) return;
    const image: ConvSlice = { batchStart: n, batchEnd: n + 1, outChannelStart: slice.outChannelStart, outChannelEnd: slice.outChannelEnd };
    runPlan(context.plan, context.input, context.weight, context.bias, context.output, image, context.scratch, context.residual);
  }
}

/**
 * Called before each task a runner claims, with the call's message and the
 * task's slice: lets a custom worker entry (the tests' fault injection) act per task.
 */
export type BeforeTask = (message: ConvRunMessage, slice: ConvSlice) => void;

/**
 * One runner: claims the call's tasks from its shared table until none is left
 * or the call is cancelled. A task that throws cancels the call's other runners
 * and rethrows; its claim in the table tells the main thread which task it was.
 */
function runConvTasks(message: ConvRunMessage, beforeTask?: BeforeTask): RunnerReport {
  const table = new TaskTable(sharedArena().buffer, message.table, message.tasks);
  let context: RunContext | null = null;
  let ran = 0;
  while (!table.cancelled()) {
    const task = table.claim(message.runner);
    if (task < 0) break;
    table.started(task, absoluteNow(), threadId);
    try {
      const slice = table.slice(task);
      beforeTask?.(message, slice);
      context ??= contextOf(message); // after the first claim, so a failure here is charged to a task
      runSlice(context, table, slice);
    } catch (error) {
      table.cancel();
      throw error;
    }
    table.finished(task, absoluteNow());
    ran++;
  }
  return { threadId, tasks: ran };
}

/** Runs one runner message (or answers a ping) on this thread. */
function runMessage(message: WorkerMessage, beforeTask?: BeforeTask): RunnerReport {
  return message.kind === 'ping' ? { threadId, tasks: 0 } : runConvTasks(message, beforeTask);
}

/**
 * A parked runner (see doorbell.ts): runs the runners the main thread posts to
 * its slot, one after another, until the slot is idle for `idleMs` or the
 * engine quits. A runner that throws ends the job with its error, as a pool job would.
 */
function parkRunner(park: ParkMessage, beforeTask?: BeforeTask): RunnerReport {
  const bell = new Doorbells(park.control, park.slot);
  const ints = bell.ints;
  let ran = 0;
  for (;;) {
    let state = Atomics.load(ints, Doorbells.STATE);
    if (state === SlotState.idle) {
      Atomics.wait(ints, Doorbells.STATE, SlotState.idle, park.idleMs);
      // Still idle: leave, unless the main thread posts work in this very instant (then its exchange wins).
      state = Atomics.compareExchange(ints, Doorbells.STATE, SlotState.idle, SlotState.gone);
      if (state === SlotState.idle) return { threadId, tasks: ran };
    }
    if (state === SlotState.quit) {
      Atomics.store(ints, Doorbells.STATE, SlotState.gone);
      return { threadId, tasks: ran };
    }
    if (state !== SlotState.work) throw errors.unexpectedSlotState(state);
    Atomics.store(ints, Doorbells.STATE, SlotState.running);
    const report = runMessage(bell.read(), beforeTask);
    bell.report(report.threadId, report.tasks);
    ran += report.tasks;
    // Idle before done: once the main thread sees the done counter move, it may post the next runner.
    Atomics.store(ints, Doorbells.STATE, SlotState.idle);
    Atomics.add(ints, Doorbells.DONE, 1);
    Atomics.notify(ints, Doorbells.DONE);
  }
}

/** The pool's task handler (the default export of workers/conv-worker), with an optional per-task hook. */
export function createWorkerHandler(beforeTask?: BeforeTask): (message: WorkerMessage | ParkMessage) => RunnerReport {
  return (message) => (message.kind === 'park' ? parkRunner(message, beforeTask) : runMessage(message, beforeTask));
}
