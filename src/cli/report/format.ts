// Number formats shared by the table and the chart, chosen so a column of
// mixed magnitudes stays readable (three or four significant digits).

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  if (ms < 1000) return ms.toFixed(1);
  return ms.toFixed(0);
}

export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value < 1) return value.toFixed(3);
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return value.toFixed(0);
}

export const formatRatio = (value: number | null, suffix = ''): string =>
  value === null || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}${suffix}`;

export const formatPercent = (value: number | null, digits = 0): string =>
  value === null || !Number.isFinite(value) ? '-' : `${(value * 100).toFixed(digits)}%`;

export interface Column {
  header: string;
  align: 'left' | 'right';
}

/** Plain-text table: a header row, a rule, then rows; columns padded to their widest cell. */
export function textTable(columns: readonly Column[], rows: readonly string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (columns[i].align === 'left' ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A FLOP count with a unit that keeps three significant digits: "7.17 GFLOP", "28.9 MFLOP". */
export function formatFlops(flops: number): string {
  const units: Array<[number, string]> = [[1e12, 'TFLOP'], [1e9, 'GFLOP'], [1e6, 'MFLOP'], [1e3, 'kFLOP']];
  for (const [scale, unit] of units) if (flops >= scale) return `${Number((flops / scale).toPrecision(3))} ${unit}`;
  return `${flops} FLOP`;
}
