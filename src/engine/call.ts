// One engine call as the main thread sees it while its runners are out: the
// call's state (first error, cancel flag), the runner messages it sends, and
// how a runner's failure is charged to a task.
import { errors } from '../errors.js';
import type { ConvTask } from '../scheduler/conv-tasks.js';
import type { Tensor } from '../tensor/tensor.js';
import type { PlanEntry } from './layer.js';
import { refOf, type ConvRunMessage, type TaskTable } from './protocol.js';

/** One call in flight: its task table (with the cancel flag) in shared memory and the first error that ended it. */
export class Call {
  error: unknown = null;
  /** Settles once every runner of the call has returned: only then may its table and scratch be freed. */
  settled: Promise<unknown> = Promise.resolve();
  constructor(
    private readonly table: { cancel(): void },
    private readonly onFail: (call: Call) => void,
  ) {}

  /** Ends the call with `error` (the first one wins) and tells its runners to stop. */
  fail(error: unknown): void {
    if (this.error !== null) return;
    this.error = error;
    this.table.cancel();
    this.onFail(this);
  }
}

/** Where a call's tensors are in the arena: what every runner of the call reads and writes. */
interface CallTensors {
  input: Tensor;
  weight: Tensor;
  bias: Tensor | null;
  output: Tensor;
  /** Added before the activation, in the kernels' epilogue. */
  residual: Tensor | null;
}

/** The message for runner number `runner` of a call whose task table (of `tasks` tasks) is at byte `table`. */
export function runnerMessage(plan: PlanEntry, tensors: CallTensors, scratch: Float32Array, table: number, tasks: number, runner: number): ConvRunMessage {
  return {
    kind: 'conv',
    planId: plan.id,
    plan: plan.ref,
    input: refOf(tensors.input.data),
    weight: refOf(tensors.weight.data),
    bias: tensors.bias ? refOf(tensors.bias.data) : null,
    output: refOf(tensors.output.data),
    residual: tensors.residual ? refOf(tensors.residual.data) : null,
    scratch: refOf(scratch),
    table,
    tasks,
    runner,
  };
}

/**
 * A runner's job failed: the task it had claimed and not finished is the one
 * that threw or was running when its worker died. (A runner that failed outside
 * any task, which only a broken worker entry does, is charged to the first unfinished task.)
 */
export function describeRunnerFailure(table: TaskTable, tasks: readonly ConvTask[], runner: number, error: unknown): Error {
  return describeTaskFailure(tasks[failedTask(table, tasks.length, runner)], tasks.length, error);
}

/** The task a failed runner is charged with: the one it claimed and did not finish, else the first unfinished one (else 0). */
export function failedTask(table: { claimedBy(task: number): number; isFinished(task: number): boolean }, tasks: number, runner: number): number {
  for (let t = 0; t < tasks; t++) if (table.claimedBy(t) === runner && !table.isFinished(t)) return t;
  for (let t = 0; t < tasks; t++) if (!table.isFinished(t)) return t;
  return 0;
}

/** Whether a runner's job ended because its worker died (exited, or ran out of memory) rather than because a task threw. */
export function isWorkerDeath(error: unknown): boolean {
  return (
    (error as { code?: string } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY' ||
    (error instanceof Error && /^worker exited with code/.test(error.message))
  );
}

function describeTaskFailure(task: ConvTask, tasks: number, error: unknown): Error {
  return isWorkerDeath(error) ? errors.workerDied(task, tasks, error) : errors.taskThrew(task, tasks, error);
}
