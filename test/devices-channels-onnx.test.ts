// ONNX fixtures' channels plans on devices (src/devices/model-devices.ts with
// onnx-channel-node.ts): each device computes its planned output runs of every
// graph node from what it holds plus what the plan has it receive. At 2 and 3
// devices the output is the bits of OnnxModel.forward on this thread (fused
// groups included), it matches PyTorch's, and the bytes each device received
// for each node are the plan's. A device that throws mid-pass names itself and
// the node; new devices then run. A node with no way to run by channels is
// refused, naming it and its op type.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, ExecutionError, loadSafetensors } from '../src/index.js';
import type { ChannelNodeSpec } from '../src/devices/channel-device-state.js';
import type { ModelDevice } from '../src/devices/model-device.js';
import { ModelDevices } from '../src/devices/model-devices.js';
import { onnxNodeRecipes } from '../src/devices/onnx-channel-recipe.js';
import { randomInput } from '../src/devices/run-model.js';
import { loadOnnx } from '../src/onnx/load.js';
import type { OnnxModel } from '../src/onnx/model.js';
import { onnxGraphSteps } from '../src/split/from-onnx.js';
import type { SplitPlan } from '../src/split/plan-types.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { CASES, expectClose, FIXTURES } from './support/onnx.js';
import { expectSameBits } from './support/tensors.js';

/** The fixtures and device counts: grouped convs, a shuffle, depthwise + squeeze-excitation, SiLU, residual adds, concats, a decomposed LRN, opaque nodes. */
const RUNS: Record<string, number[]> = {
  resnext: [3],
  shufflenet_v2: [2],
  mobilenet_v3: [3],
  efficientnet_like: [2],
  densenet_like: [2],
  alexnet_lrn: [2],
  // Opaque nodes (channels-last Transpose, LayerNormalization, MatMul on 4-D) computed from whole inputs; asymmetric Conv pads.
  convnext_op17: [2],
  padded_conv: [2],
};

/** Two images: the fixture's first (whose PyTorch output is known), then a random one. */
function twoImages(io: Record<string, Tensor>): Tensor {
  const image = io.input.data.length / io.input.shape[0];
  const x = randomInput([2, ...io.input.shape.slice(1)], 5);
  x.data.set(io.input.data.subarray(0, image));
  return x;
}

/** forward on this thread, one image at a time (a model of fixed batch 1 takes no more). */
function forwardEach(model: OnnxModel, x: Tensor): Tensor[] {
  const image = x.data.length / x.shape[0];
  return Array.from({ length: x.shape[0] }, (_, i) => model.forward({ shape: [1, ...x.shape.slice(1)], data: x.data.slice(i * image, (i + 1) * image) }));
}

/** The per-node spec the host gives device d (as ModelDevices.create does). */
function specsOf(plan: SplitPlan, d: number): ChannelNodeSpec[] {
  return plan.layers.map((l) => ({
    outputs: l.devices[d].outputRuns,
    channels: l.inputShapes[0][1],
    needs: l.devices[d].needs,
    channelsOf: l.inputShapes.map((s) => s[1]),
    quiet: l.devices.every((p) => p.received.length === 0),
  }));
}

describe('ONNX fixtures by channels on devices', () => {
  const loaded: OnnxModel[] = [];
  afterAll(() => loaded.forEach((m) => m.close()));

  for (const [id, counts] of Object.entries(RUNS)) {
    it(`${id} on ${counts.join(' and ')} devices: forward's bits, PyTorch's output, and the plan's bytes received per node`, async () => {
      const c = CASES.find((k) => k.id === id)!;
      const path = join(FIXTURES, c.file);
      const model = loadOnnx(path);
      loaded.push(model);
      const io = loadSafetensors(join(FIXTURES, c.io));
      const x = twoImages(io);
      const expected = forwardEach(model, x);
      const classes = expected[0].data.length;
      for (const devices of counts) {
        const split = await ModelDevices.create({ kind: 'onnx', path }, { devices, strategy: 'channels', batch: 2 });
        try {
          const { output, run } = await split.forward(x);
          expected.forEach((y, i) => expectSameBits({ shape: y.shape, data: output.data.slice(i * classes, (i + 1) * classes) }, y));
          expectClose({ shape: [1, classes], data: output.data.slice(0, classes) }, { shape: [1, classes], data: io.expected.data.slice(0, classes) });
          const plan = split.plan;
          expect(run.strategy).toBe('channels');
          expect(run.layers.map((l) => l.label)).toEqual(plan.layers.map((l) => l.label));
          run.layers.forEach((l, i) => expect(l.devices.map((d) => d.receivedBytes), l.label).toEqual(plan.layers[i].devices.map((d) => d.receivedBytes)));
          // Something crosses somewhere (a linear layer gathers its features at least).
          expect(run.exchangedBytes.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
          // A pass of another batch on the same devices (a plan per batch, or the fixed one's chunks): the bits again.
          const three = randomInput([3, ...x.shape.slice(1)], 6);
          const again = (await split.forward(three)).output;
          forwardEach(model, three).forEach((y, i) => expectSameBits({ shape: y.shape, data: again.data.slice(i * classes, (i + 1) * classes) }, y));
        } finally {
          await split.close();
        }
      }
    });
  }
});

describe('failures', () => {
  it('a device that throws mid-pass rejects the pass naming the device and the node; new devices then run', async () => {
    const path = join(FIXTURES, 'resnext.onnx');
    const model = loadOnnx(path);
    const x = randomInput([2, 3, 32, 32], 9);
    const options = { devices: 2, strategy: 'channels', batch: 2 } as const;
    const split = await ModelDevices.create({ kind: 'onnx', path }, options);
    const plan = split.plan;
    // Device 1 is told to read every channel of a per-channel node's input (the global pool's), half of which it neither holds nor receives.
    const bad = plan.layers.findIndex((l) => l.op === 'adaptiveavgpool' && l.collective === 'none');
    expect(bad).toBeGreaterThan(2);
    const specs = specsOf(plan, 1);
    specs[bad] = { ...specs[bad], needs: [[[0, plan.layers[bad].inputShapes[0][1]]]] };
    const inside = split as unknown as { devices: ModelDevice[]; channelStatus: Int32Array[] };
    await inside.devices[1].call((api) => api.channelsConnect(specs, inside.channelStatus[1]));
    const error = await split.forward(x).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionError);
    const label = plan.layers[bad].label;
    expect((error as Error).message).toMatch(
      new RegExp(`^the forward pass failed on device 1 at ${label.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(layer ${bad + 1} of ${plan.layers.length}\\): .*channel \\d+ of \\[0, \\d+\\) is neither held nor received`),
    );
    await split.close();

    const again = await ModelDevices.create({ kind: 'onnx', path }, options);
    try {
      const { output } = await again.forward(x);
      const expected = forwardEach(model, x);
      expected.forEach((y, i) => expectSameBits({ shape: y.shape, data: output.data.slice(i * 10, (i + 1) * 10) }, y));
    } finally {
      await again.close();
      model.close();
    }
  });

  it('a node that cannot run by channel runs is refused, naming the node and its op type and saying which strategies run it', () => {
    const model = loadOnnx(join(FIXTURES, 'resnext.onnx'));
    try {
      const { graph, steps } = onnxGraphSteps(model, [3, 32, 32]);
      const plan = model.planFor({ input: [1, 3, 32, 32] });
      expect(onnxNodeRecipes('torch_jit', plan, graph, steps)).toHaveLength(graph.nodes.length);
      // The devices exchange float32 channels only: a value of another type (as a plan could hold) stops the set-up.
      const pool = graph.nodes.findIndex((n) => n.op.kind === 'adaptiveavgpool');
      const dtypes = new Map(plan.dtypes).set(graph.nodes[pool].output, 'int64');
      let refused: unknown;
      try {
        onnxNodeRecipes('torch_jit', { ...plan, dtypes }, graph, steps);
      } catch (e) {
        refused = e;
      }
      expect(refused).toBeInstanceOf(ArgumentError);
      const step = plan.steps[steps[pool].step];
      expect((refused as Error).message).toBe(
        `strategy: torch_jit: node '${step.node.name}' (GlobalAveragePool) cannot run by channel runs in a channels split on devices (its value '${graph.nodes[pool].output}' is int64, and the devices exchange float32 channels only); run the model with strategy data or pipeline`,
      );
    } finally {
      model.close();
    }
  });
});
