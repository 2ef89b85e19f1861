// `groupconv alexnet` and `groupconv infer`, driven through the CLI's main()
// on the reduced-width PyTorch fixture.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors } from '../src/index.js';
import { expectClose } from './support/tolerance.js';
import { runCli } from './support/cli.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const weights = join(DIR, 'tiny-weights.safetensors');
const ioFile = join(DIR, 'tiny-io.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'groupconv-alexnet-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cli = runCli;

describe('groupconv infer', () => {
  it("writes PyTorch's logits as 'output', the same bits on 1 and 2 devices", async () => {
    const outs = [];
    for (const devices of ['1', '2']) {
      const out = join(tmp, `y${devices}.safetensors`);
      const r = await cli('infer', '--model', 'alexnet', '--weights', weights, '--input', ioFile, '--out', out, '--devices', devices);
      expect(r.code, r.stderr).toBe(0);
      const y = loadSafetensors(out).output;
      expect(y.shape).toEqual([2, 10]);
      expectClose(y.data, loadSafetensors(ioFile).output.data, { atol: 1e-4, rtol: 1e-4 });
      outs.push(y.data);
    }
    expect(outs[1]).toEqual(outs[0]);
  });

  it('fails in one line with exit code 2 on bad arguments', async () => {
    const noInput = join(tmp, 'no-input.safetensors');
    saveSafetensors(noInput, { x: { shape: [1], data: new Float32Array(1) } });
    const truncated = join(tmp, 'truncated.safetensors');
    const bytes = readFileSync(weights);
    (await import('node:fs')).writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
    const out = join(tmp, 'y.safetensors');
    const cases: [string[], RegExp][] = [
      [['--weights', weights, '--input', ioFile, '--out', out], /--model: is required/],
      [['--model', 'vgg', '--weights', weights, '--input', ioFile, '--out', out], /--model: unknown model 'vgg'/],
      [['--model', 'alexnet', '--weights', join(tmp, 'nope'), '--input', ioFile, '--out', out], /--weights: file '.*nope' does not exist/],
      [['--model', 'alexnet', '--weights', weights, '--input', noInput, '--out', out], /--input: .* has no tensor named 'input' \(it has: x\)/],
      [['--model', 'alexnet', '--weights', truncated, '--input', ioFile, '--out', out], /--weights: .*truncated/],
      [['--model', 'alexnet', '--weights', weights, '--input', ioFile, '--out', out, '--devices', 'two'], /--devices: expected a positive integer/],
      [['--model', 'alexnet', '--weights', weights, '--input', ioFile, '--out', join(tmp, 'missing-dir', 'y.safetensors')], /--out: directory .* does not exist/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli('infer', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('groupconv alexnet', () => {
  it('prints the per-layer split report and writes it as JSON', async () => {
    const json = join(tmp, 'report.json');
    const r = await cli('alexnet', '--weights', weights, '--devices', '2', '--batch', '2', '--link-gbps', '10', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    for (const label of ['conv1', 'lrn1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8']) expect(r.stdout).toMatch(new RegExp(`\\b${label}\\b`));
    expect(r.stdout).toMatch(/on 2 devices: batch 2, input 99x99/);
    expect(r.stdout).toMatch(/speedup of 2 devices over 1 on the same batch: \d+\.\d\dx/);
    expect(r.stdout).toMatch(/logits: bitwise identical on 1 and 2 devices/);
    // No reported pass is a cold one: one untimed pass compiles and plans, the median of 3 is quoted.
    expect(r.stdout).toMatch(/forward pass: .* ms on 2 devices \(median of 3 passes after 1 untimed\)/);
    expect(r.stdout).toMatch(/device 1: .* weights \+ .* activations \+ .* kernel scratch at conv1 .*; measured peak of its own memory: /);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.run.devices).toBe(2);
    expect(report.logitsBitwiseEqual).toBe(true);
    expect(report.passes).toEqual({ warmup: 1, timed: 3 });
    expect(report.deviceWeights.map((d: { parameters: number }) => d.parameters)).toEqual([41_069, 41_069]);
    expect(report.run.layers).toHaveLength(23);
    expect(report.linkGbps).toBe(10);
    // Each device's own memory, measured, held at least what the budget counts for it.
    expect(report.run.memoryPeakBytes).toHaveLength(2);
    report.run.memory.forEach((m: { totalBytes: number }, d: number) => expect(report.run.memoryPeakBytes[d]).toBeGreaterThanOrEqual(m.totalBytes));
    // It is split --model alexnet --strategy channels: the plan's strategy, simulated time, and each layer's op, groups and collective.
    expect(report.strategy).toBe('channels');
    expect(report.simulatedMs).toBeGreaterThan(0);
    expect(report.run.layers.map((l: { op: string }) => l.op).slice(0, 5)).toEqual(['conv', 'relu', 'lrn', 'maxpool', 'conv']);
    expect(report.run.layers[4]).toMatchObject({ label: 'conv2', groups: 2, collective: 'none' });
    expect(report.run.layers[8]).toMatchObject({ label: 'conv3', groups: 1, collective: 'all-gather' });
  });

  it('writes the same trace and chart as split --model alexnet: a track per device and the host, each layer computed once per device', async () => {
    const trace = join(tmp, 'alexnet-trace.json');
    const chart = join(tmp, 'alexnet-chart.svg');
    const r = await cli('alexnet', '--weights', weights, '--devices', '2', '--batch', '2', '--repeat', '1', '--link-latency-us', '20', '--trace', trace, '--chart', chart);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/simulated \d+\.\d ms, measured \d+\.\d ms/);
    type Event = { name: string; ph: string; pid: number; tid: number; cat?: string; args?: { name?: string; layer?: string } };
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as Event[];
    expect(events.filter((e) => e.name === 'thread_name').map((e) => `${e.pid}:${e.tid}:${e.args!.name}`)).toEqual(['1:0:device 0', '1:1:device 1', '2:0:device 0', '2:1:device 1', '2:2:host']);
    const layers = ['conv1', 'relu1', 'lrn1', 'pool1', 'conv2', 'relu2', 'lrn2', 'pool2', 'conv3', 'relu3', 'conv4', 'relu4', 'conv5', 'relu5', 'pool3', 'flatten', 'dropout6', 'fc6', 'relu6', 'dropout7', 'fc7', 'relu7', 'fc8'];
    for (const tid of [0, 1]) expect(events.filter((e) => e.pid === 2 && e.ph === 'X' && e.cat === 'compute' && e.tid === tid).map((e) => e.name)).toEqual(layers);
    const svg = readFileSync(chart, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toMatch(/measured/);
  });

  it('refuses, with exit code 1, a model that does not fit the budget', async () => {
    const r = await cli('alexnet', '--weights', weights, '--devices', '1', '--batch', '2', '--budget-gb', '0.0001');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused: AlexNet at batch 2 \(99x99\) does not fit 1 device of 104\.9 KiB: device 0 needs .*; each has 104\.9 KiB/);
  });

  it('fails in one line with exit code 2 on bad arguments', async () => {
    for (const [argv, message] of [
      [['--batch', '0'], /--batch: expected a positive integer, got '0'/],
      [['--budget-gb', 'lots'], /--budget-gb: expected a positive number/],
      [['--link-gbps', '0'], /--link-gbps: expected a positive number/],
      [['--link-latency-us=-1'], /--link-latency-us: expected a non-negative number, got '-1'/],
      [['--trace', join(tmp, 'missing-dir', 't.json')], /--trace: directory .* does not exist/],
      [['--warmup', 'x'], /--warmup: expected a non-negative integer, got 'x'/],
      [['--frobnicate'], /Unknown option '--frobnicate'/],
      [['--weights', weights, '--devices', '3'], /--devices: conv2: a device's \d+ outputs would straddle its 2 groups unevenly/],
    ] as [string[], RegExp][]) {
      const r = await cli('alexnet', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
