// How runners take a chain's tasks (ProgramTable.claimReady): only a task
// whose images' task in the previous segment is done, the lowest segment
// first, so a runner never waits on images another runner still holds while
// other images are ready; -1 once every task is claimed or the run is
// cancelled. Driven on one thread through the table itself: each claim is a
// runner's, each markDone the end of a task.
import { describe, expect, it } from 'vitest';
import { SpinBudget } from '../src/engine/barrier-spin.js';
import { ProgramTable, taskLayoutOf, type ProgramDescription } from '../src/engine/program-table.js';

/** A program of one chain: `segments` segments, each over `runs` runs of one image. */
function chainTable(segments: number, runs: number): { table: ProgramTable; first: (segment: number) => number } {
  const runsOf = Array.from({ length: runs }, (_, r) => [r, r + 1]).flat();
  const description: ProgramDescription = {
    buffers: 1,
    stages: Array.from({ length: segments }, (_, s) => ({ kind: 'chain' as const, images: runs, members: [], runs: runsOf, continues: s > 0 })),
  };
  const layout = taskLayoutOf(description);
  const buffer = new SharedArrayBuffer(ProgramTable.bytes(segments, 1, layout));
  const table = new ProgramTable(buffer, 0, segments, 1, layout);
  return { table, first: (segment) => layout.first[segment] };
}

/** A task ends: counted in its segment, then marked done, as a runner does. */
function finish(table: ProgramTable, segment: number, task: number): void {
  table.finishedOne(segment);
  table.markDone(task);
}

describe('claiming a chain\'s ready tasks', () => {
  it('the first segment in order; then only tasks whose images are done in the previous segment, skipping those still held', () => {
    const { table, first } = chainTable(3, 4);
    const budget = new SpinBudget();
    const hint = { low: 0 };
    // Segment 0: every task is ready, taken in order by whichever runner asks.
    expect([0, 1, 0, 1].map((runner) => table.claimReady(0, 3, runner, budget, hint))).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2, 3].map((t) => table.claimedBy(t))).toEqual([0, 1, 0, 1]);
    // Runner 1 is done with image 1 while runner 0 still holds image 0: it takes image 1's next segment, not image 0's.
    finish(table, 0, first(0) + 1);
    expect(table.claimReady(0, 3, 1, budget, hint)).toBe(first(1) + 1);
    expect(hint.low).toBe(1); // every task of segment 0 is claimed
    finish(table, 1, first(1) + 1);
    expect(table.claimReady(0, 3, 1, budget, hint)).toBe(first(2) + 1);
    // Image 0 done: the lowest segment's ready task comes first (image 0's second segment before anything later).
    finish(table, 0, first(0) + 0);
    finish(table, 0, first(0) + 3);
    expect(table.claimReady(0, 3, 0, budget, hint)).toBe(first(1) + 0);
    expect(table.claimReady(0, 3, 0, budget, hint)).toBe(first(1) + 3);
    expect(table.claimedBy(first(1) + 0)).toBe(0);
    // Completed in order: segment 0's four tasks counted, so COMPLETED moved past it.
    expect(table.completed()).toBe(0); // runner 0 still holds task 2 of segment 0
    finish(table, 0, first(0) + 2);
    expect(table.completed()).toBe(1);
  });

  it('-1 once every task is claimed, whatever is still running', () => {
    const { table, first } = chainTable(2, 2);
    const budget = new SpinBudget();
    const hint = { low: 0 };
    expect(table.claimReady(0, 2, 0, budget, hint)).toBe(0);
    expect(table.claimReady(0, 2, 1, budget, hint)).toBe(1);
    finish(table, 0, 0);
    finish(table, 0, 1);
    expect(table.claimReady(0, 2, 0, budget, hint)).toBe(first(1));
    expect(table.claimReady(0, 2, 1, budget, hint)).toBe(first(1) + 1);
    expect(table.claimReady(0, 2, 0, budget, hint)).toBe(-1);
    expect(hint.low).toBe(2);
  });

  it('a cancelled run: -1 at once, also for a runner that would otherwise wait for a task held elsewhere', () => {
    const { table } = chainTable(2, 1);
    const budget = new SpinBudget();
    const hint = { low: 0 };
    expect(table.claimReady(0, 2, 0, budget, hint)).toBe(0);
    // Segment 1's only task waits for task 0, still running: a second runner would wait. Cancelled, it returns.
    table.cancel();
    expect(table.claimReady(0, 2, 1, budget, hint)).toBe(-1);
  });
});
