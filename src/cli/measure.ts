// The measurement harness: a time-based warm-up per point, then timed runs
// until every point has both a minimum count and a minimum time, unless the
// case's share of the sweep's time budget runs out first (slow kernels still
// finish, with fewer runs, never fewer than one).
//
// The points a speedup compares (one case at 1, 2, 3 workers) are measured
// interleaved (measureInterleaved): turn by turn, each point runs for a short
// turn, in an order that rotates every round. On a shared machine the speed a
// core gives drifts by 20-30% over seconds; measured one after another, the
// 1-worker median came from one stretch and the 2-worker median from another,
// and their ratio moved with the drift (shufflenet_v2 at batch 8: 1.39x to
// 1.67x between two runs of the same command). Interleaved, every point
// samples the same stretches.

export interface MeasureOptions {
  /** Warm-up time per point, ms. */
  warmupMs: number;
  minRuns: number;
  minTimeMs: number;
  /** Hard cap on timed runs (for very fast layers). */
  maxRuns?: number;
  /** The points' time budget for timed runs, ms; Infinity for none. */
  shareMs?: number;
  /**
   * A turn: a point runs until this much time has passed (at least once)
   * before the next point's turn. Long enough that waking another engine's
   * workers (tens of µs) stays out of the medians, short enough that a
   * slow stretch of the machine falls on every point.
   */
  turnMs?: number;
  /** Clock, ms; performance.now by default (injectable for tests). */
  now?: () => number;
  /** Called when a turn starts (the bar's label). */
  onTurn?: (point: number) => void;
}

/** One point: its run, and its warm-up stand-in if any. */
export interface InterleavedPoint<T> {
  run: () => Promise<T>;
  /**
   * A cheaper stand-in for the warm-up (the same layer on fewer images: same
   * code, same workers) and how many times more the real run costs. When the
   * real run is estimated to outlast the whole warm-up, its first-call costs
   * are negligible, so the warm-up uses the stand-in only.
   */
  warmupProxy?: { run: () => Promise<unknown>; scale: number };
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

/** The warm-up: on the stand-in first when there is one, then the real run while it fits the warm-up time. */
async function warmUp(point: InterleavedPoint<unknown>, warmupMs: number, now: () => number): Promise<{ warmupRuns: number; warmupMs: number }> {
  const warmStart = now();
  let warmupRuns = 0;
  let runFull = true;
  if (point.warmupProxy) {
    let fastest = Infinity;
    do {
      const t0 = now();
      await point.warmupProxy.run();
      fastest = Math.min(fastest, now() - t0);
      warmupRuns++;
    } while (now() - warmStart < warmupMs);
    runFull = fastest * point.warmupProxy.scale <= warmupMs;
  }
  if (runFull) {
    const fullStart = now();
    do {
      await point.run();
      warmupRuns++;
    } while (now() - fullStart < warmupMs);
  }
  return { warmupRuns, warmupMs: now() - warmStart };
}

/** The default turn: a model's forward is a turn of its own; a layer of 0.1 ms runs ~200 times. */
export const DEFAULT_TURN_MS = 20;

/**
 * Measures `points` interleaved: each warms up on its own (warmUp), then rounds
 * of turns, the order rotated by one each round, until every point has both
 * `minRuns` runs and `minTimeMs` of timed runs, or one has `maxRuns`, or the
 * next round would overrun `shareMs` (the budget of all the points together;
 * every point gets at least one run).
 */
export async function measureInterleaved<T>(points: readonly InterleavedPoint<T>[], options: MeasureOptions): Promise<Measurement<T>[]> {
  const now = options.now ?? (() => performance.now());
  const maxRuns = options.maxRuns ?? 10_000;
  const shareMs = options.shareMs ?? Infinity;
  const turnMs = options.turnMs ?? DEFAULT_TURN_MS;
  const warm: Array<{ warmupRuns: number; warmupMs: number }> = [];
  for (const p of points) warm.push(await warmUp(p, options.warmupMs, now));

  const samples: Sample<T>[][] = points.map(() => []);
  const timed = points.map(() => 0);
  let budgetLimited = false;
  let spent = 0;
  const enough = () => samples.every((s, i) => s.length >= options.minRuns && timed[i] >= options.minTimeMs);
  for (let round = 0; points.length > 0; round++) {
    let roundMs = 0;
    for (let k = 0; k < points.length; k++) {
      const i = (round + k) % points.length;
      options.onTurn?.(i);
      const turnStart = now();
      do {
        const t0 = now();
        const value = await points[i].run();
        const t1 = now();
        samples[i].push({ ms: t1 - t0, value });
        timed[i] += t1 - t0;
      } while (now() - turnStart < turnMs && samples[i].length < maxRuns);
      roundMs += now() - turnStart;
    }
    spent += roundMs;
    if (enough() || samples.some((s) => s.length >= maxRuns)) break;
    if (spent + roundMs > shareMs) {
      budgetLimited = true;
      break;
    }
  }
  return samples.map((s, i) => ({ samples: s, ...warm[i], budgetLimited }));
}
