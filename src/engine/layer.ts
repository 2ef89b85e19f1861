// A convolution prepared on a GroupedConvEngine: its weights (and bias) are in
// shared memory once, and its kernel plans (one per input shape) are made once
// and cached by the workers, so each run sends only the input's location.
import { checkConvOptions, type Conv2dOptions, type ConvGeometry } from '../conv/geometry.js';
import { errors } from '../errors.js';
import { checkActivation, type Activation } from '../kernels/epilogue.js';
import { planConv, planScratchFloats, releasePlan, type KernelPlan } from '../kernels/plan/index.js';
import { sharedArena } from '../memory/arena.js';
import { partitionConv, type ConvTask, type PartitionPolicy } from '../scheduler/conv-tasks.js';
import { checkTensor, dispose, toShared, type Tensor } from '../tensor/tensor.js';
import { checkIsObject, type EngineLayerOptions, type EngineRunOptions } from './options.js';
import { storePlan } from './plan-codec.js';
import type { ProfiledResult } from './profile.js';
import type { ArenaRef } from './protocol.js';

/** A kernel plan, and its JSON in the arena for the workers. */
export interface PlanEntry {
  id: number;
  key: string;
  plan: KernelPlan;
  ref: ArenaRef;
  block: Float32Array;
  /** Calls running with this plan: it is released only when none is. */
  users: number;
  /** Partitions of this geometry on the engine's workers, by policy (made once: the partition and its scratch sizes are pure functions of them). */
  partitions: Map<PartitionPolicy, Partition>;
}

/** A call's tasks (frozen: shared by every call of the same shape and policy) and the scratch any of them needs. */
interface Partition {
  tasks: readonly ConvTask[];
  /** Floats of scratch a runner needs to run any of the tasks (at least one: a kernel always gets an arena view). */
  scratchFloats: number;
}

/**
 * What runs a layer's calls: the engine, seen through the one method a layer
 * needs, so that layer.ts does not depend on engine.ts (which makes layers).
 */
export interface LayerExecutor {
  /** Runs the layer on `input` (checks the input and options itself). */
  execute(layer: EngineLayer, input: Tensor, options: EngineRunOptions): Promise<Tensor | ProfiledResult>;
}

let nextPlanId = 1;
/** Plans kept for input shapes not in use, per layer (each may hold packed weights). */
const IDLE_PLANS_KEPT = 4;

export class EngineLayer {
  /** The weight and bias in shared memory (copies, unless they were shared tensors already). */
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** The convolution's options (conv2d's), without the activation. */
  readonly options: Conv2dOptions;
  /** The activation the kernels apply to each output (after the call's residual, if any), fixed with the layer's plans. */
  readonly activation: Activation;
  private readonly owned: Tensor[] = [];
  private readonly plans = new Map<string, PlanEntry>();
  private running = 0;
  private closed = false;

  constructor(
    private readonly executor: LayerExecutor,
    weight: Tensor,
    bias: Tensor | null,
    layerOptions: EngineLayerOptions,
  ) {
    checkIsObject(layerOptions);
    const { activation, ...options } = layerOptions;
    const w = checkTensor('weight', weight, [4]);
    const b = bias === null ? null : checkTensor('bias', bias);
    const { groups } = checkConvOptions(options);
    const outChannels = w.shape[0];
    if (outChannels % groups !== 0) throw errors.channelsNotDivisible('weight.shape[0] (output channels)', outChannels, groups);
    if (b && (b.shape.length !== 1 || b.shape[0] !== outChannels)) throw errors.biasLength(b.shape, outChannels);
    if (w.shape[2] === 0 || w.shape[3] === 0) throw errors.invalid('weight.shape', `kernel size must be positive, got ${w.shape[2]} x ${w.shape[3]}`);
    this.activation = checkActivation(activation);
    this.options = { ...options };
    this.weight = this.own(w);
    this.bias = b ? this.own(b) : null;
  }

  private own(t: Tensor): Tensor {
    const shared = toShared(t);
    if (shared !== t) this.owned.push(shared);
    return shared;
  }

  /** Whether `executor` (an engine) prepared this layer: a program may only run its own engine's layers. */
  belongsTo(executor: LayerExecutor): boolean {
    return this.executor === executor && !this.closed;
  }

  /**
   * Keeps the layer's shared memory (weights, plans) while a program runs it, as a run in flight
   * does: close() frees it once the last hold is released. Call the returned function once.
   */
  hold(): () => void {
    if (this.closed) throw errors.layerClosed();
    this.running++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.running--;
      if (this.closed && this.running === 0) this.free();
    };
  }

  /** Runs the convolution on `input`; resolves to a new shared tensor (or `out`), or `{ output, profile }` with `profile: true`. */
  run(input: Tensor, options: EngineRunOptions & { profile: true }): Promise<ProfiledResult>;
  run(input: Tensor, options?: EngineRunOptions): Promise<Tensor>;
  async run(input: Tensor, options: EngineRunOptions = {}): Promise<Tensor | ProfiledResult> {
    if (this.closed) throw errors.layerClosed();
    this.running++;
    try {
      return await this.executor.execute(this, input, options);
    } finally {
      this.running--;
      if (this.closed && this.running === 0) this.free();
    }
  }

  /** `run` resolving to `{ output, profile }`. */
  runProfiled(input: Tensor, options: EngineRunOptions = {}): Promise<ProfiledResult> {
    return this.run(input, { ...options, profile: true });
  }

  /** Frees the layer's shared memory (after the runs in flight finish). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.running === 0) this.free();
  }

  /** The plan for this geometry, made on first use; pair with releasePlan. */
  acquirePlan(g: ConvGeometry): PlanEntry {
    const key = `${g.batch}x${g.inHeight}x${g.inWidth}`;
    let entry = this.plans.get(key);
    if (entry) {
      this.plans.delete(key); // re-inserted below: Map order is least recently used first
    } else {
      const plan = planConv(g, this.weight.data, null, this.activation);
      const { ref, block } = storePlan(plan);
      entry = { id: nextPlanId++, key, plan, ref, block, users: 0, partitions: new Map() };
    }
    this.plans.set(key, entry);
    entry.users++;
    return entry;
  }

  releasePlan(entry: PlanEntry): void {
    if (this.plans.get(entry.key) !== entry) return; // freed with the layer already
    entry.users--;
    let idle = [...this.plans.values()].filter((e) => e.users === 0);
    while (idle.length > IDLE_PLANS_KEPT) {
      this.dropPlan(idle[0]);
      idle = idle.slice(1);
    }
  }

  /** The tasks of a call on `workers` workers under `policy` with this plan's geometry, made on first use. */
  partition(entry: PlanEntry, g: ConvGeometry, policy: PartitionPolicy, workers: number): Partition {
    let partition = entry.partitions.get(policy);
    if (!partition) {
      const tasks = partitionConv(g, policy, workers).map((task) => Object.freeze(task));
      // A runner may claim any task; a plan's scratch does not depend on the slice, so one size fits them all.
      const scratchFloats = Math.max(1, planScratchFloats(entry.plan));
      partition = { tasks, scratchFloats };
      entry.partitions.set(policy, partition);
    }
    return partition;
  }

  private dropPlan(entry: PlanEntry): void {
    this.plans.delete(entry.key);
    releasePlan(entry.plan);
    sharedArena().release(entry.block);
  }

  private free(): void {
    for (const entry of [...this.plans.values()]) this.dropPlan(entry);
    dispose(...this.owned);
    this.owned.length = 0;
  }
}
