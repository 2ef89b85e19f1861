// ONNX fixtures' data and pipeline plans on devices (src/devices/model-devices.ts):
// each device loads the file itself; at every device count the output is the
// bits of OnnxModel.forward on this thread, image by image (a model of fixed
// batch 1 runs a larger batch one image at a time), and matches PyTorch's; a
// pipeline's boundary carries the bytes the plan says.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors } from '../src/index.js';
import { randomInput } from '../src/devices/run-model.js';
import { loadOnnx } from '../src/onnx/load.js';
import type { OnnxModel } from '../src/onnx/model.js';
import { receivedTotal } from '../src/split/plan-split.js';
import { CASES, expectClose, FIXTURES } from './support/onnx.js';
import { onDevices } from './support/model-devices.js';
import { expectSameBits } from './support/tensors.js';

describe('ONNX fixtures', () => {
  const loaded: OnnxModel[] = [];
  afterAll(() => loaded.forEach((m) => m.close()));

  const runs: Record<string, [number, 'data' | 'pipeline'][]> = {
    resnext: [[3, 'pipeline'], [2, 'data']],
    mobilenet_v2: [[2, 'pipeline']],
    shufflenet_v2: [[3, 'data']],
    googlenet_like: [[3, 'pipeline']],
  };
  for (const [id, cases] of Object.entries(runs)) {
    it(`${id}: ${cases.map(([d, s]) => `${s} on ${d} devices`).join(', ')}: forward's bits, and PyTorch's outputs`, async () => {
      const c = CASES.find((k) => k.id === id)!;
      const path = join(FIXTURES, c.file);
      const model = loadOnnx(path);
      loaded.push(model);
      const io = loadSafetensors(join(FIXTURES, c.io));
      // Three images: the fixture's first, then two more; a model of fixed batch 1 runs them one at a time.
      const image = io.input.data.length / io.input.shape[0];
      const x = randomInput([3, ...io.input.shape.slice(1)], 11);
      x.data.set(io.input.data.subarray(0, image));
      const perImage = [0, 1, 2].map((i) => model.forward({ shape: [1, ...x.shape.slice(1)], data: x.data.slice(i * image, (i + 1) * image) }));
      const classes = perImage[0].data.length;
      for (const [devices, strategy] of cases) {
        const { output } = await onDevices({ kind: 'onnx', path }, { devices, strategy }, x);
        perImage.forEach((y, i) => expectSameBits({ shape: y.shape, data: output.data.slice(i * classes, (i + 1) * classes) }, y));
        expectClose({ shape: [1, classes], data: output.data.slice(0, classes) }, { shape: [1, classes], data: io.expected.data.slice(0, classes) });
      }
    });
  }

  it("a pipeline's boundary carries the activation the plan says (vgg_like, 4 micro-batches)", async () => {
    const path = join(FIXTURES, 'vgg_like.onnx');
    const x = randomInput([4, 3, 32, 32], 2);
    const { run, plan, stageRanges } = await onDevices({ kind: 'onnx', path }, { devices: 2, strategy: 'pipeline', microBatches: 4 }, x);
    expect(plan.pipeline!.stages).toEqual([[0, 7], [7, 19]]);
    expect(run.microBatches).toBe(4);
    expect(run.exchangedBytes[0]).toBe(0);
    expect(run.exchangedBytes[1]).toBe(receivedTotal(plan, 1));
    // The one value live at the cut, every image of it once.
    expect(run.stages[1].units).toEqual(stageRanges[1]);
    expect(run.layers[stageRanges[1][0]].devices[1].receivedBytes).toBe(run.exchangedBytes[1]);
    expect(run.hostInBytes).toBe(x.data.byteLength);
    expect(run.hostOutBytes).toBe(4 * 10 * 4);
  });
});

