// `groupconv split`, driven through the CLI's main(): a zoo model's plan with
// exact bytes, the JSON, AlexNet's channels split run on the devices (the
// reduced-width PyTorch fixture) with today's `alexnet --json` fields, and
// one-line refusals of bad flags.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeDirectConvolutions } from '../src/kernels/plan/index.js';
import { runCli } from './support/cli.js';

const weights = join(import.meta.dirname, 'fixtures', 'alexnet', 'tiny-weights.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'groupconv-split-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cli = runCli;

describe('groupconv split', () => {
  it('plans a MobileNet block: the pointwise conv gathers the other half of the channels', async () => {
    const json = join(tmp, 'dsc.json');
    const r = await cli('split', '--model', 'depthwise-separable-conv', '--input', '32x4x4', '--batch', '2', '--devices', '2', '--plan-only', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    // The block is 32 -> 64: 16 channels of 4x4 for 2 images, 16 * 2 * 16 * 4 bytes = 2.0 KiB on each device.
    expect(r.stdout).toMatch(/^pw\s+\| conv\s+\| all-gather\s+\|\s+2\.0 KiB \|\s+2\.0 KiB$/m);
    expect(r.stdout).toMatch(/^dw\s+\| conv g=32\s+\| none/m);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.strategy).toBe('channels');
    expect(out.simulatedMs).toBeGreaterThan(0);
    expect(out.plan.layers.map((l: { label: string; collective: string }) => `${l.label}:${l.collective}`)).toEqual(['dw:none', 'pw:all-gather', 'bn:none', 'act:none']);
    expect(out.plan.layers[1].devices.map((d: { receivedBytes: number }) => d.receivedBytes)).toEqual([2048, 2048]);
  });

  it('plans an ONNX file: resnext\'s grouped convs receive nothing', async () => {
    const onnx = join(import.meta.dirname, 'fixtures', 'onnx', 'resnext.onnx');
    const r = await cli('split', '--model', onnx, '--devices', '2', '--batch', '1', '--strategy', 'channels', '--plan-only');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\/1\/conv2\/Conv\s+\| conv g=8\s+\| none\s+\|\s+0 B \|\s+0 B$/m);
    // Half of the 64 pooled features, 32 * 4 bytes, on each device.
    expect(r.stdout).toMatch(/^\/3\/3\.2\/Gemm\s+\| linear\s+\| all-gather\s+\|\s+128 B \|\s+128 B$/m);
    expect(r.stdout).not.toMatch(/forward pass:|run on 2 devices/);
    const dynamic = await cli('split', '--model', join(import.meta.dirname, 'fixtures', 'onnx', 'shufflenet_v2_dynhw.onnx'), '--plan-only');
    expect(dynamic.code).toBe(2);
    expect(dynamic.stderr).toMatch(/--input: .*declared \[batch, 3, height, width\]/);
    const sized = await cli('split', '--model', join(import.meta.dirname, 'fixtures', 'onnx', 'shufflenet_v2_dynhw.onnx'), '--input', '3x32x32', '--plan-only');
    expect(sized.code, sized.stderr).toBe(0);
    expect(sized.stdout).toMatch(/^\/2\/Reshape_1\s+\| shuffle\s+\| all-to-all/m);
  });

  it("runs AlexNet's channels split on the devices, and its JSON keeps alexnet --json's fields", async () => {
    const json = join(tmp, 'alexnet.json');
    const trace = join(tmp, 'alexnet-trace.json');
    const r = await cli('split', '--model', 'alexnet', '--weights', weights, '--devices', '2', '--batch', '2', '--repeat', '1', '--json', json, '--trace', trace);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.strategy).toBe('channels');
    expect(out.simulatedMs).toBeGreaterThan(0);
    expect(out.logitsBitwiseEqual).toBe(true);
    expect(out.baseline).not.toBeNull();
    expect(out.speedup).toBeGreaterThan(0);
    for (const layer of out.run.layers) {
      for (const d of layer.devices) for (const key of ['receivedBytes', 'computeMs', 'parameters', 'weightBytes']) expect(d).toHaveProperty(key);
    }
    const conv2 = out.run.layers[4];
    expect([conv2.label, conv2.op, conv2.groups, conv2.collective]).toEqual(['conv2', 'conv', 2, 'none']);
    // What the devices moved is what the plan said they would.
    expect(out.run.layers.map((l: { devices: { receivedBytes: number }[] }) => l.devices.map((d) => d.receivedBytes))).toEqual(
      out.plan.layers.map((l: { devices: { receivedBytes: number }[] }) => l.devices.map((d) => d.receivedBytes)),
    );
    expect(out.run.layers[2].collective).toBe('halo');
    // The trace: the simulated timeline (process 1) and the measured pass (process 2), a track per device, and the host's.
    type Event = { name: string; ph: string; pid: number; tid: number; ts?: number; dur?: number; cat?: string; args?: { bytes?: number; from?: number; to?: number; layer?: string; name?: string } };
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as Event[];
    const threads = events.filter((e) => e.name === 'thread_name').map((e) => `${e.pid}:${e.tid}:${e.args!.name}`);
    expect(threads).toEqual(['1:0:device 0', '1:1:device 1', '2:0:device 0', '2:1:device 1', '2:2:host']);
    const measured = events.filter((e) => e.pid === 2 && e.ph === 'X');
    for (const tid of [0, 1]) expect(measured.filter((e) => e.cat === 'compute' && e.tid === tid).map((e) => e.name)).toEqual(out.run.layers.map((l: { label: string }) => l.label));
    // The devices' own timestamps, on the host's clock: every slice lies inside the host's pass.
    const host = measured.find((e) => e.tid === 2)!;
    expect(host.ts).toBe(0);
    for (const e of measured) {
      expect(e.ts!, e.name).toBeGreaterThanOrEqual(0);
      expect(e.dur!, e.name).toBeGreaterThanOrEqual(0);
      expect(e.ts! + e.dur!, e.name).toBeLessThanOrEqual(host.dur!);
    }
    // Each receive matches one send of the same bytes, and never ends before that send started.
    const receives = measured.filter((e) => e.name.startsWith('receive '));
    const sends = measured.filter((e) => e.name.startsWith('send '));
    expect(receives.map((e) => e.args!.layer)).toEqual(['lrn1', 'lrn2', 'conv3', 'fc6', 'fc7', 'fc8', 'lrn1', 'lrn2', 'conv3', 'fc6', 'fc7', 'fc8']);
    expect(sends.length).toBe(receives.length);
    for (const receive of receives) {
      const send = sends.find((e) => e.tid === receive.args!.from && e.args!.to === receive.tid && e.args!.layer === receive.args!.layer)!;
      expect(send, receive.name).toBeDefined();
      expect(send.args!.bytes).toBe(receive.args!.bytes);
      expect(receive.ts! + receive.dur!, receive.name).toBeGreaterThanOrEqual(send.ts!);
    }
    // The bytes in the slices are the bytes each device received, layer by layer.
    for (const [tid, list] of [0, 1].map((d) => [d, receives.filter((e) => e.tid === d)] as const)) {
      for (const e of list) expect(e.args!.bytes).toBe(out.run.layers.find((l: { label: string }) => l.label === e.args!.layer).devices[tid].receivedBytes);
    }
    const lrn1 = events.find((e) => e.pid === 1 && e.tid === 0 && e.cat === 'transfer')!;
    expect(lrn1.args!.bytes).toBe(out.plan.layers[2].devices[0].receivedBytes);
  });

  it('traces a pipeline plan: each stage a track, the boundary transfer once per micro-batch', async () => {
    const trace = join(tmp, 'pipeline-trace.json');
    const chart = join(tmp, 'pipeline.svg');
    const r = await cli('split', '--model', 'resnext-block', '--input', '256x8x8', '--batch', '4', '--strategy', 'pipeline', '--plan-only', '--trace', trace, '--chart', chart);
    expect(r.code, r.stderr).toBe(0);
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as { name: string; ph: string; tid: number; cat?: string; ts?: number; args?: { bytes?: number } }[];
    const compute = events.filter((e) => e.cat === 'compute');
    expect(compute).toHaveLength(10 * 4); // the block's 10 layers, each for 4 micro-batches (one image each)
    const transfers = events.filter((e) => e.cat === 'transfer');
    expect(transfers.map((e) => e.tid)).toEqual([1, 1, 1, 1]);
    // conv.3's output, 128 channels of 8x8 (4 bytes each), for one image per micro-batch: 32 KiB each, 128 KiB in all.
    expect(transfers.map((e) => e.args!.bytes)).toEqual(Array(4).fill(128 * 8 * 8 * 4));
    // The chart draws the same slices: a bar each, a row per device.
    const svg = readFileSync(chart, 'utf8');
    expect(svg.match(/<rect /g)).toHaveLength(40 + 4);
    expect(svg.match(/<rect [^>]*fill="#e8893a"/g)).toHaveLength(4);
    expect(svg).toContain('>device 1</text>');
  });

  it("runs AlexNet's data split on the devices: the same logits as one device", async () => {
    const json = join(tmp, 'data.json');
    const r = await cli('split', '--model', 'alexnet', '--weights', weights, '--strategy', 'data', '--devices', '2', '--batch', '2', '--repeat', '1', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/logits bitwise identical on 1 and 2 devices/);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out).toMatchObject({ strategy: 'data', devices: 2, batch: 2, logitsBitwiseEqual: true, passes: { warmup: 1, timed: 1 } });
    expect(out.plan.layers.every((l: { collective: string }) => l.collective === 'none')).toBe(true);
  });

  it('refuses a plan over the budget with exit code 1', async () => {
    const r = await cli('split', '--model', 'alexnet', '--devices', '1', '--batch', '8', '--budget-gb', '0.2', '--plan-only');
    expect(r.code).toBe(1);
    // 258.0 MiB with Winograd's transformed weights, 250.3 where the native kernels run conv2-5 direct (split-plan.test.ts).
    expect(r.stdout).toMatch(nativeDirectConvolutions() ? /device 0: 250\.3 MiB .* does NOT fit 204\.8 MiB/ : /device 0: 258\.0 MiB .* does NOT fit 204\.8 MiB/);
    expect(r.stderr).toMatch(/refused/);
  });

  it('fails in one line with exit code 2 on bad flags', async () => {
    for (const [argv, message] of [
      [['--model', 'vgg'], /--model: unknown model 'vgg' \(one of: alexnet, resnext-block/],
      [['--strategy', 'rows'], /--strategy: expected one of channels, pipeline, data, auto, got 'rows'/],
      [['--devices', '0'], /--devices: expected a positive integer/],
      [['--devices', '3', '--model', 'alexnet', '--plan-only'], /--devices: conv2: a device's 85 outputs would straddle/],
      [['--input', '3x227'], /--input: expected one image's CxHxW/],
      [['--link-latency-us=-1'], /--link-latency-us: expected a non-negative number/],
      [['--link-gbps', 'fast'], /--link-gbps: expected a positive number/],
      [['--model', 'shuffle-block', '--weights', weights], /--weights: loads AlexNet weights only/],
      [['--frobnicate'], /arguments: Unknown option/],
    ] as [string[], RegExp][]) {
      const r = await cli('split', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
