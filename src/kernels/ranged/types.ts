// A ranged kernel computes units [start, end) of one operation's output from
// its whole inputs. Units are independent: any split of [0, units) into
// ranges, each run once, on any threads, writes the same bits as one run over
// all of them. That is what lets the engine's workers share a layer that is not
// a convolution (pooling, elementwise, concat, shuffle, ...) the way they share
// a convolution's groups, and what keeps every worker count bitwise equal.

/** Numbers a kernel needs besides the tensors (shapes, strides, attributes), fixed for one input shape. Structured-clonable. */
export type RangedParams = Record<string, number | readonly number[]>;

/** One operation compiled for one input shape: everything a worker needs besides the tensors. */
export interface RangedOp {
  /** Which kernel runs it: a key of RANGED_KERNELS (index.ts). */
  kernel: string;
  params: RangedParams;
  /** Independent units the output splits into (element blocks, planes, rows, ...). */
  units: number;
  /** Estimated element operations per unit, so a caller can put several cheap units in one task. */
  costPerUnit: number;
  /** Floats of arena scratch one task needs (max pooling's padded rows): an engine program gives its runners that much, as workers cannot allocate. */
  scratchFloats?: number;
  /**
   * Units the kernel computes side by side in one pass, a pass over fewer taking as long (the global average
   * pool's 16 planes, one a lane): an engine program cuts the op's units into runs of whole blocks of this many.
   */
  unitBlock?: number;
}

/** Computes units [start, end) of `outputs` from `inputs`; writes nothing outside those units. */
export type RangedKernel = (params: RangedParams, inputs: readonly Float32Array[], outputs: readonly Float32Array[], start: number, end: number) => void;
