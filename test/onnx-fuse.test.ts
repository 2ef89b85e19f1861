// Fusion of Conv -> BatchNormalization -> activation / residual Add (issue #14,
// src/onnx/fuse.ts): which nodes fuse in each fixture, what keeps a chain from
// fusing (a second reader, a graph output), the profile's fused steps, and
// that forward and forwardWith still agree bit for bit and with PyTorch.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { conv2d, convBiasActivation, GroupedConvEngine, loadOnnx, loadSafetensors, type ActivationOption, type Tensor } from '../src/index.js';
import type { OnnxModel } from '../src/onnx/model.js';
import { attr, CASES, decodeFixture, encodeModel, expectClose, FIXTURES, makeModel, valueInfo } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';

const io = (file: string) => loadSafetensors(join(FIXTURES, file));
const engine = new GroupedConvEngine({ workers: 2 });
afterAll(async () => {
  await engine.close();
});

function expectSameBits(got: Tensor, expected: Tensor): void {
  expect(got.shape).toEqual(expected.shape);
  expect(firstBitDifference(got.data, expected.data)).toBe(-1);
}

function planOf(model: OnnxModel, shape: number[]) {
  return model.planFor({ [model.inputs[0].name]: shape });
}

/** The fused groups' op types with how many of each, and the op types of the steps left on their own. */
function fusionsOf(id: string): { groups: Record<string, number>; single: string[] } {
  const c = CASES.find((x) => x.id === id)!;
  const model = loadOnnx(join(FIXTURES, c.file));
  const plan = planOf(model, c.inputShape);
  const groups: Record<string, number> = {};
  for (const f of plan.fusions) groups[f.opType] = (groups[f.opType] ?? 0) + 1;
  const single = plan.schedule.steps.flatMap((s) => (s.kind === 'single' ? [plan.steps[s.index].node.opType] : []));
  model.close();
  return { groups, single };
}

describe('which nodes fuse', () => {
  it('resnet_basic: every Conv -> BatchNormalization -> Relu, each block end with its Add -> Relu, the downsample Conv -> BatchNormalization', () => {
    const { groups, single } = fusionsOf('resnet_basic');
    // Stem + two BasicBlocks (the second with a downsample): 6 convolutions, none left alone.
    expect(groups).toEqual({ 'Conv+BatchNormalization+Relu': 3, 'Conv+BatchNormalization+Add+Relu': 2, 'Conv+BatchNormalization': 1 });
    for (const op of ['Conv', 'BatchNormalization', 'Relu', 'Add']) expect(single).not.toContain(op);
  });

  it('resnet_basic: the Add reading two Conv -> BatchNormalization chains fuses into the first; the other chain becomes its residual', () => {
    const c = CASES.find((x) => x.id === 'resnet_basic')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const plan = planOf(model, c.inputShape);
    const withResidual = plan.fusions.filter((f) => f.residual !== null);
    expect(withResidual).toHaveLength(2);
    const downsample = plan.fusions.find((f) => f.opType === 'Conv+BatchNormalization')!;
    expect(withResidual.some((f) => f.residual === downsample.output)).toBe(true);
    // Each group runs where its last node ran, so its residual is computed before it.
    const position = new Map(plan.schedule.steps.map((s, i) => [s.kind === 'fused' ? s.fused : null, i]));
    for (const f of withResidual) {
      const producer = plan.fusions.find((g) => g.output === f.residual);
      if (producer) expect(position.get(producer)!).toBeLessThan(position.get(f)!);
    }
    model.close();
  });

  it('mobilenet_v2: Conv -> BatchNormalization -> Clip (ReLU6), and the inverted residual Conv -> BatchNormalization -> Add', () => {
    const { groups, single } = fusionsOf('mobilenet_v2');
    expect(groups).toEqual({ 'Conv+BatchNormalization+Clip': 7, 'Conv+BatchNormalization': 2, 'Conv+BatchNormalization+Add': 1 });
    for (const op of ['BatchNormalization', 'Clip', 'Add']) expect(single).not.toContain(op);
  });

  it('mobilenet_v3: HardSwish and Relu fuse after a Conv, and the squeeze-excitation HardSigmoid; the classifier HardSwish after Gemm stays', () => {
    const { groups, single } = fusionsOf('mobilenet_v3');
    expect(groups['Conv+BatchNormalization+HardSwish']).toBe(4);
    expect(groups['Conv+BatchNormalization+Relu']).toBe(3);
    expect(groups['Conv+Relu']).toBe(2); // squeeze-excitation's fc1, which has a bias and no BatchNormalization
    expect(groups['Conv+HardSigmoid']).toBe(2); // its fc2: the scale, then multiplied into the features (that Mul stays)
    expect(single.filter((op) => op === 'HardSwish')).toHaveLength(1);
    expect(single.filter((op) => op === 'Mul')).toHaveLength(2);
    for (const op of ['BatchNormalization', 'HardSigmoid']) expect(single).not.toContain(op);
    const c = CASES.find((x) => x.id === 'mobilenet_v3')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    // torch.onnx exports nn.Hardsigmoid as HardSigmoid(alpha = 1/6, beta = 0.5).
    for (const f of planOf(model, c.inputShape).fusions.filter((g) => g.opType === 'Conv+HardSigmoid')) {
      expect(f.activation).toEqual({ kind: 'hardsigmoid', alpha: Math.fround(1 / 6), beta: 0.5 });
    }
    model.close();
  });

  it('efficientnet: Conv -> BatchNormalization -> SiLU (Sigmoid, Mul), the squeeze-excitation fc1 Conv -> SiLU and fc2 Conv -> Sigmoid', () => {
    const { groups, single } = fusionsOf('efficientnet_like');
    expect(groups).toEqual({
      'Conv+BatchNormalization+Sigmoid+Mul': 7, // the stem, each block's expansion and depthwise, the head
      'Conv+Sigmoid+Mul': 3,
      'Conv+Sigmoid': 3,
      'Conv+BatchNormalization': 2, // the projections
      'Conv+BatchNormalization+Add': 1,
    });
    // Left on their own: the squeeze (pool) and the excitation's multiply into the features, per block, and the classifier.
    expect(single).toEqual(['GlobalAveragePool', 'Mul', 'GlobalAveragePool', 'Mul', 'GlobalAveragePool', 'Mul', 'GlobalAveragePool', 'Flatten', 'Gemm']);
  });

  it('squeezenet: each Conv -> Relu; densenet: the pre-activation BatchNormalization -> Relu before a Conv stays on its own', () => {
    expect(fusionsOf('squeezenet_like').groups).toEqual({ 'Conv+Relu': 11 });
    const dense = fusionsOf('densenet_like');
    expect(dense.groups).toEqual({ 'Conv+BatchNormalization+Relu': 5 });
    expect(dense.single.filter((op) => op === 'BatchNormalization')).toHaveLength(6);
  });

  it('convnext: a depthwise Conv followed by LayerNorm fuses nothing', () => {
    expect(fusionsOf('convnext_like').groups).toEqual({});
  });
});

describe('what keeps a chain from fusing', () => {
  const c = CASES.find((x) => x.id === 'resnet_basic')!;
  const stemConv = '/0/0.0/Conv_output_0';

  /** resnet_basic with the stem Conv's output also read by `extra` (a node whose output is a graph output) or itself a graph output. */
  function edited(extra: boolean): Uint8Array {
    const m = decodeFixture(c.file);
    expect(m.graph.node[0].output[0]).toBe(stemConv);
    if (extra) {
      m.graph.node.splice(1, 0, { op_type: 'Identity', name: 'second_reader', input: [stemConv], output: ['stem_copy'] });
      m.graph.output.push(valueInfo('stem_copy', [1, 16, 16, 16]));
    } else {
      m.graph.output.push(valueInfo(stemConv, [1, 16, 16, 16]));
    }
    return encodeModel(m);
  }

  for (const [what, extra] of [['a Conv whose output has a second reader', true], ['a Conv whose output is a graph output', false]] as const) {
    it(`${what} does not fuse; the rest still does, and the results stay right`, async () => {
      const model = loadOnnx(edited(extra));
      const { input, expected } = io(c.io);
      const plan = planOf(model, input.shape);
      expect(plan.fusions.some((f) => f.input === 'input')).toBe(false);
      expect(plan.fusions.map((f) => f.opType).filter((op) => op === 'Conv+BatchNormalization+Relu')).toHaveLength(2);
      const single = plan.schedule.steps.flatMap((s) => (s.kind === 'single' ? [plan.steps[s.index].node.name] : []));
      expect(single).toEqual(expect.arrayContaining(['/0/0.0/Conv', '/0/0.1/BatchNormalization', '/0/0.2/Relu']));

      const outputs = model.run({ input });
      expectClose(outputs.output, expected);
      // The stem Conv ran unfused: exactly conv2d with the file's weight.
      const weight = model.stateDict()['0.0.weight'];
      const attribute = (name: string) => model.graph.nodes[0].attributes.get(name)!.value as number[];
      const stem = conv2d(input, weight, null, { stride: attribute('strides')[0], padding: attribute('pads')[0] });
      expectSameBits(outputs[extra ? 'stem_copy' : stemConv], stem);
      const onEngine = await model.runWith(engine, { input });
      for (const name of Object.keys(outputs)) expectSameBits(onEngine.outputs[name], outputs[name]);
      model.close();
    });
  }

  it('a Clip whose bounds are computed from the input does not fuse; one with constant bounds does, with the same bits as the op', async () => {
    // x -> Conv(1x1, 2 -> 2) -> Clip(min from the input's ReduceMean... here: a second graph input) vs constant bounds.
    const w = [0.5, -1.25, 2, 0.75];
    const make = (dynamicMin: boolean) =>
      makeModel({
        nodes: [
          { op_type: 'Conv', name: 'conv', input: ['x', 'w'], output: ['c'] },
          { op_type: 'Clip', name: 'clip', input: ['c', dynamicMin ? 'lo' : 'lo_const', 'hi'], output: ['y'] },
        ],
        inputs: dynamicMin ? [valueInfo('x', [1, 2, 3, 3]), valueInfo('lo', [])] : [valueInfo('x', [1, 2, 3, 3])],
        outputs: [valueInfo('y', [1, 2, 3, 3])],
        initializers: [
          { name: 'w', dims: [2, 2, 1, 1], data_type: 1, float_data: w },
          { name: 'hi', dims: [], data_type: 1, float_data: [1.5] },
          ...(dynamicMin ? [] : [{ name: 'lo_const', dims: [], data_type: 1, float_data: [-0.5] }]),
        ],
      });
    const x: Tensor = { shape: [1, 2, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => (i - 9) * 0.37) };
    const conv = conv2d(x, { shape: [2, 2, 1, 1], data: Float32Array.from(w) });
    const clipped = Float32Array.from(conv.data, (v) => Math.min(Math.max(v, -0.5), 1.5));

    const fused = loadOnnx(make(false));
    expect(planOf(fused, x.shape).fusions.map((f) => f.opType)).toEqual(['Conv+Clip']);
    expectSameBits(fused.forward(x), { shape: x.shape, data: clipped });
    expectSameBits(await fused.forwardWith(engine, x), { shape: x.shape, data: clipped });
    fused.close();

    const dynamic = loadOnnx(make(true));
    const lo: Tensor = { shape: [], data: Float32Array.of(-0.5) };
    expect(dynamic.planFor({ x: x.shape, lo: [] }).fusions).toEqual([]);
    expectSameBits(dynamic.run({ x, lo }).y, { shape: x.shape, data: clipped });
    dynamic.close();
  });
});

describe('Sigmoid, SiLU and HardSigmoid after a Conv: what fuses, and the bits', () => {
  // x -> Conv(1x1, 2 -> 2, bias) -> c, then the nodes under test. c's values cross where exp under- and overflows.
  const w = [3, -40, 25, 0.5];
  const bias = [0.25, -1];
  const x: Tensor = { shape: [1, 2, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => (i - 9) * 0.37) };
  const convOut = conv2d(x, { shape: [2, 2, 1, 1], data: Float32Array.from(w) }, { shape: [2], data: Float32Array.from(bias) });
  const shape = [1, 2, 3, 3];
  const make = (nodes: object[], outputs = ['y']) =>
    makeModel({
      nodes: [{ op_type: 'Conv', name: 'conv', input: ['x', 'w', 'b'], output: ['c'] }, ...nodes],
      inputs: [valueInfo('x', shape)],
      outputs: outputs.map((n) => valueInfo(n, shape)),
      initializers: [
        { name: 'w', dims: [2, 2, 1, 1], data_type: 1, float_data: w },
        { name: 'b', dims: [2], data_type: 1, float_data: bias },
      ],
    });
  const fusedConv = (activation: ActivationOption) => convBiasActivation(x, { shape: [2, 2, 1, 1], data: Float32Array.from(w) }, { shape: [2], data: Float32Array.from(bias) }, { activation });
  /** The fused groups' op types, and forward = forwardWith = the fused op (when one fuses) bit for bit, within the ONNX tolerance of float64 `exact`. */
  async function check(model: Uint8Array, expectedGroups: string[], activation: ActivationOption | null, exact: (v: number) => number) {
    const m = loadOnnx(model);
    try {
      expect(planOf(m, shape).fusions.map((f) => f.opType)).toEqual(expectedGroups);
      const out = m.forward(x);
      expectSameBits(await m.forwardWith(engine, x), out);
      if (activation !== null) expectSameBits(out, fusedConv(activation));
      expectClose(out, { shape, data: Float32Array.from(convOut.data, exact) });
    } finally {
      m.close();
    }
  }
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const sigmoidThenMul = (first: string, second: string) => [
    { op_type: 'Sigmoid', name: 'sig', input: ['c'], output: ['s'] },
    { op_type: 'Mul', name: 'mul', input: [first, second], output: ['y'] },
  ];

  it('Conv -> Sigmoid', async () => {
    await check(make([{ op_type: 'Sigmoid', name: 'sig', input: ['c'], output: ['y'] }]), ['Conv+Sigmoid'], 'sigmoid', sigmoid);
  });

  it('Conv -> Sigmoid -> Mul(c, sigmoid) is SiLU, with the operands in either order', async () => {
    await check(make(sigmoidThenMul('c', 's')), ['Conv+Sigmoid+Mul'], 'silu', (v) => v * sigmoid(v));
    await check(make(sigmoidThenMul('s', 'c')), ['Conv+Sigmoid+Mul'], 'silu', (v) => v * sigmoid(v));
  });

  it('not SiLU when the sigmoid is a graph output, the Mul reads something else, or the Conv output has a third reader', async () => {
    // The sigmoid kept as an output: c has two readers, so neither the Sigmoid nor the Mul fuses.
    await check(make(sigmoidThenMul('c', 's'), ['y', 's']), [], null, (v) => v * sigmoid(v));
    // Mul(sigmoid, sigmoid): c is read once, by the Sigmoid, which fuses; the Mul stays.
    await check(make(sigmoidThenMul('s', 's')), ['Conv+Sigmoid'], null, (v) => sigmoid(v) ** 2);
    // A Relu reading c too.
    await check(
      make([...sigmoidThenMul('c', 's'), { op_type: 'Relu', name: 'third', input: ['c'], output: ['r'] }], ['y', 'r']),
      [],
      null,
      (v) => v * sigmoid(v),
    );
  });

  it("Conv -> HardSigmoid with the node's alpha and beta, or ONNX's defaults (0.2, 0.5)", async () => {
    const hard = (alpha: number, beta: number) => (v: number) => Math.max(0, Math.min(1, alpha * v + beta));
    const node = (attribute: object[]) => [{ op_type: 'HardSigmoid', name: 'hs', input: ['c'], output: ['y'], attribute }];
    await check(make(node([attr.float('alpha', 0.3), attr.float('beta', 0.4)])), ['Conv+HardSigmoid'], { kind: 'hardsigmoid', alpha: 0.3, beta: 0.4 }, hard(0.3, 0.4));
    await check(make(node([])), ['Conv+HardSigmoid'], { kind: 'hardsigmoid', alpha: 0.2, beta: 0.5 }, hard(0.2, 0.5));
  });
});

describe('results', () => {
  it('efficientnet and mobilenet_v3 with the new fusions: forward = forwardWith bit for bit, and within the ONNX tolerance of PyTorch', async () => {
    for (const id of ['efficientnet_like', 'mobilenet_v3']) {
      const c = CASES.find((x) => x.id === id)!;
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected } = io(c.io);
      const out = model.forward(input);
      expectClose(out, expected);
      expectSameBits(await model.forwardWith(engine, input), out);
      model.close();
    }
  });

  it('the first forward for a shape (the planning run) gives the bits of the later ones and of forwardWith', async () => {
    for (const id of ['resnet_basic', 'mobilenet_v2', 'mobilenet_v3']) {
      const c = CASES.find((x) => x.id === id)!;
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected } = io(c.io);
      const first = model.forward(input);
      expectClose(first, expected);
      expectSameBits(model.forward(input), first);
      expectSameBits(await model.forwardWith(engine, input), first);
      model.close();
    }
  });

  it('parameterCount and stateDict keep reporting the file (PyTorch), not the folded weights', async () => {
    const c = CASES.find((x) => x.id === 'resnet_basic')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const before = model.stateDict();
    const { input } = io(c.io);
    model.forward(input);
    await model.forwardWith(engine, input);
    expect(model.parameterCount()).toBe(c.parameterCount);
    const after = model.stateDict();
    expect(Object.keys(after)).toEqual(Object.keys(before));
    for (const name of Object.keys(before)) expectSameBits(after[name], before[name]);
    // The folded weights are elsewhere: the fused stem's weight is not the file's.
    const stem = planOf(model, input.shape).fusions[0];
    expect(firstBitDifference(stem.weight.data, before['0.0.weight'].data)).not.toBe(-1);
    model.close();
  });

  it('HardSwish computes x * relu6(x + 3) / 6 in float32 steps, as PyTorch and the fused epilogue do', () => {
    // (NaN, whose payload is the platform's, is checked apart.)
    const values = [-4, -3, -2.5, -1e-3, -0, 0, 0.1, 1 / 3, 2.9999998, 3, 3.0000002, 7, 123.456, Infinity, -Infinity];
    for (let i = 0; i < 200; i++) values.push(Math.fround(Math.sin(i * 12.9898) * 6));
    const model = loadOnnx(
      makeModel({
        nodes: [{ op_type: 'HardSwish', name: 'hs', input: ['x'], output: ['y'] }],
        inputs: [valueInfo('x', [values.length])],
        outputs: [valueInfo('y', [values.length])],
        opset: 14,
      }),
    );
    const x = Float32Array.from(values);
    const f = Math.fround;
    const expected = Float32Array.from(x, (v) => f(f(v * f(Math.min(Math.max(f(v + 3), 0), 6))) / 6));
    expectSameBits(model.forward({ shape: [x.length], data: x }), { shape: [x.length], data: expected });
    expect(model.forward({ shape: [x.length], data: x.fill(NaN) }).data.every(Number.isNaN)).toBe(true);
    model.close();
  });
});

describe('the profile', () => {
  it('reports each fused group once, with the op types and names of the nodes it covers', async () => {
    const c = CASES.find((x) => x.id === 'resnet_basic')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const { input, expected } = io(c.io);
    const { output, profile } = await model.forwardWith(engine, input, { profile: true });
    expectClose(output, expected);
    const plan = planOf(model, input.shape);
    const fusedAway = plan.fusions.reduce((n, f) => n + f.planSteps.length - 1, 0);
    expect(profile.steps).toHaveLength(plan.steps.length - fusedAway);
    expect(profile.steps.filter((s) => s.opType === 'Conv+BatchNormalization+Add+Relu')).toHaveLength(2);
    expect(profile.steps.map((s) => s.opType)).not.toContain('BatchNormalization');
    const stem = profile.steps[0];
    expect(stem).toMatchObject({ opType: 'Conv+BatchNormalization+Relu', name: '/0/0.0/Conv', kind: 'engine', nodes: ['/0/0.0/Conv', '/0/0.1/BatchNormalization', '/0/0.2/Relu'] });
    for (const s of profile.steps) {
      expect(s.nodes.length).toBe(s.opType.split('+').length);
      if (s.kind === 'engine') expect(s.engine).not.toBeNull();
    }
    model.close();
  });
});
