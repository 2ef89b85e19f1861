// The public API of groupconv. Everything a user imports comes from here.
export { ArgumentError, ExecutionError } from './errors.js';
export type { Tensor, AllocationOptions } from './tensor/tensor.js';
export { zeros, tensor, clone, numel, stridesOf, toShared, isShared, dispose } from './tensor/tensor.js';
export type { TensorView } from './tensor/view.js';
export { viewOf, channelRange, channelGroup, materialize, at } from './tensor/view.js';
export { sharedArena, SharedArena } from './memory/arena.js';
export type { Conv2dOptions, ConvGeometry, ConvSlice, Pair, Padding } from './conv/geometry.js';
export { resolveConv2d, resolveShapes, checkConvOptions, convFlops, sliceMacs, fullSlice, outputShapeOf } from './conv/geometry.js';
export { conv2d, referenceConv2d, conv2dWith } from './conv/conv2d.js';
export type { ConvKernel } from './kernels/kernel.js';
export { referenceKernel } from './kernels/reference.js';
export { channelShuffle } from './ops/channel-shuffle.js';
export { Module, type StateDict } from './layers/module.js';
export { Conv2d, type Conv2dLayerOptions, type ConvRunner } from './layers/conv2d.js';
export { Random } from './random.js';
