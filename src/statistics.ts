// Order statistics of timings, written once for the CLI's bench, the scripts
// under bench/ and anything else that summarises repeated measurements.
// Empty inputs give NaN rather than throwing: a point with no samples prints
// as "NaN", which is what a report should show.

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The q-quantile (0..1), nearest rank: always one of the values, as quartiles of a few rounds should be. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function minimum(values: readonly number[]): number {
  return values.length === 0 ? NaN : Math.min(...values);
}

export function maximum(values: readonly number[]): number {
  return values.length === 0 ? NaN : Math.max(...values);
}

/** The index of the sample closest to the median (the "representative" run). */
export function medianIndex(values: readonly number[]): number {
  const m = median(values);
  let best = 0;
  for (let i = 1; i < values.length; i++) if (Math.abs(values[i] - m) < Math.abs(values[best] - m)) best = i;
  return best;
}
