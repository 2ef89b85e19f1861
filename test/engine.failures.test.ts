// Failures and bad input: argument errors before dispatch, a throwing task, a
// dying worker (exit, out of memory), abort, close while running. Each time the
// call rejects with a clear error, shared memory is returned, and the next call
// on the same engine is right.
import { describe, expect, it } from 'vitest';
import { AbortError, ArgumentError, ExecutionError, GroupedConvEngine, TaskError, dispose, sharedArena, zeros, type Tensor } from '../src/index.js';
import { Random } from '../src/random.js';
import { closingEngines } from './support/engines.js';
import { FAULT } from './support/faults.js';
import { singleThreadPlan } from './support/kernel-run.js';
import { randomConvOfShapes, type ConvSpec } from './support/random-conv.js';
import { firstBitDifference } from './support/tensors.js';

const faultyWorker = new URL('./support/faulty-worker.ts', import.meta.url);
const random = new Random(11);

// groups 4: with policy 'group', channel 9 is in task 3 of 4 (group 2).
const small = randomConvOfShapes(random, [2, 8, 6, 6], [16, 2, 3, 3], { groups: 4, padding: 1 });
// Long enough (reference kernel: about a second) that abort and close land while it runs.
const large = randomConvOfShapes(random, [12, 32, 24, 24], [64, 16, 3, 3], { groups: 2, padding: 1 }, { bias: false });

function faulty(marker: number, channel: number): Tensor {
  const input = { shape: [...small.input.shape], data: small.input.data.slice() };
  input.data[0] = marker;
  input.data[1] = channel;
  return input;
}

async function expectCorrect(engine: GroupedConvEngine, spec: ConvSpec = small): Promise<void> {
  const got = await engine.conv2d(spec.input, spec.weight, spec.bias, spec.options);
  expect(firstBitDifference(got.data, singleThreadPlan(spec).data)).toBe(-1);
  dispose(got); // freed now, not by a garbage collection in the middle of another test's memory accounting
}

const engine = closingEngines();

const live = () => sharedArena().stats().liveBytes;

describe('bad input', () => {
  it('rejects argument errors with ArgumentError before any task runs, leaving no shared memory behind', async () => {
    // This worker throws on every task: had any task been dispatched, the error would be a TaskError.
    const e = engine({ workers: 2, workerFile: faultyWorker });
    await e.warmup();
    const before = live();
    const poisoned = faulty(FAULT.throwEverywhere, 0);
    await expect(e.conv2d(poisoned, small.weight, small.bias, { groups: 3 })).rejects.toMatchObject({ name: 'ArgumentError', argument: 'weight.shape[0] (output channels)' });
    await expect(e.conv2d(poisoned, small.weight, small.bias, { groups: 4, padding: -1 })).rejects.toBeInstanceOf(ArgumentError);
    await expect(e.conv2d(poisoned, small.weight, small.bias, { groups: 4, profile: 'yes' } as never)).rejects.toMatchObject({ argument: 'profile' });
    await expect(e.conv2d(poisoned, small.weight, small.bias, { groups: 4, policy: 'random' } as never)).rejects.toMatchObject({ argument: 'policy' });
    await expect(e.conv2d(poisoned, small.weight, small.bias, { groups: 4, padding: 1, out: zeros([2, 16, 6, 6]) })).rejects.toMatchObject({ argument: 'out' });
    const wrongShape = zeros([2, 16, 5, 6], { shared: true });
    await expect(e.conv2d(poisoned, small.weight, small.bias, { groups: 4, padding: 1, out: wrongShape })).rejects.toMatchObject({
      argument: 'out.shape',
    });
    dispose(wrongShape);
    // An `out` overlapping the input would race with the workers reading it.
    const block = zeros([576 + 1152], { shared: true }).data;
    const shared = { shape: poisoned.shape, data: block.subarray(0, 576) };
    shared.data.set(poisoned.data);
    expect(live()).toBeGreaterThan(before);
    const afterAllocation = live();
    await expect(e.conv2d(shared, small.weight, small.bias, { groups: 4, padding: 1, out: { shape: [2, 16, 6, 6], data: block.subarray(288, 288 + 1152) } })).rejects.toMatchObject({
      argument: 'out',
    });
    expect(live()).toBe(afterAllocation);
    sharedArena().release(block);
    // The same worker does fail tasks that are dispatched.
    await expect(e.conv2d(poisoned, small.weight, small.bias, small.options)).rejects.toBeInstanceOf(TaskError);
  });

  it('rejects bad engine options', () => {
    expect(() => new GroupedConvEngine({ workers: 0 })).toThrow(ArgumentError);
    expect(() => new GroupedConvEngine({ policy: 'fastest' as never })).toThrow(/policy/);
    expect(() => new GroupedConvEngine({ threads: 2 } as never)).toThrow(/unknown option 'threads'/);
  });
});

describe('failures in workers', () => {
  it('a task that throws rejects its call naming the task and group, and the next call is right', async () => {
    const e = engine({ workers: 2, policy: 'group', workerFile: faultyWorker });
    await e.warmup();
    const before = live();
    const error = await e.conv2d(faulty(FAULT.throw, 9), small.weight, small.bias, small.options).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TaskError);
    expect(error).toBeInstanceOf(ExecutionError);
    const taskError = error as TaskError;
    expect(taskError.task).toMatchObject({ index: 2, groupStart: 2, groupEnd: 3, outChannelStart: 8, outChannelEnd: 12, batchStart: 0, batchEnd: 2 });
    expect(taskError.message).toBe(
      'task 3 of 4 (group 2, output channels [8, 12), images [0, 2)) failed in its worker: injected fault at output channel 9',
    );
    expect((taskError.cause as Error).name).toBe('RangeError');
    expect(live()).toBe(before);
    await expectCorrect(e);
  });

  it('a worker that exits rejects the call it was running; the pool replaces it and the next calls are right', async () => {
    const e = engine({ workers: 2, workerFile: faultyWorker });
    const first = await e.warmup();
    const before = live();
    const error = await e.conv2d(faulty(FAULT.exit, 0), small.weight, small.bias, small.options).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as Error).message).toMatch(/^task 1 of 2 \(groups 0\.\.1, .*\) failed: the worker running it died \(worker exited with code: 7\)/);
    expect(live()).toBe(before);
    const after = await e.warmup();
    expect(after.length).toBe(2);
    expect(after).not.toEqual(first); // one thread is new
    await expectCorrect(e);
    await expectCorrect(e, large);
  });

  it('a worker that runs out of memory (resourceLimits) rejects its call; the next call is right', async () => {
    const e = engine({ workers: 2, policy: 'group', workerFile: faultyWorker, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    await e.warmup();
    const before = live();
    const error = await e.conv2d(faulty(FAULT.outOfMemory, 13), small.weight, small.bias, small.options).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).task.groupStart).toBe(3);
    expect((error as Error).message).toMatch(/the worker running it died/);
    expect(((error as TaskError).cause as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    expect(live()).toBe(before);
    await expectCorrect(e);
  });
});

describe('cancellation', () => {
  // Tasks of these calls wait in their worker until the call is cancelled: abort and close land on running tasks.
  const held = () => faulty(FAULT.waitForCancel, 0);

  it('an AbortSignal cancels a running call with an AbortError; memory is returned and the engine still works', async () => {
    const e = engine({ workers: 2, workerFile: faultyWorker });
    await e.warmup();
    const before = live();
    const controller = new AbortController();
    const running = e.conv2d(held(), small.weight, small.bias, { ...small.options, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user pressed stop')), 20);
    const error = await running.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as Error).message).toBe('conv2d was aborted: user pressed stop');
    expect(live()).toBe(before);
    await expectCorrect(e);
  });

  it('aborts a real computation between images', async () => {
    const e = engine({ workers: 2 });
    await e.warmup();
    const before = live();
    const controller = new AbortController();
    const running = e.conv2d(large.input, large.weight, large.bias, { ...large.options, signal: controller.signal });
    controller.abort('stop');
    await expect(running).rejects.toBeInstanceOf(AbortError);
    expect(live()).toBe(before);
    await expectCorrect(e, large);
  });

  it('an already aborted signal rejects at once', async () => {
    const e = engine({ workers: 1 });
    await expect(e.conv2d(small.input, small.weight, small.bias, { ...small.options, signal: AbortSignal.abort('no') })).rejects.toBeInstanceOf(AbortError);
  });

  it('close() settles pings in flight and queued behind busy workers, and later pings reject', async () => {
    const e = new GroupedConvEngine({ workers: 2 });
    // More pings than workers: some wait for a free one.
    const pings = Array.from({ length: 5 }, () => e.ping().then((r) => r.threadId, (err: unknown) => err));
    await e.close();
    const settled = await Promise.all(pings);
    expect(settled).toHaveLength(5);
    for (const s of settled) expect(typeof s === 'number' || s instanceof Error).toBe(true);
    expect(settled.filter((s) => s instanceof Error).map((s) => (s as Error).message)).toContain(
      'the GroupedConvEngine is closed; create a new engine to run more convolutions',
    );
    await expect(e.ping()).rejects.toThrow(/is closed/);
  });

  it('close() while calls run rejects them cleanly, resolves, is idempotent, and later calls reject', async () => {
    const e = new GroupedConvEngine({ workers: 2, workerFile: faultyWorker });
    await e.warmup();
    const before = live();
    const running = [1, 2, 3].map(() => e.conv2d(held(), small.weight, small.bias, small.options).catch((err: unknown) => err));
    const layer = e.layer(small.weight, small.bias, small.options);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.all([e.close(), e.close()]);
    const errors = await Promise.all(running);
    for (const err of errors) {
      expect(err).toBeInstanceOf(ExecutionError);
      expect((err as Error).message).toMatch(/closed while this call was running/);
    }
    await expect(e.conv2d(small.input, small.weight, small.bias, small.options)).rejects.toThrow(/is closed/);
    await expect(layer.run(small.input)).rejects.toThrow(/is closed/);
    layer.close();
    expect(live()).toBe(before);
    await e.close();
  });
});
