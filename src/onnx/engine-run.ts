// Running a plan with every convolution on a GroupedConvEngine.
//
// A plan's steps (plan.ts) are turned once per (plan, engine) into an
// execution: a list of execution steps, each either a Conv sent to the engine
// as a prepared layer or a node run on the calling thread as in `forward`.
// An execution step names the plan steps it performs (`planSteps`): a fused
// group (fuse.ts: Conv -> BatchNormalization -> activation, or a residual Add)
// is one engine call covering several plan steps, the activation fixed in the
// prepared layer and the residual passed to its run.
//
// The engine runs the same plans and microkernels as conv2d on the calling
// thread, so outputs are bitwise those of `forward`, whatever the worker count.
// Weights go to shared memory once per (model, engine): an `EngineBinding`
// keeps the prepared layers until the model or the binding is closed.
import type { EngineLayer } from '../engine/layer.js';
import type { GroupedConvEngine } from '../engine/engine.js';
import type { ConvProfile } from '../engine/profile.js';
import { errors, ExecutionError } from '../errors.js';
import { sharedArena } from '../memory/arena.js';
import type { OnnxNode } from './graph.js';
import { convAttributesOf, convInput, convSetup, type ConvSetup } from './ops/conv.js';
import type { Activation } from '../kernels/epilogue.js';
import type { FusedConv } from './fuse.js';
import { runNode, type Plan, type PlanStep } from './plan.js';
import { expectFloat, floatValue, sizeOf, withFloatAllocator, type FloatValue, type Value } from './value.js';

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
}

/** A node run on the calling thread with its prepared kernel. */
export interface HostStep extends StepBase {
  kind: 'host';
  step: PlanStep;
}

export type ExecutionStep = EngineConvStep | HostStep;

export interface Execution {
  plan: Plan;
  steps: ExecutionStep[];
  /** For each computed value, the index of the last execution step that reads it. */
  lastUse: Map<string, number>;
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
  /** 'engine': a Conv on the engine's workers; 'host': on the calling thread. */
  kind: 'engine' | 'host';
  /** Channel groups of a Conv; null for other ops. */
  groups: number | null;
  flops: number;
  /** Wall time of the step on the calling thread, ms. */
  ms: number;
  /** For engine steps: the engine's own profile of the call (kernel time per worker, hand-off, imbalance). */
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

/**
 * The prepared engine layers of one model on one engine: a Conv's weight and
 * bias are placed in shared memory at its first use and kept until close().
 */
export class EngineBinding {
  private readonly layers = new Map<OnnxNode, Array<{ weight: Float32Array; bias: Float32Array | null; padding: [number, number]; activation: string; layer: EngineLayer }>>();
  private readonly executions = new WeakMap<Plan, Execution>();

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
    const steps: ExecutionStep[] = plan.schedule.steps.map((scheduled) => {
      if (scheduled.kind === 'fused') return this.fusedStep(plan, scheduled.fused);
      const i = scheduled.index;
      const step = plan.steps[i];
      const flops = flopsOf(step, plan.shapes);
      const base = { planSteps: [i], node: step.node, nodes: [step.node], opType: step.node.opType, inputs: step.inputs, outputs: step.outputs, flops };
      const attributes = step.node.opType === 'Conv' ? convAttributesOf(step.node) : undefined;
      const weight = plan.constants.get(step.inputs[1]);
      const biasName = step.inputs[2] ?? '';
      const bias = biasName === '' ? undefined : plan.constants.get(biasName);
      const x = plan.shapes.get(step.inputs[0]);
      // A Conv whose weight or bias is computed from the input (never in exported CNNs) stays on the calling thread.
      const constantOperands = weight?.dtype === 'float32' && (biasName === '' || bias?.dtype === 'float32');
      if (!attributes || !constantOperands || !x || plan.dtypes.get(step.inputs[0]) !== 'float32') return { ...base, kind: 'host', step };
      const setup = convSetup(x, weight.shape, attributes);
      const layer = this.layerFor(step.node, weight as FloatValue, (bias as FloatValue | undefined) ?? null, setup, { kind: 'none' });
      return { ...base, kind: 'engine', layer, setup, groups: attributes.group, residual: null };
    });
    const lastUse = new Map<string, number>();
    steps.forEach((s, i) => {
      for (const n of s.inputs) if (n !== '' && !plan.constants.has(n)) lastUse.set(n, i);
    });
    for (const n of plan.outputs) lastUse.delete(n);
    return { plan, steps, lastUse };
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

  /** Frees every prepared layer's shared weights. */
  close(): void {
    for (const variants of this.layers.values()) for (const { layer } of variants) layer.close();
    this.layers.clear();
  }
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

/**
 * Runs an execution on `feeds`. Every activation it computes lives in shared
 * memory (engine outputs, and host ops' outputs through withFloatAllocator), so
 * no engine call copies its input; each is freed at its last use unless another
 * live value shares its data, as a Reshape's output does. Returns the graph's outputs.
 */
export async function runExecution(
  execution: Execution,
  feeds: ReadonlyMap<string, Value>,
  profile: StepProfile[] | null,
): Promise<Value[]> {
  const { plan, steps, lastUse } = execution;
  const arena = sharedArena();
  const env = new Map<string, Value>(plan.constants);
  for (const [name, v] of feeds) env.set(name, v);
  // Arena blocks this forward allocated, with the number of live names holding each.
  const holders = new Map<Float32Array, number>();
  const hold = (v: Value) => {
    if (v.dtype === 'float32' && holders.has(v.data)) holders.set(v.data, holders.get(v.data)! + 1);
  };
  const drop = (name: string) => {
    const v = env.get(name);
    env.delete(name);
    if (v?.dtype !== 'float32') return;
    const count = holders.get(v.data);
    if (count === undefined) return;
    if (count > 1) holders.set(v.data, count - 1);
    else {
      holders.delete(v.data);
      arena.release(v.data);
    }
  };
  const kept = new Set(plan.outputs);
  try {
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      const start = profile ? performance.now() : 0;
      let engineProfile: ConvProfile | null = null;
      if (step.kind === 'engine') {
        const x = expectFloat(env.get(step.inputs[0]), `input '${step.inputs[0]}'`);
        let result: FloatValue;
        // Asymmetric pads: the padded input goes to shared memory too, freed once the call is done.
        const scratch: Float32Array[] = [];
        try {
          const input = withFloatAllocator(sharedAllocator(scratch), () => convInput(x, step.setup));
          const residual = step.residual === null ? undefined : expectFloat(env.get(step.residual), `residual '${step.residual}'`);
          let output;
          if (profile) ({ output, profile: engineProfile } = await step.layer.run(input, { profile: true, residual }));
          else output = await step.layer.run(input, { residual });
          result = floatValue(output.shape, output.data);
        } catch (error) {
          if (error instanceof ExecutionError || !(error instanceof Error)) throw error;
          throw errors.onnxEngineStepFailed(step.node.name, step.opType, error);
        } finally {
          for (const a of scratch) arena.release(a);
        }
        holders.set(result.data, 0);
        env.set(step.outputs[0], result);
        hold(result);
      } else {
        const inputs = step.inputs.map((n) => (n === '' ? undefined : env.get(n)));
        // The step's outputs are allocated in shared memory, so a Conv reading them later needs no copy;
        // whatever else the op allocated there (temporaries) is freed at once.
        const allocated: Float32Array[] = [];
        let results: Value[];
        try {
          results = withFloatAllocator(sharedAllocator(allocated), () => runNode(step.node, step.step.run, inputs));
        } catch (error) {
          for (const a of allocated) arena.release(a);
          throw error;
        }
        const outputs = new Set(results.map((r) => r.data));
        for (const a of allocated) {
          if (outputs.has(a)) holders.set(a, 0);
          else arena.release(a);
        }
        step.outputs.forEach((name, j) => {
          if (name === '') return;
          env.set(name, results[j]);
          hold(results[j]);
        });
      }
      if (profile) {
        profile.push({
          index: i,
          name: step.node.name,
          opType: step.opType,
          nodes: step.nodes.map((n) => n.name),
          kind: step.kind,
          groups: step.kind === 'engine' ? step.groups : null,
          flops: step.flops,
          ms: performance.now() - start,
          engine: engineProfile && {
            kernelMs: engineProfile.wallMs - engineProfile.dispatchOverheadMs,
            handoffMs: engineProfile.dispatchOverheadMs,
            setupMs: engineProfile.setupMs,
            imbalance: engineProfile.imbalance,
          },
        });
      }
      for (const n of new Set(step.inputs)) if (lastUse.get(n) === i && !kept.has(n)) drop(n);
    }
    return plan.outputs.map((n) => {
      const v = env.get(n);
      if (!v) throw errors.onnxValue(`graph output '${n}' was not computed`);
      return v;
    });
  } catch (error) {
    // Nothing of a failed forward is returned: free what the engine wrote.
    for (const data of holders.keys()) arena.release(data);
    throw error;
  }
}
