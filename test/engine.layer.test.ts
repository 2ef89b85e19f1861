// Prepared layers (weights placed in shared memory once), `out`, and profiles.
import { afterAll, describe, expect, it } from 'vitest';
import { Conv2d, GroupedConvEngine, Random, conv2d, dispose, isShared, sharedArena, zeros } from '../src/index.js';
import { singleThreadPlan } from './support/kernel-run.js';
import { firstBitDifference, randomTensor } from './support/tensors.js';

const random = new Random(7);
const engine = new GroupedConvEngine({ workers: 2 });
afterAll(() => engine.close());

const weight = randomTensor(random, [16, 4, 3, 3]);
const bias = randomTensor(random, [16]);
const options = { groups: 2, padding: 1, stride: 1 };

describe('prepared layers', () => {
  it('copies the weights into shared memory once and runs any input shape, unbatched too', async () => {
    const layer = engine.layer(weight, bias, options);
    expect(isShared(layer.weight)).toBe(true);
    expect(layer.weight).not.toBe(weight);
    expect(layer.weight.data).toEqual(weight.data);
    for (const shape of [[3, 8, 10, 10], [1, 8, 5, 7], [8, 6, 6], [3, 8, 10, 10]]) {
      const input = randomTensor(random, shape);
      const output = await layer.run(input);
      expect(isShared(output)).toBe(true);
      const expected = singleThreadPlan({ input, weight, bias, options });
      expect(output.shape).toEqual(expected.shape);
      expect(firstBitDifference(output.data, expected.data)).toBe(-1);
      dispose(output);
    }
    layer.close();
    await expect(layer.run(randomTensor(random, [1, 8, 4, 4]))).rejects.toThrow(/layer was closed/);
  });

  it('frees its shared memory on close, once the runs in flight finish', async () => {
    const before = sharedArena().stats().liveBytes;
    const layer = engine.layer(weight, bias, options);
    expect(sharedArena().stats().liveBytes).toBeGreaterThan(before);
    const input = zeros([2, 8, 9, 9], { shared: true });
    const inFlight = layer.run(input);
    layer.close(); // while the run is in flight: it still completes
    const output = await inFlight;
    expect(firstBitDifference(output.data, singleThreadPlan({ input, weight, bias, options }).data)).toBe(-1);
    dispose(output, input);
    expect(sharedArena().stats().liveBytes).toBe(before);
  });

  it('uses shared weights in place, without a copy', () => {
    const shared = zeros(weight.shape, { shared: true });
    const layer = engine.layer(shared, null, options);
    expect(layer.weight).toBe(shared);
    layer.close();
    expect(isShared(shared)).toBe(true);
    expect(sharedArena().release(shared.data)).toBe(true); // still ours to free: close() did not free it
  });

  it('checks weights, bias and options when prepared', () => {
    expect(() => engine.layer(randomTensor(random, [15, 4, 3, 3]), null, { groups: 2 })).toThrow(/15 channels are not divisible by groups=2/);
    expect(() => engine.layer(weight, randomTensor(random, [8]), options)).toThrow(/bias/);
    expect(() => engine.layer(weight, bias, { groups: 2, paddin: 1 } as never)).toThrow(/unknown option 'paddin'/);
  });
});

describe('as a ConvRunner', () => {
  it('runs a Conv2d layer through the engine with the same result as on one thread', async () => {
    const layer = new Conv2d({ inChannels: 8, outChannels: 12, kernelSize: 3, padding: 1, groups: 4, seed: 3 });
    const input = randomTensor(random, [2, 8, 7, 7]);
    const output = await layer.forwardWith(engine, input);
    expect(firstBitDifference(output.data, conv2d(input, layer.weight, layer.bias, layer.options).data)).toBe(-1);
  });
});

describe('out', () => {
  it('writes into a caller-provided shared tensor, overwriting what was there', async () => {
    const layer = engine.layer(weight, bias, options);
    const input = randomTensor(random, [2, 8, 6, 6]);
    const out = zeros([2, 16, 6, 6], { shared: true });
    out.data.fill(Number.NaN);
    for (let i = 0; i < 3; i++) {
      const result = await layer.run(input, { out });
      expect(result).toBe(out);
    }
    expect(firstBitDifference(out.data, singleThreadPlan({ input, weight, bias, options }).data)).toBe(-1);
    layer.close();
    dispose(out);
  });
});

describe('profile', () => {
  it('reports every task with its slice, thread and times, and consistent per-call figures', async () => {
    const input = randomTensor(random, [4, 8, 12, 12]);
    for (const policy of ['group', 'balanced'] as const) {
      const { output, profile } = await engine.conv2dProfiled(input, weight, bias, { ...options, policy });
      expect(firstBitDifference(output.data, singleThreadPlan({ input, weight, bias, options }).data)).toBe(-1);
      expect(profile.policy).toBe(policy);
      expect(profile.workers).toBe(2);
      expect(profile.groups).toBe(2);
      expect(profile.flops).toBe(2 * 4 * 16 * 144 * 4 * 9);
      expect(profile.tasks.map((t) => [t.groupStart, t.groupEnd, t.outChannelStart, t.outChannelEnd, t.batchStart, t.batchEnd])).toEqual([
        [0, 1, 0, 8, 0, 4],
        [1, 2, 8, 16, 0, 4],
      ]);
      for (const t of profile.tasks) {
        expect(t.queueWaitMs).toBeGreaterThanOrEqual(0);
        expect(t.computeMs).toBeCloseTo(t.endMs - t.startMs, 9);
        expect(t.startMs).toBeGreaterThanOrEqual(0);
        expect(t.endMs).toBeLessThanOrEqual(profile.wallMs + 1e-6);
        expect(t.threadId).toBeGreaterThan(0);
      }
      const busy = profile.threads.map((th) => th.busyMs);
      expect(profile.threads.reduce((s, th) => s + th.tasks, 0)).toBe(2);
      expect(busy.reduce((a, b) => a + b, 0)).toBeCloseTo(profile.tasks.reduce((s, t) => s + t.computeMs, 0), 9);
      expect(profile.dispatchOverheadMs).toBeCloseTo(profile.wallMs - Math.max(...busy), 9);
      expect(profile.imbalance).toBeCloseTo(Math.max(...busy) / (busy.reduce((a, b) => a + b, 0) / 2), 9);
      // Each task is exactly one group here, so the time per group is the task's compute time.
      expect(profile.perGroupMs).toEqual(profile.tasks.map((t) => t.computeMs));
      expect(profile.setupMs).toBeGreaterThanOrEqual(0);
      dispose(output);
    }
  });

  it('shares a task that spans groups among them by output channels', async () => {
    const e = new GroupedConvEngine({ workers: 3, policy: 'balanced' });
    try {
      // groups 2, 16 output channels on 3 workers: channel runs [0,6) [6,11) [11,16).
      const { profile, output } = await e.conv2dProfiled(randomTensor(random, [1, 8, 6, 6]), weight, null, options);
      expect(profile.tasks.map((t) => [t.outChannelStart, t.outChannelEnd, t.groupStart, t.groupEnd])).toEqual([
        [0, 6, 0, 1],
        [6, 11, 0, 2],
        [11, 16, 1, 2],
      ]);
      const [a, b, c] = profile.tasks.map((t) => t.computeMs);
      expect(profile.perGroupMs[0]).toBeCloseTo(a + (b * 2) / 5, 9);
      expect(profile.perGroupMs[1]).toBeCloseTo((b * 3) / 5 + c, 9);
      dispose(output);
    } finally {
      await e.close();
    }
  });
});
