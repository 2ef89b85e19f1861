// groupconv's WebAssembly SIMD kernels (AssemblyScript): the entry points.
// Build: `npm run build:wasm` compiles this file (and what it imports) into
// conv.wasm (plain SIMD) and conv-fma.wasm (relaxed SIMD's fused multiply-add).
//
// The plan (src/kernels/plan/) chooses one microkernel per layer, once, and
// calls its entry point by name: each entry point runs one microkernel and
// decides nothing the plan already decided. Its first argument is the plan's
// parameter block (layout: ../param-block.ts, read only here); the others are
// what changes from call to call: the tensors', bias', residual's (0: none)
// and scratch's byte offsets and the slice (images [batchStart, batchEnd) x
// output channels [ocStart, ocEnd)). Every microkernel ends with the plan's
// epilogue (epilogue.ts): y = act(conv + bias [+ residual]).
//
// Rules that keep this safe on memory shared by several threads:
// - nothing is allocated: every pointer (tensors, packed weights, tap table,
//   scratch) is a byte offset the caller owns, and the parameter block is
//   only read, so one plan runs on several threads at once;
// - every output element is bias + the taps in tap-table order, each tap one
//   madd / maddScalar (primitives.ts; fused in the relaxed-SIMD build, multiply
//   then add in the plain one), whichever microkernel, tile or scalar tail
//   computes it, so results are bitwise independent of how the output is sliced.

import {
  ACTIVATION, ACTIVATION_MAX, ACTIVATION_MIN, CHANNEL_STRIDE, COPY_OUT, DIRECT_INPUT, IN_CHANNELS, IN_CHANNELS_PER_GROUP, IN_HEIGHT, IN_WIDTH, OUT_CHANNELS, OUT_CHANNELS_PER_GROUP,
  OUT_HEIGHT, OUT_WIDTH, PAD_LEFT, PAD_TOP, PLANE_HEIGHT, PLANE_WIDTH, ROWS_HEIGHT, ROWS_WIDTH, STRIDE_H, STRIDE_W, SUB_KERNELS_HIGH,
  SUB_KERNELS_WIDE, TAP_COUNT, TAP_STEP, TAPS, WEIGHTS,
} from '../param-block';
import { depthwise3x3InPlaceSlice, depthwise3x3Stride2InPlaceSlice } from './depthwise';
import { directSlice, SINGLE_3X3_ROWS, SINGLE_TAPS9, SINGLE_TILES } from './direct';
import { winogradSlice } from './winograd';

export { linearRows } from './linear';
// Exported for test/kernels-planes.test.ts, which checks the layout against a plain reference.
export { buildPlanes } from './planes';

@inline function field(params: usize, offset: usize): i32 {
  return load<i32>(params + offset);
}

@inline function floatField(params: usize, offset: usize): f32 {
  return load<f32>(params + offset);
}

/** A direct microkernel: the plan's fields, then the tiles `strided` and `single` select. */
@inline function direct_(
  params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32,
  strided: bool, single: i32,
): void {
  directSlice(
    input, output, bias, <usize>field(params, WEIGHTS), <usize>field(params, TAPS), scratch,
    field(params, IN_CHANNELS), field(params, IN_HEIGHT), field(params, IN_WIDTH),
    field(params, OUT_CHANNELS), field(params, OUT_HEIGHT), field(params, OUT_WIDTH),
    field(params, IN_CHANNELS_PER_GROUP), field(params, OUT_CHANNELS_PER_GROUP), field(params, TAP_COUNT),
    field(params, STRIDE_H), field(params, STRIDE_W), field(params, PAD_TOP), field(params, PAD_LEFT),
    field(params, PLANE_HEIGHT), field(params, PLANE_WIDTH), field(params, CHANNEL_STRIDE),
    field(params, DIRECT_INPUT) != 0, field(params, TAP_STEP), field(params, ROWS_HEIGHT), field(params, ROWS_WIDTH), field(params, COPY_OUT) != 0,
    batchStart, batchEnd, ocStart, ocEnd,
    residual, field(params, ACTIVATION), floatField(params, ACTIVATION_MIN), floatField(params, ACTIVATION_MAX),
    strided, single,
  );
}

/** The tap-table tiles: 4x8 for 4-channel blocks, 1x16 down to scalar for single channels. */
export function direct(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  direct_(params, input, output, bias, residual, scratch, batchStart, batchEnd, ocStart, ocEnd, false, SINGLE_TILES);
}

/** direct, single channels through the nine-tap tiles (depthwise 3x3 at a stride or dilation, or read in place). */
export function depthwiseTaps9(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  direct_(params, input, output, bias, residual, scratch, batchStart, batchEnd, ocStart, ocEnd, false, SINGLE_TAPS9);
}

/** direct, single channels through the nine-tap tiles on three row pointers (depthwise 3x3 at stride 1 over padded planes). */
export function depthwise3x3Rows(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  direct_(params, input, output, bias, residual, scratch, batchStart, batchEnd, ocStart, ocEnd, false, SINGLE_3X3_ROWS);
}

/** Taps a uniform step apart (1x1 kernels): strided 4x8 tiles, leftover channels in pairs by the 2x16 tile. */
export function pointwiseStrided(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  direct_(params, input, output, bias, residual, scratch, batchStart, batchEnd, ocStart, ocEnd, true, SINGLE_TILES);
}

/** pointwiseStrided with nine taps (1x1 over 9 channels, 1x9 and 9x1 kernels): single channels through the nine-tap tiles. */
export function pointwiseStridedTaps9(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  direct_(params, input, output, bias, residual, scratch, batchStart, batchEnd, ocStart, ocEnd, true, SINGLE_TAPS9);
}

/** Depthwise 3x3, stride 1, padding 1, under 4 output channels per group: the input read in place, no padded copy. */
export function depthwise3x3InPlace(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  depthwise3x3InPlaceSlice(
    input, output, bias, <usize>field(params, WEIGHTS), scratch,
    field(params, IN_CHANNELS), field(params, IN_HEIGHT), field(params, IN_WIDTH), field(params, OUT_CHANNELS), field(params, OUT_CHANNELS_PER_GROUP),
    batchStart, batchEnd, ocStart, ocEnd,
    residual, field(params, ACTIVATION), floatField(params, ACTIVATION_MIN), floatField(params, ACTIVATION_MAX),
  );
}

/** Depthwise 3x3, stride 2, padding 1, under 4 output channels per group: the input read in place, no phase planes. */
export function depthwise3x3Stride2InPlace(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  depthwise3x3Stride2InPlaceSlice(
    input, output, bias, <usize>field(params, WEIGHTS), scratch,
    field(params, IN_CHANNELS), field(params, IN_HEIGHT), field(params, IN_WIDTH),
    field(params, OUT_CHANNELS), field(params, OUT_HEIGHT), field(params, OUT_WIDTH), field(params, OUT_CHANNELS_PER_GROUP),
    batchStart, batchEnd, ocStart, ocEnd,
    residual, field(params, ACTIVATION), floatField(params, ACTIVATION_MIN), floatField(params, ACTIVATION_MAX),
  );
}

/** Winograd F(2x2, 3x3) over 3x3 sub-kernels (stride 1, dilation 1; winograd.ts). */
export function winograd(params: usize, input: usize, output: usize, bias: usize, residual: usize, scratch: usize, batchStart: i32, batchEnd: i32, ocStart: i32, ocEnd: i32): void {
  winogradSlice(
    input, output, bias, <usize>field(params, WEIGHTS), scratch,
    field(params, IN_CHANNELS), field(params, IN_HEIGHT), field(params, IN_WIDTH),
    field(params, OUT_CHANNELS), field(params, OUT_HEIGHT), field(params, OUT_WIDTH),
    field(params, IN_CHANNELS_PER_GROUP), field(params, OUT_CHANNELS_PER_GROUP),
    field(params, SUB_KERNELS_HIGH), field(params, SUB_KERNELS_WIDE), field(params, PAD_TOP), field(params, PAD_LEFT),
    batchStart, batchEnd, ocStart, ocEnd,
    residual, field(params, ACTIVATION), floatField(params, ACTIVATION_MIN), floatField(params, ACTIVATION_MAX),
  );
}

// LRN, max pooling and ReLU (the fast path of AlexNet's other layers).
export { lrnBeta075 } from './lrn';
export { maxPoolStride1, maxPoolStride2, maxPoolStrided } from './pooling';
export { reluFloats } from './activation';
export { expFloats } from './exp';

// The ranged kernels' SIMD loops (ranged/pool.ts's GlobalAveragePool, ranged/binary.ts's Mul by runs,
// ranged/layout.ts's Transpose and Pad rows).
export { globalAveragePlanes } from './global-pool';
export { mulRuns } from './broadcast';
export { padRows, transposeRows } from './layout';
