// Fusion (issue #14): Conv [-> BatchNormalization] [-> Relu | Clip | HardSwish |
// Sigmoid | HardSigmoid | SiLU] or Conv [-> BatchNormalization] -> Add(residual)
// [-> activation], found in a plan's steps and run as ONE convolution with the
// epilogue (act(conv(x) + bias [+ residual]), docs/epilogue.md): the BatchNormalization
// folded into the Conv's weight and bias (foldBatchNorm, once per weight and
// node), the activation and the Add applied as the kernel stores each output.
//
// A link of the chain is fused only when the value between the two nodes has
// no other reader and is not a graph output, so nothing else ever needs it.
// SiLU, as torch.onnx exports it, is Sigmoid(v) then Mul(v, Sigmoid(v)): v is
// read by exactly those two, the sigmoid only by the Mul, and the Mul's
// operands are exactly v and the sigmoid (either order).
// The fused step runs where the chain's LAST node ran: a residual is often
// computed after the Conv (ResNet's downsample branch comes after conv2/bn2 in
// the exported order), and the Conv's input is still alive there.
//
// Sigmoid (and so SiLU) and HardSigmoid fused compute the epilogue's float32
// formulas (src/kernels/epilogue.ts: its own exp, float32 steps), which differ
// by rounding from the ONNX ops' float64 ones (ops/elementwise.ts); both are
// within the ONNX tolerance of PyTorch, and forward and forwardWith run the
// same fused group, so they stay bitwise equal to each other.
//
// `forward` (runPlan) and `forwardWith` (engine-run.ts) both run the fused
// groups, so their results stay bitwise equal: the calling thread through
// convBiasActivation, the engine through a prepared layer with the activation,
// the same kernels and epilogue either way.
import type { ConvGeometry } from '../conv/geometry.js';
import { checkActivation, type Activation } from '../kernels/epilogue.js';
import { kernelOptions } from '../kernels/options.js';
import { planConv, releasePlan, type KernelPlan } from '../kernels/plan/index.js';
import { convBiasActivationWith } from '../ops/conv-bias-activation.js';
import { foldBatchNorm } from '../ops/fold-batchnorm.js';
import type { OnnxNode } from './graph.js';
import { convAttributesOf, convInput, convSetup, type ConvSetup } from './ops/conv.js';
import { expectFloat, floatArray, floatValue, sizeOf, type DType, type FloatValue, type Value } from './value.js';

/** What fusion reads of a step and a plan (plan.ts's PlanStep and Plan; declared here so plan.ts can import this module without a cycle). */
interface PlanStep {
  node: OnnxNode;
  inputs: string[];
  outputs: string[];
}
interface Plan {
  steps: PlanStep[];
  constants: Map<string, Value>;
  shapes: Map<string, number[]>;
  dtypes: Map<string, DType>;
  outputs: string[];
}

/** One fused group: a Conv and the nodes after it that its epilogue performs. */
export interface FusedConv {
  /** Indexes into plan.steps of the nodes it covers, in chain order (the Conv first). */
  planSteps: number[];
  nodes: OnnxNode[];
  /** The covered nodes' op types joined by '+', e.g. 'Conv+BatchNormalization+Relu'. */
  opType: string;
  /** The Conv's input. */
  input: string;
  /** The Add's other operand, added before the activation; null without an Add. */
  residual: string | null;
  /** The last covered node's output. */
  output: string;
  /** The weight and bias the kernel uses: the Conv's own, or with the BatchNormalization folded in. */
  weight: FloatValue;
  bias: FloatValue | null;
  activation: Activation;
  setup: ConvSetup;
}

/** A plan's steps in the order they run with fusion: a fused group, or one plan step on its own. */
export type ScheduledStep = { kind: 'fused'; fused: FusedConv } | { kind: 'single'; index: number };

export interface FusedSchedule {
  steps: ScheduledStep[];
  /** For each computed value, the index of the last scheduled step that reads it. */
  lastUse: Map<string, number>;
}

/** Folded weights per (Conv weight, BatchNormalization node): made once, shared by every plan and engine. */
const foldCache = new WeakMap<FloatValue, WeakMap<OnnxNode, { weight: FloatValue; bias: FloatValue }>>();

function folded(weight: FloatValue, bias: FloatValue | null, bn: OnnxNode, params: FloatValue[]): { weight: FloatValue; bias: FloatValue } {
  let perWeight = foldCache.get(weight);
  if (!perWeight) {
    perWeight = new WeakMap();
    foldCache.set(weight, perWeight);
  }
  let entry = perWeight.get(bn);
  if (!entry) {
    const [gamma, beta, runningMean, runningVar] = params;
    const epsilon = bn.attributes.get('epsilon');
    const eps = epsilon?.type === 'FLOAT' ? epsilon.value : 1e-5;
    const f = foldBatchNorm(weight, bias, { runningMean, runningVar, weight: gamma, bias: beta, eps });
    entry = { weight: floatValue(f.weight.shape, f.weight.data), bias: floatValue(f.bias.shape, f.bias.data) };
    perWeight.set(bn, entry);
  }
  return entry;
}

function foldedOrNull(weight: FloatValue, bias: FloatValue | null, bn: OnnxNode, params: FloatValue[]): { weight: FloatValue; bias: FloatValue } | null {
  try {
    return folded(weight, bias, bn, params);
  } catch {
    return null;
  }
}

/** Whether two shapes are both known and equal. */
export const sameShape = (a: readonly number[] | undefined, b: readonly number[] | undefined) => !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);

/** The epilogue's activation for an activation node, or null when it has none that gives the node's bits. */
function activationOf(step: PlanStep, plan: Plan): Activation | null {
  switch (step.node.opType) {
    case 'Relu':
      return { kind: 'relu' };
    case 'HardSwish':
      // ONNX's own HardSwish runs the epilogue's formula (ops/elementwise.ts), PyTorch's x * relu6(x + 3) / 6 in float32.
      return { kind: 'hardswish' };
    case 'Sigmoid':
      return { kind: 'sigmoid' };
    case 'HardSigmoid': {
      const attribute = (name: string, otherwise: number): number | null => {
        const a = step.node.attributes.get(name);
        return a === undefined ? otherwise : a.type === 'FLOAT' ? a.value : null;
      };
      const alpha = attribute('alpha', 0.2);
      const beta = attribute('beta', 0.5);
      if (alpha === null || beta === null || !Number.isFinite(alpha) || !Number.isFinite(beta)) return null;
      return checkActivation({ kind: 'hardsigmoid', alpha, beta });
    }
    case 'Clip': {
      const bound = (i: number, attribute: string, otherwise: number): number | null => {
        const name = step.inputs[i] ?? '';
        if (name === '') {
          const a = step.node.attributes.get(attribute);
          return a?.type === 'FLOAT' ? a.value : otherwise;
        }
        const v = plan.constants.get(name);
        return v?.dtype === 'float32' && v.data.length === 1 ? v.data[0] : null;
      };
      const min = bound(1, 'min', -Infinity);
      const max = bound(2, 'max', Infinity);
      if (min === null || max === null || Number.isNaN(min) || Number.isNaN(max) || min > max) return null;
      // The ONNX kernel compares with the bounds as given (float32 values already); the epilogue rounds them to float32 too.
      if (Math.fround(min) !== min || Math.fround(max) !== max) return null;
      return checkActivation({ kind: 'clip', min, max });
    }
    default:
      return null;
  }
}

/** The fusable groups of a plan (see the header); steps not in any group run on their own. */
export function findFusions(plan: Plan): FusedConv[] {
  const { steps, constants, shapes, dtypes } = plan;
  // Readers of each computed value: step indexes (a step reading a value twice counts twice).
  const readers = new Map<string, number[]>();
  steps.forEach((s, i) => {
    for (const n of s.inputs) if (n !== '' && !constants.has(n)) readers.set(n, [...(readers.get(n) ?? []), i]);
  });
  const graphOutputs = new Set(plan.outputs);
  /** The single step reading `value`, when nothing else (no other step, no graph output) needs it. */
  const onlyReader = (value: string): number | null => {
    const r = readers.get(value);
    return r && r.length === 1 && !graphOutputs.has(value) ? r[0] : null;
  };
  const onlyOutput = (s: PlanStep): string | null => {
    const outs = s.outputs.filter((n) => n !== '');
    return outs.length === 1 && s.outputs[0] !== '' ? outs[0] : null;
  };
  const floatConstant = (name: string | undefined): FloatValue | null => {
    const v = name ? constants.get(name) : undefined;
    return v?.dtype === 'float32' ? v : null;
  };

  /** Sigmoid(value) and Mul(value, that sigmoid) as SiLU, when value and the sigmoid have no other reader (see the header). */
  const siluAfter = (value: string): { sigmoid: number; mul: number; output: string } | null => {
    const r = readers.get(value);
    if (!r || r.length !== 2 || graphOutputs.has(value)) return null;
    const sigmoid = r.find((i) => steps[i].node.opType === 'Sigmoid' && steps[i].inputs[0] === value);
    const mul = r.find((i) => i !== sigmoid && steps[i].node.opType === 'Mul');
    if (!free(sigmoid ?? null) || !free(mul ?? null)) return null;
    const sigmoidOut = onlyOutput(steps[sigmoid!]);
    const output = onlyOutput(steps[mul!]);
    const operands = steps[mul!].inputs;
    const exactly = operands.length === 2 && ((operands[0] === value && operands[1] === sigmoidOut) || (operands[0] === sigmoidOut && operands[1] === value));
    if (!sigmoidOut || !output || !exactly || onlyReader(sigmoidOut) !== mul) return null;
    return { sigmoid: sigmoid!, mul: mul!, output };
  };

  const groups: FusedConv[] = [];
  // A node joins one group at most: ResNet's Add reads two Conv -> BatchNormalization chains, and is
  // fused into the first (the other chain's output becomes its residual).
  const claimed = new Set<number>();
  const free = (n: number | null): n is number => n !== null && !claimed.has(n);
  steps.forEach((conv, i) => {
    if (conv.node.opType !== 'Conv') return;
    const attributes = convAttributesOf(conv.node);
    const x = shapes.get(conv.inputs[0]);
    const weight0 = floatConstant(conv.inputs[1]);
    const biasName = conv.inputs[2] ?? '';
    const bias0 = biasName === '' ? null : floatConstant(biasName);
    let value = onlyOutput(conv);
    if (!attributes || !x || x.length !== 4 || dtypes.get(conv.inputs[0]) !== 'float32' || !weight0 || weight0.shape.length !== 4 || (biasName !== '' && !bias0) || !value) return;
    const outShape = shapes.get(value);
    const planSteps = [i];
    let weight = weight0;
    let bias = bias0;
    let residual: string | null = null;
    let activation: Activation = { kind: 'none' };
    let next = onlyReader(value);

    // BatchNormalization with constant parameters, reading the Conv's output as X.
    if (free(next) && steps[next].node.opType === 'BatchNormalization' && steps[next].inputs[0] === value) {
      const bn = steps[next];
      const params = bn.inputs.slice(1, 5).map(floatConstant);
      const out = onlyOutput(bn);
      const perChannel = params.length === 4 && params.every((p): p is FloatValue => p !== null && p.shape.length === 1 && p.shape[0] === weight0.shape[0]);
      // An epsilon foldBatchNorm refuses (negative, not finite) leaves the node to its own kernel.
      const f = perChannel && out ? foldedOrNull(weight0, bias0, bn.node, params as FloatValue[]) : null;
      if (f) {
        ({ weight, bias } = f);
        planSteps.push(next);
        value = out!;
        next = onlyReader(value);
      }
    }
    // The residual Add: the other operand of the output's shape (no broadcasting), computed by the plan.
    if (free(next) && steps[next].node.opType === 'Add') {
      const add = steps[next];
      const other = add.inputs[0] === value ? add.inputs[1] : add.inputs[1] === value ? add.inputs[0] : undefined;
      const out = onlyOutput(add);
      if (other && other !== value && !constants.has(other) && dtypes.get(other) === 'float32' && sameShape(shapes.get(other), outShape) && out && sameShape(shapes.get(out), outShape)) {
        residual = other;
        planSteps.push(next);
        value = out;
        next = onlyReader(value);
      }
    }
    const silu = siluAfter(value);
    if (silu) {
      activation = { kind: 'silu' };
      planSteps.push(silu.sigmoid, silu.mul);
      value = silu.output;
    } else if (free(next)) {
      const act = activationOf(steps[next], plan);
      const out = act && onlyOutput(steps[next]);
      if (act && out && steps[next].inputs[0] === value) {
        activation = act;
        planSteps.push(next);
        value = out;
      }
    }
    if (planSteps.length === 1) return;
    for (const s of planSteps) claimed.add(s);
    const nodes = planSteps.map((s) => steps[s].node);
    groups.push({
      planSteps,
      nodes,
      opType: nodes.map((n) => n.opType).join('+'),
      input: conv.inputs[0],
      residual,
      output: value,
      weight,
      bias,
      activation,
      setup: convSetup(x, weight.shape, attributes),
    });
  });
  return groups;
}

/** The order steps run in with `fusions`: each group where its last node was, the other steps as they were. */
export function fusedSchedule(plan: Plan, fusions: readonly FusedConv[]): FusedSchedule {
  const at = new Map<number, FusedConv>();
  const covered = new Set<number>();
  for (const f of fusions) {
    at.set(Math.max(...f.planSteps), f);
    for (const s of f.planSteps) covered.add(s);
  }
  const steps: ScheduledStep[] = [];
  plan.steps.forEach((_, i) => {
    const f = at.get(i);
    if (f) steps.push({ kind: 'fused', fused: f });
    else if (!covered.has(i)) steps.push({ kind: 'single', index: i });
  });
  const lastUse = new Map<string, number>();
  steps.forEach((s, i) => {
    for (const n of scheduledInputs(plan, s)) if (n !== '' && !plan.constants.has(n)) lastUse.set(n, i);
  });
  for (const n of plan.outputs) lastUse.delete(n);
  return { steps, lastUse };
}

/** The values a scheduled step reads ('' for an absent optional input). */
export function scheduledInputs(plan: Plan, s: ScheduledStep): string[] {
  if (s.kind === 'single') return plan.steps[s.index].inputs;
  return s.fused.residual === null ? [s.fused.input] : [s.fused.input, s.fused.residual];
}

/**
 * Each fused group's kernel plan on the calling thread (its weights packed once,
 * not per forward), made on first use and remade if the kernel switches
 * (kernels/options.ts) or the geometry changed. Its arena block is freed by
 * releaseThreadPlans (a plan dropped, the model closed) or, failing that, when
 * the group is collected.
 */
const threadPlans = new WeakMap<FusedConv, { key: string; plan: KernelPlan }>();
const unreleased = new FinalizationRegistry<KernelPlan>((plan) => releasePlan(plan));

function threadPlanOf(f: FusedConv, g: ConvGeometry, activation: Activation): KernelPlan {
  const key = `${JSON.stringify(kernelOptions)} ${Object.values(g).join(',')}`;
  const held = threadPlans.get(f);
  if (held?.key === key) return held.plan;
  if (held) releaseThreadPlan(f);
  const plan = planConv(g, f.weight.data, null, activation);
  threadPlans.set(f, { key, plan });
  unreleased.register(f, plan, f);
  return plan;
}

function releaseThreadPlan(f: FusedConv): void {
  const held = threadPlans.get(f);
  if (!held) return;
  threadPlans.delete(f);
  unreleased.unregister(f);
  releasePlan(held.plan);
}

/** Frees the calling thread's kernel plans of these fused groups (a plan's `fusions`; see threadPlanOf). */
export function releaseThreadPlans(fusions: readonly FusedConv[]): void {
  for (const f of fusions) releaseThreadPlan(f);
}

/** A fused group on the calling thread: the same kernels and epilogue as the engine's layer. */
export function runFusedOnThread(f: FusedConv, x: Value | undefined, residual: Value | undefined): FloatValue {
  const input = convInput(expectFloat(x, `input '${f.input}'`), f.setup);
  const r = f.residual === null ? null : expectFloat(residual, `residual '${f.residual}'`);
  const options = { ...f.setup.options, activation: f.activation, residual: r };
  // Its output where the caller's allocator puts op outputs (floatArray): the arena, on the thread path.
  const out = convBiasActivationWith((g, activation) => threadPlanOf(f, g, activation), false, input, f.weight, f.bias, options, floatArray(sizeOf(f.setup.outputShape)));
  return floatValue(out.shape, out.data);
}
