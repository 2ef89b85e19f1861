// OnnxModel.forward against PyTorch's own outputs (the fixtures' .io.safetensors),
// the symbolic batch at other batch sizes, the per-shape plan (shape chains
// folded away), and ops checked on small hand-made graphs.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError, ExecutionError, loadOnnx, loadSafetensors, type Tensor } from '../src/index.js';
import { erf } from '../src/onnx/ops/elementwise.js';
import { attr, CASES, expectClose, FIXTURES, floatTensor, intTensor, makeModel, valueInfo } from './support/onnx.js';

const io = (file: string) => loadSafetensors(join(FIXTURES, file));

/** Images `picks` of a batch, stacked into a new batch. */
function stack(t: Tensor, picks: number[]): Tensor {
  const per = t.data.length / t.shape[0];
  const data = new Float32Array(per * picks.length);
  picks.forEach((p, i) => data.set(t.data.subarray(p * per, (p + 1) * per), i * per));
  return { shape: [picks.length, ...t.shape.slice(1)], data };
}

describe('OnnxModel.forward matches PyTorch', () => {
  for (const c of CASES) {
    it(`${c.id}: ${c.operators.length} operator types, output [${c.outputShape}]`, () => {
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected } = io(c.io);
      expect(input.shape).toEqual(c.inputShape);
      const first = model.forward(input);
      expectClose(first, expected);
      // The second call runs the plan the first one made: same numbers, bit for bit.
      const second = model.forward(input);
      expect(second.data).toEqual(first.data);
    });
  }
});

describe('a symbolic batch dimension', () => {
  const symbolic = CASES.filter((c) => typeof c.inputs[0].shape[0] === 'string');

  it('is in at least four fixtures', () => {
    expect(symbolic.map((c) => c.id)).toEqual(expect.arrayContaining(['vgg_like', 'shufflenet_v2', 'convnext_like', 'googlenet_like', 'shufflenet_v2_dynhw']));
  });

  for (const c of symbolic) {
    it(`${c.id} runs at two more batch sizes, each image as PyTorch computed it`, () => {
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected } = io(c.io);
      const n = input.shape[0];
      for (const picks of [[n - 1, 0, n - 1], n > 1 ? [1] : [0, 0]]) {
        expectClose(model.forward(stack(input, picks)), stack(expected, picks));
      }
      expect(model.forward(input).shape).toEqual(expected.shape);
    });
  }

  it('is the only dimension that may change', () => {
    const model = loadOnnx(join(FIXTURES, 'vgg_like.onnx'));
    expect(() => model.forward({ shape: [1, 3, 16, 16], data: new Float32Array(3 * 16 * 16) })).toThrow(ArgumentError);
    expect(() => model.forward({ shape: [1, 3, 16, 16], data: new Float32Array(3 * 16 * 16) })).toThrow(/expects \[batch, 3, 32, 32\]/);
    expect(() => model.forward({ shape: [3, 32, 32], data: new Float32Array(3 * 32 * 32) })).toThrow(ArgumentError);
  });
});

describe('symbolic height and width', () => {
  const dynamic = CASES.filter((c) => typeof c.inputs[0].shape[2] === 'string');

  it('are in two fixtures', () => {
    expect(dynamic.map((c) => c.id).sort()).toEqual(['mobilenet_v3_dynhw', 'shufflenet_v2_dynhw']);
  });

  for (const c of dynamic) {
    it(`${c.id}: a second input of another batch, height and width, as PyTorch computed it`, () => {
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input, expected, input2, expected2 } = io(c.io);
      expect(input2.shape.slice(2)).not.toEqual(input.shape.slice(2));
      expectClose(model.forward(input), expected);
      expectClose(model.forward(input2), expected2);
      // Each shape has its own plan, with its own folded Reshape targets.
      expect(model.planFor({ input: input2.shape }).shapes.get('input')).toEqual(input2.shape);
      expectClose(model.forward(input), expected);
    });
  }
});

describe('the per-shape plan', () => {
  it('folds the Shape/Gather/Unsqueeze/Concat chains around Reshape to constants', () => {
    const model = loadOnnx(join(FIXTURES, 'shufflenet_v2.onnx'));
    const all = model.graph.nodes.map((n) => n.opType);
    expect(all).toContain('Shape');
    const plan = model.planFor({ input: [4, 3, 32, 32] });
    const steps = plan.steps.map((s) => s.node.opType);
    for (const folded of ['Shape', 'Gather', 'Unsqueeze', 'Constant', 'Cast', 'Div']) expect(steps).not.toContain(folded);
    expect(steps).toContain('Reshape');
    expect(steps.length).toBeLessThan(all.length / 2);
    // Every value has its shape for this input shape.
    expect(plan.shapes.get('output')).toEqual([4, 10]);
    // One plan per input shape.
    expect(model.planFor({ input: [4, 3, 32, 32] })).toBe(plan);
    expect(model.planFor({ input: [2, 3, 32, 32] })).not.toBe(plan);
  });

  it("resolves the If of PyTorch's LRN export once shapes are known", () => {
    const model = loadOnnx(join(FIXTURES, 'alexnet_lrn.onnx'));
    const plan = model.planFor({ input: [1, 3, 32, 32] });
    const steps = plan.steps.map((s) => s.node.opType);
    expect(model.graph.nodes.some((n) => n.opType === 'If')).toBe(true);
    expect(steps).toContain('AveragePool'); // the 3-D pooling of the squares
    expect(steps).not.toContain('Equal');
  });

  it('refuses an If whose condition depends on the input values', () => {
    const branch = (name: string, op: string) => ({ name, node: [{ op_type: op, input: ['x'], output: [`${name}_y`] }], output: [valueInfo(`${name}_y`, [2])] });
    const bytes = makeModel({
      nodes: [
        { op_type: 'ReduceMean', input: ['x'], output: ['m'], attribute: [attr.int('keepdims', 0)] },
        { op_type: 'Equal', input: ['m', 'zero'], output: ['c'] },
        { op_type: 'If', name: 'choose', input: ['c'], output: ['y'], attribute: [attr.graph('then_branch', branch('t', 'Relu')), attr.graph('else_branch', branch('e', 'Sigmoid'))] },
      ],
      inputs: [valueInfo('x', [2])],
      outputs: [valueInfo('y', [2])],
      initializers: [floatTensor('zero', [], [0])],
    });
    const model = loadOnnx(bytes);
    expect(() => model.forward({ shape: [2], data: Float32Array.of(1, 2) })).toThrow(ExecutionError);
    expect(() => model.forward({ shape: [2], data: Float32Array.of(1, 2) })).toThrow(/node 'choose' \(If\).*condition depends on the input values/);
  });
});

/** Runs a one-node model on x. */
function runOp(op: string, x: Tensor, options: { attributes?: any[]; extra?: any[]; extraInputs?: string[]; opset?: number; outputs?: number } = {}): Tensor[] {
  const outs = Array.from({ length: options.outputs ?? 1 }, (_, i) => `y${i}`);
  const bytes = makeModel({
    nodes: [{ op_type: op, name: `the_${op}`, input: ['x', ...(options.extraInputs ?? [])], output: outs, attribute: options.attributes ?? [] }],
    inputs: [valueInfo('x', x.shape)],
    outputs: outs.map((o) => valueInfo(o, [])),
    initializers: options.extra ?? [],
    opset: options.opset,
  });
  const model = loadOnnx(bytes);
  const r = model.run({ x });
  return outs.map((o) => r[o]);
}

const t = (shape: number[], values: number[]): Tensor => ({ shape, data: Float32Array.from(values) });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('operators on hand-made graphs', () => {
  it('Conv with asymmetric pads pads first, then convolves', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    const w = floatTensor('w', [1, 1, 2, 2], [1, 1, 1, 1]);
    // pads [top, left, bottom, right] = [0, 0, 1, 1]: windows at (0,0), (0,1), (1,0), (1,1) of a 3x3 padded input.
    const [y] = runOp('Conv', x, { extra: [w], extraInputs: ['w'], attributes: [attr.ints('pads', [0, 0, 1, 1])] });
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(y.data)).toEqual([10, 6, 7, 4]);
    // SAME_UPPER with stride 2: output ceil(2/2) = 1, the padding at the end.
    const [same] = runOp('Conv', x, { extra: [w], extraInputs: ['w'], attributes: [attr.string('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2, 2])] });
    expect(Array.from(same.data)).toEqual([10]);
  });

  it('Reshape copies a 0 from the input and infers -1, unless allowzero', () => {
    const x = t([2, 3, 4], range(24));
    expect(runOp('Reshape', x, { extra: [intTensor('s', [3], [0, -1, 2])], extraInputs: ['s'] })[0].shape).toEqual([2, 6, 2]);
    const bytes = makeModel({
      nodes: [{ op_type: 'Reshape', name: 'r', input: ['x', 's'], output: ['y'], attribute: [attr.int('allowzero', 1)] }],
      inputs: [valueInfo('x', [2, 0])],
      outputs: [valueInfo('y', [])],
      initializers: [intTensor('s', [2], [0, 5])],
      opset: 14,
    });
    expect(loadOnnx(bytes).forward({ shape: [2, 0], data: new Float32Array(0) }).shape).toEqual([0, 5]);
  });

  it('LayerNormalization over the last axes, with its optional Mean and InvStdDev outputs', () => {
    const x = t([2, 2], [1, 3, 0, 4]);
    const [y, mean, inv] = runOp('LayerNormalization', x, {
      opset: 17,
      outputs: 3,
      extra: [floatTensor('g', [2], [1, 2]), floatTensor('b', [2], [0, 1])],
      extraInputs: ['g', 'b'],
      attributes: [attr.float('epsilon', 0)],
    });
    expect(Array.from(y.data)).toEqual([-1, 3, -1, 3]);
    expect([mean.shape, Array.from(mean.data)]).toEqual([[2, 1], [2, 2]]);
    expect(Array.from(inv.data)).toEqual([1, 0.5]);
  });

  it('Clip takes its bounds as attributes before opset 11 and as inputs after', () => {
    const x = t([4], [-2, -0.5, 0.5, 2]);
    expect(Array.from(runOp('Clip', x, { opset: 10, attributes: [attr.float('min', -1), attr.float('max', 1)] })[0].data)).toEqual([-1, -0.5, 0.5, 1]);
    const bounds = [floatTensor('lo', [], [0]), floatTensor('hi', [], [1])];
    expect(Array.from(runOp('Clip', x, { extra: bounds, extraInputs: ['lo', 'hi'] })[0].data)).toEqual([0, 0, 0.5, 1]);
    expect(Array.from(runOp('Clip', x, { extra: bounds.slice(1), extraInputs: ['', 'hi'] })[0].data)).toEqual([-2, -0.5, 0.5, 1]);
  });

  it('Split by attribute (opset 11), by input (13) and in equal parts', () => {
    const x = t([1, 5], range(5));
    const [a, b] = runOp('Split', x, { opset: 11, outputs: 2, attributes: [attr.int('axis', 1), attr.ints('split', [2, 3])] });
    expect([Array.from(a.data), Array.from(b.data)]).toEqual([[0, 1], [2, 3, 4]]);
    const [c, d] = runOp('Split', x, { outputs: 2, attributes: [attr.int('axis', -1)], extra: [intTensor('s', [2], [4, 1])], extraInputs: ['s'] });
    expect([Array.from(c.data), Array.from(d.data)]).toEqual([[0, 1, 2, 3], [4]]);
    const [e, f] = runOp('Split', t([4, 1], range(4)), { outputs: 2 });
    expect([e.shape, Array.from(f.data)]).toEqual([[2, 1], [2, 3]]);
  });

  it('Slice with negative steps and clamped ends', () => {
    const x = t([2, 5], range(10));
    const inputs = [intTensor('s', [1], [-1]), intTensor('e', [1], [-1e18]), intTensor('a', [1], [1]), intTensor('st', [1], [-2])];
    const [y] = runOp('Slice', x, { extra: inputs, extraInputs: ['s', 'e', 'a', 'st'] });
    expect(y.shape).toEqual([2, 3]);
    expect(Array.from(y.data)).toEqual([4, 2, 0, 9, 7, 5]);
  });

  it('Gemm with transA, alpha, beta and a broadcast C', () => {
    const a = t([2, 2], [1, 2, 3, 4]); // A^T = [[1, 3], [2, 4]]
    const extra = [floatTensor('b', [2, 2], [1, 0, 0, 1]), floatTensor('c', [1, 2], [10, 20])];
    const [y] = runOp('Gemm', a, { extra, extraInputs: ['b', 'c'], attributes: [attr.int('transA', 1), attr.float('alpha', 2), attr.float('beta', 0.5)] });
    expect(Array.from(y.data)).toEqual([2 + 5, 6 + 10, 4 + 5, 8 + 10]);
  });

  it('MatMul broadcasts batch dimensions', () => {
    const a = t([2, 1, 2], [1, 2, 3, 4]);
    const [y] = runOp('MatMul', a, { extra: [floatTensor('b', [1, 2, 3], [1, 0, 1, 0, 1, 1])], extraInputs: ['b'] });
    expect(y.shape).toEqual([2, 1, 3]);
    expect(Array.from(y.data)).toEqual([1, 2, 3, 3, 4, 7]);
  });

  it('Softmax is 2-D coerced before opset 13 and along one axis from 13', () => {
    const x = t([1, 2, 2], [0, 0, 0, 0]);
    expect(Array.from(runOp('Softmax', x, { opset: 11 })[0].data)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(Array.from(runOp('Softmax', x, { opset: 13, attributes: [attr.int('axis', 1)] })[0].data)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('MaxPool with asymmetric pads and ceil mode, AveragePool counting pads or not', () => {
    const x = t([1, 1, 3, 3], range(9));
    const [m] = runOp('MaxPool', x, { attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 0, 0])] });
    expect(Array.from(m.data)).toEqual([0, 2, 6, 8]);
    const [c] = runOp('MaxPool', x, { attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.int('ceil_mode', 1)] });
    expect(Array.from(c.data)).toEqual([4, 5, 7, 8]);
    const [avg] = runOp('AveragePool', x, { attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.ints('strides', [2, 2])] });
    expect(Array.from(avg.data)).toEqual([0, 1.5, 4.5, 6]);
    const [incl] = runOp('AveragePool', x, { attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.ints('strides', [2, 2]), attr.int('count_include_pad', 1)] });
    expect(incl.data[0]).toBe(0);
    expect(incl.data[1]).toBe((1 + 2) / 4);
  });

  it('LRN of an even size uses ONNX window, which is not PyTorch\'s', () => {
    const x = t([1, 3, 1, 1], [1, 2, 3]);
    const [y] = runOp('LRN', x, { attributes: [attr.int('size', 2), attr.float('alpha', 2), attr.float('beta', 1), attr.float('bias', 0)] });
    // ONNX: window [c, c + 1]. y_c = x_c / (alpha / size * sum of squares) = x_c / (sum).
    expect(Array.from(y.data)).toEqual([1 / 5, 2 / 13, 3 / 9].map((v) => Math.fround(v)));
  });

  it('ReduceMean, Pad (negative pads crop), Gather and Transpose', () => {
    const x = t([2, 3], range(6));
    expect(Array.from(runOp('ReduceMean', x, { attributes: [attr.ints('axes', [0]), attr.int('keepdims', 0)] })[0].data)).toEqual([1.5, 2.5, 3.5]);
    const [p] = runOp('Pad', x, { extra: [intTensor('p', [4], [0, -1, 1, 1]), floatTensor('v', [], [9])], extraInputs: ['p', 'v'] });
    expect(p.shape).toEqual([3, 3]);
    expect(Array.from(p.data)).toEqual([1, 2, 9, 4, 5, 9, 9, 9, 9]);
    expect(Array.from(runOp('Gather', x, { extra: [intTensor('i', [2], [2, -3])], extraInputs: ['i'], attributes: [attr.int('axis', 1)] })[0].data)).toEqual([2, 0, 5, 3]);
    expect(Array.from(runOp('Transpose', x)[0].data)).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('ReduceMean over trailing axes and GlobalAveragePool sum in the lane order of kernels/plane-mean.ts', () => {
    // A plane of 40: 2^60 at element 0 and -2^60 at element 16 (both lane 0), every other element 1. By
    // lanes they cancel and all 38 ones are kept; summed in element order, the 1s before -2^60 were lost.
    const x = t([1, 2, 5, 8], range(80).map((i) => (i % 40 === 0 ? 2 ** 60 : i % 40 === 16 ? -(2 ** 60) : 1)));
    const expected = [Math.fround(38 / 40), Math.fround(38 / 40)];
    expect(Array.from(runOp('ReduceMean', x, { attributes: [attr.ints('axes', [2, 3]), attr.int('keepdims', 0)] })[0].data)).toEqual(expected);
    expect(Array.from(runOp('GlobalAveragePool', x)[0].data)).toEqual(expected);
    // Over a leading axis the elements are not a run: summed as they come, in memory order.
    expect(Array.from(runOp('ReduceMean', t([3, 2], [2 ** 60, 1, 1, 1, -(2 ** 60), 1]), { attributes: [attr.ints('axes', [0]), attr.int('keepdims', 0)] })[0].data)).toEqual([0, 1]);
  });

  it('the unary activations beyond the brief: Neg, Abs, Exp, Log, Tanh, Reciprocal, Floor, Ceil, LeakyRelu, Elu, Softplus', () => {
    const values = [-2, -0.5, 0.25, 1.5];
    const x = t([4], values);
    const cases: [string, (v: number) => number, any[]?][] = [
      ['Neg', (v) => -v],
      ['Abs', Math.abs],
      ['Exp', Math.exp],
      ['Log', Math.log],
      ['Tanh', Math.tanh],
      ['Reciprocal', (v) => 1 / v],
      ['Floor', Math.floor],
      ['Ceil', Math.ceil],
      ['LeakyRelu', (v) => (v < 0 ? 0.1 * v : v), [attr.float('alpha', 0.1)]],
      ['Elu', (v) => (v < 0 ? Math.expm1(v) : v)],
      ['Softplus', (v) => Math.log1p(Math.exp(v))],
    ];
    for (const [op, f, attributes] of cases) {
      expect(Array.from(runOp(op, x, { attributes })[0].data), op).toEqual(values.map((v) => Math.fround(f(v))));
    }
  });

  it('PRelu per channel; Max, Min, Sum, Mean over broadcast inputs; Expand; GlobalMaxPool', () => {
    const x = t([1, 2, 1, 2], [-1, 2, -3, 4]);
    expect(Array.from(runOp('PRelu', x, { extra: [floatTensor('s', [2, 1, 1], [0.5, 0.25])], extraInputs: ['s'] })[0].data)).toEqual([-0.5, 2, -0.75, 4]);
    const m = t([2, 2], [1, 5, -2, 0]);
    const extra = [floatTensor('b', [2], [3, 1]), floatTensor('c', [], [2])];
    const run = (op: string) => Array.from(runOp(op, m, { extra, extraInputs: ['b', 'c'] })[0].data);
    expect(run('Max')).toEqual([3, 5, 3, 2]);
    expect(run('Min')).toEqual([1, 1, -2, 0]);
    expect(run('Sum')).toEqual([6, 8, 3, 3]);
    expect(run('Mean')).toEqual([2, 8 / 3, 1, 1].map(Math.fround));
    const [e] = runOp('Expand', t([3, 1], [1, 2, 3]), { extra: [intTensor('s', [3], [2, 1, 4])], extraInputs: ['s'] });
    expect(e.shape).toEqual([2, 3, 4]);
    expect(Array.from(e.data.subarray(0, 8))).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    const [g] = runOp('GlobalMaxPool', x);
    expect([g.shape, Array.from(g.data)]).toEqual([[1, 2, 1, 1], [2, 4]]);
  });

  it('Greater, Less, Not and Where: |x| as Where(Not(x < 0), x, -x), and x > 0 counted', () => {
    const bytes = makeModel({
      nodes: [
        { op_type: 'Less', input: ['x', 'zero'], output: ['neg'] },
        { op_type: 'Not', input: ['neg'], output: ['pos'] },
        { op_type: 'Neg', input: ['x'], output: ['minus'] },
        { op_type: 'Where', input: ['pos', 'x', 'minus'], output: ['abs'] },
        { op_type: 'Greater', input: ['x', 'zero'], output: ['gt'] },
        { op_type: 'Cast', input: ['gt'], output: ['count'], attribute: [attr.int('to', 1)] },
      ],
      inputs: [valueInfo('x', [4])],
      outputs: [valueInfo('abs', [4]), valueInfo('count', [4])],
      initializers: [floatTensor('zero', [], [0])],
    });
    const r = loadOnnx(bytes).run({ x: t([4], [-2, 0, 3, -0.5]) });
    expect(Array.from(r.abs.data)).toEqual([2, 0, 3, 0.5]);
    expect(Array.from(r.count.data)).toEqual([0, 0, 1, 0]);
  });

  it('refuses, before allocating, outputs that attributes blow up (pads of 60000)', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    const w = floatTensor('w', [1, 1, 1, 1], [1]);
    expect(() => runOp('Conv', x, { extra: [w], extraInputs: ['w'], attributes: [attr.ints('pads', [60000, 60000, 60000, 60000])] })).toThrow(/node 'the_Conv' \(Conv\) failed .*larger than groupconv allows/);
    expect(() => runOp('AveragePool', x, { attributes: [attr.ints('kernel_shape', [1, 1]), attr.ints('pads', [60000, 60000, 60000, 60000])] })).toThrow(ExecutionError);
    expect(() => runOp('Pad', x, { extra: [intTensor('p', [8], [0, 0, 60000, 60000, 0, 0, 60000, 60000])], extraInputs: ['p'] })).toThrow(/larger than groupconv allows/);
  });

  it('erf is accurate to float32 across its range', () => {
    // Reference values of erf (to 1e-10).
    const table: [number, number][] = [[0.1, 0.1124629160], [0.5, 0.5204998778], [1, 0.8427007929], [2, 0.9953222650], [2.9, 0.9999589021], [3.5, 0.9999992569], [-1.5, -0.9661051465]];
    for (const [x, v] of table) expect(Math.abs(erf(x) - v)).toBeLessThan(1e-9);
  });
});
