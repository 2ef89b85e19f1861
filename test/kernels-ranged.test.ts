// Every ranged kernel, through the stage workerStageOf makes for a one-node
// ONNX graph, against that node's host kernel (src/onnx/ops): seeded random
// inputs, several random partitions of [0, units) (single units and empty
// ranges among them) run in shuffled order; the bits must be the host's, each
// range must write only its own elements, and together they must write all.
import { describe, expect, it } from 'vitest';
import { Random } from '../src/index.js';
import { sharedArena } from '../src/memory/arena.js';
import { BINARY_MODES, binaryLayout } from '../src/kernels/ranged/binary.js';
import { runRanged } from '../src/kernels/ranged/index.js';
import { elementParams, elementRange, elementUnits, unitAt } from '../src/kernels/ranged/units.js';
import { unaryOp } from '../src/kernels/ranged/unary.js';
import { loadOnnx } from '../src/onnx/load.js';
import { floatValue, type Value } from '../src/onnx/value.js';
import { workerStageOf } from '../src/onnx/worker-stages.js';
import { attr, floatTensor, intTensor, makeModel, seeded, valueInfo } from './support/onnx.js';
import { randomPartition } from './support/ranged.js';
import { bits, firstBitDifference } from './support/tensors.js';

/** A NaN whose payload no kernel computes: an element still holding it was not written. */
const UNWRITTEN = 0x7fa1dead;

/** An input of the node: fed at run time, or a float / int64 initializer. */
type Operand = { shape: number[]; feed: true; positive?: boolean } | { shape: number[]; floats: number[] } | { shape: number[]; ints: number[] } | null;

interface Case {
  name: string;
  op: string;
  inputs: Operand[];
  attributes?: object[];
  outputs?: number;
  opset?: number;
  /** The kernel the stage must use (checks the mapping chose the intended path). */
  kernel: string;
}

const feed = (...shape: number[]): Operand => ({ shape, feed: true });
const positive = (...shape: number[]): Operand => ({ shape, feed: true, positive: true });
const floats = (shape: number[], values: number[]): Operand => ({ shape, floats: values });
const ints = (values: number[]): Operand => ({ shape: [values.length], ints: values });
const randomFloats = (random: Random, n: number) => Array.from({ length: n }, () => random.normal());

function cases(): Case[] {
  const r = new Random(7);
  const unary = (op: string, kernel: string, attributes: object[] = [], input = feed(2, 3, 37, 41)): Case => ({ name: op, op, inputs: [input], attributes, kernel });
  const binary = (op: string, kernel: string, a: Operand, b: Operand, name: string): Case => ({ name: `${op} ${name}`, op, inputs: [a, b], kernel });
  const list: Case[] = [
    unary('Relu', 'relu'),
    unary('Sigmoid', 'sigmoid'),
    unary('HardSigmoid', 'hardSigmoid', [attr.float('alpha', 0.3), attr.float('beta', 0.6)]),
    unary('HardSwish', 'hardSwish'),
    unary('LeakyRelu', 'leakyRelu', [attr.float('alpha', 0.1)]),
    unary('Erf', 'erf'),
    unary('Sqrt', 'sqrt', [], positive(2, 3, 37, 41)),
    unary('Tanh', 'tanh'),
    unary('Exp', 'exp'),
    unary('Neg', 'neg'),
    unary('Abs', 'abs'),
    { name: 'Clip (inputs)', op: 'Clip', inputs: [feed(3, 5000), floats([], [-0.5]), floats([], [0.75])], kernel: 'clip' },
    { name: 'Clip (only max)', op: 'Clip', inputs: [feed(3, 5000), null, floats([], [6])], kernel: 'clip' },
    { name: 'Clip (attributes, opset 7)', op: 'Clip', inputs: [feed(3, 5000)], attributes: [attr.float('min', -1), attr.float('max', 0.5)], opset: 7, kernel: 'clip' },
  ];
  for (const [op, kernel] of [['Add', 'add'], ['Sub', 'sub'], ['Mul', 'mul'], ['Div', 'div']]) {
    list.push(
      binary(op, kernel, feed(2, 5, 21, 23), feed(2, 5, 21, 23), 'same shape'),
      binary(op, kernel, feed(2, 5, 21, 23), feed(2, 5, 1, 1), 'per plane'),
      binary(op, kernel, feed(2, 5, 1, 1), feed(2, 5, 21, 23), 'per plane, swapped'),
      binary(op, kernel, feed(2, 5, 21, 23), floats([5, 1, 1], randomFloats(r, 5)), 'per channel'),
      binary(op, kernel, feed(2, 5, 21, 23), floats([], [1.7]), 'scalar'),
      binary(op, kernel, floats([1], [0.3]), feed(2, 5, 21, 23), 'scalar, swapped'),
      binary(op, kernel, feed(2, 5, 21, 23), floats([23], randomFloats(r, 23)), 'last axis'),
      binary(op, kernel, feed(2, 1, 21, 1), feed(1, 5, 1, 23), 'general'),
      binary(op, kernel, feed(2, 5, 1, 23), feed(2, 5, 21, 23), 'general, one operand whole'),
    );
  }
  list.push(
    binary('Pow', 'pow', feed(2, 5, 21, 23), floats([], [2]), 'square'),
    binary('Pow', 'pow', positive(2, 5, 21, 23), floats([], [0.75]), 'scalar'),
    binary('Pow', 'pow', positive(2, 5, 21, 23), positive(2, 5, 21, 23), 'same shape'),
    binary('Pow', 'pow', floats([], [1.5]), feed(2, 5, 21, 23), 'scalar base'),
    binary('Pow', 'pow', positive(2, 1, 21, 1), feed(1, 5, 1, 23), 'general'),
  );
  const pool = (name: string, op: string, kernel: string, attributes: object[], input = feed(2, 3, 17, 19)): Case => ({ name, op, inputs: [input], attributes, kernel });
  const k3 = attr.ints('kernel_shape', [3, 3]);
  list.push(
    pool('MaxPool 3x3 stride 2 pad 1', 'MaxPool', 'maxPool2d', [k3, attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]),
    pool('MaxPool 3x3 stride 2 ceil', 'MaxPool', 'maxPool2d', [k3, attr.ints('strides', [2, 2]), attr.int('ceil_mode', 1)]),
    pool('MaxPool 2x2 stride 1 dilation 2', 'MaxPool', 'maxPool2d', [attr.ints('kernel_shape', [2, 2]), attr.ints('dilations', [2, 2])]),
    pool('MaxPool asymmetric pads', 'MaxPool', 'pool', [k3, attr.ints('strides', [2, 2]), attr.ints('pads', [0, 0, 1, 1])]),
    pool('MaxPool SAME_UPPER', 'MaxPool', 'pool', [k3, attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_UPPER')]),
    pool('AveragePool pad 1, count_include_pad 0, ceil', 'AveragePool', 'pool', [k3, attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.int('ceil_mode', 1)]),
    pool('AveragePool pad 1, count_include_pad 1', 'AveragePool', 'pool', [k3, attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.int('count_include_pad', 1)]),
    pool('AveragePool 1-D', 'AveragePool', 'pool', [attr.ints('kernel_shape', [3]), attr.ints('pads', [1, 0])], feed(2, 4, 15)),
    pool('AveragePool 3-D over 5-D (torch LRN)', 'AveragePool', 'pool', [attr.ints('kernel_shape', [5, 1, 1]), attr.ints('strides', [1, 1, 1])], feed(2, 1, 9, 5, 6)),
    pool('GlobalAveragePool', 'GlobalAveragePool', 'globalAveragePool', []),
    pool('GlobalMaxPool', 'GlobalMaxPool', 'globalMaxPool', []),
    pool('ReduceMean over H, W', 'ReduceMean', 'globalAveragePool', [attr.ints('axes', [2, 3]), attr.int('keepdims', 1)]),
    pool('ReduceMean over the last axis, keepdims 0', 'ReduceMean', 'globalAveragePool', [attr.ints('axes', [-1]), attr.int('keepdims', 0)]),
  );
  const bn = (x: Operand, C: number): Operand[] => [x, floats([C], randomFloats(r, C)), floats([C], randomFloats(r, C)), floats([C], randomFloats(r, C)), floats([C], randomFloats(r, C).map((v) => Math.abs(v) + 0.1))];
  list.push(
    { name: 'BatchNormalization 4-D', op: 'BatchNormalization', inputs: bn(feed(2, 6, 7, 9), 6), attributes: [attr.float('epsilon', 1e-3)], kernel: 'batchNorm' },
    { name: 'BatchNormalization 2-D', op: 'BatchNormalization', inputs: bn(feed(5, 6), 6), kernel: 'batchNorm' },
    { name: 'LRN size 5, beta 0.75 (PyTorch order)', op: 'LRN', inputs: [feed(2, 9, 5, 7)], attributes: [attr.int('size', 5), attr.float('alpha', 1e-2)], kernel: 'lrn' },
    { name: 'LRN size 3, beta 0.6', op: 'LRN', inputs: [feed(2, 9, 5, 7)], attributes: [attr.int('size', 3), attr.float('beta', 0.6)], kernel: 'lrn' },
    { name: 'LRN size 4 (even)', op: 'LRN', inputs: [feed(2, 9, 5, 7)], attributes: [attr.int('size', 4), attr.float('alpha', 1e-2)], kernel: 'lrn' },
    { name: 'LRN 3-D input', op: 'LRN', inputs: [feed(2, 9, 11)], attributes: [attr.int('size', 3)], kernel: 'lrn' },
    { name: 'Softmax [3, 1000]', op: 'Softmax', inputs: [feed(3, 1000)], kernel: 'softmax' },
    { name: 'Softmax opset 11, axis 1 of 2-D', op: 'Softmax', inputs: [feed(4, 10)], attributes: [attr.int('axis', 1)], opset: 11, kernel: 'softmax' },
    { name: 'Softmax last axis of 3-D', op: 'Softmax', inputs: [feed(2, 3, 7)], attributes: [attr.int('axis', -1)], kernel: 'softmax' },
    { name: 'Concat channels', op: 'Concat', inputs: [feed(2, 3, 5, 4), feed(2, 1, 5, 4), feed(2, 6, 5, 4)], attributes: [attr.int('axis', 1)], kernel: 'concat' },
    { name: 'Concat last axis', op: 'Concat', inputs: [feed(2, 3, 5, 4), feed(2, 3, 5, 2)], attributes: [attr.int('axis', -1)], kernel: 'concat' },
    { name: 'Concat images', op: 'Concat', inputs: [feed(2, 3, 5), feed(1, 3, 5)], attributes: [attr.int('axis', 0)], kernel: 'concat' },
    { name: 'Split channels [2, 3, 1]', op: 'Split', inputs: [feed(2, 6, 5, 4), ints([2, 3, 1])], attributes: [attr.int('axis', 1)], outputs: 3, kernel: 'slice' },
    { name: 'Split equal, opset 11 attribute', op: 'Split', inputs: [feed(2, 6, 5, 4)], attributes: [attr.int('axis', 1)], outputs: 2, opset: 11, kernel: 'slice' },
    { name: 'Slice channels', op: 'Slice', inputs: [feed(2, 8, 5, 4), ints([2]), ints([7]), ints([1])], kernel: 'slice' },
    { name: 'Slice negative start, huge end', op: 'Slice', inputs: [feed(2, 8, 5, 4), ints([-3]), ints([2 ** 62]), ints([-1])], kernel: 'slice' },
    { name: 'Slice opset 9 attributes', op: 'Slice', inputs: [feed(2, 8, 5, 4)], attributes: [attr.ints('starts', [1]), attr.ints('ends', [3]), attr.ints('axes', [2])], opset: 9, kernel: 'slice' },
    { name: 'Transpose channel shuffle [0, 2, 1, 3, 4]', op: 'Transpose', inputs: [feed(2, 2, 3, 5, 4)], attributes: [attr.ints('perm', [0, 2, 1, 3, 4])], kernel: 'transpose' },
    { name: 'Transpose to channels last', op: 'Transpose', inputs: [feed(2, 3, 5, 4)], attributes: [attr.ints('perm', [0, 2, 3, 1])], kernel: 'transpose' },
    { name: 'Transpose reversed (default perm)', op: 'Transpose', inputs: [feed(2, 3, 5, 4)], kernel: 'transpose' },
    { name: 'Pad spatial', op: 'Pad', inputs: [feed(2, 3, 5, 4), ints([0, 0, 1, 2, 0, 0, 2, 1])], kernel: 'pad' },
    { name: 'Pad with a value', op: 'Pad', inputs: [feed(2, 3, 5, 4), ints([0, 1, 1, 0, 0, 0, 0, 3]), floats([], [1.5])], kernel: 'pad' },
    { name: 'Pad cropping', op: 'Pad', inputs: [feed(2, 3, 5, 4), ints([0, 0, -1, 1, 0, 0, 2, -2])], kernel: 'pad' },
    { name: 'Pad opset 7 attributes', op: 'Pad', inputs: [feed(2, 3, 5, 4)], attributes: [attr.ints('pads', [0, 0, 1, 1, 0, 0, 1, 1]), attr.float('value', -2)], opset: 7, kernel: 'pad' },
    { name: 'Gemm (nn.Linear) with bias', op: 'Gemm', inputs: [feed(3, 37), floats([50, 37], randomFloats(r, 50 * 37)), floats([50], randomFloats(r, 50))], attributes: [attr.int('transB', 1)], kernel: 'gemm' },
    { name: 'MatMul [2, 3, 4, 37] x constant [37, 50]', op: 'MatMul', inputs: [feed(2, 3, 4, 37), floats([37, 50], randomFloats(r, 37 * 50))], kernel: 'gemm' },
    { name: 'LayerNormalization with bias', op: 'LayerNormalization', inputs: [feed(2, 5, 7, 24), floats([24], randomFloats(r, 24)), floats([24], randomFloats(r, 24))], opset: 17, kernel: 'layerNorm' },
    { name: 'LayerNormalization over two axes, Mean and InvStdDev too', op: 'LayerNormalization', inputs: [feed(3, 5, 8), floats([5, 8], randomFloats(r, 40))], attributes: [attr.int('axis', 1)], outputs: 3, opset: 17, kernel: 'layerNorm' },
    { name: 'Gemm transA, B as stored, alpha, beta, C per row', op: 'Gemm', inputs: [feed(37, 5), floats([37, 20], randomFloats(r, 37 * 20)), floats([5, 1], randomFloats(r, 5))], attributes: [attr.int('transA', 1), attr.float('alpha', 0.5), attr.float('beta', 2)], kernel: 'gemmRows' },
    { name: 'Gemm transB, C [M, N]', op: 'Gemm', inputs: [feed(4, 9), floats([6, 9], randomFloats(r, 54)), floats([4, 6], randomFloats(r, 24))], attributes: [attr.int('transB', 1)], kernel: 'gemmRows' },
    { name: 'Gemm, scalar C, no bias form', op: 'Gemm', inputs: [feed(4, 9), floats([9, 6], randomFloats(r, 54)), floats([], [0.25])], kernel: 'gemmRows' },
    { name: 'Gemm without C, B as stored', op: 'Gemm', inputs: [feed(4, 9), floats([9, 6], randomFloats(r, 54))], kernel: 'gemmRows' },
    { name: 'Gemm without bias, one row', op: 'Gemm', inputs: [feed(1, 64), floats([70, 64], randomFloats(r, 70 * 64))], attributes: [attr.int('transB', 1)], kernel: 'gemm' },
  );
  return list;
}

/** A one-node model of `c`, its inputs drawn from `random`; returns the plan's step, the plan and the fed values. */
function build(c: Case, random: Random) {
  const initializers: object[] = [];
  const graphInputs: object[] = [];
  const feeds: Record<string, { shape: number[]; data: Float32Array }> = {};
  const names = c.inputs.map((operand, i) => {
    if (!operand) return '';
    const name = `in${i}`;
    if ('feed' in operand) {
      graphInputs.push(valueInfo(name, operand.shape));
      const n = operand.shape.reduce((a, d) => a * d, 1);
      const data = new Float32Array(n);
      for (let j = 0; j < n; j++) data[j] = operand.positive ? Math.abs(random.normal()) + 0.05 : random.normal() * 3;
      feeds[name] = { shape: operand.shape, data };
    } else if ('floats' in operand) {
      initializers.push(floatTensor(name, operand.shape, operand.floats));
    } else {
      initializers.push(intTensor(name, operand.shape, operand.ints));
    }
    return name;
  });
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`);
  const model = loadOnnx(
    makeModel({
      nodes: [{ op_type: c.op, name: 'node', input: names, output: outputs, attribute: c.attributes ?? [] }],
      inputs: graphInputs,
      outputs: outputs.map((o) => valueInfo(o, [])),
      initializers,
      opset: c.opset,
    }),
  );
  model.run(feeds);
  const plan = model.planFor(Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, t.shape])));
  expect(plan.steps).toHaveLength(1);
  const env = new Map<string, Value>(plan.constants);
  for (const [n, t] of Object.entries(feeds)) env.set(n, floatValue(t.shape, t.data));
  return { step: plan.steps[0], plan, env };
}

describe('ranged kernels against the ONNX host kernels', () => {
  for (const [k, c] of cases().entries()) {
    it(c.name, () => {
      const { step, plan, env } = build(c, new Random(100 + k));
      const stage = workerStageOf(step, plan);
      expect(stage?.kind).toBe('ranged');
      if (stage?.kind !== 'ranged') return;
      expect(stage.op.kernel).toBe(c.kernel);
      // The host's results for the node's outputs (LayerNormalization's kernel computes its optional ones regardless).
      const expected = step.run(step.inputs.map((n) => (n === '' ? undefined : env.get(n)))).slice(0, step.outputs.length).map((v) => v.data as Float32Array);
      // A stage may add a constant of its own (MatMul's transposed weights) to the plan.
      const inputs = stage.inputs.map((n) => (env.get(n) ?? plan.constants.get(n)!).data as Float32Array);
      const sizes = stage.outputs.map((n) => plan.shapes.get(n)!.reduce((a, d) => a * d, 1));
      expect(sizes).toEqual(expected.map((e) => e.length));
      const random = seeded(k);
      for (let round = 0; round < 4; round++) {
        const ranges = round === 0 ? [[0, stage.op.units] as [number, number]] : randomPartition(stage.op.units, random);
        const merged = sizes.map((n) => new Float32Array(n));
        const writtenBy = sizes.map((n) => new Int32Array(n).fill(-1));
        ranges.forEach(([start, end], r) => {
          // Each range into outputs of its own, so what it writes shows.
          const outs = sizes.map((n) => new Float32Array(n));
          for (const o of outs) bits(o).fill(UNWRITTEN);
          runRanged(stage.op, inputs, outs, start, end);
          outs.forEach((o, j) => {
            const b = bits(o);
            let overlap = -1;
            for (let i = 0; i < b.length; i++) {
              if (b[i] === UNWRITTEN) continue;
              if (writtenBy[j][i] !== -1 && overlap < 0) overlap = i;
              writtenBy[j][i] = r;
              merged[j][i] = o[i];
            }
            expect(overlap, `element ${overlap} of output ${j} written by two ranges`).toBe(-1);
          });
        });
        merged.forEach((m, j) => {
          expect(writtenBy[j].indexOf(-1), `an element of output ${j} that no range wrote`).toBe(-1);
          expect(firstBitDifference(m, expected[j])).toBe(-1);
        });
      }
    });
  }
});

describe('binaryLayout', () => {
  it('takes the loop over runs for the broadcasts a CNN has, strides only for the rest', () => {
    const x = [2, 5, 21, 23];
    expect(binaryLayout(x, x)?.params).toEqual({ mode: BINARY_MODES.same, elements: 4830 });
    expect(binaryLayout(x, [2, 5, 1, 1])?.params).toEqual({ mode: BINARY_MODES.yRuns, elements: 4830, inner: 483, period: 10 });
    expect(binaryLayout(x, [5, 1, 1])?.params).toEqual({ mode: BINARY_MODES.yRuns, elements: 4830, inner: 483, period: 5 });
    expect(binaryLayout(x, [])?.params).toEqual({ mode: BINARY_MODES.yRuns, elements: 4830, inner: 4830, period: 1 });
    expect(binaryLayout(x, [1, 1, 1, 23])?.params).toEqual({ mode: BINARY_MODES.yRuns, elements: 4830, inner: 1, period: 23 });
    expect(binaryLayout([1, 5, 1, 1], [2, 5, 4, 4])?.params).toEqual({ mode: BINARY_MODES.xRuns, elements: 160, inner: 16, period: 5 });
    expect(binaryLayout([2, 1, 21, 1], [1, 5, 1, 23])?.params.mode).toBe(BINARY_MODES.general);
    expect(binaryLayout(x, [2, 1, 21, 1])?.params.mode).toBe(BINARY_MODES.general);
    expect(binaryLayout(x, [3, 1, 1])).toBeNull();
  });
});

describe('element units cut image by image', () => {
  it('tile every image in order, never straddle two, and unitAt inverts them', () => {
    // 3 images of 4096 + 100 values: two units an image, the second short.
    const params = elementParams(3 * 4196, 3);
    expect(elementUnits(3 * 4196, 3)).toBe(6);
    expect([0, 1, 2, 3, 4, 5, 6].map((u) => elementRange(params, u, u + 1))).toEqual([
      [0, 4096], [4096, 4196], [4196, 8292], [8292, 8392], [8392, 12488], [12488, 12588], [12588, 12588],
    ]);
    expect(elementRange(params, 1, 5)).toEqual([4096, 12488]);
    for (let u = 0; u <= 6; u++) {
      const [from] = elementRange(params, u, u);
      expect(unitAt(params, from, true)).toBe(u);
      if (u < 6) expect(unitAt(params, from, false)).toBe(u);
    }
    expect(unitAt(params, 4195, false)).toBe(1);
    expect(unitAt(params, 4195, true)).toBe(2);
    // One image, or images that do not divide the elements: the flat cut.
    expect(elementParams(8192, 1)).toEqual({ elements: 8192 });
    expect(elementUnits(10, 3)).toBe(1);
    expect(unaryOp('relu', 2 * 50, {}, 2).units).toBe(2);
  });
});

describe('runRanged', () => {
  const op = unaryOp('relu', 10000);

  it('refuses a kernel it does not know, naming it', () => {
    expect(() => runRanged({ ...op, kernel: 'nope' }, [new Float32Array(1)], [new Float32Array(1)], 0, 1)).toThrow(/no ranged kernel is named 'nope'/);
    expect(() => runRanged({ ...op, kernel: 'constructor' }, [new Float32Array(1)], [new Float32Array(1)], 0, 1)).toThrow(/no ranged kernel is named 'constructor'/);
  });

  it('refuses a range outside the units, before writing anything', () => {
    const out = new Float32Array(10000).fill(7);
    for (const [start, end] of [[0, 4], [2, 1], [-1, 1], [0.5, 1]]) {
      expect(() => runRanged(op, [new Float32Array(10000)], [out], start, end)).toThrow(/is not within relu's 3 units/);
    }
    expect(out.every((v) => v === 7)).toBe(true);
  });
});

describe('ranged kernels on arena views (the engine case: WebAssembly in place)', () => {
  const wasmBacked = ['Relu', 'MaxPool 3x3 stride 2 pad 1', 'LRN size 5, beta 0.75 (PyTorch order)', 'Gemm (nn.Linear) with bias', 'MatMul [2, 3, 4, 37] x constant [37, 50]'];
  const all = cases();
  for (const name of wasmBacked) {
    it(name, () => {
      const k = all.findIndex((c) => c.name === name);
      const { step, plan, env } = build(all[k], new Random(100 + k));
      const stage = workerStageOf(step, plan);
      if (stage?.kind !== 'ranged') throw new TypeError(`${name} has no ranged stage`);
      const expected = step.run(step.inputs.map((n) => (n === '' ? undefined : env.get(n))))[0].data as Float32Array;
      const arena = sharedArena();
      const inputs = stage.inputs.map((n) => {
        const a = arena.allocateFloat32((env.get(n) ?? plan.constants.get(n)!).data.length);
        a.set((env.get(n) ?? plan.constants.get(n)!).data as Float32Array);
        return a;
      });
      const random = seeded(k);
      for (let round = 0; round < 3; round++) {
        const out = arena.allocateFloat32(expected.length).fill(Number.NaN);
        for (const [start, end] of randomPartition(stage.op.units, random)) runRanged(stage.op, inputs, [out], start, end);
        expect(firstBitDifference(out, expected)).toBe(-1);
      }
    });
  }
});
