// Random convolution specifications, and the single-thread answer through the
// same kernel-plan contract the workers use (runPlan over the whole output).
import { fullSlice, outputShapeOf, resolveConv2d, type Conv2dOptions } from '../../src/conv/geometry.js';
import { planConv, planScratchFloats, releasePlan, runPlan } from '../../src/kernels/plan/index.js';
import { Random } from '../../src/random.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export interface ConvSpec {
  input: Tensor;
  weight: Tensor;
  bias: Tensor | null;
  options: Conv2dOptions;
}

function filled(random: Random, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = random.normal();
  return { shape, data };
}

/** A random valid conv2d: groups, stride, dilation, padding, bias and batching all vary. */
export function randomConv(random: Random, maxSize = 9): ConvSpec {
  for (;;) {
    const groups = random.int(1, 4);
    const cin = groups * random.int(1, 3);
    const cout = groups * random.int(1, 4);
    const kh = random.int(1, 3);
    const kw = random.int(1, 3);
    const stride: [number, number] = [random.int(1, 2), random.int(1, 2)];
    const dilation: [number, number] = [random.int(1, 2), random.int(1, 2)];
    const padding = random.next() < 0.2 && stride[0] === 1 && stride[1] === 1 ? 'same' : ([random.int(0, 2), random.int(0, 2)] as [number, number]);
    const h = random.int(1, maxSize);
    const w = random.int(1, maxSize);
    const batched = random.next() < 0.8;
    const inputShape = batched ? [random.int(1, 4), cin, h, w] : [cin, h, w];
    const spec: ConvSpec = {
      input: filled(random, inputShape),
      weight: filled(random, [cout, cin / groups, kh, kw]),
      bias: random.next() < 0.6 ? filled(random, [cout]) : null,
      options: { groups, stride, dilation, padding },
    };
    try {
      resolveConv2d(spec.input, spec.weight, spec.bias, spec.options);
      return spec;
    } catch {
      // kernel larger than the padded input: draw again
    }
  }
}

/** runPlan on this thread over the whole output: what "the same kernel on one thread" computes. */
export function singleThreadPlan(spec: ConvSpec): Tensor {
  const resolved = resolveConv2d(spec.input, spec.weight, spec.bias, spec.options);
  const g = resolved.geometry;
  const plan = planConv(g, spec.weight.data);
  const slice = fullSlice(g);
  const scratchFloats = planScratchFloats(plan);
  const output = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  runPlan(plan, spec.input.data, spec.weight.data, spec.bias?.data ?? null, output, slice, scratchFloats > 0 ? new Float32Array(scratchFloats) : null);
  releasePlan(plan);
  return { shape: outputShapeOf(resolved), data: output };
}

/** Index of the first element whose bits differ, or -1. NaNs compare by bits too. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
