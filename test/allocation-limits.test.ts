// A convolution output too large for any allocation (blown up by its padding)
// is an ArgumentError naming the shape and the bytes, raised
// before anything is allocated or run, and it leaves everything usable.
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, conv2d, GroupedConvEngine, sharedArena, zeros } from '../src/index.js';
import { MAX_TENSOR_BYTES } from '../src/memory/arena.js';
import { checkAllocatable } from '../src/tensor/tensor.js';

const one = () => zeros([1, 1, 1, 1]);
// PyTorch would make [1, 1, 60001, 60001] (14,400,480,004 bytes) of this.
const hugePadding = { padding: 30000 };
const tooLarge = /output: shape \[1, 1, 60001, 60001\] would take 13\.41 GiB \(14400480004 bytes\), more than one tensor can hold here/;

describe('tensors too large to allocate', () => {
  const engine = new GroupedConvEngine({ workers: 2 });
  afterAll(() => engine.close());

  it('conv2d names the output shape and its bytes, and allocates nothing', () => {
    const before = sharedArena().stats().liveBytes;
    let error: unknown;
    try {
      conv2d(one(), one(), null, hugePadding);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as ArgumentError).argument).toBe('output');
    expect((error as Error).message).toMatch(tooLarge);
    expect(sharedArena().stats().liveBytes).toBe(before);
  });

  it('the engine rejects it the same way, before any task, and runs the next call', async () => {
    await expect(engine.conv2d(one(), one(), null, hugePadding)).rejects.toThrow(tooLarge);
    const layer = engine.layer(one(), null, hugePadding);
    await expect(layer.run(one())).rejects.toThrow(tooLarge);
    layer.close();
    const x = { shape: [1, 1, 2, 2], data: new Float32Array([1, 2, 3, 4]) };
    const w = { shape: [1, 1, 1, 1], data: new Float32Array([2]) };
    expect([...(await engine.conv2d(x, w, null)).data]).toEqual([2, 4, 6, 8]);
  });

  it('the limit is exactly what the shared arena can address above its reserved part', () => {
    expect(MAX_TENSOR_BYTES).toBe(2 ** 32 - 2 ** 20);
    expect(() => checkAllocatable('t', [MAX_TENSOR_BYTES / 4])).not.toThrow();
    expect(() => checkAllocatable('t', [MAX_TENSOR_BYTES / 4 + 1])).toThrow(ArgumentError);
  });
});
