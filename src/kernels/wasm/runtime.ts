// Loads the AssemblyScript kernels onto the process-wide shared memory. Each
// thread (main or worker) gets its own instance over the same memory:
// instances keep no state of their own, so they may run at once.
//
// Two builds of ./assembly/entries.ts (`npm run build:wasm`): conv.wasm, plain
// 128-bit SIMD, and conv-fma.wasm, which also uses relaxed SIMD's fused
// multiply-add (one instruction where the plain build issues a multiply and an
// add). Node 20 ships relaxed SIMD behind a V8 flag; later versions enable it by
// default. The variant is chosen once per process, so every thread computes
// with the same instructions and results stay bitwise independent of slicing.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { errors } from '../../errors.js';
import { sharedArena } from '../../memory/arena.js';

/**
 * The convolution microkernels, one WebAssembly entry point each
 * (assembly/entries.ts); the plan chooses one (plan/selection.ts).
 */
export const WASM_MICROKERNELS = ['direct', 'depthwiseTaps9', 'depthwise3x3Rows', 'depthwise3x3InPlace', 'depthwise3x3Stride2InPlace', 'pointwiseStrided', 'pointwiseStridedTaps9', 'winograd'] as const;
export type WasmMicrokernel = (typeof WASM_MICROKERNELS)[number];

/**
 * A microkernel's entry point: the plan's parameter block, then the per-call
 * operands (byte offsets into the arena; residual 0 for none) and the slice.
 */
export type MicrokernelFunction = (
  params: number,
  input: number,
  output: number,
  bias: number,
  residual: number,
  scratch: number,
  batchStart: number,
  batchEnd: number,
  outChannelStart: number,
  outChannelEnd: number,
) => void;

/** 'fma': relaxed-SIMD build with fused multiply-add; 'simd': plain 128-bit SIMD build. */
export type WasmVariant = 'fma' | 'simd';

// The smallest module using a v128 instruction: (func (result v128) v128.const 0).
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a,
  0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x0b,
]);

// (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd)
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, 0x03, 0x02,
  0x01, 0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

let simdSupport: boolean | undefined;
let relaxedSupport: boolean | undefined;

/** Whether this runtime validates WebAssembly SIMD (128-bit) code. */
export function hasWasmSimd(): boolean {
  simdSupport ??= typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  return simdSupport;
}

/**
 * Whether relaxed SIMD validates, after turning on V8's flag for it where the
 * runtime has it but not by default (Node 20). V8 flags are process-wide, so
 * worker threads started later see it too.
 */
export function hasWasmRelaxedSimd(): boolean {
  if (relaxedSupport !== undefined) return relaxedSupport;
  if (!hasWasmSimd()) return (relaxedSupport = false);
  if (!WebAssembly.validate(RELAXED_SIMD_PROBE)) {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // A runtime without the flag keeps the plain build.
    }
  }
  relaxedSupport = WebAssembly.validate(RELAXED_SIMD_PROBE);
  return relaxedSupport;
}

/** Where each build sits: beside this module, in src/ under tsx and in dist/ after `npm run build`. */
export const WASM_URLS: Record<WasmVariant, URL> = {
  simd: new URL('./conv.wasm', import.meta.url),
  fma: new URL('./conv-fma.wasm', import.meta.url),
};

/** out[r, o] = bias[o] + x[r, :] . w[o, :] for outputs [oStart, oEnd); every argument an i32 (pointers are byte offsets). */
export type LinearRowsFunction = (x: number, w: number, bias: number, out: number, rows: number, inFeatures: number, outFeatures: number, oStart: number, oEnd: number) => void;

/**
 * LRN of channels [start, end) of x [batch, channels, plane] into out [batch,
 * outChannels, plane] from channel outStart on, beta 0.75 (assembly/lrn.ts).
 */
export type LrnBeta075Function = (x: number, out: number, batch: number, channels: number, plane: number, start: number, end: number, outChannels: number, outStart: number, size: number, alpha: number, k: number) => void;

/** The max pooling kernels, one per way of reading a row's taps (assembly/pooling.ts); chosen by the row stride. */
export const WASM_MAX_POOL_KERNELS = ['maxPoolStride1', 'maxPoolStride2', 'maxPoolStrided'] as const;
export type WasmMaxPoolKernel = (typeof WASM_MAX_POOL_KERNELS)[number];
/** Max pooling of `planes` planes h x w into outH x outW: kernel, stride, padding, dilation as (rows, columns). */
export type MaxPoolFunction = (
  x: number, out: number, scratch: number, planes: number, h: number, w: number, outH: number, outW: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
) => void;

/** dst[i] = relu(src[i]) for `count` floats (assembly/activation.ts); dst may be src. */
export type ReluFunction = (src: number, dst: number, count: number) => void;

/** out[q] = the float32 mean of x's plane q, summed in double in the lane order of kernels/plane-mean.ts, for planes [start, end) (assembly/global-pool.ts). */
export type GlobalAveragePlanesFunction = (x: number, out: number, start: number, end: number, plane: number) => void;

/** out[i] = x[i] * scales[floor(i / inner) % period] for i in [from, to), the scale the first operand when scalesFirst is 1 (assembly/broadcast.ts). */
export type MulRunsFunction = (x: number, scales: number, out: number, from: number, to: number, inner: number, period: number, scalesFirst: number) => void;

/**
 * Rows [start, end) of `inner` floats of a transpose into out, row r (index
 * (c0, c1, c2, c3) over leading dimensions n0..n3) copied from x at
 * c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3 floats (assembly/layout.ts).
 */
export type TransposeRowsFunction = (
  x: number, out: number, start: number, end: number, inner: number, n0: number, n1: number, n2: number, n3: number, s0: number, s1: number, s2: number, s3: number,
) => void;

/**
 * Rows [start, end) of `rowLength` floats of a constant pad into out: columns
 * [c0, c1) of a row inside x from x, the rest `fillBits` (a float32's bits);
 * per leading dimension d of four: out's size n, the pad in front b, x's size
 * m and x's stride s (assembly/layout.ts).
 */
export type PadRowsFunction = (
  x: number, out: number, start: number, end: number, rowLength: number, c0: number, c1: number, xColumn0: number, fillBits: number,
  n0: number, n1: number, n2: number, n3: number, b0: number, b1: number, b2: number, b3: number,
  m0: number, m1: number, m2: number, m3: number, s0: number, s1: number, s2: number, s3: number,
) => void;

/** The kernels of the layers around the convolutions. */
export interface LayerKernels {
  lrnBeta075: LrnBeta075Function;
  maxPool: Record<WasmMaxPoolKernel, MaxPoolFunction>;
  relu: ReluFunction;
  globalAveragePlanes: GlobalAveragePlanesFunction;
  mulRuns: MulRunsFunction;
  transposeRows: TransposeRowsFunction;
  padRows: PadRowsFunction;
}

interface KernelExports {
  memory: WebAssembly.Memory;
  microkernels: Record<WasmMicrokernel, MicrokernelFunction>;
  linearRows: LinearRowsFunction;
  layers: LayerKernels;
}

const compiled: Partial<Record<WasmVariant, WebAssembly.Module>> = {};
const instances: Partial<Record<WasmVariant, KernelExports>> = {};

/** This thread's instance of one build over the shared arena's memory (instantiated on first use). */
function kernelsOf(variant: WasmVariant): KernelExports {
  const memory = sharedArena().memory;
  const instance = instances[variant];
  if (instance && instance.memory === memory) return instance;
  if (variant === 'fma' && !hasWasmRelaxedSimd()) throw errors.relaxedSimdMissing();
  compiled[variant] ??= new WebAssembly.Module(readFileSync(WASM_URLS[variant]));
  const { exports } = new WebAssembly.Instance(compiled[variant], { env: { memory } });
  const microkernels = Object.fromEntries(WASM_MICROKERNELS.map((name) => [name, exports[name] as MicrokernelFunction]));
  const created = {
    memory,
    microkernels: microkernels as Record<WasmMicrokernel, MicrokernelFunction>,
    linearRows: exports.linearRows as LinearRowsFunction,
    layers: {
      lrnBeta075: exports.lrnBeta075 as LrnBeta075Function,
      maxPool: Object.fromEntries(WASM_MAX_POOL_KERNELS.map((name) => [name, exports[name]])) as Record<WasmMaxPoolKernel, MaxPoolFunction>,
      relu: exports.reluFloats as ReluFunction,
      globalAveragePlanes: exports.globalAveragePlanes as GlobalAveragePlanesFunction,
      mulRuns: exports.mulRuns as MulRunsFunction,
      transposeRows: exports.transposeRows as TransposeRowsFunction,
      padRows: exports.padRows as PadRowsFunction,
    },
  };
  instances[variant] = created;
  return created;
}

/** One microkernel's entry point in one build, on this thread. */
export function wasmMicrokernel(variant: WasmVariant, name: WasmMicrokernel): MicrokernelFunction {
  return kernelsOf(variant).microkernels[name];
}

/** The fully connected kernel of one build, on this thread. */
export function wasmLinearRows(variant: WasmVariant): LinearRowsFunction {
  return kernelsOf(variant).linearRows;
}

/** The LRN, max pooling, ReLU, global average pooling, Mul-by-runs, transpose-rows and pad-rows kernels of one build, on this thread. */
export function wasmLayerKernels(variant: WasmVariant): LayerKernels {
  return kernelsOf(variant).layers;
}
