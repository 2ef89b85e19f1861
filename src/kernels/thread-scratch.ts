// Scratch lent to a thread that cannot allocate in the arena (an engine
// worker): the runner's own scratch block, which the host sized for the
// program's stages. Without it a kernel that stages scratch (max pooling's
// padded rows) fell back to its JavaScript loop on the workers, ten times
// slower, though it computes the same bits.

let lent: Float32Array | null = null;
let taken = false;

/** Runs `fn` with `scratch` (a view of the arena) lent to the kernels it calls. */
export function withThreadScratch<T>(scratch: Float32Array, fn: () => T): T {
  const previous = lent;
  lent = scratch;
  try {
    return fn();
  } finally {
    lent = previous;
  }
}

/** Floats of lent scratch a kernel could take now (0 when none is lent, or it is in use). */
export function lentScratchFloats(): number {
  return lent !== null && !taken ? lent.length : 0;
}

/** The lent block's byte offset, taken until `returnLentScratch`; null if none fits `floats`. */
export function takeLentScratch(floats: number): number | null {
  if (lent === null || taken || floats > lent.length) return null;
  taken = true;
  return lent.byteOffset;
}

export function returnLentScratch(): void {
  taken = false;
}
