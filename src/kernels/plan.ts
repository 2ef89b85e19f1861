import type { ConvGeometry, ConvSlice } from '../conv/geometry.js';
import { ExecutionError } from '../errors.js';
import { sharedArena } from '../memory/arena.js';
import { Operands } from './operands.js';
import { referenceKernel } from './reference.js';
import { hasWasmSimd, preferredWasmVariant, wasmConvSlice, wasmWinogradSlice, type WasmVariant } from './wasm/runtime.js';

/**
 * Kernel kinds, chosen by layer shape. The WebAssembly kinds share one
 * implicit-GEMM core (see wasm/assembly/conv.ts) and differ in tiling and in
 * what is copied: depthwise runs one output channel x 16 positions per tile
 * (3x3: its 9 weights held in registers), the others 4 output channels x 8
 * positions; a stride-1 unpadded layer (pointwise included) reads its input
 * in place, with no copy. 'winograd' (wasm/assembly/winograd.ts) takes
 * convolutions at stride 1 and dilation 1 with at least WINOGRAD_MIN_CHANNELS
 * input channels per group and a kernel it pays for (winogradPays: 3x3, 5x5):
 * 16 multiply-adds per 2x2 outputs, input channel and 3x3 sub-kernel instead
 * of kH * kW per output.
 */
export type KernelKind = 'reference' | 'depthwise' | 'pointwise' | 'small-groups' | 'general' | 'winograd';

/** Where the WebAssembly kernel finds its tap table and how it lays out a group's input. */
export interface WasmLayout {
  /** Byte offset in the arena of the tap table: one i32 byte offset per (input channel, ky, kx). */
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
  /** Tile each channel's plane-layout positions as one long row (else output row by row); see conv.ts. */
  planeMode: boolean;
  /** Which build runs the plan (fused multiply-add or plain SIMD), fixed at planning so every thread runs the same one. */
  variant: WasmVariant;
  /** Bytes between consecutive taps when that step is the same for all (1x1 kernels): tiles step a pointer, no tap table. 0 otherwise. */
  tapStep: number;
  /** Nine taps in three runs of three adjacent floats (3x3 at stride 1): the depthwise kernel addresses them from three row pointers. */
  threeRuns: boolean;
}

/**
 * How one convolution will be computed, decided once per layer on the main
 * thread: which kernel, and where its packed weights live. A plan is plain
 * data (it survives structured clone), so it can be sent to workers once and
 * run there on any slice.
 */
export interface KernelPlan {
  /** Kernel name, e.g. 'reference' or 'depthwise'. */
  kind: KernelKind;
  geometry: ConvGeometry;
  /** Weights repacked for the kernel, in the shared arena: byte offset and float count. */
  packed: { byteOffset: number; length: number } | null;
  /** Present for the WebAssembly kinds. */
  wasm: WasmLayout | null;
  /**
   * The packed weights were made by packConvWeights and belong to the caller
   * (who packs a layer once and plans it for several input shapes): releasePlan
   * then frees only the tap table.
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

let forceJs = false;

/**
 * Internal switch (tests, benchmarks): plan the JavaScript reference kernel
 * even where WebAssembly SIMD is available, as on a runtime without it.
 */
export function setForceJsKernels(force: boolean): void {
  forceJs = force;
}

/** Whether planConv will choose WebAssembly SIMD kernels. */
export function wasmKernelsAvailable(): boolean {
  return !forceJs && hasWasmSimd();
}

/**
 * How a layer's weights are packed for the direct kernels: depends only on the
 * weight's shape (input channels per group and kernel size).
 */
function chooseKind(inChannelsPerGroup: number, kernelHeight: number, kernelWidth: number): KernelKind {
  if (!wasmKernelsAvailable()) return 'reference';
  if (inChannelsPerGroup === 1) return 'depthwise';
  if (kernelHeight === 1 && kernelWidth === 1) return 'pointwise';
  if (inChannelsPerGroup <= 16) return 'small-groups';
  return 'general';
}

/**
 * Fewest input channels per group for Winograd: each tile's input transform is
 * paid once per input channel and shared by the group's output channels, and
 * the product's inner dimension is this count.
 */
const WINOGRAD_MIN_CHANNELS = 32;
let winogradMinChannels: number | null = WINOGRAD_MIN_CHANNELS;

/**
 * Internal (tests, benchmarks): the fewest input channels per group for which
 * 3x3 stride-1 layers run Winograd (1: every such layer but depthwise); null
 * turns Winograd off; undefined restores the default.
 */
export function setWinogradMinChannels(channels: number | null | undefined): void {
  winogradMinChannels = channels === undefined ? WINOGRAD_MIN_CHANNELS : channels;
}

type Pair = number | readonly [number, number];
const pairOf = (v: Pair | undefined): readonly [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);

/**
 * The kernel depends on the weight's shape, stride and dilation, never on the
 * output channel count or the input's size: a layer cut by output channels (an
 * engine slice, a device's piece) runs the same kind as the whole layer.
 */
function kindFor(inChannelsPerGroup: number, kernelHeight: number, kernelWidth: number, stride: readonly [number, number], dilation: readonly [number, number]): KernelKind {
  const kind = chooseKind(inChannelsPerGroup, kernelHeight, kernelWidth);
  if (
    (kind === 'small-groups' || kind === 'general') &&
    winogradMinChannels !== null &&
    inChannelsPerGroup >= winogradMinChannels &&
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

/** 3x3 sub-kernels a kernel is cut into for Winograd: ceil(kH / 3) x ceil(kW / 3). */
const subKernels = (kernelHeight: number, kernelWidth: number): [number, number] => [Math.ceil(kernelHeight / 3), Math.ceil(kernelWidth / 3)];

/**
 * Winograd when its multiply-adds (16 per sub-kernel per 2x2 outputs) are at
 * most 65% of the direct kernel's (kH * kW per output): 3x3 (44%), 5x5 (64%),
 * 3x5, 6x6; not 7x7 (73%), 4x4 (100%) or anything thinner than 3.
 */
function winogradPays(kernelHeight: number, kernelWidth: number): boolean {
  const [subH, subW] = subKernels(kernelHeight, kernelWidth);
  return kernelHeight >= 3 && kernelWidth >= 3 && 16 * subH * subW * 100 <= 65 * 4 * kernelHeight * kernelWidth;
}

const kindOf = (g: ConvGeometry) =>
  kindFor(g.inChannelsPerGroup, g.kernelHeight, g.kernelWidth, [g.strideH, g.strideW], [g.dilationH, g.dilationW]);

let planeModeOverride: boolean | null = null;
/** Internal (benchmarks, tests): force plane mode on or off; null restores the choice by shape. */
export function setPlaneMode(mode: boolean | null): void {
  planeModeOverride = mode;
}

/**
 * Plane mode tiles a channel's positions as one long row with planeWidth -
 * outWidth extra columns per row, then copies the valid ones out; row mode
 * tiles each output row and ends it with shorter, less efficient tiles. A
 * rough cost in 4-channel x 8-position tiles (a 4-position tile ~0.6 of one,
 * the copy ~8%), fitted to A/B timings of the suite: plane mode wins on
 * narrow rows such as 13x13, and is free when planeWidth == outWidth.
 */
function choosePlaneMode(g: ConvGeometry, planeWidth: number): boolean {
  if (planeModeOverride !== null) return planeModeOverride;
  if (planeWidth === g.outWidth) return true;
  if (g.outChannelsPerGroup < 4) return false;
  const rowCost = g.outHeight * (Math.floor(g.outWidth / 8) + 0.6 * Math.ceil((g.outWidth % 8) / 4));
  const planeCost = (((g.outHeight - 1) * planeWidth + g.outWidth) / 8) * 1.08;
  return planeCost < rowCost;
}

type TapGrid = Pick<WasmLayout, 'tapCount' | 'planeHeight' | 'planeWidth' | 'channelStride'>;

/** Stride 1 and no padding: the WebAssembly kernels read the input as it is, copying nothing (else each group's planes per image). */
export function readsInputInPlace(g: ConvGeometry): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.padTop + g.padBottom + g.padLeft + g.padRight === 0;
}

function layoutOf(g: ConvGeometry): Omit<WasmLayout, 'tapsByteOffset'> {
  const directInput = readsInputInPlace(g);
  const paddedH = g.inHeight + g.padTop + g.padBottom;
  const paddedW = g.inWidth + g.padLeft + g.padRight;
  const planeHeight = Math.ceil(paddedH / g.strideH);
  const planeWidth = Math.ceil(paddedW / g.strideW);
  const channelStride = directInput ? g.inHeight * g.inWidth : g.strideH * g.strideW * planeHeight * planeWidth;
  const grid: TapGrid = { tapCount: g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth, planeHeight, planeWidth, channelStride };
  const taps = tapOffsets(g, grid);
  return {
    ...grid,
    directInput,
    positions: (g.outHeight - 1) * planeWidth + g.outWidth,
    planeMode: choosePlaneMode(g, planeWidth),
    variant: preferredWasmVariant(),
    tapStep: uniformTapStep(taps),
    threeRuns: taps.length === 9 && [0, 3, 6].every((t) => taps[t + 1] === taps[t] + 4 && taps[t + 2] === taps[t] + 8),
  };
}

/** The byte step between consecutive taps when it is the same (and positive) for all, else 0. */
function uniformTapStep(taps: Int32Array): number {
  if (taps.length < 2) return 0;
  const step = taps[1] - taps[0];
  if (step <= 0) return 0;
  for (let t = 2; t < taps.length; t++) if (taps[t] - taps[t - 1] !== step) return 0;
  return step;
}

/**
 * Tap t = (ic, ky, kx) reads padded input (oy*sH + ky*dH, ox*sW + kx*dW). With
 * ky*dH = qy*sH + ry, that is row oy + qy of phase ry (columns alike), so the
 * tap is a fixed offset from output position oy * planeWidth + ox.
 */
function tapOffsets(g: ConvGeometry, layout: TapGrid): Int32Array {
  const taps = new Int32Array(layout.tapCount);
  const phaseFloats = layout.planeHeight * layout.planeWidth;
  let t = 0;
  for (let ic = 0; ic < g.inChannelsPerGroup; ic++) {
    for (let ky = 0; ky < g.kernelHeight; ky++) {
      const ry = (ky * g.dilationH) % g.strideH;
      const qy = Math.floor((ky * g.dilationH) / g.strideH);
      for (let kx = 0; kx < g.kernelWidth; kx++) {
        const rx = (kx * g.dilationW) % g.strideW;
        const qx = Math.floor((kx * g.dilationW) / g.strideW);
        const offset = ic * layout.channelStride + (ry * g.strideW + rx) * phaseFloats + qy * layout.planeWidth + qx;
        taps[t++] = offset * 4;
      }
    }
  }
  return taps;
}

/**
 * Weights per group: floor(coutG / 4) blocks laid out [tap][4 channels], then
 * the remaining channels one by one as [tap] (PyTorch's [Cout, Cin/G, kH, kW]
 * order already lists a channel's taps in tap-table order).
 */
function packWeights(g: { groups: number; outChannelsPerGroup: number; inChannelsPerGroup: number; kernelHeight: number; kernelWidth: number }, weight: Float32Array, into: Float32Array): void {
  const taps = g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth;
  const coutG = g.outChannelsPerGroup;
  const blocks = coutG >> 2;
  let at = 0;
  for (let group = 0; group < g.groups; group++) {
    const first = group * coutG;
    for (let b = 0; b < blocks; b++) {
      for (let t = 0; t < taps; t++) {
        for (let j = 0; j < 4; j++) into[at++] = weight[(first + b * 4 + j) * taps + t];
      }
    }
    for (let oc = first + blocks * 4; oc < first + coutG; oc++) {
      into.set(weight.subarray(oc * taps, (oc + 1) * taps), at);
      at += taps;
    }
  }
}


/**
 * Winograd weights U = G g Gt per (output channel, input channel, 3x3
 * sub-kernel), in float64 then rounded once, laid out per group as
 * winograd.ts reads them, K = cinG * subH * subW rows in (channel, sy, sx)
 * order: floor(coutG / 4) blocks of [xi][K][4], then the remaining channels as
 * [xi][K].
 */
function winogradWeights(
  g: { outChannels: number; outChannelsPerGroup: number; inChannelsPerGroup: number; kernelHeight: number; kernelWidth: number },
  weight: Float32Array,
  into: Float32Array,
): void {
  const { kernelHeight: kh, kernelWidth: kw } = g;
  const [subH, subW] = subKernels(kh, kw);
  const cinG = g.inChannelsPerGroup;
  const k = cinG * subH * subW;
  const coutG = g.outChannelsPerGroup;
  const blocks = coutG >> 2;
  const u = new Float64Array(16);
  const t = new Float64Array(12);
  for (let oc = 0; oc < g.outChannels; oc++) {
    const group = Math.floor(oc / coutG);
    const j = oc - group * coutG;
    const groupStart = group * coutG * 16 * k;
    for (let q = 0; q < k; q++) {
      const c = Math.floor(q / (subH * subW));
      const sy = Math.floor(q / subW) % subH;
      const sx = q % subW;
      // The sub-kernel's 3x3 taps; zero past the kernel's edge.
      const w = (ky: number, kx: number) => {
        const y = 3 * sy + ky;
        const x = 3 * sx + kx;
        return y < kh && x < kw ? weight[((oc * cinG + c) * kh + y) * kw + x] : 0;
      };
      // G g: rows (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2), down each column.
      for (let kx = 0; kx < 3; kx++) {
        const g0 = w(0, kx), g1 = w(1, kx), g2 = w(2, kx);
        t[kx] = g0;
        t[3 + kx] = (g0 + g1 + g2) / 2;
        t[6 + kx] = (g0 - g1 + g2) / 2;
        t[9 + kx] = g2;
      }
      // (G g) Gt: the same along each row.
      for (let r = 0; r < 4; r++) {
        const g0 = t[r * 3], g1 = t[r * 3 + 1], g2 = t[r * 3 + 2];
        u[r * 4] = g0;
        u[r * 4 + 1] = (g0 + g1 + g2) / 2;
        u[r * 4 + 2] = (g0 - g1 + g2) / 2;
        u[r * 4 + 3] = g2;
      }
      for (let xi = 0; xi < 16; xi++) {
        const at = j < blocks * 4
          ? groupStart + (j >> 2) * 64 * k + (xi * k + q) * 4 + (j & 3)
          : groupStart + blocks * 64 * k + (j - blocks * 4) * 16 * k + xi * k + q;
        into[at] = u[xi];
      }
    }
  }
}

/** Tiles per chunk in winograd.ts (TILES). */
const WINOGRAD_TILES = 16;

/** Floats of scratch for winograd.ts: the padded group input, V and M. */
function winogradScratchFloats(g: ConvGeometry): number {
  const tilesH = Math.ceil(g.outHeight / 2);
  const tilesW = Math.ceil(g.outWidth / 2);
  const [subH, subW] = subKernels(g.kernelHeight, g.kernelWidth);
  const xiFloats = g.inChannelsPerGroup * subH * subW * WINOGRAD_TILES + 16;
  return g.inChannelsPerGroup * (2 * tilesH + 3 * subH - 1) * (2 * tilesW + 3 * subW - 1) + 16 * xiFloats + 16 * 4 * WINOGRAD_TILES;
}

/** Stride and dilation of the layer whose weights are packed (they decide whether it runs Winograd); 1 by default. */
export interface ConvPackOptions {
  stride?: Pair;
  dilation?: Pair;
}

/** Floats packConvWeights allocates for these weights: 0 for the reference kernel (which reads them as they are). */
export function packedConvFloats(weightShape: readonly number[], groups: number, options: ConvPackOptions = {}): number {
  const [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth] = weightShape;
  const kind = kindFor(inChannelsPerGroup, kernelHeight, kernelWidth, pairOf(options.stride), pairOf(options.dilation));
  if (kind === 'reference') return 0;
  if (kind !== 'winograd') return outChannels * inChannelsPerGroup * kernelHeight * kernelWidth;
  const [subH, subW] = subKernels(kernelHeight, kernelWidth);
  return outChannels * inChannelsPerGroup * subH * subW * 16;
}

/**
 * Packs a convolution's weights [outChannels, inChannels / groups, kH, kW] for
 * the kernel its shape gets, once, for planConv to share across input shapes:
 * for the direct kernels a reordered copy, for Winograd the transformed
 * weights (16 floats per output channel, input channel and 3x3 sub-kernel instead of kH * kW). Null
 * when that kernel is the reference one, which reads the weights as they are.
 * Allocates in this thread's arena; free with releasePackedWeights.
 */
export function packConvWeights(weightShape: readonly number[], groups: number, weight: Float32Array, options: ConvPackOptions = {}): PackedConvWeights | null {
  const [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth] = weightShape;
  if (weightShape.length !== 4 || weight.length !== outChannels * inChannelsPerGroup * kernelHeight * kernelWidth) {
    throw new ExecutionError(`packConvWeights: weight of shape [${weightShape}] has ${weight.length} values`);
  }
  if (!Number.isInteger(groups) || groups <= 0 || outChannels % groups !== 0) {
    throw new ExecutionError(`packConvWeights: ${outChannels} output channels do not divide into ${groups} groups`);
  }
  const kind = kindFor(inChannelsPerGroup, kernelHeight, kernelWidth, pairOf(options.stride), pairOf(options.dilation));
  if (kind === 'reference') return null;
  const arena = sharedArena();
  const length = packedConvFloats(weightShape, groups, options);
  const byteOffset = arena.allocate(length * 4);
  const g = { groups, outChannels, outChannelsPerGroup: outChannels / groups, inChannelsPerGroup, kernelHeight, kernelWidth };
  const into = new Float32Array(arena.buffer, byteOffset, length);
  if (kind === 'winograd') winogradWeights(g, weight, into);
  else packWeights(g, weight, into);
  return { byteOffset, length, kind, weightShape: [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth], groups };
}

/** Frees what packConvWeights allocated, once every plan using it is released. Safe to call twice. */
export function releasePackedWeights(packed: PackedConvWeights): void {
  if (packed.length < 0) return;
  sharedArena().releaseBlock(packed.byteOffset);
  packed.length = -1;
}

function planWithPacked(geometry: ConvGeometry, packed: PackedConvWeights): KernelPlan {
  const g = geometry;
  const [outChannels, inChannelsPerGroup, kernelHeight, kernelWidth] = packed.weightShape;
  if (packed.length < 0) throw new ExecutionError('planConv: the packed weights were released');
  if (
    outChannels !== g.outChannels ||
    inChannelsPerGroup !== g.inChannelsPerGroup ||
    kernelHeight !== g.kernelHeight ||
    kernelWidth !== g.kernelWidth ||
    packed.groups !== g.groups ||
    packed.kind !== kindOf(g)
  ) {
    throw new ExecutionError(`planConv: weights packed as [${packed.weightShape}] in ${packed.groups} groups (${packed.kind}) do not fit this layer`);
  }
  if (packed.kind === 'winograd') {
    // No tap table: the plan owns nothing.
    return { kind: 'winograd', geometry, packed: { byteOffset: packed.byteOffset, length: packed.length }, wasm: { ...layoutOf(g), tapsByteOffset: 0 }, sharedPacking: true };
  }
  const layout = layoutOf(g);
  const arena = sharedArena();
  const tapsByteOffset = arena.allocate(layout.tapCount * 4);
  new Int32Array(arena.buffer, tapsByteOffset, layout.tapCount).set(tapOffsets(g, layout));
  return { kind: packed.kind, geometry, packed: { byteOffset: packed.byteOffset, length: packed.length }, wasm: { ...layout, tapsByteOffset }, sharedPacking: true };
}

/**
 * Chooses a kernel for the geometry and packs its weights (on a thread whose
 * arena allocates). With `packed` (from packConvWeights for this layer) the
 * plan reuses those weights and allocates only its tap table; `weight` is then
 * read by nothing and may be empty.
 */
export function planConv(geometry: ConvGeometry, weight: Float32Array, packed?: PackedConvWeights | null): KernelPlan {
  const kind = kindOf(geometry);
  if (kind === 'reference') return { kind, geometry, packed: null, wasm: null };
  if (packed) return planWithPacked(geometry, packed);
  if (kind === 'winograd') {
    const [subH, subW] = subKernels(geometry.kernelHeight, geometry.kernelWidth);
    const length = geometry.outChannels * geometry.inChannelsPerGroup * subH * subW * 16;
    const byteOffset = sharedArena().allocate(length * 4);
    winogradWeights(geometry, weight, new Float32Array(sharedArena().buffer, byteOffset, length));
    return { kind, geometry, packed: { byteOffset, length }, wasm: { ...layoutOf(geometry), tapsByteOffset: 0 } };
  }
  const layout = layoutOf(geometry);
  const weightFloats = geometry.outChannels * layout.tapCount;
  const arena = sharedArena();
  // One block: packed weights, then the tap table (64-byte aligned by the arena).
  const byteOffset = arena.allocate((weightFloats + layout.tapCount) * 4);
  packWeights(geometry, weight, new Float32Array(arena.buffer, byteOffset, weightFloats));
  const tapsByteOffset = byteOffset + weightFloats * 4;
  new Int32Array(arena.buffer, tapsByteOffset, layout.tapCount).set(tapOffsets(geometry, layout));
  return { kind, geometry, packed: { byteOffset, length: weightFloats }, wasm: { ...layout, tapsByteOffset } };
}

function scratchFloatsOf(g: ConvGeometry, layout: Omit<WasmLayout, 'tapsByteOffset'>): number {
  // The phase planes, 4 floats of slack (PLANE_SLACK in wasm/assembly/conv.ts),
  // then in plane mode 4 channels of plane-layout rows when they need copying out.
  // The in-place depthwise 3x3 kernel (depthwise3x3InPlace) puts its zero row,
  // spare row and 32-float window in the planes' place, and is used only where
  // they fit: shrinking this would send more planes back to the padded copy.
  const copied = layout.planeMode && layout.planeWidth !== g.outWidth ? 4 * layout.positions : 0;
  return g.inChannelsPerGroup * layout.channelStride + 4 + copied;
}

/** Floats of scratch memory one task over `slice` needs (allocated by the main thread per task). */
export function planScratchFloats(plan: KernelPlan, _slice: ConvSlice): number {
  if (plan.kind === 'winograd') return winogradScratchFloats(plan.geometry);
  return plan.wasm ? scratchFloatsOf(plan.geometry, plan.wasm) : 0;
}

/**
 * What planScratchFloats will say for the plan planConv would make for this
 * geometry, without making it (for memory budgets worked out in advance).
 */
export function convScratchFloats(geometry: ConvGeometry): number {
  const kind = kindOf(geometry);
  if (kind === 'winograd') return winogradScratchFloats(geometry);
  return kind === 'reference' ? 0 : scratchFloatsOf(geometry, layoutOf(geometry));
}

/** The kernel planConv chooses for this geometry. */
export function convKernelKind(geometry: ConvGeometry): KernelKind {
  return kindOf(geometry);
}

function sliceIsEmpty(s: ConvSlice): boolean {
  return s.batchEnd <= s.batchStart || s.outChannelEnd <= s.outChannelStart;
}

/**
 * Computes `slice` of the output with the plan's kernel; the same code on every
 * thread. `weight` is read only by the reference kernel (a plan without packed
 * weights); the WebAssembly kinds read the plan's packed copy.
 */
export function runPlan(
  plan: KernelPlan,
  input: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  output: Float32Array,
  slice: ConvSlice,
  scratch: Float32Array | null,
): void {
  const g = plan.geometry;
  const layout = plan.wasm;
  if (!layout || !plan.packed) {
    referenceKernel(g, input, weight, bias, output, slice);
    return;
  }
  if (sliceIsEmpty(slice)) return;
  const operands = new Operands();
  try {
    const inputAt = operands.address(input, true);
    const biasAt = bias ? operands.address(bias, true) : 0;
    const outputInPlace = sharedArena().owns(output);
    const outputAt = operands.address(output, false);
    const scratchFloats = planScratchFloats(plan, slice);
    const scratchAt = scratch && scratch.length >= scratchFloats ? operands.address(scratch, false) : operands.temporaryBlock(scratchFloats);
    if (plan.kind === 'winograd') {
      wasmWinogradSlice(layout.variant)(
        inputAt,
        outputAt,
        biasAt,
        plan.packed.byteOffset,
        scratchAt,
        g.inChannels,
        g.inHeight,
        g.inWidth,
        g.outChannels,
        g.outHeight,
        g.outWidth,
        g.inChannelsPerGroup,
        g.outChannelsPerGroup,
        ...subKernels(g.kernelHeight, g.kernelWidth),
        g.padTop,
        g.padLeft,
        slice.batchStart,
        slice.batchEnd,
        slice.outChannelStart,
        slice.outChannelEnd,
      );
    } else wasmConvSlice(layout.variant)(
      inputAt,
      outputAt,
      biasAt,
      plan.packed.byteOffset,
      layout.tapsByteOffset,
      scratchAt,
      g.inChannels,
      g.inHeight,
      g.inWidth,
      g.outChannels,
      g.outHeight,
      g.outWidth,
      g.inChannelsPerGroup,
      g.outChannelsPerGroup,
      layout.tapCount,
      g.strideH,
      g.strideW,
      g.padTop,
      g.padLeft,
      layout.planeHeight,
      layout.planeWidth,
      layout.channelStride,
      layout.directInput ? 1 : 0,
      layout.planeMode ? 1 : 0,
      layout.tapStep,
      layout.threeRuns ? 1 : 0,
      slice.batchStart,
      slice.batchEnd,
      slice.outChannelStart,
      slice.outChannelEnd,
    );
    if (!outputInPlace) {
      const staged = new Float32Array(sharedArena().buffer, outputAt, output.length);
      const plane = g.outHeight * g.outWidth;
      for (let n = slice.batchStart; n < slice.batchEnd; n++) {
        const from = (n * g.outChannels + slice.outChannelStart) * plane;
        const to = (n * g.outChannels + slice.outChannelEnd) * plane;
        output.set(staged.subarray(from, to), from);
      }
    }
  } finally {
    operands.release();
  }
}

/**
 * Frees what planConv allocated (packed weights and tap table; only the tap
 * table when the weights were shared; a Winograd plan's own transformed
 * weights). Safe to call twice.
 */
export function releasePlan(plan: KernelPlan): void {
  if (!plan.packed) return;
  if (!plan.sharedPacking) sharedArena().releaseBlock(plan.packed.byteOffset);
  else if (plan.kind !== 'winograd') sharedArena().releaseBlock(plan.wasm!.tapsByteOffset);
  plan.packed = null;
  plan.wasm = null;
}
