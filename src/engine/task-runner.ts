// What a worker does with a message, kept out of workers/ so the worker entry
// stays a thin shell and this code can be exercised on any thread. It computes
// through the kernel-plan contract only (runPlan), the same call the
// single-threaded path makes, so results do not depend on the thread.
import { threadId } from 'node:worker_threads';
import { errors } from '../errors.js';
import { sharedArena } from '../memory/arena.js';
import { Doorbells, SlotState, type ParkMessage } from './doorbell.js';
import { ownOsThreadId } from './placement.js';
import { runProgramTasks } from './program-runner.js';
import { absoluteNow, TaskTable, type BeforeTask, type ConvRunMessage, type RunnerReport, type WorkerMessage } from './protocol.js';
import { planOf, runSlice, viewOf, type RunContext } from './slice-runner.js';

function contextOf(message: ConvRunMessage): RunContext {
  return {
    plan: planOf(message.planId, message.plan),
    input: viewOf(message.input)!,
    weight: viewOf(message.weight)!,
    bias: viewOf(message.bias),
    output: viewOf(message.output)!,
    residual: viewOf(message.residual),
    scale: null,
    scratch: viewOf(message.scratch)!,
  };
}

export type { BeforeTask } from './protocol.js';

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
  switch (message.kind) {
    case 'ping':
      return { threadId, tasks: 0 };
    case 'program':
      return runProgramTasks(message, beforeTask);
    default:
      return runConvTasks(message, beforeTask);
  }
}

/**
 * A parked runner (see doorbell.ts): runs the runners the main thread posts to
 * its slot, one after another, until the slot is idle for `idleMs` or the
 * engine quits. A runner that throws ends the job with its error, as a pool job would.
 */
function parkRunner(park: ParkMessage, beforeTask?: BeforeTask): RunnerReport {
  const bell = new Doorbells(park.control, park.slot);
  bell.setOsThread(ownOsThreadId());
  const ints = bell.ints;
  let ran = 0;
  // Set by a program run that asked for a poll (PARK_POLL_MS): the doorbell is polled until then before blocking.
  let pollUntil = 0;
  for (;;) {
    let state = Atomics.load(ints, Doorbells.STATE);
    if (state === SlotState.idle && pollUntil > 0) state = bell.poll(pollUntil);
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
    const message = bell.read();
    const report = runMessage(message, beforeTask);
    pollUntil = message.kind === 'program' && message.pollMs > 0 ? performance.now() + message.pollMs : 0;
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
