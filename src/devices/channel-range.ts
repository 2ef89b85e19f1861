// A device's share of an activation: a contiguous range of channels (or, after
// flatten, of features) of the whole batch. Pieces travel between devices and
// are stitched back together here; the same code runs on the host and in the
// device workers.
import { errors } from '../errors.js';

/** Half-open range [start, end) of channels (features after flatten). */
export type Range = [number, number];

/** Channels [start, start + shape[1]) of a tensor of shape [N, C, ...spatial]. */
export interface Activation {
  /** [N, channels held, ...spatial]: the local tensor. */
  shape: number[];
  data: Float32Array;
  /** Index of the first channel held, in the whole tensor's numbering. */
  start: number;
}

export function rangeOf(a: Activation): Range {
  return [a.start, a.start + a.shape[1]];
}

export function overlap(a: Range, b: Range): Range | null {
  const start = Math.max(a[0], b[0]);
  const end = Math.min(a[1], b[1]);
  return start < end ? [start, end] : null;
}

export function rangeLength(r: Range): number {
  return r[1] - r[0];
}

/** Values per channel per sample (the product of the spatial dimensions). */
function planeOf(shape: readonly number[]): number {
  let p = 1;
  for (let i = 2; i < shape.length; i++) p *= shape[i];
  return p;
}

/**
 * The first channel of `range` that none of `parts` holds, or -1 when they
 * cover it all between them (overlaps are fine). Worked out from the ranges'
 * ends, not channel by channel: a device gathers fc6's 9216 input features
 * every pass, and a loop over them made gather hot enough for V8 to compile
 * it during the timed passes (twice, once more after a deoptimisation), the
 * compiler's thread taking a core from a device for about 10 ms each time.
 */
export function firstUncovered(range: Range, parts: readonly Range[]): number {
  const sorted = [...parts].sort((a, b) => a[0] - b[0]);
  let reached = range[0];
  for (let i = 0; i < sorted.length && reached < range[1]; i++) {
    if (sorted[i][0] > reached) return reached;
    reached = Math.max(reached, sorted[i][1]);
  }
  return reached < range[1] ? reached : -1;
}

/**
 * Channels `range` of the whole tensor, copied out of `pieces` (which must
 * cover the range between them; overlaps are fine, the later piece's values
 * land) into a new array, or into `into` when given (a buffer in a device's
 * own memory). Copies whole channel planes, so values are exactly the pieces'
 * values. Refuses, before copying anything, pieces that do not cover the
 * range or do not match the first one's images and planes.
 */
export function gather(pieces: readonly Activation[], range: Range, into?: Float32Array): Activation {
  if (pieces.length === 0) throw errors.deviceProtocol('gather: no pieces');
  const [N] = pieces[0].shape;
  const plane = planeOf(pieces[0].shape);
  const channels = rangeLength(range);
  const size = N * channels * plane;
  if (into && into.length !== size) throw errors.deviceProtocol(`gather: the destination holds ${into.length} values, not ${size}`);
  const parts: (Range | null)[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    const within = overlap(rangeOf(piece), range);
    if (within && (piece.shape[0] !== N || planeOf(piece.shape) !== plane)) {
      throw errors.deviceProtocol(`gather: piece of shape [${piece.shape}] does not match [${pieces[0].shape}]`);
    }
    parts.push(within);
  }
  const missing = firstUncovered(range, parts.filter((p): p is Range => p !== null));
  if (missing >= 0) throw errors.deviceProtocol(`gather: channel ${missing} of [${range[0]}, ${range[1]}) is in none of the pieces`);
  const data = into ?? new Float32Array(size);
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    const within = parts[i];
    if (!within) continue;
    const held = piece.shape[1];
    const count = rangeLength(within) * plane;
    for (let n = 0; n < N; n++) {
      const from = (n * held + (within[0] - piece.start)) * plane;
      const to = (n * channels + (within[0] - range[0])) * plane;
      data.set(piece.data.subarray(from, from + count), to);
    }
  }
  return { shape: [N, channels, ...pieces[0].shape.slice(2)], data, start: range[0] };
}

/** Bytes of `range` of an activation whose per-sample channel plane is `plane`, for a batch of N. */
export function rangeBytes(range: Range, batch: number, plane: number): number {
  return rangeLength(range) * batch * plane * 4;
}
