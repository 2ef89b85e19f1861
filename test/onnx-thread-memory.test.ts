// OnnxModel.forward's memory on the calling thread: values live in the arena
// between steps and are freed after their last reader (arena-values.ts), each
// fused group keeps its kernel plan (its packed weights) from one forward to
// the next, and close() gives all of it back.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOnnx, loadSafetensors, sharedArena } from '../src/index.js';
import { configureKernels, resetKernelOptions } from '../src/kernels/options.js';
import { expectClose, FIXTURES } from './support/onnx.js';

const io = (name: string) => loadSafetensors(join(FIXTURES, `${name}.io.safetensors`));
const live = () => sharedArena().stats().liveBytes;

afterEach(() => {
  resetKernelOptions();
});

// Residual adds, Flatten and Reshape (views of their input), a channel shuffle, Concat, and
// (alexnet_lrn) an If whose branch the planning run picks.
const MODELS = ['resnet_basic', 'shufflenet_v2', 'densenet_like', 'mobilenet_v3', 'googlenet_like', 'alexnet_lrn'];

describe('forward on the calling thread', () => {
  for (const name of MODELS) {
    it(`${name}: PyTorch's output, in memory of its own; the next forward neither grows the arena nor touches it`, () => {
      const { input, expected } = io(name);
      const before = live();
      const model = loadOnnx(join(FIXTURES, `${name}.onnx`));
      const first = model.forward(input);
      expectClose(first, expected);
      expect(sharedArena().owns(first.data)).toBe(false);
      const kept = first.data.slice();
      const planned = live();
      // Another input through the same plan: the first output is not memory the arena reuses.
      const other = { shape: input.shape, data: input.data.map((v) => -v) };
      const second = model.forward(other);
      expect(first.data).toEqual(kept);
      expect(second.data).not.toEqual(kept);
      // What stays between forwards is the fused groups' plans, made once: no value is left behind.
      expect(live()).toBe(planned);
      expect(model.forward(input).data).toEqual(kept);
      expect(live()).toBe(planned);
      model.close();
      expect(live()).toBe(before);
    });
  }

  it('remakes a fused group plan when the kernel switches change, and gives the bits of a model planned under them', () => {
    const { input } = io('resnet_basic');
    const model = loadOnnx(join(FIXTURES, 'resnet_basic.onnx'));
    model.forward(input);
    configureKernels({ forceJs: true });
    const switched = model.forward(input);
    const fresh = loadOnnx(join(FIXTURES, 'resnet_basic.onnx'));
    expect(switched.data).toEqual(fresh.forward(input).data);
    fresh.close();
    model.close();
  });

  it('frees the plans of an input shape dropped from the per-shape cache', () => {
    const { input } = io('shufflenet_v2');
    const before = live();
    const model = loadOnnx(join(FIXTURES, 'shufflenet_v2.onnx'));
    const image = input.data.subarray(0, input.data.length / input.shape[0]);
    model.forward({ shape: [1, ...input.shape.slice(1)], data: image.slice() });
    const onePlan = live() - before;
    expect(onePlan).toBeGreaterThan(0);
    // Sixteen more batch sizes: the oldest plans go, and their packed weights with them.
    for (let batch = 2; batch <= 17; batch++) {
      const data = new Float32Array(batch * image.length);
      for (let n = 0; n < batch; n++) data.set(image, n * image.length);
      model.forward({ shape: [batch, ...input.shape.slice(1)], data });
    }
    // A plan's blocks do not depend on the batch: sixteen plans kept (MAX_PLANS), each the first one's bytes.
    expect(live() - before).toBe(16 * onePlan);
    model.close();
    expect(live()).toBe(before);
  });
});
