// planSplit's plans with exact figures, worked out by hand from the layer
// shapes: what each device receives at each layer (and by which collective),
// what it holds, and the memory it needs. F = 4 bytes per float.
import { describe, expect, it } from 'vitest';
import { models } from '../src/index.js';
import { nativeDirectConvolutions } from '../src/kernels/plan/index.js';
import type { GraphNode, ModelGraph } from '../src/split/graph.js';
import { planSplit } from '../src/split/plan-split.js';
import type { SplitPlan } from '../src/split/plan-types.js';

const F = 4;
const KiB = 1024;
const MiB = 2 ** 20;

/** Per layer with traffic: label -> bytes each device receives. */
function traffic(plan: SplitPlan): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const l of plan.layers) if (l.devices.some((d) => d.receivedBytes > 0)) out[l.label] = l.devices.map((d) => d.receivedBytes);
  return out;
}
const collectives = (plan: SplitPlan) => Object.fromEntries(plan.layers.filter((l) => l.collective !== 'none').map((l) => [l.label, l.collective]));

describe('channels: the paper AlexNet at batch 8', () => {
  const alexnet = new models.AlexNet();
  const budgetBytes = 0.2 * 2 ** 30;
  const two = planSplit(alexnet, { devices: 2, batch: 8, budgetBytes });
  const one = planSplit(alexnet, { devices: 1, batch: 8, budgetBytes });

  it("receives today's figures: lrn1 189.1 KiB, lrn2 45.6 KiB, conv3 676 KiB, fc6 144 KiB, fc7 64 KiB, fc8 64 KiB", () => {
    const N = 8;
    const expected = {
      lrn1: 2 * 55 * 55 * N * F, // the 2 maps on the other side of the boundary: 189.1 KiB
      lrn2: 2 * 27 * 27 * N * F, // 45.6 KiB
      conv3: 128 * 13 * 13 * N * F, // the other device's 128 pooled conv2 maps: 676 KiB
      fc6: 4608 * N * F, // half of the 9216 flattened features: 144 KiB
      fc7: 2048 * N * F, // 64 KiB
      fc8: 2048 * N * F, // 64 KiB
    };
    expect(traffic(two)).toEqual(Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, [v, v]])));
    expect(traffic(two).lrn1[0] / KiB).toBeCloseTo(189.1, 1);
    expect(traffic(two).lrn2[0] / KiB).toBeCloseTo(45.6, 1);
    expect(traffic(two).conv3[0] / KiB).toBe(676);
    expect(collectives(two)).toEqual({ lrn1: 'halo', lrn2: 'halo', conv3: 'all-gather', fc6: 'all-gather', fc7: 'all-gather', fc8: 'all-gather' });
    // Device 0 gets maps 48 and 49 of relu1 for lrn1.
    expect(two.layers[2].devices[0].received).toEqual([{ from: 1, value: 'features.1', ranges: [[48, 50]], bytes: expected.lrn1 }]);
    // conv2 (groups 2): each device its own group, half the weights.
    expect(two.layers[4].devices[1]).toMatchObject({ outputs: [128, 256], needs: [[[48, 96]]], groups: 1, parameters: 128 * 48 * 25 + 128 });
  });

  // 258.0 and 129.9 MiB with Winograd's transformed weights for conv2-5; 250.3 and 126.0 where the native
  // kernels run those layers direct, with their weights as they are.
  const [oneMiB, twoMiB] = nativeDirectConvolutions() ? ['250.3', '126.0'] : ['258.0', '129.9'];

  it(`needs ${oneMiB} MiB on one device, refused at 0.2 GiB, and ${twoMiB} MiB on each of two`, () => {
    expect((one.memory[0].totalBytes / MiB).toFixed(1)).toBe(oneMiB);
    expect(one.memory[0]).toMatchObject({ weightBytes: 60_965_224 * F, activationBytes: 2 * 96 * 55 * 55 * 8 * F, peakLayer: 'relu1', fits: false });
    expect(one.fits).toBe(false);
    for (const m of two.memory) {
      expect((m.totalBytes / MiB).toFixed(1)).toBe(twoMiB);
      expect(m).toMatchObject({ weightBytes: (60_965_224 / 2) * F, activationBytes: (3 * 227 * 227 + 48 * 55 * 55) * 8 * F, peakLayer: 'conv1', fits: true });
    }
    expect(two.fits).toBe(true);
  });

  it('refuses a device count that would split a group unevenly', () => {
    expect(() => planSplit(alexnet, { devices: 3 })).toThrow(/conv2: a device's 85 outputs would straddle its 2 groups unevenly/);
    expect(() => planSplit(alexnet, { devices: 0 })).toThrow(/devices/);
    expect(() => planSplit(alexnet, { devices: 2, strategy: 'rows' as never })).toThrow(/strategy.*channels, pipeline, data, auto/);
    expect(() => planSplit(alexnet, { devices: 2, link: { gbps: -1 } })).toThrow(/link\.gbps/);
  });
});

describe('channels: a ResNeXt block (groups 32, 128 wide), batch 2 of 256x8x8', () => {
  const block = new models.ResNeXtBlock({ inChannels: 256 }); // cardinality 32 x width 4
  const inputShape = [256, 8, 8];
  const plane = 64;
  const N = 2;

  it('on 2 devices: the grouped 3x3 receives nothing; conv.6 gathers the other half of its 128 inputs; the add is aligned', () => {
    const plan = planSplit(block, { devices: 2, batch: N, inputShape });
    // conv.0 reads the input, which every device has; conv.3's 16 groups per device read their own 64 channels.
    expect(traffic(plan)).toEqual({ 'conv.6': [64 * N * plane * F, 64 * N * plane * F] }); // 32 KiB each
    expect(plan.layers.find((l) => l.name === 'conv.3')!.devices.map((d) => [d.outputs, d.groups, d.receivedBytes])).toEqual([
      [[0, 64], 16, 0],
      [[64, 128], 16, 0],
    ]);
    expect(collectives(plan)).toEqual({ 'conv.6': 'all-gather' });
    // Weights: conv.0 128x256, conv.3 128x4x3x3, conv.6 256x128, and 4 values per BatchNorm channel (128 + 128 + 256), halved.
    for (const m of plan.memory) expect(m.weightBytes).toBe(((32_768 + 4_608 + 32_768 + 4 * 512) / 2) * F);
    expect(plan.layers.reduce((s, l) => s + l.devices[0].parameters, 0)).toBe((70_144 + 2 * 512) / 2);
  });

  it('on 4 devices: still nothing for the grouped 3x3 (8 groups each); conv.6 gathers 96 of 128 channels', () => {
    const plan = planSplit(block, { devices: 4, batch: N, inputShape });
    expect(traffic(plan)).toEqual({ 'conv.6': Array(4).fill(96 * N * plane * F) }); // 48 KiB each
    const conv6 = plan.layers.find((l) => l.name === 'conv.6')!;
    // Device 2 gets conv.5's channels [0, 32), [32, 64) and [96, 128) from devices 0, 1 and 3.
    expect(conv6.devices[2].received.map((t) => [t.from, t.ranges])).toEqual([[0, [[0, 32]]], [1, [[32, 64]]], [3, [[96, 128]]]]);
  });
});

describe('channels: a ShuffleNet unit (64 channels, groups 4, 16 wide), batch 1 of 64x8x8', () => {
  const unit = new models.ShuffleBlock({ inChannels: 64, outChannels: 64, groups: 4 });
  const plane = 64;

  it("on 2 devices: only the shuffle moves data, 4 of each device's 8 channels come from the other", () => {
    const plan = planSplit(unit, { devices: 2, inputShape: [64, 8, 8] });
    // Output channel j*4 + i is input i*4 + j: device 0's outputs [0, 8) read inputs 0,1,4,5 (its own) and 8,9,12,13 (device 1's).
    expect(traffic(plan)).toEqual({ shuffle: [4 * plane * F, 4 * plane * F] });
    expect(collectives(plan)).toEqual({ shuffle: 'all-to-all' });
    const shuffle = plan.layers.find((l) => l.name === 'shuffle')!;
    expect(shuffle.devices[0].received).toEqual([{ from: 1, value: 'relu', ranges: [[8, 10], [12, 14]], bytes: 4 * plane * F }]);
    expect(shuffle.devices[1].received).toEqual([{ from: 0, value: 'relu', ranges: [[2, 4], [6, 8]], bytes: 4 * plane * F }]);
  });

  it('on 4 devices: all-to-all, one channel from each of the three others', () => {
    const plan = planSplit(unit, { devices: 4, inputShape: [64, 8, 8] });
    // Device d's outputs [4d, 4d + 4) read inputs d, 4 + d, 8 + d, 12 + d: one is its own, three come from the others.
    expect(traffic(plan)).toEqual({ shuffle: Array(4).fill(3 * plane * F) });
    const shuffle = plan.layers.find((l) => l.name === 'shuffle')!;
    expect(shuffle.devices[1].received.map((t) => [t.from, t.ranges])).toEqual([[0, [[1, 2]]], [2, [[9, 10]]], [3, [[13, 14]]]]);
  });
});

describe('channels: a MobileNet block and a residual network', () => {
  it('depthwise separable (32 -> 64), batch 2 of 32x8x8 on 2 devices: the depthwise conv needs nothing, the pointwise gathers 16 channels', () => {
    const block = new models.DepthwiseSeparableConv({ inChannels: 32, outChannels: 64 });
    const plan = planSplit(block, { devices: 2, batch: 2, inputShape: [32, 8, 8] });
    expect(traffic(plan)).toEqual({ pw: [16 * 2 * 64 * F, 16 * 2 * 64 * F] });
    expect(plan.layers[0].devices.map((d) => [d.outputs, d.groups])).toEqual([[[0, 16], 16], [[16, 32], 16]]);
  });

  it('MiniGroupNet (groups 4), one 3x16x16 image on 2 devices: 1x1 convolutions gather, grouped 3x3 and residual adds do not', () => {
    const net = new models.MiniGroupNet();
    const plan = planSplit(net, { devices: 2, inputShape: [3, 16, 16] });
    const both = (bytes: number) => [bytes, bytes];
    expect(traffic(plan)).toEqual({
      'stage1.skip.0': both(32 * 16 * 16 * F), // the other 32 of stem's 64 channels, 16x16
      'stage1.reduce.0': both(32 * 16 * 16 * F),
      'stage1.expand.0': both(32 * 8 * 8 * F), // the other 32 of the 64-wide bottleneck, 8x8 after the stride
      'stage2.skip.0': both(64 * 8 * 8 * F), // the other 64 of stage 1's 128
      'stage2.reduce.0': both(64 * 8 * 8 * F),
      'stage2.expand.0': both(64 * 4 * 4 * F),
      fc: both(128 * F), // the other 128 of the 256 pooled features
    });
    expect(plan.layers.filter((l) => l.op === 'add').map((l) => l.collective)).toEqual(['none', 'none']);
  });

  it('a residual add whose operands are split differently brings the second into the first\'s partition (realign)', () => {
    // A graph as an ONNX model would give it: a 1x1 conv (12 outputs, 4 per device on 3) and a grouped
    // 1x1 conv (groups 4: whole groups per device, 2 + 1 + 1 groups of 3 channels), added.
    const conv = (name: string, groups: number): GraphNode => ({
      name, label: name, inputs: ['input'], output: name,
      op: { kind: 'conv', inChannels: 12, outChannels: 12, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups },
      weights: [{ name: `${name}.weight`, shape: [12, 12 / groups, 1, 1], role: 'parameter' }],
    });
    const graph: ModelGraph = {
      name: 'two-branch', input: 'input', inputChannels: 12, output: 'sum',
      nodes: [conv('a', 1), conv('b', 4), { name: 'sum', label: 'sum', op: { kind: 'add' }, inputs: ['a', 'b'], output: 'sum', weights: [] }],
    };
    const plan = planSplit(graph, { devices: 3, inputShape: [12, 4, 4] });
    const sum = plan.layers[2];
    // a: [0,4) [4,8) [8,12); b: [0,6) [6,9) [9,12). Device 1 needs b's [4,6) from device 0, device 2 b's [8,9) from device 1.
    expect(sum.devices.map((d) => d.received.map((t) => [t.from, t.value, t.ranges]))).toEqual([[], [[0, 'b', [[4, 6]]]], [[1, 'b', [[8, 9]]]]]);
    expect(sum.devices.map((d) => d.receivedBytes)).toEqual([0, 2 * 16 * F, 1 * 16 * F]);
    expect(sum.collective).toBe('realign');
  });
});

describe('pipeline and data', () => {
  // ResNeXtBlock(64, cardinality 8, width 2): 16 wide; batch 4 of 64x8x8. FLOPs (2 per multiply-add; 1 per output value elsewhere, 2 for the add):
  // conv.0 2*(4*16*64)*64 = 524,288; conv.1, conv.2 4,096 each; conv.3 2*4,096*2*9 = 147,456; conv.4, conv.5 4,096 each;
  // conv.6 2*(4*64*64)*16 = 524,288; conv.7 16,384; add 32,768; relu 16,384: 1,277,952 in all, 638,976 per stage.
  // Stage 0 stops after conv.3 (679,936 is 40,960 past half; 532,480 before it is 106,496 short).
  const block = new models.ResNeXtBlock({ inChannels: 64, cardinality: 8, bottleneckWidth: 2 });
  const inputShape = [64, 8, 8];

  it('pipeline on 2 devices: stage 1 receives conv.3\'s output (16 channels of 8x8 for 4 images) once; the bubble of 4 micro-batches', () => {
    const plan = planSplit(block, { devices: 2, batch: 4, inputShape, strategy: 'pipeline', deviceGflops: 1 });
    expect(plan.pipeline!.stages).toEqual([[0, 4], [4, 10]]);
    expect(traffic(plan)).toEqual({ 'conv.4': [0, 16 * 64 * 4 * F] }); // 16 KiB
    expect(collectives(plan)).toEqual({ 'conv.4': 'send-receive' });
    // Per micro-batch (1 image) at 1 GFLOP/s: stage 0 679,936 / 4 FLOPs = 0.169984 ms; stage 1 598,016 / 4 = 0.149504 ms plus
    // one 4 KiB transfer, 5 µs + 4,096 * 8 bits / 10 Gb/s = 0.0082768 ms. 4 micro-batches: the sum of the stages plus 3 of the slowest.
    const s0 = 0.169984;
    const s1 = 0.149504 + 0.005 + 0.0032768;
    const total = s0 + s1 + 3 * s0;
    expect(plan.simulated.ms).toBeCloseTo(total, 9);
    expect(plan.pipeline!.bubble).toBeCloseTo(1 - (4 * (s0 + s1)) / (2 * total), 9);
    // Each stage holds only its own layers' weights: conv.0 1,024 + conv.3 288 + conv.1's 64 BatchNorm values on device 0.
    expect(plan.memory.map((m) => m.weightBytes)).toEqual([(1024 + 64 + 288) * F, (64 + 1024 + 256) * F]);
  });

  it('data on 2 devices: 2 images each, weights replicated, nothing moves', () => {
    const plan = planSplit(block, { devices: 2, batch: 4, inputShape, strategy: 'data' });
    expect(traffic(plan)).toEqual({});
    expect(plan.layers[0].devices.map((d) => d.images)).toEqual([[0, 2], [2, 4]]);
    // Every device holds all 2,720 weights and statistics: conv.0 1,024, conv.3 288, conv.6 1,024, BatchNorm 4 x (16 + 16 + 64).
    for (const m of plan.memory) {
      expect(m.weightBytes).toBe(2_720 * F);
      // Busiest at conv.7 (BatchNorm): its 64-channel input and output for 2 images, plus the block input kept for the add, 32 KiB each.
      expect(m.activationBytes).toBe(3 * 64 * 64 * 2 * F);
      expect(m.peakLayer).toBe('conv.7');
    }
  });

  it('auto picks the fastest plan that fits, and says why', () => {
    const alexnet = new models.AlexNet();
    // At 0.2 GiB only the channels split fits (data needs the whole model per device, the pipeline's second stage its classifier).
    const fitting = planSplit(alexnet, { devices: 2, batch: 8, strategy: 'auto', budgetBytes: 0.2 * 2 ** 30 });
    expect(fitting.strategy).toBe('channels');
    expect(fitting.reason).toMatch(/^auto: channels, [\d.]+ ms simulated, less than pipeline [\d.]+ ms \(over the budget\), data [\d.]+ ms \(over the budget\) under a 10 Gb\/s, 5 µs link/);
    // Without a budget, data parallel moves nothing and wins.
    expect(planSplit(alexnet, { devices: 2, batch: 8, strategy: 'auto' }).strategy).toBe('data');
  });
});
