// The host's calls to the devices per forward pass: one per device, with the
// image and its script (its runs of layers, what it waits for before each and
// sends after), however many exchanges the plan has; the pieces go from device
// to device. The calls are counted on the Device wrapper, as the host makes
// them; the device-to-device messages in each device's own timeline.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors, models, SplitAlexNet, type Tensor } from '../src/index.js';
import type { Device } from '../src/devices/device.js';
import { transfersInto } from '../src/devices/split-plan.js';
import type { PassScript } from '../src/devices/pass-script.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const model = models.AlexNet.fromStateDict(loadSafetensors(join(DIR, 'tiny-weights.safetensors')));
const io = loadSafetensors(join(DIR, 'tiny-io.safetensors'));
const bits = (t: Tensor) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));

interface Call {
  method: string;
  args: unknown[];
}

/** Records every DeviceState method the host calls on each device, with its arguments. */
function recordCalls(split: SplitAlexNet): Call[][] {
  const devices = (split as unknown as { devices: Device[] }).devices;
  return devices.map((device) => {
    const calls: Call[] = [];
    const call = device.call.bind(device);
    device.call = ((work) =>
      call((api) =>
        work(
          new Proxy(api, {
            get: (target, prop) => {
              const method = Reflect.get(target, prop) as (...args: unknown[]) => unknown;
              return (...args: unknown[]) => {
                calls.push({ method: String(prop), args });
                return method(...args);
              };
            },
          }),
        ),
      )) as Device['call'];
    return calls;
  });
}

const open: SplitAlexNet[] = [];
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
});

describe('host round trips per pass', () => {
  it.each([1, 2, 4])('on %i device(s): one call per device, the pieces going from device to device as the plan says', async (devices) => {
    const split = await SplitAlexNet.create(model, { devices, batch: 2 });
    open.push(split);
    const expected = model.forward(io.input);
    await split.forward(io.input); // plans made; the counted pass is a steady one
    const calls = recordCalls(split);
    expect(bits(await split.forward(io.input))).toEqual(bits(expected));

    const layerCount = split.layers.length;
    // Layers where some device must receive another's pieces: the exchanges of the plan.
    const exchanges = Array.from({ length: layerCount }, (_, l) => l).filter((l) => l > 0 && transfersInto(split.pieces, l).some((list) => list.length > 0));
    const starts = [0, ...exchanges];
    const runs = starts.map((from, i) => [from, (starts[i + 1] ?? layerCount) - 1]);
    if (devices === 1) expect(runs).toEqual([[0, layerCount - 1]]);
    if (devices === 2) expect(exchanges.map((l) => split.layers[l].label)).toEqual(['lrn1', 'lrn2', 'conv3', 'fc6', 'fc7', 'fc8']);

    const events = split.lastRun!.timeline.devices;
    for (let d = 0; d < devices; d++) {
      // The host calls each device once a pass: the image in, the logits out.
      expect(calls[d].map((c) => c.method)).toEqual(['runPass']);
      const { script } = calls[d][0].args[0] as { script: PassScript };
      // Every layer runs once, in runs that start exactly at the exchanges.
      expect(script.runs.map((r) => [r.from, r.to])).toEqual(runs);
      // What the device waits for before each run, and sends after it, is the plan's transfers.
      expect(script.runs.map((r) => r.receive)).toEqual(runs.map(([from]) => transfersInto(split.pieces, from)[d]));
      const sent = (layer: number) =>
        transfersInto(split.pieces, layer)
          .flatMap((list, to) => list.filter((t) => t.from === d).map((t) => ({ to, range: t.range })));
      expect(script.runs.map((r) => r.send)).toEqual(runs.map((_, k) => (k + 1 < runs.length ? sent(runs[k + 1][0]) : [])));
      // And those are the messages that went between the devices: one per transfer, straight to the receiver.
      const posted = events[d].filter((e) => e.kind === 'send').map((e) => [e.layer, e.peer]);
      expect(posted).toEqual(exchanges.flatMap((layer) => sent(layer).map((t) => [layer, t.to])));
      const taken = events[d].filter((e) => e.kind === 'receive').map((e) => [e.layer, e.peer]);
      expect(taken).toEqual(exchanges.flatMap((layer) => transfersInto(split.pieces, layer)[d].map((t) => [layer, t.from])));
    }
  });

  it('moves pieces larger than the mailboxes (a batch beyond the one given at load) in buffers of their own: the same bits', async () => {
    const split = await SplitAlexNet.create(model, { devices: 2, batch: 1 });
    open.push(split);
    const expected = model.forward(io.input);
    expect(io.input.shape[0]).toBe(2);
    for (let pass = 0; pass < 2; pass++) expect(bits(await split.forward(io.input))).toEqual(bits(expected));
  });
});
