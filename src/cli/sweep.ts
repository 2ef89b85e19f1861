// The loop both benchmarks (a layer, a whole model) share: one engine per
// (policy, workers) point, every engine started before any timing; then case
// by case, the case prepared on every engine and its points measured
// interleaved (measure.ts: the speedups compare medians of the same stretch
// of the machine), each case given an equal share of what is left of the
// time budget; the engines closed even when a measurement fails.
import { GroupedConvEngine } from '../engine/engine.js';
import type { PartitionPolicy } from '../scheduler/conv-tasks.js';
import type { BenchConfig } from './args.js';
import { measureInterleaved, type InterleavedPoint, type Measurement } from './measure.js';
import type { BenchProgress } from './progress.js';
import { median } from '../statistics.js';

export interface SweepPoint<C> {
  engine: GroupedConvEngine;
  case: C;
  workers: number;
  policy: PartitionPolicy;
}

/** A case set up on one point's engine: what to time, what to do with the timings, what to free after. */
export interface PreparedPoint<T> extends InterleavedPoint<T> {
  record(measurement: Measurement<T>): void;
  release?(): void;
}

export async function sweep<C, T>(
  config: Pick<BenchConfig, 'policies' | 'workers' | 'measure'> & Partial<Pick<BenchConfig, 'callingThread'>>,
  cases: readonly C[],
  progress: BenchProgress,
  label: (c: C, workers: number, policy: PartitionPolicy) => string,
  prepare: (point: SweepPoint<C>) => PreparedPoint<T>,
  beforeClose: (engine: GroupedConvEngine) => void = () => {},
): Promise<void> {
  const settings = config.policies.flatMap((policy) => config.workers.map((workers) => ({ policy, workers })));
  const total = cases.length * settings.length;
  let budgetLeft = config.measure.budgetMs;
  progress.start(total);
  const engines: Array<{ engine: GroupedConvEngine; policy: PartitionPolicy; workers: number }> = [];
  try {
    if (total === 0) return;
    for (const { policy, workers } of settings) {
      const engine = new GroupedConvEngine({ workers, policy, callingThread: config.callingThread ?? false });
      engines.push({ engine, policy, workers });
      await engine.warmup();
    }
    for (let c = 0; c < cases.length; c++) {
      const prepared: Array<PreparedPoint<T>> = [];
      try {
        for (const e of engines) prepared.push(prepare({ engine: e.engine, case: cases[c], workers: e.workers, policy: e.policy }));
        const first = c * engines.length;
        const names = engines.map((e) => label(cases[c], e.workers, e.policy));
        const shareMs = Math.max(0, budgetLeft) / (cases.length - c);
        const measured = await measureInterleaved(prepared, { ...config.measure, shareMs, onTurn: (i) => progress.point(first + i, names[i]) });
        measured.forEach((m, i) => {
          prepared[i].record(m);
          const times = m.samples.map((s) => s.ms);
          budgetLeft -= times.reduce((sum, t) => sum + t, 0);
          progress.pointDone(first + i, names[i], median(times), times.length);
        });
      } finally {
        for (const p of prepared) p.release?.();
      }
    }
  } finally {
    // Every engine is closed, whichever fails to; the first failure is reported.
    const failures: unknown[] = [];
    for (const { engine } of engines) {
      try {
        beforeClose(engine);
      } catch (error) {
        failures.push(error);
      }
      await engine.close().catch((error: unknown) => failures.push(error));
    }
    progress.finish();
    if (failures.length > 0) throw failures[0];
  }
}
