// Running a plan on a GroupedConvEngine's workers.
//
// A plan's steps (plan.ts) are turned once per (plan, engine) into an
// execution: a list of execution steps, each a Conv on the engine as a
// prepared layer, a ranged kernel or an alias on the workers (worker-stages.ts),
// or a node run on the calling thread as in `forward`. Consecutive worker
// steps form one engine program (engine/program.ts): the workers run them in
// one hand-off, meeting at a barrier between stages. Every activation has a
// slot in one block per forward (memory-plan.ts).
// An execution step names the plan steps it performs (`planSteps`): a fused
// group (fuse.ts: Conv -> BatchNormalization -> activation, or a residual Add)
// is one engine call covering several plan steps, the activation fixed in the
// prepared layer and the residual passed to its run.
//
// The engine runs the same plans and microkernels as conv2d on the calling
// thread, so outputs are bitwise those of `forward`, whatever the worker count.
// Weights go to shared memory once per (model, engine): an `EngineBinding`
// keeps the prepared layers until the model or the binding is closed.
import { resolveShapes } from '../conv/geometry.js';
import type { EngineLayer } from '../engine/layer.js';
import type { GroupedConvEngine, ProgramProfile, ProgramStage } from '../engine/engine.js';
import type { EngineProgram } from '../engine/program.js';
import type { ConvProfile } from '../engine/profile.js';
import { errors, ExecutionError, ProgramStageError } from '../errors.js';
import { runsOnNativePointwise } from '../kernels/plan/index.js';
import { sharedArena } from '../memory/arena.js';
import { withOutputAllocator } from '../tensor/tensor.js';
import type { OnnxNode } from './graph.js';
import { memoryPlanOf, type MemoryPlan } from './memory-plan.js';
import { convAttributesOf, convInput, convSetup, type ConvSetup } from './ops/conv.js';
import type { Activation } from '../kernels/epilogue.js';
import type { FusedConv } from './fuse.js';
import { runNode, type Plan, type PlanStep } from './plan.js';
import { expectFloat, floatValue, sizeOf, type FloatValue, type Value } from './value.js';
import { channelShuffles } from './fuse-layout.js';
import { imageMajorOf } from './image-major.js';
import { scaledInputs } from './scaled-input.js';
import { workerStageOf, type WorkerStage } from './worker-stages.js';

interface StepBase {
  /** Indexes into plan.steps of the steps this one performs, in order. */
  planSteps: number[];
  /** The node named in profiles and errors (a fused step's first node). */
  node: OnnxNode;
  /** Every node the step performs (one, or a fused group's), and their op types joined by '+'. */
  nodes: OnnxNode[];
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Floating-point operations per call (2 x multiply-accumulates for Conv, Gemm, MatMul; 0 for other ops). */
  flops: number;
}

/** A Conv on the engine: `inputs[0]` through `layer` into `outputs[0]`, with `residual` added in the epilogue (a fused Add). */
export interface EngineConvStep extends StepBase {
  kind: 'engine';
  layer: EngineLayer;
  setup: ConvSetup;
  groups: number;
  residual: string | null;
  /** A squeeze-and-excitation scale `inputs[0]` is multiplied by as the kernel reads it, its Mul folded in (scaled-input.ts). */
  scale: { name: string; first: boolean } | null;
}

/** A node run on the calling thread with its prepared kernel. */
export interface HostStep extends StepBase {
  kind: 'host';
  step: PlanStep;
}

/** A node run by the workers as a ranged kernel (worker-stages.ts). */
export interface RangedStep extends StepBase {
  kind: 'ranged';
  step: PlanStep;
  stage: Extract<WorkerStage, { kind: 'ranged' }>;
}

/** A Reshape-like node: its output is its input's bytes under a new shape; nothing runs. */
export interface AliasStep extends StepBase {
  kind: 'alias';
  step: PlanStep;
}

export type ExecutionStep = EngineConvStep | RangedStep | AliasStep | HostStep;

/**
 * How the execution's steps run: runs of consecutive worker steps as one program
 * (null when the run has no stage: aliases only), the others one by one.
 */
export type Segment =
  | {
      kind: 'program';
      /** Execution steps [from, to). */
      from: number;
      to: number;
      program: EngineProgram | null;
      /** The value behind each program buffer. */
      buffers: string[];
      /** The execution step of each program stage. */
      stageSteps: number[];
      /**
       * The segment's outputs without a slot in the block, found at its first forward (which values have
       * slots is the execution's memory plan, the same every forward): each an alias step's (`aliasOf` its
       * input), or a value placed per forward. Looking every output up each forward was a batch-1 forward's
       * largest cost before its program.
       */
      unplanned?: Array<{ name: string; aliasOf: string | null }>;
    }
  | { kind: 'single'; index: number };

export interface Execution {
  plan: Plan;
  steps: ExecutionStep[];
  /** The binding the execution belongs to: a forward holds it (hold()) so its shared constants outlive the forward. */
  binding: EngineBinding;
  /** Where each activation lives in a forward's block. */
  memory: MemoryPlan;
  segments: Segment[];
  /** Float constants that ranged stages read, copied into shared memory once per binding. */
  sharedConstants: Map<string, Float32Array>;
}

/** Where one execution step's time went in a profiled forward. */
export interface StepProfile {
  /** Position in the execution. */
  index: number;
  name: string;
  /** The op type, or a fused step's op types joined by '+' ('Conv+BatchNormalization+Relu'). */
  opType: string;
  /** The names of the nodes the step performs: one, or every node of a fused group. */
  nodes: string[];
  /** 'engine': a Conv on the engine's workers; 'ranged': a ranged kernel on them; 'alias': a view, nothing ran; 'host': on the calling thread. */
  kind: ExecutionStep['kind'];
  /** Channel groups of a Conv; null for other ops. */
  groups: number | null;
  flops: number;
  /** Wall time of the step on the calling thread, ms. */
  ms: number;
  /**
   * For steps on the workers: the engine's profile of the call or program stage (kernel time per
   * worker, hand-off, imbalance). A stage's wall time runs from the previous stage's last task end
   * (the program's start for the first) to its own last task end (the program's result for the last).
   */
  engine: {
    /** The busiest worker's compute time: the kernel time the call waited for. */
    kernelMs: number;
    /** Wall time outside the busiest worker's compute: setup, hand-off and wake-ups. */
    handoffMs: number;
    /** Main-thread preparation before the first hand-off (plan lookup, input copy, allocation). */
    setupMs: number;
    imbalance: number;
  } | null;
}

export interface ModelProfile {
  /** Wall time of the whole forward, ms. */
  totalMs: number;
  workers: number;
  steps: StepProfile[];
}

/** Multiply-accumulates x 2 of the arithmetic ops; the rest are counted as 0 (memory, not arithmetic, is their cost). */
function flopsOf(step: PlanStep, shapes: ReadonlyMap<string, number[]>): number {
  const out = shapes.get(step.outputs[0]);
  if (!out) return 0;
  const outputs = sizeOf(out);
  switch (step.node.opType) {
    case 'Conv': {
      const w = shapes.get(step.inputs[1]);
      return w ? 2 * outputs * sizeOf(w.slice(1)) : 0;
    }
    case 'MatMul': {
      const a = shapes.get(step.inputs[0]);
      return a && a.length > 0 ? 2 * outputs * a[a.length - 1] : 0;
    }
    case 'Gemm': {
      // Output [M, N]; A holds M x K values whether or not it is transposed.
      const a = shapes.get(step.inputs[0]);
      return a && out.length === 2 && out[0] > 0 ? (2 * outputs * sizeOf(a)) / out[0] : 0;
    }
    default:
      return 0;
  }
}

/** The execution steps with each channel shuffle group (fuse-layout.ts: scheduled steps [from, to)) as one ranged step. */
function withShufflesFused(plan: Plan, steps: readonly ExecutionStep[]): ExecutionStep[] {
  const fused: ExecutionStep[] = [];
  let next = 0;
  for (const g of channelShuffles(plan)) {
    const members = steps.slice(g.from, g.to);
    const transpose = members[2];
    // Every member is a worker stage by construction (the group was found from workerStageOf), and the memory
    // plan gave the values inside the group no slot: run any other way, they would have nowhere to go.
    if (transpose.kind !== 'ranged' || members.some((m) => m.kind !== 'ranged' && m.kind !== 'alias')) throw errors.shuffleGroupNotOnWorkers(members[0].node.name);
    fused.push(...steps.slice(next, g.from));
    fused.push({
      kind: 'ranged',
      planSteps: members.flatMap((m) => m.planSteps),
      node: members[0].node,
      nodes: members.flatMap((m) => m.nodes),
      opType: g.opType,
      inputs: g.inputs,
      outputs: g.outputs,
      flops: 0,
      // The Transpose's plan step: the group is image-major as a Concat is (image-major.ts).
      step: transpose.step,
      stage: { kind: 'ranged', op: g.op, inputs: g.inputs, outputs: g.outputs },
    });
    next = g.to;
  }
  fused.push(...steps.slice(next));
  return fused;
}

/**
 * The execution steps with each squeeze-and-excitation Mul folded into the 1x1 Conv after it
 * (scaled-input.ts): the Mul a ranged step, the Conv the next step, on the workers, and its kernel the
 * native 1x1 one, the only one that takes a scale. Elsewhere the two stay apart, with the same bits.
 */
function withScalesFused(plan: Plan, steps: readonly ExecutionStep[]): ExecutionStep[] {
  const pairs = scaledInputs(plan);
  if (pairs.length === 0) return [...steps];
  const byMul = new Map(pairs.map((p) => [p.mul, p]));
  const fused: ExecutionStep[] = [];
  for (let i = 0; i < steps.length; i++) {
    const mul = steps[i];
    const conv = steps[i + 1];
    const pair = mul.kind === 'ranged' && mul.planSteps.length === 1 ? byMul.get(mul.planSteps[0]) : undefined;
    if (!pair || conv?.kind !== 'engine' || conv.planSteps[0] !== pair.conv || conv.inputs[0] !== pair.product || conv.setup.prePad !== null || !takesScale(conv, plan)) {
      fused.push(mul);
      continue;
    }
    fused.push({
      ...conv,
      planSteps: [...mul.planSteps, ...conv.planSteps],
      nodes: [...mul.nodes, ...conv.nodes],
      opType: `Mul+${conv.opType}`,
      inputs: [pair.input, ...conv.inputs.slice(1), pair.scale],
      scale: { name: pair.scale, first: pair.first },
    });
    i++;
  }
  return fused;
}

/** Whether the step's layer runs on the native 1x1 kernel at its input's shape (a prepared layer's plan, per shape). */
function takesScale(step: EngineConvStep, plan: Plan): boolean {
  const { layer } = step;
  const { geometry } = resolveShapes(plan.shapes.get(step.inputs[0])!, layer.weight.shape, layer.bias?.shape ?? null, layer.options);
  const entry = layer.acquirePlan(geometry);
  try {
    return runsOnNativePointwise(entry.plan);
  } finally {
    layer.releasePlan(entry);
  }
}

/**
 * What one model keeps on one engine: a Conv's weight and bias are placed in
 * shared memory at its first use, the programs of each execution, and the
 * float constants ranged stages read, all kept until close().
 */
export class EngineBinding {
  private readonly layers = new Map<OnnxNode, Array<{ weight: Float32Array; bias: Float32Array | null; padding: [number, number]; activation: string; layer: EngineLayer }>>();
  private readonly executions = new WeakMap<Plan, Execution>();
  /** Every program made for an execution, closed with the binding (before the layers they run). */
  private readonly programs: EngineProgram[] = [];
  /** Shared copies of the float constants ranged stages read, by the constant's data. */
  private readonly constants = new Map<Float32Array, Float32Array>();
  /** Forwards running on this binding (hold()), and whether it was closed. */
  private running = 0;
  private closed = false;

  constructor(readonly engine: GroupedConvEngine) {}

  /** The execution of `plan` on this engine, made on first use. */
  executionFor(plan: Plan): Execution {
    let execution = this.executions.get(plan);
    if (!execution) {
      execution = this.build(plan);
      this.executions.set(plan, execution);
    }
    return execution;
  }

  private build(plan: Plan): Execution {
    const unfused: ExecutionStep[] = plan.schedule.steps.map((scheduled) => {
      if (scheduled.kind === 'fused') return this.fusedStep(plan, scheduled.fused);
      const i = scheduled.index;
      const step = plan.steps[i];
      const flops = flopsOf(step, plan.shapes);
      const base = { planSteps: [i], node: step.node, nodes: [step.node], opType: step.node.opType, inputs: step.inputs, outputs: step.outputs, flops };
      if (step.node.opType !== 'Conv') {
        const stage = workerStageOf(step, plan);
        // A stage reads constants from shared memory; only float ones can be (the contract's, checked here all the same).
        const constantsFloat = (names: string[]) => names.every((n) => !plan.constants.has(n) || plan.constants.get(n)!.dtype === 'float32');
        if (stage?.kind === 'ranged' && constantsFloat(stage.inputs)) return { ...base, kind: 'ranged', step, stage };
        if (stage?.kind === 'alias') return { ...base, kind: 'alias', step };
        return { ...base, kind: 'host', step };
      }
      const attributes = convAttributesOf(step.node);
      const weight = plan.constants.get(step.inputs[1]);
      const biasName = step.inputs[2] ?? '';
      const bias = biasName === '' ? undefined : plan.constants.get(biasName);
      const x = plan.shapes.get(step.inputs[0]);
      // A Conv whose weight or bias is computed from the input (never in exported CNNs) stays on the calling thread.
      const constantOperands = weight?.dtype === 'float32' && (biasName === '' || bias?.dtype === 'float32');
      if (!attributes || !constantOperands || !x || plan.dtypes.get(step.inputs[0]) !== 'float32') return { ...base, kind: 'host', step };
      const setup = convSetup(x, weight.shape, attributes);
      const layer = this.layerFor(step.node, weight as FloatValue, (bias as FloatValue | undefined) ?? null, setup, { kind: 'none' });
      return { ...base, kind: 'engine', layer, setup, groups: attributes.group, residual: null, scale: null };
    });
    const steps = withScalesFused(plan, withShufflesFused(plan, unfused));
    const sharedConstants = new Map<string, Float32Array>();
    const segments = this.segmentsOf(plan, steps, sharedConstants);
    const chained = segments.some((s) => s.kind === 'program' && s.program !== null && s.program.chains.length > 0);
    return { plan, steps, binding: this, memory: memoryFor(plan, chained), segments, sharedConstants };
  }

  /** Runs of consecutive worker steps become programs; a Conv with asymmetric pads (padded on the calling thread) and host steps run alone. */
  private segmentsOf(plan: Plan, steps: ExecutionStep[], sharedConstants: Map<string, Float32Array>): Segment[] {
    const onWorkers = (s: ExecutionStep) => s.kind === 'ranged' || s.kind === 'alias' || (s.kind === 'engine' && s.setup.prePad === null);
    const segments: Segment[] = [];
    for (let i = 0; i < steps.length; ) {
      if (!onWorkers(steps[i])) {
        segments.push({ kind: 'single', index: i++ });
        continue;
      }
      const from = i;
      while (i < steps.length && onWorkers(steps[i])) i++;
      segments.push(this.programOf(plan, steps, from, i, sharedConstants));
    }
    return segments;
  }

  private programOf(plan: Plan, steps: ExecutionStep[], from: number, to: number, sharedConstants: Map<string, Float32Array>): Segment {
    const buffers: string[] = [];
    const bufferOf = (name: string): number => {
      let index = buffers.indexOf(name);
      if (index < 0) {
        index = buffers.push(name) - 1;
        const constant = plan.constants.get(name);
        if (constant && !sharedConstants.has(name)) sharedConstants.set(name, this.sharedConstant(constant.data as Float32Array));
      }
      return index;
    };
    const stages: ProgramStage[] = [];
    const stageSteps: number[] = [];
    for (let i = from; i < to; i++) {
      const step = steps[i];
      const label = `'${step.node.name}' (${step.opType})`;
      if (step.kind === 'engine') {
        const input = step.inputs[0];
        stages.push({
          kind: 'conv',
          label,
          layer: step.layer,
          inputShape: plan.shapes.get(input)!,
          input: bufferOf(input),
          output: bufferOf(step.outputs[0]),
          residual: step.residual === null ? null : bufferOf(step.residual),
          scale: step.scale === null ? null : { buffer: bufferOf(step.scale.name), first: step.scale.first },
        });
      } else if (step.kind === 'ranged') {
        const images = imageMajorOf(step.step, step.stage, plan);
        stages.push({ kind: 'ranged', label, op: step.stage.op, inputs: step.stage.inputs.map(bufferOf), outputs: step.stage.outputs.map(bufferOf), images });
      } else continue;
      stageSteps.push(i);
    }
    const lengths = buffers.map((n) => sizeOf(plan.shapes.get(n) ?? plan.constants.get(n)!.shape));
    const program = stages.length === 0 ? null : this.engine.program(stages, lengths);
    if (program) this.programs.push(program);
    return { kind: 'program', from, to, program, buffers, stageSteps };
  }

  /** A float constant in shared memory: itself when it is there already, else a copy made once per binding. */
  private sharedConstant(data: Float32Array): Float32Array {
    const arena = sharedArena();
    if (arena.owns(data) || data.length === 0) return data;
    let copy = this.constants.get(data);
    if (!copy) {
      copy = arena.allocateFloat32(data.length, { zero: false });
      copy.set(data);
      this.constants.set(data, copy);
    }
    return copy;
  }

  /** A fused group as one engine call: the (folded) weights and the activation in a prepared layer, the residual passed per run. */
  private fusedStep(plan: Plan, f: FusedConv): EngineConvStep {
    const conv = plan.steps[f.planSteps[0]];
    return {
      kind: 'engine',
      planSteps: f.planSteps,
      node: f.nodes[0],
      nodes: f.nodes,
      opType: f.opType,
      inputs: f.residual === null ? [f.input] : [f.input, f.residual],
      outputs: [f.output],
      flops: flopsOf(conv, plan.shapes),
      layer: this.layerFor(f.nodes[0], f.weight, f.bias, f.setup, f.activation),
      setup: f.setup,
      groups: f.setup.options.groups,
      residual: f.residual,
      scale: null,
    };
  }

  private layerFor(node: OnnxNode, weight: FloatValue, bias: FloatValue | null, setup: ConvSetup, activation: Activation): EngineLayer {
    // Initializers (and folded weights, fuse.ts) are the same Values in every plan, so a node normally
    // has one layer. Padding depends on the input's size under auto_pad, and a node may be fused in one
    // plan and not another (a graph output differs only in which values are kept): such a node gets a
    // layer per variant, kept as long as the others.
    const { groups, stride, dilation, padding } = setup.options;
    const act = JSON.stringify(activation);
    const variants = this.layers.get(node) ?? [];
    const known = variants.find((v) => v.weight === weight.data && v.bias === (bias?.data ?? null) && v.padding[0] === padding[0] && v.padding[1] === padding[1] && v.activation === act);
    if (known) return known.layer;
    const layer = this.engine.layer(weight, bias, { groups, stride, dilation, padding, activation });
    variants.push({ weight: weight.data, bias: bias?.data ?? null, padding, activation: act, layer });
    this.layers.set(node, variants);
    return layer;
  }

  /** How many engine layers (Conv weights in shared memory) this binding holds. */
  get layerCount(): number {
    let n = 0;
    for (const variants of this.layers.values()) n += variants.length;
    return n;
  }

  /**
   * Marks a forward as running on this binding until the returned function is
   * called: closing meanwhile frees the shared constants only once the last
   * such forward is done, since its programs still read them (programs and
   * layers hold themselves while they run).
   */
  hold(): () => void {
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      if (this.closed && this.running === 0) this.releaseConstants();
    };
  }

  /** Frees every program, shared constant and prepared layer's shared weights (constants after the forwards still running). */
  close(): void {
    this.closed = true;
    for (const program of this.programs.splice(0)) program.close();
    if (this.running === 0) this.releaseConstants();
    for (const variants of this.layers.values()) for (const { layer } of variants) layer.close();
    this.layers.clear();
  }

  private releaseConstants(): void {
    for (const copy of this.constants.values()) sharedArena().release(copy);
    this.constants.clear();
  }
}

/**
 * Bytes of a forward's block above which the same-size plan is not worth it: the
 * forward keeps the first-fit plan, and its programs run stage by stage (their
 * chains' buffers then overlap, which each run checks).
 */
const MAX_CHAINED_BLOCK_BYTES = 1 << 30;

/** Chains need values that share bytes to share all of them (memory-plan.ts, 'same-size'), at a cost in memory; bounded. */
export function memoryFor(plan: Plan, chained: boolean): MemoryPlan {
  if (!chained) return memoryPlanOf(plan);
  const sameSize = memoryPlanOf(plan, 'same-size');
  return sameSize.peakBytes <= MAX_CHAINED_BLOCK_BYTES ? sameSize : memoryPlanOf(plan);
}

/**
 * The planned values of an execution as views of one block: every value with a slot (an alias: its root's
 * bytes under its own shape), made once per block the forwards get and kept for the next forward that gets
 * the same one (the arena usually hands a freed block back at the same place). Why: a batch-1 forward spent
 * about 0.3 ms of its main thread making these views and a copy of every constant, step by step, before
 * its first task could start (docs/benchmarks.md).
 */
const blockValues = new WeakMap<Execution, Array<{ buffer: ArrayBufferLike; byteOffset: number; values: Map<string, FloatValue> }>>();
/** Blocks whose views an execution keeps (a forward's outputs allocated between forwards move the block now and then). */
const KEPT_BLOCKS = 4;

function valuesInBlock(execution: Execution, block: Float32Array): Map<string, FloatValue> {
  let kept = blockValues.get(execution);
  if (!kept) {
    kept = [];
    blockValues.set(execution, kept);
  }
  const hit = kept.find((k) => k.buffer === block.buffer && k.byteOffset === block.byteOffset);
  if (hit) return hit.values;
  const { memory, plan } = execution;
  const values = new Map<string, FloatValue>();
  for (const [name, s] of memory.slots) values.set(name, floatValue(plan.shapes.get(name)!, block.subarray(s.offset / 4, s.offset / 4 + s.floats)));
  for (const [alias, root] of memory.aliasOf) {
    const rootValue = values.get(root);
    if (rootValue) values.set(alias, floatValue(plan.shapes.get(alias)!, rootValue.data));
  }
  kept.unshift({ buffer: block.buffer, byteOffset: block.byteOffset, values });
  if (kept.length > KEPT_BLOCKS) kept.pop();
  return values;
}

/** What one forward holds while it runs: its values, its block, and the arena memory it must free. */
class ForwardState {
  /** Values made by this forward outside its block: the feeds, graph outputs, host results. */
  private readonly values: Map<string, Value>;
  /** The values in this forward's block (slots, and aliases of them): shared with earlier forwards given the same block. */
  private readonly planned: Map<string, FloatValue>;
  /** Arena blocks this forward allocated besides the block (model inputs copied to shared memory, padded inputs). */
  readonly owned: Float32Array[] = [];
  /** Graph outputs' own allocations: returned, or freed if the forward fails. */
  readonly results: Float32Array[] = [];
  private readonly sharedFeeds = new Map<string, Float32Array>();

  constructor(
    private readonly execution: Execution,
    feeds: ReadonlyMap<string, Value>,
    /** One block for every planned activation (memory-plan.ts). */
    readonly block: Float32Array | null,
  ) {
    this.values = new Map<string, Value>(feeds);
    this.planned = block ? valuesInBlock(execution, block) : new Map();
  }

  /** `name`'s value in this forward: computed here, a view of its slot, or a constant. */
  get(name: string): Value | undefined {
    return this.values.get(name) ?? this.planned.get(name) ?? this.execution.plan.constants.get(name);
  }

  set(name: string, value: Value): void {
    this.values.set(name, value);
  }

  /** Whether `name` lives in the block (its own slot, or an alias of one). */
  isPlanned(name: string): boolean {
    return this.planned.has(name);
  }

  /** The planned slot of `name` (its root's, for an alias), or null. */
  slot(name: string): Float32Array | null {
    return this.planned.get(name)?.data ?? null;
  }

  /** Where a worker step writes `name`: its slot, or (a graph output) an arena allocation of its own. */
  place(name: string): Float32Array {
    const slot = this.slot(name);
    if (slot) return slot;
    const n = sizeOf(this.shapeOf(name));
    if (n === 0) return sharedArena().allocateFloat32(0);
    const data = sharedArena().allocateFloat32(n, { zero: false }); // written in full by the step
    this.results.push(data);
    return data;
  }

  /** A copy of `data` in an arena allocation of this forward's results. */
  keep(data: Float32Array): Float32Array {
    const copy = sharedArena().allocateFloat32(data.length, { zero: false });
    copy.set(data);
    this.results.push(copy);
    return copy;
  }

  /** Whether `data` lies in this forward's block (so it must be copied out before being returned). */
  inBlock(data: Float32Array): boolean {
    const b = this.block;
    return b !== null && sharedArena().owns(data) && b.byteOffset <= data.byteOffset && data.byteOffset < b.byteOffset + b.byteLength;
  }

  shapeOf(name: string): number[] {
    return this.execution.plan.shapes.get(name)!;
  }

  /** `name`'s data in shared memory, for a program buffer: a constant's shared copy, a model input copied in once per forward. */
  sharedData(name: string): Float32Array {
    const constant = this.execution.sharedConstants.get(name);
    if (constant) return constant;
    const v = expectFloat(this.get(name), `value '${name}'`);
    if (sharedArena().owns(v.data)) return v.data;
    let copy = this.sharedFeeds.get(name);
    if (!copy) {
      copy = sharedArena().allocateFloat32(v.data.length, { zero: false });
      copy.set(v.data);
      this.owned.push(copy);
      this.sharedFeeds.set(name, copy);
    }
    return copy;
  }

  free(failed: boolean): void {
    const arena = sharedArena();
    if (failed) for (const a of this.results) arena.release(a);
    if (this.block) arena.release(this.block);
    for (const a of this.owned) arena.release(a);
  }
}

/**
 * Runs an execution on `feeds`. Every activation lives in its slot of one
 * shared block allocated for this forward (so concurrent forwards never share
 * memory); the graph's outputs are copied out of it at the end, and the block
 * is freed. Returns the graph's outputs.
 */
export async function runExecution(
  execution: Execution,
  feeds: ReadonlyMap<string, Value>,
  profile: StepProfile[] | null,
): Promise<Value[]> {
  const { plan, memory, segments } = execution;
  const arena = sharedArena();
  // Not zero-filled: engine and ranged stages write their outputs in full, and a host step's slot is zeroed when handed over.
  const block = memory.peakBytes > 0 ? arena.allocateFloat32(memory.peakBytes / 4, { zero: false }) : null;
  const state = new ForwardState(execution, feeds, block);
  const release = execution.binding.hold();
  let failed = true;
  try {
    for (const segment of segments) {
      if (segment.kind === 'program') await runProgramSegment(execution, segment, state, profile);
      else await runSingle(execution, segment.index, state, profile);
    }
    const outputs = plan.outputs.map((n) => {
      const v = state.get(n);
      if (!v) throw errors.onnxValue(`graph output '${n}' was not computed`);
      if (v.dtype !== 'float32' || !state.inBlock(v.data)) return v;
      // An alias of a planned value: out of the block, which is freed now.
      return floatValue(v.shape, state.keep(v.data));
    });
    failed = false;
    return outputs;
  } finally {
    // Every program and engine call has returned here (or none ran): no worker writes to the block any more.
    state.free(failed);
    release();
  }
}

function stepProfile(execution: Execution, i: number, ms: number, engine: StepProfile['engine']): StepProfile {
  const step = execution.steps[i];
  return {
    index: i,
    name: step.node.name,
    opType: step.opType,
    nodes: step.nodes.map((n) => n.name),
    kind: step.kind,
    groups: step.kind === 'engine' ? step.groups : null,
    flops: step.flops,
    ms,
    engine,
  };
}

/** The segment's outputs that have no slot in the block, in step order (Segment.unplanned). */
function unplannedOutputs(execution: Execution, segment: Extract<Segment, { kind: 'program' }>, state: ForwardState): Array<{ name: string; aliasOf: string | null }> {
  const found: Array<{ name: string; aliasOf: string | null }> = [];
  for (let i = segment.from; i < segment.to; i++) {
    const step = execution.steps[i];
    if (step.kind === 'alias') {
      if (!state.isPlanned(step.outputs[0])) found.push({ name: step.outputs[0], aliasOf: step.inputs[0] });
      continue;
    }
    for (const name of step.kind === 'ranged' ? step.stage.outputs : step.outputs) {
      if (!state.isPlanned(name)) found.push({ name, aliasOf: null });
    }
  }
  return found;
}

/**
 * Binds a program's outputs that have no slot (graph outputs: allocations of their own; aliases of
 * values outside the block) — the others are the block's views already — then runs it.
 */
async function runProgramSegment(execution: Execution, segment: Extract<Segment, { kind: 'program' }>, state: ForwardState, profile: StepProfile[] | null): Promise<void> {
  segment.unplanned ??= unplannedOutputs(execution, segment, state);
  for (const { name, aliasOf } of segment.unplanned) {
    if (aliasOf !== null) {
      const x = expectFloat(state.get(aliasOf), `input '${aliasOf}'`);
      state.set(name, floatValue(state.shapeOf(name), x.data));
    } else {
      state.set(name, floatValue(state.shapeOf(name), state.place(name)));
    }
  }
  const { program } = segment;
  if (!program) {
    if (profile) for (let i = segment.from; i < segment.to; i++) profile.push(stepProfile(execution, i, 0, null));
    return;
  }
  const buffers = segment.buffers.map((n) => state.sharedData(n));
  let timings: ProgramProfile | null;
  try {
    timings = await program.run(buffers, { profile: profile !== null });
  } catch (error) {
    if (error instanceof ProgramStageError) {
      const step = execution.steps[segment.stageSteps[error.stage]];
      throw errors.onnxEngineStepFailed(step.node.name, step.opType, error);
    }
    throw error;
  }
  if (!profile || !timings) return;
  const shares = stageShares(timings);
  let stage = 0;
  for (let i = segment.from; i < segment.to; i++) {
    if (segment.stageSteps[stage] !== i) {
      profile.push(stepProfile(execution, i, 0, null));
      continue;
    }
    const t = timings.stages[stage];
    const { ms, kernelMs } = shares[stage];
    profile.push(
      stepProfile(execution, i, ms, {
        kernelMs,
        handoffMs: Math.max(0, ms - kernelMs),
        setupMs: stage === 0 ? timings.setupMs : 0,
        imbalance: t.totalBusyMs > 0 ? t.busiestMs / (t.totalBusyMs / timings.runners) : 1,
      }),
    );
    stage++;
  }
}

/**
 * Each stage's wall time and kernel time in a program run. Stage by stage, a
 * stage runs from the previous stage's last task end (the program's start for
 * the first) to its own (the program's result for the last), its kernel time is
 * its busiest worker's. In a chain the stages overlap (images move through them
 * independently): the chain's wall time is shared among its stages in proportion
 * to their busy time, and a stage's kernel time is its busy time shared evenly
 * among the run's runners, what it costs the chain when the images balance.
 */
function stageShares(timings: ProgramProfile): Array<{ ms: number; kernelMs: number }> {
  const { stages } = timings;
  const shares: Array<{ ms: number; kernelMs: number }> = [];
  const endOf = (s: number) => (s === stages.length - 1 ? timings.wallMs : stages[s].lastEndMs);
  let previousEnd = 0;
  for (let s = 0; s < stages.length; ) {
    const chain = timings.chains.find((c) => c.from === s);
    if (!chain) {
      const end = endOf(s);
      shares.push({ ms: Math.max(0, end - previousEnd), kernelMs: stages[s].busiestMs });
      previousEnd = Math.max(previousEnd, end);
      s++;
      continue;
    }
    const end = endOf(chain.to - 1);
    const wall = Math.max(0, end - previousEnd);
    let busy = 0;
    for (let m = chain.from; m < chain.to; m++) busy += stages[m].totalBusyMs;
    for (let m = chain.from; m < chain.to; m++) {
      const share = busy > 0 ? stages[m].totalBusyMs / busy : 1 / (chain.to - chain.from);
      shares.push({ ms: wall * share, kernelMs: stages[m].totalBusyMs / timings.runners });
    }
    previousEnd = Math.max(previousEnd, end);
    s = chain.to;
  }
  return shares;
}

/** One step on its own: a Conv padded on the calling thread (one engine call), or a host node. */
async function runSingle(execution: Execution, i: number, state: ForwardState, profile: StepProfile[] | null): Promise<void> {
  const step = execution.steps[i];
  const start = profile ? performance.now() : 0;
  let engineProfile: ConvProfile | null = null;
  if (step.kind === 'engine') {
    const x = expectFloat(state.get(step.inputs[0]), `input '${step.inputs[0]}'`);
    const name = step.outputs[0];
    const out = { shape: state.shapeOf(name), data: state.place(name) };
    try {
      // Asymmetric pads: the padded input goes to shared memory too, freed with the forward.
      const input = withOutputAllocator(sharedAllocator(state.owned), () => convInput(x, step.setup));
      const residual = step.residual === null ? undefined : expectFloat(state.get(step.residual), `residual '${step.residual}'`);
      if (profile) ({ profile: engineProfile } = await step.layer.run(input, { profile: true, residual, out }));
      else await step.layer.run(input, { residual, out });
    } catch (error) {
      if (error instanceof ExecutionError || !(error instanceof Error)) throw error;
      throw errors.onnxEngineStepFailed(step.node.name, step.opType, error);
    }
    if (!state.isPlanned(name)) state.set(name, floatValue(out.shape, out.data));
  } else if (step.kind === 'host') {
    runHost(step, state);
  } else {
    // Unreachable: ranged and alias steps are in program segments.
    throw errors.onnxValue(`step '${step.node.name}' (${step.opType}) has no way to run alone`);
  }
  if (profile) {
    profile.push(
      stepProfile(
        execution,
        i,
        performance.now() - start,
        engineProfile && {
          kernelMs: engineProfile.wallMs - engineProfile.dispatchOverheadMs,
          handoffMs: engineProfile.dispatchOverheadMs,
          setupMs: engineProfile.setupMs,
          imbalance: engineProfile.imbalance,
        },
      ),
    );
  }
}

/**
 * A node on the calling thread. A single float output is built in its slot when the op's
 * first allocation of the output's size is the output (the slot is handed over zeroed, as
 * new memory is); otherwise, or for several outputs, the result is copied into its slot.
 */
function runHost(step: HostStep, state: ForwardState): void {
  const inputs = step.inputs.map((n) => (n === '' ? undefined : state.get(n)));
  const slot = step.outputs.length === 1 ? state.slot(step.outputs[0]) : null;
  let handed = false;
  const allocate = (n: number): Float32Array => {
    if (slot && !handed && n === slot.length) {
      handed = true;
      return slot.fill(0);
    }
    return new Float32Array(n);
  };
  const results = withOutputAllocator(allocate, () => runNode(step.node, step.step.run, inputs));
  step.outputs.forEach((name, j) => {
    if (name === '') return;
    const result = results[j];
    const target = result.dtype === 'float32' ? state.slot(name) : null;
    if (!target || target.length !== result.data.length) {
      // A graph output that is a planned value's bytes (a host Identity of it): out of the block now, before they are reused.
      state.set(name, result.dtype === 'float32' && state.inBlock(result.data) ? floatValue(result.shape, state.keep(result.data)) : result);
      return;
    }
    // (Slot views are made afresh: compare where they are, not which object.)
    if (result.data.buffer !== target.buffer || result.data.byteOffset !== target.byteOffset) target.set(result.data as Float32Array);
    state.set(name, floatValue(result.shape, target));
  });
}

/** Allocates zero-filled arrays in the shared arena, noting each in `into` (empty ones stay ordinary: nothing to share). */
function sharedAllocator(into: Float32Array[]): (n: number) => Float32Array {
  return (n) => {
    if (n === 0) return new Float32Array(0);
    const a = sharedArena().allocateFloat32(n);
    into.push(a);
    return a;
  };
}
