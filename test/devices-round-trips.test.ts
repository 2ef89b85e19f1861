// The host's calls to the devices per forward pass: one run of layers per
// device wherever a layer needs pieces from another device (and at the
// start), not one call per layer; the pieces a device sends come back with
// its run, not through read calls. The calls are counted on the Device
// wrapper, as the host makes them.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors, models, SplitAlexNet, type Tensor } from '../src/index.js';
import type { Device } from '../src/devices/device.js';
import { transfersInto } from '../src/devices/split-plan.js';

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
  it.each([1, 2, 4])('on %i device(s): one run call per exchange, the pieces sent returned by the runs', async (devices) => {
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

    for (let d = 0; d < devices; d++) {
      const mine = calls[d];
      const count = (method: string) => mine.filter((c) => c.method === method).length;
      // Every layer runs once, in runs that start exactly at the exchanges.
      expect(mine.filter((c) => c.method === 'runLayers').map((c) => c.args.slice(0, 2))).toEqual(runs);
      // The pieces this device sends to others, then its logits to the host: asked of its runs, each run the ones the next needs.
      const sends = mine.filter((c) => c.method === 'runLayers').map((c) => (c.args[4] as unknown[]).length);
      const sent = runs.slice(1).map(([from]) => transfersInto(split.pieces, from).flat().filter((t) => t.from === d).length);
      expect(sends).toEqual([...sent, 1]);
      expect(count('read')).toBe(0);
      expect(count('setInput')).toBe(1);
      expect(count('run')).toBe(0);
      // prepare (kept plans), stats (memory peaks): one each; nothing else.
      expect(mine.length).toBe(runs.length + 3);
    }
    if (devices === 2) expect(calls.map((c) => c.length)).toEqual([10, 10]); // was 33 each with one call per layer and a read per piece
  });
});
