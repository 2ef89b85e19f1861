// OnnxModel: a loaded ONNX graph that runs on the calling thread.
import { errors } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { allNodes, type OnnxGraph, type ValueInfo } from './graph.js';
import { planAndRun, runPlan, type Plan } from './plan.js';
import { floatValue, type FloatValue } from './value.js';

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
    const plan = this.plans.get(key);
    let results;
    if (plan) {
      results = runPlan(plan, values);
    } else {
      const made = planAndRun(this.graph, values);
      if (this.plans.size >= MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
      this.plans.set(key, made.plan);
      results = made.results;
    }
    const constants = this.plans.get(key)!.constants;
    const out: Record<string, Tensor> = {};
    this.outputs.forEach((o, i) => {
      const v = results[i];
      // Float outputs are the model's results; an integer output (rare) is converted, exact to 2^24.
      // An output that folded to a constant is copied, so a caller writing to it cannot change the plan.
      const data = v.dtype === 'float32' ? (constants.has(o.name) ? v.data.slice() : v.data) : Float32Array.from(v.data as ArrayLike<number>);
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

  /** Drops the plans and refuses further runs. */
  close(): void {
    this.closed = true;
    this.plans.clear();
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
