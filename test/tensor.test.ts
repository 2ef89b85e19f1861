import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  at,
  channelGroup,
  channelRange,
  dispose,
  isShared,
  materialize,
  sharedArena,
  stridesOf,
  tensor,
  toShared,
  zeros,
} from '../src/index.js';

const arange = (shape: number[]) => tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i), shape);

describe('tensors', () => {
  it('row-major strides', () => {
    expect(stridesOf([2, 3, 4, 5])).toEqual([60, 20, 5, 1]);
  });

  it('tensor() checks the value count against the shape', () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(ArgumentError);
  });

  it('shared tensors live in the arena SharedArrayBuffer and copies leave the source alone', () => {
    const plain = arange([1, 2, 2, 2]);
    expect(isShared(plain)).toBe(false);
    const shared = toShared(plain);
    expect(isShared(shared)).toBe(true);
    expect(shared.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...shared.data]).toEqual([...plain.data]);
    expect(toShared(shared)).toBe(shared);
    shared.data[0] = 42;
    expect(plain.data[0]).toBe(0);
  });
});

describe('channel views', () => {
  const x = arange([2, 6, 2, 2]);

  it('a channel range is a strided view over the same data, not a copy', () => {
    const v = channelRange(x, 2, 4);
    expect(v.data).toBe(x.data);
    expect(v.shape).toEqual([2, 2, 2, 2]);
    expect(v.offset).toBe(8);
    // batch 1, channel 3 of x (index 1 in the view), position (1, 0)
    expect(at(v, 1, 1, 1, 0)).toBe(((1 * 6 + 3) * 2 + 1) * 2 + 0);
  });

  it('materialize copies a group out in NCHW order', () => {
    const g = materialize(channelGroup(x, 1, 3)); // channels 2..3
    const expected: number[] = [];
    for (let n = 0; n < 2; n++) for (let c = 2; c < 4; c++) for (let i = 0; i < 4; i++) expected.push((n * 6 + c) * 4 + i);
    expect(g.shape).toEqual([2, 2, 2, 2]);
    expect([...g.data]).toEqual(expected);
  });

  it('views of views compose', () => {
    const inner = channelRange(channelRange(x, 1, 5), 1, 3); // channels 2..3
    expect(materialize(inner).data).toEqual(materialize(channelGroup(x, 1, 3)).data);
  });

  it('refuses ranges outside the tensor and groups that do not divide the channels', () => {
    expect(() => channelRange(x, 4, 7)).toThrow(/outside/);
    expect(() => channelGroup(x, 0, 4)).toThrow(/not divisible/);
    expect(() => channelGroup(x, 3, 3)).toThrow(/outside/);
  });
});

describe('shared arena', () => {
  it('reuses freed blocks and tracks live bytes exactly', () => {
    const arena = sharedArena();
    const before = arena.stats().liveBytes;
    const a = zeros([1000], { shared: true });
    const b = zeros([1000], { shared: true });
    expect(arena.stats().liveBytes - before).toBe(2 * 4032); // 4000 bytes rounded up to 64
    const offsetA = a.data.byteOffset;
    dispose(a);
    expect(arena.stats().liveBytes - before).toBe(4032);
    const c = zeros([500], { shared: true });
    expect(c.data.byteOffset).toBe(offsetA); // first fit
    expect([...c.data.subarray(0, 4)]).toEqual([0, 0, 0, 0]); // zeroed on allocation
    dispose(b, c);
    expect(arena.stats().liveBytes).toBe(before);
  });

  it('grows past its initial size and keeps earlier views valid', () => {
    const first = zeros([16], { shared: true });
    first.data[3] = 7;
    const big = zeros([64 << 20], { shared: true }); // 256 MiB forces a grow
    big.data[big.data.length - 1] = 1;
    expect(isShared(first)).toBe(true);
    expect(first.data[3]).toBe(7);
    expect(isShared(big)).toBe(true);
    dispose(first, big);
  });

  it('keeps its tensors shared when another shared WebAssembly.Memory in the process grows', () => {
    const first = zeros([16], { shared: true });
    // Growing any shared memory makes V8 hand out a new buffer object for every shared memory.
    new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true }).grow(1);
    expect(isShared(first)).toBe(true);
    expect(sharedArena().release(first.data)).toBe(true);
  });

  it('an allocation past the 4 GiB limit throws and leaves the arena usable', () => {
    const arena = sharedArena();
    const before = arena.stats();
    expect(() => zeros([2 ** 30 + 1], { shared: true })).toThrow(/shared arena: cannot grow/);
    expect(arena.stats().liveBytes).toBe(before.liveBytes);
    expect(arena.stats().blocks).toBe(before.blocks);
    const next = zeros([8], { shared: true });
    next.data[7] = 3;
    expect(next.data.byteOffset + 32).toBeLessThanOrEqual(arena.stats().capacityBytes);
    dispose(next);
    expect(arena.stats().liveBytes).toBe(before.liveBytes);
  });

  it('dispose of a tensor that is not shared does nothing', () => {
    const plain = zeros([4]);
    dispose(plain);
    expect(plain.data.length).toBe(4);
  });
});
