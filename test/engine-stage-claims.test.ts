// How runners take a stage's tasks (ProgramTable.claim): even runners from
// the front, odd ones from the back, so on two runners each keeps to one end of
// every stage; every task is claimed exactly once, whoever asks and in any
// order, and -1 once none is left. A stage of more tasks than the claim word
// holds per end is claimed from the front by every runner. Driven on one
// thread through the table itself: each claim is a runner's.
import { describe, expect, it } from 'vitest';
import { MAX_TWO_ENDED_TASKS, ProgramTable, taskLayoutOf, type ProgramDescription } from '../src/engine/program-table.js';

/** A program of ranged stages with `counts[s]` tasks each (the op is never run: only the table is). */
function stagesTable(counts: number[]): { table: ProgramTable; first: (stage: number) => number } {
  const description = {
    buffers: 1,
    stages: counts.map((n) => ({ kind: 'ranged' as const, op: null, inputs: [0], outputs: [0], ranges: Array.from({ length: n }, (_, i) => [i, i + 1]).flat() })),
  } as unknown as ProgramDescription;
  const layout = taskLayoutOf(description);
  const buffer = new SharedArrayBuffer(ProgramTable.bytes(counts.length, 1, layout));
  const table = new ProgramTable(buffer, 0, counts.length, 1, layout);
  return { table, first: (stage) => layout.first[stage] };
}

describe('claiming a stage\'s tasks', () => {
  it('runner 0 from the front, runner 1 from the back, until they meet', () => {
    const { table, first } = stagesTable([3, 6]);
    const at = first(1);
    // Stage 1's six tasks, the runners asking in turn: 0 takes 0, 1, 2; 1 takes 5, 4, 3.
    const claims = [0, 1, 0, 1, 0, 1].map((runner) => table.claim(1, runner) - at);
    expect(claims).toEqual([0, 5, 1, 4, 2, 3]);
    expect([0, 1, 2, 3, 4, 5].map((t) => table.claimedBy(at + t))).toEqual([0, 0, 0, 1, 1, 1]);
    expect(table.claim(1, 0)).toBe(-1);
    expect(table.claim(1, 1)).toBe(-1);
    // Stage 0 is untouched by stage 1's claims.
    expect(table.claim(0, 1) - first(0)).toBe(2);
  });

  it('a runner alone takes every task from its own end; each is claimed once', () => {
    const { table, first } = stagesTable([4, 5]);
    expect([0, 0, 0, 0, 0].map(() => table.claim(0, 1) - first(0))).toEqual([3, 2, 1, 0, -1 - first(0)]);
    // Runner 1 takes two from the back, then runner 0 the rest from the front.
    const taken = [1, 1, 0, 0, 0, 0, 1].map((runner) => table.claim(1, runner));
    expect(taken.map((t) => (t < 0 ? t : t - first(1)))).toEqual([4, 3, 0, 1, 2, -1, -1]);
  });

  it('odd runners from the back and even ones from the front, on more than two', () => {
    const { table, first } = stagesTable([7]);
    const claims = [0, 1, 2, 3, 0, 1, 2, 3].map((runner) => table.claim(0, runner) - first(0));
    expect(claims.slice(0, 7)).toEqual([0, 6, 1, 5, 2, 4, 3]);
    expect(table.claim(0, 3)).toBe(-1);
    expect([0, 1, 2, 3, 4, 5, 6].map((t) => table.claimedBy(first(0) + t))).toEqual([0, 2, 0, 2, 1, 3, 1]);
  });

  it(`a stage of more than ${MAX_TWO_ENDED_TASKS} tasks is claimed from the front by every runner, each task once`, () => {
    const n = MAX_TWO_ENDED_TASKS + 3;
    const { table } = stagesTable([n]);
    const seen = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const task = table.claim(0, i % 2);
      expect(task).toBe(i);
      seen[task]++;
    }
    expect(table.claim(0, 0)).toBe(-1);
    expect(table.claim(0, 1)).toBe(-1);
    expect(seen.every((c) => c === 1)).toBe(true);
  });

  it('at the largest two-ended stage, the two ends meet exactly', () => {
    const n = MAX_TWO_ENDED_TASKS;
    const { table } = stagesTable([n]);
    const seen = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const runner = i < n - 5 ? 1 : 0; // the back end takes all but five
      const task = table.claim(0, runner);
      expect(task).toBe(runner === 1 ? n - 1 - i : i - (n - 5));
      seen[task]++;
    }
    expect(table.claim(0, 0)).toBe(-1);
    expect(table.claim(0, 1)).toBe(-1);
    expect(seen.every((c) => c === 1)).toBe(true);
  });
});
