// A squeeze-and-excitation block's Mul folded into the 1x1 Conv after it
// (src/onnx/scaled-input.ts): found with the scale either operand, the two
// steps run as one engine stage where the native 1x1 kernel runs, bitwise
// `forward`'s result on 1, 2 and 3 workers and on the calling thread, at batch
// 1 and image by image at batch 3; the memory plan keeps the Mul's operands
// alive until the Conv; a product read by anything else, a Conv that is not a
// 1x1, a scale that is not one per image and channel, are left alone.
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedConvEngine, loadOnnx, type Tensor } from '../src/index.js';
import { nativeKernels } from '../src/kernels/native/index.js';
import { memoryPlanOf } from '../src/onnx/memory-plan.js';
import { scaledInputs } from '../src/onnx/scaled-input.js';
import { attr, floatTensor, makeModel, seeded, valueInfo } from './support/onnx.js';
import { firstBitDifference } from './support/tensors.js';

const native = nativeKernels();
const engines = [
  ...[1, 2, 3].map((workers) => new GroupedConvEngine({ workers })),
  ...[1, 2].map((workers) => new GroupedConvEngine({ workers, callingThread: true })),
];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

const rand = seeded(11);
const weight = (name: string, dims: number[]) => floatTensor(name, dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() - 0.5));

/**
 * x -> Conv 3x3 (C channels) -> the block's GlobalAveragePool, fc1, Relu, fc2, Sigmoid -> Mul -> `projection` -> y.
 * `scaleFirst`: Mul(scale, x) as torchvision exports it, else Mul(x, scale); `alsoRead`: the product is a graph output too.
 */
function seModel(options: { scaleFirst?: boolean; alsoRead?: boolean; projection?: '1x1' | '3x3'; scaleShape?: 'per-channel-constant' } = {}): Uint8Array {
  const { scaleFirst = true, alsoRead = false, projection = '1x1' } = options;
  const C = 24;
  const k = projection === '1x1' ? 1 : 3;
  const constantScale = options.scaleShape === 'per-channel-constant';
  const nodes = [
    { op_type: 'Conv', name: 'expand', input: ['x', 'w0'], output: ['e'], attribute: [attr.ints('pads', [1, 1, 1, 1])] },
    ...(constantScale
      ? []
      : [
          { op_type: 'GlobalAveragePool', name: 'pool', input: ['e'], output: ['p'] },
          { op_type: 'Conv', name: 'fc1', input: ['p', 'w1', 'b1'], output: ['f1'] },
          { op_type: 'Relu', name: 'relu', input: ['f1'], output: ['r'] },
          { op_type: 'Conv', name: 'fc2', input: ['r', 'w2', 'b2'], output: ['f2'] },
          { op_type: 'Sigmoid', name: 'gate', input: ['f2'], output: ['s'] },
        ]),
    { op_type: 'Mul', name: 'scale', input: scaleFirst ? ['s', 'e'] : ['e', 's'], output: ['m'] },
    { op_type: 'Conv', name: 'project', input: ['m', 'w3'], output: ['y'], attribute: projection === '3x3' ? [attr.ints('pads', [1, 1, 1, 1])] : [] },
  ];
  return makeModel({
    nodes,
    inputs: [valueInfo('x', ['N', 8, 10, 10])],
    outputs: [valueInfo('y', ['N', 16, 10, 10]), ...(alsoRead ? [valueInfo('m', ['N', C, 10, 10])] : [])],
    initializers: [
      weight('w0', [C, 8, 3, 3]),
      weight('w1', [6, C, 1, 1]),
      weight('b1', [6]),
      weight('w2', [C, 6, 1, 1]),
      weight('b2', [C]),
      weight('w3', [16, C, k, k]),
      ...(constantScale ? [weight('s', [1, C, 1, 1])] : []),
    ],
  });
}

const input = (batch: number): Tensor => ({ shape: [batch, 8, 10, 10], data: Float32Array.from({ length: batch * 800 }, () => 4 * (rand() - 0.5)) });

function expectSameBits(got: Tensor, expected: Tensor, where: string): void {
  expect(got.shape).toEqual(expected.shape);
  expect(firstBitDifference(got.data, expected.data), where).toBe(-1);
}

describe('a squeeze-and-excitation Mul folded into the 1x1 Conv that reads it', () => {
  for (const scaleFirst of [true, false]) {
    it(`Mul(${scaleFirst ? 'scale, x' : 'x, scale'}): one engine stage where the native 1x1 kernel runs, bitwise forward's result at batch 1 and 3`, async () => {
      const model = loadOnnx(seModel({ scaleFirst }));
      for (const batch of [1, 3]) {
        const x = input(batch);
        const plan = model.executionFor(engines[0], { x: x.shape }).plan;
        const pairs = scaledInputs(plan);
        expect(pairs.map((p) => ({ input: p.input, scale: p.scale, first: p.first, product: p.product }))).toEqual([{ input: 'e', scale: 's', first: scaleFirst, product: 'm' }]);
        for (const engine of engines) {
          const execution = model.executionFor(engine, { x: x.shape });
          const folded = execution.steps.filter((s) => s.opType === 'Mul+Conv');
          expect(folded.length, `${engine.workers} workers`).toBe(native ? 1 : 0);
          if (native) {
            expect(folded[0]).toMatchObject({ kind: 'engine', outputs: ['y'], scale: { name: 's', first: scaleFirst } });
            // The Conv reads the Mul's operands in place of its product.
            expect([folded[0].inputs[0], folded[0].inputs.at(-1)]).toEqual(['e', 's']);
          }
          expectSameBits(await model.forwardWith(engine, x), model.forward(x), `batch ${batch}, ${engine.workers} workers${engine.callingThread ? ' with the calling thread' : ''}`);
        }
        // The Mul's operands live until the Conv that reads them in its place, so its output never lands on them.
        const memory = memoryPlanOf(plan);
        const conv = pairs[0].scheduled;
        for (const name of ['e', 's']) {
          const slot = memory.slots.get(name)!;
          expect(slot.last, name).toBeGreaterThanOrEqual(conv);
        }
      }
      model.close();
    });
  }

  it('leaves the Mul alone where its product has another reader, the Conv is not a 1x1, or the scale is a constant per channel at batch 3', async () => {
    const cases: Array<[string, Uint8Array, number, number]> = [
      ['the product is also a graph output', seModel({ alsoRead: true }), 1, 0],
      ['a 3x3 projection', seModel({ projection: '3x3' }), 1, 1],
      ['a constant scale [1, C, 1, 1] at batch 3 (not one per image)', seModel({ scaleShape: 'per-channel-constant' }), 3, 0],
    ];
    for (const [what, bytes, batch, pairs] of cases) {
      const model = loadOnnx(bytes);
      const x = input(batch);
      const execution = model.executionFor(engines[1], { x: x.shape });
      expect(scaledInputs(execution.plan).length, what).toBe(pairs);
      expect(execution.steps.some((s) => s.opType.startsWith('Mul+')), what).toBe(false);
      const reference = model.forward(x);
      for (const engine of engines) expectSameBits(await model.forwardWith(engine, x), reference, what);
      model.close();
    }
  });

  it.skipIf(!native)('a constant scale [1, C, 1, 1] at batch 1 is one per image and channel: folded', async () => {
    const model = loadOnnx(seModel({ scaleShape: 'per-channel-constant' }));
    const x = input(1);
    expect(model.executionFor(engines[1], { x: x.shape }).steps.filter((s) => s.opType === 'Mul+Conv').length).toBe(1);
    const reference = model.forward(x);
    for (const engine of engines) expectSameBits(await model.forwardWith(engine, x), reference, `${engine.workers} workers`);
    model.close();
  });
});
