// GroupedConvEngine: one convolution's groups computed on several worker
// threads at once, the way AlexNet ran its two halves on two GPUs. Tensors live
// in the shared arena (the "device memory"); tasks carry only offsets and a
// slice of the output; each task writes its own disjoint slice, so there is
// nothing to concatenate.
//
// This file is the public API and one call's lifecycle (check, allocate, send
// the runners, collect, free); handing runners to worker threads is the
// dispatcher's job (dispatcher.ts), and the option checks are in options.ts.
import { outputShapeOf, resolveConv2d, resolveShapes } from '../conv/geometry.js';
import { errors } from '../errors.js';
import type { ConvRunner } from '../layers/conv-runner.js';
import { sharedArena } from '../memory/arena.js';
import type { PartitionPolicy } from '../scheduler/conv-tasks.js';
import { checkTensor, dispose, numel, toShared, type Tensor } from '../tensor/tensor.js';
import { Call, describeRunnerFailure, runnerMessage } from './call.js';
import { ANYWHERE, type WorkerPlace } from './placement.js';
import { Dispatcher } from './dispatcher.js';
import { EngineLayer, type LayerExecutor, type PlanEntry } from './layer.js';
import {
  checkEngineOptions, checkIsObject, checkOut, checkRunOptions,
  type EngineConv2dOptions, type EngineLayerOptions, type EngineRunOptions, type GroupedConvEngineOptions,
} from './options.js';
import { checkResidual } from '../kernels/epilogue.js';
import { EngineProgram, type ProgramHost, type ProgramStage } from './program.js';
import { buildProfile, type ProfiledResult, type TaskTiming } from './profile.js';
import { absoluteNow, TaskTable, type RunnerReport, type WorkerMessage } from './protocol.js';
import { defaultWorkerFile, workerFileOf } from './worker-file.js';

// The engine's public types, with the class that takes and returns them.
export type { EngineConv2dOptions, EngineLayerOptions, EngineRunOptions, GroupedConvEngineOptions } from './options.js';
export type { ProfiledResult } from './profile.js';
export type { ProgramProfile, ProgramStage, StageTiming } from './program.js';

export class GroupedConvEngine implements ConvRunner, LayerExecutor {
  readonly workers: number;
  readonly policy: PartitionPolicy;
  /** Whether the calling thread is one of every program run's runners (GroupedConvEngineOptions.callingThread). */
  readonly callingThread: boolean;
  private readonly dispatcher: Dispatcher;
  private readonly calls = new Set<Call>();
  private closing: Promise<void> | null = null;

  constructor(options: GroupedConvEngineOptions = {}) {
    const { workers, policy, resourceLimits, atomics, workerFile, callingThread } = checkEngineOptions(options);
    this.workers = workers;
    this.policy = policy;
    this.callingThread = callingThread;
    this.dispatcher = new Dispatcher({
      workers,
      workerFile: workerFile === undefined ? defaultWorkerFile() : workerFileOf(workerFile),
      resourceLimits,
      atomics,
    });
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * Places `weight` and `bias` in shared memory once, so every `run(input)`
   * sends workers only the input: the GPU holding its half of the model.
   * `options.activation` is fused into the kernels (applied as each output is
   * stored, after the run's `residual`): y = act(conv + bias [+ residual]).
   */
  layer(weight: Tensor, bias: Tensor | null | undefined, options: EngineLayerOptions = {}): EngineLayer {
    if (this.closed) throw errors.engineClosed();
    return new EngineLayer(this, weight, bias ?? null, options);
  }

  /**
   * A program: `stages` (convolutions of this engine's prepared layers, ranged
   * kernels) over numbered buffers of `bufferLengths` floats, run by the workers
   * in one hand-off, stage after stage (program.ts). Close it before its layers.
   */
  program(stages: readonly ProgramStage[], bufferLengths: readonly number[]): EngineProgram {
    if (this.closed) throw errors.engineClosed();
    for (const [i, stage] of stages.entries()) {
      if (stage?.kind === 'conv' && !stage.layer?.belongsTo(this)) throw errors.invalid(`stages[${i}].layer`, 'expected a layer prepared on this engine (engine.layer)');
    }
    return new EngineProgram(this.programHost, stages, bufferLengths);
  }

  // Getters: the fields they read are set in the constructor, after this initializer.
  private readonly programHost: ProgramHost = ((engine: GroupedConvEngine): ProgramHost => ({
    get workers() {
      return engine.workers;
    },
    get policy() {
      return engine.policy;
    },
    get closed() {
      return engine.closed;
    },
    get callingThread() {
      return engine.callingThread;
    },
    sendRunner: (message, call, place) => this.send(message, call, place),
    begin: (call) => this.calls.add(call),
    end: (call) => this.calls.delete(call),
    dropQueued: (call) => this.dispatcher.dropQueued(call),
    stopPolling: () => this.dispatcher.stopPolling(),
  }))(this);

  /** torch.nn.functional.conv2d on the pool: the same checks, errors and results as `conv2d`. */
  conv2d(input: Tensor, weight: Tensor, bias: Tensor | null | undefined, options: EngineConv2dOptions & { profile: true }): Promise<ProfiledResult>;
  conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options?: EngineConv2dOptions): Promise<Tensor>;
  async conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options: EngineConv2dOptions = {}): Promise<Tensor | ProfiledResult> {
    checkIsObject(options);
    const { profile, out, signal, policy, residual, ...convOptions } = options;
    resolveConv2d(input, weight, bias, convOptions); // conv2d's own checks, in its order, before anything else
    const layer = this.layer(weight, bias, convOptions);
    try {
      return await layer.run(input, { profile, out, signal, policy, residual });
    } finally {
      layer.close();
    }
  }

  /** conv2d resolving to `{ output, profile }`. */
  conv2dProfiled(input: Tensor, weight: Tensor, bias?: Tensor | null, options: EngineConv2dOptions = {}): Promise<ProfiledResult> {
    return this.conv2d(input, weight, bias, { ...options, profile: true });
  }

  /** Starts every worker thread (parking a runner on each) and waits until each has run an empty task, so timings exclude start-up. */
  async warmup(): Promise<number[]> {
    const reports = await Promise.all(Array.from({ length: this.workers }, () => this.send({ kind: 'ping' })));
    return reports.map((r) => r.threadId).sort((a, b) => a - b);
  }

  /** The round trip of one empty task through a worker (a parked runner when one is waiting). */
  async ping(): Promise<{ threadId: number; roundTripMs: number }> {
    const start = absoluteNow();
    const report = await this.send({ kind: 'ping' });
    return { threadId: report.threadId, roundTripMs: absoluteNow() - start };
  }

  /**
   * Ends every worker. Calls still running are cancelled (their tasks stop
   * before the next image) and reject; later calls reject. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const running = [...this.calls];
      for (const call of running) call.fail(errors.closedWhileRunning());
      this.dispatcher.rejectQueued();
      await Promise.allSettled(running.map((c) => c.settled));
      await this.dispatcher.close();
    })();
    return this.closing;
  }

  private send(message: WorkerMessage, call: Call | null = null, place: WorkerPlace = ANYWHERE): Promise<RunnerReport> {
    if (this.closed) return Promise.reject(errors.engineClosed());
    return this.dispatcher.send(message, call, place);
  }

  /** Runs a prepared layer on an input: EngineLayer.run's work (LayerExecutor). */
  async execute(layer: EngineLayer, input: Tensor, options: EngineRunOptions): Promise<Tensor | ProfiledResult> {
    const callStart = absoluteNow();
    if (this.closed) throw errors.engineClosed();
    checkRunOptions(options);
    const x = checkTensor('input', input, [3, 4]);
    const resolved = resolveShapes(x.shape, layer.weight.shape, layer.bias?.shape ?? null, layer.options);
    const g = resolved.geometry;
    const shape = outputShapeOf(resolved);
    const residual = options.residual === undefined || options.residual === null ? null : checkResidual(options.residual, shape);
    if (options.out !== undefined) checkOut(options.out, shape, [x, layer.weight, layer.bias, residual]);
    const policy = options.policy ?? this.policy;
    const signal = options.signal;
    if (signal?.aborted) throw errors.aborted(signal.reason);

    // Every argument is checked: from here on the call owns arena blocks, all released in `finally`
    // (also when an allocation itself fails part way).
    const arena = sharedArena();
    const owned: Float32Array[] = [];
    let plan: PlanEntry | null = null;
    let output: Tensor | null = options.out ?? null;
    let call: Call | null = null;
    const onAbort = () => call?.fail(errors.aborted(signal!.reason));
    let timings: TaskTiming[] = [];
    let firstDispatch = callStart;
    try {
      plan = layer.acquirePlan(g);
      const { tasks, scratchFloats } = layer.partition(plan, g, policy, this.workers);
      const shared = toShared(x);
      if (shared !== x) owned.push(shared.data);
      const sharedResidual = residual ? toShared(residual) : null;
      if (sharedResidual && sharedResidual !== residual) owned.push(sharedResidual.data);
      // Not zero-filled: the tasks cover the output and each writes its slice in full (a failed call's output is freed).
      output ??= { shape, data: arena.allocateFloat32(numel(shape), { zero: false }) };
      const tableBlock = arena.allocateFloat32(Math.ceil(TaskTable.bytes(tasks.length) / 4));
      owned.push(tableBlock);
      const taskTable = new TaskTable(tableBlock.buffer, tableBlock.byteOffset, tasks.length);
      tasks.forEach((task, i) => taskTable.setSlice(i, task));
      // One runner per worker (fewer if there are fewer tasks); each claims tasks until none is left.
      const tensors = { input: shared, weight: layer.weight, bias: layer.bias, output, residual: sharedResidual };
      const messages = Array.from({ length: Math.min(this.workers, tasks.length) }, (_, runner) => {
        const scratch = arena.allocateFloat32(scratchFloats, { zero: false }); // kernels write scratch before reading it
        owned.push(scratch);
        return runnerMessage(plan!, tensors, scratch, tableBlock.byteOffset, tasks.length, runner);
      });

      const running = new Call(taskTable, (failed) => this.dispatcher.dropQueued(failed));
      call = running;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.calls.add(running);
      firstDispatch = absoluteNow();
      const runs = messages.map((message) =>
        this.send(message, running).then(
          () => undefined,
          (error: unknown) => running.fail(describeRunnerFailure(taskTable, tasks, message.runner, error)),
        ),
      );
      // The table and scratch are freed only once every runner has returned (a queued runner still reads them).
      running.settled = Promise.all(runs);
      await running.settled;
      if (running.error !== null) throw running.error;
      // Runners stop early only once the call failed, so every task has finished here.
      const unfinished = tasks.findIndex((_, i) => !taskTable.isFinished(i));
      if (unfinished >= 0) throw errors.unfinishedTask(tasks[unfinished], tasks.length);
      // Read before the table goes back to the arena. Every task was handed to the pool when the runners were.
      if (options.profile) timings = tasks.map((task, i) => ({ task, submitTime: firstDispatch, report: taskTable.report(i) }));
    } catch (error) {
      // Every runner has returned (or none was dispatched): no worker writes to the output any more.
      if (output && options.out === undefined) dispose(output);
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (call) this.calls.delete(call);
      for (const block of owned) arena.release(block);
      if (plan) layer.releasePlan(plan);
    }
    const callEnd = absoluteNow();
    if (!options.profile) return output;
    return { output, profile: buildProfile(g, policy, this.workers, callStart, firstDispatch, callEnd, timings) };
  }
}
