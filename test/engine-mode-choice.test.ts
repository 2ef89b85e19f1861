// The choice between a program's two ways on several workers (mode-choice.ts):
// stages cut for every runner, or each stage one task on one runner. Measured
// trials first, alternating, a way's first run not counted; then the cut only
// if the median ratio of adjacent pairs' times is below STAGED_MARGIN; exploring
// runs of the other way soon after (EARLY_EXPLORATIONS) and then one in every
// EXPLORE_EVERY, each paired with the run before it, which switch when the
// window's median crosses.
import { describe, expect, it } from 'vitest';
import { EARLY_EXPLORATIONS, EXPLORE_EVERY, ModeChoice, STAGED_MARGIN, TRIALS, type ProgramWay } from '../src/engine/mode-choice.js';

/** Runs `choice` `runs` times with each way's time from `ms`; the ways taken, in order. */
function drive(choice: ModeChoice, runs: number, ms: (way: ProgramWay, run: number) => number, start = 0): ProgramWay[] {
  const ways: ProgramWay[] = [];
  for (let r = start; r < start + runs; r++) {
    const way = choice.next();
    ways.push(way);
    choice.record(way, ms(way, r));
  }
  return ways;
}

describe('ModeChoice', () => {
  it('alternates until each way has its trials (after a first run of each, not counted), then takes the faster', () => {
    const choice = new ModeChoice();
    const trials = 2 * (TRIALS + 1);
    const ways = drive(choice, trials, (way) => (way === 'single' ? 8 : 10));
    expect(ways.filter((w) => w === 'staged')).toHaveLength(TRIALS + 1);
    expect(ways.filter((w) => w === 'single')).toHaveLength(TRIALS + 1);
    expect(ways[0]).toBe('staged');
    expect(choice.current).toBe('single');
    // Between explorations, the chosen way only: the early ones, then at most one in EXPLORE_EVERY.
    const after = drive(choice, EXPLORE_EVERY - 1, (way) => (way === 'single' ? 8 : 10), trials);
    expect(after.filter((w) => w === 'staged').length).toBeLessThanOrEqual(EARLY_EXPLORATIONS.length + 1);
  });

  it('a first run that took seconds (plans, descriptions, first touch) does not decide', () => {
    const choice = new ModeChoice();
    const seen = new Set<ProgramWay>();
    drive(choice, 2 * (TRIALS + 1), (way) => {
      const first = !seen.has(way);
      seen.add(way);
      return way === 'staged' ? (first ? 1000 : 5) : 9;
    });
    expect(choice.current).toBe('staged');
  });

  it('keeps the staged way when it is faster, and explores the other 4, 8, 16 and 32 runs after choosing, then once every EXPLORE_EVERY runs', () => {
    const choice = new ModeChoice();
    const trials = 2 * (TRIALS + 1);
    drive(choice, trials, (way) => (way === 'single' ? 12 : 7));
    expect(choice.current).toBe('staged');
    const ways = drive(choice, 4 * EXPLORE_EVERY, (way) => (way === 'single' ? 12 : 7));
    const explored = ways.flatMap((w, i) => (w === 'single' ? [trials + i] : []));
    const periodic = explored.filter((run) => run % EXPLORE_EVERY === 0);
    expect(explored.filter((run) => run % EXPLORE_EVERY !== 0)).toEqual(EARLY_EXPLORATIONS.map((n) => trials + n));
    expect(periodic).toHaveLength(4);
  });

  it('undoes a choice its trials got wrong within the early explorations', () => {
    // The trials see the cut slowed down (another process on the second core), then the machine frees up.
    const choice = new ModeChoice();
    const trials = 2 * (TRIALS + 1);
    drive(choice, trials, (way) => (way === 'single' ? 10 : 12));
    expect(choice.current).toBe('single');
    const ways = drive(choice, EARLY_EXPLORATIONS.at(-1)! + 2, (way) => (way === 'single' ? 10 : 6), trials);
    expect(choice.current).toBe('staged');
    expect(ways.at(-1)).toBe('staged');
  });

  it('a cut only a little faster than one runner is not taken: it would take a second core for what noise can flip', () => {
    for (const [staged, expected] of [[10 * STAGED_MARGIN + 0.2, 'single'], [10 * STAGED_MARGIN - 0.2, 'staged']] as const) {
      const choice = new ModeChoice();
      drive(choice, 2 * (TRIALS + 1), (way) => (way === 'single' ? 10 : staged));
      expect(choice.current, `staged ${staged} ms against 10`).toBe(expected);
    }
  });

  it('a slow phase over part of the trials does not decide: runs are compared in adjacent pairs', () => {
    // The machine runs at half speed for the first 7 runs. Each way's own median would see the cut's
    // trials mostly slow (16 ms) and the single runner's mostly fast (10 ms), and pick the single runner.
    const choice = new ModeChoice();
    drive(choice, 2 * (TRIALS + 1), (way, run) => (way === 'single' ? 10 : 8) * (run < 7 ? 2 : 1));
    expect(choice.current).toBe('staged');
  });

  it('switches when the other way becomes faster: a choice made in a noisy minute is revisited', () => {
    const choice = new ModeChoice();
    drive(choice, 2 * (TRIALS + 1), (way) => (way === 'single' ? 12 : 7));
    expect(choice.current).toBe('staged');
    // From now on the staged way is slow; TRIALS explorations of single fill its window with the new times.
    drive(choice, (TRIALS + 1) * EXPLORE_EVERY, (way) => (way === 'single' ? 6 : 20));
    expect(choice.current).toBe('single');
  });
});
