// Which kernel a layer gets, decided once at planning: the family (by the
// weight's shape, stride and dilation), the build, plane or row mode, and the
// microkernel whose entry point runs (by the tap table's pattern). The
// WebAssembly entry points re-decide none of it.
import type { ConvGeometry } from '../../conv/geometry.js';
import { nativeKernels } from '../native/index.js';
import { kernelOptions } from '../options.js';
import { hasWasmRelaxedSimd, hasWasmSimd, type WasmMicrokernel, type WasmVariant } from '../wasm/runtime.js';
import type { KernelKind, PlannedLayout } from './types.js';

/** Whether planConv will choose WebAssembly SIMD kernels. */
export function wasmKernelsAvailable(): boolean {
  return !kernelOptions.forceJs && hasWasmSimd();
}

/** GROUPCONV_WASM, read once per process: a process.env lookup goes through an interceptor, and this runs for every kernel call. */
let wasmFromEnvironment: string | null = null;

/**
 * The build new plans use: 'fma' where relaxed SIMD is available, unless
 * kernelOptions.wasmVariant or the environment (GROUPCONV_WASM=simd, for a
 * whole process: read once, at the first call) asks for the plain build.
 */
export function preferredWasmVariant(): WasmVariant {
  if (kernelOptions.wasmVariant) return kernelOptions.wasmVariant;
  wasmFromEnvironment ??= process.env.GROUPCONV_WASM ?? '';
  return wasmFromEnvironment !== 'simd' && hasWasmRelaxedSimd() ? 'fma' : 'simd';
}

/**
 * Whether an activation applied on its own rounds the sigmoid's exp as the
 * kernels in use do in their epilogue (exp.ts): fused multiply-adds where
 * new plans take the relaxed-SIMD build (and so the native kernels), two
 * roundings where they take the plain build or the JavaScript reference
 * kernels. So a convolution then its activation gives the fused layer's bits.
 */
export function epilogueFusesExp(): boolean {
  return wasmKernelsAvailable() && preferredWasmVariant() === 'fma';
}

/**
 * How a layer's weights are packed for the direct kernels: depends only on the
 * weight's shape (input channels per group and kernel size).
 */
function familyOf(inChannelsPerGroup: number, kernelHeight: number, kernelWidth: number): KernelKind {
  if (!wasmKernelsAvailable()) return 'reference';
  if (inChannelsPerGroup === 1) return 'depthwise';
  if (kernelHeight === 1 && kernelWidth === 1) return 'pointwise';
  if (inChannelsPerGroup <= 16) return 'small-groups';
  return 'general';
}

/**
 * The kernel depends on the weight's shape, stride and dilation, never on the
 * output channel count or the input's size: a layer cut by output channels (an
 * engine slice, a device's piece) runs the same kind as the whole layer.
 */
export function kindFor(inChannelsPerGroup: number, kernelHeight: number, kernelWidth: number, stride: readonly [number, number], dilation: readonly [number, number]): KernelKind {
  const kind = familyOf(inChannelsPerGroup, kernelHeight, kernelWidth);
  const minChannels = kernelOptions.winogradMinChannels;
  if (
    (kind === 'small-groups' || kind === 'general') &&
    minChannels !== null &&
    !nativeDirectRuns(kernelHeight, kernelWidth) &&
    inChannelsPerGroup >= minChannels &&
    winogradPays(kernelHeight, kernelWidth) &&
    stride[0] === 1 &&
    stride[1] === 1 &&
    dilation[0] === 1 &&
    dilation[1] === 1
  ) {
    return 'winograd';
  }
  return kind;
}

/**
 * Whether the native kernels will run this direct convolution (stride 1 here;
 * run.ts, nativeKindOf, 'dense'): then it stays direct, not Winograd. The native
 * direct kernel ran AlexNet's conv2-conv5 and ResNet's 3x3 layers 2.0-2.9x
 * faster than WebAssembly's Winograd at batch 8 (docs/benchmarks.md), and it
 * gives the direct kernels' bits, the same with or without the native kernels.
 * Without them (no build, another CPU, configureKernels({ native: false })),
 * Winograd stays, with its own bits, as before.
 */
function nativeDirectRuns(kernelHeight: number, kernelWidth: number): boolean {
  return kernelHeight === kernelWidth && nativeDirectConvolutions();
}

/** Whether the native kernels run direct convolutions in this thread (built, this CPU, the FMA build, the switch on): Winograd then gives way to them. */
export function nativeDirectConvolutions(): boolean {
  return preferredWasmVariant() === 'fma' && nativeKernels() !== null;
}

/** 3x3 sub-kernels a kernel is cut into for Winograd: ceil(kH / 3) x ceil(kW / 3). */
export const subKernels = (kernelHeight: number, kernelWidth: number): [number, number] => [Math.ceil(kernelHeight / 3), Math.ceil(kernelWidth / 3)];

/**
 * Winograd when its multiply-adds (16 per sub-kernel per 2x2 outputs) are at
 * most 65% of the direct kernel's (kH * kW per output): 3x3 (44%), 5x5 (64%),
 * 3x5, 6x6; not 7x7 (73%), 4x4 (100%) or anything thinner than 3.
 */
function winogradPays(kernelHeight: number, kernelWidth: number): boolean {
  const [subH, subW] = subKernels(kernelHeight, kernelWidth);
  return kernelHeight >= 3 && kernelWidth >= 3 && 16 * subH * subW * 100 <= 65 * 4 * kernelHeight * kernelWidth;
}

/** The kernel planConv chooses for this geometry. */
export function convKernelKind(g: ConvGeometry): KernelKind {
  return kindFor(g.inChannelsPerGroup, g.kernelHeight, g.kernelWidth, [g.strideH, g.strideW], [g.dilationH, g.dilationW]);
}

/**
 * Plane mode tiles a channel's positions as one long row with planeWidth -
 * outWidth extra columns per row, then copies the valid ones out; row mode
 * tiles each output row and ends it with shorter, less efficient tiles. A
 * rough cost in 4-channel x 8-position tiles (a 4-position tile ~0.6 of one,
 * the copy ~8%), fitted to A/B timings of the suite: plane mode wins on
 * narrow rows such as 13x13, and is free when planeWidth == outWidth.
 */
export function choosePlaneMode(g: ConvGeometry, planeWidth: number): boolean {
  if (kernelOptions.planeMode !== null) return kernelOptions.planeMode;
  if (planeWidth === g.outWidth) return true;
  if (g.outChannelsPerGroup < 4) return false;
  const rowCost = g.outHeight * (Math.floor(g.outWidth / 8) + 0.6 * Math.ceil((g.outWidth % 8) / 4));
  const planeCost = (((g.outHeight - 1) * planeWidth + g.outWidth) / 8) * 1.08;
  return planeCost < rowCost;
}

/** Floats of zeroed slack after the phase planes (PLANE_SLACK in wasm/assembly/planes.ts). */
export const PLANE_SLACK = 4;

/**
 * Depthwise 3x3 with padding 1 reads its input in place (no padded copy) at
 * stride 1 ('same') and at stride 2 (no phase planes), where the scratch sized
 * for the planes holds what it reads for the padding (stride 1: a zero row, a
 * spare row and a 32-float window; stride 2: a zero row and a 48-float
 * window), and each channel's 9 weights are consecutive (under 4 output
 * channels per group: no 4-channel blocks). Null where the planes' kernels run.
 */
function depthwise3x3InPlaceKernel(g: ConvGeometry, layout: PlannedLayout): 'depthwise3x3InPlace' | 'depthwise3x3Stride2InPlace' | null {
  const inPlace =
    g.inChannelsPerGroup === 1 &&
    g.outChannelsPerGroup < 4 &&
    g.kernelHeight === 3 &&
    g.kernelWidth === 3 &&
    g.dilationH === 1 &&
    g.dilationW === 1 &&
    g.padTop === 1 &&
    g.padLeft === 1 &&
    g.padBottom === 1 &&
    g.padRight === 1 &&
    !layout.directInput;
  if (!inPlace) return null;
  const scratch = layout.channelStride + PLANE_SLACK;
  if (g.strideH === 1 && g.strideW === 1 && scratch >= 2 * g.inWidth + 32) return 'depthwise3x3InPlace';
  if (g.strideH === 2 && g.strideW === 2 && scratch >= g.inWidth + 48) return 'depthwise3x3Stride2InPlace';
  return null;
}

/**
 * The microkernel for a WebAssembly plan, from its family, geometry and tap
 * pattern. Single channels of a nine-tap kernel take the nine-tap tiles (their
 * weights and offsets in registers), on three row pointers when the taps are
 * three runs of adjacent floats over planes with slack; taps a uniform step
 * apart take the strided tiles. Every microkernel computes each output as
 * bias + the taps in order, so the choice changes speed, never bits.
 */
export function chooseMicrokernel(kind: KernelKind, g: ConvGeometry, layout: PlannedLayout): WasmMicrokernel {
  if (kind === 'winograd') return 'winograd';
  const inPlace = depthwise3x3InPlaceKernel(g, layout);
  if (inPlace) return inPlace;
  const nineTaps = layout.tapCount === 9;
  if (layout.tapStep !== 0) return nineTaps ? 'pointwiseStridedTaps9' : 'pointwiseStrided';
  if (!nineTaps) return 'direct';
  // The row pointers' last, masked vector reads past the row: only into the planes' slack.
  return layout.threeRuns && !layout.directInput ? 'depthwise3x3Rows' : 'depthwiseTaps9';
}
