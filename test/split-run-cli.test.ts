// `groupconv split` running any model's data or pipeline plan on the devices:
// an ONNX file by pipeline through main() with its JSON (AlexNet's field names
// where they mean the same), a zoo model by data as a child process (which
// must exit by itself: closing leaves no thread running), a zoo model's
// channels plan, and an ONNX file's channels plan (auto picking it too).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from './support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'groupconv-split-run-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const resnext = join(import.meta.dirname, 'fixtures', 'onnx', 'resnext.onnx');

describe('groupconv split runs any model', () => {
  it('an ONNX file by pipeline: per layer and device, the bubble, the speedup, the same bits as 1 device', async () => {
    const json = join(tmp, 'resnext.json');
    const r = await runCli('split', '--model', resnext, '--devices', '2', '--strategy', 'pipeline', '--batch', '4', '--micro-batches', '2', '--repeat', '1', '--warmup', '0', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^torch_jit run on 2 devices \(pipeline, 2 micro-batches\): batch 4, input 3x32x32$/m);
    expect(r.stdout).toMatch(/^stage 1 on device 1: .* received \d+(\.\d)? KiB from device 0$/m);
    expect(r.stdout).toMatch(/^device time idle \(bubble\): planned \d+\.\d%, measured \d+\.\d%$/m);
    expect(r.stdout).toMatch(/^output: bitwise identical on 1 and 2 devices$/m);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.strategy).toBe('pipeline');
    expect(out.simulatedMs).toBe(out.plan.simulated.ms);
    expect(out.bubble.planned).toBe(out.plan.pipeline.bubble);
    expect(out.outputBitwiseEqual).toBe(true);
    expect(out.speedup).toBeCloseTo(out.baseline.wallMs / out.wallMs, 10);
    expect(out.run.microBatches).toBe(2);
    // What device 1 received is the one activation live at the cut, for all 4 images; device 0 got images from the host only.
    const received = (d: number) => out.run.layers.reduce((s: number, l: { devices: { receivedBytes: number }[] }) => s + l.devices[d].receivedBytes, 0);
    expect(received(0)).toBe(0);
    expect(received(1)).toBe(out.run.exchangedBytes[1]);
    expect(out.run.hostInBytes).toBe(4 * 3 * 32 * 32 * 4);
    for (const l of out.run.layers) for (const d of l.devices) expect(Object.keys(d).sort()).toEqual(['computeMs', 'receivedBytes']);
    expect(out.memory.map((m: { device: number }) => m.device)).toEqual([0, 1]);
  });

  it("traces an ONNX file's pipeline run: each device computes its stage's units once per micro-batch, inside the host's pass", async () => {
    const json = join(tmp, 'resnext-trace-run.json');
    const trace = join(tmp, 'resnext-trace.json');
    const chart = join(tmp, 'resnext-chart.svg');
    const r = await runCli('split', '--model', resnext, '--devices', '2', '--strategy', 'pipeline', '--batch', '4', '--micro-batches', '2', '--repeat', '1', '--warmup', '0', '--json', json, '--trace', trace, '--chart', chart);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    type Event = { name: string; ph: string; pid: number; tid: number; ts?: number; dur?: number; cat?: string; args?: { name?: string; layer?: string } };
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as Event[];
    expect(events.filter((e) => e.name === 'thread_name').map((e) => `${e.pid}:${e.tid}:${e.args!.name}`)).toEqual(['1:0:device 0', '1:1:device 1', '2:0:device 0', '2:1:device 1', '2:2:host']);
    const host = events.find((e) => e.pid === 2 && e.tid === 2 && e.ph === 'X')!;
    const labels = out.run.layers.map((l: { label: string }) => l.label);
    for (const stage of out.run.stages as { device: number; units: [number, number] }[]) {
      const slices = events.filter((e) => e.pid === 2 && e.tid === stage.device && e.cat === 'compute');
      const units = labels.slice(stage.units[0], stage.units[1]);
      expect(slices.map((e) => e.name)).toEqual([...units, ...units]);
      for (const e of slices) {
        expect(e.ts!).toBeGreaterThanOrEqual(0);
        expect(e.ts! + e.dur!).toBeLessThanOrEqual(host.dur!);
      }
      // Each unit's slices add up to the unit's time the run reports for that device.
      for (const [i, label] of units.entries()) {
        const ms = slices.filter((e) => e.name === label).reduce((sum, e) => sum + e.dur! / 1000, 0);
        expect(ms).toBeCloseTo(out.run.layers[stage.units[0] + i].devices[stage.device].computeMs, 6);
      }
    }
    expect(readFileSync(chart, 'utf8')).toMatch(/^<svg[\s\S]*measured/);
  });

  it('a zoo model by data, as a process that exits by itself', () => {
    const r = spawnCli('split', '--model', 'resnext-block', '--input', '256x8x8', '--devices', '3', '--strategy', 'data', '--batch', '3', '--repeat', '1', '--warmup', '0');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ResNeXtBlock run on 3 devices \(data, the images shared out\): batch 3, input 256x8x8$/m);
    expect(r.stdout).toMatch(/^output: bitwise identical on 1 and 3 devices$/m);
  });

  it("a zoo model's channels plan runs: per layer and device the bytes received, the same bits as 1 device", async () => {
    const json = join(tmp, 'shuffle.json');
    const r = await runCli('split', '--model', 'shuffle-block', '--input', '240x8x8', '--devices', '2', '--strategy', 'channels', '--batch', '2', '--repeat', '1', '--warmup', '0', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ShuffleBlock run on 2 devices \(channels, each device its channels of every layer\): batch 2, input 240x8x8$/m);
    expect(r.stdout).toMatch(/^output: bitwise identical on 1 and 2 devices$/m);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.strategy).toBe('channels');
    // The shuffle's all-to-all is what crosses: measured per layer and device, it is the plan's.
    const shuffle = out.plan.layers.findIndex((l: { op: string }) => l.op === 'shuffle');
    expect(out.plan.layers[shuffle].collective).toBe('all-to-all');
    out.run.layers.forEach((l: { devices: { receivedBytes: number }[] }, i: number) =>
      expect(l.devices.map((d) => d.receivedBytes)).toEqual(out.plan.layers[i].devices.map((d: { receivedBytes: number }) => d.receivedBytes)),
    );
    expect(out.run.layers[shuffle].devices[0].receivedBytes).toBeGreaterThan(0);
  });

  it("an ONNX file's channels plan, as auto picks it for one image: it runs, with the same bits as 1 device and per layer and device the plan's bytes received", async () => {
    const json = join(tmp, 'resnext-channels.json');
    const link = ['--link-gbps', '1000', '--link-latency-us', '0.1'];
    const r = await runCli('split', '--model', resnext, '--devices', '2', '--strategy', 'auto', '--batch', '1', ...link, '--repeat', '1', '--warmup', '0', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/strategy channels: auto: channels,/);
    expect(r.stdout).toMatch(/^torch_jit run on 2 devices \(channels, each device its channels of every layer\): batch 1, input 3x32x32$/m);
    expect(r.stdout).toMatch(/^output: bitwise identical on 1 and 2 devices$/m);
    expect(r.stdout).not.toMatch(/plan only/);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.strategy).toBe('channels');
    expect(out.outputBitwiseEqual).toBe(true);
    // Per graph node, as planned: resnext's grouped convs receive nothing, its linear layer gathers the pooled features.
    expect(out.run.layers.map((l: { label: string }) => l.label)).toEqual(out.plan.layers.map((l: { label: string }) => l.label));
    out.run.layers.forEach((l: { devices: { receivedBytes: number }[] }, i: number) =>
      expect(l.devices.map((d) => d.receivedBytes)).toEqual(out.plan.layers[i].devices.map((d: { receivedBytes: number }) => d.receivedBytes)),
    );
    const gemm = out.plan.layers.findIndex((l: { op: string }) => l.op === 'linear');
    expect(out.run.layers[gemm].devices[0].receivedBytes).toBeGreaterThan(0);
  });
});
