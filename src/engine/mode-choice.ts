// Which way a program without chains runs on several workers: its stages cut
// into tasks for every runner ('staged'), or each stage one task on one runner
// ('single'), as on one worker. Both give the same bits (a kernel's result per
// element does not depend on the slice it is computed in), so the choice is
// speed alone, and it is measured, not predicted.
//
// Why: at batch 1 a stage's tasks are short (20-500 µs), and cut by output
// channels each task of a 1x1 layer reads its whole input, half of which the
// other worker has just written, so its lines come from the other core's
// cache. On this machine that made the second worker cost time on the small
// models: mobilenet_v2 at batch 1, 8.46 ms on one worker, 9.35 ms on two cut
// stage by stage, 8.55 ms on two as one runner; shufflenet_v2 5.52 / 6.55 /
// 5.10 ms; resnext50, whose grouped 3x3 layers have work enough to split,
// 84.5 / 63.3 / 81.6 ms (docs/benchmarks.md, "One runner where that is faster, by measuring").
//
// The policy: after the cut's first COLD_STAGED_RUNS runs and one run on one
// runner (none counted), the trials time
// TRIALS pairs of runs, one of each way: a counted cut after STAGED_WARMUP
// uncounted ones, then a run on one runner; then the cut runs only if the
// median of the pairs' ratios (staged / single) is below STAGED_MARGIN. The
// other way then runs once more (the cut: warmed up again) 4, 8, 16 and 32
// runs of the chosen way after that choice, then after every EXPLORE_EVERY, its
// ratio with the adjacent run replacing the oldest, so a choice made in a noisy
// minute is revisited, soon at first. Why soon: resnext50 at batch 1 took its
// trials in bench:peers' warm-up right after onnxruntime's two threads, whose
// pool spins on after a run, settled on one runner where the cut is 1.6x
// faster, and kept it through the benchmark's 44 runs. An exploration whose
// pair says the other way is faster is explored again DOUBT_GAP runs later,
// until a pair agrees with the choice or the window's median turns it; a new
// choice is then revisited soon, as the first was. Why: three pairs of five
// turn the median, and one exploration per EXPLORE_EVERY took 150 runs to
// follow a change. The host's phases are shorter: two threads of FMAs ran at
// 14 + 14 GFLOP/s one second and 33 + 36 the next, against 32 on one thread
// (its two vCPUs at times get one core's throughput), and mobilenet_v2's cut
// at batch 1 took 6.6 ms in some rounds of 15 forwards and 10-13 ms in the
// next, against 11.3 ms on one runner (docs/benchmarks.md, "The host's two
// vCPUs at times get one core's throughput"). An exploration whose way took at
// least CLEAR_LOSS times the chosen way's run beside it ends the early
// explorations: each costs runs of the slower way (the cut's, its warm-up too),
// and with another process busy on the second vCPU, the cut's runs in
// explorations were a third of shufflenet_v2's calls at batch 1 in bench:peers,
// which ran them at 0.75-0.85x one runner's speed (0.90-1.00x with this rule;
// docs/benchmarks.md, "Early explorations end on a clear loss").
//
// Why the cut's first runs are not counted: each worker is a V8 isolate of
// its own, which optimizes the program runner's code (TurboFan) only as it
// runs it, and that work slows the runners meanwhile (on background threads,
// which take a core from one of the two, or, with --single-threaded, on the
// runner's own thread: the spikes below stayed). A fresh engine's cut of efficientnet_b0 at batch 1 on
// two workers took 11-30 ms a run for its first 27 runs, then 10.3-10.6 ms;
// with V8's optimizing compiler off (--no-opt), 11.4-14.4 ms from the second
// run on, without the spikes. Runs on one runner do not warm the cut: after
// 40 of them, a first cut was as cold, while one runner's own runs went
// 20.5 -> 18.6 ms without a spike. Counted in that phase, the trials' pairs
// said 0.85, 1.19 and 1.17 where the warm cut runs at 0.58-0.62 of one
// runner's time, so the first choice was a toss: bench:peers measured two
// workers at 1.03x one on efficientnet_b0 at batch 1 (one runner's time),
// where the cut, forced, ran 10.6 ms against 17.8 (docs/benchmarks.md, "The
// cut's cold start"). With one runner chosen, the cut runs only in
// explorations, a few runs each, and stays cold longer.
//
// Why the cut warms up: after runs on one runner, the second core sat idle,
// and the cut's first runs are slow. efficientnet_b0 at batch 1 with the
// calling thread took 19-21 ms for the cut's first five runs after ten on one
// runner, then 13-14.5 ms steady, against 22 ms on one runner; counted cold,
// the pairs kept one runner, at 21.9 ms a forward where the cut alone ran at
// 13.9 (docs/benchmarks.md, "The cut timed after 4 untimed runs of it"). One runner's runs do not slow
// after the cut's: the calling thread never sat idle.
//
// Why pairs: this machine's speed moves by 15-50% from minute to minute. With
// each way's median over its own runs, a slow phase that covered more of one
// way's trials than the other's decided: efficientnet_b0 and mobilenet_v2 at
// batch 1 then kept the cut, 0.78-0.83x one worker's speed, for a whole
// benchmark (docs/benchmarks.md). Two adjacent runs see the same phase. Why a
// margin: the cut takes a second core; a choice that noise can still flip
// should fall to the way that needs one.

import { median } from '../statistics.js';

export type ProgramWay = 'staged' | 'single';

/** The cut's first runs, not counted, before the trials: its code warms on every runner's isolate meanwhile (see above). */
export const COLD_STAGED_RUNS = 30;
/** Pairs of adjacent counted runs before the first choice, and the window of ratios the choice is taken over. */
export const TRIALS = 5;
/** Uncounted runs of the cut before each counted one (in the trials and every exploration). */
export const STAGED_WARMUP = 4;
/** After the early explorations, the other way runs again after this many runs of the chosen way. */
export const EXPLORE_EVERY = 50;
/** Runs of the chosen way before each of the first explorations after the choice, before the steady EXPLORE_EVERY. */
export const EARLY_EXPLORATIONS = [4, 8, 16, 32] as const;
/**
 * Runs of the chosen way before the next exploration when the last one said the other way is faster: one,
 * the run that completes its pair.
 */
export const DOUBT_GAP = 1;
/** The cut runs only where its runs take less than this share of the single runner's beside them (median over the window). */
export const STAGED_MARGIN = 0.9;
/**
 * An exploration whose way took at least this many times the chosen way's run beside it ends the early
 * explorations: the next comes after EXPLORE_EVERY runs (see plan).
 */
export const CLEAR_LOSS = 1.25;

/** Runs before the first choice (the cut's cold runs, one runner's first, the trials): what a benchmark warms up to time the chosen way. */
export const RUNS_BEFORE_CHOICE = COLD_STAGED_RUNS + 1 + TRIALS * (STAGED_WARMUP + 2);

/** One run's way, and whether its time is counted (a warm-up's, or a way's very first run's, is not). */
export interface WayRun {
  readonly way: ProgramWay;
  readonly counted: boolean;
}

export class ModeChoice {
  /** staged ms / single ms of adjacent counted pairs, the last TRIALS. */
  private readonly ratios: number[] = [];
  /** The last counted run, while no uncounted one came after it: what the next counted run of the other way pairs with. */
  private pending: { way: ProgramWay; ms: number } | null = null;
  /**
   * Runs planned and not yet handed out: first the cut's COLD_STAGED_RUNS and one runner's first run, not
   * counted (the workers decode each way's description then, new memory is touched, and the cut's code is
   * optimized), so that each counted cut of the trials is followed by a counted single run.
   */
  private readonly queue: WayRun[] = [
    ...Array.from({ length: COLD_STAGED_RUNS }, () => ({ way: 'staged' as const, counted: false })),
    { way: 'single', counted: false },
  ];
  private chosen: ProgramWay = 'staged';
  /** Runs of the chosen way handed out since the choice or the last exploration, and the explorations so far. */
  private sinceExploration = 0;
  private explorations = 0;
  /** The last exploration's pair said the other way is faster: explore again at once (see plan). */
  private doubted = false;

  /** The next run's way, and whether its time counts (pass it back to record). */
  next(): WayRun {
    if (this.queue.length === 0) this.plan();
    return this.queue.shift()!;
  }

  /** A finished run's wall time (ms): a counted one is paired with the counted run just before it if that went the other way, and the choice remade once there are TRIALS pairs. */
  record(run: WayRun, ms: number): void {
    if (!run.counted) {
      this.pending = null;
      return;
    }
    const previous = this.pending;
    if (!previous || previous.way === run.way) {
      this.pending = { way: run.way, ms };
      return;
    }
    this.pending = null;
    const [staged, single] = run.way === 'staged' ? [ms, previous.ms] : [previous.ms, ms];
    const ratio = staged / single;
    this.ratios.push(ratio);
    if (this.ratios.length > TRIALS) this.ratios.shift();
    if (this.ratios.length < TRIALS) return;
    const was = this.chosen;
    this.chosen = median(this.ratios) < STAGED_MARGIN ? 'staged' : 'single';
    if (this.chosen !== was) {
      // A new choice is revisited soon at first, as the first one was.
      this.explorations = 0;
      this.sinceExploration = 0;
      this.doubted = false;
    } else {
      this.doubted = ratio < STAGED_MARGIN !== (this.chosen === 'staged');
      // An exploration's pair (after the trials, only explorations pair) whose way lost by far: the next
      // exploration comes after the steady gap.
      const explored = this.chosen === 'staged' ? 1 / ratio : ratio;
      if (this.explorations > 0 && explored >= CLEAR_LOSS) this.explorations = Math.max(this.explorations, EARLY_EXPLORATIONS.length);
    }
  }

  /** The way runs go between explorations ('staged' until the trials are done). */
  get current(): ProgramWay {
    return this.chosen;
  }

  private plan(): void {
    if (this.ratios.length < TRIALS) {
      this.queue.push(...this.block('staged'), ...this.block('single'));
      return;
    }
    const gap = this.doubted ? DOUBT_GAP : this.explorations < EARLY_EXPLORATIONS.length ? EARLY_EXPLORATIONS[this.explorations] : EXPLORE_EVERY;
    if (this.sinceExploration >= gap) {
      this.sinceExploration = 0;
      this.explorations++;
      this.queue.push(...this.block(other(this.chosen)));
      return;
    }
    this.sinceExploration++;
    this.queue.push({ way: this.chosen, counted: true });
  }

  /** One counted run of `way`, the cut's after its warm-up. */
  private block(way: ProgramWay): WayRun[] {
    const uncounted = way === 'staged' ? STAGED_WARMUP : 0;
    return [...Array.from({ length: uncounted }, () => ({ way, counted: false })), { way, counted: true }];
  }
}

function other(way: ProgramWay): ProgramWay {
  return way === 'staged' ? 'single' : 'staged';
}
