import { describe, expect, it } from 'vitest';
import { measure } from '../src/cli/measure.js';
import { median, medianIndex, quantile } from '../src/statistics.js';

/** A deterministic clock: each call of a run advances it by that run's cost. */
function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    run:
      (costs: number | number[], log?: string[], tag = 'full') =>
      async () => {
        const cost = Array.isArray(costs) ? costs.shift()! : costs;
        t += cost;
        log?.push(tag);
        return cost;
      },
  };
}

describe('measurement harness', () => {
  it('median, and the index of the run nearest it', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(Number.isNaN(median([]))).toBe(true);
    expect(medianIndex([10, 30, 20])).toBe(2);
  });

  it('quantiles by nearest rank: always one of the values (the peers bench\'s quartiles)', () => {
    const rounds = [0.9, 1.3, 1.1, 1.0, 1.2];
    expect([0, 0.25, 0.5, 0.75, 1].map((q) => quantile(rounds, q))).toEqual([0.9, 1.0, 1.1, 1.2, 1.3]);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(3);
    expect(Number.isNaN(quantile([], 0.5))).toBe(true);
  });

  it('repeats until the minimum time when runs are fast', async () => {
    const clock = fakeClock();
    const m = await measure(clock.run(10), { warmupMs: 0, minRuns: 5, minTimeMs: 100, now: clock.now });
    expect(m.samples).toHaveLength(10);
    expect(m.samples.every((s) => s.ms === 10 && s.value === 10)).toBe(true);
    expect(m.budgetLimited).toBe(false);
  });

  it('repeats until the minimum count when runs are slow', async () => {
    const clock = fakeClock();
    const m = await measure(clock.run(50), { warmupMs: 0, minRuns: 5, minTimeMs: 100, now: clock.now });
    expect(m.samples).toHaveLength(5);
  });

  it('stops early when the next run would overrun the point\'s budget, but runs at least once', async () => {
    const clock = fakeClock();
    const limited = await measure(clock.run(50), { warmupMs: 0, minRuns: 5, minTimeMs: 100, shareMs: 120, now: clock.now });
    expect(limited.samples).toHaveLength(2);
    expect(limited.budgetLimited).toBe(true);
    const once = await measure(clock.run(50), { warmupMs: 0, minRuns: 5, minTimeMs: 100, shareMs: 0, now: clock.now });
    expect(once.samples).toHaveLength(1);
  });

  it('caps the runs of very fast layers', async () => {
    const clock = fakeClock();
    const m = await measure(clock.run(0.001), { warmupMs: 0, minRuns: 1, minTimeMs: 1000, maxRuns: 50, now: clock.now });
    expect(m.samples).toHaveLength(50);
  });

  it('warms up for the warm-up time, outside the samples', async () => {
    const clock = fakeClock();
    const log: string[] = [];
    const m = await measure(clock.run(30, log), { warmupMs: 100, minRuns: 2, minTimeMs: 0, now: clock.now });
    expect(m.warmupRuns).toBe(4); // 30, 60, 90, 120 >= 100
    expect(m.warmupMs).toBe(120);
    expect(m.samples).toHaveLength(2);
    expect(log).toHaveLength(6);
  });

  it('warms up on the stand-in, then the real run when that still fits the warm-up', async () => {
    const clock = fakeClock();
    const log: string[] = [];
    const m = await measure(clock.run(40, log), {
      warmupMs: 100,
      minRuns: 1,
      minTimeMs: 0,
      now: clock.now,
      warmupProxy: { run: clock.run(5, log, 'proxy'), scale: 8 },
    });
    // 20 stand-in runs fill 100 ms; 5 x 8 = 40 <= 100, so 3 real runs (40, 80, 120) follow, then 1 timed.
    expect(log.filter((x) => x === 'proxy')).toHaveLength(20);
    expect(log.filter((x) => x === 'full')).toHaveLength(4);
    expect(m.warmupRuns).toBe(23);
  });

  it('skips the real run in the warm-up when it would outlast the warm-up time', async () => {
    const clock = fakeClock();
    const log: string[] = [];
    await measure(clock.run(400, log), {
      warmupMs: 100,
      minRuns: 1,
      minTimeMs: 0,
      now: clock.now,
      warmupProxy: { run: clock.run(50, log, 'proxy'), scale: 8 },
    });
    expect(log).toEqual(['proxy', 'proxy', 'full']);
  });
});
