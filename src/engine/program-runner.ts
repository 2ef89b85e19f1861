// A program's runner on a worker: goes through the program's stages in order,
// claiming each stage's tasks from the run's table, and waits at a barrier
// (program-table.ts) until the stage's last task is done before the next
// stage. So N layers cost the main thread one hand-off per worker, not N.
// Conv stages compute through slice-runner.ts (an engine call's own code),
// ranged stages through runRanged: the same kernels as the calling thread.
import { threadId } from 'node:worker_threads';
import { runRanged } from '../kernels/ranged/index.js';
import { arenaView, sharedArena } from '../memory/arena.js';
import { loadDescription, ProgramTable, taskLayoutOf, tasksOf, type ProgramDescription, type StageDescription, type TaskLayout } from './program-table.js';
import { absoluteNow, type BeforeTask, type ConvRunMessage, type ProgramRunMessage, type RunnerReport } from './protocol.js';
import { planOf, runSlice, viewOf, type RunContext } from './slice-runner.js';

/**
 * Loads of the completed-stage word before a runner blocks in Atomics.wait at a
 * barrier (a few microseconds): a stage's other tasks often end within that, and
 * waking from Atomics.wait costs tens of microseconds.
 */
const BARRIER_SPINS = 2000;

interface Decoded {
  description: ProgramDescription;
  layout: TaskLayout;
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
function convMessageOf(stage: Extract<StageDescription, { kind: 'conv' }>, table: ProgramTable, message: ProgramRunMessage): ConvRunMessage {
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

function convContext(stage: Extract<StageDescription, { kind: 'conv' }>, table: ProgramTable, scratch: Float32Array): RunContext {
  return {
    plan: planOf(stage.planId, stage.plan),
    input: bufferView(table, stage.input),
    weight: viewOf(stage.weight)!,
    bias: viewOf(stage.bias),
    output: bufferView(table, stage.output),
    residual: stage.residual < 0 ? null : bufferView(table, stage.residual),
    scratch,
  };
}

/** Runs task `local` (its index within the stage) of `stage`. */
function runTask(stage: StageDescription, local: number, table: ProgramTable, message: ProgramRunMessage, scratch: () => Float32Array, beforeTask?: BeforeTask): void {
  if (stage.kind === 'conv') {
    const s = stage.slices;
    const slice = { batchStart: s[4 * local], batchEnd: s[4 * local + 1], outChannelStart: s[4 * local + 2], outChannelEnd: s[4 * local + 3] };
    beforeTask?.(convMessageOf(stage, table, message), slice);
    runSlice(convContext(stage, table, scratch()), table, slice);
    return;
  }
  const inputs = stage.inputs.map((b) => bufferView(table, b));
  const outputs = stage.outputs.map((b) => bufferView(table, b));
  runRanged(stage.op, inputs, outputs, stage.ranges[2 * local], stage.ranges[2 * local + 1]);
}

/**
 * One runner of a program run. A task that throws cancels the run (waking the
 * runners at the barrier) and rethrows; its claim in the table tells the main
 * thread which stage it was.
 */
export function runProgramTasks(message: ProgramRunMessage, beforeTask?: BeforeTask): RunnerReport {
  const { description, layout } = programOf(message);
  const table = new ProgramTable(sharedArena().buffer, message.table, description.stages.length, description.buffers, layout);
  let scratchView: Float32Array | null = null;
  const scratch = () => (scratchView ??= viewOf(message.scratch)!);
  let ran = 0;
  for (let s = 0; s < description.stages.length; s++) {
    const stage = description.stages[s];
    while (!table.cancelled()) {
      const task = table.claim(s, message.runner);
      if (task < 0) break;
      table.started(task, absoluteNow(), threadId);
      try {
        runTask(stage, task - layout.first[s], table, message, scratch, beforeTask);
      } catch (error) {
        table.cancel();
        throw error;
      }
      // A task cut short by the cancel flag is not finished: the run failed, and its table tells how far it got.
      if (table.cancelled()) break;
      table.finished(task, absoluteNow());
      table.finishedOne(s);
      ran++;
    }
    if (!table.awaitStage(s, BARRIER_SPINS)) break;
  }
  return { threadId, tasks: ran };
}
