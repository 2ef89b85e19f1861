// Running a ranged op the way workers would: its units cut into random ranges
// (single units and empty ranges among them), run in a shuffled order, into
// NaN-prefilled outputs, so a unit that writes outside its range or a range
// that depends on another shows up as different bits.
import { runRanged, type RangedOp } from '../../src/kernels/ranged/index.js';

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
