// Sets of channels (features after flatten) as sorted, disjoint half-open
// ranges, or runs: what a device needs of a value can be several runs (a
// channel shuffle's inputs), so can what it holds (a Concat keeps its inputs'
// channels where they are), and what it receives is what it needs minus what
// it holds.
import type { Range } from '../devices/channel-range.js';

export type { Range };

/** Sorted, merged, non-empty ranges. */
export function normalize(ranges: readonly Range[]): Range[] {
  const sorted = ranges.filter((r) => r[1] > r[0]).sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

export function intersect(a: readonly Range[], b: Range): Range[] {
  return normalize(a.map((r): Range => [Math.max(r[0], b[0]), Math.min(r[1], b[1])]));
}

/** The channels in both run lists. */
export function intersectRuns(a: readonly Range[], b: readonly Range[]): Range[] {
  return normalize(b.flatMap((r) => intersect(a, r)));
}

/** The channels of `a` outside every run of `b`. */
export function subtractRuns(a: readonly Range[], b: readonly Range[]): Range[] {
  return b.reduce<Range[]>((left, r) => subtract(left, r), normalize(a));
}

/** Every run moved by `by` channels (a Concat's input placed at its offset, a Slice's channels renumbered from its start). */
export function shift(runs: readonly Range[], by: number): Range[] {
  return runs.map((r): Range => [r[0] + by, r[1] + by]);
}

export function subtract(a: readonly Range[], b: Range): Range[] {
  const out: Range[] = [];
  for (const r of a) {
    if (b[1] <= r[0] || b[0] >= r[1]) out.push([r[0], r[1]]);
    else {
      if (b[0] > r[0]) out.push([r[0], b[0]]);
      if (b[1] < r[1]) out.push([b[1], r[1]]);
    }
  }
  return normalize(out);
}

export function count(ranges: readonly Range[]): number {
  return ranges.reduce((sum, r) => sum + r[1] - r[0], 0);
}

/** Device d's share of `size` items: near-equal contiguous parts, the first `size % parts` one larger. */
export function share(size: number, parts: number, d: number): Range {
  const base = Math.floor(size / parts);
  const extra = size % parts;
  const start = d * base + Math.min(d, extra);
  return [start, start + base + (d < extra ? 1 : 0)];
}
