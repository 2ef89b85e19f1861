// ShuffleNet's channel shuffle as one worker stage (forwardWith only).
//
// torch.onnx exports ShuffleNetV2's `cat` + `channel_shuffle` + the next
// block's `chunk` as Concat (channels) -> Reshape [N, g, C/g, H, W] ->
// Transpose [0, 2, 1, 3, 4] -> Reshape [N, C, H, W] -> Slice, Slice (or a
// Split). Run as they come, each moves every element once more: at batch 8 on
// one worker the three copies were 3.4 ms of a 27 ms forward. All of them
// only move planes, so one kernel (ranged/layout.ts, shuffleConcat) writes
// each input's plane straight where the last of them puts it, and the
// intermediate values are never made.
//
// The groups are found in the plan's schedule (`channelShuffles`, once per
// plan) and used by what runs on the workers: the memory plan (memory-plan.ts)
// sees each group as one step, so its intermediate values get no slot and its
// inputs stay alive until it runs; forwardWith (engine-run.ts) runs it as one
// ranged stage. The bits are those of the nodes run one by one (copies), so
// `forward` and the devices keep running the nodes as they are. A group is
// taken only as it stands in the schedule (consecutive steps, each a worker
// stage: worker-stages.ts), with every intermediate value read by the next
// node alone and no graph output:
// - Concat of g >= 2 computed inputs [N, m, H, W] along axis 1;
// - Reshape (an alias) to [N, g, m, H, W];
// - Transpose with perm [0, 2, 1, 3, 4];
// - Reshape (an alias) to [N, g * m, H, W];
// - then, if the shuffled value is read only by the Slice / Split steps right
//   after, each along axis 1 with step 1 (their ranged stage's slice op over
//   planes of H x W), those too: the group's outputs are theirs. Otherwise the
//   group's output is the shuffled value itself.
import type { RangedOp } from '../kernels/ranged/index.js';
import { shuffleConcatOp } from '../kernels/ranged/layout.js';
import { sameShape } from './fuse.js';
import { readerCounts, type Plan } from './plan.js';
import { workerStageOf, type WorkerStage } from './worker-stages.js';

/** One channel shuffle group: scheduled steps [from, to) of its plan as one ranged stage. */
export interface ShuffleGroup {
  from: number;
  to: number;
  /** The Concat's inputs. */
  inputs: string[];
  /** The Slices' outputs, or the shuffled value. */
  outputs: string[];
  op: RangedOp;
  /** The op types of its steps joined by '+'. */
  opType: string;
}

const groupsByPlan = new WeakMap<Plan, ShuffleGroup[]>();

/** The plan's channel shuffle groups (see the header), in schedule order; found once per plan. */
export function channelShuffles(plan: Plan): ShuffleGroup[] {
  let groups = groupsByPlan.get(plan);
  if (!groups) {
    groups = findShuffles(plan);
    groupsByPlan.set(plan, groups);
  }
  return groups;
}

interface Candidate {
  opType: string;
  stage: WorkerStage | null;
  step: Plan['steps'][number];
}

function findShuffles(plan: Plan): ShuffleGroup[] {
  const readers = readerCounts(plan);
  const graphOutputs = new Set(plan.outputs);
  /** Whether `value` is read by exactly `count` steps and is no graph output. */
  const readOnly = (value: string, count: number) => readers.get(value) === count && !graphOutputs.has(value);
  const candidates: (Candidate | null)[] = plan.schedule.steps.map((s) => {
    if (s.kind !== 'single') return null;
    const step = plan.steps[s.index];
    const opType = step.node.opType;
    const interesting = opType === 'Concat' || opType === 'Reshape' || opType === 'Transpose' || opType === 'Slice' || opType === 'Split';
    return interesting ? { opType, stage: workerStageOf(step, plan), step } : null;
  });
  const groups: ShuffleGroup[] = [];
  for (let at = 0; at < candidates.length; at++) {
    const group = shuffleAt(plan, candidates, at, readOnly);
    if (!group) continue;
    groups.push(group);
    at = group.to - 1;
  }
  return groups;
}

const ranged = (c: Candidate | null | undefined, opType: string, kernel: string) =>
  c?.opType === opType && c.stage?.kind === 'ranged' && c.stage.op.kernel === kernel ? c.stage : null;
const alias = (c: Candidate | null | undefined, input: string) =>
  c?.opType === 'Reshape' && c.stage?.kind === 'alias' && c.stage.input === input ? c.stage : null;

function shuffleAt(plan: Plan, candidates: readonly (Candidate | null)[], at: number, readOnly: (value: string, count: number) => boolean): ShuffleGroup | null {
  const concat = ranged(candidates[at], 'Concat', 'concat');
  if (!concat) return null;
  const reshape = alias(candidates[at + 1], concat.outputs[0]);
  if (!reshape) return null;
  const transpose = ranged(candidates[at + 2], 'Transpose', 'transpose');
  if (!transpose || transpose.inputs[0] !== reshape.output) return null;
  const back = alias(candidates[at + 3], transpose.outputs[0]);
  if (!back) return null;
  const inputs = concat.inputs;
  const groups = inputs.length;
  const out = plan.shapes.get(concat.outputs[0]);
  const first = plan.shapes.get(inputs[0]);
  if (groups < 2 || !out || out.length !== 4 || !first || inputs.some((n) => plan.constants.has(n) || !sameShape(plan.shapes.get(n), first))) return null;
  const [images, channels, h, w] = first;
  const axis = candidates[at]!.step.node.attributes.get('axis');
  if (axis?.type !== 'INT' || (axis.value !== 1 && axis.value !== -3) || !sameShape(out, [images, groups * channels, h, w])) return null;
  const perm = candidates[at + 2]!.step.node.attributes.get('perm');
  if (perm?.type !== 'INTS' || !sameShape(perm.value as number[], [0, 2, 1, 3, 4])) return null;
  if (!sameShape(plan.shapes.get(reshape.output), [images, groups, channels, h, w])) return null;
  if (!sameShape(plan.shapes.get(back.output), out)) return null;
  if (!readOnly(concat.outputs[0], 1) || !readOnly(reshape.output, 1) || !readOnly(transpose.outputs[0], 1)) return null;

  const shuffled = back.output;
  const inner = h * w;
  let to = at + 4;
  let begins = [0];
  let counts = [groups * channels];
  let outputs = [shuffled];
  // The Slices or Split reading the shuffled value, if they are all its readers and come right after.
  const cuts: Extract<WorkerStage, { kind: 'ranged' }>[] = [];
  for (let j = at + 4; j < candidates.length; j++) {
    const c = candidates[j];
    const stage = ranged(c, c?.opType === 'Split' ? 'Split' : 'Slice', 'slice');
    const sum = (stage?.op.params.counts as number[] | undefined)?.reduce((a, n) => a + n, 0) ?? -1;
    const cutsChannels = stage !== null && stage.inputs.length === 1 && stage.inputs[0] === shuffled &&
      stage.op.params.dim === groups * channels && stage.op.params.inner === inner && stage.op.units === images * sum;
    if (!cutsChannels) break;
    cuts.push(stage);
  }
  if (cuts.length > 0 && readOnly(shuffled, cuts.length)) {
    begins = cuts.flatMap((s) => s.op.params.begins as number[]);
    counts = cuts.flatMap((s) => s.op.params.counts as number[]);
    outputs = cuts.flatMap((s) => s.outputs);
    to += cuts.length;
  }
  const opType = candidates.slice(at, to).map((c) => c!.opType).join('+');
  return { from: at, to, inputs: [...inputs], outputs, op: shuffleConcatOp(images, groups, channels, inner, begins, counts), opType };
}
