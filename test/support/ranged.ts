// Running a ranged op the way workers would: its units cut into random ranges
// (single units and empty ranges among them), run in a shuffled order, into
// NaN-prefilled outputs, so a unit that writes outside its range or a range
// that depends on another shows up as different bits.
import { expect } from 'vitest';
import { runRanged, type RangedOp } from '../../src/kernels/ranged/index.js';
import { sharedArena } from '../../src/memory/arena.js';
import { zeros, type Random } from '../../src/index.js';

/** [0, units) cut into ranges at random points, with empty ranges added, in shuffled order. */
export function randomPartition(units: number, random: () => number): [number, number][] {
  const cuts = new Set<number>([0, units]);
  const count = Math.floor(random() * Math.min(units, 8));
  for (let i = 0; i < count; i++) cuts.add(Math.floor(random() * units));
  // Single units: cut both sides of one unit now and then.
  if (units > 2 && random() < 0.5) {
    const u = Math.floor(random() * (units - 1));
    cuts.add(u);
    cuts.add(u + 1);
  }
  const sorted = [...cuts].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (let i = 0; i + 1 < sorted.length; i++) ranges.push([sorted[i], sorted[i + 1]]);
  const empty = Math.floor(random() * units);
  ranges.push([empty, empty]);
  for (let i = ranges.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ranges[i], ranges[j]] = [ranges[j], ranges[i]];
  }
  return ranges;
}

/** Runs every range of `ranges` of `op` into the outputs. */
export function runPartitioned(op: RangedOp, inputs: readonly Float32Array[], outputs: readonly Float32Array[], ranges: [number, number][]): void {
  for (const [start, end] of ranges) runRanged(op, inputs, outputs, start, end);
}

/** New outputs of these sizes, filled with NaN (a bit pattern no kernel writes on its own). */
export function nanFilled(sizes: readonly number[]): Float32Array[] {
  return sizes.map((n) => new Float32Array(n).fill(Number.NaN));
}

/** The same values in the arena: the WebAssembly loops use them in place (plain arrays keep the JavaScript ones). */
export function inArena(a: Float32Array): Float32Array {
  const t = zeros([a.length], { shared: true }).data;
  t.set(a);
  expect(sharedArena().owns(t)).toBe(true);
  return t;
}

/** `n` normal values, about one in ten replaced by one of `specialBits` (float32 bit patterns: NaN payloads, zeros, subnormals, infinities). */
export function valuesWithBits(random: Random, n: number, specialBits: readonly number[]): Float32Array {
  const a = new Float32Array(n);
  const bits = new Uint32Array(a.buffer);
  for (let i = 0; i < n; i++) {
    if (random.uniform(0, 1) < 0.1) bits[i] = specialBits[Math.floor(random.uniform(0, specialBits.length))];
    else a[i] = random.normal();
  }
  return a;
}

/** Every [0, k) + [k, units) cut, every single unit and a few random partitions: the ranges a row loop's counters must start from. */
export function everyCut(units: number, random: Random): [number, number][][] {
  const all: [number, number][][] = [];
  for (let k = 0; k <= units; k++) all.push([[k, units], [0, k]]);
  all.push(Array.from({ length: units }, (_, r): [number, number] => [r, r + 1]).reverse());
  for (let i = 0; i < 6; i++) all.push(randomPartition(units, () => random.uniform(0, 1)));
  return all;
}

/** `op` over `ranges` from x into out, first filled with the bits `unwritten`, so a unit left out shows. */
export function runOneInput(op: RangedOp, x: Float32Array, out: Float32Array, ranges: [number, number][], unwritten: number): Float32Array {
  new Uint32Array(out.buffer, out.byteOffset, out.length).fill(unwritten);
  for (const [start, end] of ranges) runRanged(op, [x], [out], start, end);
  return out;
}
