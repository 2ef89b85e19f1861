// A model as a list of units that read and write named values: what a device
// runs a range of. For a zoo model or AlexNet the units are the split graph's
// nodes (from-modules.ts reads them from the one step description forward
// runs), each running its module's forward or the inline op forward runs; for
// an ONNX model they are its plan's scheduled steps (fused groups included),
// run by plan-range.ts. Either way, running every unit in order is the
// model's forward on this thread, op for op, so it gives forward's bits.
import { errors } from '../errors.js';
import { ArenaValues } from '../memory/arena-values.js';
import type { Module } from '../layers/module.js';
import type { OnnxModel } from '../onnx/model.js';
import { runScheduleRange, scheduleValues } from '../onnx/plan-range.js';
import { floatValue, type Value } from '../onnx/value.js';
import { channelShuffle } from '../ops/channel-shuffle.js';
import { add, flatten } from '../ops/elementwise.js';
import { graphOfModule } from '../split/from-modules.js';
import type { GraphNode } from '../split/graph.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ProgramUnit {
  label: string;
  /** Values it reads that a unit before it wrote (or the model's input). */
  inputs: string[];
  outputs: string[];
}

export interface Program {
  input: string;
  output: string;
  units: ProgramUnit[];
  /**
   * Runs units [from, to) on `live` (what they read from before `from`) and
   * returns the values in `keep`; `onUnit` sees each unit's index before it runs.
   */
  run(from: number, to: number, live: ReadonlyMap<string, Tensor>, keep: readonly string[], onUnit?: (unit: number) => void): Map<string, Tensor>;
}

/** The module a graph node names (its state_dict prefix), found by walking the children. */
function moduleAt(root: Module, path: string): Module {
  let m = root;
  for (const part of path.split('.')) {
    const child = m.namedChildren().find(([name]) => name === part)?.[1];
    if (!child) throw errors.invalid('model', `the split graph names module '${path}', which ${root.constructor.name} does not have`);
    m = child;
  }
  return m;
}

/**
 * How one node of a module's graph runs: add, shuffle and flatten through the
 * op that both ZooModel.forward's inline steps and those layers' forward call;
 * the rest through their module.
 */
function nodeRunner(root: Module, node: GraphNode): (inputs: Tensor[]) => Tensor {
  const op = node.op;
  if (op.kind === 'add') return ([a, b]) => add(a, b);
  if (op.kind === 'shuffle') return ([x]) => channelShuffle(x, op.groups);
  if (op.kind === 'flatten') return ([x]) => flatten(x, op.startDim);
  const module = nodeModule(root, node)!;
  return ([x]) => module.forward(x);
}

/** The module a graph node runs; null for add, shuffle and flatten, which run as the inline op. */
export function nodeModule(root: Module, node: GraphNode): Module | null {
  if (node.op.kind === 'add' || node.op.kind === 'shuffle' || node.op.kind === 'flatten') return null;
  // A module run more than once (a shared ReLU) has its later nodes named 'relu:2', ...
  return moduleAt(root, node.name.replace(/:\d+$/, ''));
}

/** The program of a zoo model or AlexNet: one unit per split graph node. */
export function moduleProgram(model: Module): Program {
  const graph = graphOfModule(model);
  const runners = graph.nodes.map((node) => nodeRunner(model, node));
  const units = graph.nodes.map((n): ProgramUnit => ({ label: n.label, inputs: [...n.inputs], outputs: [n.output] }));
  const lastReader = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.inputs.forEach((v) => lastReader.set(v, i)));
  return {
    input: graph.input,
    output: graph.output,
    units,
    run(from, to, live, keep, onUnit = () => {}) {
      checkRange(from, to, units.length);
      const env = new Map(live);
      const kept = new Set(keep);
      // Values in this thread's arena, each freed after its last reader in the range (memory/arena-values.ts).
      const values = new ArenaValues();
      try {
        for (let i = from; i < to; i++) {
          onUnit(i);
          const node = graph.nodes[i];
          const inputs = node.inputs.map((v) => env.get(v) ?? missing(v, from, to));
          const output = values.step(() => runners[i](inputs));
          env.set(node.output, output);
          values.hold(output);
          values.settle();
          for (const v of new Set(node.inputs)) {
            if (lastReader.get(v) !== i || kept.has(v) || !env.has(v)) continue;
            values.drop(env.get(v));
            env.delete(v);
          }
        }
        return new Map(keep.map((v) => [v, values.detach(env.get(v) ?? missing(v, from, to))]));
      } finally {
        values.close();
      }
    },
  };
}

/**
 * The program of an ONNX model for images of `image` ([C, H, W]): one unit per
 * scheduled step of its plan. Any batch runs: a model whose batch dimension is
 * fixed (many exports say 1) runs a larger batch in chunks of that size, the
 * values crossing between chunks' units being per image.
 */
export function onnxProgram(model: OnnxModel, image: readonly number[]): Program {
  if (model.inputs.length !== 1 || model.outputs.length < 1) {
    throw errors.invalid('model', `devices run ONNX models of one input, this one has ${model.inputs.length} (${model.inputs.map((i) => i.name).join(', ')})`);
  }
  const input = model.inputs[0].name;
  const declared = model.inputs[0].shape?.[0];
  const fixedBatch = typeof declared === 'number' && declared > 0 ? declared : null;
  const planOf = (batch: number) => model.planFor({ [input]: [batch, ...image] });
  const base = planOf(fixedBatch ?? 1);
  const units = scheduleValues(base).map((s): ProgramUnit => ({ label: s.label, inputs: s.inputs, outputs: s.outputs }));
  const runBatch = (batch: number, from: number, to: number, live: ReadonlyMap<string, Tensor>, keep: readonly string[], onUnit?: (unit: number) => void) => {
    const plan = planOf(batch);
    if (plan.schedule.steps.length !== units.length) {
      throw errors.onnxValue(`the model's schedule has ${plan.schedule.steps.length} steps at batch ${batch} and ${units.length} at batch ${fixedBatch ?? 1}; devices need one schedule for every batch`);
    }
    const values = new Map<string, Value>([...live].map(([name, t]) => [name, floatValue(t.shape, t.data)]));
    const out = runScheduleRange(plan, from, to, values, keep, onUnit);
    return new Map(
      [...out].map(([name, v]): [string, Tensor] => {
        if (v.dtype !== 'float32') throw errors.onnxValue(`value '${name}' crosses between devices as ${v.dtype}; devices exchange float32 values only`);
        return [name, { shape: v.shape, data: v.data }];
      }),
    );
  };
  return {
    input,
    output: base.outputs[0],
    units,
    run(from, to, live, keep, onUnit) {
      checkRange(from, to, units.length);
      const batch = batchOf(live);
      if (fixedBatch === null || batch === fixedBatch) return runBatch(batch, from, to, live, keep, onUnit);
      if (batch % fixedBatch !== 0) throw errors.invalid('x.shape', `the model takes batches of ${fixedBatch}, and ${batch} images are not a multiple of it`);
      const chunks: Map<string, Tensor>[] = [];
      for (let k = 0; k < batch / fixedBatch; k++) {
        const part = new Map([...live].map(([name, t]): [string, Tensor] => [name, batchRange(t, k * fixedBatch, (k + 1) * fixedBatch)]));
        chunks.push(runBatch(fixedBatch, from, to, part, keep, onUnit));
      }
      return new Map(keep.map((name): [string, Tensor] => [name, concatBatch(chunks.map((c) => c.get(name)!))]));
    },
  };
}

/** The batch of the values live at a cut (they all share it: the cut is between whole images' values). */
function batchOf(live: ReadonlyMap<string, Tensor>): number {
  const batches = new Set([...live.values()].map((t) => t.shape[0]));
  if (batches.size !== 1) throw errors.deviceProtocol(`values live at a cut have batches ${[...batches].join(', ')}, not one batch`);
  return [...batches][0];
}

/** Images [start, end) of `t` (a view, nothing copied). */
export function batchRange(t: Tensor, start: number, end: number): Tensor {
  const per = t.data.length / t.shape[0];
  return { shape: [end - start, ...t.shape.slice(1)], data: t.data.subarray(start * per, end * per) };
}

/** Tensors of the same image shape, one after another along the batch. */
export function concatBatch(parts: readonly Tensor[]): Tensor {
  if (parts.length === 1) return parts[0];
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let offset = 0;
  for (const p of parts) {
    data.set(p.data, offset);
    offset += p.data.length;
  }
  return { shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...parts[0].shape.slice(1)], data };
}

function checkRange(from: number, to: number, units: number): void {
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= units)) {
    throw errors.deviceProtocol(`no units [${from}, ${to}) in a program of ${units}`);
  }
}

function missing(value: string, from: number, to: number): never {
  throw errors.deviceProtocol(`value '${value}' is read by units [${from}, ${to}) but was not given`);
}

/**
 * The values live across the cut before unit `at`: written before it (or the
 * model's input) and read at or after it, or the model's output. A stage
 * starting at `at` receives exactly these; the one before it sends them.
 */
export function liveAcross(program: Program, at: number): string[] {
  const written = new Set<string>([program.input]);
  for (let i = 0; i < at; i++) for (const v of program.units[i].outputs) written.add(v);
  const live = new Set<string>();
  for (let i = at; i < program.units.length; i++) for (const v of program.units[i].inputs) if (written.has(v)) live.add(v);
  if (written.has(program.output)) live.add(program.output);
  return [...live];
}
