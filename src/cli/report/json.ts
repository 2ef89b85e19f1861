// --json: the machine and one record per measured point (plus the skipped cases);
// with --model, also one record per layer of the model per point (`layers`).
import type { BenchReport, PointResult } from '../bench.js';
import { LAYER_FIELDS } from './layers.js';

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
  // `bench --model` adds `layers`: every layer of the model at every point.
  const layers = report.breakdown?.map((l) => Object.fromEntries(LAYER_FIELDS.map((f) => [f, l[f]])));
  // ... and `memory`: the memory plan's peak and sum of activations per batch.
  const memory = report.memory ? { memory: report.memory } : {};
  // ... and `callingThread`: whether a forward on one runner ran on the calling thread (--calling-thread).
  const callingThread = report.callingThread !== undefined ? { callingThread: report.callingThread } : {};
  return JSON.stringify({ machine: report.machine, ...callingThread, results, skipped: report.skipped, ...(layers ? { layers } : {}), ...memory }, null, 2) + '\n';
}
