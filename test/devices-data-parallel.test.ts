// The planner's data plan run on devices: each device holds the whole model and
// computes its share of the images. PyTorch's logits, the same bits as one
// device, and the budget refusal before any thread starts. Uses the
// reduced-width PyTorch fixture (batch 2, 10 classes).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeviceMemoryError, loadSafetensors, models, SplitAlexNet } from '../src/index.js';
import { DataParallelAlexNet } from '../src/devices/data-parallel.js';
import { planSplit } from '../src/split/plan-split.js';
import { bits } from './support/tensors.js';
import { expectClose } from './support/tolerance.js';

const DIR = join(import.meta.dirname, 'fixtures', 'alexnet');
const model = models.AlexNet.fromStateDict(loadSafetensors(join(DIR, 'tiny-weights.safetensors')));
const io = loadSafetensors(join(DIR, 'tiny-io.safetensors'));

describe('data-parallel AlexNet on devices', () => {
  it("gives PyTorch's logits, bit for bit those of one device", async () => {
    const one = await SplitAlexNet.create(model, { devices: 1, batch: 2 });
    const data = await DataParallelAlexNet.create(model, { devices: 2, batch: 2 });
    try {
      const y1 = await one.forward(io.input);
      const y2 = await data.forward(io.input);
      expect(y2.shape).toEqual([2, 10]);
      expectClose(y2.data, io.output.data, { atol: 1e-4, rtol: 1e-4 }, 'data-parallel logits');
      expect(bits(y2.data)).toEqual(bits(y1.data));
      await expect(data.forward({ shape: [1, 3, io.input.shape[2], io.input.shape[3]], data: io.input.data.slice(0, io.input.data.length / 2) })).rejects.toThrow(
        /batch of 1 cannot feed 2/,
      );
    } finally {
      await Promise.all([one.close(), data.close()]);
    }
  });

  it('refuses before any thread starts when a replica of the model does not fit a device', async () => {
    const side = io.input.shape[2];
    const needed = planSplit(model, { devices: 2, strategy: 'data', batch: 2, inputShape: [3, side, side] }).memory[0].totalBytes;
    const error = await DataParallelAlexNet.create(model, { devices: 2, batch: 2, budgetBytes: needed - 1 }).catch((e) => e);
    expect(error).toBeInstanceOf(DeviceMemoryError);
    expect(error.message).toMatch(/each holds the whole model/);
  });
});
