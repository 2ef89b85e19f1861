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
// The policy: the first runs alternate the two until each has TRIALS times,
// then the one with the lower median runs; every EXPLORE_EVERY runs the other
// runs once more, its times a window of the last TRIALS, so a choice made in a
// noisy minute is revisited.

import { median } from '../statistics.js';

export type ProgramWay = 'staged' | 'single';

/** Runs of each way before the first choice, and the window each way's median is taken over. */
export const TRIALS = 5;
/** After the trials, one run in this many goes the other way. */
export const EXPLORE_EVERY = 50;

export class ModeChoice {
  private readonly times: Record<ProgramWay, number[]> = { staged: [], single: [] };
  /** The ways that have run once: a way's first run is not counted (the workers decode its description then, and new memory is touched). */
  private readonly warm = new Set<ProgramWay>();
  private runs = 0;
  private chosen: ProgramWay = 'staged';

  /** The way the next run goes. */
  next(): ProgramWay {
    const run = this.runs++;
    if (this.times.staged.length < TRIALS || this.times.single.length < TRIALS) {
      return this.times.staged.length <= this.times.single.length ? 'staged' : 'single';
    }
    return run % EXPLORE_EVERY === 0 ? other(this.chosen) : this.chosen;
  }

  /** A finished run's wall time (ms): kept in its way's window (but for its first), and the choice remade once both ways have their trials. */
  record(way: ProgramWay, ms: number): void {
    if (!this.warm.has(way)) {
      this.warm.add(way);
      return;
    }
    const window = this.times[way];
    window.push(ms);
    if (window.length > TRIALS) window.shift();
    if (this.times.staged.length >= TRIALS && this.times.single.length >= TRIALS) {
      this.chosen = median(this.times.single) < median(this.times.staged) ? 'single' : 'staged';
    }
  }

  /** The way runs go between explorations ('staged' until both ways have their trials). */
  get current(): ProgramWay {
    return this.chosen;
  }
}

function other(way: ProgramWay): ProgramWay {
  return way === 'staged' ? 'single' : 'staged';
}
