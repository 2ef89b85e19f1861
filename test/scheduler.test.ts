import { describe, expect, it } from 'vitest';
import { resolveShapes, type ConvGeometry } from '../src/conv/geometry.js';
import { evenRuns, partitionConv, partitionImbalance, type ConvTask, type PartitionPolicy } from '../src/scheduler/partition.js';
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
  it('gives AlexNet conv2 (groups 2) on 2 workers one half each, as on two GPUs', () => {
    const tasks = partitionConv(geometry(8, 96, 256, 2, 27, 5), 'balanced', 2);
    expect(tasks.map((t) => [t.groupStart, t.groupEnd, t.batchStart, t.batchEnd])).toEqual([
      [0, 1, 0, 8],
      [1, 2, 0, 8],
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

  it('splits by output channels when neither groups nor images divide evenly (groups 2 on 3 workers)', () => {
    const g = geometry(8, 96, 256, 2, 27, 5);
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

  it('has no tasks for an empty output', () => {
    expect(partitionConv(geometry(0, 4, 4, 2), 'balanced', 2)).toEqual([]);
  });

  it('rejects an unknown policy or worker count', () => {
    const g = geometry(1, 4, 4, 2);
    expect(() => partitionConv(g, 'round-robin' as PartitionPolicy, 2)).toThrow(/policy/);
    expect(() => partitionConv(g, 'group', 0)).toThrow(/workers/);
  });
});
