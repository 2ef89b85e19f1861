import { describe, expect, it } from 'vitest';
import { resolveShapes, type ConvGeometry } from '../src/conv/geometry.js';
import { evenRuns, MIN_TASK_MACS, partitionConv, partitionImbalance, TASKS_PER_WORKER, type ConvTask, type PartitionPolicy } from '../src/scheduler/conv-tasks.js';
import { Random } from '../src/random.js';

function geometry(batch: number, inChannels: number, outChannels: number, groups: number, size = 8, kernel = 3): ConvGeometry {
  return resolveShapes([batch, inChannels, size, size], [outChannels, inChannels / groups, kernel, kernel], null, { groups, padding: 1 }).geometry;
}

/** Counts how many tasks write each (image, output channel) cell: must be exactly one everywhere. */
function coverage(g: ConvGeometry, tasks: ConvTask[]): Uint32Array {
  const counts = new Uint32Array(g.batch * g.outChannels);
  for (const t of tasks) {
    for (let n = t.batchStart; n < t.batchEnd; n++) for (let c = t.outChannelStart; c < t.outChannelEnd; c++) counts[n * g.outChannels + c]++;
  }
  return counts;
}

function checkTasks(g: ConvGeometry, tasks: ConvTask[]): void {
  expect([...coverage(g, tasks)].every((c) => c === 1)).toBe(true);
  tasks.forEach((t, i) => {
    expect(t.index).toBe(i);
    expect(t.batchEnd).toBeGreaterThan(t.batchStart);
    expect(t.outChannelEnd).toBeGreaterThan(t.outChannelStart);
    // The group range is exactly the groups the channels belong to.
    expect(t.groupStart).toBe(Math.floor(t.outChannelStart / g.outChannelsPerGroup));
    expect(t.groupEnd).toBe(Math.floor((t.outChannelEnd - 1) / g.outChannelsPerGroup) + 1);
    expect(t.macs).toBe((t.batchEnd - t.batchStart) * (t.outChannelEnd - t.outChannelStart) * g.outHeight * g.outWidth * g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth);
  });
  const total = tasks.reduce((s, t) => s + t.macs, 0);
  expect(total).toBe(g.batch * g.outChannels * g.outHeight * g.outWidth * g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth);
}

describe('evenRuns', () => {
  it('splits into runs differing by at most one, larger first, dropping empty runs', () => {
    expect(evenRuns(7, 3)).toEqual([[0, 3], [3, 5], [5, 7]]);
    expect(evenRuns(2, 3)).toEqual([[0, 1], [1, 2]]);
    expect(evenRuns(6, 2)).toEqual([[0, 3], [3, 6]]);
  });
});

describe("policy 'group'", () => {
  it('makes one task per group, each a whole group over the whole batch, whatever the worker count', () => {
    const g = geometry(8, 96, 256, 2, 27, 5);
    for (const workers of [1, 2, 3]) {
      const tasks = partitionConv(g, 'group', workers);
      expect(tasks.map((t) => [t.groupStart, t.groupEnd, t.outChannelStart, t.outChannelEnd, t.batchStart, t.batchEnd])).toEqual([
        [0, 1, 0, 128, 0, 8],
        [1, 2, 128, 256, 0, 8],
      ]);
      checkTasks(g, tasks);
    }
  });
});

describe("policy 'balanced'", () => {
  it('over-decomposes AlexNet conv2 (batch 8, groups 2) on 2 workers into one task per image, splitting no group', () => {
    const g = geometry(8, 96, 256, 2, 27, 5);
    const tasks = partitionConv(g, 'balanced', 2);
    expect(tasks.map((t) => [t.batchStart, t.batchEnd, t.outChannelStart, t.outChannelEnd])).toEqual(
      Array.from({ length: 8 }, (_, n) => [n, n + 1, 0, 256]),
    );
    expect(partitionImbalance(tasks, 2)).toBe(1);
    checkTasks(g, tasks);
  });

  it('cuts groups into runs of whole 4-channel blocks when images and groups are too few (AlexNet conv2, batch 1)', () => {
    const g = geometry(1, 96, 256, 2, 27, 5);
    const tasks = partitionConv(g, 'balanced', 2);
    // 32 blocks per group in runs of 11, 11, 10 blocks; the 40-channel runs go last (largest first).
    expect(tasks.map((t) => [t.outChannelStart, t.outChannelEnd, t.groupStart, t.groupEnd])).toEqual([
      [0, 44, 0, 1],
      [44, 88, 0, 1],
      [128, 172, 1, 2],
      [172, 216, 1, 2],
      [88, 128, 0, 1],
      [216, 256, 1, 2],
    ]);
    expect(partitionImbalance(tasks, 2)).toBe(1);
    checkTasks(g, tasks);
  });

  it('lists tasks of unequal size largest first (groups 2, batch 8 on 3 workers)', () => {
    const g = geometry(8, 96, 256, 2, 27, 5);
    const tasks = partitionConv(g, 'balanced', 3);
    // Images in runs of 3, 3, 2; each group in two 64-channel halves (16 images x groups do not split in 3).
    const halves = [0, 64, 128, 192].map((c) => [c, c + 64]);
    expect(tasks.map((t) => [t.batchStart, t.batchEnd, t.outChannelStart, t.outChannelEnd])).toEqual(
      [[0, 3], [3, 6], [6, 8]].flatMap(([b0, b1]) => halves.map(([c0, c1]) => [b0, b1, c0, c1])),
    );
    // Largest first onto the least loaded of 3 workers: 704, 704 and 640 image-channels of 2048.
    expect(partitionImbalance(tasks, 3)).toBe(704 / (2048 / 3));
    checkTasks(g, tasks);
  });

  it('puts a run of two images first when 8 images make 7 tasks (depthwise, 14.5M MACs: 7 tasks of at least MIN_TASK_MACS on average)', () => {
    const g = geometry(8, 256, 256, 256, 28);
    expect(MIN_TASK_MACS).toBe(2_000_000);
    const tasks = partitionConv(g, 'balanced', 2);
    expect(tasks.map((t) => [t.batchStart, t.batchEnd, t.groupStart, t.groupEnd])).toEqual([
      [0, 2, 0, 256],
      ...Array.from({ length: 6 }, (_, i) => [i + 2, i + 3, 0, 256]),
    ]);
    expect(tasks[0].macs).toBe(2 * 256 * 28 * 28 * 9);
  });

  it('stops cutting a group into channel runs where the re-copied input would cost more than 2%', () => {
    // groups 1, one image, 64 channels 3x3 on 56x56: each extra run copies 64 x 58 x 58 padded floats again,
    // so 4 runs (3 extra copies) are allowed and 6 are not.
    const g = geometry(1, 64, 64, 1, 56);
    const tasks = partitionConv(g, 'balanced', 2);
    expect(tasks.map((t) => [t.outChannelStart, t.outChannelEnd])).toEqual([
      [0, 16],
      [16, 32],
      [32, 48],
      [48, 64],
    ]);
  });

  it('keeps one task per worker below (workers + 1) x MIN_TASK_MACS on average, over-decomposing just above', () => {
    const below = geometry(8, 16, 32, 1, 14); // 7,225,344 MACs: at most 3 tasks, and 8 images do not balance in 3
    expect(partitionConv(below, 'balanced', 2).map((t) => [t.batchStart, t.batchEnd])).toEqual([
      [0, 4],
      [4, 8],
    ]);
    const above = geometry(8, 16, 32, 1, 16); // 9,437,184 MACs: 4 tasks of 2 images
    expect(partitionConv(above, 'balanced', 2).map((t) => [t.batchStart, t.batchEnd])).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
      [6, 8],
    ]);
  });

  it('runs of whole groups when groups outnumber workers evenly (ResNeXt 32 groups on 2 workers)', () => {
    const g = geometry(2, 128, 128, 32);
    const tasks = partitionConv(g, 'balanced', 2);
    expect(tasks.map((t) => [t.groupStart, t.groupEnd])).toEqual([
      [0, 16],
      [16, 32],
    ]);
    checkTasks(g, tasks);
  });

  it('splits a single group (groups=1) by batch when the batch divides evenly', () => {
    const g = geometry(8, 16, 32, 1);
    const tasks = partitionConv(g, 'balanced', 2);
    expect(tasks.map((t) => [t.batchStart, t.batchEnd, t.outChannelStart, t.outChannelEnd])).toEqual([
      [0, 4, 0, 32],
      [4, 8, 0, 32],
    ]);
  });

  it('splits a small convolution by output channels when neither groups nor images divide evenly (groups 2 on 3 workers)', () => {
    const g = geometry(8, 96, 256, 2, 4, 1); // 3.5M MACs: one task per worker
    const tasks = partitionConv(g, 'balanced', 3);
    expect(tasks.map((t) => [t.outChannelStart, t.outChannelEnd, t.groupStart, t.groupEnd])).toEqual([
      [0, 86, 0, 1],
      [86, 171, 0, 2],
      [171, 256, 1, 2],
    ]);
    expect(partitionImbalance(tasks, 3)).toBeCloseTo(86 / (256 / 3), 10);
  });

  it('splits a single image of a single group by output channels', () => {
    const g = geometry(1, 8, 10, 1);
    const tasks = partitionConv(g, 'balanced', 2);
    expect(tasks.map((t) => [t.outChannelStart, t.outChannelEnd])).toEqual([
      [0, 5],
      [5, 10],
    ]);
  });

  it('uses a single task on a single worker', () => {
    const g = geometry(4, 64, 64, 8);
    expect(partitionConv(g, 'balanced', 1).map((t) => [t.groupStart, t.groupEnd, t.batchStart, t.batchEnd])).toEqual([[0, 8, 0, 4]]);
  });

  it('covers the output exactly once and balances FLOPs on random geometries', () => {
    const random = new Random(3);
    for (let trial = 0; trial < 400; trial++) {
      const groups = random.int(1, 6);
      const g = geometry(random.int(1, 5), groups * random.int(1, 3), groups * random.int(1, 5), groups, random.int(1, 6));
      const workers = random.int(1, 4);
      for (const policy of ['group', 'balanced'] as PartitionPolicy[]) checkTasks(g, partitionConv(g, policy, workers));
      const balanced = partitionConv(g, 'balanced', workers);
      // Balanced never does worse than one task per group, and is within 5% of perfect whenever a whole-group,
      // whole-image or whole-channel split allows it.
      expect(partitionImbalance(balanced, workers)).toBeLessThanOrEqual(partitionImbalance(partitionConv(g, 'group', workers), workers) + 1e-12);
      const canBalance = [g.groups, g.batch, g.outChannels].some((n) => n >= workers && Math.ceil(n / workers) / (n / workers) <= 1.05);
      if (canBalance) expect(partitionImbalance(balanced, workers)).toBeLessThanOrEqual(1.05);
    }
  });

  it('over-decomposes large random geometries into balanced, block-aligned tasks, largest first', () => {
    const random = new Random(11);
    let overDecomposed = 0;
    for (let trial = 0; trial < 300; trial++) {
      const groups = [1, 2, 3, 4, 8, 32][random.int(0, 5)];
      const g = geometry(random.int(1, 9), groups * random.int(1, 16), groups * random.int(1, 24), groups, random.int(4, 40), [1, 3, 5][random.int(0, 2)]);
      const workers = random.int(2, 4);
      const tasks = partitionConv(g, 'balanced', workers);
      checkTasks(g, tasks);
      const total = tasks.reduce((s, t) => s + t.macs, 0);
      expect(tasks.length).toBeLessThanOrEqual(Math.max(workers, TASKS_PER_WORKER * workers));
      // Smaller convolutions keep the one-task-per-worker split (its grid may give a few more cells).
      if (total < (workers + 1) * MIN_TASK_MACS || tasks.length <= workers) continue;
      overDecomposed++;
      expect(total / tasks.length).toBeGreaterThanOrEqual(MIN_TASK_MACS);
      expect(partitionImbalance(tasks, workers)).toBeLessThanOrEqual(1.05);
      for (let i = 1; i < tasks.length; i++) expect(tasks[i].macs).toBeLessThanOrEqual(tasks[i - 1].macs);
      const perGroup = g.outChannelsPerGroup;
      for (const t of tasks) {
        const wholeGroups = t.outChannelStart % perGroup === 0 && t.outChannelEnd % perGroup === 0;
        if (wholeGroups) continue;
        // A part of one group: starts on a 4-channel block and is whole blocks, or ends the group.
        expect(t.groupEnd - t.groupStart).toBe(1);
        const start = t.outChannelStart - t.groupStart * perGroup;
        const end = t.outChannelEnd - t.groupStart * perGroup;
        expect(start % 4).toBe(0);
        expect(end % 4 === 0 || end === perGroup).toBe(true);
      }
    }
    expect(overDecomposed).toBeGreaterThan(60); // the test does exercise over-decomposition (90 of 300 with this seed)
  });

  it('has no tasks for an empty output', () => {
    expect(partitionConv(geometry(0, 4, 4, 2), 'balanced', 2)).toEqual([]);
  });

  it('rejects an unknown policy or worker count', () => {
    const g = geometry(1, 4, 4, 2);
    expect(() => partitionConv(g, 'round-robin' as PartitionPolicy, 2)).toThrow(/policy/);
    expect(() => partitionConv(g, 'group', 0)).toThrow(/workers/);
  });
});
