// The memory plan (src/onnx/memory-plan.ts) and forwards through engine
// programs: exact byte figures on a small chain worked out by hand, no two live
// values sharing bytes on every fixture, forwardWith bitwise equal to forward,
// and a failing program stage naming its node.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExecutionError, GroupedConvEngine, loadOnnx, loadSafetensors, sharedArena, type Tensor } from '../src/index.js';
import { memoryPlanOf, planMemory, type MemorySlot } from '../src/onnx/memory-plan.js';
import { CASES, FIXTURES, attr, intTensor, makeModel, valueInfo } from './support/onnx.js';
import { FAULT } from './support/faults.js';
import { firstBitDifference } from './support/tensors.js';

const faultyWorker = new URL('./support/faulty-worker.ts', import.meta.url);
const engines = [1, 2, 3].map((workers) => new GroupedConvEngine({ workers }));
const faulty = new GroupedConvEngine({ workers: 2, workerFile: faultyWorker });
afterAll(() => Promise.all([...engines, faulty].map((e) => e.close())));

/**
 * x [1,4,8,8] -> Relu a -> Conv 3x3 pad 1 (4 -> 8) b [1,8,8,8] -> MaxPool 2x2 c [1,8,4,4] -> Relu d -> GlobalAveragePool y [1,8,1,1].
 * Slots: a 1024 bytes live over steps [0, 1], b 2048 over [1, 2], c 512 over [2, 3], d 512 over [3, 4]; y is a graph output (its own allocation, 32 bytes).
 */
function chain(batch: number | string = 1): Uint8Array {
  const w = Array.from({ length: 8 * 4 * 9 }, (_, i) => Math.sin(i) * 0.3);
  return makeModel({
    nodes: [
      { op_type: 'Relu', name: 'relu_in', input: ['x'], output: ['a'] },
      { op_type: 'Conv', name: 'conv', input: ['a', 'w', 'bias'], output: ['b'], attribute: [attr.ints('pads', [1, 1, 1, 1]), attr.ints('kernel_shape', [3, 3])] },
      { op_type: 'MaxPool', name: 'pool', input: ['b'], output: ['c'], attribute: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])] },
      { op_type: 'Relu', name: 'relu_mid', input: ['c'], output: ['d'] },
      { op_type: 'GlobalAveragePool', name: 'gap', input: ['d'], output: ['y'] },
    ],
    inputs: [valueInfo('x', [batch, 4, 8, 8])],
    outputs: [valueInfo('y', [batch, 8, 1, 1])],
    initializers: [
      { name: 'w', dims: [8, 4, 3, 3], data_type: 1, float_data: w },
      { name: 'bias', dims: [8], data_type: 1, float_data: [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8] },
    ],
  });
}

const chainInput = (): Tensor => ({ shape: [1, 4, 8, 8], data: Float32Array.from({ length: 256 }, (_, i) => Math.cos(i * 0.7) * 2) });

/** Two slots whose lifetimes overlap must not share a byte. */
function expectDisjoint(slots: MemorySlot[]): void {
  for (const [i, a] of slots.entries()) {
    for (const b of slots.slice(i + 1)) {
      if (a.first <= b.last && b.first <= a.last) expect(a.offset + a.bytes <= b.offset || b.offset + b.bytes <= a.offset).toBe(true);
    }
  }
}

/** The most bytes live at once, step by step: no plan can do with less. */
function maxLiveBytes(slots: MemorySlot[]): number {
  const last = Math.max(0, ...slots.map((s) => s.last));
  let max = 0;
  for (let step = 0; step <= last; step++) max = Math.max(max, slots.filter((s) => s.first <= step && step <= s.last).reduce((n, s) => n + s.bytes, 0));
  return max;
}

describe('the memory plan', () => {
  it('a chain: exact slots, peak = the most bytes live at once (3072 at the Conv), sum of all = 4096', () => {
    const model = loadOnnx(chain());
    expect(model.memoryPlan()).toEqual({ peakBytes: 3072, sumBytes: 4096, values: 4, aliases: 0, outputBytes: 32, chainedPeakBytes: null });
    const plan = memoryPlanOf(model.planFor({ x: [1, 4, 8, 8] }));
    const slot = (n: string) => {
      const { offset, bytes, first, last } = plan.slots.get(n)!;
      return { offset, bytes, first, last };
    };
    // Largest first: b at 0; a beside it (both live at the Conv); c in a's bytes (a is dead by then); d at 0, where b was.
    expect(slot('b')).toEqual({ offset: 0, bytes: 2048, first: 1, last: 2 });
    expect(slot('a')).toEqual({ offset: 2048, bytes: 1024, first: 0, last: 1 });
    expect(slot('c')).toEqual({ offset: 2048, bytes: 512, first: 2, last: 3 });
    expect(slot('d')).toEqual({ offset: 0, bytes: 512, first: 3, last: 4 });
    expect(plan.slots.has('y')).toBe(false);
    model.close();
  });

  it('an alias shares its input\'s slot and extends its life: x -> Relu a -> Reshape r -> Relu b -> Relu c', () => {
    const model = loadOnnx(
      makeModel({
        nodes: [
          { op_type: 'Relu', name: 'ra', input: ['x'], output: ['a'] },
          { op_type: 'Reshape', name: 'reshape', input: ['a', 'shape'], output: ['r'] },
          { op_type: 'Relu', name: 'rb', input: ['r'], output: ['b'] },
          { op_type: 'Relu', name: 'rc', input: ['b'], output: ['c'] },
        ],
        inputs: [valueInfo('x', [1, 4, 4, 4])],
        outputs: [valueInfo('c', [1, 64])],
        initializers: [intTensor('shape', [2], [1, 64])],
      }),
    );
    const plan = model.planFor({ x: [1, 4, 4, 4] });
    const slotsOf = (m: ReturnType<typeof planMemory>) => Object.fromEntries([...m.slots].map(([n, s]) => [n, [s.offset, s.bytes, s.first, s.last]]));
    // As an alias: r is a's bytes, so a lives until b reads r (step 2) and b cannot take a's place.
    const aliased = planMemory(plan, (step) => step.node.opType === 'Reshape');
    expect(aliased.aliasOf).toEqual(new Map([['r', 'a']]));
    expect(slotsOf(aliased)).toEqual({ a: [0, 256, 0, 2], b: [256, 256, 2, 3] });
    expect([aliased.peakBytes, aliased.sumBytes, aliased.values, aliased.aliases]).toEqual([512, 512, 2, 1]);
    // Run on the calling thread instead, the Reshape's output is a value of its own (then copied into its slot).
    const copied = planMemory(plan, () => false);
    expect(slotsOf(copied)).toEqual({ a: [0, 256, 0, 1], r: [256, 256, 1, 2], b: [0, 256, 2, 3] });
    expect([copied.peakBytes, copied.sumBytes, copied.values, copied.aliases]).toEqual([512, 768, 3, 0]);
    model.close();
  });

  it('chained (2 images on 2 workers): values reuse only slots of their exact size, and the forward allocates what memoryPlan reports', () => {
    const model = loadOnnx(chain('N'));
    // At 2 images: a 2048 bytes [0, 1] at 0, b 4096 [1, 2] at 2048; c 1024 [2, 3]: a is dead but twice its size, so at 6144;
    // d 1024 [3, 4]: b is dead but not its size, c still live, so at 7168. First-fit packs the same four into 6144.
    expect(model.memoryPlan([2, 4, 8, 8])).toEqual({ peakBytes: 6144, sumBytes: 8192, values: 4, aliases: 0, outputBytes: 64, chainedPeakBytes: 8192 });
    expect(model.memoryPlan([1, 4, 8, 8]).chainedPeakBytes).toBeNull();
    const execution = model.executionFor(engines[1], { x: [2, 4, 8, 8] });
    expect(execution.segments.some((s) => s.kind === 'program' && s.program !== null && s.program.chains.length > 0)).toBe(true);
    expect(execution.memory.peakBytes).toBe(8192);
    expect(model.executionFor(engines[0], { x: [2, 4, 8, 8] }).memory.peakBytes).toBe(6144);
    model.close();
  });

  it('a shape the model does not take, or not a shape, is refused', () => {
    const model = loadOnnx(chain());
    expect(() => model.memoryPlan([3, 4, 8, 8])).toThrow(/expects \[1, 4, 8, 8\]/);
    expect(() => model.memoryPlan([1, 4, -8, 8] as number[])).toThrow(/inputShape: expected an array of sizes/);
    model.close();
  });

  it('on every fixture: live values never share bytes, and the peak is between the most live at once and the sum', () => {
    for (const c of CASES) {
      const model = loadOnnx(join(FIXTURES, c.file));
      const memory = memoryPlanOf(model.planFor({ [model.inputs[0].name]: c.inputShape }));
      const slots = [...memory.slots.values()];
      expectDisjoint(slots);
      expect(memory.peakBytes, c.id).toBeGreaterThanOrEqual(maxLiveBytes(slots));
      expect(memory.peakBytes, c.id).toBeLessThanOrEqual(memory.sumBytes);
      expect(slots.every((s) => s.offset % 64 === 0)).toBe(true);
      model.close();
    }
  });
});

describe('forwards through programs', () => {
  it('the chain on 1, 2 and 3 workers is bitwise forward, every step of it in one program', async () => {
    const model = loadOnnx(chain());
    const x = chainInput();
    const reference = model.forward(x);
    for (const engine of engines) {
      for (let round = 0; round < 2; round++) {
        const got = await model.forwardWith(engine, x);
        expect(got.shape).toEqual(reference.shape);
        expect(firstBitDifference(got.data, reference.data)).toBe(-1);
      }
    }
    const execution = model.executionFor(engines[1], { x: x.shape });
    const programs = execution.segments.filter((s) => s.kind === 'program');
    // Relu, Conv, MaxPool, Relu and GlobalAveragePool all have worker stages: one hand-off for the whole forward.
    expect(programs.map((s) => (s.kind === 'program' ? s.stageSteps.map((i) => execution.steps[i].node.name) : []))).toEqual([['relu_in', 'conv', 'pool', 'relu_mid', 'gap']]);
    model.close();
  });

  it('the profile gives each stage kernel and hand-off time that add up to the stage', async () => {
    const model = loadOnnx(chain());
    const { profile } = await model.forwardWith(engines[1], chainInput(), { profile: true });
    const kinds = profile.steps.map((s) => [s.name, s.kind]);
    expect(kinds[0]).toEqual(['relu_in', 'ranged']);
    expect(kinds[1]).toEqual(['conv', 'engine']);
    for (const s of profile.steps.filter((p) => p.kind === 'ranged' || p.kind === 'engine')) {
      expect(s.engine!.kernelMs).toBeGreaterThanOrEqual(0);
      expect(s.engine!.kernelMs + s.engine!.handoffMs).toBeCloseTo(s.ms, 6);
    }
    model.close();
  });

  it('a failing stage rejects naming its node, leaves no activation behind, and the next forward is right', async () => {
    const model = loadOnnx(chain());
    const x = chainInput();
    // A program on 2 workers without chains runs its two ways in turn at first (mode-choice.ts), and each
    // way keeps its run table for its next run: once both have run, a forward leaves nothing more behind.
    for (let i = 0; i < 2; i++) await model.forwardWith(faulty, x);
    const live = sharedArena().stats().liveBytes;
    // The faulty worker throws in the conv task holding output channel 3 when the conv's input starts with the marker (Relu keeps it).
    const poisoned = { shape: x.shape, data: x.data.slice() };
    poisoned.data[0] = FAULT.throw;
    poisoned.data[1] = 3;
    const error = await model.forwardWith(faulty, poisoned).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as Error).message).toMatch(/^node 'conv' \(Conv\) failed on the engine: stage 2 of 5 \('conv' \(Conv\)\) failed in its worker: injected fault at output channel 3/);
    expect(sharedArena().stats().liveBytes).toBeLessThanOrEqual(live);
    const again = await model.forwardWith(faulty, x);
    expect(firstBitDifference(again.data, model.forward(x).data)).toBe(-1);
    model.close();
  });

  it('concurrent forwards of one model on one engine each get their own block', async () => {
    const c = CASES.find((x) => x.id === 'mobilenet_v2')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const { input } = loadSafetensors(join(FIXTURES, c.io));
    const inputs = [0, 1, 2].map((k) => ({ shape: input.shape, data: input.data.map((v, i) => v * (1 + 0.1 * k) + ((i % 7) - 3) * 0.01 * k) }));
    const got = await Promise.all(inputs.map((x) => model.forwardWith(engines[1], x)));
    inputs.forEach((x, k) => expect(firstBitDifference(got[k].data, model.forward(x).data)).toBe(-1));
    model.close();
  });
});
