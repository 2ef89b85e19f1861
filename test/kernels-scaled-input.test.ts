// A squeeze-and-excitation block's Mul applied by the native 1x1 kernel as it
// reads its input (runPlan's `scale`, kernels.h's pointwise): at every vector
// width the CPU runs, over planes of one position, one past whole vectors,
// rows that are not whole vectors and whole ones, whole planes and runs of
// positions, with NaNs in the input and in the scale, either operand first,
// the output is bitwise what the host's Mul then the plain kernel compute;
// and a scale reaching a kernel that does not take one is refused.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveShapes } from '../src/conv/geometry.js';
import type { Activation } from '../src/kernels/epilogue.js';
import { nativeKernels } from '../src/kernels/native/index.js';
import { planConv, releasePlan, runPlan, type KernelPlan } from '../src/kernels/plan/index.js';
import { binaryRangedOp } from '../src/kernels/ranged/binary.js';
import { runRanged } from '../src/kernels/ranged/index.js';
import { ExecutionError, GroupedConvEngine, zeros } from '../src/index.js';
import { Random } from '../src/random.js';
import { firstBitDifference, randomTensor } from './support/tensors.js';

const cpuFlags = new Set(readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'))?.split(/\s+/) ?? []);
const WIDTHS = [...(cpuFlags.has('avx512f') ? [16] : []), ...(cpuFlags.has('avx2') && cpuFlags.has('fma') ? [8] : [])];
const native = nativeKernels();

/** Two NaNs with payloads of their own, so which operand's comes out shows. */
const NAN_A = new Float32Array(new Uint32Array([0x7fc00123]).buffer)[0];
const NAN_B = new Float32Array(new Uint32Array([0xffc00456]).buffer)[0];

function pointwisePlan(random: Random, cin: number, cout: number, h: number, w: number, batch: number, activation: Activation): { plan: KernelPlan; weight: Float32Array } {
  const weight = new Float32Array(cout * cin).map(() => random.uniform(-1, 1));
  const { geometry } = resolveShapes([batch, cin, h, w], [cout, cin, 1, 1], [cout], {});
  return { plan: planConv(geometry, weight, null, activation), weight };
}

describe.skipIf(!native)('the native 1x1 kernel with an input scale', () => {
  // 1x1 (a single position), 7x7 (one past whole 16-float vectors), 14x14 and 9x11 (rows not whole vectors),
  // 16x16 (whole vectors); enough input channels at 16x16 for more than one chunk of positions.
  const SHAPES = [
    { cin: 40, cout: 24, h: 1, w: 1, batch: 2 },
    { cin: 48, cout: 20, h: 7, w: 7, batch: 1 },
    { cin: 96, cout: 24, h: 14, w: 14, batch: 2 },
    { cin: 33, cout: 13, h: 9, w: 11, batch: 1 },
    { cin: 1152, cout: 24, h: 16, w: 16, batch: 1 },
  ];

  for (const width of WIDTHS) {
    for (const { cin, cout, h, w, batch } of SHAPES) {
      it(`${cin} -> ${cout} at ${h}x${w}, ${batch} image(s), ${width} floats a vector: the Mul's bits, either operand first, whole planes and runs of positions`, () => {
        const previous = native!.useWidth(width);
        const random = new Random(cin * 1000 + h * 10 + width);
        const hw = h * w;
        const x = randomTensor(random, [batch, cin, h, w], { shared: true });
        const scale = randomTensor(random, [batch, cin, 1, 1], { shared: true });
        const bias = randomTensor(random, [cout], { shared: true });
        const residual = randomTensor(random, [batch, cout, h, w], { shared: true });
        // NaNs in both operands, at the same place and apart; an infinity times a zero.
        x.data[3] = NAN_A;
        scale.data[0] = NAN_B;
        scale.data[1] = NAN_B;
        x.data[hw + 1] = Infinity;
        scale.data[2] = 0;
        x.data[2 * hw] = 0;
        const runs: Array<[number, number]> = hw === 1 ? [[0, 1]] : [[0, hw], [0, 16], [5, hw - 1], [hw - 1, hw]];
        try {
          for (const first of [true, false]) {
            const mul = binaryRangedOp('mul', first ? scale.shape : x.shape, first ? x.shape : scale.shape)!;
            const multiplied = zeros(x.shape, { shared: true });
            runRanged(mul.op, first ? [scale.data, x.data] : [x.data, scale.data], [multiplied.data], 0, mul.op.units);
            for (const activation of [{ kind: 'none' }, { kind: 'silu' }] as Activation[]) {
              const { plan, weight } = pointwisePlan(random, cin, cout, h, w, batch, activation);
              try {
                for (const res of [null, residual.data]) {
                  const expected = zeros([batch, cout, h, w], { shared: true });
                  runPlan(plan, multiplied.data, weight, bias.data, expected.data, { batchStart: 0, batchEnd: batch, outChannelStart: 0, outChannelEnd: cout }, null, res);
                  for (const [p0, p1] of runs) {
                    const out = zeros([batch, cout, h, w], { shared: true });
                    out.data.set(expected.data);
                    for (let n = 0; n < batch; n++) for (let c = 0; c < cout; c++) out.data.fill(NaN, (n * cout + c) * hw + p0, (n * cout + c) * hw + p1);
                    const slice = hw === 1 ? { batchStart: 0, batchEnd: batch, outChannelStart: 0, outChannelEnd: cout } : { batchStart: 0, batchEnd: batch, outChannelStart: 0, outChannelEnd: cout, positionStart: p0, positionEnd: p1 };
                    runPlan(plan, x.data, weight, bias.data, out.data, slice, null, res, { data: scale.data, first });
                    const where = `scale first ${first}, ${activation.kind}, residual ${res !== null}, positions [${p0}, ${p1})`;
                    expect(firstBitDifference(out.data, expected.data), where).toBe(-1);
                  }
                }
              } finally {
                releasePlan(plan);
              }
            }
          }
        } finally {
          native!.useWidth(previous);
        }
      });
    }
  }

  it("the NaN that comes out is the first operand's, as the Mul gives it", () => {
    // Channel 0 NaN in both x and the scale, channel 1 finite; weights 1 and 0, no bias: the output is the product's NaN.
    const weight = new Float32Array([1, 0]);
    const { geometry } = resolveShapes([1, 2, 4, 4], [1, 2, 1, 1], null, {});
    const plan = planConv(geometry, weight);
    try {
      const x = zeros([1, 2, 4, 4], { shared: true });
      x.data.fill(NAN_A, 0, 16);
      x.data.fill(1, 16);
      const scale = zeros([1, 2, 1, 1], { shared: true });
      scale.data.set([NAN_B, 1]);
      const bits = (first: boolean) => {
        const out = zeros([1, 1, 4, 4], { shared: true });
        runPlan(plan, x.data, weight, null, out.data, { batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: 1 }, null, null, { data: scale.data, first });
        return new Uint32Array(out.data.buffer, out.data.byteOffset, 16);
      };
      expect([...new Set(bits(true))].map((b) => b.toString(16))).toEqual(['ffc00456']);
      expect([...new Set(bits(false))].map((b) => b.toString(16))).toEqual(['7fc00123']);
    } finally {
      releasePlan(plan);
    }
  });
});

describe('an input scale on a kernel that does not take one', () => {
  it('is refused, naming the kernel', () => {
    const random = new Random(2);
    const weight = new Float32Array(8 * 4 * 9).map(() => random.uniform(-1, 1));
    const { geometry } = resolveShapes([1, 4, 6, 6], [8, 4, 3, 3], null, { padding: 1 });
    const plan = planConv(geometry, weight);
    try {
      const x = randomTensor(random, [1, 4, 6, 6], { shared: true });
      const out = zeros([1, 8, 6, 6], { shared: true });
      const scale = zeros([1, 4, 1, 1], { shared: true });
      expect(() => runPlan(plan, x.data, weight, null, out.data, { batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: 8 }, null, null, { data: scale.data, first: true })).toThrow(ExecutionError);
      expect(() => runPlan(plan, x.data, weight, null, out.data, { batchStart: 0, batchEnd: 1, outChannelStart: 0, outChannelEnd: 8 }, null, null, { data: scale.data, first: true })).toThrow(/input scale reached the .* kernel/);
    } finally {
      releasePlan(plan);
    }
  });
});

describe('an engine program stage with an input scale', () => {
  it('is refused before it runs where its layer is not a 1x1 on the native kernels, or its scale buffer is the wrong size', async () => {
    const e = new GroupedConvEngine({ workers: 2 });
    const random = new Random(3);
    const w3 = randomTensor(random, [8, 4, 3, 3]);
    const w1 = randomTensor(random, [8, 4, 1, 1]);
    const l3 = e.layer(w3, null, { padding: 1 });
    const l1 = e.layer(w1, null, {});
    try {
      const stage = (layer: typeof l1, scaleFloats: number) => ({
        program: () =>
          e.program([{ kind: 'conv', label: "'project' (Mul+Conv)", layer, inputShape: [2, 4, 6, 6], input: 0, output: 1, scale: { buffer: 2, first: true } }], [2 * 4 * 36, 2 * 8 * 36, scaleFloats]),
      });
      expect(stage(l1, 7).program).toThrow(/stages\[0\]\.scale\.buffer.*holds 7 floats, the stage needs 8/);
      if (native) {
        expect(stage(l3, 8).program).toThrow(/stages\[0\]\.scale.*only by a 1x1 convolution/);
        stage(l1, 8).program().close();
      } else {
        expect(stage(l1, 8).program).toThrow(/stages\[0\]\.scale.*native kernels/);
      }
    } finally {
      l3.close();
      l1.close();
      await e.close();
    }
  });
});
