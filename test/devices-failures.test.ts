// A device that dies in the middle of a forward pass fails that pass with an
// error naming the device and the layer; the split then closes, nothing hangs,
// and a new split of the same model runs and gives the right logits.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecutionError, loadSafetensors, models, SplitAlexNet, type Tensor } from '../src/index.js';
import type { Device } from '../src/devices/device.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const model = models.AlexNet.fromStateDict(loadSafetensors(join(DIR, 'tiny-weights.safetensors')));
const io = loadSafetensors(join(DIR, 'tiny-io.safetensors'));
const bits = (t: Tensor) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));

/** Kills device `index`'s worker when the pass asks it to run layer `layer` (in the run of layers that starts there or covers it). */
function killAtLayer(split: SplitAlexNet, index: number, layer: number): void {
  const device = (split as unknown as { devices: Device[] }).devices[index];
  const call = device.call.bind(device);
  const kill = () => void (device as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  device.call = ((work) =>
    call((api) =>
      work(
        new Proxy(api, {
          get: (target, prop) =>
            prop !== 'runLayers'
              ? Reflect.get(target, prop)
              : (from: number, to: number, ...rest: [never, string]) => {
                  if (from <= layer && layer <= to) kill();
                  return target.runLayers(from, to, ...rest);
                },
        }),
      ),
    )) as Device['call'];
}

describe('a device failing mid-pass', () => {
  it('rejects the pass naming the device and the layer, closes cleanly, and a new split works', async () => {
    const expected = model.forward(io.input);
    const split = await SplitAlexNet.create(model, { devices: 2, batch: 2 });
    await split.forward(io.input); // a clean pass first: the failure comes from the device, not from set-up
    killAtLayer(split, 1, 8); // features.8, conv3, the layer that reads both halves
    const error = await split.forward(io.input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toMatch(/^the forward pass failed on device 1 at conv3 \(features\.8\): device 1 stopped unexpectedly/);
    await split.close();

    const again = await SplitAlexNet.create(model, { devices: 2, batch: 2 });
    try {
      expect(bits(await again.forward(io.input))).toEqual(bits(expected));
    } finally {
      await again.close();
    }
  });
});
