// Which plan steps the engine's workers can run, and how: a step becomes a
// WorkerStage, a ranged kernel (kernels/ranged) over values in shared memory,
// or an alias (a Reshape-like step whose output is its input's data under a
// new shape, so nothing runs). A step with no stage runs on the calling thread.
// A stage computes exactly the bits the step's host kernel computes.
import { ELEMENT_BLOCK, type RangedOp } from '../kernels/ranged/index.js';
import type { Plan, PlanStep } from './plan.js';
import { sizeOf } from './value.js';

export type WorkerStage =
  /** `op` reads `inputs` (float32 activations or constants, in the kernel's order) and writes `outputs`, whose shapes are the plan's. */
  | { kind: 'ranged'; op: RangedOp; inputs: string[]; outputs: string[] }
  /** `output` is `input`'s data under the plan's shape for `output`. */
  | { kind: 'alias'; input: string; output: string };

/** The stage that runs `step` on workers, or null when it runs on the calling thread. */
export function workerStageOf(step: PlanStep, plan: Plan): WorkerStage | null {
  const floats = (names: readonly string[]) => names.every((n) => n !== '' && plan.dtypes.get(n) === 'float32');
  switch (step.node.opType) {
    case 'Relu': {
      if (!floats(step.inputs) || !floats(step.outputs)) return null;
      const elements = sizeOf(plan.shapes.get(step.outputs[0])!);
      const op: RangedOp = { kernel: 'relu', params: { elements }, units: Math.ceil(elements / ELEMENT_BLOCK), costPerUnit: ELEMENT_BLOCK };
      return { kind: 'ranged', op, inputs: [step.inputs[0]], outputs: [step.outputs[0]] };
    }
    default:
      return null;
  }
}
