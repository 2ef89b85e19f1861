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
// The policy: the first runs alternate the two (each way's first run not
// counted) until TRIALS pairs of adjacent runs, one of each way, have been
// timed; then the cut runs only if the median of the pairs' ratios (staged /
// single) is below STAGED_MARGIN. The other way then runs once more 4, 8, 16
// and 32 runs after that choice, and every EXPLORE_EVERY runs, each time paired
// with the run just before it, its ratio replacing the oldest, so a choice made
// in a noisy minute is revisited, soon at first. Why soon: resnext50 at batch 1
// took its trials in bench:peers' warm-up right after onnxruntime's two
// threads, whose pool spins on after a run, settled on one runner where the
// cut is 1.6x faster, and kept it through the benchmark's 44 runs.
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

/** Pairs of adjacent runs before the first choice, and the window of ratios the choice is taken over. */
export const TRIALS = 5;
/** After the trials, one run in this many goes the other way. */
export const EXPLORE_EVERY = 50;
/** Runs after the first choice at which the other way runs once more, before the steady EXPLORE_EVERY. */
export const EARLY_EXPLORATIONS = [4, 8, 16, 32] as const;
/** The cut runs only where its runs take less than this share of the single runner's beside them (median over the window). */
export const STAGED_MARGIN = 0.9;

export class ModeChoice {
  /** staged ms / single ms of adjacent pairs, the last TRIALS. */
  private readonly ratios: number[] = [];
  /** A counted run still waiting for a run of the other way to pair with. */
  private pending: { way: ProgramWay; ms: number } | null = null;
  /** The ways that have run once: a way's first run is not counted (the workers decode its description then, and new memory is touched). */
  private readonly warm = new Set<ProgramWay>();
  private runs = 0;
  private chosen: ProgramWay = 'staged';
  /** The run at which the trials ended and the first choice was taken, or -1. */
  private chosenAt = -1;

  /** The way the next run goes. */
  next(): ProgramWay {
    const run = this.runs++;
    if (this.ratios.length < TRIALS) return run % 2 === 0 ? 'staged' : 'single';
    if (this.chosenAt < 0) this.chosenAt = run;
    const early = (EARLY_EXPLORATIONS as readonly number[]).includes(run - this.chosenAt);
    return early || run % EXPLORE_EVERY === 0 ? other(this.chosen) : this.chosen;
  }

  /** A finished run's wall time (ms): paired with the run before it if that went the other way, and the choice remade once there are TRIALS pairs. */
  record(way: ProgramWay, ms: number): void {
    if (!this.warm.has(way)) {
      this.warm.add(way);
      return;
    }
    const previous = this.pending;
    if (!previous || previous.way === way) {
      this.pending = { way, ms };
      return;
    }
    this.pending = null;
    const [staged, single] = way === 'staged' ? [ms, previous.ms] : [previous.ms, ms];
    this.ratios.push(staged / single);
    if (this.ratios.length > TRIALS) this.ratios.shift();
    if (this.ratios.length >= TRIALS) this.chosen = median(this.ratios) < STAGED_MARGIN ? 'staged' : 'single';
  }

  /** The way runs go between explorations ('staged' until the trials are done). */
  get current(): ProgramWay {
    return this.chosen;
  }
}

function other(way: ProgramWay): ProgramWay {
  return way === 'staged' ? 'single' : 'staged';
}
