// The CLI as a user runs it: a child process, its exit code, stdout, stderr and files.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESULT_FIELDS } from '../src/cli/report/json.js';
import { parseSvg } from './support/svg.js';
import { spawnCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'groupconv-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = spawnCli;

describe('groupconv CLI end to end', () => {
  it('benchmarks a tiny custom layer and writes the table, JSON, CSV and chart', () => {
    const json = join(dir, 'r.json');
    const csv = join(dir, 'r.csv');
    const chart = join(dir, 'c.svg');
    const run = cli(
      'bench', '--cin', '4', '--cout', '8', '--kernel', '3', '--size', '8', '--padding', '1',
      '--groups', '1,2,3', '--workers', '1,2', '--batch', '2', '--policy', 'group,balanced',
      '--warmup', '0', '--min-runs', '2', '--min-time', '0',
      '--json', json, '--csv', csv, '--chart', chart,
    );
    expect(run.stderr).not.toMatch(/failed|Error/);
    expect(run.code).toBe(0);

    // stdout: machine header, then the layer's table with one row per point.
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^Machine: .+, \d+ cores, Node v\d+/);
    expect(run.stdout).toContain('custom: a custom layer');
    expect(run.stdout).toContain('4 -> 8, 3x3, pad 1, 8x8 -> 8x8, batch 2');
    const rows = lines.filter((l) => /^\s+[12]\s+[12]\s+(group|balanced)\s/.test(l));
    expect(rows).toHaveLength(8);
    expect(run.stdout).toContain('skipped groups 3: 4 input channels are not divisible by groups=3');

    // stderr is not a terminal here: one plain line per point, then the files written.
    const progress = run.stderr.split('\n').filter((l) => /^\[\d+\/8\] custom batch 2 groups [12], [12] workers?, (group|balanced): median [\d.]+ ms \(\d+ runs?\)$/.test(l));
    expect(progress).toHaveLength(8);
    expect(run.stderr).toContain(`wrote ${json}`);

    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.machine).toMatchObject({ cores: expect.any(Number), node: process.version });
    expect(report.results).toHaveLength(8);
    for (const r of report.results) {
      expect(Object.keys(r)).toEqual([...RESULT_FIELDS]);
      expect(r.layer).toBe('custom');
      expect(r.batch).toBe(2);
      expect(r.runs).toBeGreaterThanOrEqual(2);
      expect(r.minMs).toBeLessThanOrEqual(r.medianMs);
      expect(r.maxMs).toBeGreaterThanOrEqual(r.medianMs);
      // FLOPs counted independently: 2 x N x Cout x Ho x Wo x Cin/groups x kH x kW.
      const flops = 2 * 2 * 8 * 8 * 8 * (4 / r.groups) * 3 * 3;
      expect(r.gflops).toBeCloseTo(flops / (r.medianMs * 1e6), 9);
      expect(r.imagesPerSec).toBeCloseTo(2 / (r.medianMs / 1000), 6);
      const base = report.results.find((b: typeof r) => b.workers === 1 && b.groups === r.groups && b.policy === r.policy);
      expect(r.speedup).toBeCloseTo(base.medianMs / r.medianMs, 9);
      expect(r.efficiency).toBeCloseTo(r.speedup / r.workers, 9);
      expect(r.imbalance).toBeGreaterThanOrEqual(1);
      expect(r.overheadShare).toBeGreaterThanOrEqual(0);
      expect(r.overheadShare).toBeLessThan(1);
    }
    expect(report.skipped).toEqual([{ layer: 'custom', batch: 2, groups: 3, reason: '4 input channels are not divisible by groups=3' }]);

    const csvLines = readFileSync(csv, 'utf8').trimEnd().split('\r\n');
    expect(csvLines[0]).toBe(RESULT_FIELDS.join(','));
    expect(csvLines).toHaveLength(9);

    const doc = parseSvg(readFileSync(chart, 'utf8'));
    const series = Array.from(doc.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'series');
    expect(series.map((g) => `${g.getAttribute('data-groups')}/${g.getAttribute('data-policy')}`).sort()).toEqual(['1/balanced', '1/group', '2/balanced', '2/group']);
    const bars = Array.from(doc.getElementsByTagName('rect')).filter((r) => r.getAttribute('class') === 'task');
    expect(bars.length).toBeGreaterThan(0);
  });

  const badRuns: Array<[string[], RegExp]> = [
    [['bench', '--workers', '0'], /^groupconv bench: --workers: expected a comma-separated list of positive integers, got '0'$/],
    [['bench', '--policy', 'fastest'], /^groupconv bench: --policy: unknown policy 'fastest'/],
    [['bench', '--layer', 'vgg16'], /^groupconv bench: --layer: unknown layer 'vgg16'/],
    [['bench', '--frobnicate'], /^groupconv bench: --frobnicate: unknown option/],
    [['bench', '--json', join(dir, 'missing', 'r.json')], /^groupconv bench: --json: directory '.*missing' does not exist$/],
    [['frobnicate'], /^groupconv: unknown command 'frobnicate' \(one of: [^)]*\bbench\b[^)]*\); see groupconv --help$/],
    [[], /^groupconv: missing command/],
  ];
  for (const [args, message] of badRuns) {
    it(`exits 2 with one line for: groupconv ${args.join(' ')}`, () => {
      const run = cli(...args);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.endsWith('\n')).toBe(true);
      const stderrLines = run.stderr.trimEnd().split('\n');
      expect(stderrLines).toHaveLength(1);
      expect(stderrLines[0]).toMatch(message);
    });
  }

  it('prints usage for --help and bench --help', () => {
    const top = cli('--help');
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: groupconv <command>/);
    expect(top.stdout).toMatch(/\n {2}bench +time a grouped convolution/);
    const bench = cli('bench', '--help');
    expect(bench.code).toBe(0);
    expect(bench.stdout).toMatch(/^Usage: groupconv bench \[options\]/);
    for (const flag of ['--layer', '--groups', '--workers', '--policy', '--batch', '--json', '--csv', '--chart', 'resnext-conv', 'shufflenet-pw']) {
      expect(bench.stdout).toContain(flag);
    }
  });
});
