// The channels plan keeps a Concat's inputs and a channel Slice's channels on
// the devices that hold them (ragged ownership: several runs per device), and
// the layers after them receive exactly what they lack of those runs. Every
// byte figure is worked out by hand from the graph's shapes; "before" is what
// the planner gave when a Concat or Slice split its output afresh over the
// devices. One image of 4x4: a channel is 16 floats, 64 B.
import { describe, expect, it } from 'vitest';
import type { GraphNode, GraphOp, ModelGraph } from '../src/split/graph.js';
import { REALIGN_LOAD } from '../src/split/channels.js';
import { formatPlan } from '../src/split/format.js';
import { planSplit, receivedTotal } from '../src/split/plan-split.js';
import type { SplitPlan } from '../src/split/plan-types.js';

const CH = 4 * 4 * 4; // one channel of 4x4, in bytes

const node = (name: string, op: GraphOp, inputs: string[]): GraphNode => ({ name, label: name, op, inputs, output: name, weights: [] });
const conv = (name: string, input: string, inChannels: number, outChannels: number, options: { kernel?: number; groups?: number } = {}): GraphNode => {
  const k = options.kernel ?? 1;
  const groups = options.groups ?? 1;
  const pad = (k - 1) / 2;
  return {
    ...node(name, { kind: 'conv', inChannels, outChannels, kernel: [k, k], stride: [1, 1], padding: [pad, pad], dilation: [1, 1], groups }, [input]),
    weights: [{ name: `${name}.weight`, shape: [outChannels, inChannels / groups, k, k], role: 'parameter' }],
  };
};
const relu = (name: string, input: string) => node(name, { kind: 'relu' }, [input]);
const slice = (name: string, input: string, start: number, end: number) => node(name, { kind: 'slice', start, end }, [input]);
const concat = (name: string, inputs: string[]) => node(name, { kind: 'concat' }, inputs);
const graphOf = (name: string, inputChannels: number, nodes: GraphNode[]): ModelGraph => ({ name, input: 'input', inputChannels, nodes, output: nodes[nodes.length - 1].output });

/** Per layer: channels each device receives (bytes / CH), for the layers with traffic. */
function channelsReceived(plan: SplitPlan): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const l of plan.layers) if (l.devices.some((d) => d.receivedBytes > 0)) out[l.label] = l.devices.map((d) => d.receivedBytes / CH);
  return out;
}
const runs = (plan: SplitPlan, label: string) => plan.layers.find((l) => l.label === label)!.devices.map((d) => d.outputRuns);
const total = (plan: SplitPlan) => Array.from({ length: plan.devices }, (_, d) => receivedTotal(plan, d)).reduce((a, b) => a + b, 0);

describe('a ShuffleNetV2 unit: Split, branch, Concat, shuffle', () => {
  // stem: 1x1 conv 3 -> 16 from the image (every device holds the image); Split 8 + 8; branch on the second
  // half: 1x1 conv 8 -> 8, ReLU, 3x3 depthwise (groups 8), 1x1 conv 8 -> 8, ReLU; Concat(kept half, branch);
  // channel shuffle of 2 groups (output o reads input (o % 2) * 8 + floor(o / 2)).
  const unit = graphOf('shufflenet-v2-unit', 3, [
    conv('stem', 'input', 3, 16),
    slice('keep', 'stem', 0, 8),
    slice('take', 'stem', 8, 16),
    conv('pw1', 'take', 8, 8),
    relu('relu1', 'pw1'),
    conv('dw', 'relu1', 8, 8, { kernel: 3, groups: 8 }),
    conv('pw2', 'dw', 8, 8),
    relu('relu2', 'pw2'),
    concat('cat', ['keep', 'relu2']),
    node('shuffle', { kind: 'shuffle', groups: 2 }, ['cat']),
  ]);

  it('on 2 devices: the Split and Concat move nothing; 1280 B in all, from 2560', () => {
    const plan = planSplit(unit, { devices: 2, inputShape: [3, 4, 4] });
    // stem: device 0 [0, 8), device 1 [8, 16). keep = stem[0, 8) stays whole on device 0 (device 1 holds none
    // of it); take = stem[8, 16) whole on device 1.
    expect(runs(plan, 'keep')).toEqual([[[0, 8]], []]);
    expect(runs(plan, 'take')).toEqual([[], [[0, 8]]]);
    // pw1 (outputs [0, 4) / [4, 8)) reads all 8 of take: device 0 receives them all, device 1 none.
    // dw: 4 groups a device, its own channels. pw2 reads the other 4 of dw's 8 on each device.
    // cat = keep [0, 8) + relu2 at 8: device 0 holds [0, 8) and [8, 12) = [0, 12), device 1 [12, 16).
    expect(runs(plan, 'cat')).toEqual([[[0, 12]], [[12, 16]]]);
    // 12 of 16 is 1.5x the even share 8, not more than REALIGN_LOAD: the shuffle computes the channels held.
    // Device 0's outputs [0, 12) read j = 0..5 of both halves: [0, 6) and [8, 14); it lacks [12, 14) (2 channels).
    // Device 1's [12, 16) read j = 6, 7: [6, 8) and [14, 16); it lacks [6, 8) (2 channels).
    expect(channelsReceived(plan)).toEqual({ pw1: [8, 0], pw2: [4, 4], shuffle: [2, 2] });
    const shuffle = plan.layers.find((l) => l.label === 'shuffle')!;
    expect([shuffle.collective, shuffle.reason]).toEqual(['all-to-all', undefined]);
    expect(shuffle.devices.map((d) => d.received.map((t) => [t.from, t.ranges]))).toEqual([[[1, [[12, 14]]]], [[0, [[6, 8]]]]]);
    expect(plan.layers.filter((l) => l.op === 'slice' || l.op === 'concat').map((l) => l.collective)).toEqual(['none', 'none', 'none']);
    // Before: keep and take re-split 4 + 4 (4 channels to one device each), pw1 and pw2 4 each, the Concat
    // split afresh [0, 8) / [8, 16) fetched 4 each, the shuffle 4 each: 20 channels a device, 40 in all.
    expect(total(plan)).toBe(20 * CH);
  });

  it('on 4 devices: 56 channels received in all, from 84', () => {
    const plan = planSplit(unit, { devices: 4, inputShape: [3, 4, 4] });
    // stem: [0, 4) [4, 8) [8, 12) [12, 16). keep on devices 0 and 1, take (renumbered) on 2 and 3.
    expect(runs(plan, 'keep')).toEqual([[[0, 4]], [[4, 8]], [], []]);
    expect(runs(plan, 'take')).toEqual([[], [], [[0, 4]], [[4, 8]]]);
    // pw1 (2 outputs a device) reads all 8 of take: devices 0 and 1 hold none, 2 and 3 hold 4. pw2: each holds 2 of 8.
    // cat: device 0 keep [0, 4) + relu2 [0, 2) at 8; device 1 [4, 8) + [10, 12); device 2 [12, 14); device 3 [14, 16).
    expect(runs(plan, 'cat')).toEqual([[[0, 4], [8, 10]], [[4, 8], [10, 12]], [[12, 14]], [[14, 16]]]);
    // 6 of 16 is 1.5x the even 4: kept. Shuffle sources: device 0's outputs 0..3, 8, 9 read {0, 1, 8, 9} and {4, 12}:
    // it lacks 4 (device 1) and 12 (device 2). Device 1's 4..7, 10, 11 read {2, 3, 10, 11} and {5, 13}: lacks 2, 3
    // (device 0) and 13 (device 2). Device 2's 12, 13 read {6, 14}: lacks both (devices 1 and 3). Device 3's 14, 15
    // read {7, 15}: lacks 7 (device 1).
    expect(channelsReceived(plan)).toEqual({ pw1: [8, 8, 4, 4], pw2: [6, 6, 6, 6], shuffle: [2, 3, 2, 1] });
    const shuffle = plan.layers.find((l) => l.label === 'shuffle')!;
    expect(shuffle.devices.map((d) => d.received.map((t) => [t.from, t.ranges]))).toEqual([
      [[1, [[4, 5]]], [2, [[12, 13]]]],
      [[0, [[2, 4]]], [2, [[13, 14]]]],
      [[1, [[6, 7]]], [3, [[14, 15]]]],
      [[1, [[7, 8]]]],
    ]);
    // Before: keep 0/2/2/2, take 2/2/2/0, pw1 6 each, pw2 6 each, the Concat split afresh 2/4/4/2, the shuffle
    // (outputs [4d, 4d + 4)) 2/4/4/2: 18 + 24 + 24 + 18 = 84 channels.
    expect(total(plan)).toBe(56 * CH);
  });
});

describe("a grouped convolution's groups follow their input", () => {
  // The ShuffleNetV2 unit above, then a 3x3 depthwise conv (groups 16) on the shuffle's output, as the next
  // stride-2 unit's first branch has.
  const next = graphOf('unit-then-depthwise', 3, [
    conv('stem', 'input', 3, 16),
    slice('keep', 'stem', 0, 8),
    slice('take', 'stem', 8, 16),
    conv('pw1', 'take', 8, 8),
    relu('relu1', 'pw1'),
    conv('dw', 'relu1', 8, 8, { kernel: 3, groups: 8 }),
    conv('pw2', 'dw', 8, 8),
    relu('relu2', 'pw2'),
    concat('cat', ['keep', 'relu2']),
    node('shuffle', { kind: 'shuffle', groups: 2 }, ['cat']),
    conv('dw2', 'shuffle', 16, 16, { kernel: 3, groups: 16 }),
  ]);

  it('on 2 devices: 12 groups on device 0 and 4 on device 1, where the shuffle left their channels; nothing moves', () => {
    // The shuffle computes what cat holds: [0, 12) / [12, 16). 12 of 16 groups is 1.5x the even 8, not more.
    // Shared evenly instead, device 1's groups [8, 12) would fetch their 4 channels from device 0.
    const plan = planSplit(next, { devices: 2, inputShape: [3, 4, 4] });
    const dw2 = plan.layers.find((l) => l.label === 'dw2')!;
    expect(dw2.devices.map((d) => [d.outputRuns, d.groups, d.receivedBytes])).toEqual([[[[0, 12]], 12, 0], [[[12, 16]], 4, 0]]);
    // Device 0 holds 12 of the 16 rows of the weight (3x3 each), device 1 the other 4.
    expect(dw2.devices.map((d) => d.parameters)).toEqual([12 * 9, 4 * 9]);
  });

  it('on 4 devices: device 0 computes groups [0, 4) and [8, 10), in two runs', () => {
    const plan = planSplit(next, { devices: 4, inputShape: [3, 4, 4] });
    const dw2 = plan.layers.find((l) => l.label === 'dw2')!;
    expect(dw2.devices.map((d) => [d.outputRuns, d.outputs, d.groups, d.receivedBytes])).toEqual([
      [[[0, 4], [8, 10]], null, 6, 0],
      [[[4, 8], [10, 12]], null, 6, 0],
      [[[12, 14]], [12, 14], 2, 0],
      [[[14, 16]], [14, 16], 2, 0],
    ]);
  });
});

describe("a squeezenet fire module: Concat of two expand convs", () => {
  // squeeze 1x1 3 -> 4, ReLU; expand 1x1 4 -> 8 and expand 3x3 4 -> 8, each with a ReLU; Concat; the next
  // fire's squeeze (1x1 16 -> 4) reads every channel.
  const fire = graphOf('fire', 3, [
    conv('squeeze', 'input', 3, 4),
    relu('squeeze_relu', 'squeeze'),
    conv('expand1', 'squeeze_relu', 4, 8),
    relu('expand1_relu', 'expand1'),
    conv('expand3', 'squeeze_relu', 4, 8, { kernel: 3 }),
    relu('expand3_relu', 'expand3'),
    concat('cat', ['expand1_relu', 'expand3_relu']),
    conv('next', 'cat', 16, 4),
  ]);

  it('on 2 devices: the Concat keeps each expand half where it is; 768 B a device, from 1024', () => {
    const plan = planSplit(fire, { devices: 2, inputShape: [3, 4, 4] });
    // Each expand conv reads the other 2 of squeeze's 4 channels. cat holds expand1's [0, 4) and expand3's [0, 4)
    // (at 8) on device 0, the other halves on device 1: nothing moves, the load is even. next gathers the 8 it lacks.
    expect(runs(plan, 'cat')).toEqual([[[0, 4], [8, 12]], [[4, 8], [12, 16]]]);
    expect(channelsReceived(plan)).toEqual({ expand1: [2, 2], expand3: [2, 2], next: [8, 8] });
    // Before, the Concat split afresh (device 0 all of expand1) fetched 4 channels a device: 16 a device, now 12.
    expect([receivedTotal(plan, 0), receivedTotal(plan, 1)]).toEqual([12 * CH, 12 * CH]);
    // next's device 0 receives expand1's [4, 8) and expand3's [4, 8), as cat's channels [4, 8) and [12, 16).
    expect(plan.layers.find((l) => l.label === 'next')!.devices[0].received).toEqual([{ from: 1, value: 'cat', ranges: [[4, 8], [12, 16]], bytes: 8 * CH }]);
  });
});

describe('a Concat whose inputs are held unevenly', () => {
  // stem 1x1 3 -> 8 (device 0 [0, 4), device 1 [4, 8)); part = stem[0, 4), all on device 0; side 1x1 3 -> 2
  // (one channel a device); cat = Concat(part, side): device 0 [0, 4) + side's 0 at 4 = [0, 5), device 1 [5, 6).
  // Four layers read cat: a ReLU, a dense 1x1 conv (6 -> 2), a grouped 1x1 conv (groups 2, 3 channels each), an LRN of 5.
  const graph = graphOf('uneven', 3, [
    conv('stem', 'input', 3, 8),
    slice('part', 'stem', 0, 4),
    conv('side', 'input', 3, 2),
    concat('cat', ['part', 'side']),
    relu('relu', 'cat'),
    conv('dense', 'cat', 6, 2),
    conv('grouped', 'cat', 6, 2, { groups: 2 }),
    node('pool', { kind: 'maxpool', kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false }, ['relu']),
    node('lrn', { kind: 'lrn', size: 5, alpha: 1e-4, beta: 0.75, k: 2 }, ['cat']),
  ]);
  const plan = planSplit(graph, { devices: 2, inputShape: [3, 4, 4] });

  it('the Concat moves nothing and leaves device 0 with 5 of the 6 channels', () => {
    expect(runs(plan, 'cat')).toEqual([[[0, 5]], [[5, 6]]]);
    expect(plan.layers.find((l) => l.label === 'cat')!.devices.map((d) => [d.receivedBytes, d.outputs])).toEqual([[0, [0, 5]], [0, [5, 6]]]);
  });

  it(`the ReLU realigns it: 5 of 6 is ${(5 / 3).toFixed(2)}x the even share, past ${REALIGN_LOAD}x`, () => {
    // Even split [0, 3) / [3, 6): device 0 holds [0, 3) already, device 1 receives [3, 5) from device 0.
    const r = plan.layers.find((l) => l.label === 'relu')!;
    expect(r.collective).toBe('realign');
    expect(r.reason).toBe('its input cat is held unevenly (a device holds 5 of its 6 channels, 1.67x its even share, more than 1.5x), so it is realigned to the even split first');
    expect(r.devices.map((d) => [d.outputs, d.received.map((t) => [t.from, t.ranges])])).toEqual([[[0, 3], []], [[3, 6], [[0, [[3, 5]]]]]]);
    // The pool after it finds its input even and moves nothing.
    const pool = plan.layers.find((l) => l.label === 'pool')!;
    expect([pool.collective, pool.reason, ...pool.devices.map((d) => d.outputs)]).toEqual(['none', undefined, [0, 3], [3, 6]]);
    expect(formatPlan(plan)).toContain(`relu: ${r.reason}`);
  });

  it('an LRN realigns too, then reads its window: the realign is its collective', () => {
    // Even split again; device 1's [3, 6) reads the window [1, 6) and holds only [5, 6): [1, 5) from device 0.
    // Device 0's [0, 3) reads [0, 5), all held.
    const lrn = plan.layers.find((l) => l.label === 'lrn')!;
    expect([lrn.collective, lrn.reason !== undefined]).toEqual(['realign', true]);
    expect(lrn.devices.map((d) => d.received.map((t) => [t.from, t.ranges]))).toEqual([[], [[0, [[1, 5]]]]]);
  });

  it('a dense conv gathers what each device lacks of the runs; a grouped conv only the channels of its group', () => {
    // dense: device 0 holds 5 of 6 and lacks [5, 6); device 1 holds 1 and lacks [0, 5).
    // grouped: most of both groups' input is on device 0 (3 of [0, 3), 2 of [3, 6)); both there would be 2x the
    // even share, past REALIGN_LOAD, so the groups are shared evenly: device 0 computes group 0 (reads [0, 3),
    // held), device 1 group 1 (reads [3, 6), lacks [3, 5)).
    expect(channelsReceived(plan)).toEqual({ relu: [0, 2], dense: [1, 5], grouped: [0, 2], lrn: [0, 4] });
    expect(plan.layers.find((l) => l.label === 'dense')!.collective).toBe('all-gather');
  });
});
