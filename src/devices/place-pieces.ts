// Received pieces copied into a layer's input that already holds the device's
// own share: the layer before wrote its output straight into that layout
// (compute.ts runPieceInto), so assembling the input copies only what came
// from the peers, not the own share again.
import { errors } from '../errors.js';
import { firstUncovered, overlap, rangeLength, rangeOf, type Activation, type Range } from './channel-range.js';

/**
 * Copies each of `pieces` into its channels of `target` (a tensor of the
 * layer's whole input range, [N, channels, ...spatial]), whose channels
 * `filled` are written already. Refuses, before copying anything, pieces that
 * do not match the target's images and planes, or that leave a channel of
 * the target unwritten.
 */
export function placePieces(target: Activation, filled: Range, pieces: readonly Activation[]): void {
  const [N, channels] = target.shape;
  const plane = target.data.length / (N * channels);
  const range = rangeOf(target);
  const parts: Range[] = [filled];
  for (const piece of pieces) {
    if (piece.shape[0] !== N || piece.data.length !== N * piece.shape[1] * plane) {
      throw errors.deviceProtocol(`placePieces: piece of shape [${piece.shape}] does not match the input [${target.shape}]`);
    }
    parts.push(rangeOf(piece));
  }
  const missing = firstUncovered(range, parts);
  if (missing >= 0) throw errors.deviceProtocol(`placePieces: channel ${missing} of [${range[0]}, ${range[1]}) is neither held nor received`);
  for (const piece of pieces) {
    const part = overlap(rangeOf(piece), range);
    if (!part) continue;
    const count = rangeLength(part) * plane;
    const held = piece.shape[1];
    for (let n = 0; n < N; n++) {
      const from = (n * held + (part[0] - piece.start)) * plane;
      const to = (n * channels + (part[0] - range[0])) * plane;
      target.data.set(piece.data.subarray(from, from + count), to);
    }
  }
}
