// --csv: the JSON records as RFC 4180 rows, one header line of the same field names.
import type { BenchReport } from '../bench.js';
import { RESULT_FIELDS } from './json.js';

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(report: BenchReport): string {
  const lines = [RESULT_FIELDS.join(',')];
  for (const r of report.results) lines.push(RESULT_FIELDS.map((f) => cell(r[f])).join(','));
  return lines.join('\r\n') + '\r\n';
}
