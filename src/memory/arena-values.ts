// The values of one run of steps on the calling thread (an ONNX model's
// schedule, a zoo model's units), placed in this thread's WebAssembly arena
// rather than in new JavaScript memory.
//
// Why: the WebAssembly kernels read and write only the arena, so an operand
// in ordinary memory is copied in and an output copied out on every call; and
// new memory costs a page fault per 4 KiB on first touch, which on a virtual
// machine that returns freed pages to its host (this one) is about 15 us a page,
// 4 ms per MiB (bench/first-touch.mjs): more than the kernels' own time on most
// layers. Arena blocks are freed
// as soon as no live value reads them and taken again by the next step, so a
// warm forward touches no new memory. docs/benchmarks.md has the figures.
//
// Values may share a block (Reshape, Flatten, Identity return views of their
// input), so a block is freed when the last value reading it is dropped.
import { withOutputAllocator } from '../tensor/tensor.js';
import { sharedArena, type SharedArena } from './arena.js';

/** What a step produces: a tensor or an ONNX value, its elements in `data`. */
interface HasData {
  data: ArrayBufferView;
}

export class ArenaValues {
  private readonly arena: SharedArena | null;
  /** Blocks allocated by this run and not yet freed, with how many live values read each. */
  private readonly readers = new Map<Float32Array, number>();

  constructor() {
    const arena = sharedArena();
    // A worker attached to another thread's arena cannot allocate: its values stay ordinary memory.
    this.arena = arena.canAllocate ? arena : null;
  }

  /** Runs one step with its ops' new outputs (outputArray) in the arena; blocks it allocated that no output reads are freed by settle(). */
  step<T>(run: () => T): T {
    return this.arena ? withOutputAllocator(this.allocate, run) : run();
  }

  /** A value is now live under a name: its block, if it has one, is read once more. */
  hold(value: HasData | undefined): void {
    const block = this.blockOf(value);
    if (block) this.readers.set(block, this.readers.get(block)! + 1);
  }

  /** A live value was dropped: its block is freed when nothing else reads it. */
  drop(value: HasData | undefined): void {
    const block = this.blockOf(value);
    if (!block) return;
    const left = this.readers.get(block)! - 1;
    if (left > 0) this.readers.set(block, left);
    else this.free(block);
  }

  /** Frees the blocks a step allocated that no held value reads (an op's temporaries). */
  settle(): void {
    for (const [block, readers] of this.readers) if (readers === 0) this.free(block);
  }

  /** `value` in memory of its own (a copy when it is in one of this run's blocks): what may outlive the run. */
  detach<V extends HasData>(value: V): V {
    // A block is a Float32Array, so a value in one is a view of floats.
    return this.blockOf(value) ? { ...value, data: (value.data as Float32Array).slice() } : value;
  }

  /** Frees every block still allocated: the run is over, or failed. */
  close(): void {
    for (const block of [...this.readers.keys()]) this.free(block);
  }

  private readonly allocate = (n: number): Float32Array => {
    if (n === 0) return new Float32Array(0);
    let block: Float32Array;
    try {
      block = this.arena!.allocateFloat32(n);
    } catch (error) {
      // The arena could not grow (its 4 GiB limit, or the system refused): ordinary memory still works.
      if (error instanceof RangeError) return new Float32Array(n);
      throw error;
    }
    this.readers.set(block, 0);
    return block;
  };

  private free(block: Float32Array): void {
    this.readers.delete(block);
    this.arena!.release(block);
  }

  /** The block of this run that `value`'s data lies in, if any. */
  private blockOf(value: HasData | undefined): Float32Array | undefined {
    if (!value || this.readers.size === 0 || !this.arena!.owns(value.data)) return undefined;
    const start = value.data.byteOffset;
    for (const block of this.readers.keys()) {
      if (start >= block.byteOffset && start < block.byteOffset + block.byteLength) return block;
    }
    return undefined;
  }
}
