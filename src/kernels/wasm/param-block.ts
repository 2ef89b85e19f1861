// The layout of a plan's parameter block: the geometry and layout a kernel
// entry point reads, written once at planning into the arena (plan/parameters.ts)
// and read by the entry points (assembly/entries.ts). This file is imported by
// both the TypeScript and the AssemblyScript sides, so it holds only plain
// numeric constants, which compile the same under tsc and asc: each field is
// an i32 at the byte offset given here.
//
// Only what a plan fixes lives here. What changes from call to call (tensor
// and scratch addresses, the slice) is passed as arguments: the same plan runs
// on several threads at once, each on its own slice.

// Every microkernel.
export const IN_CHANNELS = 0;
export const IN_HEIGHT = 4;
export const IN_WIDTH = 8;
export const OUT_CHANNELS = 12;
export const OUT_HEIGHT = 16;
export const OUT_WIDTH = 20;
export const IN_CHANNELS_PER_GROUP = 24;
export const OUT_CHANNELS_PER_GROUP = 28;
export const PAD_TOP = 32;
export const PAD_LEFT = 36;
/** Byte offset of the packed weights. */
export const WEIGHTS = 40;

// The direct microkernels (tap table over phase planes).
/** Byte offset of the tap table. */
export const TAPS = 44;
export const TAP_COUNT = 48;
export const STRIDE_H = 52;
export const STRIDE_W = 56;
export const PLANE_HEIGHT = 60;
export const PLANE_WIDTH = 64;
/** Floats between input channels in the phase-plane copy. */
export const CHANNEL_STRIDE = 68;
/** 1: the input is read in place (stride 1, no padding), no phase-plane copy. */
export const DIRECT_INPUT = 72;
/** Bytes between consecutive taps when uniform (1x1 kernels), else 0. */
export const TAP_STEP = 76;
/** Rows the tiles run over, and their width: 1 x positions in plane mode, outHeight x outWidth in row mode. */
export const ROWS_HEIGHT = 80;
export const ROWS_WIDTH = 84;
/** 1: plane mode computes plane-layout rows into scratch, whose valid columns are then copied out. */
export const COPY_OUT = 88;

// Winograd.
/** 3x3 sub-kernels the kernel is cut into, down and across. */
export const SUB_KERNELS_HIGH = 92;
export const SUB_KERNELS_WIDE = 96;

// The epilogue (every microkernel): y = act(conv + bias [+ residual]), applied
// to each output element right after the kernel has written it.
/** The activation: one of the EPILOGUE_* codes below. */
export const ACTIVATION = 100;
/** The activation's two parameters, as f32 bits: clip's bounds, hardsigmoid's alpha and beta (the other activations ignore them). */
export const ACTIVATION_MIN = 104;
export const ACTIVATION_MAX = 108;

/** ACTIVATION codes (src/kernels/epilogue.ts names them). */
export const EPILOGUE_NONE = 0;
export const EPILOGUE_RELU = 1;
export const EPILOGUE_CLIP = 2;
export const EPILOGUE_HARDSWISH = 3;
export const EPILOGUE_SIGMOID = 4;
export const EPILOGUE_SILU = 5;
export const EPILOGUE_HARDSIGMOID = 6;

/**
 * Bytes reserved for the block (the fields above take 112): a multiple of 64,
 * so a tap table placed right after it keeps the arena's 64-byte alignment.
 */
export const PARAM_BLOCK_BYTES = 128;
