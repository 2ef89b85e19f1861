import { describe, expect, it } from 'vitest';
import type { GroupedConvEngine } from '../src/engine/engine.js';
import { silentProgress } from '../src/cli/progress.js';
import { sweep, type PreparedPoint, type SweepPoint } from '../src/cli/sweep.js';

const config = (minTimeMs: number) => ({
  policies: ['balanced' as const],
  workers: [1, 2],
  measure: { warmupMs: 0, minRuns: 2, minTimeMs, budgetMs: 60_000 },
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the benchmark sweep', () => {
  it('measures the points of a case interleaved, each on its own engine started before any timing', async () => {
    const ran: number[] = [];
    const recorded: Array<{ case: string; workers: number; runs: number }> = [];
    const engines = new Set<GroupedConvEngine>();
    const prepare = (point: SweepPoint<string>): PreparedPoint<number> => {
      engines.add(point.engine);
      expect(point.engine.workers).toBe(point.workers);
      return {
        run: async () => {
          ran.push(point.workers);
          await pause(2);
          return point.workers;
        },
        record: (m) => recorded.push({ case: point.case, workers: point.workers, runs: m.samples.length }),
      };
    };
    await sweep(config(100), ['x', 'y'], silentProgress, (c, w) => `${c} ${w}`, prepare);
    expect(engines.size).toBe(2);
    expect([...engines].every((e) => e.closed)).toBe(true);
    expect(recorded.map((r) => `${r.case} ${r.workers}`)).toEqual(['x 1', 'x 2', 'y 1', 'y 2']);
    // 100 ms per point in turns of 20 ms: the runs switch point at least once a round, over several rounds.
    const switches = ran.filter((w, i) => i > 0 && w !== ran[i - 1]).length;
    expect(switches).toBeGreaterThanOrEqual(8);
    expect(recorded.every((r) => r.runs >= 2)).toBe(true);
  });

  it('closes every engine and releases every prepared point when a measurement fails', async () => {
    const engines: GroupedConvEngine[] = [];
    const released: number[] = [];
    const closedBefore: boolean[] = [];
    const prepare = (point: SweepPoint<string>): PreparedPoint<number> => ({
      run: async () => {
        if (point.workers === 2) throw new Error('run failed on 2 workers');
        return 1;
      },
      record: () => {},
      release: () => released.push(point.workers),
    });
    const beforeClose = (engine: GroupedConvEngine) => {
      engines.push(engine);
      closedBefore.push(engine.closed);
    };
    await expect(sweep(config(0), ['x'], silentProgress, (c) => c, prepare, beforeClose)).rejects.toThrow('run failed on 2 workers');
    expect(released.sort()).toEqual([1, 2]);
    expect(engines).toHaveLength(2);
    expect(closedBefore).toEqual([false, false]);
    expect(engines.every((e) => e.closed)).toBe(true);
  });
});
