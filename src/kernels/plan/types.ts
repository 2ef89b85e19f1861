// What a kernel plan is: plain data (it survives structured clone and JSON),
// made once per layer on the main thread and run on any thread, any slice.
import type { ConvGeometry } from '../../conv/geometry.js';
import type { Activation } from '../epilogue.js';
import type { WasmMicrokernel, WasmVariant } from '../wasm/runtime.js';

/**
 * Kernel families, chosen by layer shape and shown by the CLI. The WebAssembly
 * families share one implicit-GEMM core (wasm/assembly/direct.ts) and differ
 * in tiling and in what is copied: depthwise runs one output channel x 16
 * positions per tile (3x3: its 9 weights held in registers), the others 4
 * output channels x 8 positions; a stride-1 unpadded layer (pointwise
 * included) reads its input in place, with no copy. 'winograd'
 * (wasm/assembly/winograd.ts) takes convolutions at stride 1 and dilation 1
 * with at least kernelOptions.winogradMinChannels input channels per group and
 * a kernel it pays for (3x3, 5x5): 16 multiply-adds per 2x2 outputs, input
 * channel and 3x3 sub-kernel instead of kH * kW per output.
 */
export type KernelKind = 'reference' | 'depthwise' | 'pointwise' | 'small-groups' | 'general' | 'winograd';

/** The code a plan runs: one WebAssembly entry point, or the JavaScript reference kernel. */
export type Microkernel = WasmMicrokernel | 'reference';

/** Where the WebAssembly kernel finds its tap table and how it lays out a group's input. */
export interface WasmLayout {
  /** Byte offset in the arena of the plan's parameter block (layout: wasm/param-block.ts). */
  paramsByteOffset: number;
  /** Byte offset in the arena of the tap table: one i32 byte offset per (input channel, ky, kx); 0 for Winograd, which has none. */
  tapsByteOffset: number;
  tapCount: number;
  planeHeight: number;
  planeWidth: number;
  /** Floats between input channels in the phase-plane copy. */
  channelStride: number;
  /** Stride 1 and no padding: the input already has the phase-plane layout and is read in place. */
  directInput: boolean;
  /** Output positions per channel in plane layout: (outHeight - 1) * planeWidth + outWidth. */
  positions: number;
  /** Tile each channel's plane-layout positions as one long row (else output row by row); see wasm/assembly/direct.ts. */
  planeMode: boolean;
  /** Which build runs the plan (fused multiply-add or plain SIMD), fixed at planning so every thread runs the same one. */
  variant: WasmVariant;
  /** Bytes between consecutive taps when that step is the same for all (1x1 kernels): tiles step a pointer, no tap table. 0 otherwise. */
  tapStep: number;
  /** Nine taps in three runs of three adjacent floats (3x3 at stride 1): the depthwise kernel addresses them from three row pointers. */
  threeRuns: boolean;
}

/** A layout before its arena blocks exist. */
export type PlannedLayout = Omit<WasmLayout, 'paramsByteOffset' | 'tapsByteOffset'>;

/**
 * How one convolution will be computed, decided once per layer on the main
 * thread: which kernel, and where its packed weights and parameters live.
 */
export interface KernelPlan {
  /** Kernel family, e.g. 'reference' or 'depthwise'. */
  kind: KernelKind;
  /** The microkernel that runs, chosen with the plan (plan/selection.ts). */
  microkernel: Microkernel;
  geometry: ConvGeometry;
  /** Weights repacked for the kernel, in the shared arena: byte offset and float count. */
  packed: { byteOffset: number; length: number } | null;
  /** Present for the WebAssembly kinds. */
  wasm: WasmLayout | null;
  /**
   * The activation of the epilogue y = act(conv + bias [+ residual]), fixed
   * with the plan (written into the parameter block); absent means none. The
   * residual is the call's (runPlan).
   */
  activation?: Activation;
  /**
   * The packed weights were made by packConvWeights and belong to the caller
   * (who packs a layer once and plans it for several input shapes): releasePlan
   * then frees only the plan's own block (parameters and tap table).
   */
  sharedPacking?: boolean;
}

/**
 * A layer's weights packed for the WebAssembly kernels, made once by
 * packConvWeights and usable by planConv for any input shape of that layer.
 * Plain data (structured-cloneable), like a plan.
 */
export interface PackedConvWeights {
  byteOffset: number;
  /** Floats: outChannels * inChannelsPerGroup * kernelHeight * kernelWidth. */
  length: number;
  kind: Exclude<KernelKind, 'reference'>;
  /** [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth], as the weight. */
  weightShape: [number, number, number, number];
  groups: number;
}
