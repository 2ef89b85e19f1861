// ONNX forwards through chained programs (engine/chains.ts): which ranged
// stages are image-major (onnx/image-major.ts), the 'same-size' memory plan
// chains need, and every fixture with a free batch, at 4 images on 2 workers,
// chained and bitwise equal to forward.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, loadOnnx, loadSafetensors, type Tensor } from '../src/index.js';
import { imageMajorOf } from '../src/onnx/image-major.js';
import { memoryPlanOf, type MemorySlot } from '../src/onnx/memory-plan.js';
import { workerStageOf } from '../src/onnx/worker-stages.js';
import { CASES, FIXTURES, attr, floatTensor, makeModel, seeded, valueInfo } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';

const engines = [1, 2].map((workers) => new GroupedConvEngine({ workers }));
afterAll(() => Promise.all(engines.map((e) => e.close())));

/** Fixtures whose batch is free (symbolic), with their other dimensions. */
const FREE_BATCH = CASES.filter((c) => {
  const model = loadOnnx(join(FIXTURES, c.file));
  const free = typeof model.inputs[0].shape?.[0] === 'string';
  model.close();
  return free;
});

/** `images` images: the fixture's input repeated, each copy scaled differently so no two images are equal. */
function batchOf(input: Tensor, images: number): Tensor {
  const per = input.data.length / input.shape[0];
  const data = new Float32Array(images * per);
  for (let i = 0; i < images; i++) for (let k = 0; k < per; k++) data[i * per + k] = input.data[((i * per) % input.data.length) + k] * (1 + 0.125 * i);
  return { shape: [images, ...input.shape.slice(1)], data };
}

describe('which ranged stages are image-major', () => {
  // x [4, 2, 4, 4] -> Transpose (perm) t; x, x -> Concat (axis) c; x -> Relu r (32 values an image: not whole element blocks).
  const stageOf = (node: object, output: number[]) => {
    const model = loadOnnx(makeModel({ nodes: [node as never], inputs: [valueInfo('x', [4, 2, 4, 4])], outputs: [valueInfo('y', output)], initializers: [] }));
    const plan = model.planFor({ x: [4, 2, 4, 4] });
    const step = plan.steps.find((s) => s.outputs[0] === 'y')!;
    const stage = workerStageOf(step, plan);
    model.close();
    return stage?.kind === 'ranged' ? imageMajorOf(step, stage, plan) : 'no ranged stage';
  };

  it('a Transpose that keeps the batch first is; one that moves it is not', () => {
    expect(stageOf({ op_type: 'Transpose', name: 't', input: ['x'], output: ['y'], attribute: [attr.ints('perm', [0, 2, 1, 3])] }, [4, 4, 2, 4])).toEqual({ images: 4, shared: [] });
    expect(stageOf({ op_type: 'Transpose', name: 't', input: ['x'], output: ['y'], attribute: [attr.ints('perm', [1, 0, 2, 3])] }, [2, 4, 4, 4])).toBeNull();
  });

  it('a Concat after the batch is; one along it is not', () => {
    expect(stageOf({ op_type: 'Concat', name: 'c', input: ['x', 'x'], output: ['y'], attribute: [attr.int('axis', 1)] }, [4, 4, 4, 4])).toEqual({ images: 4, shared: [] });
    expect(stageOf({ op_type: 'Concat', name: 'c', input: ['x', 'x'], output: ['y'], attribute: [attr.int('axis', 0)] }, [8, 2, 4, 4])).toBeNull();
  });

  it('an elementwise op is, its element blocks cut image by image even when an image is not whole blocks', () => {
    // 32 values an image: one short block each, so image i is unit i.
    expect(stageOf({ op_type: 'Relu', name: 'r', input: ['x'], output: ['y'] }, [4, 2, 4, 4])).toEqual({ images: 4, shared: [] });
    expect(stageOf({ op_type: 'MaxPool', name: 'p', input: ['x'], output: ['y'], attribute: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])] }, [4, 2, 2, 2])).toEqual({ images: 4, shared: [] });
  });

  it("a ReduceMean to another rank is (ShuffleNetV2's [N, C, H, W] -> [N, C] closes its chain); an activation broadcast over the batch is not, even when its first axis equals the batch", () => {
    expect(stageOf({ op_type: 'ReduceMean', name: 'm', input: ['x'], output: ['y'], attribute: [attr.ints('axes', [2, 3]), attr.int('keepdims', 0)] }, [4, 2])).toEqual({ images: 4, shared: [] });
    // z [4, 1, 1] is a channel vector of x [4, 4, 4, 4] (4 channels), not its 4 images.
    const model = loadOnnx(
      makeModel({
        nodes: [{ op_type: 'Add', name: 'a', input: ['x', 'z'], output: ['y'] } as never],
        inputs: [valueInfo('x', [4, 4, 4, 4]), valueInfo('z', [4, 1, 1])],
        outputs: [valueInfo('y', [4, 4, 4, 4])],
        initializers: [],
      }),
    );
    const plan = model.planFor({ x: [4, 4, 4, 4], z: [4, 1, 1] });
    const step = plan.steps.find((st) => st.outputs[0] === 'y')!;
    const stage = workerStageOf(step, plan);
    model.close();
    expect(stage?.kind).toBe('ranged');
    expect(imageMajorOf(step, stage as Extract<typeof stage, { kind: 'ranged' }>, plan)).toBeNull();
  });
});

/** Two slots whose bytes overlap share all of them (same offset and size) and are never live at once. */
function expectWholeReuse(slots: MemorySlot[], id: string): void {
  for (const [i, a] of slots.entries()) {
    for (const b of slots.slice(i + 1)) {
      if (a.offset + a.bytes <= b.offset || b.offset + b.bytes <= a.offset) continue;
      expect([a.offset, a.floats], id).toEqual([b.offset, b.floats]);
      expect(a.last < b.first || b.last < a.first, id).toBe(true);
    }
  }
}

describe('the same-size memory plan', () => {
  it('a value takes the whole slot of a dead value of exactly its size, else new bytes: exact slots on two small chains', () => {
    const relus = loadOnnx(
      makeModel({
        nodes: ['a', 'b', 'c', 'd', 'y'].map((out, i, names) => ({ op_type: 'Relu', name: `r${i}`, input: [i === 0 ? 'x' : names[i - 1]], output: [out] })),
        inputs: [valueInfo('x', [1, 4, 8, 8])],
        outputs: [valueInfo('y', [1, 4, 8, 8])],
        initializers: [],
      }),
    );
    const slotsOf = (memory: ReturnType<typeof memoryPlanOf>) => Object.fromEntries([...memory.slots].map(([n, slot]) => [n, [slot.offset, slot.bytes, slot.first, slot.last]]));
    // a and b are live together at b's step; c takes a's slot (a died at step 1), d b's.
    const same = memoryPlanOf(relus.planFor({ x: [1, 4, 8, 8] }), 'same-size');
    expect(slotsOf(same)).toEqual({ a: [0, 1024, 0, 1], b: [1024, 1024, 1, 2], c: [0, 1024, 2, 3], d: [1024, 1024, 3, 4] });
    expect(same.peakBytes).toBe(2048);
    relus.close();
    // Relu a [1,4,8,8] -> Conv b [1,8,8,8] -> MaxPool c [1,8,4,4] -> Relu d: no dead value ever has the size of the next, so nothing is reused (first-fit packs it into 3072).
    const conv = loadOnnx(
      makeModel({
        nodes: [
          { op_type: 'Relu', name: 'relu_in', input: ['x'], output: ['a'] },
          { op_type: 'Conv', name: 'conv', input: ['a', 'w'], output: ['b'], attribute: [attr.ints('pads', [1, 1, 1, 1]), attr.ints('kernel_shape', [3, 3])] },
          { op_type: 'MaxPool', name: 'pool', input: ['b'], output: ['c'], attribute: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])] },
          { op_type: 'Relu', name: 'relu_mid', input: ['c'], output: ['d'] },
          { op_type: 'GlobalAveragePool', name: 'gap', input: ['d'], output: ['y'] },
        ],
        inputs: [valueInfo('x', [1, 4, 8, 8])],
        outputs: [valueInfo('y', [1, 8, 1, 1])],
        initializers: [{ name: 'w', dims: [8, 4, 3, 3], data_type: 1, float_data: Array.from({ length: 288 }, (_, i) => Math.sin(i)) }],
      }),
    );
    const plan = conv.planFor({ x: [1, 4, 8, 8] });
    expect(slotsOf(memoryPlanOf(plan, 'same-size'))).toEqual({ a: [0, 1024, 0, 1], b: [1024, 2048, 1, 2], c: [3072, 512, 2, 3], d: [3584, 512, 3, 4] });
    expect([memoryPlanOf(plan, 'same-size').peakBytes, memoryPlanOf(plan).peakBytes]).toEqual([4096, 3072]);
    conv.close();
  });

  it('on every fixture: values share all their bytes or none, never while both are live', () => {
    for (const c of CASES) {
      const model = loadOnnx(join(FIXTURES, c.file));
      const memory = memoryPlanOf(model.planFor({ [model.inputs[0].name]: c.inputShape }), 'same-size');
      expectWholeReuse([...memory.slots.values()], c.id);
      expect(memory.peakBytes, c.id).toBeLessThanOrEqual(memory.sumBytes);
      model.close();
    }
  });
});

describe('forwards through chains', () => {
  it(`every fixture with a free batch (${FREE_BATCH.map((c) => c.id).join(', ')}), at 4 images on 1 and 2 workers: bitwise forward, chained on 2`, async () => {
    expect(FREE_BATCH.length).toBeGreaterThanOrEqual(5);
    for (const c of FREE_BATCH) {
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input } = loadSafetensors(join(FIXTURES, c.io));
      const x = batchOf(input, 4);
      const reference = model.forward(x);
      for (const engine of engines) {
        const got = await model.forwardWith(engine, x);
        expect(firstBitDifference(got.data, reference.data), `${c.id} on ${engine.workers}`).toBe(-1);
        const execution = model.executionFor(engine, { [model.inputs[0].name]: x.shape });
        const programs = execution.segments.flatMap((s) => (s.kind === 'program' && s.program ? [s.program] : []));
        // lrn_native is one LRN: a one-stage program, nothing to chain; one worker never chains.
        expect(programs.some((p) => p.chains.length > 0), c.id).toBe(c.id !== 'lrn_native' && engine.workers > 1);
        for (const p of programs) if (p.chains.length > 0) expect(p.lastRunMode, c.id).toBe('chained');
        // Chained, a chain's segments meet no barrier between them: one after each chain and each other stage.
        for (const p of programs) {
          const chained = p.chains.reduce((n, ch) => n + ch.to - ch.from, 0);
          expect(p.lastRunBarriers, c.id).toBe(p.stages.length - chained + p.chains.length);
        }
      }
      model.close();
    }
  });

  it("a chained forward's profile shares each chain's wall time among its stages: kernel and hand-off add up to each, the steps to the forward", async () => {
    const c = CASES.find((k) => k.id === 'shufflenet_v2')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const { input } = loadSafetensors(join(FIXTURES, c.io));
    const x = batchOf(input, 4);
    // A warm forward: the first for a shape also plans it on the host, which is no step's time.
    await model.forwardWith(engines[1], x);
    const { output, profile } = await model.forwardWith(engines[1], x, { profile: true });
    expect(firstBitDifference(output.data, model.forward(x).data)).toBe(-1);
    const onWorkers = profile.steps.filter((s) => s.engine !== null);
    expect(onWorkers.length).toBeGreaterThan(15);
    for (const s of onWorkers) {
      expect(s.engine!.kernelMs).toBeGreaterThanOrEqual(0);
      expect(s.engine!.kernelMs).toBeLessThanOrEqual(s.ms + 1e-9);
      expect(s.engine!.kernelMs + s.engine!.handoffMs).toBeCloseTo(s.ms, 6);
    }
    // One program, its stages' wall times adding up to its run: within the forward, which also has the host's
    // work around it. (How much of the forward that is depends on the machine's load: not asserted.)
    const stepsMs = profile.steps.reduce((n, s) => n + s.ms, 0);
    expect(stepsMs).toBeGreaterThan(0);
    expect(stepsMs).toBeLessThanOrEqual(profile.totalMs + 1e-6);
    model.close();
  });

  it('a chain that ends in a ReduceMean to [N, C] gives forward\'s bits on 2 workers', async () => {
    const random = seeded(7);
    const values = (n: number) => Array.from({ length: n }, () => random() - 0.5);
    const model = loadOnnx(
      makeModel({
        nodes: [
          { op_type: 'Conv', name: 'conv', input: ['x', 'w'], output: ['c'], attribute: [attr.ints('pads', [1, 1, 1, 1])] },
          { op_type: 'Relu', name: 'relu', input: ['c'], output: ['r'] },
          { op_type: 'ReduceMean', name: 'mean', input: ['r'], output: ['y'], attribute: [attr.ints('axes', [2, 3]), attr.int('keepdims', 0)] },
        ],
        inputs: [valueInfo('x', ['N', 3, 9, 9])],
        outputs: [valueInfo('y', ['N', 8])],
        initializers: [floatTensor('w', [8, 3, 3, 3], values(8 * 27))],
      }),
    );
    const x = { shape: [4, 3, 9, 9], data: Float32Array.from(values(4 * 243)) };
    const got = await model.forwardWith(engines[1], x);
    expect(got.shape).toEqual([4, 8]);
    expect(firstBitDifference(got.data, model.forward(x).data)).toBe(-1);
    const [program] = model.executionFor(engines[1], { x: x.shape }).segments.flatMap((s) => (s.kind === 'program' && s.program ? [s.program] : []));
    expect(program.chains.map(({ from, to }) => [from, to])).toEqual([[0, program.stages.length]]);
    expect(program.lastRunMode).toBe('chained');
    model.close();
  });

  it('shufflenet_v2 and mobilenet_v2: every stage chains but the classifier (shufflenet_v2 its ReduceMean too)', async () => {
    for (const id of ['shufflenet_v2', 'mobilenet_v2']) {
      const c = CASES.find((k) => k.id === id)!;
      const model = loadOnnx(join(FIXTURES, c.file));
      const execution = model.executionFor(engines[1], { [model.inputs[0].name]: [4, ...c.inputShape.slice(1)] });
      const outside: string[] = [];
      for (const s of execution.segments) {
        if (s.kind !== 'program' || !s.program) continue;
        const chained = new Set(s.program.chains.flatMap((ch) => Array.from({ length: ch.to - ch.from }, (_, k) => ch.from + k)));
        s.stageSteps.forEach((step, stage) => chained.has(stage) || outside.push(execution.steps[step].opType));
      }
      expect(outside, id).toEqual(['Gemm']);
      model.close();
    }
  });
});
