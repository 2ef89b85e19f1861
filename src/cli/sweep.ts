// The loop both benchmarks (a layer, a whole model) share: one engine per
// (policy, workers) point, started before any timing, every case measured on
// it in turn, each point given an equal share of what is left of the time
// budget, and the engine closed even when a measurement fails.
import { GroupedConvEngine } from '../engine/engine.js';
import type { PartitionPolicy } from '../scheduler/conv-tasks.js';
import type { BenchConfig } from './args.js';
import type { BenchProgress } from './progress.js';

/** What measuring one point reports back: the timed runs' total (charged to the budget), their median and count. */
export interface PointMeasured {
  spentMs: number;
  medianMs: number;
  runs: number;
}

export interface SweepPoint<C> {
  engine: GroupedConvEngine;
  case: C;
  workers: number;
  policy: PartitionPolicy;
  /** This point's share of the remaining time budget, ms. */
  shareMs: number;
}

export async function sweep<C>(
  config: Pick<BenchConfig, 'policies' | 'workers' | 'measure'>,
  cases: readonly C[],
  progress: BenchProgress,
  label: (c: C, workers: number, policy: PartitionPolicy) => string,
  measurePoint: (point: SweepPoint<C>) => Promise<PointMeasured>,
  beforeClose: (engine: GroupedConvEngine) => void = () => {},
): Promise<void> {
  const total = cases.length * config.workers.length * config.policies.length;
  let budgetLeft = config.measure.budgetMs;
  let index = 0;
  progress.start(total);
  try {
    for (const policy of config.policies) {
      for (const workers of config.workers) {
        if (cases.length === 0) continue;
        const engine = new GroupedConvEngine({ workers, policy });
        try {
          await engine.warmup();
          for (const c of cases) {
            const name = label(c, workers, policy);
            progress.point(index, name);
            const shareMs = Math.max(0, budgetLeft) / (total - index);
            const measured = await measurePoint({ engine, case: c, workers, policy, shareMs });
            budgetLeft -= measured.spentMs;
            progress.pointDone(index, name, measured.medianMs, measured.runs);
            index++;
          }
        } finally {
          beforeClose(engine);
          await engine.close();
        }
      }
    }
  } finally {
    progress.finish();
  }
}
