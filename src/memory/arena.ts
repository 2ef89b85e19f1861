// The "device memory" of groupconv: one process-wide shared WebAssembly.Memory.
// Its buffer is a SharedArrayBuffer, so worker threads and WebAssembly kernels
// read and write tensors placed here in place, with no copy. Blocks are freed
// explicitly (dispose) or when the owning Float32Array is garbage collected.

import { errors } from '../errors.js';

const PAGE_BYTES = 65536;
/** Bytes at the bottom of the memory left to WebAssembly modules (static data, stack). */
const RESERVED_LOW_BYTES = 1 << 20;
const ALIGN = 64;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/**
 * The most one tensor can hold: the arena's addressable bytes above its
 * reserved low part. Shared tensors live there, and the WebAssembly kernels
 * stage every operand there, so a larger tensor could never be computed.
 */
export const MAX_TENSOR_BYTES = MAX_PAGES * PAGE_BYTES - RESERVED_LOW_BYTES;

interface Block {
  offset: number;
  bytes: number;
}

export class SharedArena {
  readonly memory: WebAssembly.Memory;
  private top = RESERVED_LOW_BYTES;
  /** Free blocks, sorted by offset, adjacent ones merged. */
  private freeList: Block[] = [];
  private live = new Map<number, number>();
  private liveBytes = 0;
  private peakBytes = 0;
  private readonly registry = new FinalizationRegistry<number>((offset) => this.free(offset));

  /** False in worker threads: only the thread that created the arena allocates (its free list is thread-local). */
  readonly canAllocate: boolean;

  constructor(memory?: WebAssembly.Memory) {
    this.canAllocate = memory === undefined;
    this.memory =
      memory ?? new WebAssembly.Memory({ initial: (RESERVED_LOW_BYTES / PAGE_BYTES) * 2, maximum: MAX_PAGES, shared: true });
  }

  get buffer(): SharedArrayBuffer {
    // V8 hands out a new SharedArrayBuffer object for this memory not only after
    // our own grow but whenever ANY shared WebAssembly.Memory in the process grows:
    // remember every object seen, so views made on an earlier one stay ours (owns()).
    const buffer = this.memory.buffer as unknown as SharedArrayBuffer;
    if (buffer !== this.lastBuffer) {
      if (this.lastBuffer) this.previousBuffers.add(this.lastBuffer);
      this.lastBuffer = buffer;
    }
    return buffer;
  }

  private lastBuffer: SharedArrayBuffer | null = null;

  /** Reserves `bytes` (rounded up to 64) and returns the byte offset. */
  allocate(bytes: number): number {
    if (!this.canAllocate) throw errors.arenaAttached();
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let offset = -1;
    for (let i = 0; i < this.freeList.length; i++) {
      const block = this.freeList[i];
      if (block.bytes >= size) {
        offset = block.offset;
        if (block.bytes === size) this.freeList.splice(i, 1);
        else {
          block.offset += size;
          block.bytes -= size;
        }
        break;
      }
    }
    if (offset < 0) {
      offset = this.top;
      this.ensureCapacity(offset + size);
      this.top += size;
    }
    this.live.set(offset, size);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return offset;
  }

  /**
   * A Float32Array of `length` zeros in shared memory, freed when it is collected.
   * With `{ zero: false }` its contents are whatever the block held before (a freed
   * block's old values): only for memory written in full before it is read (kernel scratch, an engine call's output).
   */
  allocateFloat32(length: number, options?: { zero?: boolean }): Float32Array {
    const offset = this.allocate(length * 4);
    const view = new Float32Array(this.buffer, offset, length);
    if (options?.zero !== false) view.fill(0);
    this.registry.register(view, offset, view);
    return view;
  }

  /** Frees the block behind a view from allocateFloat32 now rather than at collection. */
  release(view: Float32Array): boolean {
    if (!this.owns(view)) return false;
    if (!this.live.has(view.byteOffset)) return false;
    this.registry.unregister(view);
    this.free(view.byteOffset);
    return true;
  }

  /** Frees a block from allocate() by its byte offset (blocks that no typed array owns, e.g. packed kernel weights). */
  releaseBlock(byteOffset: number): boolean {
    if (!this.canAllocate || !this.live.has(byteOffset)) return false;
    this.free(byteOffset);
    return true;
  }

  /** Whether a typed array is a view of this arena's memory. */
  owns(view: ArrayBufferView): boolean {
    // The buffer object seen last first: memory.buffer's getter costs a call into V8 for a shared memory
    // (it checks for growth by any thread): owns() took 0.034 ms of a 3.3 ms shufflenet_v2 forward at batch 1.
    if (view.buffer === this.lastBuffer) return true;
    // After a grow, memory.buffer is a new SharedArrayBuffer object over the same
    // memory, so compare by identity with the current buffer or by growing history.
    return view.buffer === this.buffer || this.previousBuffers.has(view.buffer as SharedArrayBuffer);
  }

  stats(): { liveBytes: number; peakBytes: number; capacityBytes: number; blocks: number } {
    return { liveBytes: this.liveBytes, peakBytes: this.peakBytes, capacityBytes: this.buffer.byteLength, blocks: this.live.size };
  }

  private previousBuffers = new WeakSet<SharedArrayBuffer>();

  private ensureCapacity(endByte: number): void {
    const current = this.buffer.byteLength;
    if (endByte <= current) return;
    const maxBytes = MAX_PAGES * PAGE_BYTES;
    if (endByte > maxBytes) throw errors.arenaExhausted(endByte - current, current, maxBytes);
    // Grow geometrically so repeated allocations do not grow page by page,
    // but never past the limit, and fall back to the exact need.
    const wanted = Math.min(maxBytes, Math.max(endByte, Math.min(current * 2, current + (512 << 20))));
    const needed = Math.ceil((endByte - current) / PAGE_BYTES);
    this.previousBuffers.add(this.buffer);
    try {
      this.memory.grow(Math.ceil((wanted - current) / PAGE_BYTES));
    } catch {
      try {
        this.memory.grow(needed);
      } catch {
        throw errors.arenaExhausted(endByte - current, current, maxBytes);
      }
    }
  }

  private free(offset: number): void {
    const size = this.live.get(offset);
    if (size === undefined) return;
    this.live.delete(offset);
    this.liveBytes -= size;
    // Insert sorted and merge with neighbours.
    let i = 0;
    while (i < this.freeList.length && this.freeList[i].offset < offset) i++;
    this.freeList.splice(i, 0, { offset, bytes: size });
    const next = this.freeList[i + 1];
    if (next && offset + size === next.offset) {
      this.freeList[i].bytes += next.bytes;
      this.freeList.splice(i + 1, 1);
    }
    const prev = this.freeList[i - 1];
    if (prev && prev.offset + prev.bytes === offset) {
      prev.bytes += this.freeList[i].bytes;
      this.freeList.splice(i, 1);
    }
    const last = this.freeList[this.freeList.length - 1];
    if (last && last.offset + last.bytes === this.top) {
      this.top = last.offset;
      this.freeList.pop();
    }
  }
}

let arena: SharedArena | undefined;

/**
 * In a worker thread: use the main thread's memory (sent in workerData) as this
 * thread's arena, so views and kernels address the same bytes.
 */
export function attachSharedArena(memory: WebAssembly.Memory): SharedArena {
  if (arena && arena.memory !== memory) throw errors.arenaAttachedTwice();
  arena ??= new SharedArena(memory);
  return arena;
}

/** A Float32Array view of `length` floats at `byteOffset` in the shared arena. */
export function arenaView(byteOffset: number, length: number): Float32Array {
  return new Float32Array(sharedArena().buffer, byteOffset, length);
}

/** The process-wide arena shared by the engine's workers and the WebAssembly kernels. */
export function sharedArena(): SharedArena {
  arena ??= new SharedArena();
  return arena;
}
