// Shapes and constant folding, once per input shape.
//
// The first forward for an input shape runs every node and records what it
// learns: each value's shape and dtype, and which values depend on the input's
// data at all. Values that do not (initializers, Constants, and the
// Shape -> Gather -> Unsqueeze -> Concat chains exporters build for Reshape,
// since Shape depends only on the input's shape) are folded: kept as
// constants of the plan. If nodes, whose condition must then be such a
// constant, are replaced by the branch they take. Later forwards with that
// shape run only the plan's steps, the nodes that compute on the input.
//
// Running the graph is how shapes are inferred: every op already knows its
// output shape when it runs, so no second description of each op's shape rule
// is needed, and the planning run's result is the first forward's answer.
// The recorded shapes are what a memory plan or an engine schedule will use.
import { errors } from '../errors.js';
import { ArenaValues } from '../memory/arena-values.js';
import { allNodes, type Kernel, type OnnxGraph, type OnnxNode } from './graph.js';
import { findFusions, fusedSchedule, type FusedConv, type FusedSchedule } from './fuse.js';
import type { DType, Value } from './value.js';

export interface PlanStep {
  node: OnnxNode;
  inputs: string[];
  outputs: string[];
  run: Kernel;
}

export interface Plan {
  /** The nodes that compute on the input, in order (If nodes already replaced by their branch). */
  steps: PlanStep[];
  /** Folded values the steps read, and initializers. */
  constants: Map<string, Value>;
  /** Every value's shape and dtype for this input shape (folded ones included). */
  shapes: Map<string, number[]>;
  dtypes: Map<string, DType>;
  /** Names of the graph's outputs. */
  outputs: string[];
  /** For each value a step computes, the index of the last step that reads it (so it can be dropped after). */
  lastUse: Map<string, number>;
  /** Conv -> BatchNormalization -> activation / residual Add chains that run as one convolution (fuse.ts). */
  fusions: FusedConv[];
  /** The order forward runs with those fused: `steps` less the fused nodes, each group where its last node was. */
  schedule: FusedSchedule;
}

/** How many of the plan's steps read each value they compute (a fused group's inner values included; constants left out). */
export function readerCounts(plan: Plan): Map<string, number> {
  const readers = new Map<string, number>();
  for (const s of plan.steps) for (const n of s.inputs) if (n !== '' && !plan.constants.has(n)) readers.set(n, (readers.get(n) ?? 0) + 1);
  return readers;
}

const identity: Kernel = ([x]) => [x ?? fail('If branch output is missing')];

function fail(message: string): never {
  throw errors.onnxValue(message);
}

export function runNode(node: OnnxNode, run: Kernel, inputs: (Value | undefined)[]): Value[] {
  try {
    return run(inputs);
  } catch (e) {
    throw errors.onnxNodeFailed(node, inputs.map((v) => v?.shape ?? null), e);
  }
}

/** Runs the graph on `feeds` and returns its outputs along with the plan for inputs of these shapes. */
export function planAndRun(graph: OnnxGraph, feeds: ReadonlyMap<string, Value>): { plan: Plan; results: Value[] } {
  const env = new Map<string, Value>();
  const dynamic = new Set<string>();
  const steps: PlanStep[] = [];
  const shapes = new Map<string, number[]>();
  const dtypes = new Map<string, DType>();
  const record = (name: string, v: Value) => {
    env.set(name, v);
    shapes.set(name, v.shape);
    dtypes.set(name, v.dtype);
  };
  for (const [name, v] of graph.initializers) record(name, v);
  for (const [name, v] of feeds) {
    record(name, v);
    dynamic.add(name);
  }
  // The values computed from the input live in this thread's arena, each freed once
  // every node that reads it has run (memory/arena-values.ts): this run touches far
  // less new memory. Readers are counted over both branches of every If, so a value
  // an untaken branch reads is kept to the end. The outputs are copied out.
  const arena = new ArenaValues();
  const readers = new Map<string, number>();
  for (const node of allNodes(graph)) for (const n of node.inputs) if (n !== '') readers.set(n, (readers.get(n) ?? 0) + 1);
  for (const o of graph.outputs) readers.set(o.name, Infinity);
  const readBy = (node: OnnxNode) => {
    for (const n of node.inputs) {
      if (n === '' || !dynamic.has(n)) continue;
      const left = readers.get(n)! - 1;
      readers.set(n, left);
      if (left === 0) arena.drop(env.get(n));
    }
  };

  const visit = (g: OnnxGraph) => {
    for (const node of g.nodes) {
      const inputs = node.inputs.map((n) => (n === '' ? undefined : env.get(n)));
      if (node.opType === 'If') {
        const cond = node.inputs[0];
        if (dynamic.has(cond)) {
          throw errors.onnxNodeFailed(node, [], errors.onnxValue('its condition depends on the input values, not only on shapes; groupconv runs If only when the condition folds to a constant'));
        }
        const c = inputs[0] ?? fail(`If condition '${cond}' is missing`);
        const branch = node.attributes.get(c.data[0] ? 'then_branch' : 'else_branch')!.value as OnnxGraph;
        for (const [n, v] of branch.initializers) record(n, v);
        visit(branch);
        if (branch.outputs.length !== node.outputs.length) {
          throw errors.onnxNodeFailed(node, [], errors.onnxValue(`its branch has ${branch.outputs.length} outputs for ${node.outputs.length}`));
        }
        branch.outputs.forEach((o, i) => {
          const out = node.outputs[i];
          record(out, env.get(o.name) ?? fail(`If branch output '${o.name}' was not computed`));
          if (dynamic.has(o.name)) {
            dynamic.add(out);
            arena.hold(env.get(out));
            steps.push({ node, inputs: [o.name], outputs: [out], run: identity });
          }
        });
        readBy(node);
        continue;
      }
      // Shape reads only its input's shape, which is fixed for this plan: its output is a constant.
      const isDynamic = node.opType !== 'Shape' && node.inputs.some((n) => dynamic.has(n));
      // Constants stay ordinary memory: the plan keeps them.
      const results = isDynamic ? arena.step(() => runNode(node, node.run, inputs)) : runNode(node, node.run, inputs);
      node.outputs.forEach((name, i) => {
        if (name === '') return;
        const v = results[i];
        if (!v) throw errors.onnxNodeFailed(node, inputs.map((x) => x?.shape ?? null), errors.onnxValue(`output ${i} ('${name}') was not produced`));
        record(name, v);
        if (isDynamic) arena.hold(v);
      });
      if (isDynamic) {
        arena.settle();
        for (const name of node.outputs) if (name !== '') dynamic.add(name);
        steps.push({ node, inputs: node.inputs, outputs: node.outputs, run: node.run });
      }
      readBy(node);
    }
  };
  let results: Value[];
  try {
    visit(graph);
    results = graph.outputs.map((o) => arena.detach(env.get(o.name) ?? fail(`graph output '${o.name}' was not computed`)));
  } finally {
    arena.close();
  }

  const outputs = graph.outputs.map((o) => o.name);
  const constants = new Map<string, Value>();
  const lastUse = new Map<string, number>();
  steps.forEach((step, i) => {
    for (const n of step.inputs) {
      if (n === '') continue;
      if (dynamic.has(n)) lastUse.set(n, i);
      else constants.set(n, env.get(n)!);
    }
  });
  for (const n of outputs) {
    if (!dynamic.has(n)) constants.set(n, env.get(n)!);
    lastUse.delete(n);
  }
  const plan: Plan = { steps, constants, shapes, dtypes, outputs, lastUse, fusions: [], schedule: { steps: [], lastUse: new Map() } };
  plan.fusions = findFusions(plan);
  plan.schedule = fusedSchedule(plan, plan.fusions);
  return { plan, results };
}
