// Which ranged worker stages are image-major (engine/chains.ts): the units of
// image i read only image i of each activation and write only image i of each
// output, so the engine may run them image by image in a chain with the
// convolutions around them, with no barrier between. Decided from the op's
// units (how the kernel cuts its output, kernels/ranged) and the plan's shapes;
// an op this cannot show to be image-major simply runs stage by stage.
import type { ImageMajor } from '../engine/chains.js';
import { ELEMENT_BLOCK } from '../kernels/ranged/index.js';
import type { Plan, PlanStep } from './plan.js';
import { sizeOf } from './value.js';
import type { WorkerStage } from './worker-stages.js';

/** Kernels whose units are planes or rows of the output in order, each computed from the same image's planes or rows (image-major whenever the batch is the first axis they count). */
const ROW_KERNELS = new Set(['maxPool2d', 'pool', 'globalAveragePool', 'globalMaxPool', 'batchNorm', 'lrn', 'softmax', 'layerNorm']);

/** Kernels over blocks of ELEMENT_BLOCK elements of the output. */
const ELEMENT_KERNELS = new Set(['relu', 'sigmoid', 'hardSigmoid', 'hardSwish', 'leakyRelu', 'erf', 'sqrt', 'tanh', 'exp', 'neg', 'abs', 'clip', 'add', 'sub', 'mul', 'div', 'pow']);

/** `stage` (a ranged stage of `step`) as an image-major stage, or null when it is not one (or cannot be shown to be). */
export function imageMajorOf(step: PlanStep, stage: Extract<WorkerStage, { kind: 'ranged' }>, plan: Plan): ImageMajor | null {
  const { op } = stage;
  const out = plan.shapes.get(stage.outputs[0]);
  if (!out || out.length < 2) return null;
  const images = out[0];
  if (images < 1 || op.units % images !== 0) return null;
  const isActivation = (name: string) => !plan.constants.has(name);
  // Batch-led: the batch is the first axis. Of the same rank as the output, so that a broadcast
  // operand whose first axis merely equals the batch ([C, 1, 1] with C = N) is not taken for one;
  // a row kernel's input may have another rank (ReduceMean's [N, C, H, W] -> [N, C]): its units
  // count the output's batch first and read that image of the input, whatever the input's rank.
  const rowKernel = ROW_KERNELS.has(op.kernel);
  const batchLed = (name: string, anyRank = false) => {
    const shape = plan.shapes.get(name);
    return shape !== undefined && (anyRank || shape.length === out.length) && shape[0] === images;
  };
  if (!stage.outputs.every((name) => batchLed(name))) return null;
  // Inputs that are not image by image must be constants (an activation read whole could be one the chain writes).
  const shared: number[] = [];
  for (const [p, name] of stage.inputs.entries()) {
    if (batchLed(name, rowKernel && p === 0) && isActivation(name)) continue;
    if (isActivation(name)) return null;
    shared.push(p);
  }
  const x = stage.inputs[0];
  const perImageFirst = !shared.includes(0);
  let major = false;
  if (rowKernel) {
    // Their units count the batch first (planes N x C..., rows N x ...) when the input is batch-led.
    major = perImageFirst;
  } else if (op.kernel === 'concat' || op.kernel === 'slice' || op.kernel === 'shuffleConcat') {
    // Units are outer (the axes before the cut one, batch first) x the cut axis. Every input and
    // output batch-led with the same batch means the cut is after the batch, or takes it whole.
    major = shared.length === 0;
  } else if (op.kernel === 'transpose') {
    const perm = step.node.attributes.get('perm');
    major = perImageFirst && perm?.type === 'INTS' && (perm.value as number[])[0] === 0;
  } else if (op.kernel === 'pad') {
    const begin = op.params.begin as readonly number[];
    major = perImageFirst && begin[0] === 0 && plan.shapes.get(x)![0] === images;
  } else if (ELEMENT_KERNELS.has(op.kernel)) {
    // Element blocks line up with images when they are cut image by image (kernels/ranged/units.ts),
    // or when an image is a whole number of blocks.
    const perImage = sizeOf(out.slice(1));
    const aligned = op.params.perImage === perImage || perImage % ELEMENT_BLOCK === 0;
    major = aligned && stage.inputs.some((n, p) => !shared.includes(p) && batchLed(n));
  }
  return major ? { images, shared } : null;
}
