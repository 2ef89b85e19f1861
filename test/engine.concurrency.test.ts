// Many calls in flight at once, from different callers, on one pool: each is right.
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, Random, dispose, sharedArena, type PartitionPolicy } from '../src/index.js';
import { singleThreadPlan } from './support/kernel-run.js';
import { randomConv, SMALL_CONVS } from './support/random-conv.js';
import { firstBitDifference } from './support/tensors.js';

const engine = new GroupedConvEngine({ workers: 3 });
afterAll(() => engine.close());

describe('concurrent calls', () => {
  it('runs 1,000 concurrent calls of mixed shapes (one-shot, prepared layers, policies), each bitwise right', async () => {
    const random = new Random(99);
    const specs = Array.from({ length: 24 }, () => randomConv(random, { ...SMALL_CONVS, size: [1, 7] }));
    const expected = specs.map(singleThreadPlan);
    const before = sharedArena().stats().liveBytes;
    const layers = specs.map((s) => engine.layer(s.weight, s.bias, s.options));

    const calls = Array.from({ length: 1000 }, (_, i) => {
      const k = random.int(0, specs.length - 1);
      const policy: PartitionPolicy = random.next() < 0.5 ? 'group' : 'balanced';
      const spec = specs[k];
      const result = i % 2 === 0 ? engine.conv2d(spec.input, spec.weight, spec.bias, { ...spec.options, policy }) : layers[k].run(spec.input, { policy });
      return result.then((output) => ({ k, i, output }));
    });
    const results = await Promise.all(calls);

    let wrong = 0;
    for (const { k, output } of results) {
      expect(output.shape).toEqual(expected[k].shape);
      if (firstBitDifference(output.data, expected[k].data) !== -1) wrong++;
      dispose(output);
    }
    expect(wrong).toBe(0);
    // Every call's input copy and cancel flag, the one-shot calls' weights and plans, and the layers' were returned.
    for (const layer of layers) layer.close();
    expect(sharedArena().stats().liveBytes).toBe(before);
  });
});
