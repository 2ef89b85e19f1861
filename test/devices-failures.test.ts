// A device that dies or throws in the middle of a forward pass fails that pass
// with an error naming the device and the layer; its peers, which may be
// waiting for a piece from it, are stopped rather than left waiting; the split
// then closes, nothing hangs, and a new split of the same model (or the same
// split, when the device only threw) runs and gives the right logits.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecutionError, loadSafetensors, models, SplitAlexNet, type Tensor } from '../src/index.js';
import type { Device } from '../src/devices/device.js';
import type { PassRequest } from '../src/devices/device-state.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const model = models.AlexNet.fromStateDict(loadSafetensors(join(DIR, 'tiny-weights.safetensors')));
const io = loadSafetensors(join(DIR, 'tiny-io.safetensors'));
const bits = (t: Tensor) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));

interface Inside {
  devices: Device[];
  status: Int32Array[];
}
const inside = (split: SplitAlexNet) => split as unknown as Inside;
const layerIndex = (split: SplitAlexNet, label: string) => split.layers.findIndex((l) => l.label === label);

// Node has Atomics.waitAsync; the project's TypeScript lib (ES2022) does not declare it yet.
const { waitAsync } = Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number): { value: Promise<string> | string } };

/** Kills device `index`'s worker once its status word shows it at `layer` (there it waits out the link latency for its pieces). */
async function killAtLayer(split: SplitAlexNet, index: number, layer: number): Promise<void> {
  const status = inside(split).status[index];
  for (;;) {
    const at = Atomics.load(status, 0);
    if (at === layer) break;
    await waitAsync(status, 0, at).value;
  }
  await (inside(split).devices[index] as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
}

/** Has device `index` run its passes with `edit` applied to the script the host sends it. */
function editScript(split: SplitAlexNet, index: number, edit: (request: PassRequest) => PassRequest): void {
  const device = inside(split).devices[index];
  const call = device.call.bind(device);
  device.call = ((work) =>
    call((api) =>
      work(
        new Proxy(api, {
          get: (target, prop) => (prop !== 'runPass' ? Reflect.get(target, prop) : (request: PassRequest) => target.runPass(edit(request))),
        }),
      ),
    )) as Device['call'];
}

describe('a device failing mid-pass', () => {
  it('dies: rejects the pass naming the device and the layer, its peer stops waiting, closes cleanly, and a new split works', async () => {
    const expected = model.forward(io.input);
    // 100 ms of latency per transfer: a device sits at each exchange long enough to be killed there.
    const split = await SplitAlexNet.create(model, { devices: 2, batch: 2, linkLatencyUs: 100_000 });
    await split.forward(io.input); // a clean pass first: the failure comes from the device, not from set-up
    const conv3 = layerIndex(split, 'conv3');
    const pass = split.forward(io.input).catch((e: unknown) => e);
    await killAtLayer(split, 1, conv3); // features.8, conv3, the layer that reads both halves
    const error = await pass;
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toMatch(/^the forward pass failed on device 1 at conv3 \(features\.8\): device 1 stopped unexpectedly/);
    // Device 0 was stopped at one of its waits: conv3's link delay, or fc6, where it needs a piece device 1 never sent.
    expect([conv3, layerIndex(split, 'fc6')]).toContain(Atomics.load(inside(split).status[0], 0));
    await split.close();

    const again = await SplitAlexNet.create(model, { devices: 2, batch: 2 });
    try {
      expect(bits(await again.forward(io.input))).toEqual(bits(expected));
    } finally {
      await again.close();
    }
  });

  it('throws while its peer waits for a piece from it: the peer is stopped, and the next pass is right', async () => {
    const expected = model.forward(io.input);
    const split = await SplitAlexNet.create(model, { devices: 2, batch: 2 });
    try {
      await split.forward(io.input);
      const conv3 = layerIndex(split, 'conv3');
      // Device 1 is told to expect no pieces at conv3, so it assembles conv3's input from half of it and throws.
      let broken = true;
      editScript(split, 1, (request) =>
        broken ? { ...request, script: { ...request.script, runs: request.script.runs.map((r) => (r.from === conv3 ? { ...r, receive: [] } : r)) } } : request,
      );
      const error = await split.forward(io.input).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExecutionError);
      // pool2 wrote device 1's own channels into conv3's input; the rest would have come from device 0.
      expect((error as Error).message).toMatch(/^the forward pass failed on device 1 at conv3 \(features\.8\): placePieces: channel \d+ of \[0, \d+\) is neither held nor received/);
      // Device 0 ran on to fc6, where it needs device 1's piece, and was stopped there, not left waiting.
      expect(Atomics.load(inside(split).status[0], 0)).toBe(layerIndex(split, 'fc6'));
      // The pieces left over from the failed pass are not taken for the next one.
      broken = false;
      expect(bits(await split.forward(io.input))).toEqual(bits(expected));
    } finally {
      await split.close();
    }
  });
});
