// AlexNet's devices over many passes: a device reuses its memory from pass to
// pass without zeroing it (every buffer is written in full before it is read,
// ReLU writes over its input) and the host reuses the shared buffer the image
// goes out in, so a value left from an earlier pass, or an image overwritten
// too early, would show here as logits that differ from the model's on this
// thread. Several different batches in turn, at 1, 2 and 4 devices, each
// bitwise equal to the host's forward.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, DeviceMemoryError, loadSafetensors, models, Random, SplitAlexNet, zeros, type Tensor } from '../src/index.js';
import { bits, randomTensor } from './support/tensors.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const model = models.AlexNet.fromStateDict(loadSafetensors(join(DIR, 'tiny-weights.safetensors')));
const io = loadSafetensors(join(DIR, 'tiny-io.safetensors'));
const [, , side] = io.input.shape;

const open: SplitAlexNet[] = [];
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
});

/** Batches of images in turn: different values, and a batch size the devices were not loaded for. */
function batches(): Tensor[] {
  const random = new Random(15);
  return [io.input, randomTensor(random, [2, 3, side, side]), randomTensor(random, [3, 3, side, side], { scale: 4 }), io.input, randomTensor(random, [2, 3, side, side])];
}

describe('AlexNet split, pass after pass', () => {
  it.each([1, 2, 4])('on %i device(s) gives the logits of the model on this thread for every batch in turn', async (devices) => {
    const s = await SplitAlexNet.create(model, { devices, batch: 2 });
    open.push(s);
    for (const [i, x] of batches().entries()) {
      const y = await s.forward(x);
      expect(bits(y.data), `batch ${i} on ${devices} devices`).toEqual(bits(model.forward(x).data));
    }
    await s.close();
  });

  it("leaves a caller's shared image as it was and reads each new one", async () => {
    const s = await SplitAlexNet.create(model, { devices: 2, batch: 2 });
    open.push(s);
    const shared = zeros(io.input.shape, { shared: true });
    shared.data.set(io.input.data);
    const before = shared.data.slice();
    const fromShared = await s.forward(shared);
    expect(bits(shared.data)).toEqual(bits(before));
    // A plain array of the same size next goes out through the host's staging buffer, not the caller's.
    const other = randomTensor(new Random(7), io.input.shape);
    expect(bits((await s.forward(other)).data)).toEqual(bits(model.forward(other).data));
    expect(bits(shared.data)).toEqual(bits(before));
    expect(bits(fromShared.data)).toEqual(bits(model.forward(io.input).data));
    await s.close();
  });

  it('checks every input, though it plans each input shape once', async () => {
    const s = await SplitAlexNet.create(model, { devices: 2, batch: 2 });
    open.push(s);
    const want = bits(model.forward(io.input).data);
    expect(bits((await s.forward(io.input)).data)).toEqual(want);
    // A shape already planned, with too few values for it.
    await expect(s.forward({ shape: io.input.shape, data: new Float32Array(10) })).rejects.toThrow(ArgumentError);
    // A batch over the budget is refused on every call, not only the first.
    const tight = await SplitAlexNet.create(model, { devices: 2, batch: 2, budgetBytes: s.memory[0].totalBytes });
    open.push(tight);
    const big = { shape: [16, 3, side, side], data: new Float32Array(16 * 3 * side * side) };
    for (let i = 0; i < 2; i++) await expect(tight.forward(big), `call ${i + 1}`).rejects.toThrow(DeviceMemoryError);
    expect(bits((await tight.forward(io.input)).data)).toEqual(want);
    expect(bits((await s.forward(io.input)).data)).toEqual(want);
    await Promise.all([s.close(), tight.close()]);
  });
});
