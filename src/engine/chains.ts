// Chains: runs of consecutive program stages that the workers take image by
// image instead of stage by stage, with no barrier between them.
//
// A stage is *image-major* when the work of image i (a conv's slice of image i,
// every channel; a ranged op's i-th of `images` equal runs of units) reads only
// the i-th of `images` equal parts of its activation buffers (and, whole, only
// buffers nothing in the chain writes) and writes only the i-th part of its
// outputs. In a run of such stages image i's data flows only through image i's
// parts, so a task that takes image i through every stage in order reads only
// what it wrote itself: the barrier between the stages guards nothing, and
// the tasks (one per image, all of equal cost) balance by construction. Each
// image's computation is the one a stage-by-stage run does (a conv is run an
// image at a time anyway; a ranged op gives the same bits for any cut), so the
// bits are the same.
//
// That reasoning holds only if the parts of different buffers never overlap in
// memory: two buffers of a chain that overlap must be the very same bytes
// (then part i of one is part i of the other, touched only by image i's task).
// Buffers are placed per run, so each run checks it (chainsAreSafe) and runs
// stage by stage otherwise.
import { errors } from '../errors.js';

/**
 * A ranged stage's promise that it is image-major: its units are `images`
 * equal runs, one per image, and the run of image i reads the i-th of `images`
 * equal parts of each input except those at positions `shared` (read whole:
 * constants, or activations the chain does not write), and writes the i-th part
 * of each output.
 */
export interface ImageMajor {
  images: number;
  shared?: number[];
}

/** What chains need of a program stage (program.ts's ProgramStage is one). */
type ChainableStage =
  | { kind: 'conv'; inputShape: readonly number[]; input: number; output: number; residual?: number | null; scale?: { buffer: number } | null }
  | { kind: 'ranged'; op: { units: number }; inputs: number[]; outputs: number[]; images?: ImageMajor | null };

/** The buffers a chain touches, by how: written, read image by image, read whole. */
export interface ChainBuffers {
  written: number[];
  perImage: number[];
  whole: number[];
}

export interface Chain {
  /** Stages [from, to) of the program. */
  from: number;
  to: number;
  images: number;
  buffers: ChainBuffers;
}

/** Images per chain task: one, so a worker slowed by another process simply takes fewer images. */
export const IMAGES_PER_CHAIN_TASK = 1;

/**
 * Segments a chain is cut into, each a described stage whose task i waits
 * only for the previous segment's task i (no barrier). The workers take the
 * tasks segment by segment, so the last task of the run is a segment of one
 * image, not a whole image: at batch 8 on 2 workers a worker that ran out
 * of images waited up to one image's whole pass (shufflenet_v2_x1_0: 9 ms of
 * a 40 ms forward) for the other's last one.
 */
export const CHAIN_SEGMENTS = 8;

/**
 * Cuts `costs.length` consecutive members into at most `segments` runs of
 * about equal cost, each at least one member: the boundaries, from 0 to
 * costs.length (a run ends at the member that takes the running cost past its
 * share).
 */
export function chainSegments(costs: readonly number[], segments: number): number[] {
  const total = costs.reduce((sum, c) => sum + c, 0);
  const n = Math.max(1, Math.min(segments, costs.length));
  const bounds = [0];
  let sum = 0;
  for (let m = 0; m + 1 < costs.length && bounds.length < n; m++) {
    sum += costs[m];
    const membersLeft = costs.length - (m + 1);
    const runsLeft = n - bounds.length;
    // Close the run once it has its share, or when each member left must be a run of its own.
    if (sum >= (total * bounds.length) / n || membersLeft === runsLeft) bounds.push(m + 1);
  }
  bounds.push(costs.length);
  return bounds;
}

/** Chains are made only when their tasks (an image's segment each) balance over the workers within this. */
const CHAIN_BALANCE_TOLERANCE = 0.05;

/**
 * Whether a chain of `images` images keeps `workers` workers busy: at least one
 * image each, and its tasks (CHAIN_SEGMENTS per image, claimed segment by
 * segment) spread within the tolerance (the busiest takes the ceiling of its
 * share). With whole images as tasks 3 images on 2 workers left one idle for
 * a whole image's pass; an eighth of one is within the tolerance.
 */
export function imagesBalance(images: number, workers: number): boolean {
  const tasks = images * CHAIN_SEGMENTS;
  return images >= workers && Math.ceil(tasks / workers) / (tasks / workers) <= 1 + CHAIN_BALANCE_TOLERANCE;
}

/** How stage `stage` touches its buffers as an image-major stage, and its image count; null if it is not one. */
function imageMajorOf(stage: ChainableStage, index: number, bufferLengths: readonly number[]): { images: number; buffers: ChainBuffers } | null {
  const divides = (images: number, buffers: readonly number[]) => buffers.every((b) => bufferLengths[b] % images === 0);
  if (stage.kind === 'conv') {
    const images = stage.inputShape[0];
    const perImage = [stage.input, ...(stage.residual === undefined || stage.residual === null ? [] : [stage.residual]), ...(stage.scale ? [stage.scale.buffer] : [])];
    if (!(images > 0) || !divides(images, [...perImage, stage.output])) return null;
    return { images, buffers: { written: [stage.output], perImage, whole: [] } };
  }
  const declared = stage.images;
  if (declared === undefined || declared === null) return null;
  const name = `stages[${index}].images`;
  if (!Number.isSafeInteger(declared.images) || declared.images < 1 || stage.op.units % declared.images !== 0) {
    throw errors.invalid(`${name}.images`, `expected an integer >= 1 dividing the op's ${stage.op.units} units, got ${String(declared.images)}`);
  }
  const shared = declared.shared ?? [];
  for (const p of shared) {
    if (!Number.isInteger(p) || p < 0 || p >= stage.inputs.length) throw errors.invalid(`${name}.shared`, `expected input positions in [0, ${stage.inputs.length}), got ${String(p)}`);
  }
  const perImage = stage.inputs.filter((_, p) => !shared.includes(p));
  const whole = stage.inputs.filter((_, p) => shared.includes(p));
  if (!divides(declared.images, [...perImage, ...stage.outputs])) return null;
  return { images: declared.images, buffers: { written: [...stage.outputs], perImage, whole } };
}

/**
 * The chains of a program on `workers` workers (none on one): maximal runs of
 * at least two image-major stages with the same image count, whole images
 * balancing over the workers, nothing read whole written in the run.
 */
export function chainsOf(stages: readonly ChainableStage[], bufferLengths: readonly number[], workers: number): Chain[] {
  const chains: Chain[] = [];
  // One worker waits at no barrier: chains would buy nothing there, and cost the ONNX path its tighter memory plan.
  if (workers < 2) {
    stages.forEach((stage, i) => imageMajorOf(stage, i, bufferLengths)); // declarations are checked all the same
    return chains;
  }
  let current: Chain | null = null;
  const close = () => {
    if (current && current.to - current.from >= 2) chains.push(current);
    current = null;
  };
  stages.forEach((stage, i) => {
    const major = imageMajorOf(stage, i, bufferLengths);
    if (!major || !imagesBalance(major.images, workers)) {
      close();
      return;
    }
    const chain: Chain | null = current;
    // Nothing the run reads whole may be written in it, before or after the read.
    const joins =
      chain !== null &&
      chain.images === major.images &&
      !major.buffers.whole.some((b) => chain.buffers.written.includes(b)) &&
      !major.buffers.written.some((b) => chain.buffers.whole.includes(b));
    if (!joins) {
      close();
      current = { from: i, to: i + 1, images: major.images, buffers: { written: [], perImage: [], whole: [] } };
    }
    const c = current!;
    c.to = i + 1;
    c.buffers.written.push(...major.buffers.written);
    c.buffers.perImage.push(...major.buffers.perImage);
    c.buffers.whole.push(...major.buffers.whole);
  });
  close();
  return chains;
}

/**
 * Whether every chain's buffers, where this run put them, overlap only as the
 * very same bytes (and a buffer read whole overlaps nothing the chain writes).
 */
export function chainsAreSafe(chains: readonly Chain[], buffers: readonly Float32Array[]): boolean {
  return chains.every((chain) => chainIsSafe(chain, buffers));
}

function chainIsSafe(chain: Chain, buffers: readonly Float32Array[]): boolean {
  const uses = new Map<number, { written: boolean; whole: boolean }>();
  const note = (list: number[], key: 'written' | 'whole' | null) => {
    for (const b of list) {
      const use = uses.get(b) ?? { written: false, whole: false };
      if (key) use[key] = true;
      uses.set(b, use);
    }
  };
  note(chain.buffers.written, 'written');
  note(chain.buffers.perImage, null);
  note(chain.buffers.whole, 'whole');
  const spans: Array<{ start: number; end: number; written: boolean; whole: boolean }> = [];
  for (const [b, use] of uses) {
    if (use.written && use.whole) return false;
    const data = buffers[b];
    if (data.length > 0) spans.push({ start: data.byteOffset, end: data.byteOffset + data.byteLength, ...use });
  }
  spans.sort((a, b) => a.start - b.start);
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length && spans[j].start < spans[i].end; j++) {
      const a = spans[i];
      const b = spans[j];
      if (!a.written && !b.written) continue;
      const same = a.start === b.start && a.end === b.end && !a.whole && !b.whole;
      if (!same) return false;
    }
  }
  return true;
}
