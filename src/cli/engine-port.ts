// What the benchmark needs from the group-parallel engine, and nothing more.
// The bench is written against this port so that its harness, reports and
// tests do not depend on how the engine is built; main.ts plugs the real
// GroupedConvEngine in (see createEngine below).
import type { Conv2dOptions } from '../conv/geometry.js';
import type { TaskProfile as EngineTaskProfile } from '../engine/profile.js';
import type { Tensor } from '../tensor/tensor.js';
import type { PartitionPolicy } from '../scheduler/conv-tasks.js';

/** One task of a profiled call: the engine's task profile, less what the bench does not read. */
export type TaskProfile = Pick<
  EngineTaskProfile,
  'groupStart' | 'groupEnd' | 'outChannelStart' | 'outChannelEnd' | 'batchStart' | 'batchEnd' | 'threadId' | 'queueWaitMs' | 'computeMs' | 'startMs' | 'endMs'
>;

/** A profiled call: wall time, dispatch overhead (wall minus the busiest worker's time), imbalance (max / mean worker busy time). */
export interface CallProfile {
  wallMs: number;
  dispatchOverheadMs: number;
  imbalance: number;
  perGroupMs?: number[];
  workers?: number;
  tasks: TaskProfile[];
}

export interface PreparedLayer {
  run(input: Tensor, options: { profile: true; out?: Tensor }): Promise<{ output: Tensor; profile: CallProfile }>;
  /** Frees the layer's shared copies of its weights. */
  close?(): void;
}

export interface BenchEngine {
  /** Starts every worker thread, so that timing never includes thread start-up. */
  warmup(): Promise<void>;
  layer(weight: Tensor, bias: Tensor | null, options: Conv2dOptions): PreparedLayer;
  close(): Promise<void>;
  /** Name of the kernel the engine runs for this layer, when it can say. */
  kernelKind?: string;
}

export type EngineFactory = (options: { workers: number; policy: PartitionPolicy }) => BenchEngine | Promise<BenchEngine>;
