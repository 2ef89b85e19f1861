// The split graph of an ONNX model, read from its plan for one input shape:
// the plan's steps are the real tensor ops once the exporter's shape
// arithmetic is folded, so each maps onto a graph operation. Two exporter
// idioms are folded back into the one operation they spell: ShuffleNetV2's
// Reshape -> Transpose -> Reshape (a channel shuffle) and torch's decomposed
// LocalResponseNorm (x / (k + alpha * avgpool3d(pad(x^2)))^beta, an LRN).
// Uses only OnnxModel's public surface (inputs, planFor).
import { errors } from '../errors.js';
import type { OnnxModel } from '../onnx/model.js';
import type { PlanStep } from '../onnx/plan.js';
import { inferShapes, type GraphNode, type GraphOp, type ModelGraph, type Pair, type WeightSpec } from './graph.js';

/** Whether `model` is an OnnxModel (by its public surface, so no class identity across bundles is needed). */
export function isOnnxModel(model: unknown): model is OnnxModel {
  return typeof model === 'object' && model !== null && typeof (model as OnnxModel).planFor === 'function' && Array.isArray((model as OnnxModel).inputs);
}

/** One image's [C, H, W] from the model's declared input, or null when any of them is symbolic. */
export function staticImageShape(model: OnnxModel): number[] | null {
  const image = model.inputs[0].shape?.slice(1) ?? [];
  return image.length === 3 && image.every((d) => typeof d === 'number' && d > 0) ? (image as number[]) : null;
}

type Attr = number | number[] | string | undefined;
function attr(step: PlanStep, name: string): Attr {
  const a = step.node.attributes.get(name);
  if (!a || a.type === 'TENSOR' || a.type === 'GRAPH' || a.type === 'STRINGS' || a.type === 'FLOATS') return undefined;
  return a.value;
}
const ints = (step: PlanStep, name: string, fallback: number[]): number[] => (attr(step, name) as number[] | undefined) ?? fallback;
const int = (step: PlanStep, name: string, fallback: number): number => (attr(step, name) as number | undefined) ?? fallback;
const float = (step: PlanStep, name: string, fallback: number): number => {
  const a = step.node.attributes.get(name);
  return a && a.type === 'FLOAT' ? a.value : fallback;
};

/** The error for a node the planner cannot place, naming it and its operator. */
function cannotPlace(step: PlanStep, why: string) {
  return errors.splitOnnxNode(step.node.name || step.outputs[0], step.node.opType, why);
}

/**
 * Maps an OnnxModel's plan for images of `image` ([C, H, W]) onto the split
 * graph. The graph holds no batch size (planned at the model's static batch,
 * else 1), so planSplit gives it any.
 */
export function graphOfOnnx(model: OnnxModel, image: readonly number[]): ModelGraph {
  return onnxGraphSteps(model, image).graph;
}

/**
 * Which plan steps (indexes into `plan.steps` for the batch the graph was
 * built at) one graph node stands for: `step` is the step whose output the
 * node writes (a Split's for each of its slices), `absorbed` the steps folded
 * into it before that one (a shuffle's Reshape and Transpose; a decomposed
 * LRN's chain), in plan order.
 */
export interface OnnxNodeSteps {
  step: number;
  absorbed: number[];
}

/** graphOfOnnx's graph, and for each of its nodes the plan steps it stands for: what a device running the node by channels runs. */
export function onnxGraphSteps(model: OnnxModel, image: readonly number[]): { graph: ModelGraph; steps: OnnxNodeSteps[] } {
  const declaredBatch = model.inputs[0]?.shape?.[0];
  const inputShape = [typeof declaredBatch === 'number' && declaredBatch > 0 ? declaredBatch : 1, ...image];
  if (model.inputs.length !== 1) throw errors.invalid('model', `the split planner takes models of one input, this one has ${model.inputs.length} (${model.inputs.map((i) => i.name).join(', ')})`);
  const inputName = model.inputs[0].name;
  const plan = model.planFor({ [inputName]: inputShape });
  const shapeOf = (v: string) => plan.shapes.get(v)!;
  const isConstant = (v: string) => v === '' || plan.constants.has(v);
  const constant = (v: string) => plan.constants.get(v);
  const scalar = (v: string | undefined) => (v === undefined ? undefined : constant(v)?.data[0]);
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  plan.steps.forEach((s, i) => {
    s.outputs.forEach((o) => producer.set(o, i));
    s.inputs.forEach((v) => consumers.set(v, [...(consumers.get(v) ?? []), i]));
  });
  const onlyConsumer = (v: string): number | undefined => {
    const c = consumers.get(v) ?? [];
    return c.length === 1 && !plan.outputs.includes(v) ? c[0] : undefined;
  };

  const absorbed = new Set<number>();
  /** Folded idioms: at the step index, the node that replaces the absorbed steps (reading `input`), and those steps. */
  const folded = new Map<number, { op: GraphOp; input: string; steps: number[] }>();

  plan.steps.forEach((s, i) => {
    // Channel shuffle: [N, C, H, W] -> Reshape [N, g, C/g, H, W] -> Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W].
    if (s.node.opType !== 'Reshape' || absorbed.has(i)) return;
    const x = shapeOf(s.inputs[0]);
    const y = shapeOf(s.outputs[0]);
    if (x.length !== 4 || y.length !== 5 || y[0] !== x[0] || y[1] * y[2] !== x[1] || y[3] !== x[2] || y[4] !== x[3]) return;
    const t = onlyConsumer(s.outputs[0]);
    if (t === undefined || plan.steps[t].node.opType !== 'Transpose' || ints(plan.steps[t], 'perm', []).join() !== '0,2,1,3,4') return;
    const r = onlyConsumer(plan.steps[t].outputs[0]);
    if (r === undefined || plan.steps[r].node.opType !== 'Reshape' || shapeOf(plan.steps[r].outputs[0]).join() !== x.join()) return;
    absorbed.add(i).add(t);
    folded.set(r, { op: { kind: 'shuffle', groups: y[1] }, input: s.inputs[0], steps: [i, t] });
  });

  plan.steps.forEach((s, i) => {
    // torch's LocalResponseNorm: Div(x, den) where den comes from x alone through a 5-D AveragePool over channels.
    if (s.node.opType !== 'Div' || isConstant(s.inputs[1]) || isConstant(s.inputs[0])) return;
    const x = s.inputs[0];
    const chain = new Set<number>();
    const pending = [s.inputs[1]];
    while (pending.length > 0 && chain.size <= 16) {
      const v = pending.pop()!;
      if (v === x || isConstant(v)) continue;
      const p = producer.get(v);
      if (p === undefined) return; // reaches the model's input some other way
      if (!chain.has(p)) {
        chain.add(p);
        pending.push(...plan.steps[p].inputs);
      }
    }
    const pool = [...chain].find((p) => plan.steps[p].node.opType === 'AveragePool' && ints(plan.steps[p], 'kernel_shape', []).length === 3);
    if (pool === undefined || chain.size > 16) return;
    const poolStep = plan.steps[pool];
    const constantOf = (opType: string) => {
      const step = [...chain].map((p) => plan.steps[p]).find((c) => c.node.opType === opType && c.inputs.some(isConstant));
      return scalar(step?.inputs.find(isConstant));
    };
    const size = ints(poolStep, 'kernel_shape', [])[0];
    chain.forEach((p) => absorbed.add(p));
    // torch multiplies the window's mean by alpha, adds k and raises to beta: LRN's parameters, as PyTorch's module holds them.
    // The LRN node keeps the Div's name and output, which later steps read.
    const steps = [...chain].sort((a, b) => a - b);
    folded.set(i, { op: { kind: 'lrn', size, alpha: constantOf('Mul') ?? 1, beta: constantOf('Pow') ?? 0.75, k: constantOf('Add') ?? 1 }, input: x, steps });
  });

  const nodes: GraphNode[] = [];
  const nodeSteps: OnnxNodeSteps[] = [];
  let current: OnnxNodeSteps = { step: -1, absorbed: [] };
  const used = new Set<string>();
  const unique = (name: string) => {
    let candidate = name;
    for (let n = 2; used.has(candidate); n++) candidate = `${name}:${n}`;
    used.add(candidate);
    return candidate;
  };
  const push = (s: PlanStep, op: GraphOp, inputs: string[], output: string, weights: WeightSpec[] = [], suffix = '') => {
    const name = unique((s.node.name || output) + suffix);
    nodes.push({ name, label: name, op, inputs, output, weights });
    nodeSteps.push(current);
  };
  const weight = (name: string | undefined, role: WeightSpec['role'] = 'parameter'): WeightSpec[] =>
    name && constant(name) ? [{ name, shape: [...constant(name)!.shape], role }] : [];

  plan.steps.forEach((s, i) => {
    if (absorbed.has(i)) return;
    const f = folded.get(i);
    current = { step: i, absorbed: f ? f.steps : [] };
    if (f) {
      push(s, f.op, [f.input], s.outputs[0]);
      return;
    }
    const dynamic = s.inputs.filter((v) => !isConstant(v));
    const out = s.outputs[0];
    const x = shapeOf(dynamic[0]);
    const y = shapeOf(out);
    const opaque = () => {
      if (s.outputs.filter((o) => o !== '').length !== 1) throw cannotPlace(s, 'it has several outputs');
      if (y.length < 2 || y[0] !== x[0]) throw cannotPlace(s, `its output [${y.join(', ')}] does not keep the batch dimension of [${x.join(', ')}]`);
      push(s, { kind: 'opaque', opType: s.node.opType, shape: y.slice(1) }, dynamic, out);
    };
    const pads2d = (): { padding: Pair; padEnd: Pair } => {
      if ((attr(s, 'auto_pad') ?? 'NOTSET') !== 'NOTSET') throw cannotPlace(s, `auto_pad '${String(attr(s, 'auto_pad'))}' is not supported by the split planner`);
      const p = ints(s, 'pads', [0, 0, 0, 0]);
      return { padding: [p[0], p[1]], padEnd: [p[2], p[3]] };
    };
    switch (s.node.opType) {
      case 'Conv': {
        const w = constant(s.inputs[1]);
        if (!w || w.shape.length !== 4 || dynamic.length !== 1) throw cannotPlace(s, 'its weight is not a constant 4-D tensor');
        const groups = int(s, 'group', 1);
        const { padding, padEnd } = pads2d();
        const symmetric = padding[0] === padEnd[0] && padding[1] === padEnd[1];
        const op: GraphOp = {
          kind: 'conv',
          inChannels: w.shape[1] * groups,
          outChannels: w.shape[0],
          kernel: [w.shape[2], w.shape[3]],
          stride: ints(s, 'strides', [1, 1]) as Pair,
          padding,
          dilation: ints(s, 'dilations', [1, 1]) as Pair,
          groups,
          ...(symmetric ? {} : { padEnd }),
        };
        push(s, op, dynamic, out, [...weight(s.inputs[1]), ...weight(s.inputs[2])]);
        return;
      }
      case 'Gemm':
      case 'MatMul': {
        const w = constant(s.inputs[1]);
        if (!w || w.shape.length !== 2 || x.length !== 2 || dynamic.length !== 1 || int(s, 'transA', 0) !== 0) return opaque();
        const transB = int(s, 'transB', 0) === 1;
        const [inFeatures, outFeatures] = transB ? [w.shape[1], w.shape[0]] : [w.shape[0], w.shape[1]];
        // The weight as PyTorch's Linear holds it, [out, in], so its rows are the device's outputs.
        const weights: WeightSpec[] = [{ name: s.inputs[1], shape: [outFeatures, inFeatures], role: 'parameter' }, ...weight(s.inputs[2])];
        push(s, { kind: 'linear', inFeatures, outFeatures }, dynamic, out, weights);
        return;
      }
      case 'Relu':
        return push(s, { kind: 'relu' }, dynamic, out);
      case 'BatchNormalization': {
        const weights = [...weight(s.inputs[1]), ...weight(s.inputs[2]), ...weight(s.inputs[3], 'buffer'), ...weight(s.inputs[4], 'buffer')];
        return push(s, { kind: 'batchnorm', channels: x[1] }, dynamic, out, weights);
      }
      case 'MaxPool':
      case 'AveragePool': {
        const kernel = ints(s, 'kernel_shape', []);
        if (kernel.length !== 2) return opaque();
        const { padding, padEnd } = pads2d();
        if (padding[0] !== padEnd[0] || padding[1] !== padEnd[1]) throw cannotPlace(s, `asymmetric pads [${ints(s, 'pads', [])}] are not supported for pooling`);
        const stride = ints(s, 'strides', [1, 1]) as Pair;
        const ceilMode = int(s, 'ceil_mode', 0) === 1;
        if (s.node.opType === 'MaxPool') {
          if (s.outputs.length > 1 && s.outputs[1] !== '') throw cannotPlace(s, 'its indices output is not supported');
          return push(s, { kind: 'maxpool', kernel: kernel as Pair, stride, padding, dilation: ints(s, 'dilations', [1, 1]) as Pair, ceilMode }, dynamic, out);
        }
        return push(s, { kind: 'avgpool', kernel: kernel as Pair, stride, padding, ...(ceilMode ? { ceilMode } : {}) }, dynamic, out);
      }
      case 'GlobalAveragePool':
        return push(s, { kind: 'adaptiveavgpool', outputSize: [1, 1] }, dynamic, out);
      case 'ReduceMean': {
        const axes = ints(s, 'axes', []).map((a) => (a < 0 ? a + x.length : a));
        if (x.length === 4 && axes.sort().join() === '2,3' && int(s, 'keepdims', 1) === 1) return push(s, { kind: 'adaptiveavgpool', outputSize: [1, 1] }, dynamic, out);
        return opaque();
      }
      case 'LRN':
        return push(s, { kind: 'lrn', size: int(s, 'size', 1), alpha: float(s, 'alpha', 1e-4), beta: float(s, 'beta', 0.75), k: float(s, 'bias', 1) }, dynamic, out);
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow': {
        const fn = s.node.opType.toLowerCase();
        if (dynamic.length === 1) return push(s, { kind: 'elementwise', fn }, dynamic, out);
        const [a, b] = dynamic.map(shapeOf);
        if (s.node.opType === 'Add' && a.join() === b.join()) return push(s, { kind: 'add' }, dynamic, out);
        const onto = (p: number[], q: number[]) => p.length === q.length && q.every((d, k) => d === p[k] || d === 1);
        // The full-size operand leads: the other is broadcast onto it (the order matters to the value, not to where it is computed).
        if (onto(a, b) && a.join() === y.join()) return push(s, { kind: 'broadcast', fn }, dynamic, out);
        if (onto(b, a) && b.join() === y.join()) return push(s, { kind: 'broadcast', fn }, [dynamic[1], dynamic[0]], out);
        return opaque();
      }
      case 'Concat': {
        const axis = int(s, 'axis', 1);
        if (x.length === 4 && (axis === 1 || axis === -3)) return push(s, { kind: 'concat' }, dynamic, out);
        return opaque();
      }
      case 'Flatten':
      case 'Reshape':
        if (y.length === 2 && y[0] === x[0] && (s.node.opType === 'Reshape' || int(s, 'axis', 1) === 1)) return push(s, { kind: 'flatten', startDim: 1 }, dynamic, out);
        return opaque();
      case 'Split': {
        const axis = int(s, 'axis', 0);
        if (x.length < 2 || (axis !== 1 && axis !== 1 - x.length)) throw cannotPlace(s, `it splits axis ${axis}, not the channels`);
        let start = 0;
        s.outputs.forEach((o, k) => {
          const end = start + shapeOf(o)[1];
          if (o !== '') push(s, { kind: 'slice', start, end }, dynamic, o, [], `:${k}`);
          start = end;
        });
        return;
      }
      case 'Slice': {
        const [starts, ends, axes, steps] = [1, 2, 3, 4].map((k) => (s.inputs[k] ? constant(s.inputs[k])?.data : undefined));
        const axis = axes ? axes[0] : 0;
        const onChannels = starts && starts.length === 1 && (axis === 1 || axis === 1 - x.length) && (!steps || steps[0] === 1);
        if (!onChannels || !ends) return opaque();
        const clamp = (v: number) => Math.min(x[1], Math.max(0, v < 0 ? v + x[1] : v));
        return push(s, { kind: 'slice', start: clamp(starts[0]), end: clamp(ends[0]) }, dynamic, out);
      }
      case 'Softmax':
        if (x.length === 2 && (int(s, 'axis', -1) === 1 || int(s, 'axis', -1) === -1)) return push(s, { kind: 'softmax' }, dynamic, out);
        return opaque();
      case 'Dropout':
        if (s.outputs.length > 1 && s.outputs[1] !== '' && consumers.has(s.outputs[1])) throw cannotPlace(s, 'its mask output is read');
        return push(s, { kind: 'dropout' }, dynamic, out);
      case 'Identity':
      case 'If': // an If whose branch was inlined hands on the branch's output
        return push(s, { kind: 'identity' }, dynamic, out);
      case 'Pad': {
        const pads = s.inputs[1] ? constant(s.inputs[1])?.data : (attr(s, 'pads') as number[] | undefined);
        const value = scalar(s.inputs[2]) ?? 0;
        const mode = attr(s, 'mode') ?? 'constant';
        if (!pads || pads.length !== 8 || x.length !== 4 || mode !== 'constant' || value !== 0 || [0, 1, 4, 5].some((k) => pads[k] !== 0)) return opaque();
        return push(s, { kind: 'pad', pads: [pads[2], pads[3], pads[6], pads[7]] }, dynamic, out);
      }
      case 'Clip':
      case 'HardSwish':
      case 'Sigmoid':
      case 'HardSigmoid':
      case 'LeakyRelu':
      case 'PRelu':
      case 'Elu':
      case 'Tanh':
      case 'Softplus':
      case 'Erf':
      case 'Sqrt':
      case 'Exp':
      case 'Log':
      case 'Neg':
      case 'Abs':
      case 'Reciprocal':
        if (dynamic.length !== 1) return opaque();
        return push(s, { kind: 'elementwise', fn: s.node.opType.toLowerCase() }, dynamic, out);
      case 'Transpose':
      case 'LayerNormalization':
      case 'Squeeze':
      case 'Unsqueeze':
        return opaque();
      default:
        throw cannotPlace(s, 'the split planner does not know which channels it reads');
    }
  });

  const output = plan.outputs[0];
  const graph: ModelGraph = { name: model.graph.name || 'onnx', input: inputName, inputChannels: inputShape[1], nodes, output };
  // The graph's own shape rules must give the shapes the ONNX plan recorded: a check of the mapping.
  const shapes = inferShapes(graph, inputShape);
  for (const node of nodes) {
    const mine = shapes.get(node.output)!;
    const theirs = shapeOf(node.output);
    if (mine.join() !== theirs.join()) {
      throw errors.splitOnnxNode(node.name, node.op.kind, `mapped to an operation giving [${mine.join(', ')}] where ONNX gives [${theirs.join(', ')}]`);
    }
  }
  return { graph, steps: nodeSteps };
}
