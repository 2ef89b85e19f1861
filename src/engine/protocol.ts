// The messages between the engine (main thread) and its workers. Tensors never
// travel: they live in the shared arena and messages carry only where they are
// (byte offsets and lengths) plus the slice to compute, so a message is a few
// dozen numbers whatever the size of the convolution.
import type { ConvSlice } from '../conv/geometry.js';

/** A block of the shared arena: byte offset and length in elements (floats, or bytes for the plan). */
export interface ArenaRef {
  byteOffset: number;
  length: number;
}

export interface ConvTaskMessage {
  kind: 'conv';
  /** Unique id of the kernel plan; workers cache decoded plans by it. */
  planId: number;
  /** The plan as JSON bytes in the arena, decoded once per worker per plan. */
  plan: ArenaRef;
  input: ArenaRef;
  weight: ArenaRef;
  bias: ArenaRef | null;
  output: ArenaRef;
  scratch: ArenaRef | null;
  slice: ConvSlice;
  /** Byte offset of the call's Int32 cancel flag: non-zero means stop before the next image. */
  control: number;
}

export interface PingMessage {
  kind: 'ping';
}

export type WorkerMessage = ConvTaskMessage | PingMessage;

/** What a worker reports back. Times are absolute (performance.timeOrigin + performance.now()), in ms. */
export interface TaskReport {
  threadId: number;
  startTime: number;
  endTime: number;
  /** True when the task stopped early because its call was cancelled (its slice is incomplete). */
  cancelled: boolean;
}

/** A timestamp comparable across threads: each thread's performance.now() counts from its own origin. */
export function absoluteNow(): number {
  return performance.timeOrigin + performance.now();
}
