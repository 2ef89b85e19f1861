// Engine programs: stages of convolutions and ranged kernels run by the workers
// in one hand-off, meeting at a barrier between stages. Bitwise equal to the
// calling thread at 1, 2 and 3 workers; a failing stage rejects naming it and
// leaves the engine usable; close during a program does not hang; concurrent
// programs and calls on one engine stay correct.
import { availableParallelism } from 'node:os';
import { threadId } from 'node:worker_threads';
import { describe, expect, it, vi } from 'vitest';
import { convBiasActivation, ExecutionError, GroupedConvEngine, relu, sharedArena, type Tensor } from '../src/index.js';
import { ELEMENT_BLOCK, RANGED_KERNELS } from '../src/kernels/ranged/index.js';
import { GLOBAL_AVERAGE_PLANES_A_PASS, globalPoolOp } from '../src/kernels/ranged/pool.js';
import { PARK_POLL_MS } from '../src/engine/doorbell.js';
import { COLD_STAGED_RUNS } from '../src/engine/mode-choice.js';
import type { ProgramStage } from '../src/engine/program.js';
import { cutRanged } from '../src/engine/program.js';
import type { WorkerMessage } from '../src/engine/protocol.js';
import { Random } from '../src/random.js';
import { closingEngines } from './support/engines.js';
import { FAULT, rejectionWithFirstReluHereSlow } from './support/faults.js';
import { firstBitDifference, randomTensor } from './support/tensors.js';

/** The engine's private hand-over of one runner to a worker, wrapped to see the messages. */
type Sendable = { send(message: WorkerMessage, call: unknown): Promise<unknown> };

const faultyWorker = new URL('./support/faulty-worker.ts', import.meta.url);
const engine = closingEngines();

const random = new Random(41);
// A small block: grouped 3x3 conv (+bias) -> relu (ranged) -> 1x1 conv with the block's input as residual, relu fused.
const x = randomTensor(random, [3, 8, 10, 10]);
const w1 = randomTensor(random, [16, 2, 3, 3], { scale: 0.3 });
const b1 = randomTensor(random, [16]);
const w2 = randomTensor(random, [8, 16, 1, 1], { scale: 0.3 });
const reluOp = (elements: number) => ({ kernel: 'relu', params: { elements }, units: Math.ceil(elements / ELEMENT_BLOCK), costPerUnit: ELEMENT_BLOCK });

/** The block on the calling thread: conv, relu, conv + residual then relu. */
function expected(input: Tensor): Tensor {
  const y1 = convBiasActivation(input, w1, b1, { groups: 4, padding: 1 });
  const y2 = relu(y1);
  return convBiasActivation(y2, w2, null, { residual: input, activation: 'relu' });
}

const sizes = { x: 3 * 8 * 100, y: 3 * 16 * 100 };
/** Buffers: 0 input, 1 conv output, 2 relu output, 3 block output. */
function block(e: GroupedConvEngine) {
  const l1 = e.layer(w1, b1, { groups: 4, padding: 1 });
  const l2 = e.layer(w2, null, { activation: 'relu' });
  const stages: ProgramStage[] = [
    { kind: 'conv', label: "'conv1' (Conv)", layer: l1, inputShape: x.shape, input: 0, output: 1 },
    { kind: 'ranged', label: "'relu1' (Relu)", op: reluOp(sizes.y), inputs: [1], outputs: [2] },
    { kind: 'conv', label: "'conv2' (Conv+Add+Relu)", layer: l2, inputShape: [3, 16, 10, 10], input: 2, output: 3, residual: 0 },
  ];
  const program = e.program(stages, [sizes.x, sizes.y, sizes.y, sizes.x]);
  return { program, layers: [l1, l2], close: () => (program.close(), l1.close(), l2.close()) };
}

function buffersFor(input: Tensor): Float32Array[] {
  const arena = sharedArena();
  const b = [sizes.x, sizes.y, sizes.y, sizes.x].map((n) => arena.allocateFloat32(n));
  b[0].set(input.data);
  return b;
}
const release = (buffers: Float32Array[]) => buffers.forEach((b) => sharedArena().release(b));

describe('a program of conv and ranged stages', () => {
  for (const workers of [1, 2, 3]) {
    it(`is bitwise equal to the calling thread on ${workers} worker(s), run after run`, async () => {
      const e = engine({ workers });
      const { program, close } = block(e);
      const want = expected(x);
      for (let round = 0; round < 3; round++) {
        const buffers = buffersFor(x);
        expect(await program.run(buffers)).toBeNull();
        expect(firstBitDifference(buffers[3], want.data)).toBe(-1);
        release(buffers);
      }
      close();
    });
  }

  for (const workers of [2, 3]) {
    it(`without chains on ${workers} workers, runs both ways while it measures them (cut for every runner, or one task a stage on one runner), each bitwise the calling thread's`, async () => {
      const e = engine({ workers });
      const { program, close } = block(e);
      expect(program.chains).toEqual([]);
      const want = expected(x);
      const ways = new Set<string>();
      for (let round = 0; round < COLD_STAGED_RUNS + 2; round++) {
        const buffers = buffersFor(x);
        const profile = (await program.run(buffers, { profile: true }))!;
        ways.add(program.lastRunMode!);
        if (program.lastRunMode === 'single') {
          // One runner: every stage one task, on one thread.
          for (const s of profile.stages) expect([s.tasks, s.threads.length]).toEqual([1, 1]);
        } else {
          expect(profile.stages[0].tasks).toBeGreaterThan(1);
        }
        expect(firstBitDifference(buffers[3], want.data)).toBe(-1);
        release(buffers);
      }
      expect([...ways].sort()).toEqual(['single', 'staged']);
      close();
    });
  }

  it('keeps a run\'s table and scratch for the next run of its way, and frees them on close', async () => {
    const e = engine({ workers: 1 });
    const arena = sharedArena();
    const before = arena.stats().liveBytes;
    const { program, close } = block(e);
    const buffers = buffersFor(x);
    const other = buffersFor(x);
    await program.run(buffers);
    // Later runs allocate nothing: they take the blocks the first run left.
    const allocations = vi.spyOn(arena, 'allocateFloat32');
    try {
      for (let round = 0; round < 4; round++) await program.run(buffers);
      expect(allocations).not.toHaveBeenCalled();
      // Two runs at once: the second takes blocks of its own, and both are right.
      await Promise.all([program.run(buffers), program.run(other)]);
      expect(allocations).toHaveBeenCalled();
    } finally {
      allocations.mockRestore();
    }
    for (const b of [buffers, other]) expect(firstBitDifference(b[3], expected(x).data)).toBe(-1);
    release(buffers);
    release(other);
    close();
    // Once the last run's runners have returned from its last barrier (the run resolved when its last task was
    // done). At most: the collector may free unrelated blocks meanwhile.
    await vi.waitFor(() => expect(arena.stats().liveBytes).toBeLessThanOrEqual(before));
  });

  it('on one worker has one way only', async () => {
    const e = engine({ workers: 1 });
    const { program, close } = block(e);
    for (let round = 0; round < 6; round++) {
      const buffers = buffersFor(x);
      await program.run(buffers);
      expect(program.lastRunMode).toBe('staged');
      release(buffers);
    }
    close();
  });

  it('reports each stage: tasks, first start before last end, busy time per thread within the run', async () => {
    const e = engine({ workers: 2 });
    const { program, close } = block(e);
    const buffers = buffersFor(x);
    const profile = (await program.run(buffers, { profile: true }))!;
    expect(profile.workers).toBe(2);
    expect(profile.stages.map((s) => s.label)).toEqual(["'conv1' (Conv)", "'relu1' (Relu)", "'conv2' (Conv+Add+Relu)"]);
    for (const [i, s] of profile.stages.entries()) {
      expect(s.tasks).toBeGreaterThan(0);
      expect(s.threads.reduce((n, t) => n + t.tasks, 0)).toBe(s.tasks);
      expect(s.firstStartMs).toBeLessThanOrEqual(s.lastEndMs);
      expect(s.busiestMs).toBeLessThanOrEqual(s.totalBusyMs);
      // The barrier: no task of a stage starts before the previous stage's last task ended.
      if (i > 0) expect(s.firstStartMs).toBeGreaterThanOrEqual(profile.stages[i - 1].lastEndMs);
    }
    expect(profile.stages.at(-1)!.lastEndMs).toBeLessThanOrEqual(profile.wallMs);
    release(buffers);
    close();
  });

  it('runs concurrent programs and calls on one engine correctly, each in its own buffers', async () => {
    const e = engine({ workers: 2 });
    const { program, close } = block(e);
    const inputs = [0, 1, 2, 3].map(() => randomTensor(random, x.shape));
    const buffers = inputs.map(buffersFor);
    const single = e.layer(w1, b1, { groups: 4, padding: 1 });
    const [, , , , direct] = await Promise.all([...buffers.map((b) => program.run(b)), single.run(x)]);
    inputs.forEach((input, i) => expect(firstBitDifference(buffers[i][3], expected(input).data)).toBe(-1));
    expect(firstBitDifference((direct as Tensor).data, convBiasActivation(x, w1, b1, { groups: 4, padding: 1 }).data)).toBe(-1);
    buffers.forEach(release);
    single.close();
    close();
  });

  it('keeps a layer closed during a run until the run ends; the next run is refused', async () => {
    const e = engine({ workers: 2 });
    const { program, layers } = block(e);
    const buffers = buffersFor(x);
    const run = program.run(buffers);
    for (const layer of layers) layer.close();
    await run;
    expect(firstBitDifference(buffers[3], expected(x).data)).toBe(-1);
    await expect(program.run(buffers)).rejects.toThrow(/layer was closed/);
    program.close();
    release(buffers);
  });

  it('cuts a ranged op into a few tasks per runner, a multiple of the runners, never below the minimum cost, covering [0, units) once', () => {
    expect(cutRanged(reluOp(100), 2)).toEqual([0, 1]);
    const op = { kernel: 'relu', params: {}, units: 10, costPerUnit: 1 << 20 };
    // 2 runners x 4 tasks: floor(i * 10 / 8).
    expect(cutRanged(op, 2)).toEqual([0, 1, 1, 2, 2, 3, 3, 5, 5, 6, 6, 7, 7, 8, 8, 10]);
    expect(cutRanged({ ...op, units: 0 }, 3)).toEqual([0, 0]);
    // Worth 3 tasks by cost: 4 on 2 runners, 3 on 3; never more tasks than units.
    const three = { kernel: 'relu', params: {}, units: 12, costPerUnit: 8192 };
    expect(cutRanged(three, 2)).toEqual([0, 3, 3, 6, 6, 9, 9, 12]);
    expect(cutRanged(three, 3)).toEqual([0, 4, 4, 8, 8, 12]);
    expect(cutRanged({ ...three, units: 3, costPerUnit: 32_768 }, 2)).toEqual([0, 1, 1, 2, 2, 3]);
  });

  it('cuts an op whose kernel computes blocks of units in one pass into runs of whole blocks, the last one short', () => {
    // A global average pool's 30 planes of 112x112 on 2 runners: runs of its passes of 4 planes, 8 of
    // them (4 a runner), the last of 2 planes.
    const pool = globalPoolOp('globalAveragePool', 30, 112 * 112);
    expect(pool.unitBlock).toBe(GLOBAL_AVERAGE_PLANES_A_PASS);
    expect(GLOBAL_AVERAGE_PLANES_A_PASS).toBe(4);
    expect(cutRanged(pool, 2)).toEqual([0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28, 30]);
    // 9 planes, 3 passes: 3 tasks at most, whatever the runners could take.
    expect(cutRanged(globalPoolOp('globalAveragePool', 9, 112 * 112), 2)).toEqual([0, 4, 4, 8, 8, 9]);
    // 100 planes on 3 runners: 12 tasks of whole passes out of 25.
    const ranges = cutRanged(globalPoolOp('globalAveragePool', 100, 112 * 112), 3);
    expect(ranges).toEqual([0, 8, 8, 16, 16, 24, 24, 32, 32, 40, 40, 48, 48, 56, 56, 64, 64, 72, 72, 80, 80, 88, 88, 100]);
    // Cheap: one task, whatever the blocks.
    expect(cutRanged(globalPoolOp('globalAveragePool', 96, 49), 2)).toEqual([0, 96]);
    // efficientnet_b0's last squeezes: 1152 planes of 7x7 at 2 element operations each are 3 tasks'
    // worth, rounded up to 4 so that each runner takes two, the planes it wrote.
    expect(cutRanged(globalPoolOp('globalAveragePool', 1152, 49), 2)).toEqual([0, 288, 288, 576, 576, 864, 864, 1152]);
    // The max pool keeps its cut by planes.
    expect(globalPoolOp('globalMaxPool', 32, 112 * 112).unitBlock).toBeUndefined();
  });
});

describe('on the calling thread (callingThread: true)', () => {
  /** The threads that ran a profiled run's tasks. */
  const threadsOf = (profile: { stages: Array<{ threads: Array<{ threadId: number }> }> }) => new Set(profile.stages.flatMap((s) => s.threads.map((t) => t.threadId)));

  it('on one worker runs every run on the calling thread, bitwise as on the workers', async () => {
    const e = engine({ workers: 1, callingThread: true });
    const { program, close } = block(e);
    const want = expected(x);
    for (let round = 0; round < 3; round++) {
      const buffers = buffersFor(x);
      const profile = (await program.run(buffers, { profile: true }))!;
      expect([...threadsOf(profile)]).toEqual([threadId]);
      expect([profile.runners, profile.onCallingThread]).toEqual([1, true]);
      expect(firstBitDifference(buffers[3], want.data)).toBe(-1);
      release(buffers);
    }
    close();
  });

  it('asks its workers to poll for the next run (PARK_POLL_MS) only where they and the calling thread have a core each', async () => {
    const cores = availableParallelism();
    const seen = new Set<number>();
    for (const options of [{ workers: 1 }, { workers: 2, callingThread: true }, { workers: 3 }]) {
      const e = engine(options);
      const sent: WorkerMessage[] = [];
      const send = (e as unknown as Sendable).send.bind(e);
      (e as unknown as Sendable).send = (message, call) => (sent.push(message), send(message, call));
      const { program, close } = block(e);
      const buffers = buffersFor(x);
      await program.run(buffers); // the mode choice's first runs are the cut's: every runner
      release(buffers);
      const polls = sent.flatMap((m) => (m.kind === 'program' ? [m.pollMs] : []));
      // The run's workers (the calling thread, if a runner, is not sent a message) and the calling thread.
      expect(polls.length, JSON.stringify(options)).toBe(options.callingThread ? options.workers - 1 : options.workers);
      const want = polls.length + 1 <= cores ? PARK_POLL_MS : 0;
      expect(polls, JSON.stringify(options)).toEqual(polls.map(() => want));
      seen.add(want);
      close();
    }
    // Both cases on a machine of 2 or 3 cores: 1 worker polls, 3 do not.
    if (cores === 2 || cores === 3) expect([...seen].sort()).toEqual([0, PARK_POLL_MS]);
  });

  it('a run on the calling thread alone tells the workers polling since the last run to stop (their cores are its own)', async () => {
    const e = engine({ workers: 2, callingThread: true });
    const dispatcher = (e as unknown as { dispatcher: { stopPolling(): void } }).dispatcher;
    let stops = 0;
    const stopPolling = dispatcher.stopPolling.bind(dispatcher);
    dispatcher.stopPolling = () => (stops++, stopPolling());
    const { program, close } = block(e);
    const stopped = new Map<string, number[]>();
    // The mode choice's first runs: the cut's (on the calling thread and a worker), then one on the calling thread alone.
    for (let round = 0; round < COLD_STAGED_RUNS + 2; round++) {
      const buffers = buffersFor(x);
      const before = stops;
      await program.run(buffers);
      release(buffers);
      stopped.set(program.lastRunMode!, [...(stopped.get(program.lastRunMode!) ?? []), stops - before]);
    }
    expect(new Set(stopped.get('staged'))).toEqual(new Set([0]));
    expect(stopped.get('single')!.length).toBeGreaterThan(0);
    expect(new Set(stopped.get('single'))).toEqual(new Set([1]));
    close();
  });

  it('on two workers runs the one-runner way on the calling thread, and the cut on it and one worker, each bitwise the same', async () => {
    const e = engine({ workers: 2, callingThread: true });
    const { program, close } = block(e);
    const want = expected(x);
    const seen = new Map<string, Set<number>>();
    for (let round = 0; round < COLD_STAGED_RUNS + 2; round++) {
      const buffers = buffersFor(x);
      const profile = (await program.run(buffers, { profile: true }))!;
      const threads = seen.get(program.lastRunMode!) ?? new Set<number>();
      for (const t of threadsOf(profile)) threads.add(t);
      expect([profile.runners, profile.onCallingThread]).toEqual([program.lastRunMode === 'single' ? 1 : 2, true]);
      seen.set(program.lastRunMode!, threads);
      expect(firstBitDifference(buffers[3], want.data)).toBe(-1);
      release(buffers);
    }
    // The mode choice's first runs explore both ways (mode-choice.ts). The calling thread starts on the
    // cut's first stage while its worker wakes, so over the cut's runs it has tasks of its own (a worker
    // still spinning from the last run may take a small run's every task first, but not every run's).
    expect([...seen.get('single')!]).toEqual([threadId]);
    const cut = seen.get('staged')!;
    expect(cut.has(threadId)).toBe(true);
    expect(cut.size).toBeLessThanOrEqual(2);
    close();
  });

  /**
   * A program of one Relu stage, cut into 8 tasks on 2 workers, whose first task on the calling thread
   * sleeps 100 ms: the worker meanwhile takes the other tasks, where the faulty worker's markers act.
   */
  async function reluRunWithWorkerFault(marker: number) {
    const e = engine({ workers: 2, callingThread: true, workerFile: faultyWorker });
    await e.warmup();
    const n = 64 * ELEMENT_BLOCK;
    const program = e.program([{ kind: 'ranged', label: "'relu' (Relu)", op: { ...reluOp(n), costPerUnit: 1 << 20 }, inputs: [0], outputs: [1] }], [n, n]);
    const buffers = [sharedArena().allocateFloat32(n), sharedArena().allocateFloat32(n)];
    buffers[0].fill(-1);
    buffers[0][0] = marker;
    const error = await rejectionWithFirstReluHereSlow(() => program.run(buffers));
    // The next run, the marker gone, is right, on the calling thread and the (new) worker.
    buffers[0][0] = 2;
    buffers[1].fill(-7);
    await program.run(buffers);
    expect(buffers[1][0]).toBe(2);
    expect(buffers[1].subarray(1).every((v) => v === 0)).toBe(true);
    program.close();
    release(buffers);
    return error;
  }

  it("a worker's task that throws while the calling thread runs rejects the run naming the stage and the worker", async () => {
    const error = await reluRunWithWorkerFault(FAULT.reluThrow);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toBe("stage 1 of 1 ('relu' (Relu)) failed in its worker: injected fault in a Relu task");
  });

  it('a worker that dies holding a task the calling thread waits for rejects the run (the wait goes back to the event loop), and the next run is right', async () => {
    const error = await reluRunWithWorkerFault(FAULT.reluExit);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toMatch(/^stage 1 of 1 \('relu' \(Relu\)\) failed: the worker running it died \(worker exited with code: 7\)/);
  });

  it('a task that throws rejects the run naming its stage and the calling thread, and the next run is right', async () => {
    const e = engine({ workers: 1, callingThread: true });
    const { program, close } = block(e);
    const relu = RANGED_KERNELS.relu;
    RANGED_KERNELS.relu = () => {
      throw new Error('injected in relu');
    };
    let error: unknown;
    const buffers = buffersFor(x);
    try {
      error = await program.run(buffers).catch((e: unknown) => e);
    } finally {
      RANGED_KERNELS.relu = relu;
    }
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toBe("stage 2 of 3 ('relu1' (Relu)) failed on the calling thread: injected in relu");
    expect((error as { stage: number }).stage).toBe(1);
    await program.run(buffers);
    expect(firstBitDifference(buffers[3], expected(x).data)).toBe(-1);
    release(buffers);
    close();
  });

  it('runs over whichever buffers each run gives, one after another and back, and after the arena grows (views kept from a run are not reused for other buffers)', async () => {
    for (const e of [engine({ workers: 1, callingThread: true }), engine({ workers: 2 })]) {
      const { program, close } = block(e);
      const inputs = [0, 1].map(() => randomTensor(random, x.shape));
      const buffers = inputs.map(buffersFor);
      for (const i of [0, 1, 0, 0, 1]) {
        buffers[i][3].fill(0);
        await program.run(buffers[i]);
        expect(firstBitDifference(buffers[i][3], expected(inputs[i]).data)).toBe(-1);
      }
      // The arena's memory grown between two runs over the same buffers: views on the old SharedArrayBuffer
      // still read the same memory, and the runner makes its views again on the new one.
      const arena = sharedArena();
      const before = arena.buffer;
      const big = arena.allocateFloat32(before.byteLength / 4, { zero: false });
      expect(arena.buffer).not.toBe(before);
      arena.release(big);
      buffers[1][3].fill(0);
      await program.run(buffers[1]);
      expect(firstBitDifference(buffers[1][3], expected(inputs[1]).data)).toBe(-1);
      buffers.forEach(release);
      close();
    }
  });

  it('refuses a callingThread that is not a boolean, naming it', () => {
    expect(() => new GroupedConvEngine({ workers: 1, callingThread: 'yes' as unknown as boolean })).toThrow(/callingThread: expected true or false, got yes/);
  });
});

describe('failures', () => {
  it('refuses bad stages and buffers before anything runs', async () => {
    const e = engine({ workers: 2 });
    const l1 = e.layer(w1, b1, { groups: 4, padding: 1 });
    const other = engine({ workers: 1 });
    const foreign = other.layer(w1, b1, { groups: 4, padding: 1 });
    expect(() => e.program([], [])).toThrow(/stages: expected a non-empty array/);
    expect(() => e.program([{ kind: 'conv', label: 'c', layer: l1, inputShape: x.shape, input: 0, output: 5 }], [sizes.x, sizes.y])).toThrow(/stages\[0\]\.output: expected a buffer index in \[0, 2\), got 5/);
    expect(() => e.program([{ kind: 'conv', label: 'c', layer: l1, inputShape: x.shape, input: 0, output: 1 }], [sizes.x, 7])).toThrow(/stages\[0\]\.output: buffer 1 holds 7 floats, the stage needs 4800/);
    expect(() => e.program([{ kind: 'ranged', label: 'r', op: { ...reluOp(4), kernel: 'nope' }, inputs: [0], outputs: [1] }], [4, 4])).toThrow(/no ranged kernel is named 'nope'/);
    expect(() => e.program([{ kind: 'conv', label: 'c', layer: foreign, inputShape: x.shape, input: 0, output: 1 }], [sizes.x, sizes.y])).toThrow(/layer prepared on this engine/);
    const program = e.program([{ kind: 'conv', label: 'c', layer: l1, inputShape: x.shape, input: 0, output: 1 }], [sizes.x, sizes.y]);
    await expect(program.run([new Float32Array(sizes.x), sharedArena().allocateFloat32(sizes.y)])).rejects.toThrow(/buffers\[0\]: expected a Float32Array in the shared arena/);
    await expect(program.run([sharedArena().allocateFloat32(3)])).rejects.toThrow(/buffers: expected 2 Float32Arrays, got 1/);
    program.close();
    await expect(program.run([])).rejects.toThrow(/program was closed/);
    l1.close();
    foreign.close();
  });

  it('a task that throws rejects the run naming its stage, and the next run is right', async () => {
    const e = engine({ workers: 2, workerFile: faultyWorker });
    const { program, close } = block(e);
    // The fault hook reads a conv stage's input: the first stage's task holding output channel 3 throws.
    const poisoned = { shape: x.shape, data: x.data.slice() };
    poisoned.data[0] = FAULT.throw;
    poisoned.data[1] = 3;
    const buffers = buffersFor(poisoned);
    const error = await program.run(buffers).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toMatch(/^stage 1 of 3 \('conv1' \(Conv\)\) failed in its worker: injected fault at output channel 3/);
    expect((error as { stage: number }).stage).toBe(0);
    release(buffers);
    const good = buffersFor(x);
    await program.run(good);
    expect(firstBitDifference(good[3], expected(x).data)).toBe(-1);
    release(good);
    close();
  });

  it('close during a program rejects the run and does not hang', async () => {
    const e = engine({ workers: 2, workerFile: faultyWorker });
    const { program } = block(e);
    const held = { shape: x.shape, data: x.data.slice() };
    held.data[0] = FAULT.waitForCancel;
    const buffers = buffersFor(held);
    const run = program.run(buffers).catch((error: unknown) => error);
    // Let the runners reach the held task, then close.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await e.close();
    expect(await run).toMatchObject({ message: expect.stringMatching(/closed while this call was running/) });
    await expect(program.run(buffers)).rejects.toThrow(/GroupedConvEngine is closed/);
    release(buffers);
  });
});
