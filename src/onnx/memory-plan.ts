// The memory plan of one plan (one input shape): every float activation a
// forward computes gets an offset in one arena block, reused once its last
// reader is done. Liveness runs over the fused schedule (the order forwardWith
// runs steps in, each channel shuffle group one step: fuse-layout.ts); an alias (a step whose output is its input's bytes under a
// new shape, worker-stages.ts) shares its input's slot and extends its life.
// Graph outputs are not in the block: each gets an allocation of its own that
// the forward returns as is (an alias of a planned value that is a graph
// output is copied out at the end, so it lives to the end). Offsets come from
// greedy first-fit, largest value first, as TFLite's arena planner does.
//
// Two values share bytes only if one's last reader runs before the other's
// producer: steps run in order (a program's stages meet at a barrier), so no
// step ever writes over a value a later step still reads.
import { scheduledInputs, type ScheduledStep } from './fuse.js';
import { channelShuffles } from './fuse-layout.js';
import type { Plan, PlanStep } from './plan.js';
import { sizeOf } from './value.js';
import { scaledInputs } from './scaled-input.js';
import { workerStageOf } from './worker-stages.js';

/** Slots are aligned so every activation starts on a cache line (and the kernels' 16-byte loads are aligned). */
export const SLOT_ALIGN = 64;

export interface MemorySlot {
  /** Byte offset in the forward's block. */
  offset: number;
  /** Bytes reserved: the value's, rounded up to SLOT_ALIGN. */
  bytes: number;
  /** Floats the value holds. */
  floats: number;
  /** Scheduled steps [first, last] during which the bytes are in use: produced at `first`, last read at `last`. */
  first: number;
  last: number;
}

/** A memory plan's figures. */
export interface MemoryPlanFigures {
  /** Bytes of the one block a forward allocates for its activations: the plan's peak. */
  peakBytes: number;
  /** Bytes of all activations together (each rounded up to SLOT_ALIGN): what one allocation per value would hold at most. */
  sumBytes: number;
  /** Float activations given a slot. */
  values: number;
  /** Bytes of the graph's outputs, allocated on their own per forward (they are returned), in neither figure above. */
  outputBytes: number;
  /** Values that share their input's slot (Reshape-like steps run as aliases). */
  aliases: number;
}

/** What `OnnxModel.memoryPlan` reports. */
export interface MemoryPlanReport extends MemoryPlanFigures {
  /**
   * Bytes of the block when the forward runs image by image (the engine's chains, when a batch of
   * 2 or more images splits evenly over the workers): values share bytes only with values of their
   * exact size, so usually more than `peakBytes`. Null when the batch is 1, which never chains.
   */
  chainedPeakBytes: number | null;
}

export interface MemoryPlan extends MemoryPlanFigures {
  /** Each planned value's slot (an alias: its root's slot). */
  slots: Map<string, MemorySlot>;
  /** alias -> the value whose bytes it is (resolved to the root). */
  aliasOf: Map<string, string>;
}

const aligned = (bytes: number): number => Math.max(SLOT_ALIGN, Math.ceil(bytes / SLOT_ALIGN) * SLOT_ALIGN);

/** Whether a step runs as an alias (its output is its input's bytes): worker-stages.ts decides. */
export type IsAlias = (step: PlanStep, plan: Plan) => boolean;
const aliasByWorkerStages: IsAlias = (step, plan) => workerStageOf(step, plan)?.kind === 'alias';

/**
 * The inputs and outputs of each step as the workers run them, and whether it is an alias: the scheduled
 * steps, a channel shuffle group (fuse-layout.ts) as one step whose intermediate values are never made.
 * A Conv that may take a squeeze-and-excitation block's scale in its Mul's place (scaled-input.ts) reads
 * the Mul's operands too, so they live until it has run.
 */
function scheduleIo(plan: Plan, isAlias: IsAlias): Array<{ inputs: string[]; outputs: string[]; alias: boolean }> {
  const io = plan.schedule.steps.map((s: ScheduledStep) => {
    if (s.kind === 'fused') return { inputs: scheduledInputs(plan, s), outputs: [s.fused.output], alias: false };
    const step = plan.steps[s.index];
    return { inputs: step.inputs, outputs: step.outputs, alias: isAlias(step, plan) };
  });
  for (const pair of scaledInputs(plan)) io[pair.scheduled] = { ...io[pair.scheduled], inputs: [...io[pair.scheduled].inputs, pair.input, pair.scale] };
  for (const g of [...channelShuffles(plan)].reverse()) io.splice(g.from, g.to - g.from, { inputs: g.inputs, outputs: g.outputs, alias: false });
  return io;
}

/**
 * How slots are reused: 'first-fit' packs them tightest; 'same-size' lets a value
 * reuse only the whole slot of a dead value of exactly its size, so two values
 * either share all their bytes or none. The engine's chains (engine/chains.ts)
 * run images through several steps without a barrier and need that: image i of
 * one value must never overlap image j of another.
 */
export type SlotReuse = 'first-fit' | 'same-size';

const plans = { 'first-fit': new WeakMap<Plan, MemoryPlan>(), 'same-size': new WeakMap<Plan, MemoryPlan>() };

/** The memory plan of `plan`'s schedule, made once per plan and reuse rule. */
export function memoryPlanOf(plan: Plan, reuse: SlotReuse = 'first-fit'): MemoryPlan {
  let memory = plans[reuse].get(plan);
  if (!memory) {
    memory = planMemory(plan, aliasByWorkerStages, reuse);
    plans[reuse].set(plan, memory);
  }
  return memory;
}

/** The memory plan of `plan`'s schedule (`isAlias`: which steps share their input's bytes; the tests pass their own). */
export function planMemory(plan: Plan, isAlias: IsAlias = aliasByWorkerStages, reuse: SlotReuse = 'first-fit'): MemoryPlan {
  const io = scheduleIo(plan, isAlias);
  const end = io.length; // graph outputs are read after the last step, when they are copied out
  const slots = new Map<string, MemorySlot>();
  const aliasOf = new Map<string, string>();
  const rootOf = (name: string): string => aliasOf.get(name) ?? name;
  const graphOutputs = new Set(plan.outputs);
  const planned = (name: string) => name !== '' && !plan.constants.has(name) && !graphOutputs.has(name) && plan.dtypes.get(name) === 'float32';
  io.forEach(({ inputs, outputs, alias }, i) => {
    for (const n of inputs) {
      const slot = slots.get(rootOf(n));
      if (slot) slot.last = Math.max(slot.last, i);
    }
    if (alias) {
      // Shares its input's bytes only if the input has a slot; an alias of a graph input shares the caller's memory.
      const root = rootOf(inputs[0]);
      if (slots.has(root)) aliasOf.set(outputs[0], root);
      return;
    }
    for (const n of outputs) {
      if (!planned(n)) continue;
      const floats = sizeOf(plan.shapes.get(n)!);
      slots.set(n, { offset: 0, bytes: aligned(floats * 4), floats, first: i, last: i });
    }
  });
  for (const n of plan.outputs) {
    const slot = slots.get(rootOf(n));
    if (slot) slot.last = end;
  }
  const peakBytes = reuse === 'same-size' ? assignSameSize([...slots.values()]) : assignOffsets([...slots.values()]);
  let sumBytes = 0;
  for (const s of slots.values()) sumBytes += s.bytes;
  let outputBytes = 0;
  for (const n of graphOutputs) if (plan.dtypes.get(n) === 'float32' && !plan.constants.has(n)) outputBytes += sizeOf(plan.shapes.get(n)!) * 4;
  return { peakBytes, sumBytes, values: slots.size, aliases: aliasOf.size, outputBytes, slots, aliasOf };
}

/** Greedy first-fit, largest first: each slot goes at the lowest offset clear of the placed slots live at the same time. Returns the peak. */
export function assignOffsets(slots: MemorySlot[]): number {
  const order = [...slots].sort((a, b) => b.bytes - a.bytes || a.first - b.first);
  const placed: MemorySlot[] = [];
  let peak = 0;
  for (const slot of order) {
    const overlapping = placed.filter((p) => p.first <= slot.last && slot.first <= p.last).sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const p of overlapping) {
      if (p.offset - offset >= slot.bytes) break;
      offset = Math.max(offset, p.offset + p.bytes);
    }
    slot.offset = offset;
    placed.push(slot);
    peak = Math.max(peak, offset + slot.bytes);
  }
  return peak;
}

/** In order of production, each slot takes the slot of a value of exactly its size that is dead by then, else new bytes at the end. Returns the peak. */
export function assignSameSize(slots: MemorySlot[]): number {
  const order = [...slots].sort((a, b) => a.first - b.first || b.bytes - a.bytes);
  const free = new Map<number, number[]>();
  let live: MemorySlot[] = [];
  let peak = 0;
  for (const slot of order) {
    const [dead, alive] = [live.filter((p) => p.last < slot.first), live.filter((p) => p.last >= slot.first)];
    for (const p of dead) free.set(p.floats, [...(free.get(p.floats) ?? []), p.offset]);
    live = alive;
    const reused = free.get(slot.floats)?.pop();
    if (reused !== undefined) {
      slot.offset = reused;
    } else {
      slot.offset = peak;
      peak += slot.bytes;
    }
    live.push(slot);
  }
  return peak;
}
