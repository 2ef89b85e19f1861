// Zoo models' channels plans on devices (src/devices/model-devices.ts with
// channel-device-state.ts): each device computes its planned output runs of
// every layer from what it holds plus what the plan has it receive; the output
// is forward's bits on this thread at every device count, and the bytes each
// device received for each layer are the plan's. A device that dies names
// itself and the layer; new devices then run. (ONNX models' channels plans:
// devices-channels-onnx.test.ts.)
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError, ExecutionError, loadSafetensors, models } from '../src/index.js';
import type { ModelDevice } from '../src/devices/model-device.js';
import { computeRuns } from '../src/devices/channel-node.js';
import { blocksOf, gather, heldOf } from '../src/devices/channel-runs.js';
import { ModelDevices } from '../src/devices/model-devices.js';
import { moduleProgram, nodeModule } from '../src/devices/model-program.js';
import { graphOfModule } from '../src/split/from-modules.js';
import type { Range } from '../src/split/ranges.js';
import { moduleSource } from '../src/devices/model-source.js';
import { randomInput } from '../src/devices/run-model.js';
import { SPLIT_MODELS } from '../src/split/zoo.js';
import { expectSameBits } from './support/tensors.js';

const CASES: { name: string; image: [number, number, number]; devices: number[] }[] = [
  // (Each device is a thread that starts and builds the model: 4 devices for two models only, to keep the file short.)
  { name: 'mini-group-net', image: [3, 32, 32], devices: [2, 3] },
  { name: 'resnext-block', image: [256, 8, 8], devices: [2, 3, 4] },
  // 240 channels in 3 groups cannot be cut in 4 without straddling groups: the planner refuses 4 (below).
  { name: 'shuffle-block', image: [240, 8, 8], devices: [2, 3] },
  { name: 'depthwise-separable-conv', image: [32, 16, 16], devices: [3, 4] },
];

describe('a node computed for some runs of its output channels, on this thread', () => {
  it("two runs of every layer of mini-group-net and shuffle-block, from inputs held as two blocks, are the whole layer's channels", () => {
    for (const name of ['mini-group-net', 'shuffle-block'] as const) {
      const model = SPLIT_MODELS[name].build(5);
      const graph = graphOfModule(model);
      const image = name === 'mini-group-net' ? [3, 16, 16] : [240, 4, 4];
      const x = randomInput([2, ...image], 1);
      const all = moduleProgram(model).run(0, graph.nodes.length, new Map([[graph.input, x]]), [graph.input, ...graph.nodes.map((n) => n.output)]);
      for (const node of graph.nodes) {
        const out = all.get(node.output)!;
        const C = out.shape[1];
        // Whole groups for a grouped convolution (two of them in the first run), whole maps for a flatten.
        const op = node.op;
        const unit = op.kind === 'conv' && op.groups > 1 ? op.outChannels / op.groups : op.kind === 'flatten' ? C / all.get(node.inputs[0])!.shape[1] : 1;
        const runs: Range[] = C >= 3 * unit ? [[0, 2 * unit], [C - unit, C]] : [[0, C]];
        const inputs = node.inputs.map((v) => {
          const t = all.get(v)!;
          const cut = Math.floor(t.shape[1] / 2);
          return cut > 0 ? blocksOf(t, [[0, cut], [cut, t.shape[1]]]) : heldOf(t, [0, t.shape[1]]);
        });
        const got = computeRuns(node, nodeModule(model, node), inputs, all.get(node.inputs[0])!.shape[1], runs);
        expect(got.blocks.map((b) => b.run)).toEqual(runs);
        expectSameBits(gather(got, runs, node.label), gather(heldOf(out, [0, C]), runs, node.label));
      }
    }
  });
});

describe('channels plans of zoo models on devices', () => {
  for (const { name, image, devices: counts } of CASES) {
    it(`${name}: forward's bits on ${counts.join(', ')} devices, each device receiving per layer exactly the plan's bytes`, async () => {
      const model = SPLIT_MODELS[name].build(11);
      const source = moduleSource(model);
      const x = randomInput([2, ...image], 6);
      const expected = model.forward(x);
      for (const count of counts) {
        const devices = await ModelDevices.create(source, { devices: count, strategy: 'channels', batch: 2, inputShape: image });
        try {
          const { output, run } = await devices.forward(x);
          expectSameBits(output, expected);
          expect(run.strategy).toBe('channels');
          const plan = devices.plan;
          // The plan makes traffic at every count here, so equal bytes are a real check.
          expect(plan.layers.some((l) => l.devices.some((d) => d.receivedBytes > 0))).toBe(true);
          run.layers.forEach((layer, i) => {
            expect(layer.label).toBe(plan.layers[i].label);
            expect(layer.devices.map((d) => d.receivedBytes)).toEqual(plan.layers[i].devices.map((d) => d.receivedBytes));
          });
          expect(run.exchangedBytes).toEqual(plan.memory.map((_, d) => plan.layers.reduce((s, l) => s + l.devices[d].receivedBytes, 0)));
          // A second pass starts afresh and gives the same bits.
          if (count === counts[0]) expectSameBits((await devices.forward(x)).output, expected);
        } finally {
          await devices.close();
        }
      }
    });
  }

  it('AlexNet (LRN windows across devices): the tiny fixture\'s forward bits on 2 devices', async () => {
    const dir = join(import.meta.dirname, 'fixtures', 'alexnet');
    const alexnet = models.AlexNet.fromStateDict(loadSafetensors(join(dir, 'tiny-weights.safetensors')));
    const { input } = loadSafetensors(join(dir, 'tiny-io.safetensors'));
    const devices = await ModelDevices.create(moduleSource(alexnet), { devices: 2, strategy: 'channels', batch: input.shape[0] });
    try {
      const { output, run } = await devices.forward(input);
      expectSameBits(output, alexnet.forward(input));
      const lrn = devices.plan.layers.findIndex((l) => l.op === 'lrn');
      expect(devices.plan.layers[lrn].collective).toBe('halo');
      expect(run.layers[lrn].devices.map((d) => d.receivedBytes)).toEqual(devices.plan.layers[lrn].devices.map((d) => d.receivedBytes));
    } finally {
      await devices.close();
    }
  });

  it('refuses, before any thread starts, a zoo plan that straddles groups', async () => {
    const shuffle = moduleSource(SPLIT_MODELS['shuffle-block'].build(1));
    const refused = await ModelDevices.create(shuffle, { devices: 4, strategy: 'channels', inputShape: [240, 8, 8] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ArgumentError);
    expect((refused as Error).message).toBe("devices: gconv1: a device's 15 outputs would straddle its 3 groups unevenly");
  });
});

describe('failures', () => {
  it('a device stopped mid-pass fails the pass naming the device and a layer; the next pass at once; new devices then run', async () => {
    const model = SPLIT_MODELS['resnext-block'].build(4);
    const source = moduleSource(model);
    const x = randomInput([2, 256, 28, 28], 8);
    const options = { devices: 2, strategy: 'channels', batch: 2, inputShape: [256, 28, 28] } as const;
    const devices = await ModelDevices.create(source, options);
    const layers = devices.plan.layers.map((l) => l.label);
    const inside = devices as unknown as { devices: ModelDevice[]; channelStatus: Int32Array[] };
    const second = inside.devices[1];
    const pending = devices.forward(x);
    // Stop device 1 once it is inside the layers (it has begun its third, as its status word says), so a layer is named.
    // Not device 0's progress: within a segment of nodes the devices do not wait for each other, so device 1 may lag.
    while (Atomics.load(inside.channelStatus[1], 0) < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    void (second as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionError);
    const match = /^the forward pass failed on device 1 at (\S+) \(layer (\d+) of (\d+)\): device 1 stopped unexpectedly \(exit code 1\)$/.exec((error as Error).message);
    expect(match).not.toBeNull();
    expect(layers[Number(match![2]) - 1]).toBe(match![1]);
    expect(Number(match![2])).toBeGreaterThanOrEqual(3);
    expect(Number(match![3])).toBe(layers.length);
    await expect(devices.forward(x)).rejects.toThrow('the forward pass failed on device 1 at its channels of every layer: device 1 stopped unexpectedly (exit code 1)');
    await devices.close();

    const again = await ModelDevices.create(source, options);
    try {
      expectSameBits((await again.forward(x)).output, model.forward(x));
    } finally {
      await again.close();
    }
  });
});
