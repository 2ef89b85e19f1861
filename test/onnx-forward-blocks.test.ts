// forwardWith's values live in one arena block per forward, and the views of
// a block's slots are kept for the next forward given the same block
// (engine-run.ts, valuesInBlock). Forwards whose block lands elsewhere (other
// allocations in between) and forwards in flight together, each in its own
// block, must still give `forward`'s bits, every one with its own input.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, loadOnnx, loadSafetensors, sharedArena, type Tensor } from '../src/index.js';
import { CASES, FIXTURES } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';

const engines = [1, 2].map((workers) => new GroupedConvEngine({ workers }));
afterAll(() => Promise.all(engines.map((e) => e.close())));

/** `base` with every value scaled by `k`: a different input of the same shape. */
const scaled = (base: Tensor, k: number): Tensor => ({ shape: base.shape, data: base.data.map((v) => v * k) }) as Tensor;

describe('forwards in blocks of their own', () => {
  for (const id of ['shufflenet_v2', 'efficientnet_like']) {
    it(`${id}: blocks that move between forwards, and three forwards at once, give forward's bits`, async () => {
      const c = CASES.find((k) => k.id === id)!;
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input } = loadSafetensors(join(FIXTURES, c.io));
      const inputs = [1, -0.5, 2].map((k) => scaled(input, k));
      const expected = inputs.map((x) => model.forward(x));
      for (const engine of engines) {
        const arena = sharedArena();
        const held: Float32Array[] = [];
        try {
          for (let round = 0; round < 6; round++) {
            const x = inputs[round % 3];
            const got = await model.forwardWith(engine, x);
            expect(firstBitDifference(got.data, expected[round % 3].data), `round ${round}, ${engine.workers} workers`).toBe(-1);
            // An allocation that outlives the forward: the next forward's block goes elsewhere (or, freed, comes back).
            if (round % 2 === 0) held.push(arena.allocateFloat32(1024 * (round + 1)));
            else arena.release(held.shift()!);
          }
        } finally {
          for (const h of held) arena.release(h);
        }
        const together = await Promise.all(inputs.map((x) => model.forwardWith(engine, x)));
        together.forEach((got, i) => expect(firstBitDifference(got.data, expected[i].data), `together ${i}, ${engine.workers} workers`).toBe(-1));
      }
      model.close();
    });
  }
});
