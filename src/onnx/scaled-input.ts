// A squeeze-and-excitation block's scale folded into the convolution that
// reads it. The block ends with Mul(scale, x), x [N, C, H, W] and scale
// [N, C, 1, 1] (torchvision's SqueezeExcitation: `scale * input`), and the
// product's only reader is the next Conv, a 1x1 projection. On the engine the
// native 1x1 kernel multiplies its input by the scale as it copies each chunk
// (kernels.h, pointwise), so the Mul's own pass over the activation, its stage
// and its barrier go (efficientnet_b0 has 16 such blocks). The product is the
// Mul's float32 one, its operands in their order, so the bits are the same as
// the Mul then the Conv; `forward` on the calling thread keeps the two steps.
//
// This module finds the pattern in a plan; engine-run.ts merges the two
// execution steps where the Conv runs on the native 1x1 kernel, and the
// memory plan keeps x and the scale alive until the Conv (memory-plan.ts),
// which then reads them in the Mul's place.
import type { ScheduledStep } from './fuse.js';
import { readerCounts, type Plan } from './plan.js';

export interface ScaledInput {
  /** Plan step of the Mul. */
  mul: number;
  /** Plan step of the Conv (a fused group's first node) that reads the Mul's output as its input. */
  conv: number;
  /** Schedule index of the Conv's step (plan.schedule.steps). */
  scheduled: number;
  /** The Mul's output: the Conv's input without the fold. */
  product: string;
  /** The activation, [N, C, H, W]. */
  input: string;
  /** One value per image and channel, [N, C, 1, 1]. */
  scale: string;
  /** Whether the scale is the Mul's first operand (whose NaN comes out when both are NaN). */
  first: boolean;
}

const found = new WeakMap<Plan, ScaledInput[]>();

/** The Mul -> Conv pairs of `plan` whose Mul is a squeeze-and-excitation scale (see the header), in schedule order. */
export function scaledInputs(plan: Plan): ScaledInput[] {
  let pairs = found.get(plan);
  if (!pairs) {
    pairs = findScaledInputs(plan);
    found.set(plan, pairs);
  }
  return pairs;
}

function findScaledInputs(plan: Plan): ScaledInput[] {
  const { steps, schedule, shapes, dtypes } = plan;
  const readers = readerCounts(plan);
  const graphOutputs = new Set(plan.outputs);
  /** The scheduled step whose Conv reads `value` as its input (index 0), with the Conv's plan step. */
  const convReading = new Map<string, { scheduled: number; conv: number }>();
  schedule.steps.forEach((s: ScheduledStep, i) => {
    if (s.kind === 'fused') convReading.set(s.fused.input, { scheduled: i, conv: s.fused.planSteps[0] });
    else if (steps[s.index].node.opType === 'Conv') convReading.set(steps[s.index].inputs[0], { scheduled: i, conv: s.index });
  });
  const pairs: ScaledInput[] = [];
  schedule.steps.forEach((s: ScheduledStep, i) => {
    if (s.kind !== 'single') return;
    const step = steps[s.index];
    if (step.node.opType !== 'Mul' || step.inputs.length !== 2 || step.outputs.length !== 1) return;
    const [a, b] = step.inputs;
    const product = step.outputs[0];
    if ([a, b, product].some((n) => n === '' || dtypes.get(n) !== 'float32')) return;
    const reader = convReading.get(product);
    if (!reader || reader.scheduled <= i || readers.get(product) !== 1 || graphOutputs.has(product)) return;
    const isScaleOf = (scale: string, x: string) => {
      const xs = shapes.get(x);
      const ss = shapes.get(scale);
      return !!xs && !!ss && xs.length === 4 && ss.length === 4 && ss[0] === xs[0] && ss[1] === xs[1] && ss[2] === 1 && ss[3] === 1 && xs[2] * xs[3] > 1;
    };
    const first = isScaleOf(a, b);
    if (!first && !isScaleOf(b, a)) return;
    pairs.push({ mul: s.index, conv: reader.conv, scheduled: reader.scheduled, product, input: first ? b : a, scale: first ? a : b, first });
  });
  return pairs;
}
