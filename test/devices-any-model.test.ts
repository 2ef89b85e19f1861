// Zoo models' and AlexNet's data and pipeline plans on devices
// (src/devices/model-devices.ts): at every device count the output is the bits
// of forward on this thread (so of one device); a device that fails names
// itself and where, and new devices then run; nothing starts for a plan the
// devices refuse. The ONNX fixtures are in devices-onnx-model.test.ts.
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { DeviceMemoryError, ExecutionError, loadSafetensors, models } from '../src/index.js';
import type { ModelDevice } from '../src/devices/model-device.js';
import { ModelDeviceState, type PipelineMessage } from '../src/devices/model-device-state.js';
import { ModelDevices } from '../src/devices/model-devices.js';
import { liveAcross, onnxProgram } from '../src/devices/model-program.js';
import { moduleSource } from '../src/devices/model-source.js';
import { randomInput } from '../src/devices/run-model.js';
import { loadOnnx } from '../src/onnx/load.js';
import { SPLIT_MODELS } from '../src/split/zoo.js';
import { FIXTURES } from './support/onnx.js';
import { onDevices } from './support/model-devices.js';
import { expectSameBits } from './support/tensors.js';

describe('zoo models and AlexNet', () => {
  it("mini-group-net: data and pipeline on 1, 2 and 3 devices give forward's bits", async () => {
    const model = SPLIT_MODELS['mini-group-net'].build(7);
    const source = moduleSource(model);
    const x = randomInput([3, 3, 32, 32], 5);
    const expected = model.forward(x);
    // (Each device is a thread that starts and builds the model: the cases are few to keep the file short.)
    for (const [devices, strategy] of [[1, 'data'], [3, 'data'], [2, 'pipeline'], [3, 'pipeline']] as const) {
      const { output, run, stageRanges } = await onDevices(source, { devices, strategy }, x);
      expectSameBits(output, expected);
      expect(run.devices).toBe(devices);
      // Every unit ran on exactly the devices its plan gives it: all (data), or its stage's (pipeline).
      run.layers.forEach((l, u) => l.devices.forEach((d, k) => expect(d.computeMs > 0).toBe(stageRanges[k][0] <= u && u < stageRanges[k][1])));
    }
  });

  it('shuffle-block (a channel shuffle in a stage) and AlexNet by pipeline', async () => {
    const shuffle = SPLIT_MODELS['shuffle-block'].build(3);
    const xs = randomInput([2, 240, 8, 8], 9);
    expectSameBits((await onDevices(moduleSource(shuffle), { devices: 2, strategy: 'pipeline', inputShape: [240, 8, 8] }, xs)).output, shuffle.forward(xs));

    const dir = join(import.meta.dirname, 'fixtures', 'alexnet');
    const alexnet = models.AlexNet.fromStateDict(loadSafetensors(join(dir, 'tiny-weights.safetensors')));
    const io = loadSafetensors(join(dir, 'tiny-io.safetensors'));
    const expected = alexnet.forward(io.input);
    expectSameBits((await onDevices(moduleSource(alexnet), { devices: 2, strategy: 'pipeline' }, io.input)).output, expected);
  });
});

describe('failures', () => {
  it('a device stopped mid-pass rejects naming the device and its stage; new devices then run', async () => {
    const path = join(FIXTURES, 'mobilenet_v2.onnx');
    const x = randomInput([4, 3, 32, 32], 4);
    const devices = await ModelDevices.create({ kind: 'onnx', path }, { devices: 2, strategy: 'pipeline', batch: 4 });
    const { output: expected } = await devices.forward(x);
    const second = (devices as unknown as { devices: ModelDevice[] }).devices[1];
    const pending = devices.forward(x);
    void (second as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionError);
    const [from, to] = devices.stageRanges[1];
    const stage = `its pipeline stage, ${devices.units[from].label} to ${devices.units[to - 1].label}`;
    expect((error as Error).message).toBe(`the forward pass failed on device 1 at ${stage}: device 1 stopped unexpectedly (exit code 1)`);
    // The next pass fails at once, naming the same device, instead of waiting on it.
    await expect(devices.forward(x)).rejects.toThrow(/^the forward pass failed on device 1 at its pipeline stage/);
    await devices.close();

    const again = await ModelDevices.create({ kind: 'onnx', path }, { devices: 2, strategy: 'pipeline', batch: 4 });
    try {
      expectSameBits((await again.forward(x)).output, expected);
    } finally {
      await again.close();
    }
  });

  it('a data device stopped mid-pass rejects naming the device and its share', async () => {
    const model = SPLIT_MODELS['mini-group-net'].build(2);
    const devices = await ModelDevices.create(moduleSource(model), { devices: 2, strategy: 'data', batch: 2 });
    try {
      const x = randomInput([2, 3, 32, 32], 3);
      const pending = devices.forward(x);
      void ((devices as unknown as { devices: ModelDevice[] }).devices[0] as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      await expect(pending).rejects.toThrow('the forward pass failed on device 0 at its share of the images: device 0 stopped unexpectedly (exit code 1)');
    } finally {
      await devices.close();
    }
  });

  it("a unit that throws in a stage sends the failure on, naming device, stage and unit", async () => {
    const state = new ModelDeviceState();
    const path = join(FIXTURES, 'resnext.onnx');
    const info = state.load(1, { kind: 'onnx', path }, [3, 32, 32], 'wasm');
    const model = loadOnnx(path);
    const program = onnxProgram(model, [3, 32, 32]);
    const from = 3;
    const stage = { index: 1, from, to: program.units.length, receive: liveAcross(program, from), send: liveAcross(program, program.units.length) };
    const input = new MessageChannel();
    const output = new MessageChannel();
    state.connect(stage, input.port2, output.port1);
    const got = new Promise<PipelineMessage>((resolve) => output.port2.once('message', resolve));
    // Values of the right names but a wrong shape: the stage's first unit cannot run them.
    const values = Object.fromEntries(stage.receive.map((v) => [v, { shape: [1, 5, 2, 2], data: new Float32Array(20) }]));
    input.port1.postMessage({ pass: 1, micro: 0, values, timings: [] } satisfies PipelineMessage);
    const message = await got;
    expect('failure' in message && message.failure).toMatchObject({ device: 1, stage: 1, unit: info.units[from].label });
    expect('failure' in message && message.failure.message).toMatch(/\S/);
    for (const c of [input, output]) (c.port1.close(), c.port2.close());
    model.close();
  });

  it('refuses, before any thread starts, a plan over the budget', async () => {
    const source = moduleSource(SPLIT_MODELS['resnext-block'].build(1));
    const refused = await ModelDevices.create(source, { devices: 2, strategy: 'data', batch: 2, inputShape: [256, 8, 8], budgetBytes: 1000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DeviceMemoryError);
    expect((refused as DeviceMemoryError).message).toMatch(/^ResNeXtBlock at batch 2 does not fit 2 devices of 1000 bytes under the data plan: device 0 needs \d+ bytes/);
  });
});
