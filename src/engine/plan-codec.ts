// How a kernel plan crosses from the main thread to the workers: as bytes in
// the shared arena, named by ConvRunMessage.plan (protocol.ts). Both ends of
// that format live here so they cannot drift apart. The bytes are JSON: plans
// are plain data by contract (offsets into the arena, never views).
import type { KernelPlan } from '../kernels/plan/index.js';
import { sharedArena } from '../memory/arena.js';
import type { ArenaRef } from './protocol.js';

/** A plan written into the arena: `ref` is what messages carry, `block` what the writer releases. */
interface StoredPlan {
  ref: ArenaRef;
  block: Float32Array;
}

/** Main thread: writes `plan` into a new arena block (release `block` once no call uses the plan). */
export function storePlan(plan: KernelPlan): StoredPlan {
  const bytes = new TextEncoder().encode(JSON.stringify(plan));
  const block = sharedArena().allocateFloat32(Math.ceil(bytes.length / 4));
  new Uint8Array(block.buffer, block.byteOffset, bytes.length).set(bytes);
  return { ref: { byteOffset: block.byteOffset, length: bytes.length }, block };
}

/** Worker: reads back the plan storePlan wrote at `ref`. */
export function loadPlan(ref: ArenaRef): KernelPlan {
  // TextDecoder refuses views of a SharedArrayBuffer: copy the bytes out first.
  const bytes = new Uint8Array(sharedArena().buffer, ref.byteOffset, ref.length).slice();
  return JSON.parse(new TextDecoder().decode(bytes)) as KernelPlan;
}
