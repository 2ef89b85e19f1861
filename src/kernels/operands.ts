import { errors } from '../errors.js';
import { sharedArena } from '../memory/arena.js';
import { returnLentScratch, takeLentScratch } from './thread-scratch.js';

/**
 * Arena addresses for the kernel's operands: views of the arena are used in
 * place; anything else is staged through temporary arena blocks (main thread
 * only), and the slice's output is copied back.
 */
export class Operands {
  private readonly temporary: number[] = [];
  private readonly arena = sharedArena();

  address(array: Float32Array, copyIn: boolean): number {
    if (this.arena.owns(array)) return array.byteOffset;
    const offset = this.temporaryBlock(array.length);
    if (copyIn) new Float32Array(this.arena.buffer, offset, array.length).set(array);
    return offset;
  }

  private lentTaken = false;

  temporaryBlock(floats: number): number {
    // Scratch lent to this thread first (a program runner's, the calling thread's too when it runs a program
    // itself: an allocation per call there would take the arena's allocator and could grow the memory mid-run).
    const lent = this.lentTaken ? null : takeLentScratch(floats);
    if (lent !== null) {
      this.lentTaken = true;
      return lent;
    }
    if (!this.arena.canAllocate) throw errors.kernelOperandsOutsideArena();
    const offset = this.arena.allocate(Math.max(1, floats) * 4);
    this.temporary.push(offset);
    return offset;
  }

  release(): void {
    if (this.lentTaken) returnLentScratch();
    this.lentTaken = false;
    for (const offset of this.temporary) this.arena.releaseBlock(offset);
  }
}
