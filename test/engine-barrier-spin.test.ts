// A program's barrier spin (src/engine/barrier-spin.ts): the budget doubles
// when the barrier opens while spinning, up to its most, and goes back to the
// least when it does not; programs of many small stages keep their order and bits at 1, 2 and 3
// workers whatever the budget has learnt; each stage reports its tasks' times.
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, sharedArena } from '../src/index.js';
import { MAX_SPIN_US, MIN_SPIN_US, SpinBudget } from '../src/engine/barrier-spin.js';
import { unaryOp } from '../src/kernels/ranged/unary.js';
import { Random } from '../src/random.js';
import { firstBitDifference, randomTensor } from './support/tensors.js';

const engines: GroupedConvEngine[] = [];
afterAll(() => Promise.all(engines.map((e) => e.close())));

describe('SpinBudget', () => {
  it('starts at the least spin and doubles, up to the most, each time the barrier opens while it spins', () => {
    const budget = new SpinBudget();
    expect(budget.microseconds).toBe(MIN_SPIN_US);
    let seen = 0;
    expect(budget.spin(() => ++seen === 3)).toBe(true);
    expect(seen).toBe(3);
    expect(budget.microseconds).toBe(2 * MIN_SPIN_US);
    for (let i = 0; i < 20; i++) budget.spin(() => true);
    expect(budget.microseconds).toBe(MAX_SPIN_US);
  });

  it('gives up when nothing moves within the budget and goes back to the least spin', () => {
    const budget = new SpinBudget();
    for (let i = 0; i < 20; i++) budget.spin(() => true);
    let loads = 0;
    expect(
      budget.spin(() => {
        loads++;
        return false;
      }),
    ).toBe(false);
    expect(loads).toBeGreaterThan(0);
    expect(budget.microseconds).toBe(MIN_SPIN_US);
    budget.spin(() => false);
    expect(budget.microseconds).toBe(MIN_SPIN_US);
  });
});

describe('a program of many small stages', () => {
  const random = new Random(7);
  // Large enough to be cut into several tasks per stage (cutRanged: 32K element operations each at least).
  const floats = 8 * 32_768 + 17;
  const x = randomTensor(random, [floats]);
  // 61 negations, ping-ponging between two buffers, then a relu: relu(-x), bit for bit,
  // only if every stage read what the one before it wrote.
  const negations = 61;
  const want = x.data.map((v) => Math.max(0, -v));
  const stages = [
    ...Array.from({ length: negations }, (_, i) => ({ kind: 'ranged' as const, label: `neg ${i}`, op: unaryOp('neg', floats, {}), inputs: [i % 2], outputs: [1 - (i % 2)] })),
    { kind: 'ranged' as const, label: 'relu', op: unaryOp('relu', floats, {}), inputs: [negations % 2], outputs: [1 - (negations % 2)] },
  ];
  const resultBuffer = 1 - (negations % 2);

  for (const workers of [1, 2, 3]) {
    it(`keeps every barrier on ${workers} worker(s), run after run, and reports each task's time`, async () => {
      const e = new GroupedConvEngine({ workers });
      engines.push(e);
      const program = e.program(stages, [floats, floats]);
      const arena = sharedArena();
      // On several workers the first runs go both of the program's ways (mode-choice.ts: each way's first
      // run, then the cut's trial block): at least half are cut for every runner, with a barrier the
      // runners meet after each stage.
      let staged = 0;
      for (let round = 0; round < 8; round++) {
        const buffers = [arena.allocateFloat32(floats), arena.allocateFloat32(floats)];
        buffers[0].set(x.data);
        const profile = (await program.run(buffers, { profile: true }))!;
        expect(firstBitDifference(buffers[resultBuffer], want)).toBe(-1);
        if (program.lastRunMode === 'staged') {
          staged++;
          expect(profile.stages[0].tasks).toBeGreaterThan(1);
        }
        for (const s of profile.stages) {
          expect(s.taskMs).toHaveLength(s.tasks);
          expect(s.taskMs.every((ms) => ms >= 0)).toBe(true);
          expect(s.taskMs.reduce((sum, ms) => sum + ms, 0)).toBeCloseTo(s.totalBusyMs, 9);
          // Each task's thread, and per thread its tasks' count, as the threads' profiles say.
          expect(s.taskThreads).toHaveLength(s.tasks);
          for (const t of s.threads) expect(s.taskThreads.filter((id) => id === t.threadId)).toHaveLength(t.tasks);
        }
        buffers.forEach((b) => arena.release(b));
      }
      expect(staged).toBeGreaterThanOrEqual(workers === 1 ? 8 : 4);
      program.close();
    });
  }
});
