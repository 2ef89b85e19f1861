// --csv: the JSON records as RFC 4180 rows, one header line of the same field names;
// with --model, the layers' records as a second table after an empty line.
import type { BenchReport } from '../bench.js';
import { RESULT_FIELDS } from './json.js';
import { LAYER_FIELDS } from './layers.js';

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(report: BenchReport): string {
  const lines = [RESULT_FIELDS.join(',')];
  for (const r of report.results) lines.push(RESULT_FIELDS.map((f) => cell(r[f])).join(','));
  // With --model, the per-layer breakdown follows after an empty line, as a second table with its own header.
  if (report.breakdown) {
    lines.push('', LAYER_FIELDS.join(','));
    for (const l of report.breakdown) lines.push(LAYER_FIELDS.map((f) => cell(l[f])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
