// AlexNet on device worker threads: the same logits on 1, 2 and 4 devices (bit
// for bit), PyTorch's logits within tolerance, the traffic actually moved, the
// memory budget, and clean shutdown. Uses the reduced-width PyTorch fixture.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, DeviceMemoryError, ExecutionError, loadSafetensors, models, resolveShapes, sharedArena, SplitAlexNet, type Conv2d, type Tensor } from '../src/index.js';
import { DeviceState } from '../src/devices/device-state.js';
import { devicePieces, layerShapes, splitLayers } from '../src/devices/from-plan.js';
import { graphOfModule } from '../src/split/from-modules.js';
import { planSplit } from '../src/split/plan-split.js';
import { convKernelKind } from '../src/kernels/plan/index.js';
import { PARAM_BLOCK_BYTES } from '../src/kernels/wasm/param-block.js';
import { bits } from './support/tensors.js';
import { expectClose } from './support/tolerance.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const weights = loadSafetensors(join(DIR, 'tiny-weights.safetensors'));
const io = loadSafetensors(join(DIR, 'tiny-io.safetensors'));
const model = models.AlexNet.fromStateDict(weights);

const open: SplitAlexNet[] = [];
async function split(options: Parameters<typeof SplitAlexNet.create>[1]): Promise<SplitAlexNet> {
  const s = await SplitAlexNet.create(model, options);
  open.push(s);
  return s;
}
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
});

const graph = graphOfModule(model);
const layers = splitLayers(graph);
const shapes = layerShapes(graph, io.input.shape);
/** The kernel this thread gives each whole layer (null where there is no convolution). */
const wholeKernels = layers.map((l, i) => {
  if (l.op.kind !== 'conv') return null;
  const conv = model.features.layers[Number(l.name.split('.')[1])] as Conv2d; // the undivided layer, features.i
  return convKernelKind(resolveShapes(shapes[i].input, conv.weight.shape, conv.bias?.shape ?? null, conv.options).geometry);
});
const ALIGN = 64; // the arena rounds every block up to this
const roundUp = (bytes: number) => Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
/**
 * Bytes of a device's kernel plan blocks: each convolution's parameter block,
 * then for a direct (not Winograd) one its tap table, one i32 per (input channel, ky, kx).
 */
const tapTableBytes = (pieces: SplitAlexNet['pieces'][number]) =>
  pieces
    .filter((p) => p.op.kind === 'conv')
    .reduce((sum, p) => sum + roundUp(PARAM_BLOCK_BYTES + (wholeKernels[p.layer] === 'winograd' ? 0 : p.weight!.shape.slice(1).reduce((a, b) => a * b, 4))), 0);
/** Bytes a piece's weights take on its device: Winograd keeps 16 transformed floats per 3x3 sub-kernel instead of kH x kW. */
function residentBytes(p: SplitAlexNet['pieces'][number][number]): number {
  if (wholeKernels[p.layer] !== 'winograd') return p.parameters * 4;
  const [cout, cinG, kh, kw] = p.weight!.shape;
  return p.parameters * 4 + cout * cinG * (16 * Math.ceil(kh / 3) * Math.ceil(kw / 3) - kh * kw) * 4;
}

describe('AlexNet split over devices', () => {
  const results = new Map<number, Tensor>();

  it.each([1, 2, 4])('on %i device(s) gives PyTorch logits', async (devices) => {
    const s = await split({ devices, batch: 2 });
    const y = await s.forward(io.input);
    expect(y.shape).toEqual([2, 10]);
    expectClose(y.data, io.output.data, { atol: 1e-4, rtol: 1e-4 }, `logits on ${devices} devices`);
    results.set(devices, y);
    const run = s.lastRun!;
    // Every device ran each convolution with the kernel the whole layer gets here.
    expect(run.layers.map((l) => l.kernel)).toEqual(wholeKernels);
    // Each device's own memory peaked at what the budget counts, give or take its
    // tap tables and the allocator's 64-byte rounding (weights: 2 blocks a layer;
    // a few activation and scratch blocks live at once).
    run.memory.forEach((m, d) => {
      const measured = run.memoryPeakBytes[d];
      expect(measured, `device ${d}`).toBeGreaterThanOrEqual(m.totalBytes);
      expect(measured - m.totalBytes, `device ${d}`).toBeLessThanOrEqual(tapTableBytes(s.pieces[d]) + ALIGN * (2 * layers.length + 4));
    });
    await s.close();
  });

  it('gives bitwise the same logits on 1, 2 and 4 devices, and as the model on this thread', () => {
    const host = model.forward(io.input);
    for (const devices of [1, 2, 4]) expect(bits(results.get(devices)!.data), `${devices} devices`).toEqual(bits(host.data));
  });

  it('moves exactly the bytes the partition says, and times every layer on every device', async () => {
    const s = await split({ devices: 2, batch: 2, linkGbps: 0.01 });
    await s.forward(io.input);
    const run = s.lastRun!;
    const costs = s.costs([2, 3, 99, 99]);
    expect(run.layers.map((l) => l.devices.map((d) => d.receivedBytes))).toEqual(costs.map((l) => l.map((d) => d.receivedBytes)));
    // lrn1 on the 16-channel, 23x23 conv1 output: 2 maps of the other device's, for 2 images.
    expect(run.layers[2].devices.map((d) => d.receivedBytes)).toEqual([2 * 23 * 23 * 2 * 4, 2 * 23 * 23 * 2 * 4]);
    expect(run.exchangedBytes).toEqual([0, 1].map((d) => costs.reduce((sum, l) => sum + l[d].receivedBytes, 0)));
    // The simulated link: bytes * 8 / 0.01 Gbit/s.
    expect(run.layers[2].devices[0].linkMs).toBeCloseTo(((2 * 23 * 23 * 2 * 4 * 8) / 1e7) * 1000, 9);
    expect(run.layers[0].devices[0].linkMs).toBe(0);
    expect(run.hostInBytes).toBe(2 * io.input.data.byteLength);
    expect(run.hostOutBytes).toBe(2 * 10 * 4);
    expect(run.kernels.length).toBeGreaterThan(0);
    for (const layer of run.layers) for (const d of layer.devices) expect(d.computeMs).toBeGreaterThanOrEqual(0);
    await s.close();
  });

  it("waits the link model's latency per transfer, and bytes over bandwidth, as the planner simulates", async () => {
    const s = await split({ devices: 2, batch: 2, linkGbps: 0.01, linkLatencyUs: 2000 });
    await s.forward(io.input);
    const run = s.lastRun!;
    // lrn1: one transfer of 2 maps of 23x23 for 2 images from the other device: 2 ms of latency plus its bytes at 0.01 Gbit/s.
    const bytes = 2 * 23 * 23 * 2 * 4;
    expect(run.layers[2].devices[0].linkMs).toBeCloseTo(2 + ((bytes * 8) / 1e7) * 1000, 9);
    expect(run.layers[2].wallMs).toBeGreaterThanOrEqual(2);
    // conv1 receives nothing, so waits nothing.
    expect(run.layers[0].devices[0].linkMs).toBe(0);
    await s.close();
    await expect(SplitAlexNet.create(model, { linkLatencyUs: -1 })).rejects.toThrow(/linkLatencyUs/);
  });

  it('refuses at load a model that does not fit one device but runs on two, quoting need and budget', async () => {
    const two = await split({ devices: 2, batch: 2, budgetBytes: Infinity });
    const one = await split({ devices: 1, batch: 2, budgetBytes: Infinity });
    const budget = Math.floor((one.memory[0].totalBytes + two.memory[0].totalBytes) / 2);
    await Promise.all([one.close(), two.close()]);
    let refusal: unknown;
    await SplitAlexNet.create(model, { devices: 1, batch: 2, budgetBytes: budget }).catch((e) => (refusal = e));
    expect(refusal).toBeInstanceOf(DeviceMemoryError);
    expect((refusal as DeviceMemoryError).neededBytes).toEqual([one.memory[0].totalBytes]);
    expect((refusal as Error).message).toMatch(/does not fit 1 device of .*: device 0 needs .* weights \+ .* activations \+ .* kernel scratch at conv1\); each has /);
    const fits = await split({ devices: 2, batch: 2, budgetBytes: budget });
    expectClose((await fits.forward(io.input)).data, io.output.data, { atol: 1e-4, rtol: 1e-4 });
    // A bigger batch than planned for is checked again at forward time.
    const big = { shape: [64, 3, 99, 99], data: new Float32Array(64 * 3 * 99 * 99) };
    await expect(fits.forward(big)).rejects.toThrow(DeviceMemoryError);
    await fits.close();
  });

  it('rejects bad input without breaking the devices, and refuses work once closed', async () => {
    const s = await split({ devices: 2, batch: 2 });
    await expect(s.forward({ shape: [1, 3, 64, 64], data: new Float32Array(3 * 64 * 64) })).rejects.toThrow(ArgumentError);
    await expect(s.forward({ shape: [1, 3, 131, 131], data: new Float32Array(3 * 131 * 131) })).rejects.toThrow(/expects 2x2/);
    expect(bits((await s.forward(io.input)).data)).toEqual(bits(results.get(2)!.data));
    await s.close();
    await s.close(); // twice is fine
    await expect(s.forward(io.input)).rejects.toThrow(ExecutionError);
  });

  it('a device holds only its pieces in its memory, frees each layer input once used, and everything on dispose', () => {
    // Driven on this thread, where its memory is this thread's arena.
    const plan = planSplit(graph, { devices: 2, batch: io.input.shape[0], inputShape: io.input.shape.slice(1) });
    const pieces = devicePieces(model, layers, plan);
    const [planned] = plan.memory;
    const arena = sharedArena();
    const before = arena.stats().liveBytes;
    const device = new DeviceState();
    const resident = device.load(pieces[0]);
    const weightBytes = pieces[0].reduce((sum, p) => sum + p.parameters * 4, 0);
    expect(planned.weightBytes).toBe(weightBytes);
    expect(planned.weightBytes + planned.transformedWeightBytes).toBe(pieces[0].reduce((sum, p) => sum + residentBytes(p), 0));
    expect(resident).toBeGreaterThanOrEqual(weightBytes + planned.transformedWeightBytes);
    expect(resident - weightBytes - planned.transformedWeightBytes).toBeLessThan(ALIGN * 2 * layers.length);
    expect(arena.stats().liveBytes - before).toBe(resident);
    expect(device.prepare('k', shapes)).toEqual(wholeKernels);
    expect(arena.stats().liveBytes - before).toBe(resident + tapTableBytes(pieces[0]));
    device.setInput({ shape: io.input.shape, data: io.input.data, start: 0 });
    expect(() => device.run(0, [], 'other shape')).toThrow(/no kernel plans/);
    device.run(0, [], 'k');
    device.run(1, [], 'k');
    // Between layers: weights, tap tables and the relu1 share (its conv1 input and output freed),
    // written into lrn1's input with room for the channels device 1 sends.
    const lrn1Needs = pieces[0][2].needs[1] - pieces[0][2].needs[0];
    expect(lrn1Needs).toBeGreaterThan(shapes[1].output[1] / 2);
    const share = 2 * lrn1Needs * shapes[1].output[2] * shapes[1].output[3] * 4;
    expect(arena.stats().liveBytes - before).toBe(resident + tapTableBytes(pieces[0]) + roundUp(share));
    device.clear();
    device.dispose();
    expect(arena.stats().liveBytes).toBe(before);
  });

  it('rejects bad options before starting any thread', async () => {
    await expect(SplitAlexNet.create(model, { devices: 0 })).rejects.toThrow(/devices: must be a positive integer/);
    await expect(SplitAlexNet.create(model, { devices: 3 })).rejects.toThrow(/straddle/);
    await expect(SplitAlexNet.create(model, { budgetBytes: -1 })).rejects.toThrow(/budgetBytes/);
    await expect(SplitAlexNet.create(model, { linkGbps: 0 })).rejects.toThrow(/linkGbps/);
  });
});
