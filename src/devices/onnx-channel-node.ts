// One graph node of an ONNX model computed for some runs of its output
// channels only, under a channels plan: the ONNX counterpart of
// channel-node.ts. Each split graph node stands for plan steps
// (onnxGraphSteps, from-onnx.ts; its recipe: onnx-channel-recipe.ts). forward
// runs those steps with the Conv -> BatchNormalization -> activation / Add
// chains fused (fuse.ts), and a folded BatchNormalization changes bits, so a
// node inside a fused group computes its part of the group: the Conv its rows
// of the folded weight and bias (conv2d, the fused kernel's bits before its
// epilogue, docs/epilogue.md), the BatchNormalization nothing more, the Add
// and the activation the epilogue's float32 sum and formula (its reference,
// kernels/epilogue.ts) on the runs held: each step of the epilogue rounds to
// float32 on its own, so doing them node by node gives its bits.
//
// A Conv or linear layer outside a group computes its output runs through row
// slices of its weights (whole groups), with the kernels forward uses
// (channel-node.ts says why the bits are the whole layer's). A per-channel
// step places the channels it reads in a value of the plan's shape (zeros
// elsewhere) and runs its ranged kernel (kernels/ranged) over the units that
// hold the device's output channels only: a ranged kernel gives any range of
// its units the bits of one whole run, and the host op forward runs computes
// those bits too. A step with no such kernel, a decomposed LRN's chain, and a
// node that reads whole inputs (opaque, Softmax, a Gemm of another form) run
// forward's own kernels on those values and keep the device's runs of the
// output. Shuffles, flattens, Concat and Slice only move channels.
//
// Plans are per batch: a model whose batch is fixed runs larger batches in
// chunks of it, image by image's values being independent.
import { errors } from '../errors.js';
import { applyEpilogue } from '../kernels/epilogue.js';
import { epilogueFusesExp } from '../kernels/plan/selection.js';
import { runRanged, unitAt, type RangedOp } from '../kernels/ranged/index.js';
import type { OnnxModel } from '../onnx/model.js';
import { padValue } from '../onnx/ops/shape.js';
import { runNode, type Plan } from '../onnx/plan.js';
import { floatValue, sizeOf, type FloatValue, type Value } from '../onnx/value.js';
import { workerStageOf } from '../onnx/worker-stages.js';
import { convBiasActivation } from '../ops/conv-bias-activation.js';
import { conv2d } from '../ops/conv2d.js';
import { linear } from '../ops/linear.js';
import type { OnnxNodeSteps } from '../split/from-onnx.js';
import type { GraphNode, ModelGraph } from '../split/graph.js';
import { normalize, shift, type Range } from '../split/ranges.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ChannelNodeSpec } from './channel-device-state.js';
import { computeRuns, rows } from './channel-node.js';
import { blocksOf, gather, heldOf, type HeldValue } from './channel-runs.js';
import { onnxNodeRecipes, withDeviceFusions, type OnnxNodeRecipe } from './onnx-channel-recipe.js';

/** A per-channel step's ranged kernel, the values it reads in its order, and the units holding a device's channels; null: it runs its forward kernels whole. */
type LocalStage = { op: RangedOp; inputs: string[]; units: Range[] } | null;

/**
 * Channels `runs` of `value` as gather gives them, but a block's own data when
 * it holds exactly those channels: for readers that do not write into it (the
 * values a device keeps are never written once made).
 */
function gatherRead(value: HeldValue, runs: readonly Range[], what: string): Tensor {
  if (runs.length === 1) {
    const block = value.blocks.find((b) => b.run[0] === runs[0][0] && b.run[1] === runs[0][1]);
    if (block) return { shape: [value.batch, runs[0][1] - runs[0][0], ...value.rest], data: block.data };
  }
  return gather(value, runs, what);
}

/** A dense [N, count(runs), ...rest] tensor's channels placed at `runs` of a zeroed [N, channels, ...rest]. */
function scatter(dense: Tensor, runs: readonly Range[], channels: number): Float32Array {
  const [batch, width, ...rest] = dense.shape;
  const plane = sizeOf(rest);
  const out = new Float32Array(batch * channels * plane);
  for (let n = 0; n < batch; n++) {
    let at = 0;
    for (const [a, b] of runs) {
      out.set(dense.data.subarray((n * width + at) * plane, (n * width + at + b - a) * plane), (n * channels + a) * plane);
      at += b - a;
    }
  }
  return out;
}

/** Runs `runs` of a whole value [N, C, ...rest], as blocks. */
function cut(data: Float32Array, shape: readonly number[], runs: readonly Range[]): HeldValue {
  const whole = heldOf({ shape: [...shape], data }, [0, shape[1]]);
  if (runs.length === 1 && runs[0][0] === 0 && runs[0][1] === shape[1]) return whole;
  return blocksOf(gather(whole, runs, 'an output'), runs);
}

/**
 * The units of a per-channel kernel that hold output channels `runs` of every
 * image, for an output of `shape` [B, C, ...]: element blocks for the flat
 * kernels, else its units in channel-plane order (planes, or rows of planes).
 * Null when its units do not follow the planes.
 */
function unitRanges(op: RangedOp, shape: readonly number[], runs: readonly Range[]): Range[] | null {
  const [B, C] = shape;
  const plane = sizeOf(shape.slice(2));
  const ranges: Range[] = [];
  if (typeof op.params.elements === 'number') {
    if (op.params.elements !== B * C * plane) return null;
    for (let n = 0; n < B; n++) for (const [a, b] of runs) ranges.push([unitAt(op.params, (n * C + a) * plane, false), unitAt(op.params, (n * C + b) * plane, true)]);
  } else {
    if (op.units === 0 || op.units % (B * C) !== 0) return null;
    const per = op.units / (B * C);
    for (let n = 0; n < B; n++) for (const [a, b] of runs) ranges.push([(n * C + a) * per, (n * C + b) * per]);
  }
  return normalize(ranges.filter(([a, b]) => b > a));
}

/** The nodes of one ONNX model computed by channel runs, in a device's thread. */
export class OnnxChannelNodes {
  /** The plan and recipes for the last batch seen (a pass's batch, or the model's fixed one). */
  private current: { batch: number; plan: Plan; recipes: OnnxNodeRecipe[]; stages: Map<number, LocalStage> } | null = null;
  private readonly input: string;
  private readonly fixedBatch: number | null;

  constructor(
    private readonly model: OnnxModel,
    private readonly image: readonly number[],
    private readonly graph: ModelGraph,
    private readonly steps: readonly OnnxNodeSteps[],
    /** This device's part of every node. */
    private readonly specs: readonly ChannelNodeSpec[],
  ) {
    this.input = model.inputs[0].name;
    const declared = model.inputs[0].shape?.[0];
    this.fixedBatch = typeof declared === 'number' && declared > 0 ? declared : null;
  }

  /** Output runs `spec.outputs` of node `index` from its inputs (what the device holds of each, plus what it received). */
  compute(index: number, inputs: readonly HeldValue[], spec: ChannelNodeSpec): HeldValue {
    const node = this.graph.nodes[index];
    const batch = inputs[0].batch;
    if (spec.outputs.length === 0) return { batch, rest: [], blocks: [] };
    const { plan, recipes, chunk } = this.planFor(batch);
    const recipe = recipes[index];
    switch (recipe.kind) {
      case 'conv':
        return convRuns(node, recipe, inputs[0], spec.outputs);
      case 'linear': {
        const x = gatherRead(inputs[0], [[0, recipe.inFeatures]], `${node.label}'s input`);
        const K = recipe.inFeatures;
        const blocks = spec.outputs.map(([a, b]) => {
          const w = { shape: [b - a, K], data: recipe.weight.subarray(a * K, b * K) };
          const bias = recipe.bias ? { shape: [b - a], data: recipe.bias.subarray(a, b) } : null;
          return { run: [a, b] as Range, data: linear(x, w, bias).data };
        });
        return { batch: x.shape[0], rest: [], blocks };
      }
      case 'pass':
        return blocksOf(gatherRead(inputs[0], spec.outputs, `${node.label}'s input`), spec.outputs);
      case 'activation': {
        const y = gather(inputs[0], spec.outputs, `${node.label}'s input`);
        applyEpilogue(y.data, null, recipe.activation, 0, y.data.length, epilogueFusesExp());
        return blocksOf(y, spec.outputs);
      }
      case 'residual': {
        // Either operand may be the Conv's: a float32 sum is the same bits in either order.
        const y = gather(inputs[0], spec.outputs, `${node.label}'s input ${node.inputs[0]}`);
        applyEpilogue(y.data, gatherRead(inputs[1], spec.outputs, `${node.label}'s input ${node.inputs[1]}`).data, { kind: 'none' }, 0, y.data.length, false);
        return blocksOf(y, spec.outputs);
      }
      case 'move':
        return moveRuns(node, inputs, spec);
      case 'local':
        return localRuns(node, recipe, this.stageOf(index, recipe, spec), plan, chunk, inputs, spec);
    }
  }

  private planFor(batch: number): { plan: Plan; recipes: OnnxNodeRecipe[]; chunk: number } {
    const chunk = this.fixedBatch ?? batch;
    if (batch % chunk !== 0) throw errors.invalid('x.shape', `the model takes batches of ${chunk}, and ${batch} images are not a multiple of it`);
    if (this.current?.batch !== chunk) {
      const plan = this.model.planFor({ [this.input]: [chunk, ...this.image] });
      const base = this.model.planFor({ [this.input]: [this.fixedBatch ?? 1, ...this.image] });
      if (plan.steps.length !== base.steps.length || plan.steps.some((s, i) => s.node !== base.steps[i].node)) {
        throw errors.onnxValue(`the model's plan has other steps at batch ${chunk} than at batch ${this.fixedBatch ?? 1}; a channels split needs one graph for every batch`);
      }
      this.current = { batch: chunk, plan, recipes: withDeviceFusions(onnxNodeRecipes(this.graph.name, plan, this.graph, this.steps), plan, this.steps, this.specs), stages: new Map() };
    }
    return { plan: this.current.plan, recipes: this.current.recipes, chunk };
  }

  /** A per-channel node's ranged kernel and the units of this device's channels, worked out once per plan (the device's runs are fixed). */
  private stageOf(index: number, recipe: Extract<OnnxNodeRecipe, { kind: 'local' }>, spec: ChannelNodeSpec): LocalStage {
    const { plan, stages } = this.current!;
    let found = stages.get(index);
    if (!found) {
      const node = this.graph.nodes[index];
      const stage = recipe.ranged && recipe.steps.length === 1 ? workerStageOf(plan.steps[recipe.steps[0]], plan) : null;
      const units = stage?.kind === 'ranged' && stage.outputs[0] === node.output ? unitRanges(stage.op, plan.shapes.get(node.output)!, spec.outputs) : null;
      found = stage?.kind === 'ranged' && units ? { op: stage.op, inputs: stage.inputs, units } : null;
      stages.set(index, found);
    }
    return found;
  }
}

/** Output channels `outputs` of a convolution: per run, the groups it spans whole (or a part of one group), padded first where ONNX's pads are asymmetric. */
function convRuns(node: GraphNode, recipe: Extract<OnnxNodeRecipe, { kind: 'conv' }>, input: HeldValue, outputs: readonly Range[]): HeldValue {
  const { weight, bias, setup } = recipe;
  const groups = setup.options.groups;
  const outPer = weight.shape[0] / groups;
  const inPer = weight.shape[1];
  let rest: number[] = [];
  const blocks = outputs.map(([a, b]) => {
    const first = Math.floor(a / outPer);
    const end = Math.ceil(b / outPer);
    if (end - first > 1 && (a % outPer !== 0 || b % outPer !== 0)) throw errors.deviceProtocol(`${node.label}: output channels [${a}, ${b}) straddle its groups of ${outPer}`);
    let x: Tensor = gatherRead(input, [[first * inPer, end * inPer]], `${node.label}'s input`);
    if (setup.prePad) x = padValue(floatValue(x.shape, x.data), setup.prePad.begin, [x.shape[0], x.shape[1], ...setup.prePad.shape.slice(2)], 0) as FloatValue;
    const options = { ...setup.options, groups: end - first };
    const w = rows(weight, a, b);
    const out = recipe.activation ? convBiasActivation(x, w, bias ? rows(bias, a, b) : null, { ...options, activation: recipe.activation }) : conv2d(x, w, bias ? rows(bias, a, b) : null, options);
    rest = out.shape.slice(2);
    return { run: [a, b] as Range, data: out.data };
  });
  return { batch: input.batch, rest, blocks };
}

/** Nodes that only move channels: a shuffle and a flatten as channel-node.ts moves them; Concat and Slice by renumbering the blocks. */
function moveRuns(node: GraphNode, inputs: readonly HeldValue[], spec: ChannelNodeSpec): HeldValue {
  const op = node.op;
  if (op.kind === 'shuffle' || op.kind === 'flatten') return computeRuns(node, null, inputs, spec.channels, spec.outputs);
  const renumbered = (held: HeldValue, by: number) => held.blocks.map((b) => ({ run: shift([b.run], by)[0], data: b.data }));
  let blocks;
  if (op.kind === 'concat') {
    let offset = 0;
    blocks = inputs.flatMap((held, i) => {
      const placed = renumbered(held, offset);
      offset += spec.channelsOf[i];
      return placed;
    });
  } else if (op.kind === 'slice') {
    blocks = renumbered(inputs[0], -op.start);
  } else {
    throw errors.deviceProtocol(`${node.label}: a ${op.kind} node does not only move channels`);
  }
  const placed: HeldValue = { batch: inputs[0].batch, rest: inputs[0].rest, blocks };
  return blocksOf(gatherRead(placed, spec.outputs, `${node.label}'s inputs`), spec.outputs);
}

/**
 * Plan steps run on the channels the node reads (`spec.needs`), each input
 * placed in a value of the plan's shape: with `ranged`, the step's ranged
 * kernel over the units of the device's output channels only; otherwise its
 * forward kernels, whole, keeping the device's channels.
 */
function localRuns(
  node: GraphNode,
  recipe: Extract<OnnxNodeRecipe, { kind: 'local' }>,
  stage: LocalStage,
  plan: Plan,
  chunk: number,
  inputs: readonly HeldValue[],
  spec: ChannelNodeSpec,
): HeldValue {
  const batch = inputs[0].batch;
  const chunks = batch / chunk;
  const whole = new Map<string, Float32Array>();
  node.inputs.forEach((v, i) => {
    if (whole.has(v)) return;
    const needs = spec.needs[i];
    const dense = gatherRead(inputs[i], needs, `${node.label}'s input ${v}`);
    // Every channel read: the dense value is the whole one (kernels and ops never write into their inputs).
    const all = needs.length === 1 && needs[0][0] === 0 && needs[0][1] === spec.channelsOf[i];
    whole.set(v, all ? dense.data : scatter(dense, needs, spec.channelsOf[i]));
  });
  const outShape = plan.shapes.get(node.output)!;
  const per = sizeOf(outShape);
  const out = new Float32Array(per * chunks);
  const chunkOf = (name: string, k: number): Float32Array => {
    const data = whole.get(name);
    if (data) {
      const size = sizeOf(plan.shapes.get(name)!);
      return data.subarray(k * size, (k + 1) * size);
    }
    const c = plan.constants.get(name);
    if (c?.dtype !== 'float32') throw errors.deviceProtocol(`${node.label}: value '${name}' is neither read by the node nor a float32 constant`);
    return c.data;
  };
  for (let k = 0; k < chunks; k++) {
    const target = out.subarray(k * per, (k + 1) * per);
    if (stage) {
      const ins = stage.inputs.map((name) => chunkOf(name, k));
      for (const [a, b] of stage.units) runRanged(stage.op, ins, [target], a, b);
      continue;
    }
    const env = new Map<string, Value>();
    for (const name of whole.keys()) env.set(name, floatValue(plan.shapes.get(name)!, chunkOf(name, k)));
    for (const index of recipe.steps) {
      const s = plan.steps[index];
      const values = s.inputs.map((n) => (n === '' ? undefined : (env.get(n) ?? plan.constants.get(n))));
      const results = runNode(s.node, s.run, values);
      s.outputs.forEach((name, j) => {
        if (name !== '') env.set(name, results[j]);
      });
    }
    const y = env.get(node.output);
    if (y?.dtype !== 'float32' || y.data.length !== per) throw errors.deviceProtocol(`${node.label}: its steps did not give ${node.output} of [${outShape.join(', ')}]`);
    target.set(y.data);
  }
  return cut(out, [batch, ...outShape.slice(1)], spec.outputs);
}
