// What a device does in one forward pass, worked out once from the pieces:
// its runs of layers (each starts at layer 0 or where some device needs
// another's pieces), what it waits for before each run, and what it sends to
// whom after it. The host sends a device its script with the image; the
// device goes through it alone, talking to its peers directly.
import { rangeLength, type Range } from './channel-range.js';
import { transfersInto, type DevicePiece, type LayerShapes } from './split-plan.js';

export interface PassRun {
  from: number;
  to: number;
  /** The peers whose pieces layer `from` needs, and which channels. */
  receive: { from: number; range: Range }[];
  /** After layer `to`: the pieces of its output each peer needs for the next run. */
  send: { to: number; range: Range }[];
}

export interface PassScript {
  runs: PassRun[];
  /** The range of the last layer's output this device returns to the host (its logits). */
  result: Range;
}

/**
 * The layers cut into runs a device can go through without waiting for
 * another: a new run starts at every layer some device must receive pieces
 * for (never with one device, which needs nothing from another).
 */
export function layerRuns(pieces: readonly DevicePiece[][], layerCount: number): [number, number][] {
  const starts = [0];
  for (let layer = 1; layer < layerCount; layer++) if (transfersInto(pieces, layer).some((list) => list.length > 0)) starts.push(layer);
  return starts.map((from, i) => [from, (starts[i + 1] ?? layerCount) - 1]);
}

/** Each device's script for a pass. */
export function passScripts(pieces: readonly DevicePiece[][]): PassScript[] {
  const layerCount = pieces[0].length;
  const runs = layerRuns(pieces, layerCount);
  return pieces.map((own, d) => ({
    runs: runs.map(([from, to], k) => {
      const next = runs[k + 1];
      const sends = next ? transfersInto(pieces, next[0]).flatMap((list, e) => list.filter((t) => t.from === d).map((t) => ({ to: e, range: t.range }))) : [];
      return { from, to, receive: transfersInto(pieces, from)[d], send: sends };
    }),
    result: own[layerCount - 1].produces,
  }));
}

/**
 * Per ordered pair [from][to], the most values one piece from `from` to `to`
 * holds for these layer shapes: the size of the receiver's mailbox for that sender.
 */
export function largestPieces(pieces: readonly DevicePiece[][], shapes: readonly LayerShapes[]): number[][] {
  const largest = pieces.map(() => pieces.map(() => 0));
  for (let layer = 1; layer < shapes.length; layer++) {
    const [batch, , ...spatial] = shapes[layer].input;
    const plane = spatial.reduce((a, b) => a * b, 1);
    transfersInto(pieces, layer).forEach((list, to) => {
      for (const t of list) largest[t.from][to] = Math.max(largest[t.from][to], batch * rangeLength(t.range) * plane);
    });
  }
  return largest;
}
