// `groupconv bench --model FILE.onnx` as a user runs it: the results' structure
// (the same fields as for a layer, `layer` = the model's name), the per-layer
// breakdown against the model's own plan (op types, groups, FLOPs), the CSV and
// chart, and one line with exit code 2 for a file that cannot be loaded.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESULT_FIELDS } from '../src/cli/report/json.js';
import { LAYER_FIELDS } from '../src/cli/report/layers.js';
import { loadOnnx } from '../src/index.js';
import { FIXTURES } from './support/onnx.js';
import { parseSvg } from './support/svg.js';
import { spawnCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'groupconv-cli-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = spawnCli;

const quick = ['--warmup', '0', '--min-runs', '2', '--min-time', '0'];

describe('groupconv bench --model', () => {
  it('times a model at each batch and worker count, with its layers in the table, JSON, CSV and chart', () => {
    const file = join(FIXTURES, 'resnext.onnx');
    const json = join(dir, 'm.json');
    const csv = join(dir, 'm.csv');
    const chart = join(dir, 'm.svg');
    const run = cli('bench', '--model', file, '--workers', '1,2', ...quick, '--json', json, '--csv', csv, '--chart', chart);
    expect(run.stderr).not.toMatch(/failed|Error/);
    expect(run.code).toBe(0);

    // The model's plan at its (fixed) batch of 1: the steps the breakdown must list, in order.
    const model = loadOnnx(file);
    const plan = model.planFor({ input: [1, 3, 32, 32] });
    // Fused groups (Conv+BatchNormalization+Relu, ...) are one layer, named by their Conv, with its FLOPs.
    const steps = plan.schedule.steps.map((s) => {
      const step = plan.steps[s.kind === 'fused' ? s.fused.planSteps[0] : s.index];
      return { ...step, node: { ...step.node, opType: s.kind === 'fused' ? s.fused.opType : step.node.opType } };
    });
    expect(steps.some((s) => s.node.opType === 'Conv+BatchNormalization+Relu')).toBe(true);

    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.results).toHaveLength(2);
    for (const r of report.results) {
      expect(Object.keys(r)).toEqual([...RESULT_FIELDS]);
      expect(r).toMatchObject({ layer: 'resnext', batch: 1, groups: null, policy: 'balanced' });
      expect(r.imagesPerSec).toBeCloseTo(1 / (r.medianMs / 1000), 6);
    }
    expect(report.results.map((r: { workers: number }) => r.workers)).toEqual([1, 2]);
    expect(report.results[0].speedup).toBe(1);
    expect(report.results[1].speedup).toBeCloseTo(report.results[0].medianMs / report.results[1].medianMs, 9);
    expect(report.results[1].efficiency).toBeCloseTo(report.results[1].speedup / 2, 9);

    // `layers`: every step of the plan, at each worker count, with its op type, groups and FLOPs.
    expect(report.layers).toHaveLength(2 * steps.length);
    let modelFlops = 0;
    for (const workers of [1, 2]) {
      const rows = report.layers.filter((l: { workers: number }) => l.workers === workers);
      expect(rows.map((l: { opType: string }) => l.opType)).toEqual(steps.map((s) => s.node.opType));
      expect(rows.map((l: { name: string }) => l.name)).toEqual(steps.map((s) => s.node.name));
      rows.forEach((l: Record<string, unknown>, i: number) => {
        expect(Object.keys(l)).toEqual([...LAYER_FIELDS]);
        const step = steps[i];
        if (step.node.opType.startsWith('Conv')) {
          const group = step.node.attributes.get('group')?.value ?? 1;
          const w = plan.shapes.get(step.inputs[1])!;
          const out = plan.shapes.get(step.outputs[0])!;
          expect(l).toMatchObject({ kind: 'engine', groups: group, flops: 2 * out.reduce((a, b) => a * b, 1) * w[1] * w[2] * w[3] });
          expect(l.kernelMs).not.toBeNull();
        } else {
          // The model's other ops run on the workers too, as ranged kernels (timed) or aliases (no work).
          expect(l).toMatchObject({ groups: null });
          expect(['ranged', 'alias']).toContain(l.kind);
          if (l.kind === 'ranged') expect(l.kernelMs).not.toBeNull();
          else expect(l).toMatchObject({ kernelMs: null, handoffMs: null });
        }
        if (workers === 1) {
          // An alias takes no time, so it has no speedup.
          if (l.medianMs as number > 0) expect(l.speedup).toBe(1);
          else expect(l.speedup).toBeNull();
          modelFlops += l.flops as number;
        }
      });
    }
    // ResNeXt's grouped convolutions show with their groups.
    expect(new Set(report.layers.filter((l: { opType: string }) => l.opType.startsWith('Conv')).map((l: { groups: number }) => l.groups))).toEqual(new Set([1, 8]));
    expect(report.results[0].gflops).toBeCloseTo(modelFlops / (report.results[0].medianMs * 1e6), 9);

    // The table: the model's row per worker count, then its top layers by time.
    expect(run.stdout).toContain('resnext: ONNX model resnext.onnx');
    expect(run.stdout.split('\n').filter((l) => /^\s+-\s+[12]\s+balanced\s/.test(l))).toHaveLength(2);
    expect(run.stdout).toContain('layers by time (batch 1, balanced');
    // The memory plan: the model's own figures, in the JSON and as a line of the table.
    const memory = model.memoryPlan([1, 3, 32, 32]);
    expect(report.memory).toEqual([{ batch: 1, ...memory }]);
    expect(memory.peakBytes).toBeLessThan(memory.sumBytes);
    expect(run.stdout).toContain(`memory plan: activations in one ${(memory.peakBytes / 2 ** 20).toFixed(2)} MiB block`);
    expect(run.stdout).toMatch(/ms @1 +x @1 +ms @2 +x @2/);
    expect(run.stdout).toMatch(/\n\S*Conv +Conv\S* +8 /);

    // The CSV: the results, then an empty line and the layers as a second table.
    const lines = readFileSync(csv, 'utf8').split('\r\n');
    expect(lines[0]).toBe(RESULT_FIELDS.join(','));
    expect(lines[3]).toBe('');
    expect(lines[4]).toBe(LAYER_FIELDS.join(','));
    expect(lines.slice(5).filter((l) => l !== '')).toHaveLength(2 * steps.length);

    // The chart: a bar per shown layer and worker count.
    const doc = parseSvg(readFileSync(chart, 'utf8'));
    const bars = Array.from(doc.getElementsByTagName('rect')).filter((r) => r.getAttribute('class') === 'layer-bar');
    expect(new Set(bars.map((b) => b.getAttribute('data-workers')))).toEqual(new Set(['1', '2']));
    expect(bars.length).toBe(2 * Math.min(12, steps.length));
    model.close();
  });

  it('runs a symbolic batch at each --batch, and skips a batch a fixed-batch model cannot take', () => {
    const json = join(dir, 'b.json');
    const run = cli('bench', '--model', join(FIXTURES, 'shufflenet_v2.onnx'), '--batch', '1,3', '--workers', '1', ...quick, '--json', json);
    expect(run.code).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.results.map((r: { batch: number }) => r.batch)).toEqual([1, 3]);
    expect(report.skipped).toEqual([]);
    // The channel shuffle (Concat, Reshape, Transpose, Reshape and the next block's Slices) shows as one layer on the workers.
    const ops = new Set(report.layers.map((l: { opType: string }) => l.opType));
    for (const op of ['Conv+BatchNormalization+Relu', 'Concat+Reshape+Transpose+Reshape+Slice+Slice', 'Concat+Reshape+Transpose+Reshape']) expect(ops).toContain(op);
    expect(ops).not.toContain('Transpose');

    const fixed = cli('bench', '--model', join(FIXTURES, 'alexnet_like.onnx'), '--batch', '1,4', '--workers', '1', ...quick, '--json', json);
    expect(fixed.code).toBe(0);
    const skipped = JSON.parse(readFileSync(json, 'utf8')).skipped;
    expect(skipped).toEqual([{ layer: 'alexnet_like', batch: 4, groups: null, reason: "the model's batch dimension is fixed at 1" }]);
    expect(fixed.stdout).toContain("skipped batch 4: the model's batch dimension is fixed at 1");
  });

  it('runs forwards on the calling thread with --calling-thread, and says so in the report', () => {
    const json = join(dir, 'ct.json');
    const run = cli('bench', '--model', join(FIXTURES, 'shufflenet_v2.onnx'), '--workers', '1,2', '--calling-thread', ...quick, '--json', json);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("the calling thread is one of a forward's runners");
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.callingThread).toBe(true);
    expect(report.results.map((r: { workers: number }) => r.workers)).toEqual([1, 2]);
    expect(report.layers.length).toBeGreaterThan(0);
  });

  it('takes --size for a symbolic height and width', () => {
    const json = join(dir, 's.json');
    const run = cli('bench', '--model', join(FIXTURES, 'mobilenet_v3_dynhw.onnx'), '--size', '24', '--workers', '1', ...quick, '--json', json);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('input [3, 24, 24], batch 1');
  });

  it('is in the usage of bench and infer', () => {
    const bench = cli('bench', '--help');
    expect(bench.code).toBe(0);
    expect(bench.stdout).toMatch(/--model FILE\.onnx +time the whole model/);
    const infer = cli('infer', '--help');
    expect(infer.code).toBe(0);
    expect(infer.stdout).toContain('groupconv infer --model FILE.onnx --input X.safetensors --out Y.safetensors [--workers N]');
  });

  const notOnnx = join(dir, 'not.onnx');
  writeFileSync(notOnnx, 'this is not a protobuf message at all, just text');
  const truncated = join(dir, 'truncated.onnx');
  writeFileSync(truncated, readFileSync(join(FIXTURES, 'resnext.onnx')).subarray(0, 20_000));
  const badRuns: Array<[string[], RegExp]> = [
    [['bench', '--model', join(dir, 'missing.onnx')], /^groupconv bench: .*missing\.onnx/],
    [['bench', '--model', notOnnx], /^groupconv bench: .*not\.onnx (is not an ONNX model|is truncated or corrupted)/],
    [['bench', '--model', truncated], /^groupconv bench: .*truncated\.onnx is truncated or corrupted at byte \d+/],
    [['bench', '--model', join(FIXTURES, 'resnext.onnx'), '--groups', '2'], /^groupconv bench: --groups: describes a layer; --model times the model's own layers$/],
    [['bench', '--model', join(FIXTURES, 'mobilenet_v3_dynhw.onnx'), '--workers', '1'], /^groupconv bench: --size: the model's input dimension 2 is symbolic/],
    [['bench', '--calling-thread'], /^groupconv bench: --calling-thread: applies to --model only: a layer's calls always go to the workers$/],
  ];
  for (const [args, message] of badRuns) {
    it(`exits 2 with one line for: groupconv ${args.map((a) => a.replace(dir, '$TMP').replace(FIXTURES, '$FIXTURES')).join(' ')}`, () => {
      const run = cli(...args);
      expect(run.stdout).toBe('');
      expect(run.code).toBe(2);
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }
});
