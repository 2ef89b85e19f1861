// Computing one convolution slice on a worker: the decoded-plan cache and the
// per-image loop that one engine call's runner (task-runner.ts) and a program's
// conv stage (program-runner.ts) both run, so both compute the same bits.
import type { ConvSlice } from '../conv/geometry.js';
import { arenaView } from '../memory/arena.js';
import { runPlan, type InputScale, type KernelPlan } from '../kernels/plan/index.js';
import { loadPlan } from './plan-codec.js';
import type { ArenaRef } from './protocol.js';

/**
 * Decoded plans by id. Ids are never reused, so entries never go stale; the cap bounds memory over one-shot calls.
 * It must hold a model's convolutions: at 64, efficientnet_b0's 81 decoded every plan again every forward.
 */
const plans = new Map<number, KernelPlan>();
const PLAN_CACHE_SIZE = 256;

/** The plan stored at `ref` under `id`, decoded once per worker. */
export function planOf(id: number, ref: ArenaRef): KernelPlan {
  let plan = plans.get(id);
  if (plan) {
    // Refresh its place in the insertion order, so the least recently used plan goes first.
    plans.delete(id);
  } else {
    plan = loadPlan(ref);
    if (plans.size >= PLAN_CACHE_SIZE) plans.delete(plans.keys().next().value!);
  }
  plans.set(id, plan);
  return plan;
}

export const viewOf = (ref: ArenaRef | null): Float32Array | null => (ref ? arenaView(ref.byteOffset, ref.length) : null);

/** A convolution's tensors and plan as seen by one runner, resolved once for all the tasks it claims. */
export interface RunContext {
  plan: KernelPlan;
  input: Float32Array;
  weight: Float32Array;
  bias: Float32Array | null;
  output: Float32Array;
  residual: Float32Array | null;
  /** A squeeze-and-excitation block's scale, applied as the input is read (runPlan's InputScale). */
  scale: InputScale | null;
  scratch: Float32Array;
}

/**
 * Computes one task's slice one image at a time, checking the cancel flag
 * between images, so an aborted or closed call stops within one image
 * without killing the worker (which would leave its writes in flight).
 */
export function runSlice(context: RunContext, cancel: { cancelled(): boolean }, slice: ConvSlice): void {
  for (let n = slice.batchStart; n < slice.batchEnd; n++) {
    if (cancel.cancelled()) return;
    const image: ConvSlice = { ...slice, batchStart: n, batchEnd: n + 1 };
    runPlan(context.plan, context.input, context.weight, context.bias, context.output, image, context.scratch, context.residual, context.scale);
  }
}
