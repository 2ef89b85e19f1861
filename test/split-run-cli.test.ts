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
