// A range of a plan's schedule run on its own, from the values live at its
// start: what a pipeline stage on a device runs. Running every range of a cut
// in order is runPlan (plan.ts): the same scheduled steps (fused groups as one
// convolution), the same kernels, in the same order, so the same bits.
import { errors } from '../errors.js';
import { runFusedOnThread } from './fuse.js';
import { ArenaValues } from '../memory/arena-values.js';
import { runNode, type Plan } from './plan.js';
import type { Value } from './value.js';

/** What one scheduled step reads and writes of the values computed per forward (constants left out). */
export interface ScheduledValues {
  /** The node's name (a fused group: its Conv's), for reports and errors. */
  label: string;
  opType: string;
  inputs: string[];
  outputs: string[];
}

/** Each scheduled step's computed inputs and outputs, in schedule order. */
export function scheduleValues(plan: Plan): ScheduledValues[] {
  const computed = (n: string) => n !== '' && !plan.constants.has(n);
  return plan.schedule.steps.map((s): ScheduledValues => {
    if (s.kind === 'fused') {
      const f = s.fused;
      const inputs = [f.input, ...(f.residual === null ? [] : [f.residual])].filter(computed);
      return { label: f.nodes[0].name || f.output, opType: f.opType, inputs, outputs: [f.output] };
    }
    const step = plan.steps[s.index];
    return { label: step.node.name || step.outputs[0], opType: step.node.opType, inputs: step.inputs.filter(computed), outputs: step.outputs.filter((n) => n !== '') };
  });
}

/**
 * Runs scheduled steps [from, to) of `plan` on `live` (every computed value
 * those steps read that an earlier step wrote, or the model's input) and
 * returns the values named in `keep`, in memory of their own. `onStep` sees
 * each step's index before it runs (so a failure can be placed). The values
 * between steps live in this thread's arena (memory/arena-values.ts), each freed
 * after its last reader.
 */
export function runScheduleRange(
  plan: Plan,
  from: number,
  to: number,
  live: ReadonlyMap<string, Value>,
  keep: readonly string[],
  onStep: (index: number) => void = () => {},
): Map<string, Value> {
  const { steps, lastUse } = plan.schedule;
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= steps.length)) {
    throw errors.invalid('range', `no scheduled steps [${from}, ${to}) in a schedule of ${steps.length}`);
  }
  const env = new Map<string, Value>(plan.constants);
  for (const [name, v] of live) env.set(name, v);
  const kept = new Set(keep);
  const need = (name: string): Value => {
    const v = env.get(name);
    if (!v) throw errors.onnxValue(`value '${name}' is read in scheduled steps [${from}, ${to}) but was not given`);
    return v;
  };
  const values = new ArenaValues();
  const set = (name: string, v: Value) => {
    env.set(name, v);
    values.hold(v);
  };
  // Drop what no later step of the whole schedule reads (unless asked for).
  const dropAfter = (i: number, read: readonly string[]) => {
    for (const n of read) {
      if (n === '' || lastUse.get(n) !== i || kept.has(n) || !env.has(n)) continue;
      values.drop(env.get(n));
      env.delete(n);
    }
  };
  try {
    for (let i = from; i < to; i++) {
      onStep(i);
      const s = steps[i];
      if (s.kind === 'fused') {
        const f = s.fused;
        const x = need(f.input);
        const residual = f.residual === null ? undefined : env.get(f.residual);
        try {
          set(f.output, values.step(() => runFusedOnThread(f, x, residual)));
        } catch (e) {
          throw errors.onnxNodeFailed(f.nodes[0], [x.shape, residual?.shape ?? null], e);
        }
        values.settle();
        dropAfter(i, [f.input, f.residual ?? '']);
        continue;
      }
      const step = plan.steps[s.index];
      const inputs = step.inputs.map((n) => (n === '' ? undefined : need(n)));
      const results = values.step(() => runNode(step.node, step.run, inputs));
      step.outputs.forEach((name, j) => {
        if (name !== '') set(name, results[j]);
      });
      values.settle();
      dropAfter(i, step.inputs);
    }
    const out = new Map<string, Value>();
    for (const name of keep) out.set(name, values.detach(need(name)));
    return out;
  } finally {
    values.close();
  }
}

/**
 * Runs a plan on `feeds` (inputs of the shapes the plan was made for): its
 * whole schedule, each fused group as one convolution with the epilogue.
 */
export function runPlan(plan: Plan, feeds: ReadonlyMap<string, Value>): Value[] {
  const computed = plan.outputs.filter((n) => !plan.constants.has(n));
  const results = runScheduleRange(plan, 0, plan.schedule.steps.length, feeds, computed);
  return plan.outputs.map((n) => results.get(n) ?? plan.constants.get(n)!);
}
