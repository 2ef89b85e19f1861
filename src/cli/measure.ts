// The measurement harness: a time-based warm-up, then timed runs until both a
// minimum count and a minimum time are reached, unless the point's share of
// the sweep's time budget runs out first (slow kernels still finish, with
// fewer runs, never fewer than one).
import { median } from '../statistics.js';

export interface MeasureOptions {
  /** Warm-up time, ms. */
  warmupMs: number;
  minRuns: number;
  minTimeMs: number;
  /** Hard cap on timed runs (for very fast layers). */
  maxRuns?: number;
  /** This point's time budget for timed runs, ms; Infinity for none. */
  shareMs?: number;
  /**
   * A cheaper stand-in for the warm-up (the same layer on fewer images: same
   * code, same workers) and how many times more the real run costs. When the
   * real run is estimated to outlast the whole warm-up, its first-call costs
   * are negligible, so the warm-up uses the stand-in only.
   */
  warmupProxy?: { run: () => Promise<unknown>; scale: number };
  /** Clock, ms; performance.now by default (injectable for tests). */
  now?: () => number;
  /** Called after every timed run. */
  onRun?: (runs: number, elapsedMs: number) => void;
}

export interface Sample<T> {
  ms: number;
  value: T;
}

export interface Measurement<T> {
  samples: Sample<T>[];
  warmupRuns: number;
  warmupMs: number;
  /** True when the budget, not minRuns/minTime, ended the timed runs. */
  budgetLimited: boolean;
}

export async function measure<T>(runOnce: () => Promise<T>, options: MeasureOptions): Promise<Measurement<T>> {
  const now = options.now ?? (() => performance.now());
  const maxRuns = options.maxRuns ?? 10_000;
  const shareMs = options.shareMs ?? Infinity;

  const warmStart = now();
  let warmupRuns = 0;
  let runFull = true;
  if (options.warmupProxy) {
    let fastest = Infinity;
    do {
      const t0 = now();
      await options.warmupProxy.run();
      fastest = Math.min(fastest, now() - t0);
      warmupRuns++;
    } while (now() - warmStart < options.warmupMs);
    runFull = fastest * options.warmupProxy.scale <= options.warmupMs;
  }
  if (runFull) {
    const fullStart = now();
    do {
      await runOnce();
      warmupRuns++;
    } while (now() - fullStart < options.warmupMs);
  }
  const warmupMs = now() - warmStart;

  const samples: Sample<T>[] = [];
  let budgetLimited = false;
  const start = now();
  for (;;) {
    const t0 = now();
    const value = await runOnce();
    const t1 = now();
    samples.push({ ms: t1 - t0, value });
    const elapsed = t1 - start;
    options.onRun?.(samples.length, elapsed);
    if (samples.length >= maxRuns) break;
    if (samples.length >= options.minRuns && elapsed >= options.minTimeMs) break;
    const typical = median(samples.map((s) => s.ms));
    if (elapsed + typical > shareMs) {
      budgetLimited = true;
      break;
    }
  }
  return { samples, warmupRuns, warmupMs, budgetLimited };
}
