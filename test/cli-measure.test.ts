import { describe, expect, it } from 'vitest';
import { measureInterleaved, type InterleavedPoint, type MeasureOptions } from '../src/cli/measure.js';
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

/** One point alone, through the interleaved harness (a sweep's case with one worker count). */
async function measure<T>(run: () => Promise<T>, options: MeasureOptions & Pick<InterleavedPoint<T>, 'warmupProxy'>) {
  return (await measureInterleaved([{ run, warmupProxy: options.warmupProxy }], options))[0];
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

  describe('interleaved points', () => {
    it('takes turns, the order rotated each round, until every point has its runs and time', async () => {
      const clock = fakeClock();
      const log: string[] = [];
      const points = ['a', 'b', 'c'].map((tag) => ({ run: clock.run(10, log, tag) }));
      const m = await measureInterleaved(points, { warmupMs: 0, minRuns: 3, minTimeMs: 0, turnMs: 0, now: clock.now });
      // No warm-up runs at 0 ms but one each (measure always warms up once), then a run per turn.
      expect(log.slice(0, 3)).toEqual(['a', 'b', 'c']);
      expect(log.slice(3)).toEqual(['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
      expect(m.map((x) => x.samples.length)).toEqual([3, 3, 3]);
      expect(m.every((x) => x.warmupRuns === 1 && !x.budgetLimited)).toBe(true);
    });

    it('runs a fast point several times in a turn, until the turn time', async () => {
      const clock = fakeClock();
      const log: string[] = [];
      const m = await measureInterleaved([{ run: clock.run(1, log, 'fast') }, { run: clock.run(30, log, 'slow') }], {
        warmupMs: 0,
        minRuns: 2,
        minTimeMs: 50,
        turnMs: 20,
        now: clock.now,
      });
      // Each round: 20 fast runs (20 ms) and one slow run (30 >= 20); the fast point needs 3 rounds for 50 ms, so the slow one runs 3 times.
      expect(m[0].samples).toHaveLength(60);
      expect(m[1].samples).toHaveLength(3);
      expect(log.slice(2, 24)).toEqual([...Array(20).fill('fast'), 'slow', 'slow']);
    });

    it('stops before a round that would overrun the budget, every point measured at least once', async () => {
      const clock = fakeClock();
      const points = [{ run: clock.run(40) }, { run: clock.run(60) }];
      const limited = await measureInterleaved(points, { warmupMs: 0, minRuns: 10, minTimeMs: 0, turnMs: 0, shareMs: 250, now: clock.now });
      // A round is 100 ms: 2 rounds (200) fit, a third would not.
      expect(limited.map((x) => x.samples.length)).toEqual([2, 2]);
      expect(limited.every((x) => x.budgetLimited)).toBe(true);
      const once = await measureInterleaved(points, { warmupMs: 0, minRuns: 10, minTimeMs: 0, turnMs: 0, shareMs: 0, now: clock.now });
      expect(once.map((x) => x.samples.length)).toEqual([1, 1]);
    });

    it('stops when a point reaches the run cap, and warms each point up outside its samples', async () => {
      const clock = fakeClock();
      const log: string[] = [];
      const m = await measureInterleaved(
        [
          { run: clock.run(0.5, log, 'a'), warmupProxy: { run: clock.run(0.1, log, 'proxy'), scale: 8 } },
          { run: clock.run(2, log, 'b') },
        ],
        { warmupMs: 4, minRuns: 1, minTimeMs: 1000, maxRuns: 6, turnMs: 1, now: clock.now },
      );
      // a: 40 stand-in runs (4 ms), then 8 real ones (4 ms); b: 2 real ones. Then turns of 1 ms: a runs twice a turn,
      // b once; the round in which a reaches 6 runs is finished, so b gets its turn in it too.
      expect(log.filter((t) => t === 'proxy')).toHaveLength(40);
      expect(m[0].warmupRuns).toBe(48);
      expect(m[1].warmupRuns).toBe(2);
      expect(m[0].samples).toHaveLength(6);
      expect(m[1].samples).toHaveLength(3);
      expect(m[0].samples.every((s) => s.ms === 0.5)).toBe(true);
    });
  });
});
