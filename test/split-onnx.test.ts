// planSplit on ONNX models (src/split/from-onnx.ts): every fixture in
// test/fixtures/onnx maps onto the split graph and plans under each strategy,
// and a few plans have their bytes worked out by hand from the fixtures'
// layer shapes (make_fixtures.py). F = 4 bytes per float.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { models } from '../src/index.js';
import { loadOnnx } from '../src/onnx/load.js';
import type { OnnxModel } from '../src/onnx/model.js';
import { graphOfOnnx } from '../src/split/from-onnx.js';
import { planSplit, receivedTotal } from '../src/split/plan-split.js';
import type { SplitPlan } from '../src/split/plan-types.js';

const F = 4;
const dir = join(import.meta.dirname, 'fixtures', 'onnx');
const cases: { id: string; file: string; inputShape: number[] }[] = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')).cases;
const loaded = new Map<string, OnnxModel>();
const model = (id: string): OnnxModel => {
  if (!loaded.has(id)) loaded.set(id, loadOnnx(join(dir, cases.find((c) => c.id === id)!.file)));
  return loaded.get(id)!;
};
afterAll(() => loaded.forEach((m) => m.close()));

/** Per layer with traffic: label -> bytes each device receives. */
function traffic(plan: SplitPlan): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const l of plan.layers) if (l.devices.some((d) => d.receivedBytes > 0)) out[l.label] = l.devices.map((d) => d.receivedBytes);
  return out;
}

describe('every ONNX fixture plans on 2 devices', () => {
  for (const c of cases) {
    it(`${c.id}: channels, pipeline, data and auto`, () => {
      // The fixture's own image shape: symbolic heights and widths need it given.
      const inputShape = c.inputShape.slice(1);
      for (const strategy of ['channels', 'pipeline', 'data', 'auto'] as const) {
        if (c.id === 'lrn_native' && strategy === 'pipeline') {
          // One node (a lone LRN) cannot be cut into two stages: refused by the pipeline's own rule.
          expect(() => planSplit(model(c.id), { devices: 2, strategy, batch: 2, inputShape })).toThrow(/pipeline of 2 stages needs at least 2 layers, the model has 1/);
          continue;
        }
        const plan = planSplit(model(c.id), { devices: 2, strategy, batch: 2, inputShape });
        expect(plan.layers.length).toBeGreaterThan(0);
        expect(plan.layers[plan.layers.length - 1].outputShape).toEqual([2, ...outputTail(c.id)]);
        if (strategy === 'data') expect(plan.layers.every((l) => l.devices.every((d) => d.receivedBytes === 0))).toBe(true);
      }
    });
  }
});

/** The fixture's recorded output shape after its batch dimension. */
function outputTail(id: string): number[] {
  const all = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')).cases as { id: string; outputShape: number[] }[];
  return all.find((c) => c.id === id)!.outputShape.slice(1);
}

describe('resnext: grouped convolutions whose groups align receive nothing', () => {
  const plan = planSplit(model('resnext'), { devices: 2, batch: 1 });

  it('the 3x3 convs of groups=8 split 4 groups a device and read only their own channels', () => {
    const grouped = plan.layers.filter((l) => l.op === 'conv' && l.groups === 8);
    expect(grouped.map((l) => l.label)).toEqual(['/1/conv2/Conv', '/2/conv2/Conv']);
    for (const l of grouped) expect(l.devices.map((d) => [d.receivedBytes, d.groups])).toEqual([[0, 4], [0, 4]]);
  });

  it('the dense 1x1 convs gather the other half of their input', () => {
    expect(traffic(plan)).toEqual({
      '/1/conv1/Conv': [8 * 16 * 16 * F, 8 * 16 * 16 * F], // 8 of the stem's 16 channels, 16x16: 8 KiB
      '/1/conv3/Conv': [8 * 16 * 16 * F, 8 * 16 * 16 * F], // 8 of the grouped conv's 16
      '/1/downsample/downsample.0/Conv': [8 * 16 * 16 * F, 8 * 16 * 16 * F],
      '/2/conv1/Conv': [32 * 16 * 16 * F, 32 * 16 * 16 * F], // 32 of the block's 64 outputs
      '/2/conv3/Conv': [8 * 8 * 8 * F, 8 * 8 * 8 * F], // after the stride-2 grouped conv: 8x8
      '/2/downsample/downsample.0/Conv': [32 * 16 * 16 * F, 32 * 16 * 16 * F],
      '/3/3.2/Gemm': [32 * F, 32 * F], // half of the 64 pooled features
    });
    // The residual adds find both operands split alike.
    expect(plan.layers.filter((l) => l.op === 'add').map((l) => l.collective)).toEqual(['none', 'none']);
  });
});

describe('shufflenet_v2: the channel shuffle is all-to-all', () => {
  const plan = planSplit(model('shufflenet_v2'), { devices: 2, batch: 1 });

  it("folds each Reshape -> Transpose -> Reshape into one shuffle of 2 groups, nothing left opaque", () => {
    const graph = graphOfOnnx(model('shufflenet_v2'), [3, 32, 32]);
    expect(graph.nodes.filter((n) => n.op.kind === 'shuffle').map((n) => n.op)).toEqual([{ kind: 'shuffle', groups: 2 }, { kind: 'shuffle', groups: 2 }, { kind: 'shuffle', groups: 2 }]);
    expect(graph.nodes.some((n) => n.op.kind === 'opaque')).toBe(false);
  });

  it('each shuffle of 32 channels at 4x4 sends 8 channels each way; the Concats and channel Slices move nothing', () => {
    const shuffles = plan.layers.filter((l) => l.op === 'shuffle');
    expect(shuffles.length).toBe(3);
    // One channel of 4x4 is 16 * F = 64 B. The stride-2 unit's branches each end in a 1x1 conv of 16
    // outputs, 8 a device, so its Concat(branch1, branch2) holds [0, 8) + [16, 24) on device 0 and
    // [8, 16) + [24, 32) on device 1, moving nothing. The shuffle (output o reads input i*16 + j,
    // i = o % 2, j = o / 2) computes the same channels: device 0's outputs [0, 8) read 0..3 and 16..19,
    // its [16, 24) read 8..11 and 24..27; it lacks 8..11 and 24..27, 8 channels from device 1: 512 B.
    // Device 1's [8, 16) + [24, 32) read 4..7, 20..23, 12..15, 28..31; it lacks 4..7 and 20..23: 512 B.
    for (const l of shuffles) {
      expect(l.collective).toBe('all-to-all');
      expect(l.devices.map((d) => d.receivedBytes)).toEqual([512, 512]);
      expect(l.devices.map((d) => d.outputRuns)).toEqual([[[0, 8], [16, 24]], [[8, 16], [24, 32]]]);
    }
    // The shuffle's output so held, each Slice of 16 finds 8 channels on each device: [0, 8) and [8, 16)
    // renumbered, balanced, nothing moved (before the Slices re-split their halves, 512 B each).
    // Each Concat(kept half, branch) is again [0, 8) + [16, 24) / [8, 16) + [24, 32): nothing moves
    // (before, a Concat split afresh gathered 8 channels each, 512 B).
    const slices = plan.layers.filter((l) => l.op === 'slice');
    expect(slices.map((l) => l.devices.map((d) => [d.receivedBytes, d.outputs]))).toEqual(Array(4).fill([[0, [0, 8]], [0, [8, 16]]]));
    const concats = plan.layers.filter((l) => l.op === 'concat');
    expect(concats.map((l) => [l.collective, ...l.devices.map((d) => d.receivedBytes)])).toEqual(Array(3).fill(['none', 0, 0]));
  });
});

describe('data and pipeline', () => {
  it('the data plan moves nothing, whatever the model', () => {
    for (const id of ['resnext', 'shufflenet_v2', 'efficientnet_like', 'densenet_like']) {
      const plan = planSplit(model(id), { devices: 2, strategy: 'data', batch: 4 });
      expect([receivedTotal(plan, 0), receivedTotal(plan, 1)]).toEqual([0, 0]);
      expect(plan.layers[0].devices.map((d) => d.images)).toEqual([[0, 2], [2, 4]]);
    }
  });

  it('a pipeline boundary moves exactly the activation at the cut (vgg_like)', () => {
    const plan = planSplit(model('vgg_like'), { devices: 2, strategy: 'pipeline', batch: 2 });
    expect(plan.pipeline!.stages).toEqual([[0, 7], [7, 19]]);
    // Stage 2 starts at the second 16-channel conv: it receives the ReLU before it, 16 x 16 x 16 for 2 images.
    expect(traffic(plan)).toEqual({ '/7/Conv': [0, 2 * 16 * 16 * 16 * F] });
    const relu = graphOfOnnx(model('vgg_like'), [3, 32, 32]).nodes[6];
    expect(plan.layers[7].devices[1].received.map((t) => [t.from, t.value])).toEqual([[0, relu.output]]);
  });
});

describe('alexnet_lrn: the traffic pattern of models.AlexNet', () => {
  const plan = planSplit(model('alexnet_lrn'), { devices: 2, batch: 2 });

  it("folds torch's decomposed LocalResponseNorm back into an LRN with its size, alpha, beta and k", () => {
    const lrns = graphOfOnnx(model('alexnet_lrn'), [3, 32, 32]).nodes.filter((n) => n.op.kind === 'lrn');
    expect(lrns.length).toBe(2);
    for (const n of lrns) {
      if (n.op.kind !== 'lrn') throw new Error('not an LRN');
      expect([n.op.size, n.op.beta, n.op.k]).toEqual([5, 0.75, 2]);
      expect(n.op.alpha).toBeCloseTo(1e-4, 10);
    }
  });

  it('halo at the LRNs, none at the grouped convs, gather at the fully connected layer', () => {
    // conv1 12 maps of 16x16, conv2 16 maps of 7x7 (groups=2), conv3 16 of 3x3 (groups=2), fc 144 -> 10.
    const N = 2;
    expect(traffic(plan)).toEqual({
      '/features/features.2/Div': [2 * 16 * 16 * N * F, 2 * 16 * 16 * N * F], // 2 maps across the boundary (size 5)
      '/features/features.6/Div': [2 * 7 * 7 * N * F, 2 * 7 * 7 * N * F],
      '/classifier/classifier.1/Gemm': [72 * N * F, 72 * N * F], // half of the 144 flattened features
    });
    const pattern = (p: SplitPlan) => p.layers.filter((l) => l.op === 'lrn' || l.op === 'linear' || (l.op === 'conv' && l.groups! > 1)).map((l) => `${l.op}:${l.collective}`);
    expect(pattern(plan)).toEqual(['lrn:halo', 'conv:none', 'lrn:halo', 'conv:none', 'linear:all-gather']);
    // models.AlexNet of the same conv1/conv2 widths: the same halo rule (2 maps per LRN), the
    // grouped convs silent, conv3 (dense in AlexNet; grouped in this fixture) and every fc gathering.
    const alex = planSplit(new models.AlexNet({ channels: [12, 16, 16, 16, 16], hidden: 32, classes: 10, pooled: 6 }), { devices: 2, batch: N });
    expect(pattern(alex)).toEqual(['lrn:halo', 'conv:none', 'lrn:halo', 'conv:none', 'conv:none', 'linear:all-gather', 'linear:all-gather', 'linear:all-gather']);
    expect(traffic(alex).lrn1).toEqual([2 * 55 * 55 * N * F, 2 * 55 * 55 * N * F]);
    expect(alex.layers.find((l) => l.label === 'conv3')!.collective).toBe('all-gather');
  });
});

describe('squeeze-and-excitation, softmax, asymmetric padding', () => {
  it("efficientnet_like: the SE scale's Mul finds its per-channel operand on the same device", () => {
    const plan = planSplit(model('efficientnet_like'), { devices: 2, batch: 1 });
    const scale = plan.layers.find((l) => l.label === '/1/block/block.1/Mul')!;
    expect(scale.op).toBe('broadcast');
    expect(scale.inputShapes).toEqual([[1, 16, 16, 16], [1, 16, 1, 1]]);
    expect(scale.devices.map((d) => [d.receivedBytes, d.needs])).toEqual([[0, [[[0, 8]], [[0, 8]]]], [0, [[[8, 16]], [[8, 16]]]]]);
    // The SE's first 1x1 conv gathers the other 8 pooled channels: 8 * 1 * 1 * F.
    expect(plan.layers.find((l) => l.label === '/1/block/block.1/fc1/Conv')!.devices.map((d) => d.receivedBytes)).toEqual([32, 32]);
  });

  it('squeezenet_like: the softmax reads every class', () => {
    const plan = planSplit(model('squeezenet_like'), { devices: 2, batch: 1 });
    const softmax = plan.layers[plan.layers.length - 1];
    expect([softmax.op, softmax.collective]).toEqual(['softmax', 'all-gather']);
    expect(softmax.devices.map((d) => d.receivedBytes)).toEqual([5 * F, 5 * F]);
  });

  it("padded_conv: the explicit Pad becomes a per-channel pad the conv's shape rule agrees with", () => {
    const graph = graphOfOnnx(model('padded_conv'), [3, 17, 17]);
    expect(graph.nodes[0].op).toEqual({ kind: 'pad', pads: [0, 0, 1, 1] });
  });
});

describe('input shapes', () => {
  it('takes a static input shape from the model, and any batch', () => {
    const one = planSplit(model('resnext'), { devices: 2, batch: 1 });
    const four = planSplit(model('resnext'), { devices: 2, batch: 4 });
    expect(four.inputShape).toEqual([3, 32, 32]);
    expect(receivedTotal(four, 0)).toBe(4 * receivedTotal(one, 0));
  });

  it('requires inputShape when height or width is symbolic, and plans any given size', () => {
    expect(() => planSplit(model('mobilenet_v3_dynhw'), { devices: 2 })).toThrow(/inputShape: .*declared \[batch, 3, height, width\]/);
    const plan = planSplit(model('mobilenet_v3_dynhw'), { devices: 2, inputShape: [3, 64, 48] });
    expect(plan.layers[0].outputShape).toEqual([1, 16, 32, 24]);
  });
});

// An OnnxModel's public surface (inputs, graph.name, planFor) around a hand-written plan: what the
// mapping reads, for operators no fixture exports (a channel Split, an operator outside the planner's set).
const step = (name: string, opType: string, inputs: string[], outputs: string[], attributes: [string, unknown][] = []) => ({
  node: { name, opType, inputs, outputs, attributes: new Map(attributes) },
  inputs,
  outputs,
  run: () => [],
});

describe('a channel Split', () => {
  it('becomes one slice per output, each keeping the channels where they are; the Concat moves nothing either', () => {
    // x [1, 3, 2, 2] -> 1x1 conv to 4 channels (device 0 [0, 2), device 1 [2, 4)) -> Split 2 + 2 -> Concat(b, a).
    const fake = {
      inputs: [{ name: 'x', shape: [1, 3, 2, 2], dtype: 'float32' }],
      graph: { name: 'split-concat' },
      planFor: () => ({
        steps: [
          step('conv', 'Conv', ['x', 'w'], ['y']),
          step('split', 'Split', ['y'], ['a', 'b'], [['axis', { type: 'INT', value: 1 }]]),
          step('concat', 'Concat', ['b', 'a'], ['out'], [['axis', { type: 'INT', value: 1 }]]),
        ],
        constants: new Map([['w', { dtype: 'float32', shape: [4, 3, 1, 1], data: new Float32Array(12) }]]),
        shapes: new Map([['x', [1, 3, 2, 2]], ['y', [1, 4, 2, 2]], ['a', [1, 2, 2, 2]], ['b', [1, 2, 2, 2]], ['out', [1, 4, 2, 2]], ['w', [4, 3, 1, 1]]]),
        dtypes: new Map(),
        outputs: ['out'],
        lastUse: new Map(),
      }),
    } as unknown as OnnxModel;
    const plan = planSplit(fake, { devices: 2 });
    expect(plan.layers.map((l) => [l.label, l.op])).toEqual([['conv', 'conv'], ['split:0', 'slice'], ['split:1', 'slice'], ['concat', 'concat']]);
    // y = conv's output: device 0 holds [0, 2), device 1 [2, 4). a = y[0, 2) stays whole on device 0,
    // b = y[2, 4) (renumbered [0, 2)) on device 1. Concat(b, a) places b at 0 and a at 2: device 0
    // holds out[2, 4), device 1 out[0, 2). Nothing moves (before: a and b were re-split, 16 B each, and
    // the Concat split afresh fetched 16 B a device).
    expect(traffic(plan)).toEqual({});
    expect(plan.layers.map((l) => l.devices.map((d) => d.outputRuns))).toEqual([
      [[[0, 2]], [[2, 4]]],
      [[[0, 2]], []],
      [[], [[0, 2]]],
      [[[2, 4]], [[0, 2]]],
    ]);
  });
});

describe('an op the planner cannot place', () => {
  it('is refused naming the node and its operator', () => {
    const fake = {
      inputs: [{ name: 'x', shape: [1, 3, 4, 4], dtype: 'float32' }],
      graph: { name: 'fake' },
      planFor: () => ({
        steps: [step('cond_where', 'Where', ['mask', 'x', 'y'], ['out'])],
        constants: new Map([['mask', { dtype: 'bool', shape: [1], data: new Uint8Array(1) }], ['y', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]]),
        shapes: new Map([['x', [1, 3, 4, 4]], ['out', [1, 3, 4, 4]]]),
        dtypes: new Map(),
        outputs: ['out'],
        lastUse: new Map(),
      }),
    } as unknown as OnnxModel;
    expect(() => planSplit(fake, { devices: 2 })).toThrow("model: node 'cond_where' (Where): the split planner does not know which channels it reads");
  });
});
