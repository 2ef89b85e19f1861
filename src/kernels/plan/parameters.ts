// Writes a plan's parameter block: once, at planning, in the layout
// wasm/param-block.ts gives (the entry points read the same constants).
import type { ConvGeometry } from '../../conv/geometry.js';
import { activationCode, NO_ACTIVATION, type Activation } from '../epilogue.js';
import * as field from '../wasm/param-block.js';
import { subKernels } from './selection.js';
import type { PlannedLayout } from './types.js';

export { PARAM_BLOCK_BYTES } from '../wasm/param-block.js';

/** Fills the parameter block at `byteOffset` of `buffer` for a plan of this geometry and layout. */
export function writeParamBlock(
  buffer: ArrayBufferLike,
  byteOffset: number,
  g: ConvGeometry,
  layout: PlannedLayout,
  weightsByteOffset: number,
  tapsByteOffset: number,
  activation: Activation = NO_ACTIVATION,
): void {
  const block = new DataView(buffer, byteOffset, field.PARAM_BLOCK_BYTES);
  const set = (at: number, value: number | boolean) => block.setInt32(at, Number(value), true);
  const [subH, subW] = subKernels(g.kernelHeight, g.kernelWidth);
  set(field.IN_CHANNELS, g.inChannels);
  set(field.IN_HEIGHT, g.inHeight);
  set(field.IN_WIDTH, g.inWidth);
  set(field.OUT_CHANNELS, g.outChannels);
  set(field.OUT_HEIGHT, g.outHeight);
  set(field.OUT_WIDTH, g.outWidth);
  set(field.IN_CHANNELS_PER_GROUP, g.inChannelsPerGroup);
  set(field.OUT_CHANNELS_PER_GROUP, g.outChannelsPerGroup);
  set(field.PAD_TOP, g.padTop);
  set(field.PAD_LEFT, g.padLeft);
  set(field.WEIGHTS, weightsByteOffset);
  set(field.TAPS, tapsByteOffset);
  set(field.TAP_COUNT, layout.tapCount);
  set(field.STRIDE_H, g.strideH);
  set(field.STRIDE_W, g.strideW);
  set(field.PLANE_HEIGHT, layout.planeHeight);
  set(field.PLANE_WIDTH, layout.planeWidth);
  set(field.CHANNEL_STRIDE, layout.channelStride);
  set(field.DIRECT_INPUT, layout.directInput);
  set(field.TAP_STEP, layout.tapStep);
  // Plane mode runs one row of all plane-layout positions; row mode outHeight rows of outWidth.
  set(field.ROWS_HEIGHT, layout.planeMode ? 1 : g.outHeight);
  set(field.ROWS_WIDTH, layout.planeMode ? layout.positions : g.outWidth);
  set(field.COPY_OUT, layout.planeMode && layout.planeWidth !== g.outWidth);
  set(field.SUB_KERNELS_HIGH, subH);
  set(field.SUB_KERNELS_WIDE, subW);
  const epilogue = activationCode(activation);
  set(field.ACTIVATION, epilogue.code);
  block.setFloat32(field.ACTIVATION_MIN, epilogue.min, true);
  block.setFloat32(field.ACTIVATION_MAX, epilogue.max, true);
}
