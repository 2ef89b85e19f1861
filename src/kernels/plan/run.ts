// Running a plan on one slice: the same code on every thread.
import { slicePositions, type ConvSlice } from '../../conv/geometry.js';
import { errors } from '../../errors.js';
import { sharedArena } from '../../memory/arena.js';
import { activationCode, applyEpilogue, NO_ACTIVATION } from '../epilogue.js';
import { Operands } from '../operands.js';
import { referenceKernel } from '../reference.js';
import { arenaMemoryView, nativeKernels } from '../native/index.js';
import { wasmMicrokernel } from '../wasm/runtime.js';
import { planScratchFloats } from './layout.js';
import type { KernelPlan } from './types.js';

function sliceIsEmpty(s: ConvSlice): boolean {
  return s.batchEnd <= s.batchStart || s.outChannelEnd <= s.outChannelStart || (s.positionEnd ?? 1) <= (s.positionStart ?? 0);
}

/** Whether `s` is a run of positions short of the whole plane, which only the native 1x1 kernel computes. */
function hasPositionRun(g: KernelPlan['geometry'], s: ConvSlice): boolean {
  const [p0, p1] = slicePositions(g, s);
  return p0 !== 0 || p1 !== g.outHeight * g.outWidth;
}

/**
 * A squeeze-and-excitation block's scale, applied to a 1x1 convolution's input as the native kernel reads it
 * (the graph's Mul of the input by one value per image and channel, onnx/scaled-input.ts): `data` holds
 * [images][input channels] floats in the arena; `first` says the Mul had the scale as its first operand,
 * which decides whose NaN comes out when both are NaN.
 */
export interface InputScale {
  data: Float32Array;
  first: boolean;
}

/**
 * Computes `slice` of the output with the plan's microkernel. `weight` is read
 * only by the reference kernel (a plan without packed weights); the
 * WebAssembly microkernels read the plan's packed copy. The plan's epilogue
 * follows: `+ residual` (a tensor of the output's shape, or none), then the
 * plan's activation, on the slice's elements only. With `scale`, the input is
 * taken times it (InputScale), which only the native 1x1 kernel does.
 */
export function runPlan(
  plan: KernelPlan,
  input: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  output: Float32Array,
  slice: ConvSlice,
  scratch: Float32Array | null,
  residual: Float32Array | null = null,
  scale: InputScale | null = null,
): void {
  const g = plan.geometry;
  const layout = plan.wasm;
  const positionRun = hasPositionRun(g, slice);
  if (positionRun && !runsOnNativePointwise(plan)) throw errors.positionsWithoutNativePointwise(nativeKindOf(plan) ?? plan.microkernel);
  if (scale && !runsOnNativePointwise(plan)) throw errors.scaleWithoutNativePointwise(nativeKindOf(plan) ?? plan.microkernel);
  if (!layout || !plan.packed || plan.microkernel === 'reference') {
    referenceKernel(g, input, weight, bias, output, slice);
    const activation = plan.activation ?? NO_ACTIVATION;
    if (residual || activation.kind !== 'none') {
      const plane = g.outHeight * g.outWidth;
      for (let n = slice.batchStart; n < slice.batchEnd; n++) {
        const base = n * g.outChannels * plane;
        // The exp rounds as the plan's build does; a plan of the reference kernels has none, and rounds as the plain one.
        applyEpilogue(output, residual, activation, base + slice.outChannelStart * plane, base + slice.outChannelEnd * plane, layout?.variant === 'fma');
      }
    }
    return;
  }
  if (sliceIsEmpty(slice)) return;
  const operands = new Operands();
  try {
    const inputAt = operands.address(input, true);
    const biasAt = bias ? operands.address(bias, true) : 0;
    const residualAt = residual ? operands.address(residual, true) : 0;
    const outputInPlace = sharedArena().owns(output);
    const outputAt = operands.address(output, false);
    const scaleAt = scale ? operands.address(scale.data, true) : 0;
    if (runNative(plan, inputAt, biasAt, outputAt, residualAt, slice, scaleAt, scale?.first ?? false)) {
      copyStagedOutput(plan, output, outputAt, outputInPlace, slice);
      return;
    }
    const scratchFloats = planScratchFloats(plan);
    const scratchAt = scratch && scratch.length >= scratchFloats ? operands.address(scratch, false) : operands.temporaryBlock(scratchFloats);
    wasmMicrokernel(layout.variant, plan.microkernel)(
      layout.paramsByteOffset,
      inputAt,
      outputAt,
      biasAt,
      residualAt,
      scratchAt,
      slice.batchStart,
      slice.batchEnd,
      slice.outChannelStart,
      slice.outChannelEnd,
    );
    copyStagedOutput(plan, output, outputAt, outputInPlace, slice);
  } finally {
    operands.release();
  }
}

/** An output outside the arena was computed in a staging block: its slice goes back to the caller's array. */
function copyStagedOutput(plan: KernelPlan, output: Float32Array, outputAt: number, outputInPlace: boolean, slice: ConvSlice): void {
  if (outputInPlace) return;
  const g = plan.geometry;
  const staged = new Float32Array(sharedArena().buffer, outputAt, output.length);
  const plane = g.outHeight * g.outWidth;
  const [p0, p1] = slicePositions(g, slice);
  for (let n = slice.batchStart; n < slice.batchEnd; n++) {
    if (p0 === 0 && p1 === plane) {
      const from = (n * g.outChannels + slice.outChannelStart) * plane;
      const to = (n * g.outChannels + slice.outChannelEnd) * plane;
      output.set(staged.subarray(from, to), from);
      continue;
    }
    for (let c = slice.outChannelStart; c < slice.outChannelEnd; c++) {
      const at = (n * g.outChannels + c) * plane;
      output.set(staged.subarray(at + p0, at + p1), at + p0);
    }
  }
}

/**
 * Whether this plan's slices run on the native 1x1 kernel here, the one kernel that computes a run of
 * positions: where the engine may cut a layer by positions (src/engine/position-cut.ts). Every thread of
 * the process loads the same addon at the same width, so the answer is the workers' too.
 */
export function runsOnNativePointwise(plan: KernelPlan): boolean {
  return nativeKindOf(plan) === 'pointwise' && nativeKernels() !== null;
}

/**
 * Which native kernel (src/kernels/native/) computes this plan's bits, from its
 * geometry alone:
 * - 'pointwise': a dense 1x1 convolution (stride 1, no padding, one group), each
 *   output its bias then one fused multiply-add per input channel;
 * - 'depthwise': one input and one output channel per group, a square kernel,
 *   stride 1 or 2, any padding: its bias then one fused multiply-add per tap in
 *   (ky, kx) order, a tap in the padding multiplying +0; on narrow output rows
 *   (`acrossChannelsFaster`), 'depthwiseAcrossChannels', the same sums with a
 *   vector across channels instead of along a row;
 * - 'dense': any other direct convolution with a square kernel at stride 1 to 4
 *   (a 3-channel stem, AlexNet's 11x11 at stride 4, a grouped 3x3, a 1x1 at
 *   stride 2): its bias then one fused
 *   multiply-add per tap in (input channel, ky, kx) order, padding +0;
 * then the epilogue's float32 steps. That is what the relaxed-SIMD build's
 * microkernels compute, whichever one the plan chose (not Winograd, whose sums
 * are others). Decided once per plan (plans are decoded once per thread).
 */
function nativeKindOf(plan: KernelPlan): NativeKind | null {
  let kind = nativeKinds.get(plan);
  if (kind !== undefined) return kind;
  const g = plan.geometry;
  const eligible = plan.wasm?.variant === 'fma' && plan.packed !== null && g.dilationH === 1 && g.dilationW === 1;
  const stride1 = g.strideH === 1 && g.strideW === 1;
  const square = g.kernelHeight === g.kernelWidth && g.strideH === g.strideW;
  if (!eligible) kind = null;
  else if (stride1 && plan.kind === 'pointwise' && g.groups === 1 && plan.wasm!.directInput && g.kernelHeight === 1 && g.kernelWidth === 1) kind = 'pointwise';
  else if (plan.kind === 'depthwise' && g.inChannelsPerGroup === 1 && g.outChannelsPerGroup === 1 && square && g.strideH <= 2) {
    const native = nativeKernels();
    const width = native?.width() ?? 0;
    const inPlace = native?.depthwiseInPlace() ?? false;
    kind = acrossChannelsFaster(g, plan.activation?.kind ?? 'none', width, inPlace) && acrossChannelsBytes(g, width) <= DENSE_PLANES_MAX_BYTES ? 'depthwiseAcrossChannels' : 'depthwise';
  }
  else if ((plan.kind === 'small-groups' || plan.kind === 'general' || plan.kind === 'pointwise') && square && g.strideH <= 4 && densePlanesBytes(g) <= DENSE_PLANES_MAX_BYTES) kind = 'dense';
  else kind = null;
  nativeKinds.set(plan, kind);
  return kind;
}

export type NativeKind = 'pointwise' | 'depthwise' | 'depthwiseAcrossChannels' | 'dense';

/** The native kernel that runs this plan's slices here (runNative), or null where the WebAssembly or reference kernels do. */
export function nativeKernelOf(plan: KernelPlan): NativeKind | null {
  const kind = nativeKindOf(plan);
  return kind !== null && nativeKernels() !== null ? kind : null;
}

/**
 * The widest output rows on which the depthwise kernel runs a vector across 16 (AVX-512) or 8 (AVX2) channels
 * rather than along the row: there it was the faster (`bench/depthwise-layouts-ab.ts`, docs/benchmarks.md).
 * A row of 7 fills 7 of 16 lanes; at 14 the two tie with 16-float vectors, and with 8-float ones the channels
 * win up to 28. Either gives the same bits, so a width changed after the choice costs only speed.
 */
const ACROSS_CHANNELS_MAX_OUT_WIDTH: Record<number, number> = { 16: 13, 8: 28 };

/**
 * Whether the depthwise kernel's vector across channels beats its vector along the row here. Past
 * ACROSS_CHANNELS_MAX_OUT_WIDTH, a row of up to one vector still leaves lanes idle along it (14 of 16),
 * which costs where each output costs most: 5x5 kernels (25 taps), and the sigmoid's and SiLU's epilogue
 * (a long chain per vector). On a Zen 5 host at 14-wide output rows across channels ran 1.21-1.29x faster
 * on 5x5 whatever the activation, 1.04-1.11x on 3x3 with SiLU, and 0.79-0.97x on 3x3 with ReLU or none
 * (`bench/depthwise-layouts-ab.ts`, docs/benchmarks.md). Either layout gives the same bits.
 * Where the plane-by-plane kernel reads its input in place (`inPlace`: depthwiseInPlace in native/addon.c,
 * the default), a 3x3's at stride 2 (and a 5x5's on rows of one vector), it wins more: on an AVX-512 Xeon a
 * 3x3 at stride 2 went across channels only on rows of 7 with the sigmoid or SiLU (1.10-1.14x; 0.81-0.98x
 * with ReLU or none, 0.45-0.59x on rows of 14), a 5x5 on rows of 7 (1.5-1.67x; 0.71-0.83x on rows of 14);
 * with 8-float vectors a 3x3 along the row everywhere (0.81-0.97x across), a 5x5 across channels as before
 * (1.15-1.32x). With 16-float vectors it reads a 3x3 at stride 1 in place too, which then won on rows of 14
 * whatever the activation (0.62-0.80x across, SiLU and ReLU); 5x5 there level (0.95-1.02x: left across),
 * rows of 7 still lost (1.13-1.71x). A Zen 5 agreed on every shape of efficientnet_b0 and mobilenet_v2
 * but one (240 5x5/1 at 28x28, 1.10-1.15x across, left along the row).
 */
function acrossChannelsFaster(g: KernelPlan['geometry'], activation: string, width: number, inPlace: boolean): boolean {
  const longChain = activation === 'silu' || activation === 'sigmoid';
  if (inPlace && g.strideH === 2 && g.kernelWidth === 3) return width === 16 && g.outWidth <= ACROSS_CHANNELS_MAX_OUT_WIDTH[16] && longChain;
  if (inPlace && g.strideH === 2 && g.kernelWidth === 5 && width === 16) return g.outWidth <= ACROSS_CHANNELS_MAX_OUT_WIDTH[16];
  if (g.outWidth <= (ACROSS_CHANNELS_MAX_OUT_WIDTH[width] ?? 0)) return true;
  return width === 16 && g.outWidth <= 16 && (g.kernelWidth >= 5 || (!inPlace && longChain));
}
const nativeKinds = new WeakMap<KernelPlan, NativeKind | null>();

/** The dense kernel's padded planes per thread at most (a layer needing more keeps the WebAssembly kernel), and depthwiseAcrossChannels' (more keeps the plane-by-plane kernel). */
const DENSE_PLANES_MAX_BYTES = 64 * 1024 * 1024;

/** Bytes of depthwiseAcrossChannels' padded channel-interleaved positions (native/kernels.h): a tall plane keeps the other layout. */
function acrossChannelsBytes(g: KernelPlan['geometry'], lanes: number): number {
  const s = g.strideH;
  const positions = g.outWidth % 8 !== 0 && g.outWidth % 7 === 0 ? 7 : 8;
  const cols = (Math.ceil(g.outWidth / positions) * positions - 1) * s + g.kernelWidth;
  const rows = (g.outHeight - 1) * s + g.kernelHeight;
  return rows * cols * lanes * 4;
}

/** Bytes of the dense kernel's padded planes for one image (native/kernels.h, dense). */
function densePlanesBytes(g: KernelPlan['geometry']): number {
  const s = g.strideH;
  const need = Math.ceil(g.outWidth / 32) * 32 + Math.floor((g.kernelWidth - 1) / s);
  const written = Math.floor((g.inWidth - 1 + g.padLeft) / s) + 1;
  const phaseFloats = Math.ceil(Math.max(need, written) / 16) * 16;
  // Planes of output rows no wider than a vector hold `s` rows more (a last pair's second row, loaded whole).
  const rows = (g.outHeight - 1) * s + g.kernelHeight + (g.outWidth <= 16 ? s : 0);
  return g.inChannels * rows * s * phaseFloats * 4;
}

/** `slice` through the plan's native kernel, image by image, when it has one and the kernels are here; false, having done nothing, otherwise. */
function runNative(plan: KernelPlan, inputAt: number, biasAt: number, outputAt: number, residualAt: number, slice: ConvSlice, scaleAt = 0, scaleFirst = false): boolean {
  const kind = nativeKindOf(plan);
  const native = kind === null ? null : nativeKernels();
  if (!native) return false;
  const g = plan.geometry;
  const memory = arenaMemoryView();
  const { code, min, max } = activationCode(plan.activation ?? NO_ACTIVATION);
  const packed = plan.packed!.byteOffset;
  const bias = biasAt === 0 ? -1 : biasAt;
  const inImageBytes = g.inChannels * g.inHeight * g.inWidth * 4;
  const outImageBytes = g.outChannels * g.outHeight * g.outWidth * 4;
  const { outChannelStart: c0, outChannelEnd: c1 } = slice;
  const [q0, q1] = slicePositions(g, slice);
  for (let n = slice.batchStart; n < slice.batchEnd; n++) {
    const input = inputAt + n * inImageBytes;
    const output = outputAt + n * outImageBytes;
    const residual = residualAt === 0 ? -1 : residualAt + n * outImageBytes;
    if (kind === 'pointwise') {
      const scale = scaleAt === 0 ? -1 : scaleAt + n * g.inChannels * 4;
      const done = native.pointwise(memory, input, packed, bias, output, g.inChannels, g.outChannels, g.outHeight * g.outWidth, c0, c1, q0, q1, code, min, max, residual, scale, scaleFirst ? 1 : 0);
      // Only a scaled input is copied where an allocation can fail; the WebAssembly kernels take no scale.
      if (!done) throw errors.scaledCopyFailed(g.inChannels);
    } else if (kind === 'dense') {
      const done = native.dense(
        memory, input, packed, bias, output, g.inChannels, g.groups, g.inHeight, g.inWidth, g.kernelHeight, g.strideH, g.padTop, g.padLeft,
        g.outHeight, g.outWidth, g.outChannels, c0, c1, code, min, max, residual,
      );
      // Its planes could not be allocated, which only the first image can meet (every image needs the same
      // planes): nothing was written, so the WebAssembly kernel takes the slice.
      if (!done) return false;
    } else {
      const depthwise = kind === 'depthwise' ? native.depthwise : native.depthwiseAcrossChannels;
      const done = depthwise(memory, input, packed, bias, output, g.inHeight, g.inWidth, g.kernelHeight, g.strideH, g.padTop, g.padLeft, g.outHeight, g.outWidth, c0, c1, code, min, max, residual);
      if (!done) return false; // as dense's, above
    }
  }
  return true;
}
