// What a worker does with a message, kept out of workers/ so the worker entry
// stays a thin shell and this code can be exercised on any thread. It computes
// through the kernel-plan contract only (runPlan), the same call the
// single-threaded path makes, so results do not depend on the thread.
import { threadId } from 'node:worker_threads';
import type { ConvSlice } from '../conv/geometry.js';
import { arenaView, sharedArena } from '../memory/arena.js';
import { runPlan, type KernelPlan } from '../kernels/plan.js';
import { absoluteNow, type ArenaRef, type ConvTaskMessage, type TaskReport, type WorkerMessage } from './protocol.js';

/** Decoded plans by id. Ids are never reused, so entries never go stale; the cap bounds memory over one-shot calls. */
const plans = new Map<number, KernelPlan>();
const PLAN_CACHE_SIZE = 64;

function planOf(message: ConvTaskMessage): KernelPlan {
  let plan = plans.get(message.planId);
  if (plan) {
    // Refresh its place in the insertion order, so the least recently used plan goes first.
    plans.delete(message.planId);
  } else {
    // TextDecoder refuses views of a SharedArrayBuffer: copy the bytes out first.
    const bytes = new Uint8Array(sharedArena().buffer, message.plan.byteOffset, message.plan.length).slice();
    plan = JSON.parse(new TextDecoder().decode(bytes)) as KernelPlan;
    if (plans.size >= PLAN_CACHE_SIZE) plans.delete(plans.keys().next().value!);
  }
  plans.set(message.planId, plan);
  return plan;
}

const view = (ref: ArenaRef | null): Float32Array | null => (ref ? arenaView(ref.byteOffset, ref.length) : null);

/**
 * Computes the message's slice one image at a time, checking the call's cancel
 * flag between images, so an aborted or closed call stops within one image
 * without killing the worker (which would leave its writes in flight).
 */
export function runConvTask(message: ConvTaskMessage): TaskReport {
  const startTime = absoluteNow();
  const plan = planOf(message);
  const input = view(message.input)!;
  const weight = view(message.weight)!;
  const bias = view(message.bias);
  const output = view(message.output)!;
  const scratch = view(message.scratch);
  const control = new Int32Array(sharedArena().buffer, message.control, 1);
  const { slice } = message;
  let cancelled = false;
  for (let n = slice.batchStart; n < slice.batchEnd; n++) {
    if (Atomics.load(control, 0) !== 0) {
      cancelled = true;
      break;
    }
    const image: ConvSlice = { batchStart: n, batchEnd: n + 1, outChannelStart: slice.outChannelStart, outChannelEnd: slice.outChannelEnd };
    runPlan(plan, input, weight, bias, output, image, scratch);
  }
  return { threadId, startTime, endTime: absoluteNow(), cancelled };
}

export function handleWorkerMessage(message: WorkerMessage): TaskReport {
  if (message.kind === 'ping') {
    const now = absoluteNow();
    return { threadId, startTime: now, endTime: now, cancelled: false };
  }
  return runConvTask(message);
}

/** Encodes a plan for runConvTask's cache: JSON (plans are plain data by contract). */
export function encodePlan(plan: KernelPlan): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(plan));
}
