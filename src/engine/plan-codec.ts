// How plain data (a kernel plan, a program's description) crosses from the
// main thread to the workers: as bytes in the shared arena, named by an
// ArenaRef in the messages (protocol.ts). Both ends of that format live here so
// they cannot drift apart. The bytes are JSON, except that numbers JSON cannot
// write (Infinity, -Infinity, NaN: a Clip with one bound, a Pad filling with
// -Infinity) are written as {"$number": "Infinity"}, so they arrive as they
// left instead of as null. Plans and descriptions are plain data by contract
// (offsets into the arena, never views).
import type { KernelPlan } from '../kernels/plan/index.js';
import { sharedArena } from '../memory/arena.js';
import type { ArenaRef } from './protocol.js';

/** Data written into the arena: `ref` is what messages carry, `block` what the writer releases. */
export interface StoredData {
  ref: ArenaRef;
  block: Float32Array;
}

const NON_FINITE = '$number';

function writeNonFinite(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? { [NON_FINITE]: String(value) } : value;
}

function readNonFinite(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, NON_FINITE)) return Number((value as Record<string, string>)[NON_FINITE]);
  return value;
}

/** Main thread: writes `data` into a new arena block (release `block` once no worker reads it). */
export function storeData(data: unknown): StoredData {
  const bytes = new TextEncoder().encode(JSON.stringify(data, writeNonFinite));
  const block = sharedArena().allocateFloat32(Math.ceil(bytes.length / 4));
  new Uint8Array(block.buffer, block.byteOffset, bytes.length).set(bytes);
  return { ref: { byteOffset: block.byteOffset, length: bytes.length }, block };
}

/** Worker: reads back what storeData wrote at `ref`. */
export function loadData<T>(ref: ArenaRef): T {
  // TextDecoder refuses views of a SharedArrayBuffer: copy the bytes out first.
  const bytes = new Uint8Array(sharedArena().buffer, ref.byteOffset, ref.length).slice();
  return JSON.parse(new TextDecoder().decode(bytes), readNonFinite) as T;
}

/** Main thread: writes `plan` into a new arena block (release `block` once no call uses the plan). */
export const storePlan = (plan: KernelPlan): StoredData => storeData(plan);

/** Worker: reads back the plan storePlan wrote at `ref`. */
export const loadPlan = (ref: ArenaRef): KernelPlan => loadData<KernelPlan>(ref);
