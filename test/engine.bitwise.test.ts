// Results never depend on the worker count or the policy: bit for bit what the
// same kernel computes on one thread.
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, Random, dispose, sharedArena, type PartitionPolicy } from '../src/index.js';
import { singleThreadPlan } from './support/kernel-run.js';
import { randomConv, randomConvOfShapes, SMALL_CONVS } from './support/random-conv.js';
import { firstBitDifference } from './support/tensors.js';

const engines = [1, 2, 3].flatMap((workers) => (['group', 'balanced'] as PartitionPolicy[]).map((policy) => new GroupedConvEngine({ workers, policy })));
afterAll(() => Promise.all(engines.map((e) => e.close())));

/** Fills every free byte of the shared arena (its free list and above its top) with NaNs, where the next calls' outputs and scratch go. */
function poisonFreeSharedMemory(): void {
  const arena = sharedArena();
  // The arena has no public view of its free space: read its fields (test only).
  const { freeList, top } = arena as unknown as { freeList: Array<{ offset: number; bytes: number }>; top: number };
  const nan = (byteOffset: number, bytes: number) => new Float32Array(arena.buffer, byteOffset, bytes >> 2).fill(Number.NaN);
  for (const block of freeList) nan(block.offset, block.bytes);
  nan(top, Math.min(arena.buffer.byteLength - top, 64 << 20));
}

describe('engine vs the kernel on one thread', () => {
  it('is bitwise identical on 60 random specifications, at 1-3 workers under both policies', async () => {
    const random = new Random(2024);
    for (let trial = 0; trial < 60; trial++) {
      const spec = randomConv(random, SMALL_CONVS);
      const expected = singleThreadPlan(spec);
      const results = await Promise.all(engines.map((e) => e.conv2d(spec.input, spec.weight, spec.bias, spec.options)));
      results.forEach((got, i) => {
        const where = `trial ${trial}, engine ${i} (${engines[i].workers} workers, ${engines[i].policy}), options ${JSON.stringify(spec.options)}, input ${JSON.stringify(spec.input.shape)}`;
        expect(got.shape, where).toEqual(expected.shape);
        expect(firstBitDifference(got.data, expected.data), where).toBe(-1);
      });
    }
  });

  it('splits a larger grouped convolution across images, channels and groups with the same bits', async () => {
    const random = new Random(5);
    // groups 2, batch 5: balanced cuts it differently at 2 and 3 workers (groups, then channels).
    const big = randomConvOfShapes(random, [5, 8, 12, 12], [12, 4, 3, 3], { groups: 2, padding: 1 });
    const expected = singleThreadPlan(big);
    for (const engine of engines) {
      const { output, profile } = await engine.conv2dProfiled(big.input, big.weight, big.bias, big.options);
      expect(firstBitDifference(output.data, expected.data)).toBe(-1);
      expect(profile.tasks.length).toBe(engine.policy === 'group' ? 2 : engine.workers === 1 ? 1 : engine.workers);
    }
  });

  it('gives the same bits when balanced over-decomposes, each runner claiming several tasks', async () => {
    const random = new Random(6);
    // 6 images, groups 2, 32x32, 14.2M MACs: balanced makes one task per image at 2 and 3 workers.
    const big = randomConvOfShapes(random, [6, 16, 32, 32], [32, 8, 3, 3], { groups: 2, padding: 1 });
    const expected = singleThreadPlan(big);
    for (const engine of engines) {
      const { output, profile } = await engine.conv2dProfiled(big.input, big.weight, big.bias, big.options);
      expect(firstBitDifference(output.data, expected.data)).toBe(-1);
      const slices = profile.tasks.map((t) => [t.batchStart, t.batchEnd, t.outChannelStart, t.outChannelEnd]);
      if (engine.policy === 'group') expect(slices).toEqual([[0, 6, 0, 16], [0, 6, 16, 32]]);
      else if (engine.workers === 1) expect(slices).toEqual([[0, 6, 0, 32]]);
      else expect(slices).toEqual(Array.from({ length: 6 }, (_, n) => [n, n + 1, 0, 32]));
      expect(profile.threads.reduce((sum, th) => sum + th.tasks, 0)).toBe(slices.length);
    }
  });

  it('does not depend on what freed shared memory held (outputs and scratch are not zero-filled)', async () => {
    const random = new Random(77);
    for (let trial = 0; trial < 8; trial++) {
      const spec = randomConv(random, SMALL_CONVS);
      const expected = singleThreadPlan(spec);
      poisonFreeSharedMemory();
      const results = await Promise.all(engines.map((e) => e.conv2d(spec.input, spec.weight, spec.bias, spec.options)));
      results.forEach((got, i) => expect(firstBitDifference(got.data, expected.data), `trial ${trial}, engine ${i}`).toBe(-1));
      dispose(...results);
    }
  });
});
