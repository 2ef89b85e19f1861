// OnnxModel: a loaded ONNX graph that runs on the calling thread (forward), or
// with its convolutions on a GroupedConvEngine (forwardWith, engine-run.ts).
import { GroupedConvEngine } from '../engine/engine.js';
import { errors } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { allNodes, type OnnxGraph, type ValueInfo } from './graph.js';
import { EngineBinding, memoryFor, runExecution, type Execution, type ModelProfile, type StepProfile } from './engine-run.js';
import { memoryPlanOf, type MemoryPlanReport } from './memory-plan.js';
import { planAndRun, type Plan } from './plan.js';
import { releaseThreadPlans } from './fuse.js';
import { runPlan } from './plan-range.js';
import { floatValue, type FloatValue, type Value } from './value.js';

/** How many per-shape plans a model keeps (a server sees a few batch sizes, not hundreds). */
const MAX_PLANS = 16;

export interface OnnxModelInfo {
  irVersion: number;
  opset: number;
  producer: string;
  source: string;
}

export class OnnxModel {
  /** The inputs a caller feeds: name, shape (symbolic dimensions as strings, e.g. 'batch'), dtype. */
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  private readonly plans = new Map<string, Plan>();
  /** The Conv layers prepared on each engine this model ran on. */
  private readonly bindings = new Map<GroupedConvEngine, EngineBinding>();
  private closed = false;

  constructor(
    /** The graph: nodes with resolved attributes and prepared kernels, initializers as Values. */
    readonly graph: OnnxGraph,
    readonly info: OnnxModelInfo,
  ) {
    this.inputs = graph.inputs;
    this.outputs = graph.outputs;
  }

  /** Runs the model on one input (its first) and returns its first output. */
  forward(x: Tensor): Tensor {
    const name = this.inputs[0].name;
    return this.run({ [name]: x })[this.outputs[0].name];
  }

  /** Runs the model on named inputs; returns every graph output by name. */
  run(feeds: Record<string, Tensor>): Record<string, Tensor> {
    const { values, key } = this.checkFeeds(feeds);
    const plan = this.plans.get(key);
    let results;
    if (plan) {
      results = runPlan(plan, values);
    } else {
      const made = planAndRun(this.graph, values);
      this.keepPlan(key, made.plan);
      // The planning run computed each node on its own; with fused groups (a folded BatchNormalization
      // changes bits) run the plan once more, so every forward gives the bits of the fused plan, as forwardWith does.
      results = made.plan.fusions.length > 0 ? runPlan(made.plan, values) : made.results;
    }
    return this.outputsOf(this.plans.get(key)!, results);
  }

  /**
   * `forward` with every convolution on `engine`'s workers (as prepared layers: each
   * Conv's weights go to shared memory once per model and engine, kept until `close()`),
   * and the nodes worker-stages.ts gives a stage; runs of them go to the workers as one
   * engine program. The other nodes run on the calling thread. Activations live in one
   * block per forward (`memoryPlan`). The result is bitwise that of `forward`.
   * With `{ profile: true }`, also where the time went, step by step.
   */
  forwardWith(engine: GroupedConvEngine, x: Tensor, options: { profile: true }): Promise<{ output: Tensor; profile: ModelProfile }>;
  forwardWith(engine: GroupedConvEngine, x: Tensor, options?: { profile?: false }): Promise<Tensor>;
  async forwardWith(engine: GroupedConvEngine, x: Tensor, options: { profile?: boolean } = {}): Promise<Tensor | { output: Tensor; profile: ModelProfile }> {
    const result = await this.runWith(engine, { [this.inputs[0].name]: x }, options);
    const output = result.outputs[this.outputs[0].name];
    return options.profile ? { output, profile: result.profile! } : output;
  }

  /** `run` on the engine (see forwardWith): every output by name, and the profile when asked for. */
  async runWith(
    engine: GroupedConvEngine,
    feeds: Record<string, Tensor>,
    options: { profile?: boolean } = {},
  ): Promise<{ outputs: Record<string, Tensor>; profile: ModelProfile | null }> {
    if (!(engine instanceof GroupedConvEngine)) throw errors.invalid('engine', 'expected a GroupedConvEngine');
    if (engine.closed) throw errors.engineClosed();
    if (options === null || typeof options !== 'object') throw errors.invalid('options', 'expected an object');
    for (const key of Object.keys(options)) if (key !== 'profile') throw errors.unknownOption('options', key, ['profile']);
    const { values } = this.checkFeeds(feeds);
    const execution = this.executionFor(engine, Object.fromEntries([...values].map(([name, v]) => [name, v.shape])));
    const plan = execution.plan;
    const steps: StepProfile[] | null = options.profile ? [] : null;
    const start = performance.now();
    const results = await runExecution(execution, values, steps);
    const totalMs = performance.now() - start;
    if (this.closed) throw errors.onnxClosed();
    return { outputs: this.outputsOf(plan, results), profile: steps && { totalMs, workers: engine.workers, steps } };
  }

  /**
   * What forwardWith runs on `engine` for inputs of these shapes: the execution steps (each
   * Conv on the engine, the rest on the calling thread), with the plan they come from.
   * Preparing it places the Conv weights in shared memory.
   */
  executionFor(engine: GroupedConvEngine, shapes: Record<string, number[]>): Execution {
    if (engine.closed) throw errors.engineClosed();
    // The plan comes from a run on the calling thread (over zeros, for the shapes) the first time a shape is seen.
    const plan = this.planFor(shapes);
    // An engine closed since it was last used here keeps nothing alive: free what this model placed for it.
    for (const other of [...this.bindings.keys()]) if (other.closed) this.release(other);
    let binding = this.bindings.get(engine);
    if (!binding) {
      binding = new EngineBinding(engine);
      this.bindings.set(engine, binding);
    }
    return binding.executionFor(plan);
  }

  /** Frees the shared weights this model placed for `engine` (they are placed again at its next forwardWith). */
  release(engine: GroupedConvEngine): void {
    this.bindings.get(engine)?.close();
    this.bindings.delete(engine);
  }

  private checkFeeds(feeds: Record<string, Tensor>): { values: Map<string, FloatValue>; key: string } {
    if (this.closed) throw errors.onnxClosed();
    const values = new Map<string, FloatValue>();
    for (const info of this.inputs) {
      const t = checkTensor(`inputs['${info.name}']`, feeds[info.name]);
      this.checkShape(info, t.shape);
      values.set(info.name, floatValue(t.shape, t.data));
    }
    for (const key of Object.keys(feeds)) {
      if (!this.inputs.some((i) => i.name === key)) throw errors.unknownOption('inputs', key, this.inputs.map((i) => i.name));
    }
    const key = this.inputs.map((i) => values.get(i.name)!.shape.join('x')).join(',');
    return { values, key };
  }

  private keepPlan(key: string, plan: Plan): void {
    if (this.plans.size >= MAX_PLANS) {
      const oldest = this.plans.keys().next().value!;
      releaseThreadPlans(this.plans.get(oldest)!.fusions);
      this.plans.delete(oldest);
    }
    this.plans.set(key, plan);
  }

  private outputsOf(plan: Plan, results: Value[]): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.outputs.forEach((o, i) => {
      const v = results[i];
      // Float outputs are the model's results; an integer output (rare) is converted, exact to 2^24.
      // An output that folded to a constant is copied, so a caller writing to it cannot change the plan.
      const data = v.dtype === 'float32' ? (plan.constants.has(o.name) ? v.data.slice() : v.data) : Float32Array.from(v.data as ArrayLike<number>);
      out[o.name] = { shape: [...v.shape], data };
    });
    return out;
  }

  /**
   * The plan for inputs of these shapes (made by running once on zeros if there is none yet):
   * the steps that run per forward, folded constants, and every value's shape.
   */
  planFor(shapes: Record<string, number[]>): Plan {
    const key = this.inputs.map((i) => (shapes[i.name] ?? []).join('x')).join(',');
    if (!this.plans.has(key)) {
      const zeros: Record<string, Tensor> = {};
      for (const i of this.inputs) {
        const shape = shapes[i.name] ?? [];
        zeros[i.name] = floatValue(shape);
      }
      this.run(zeros);
    }
    return this.plans.get(key)!;
  }

  /**
   * The memory plan forwardWith uses for inputs of `inputShape` (the first input's; its declared
   * shape by default, when static): the one block's bytes (`peakBytes`) against the sum of
   * every activation's (`sumBytes`), and when the forward runs image by image on several
   * workers (`chainedPeakBytes`). Planning runs the model once on zeros if the shape is new.
   */
  memoryPlan(inputShape?: readonly number[]): MemoryPlanReport {
    if (this.closed) throw errors.onnxClosed();
    const info = this.inputs[0];
    let shape: number[];
    if (inputShape === undefined) {
      const declared = info.shape;
      if (!declared || declared.some((d) => typeof d !== 'number')) {
        throw errors.invalid('inputShape', `the model's input '${info.name}' has symbolic dimensions [${(declared ?? []).join(', ')}]: give the shape`);
      }
      shape = declared as number[];
    } else {
      if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw errors.invalid('inputShape', `expected an array of sizes (integers >= 0), got ${JSON.stringify(inputShape)}`);
      }
      shape = [...inputShape];
      this.checkShape(info, shape);
    }
    const plan = this.planFor({ [info.name]: shape });
    const { peakBytes, sumBytes, values, aliases, outputBytes } = memoryPlanOf(plan);
    const chainedPeakBytes = shape[0] > 1 ? memoryFor(plan, true).peakBytes : null;
    return { peakBytes, sumBytes, values, aliases, outputBytes, chainedPeakBytes };
  }

  /** PyTorch's parameter count: float initializers, less BatchNormalization's running mean and variance (buffers in PyTorch). */
  parameterCount(): number {
    const buffers = new Set<string>();
    const graphs: OnnxGraph[] = [this.graph];
    for (const node of allNodes(this.graph)) {
      if (node.opType === 'BatchNormalization') for (const n of node.inputs.slice(3, 5)) buffers.add(n);
      for (const a of node.attributes.values()) if (a.type === 'GRAPH') graphs.push(a.value);
    }
    let count = 0;
    for (const g of graphs) {
      for (const [name, v] of g.initializers) if (v.dtype === 'float32' && !buffers.has(name)) count += v.data.length;
    }
    return count;
  }

  /**
   * The float initializers by name as float32 tensors (FLOAT16 ones widened): PyTorch's
   * state_dict under the names the exporter kept. Integer initializers (shape constants) are left out.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, v] of this.graph.initializers) {
      if (v.dtype === 'float32') out[name] = { shape: [...v.shape], data: v.data.slice() };
    }
    return out;
  }

  /** Drops the plans, frees the weights placed on engines, and refuses further runs. */
  close(): void {
    this.closed = true;
    for (const plan of this.plans.values()) releaseThreadPlans(plan.fusions);
    this.plans.clear();
    for (const binding of this.bindings.values()) binding.close();
    this.bindings.clear();
  }

  private checkShape(info: ValueInfo, shape: number[]): void {
    const declared = info.shape;
    if (!declared) return;
    const ok = declared.length === shape.length && declared.every((d, i) => typeof d === 'string' || d === shape[i]);
    if (!ok) {
      throw errors.invalid(`inputs['${info.name}'].shape`, `the model expects [${declared.join(', ')}] (names are any size), got [${shape.join(', ')}]`);
    }
  }
}
