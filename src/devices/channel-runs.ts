// What a device holds of a value under a channels plan: some runs of its
// channels (features after flatten), each a dense [N, run length, ...rest]
// block. A layer's inputs are gathered from these blocks (its own and those
// received) into one dense tensor of the channels it reads, in channel order;
// its output is cut back into blocks per run. Pure copies: the same code runs
// on the host (the pass's output) and in the device threads.
import { errors } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { count, type Range } from '../split/ranges.js';

/** A run of a value's channels, dense over the batch: [N, run[1] - run[0], ...rest]. */
export interface RunBlock {
  run: Range;
  data: Float32Array;
}

/** The value's shape without its channel dimension, and the blocks held. */
export interface HeldValue {
  batch: number;
  /** Dimensions after the channels ([H, W], or [] for features). */
  rest: number[];
  blocks: RunBlock[];
}

const planeOf = (rest: readonly number[]) => rest.reduce((p, d) => p * d, 1);

/** A tensor of channels [run[0], run[1]) as a held value. */
export function heldOf(t: Tensor, run: Range): HeldValue {
  if (t.shape.length < 2 || t.shape[1] !== run[1] - run[0]) throw errors.deviceProtocol(`a block of channels [${run.join(', ')}) has shape [${t.shape.join(', ')}]`);
  return { batch: t.shape[0], rest: t.shape.slice(2), blocks: [{ run: [run[0], run[1]], data: t.data }] };
}

/** `a`'s blocks and `b`'s together (the same value: held and received). */
export function mergeHeld(a: HeldValue | undefined, b: HeldValue): HeldValue {
  return a ? { batch: a.batch, rest: a.rest, blocks: [...a.blocks, ...b.blocks] } : b;
}

/**
 * Channels `runs` of `value` as one dense tensor [N, count(runs), ...rest], in
 * channel order, copied from whichever blocks hold them. `what` names the
 * value in the error when a channel is held by none.
 */
export function gather(value: HeldValue, runs: readonly Range[], what: string): Tensor {
  const plane = planeOf(value.rest);
  const width = count(runs);
  const out = new Float32Array(value.batch * width * plane);
  let at = 0; // channel offset in the output
  for (const run of runs) {
    let c = run[0];
    while (c < run[1]) {
      const block = value.blocks.find((b) => b.run[0] <= c && c < b.run[1]);
      if (!block) throw errors.deviceProtocol(`${what}: channel ${c} of [${run.join(', ')}) is neither held nor received`);
      const end = Math.min(run[1], block.run[1]);
      const blockWidth = block.run[1] - block.run[0];
      for (let n = 0; n < value.batch; n++) {
        const from = (n * blockWidth + (c - block.run[0])) * plane;
        out.set(block.data.subarray(from, from + (end - c) * plane), (n * width + at + (c - run[0])) * plane);
      }
      c = end;
    }
    at += run[1] - run[0];
  }
  return { shape: [value.batch, width, ...value.rest], data: out };
}

/** A dense tensor over `runs` (as gather makes it) cut back into one block per run. */
export function blocksOf(t: Tensor, runs: readonly Range[]): HeldValue {
  const [batch, width, ...rest] = t.shape;
  if (width !== count(runs)) throw errors.deviceProtocol(`a tensor of ${width} channels cannot hold runs of ${count(runs)}`);
  if (runs.length === 1) return { batch, rest, blocks: [{ run: [runs[0][0], runs[0][1]], data: t.data }] };
  const plane = planeOf(rest);
  let at = 0;
  const blocks = runs.map((run): RunBlock => {
    const len = run[1] - run[0];
    const data = new Float32Array(batch * len * plane);
    for (let n = 0; n < batch; n++) data.set(t.data.subarray((n * width + at) * plane, (n * width + at + len) * plane), n * len * plane);
    at += len;
    return { run: [run[0], run[1]], data };
  });
  return { batch, rest, blocks };
}
