import { describe, expect, it } from 'vitest';
import { addSpeedups } from '../src/cli/bench.js';
import { toCsv } from '../src/cli/report/csv.js';
import { RESULT_FIELDS, toJson } from '../src/cli/report/json.js';
import { formatFlops, formatMs, textTable } from '../src/cli/report/format.js';
import { formatReport } from '../src/cli/report/table.js';
import { sampleReport } from './support/bench-report.js';

describe('bench reports', () => {
  it('speedup and efficiency against 1 worker of the same groups and policy', () => {
    const r = sampleReport().results;
    expect(r.map((x) => [x.groups, x.workers, x.speedup, x.efficiency])).toEqual([
      [1, 1, 1, 1],
      [1, 2, 2, 1],
      [1, 3, 1.6, 1.6 / 3],
      [2, 1, 1, 1],
      [2, 2, 1.6, 0.8],
      [2, 3, 2, 2 / 3],
    ]);
    // Without a 1-worker point there is nothing to compare with.
    const orphan = addSpeedups(r.filter((x) => x.workers !== 1));
    expect(orphan.every((x) => x.speedup === null && x.efficiency === null)).toBe(true);
  });

  it('JSON: machine and one record per point with exactly the documented fields', () => {
    const report = sampleReport();
    const parsed = JSON.parse(toJson(report));
    expect(Object.keys(parsed)).toEqual(['machine', 'results', 'skipped']);
    expect(parsed.machine).toEqual(report.machine);
    expect(parsed.results).toHaveLength(6);
    for (const record of parsed.results) {
      expect(Object.keys(record)).toEqual([...RESULT_FIELDS]);
    }
    expect(RESULT_FIELDS.slice(0, 14)).toEqual([
      'layer', 'batch', 'groups', 'workers', 'policy', 'medianMs', 'minMs', 'maxMs',
      'gflops', 'imagesPerSec', 'speedup', 'efficiency', 'imbalance', 'overheadShare',
    ]);
    expect(parsed.results[1]).toMatchObject({ groups: 1, workers: 2, medianMs: 500, speedup: 2, efficiency: 1, imagesPerSec: 16 });
    expect(parsed.skipped[0].groups).toBe(3);
  });

  it('CSV: a header of the same fields and one row per point, numbers round-trip', () => {
    const report = sampleReport();
    const lines = toCsv(report).trimEnd().split('\r\n');
    expect(lines[0]).toBe(RESULT_FIELDS.join(','));
    expect(lines).toHaveLength(1 + report.results.length);
    const rows = lines.slice(1).map((l) => l.split(','));
    rows.forEach((cells, i) => {
      const r = report.results[i];
      RESULT_FIELDS.forEach((field, j) => {
        const value = r[field];
        expect(cells[j]).toBe(value === null ? '' : String(value));
        if (typeof value === 'number') expect(Number(cells[j])).toBe(value);
      });
    });
  });

  it('table: machine header, the columns, one row per point and the skipped groups', () => {
    const text = formatReport(sampleReport());
    const lines = text.split('\n');
    expect(lines[0]).toBe('Machine: Test CPU <fast> & "cool", 2 cores, Node v20.0.0 (linux-x64), kernel reference');
    expect(text).toContain('per call: 7.17 GFLOP at groups 1, 3.58 GFLOP at groups 2');
    const header = lines.find((l) => l.startsWith('groups'))!;
    expect(header.split(/\s{2,}/)).toEqual(['groups', 'workers', 'policy', 'median ms', 'GFLOP/s', 'images/s', 'speedup', 'efficiency', 'imbalance', 'overhead', 'runs']);
    const row = lines.find((l) => /^\s+1\s+2\s+balanced/.test(l))!;
    expect(row.trim().split(/\s+/)).toEqual(['1', '2', 'balanced', '500.0', '14.3', '16.0', '2.00x', '100%', '1.05', '2.0%', '5']);
    expect(text).toContain('skipped groups 3: 256 output channels are not divisible by groups=3');
  });

  it('table: an overhead too small for one decimal reads <0.1%, not 0.0%', () => {
    const report = sampleReport();
    report.results = [{ ...report.results[0], overheadShare: 0.0001 }];
    const row = formatReport(report).split('\n').find((l) => /^\s+1\s+1\s+balanced/.test(l))!;
    expect(row.trim().split(/\s+/)[9]).toBe('<0.1%');
  });

  it('formats', () => {
    expect([formatMs(0.01234), formatMs(4.567), formatMs(45.67), formatMs(20290.4)]).toEqual(['0.012', '4.57', '45.7', '20290']);
    expect([formatFlops(7_166_361_600), formatFlops(28_901_376), formatFlops(41_472), formatFlops(12)]).toEqual(['7.17 GFLOP', '28.9 MFLOP', '41.5 kFLOP', '12 FLOP']);
    expect(textTable([{ header: 'a', align: 'left' }, { header: 'bb', align: 'right' }], [['xyz', '1']])).toBe('a    bb\n---  --\nxyz   1');
  });
});
