// --json: the machine and one record per measured point (plus the skipped cases).
import type { BenchReport, PointResult } from '../bench.js';

/** The result fields, in the order the JSON records and the CSV columns use. */
export const RESULT_FIELDS = [
  'layer',
  'batch',
  'groups',
  'workers',
  'policy',
  'medianMs',
  'minMs',
  'maxMs',
  'gflops',
  'imagesPerSec',
  'speedup',
  'efficiency',
  'imbalance',
  'overheadShare',
  'runs',
] as const satisfies readonly (keyof PointResult)[];

export function toJson(report: BenchReport): string {
  const results = report.results.map((r) => Object.fromEntries(RESULT_FIELDS.map((f) => [f, r[f]])));
  return JSON.stringify({ machine: report.machine, results, skipped: report.skipped }, null, 2) + '\n';
}
