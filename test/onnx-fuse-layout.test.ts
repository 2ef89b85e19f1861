// The channel shuffle group (src/onnx/fuse-layout.ts): Concat -> Reshape ->
// Transpose [0, 2, 1, 3, 4] -> Reshape [-> Slices / Split] runs as one ranged
// stage on the workers, with forward's bits on 1, 2 and 3 workers, and its
// intermediate values get no slot in the memory plan. Graphs that only look
// like one (another reader, another permutation) run node by node.
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, loadOnnx, type Tensor } from '../src/index.js';
import { channelShuffles } from '../src/onnx/fuse-layout.js';
import { memoryPlanOf } from '../src/onnx/memory-plan.js';
import { CASES, FIXTURES, attr, floatTensor, intTensor, makeModel, seeded, valueInfo } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';
import { join } from 'node:path';

const engines = [1, 2, 3].map((workers) => new GroupedConvEngine({ workers }));
afterAll(() => Promise.all(engines.map((e) => e.close())));

const N = 4;
const M = 3; // channels per branch
const H = 5;
const W = 4;

interface Shape {
  /** Extra nodes after the shuffle, reading 'shuffled'. */
  after: unknown[];
  outputs: [string, number[]][];
  groups?: number;
  perm?: number[];
  /** Graph outputs besides `outputs` (to give an intermediate value a second reader). */
  alsoOut?: [string, number[]][];
  initializers?: unknown[];
  opset?: number;
}

/** Branches 'b0'.. (a 1x1 Conv + Relu each, so the Concat's inputs are computed on the workers), concatenated and shuffled into 'shuffled'. */
function shuffleModel(spec: Shape): Uint8Array {
  const g = spec.groups ?? 2;
  const random = seeded(g * 17 + spec.after.length);
  const values = (n: number) => Array.from({ length: n }, () => random() - 0.5);
  const branches = Array.from({ length: g }, (_, k) => [
    { op_type: 'Conv', name: `conv${k}`, input: ['x', `w${k}`], output: [`c${k}`] },
    { op_type: 'Relu', name: `relu${k}`, input: [`c${k}`], output: [`b${k}`] },
  ]).flat();
  return makeModel({
    nodes: [
      ...branches,
      { op_type: 'Concat', name: 'cat', input: Array.from({ length: g }, (_, k) => `b${k}`), output: ['cat'], attribute: [attr.int('axis', 1)] },
      { op_type: 'Reshape', name: 'split_groups', input: ['cat', 'grouped_shape'], output: ['grouped'] },
      { op_type: 'Transpose', name: 'swap', input: ['grouped'], output: ['swapped'], attribute: [attr.ints('perm', spec.perm ?? [0, 2, 1, 3, 4])] },
      { op_type: 'Reshape', name: 'merge', input: ['swapped', 'merged_shape'], output: ['shuffled'] },
      ...(spec.after as object[]),
    ],
    inputs: [valueInfo('x', ['N', 2, H, W])],
    outputs: [...spec.outputs, ...(spec.alsoOut ?? [])].map(([name, dims]) => valueInfo(name, dims)),
    initializers: [
      ...Array.from({ length: g }, (_, k) => floatTensor(`w${k}`, [M, 2, 1, 1], values(M * 2))),
      intTensor('grouped_shape', [5], [0, g, M, H, W]),
      intTensor('merged_shape', [4], [0, g * M, H, W]),
      ...((spec.initializers ?? []) as object[]),
    ],
    opset: spec.opset,
  });
}

const slices = (cuts: [number, number][]) => ({
  after: cuts.map((_, k) => ({ op_type: 'Slice', name: `slice${k}`, input: ['shuffled', `b${k}_`, `e${k}_`, 'axis1'], output: [`half${k}`] })),
  initializers: [intTensor('axis1', [1], [1]), ...cuts.flatMap(([b, e], k) => [intTensor(`b${k}_`, [1], [b]), intTensor(`e${k}_`, [1], [e])])],
});

const input = (n: number): Tensor => {
  const random = seeded(n);
  return { shape: [n, 2, H, W], data: Float32Array.from({ length: n * 2 * H * W }, () => random() * 2 - 1) } as Tensor;
};

/** Runs the model on every engine and checks every output against forward's bits; returns the op types of the execution's steps. */
async function checkEveryEngine(bytes: Uint8Array): Promise<string[]> {
  const model = loadOnnx(bytes);
  const x = input(N);
  const expected = model.run({ x });
  let ops: string[] = [];
  for (const engine of engines) {
    const { outputs } = await model.runWith(engine, { x });
    for (const [name, t] of Object.entries(expected)) expect(firstBitDifference(outputs[name].data, t.data), `${name} on ${engine.workers} workers`).toBe(-1);
    ops = model.executionFor(engine, { x: x.shape }).steps.map((s) => s.opType);
  }
  model.close();
  return ops;
}

describe('channel shuffle as one stage', () => {
  it('with the next block\'s two Slices: one step, forward\'s bits, and no slot for the values in between', async () => {
    const spec = { ...slices([[0, M], [M, 2 * M]]), outputs: [['half0', [N, M, H, W]], ['half1', [N, M, H, W]]] as [string, number[]][] };
    const bytes = shuffleModel(spec);
    const ops = await checkEveryEngine(bytes);
    expect(ops).toContain('Concat+Reshape+Transpose+Reshape+Slice+Slice');
    expect(ops).not.toContain('Transpose');
    const model = loadOnnx(bytes);
    const plan = model.planFor({ x: [N, 2, H, W] });
    const memory = memoryPlanOf(plan);
    for (const n of ['cat', 'grouped', 'swapped', 'shuffled']) expect(memory.slots.has(n) || memory.aliasOf.has(n), n).toBe(false);
    // The branches' outputs live until the group reads them.
    expect(memory.slots.get('b0')!.last).toBe(memory.slots.get('b1')!.last);
    model.close();
  });

  it('uneven Slices that leave channels out, and a Split, are taken too', async () => {
    const uneven = { ...slices([[1, 4], [4, 5]]), outputs: [['half0', [N, 3, H, W]], ['half1', [N, 1, H, W]]] as [string, number[]][] };
    expect(await checkEveryEngine(shuffleModel(uneven))).toContain('Concat+Reshape+Transpose+Reshape+Slice+Slice');
    const split = {
      after: [{ op_type: 'Split', name: 'split', input: ['shuffled', 'sizes'], output: ['p0', 'p1'], attribute: [attr.int('axis', 1)] }],
      initializers: [intTensor('sizes', [2], [2, 2 * M - 2])],
      outputs: [['p0', [N, 2, H, W]], ['p1', [N, 2 * M - 2, H, W]]] as [string, number[]][],
    };
    expect(await checkEveryEngine(shuffleModel(split))).toContain('Concat+Reshape+Transpose+Reshape+Split');
  });

  it('three groups; and a shuffled value with another reader is made whole, its Slices running on their own', async () => {
    const three = { groups: 3, after: [{ op_type: 'Relu', name: 'r', input: ['shuffled'], output: ['y'] }], outputs: [['y', [N, 3 * M, H, W]]] as [string, number[]][] };
    const ops = await checkEveryEngine(shuffleModel(three));
    expect(ops).toEqual(['Conv+Relu', 'Conv+Relu', 'Conv+Relu', 'Concat+Reshape+Transpose+Reshape', 'Relu']);
    const s = slices([[0, M]]);
    const read = { after: [...s.after, { op_type: 'Relu', name: 'r', input: ['shuffled'], output: ['y'] }], initializers: s.initializers, outputs: [['half0', [N, M, H, W]], ['y', [N, 2 * M, H, W]]] as [string, number[]][] };
    const ops2 = await checkEveryEngine(shuffleModel(read));
    expect(ops2).toContain('Concat+Reshape+Transpose+Reshape');
    expect(ops2).toContain('Slice');
  });

  it('not taken: the Concat\'s output also a graph output, or another permutation', async () => {
    const out = { after: [], outputs: [['shuffled', [N, 2 * M, H, W]]] as [string, number[]][], alsoOut: [['cat', [N, 2 * M, H, W]]] as [string, number[]][] };
    expect(await checkEveryEngine(shuffleModel(out))).toEqual(['Conv+Relu', 'Conv+Relu', 'Concat', 'Reshape', 'Transpose', 'Reshape']);
    // The identity permutation: the same shapes throughout, but no shuffle.
    const perm = { after: [], perm: [0, 1, 2, 3, 4], outputs: [['shuffled', [N, 2 * M, H, W]]] as [string, number[]][] };
    expect(await checkEveryEngine(shuffleModel(perm))).toContain('Transpose');
  });

  it('shufflenet_v2 fixture: one group per block, all but the last with the next block\'s Slices', () => {
    const c = CASES.find((k) => k.id === 'shufflenet_v2')!;
    const model = loadOnnx(join(FIXTURES, c.file));
    const shape = [2, ...c.inputShape.slice(1)];
    const plan = model.planFor({ [model.inputs[0].name]: shape });
    const concats = plan.steps.filter((s) => s.node.opType === 'Concat').length;
    expect(channelShuffles(plan)).toHaveLength(concats);
    // Every block but the last is followed by the next block's two Slices.
    expect(channelShuffles(plan).filter((g) => g.opType.endsWith('+Slice+Slice'))).toHaveLength(concats - 1);
    model.close();
  });
});
