// Interleaving: every round runs each contender once, in an order that rotates
// from round to round, so slow drifts of a shared machine (and whoever goes
// first after a pause) hit all of them alike. A comparison is then the median
// of the per-round ratios, not a quotient of medians taken minutes apart.

/** `items` rotated by `round`: item k of the result is items[(round + k) % n]. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  const n = items.length;
  return items.map((_, k) => items[(round + k) % n]);
}

/** Per-round ratios a[i] / b[i] of two series measured in the same rounds. */
export function perRoundRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((x, i) => x / b[i]);
}

/**
 * The pause before each contender's calls in a round: longer than onnxruntime's
 * intra-op pool spins after a run. onnxruntime-node 1.30 with 2 threads kept
 * one core busy for 34-38 ms after each run of mobilenet_v2 (the process's CPU
 * time over a sleep of 40, 60 or 100 ms: docs/benchmarks.md). At 20 ms, as
 * before, the contender after it shared a core with that spin for its untimed
 * and often its timed call.
 */
export const PAUSE_MS = 60;
