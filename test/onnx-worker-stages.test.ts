// workerStageOf on every ONNX fixture: the plan run with each step that has a
// stage through runRanged (its units cut at random, run in shuffled order into
// NaN-filled outputs) and each alias as a view, the other steps through their
// host kernels, gives forward's bits. The same for the unfused steps (where
// BatchNormalization runs on its own) against the unfused host run.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOnnx, loadSafetensors } from '../src/index.js';
import { runFusedOnThread } from '../src/onnx/fuse.js';
import type { Plan } from '../src/onnx/plan.js';
import { floatValue, type Value } from '../src/onnx/value.js';
import { workerStageOf, type WorkerStage } from '../src/onnx/worker-stages.js';
import { CASES, FIXTURES, seeded } from './support/onnx.js';
import { nanFilled, randomPartition, runPartitioned } from './support/ranged.js';
import { firstBitDifference } from './support/tensors.js';

interface Run {
  /** Run steps that have a stage through it. */
  stages: boolean;
  random: () => number;
  /** Op types run through a stage, and op types that had none. */
  staged: Set<string>;
  hostOnly: Set<string>;
}

/** One plan step: through its stage when it has one (and the run uses stages), else its host kernel. */
function runStep(plan: Plan, index: number, env: Map<string, Value>, run: Run): void {
  const step = plan.steps[index];
  const stage: WorkerStage | null = run.stages ? workerStageOf(step, plan) : null;
  if (run.stages && !stage) run.hostOnly.add(step.node.opType);
  if (stage?.kind === 'alias') {
    const v = env.get(stage.input)!;
    env.set(stage.output, floatValue(plan.shapes.get(stage.output)!, v.data as Float32Array));
    run.staged.add(step.node.opType);
    return;
  }
  if (stage) {
    // A stage may add a constant of its own (MatMul's transposed weights) to the plan.
    const inputs = stage.inputs.map((n) => (env.get(n) ?? plan.constants.get(n)!).data as Float32Array);
    const outputs = nanFilled(stage.outputs.map((n) => plan.shapes.get(n)!.reduce((a, d) => a * d, 1)));
    runPartitioned(stage.op, inputs, outputs, randomPartition(stage.op.units, run.random));
    stage.outputs.forEach((n, i) => env.set(n, floatValue(plan.shapes.get(n)!, outputs[i])));
    run.staged.add(step.node.opType);
    return;
  }
  const results = step.run(step.inputs.map((n) => (n === '' ? undefined : env.get(n))));
  step.outputs.forEach((n, i) => {
    if (n !== '') env.set(n, results[i]);
  });
}

/** The plan's fused schedule (as runPlan does), or every step unfused; the first output's data. */
function runPlanWith(plan: Plan, inputName: string, input: Value, fused: boolean, run: Run): Float32Array {
  const env = new Map<string, Value>(plan.constants);
  env.set(inputName, input);
  if (fused) {
    for (const s of plan.schedule.steps) {
      if (s.kind === 'single') {
        runStep(plan, s.index, env, run);
        continue;
      }
      const f = s.fused;
      env.set(f.output, runFusedOnThread(f, env.get(f.input), f.residual === null ? undefined : env.get(f.residual)));
    }
  } else {
    plan.steps.forEach((_, i) => runStep(plan, i, env, run));
  }
  return env.get(plan.outputs[0])!.data as Float32Array;
}

const io = (file: string) => loadSafetensors(join(FIXTURES, file));

describe('workerStageOf on the ONNX fixtures', () => {
  const staged = new Set<string>();
  const hostOnly = new Set<string>();
  for (const [k, c] of CASES.entries()) {
    it(`${c.id}: stages give forward's bits, fused and unfused`, () => {
      const model = loadOnnx(join(FIXTURES, c.file));
      const { input } = io(c.io);
      const expected = model.forward(input);
      const plan = model.planFor({ [model.inputs[0].name]: input.shape });
      const x = floatValue(input.shape, input.data);
      for (let round = 0; round < 3; round++) {
        const run: Run = { stages: true, random: seeded(1000 * k + round), staged, hostOnly };
        const got = runPlanWith(plan, model.inputs[0].name, x, true, run);
        expect(firstBitDifference(got, expected.data)).toBe(-1);
        const unfused = runPlanWith(plan, model.inputs[0].name, x, false, run);
        const host = runPlanWith(plan, model.inputs[0].name, x, false, { ...run, stages: false });
        expect(firstBitDifference(unfused, host)).toBe(-1);
      }
      model.close();
    });
  }

  it('leaves only these op types of the fixtures on the calling thread', () => {
    // Conv runs on the engine.
    console.log(`staged: ${[...staged].sort().join(', ')}\nno stage: ${[...hostOnly].sort().join(', ')}`);
    expect([...hostOnly].sort()).toEqual(['Conv']);
  });
});
