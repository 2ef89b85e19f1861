// How each graph node of an ONNX model runs by channel runs on a device (the
// recipes onnx-channel-node.ts follows), worked out from the plan steps the
// node stands for (onnxGraphSteps, from-onnx.ts) and the plan's fused groups.
// The host works them out too before any thread starts, so a node with no way
// to run is refused there, named with its op type.
import { errors } from '../errors.js';
import type { Activation } from '../kernels/epilogue.js';
import { convAttributesOf, convSetup, type ConvSetup } from '../onnx/ops/conv.js';
import { transposed2d } from '../onnx/ops/matmul.js';
import type { Plan } from '../onnx/plan.js';
import type { FloatValue } from '../onnx/value.js';
import type { OnnxNodeSteps } from '../split/from-onnx.js';
import type { ModelGraph } from '../split/graph.js';
import type { Range } from '../split/ranges.js';
import type { ChannelNodeSpec } from './channel-device-state.js';

/** How one graph node of an ONNX model computes some of its output channels. */
export type OnnxNodeRecipe =
  /** Rows of a convolution (a fused group's Conv: the folded weight and bias; its activation when the device runs the group whole, withDeviceFusions). */
  | { kind: 'conv'; weight: FloatValue; bias: FloatValue | null; setup: ConvSetup; activation?: Activation }
  /** Rows of linear()'s weight [out, in] (Gemm as nn.Linear exports it, MatMul by a constant [K, N] transposed). */
  | { kind: 'linear'; weight: Float32Array; bias: Float32Array | null; inFeatures: number }
  /** The input's runs as they are (a fused BatchNormalization, Dropout, Identity). */
  | { kind: 'pass' }
  /** A fused group's activation, the epilogue's, on the runs held. */
  | { kind: 'activation'; activation: Activation }
  /** A fused group's residual Add: the epilogue's float32 sum of the two operands' runs. */
  | { kind: 'residual' }
  /** Channels moved, nothing computed: shuffle, flatten, Concat, Slice. */
  | { kind: 'move' }
  /** Plan steps run on the channels the node reads, placed in values of the plan's shapes; `ranged`: by its kernel's units. */
  | { kind: 'local'; steps: number[]; ranged: boolean };

/** Each plan step's fused group, if it is in one. */
function fusedSteps(plan: Plan): Map<number, Plan['fusions'][number]> {
  const at = new Map<number, Plan['fusions'][number]>();
  for (const f of plan.fusions) for (const s of f.planSteps) at.set(s, f);
  return at;
}

/**
 * The recipe of every node of `graph` (onnxGraphSteps' `steps` say which plan
 * steps each stands for) under `plan`. Throws, naming the node and its op
 * type, for a node the devices cannot compute by channel runs.
 */
export function onnxNodeRecipes(model: string, plan: Plan, graph: ModelGraph, steps: readonly OnnxNodeSteps[]): OnnxNodeRecipe[] {
  const fused = fusedSteps(plan);
  return graph.nodes.map((node, i): OnnxNodeRecipe => {
    const { step, absorbed } = steps[i];
    const s = plan.steps[step];
    const refuse = (why: string) => errors.channelsOnnxNodeNotRunnable(model, s.node.name || s.outputs[0], s.node.opType, why);
    for (const v of [...node.inputs, node.output]) {
      const dtype = plan.dtypes.get(v);
      if (dtype !== 'float32') throw refuse(`its value '${v}' is ${dtype ?? 'unknown'}, and the devices exchange float32 channels only`);
    }
    const f = fused.get(step);
    if (f) {
      if (f.planSteps[0] === step) return { kind: 'conv', weight: f.weight, bias: f.bias, setup: f.setup };
      const type = s.node.opType;
      if (type === 'BatchNormalization') return { kind: 'pass' };
      if (type === 'Add') return { kind: 'residual' };
      if (f.activation.kind === 'silu' && type === 'Mul') return { kind: 'local', steps: [step], ranged: true };
      return { kind: 'activation', activation: f.activation.kind === 'silu' ? { kind: 'sigmoid' } : f.activation };
    }
    switch (node.op.kind) {
      case 'conv': {
        const weight = plan.constants.get(s.inputs[1]);
        const bias = s.inputs[2] ? plan.constants.get(s.inputs[2]) : undefined;
        const attributes = convAttributesOf(s.node);
        if (weight?.dtype !== 'float32' || (s.inputs[2] && bias?.dtype !== 'float32') || !attributes) throw refuse('its weight and bias are not float32 constants');
        return { kind: 'conv', weight, bias: (bias as FloatValue | undefined) ?? null, setup: convSetup(plan.shapes.get(s.inputs[0])!, weight.shape, attributes) };
      }
      case 'linear':
        return linearRecipe(s, plan) ?? { kind: 'local', steps: [step], ranged: false };
      case 'shuffle':
      case 'flatten':
      case 'concat':
      case 'slice':
        return { kind: 'move' };
      case 'dropout':
      case 'identity':
        return { kind: 'pass' };
      case 'softmax':
      case 'opaque':
        return { kind: 'local', steps: [step], ranged: false };
      default:
        // Per-channel steps; a decomposed LRN runs its chain as forward does.
        return absorbed.length > 0 ? { kind: 'local', steps: [...absorbed, step], ranged: false } : { kind: 'local', steps: [step], ranged: true };
    }
  });
}

/** linear()'s weight rows for a Gemm or MatMul that forward runs through linear(), else null (it runs its own loops: computed whole). */
function linearRecipe(s: Plan['steps'][number], plan: Plan): OnnxNodeRecipe | null {
  const b = plan.constants.get(s.inputs[1]);
  if (b?.dtype !== 'float32' || b.shape.length !== 2) return null;
  if (s.node.opType === 'MatMul') return { kind: 'linear', weight: transposed2d(b), bias: null, inFeatures: b.shape[0] };
  const attr = (name: string, fallback: number) => {
    const a = s.node.attributes.get(name);
    return a && (a.type === 'INT' || a.type === 'FLOAT') ? (a.value as number) : fallback;
  };
  const c = s.inputs[2] ? plan.constants.get(s.inputs[2]) : undefined;
  if (s.inputs[2] && c?.dtype !== 'float32') return null;
  // The form ops/matmul.ts sends to linear(): x W^T + b.
  const [N, K] = b.shape;
  const standard = attr('transA', 0) === 0 && attr('transB', 0) === 1 && attr('alpha', 1) === 1 && (!c || (attr('beta', 1) === 1 && c.shape.length === 1 && c.shape[0] === N));
  return standard ? { kind: 'linear', weight: b.data, bias: (c?.data as Float32Array | undefined) ?? null, inFeatures: K } : null;
}

/**
 * `recipes` with, on one device, each fused group that has an activation and
 * no residual run whole at its Conv node, the activation in the kernel's
 * epilogue as forward runs it (the same bits as step by step, with one pass
 * over the values fewer), and its later nodes passing the result on. Only
 * where the device computes the same runs at every node of the group and no
 * device receives anything at the later ones, so no other device ever reads
 * the values between them. `specs` are the device's (ChannelNodeSpec).
 */
export function withDeviceFusions(recipes: readonly OnnxNodeRecipe[], plan: Plan, steps: readonly OnnxNodeSteps[], specs: readonly ChannelNodeSpec[]): OnnxNodeRecipe[] {
  const nodeOfStep = new Map<number, number>();
  steps.forEach((s, i) => nodeOfStep.set(s.step, i));
  const same = (a: readonly Range[], b: readonly Range[]) => a.length === b.length && a.every((r, k) => r[0] === b[k][0] && r[1] === b[k][1]);
  const out = [...recipes];
  for (const f of plan.fusions) {
    // SiLU's two nodes read the Conv's value twice; it stays step by step.
    if (f.residual !== null || f.activation.kind === 'none' || f.activation.kind === 'silu') continue;
    const nodes = f.planSteps.map((s) => nodeOfStep.get(s));
    if (nodes.some((n) => n === undefined)) continue;
    const [conv, ...later] = nodes as number[];
    const recipe = out[conv];
    if (recipe.kind !== 'conv' || !later.every((n) => specs[n].quiet && same(specs[n].outputs, specs[conv].outputs))) continue;
    out[conv] = { ...recipe, activation: f.activation };
    for (const n of later) out[n] = { kind: 'pass' };
  }
  return out;
}
