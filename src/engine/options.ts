// The engine's options and their checks, kept apart from the engine so the
// public option types can be shared (layer.ts needs EngineRunOptions) without
// importing the engine. A call runs these checks (with the tensors' own) before
// it takes any shared memory, so a bad argument never leaves anything to free.
import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import type { Conv2dOptions } from '../conv/geometry.js';
import { errors } from '../errors.js';
import type { ActivationOption } from '../kernels/epilogue.js';
import { PARTITION_POLICIES, type PartitionPolicy } from '../scheduler/conv-tasks.js';
import { checkTensor, isShared, type Tensor } from '../tensor/tensor.js';

export interface GroupedConvEngineOptions {
  /** Worker threads in the pool (default: the machine's available parallelism). */
  workers?: number;
  /** How a convolution is cut into tasks (default 'balanced'); see PartitionPolicy. */
  policy?: PartitionPolicy;
  /** Limits for each worker thread (piscina resourceLimits); a worker that exceeds them dies and is replaced. */
  resourceLimits?: ResourceLimits;
  /**
   * How workers wait for pool jobs (piscina's `atomics`): 'sync' (default) blocks
   * them in Atomics.wait; 'async' and 'disabled' keep their event loops running.
   * Between calls a worker waits on its own doorbell instead (a parked runner, see
   * doorbell.ts); this applies once it has handed itself back to the pool.
   */
  atomics?: 'sync' | 'async' | 'disabled';
  /**
   * Advanced: the worker entry, a module whose default export is workers/conv-worker's
   * handler or `createWorkerHandler(beforeTask)` from it (a hook run before each task).
   * A .ts entry works only when running from the sources.
   */
  workerFile?: string | URL;
  /**
   * The calling thread is one of every program run's runners
   * (engine.program(...).run; an ONNX model's forwardWith runs one a forward),
   * as onnxruntime-node's session.run computes on the thread that calls it, its
   * intra-op pool's threads beside it: a run on one runner runs on the calling
   * thread alone, synchronously; a run on R runners hands R - 1 to workers. It
   * saves the hand-off to a worker and back (0.3-0.5 ms a forward on the machine
   * of docs/benchmarks.md), but the event loop waits for the run. Default false.
   */
  callingThread?: boolean;
}

export interface EngineRunOptions {
  /** Resolve to `{ output, profile }` with where the time went. */
  profile?: boolean;
  /**
   * Write the result here instead of allocating: a shared tensor
   * (zeros(shape, { shared: true })) of the output's shape. If the call fails its contents are unspecified.
   */
  out?: Tensor;
  /** Cancels the call: its tasks stop before their next image and the call rejects with an AbortError. */
  signal?: AbortSignal;
  /** Overrides the engine's policy for this call. */
  policy?: PartitionPolicy;
  /**
   * Added to the convolution's output before the layer's activation, in the
   * kernels' epilogue (ResNet's identity): a tensor of the output's shape, used
   * in place when shared, else copied in like the input. It must not overlap `out`.
   */
  residual?: Tensor | null;
}

/** engine.layer's options: conv2d's, and the activation its kernels apply as they store each output. */
export interface EngineLayerOptions extends Conv2dOptions {
  /** 'relu', { kind: 'clip', min, max } (ReLU6: 0..6), 'hardswish', 'sigmoid', 'silu', 'hardsigmoid' or { kind: 'hardsigmoid', alpha, beta }, or 'none' (the default); see src/kernels/epilogue.ts. */
  activation?: ActivationOption;
}

export type EngineConv2dOptions = Conv2dOptions & EngineRunOptions;

/** GroupedConvEngineOptions once checked, with the defaults filled in. */
interface EngineSettings {
  workers: number;
  policy: PartitionPolicy;
  resourceLimits: ResourceLimits | undefined;
  atomics: 'sync' | 'async' | 'disabled';
  workerFile: string | URL | undefined;
  callingThread: boolean;
}

const ENGINE_OPTION_KEYS = ['workers', 'policy', 'resourceLimits', 'atomics', 'workerFile', 'callingThread'] as const;
const RUN_OPTION_KEYS = ['profile', 'out', 'signal', 'policy', 'residual'] as const;

/** Checks the engine's constructor options (before any thread starts) and fills in the defaults. */
export function checkEngineOptions(options: GroupedConvEngineOptions): EngineSettings {
  checkIsObject(options);
  for (const key of Object.keys(options)) {
    if (!(ENGINE_OPTION_KEYS as readonly string[]).includes(key)) throw errors.unknownOption('options', key, ENGINE_OPTION_KEYS);
  }
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1) throw errors.notPositiveInteger('workers', workers);
  const policy = checkPolicy(options.policy ?? 'balanced');
  if (options.atomics !== undefined && !['sync', 'async', 'disabled'].includes(options.atomics)) {
    throw errors.invalid('atomics', `expected 'sync', 'async' or 'disabled', got ${String(options.atomics)}`);
  }
  if (options.callingThread !== undefined && typeof options.callingThread !== 'boolean') {
    throw errors.invalid('callingThread', `expected true or false, got ${String(options.callingThread)}`);
  }
  return { workers, policy, resourceLimits: options.resourceLimits, atomics: options.atomics ?? 'sync', workerFile: options.workerFile, callingThread: options.callingThread ?? false };
}

/** `options` is an object: JavaScript callers can pass anything. */
export function checkIsObject(options: unknown): void {
  if (options === null || typeof options !== 'object') throw errors.invalid('options', 'expected an object');
}

function checkPolicy(policy: unknown): PartitionPolicy {
  if (!PARTITION_POLICIES.includes(policy as PartitionPolicy)) {
    throw errors.invalid('policy', `expected one of ${PARTITION_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${String(policy)}`);
  }
  return policy as PartitionPolicy;
}

/** Checks a run's options except `out`, whose check needs the output's shape (checkOut). */
export function checkRunOptions(options: EngineRunOptions): void {
  checkIsObject(options);
  for (const [key, value] of Object.entries(options)) {
    if (!(RUN_OPTION_KEYS as readonly string[]).includes(key)) throw errors.unknownOption('options', key, RUN_OPTION_KEYS);
    if (value === undefined) continue;
    if (key === 'policy') checkPolicy(value);
    if (key === 'signal' && !(value instanceof AbortSignal)) throw errors.invalid('signal', 'expected an AbortSignal');
    if (key === 'profile' && typeof value !== 'boolean') throw errors.invalid('profile', `expected a boolean, got ${String(value)}`);
    if (key === 'residual' && value !== null) checkTensor('residual', value);
  }
}

/**
 * `out` can take the result: a shared tensor of the output's shape that overlaps
 * none of `inputs` (workers write it while others read those).
 */
export function checkOut(out: Tensor, shape: number[], inputs: Array<Tensor | null>): void {
  checkTensor('out', out);
  if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) throw errors.shapeMismatch('out.shape', shape, out.shape);
  if (!isShared(out)) throw errors.invalid('out', 'must live in shared memory: allocate it with zeros(shape, { shared: true })');
  const start = out.data.byteOffset;
  const end = start + out.data.byteLength;
  for (const t of inputs) {
    if (!t || !isShared(t)) continue;
    if (t.data.byteOffset < end && start < t.data.byteOffset + t.data.byteLength) {
      throw errors.invalid('out', 'must not overlap the input, weight or bias');
    }
  }
}
