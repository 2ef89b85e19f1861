// placePieces: the received pieces copied into a layer's input that already
// holds the own share (written there by the layer before, image by image),
// against cutting the whole tensor by hand; and runPieceInto against runPiece.
import { describe, expect, it } from 'vitest';
import { Random } from '../src/index.js';
import { firstUncovered, gather, type Activation } from '../src/devices/channel-range.js';
import { runPiece, runPieceInto } from '../src/devices/compute.js';
import { placePieces } from '../src/devices/place-pieces.js';
import type { DevicePiece } from '../src/devices/split-plan.js';
import { bits, randomTensor } from './support/tensors.js';

const N = 3;
const C = 10;
const plane = 6;
const whole: Activation = { ...randomTensor(new Random(3), [N, C, 2, 3]), start: 0 };
const cut = (start: number, end: number) => gather([whole], [start, end]);

/** Channels [start, end) of `whole` laid out as a target whose channels `own` are written and the rest NaN. */
function target(start: number, end: number, own: [number, number]): Activation {
  const t = cut(start, end);
  for (let n = 0; n < N; n++) {
    for (let c = start; c < end; c++) if (c < own[0] || c >= own[1]) t.data.fill(NaN, (n * (end - start) + c - start) * plane, (n * (end - start) + c - start + 1) * plane);
  }
  return t;
}

describe('placePieces', () => {
  it('copies what each piece holds of the target, beside the channels already there', () => {
    // A device holding [4, 7) whose next layer reads [2, 9): a halo from each side, the pieces wider than needed.
    const t = target(2, 9, [4, 7]);
    placePieces(t, [4, 7], [cut(0, 4), cut(7, 10)]);
    expect(bits(t.data)).toEqual(bits(cut(2, 9).data));
  });

  it('refuses, writing nothing, a channel neither held nor received, or a piece of other images or planes', () => {
    const t = target(2, 9, [4, 7]);
    const before = t.data.slice();
    expect(() => placePieces(t, [4, 7], [cut(0, 4), cut(7, 8)])).toThrow(/channel 8 of \[2, 9\) is neither held nor received/);
    expect(bits(t.data)).toEqual(bits(before));
    const otherImages = { shape: [1, 3, 2, 3], data: new Float32Array(3 * plane), start: 7 };
    expect(() => placePieces(t, [4, 7], [cut(0, 4), otherImages])).toThrow(/piece of shape \[1,3,2,3\] does not match the input \[3,7,2,3\]/);
    expect(bits(t.data)).toEqual(bits(before));
  });
});

describe('gather', () => {
  it('copies channels of a range out of pieces in any order, overlapping ones too (the later piece lands)', () => {
    expect(bits(gather([cut(6, 10), cut(0, 4), cut(3, 7)], [2, 9]).data)).toEqual(bits(cut(2, 9).data));
    const changed = cut(3, 5);
    changed.data.fill(7);
    const got = gather([cut(0, 10), changed], [2, 6]).data;
    expect(Array.from(got.subarray(plane, 3 * plane)).every((v) => v === 7)).toBe(true);
    expect(bits(got.subarray(0, plane))).toEqual(bits(cut(2, 3).data.subarray(0, plane)));
  });

  it('refuses, writing nothing, pieces that leave a channel out or hold other images or planes', () => {
    const into = new Float32Array(N * 7 * plane).fill(NaN);
    expect(() => gather([cut(0, 4), cut(5, 10)], [2, 9], into)).toThrow(/gather: channel 4 of \[2, 9\) is in none of the pieces/);
    expect(() => gather([cut(0, 5)], [2, 9], into)).toThrow(/channel 5 of \[2, 9\)/);
    const otherPlanes = { shape: [N, 5, 4], data: new Float32Array(N * 5 * 4), start: 5 };
    expect(() => gather([cut(0, 5), otherPlanes], [2, 9], into)).toThrow(/piece of shape \[3,5,4\] does not match \[3,5,2,3\]/);
    expect(Array.from(into).every(Number.isNaN)).toBe(true);
  });
});

describe('firstUncovered', () => {
  it.each([
    [[2, 9], [[0, 4], [4, 7], [7, 9]], -1],
    [[2, 9], [[7, 12], [0, 3], [2, 8]], -1],
    [[2, 9], [[0, 4], [5, 9]], 4],
    [[2, 9], [[3, 9]], 2],
    [[2, 9], [[2, 5], [0, 1], [10, 12]], 5],
    [[2, 9], [], 2],
  ] as [[number, number], [number, number][], number][])('%j from %j: %d', (range, parts, first) => {
    expect(firstUncovered(range, parts)).toBe(first);
  });
});

describe('runPieceInto', () => {
  const piece = (op: DevicePiece['op'], produces: [number, number]): DevicePiece => ({ layer: 0, name: 'p', op, needs: produces, produces, weight: null, bias: null, parameters: 0 });
  const input: Activation = { ...randomTensor(new Random(4), [N, 3, 5, 5]), start: 4 };

  it.each([
    ['relu', { kind: 'relu' } as const, 25],
    ['max pooling', { kind: 'maxpool', options: { kernelSize: 3, stride: 2 } } as const, 4],
  ])('writes %s image by image at the own channels of a wider input, the bits of one call', (_, op, outPlane) => {
    const p = piece(op, [4, 7]);
    const once = runPiece(p, input, null, null);
    // The next layer reads [3, 9): the own 3 channels land at offset 1 of 6.
    const into = new Float32Array(N * 6 * outPlane).fill(NaN);
    runPieceInto(p, input, into, 6, 1, outPlane);
    expect(bits(gather([{ shape: [N, 6, outPlane], data: into, start: 3 }], [4, 7]).data)).toEqual(bits(once.data));
    expect(Array.from(gather([{ shape: [N, 6, outPlane], data: into, start: 3 }], [3, 4]).data).every(Number.isNaN)).toBe(true);
  });

  it('refuses a layer that does not run image by image, or a layout the share does not fit', () => {
    const into = new Float32Array(N * 6 * 25);
    expect(() => runPieceInto(piece({ kind: 'linear' }, [4, 7]), input, into, 6, 1, 25)).toThrow(/a linear layer does not run image by image/);
    expect(() => runPieceInto(piece({ kind: 'relu' }, [4, 7]), input, into, 6, 4, 25)).toThrow(/cannot place 3 channels at 4 of 6/);
  });
});
