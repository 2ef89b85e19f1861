// Programs: a sequence of stages (convolutions of prepared layers, ranged
// kernels) handed to the engine's workers once. Each worker's runner goes
// through the stages itself, claiming each stage's tasks from shared memory and
// meeting the others at a barrier between stages (program-runner.ts), so a run
// of N layers costs one hand-off per worker instead of N calls' worth. Runs of
// image-major stages may instead go image by image with no barrier between
// them (chains.ts), when the run's buffers allow it.
//
// A program is built once (kernel plans acquired, tasks cut, its description
// written into the arena) over numbered buffers; each run says where the
// buffers are, so concurrent runs of one program each use memory of their own.
import { availableParallelism } from 'node:os';
import { outputShapeOf, resolveShapes, type ConvGeometry } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { runsOnNativePointwise } from '../kernels/plan/index.js';
import { RANGED_KERNELS, type RangedOp } from '../kernels/ranged/index.js';
import { sharedArena } from '../memory/arena.js';
import { numel } from '../tensor/tensor.js';
import type { PartitionPolicy } from '../scheduler/conv-tasks.js';
import { Call, failedTask, isWorkerDeath } from './call.js';
import type { EngineLayer, PlanEntry } from './layer.js';
import { PARK_POLL_MS } from './doorbell.js';
import { programPlace, type WorkerPlace } from './placement.js';
import { ModeChoice, type ProgramWay } from './mode-choice.js';
import { feedsDepthwise, positionCut, type StageBuffers } from './position-cut.js';
import type { ThreadProfile } from './profile.js';
import { CHAIN_SEGMENTS, chainSegments, chainsAreSafe, chainsOf, IMAGES_PER_CHAIN_TASK, type Chain, type ImageMajor } from './chains.js';
import { runProgramTasks, runProgramTasksHere } from './program-runner.js';
import { ProgramTable, storeDescription, taskLayoutOf, type ChainMember, type ProgramDescription, type StageDescription, type TaskLayout } from './program-table.js';
import { absoluteNow, refOf, type ArenaRef, type ProgramRunMessage, type RunnerReport, type WorkerMessage } from './protocol.js';

/** One stage as the caller describes it; buffers are indexes into the program's buffer list. */
export type ProgramStage =
  | {
      kind: 'conv';
      /** Named in errors and profiles (e.g. the ONNX node and op type). */
      label: string;
      layer: EngineLayer;
      inputShape: readonly number[];
      input: number;
      output: number;
      /** A buffer of the output's shape added before the layer's activation, as `run`'s residual. */
      residual?: number | null;
      /**
       * A buffer of one value per image and input channel the input is multiplied by as the kernel reads
       * it (a squeeze-and-excitation block's Mul, runPlan's InputScale), `first` if it was the Mul's first
       * operand. Only a 1x1 layer on the native kernels takes one.
       */
      scale?: { buffer: number; first: boolean } | null;
    }
  | {
      kind: 'ranged';
      label: string;
      op: RangedOp;
      inputs: number[];
      outputs: number[];
      /** Declares the op image-major (chains.ts), so it may run image by image in a chain with its neighbours. */
      images?: ImageMajor | null;
    };

/** What a program needs of the engine that runs it (so program.ts does not depend on engine.ts). */
export interface ProgramHost {
  readonly workers: number;
  readonly policy: PartitionPolicy;
  readonly closed: boolean;
  /** Whether the calling thread is runner 0 of every run (GroupedConvEngineOptions.callingThread). */
  readonly callingThread: boolean;
  /** Hands one runner of `call` to a worker, placed as `place` says meanwhile (placement.ts). */
  sendRunner(message: WorkerMessage, call: Call, place: WorkerPlace): Promise<RunnerReport>;
  /** A run starts / ends: the engine fails the runs in flight when it closes. */
  begin(call: Call): void;
  end(call: Call): void;
  /** The run is over: its runners still waiting for a worker need not start. */
  dropQueued(call: Call): void;
  /** A run on the calling thread alone: workers polling after a run (PARK_POLL_MS) stop, leaving it the cores. */
  stopPolling(): void;
}

/** One stage's timings in a profiled run, ms from the start of the run. */
export interface StageTiming {
  label: string;
  tasks: number;
  /** The first task's start and the last task's end. */
  firstStartMs: number;
  lastEndMs: number;
  /** Busy time per thread that ran tasks of the stage (a worker, or the calling thread). */
  threads: ThreadProfile[];
  /** The busiest thread's busy time. */
  busiestMs: number;
  totalBusyMs: number;
  /**
   * Each task's compute time, in task order: with the cut, what a stage would
   * take on idle workers (its tasks shared largest first), whichever thread ran them.
   */
  taskMs: number[];
  /** Each task's thread (a worker's threadId, or 0 for the calling thread), in task order: which runner computed which slice. */
  taskThreads: number[];
}

export interface ProgramProfile {
  workers: number;
  /** The runners this run had: 1 on one runner (the one-runner way, one worker, or where every stage is one task), else up to `workers`. */
  runners: number;
  /** Whether the calling thread was one of its runners (GroupedConvEngineOptions.callingThread). */
  onCallingThread: boolean;
  /** From the call to its result. */
  wallMs: number;
  /** Main-thread preparation before the first runner was handed over. */
  setupMs: number;
  stages: StageTiming[];
  /** The runs of stages [from, to) this run took image by image (chains.ts); empty if it went stage by stage. */
  chains: Array<{ from: number; to: number }>;
}

/** The machine's cores: whether a run's workers poll after it (PARK_POLL_MS). */
const CORES = availableParallelism();

/** Element operations below which a ranged task is not worth cutting further (a hand-over at a barrier costs microseconds). */
const MIN_RANGED_TASK_COST = 32_768;
/** Ranged tasks per runner at most: a few, so a runner that starts late still finds work. */
const RANGED_TASKS_PER_RUNNER = 4;

/** Cuts [0, units) into a few tasks per runner, none much cheaper than MIN_RANGED_TASK_COST: [start, end) pairs, flattened. */
export function cutRanged(op: RangedOp, workers: number): number[] {
  if (op.units === 0) return [0, 0];
  // Runs of whole blocks where the kernel computes a block in one pass (RangedOp.unitBlock).
  const block = Math.max(1, op.unitBlock ?? 1);
  const blocks = Math.ceil(op.units / block);
  const byCost = Math.max(1, Math.floor((op.units * op.costPerUnit) / MIN_RANGED_TASK_COST));
  // A count the runners share evenly: 3 tasks on 2 runners leave one runner the middle task alone, its
  // wall two thirds of the stage's work where 2 or 4 tasks take half.
  const fewest = Math.min(blocks, workers * RANGED_TASKS_PER_RUNNER, byCost);
  const n = fewest > 1 ? Math.min(blocks, Math.ceil(fewest / workers) * workers) : fewest;
  const ranges: number[] = [];
  const at = (i: number) => Math.min(op.units, Math.floor((i * blocks) / n) * block);
  for (let i = 0; i < n; i++) ranges.push(at(i), at(i + 1));
  return ranges;
}

let nextProgramId = 1;

/**
 * One way to run the program: stage by stage, or with its chains (chains.ts).
 * Each has its own id and description, so the workers cache both.
 */
interface Mode {
  id: number;
  description: ProgramDescription;
  layout: TaskLayout;
  ref: ArenaRef;
  block: Float32Array;
  /** For each described stage, the program stages it runs (several for a chain segment). */
  origin: number[][];
  runners: number;
  /** Barriers a run meets: one after each described stage but those a chain segment continues. */
  barriers: number;
}

/** A run's table and its runners' scratch, kept for the next run of the same mode. */
interface RunBlocks {
  mode: Mode;
  table: Float32Array;
  scratch: Float32Array[];
}

/** Runs of one mode that keep their blocks for later runs: more at once (concurrent forwards) allocate and free their own. */
const KEPT_RUN_BLOCKS = 2;

export class EngineProgram {
  readonly stages: readonly ProgramStage[];
  /** Floats each buffer holds. */
  readonly bufferLengths: readonly number[];
  /** The runs of stages taken image by image when the buffers allow (chains.ts); empty if none. */
  readonly chains: readonly Chain[];
  private readonly staged: Mode;
  private readonly chained: Mode | null;
  /** Every stage one task on one runner: where there are no chains and several workers, the other way a run may go (mode-choice.ts). */
  private readonly single: Mode | null;
  private readonly choice = new ModeChoice();
  /**
   * Each mode's run blocks from earlier runs. Why: allocated per run, the table landed on arena memory no run
   * had touched yet (a forward's outputs, freed only when collected, kept pushing it up), and the first touch
   * of a page costs a fault here: 36-160 µs of a batch-1 program's setup (docs/benchmarks.md).
   */
  private readonly spareBlocks = new Map<Mode, RunBlocks[]>();
  private readonly plans: Array<{ layer: EngineLayer; entry: PlanEntry }> = [];
  /** The plans' layers, each once: held for every run. */
  private readonly layers: EngineLayer[];
  private readonly scratchFloats: number;
  /**
   * The buffers' byte offsets chainsAreSafe last answered for, and its answer. Why: a forward gives the
   * same block run after run, and the check (a map, a sort and a sweep of ShuffleNetV2's 150 buffers)
   * took 0.18 ms of the calling thread per forward.
   */
  private safeFor: { offsets: Float64Array; safe: boolean } | null = null;
  /** The runners of the last run that resolved before they all returned, until they have. */
  private lingering: Promise<unknown> | null = null;
  /** How the last run went: 'chained' (its chains image by image), 'staged' (a barrier after every stage) or 'single' (every stage one task, one runner). */
  lastRunMode: 'chained' | 'staged' | 'single' | null = null;
  /** The barriers the last run met (the last stage's end counts as one). */
  lastRunBarriers: number | null = null;
  private running = 0;
  private closed = false;

  /** Checks every stage against the buffers, then acquires the kernel plans and writes the description. */
  constructor(
    private readonly host: ProgramHost,
    stages: readonly ProgramStage[],
    bufferLengths: readonly number[],
  ) {
    if (!Array.isArray(stages) || stages.length === 0) throw errors.invalid('stages', 'expected a non-empty array of stages');
    if (!Array.isArray(bufferLengths) || !bufferLengths.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw errors.invalid('buffers', 'expected an array of buffer lengths (floats, integers >= 0)');
    }
    this.stages = [...stages];
    this.bufferLengths = [...bufferLengths];
    const geometries = this.stages.map((stage, i) => this.checkStage(stage, i));
    const buffersOf: StageBuffers[] = this.stages.map((stage, i) =>
      stage.kind === 'conv'
        ? {
            reads: [stage.input, ...(stage.residual != null && stage.residual >= 0 ? [stage.residual] : []), ...(stage.scale ? [stage.scale.buffer] : [])],
            writes: [stage.output],
            geometry: geometries[i]!,
          }
        : { reads: stage.inputs, writes: stage.outputs, geometry: null },
    );
    let scratchFloats = 1;
    const described: StageDescription[] = [];
    const modes: Mode[] = [];
    try {
      this.stages.forEach((stage, i) => {
        if (stage.kind === 'ranged') {
          scratchFloats = Math.max(scratchFloats, stage.op.scratchFloats ?? 0);
          described.push({ kind: 'ranged', op: stage.op, inputs: [...stage.inputs], outputs: [...stage.outputs], ranges: cutRanged(stage.op, host.workers) });
          return;
        }
        const g = geometries[i]!;
        const entry = stage.layer.acquirePlan(g);
        this.plans.push({ layer: stage.layer, entry });
        if (stage.scale && !runsOnNativePointwise(entry.plan)) {
          throw errors.invalid(`stages[${i}].scale`, 'an input scale is taken only by a 1x1 convolution (stride 1, one group) on the native kernels, which this process does not run here');
        }
        const partition = stage.layer.partition(entry, g, host.policy, host.workers);
        scratchFloats = Math.max(scratchFloats, partition.scratchFloats);
        const byPositions = positionCut(g, entry.plan, host.workers, feedsDepthwise(buffersOf, i));
        const slices: number[] = [];
        for (const t of byPositions ?? partition.tasks) slices.push(t.batchStart, t.batchEnd, t.outChannelStart, t.outChannelEnd);
        described.push({
          kind: 'conv',
          planId: entry.id,
          plan: entry.ref,
          weight: refOf(stage.layer.weight.data),
          bias: stage.layer.bias ? refOf(stage.layer.bias.data) : null,
          input: stage.input,
          output: stage.output,
          residual: stage.residual ?? -1,
          scale: stage.scale?.buffer ?? -1,
          scaleFirst: stage.scale?.first ?? false,
          slices: slices.length > 0 ? slices : [0, 0, 0, 0],
          ...(byPositions ? { positions: byPositions.flatMap((t) => [t.positionStart!, t.positionEnd!]) } : {}),
        });
      });
      this.chains = chainsOf(this.stages, this.bufferLengths, host.workers);
      const buffers = this.bufferLengths.length;
      modes.push(this.modeOf({ buffers, stages: described }, described.map((_, i) => [i])));
      if (this.chains.length > 0) {
        const { stages, origin } = chainedStages(described, this.chains, geometries);
        modes.push(this.modeOf({ buffers, stages }, origin));
      } else if (modes[0].runners > 1) {
        const whole = described.map((stage, i): StageDescription =>
          stage.kind === 'conv' ? { ...stage, slices: [0, geometries[i]!.batch, 0, geometries[i]!.outChannels], positions: undefined } : stage.kind === 'ranged' ? { ...stage, ranges: [0, stage.op.units] } : stage,
        );
        modes.push(this.modeOf({ buffers, stages: whole }, described.map((_, i) => [i])));
      }
    } catch (error) {
      for (const mode of modes) sharedArena().release(mode.block);
      this.releasePlans();
      throw error;
    }
    this.staged = modes[0];
    this.chained = this.chains.length > 0 ? modes[1] : null;
    this.single = this.chains.length === 0 ? (modes[1] ?? null) : null;
    this.scratchFloats = scratchFloats;
    this.layers = [...new Set(this.plans.map((p) => p.layer))];
  }

  private modeOf(description: ProgramDescription, origin: number[][]): Mode {
    const layout = taskLayoutOf(description);
    const { ref, block } = storeDescription(description);
    const continued = description.stages.filter((stage) => stage.kind === 'chain' && stage.continues === true).length;
    const barriers = description.stages.length - continued;
    return { id: nextProgramId++, description, layout, ref, block, origin, runners: Math.min(this.host.workers, Math.max(...layout.count)), barriers };
  }

  /** The program's id as the workers know it (stage by stage). */
  get id(): number {
    return this.staged.id;
  }

  private checkStage(stage: ProgramStage, i: number): ConvGeometry | null {
    const name = `stages[${i}]`;
    if (stage === null || typeof stage !== 'object') throw errors.invalid(name, 'expected a stage object');
    const buffer = (what: string, b: unknown): number => {
      if (!Number.isInteger(b) || (b as number) < 0 || (b as number) >= this.bufferLengths.length) {
        throw errors.invalid(`${name}.${what}`, `expected a buffer index in [0, ${this.bufferLengths.length}), got ${String(b)}`);
      }
      return b as number;
    };
    const sized = (what: string, b: unknown, floats: number): void => {
      const index = buffer(what, b);
      if (this.bufferLengths[index] !== floats) {
        throw errors.invalid(`${name}.${what}`, `buffer ${index} holds ${this.bufferLengths[index]} floats, the stage needs ${floats}`);
      }
    };
    if (stage.kind === 'ranged') {
      if (!Object.hasOwn(RANGED_KERNELS, stage.op?.kernel)) throw errors.invalid(`${name}.op.kernel`, `no ranged kernel is named '${String(stage.op?.kernel)}'`);
      if (!Number.isSafeInteger(stage.op.units) || stage.op.units < 0) throw errors.invalid(`${name}.op.units`, `expected an integer >= 0, got ${String(stage.op.units)}`);
      stage.inputs.forEach((b, j) => buffer(`inputs[${j}]`, b));
      stage.outputs.forEach((b, j) => buffer(`outputs[${j}]`, b));
      return null;
    }
    if (stage.kind !== 'conv') throw errors.invalid(`${name}.kind`, `expected 'conv' or 'ranged', got ${String((stage as { kind: unknown }).kind)}`);
    const { layer } = stage;
    const resolved = resolveShapes([...stage.inputShape], layer.weight.shape, layer.bias?.shape ?? null, layer.options);
    const outputs = numel(outputShapeOf(resolved));
    sized('input', stage.input, numel(stage.inputShape));
    sized('output', stage.output, outputs);
    if (stage.residual !== undefined && stage.residual !== null) sized('residual', stage.residual, outputs);
    if (stage.scale !== undefined && stage.scale !== null) {
      if (typeof stage.scale !== 'object' || typeof stage.scale.first !== 'boolean') throw errors.invalid(`${name}.scale`, 'expected { buffer, first } or null');
      sized('scale.buffer', stage.scale.buffer, resolved.geometry.batch * resolved.geometry.inChannels);
    }
    return resolved.geometry;
  }

  /**
   * Runs the program with buffer i at `buffers[i]` (arena views of the declared lengths);
   * outputs are written in place. Resolves to the stage timings with `{ profile: true }`.
   */
  async run(buffers: readonly Float32Array[], options: { profile?: boolean } = {}): Promise<ProgramProfile | null> {
    const callStart = absoluteNow();
    if (this.closed) throw errors.programClosed();
    if (this.host.closed) throw errors.engineClosed();
    const arena = sharedArena();
    if (!Array.isArray(buffers) || buffers.length !== this.bufferLengths.length) {
      throw errors.invalid('buffers', `expected ${this.bufferLengths.length} Float32Arrays, got ${Array.isArray(buffers) ? buffers.length : typeof buffers}`);
    }
    buffers.forEach((b, i) => {
      if (!(b instanceof Float32Array) || !arena.owns(b)) throw errors.invalid(`buffers[${i}]`, 'expected a Float32Array in the shared arena');
      if (b.length !== this.bufferLengths[i]) throw errors.invalid(`buffers[${i}]`, `expected ${this.bufferLengths[i]} floats, got ${b.length}`);
    });

    const stages = this.stages.length;
    let blocks: RunBlocks | null = null;
    let call: Call | null = null;
    // The layers' weights and plans stay while the workers read them, even if a layer is closed meanwhile.
    const holds: Array<() => void> = [];
    // Set when the run is over but a runner has yet to return: the run's blocks and holds wait for it.
    let lingering: Promise<unknown> | null = null;
    this.running++;
    try {
      for (const layer of this.layers) holds.push(layer.hold());
      // The last run's runners, if one has yet to return: its blocks are this run's (a new table would
      // land on memory no run has touched, whose first touch costs a fault a page). Counted as running
      // and holding its layers meanwhile, so a close() now (of the program or a layer) leaves them to this run.
      if (this.lingering) await this.lingering;
      const wayRun = this.single ? this.choice.next() : null;
      const way: ProgramWay | null = wayRun?.way ?? null;
      const mode = this.chained && this.chainsSafeFor(buffers) ? this.chained : way === 'single' ? this.single! : this.staged;
      this.lastRunMode = mode === this.chained ? 'chained' : mode === this.single ? 'single' : 'staged';
      this.lastRunBarriers = mode.barriers;
      const described = mode.description.stages.length;
      blocks = this.takeRunBlocks(mode, Math.ceil(ProgramTable.bytes(described, buffers.length, mode.layout) / 4));
      const tableBlock = blocks.table;
      const table = new ProgramTable(tableBlock.buffer, tableBlock.byteOffset, described, buffers.length, mode.layout);
      buffers.forEach((b, i) => table.setBuffer(i, b));
      const scratch = blocks.scratch;
      // Workers poll for the next run only where they and the calling thread have a core each (PARK_POLL_MS).
      const workerRunners = mode.runners - (this.host.callingThread ? 1 : 0);
      const pollMs = workerRunners + 1 <= CORES ? PARK_POLL_MS : 0;
      const messages: ProgramRunMessage[] = Array.from({ length: mode.runners }, (_, runner) => {
        return { kind: 'program', programId: mode.id, program: mode.ref, scratch: refOf(scratch[runner]), table: tableBlock.byteOffset, runner, pollMs, nativeRuns: mode.runners === 1, profiled: options.profile === true };
      });
      const running = new Call(table, (failed) => this.host.dropQueued(failed));
      call = running;
      this.host.begin(running);
      const firstDispatch = absoluteNow();
      // The calling thread is runner 0 (callingThread): one runner meets no other at its barriers, so it runs
      // synchronously; beside workers it saves one hand-off (a sleeping worker's wake-up) and the way back
      // (Atomics.waitAsync's), a batch-1 forward's largest fixed cost.
      const here = this.host.callingThread;
      const failedOn = (runner: number, onCallingThread: boolean) => (error: unknown) => running.fail(this.describeFailure(mode, table, runner, error, onCallingThread));
      if (here && mode.runners === 1) {
        this.host.stopPolling();
        try {
          runProgramTasks(messages[0]);
        } catch (error) {
          failedOn(0, true)(error);
        }
      } else {
        // Beside the calling thread, its workers run anywhere but on its CPU; a cut on workers alone, one a CPU (placement.ts).
        const place = programPlace(here, mode.runners);
        const runs = messages.slice(here ? 1 : 0).map((message) => this.host.sendRunner(message, running, place).catch(failedOn(message.runner, false)));
        if (here) runs.push(runProgramTasksHere(messages[0]).catch(failedOn(0, true)));
        // The table and scratch are freed only once every runner has returned (a queued runner still reads them).
        running.settled = Promise.all(runs);
        const over = table.runOver();
        if (over) await Promise.race([running.settled, over]);
        if (table.completed() === described) {
          // Every task is done: the result is ready, whichever runner has yet to wake from the last barrier,
          // and runners still queued behind other calls would find nothing to do.
          this.host.dropQueued(running);
          lingering = running.settled;
          this.lingering = lingering;
        } else {
          await running.settled; // cancelled, or failed: its runners' reports say why
        }
      }
      if (running.error !== null) throw running.error;
      for (let s = 0; s < described; s++) {
        for (let t = 0; t < mode.layout.count[s]; t++) {
          const stage = mode.origin[s][0];
          if (!table.isFinished(mode.layout.first[s] + t)) throw errors.programUnfinished(stage, stages, this.stages[stage].label);
        }
      }
      const callEnd = absoluteNow();
      if (wayRun) this.choice.record(wayRun, callEnd - callStart);
      if (!options.profile) return null;
      return this.profileOf(mode, table, callStart, firstDispatch, callEnd, here);
    } finally {
      const end = () => {
        if (call) this.host.end(call);
        // Every runner has returned here (or none was handed the blocks): the next run may have them.
        if (blocks) this.returnRunBlocks(blocks);
        this.running--;
        if (this.closed && this.running === 0) this.free();
        // After the program has released its plans: a layer closed meanwhile is freed only now.
        for (const release of holds) release();
        if (this.lingering === lingering) this.lingering = null;
      };
      // A run that resolved before all its runners returned ends when they have (running.settled never rejects).
      if (lingering) void lingering.then(end);
      else end();
    }
  }

  /** chainsAreSafe for these buffers (their lengths are the program's, checked): the last answer when they are where they were. */
  private chainsSafeFor(buffers: readonly Float32Array[]): boolean {
    const last = this.safeFor;
    if (last) {
      let same = true;
      for (let i = 0; i < buffers.length && same; i++) same = buffers[i].byteOffset === last.offsets[i];
      if (same) return last.safe;
    }
    const safe = chainsAreSafe(this.chains, buffers);
    this.safeFor = { offsets: Float64Array.from(buffers, (b) => b.byteOffset), safe };
    return safe;
  }

  /** A runner's job failed: the stage of the task it had claimed and not finished (else the first unfinished one). */
  private describeFailure(mode: Mode, table: ProgramTable, runner: number, error: unknown, onCallingThread = false): Error {
    const { first, count, total } = mode.layout;
    const culprit = failedTask(table, total, runner);
    let described = 0;
    while (described + 1 < first.length && (culprit >= first[described] + count[described] || count[described] === 0)) described++;
    // In a chain, the member its task had entered.
    const origin = mode.origin[described];
    const stage = origin.length > 1 && culprit >= 0 && culprit < total ? origin[table.memberOf(culprit)] : origin[0];
    return errors.programStageFailed(stage, this.stages.length, this.stages[stage].label, !onCallingThread && isWorkerDeath(error), error, onCallingThread);
  }

  /**
   * Each program stage's timings. In a chain, a member's part of a task runs
   * from the previous member's end (the task's start for the first) to its own.
   */
  private profileOf(mode: Mode, table: ProgramTable, callStart: number, firstDispatch: number, callEnd: number, onCallingThread: boolean): ProgramProfile {
    const timings: StageTiming[] = [];
    mode.origin.forEach((stages, s) => {
      const { first, count } = mode.layout;
      stages.forEach((stage, m) => {
        const spans: Array<{ start: number; end: number; threadId: number }> = [];
        for (let local = 0; local < count[s]; local++) {
          const r = table.report(first[s] + local);
          if (stages.length === 1) spans.push({ start: r.startTime, end: r.endTime, threadId: r.threadId });
          else spans.push({ start: m === 0 ? r.startTime : table.memberEnd(s, local, m - 1), end: table.memberEnd(s, local, m), threadId: r.threadId });
        }
        timings[stage] = stageTiming(this.stages[stage].label, spans, callStart);
      });
    });
    const chains = mode === this.chained ? this.chains.map(({ from, to }) => ({ from, to })) : [];
    return { workers: this.host.workers, runners: mode.runners, onCallingThread, wallMs: callEnd - callStart, setupMs: firstDispatch - callStart, stages: timings, chains };
  }

  /**
   * Frees the description and releases the kernel plans (after the runs in flight, and after the runners of a
   * finished run that have yet to return from its last barrier: microseconds). Close programs before their
   * layers. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.running === 0) this.free();
  }

  /** A run's blocks: an earlier run's, the table zeroed, or new ones. */
  private takeRunBlocks(mode: Mode, tableFloats: number): RunBlocks {
    const kept = this.spareBlocks.get(mode)?.pop();
    if (kept) {
      kept.table.fill(0);
      return kept;
    }
    const arena = sharedArena();
    const table = arena.allocateFloat32(tableFloats);
    // Not zeroed: kernels write scratch before reading it.
    const scratch = Array.from({ length: mode.runners }, () => arena.allocateFloat32(this.scratchFloats, { zero: false }));
    return { mode, table, scratch };
  }

  private returnRunBlocks(blocks: RunBlocks): void {
    let kept = this.spareBlocks.get(blocks.mode);
    if (!kept) {
      kept = [];
      this.spareBlocks.set(blocks.mode, kept);
    }
    if (!this.closed && kept.length < KEPT_RUN_BLOCKS) kept.push(blocks);
    else releaseRunBlocks(blocks);
  }

  private free(): void {
    for (const kept of this.spareBlocks.values()) kept.splice(0).forEach(releaseRunBlocks);
    this.releasePlans();
    sharedArena().release(this.staged.block);
    if (this.chained) sharedArena().release(this.chained.block);
    if (this.single) sharedArena().release(this.single.block);
  }

  private releasePlans(): void {
    for (const { layer, entry } of this.plans.splice(0)) layer.releasePlan(entry);
  }
}

function releaseRunBlocks(blocks: RunBlocks): void {
  const arena = sharedArena();
  arena.release(blocks.table);
  for (const s of blocks.scratch) arena.release(s);
}

/**
 * The program's stages with each chain in place of its members, cut into
 * segments (described stages that continue one another, no barrier between):
 * a member is described as one task over every image (the runner narrows it
 * to a task's images), each segment's tasks are runs of IMAGES_PER_CHAIN_TASK images.
 */
function chainedStages(described: readonly StageDescription[], chains: readonly Chain[], geometries: ReadonlyArray<ConvGeometry | null>): { stages: StageDescription[]; origin: number[][] } {
  const stages: StageDescription[] = [];
  const origin: number[][] = [];
  for (let i = 0; i < described.length; ) {
    const chain = chains.find((c) => c.from === i);
    if (!chain) {
      stages.push(described[i]);
      origin.push([i++]);
      continue;
    }
    const members: ChainMember[] = [];
    for (let m = chain.from; m < chain.to; m++) {
      const stage = described[m] as ChainMember;
      if (stage.kind === 'conv') {
        const g = geometries[m]!;
        members.push({ ...stage, slices: [0, g.batch, 0, g.outChannels], positions: undefined });
      } else {
        members.push({ ...stage, ranges: [0, stage.op.units] });
      }
    }
    const runs: number[] = [];
    for (let b = 0; b < chain.images; b += IMAGES_PER_CHAIN_TASK) runs.push(b, Math.min(chain.images, b + IMAGES_PER_CHAIN_TASK));
    const bounds = chainSegments(members.map((m, k) => memberCost(m, geometries[chain.from + k])), CHAIN_SEGMENTS);
    for (let k = 0; k + 1 < bounds.length; k++) {
      stages.push({ kind: 'chain', images: chain.images, members: members.slice(bounds[k], bounds[k + 1]), runs, continues: k > 0 });
      origin.push(Array.from({ length: bounds[k + 1] - bounds[k] }, (_, j) => chain.from + bounds[k] + j));
    }
    i = chain.to;
  }
  return { stages, origin };
}

/** A member's rough cost, to cut its chain into segments of about equal time: multiply-accumulates of a conv, element operations of a ranged op. */
function memberCost(member: ChainMember, geometry: ConvGeometry | null): number {
  if (member.kind === 'ranged') return member.op.units * member.op.costPerUnit;
  const g = geometry!;
  return g.batch * g.outChannels * g.outHeight * g.outWidth * g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth;
}

/** A stage's timing from its tasks' (or its parts of chain tasks') spans. */
function stageTiming(label: string, spans: ReadonlyArray<{ start: number; end: number; threadId: number }>, callStart: number): StageTiming {
  let firstStart = Infinity;
  let lastEnd = -Infinity;
  const byThread = new Map<number, ThreadProfile>();
  for (const { start, end, threadId } of spans) {
    firstStart = Math.min(firstStart, start);
    lastEnd = Math.max(lastEnd, end);
    const entry = byThread.get(threadId) ?? { threadId, busyMs: 0, tasks: 0 };
    entry.busyMs += end - start;
    entry.tasks++;
    byThread.set(threadId, entry);
  }
  const threads = [...byThread.values()].sort((a, b) => a.threadId - b.threadId);
  return {
    label,
    tasks: spans.length,
    firstStartMs: firstStart - callStart,
    lastEndMs: lastEnd - callStart,
    threads,
    busiestMs: threads.reduce((m, t) => Math.max(m, t.busyMs), 0),
    totalBusyMs: threads.reduce((sum, t) => sum + t.busyMs, 0),
    taskMs: spans.map(({ start, end }) => end - start),
    taskThreads: spans.map(({ threadId }) => threadId),
  };
}
