// The native kernels (native/addon.c and kernels.h, built by `npm run
// build:native`, which `npm ci` runs through `prepare`): loaded once per
// thread, used only where they give the WebAssembly kernels' bits, on a CPU
// with AVX-512F (16-float vectors) or else AVX2 and FMA (8-float vectors).
// Anything else (no build, another CPU, GROUPCONV_NATIVE=0, the plain-SIMD
// WebAssembly build, whose sums round differently) keeps the WebAssembly
// kernels: the native ones only make the same results faster.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { sharedArena } from '../../memory/arena.js';
import { kernelOptions } from '../options.js';

interface NativeExports {
  available(): boolean;
  /**
   * Run i of `length` floats from input + i * inStride to output + i * outStride (floats), i < count; byte offsets (the
   * two unused 0 and -1). memmove's copies: Float32Array.set over shared memory goes word by word (V8's relaxed_memmove).
   */
  copyRuns(memory: Float32Array, input: number, unused: 0, none: -1, output: number, count: number, length: number, inStride: number, outStride: number): void;
  /** Outputs [o0, o1) of every row of a fully connected layer, x [rows, inF] and weight [outF, inF] (PyTorch's), byte offsets (bias -1: none): assembly/linear.ts's bits. */
  linear(memory: Float32Array, x: number, weight: number, bias: number, output: number, rows: number, inF: number, outF: number, o0: number, o1: number): void;
  /**
   * Convolution tasks in a row (src/engine/native-stages.ts): records [0, count) of STAGE_RECORD doubles
   * each, their tensors named by buffer index, whose byte offsets sit as (offset, length) pairs from byte
   * `buffersAt`; stops early where a kernel cannot allocate or the int32 at `cancelAt` is set. How many ran.
   * With `times` (a profiled run), record i's start and end at times[2i] and times[2i + 1], in now() + clockOffset.
   */
  runStages(memory: Float32Array, records: Float64Array, count: number, buffersAt: number, cancelAt: number, times?: Float64Array, clockOffset?: number): number;
  /**
   * One runner's share of a stage cut for several (src/engine/native-stages.ts): claims the stage's tasks
   * from the run table at `tableAt` as ProgramTable.claim does, runs each task's record, counts it done;
   * result: [tasks run, finished the stage's last task, a claimed task not run (-1: none), moved the
   * completed stages word]. Wakes nobody (ProgramTable.finishedNatively does). With clockOffset and thread (a
   * profiled run), each task's start and end in now() + clockOffset and the thread in the table's times.
   */
  runStageTasks(
    memory: Float32Array, records: Float64Array, tableAt: number, stage: number, stages: number, first: number, count: number, runner: number,
    buffersAt: number, timesAt: number, result: Int32Array, clockOffset?: number, thread?: number,
  ): void;
  /** Milliseconds on the monotonic clock performance.now() reads, from an origin of its own: what the native calls time tasks with. */
  now(): number;
  /** The floats per vector the kernels run with: 16 (AVX-512F) or 8 (AVX2 and FMA), the widest this CPU runs unless useWidth chose. */
  width(): number;
  /** Runs the kernels at `floats` per vector (16 or 8, one this CPU runs) in every thread of the process; returns the previous width. For tests and benchmarks. */
  useWidth(floats: number): number;
  /**
   * Whether the depthwise kernel reads a 3x3's input plane in place (a stride-2 5x5's on rows of one vector)
   * instead of copying it into padded rows: by default, where that measured level to faster; the same bits either way.
   */
  depthwiseInPlace(): boolean;
  /** Sets depthwiseInPlace in every thread of the process; returns the previous setting. For tests and benchmarks. */
  useDepthwiseInPlace(on: boolean): boolean;
  /**
   * Output channels [c0, c1) at positions [q0, q1) of the plane (0 and hw: all of it) of one image of a dense
   * 1x1 convolution, byte offsets into `memory` (bias and residual -1: none), with the epilogue `kind` (an
   * EPILOGUE_* code) applied as each output is stored. Each output's bits do not depend on the ranges.
   * With `scale` (a byte offset of `taps` floats, or -1), the input is first multiplied by one scale per
   * channel, a squeeze-and-excitation block's Mul, with the Mul's bits (scale first when `scaleFirst` is 1).
   * False, having written nothing, when that scaled copy could not be allocated.
   */
  pointwise(
    memory: Float32Array, input: number, packed: number, bias: number, output: number, taps: number, channels: number, hw: number, c0: number, c1: number,
    q0: number, q1: number, kind: number, lo: number, hi: number, residual: number, scale: number, scaleFirst: number,
  ): boolean;
  /**
   * Output channels [c0, c1) of one image of a depthwise KxK at stride 1 or 2 (one input channel each), offsets and epilogue as pointwise's.
   * False, having written nothing, when its padded plane could not be allocated.
   */
  depthwise(
    memory: Float32Array, input: number, packed: number, bias: number, output: number, h: number, w: number, k: number, stride: number, padTop: number, padLeft: number,
    outH: number, outW: number, c0: number, c1: number, kind: number, lo: number, hi: number, residual: number,
  ): boolean;
  /**
   * depthwise's arguments and bits, computed LANES channels at a time (a vector holds one position of LANES
   * channels): faster on small planes. False, having written nothing, when its buffer could not be allocated.
   */
  depthwiseAcrossChannels(
    memory: Float32Array, input: number, packed: number, bias: number, output: number, h: number, w: number, k: number, stride: number, padTop: number, padLeft: number,
    outH: number, outW: number, c0: number, c1: number, kind: number, lo: number, hi: number, residual: number,
  ): boolean;
  /**
   * Planes [p0, p1) of a max pooling (x [planes, h, w] into out [planes, outH, outW]), stride 1 or 2 along rows and no
   * dilation, byte offsets (the two unused offsets 0 and -1): torch's max_pool2d's bits. False, having written nothing,
   * when its padded plane could not be allocated.
   */
  maxPool(
    memory: Float32Array, input: number, unused: 0, none: -1, output: number, p0: number, p1: number, h: number, w: number, outH: number, outW: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): boolean;
  /** out[q] = the mean of x's plane q of `plane` floats, q in [q0, q1), byte offsets (the two unused 0 and -1): assembly/global-pool.ts's bits but for NaN payloads. */
  globalAverage(memory: Float32Array, input: number, unused: 0, none: -1, output: number, q0: number, q1: number, plane: number): void;
  /**
   * Output channels [c0, c1) of one image of a KxK convolution at stride 1 to 4 (cin / groups input channels per
   * group), offsets and epilogue as pointwise's. False, having written nothing, when its padded planes could not be allocated.
   */
  dense(
    memory: Float32Array, input: number, packed: number, bias: number, output: number, cin: number, groups: number, h: number, w: number, k: number, stride: number,
    padTop: number, padLeft: number, outH: number, outW: number, cout: number, c0: number, c1: number, kind: number, lo: number, hi: number, residual: number,
  ): boolean;
}

/** Where the addon is, from this file in src/ or in dist/src/. */
const CANDIDATES = ['../../../native/build/Release/groupconv_native.node', '../../../../native/build/Release/groupconv_native.node'];

/** What the addon also does besides kernels: where the engine's threads run (native/placement.h, src/engine/placement.ts). */
export interface NativeThreads {
  /** The kernel's id of the calling thread (gettid), or -1 where not Linux. */
  osThreadId(): number;
  /** The CPU the calling thread runs on now, or -1. */
  currentCpu(): number;
  /** Thread `tid` of this process may run on every CPU the calling thread may but `cpu` (-1: all of them); 0, or a negative errno. */
  keepOffCpu(tid: number, cpu: number): number;
  /** Thread `tid` of this process may run only on the nth (modulo their count) of the CPUs the calling thread may; 0, or a negative errno. */
  runOnlyOnNth(tid: number, nth: number): number;
}

let addonLoaded: (NativeExports & NativeThreads) | null | undefined;

/** The addon as built, whatever this CPU's vectors and GROUPCONV_NATIVE say; null when it is not built or does not load here. */
export function nativeAddon(): (NativeExports & NativeThreads) | null {
  if (addonLoaded !== undefined) return addonLoaded;
  addonLoaded = null;
  for (const relative of CANDIDATES) {
    const url = new URL(relative, import.meta.url);
    if (!existsSync(url)) continue;
    try {
      addonLoaded = createRequire(import.meta.url)(fileURLToPath(url)) as NativeExports & NativeThreads;
    } catch {
      // A build for another Node or machine: the WebAssembly kernels stay.
    }
    break;
  }
  return addonLoaded;
}

let loaded: NativeExports | null | undefined;

function load(): NativeExports | null {
  if (process.env.GROUPCONV_NATIVE === '0') return null;
  const addon = nativeAddon();
  if (!addon?.available()) return null;
  // GROUPCONV_NATIVE=avx2: the 8-float build on a CPU that also runs the 16-float one (to test or time it).
  if (process.env.GROUPCONV_NATIVE === 'avx2') addon.useWidth(8);
  return addon;
}

/** The native kernels on this thread, or null when they cannot (or must not: kernelOptions.native) run here. */
export function nativeKernels(): NativeExports | null {
  if (!kernelOptions.native) return null;
  return nativeKernelsBuilt();
}

/** The native kernels when they are built and this CPU can run them (GROUPCONV_NATIVE=0 says no), whatever the switch. */
export function nativeKernelsBuilt(): NativeExports | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

let memoryView: Float32Array | null = null;

/** A Float32Array over the whole arena, the addon's way to its memory (remade when the memory grows). */
export function arenaMemoryView(): Float32Array {
  const buffer = sharedArena().buffer;
  if (!memoryView || memoryView.buffer !== buffer) memoryView = new Float32Array(buffer);
  return memoryView;
}
