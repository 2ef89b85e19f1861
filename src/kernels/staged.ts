// Running a layer kernel (LRN, max pooling, ReLU) on arrays that may or may
// not live in the shared arena: what linear.ts does for the fully connected
// kernel, shared by the three.
import { sharedArena } from '../memory/arena.js';
import { Operands } from './operands.js';
import { lentScratchFloats } from './thread-scratch.js';

/**
 * Calls `kernel` with the arena addresses of `input`, `output` and a scratch
 * block of `scratchFloats` floats (0: none, address 0). Arrays outside the
 * arena are staged through temporary blocks, the output copied back; an
 * output staged whole is copied in first when the kernel writes only part of
 * it (`outputPartly`). Returns false, having run nothing, when this thread can
 * neither use the arrays in place nor stage them (a worker attached to
 * another thread's arena): the caller then computes in JavaScript.
 */
export function runStaged(
  input: Float32Array,
  output: Float32Array,
  scratchFloats: number,
  outputPartly: boolean,
  kernel: (inputAt: number, outputAt: number, scratchAt: number) => void,
): boolean {
  const arena = sharedArena();
  // A thread that cannot allocate runs only on arena operands, with scratch lent to it (thread-scratch.ts).
  if (!arena.canAllocate && !(arena.owns(input) && arena.owns(output) && (scratchFloats === 0 || scratchFloats <= lentScratchFloats()))) return false;
  const operands = new Operands();
  try {
    const inputAt = operands.address(input, true);
    const outputInPlace = arena.owns(output);
    // In place (output is input) the staged input is the output too.
    const outputAt = output === input ? inputAt : operands.address(output, outputPartly);
    const scratchAt = scratchFloats > 0 ? operands.temporaryBlock(scratchFloats) : 0;
    kernel(inputAt, outputAt, scratchAt);
    if (!outputInPlace) output.set(new Float32Array(arena.buffer, outputAt, output.length));
  } finally {
    operands.release();
  }
  return true;
}
