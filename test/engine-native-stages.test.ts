// A program's runs of convolution, global average pool and Gemm stages in one native
// call each, where one runner computes the run (src/engine/native-stages.ts,
// native/addon.c's runStages): the records are runPlan's arguments, so a run
// computes the bits of the runner's own path and of the calling thread; a call
// that stops early (a kernel that could not allocate, a cancelled run) leaves
// the rest to that path with the same bits; a run cut for several runners has
// each runner claim its share of a stage and run it in one native call
// (runStageTasks), a task claimed there and not run going the usual way; a
// profiled run takes the same calls, which time each task on the runner's
// clock; and the cancel flag stops the native loop before anything runs.
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { EngineProgram, loadOnnx, loadSafetensors, sharedArena, zeros, type ProgramProfile } from '../src/index.js';
import { arenaMemoryView, nativeKernels } from '../src/kernels/native/index.js';
import { ModeChoice } from '../src/engine/mode-choice.js';
import { STAGE_RECORD } from '../src/engine/native-stages.js';
import { closingEngines } from './support/engines.js';
import { FIXTURES } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';

const native = nativeKernels();
const engine = closingEngines();

/**
 * The profiles of the program runs `forward` makes, profiled. Checks what per-task times must say: every task
 * inside its run ([0, wallMs] from the run's start), its end not before its start, and no task of a stage
 * starting before every task of the stage before it has ended (the barrier; one runner runs them in order).
 * `slack` ms allows for two threads' clocks (each thread's offset to the native clock is measured apart).
 * With one start and end for a whole native call, as unprofiled runs record, the ordering fails.
 */
async function profiledRuns(forward: () => Promise<unknown>, slack: number): Promise<ProgramProfile[]> {
  const runs = vi.spyOn(EngineProgram.prototype, 'run');
  try {
    await forward();
    const profiles = (await Promise.all(runs.mock.results.map((r) => r.value))) as ProgramProfile[];
    for (const p of profiles) {
      let previousEnd = -Infinity;
      for (const stage of p.stages) {
        expect(stage.firstStartMs, stage.label).toBeGreaterThanOrEqual(Math.max(-slack, previousEnd - slack));
        expect(stage.lastEndMs, stage.label).toBeLessThanOrEqual(p.wallMs + slack);
        for (const ms of stage.taskMs) expect(ms, stage.label).toBeGreaterThanOrEqual(0);
        previousEnd = stage.lastEndMs;
      }
    }
    return profiles;
  } finally {
    runs.mockRestore();
  }
}

/** efficientnet_like: stem, depthwise, squeeze-and-excitation (a pool between 1x1 layers), projections with the Mul folded in, a pool and a Gemm classifier. */
function fixture() {
  const model = loadOnnx(join(FIXTURES, 'efficientnet_like.onnx'));
  const { input } = loadSafetensors(join(FIXTURES, 'efficientnet_like.io.safetensors'));
  return { model, input };
}

describe.skipIf(!native)('runs of stages in one native call', () => {
  it('one runner computes what the calling thread does, in a few calls a forward, and a profiled run takes the same calls, each task timed', async () => {
    const { model, input } = fixture();
    const reference = model.forward(input);
    const e = engine({ workers: 1, callingThread: true });
    const calls = vi.spyOn(nativeKernels()!, 'runStages');
    try {
      const got = await model.forwardWith(e, input);
      expect(firstBitDifference(got.data, reference.data)).toBe(-1);
      // Every program of the forward went to runStages; its stages' records are those of nativeRunsOf.
      expect(calls).toHaveBeenCalled();
      const tasks = calls.mock.calls.reduce((n, c) => n + c[2], 0);
      expect(calls.mock.results.map((r) => r.value)).toEqual(calls.mock.calls.map((c) => c[2]));
      const execution = model.executionFor(e, { [model.inputs[0].name]: input.shape });
      const stages = execution.steps.filter((s) => s.kind === 'engine' || (s.kind === 'ranged' && (s.stage.op.kernel === 'globalAveragePool' || s.stage.op.kernel === 'gemm'))).length;
      expect(execution.steps.some((s) => s.kind === 'ranged' && s.stage.op.kernel === 'gemm')).toBe(true);
      expect(tasks).toBe(stages);
      calls.mockClear();
      let output = input;
      const profiles = await profiledRuns(async () => ({ output } = await model.forwardWith(e, input, { profile: true })), 0);
      // The same calls, each given a times array.
      expect(calls.mock.calls.map((c) => c.length)).toEqual(calls.mock.calls.map(() => 7));
      expect(calls.mock.calls.reduce((n, c) => n + c[2], 0)).toBe(stages);
      expect(firstBitDifference(output.data, reference.data)).toBe(-1);
      // On the calling thread (thread 0); the native stages' tasks, timed one by one, fill most of the runs.
      const timed = profiles.flatMap((p) => p.stages);
      expect(new Set(timed.flatMap((st) => st.taskThreads))).toEqual(new Set([0]));
      expect(timed.every((st) => st.lastEndMs >= st.firstStartMs)).toBe(true);
      expect(timed.reduce((sum, st) => sum + st.lastEndMs - st.firstStartMs, 0)).toBeGreaterThan(0);
    } finally {
      calls.mockRestore();
      model.close();
    }
  });

  it('a call that stops after k tasks leaves the rest to the runner, with the same bits, for every k', async () => {
    const { model, input } = fixture();
    const reference = model.forward(input);
    const e = engine({ workers: 1, callingThread: true });
    const runStages = nativeKernels()!.runStages;
    let stopAfter = 0;
    const calls = vi.spyOn(nativeKernels()!, 'runStages').mockImplementation((memory, records, count, buffersAt, cancelAt) => runStages(memory, records, Math.min(count, stopAfter), buffersAt, cancelAt));
    try {
      // Every k up to the whole forward's 21 tasks, the last of them its Gemm.
      for (stopAfter = 0; stopAfter <= 21; stopAfter++) {
        const got = await model.forwardWith(e, input);
        expect(firstBitDifference(got.data, reference.data), `stopping after ${stopAfter}`).toBe(-1);
      }
    } finally {
      calls.mockRestore();
      model.close();
    }
  });

  it("a run cut for two runners claims each runner's tasks in one native call a stage, with the same bits; a task it claims and cannot run goes the usual way", async () => {
    const { model, input } = fixture();
    const reference = model.forward(input);
    const staged = vi.spyOn(ModeChoice.prototype, 'next').mockReturnValue({ way: 'staged', counted: false });
    const runStageTasks = nativeKernels()!.runStageTasks;
    // A record of kind 0 is one no kernel takes: the call claims its task, does not run it, and says so.
    let spoil = -1;
    const calls = vi.spyOn(nativeKernels()!, 'runStageTasks').mockImplementation((memory, records, ...rest) => {
      const copy = records.slice();
      if (spoil >= 0 && spoil * STAGE_RECORD < copy.length) copy[spoil * STAGE_RECORD] = 0;
      runStageTasks(memory, copy, ...rest);
    });
    const runs = vi.spyOn(nativeKernels()!, 'runStages');
    try {
      const two = engine({ workers: 2, callingThread: true });
      for (spoil = -1; spoil < 3; spoil++) {
        for (let i = 0; i < 3; i++) expect(firstBitDifference((await model.forwardWith(two, input)).data, reference.data), `spoiling task ${spoil}`).toBe(-1);
      }
      expect(calls).toHaveBeenCalled();
      expect(runs).not.toHaveBeenCalled();
      calls.mockClear();
      spoil = -1;
      let output = input;
      const profiles = await profiledRuns(async () => ({ output } = await model.forwardWith(two, input, { profile: true })), 0.05);
      // The same calls, each given the clock's offset and its thread.
      expect(calls).toHaveBeenCalled();
      expect(calls.mock.calls.map((c) => c.length)).toEqual(calls.mock.calls.map(() => 13));
      expect(firstBitDifference(output.data, reference.data)).toBe(-1);
      // Each task says which runner ran it: the calling thread (0) or the worker (a thread id above 0).
      const threads = new Set(profiles.flatMap((p) => p.stages.flatMap((st) => st.taskThreads)));
      expect([...threads].every((t) => Number.isInteger(t) && t >= 0)).toBe(true);
      expect(threads.size).toBeGreaterThanOrEqual(1);
      expect(threads.size).toBeLessThanOrEqual(2);
    } finally {
      calls.mockRestore();
      runs.mockRestore();
      staged.mockRestore();
      model.close();
    }
  });

  it("a chained run's tasks run their members' records in one native call per run of them, with the same bits; a member a call stops at goes the usual way", async () => {
    // shufflenet_v2: its chains mix convolutions with Concat-and-shuffle stages, whose copies are records too
    // (kind 7), and a ReLU and a pool that stay on the runner's own path. Four images (the fixture's two,
    // twice), so that the forward chains on two workers.
    const model = loadOnnx(join(FIXTURES, 'shufflenet_v2.onnx'));
    const { input } = loadSafetensors(join(FIXTURES, 'shufflenet_v2.io.safetensors'));
    const [images, ...rest] = input.shape;
    const batch = zeros([2 * images, ...rest], { shared: true });
    for (let n = 0; n < 2; n++) batch.data.set(input.data, n * input.data.length);
    const reference = model.forward(batch);
    const runStages = nativeKernels()!.runStages;
    let stopAfter = Infinity;
    const calls = vi.spyOn(nativeKernels()!, 'runStages').mockImplementation((memory, records, count, buffersAt, cancelAt, ...timed) =>
      runStages(memory, records, Math.min(count, stopAfter), buffersAt, cancelAt, ...(timed as [Float64Array, number])),
    );
    const chained = vi.spyOn(EngineProgram.prototype, 'run');
    try {
      const two = engine({ workers: 2, callingThread: true });
      // Cut short after 0 to 5 records: inside a run of copies too, whose member then runs again from its start.
      for (const stop of [Infinity, 0, 1, 2, 3, 5]) {
        stopAfter = stop;
        calls.mockClear();
        chained.mockClear();
        const got = await model.forwardWith(two, batch);
        expect(firstBitDifference(got.data, reference.data), `stopping after ${stop}`).toBe(-1);
        const programs = chained.mock.contexts as EngineProgram[];
        expect(programs.some((p) => p.lastRunMode === 'chained')).toBe(true);
        // The calling thread's chain tasks called runStages, each call with several members where they follow each other.
        expect(calls).toHaveBeenCalled();
        if (stop === Infinity) {
          expect(Math.max(...calls.mock.calls.map((c) => c[2]))).toBeGreaterThan(1);
          const kinds = new Set(calls.mock.calls.flatMap(([, records, count]) => Array.from({ length: count }, (_, r) => records[r * STAGE_RECORD])));
          expect(kinds.has(7)).toBe(true);
        }
      }
      // Profiled, the calls time each member.
      stopAfter = Infinity;
      calls.mockClear();
      const { output } = await model.forwardWith(two, batch, { profile: true });
      expect(firstBitDifference(output.data, reference.data)).toBe(-1);
      expect(calls.mock.calls.every((c) => c.length === 7)).toBe(true);
    } finally {
      calls.mockRestore();
      chained.mockRestore();
      model.close();
    }
  });

  it('stops before its first record when the run is cancelled, and counts the records', async () => {
    const { model, input } = fixture();
    const e = engine({ workers: 1, callingThread: true });
    const seen: Array<{ records: Float64Array; count: number }> = [];
    const runStages = nativeKernels()!.runStages;
    const calls = vi.spyOn(nativeKernels()!, 'runStages').mockImplementation((memory, records, count, buffersAt, cancelAt) => {
      seen.push({ records: records.slice(), count });
      return runStages(memory, records, count, buffersAt, cancelAt);
    });
    const flag = sharedArena().allocateFloat32(4);
    try {
      await model.forwardWith(e, input);
      expect(seen.length).toBeGreaterThan(0);
      for (const { records, count } of seen) expect(records.length).toBe(count * STAGE_RECORD);
      new Int32Array(flag.buffer, flag.byteOffset, 1)[0] = 1;
      // Cancelled: nothing is read, not even the buffer table.
      for (const { records, count } of seen) expect(runStages(arenaMemoryView(), records, count, flag.byteOffset, flag.byteOffset)).toBe(0);
      expect(() => runStages(arenaMemoryView(), seen[0].records, seen[0].count + 1, flag.byteOffset, flag.byteOffset)).toThrow(RangeError);
    } finally {
      calls.mockRestore();
      sharedArena().release(flag);
      model.close();
    }
  });
});
