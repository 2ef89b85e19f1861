// A model as units (src/devices/model-program.ts, src/onnx/plan-range.ts), on
// this thread: running every unit is forward's bits; cutting the units
// anywhere and running the pieces from the values live at each cut gives the
// same bits; and every image's result is the same whatever batch it runs in
// (what lets devices split the images and the micro-batches freely).
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedArena, type Tensor } from '../src/index.js';
import { batchRange, liveAcross, moduleProgram, onnxProgram, type Program } from '../src/devices/model-program.js';
import { randomInput } from '../src/devices/run-model.js';
import { loadOnnx } from '../src/onnx/load.js';
import type { OnnxModel } from '../src/onnx/model.js';
import { stageUnits } from '../src/devices/model-devices.js';
import { graphOfModule } from '../src/split/from-modules.js';
import { graphOfOnnx } from '../src/split/from-onnx.js';
import { planSplit } from '../src/split/plan-split.js';
import { SPLIT_MODELS } from '../src/split/zoo.js';
import { FIXTURES } from './support/onnx.js';
import { expectSameBits } from './support/tensors.js';

/** The program run whole, and in pieces cut at `cuts`, each from the values live at its start. */
function runWhole(program: Program, x: Tensor): Tensor {
  return program.run(0, program.units.length, new Map([[program.input, x]]), [program.output]).get(program.output)!;
}
function runInPieces(program: Program, x: Tensor, cuts: number[]): Tensor {
  const bounds = [0, ...cuts, program.units.length];
  let live = new Map([[program.input, x]]);
  for (let i = 0; i + 1 < bounds.length; i++) live = program.run(bounds[i], bounds[i + 1], live, liveAcross(program, bounds[i + 1]));
  expect([...live.keys()]).toEqual([program.output]);
  return live.get(program.output)!;
}

function checkProgram(program: Program, forward: (x: Tensor) => Tensor, image: number[]): void {
  const x = randomInput([3, ...image], 21);
  const whole = runWhole(program, x);
  expectSameBits(whole, forward(x));
  // Values live in this thread's arena between units and are all freed: what is returned is memory of its own.
  expect(sharedArena().owns(whole.data)).toBe(false);
  const live = sharedArena().stats().liveBytes;
  const n = program.units.length;
  expectSameBits(runInPieces(program, x, [Math.floor(n / 3), Math.floor((2 * n) / 3)]), whole);
  expect(sharedArena().stats().liveBytes).toBe(live);
  const per = whole.data.length / 3;
  for (let i = 0; i < 3; i++) expectSameBits(forward(batchRange(x, i, i + 1)), { shape: [1, ...whole.shape.slice(1)], data: whole.data.subarray(i * per, (i + 1) * per) });
}

describe('zoo models as units', () => {
  const images: Record<string, number[]> = {
    'resnext-block': [256, 8, 8],
    'resnet-bottleneck': [256, 8, 8],
    'shuffle-block': [240, 8, 8],
    'depthwise-separable-conv': [32, 16, 16],
    'grouped-bottleneck': [64, 16, 16],
    'mini-group-net': [3, 32, 32],
    'global-depthwise-conv': [512, 7, 7],
  };
  for (const [name, image] of Object.entries(images)) {
    it(`${name}: whole, in three pieces, and image by image: forward's bits`, () => {
      const model = SPLIT_MODELS[name].build(5);
      checkProgram(moduleProgram(model), (x) => model.forward(x), image);
    });
  }
});

describe('ONNX models as scheduled steps', () => {
  const loaded: OnnxModel[] = [];
  afterAll(() => loaded.forEach((m) => m.close()));
  for (const id of ['mobilenet_v2', 'shufflenet_v2', 'googlenet_like', 'vgg_like', 'convnext_like', 'resnet_bottleneck']) {
    it(`${id} (any batch): whole, in three pieces, and image by image: forward's bits`, () => {
      const model = loadOnnx(join(FIXTURES, `${id}.onnx`));
      loaded.push(model);
      checkProgram(onnxProgram(model, [3, 32, 32]), (x) => model.forward(x), [3, 32, 32]);
    });
  }

  it('a model of fixed batch 1 (resnext) runs a batch of 3 one image at a time', () => {
    const model = loadOnnx(join(FIXTURES, 'resnext.onnx'));
    loaded.push(model);
    const program = onnxProgram(model, [3, 32, 32]);
    const x = randomInput([3, 3, 32, 32], 8);
    const whole = runWhole(program, x);
    expect(whole.shape).toEqual([3, 10]);
    for (let i = 0; i < 3; i++) expectSameBits(model.forward(batchRange(x, i, i + 1)), { shape: [1, 10], data: whole.data.subarray(i * 10, (i + 1) * 10) });
    expectSameBits(runInPieces(program, x, [4]), whole);
  });
});

describe("the planner's pipeline stages as ranges of units", () => {
  it("a module's stages are its units one for one", () => {
    const model = SPLIT_MODELS['mini-group-net'].build(1);
    const plan = planSplit(model, { devices: 3, strategy: 'pipeline', batch: 4, inputShape: [3, 32, 32] });
    const graph = graphOfModule(model);
    expect(stageUnits(plan, graph.nodes.map((n) => n.output), moduleProgram(model))).toEqual(plan.pipeline!.stages);
  });

  it("an ONNX fused group goes with its last node (resnext: the cut moves before downsample.0's Conv)", () => {
    const model = loadOnnx(join(FIXTURES, 'resnext.onnx'));
    try {
      const graph = graphOfOnnx(model, [3, 32, 32]);
      const plan = planSplit(graph, { devices: 2, strategy: 'pipeline', batch: 8, inputShape: [3, 32, 32] });
      const program = onnxProgram(model, [3, 32, 32]);
      const cut = plan.pipeline!.stages[1][0];
      // The planner's stage 1 starts at the BatchNormalization after downsample.0's Conv, which the schedule fuses with that Conv.
      expect(graph.nodes[cut].label).toBe('/1/downsample/downsample.1/BatchNormalization');
      const stages = stageUnits(plan, graph.nodes.map((n) => n.output), program);
      expect(stages).toEqual([[0, 3], [3, program.units.length]]);
      expect(program.units[3].label).toBe('/1/downsample/downsample.0/Conv');
    } finally {
      model.close();
    }
  });
});
