// The choice between a program's two ways on several workers (mode-choice.ts):
// stages cut for every runner, or each stage one task on one runner. Measured
// trials first, after the cut's first COLD_STAGED_RUNS runs and one runner's
// first run (none counted): pairs of a counted
// cut (after STAGED_WARMUP uncounted runs) and a run on one runner; then the cut only if
// the median ratio of the pairs' times is below STAGED_MARGIN; exploring the
// other way soon after (EARLY_EXPLORATIONS) and then after every EXPLORE_EVERY
// runs, each paired with the adjacent run, which switch when the window's
// median crosses; an exploration that says the other way is faster is checked
// again at once (DOUBT_GAP), one whose way lost by far (CLEAR_LOSS) ends the
// early explorations.
import { describe, expect, it } from 'vitest';
import { CLEAR_LOSS, COLD_STAGED_RUNS, DOUBT_GAP, EARLY_EXPLORATIONS, EXPLORE_EVERY, ModeChoice, RUNS_BEFORE_CHOICE, STAGED_MARGIN, STAGED_WARMUP, TRIALS, type ProgramWay } from '../src/engine/mode-choice.js';

/** Runs `choice` `runs` times with each way's time from `ms`; the ways taken, in order. */
function drive(choice: ModeChoice, runs: number, ms: (way: ProgramWay, run: number) => number, start = 0): ProgramWay[] {
  const ways: ProgramWay[] = [];
  for (let r = start; r < start + runs; r++) {
    const run = choice.next();
    ways.push(run.way);
    choice.record(run, ms(run.way, r));
  }
  return ways;
}

/** Runs in the trials: the cut's cold runs and one runner's first (not counted), then TRIALS blocks of the cut (warm-up and one counted) each with a counted single run. */
const TRIAL_RUNS = COLD_STAGED_RUNS + 1 + TRIALS * (STAGED_WARMUP + 1) + TRIALS;

describe('ModeChoice', () => {
  it('times the cut after its warm-up and one runner after its first run, in pairs, then takes the faster', () => {
    const choice = new ModeChoice();
    const ways = drive(choice, TRIAL_RUNS, (way) => (way === 'single' ? 8 : 10));
    expect(ways.filter((w) => w === 'staged')).toHaveLength(TRIALS * (STAGED_WARMUP + 1) + COLD_STAGED_RUNS);
    expect(ways.filter((w) => w === 'single')).toHaveLength(TRIALS + 1);
    // The cut's cold runs and one runner's first (not counted), then a block of the cut and one runner's counted run.
    expect(ways.slice(0, COLD_STAGED_RUNS + STAGED_WARMUP + 3)).toEqual([
      ...Array(COLD_STAGED_RUNS).fill('staged'),
      'single',
      ...Array(STAGED_WARMUP + 1).fill('staged'),
      'single',
    ]);
    expect(choice.current).toBe('single');
    expect(RUNS_BEFORE_CHOICE).toBe(TRIAL_RUNS);
    // Between explorations, the chosen way only: each early exploration is one block of the cut.
    const after = drive(choice, EXPLORE_EVERY - 1, (way) => (way === 'single' ? 8 : 10), TRIAL_RUNS);
    expect(after.filter((w) => w === 'staged').length).toBeLessThanOrEqual((EARLY_EXPLORATIONS.length + 1) * (STAGED_WARMUP + 1));
  });

  it('a first run that took seconds (plans, descriptions, first touch) does not decide', () => {
    const choice = new ModeChoice();
    const seen = new Set<ProgramWay>();
    drive(choice, TRIAL_RUNS, (way) => {
      const first = !seen.has(way);
      seen.add(way);
      return first ? 1000 : way === 'staged' ? 5 : 9;
    });
    expect(choice.current).toBe('staged');
  });

  it("the cut's first runs, slow while each worker's V8 optimizes its code, are not counted", () => {
    // As efficientnet_b0 at batch 1 on a fresh engine measured: the cut's first 27 runs at 11-30 ms (here
    // 20), then 10.5 ms, against 17.8 ms on one runner. Counted from the cut's second run, every trial's
    // pair would say 20 / 17.8.
    const choice = new ModeChoice();
    let cutRuns = 0;
    drive(choice, TRIAL_RUNS, (way) => {
      if (way === 'single') return 17.8;
      cutRuns++;
      return cutRuns <= 27 ? 20 : 10.5;
    });
    expect(COLD_STAGED_RUNS).toBeGreaterThan(27);
    expect(choice.current).toBe('staged');
  });

  it('judges the cut warm: a cut slow for its first runs after runs on one runner (its core sat idle) is still taken when it is faster', () => {
    // As efficientnet_b0 at batch 1 measured: 20 ms for the cut's first runs after one runner's, 13.5 ms
    // steady, 22 ms on one runner. Counted cold, every pair would say 20 / 22, above the margin.
    const choice = new ModeChoice();
    let cutRunsInARow = 0;
    const ms = (way: ProgramWay) => {
      cutRunsInARow = way === 'staged' ? cutRunsInARow + 1 : 0;
      return way === 'single' ? 22 : cutRunsInARow <= 3 ? 20 : 13.5;
    };
    drive(choice, TRIAL_RUNS, ms);
    expect(choice.current).toBe('staged');
    const ways = drive(choice, 3 * EXPLORE_EVERY, ms, TRIAL_RUNS);
    expect(choice.current).toBe('staged');
    expect(ways.filter((w) => w === 'single').length).toBeLessThanOrEqual(EARLY_EXPLORATIONS.length + 3);
  });

  it('keeps the staged way when it is faster, and explores the other after 4, 8, 16 and 32 runs of it, then after every EXPLORE_EVERY', () => {
    // The cut faster, but not by far: one runner's runs take 1.17x the cut's (under CLEAR_LOSS).
    const ms = (way: ProgramWay) => (way === 'single' ? 8.2 : 7);
    expect(8.2 / 7).toBeLessThan(CLEAR_LOSS);
    const choice = new ModeChoice();
    drive(choice, TRIAL_RUNS, ms);
    expect(choice.current).toBe('staged');
    const ways = drive(choice, 4 * EXPLORE_EVERY, ms);
    const explored = ways.flatMap((w, i) => (w === 'single' ? [i] : []));
    // Each exploration is one run, after `gap` runs of the chosen way since the last.
    const gaps = explored.map((run, k) => run - (k === 0 ? 0 : explored[k - 1] + 1));
    expect(gaps.slice(0, EARLY_EXPLORATIONS.length)).toEqual([...EARLY_EXPLORATIONS]);
    expect(new Set(gaps.slice(EARLY_EXPLORATIONS.length))).toEqual(new Set([EXPLORE_EVERY]));
    expect(explored.length).toBe(EARLY_EXPLORATIONS.length + Math.floor((4 * EXPLORE_EVERY - EARLY_EXPLORATIONS.reduce((a, b) => a + b + 1, 0)) / (EXPLORE_EVERY + 1)));
  });

  it('an exploration whose way lost by far ends the early explorations: the next comes after EXPLORE_EVERY', () => {
    // Each exploration costs a run of the slower way (and the cut's its warm-up runs too): with another
    // process busy on the second core, the cut's early explorations were a third of shufflenet_v2's calls.
    for (const [staged, single, explored] of [[7, 12, 'single'], [12, 7, 'staged']] as const) {
      const ms = (way: ProgramWay) => (way === 'single' ? single : staged);
      const choice = new ModeChoice();
      drive(choice, TRIAL_RUNS, ms);
      expect(choice.current).toBe(explored === 'single' ? 'staged' : 'single');
      const ways = drive(choice, 3 * EXPLORE_EVERY, ms);
      // Each exploration's counted run (the cut's last of its block), and the chosen way's runs before it.
      const counted = ways.flatMap((w, i) => (w === explored && ways[i + 1] !== explored ? [i] : []));
      const block = explored === 'staged' ? STAGED_WARMUP + 1 : 1;
      const gaps = counted.map((run, k) => run - (k === 0 ? 0 : counted[k - 1] + 1) - (block - 1));
      expect(gaps, `${explored} explored`).toEqual([EARLY_EXPLORATIONS[0], EXPLORE_EVERY, EXPLORE_EVERY]);
    }
  });

  it('undoes a choice its trials got wrong within the early explorations', () => {
    // The trials see the cut slowed down (another process on the second core), then the machine frees up.
    const choice = new ModeChoice();
    drive(choice, TRIAL_RUNS, (way) => (way === 'single' ? 10 : 12));
    expect(choice.current).toBe('single');
    const early = EARLY_EXPLORATIONS.reduce((a, b) => a + b + STAGED_WARMUP + 1, 0);
    const ways = drive(choice, early + 2, (way) => (way === 'single' ? 10 : 6), TRIAL_RUNS);
    expect(choice.current).toBe('staged');
    expect(ways.at(-1)).toBe('staged');
  });

  it('a cut only a little faster than one runner is not taken: it would take a second core for what noise can flip', () => {
    for (const [staged, expected] of [[10 * STAGED_MARGIN + 0.2, 'single'], [10 * STAGED_MARGIN - 0.2, 'staged']] as const) {
      const choice = new ModeChoice();
      drive(choice, TRIAL_RUNS, (way) => (way === 'single' ? 10 : staged));
      expect(choice.current, `staged ${staged} ms against 10`).toBe(expected);
    }
  });

  it('a slow phase over part of the trials does not decide: runs are compared in adjacent pairs', () => {
    // The machine runs at half speed for the first 13 runs. Each way's own median would see the cut's
    // counted trials mostly slow (16 ms) and the single runner's mostly fast (10 ms), and pick the single runner.
    const choice = new ModeChoice();
    drive(choice, TRIAL_RUNS, (way, run) => (way === 'single' ? 10 : 8) * (run < 13 ? 2 : 1));
    expect(choice.current).toBe('staged');
  });

  it('switches when the other way becomes faster: a choice made in a noisy minute is revisited', () => {
    const choice = new ModeChoice();
    drive(choice, TRIAL_RUNS, (way) => (way === 'single' ? 12 : 7));
    expect(choice.current).toBe('staged');
    // From now on the staged way is slow; TRIALS explorations of single fill its window with the new times.
    drive(choice, (TRIALS + 1) * EXPLORE_EVERY, (way) => (way === 'single' ? 6 : 20));
    expect(choice.current).toBe('single');
  });

  it('an exploration that says the other way is faster is checked again at once: the choice follows a change within one steady gap', () => {
    // The host gives the second vCPU a core of its own again (here the two vCPUs at times ran as one core:
    // two threads of FMAs 14 + 14 GFLOP/s against 32 alone), and the cut becomes the faster way.
    const choice = new ModeChoice();
    let runs = drive(choice, TRIAL_RUNS, (way) => (way === 'single' ? 10 : 12)).length;
    expect(choice.current).toBe('single');
    // Past the early explorations, into the steady schedule.
    const early = EARLY_EXPLORATIONS.reduce((a, b) => a + b + STAGED_WARMUP + 1, 0);
    runs += drive(choice, early + EXPLORE_EVERY / 2, (way) => (way === 'single' ? 10 : 12), runs).length;
    expect(choice.current).toBe('single');
    let until = 0;
    while (choice.current === 'single' && until < 10 * EXPLORE_EVERY) until += drive(choice, 1, (way) => (way === 'single' ? 10 : 6), runs + until).length;
    // Three explorations out of a window of five turn its median: the first after at most a steady gap, the
    // others each right after the run that completes the last one's pair (at one per steady gap: three gaps).
    expect(until).toBeLessThanOrEqual(EXPLORE_EVERY + 3 * (STAGED_WARMUP + 1) + 2 * DOUBT_GAP);
    expect(until).toBeLessThan(2 * EXPLORE_EVERY);
    // A new choice is revisited soon at first, as the first one was (then, one runner having lost by far,
    // after the steady gap).
    const ways = drive(choice, EARLY_EXPLORATIONS[0] + 1 + EXPLORE_EVERY + 1, (way) => (way === 'single' ? 10 : 6), runs + until);
    const explored = ways.flatMap((w, i) => (w === 'single' ? [i] : []));
    expect(explored.map((run, k) => run - (k === 0 ? 0 : explored[k - 1] + 1))).toEqual([EARLY_EXPLORATIONS[0], EXPLORE_EVERY]);
  });

  it('one exploration against the choice is checked once more, then the steady gap returns', () => {
    // The cut is faster throughout, but one run on one runner happens to be fast (a phase that lasted one run).
    const choice = new ModeChoice();
    let runs = drive(choice, TRIAL_RUNS, (way) => (way === 'single' ? 12 : 7)).length;
    // The first exploration (after EARLY_EXPLORATIONS[0] runs) loses by far: the steady gap follows.
    const early = EARLY_EXPLORATIONS[0] + 1;
    runs += drive(choice, early, (way) => (way === 'single' ? 12 : 7), runs).length;
    let blipped = false;
    const ways = drive(
      choice,
      4 * EXPLORE_EVERY,
      (way) => {
        if (way !== 'single' || blipped) return way === 'single' ? 12 : 7;
        blipped = true;
        return 5;
      },
      runs,
    );
    expect(choice.current).toBe('staged');
    const explored = ways.flatMap((w, i) => (w === 'single' ? [i] : []));
    const gaps = explored.map((run, k) => run - (k === 0 ? 0 : explored[k - 1] + 1));
    // The blip (the first steady exploration), its check right after, then the steady gap again.
    expect(gaps.slice(0, 4)).toEqual([EXPLORE_EVERY, DOUBT_GAP, EXPLORE_EVERY, EXPLORE_EVERY]);
  });
});
