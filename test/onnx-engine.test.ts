// OnnxModel.forwardWith: every Conv on a GroupedConvEngine, and every other op
// with a worker stage on its workers too (the rest on the calling thread). Each fixture matches PyTorch and is bitwise `forward`'s result
// on 1, 2 and 3 workers, and with programs on one runner on the calling thread (callingThread) at 1 and 2;
// weights are placed in shared memory once; the profile
// names every step with its op type, groups and FLOPs.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExecutionError, GroupedConvEngine, isShared, loadOnnx, loadSafetensors, sharedArena, type Tensor } from '../src/index.js';
import { attr, CASES, expectClose, FIXTURES, floatTensor, intTensor, makeModel, seeded, valueInfo } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';

const io = (file: string) => loadSafetensors(join(FIXTURES, file));
const engines = [
  ...[1, 2, 3].map((workers) => new GroupedConvEngine({ workers })),
  ...[1, 2].map((workers) => new GroupedConvEngine({ workers, callingThread: true })),
];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

function expectSameBits(got: Tensor, expected: Tensor): void {
  expect(got.shape).toEqual(expected.shape);
  expect(firstBitDifference(got.data, expected.data)).toBe(-1);
}

describe('forwardWith on 1, 2 and 3 workers, and on the calling thread', () => {
  for (const c of CASES) {
    it(`${c.id}: matches PyTorch, bitwise equal to forward`, async () => {
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected } = io(c.io);
      const reference = model.forward(input);
      for (const engine of engines) {
        const got = await model.forwardWith(engine, input);
        expectClose(got, expected);
        expectSameBits(got, reference);
        // A second call runs the same prepared layers.
        expectSameBits(await model.forwardWith(engine, input), reference);
      }
      // Every Conv of the plan runs on the engine.
      const execution = model.executionFor(engines[1], { [model.inputs[0].name]: input.shape });
      const convs = execution.plan.steps.filter((s) => s.node.opType === 'Conv').length;
      expect(execution.steps.filter((s) => s.kind === 'engine').length).toBe(convs);
      expect(execution.steps.filter((s) => s.kind === 'engine').every((s) => s.node.opType === 'Conv')).toBe(true);
      model.close();
    });
  }

  it('a second input size of a model with symbolic height and width gets its own layers where padding changes', async () => {
    const c = CASES.find((x) => x.id === 'mobilenet_v3_dynhw')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const { input, expected, input2, expected2 } = io(c.io);
    for (const [x, y] of [[input, expected], [input2, expected2], [input, expected]]) {
      const got = await model.forwardWith(engines[1], x);
      expectClose(got, y);
      expectSameBits(got, model.forward(x));
    }
    model.close();
  });
});

describe('weights and activations in shared memory', () => {
  it('places each Conv weight once per engine, frees them on close, and returns a shared output', async () => {
    const c = CASES.find((x) => x.id === 'resnet_basic')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const { input } = io(c.io);
    const arena = sharedArena();
    const engine = engines[1];
    const before = arena.stats().liveBytes;
    const first = await model.forwardWith(engine, input);
    expect(arena.stats().liveBytes).toBeGreaterThan(before);
    // A program on 2 workers without chains runs its two ways in turn at first (mode-choice.ts: each way's
    // first run untimed), and each way keeps its run table and scratch for its next run: once both have run,
    // nothing more stays.
    for (let i = 0; i < 3; i++) {
      const out = await model.forwardWith(engine, input);
      if (isShared(out)) arena.release(out.data);
    }
    const afterFirst = arena.stats().liveBytes;
    // The weights stay placed; the activations of a forward are freed at their last use. The output
    // (written by the workers, so in the arena) is the caller's: freed here rather than left to the collector.
    for (let i = 0; i < 3; i++) {
      const out = await model.forwardWith(engine, input);
      if (isShared(out)) arena.release(out.data);
    }
    expect(arena.stats().liveBytes).toBeLessThanOrEqual(afterFirst);
    const convs = model.graph.nodes.filter((n) => n.opType === 'Conv').length;
    const execution = model.executionFor(engine, { input: input.shape });
    expect(execution.steps.filter((s) => s.kind === 'engine').length).toBe(convs);
    expect(first.shape).toEqual(c.outputShape);
    model.close();
    expect(arena.stats().liveBytes).toBeLessThan(afterFirst);
    await expect(model.forwardWith(engine, input)).rejects.toThrow(/closed/);
  });

  it('hands every engine call a shared input, so no call copies it (the model input aside)', async () => {
    for (const c of CASES) {
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected } = io(c.io);
      const execution = model.executionFor(engines[1], { [model.inputs[0].name]: input.shape });
      const copied: string[] = [];
      for (const step of execution.steps) {
        if (step.kind !== 'engine') continue;
        const run = step.layer.run.bind(step.layer);
        // A Conv reading the model's input gets the caller's (unshared) tensor; every other input was computed here.
        const fromModelInput = step.inputs[0] === model.inputs[0].name && step.setup.prePad === null;
        step.layer.run = ((x: Tensor, options?: object) => {
          if (!isShared(x) && !fromModelInput) copied.push(step.node.name);
          return run(x, options as never);
        }) as typeof step.layer.run;
      }
      expectClose(await model.forwardWith(engines[1], input), expected);
      expect(copied, c.id).toEqual([]);
      model.close();
    }
  });

  it('returns what the workers wrote (shared, no copy) when the last step runs on them', async () => {
    for (const id of ['padded_conv', 'resnext', 'mobilenet_v2']) {
      const c = CASES.find((x) => x.id === id)!;
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected } = io(c.io);
      const out = await model.forwardWith(engines[0], input);
      expectClose(out, expected);
      const last = model.executionFor(engines[0], { [model.inputs[0].name]: input.shape }).steps.at(-1)!;
      expect(isShared(out), id).toBe(last.kind !== 'host');
      model.close();
    }
  });
});

describe('the per-step profile', () => {
  it('names every step with its op type, groups and FLOPs, and splits engine time into kernel and hand-off', async () => {
    const c = CASES.find((x) => x.id === 'resnext')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const { input, expected } = io(c.io);
    const { output, profile } = await model.forwardWith(engines[1], input, { profile: true });
    expectClose(output, expected);
    const execution = model.executionFor(engines[1], { input: input.shape });
    expect(profile.workers).toBe(2);
    // One profile step per execution step: a fused group (Conv+BatchNormalization+Relu, ...) once, named by its Conv.
    expect(profile.steps.map((s) => s.opType)).toEqual(execution.steps.map((s) => s.nodes.map((n) => n.opType).join('+')));
    expect(profile.steps.map((s) => s.name)).toEqual(execution.steps.map((s) => s.node.name));
    expect(profile.steps.map((s) => s.nodes)).toEqual(execution.steps.map((s) => s.planSteps.map((i) => execution.plan.steps[i].node.name)));
    for (const [i, s] of profile.steps.entries()) {
      const step = execution.plan.steps[execution.steps[i].planSteps[0]];
      if (s.opType.startsWith('Conv')) {
        const w = model.graph.initializers.get(step.inputs[1])!;
        const out = execution.plan.shapes.get(step.outputs[0])!;
        const group = model.graph.nodes.find((n) => n === step.node)!.attributes.get('group');
        expect(s.kind).toBe('engine');
        expect(s.groups).toBe(group ? group.value : 1);
        // 2 x (output elements) x (input channels per group x kernel area)
        expect(s.flops).toBe(2 * out.reduce((a, b) => a * b, 1) * w.shape[1] * w.shape[2] * w.shape[3]);
        expect(s.engine!.kernelMs).toBeGreaterThanOrEqual(0);
        // The engine call (kernel + hand-off) happens within the step.
        expect(s.engine!.kernelMs + s.engine!.handoffMs).toBeLessThanOrEqual(s.ms + 0.05);
      } else {
        // Every other op of this model is a ranged kernel or an alias on the workers (worker-stages.ts).
        expect(s.kind).toBe(execution.steps[i].kind);
        expect(['ranged', 'alias']).toContain(s.kind);
        expect(s.groups).toBeNull();
        if (s.kind === 'ranged') expect(s.engine!.kernelMs + s.engine!.handoffMs).toBeLessThanOrEqual(s.ms + 0.05);
        else expect(s.engine).toBeNull();
      }
      expect(s.ms).toBeGreaterThanOrEqual(0);
    }
    // ResNeXt's grouped 3x3 convolutions are in the profile with their groups.
    expect(profile.steps.some((s) => s.opType.startsWith('Conv') && (s.groups ?? 1) > 1)).toBe(true);
    const gemm = profile.steps.find((s) => s.opType === 'Gemm');
    if (gemm) expect(gemm.flops).toBeGreaterThan(0);
    expect(profile.totalMs).toBeGreaterThanOrEqual(profile.steps.reduce((a, s) => a + s.ms, 0) * 0.99);
    model.close();
  });
});

describe('releasing the engine while a forward runs', () => {
  it('the running forward keeps the shared constants its programs read until it is done', async () => {
    const c = CASES.find((x) => x.id === 'resnext')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const { input } = io(c.io);
    const reference = model.forward(input);
    const engine = engines[1];
    const arena = sharedArena();
    await model.forwardWith(engine, input);
    const execution = model.executionFor(engine, { [model.inputs[0].name]: input.shape });
    // The Gemm's weight and bias are constants in shared memory, read by a ranged stage.
    expect(execution.sharedConstants.size).toBeGreaterThan(0);
    const running = model.forwardWith(engine, input);
    model.release(engine);
    // Whatever the arena hands out now must not be memory the running forward still reads: scribble over it.
    const sizes = [...execution.sharedConstants.values()].map((a) => a.length);
    const scribbles = sizes.flatMap((n) => Array.from({ length: 4 }, () => arena.allocateFloat32(n).fill(Number.NaN)));
    expectSameBits(await running, reference);
    for (const a of scribbles) arena.release(a);
    model.close();
  });
});

describe('parameters JSON cannot write', () => {
  it('a Clip with one bound and a Pad filling with -Infinity reach the workers as they are', async () => {
    // Clip(min only) on the input (a ranged stage, max = +Infinity), Conv -> Clip(min only) (the epilogue's clip,
    // max = +Infinity, in the kernel plan), Pad with -Infinity, MaxPool (which reads the -Infinity borders).
    const rand = seeded(11);
    const w = floatTensor('w', [4, 3, 3, 3], Array.from({ length: 108 }, () => rand() - 0.5));
    const bytes = makeModel({
      nodes: [
        { op_type: 'Clip', name: 'clip_in', input: ['x', 'lo_in'], output: ['c0'] },
        { op_type: 'Conv', name: 'conv', input: ['c0', 'w'], output: ['c1'], attribute: [attr.ints('pads', [1, 1, 1, 1])] },
        { op_type: 'Clip', name: 'clip_conv', input: ['c1', 'lo'], output: ['c2'] },
        { op_type: 'Pad', name: 'pad', input: ['c2', 'pads', 'fill'], output: ['p'] },
        { op_type: 'MaxPool', name: 'pool', input: ['p'], output: ['y'], attribute: [attr.ints('kernel_shape', [3, 3])] },
      ],
      inputs: [valueInfo('x', [1, 3, 5, 5])],
      outputs: [valueInfo('y', [1, 4, 5, 5])],
      initializers: [
        w,
        floatTensor('lo_in', [], [-0.25]),
        floatTensor('lo', [], [0]),
        intTensor('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
        floatTensor('fill', [], [-Infinity]),
      ],
    });
    const model = loadOnnx(bytes);
    const input = { shape: [1, 3, 5, 5], data: Float32Array.from({ length: 75 }, () => 4 * (rand() - 0.5)) };
    const reference = model.forward(input);
    // Values above the Clips' lower bounds survive (an upper bound read as 0 would zero them).
    expect(reference.data.some((v) => v > 0.5)).toBe(true);
    const execution = model.executionFor(engines[1], { x: input.shape });
    expect(execution.steps.map((s) => s.kind)).toEqual(['ranged', 'engine', 'ranged', 'ranged']);
    for (const engine of engines) expectSameBits(await model.forwardWith(engine, input), reference);
    model.close();
  });
});

describe('bad arguments', () => {
  it('refuses a closed engine, a non-engine and unknown options before running', async () => {
    const model = loadOnnx(join(FIXTURES, 'padded_conv.onnx'));
    const { input } = io('padded_conv.io.safetensors');
    const closed = new GroupedConvEngine({ workers: 1 });
    await closed.close();
    await expect(model.forwardWith(closed, input)).rejects.toThrow(/GroupedConvEngine is closed/);
    await expect(model.forwardWith({} as GroupedConvEngine, input)).rejects.toThrow(/engine: expected a GroupedConvEngine/);
    await expect(model.forwardWith(engines[0], input, { profil: true } as never)).rejects.toThrow(/profil/);
    await expect(model.forwardWith(engines[0], { shape: [1, 2], data: new Float32Array(2) })).rejects.toThrow(/expects/);
    model.close();
  });

  it('a node on the calling thread that fails names itself, and the forward leaves no activation behind', async () => {
    // Conv -> Relu -> Softmax over a 4-D tensor's axis 1 at opset 11 (flattened from axis 1), which has no
    // worker stage, so it runs on the calling thread between two programs -> Conv.
    const rand = seeded(7);
    const w = (name: string, dims: number[]) => floatTensor(name, dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() - 0.5));
    const bytes = makeModel({
      opset: 11,
      nodes: [
        { op_type: 'Conv', name: 'conv1', input: ['x', 'w1'], output: ['c1'], attribute: [attr.ints('pads', [1, 1, 1, 1])] },
        { op_type: 'Relu', name: 'relu', input: ['c1'], output: ['r'] },
        { op_type: 'Softmax', name: 'softmax', input: ['r'], output: ['s'], attribute: [attr.int('axis', 1)] },
        { op_type: 'Conv', name: 'conv2', input: ['s', 'w2'], output: ['y'] },
      ],
      inputs: [valueInfo('x', [1, 3, 6, 6])],
      outputs: [valueInfo('y', [1, 4, 6, 6])],
      initializers: [w('w1', [8, 3, 3, 3]), w('w2', [4, 8, 1, 1])],
    });
    const model = loadOnnx(bytes);
    const input = { shape: [1, 3, 6, 6], data: Float32Array.from({ length: 108 }, () => rand() - 0.5) };
    // Until both of the program's two ways (mode-choice.ts) have run: each keeps its run table and scratch after its first run.
    for (let i = 0; i < 4; i++) expectSameBits(await model.forwardWith(engines[1], input), model.forward(input));
    const live = sharedArena().stats().liveBytes;
    // Break the plan's last host step: the forward fails after engine convolutions have run.
    const execution = model.executionFor(engines[1], { x: input.shape });
    const last = [...execution.steps].reverse().find((s) => s.kind === 'host')!;
    if (last.kind !== 'host') throw new Error('unreachable');
    const saved = last.step.run;
    last.step.run = () => {
      throw new Error('injected');
    };
    await expect(model.forwardWith(engines[1], input)).rejects.toThrow(ExecutionError);
    await expect(model.forwardWith(engines[1], input)).rejects.toThrow(new RegExp(`${last.node.name}.*injected`));
    last.step.run = saved;
    // (Less, not equal: the collector may free unrelated blocks meanwhile.)
    expect(sharedArena().stats().liveBytes).toBeLessThanOrEqual(live);
    model.close();
  });
});
