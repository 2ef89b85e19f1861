// Where the engine's workers may run (src/engine/placement.ts,
// native/placement.h): while a run has a worker compute beside the calling
// thread, the engine's worker threads are kept off the CPU the calling thread
// is on; while a run is cut on the workers alone, each is held to a CPU of its
// own; other work handed to the workers alone gives them every CPU back. Read from Linux's own account of each thread
// (/proc/self/task/*/status, Cpus_allowed_list). Needs the native addon, Linux
// and two CPUs, which CI has; elsewhere the engine does without, and so does
// this suite.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, sharedArena } from '../src/index.js';
import { threadPlacement } from '../src/engine/placement.js';
import { unaryOp } from '../src/kernels/ranged/unary.js';
import { Random } from '../src/random.js';
import { randomTensor } from './support/tensors.js';

/** "0-2,5" -> [0, 1, 2, 5]. */
function cpuList(text: string): number[] {
  return text
    .trim()
    .split(',')
    .flatMap((part) => {
      const [a, b] = part.split('-').map(Number);
      return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
    });
}

/** Every thread of this process: its kernel id and the CPUs it may run on. */
function threadCpus(): Map<number, number[]> {
  const threads = new Map<number, number[]>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      const line = status.split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
      if (line) threads.set(Number(tid), cpuList(line.slice(line.indexOf(':') + 1)));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
}

const placement = threadPlacement();
const ownCpus = (): number[] => threadCpus().get(placement!.osThreadId())!;
const canPlace = placement !== null && availableParallelism() >= 2;

const engines: GroupedConvEngine[] = [];
afterAll(() => Promise.all(engines.map((e) => e.close())));

describe.runIf(canPlace)('the native thread functions', () => {
  it('name this thread and its CPU, and refuse a thread that is not this process\'s', () => {
    expect(placement!.osThreadId()).toBeGreaterThan(0);
    expect(threadCpus().has(placement!.osThreadId())).toBe(true);
    expect(ownCpus()).toContain(placement!.currentCpu());
    expect(placement!.keepOffCpu(0, 0)).toBeLessThan(0);
    expect(placement!.keepOffCpu(2 ** 31 - 1, 0)).toBeLessThan(0);
    expect(placement!.runOnlyOnNth(0, 0)).toBeLessThan(0);
    expect(placement!.runOnlyOnNth(2 ** 31 - 1, 0)).toBeLessThan(0);
    expect(placement!.runOnlyOnNth(placement!.osThreadId(), -1)).toBeLessThan(0);
  });
});

/** Ranged stages large enough to be cut for two runners (cutRanged: 32K element operations a task at least): 8 negations back and forth between two buffers. */
function negations(seed: number) {
  const floats = 8 * 32_768;
  const x = randomTensor(new Random(seed), [floats]);
  const stages = Array.from({ length: 8 }, (_, i) => ({ kind: 'ranged' as const, label: `neg ${i}`, op: unaryOp('neg', floats, {}), inputs: [i % 2], outputs: [1 - (i % 2)] }));
  return { floats, x, stages };
}

/** Runs the negations `runs` times on `e`, each cut for two runners (a program's first runs on several workers, mode-choice.ts) and right; returns what to close. */
async function cutRuns(e: GroupedConvEngine, { floats, x, stages }: ReturnType<typeof negations>, runs: number): Promise<() => void> {
  const arena = sharedArena();
  const buffers = [arena.allocateFloat32(floats), arena.allocateFloat32(floats)];
  buffers[0].set(x.data);
  const program = e.program(stages, [floats, floats]);
  for (let run = 0; run < runs; run++) {
    const profile = (await program.run(buffers, { profile: true }))!;
    expect(profile.runners).toBe(2);
    expect(buffers[0]).toEqual(x.data); // an even number of negations
  }
  return () => {
    program.close();
    buffers.forEach((b) => arena.release(b));
  };
}

describe.runIf(canPlace)('workers alone in a cut run', () => {
  it('are held each to a CPU of its own, the nth thread to the nth CPU, and get every CPU back with work on one runner', async () => {
    const all = ownCpus();
    const e = new GroupedConvEngine({ workers: 2 });
    engines.push(e);
    // Each worker's first job says which thread it is as it starts; the runs after that place both.
    const close = await cutRuns(e, negations(4), 3);
    const held = [...threadCpus()].filter(([, cpus]) => cpus.length === 1);
    expect(held).toHaveLength(2);
    expect(new Set(held.map(([, cpus]) => cpus[0])).size).toBe(2);
    expect(held.every(([, cpus]) => all.includes(cpus[0]))).toBe(true);
    close();

    const restrictedNow = () => [...threadCpus()].filter(([, c]) => c.length < all.length);
    for (let round = 0; round < 50 && restrictedNow().length > 0; round++) await e.warmup();
    expect(restrictedNow()).toEqual([]);
  });
});

describe.runIf(canPlace)('a worker beside the calling thread', () => {
  it('is kept off the calling thread\'s CPU during a cut run, and gets every CPU back with work handed without it', async () => {
    const all = ownCpus();
    const e = new GroupedConvEngine({ workers: 2, callingThread: true });
    engines.push(e);
    expect([...threadCpus()].filter(([, c]) => c.length < all.length)).toEqual([]);
    // The calling thread and a worker. The worker's first job says which thread it is as it starts, so the
    // second run is the first to place it.
    const close = await cutRuns(e, negations(3), 2);
    const restricted = [...threadCpus()].filter(([, cpus]) => cpus.length < all.length);
    // One worker thread has run (beside the calling thread): it may run anywhere but on one CPU, the calling thread's then.
    expect(restricted).toHaveLength(1);
    const [, cpus] = restricted[0];
    expect(cpus).toHaveLength(all.length - 1);
    expect(cpus.every((c) => all.includes(c))).toBe(true);
    close();

    // Work handed to the workers alone (pings, one per worker, as convolutions' runners go): a worker that
    // takes some gets every CPU back. Which worker takes which is the dispatcher's choice (a free parked
    // slot first, and a slot's job runs on whichever thread the pool gives it), so until each has had one.
    const restrictedNow = () => [...threadCpus()].filter(([, c]) => c.length < all.length);
    for (let round = 0; round < 50 && restrictedNow().length > 0; round++) await e.warmup();
    expect(restrictedNow()).toEqual([]);
  });
});
