// The native kernels: the WebAssembly kernels' arithmetic with wide vectors, for the CPUs that have
// them: AVX-512F (16 floats) or else AVX2 with FMA (8 floats), chosen once per process.
//
// Why: our WebAssembly kernels are 128-bit SIMD. On a CPU with two 512-bit FMA units (this project's
// Zen machines) they reach 41-48 GFLOP/s on 1x1 convolutions, about the 128-bit peak, where
// onnxruntime's native code does ~160. These kernels run 1x1 convolutions at 120-160 GFLOP/s on one
// thread with AVX-512 (docs/benchmarks.md), and depthwise, grouped and stem convolutions 1.5-3x faster
// than WebAssembly.
//
// Same bits as the WebAssembly kernels of the relaxed-SIMD ('fma') build, at either width:
// - 1x1 (pointwise): every output its bias (or 0), then one fused multiply-add per input channel in
//   order, as pointwise.ts's tiles accumulate it.
// - Depthwise KxK at stride 1 or 2: its bias, then one fused multiply-add per tap in (ky, kx) order, a
//   tap in the padding multiplying +0, as the WebAssembly depthwise microkernels compute it (kernels.md,
//   "Bitwise determinism": padding read in place is the same +0 the padded copy holds).
// - Other direct KxK convolutions at stride 1 to 4 (dense): its bias, then one fused multiply-add per tap
//   in (input channel, ky, kx) order, as the direct kernels compute it over their phase planes
//   (layout.ts, tapOffsets).
// - Fully connected layers (linear): four lane sums over i mod 4, added pairwise, the last products, the
//   bias, as assembly/linear.ts computes each output.
// - Then the epilogue (residual, activation) from registers, with the same float32 operations as
//   assembly/epilogue.ts, in the same order.
// The tiling only decides which outputs are computed together, never the order of one output's sum. So
// plans may take either kernel, and every worker count, device split and the calling thread keep
// agreeing bit for bit.
//
// Memory: the arena's WebAssembly memory, reached through a Float32Array over all of it; every other
// argument is a byte offset into it. Weights are the plan's packed copy (plan/packing.ts,
// packDirectWeights): per group, blocks of 4 output channels [block][tap][4], then the channels left
// over [channel][tap].
// sched_getcpu and the CPU_* macros (placement.h), declared only with _GNU_SOURCE, before any header.
#ifdef __linux__
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

// The epilogue's codes (src/kernels/wasm/param-block.ts), all applied from registers.
enum { EPILOGUE_NONE = 0, EPILOGUE_RELU = 1, EPILOGUE_CLIP = 2, EPILOGUE_HARDSWISH = 3, EPILOGUE_SIGMOID = 4, EPILOGUE_SILU = 5, EPILOGUE_HARDSIGMOID = 6 };

typedef struct {
  int kind;
  float lo, hi;
  // Residual at the same offset from `residual` as the output from `out` (0: none).
  const float *residual;
  const float *out;
} Epilogue;

// Input bytes of a 1x1's chunk of positions: a chunk's input stays in cache while every channel tile passes over it.
#define CHUNK_INPUT_BYTES (192 * 1024)

// Padded planes (depthwise and dense kernels). Why a padded copy: with it every tap of every strip is a
// plain load. Reading a plane in place took a mask per tap wherever a strip touched the padding, which
// is every strip of a plane under 16 + K columns wide (28x28, 14x14, 7x7), and at stride 2 picking even
// columns cost more than the multiply-adds (two attempts, docs/benchmarks.md). Each padded row is
// stored as its `stride` column phases (at stride 2: even columns, then odd ones), so tap kx of a strip
// of outputs is consecutive floats of phase kx % stride. Copying costs one load and store per vector
// of inputs; the taps cost K * K multiply-adds per vector of outputs.
//
// Why blocks of rows (depthwise): one output's taps are a chain of dependent multiply-adds (4 cycles
// each), so a strip at a time ran at the chain's speed, 11-13 GFLOP/s. 7 or 8 output rows of one strip
// are as many independent chains over the same taps, enough to keep both FMA units busy.
typedef struct {
  int stride, k;
  int phaseFloats;  // floats per column phase of a padded row (a multiple of 16: rows stay 64-byte aligned)
  int rowFloats;    // stride * phaseFloats
} PaddedLayout;

// The layout of padded rows for a kernel of k at `stride` over a row of w input columns after padLeft, each
// phase at least `read` floats long (what the kernel's loads reach).
static PaddedLayout paddedLayout(int k, int stride, int w, int padLeft, int read) {
  const int written = (w - 1 + padLeft) / stride + 1;
  PaddedLayout p;
  p.stride = stride;
  p.k = k;
  p.phaseFloats = ((read > written ? read : written) + 15) & ~15;
  p.rowFloats = stride * p.phaseFloats;
  return p;
}

// The layout whose padding a buffer holds set (+0 for the convolutions, -infinity for max pooling): a
// fill writes only the planes' own floats, so the next call with the same layout (the next image of a
// layer, the next layer of the same shape) skips setting it again.
typedef struct {
  int planes, h, w, padTop, padLeft, stride, rows, rowFloats, phaseFloats, negativeInfinity;
} PaddingKey;

// A thread's padded planes, kept between calls (each worker is one thread): one buffer for the
// convolutions and one for max pooling, so that a chain's stem and pooling, image after image, do not
// set each other's padding again every call.
typedef struct {
  float *data;
  size_t floats;
  PaddingKey key;
} PaddedBuffer;
static __thread PaddedBuffer convolutionPlanes, poolingPlanes;

// Grows `b` to hold at least `floats` floats, 64-byte aligned (a buffer that grows loses its contents, so its
// key too); false if it cannot be allocated.
static int reserveFloats(PaddedBuffer *b, size_t floats) {
  if (floats <= b->floats) return 1;
  free(b->data);
  b->data = (float *)aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
  b->floats = b->data ? floats : 0;
  memset(&b->key, 0, sizeof b->key);
  return b->data != 0;
}

// `b`'s planes: `planes` padded planes of `rows` rows in layout p, their padding +0 (or -infinity with
// `negativeInfinity`); null if they cannot be allocated.
static float *paddedPlanesIn(PaddedBuffer *b, const PaddedLayout *p, int planes, int rows, int h, int w, int padTop, int padLeft, int negativeInfinity) {
  size_t floats = (size_t)planes * rows * p->rowFloats;
  if (!reserveFloats(b, floats)) return 0;
  PaddingKey key = { planes, h, w, padTop, padLeft, p->stride, rows, p->rowFloats, p->phaseFloats, negativeInfinity };
  if (memcmp(&key, &b->key, sizeof key) != 0) {
    if (negativeInfinity) {
      for (size_t i = 0; i < floats; i++) b->data[i] = -INFINITY;
    } else {
      memset(b->data, 0, floats * sizeof(float));
    }
    b->key = key;
  }
  return b->data;
}

static float *paddedPlanes(const PaddedLayout *p, int planes, int rows, int h, int w, int padTop, int padLeft) {
  return paddedPlanesIn(&convolutionPlanes, p, planes, rows, h, w, padTop, padLeft, 0);
}

// Max pooling's padded plane, -infinity around it.
static float *poolingPlane(const PaddedLayout *p, int rows, int h, int w, int padLeft) {
  return paddedPlanesIn(&poolingPlanes, p, 1, rows, h, w, 0, padLeft, 1);
}

// The channel-vector depthwise kernel's buffer (kernels.h, depthwiseAcrossChannels): `rows` x `cols` padded
// positions of `lanes` floats, +0 wherever a fill of this layout writes nothing (kept between calls, as
// paddedPlanesIn keeps a layout's padding), then `extra` floats of scratch; null if it cannot be allocated.
static __thread PaddedBuffer channelVectorBuffer;

static float *channelVectorPlanes(int lanes, int rows, int cols, int h, int w, int padTop, int padLeft, int stride, size_t extra) {
  PaddedBuffer *b = &channelVectorBuffer;
  const size_t padded = (size_t)rows * cols * lanes;
  if (!reserveFloats(b, padded + extra)) return 0;
  PaddingKey key = { lanes, h, w, padTop, padLeft, stride, rows, cols, 0, 0 };
  if (memcmp(&key, &b->key, sizeof key) != 0) {
    memset(b->data, 0, padded * sizeof(float));
    b->key = key;
  }
  return b->data;
}

// A strided 1x1 convolution's input, every stride-th pixel of each plane gathered (kernels.h, dense): no
// padding to keep, so no key; null if it cannot be allocated.
static __thread PaddedBuffer subsampledBuffer;

static float *subsampledPlanes(size_t floats) {
  return reserveFloats(&subsampledBuffer, floats) ? subsampledBuffer.data : 0;
}

// A 1x1 convolution's chunk of input rows copied to rows of whole vectors (kernels.h, pointwise): no
// padding to keep, so no key; null if it cannot be allocated.
static __thread PaddedBuffer alignedRowsBuffer;

static float *alignedRows(size_t floats) {
  return reserveFloats(&alignedRowsBuffer, floats) ? alignedRowsBuffer.data : 0;
}

// The dense kernel's tap table: tap t = (input channel, ky, kx) of a group's planes at offsets[t] floats
// from an output position's first tap; null if it cannot be allocated.
// Made once per layout: the next image of a layer (the next call) finds it made.
static __thread int *tapTable = 0;
static __thread size_t tapTableLength = 0;
static __thread struct { int channels, k, stride, rowFloats, phaseFloats; size_t planeFloats; } tapTableFor;

static const int *tapOffsets(const PaddedLayout *p, int channels, size_t planeFloats) {
  const int k = p->k, s = p->stride;
  const size_t taps = (size_t)channels * k * k;
  if (taps > tapTableLength) {
    free(tapTable);
    tapTable = (int *)malloc(taps * sizeof(int));
    tapTableLength = tapTable ? taps : 0;
    tapTableFor.channels = 0;
    if (!tapTable) return 0;
  }
  if (tapTableFor.channels == channels && tapTableFor.k == k && tapTableFor.stride == s && tapTableFor.rowFloats == p->rowFloats &&
      tapTableFor.phaseFloats == p->phaseFloats && tapTableFor.planeFloats == planeFloats) return tapTable;
  tapTableFor.channels = channels;
  tapTableFor.k = k;
  tapTableFor.stride = s;
  tapTableFor.rowFloats = p->rowFloats;
  tapTableFor.phaseFloats = p->phaseFloats;
  tapTableFor.planeFloats = planeFloats;
  int t = 0;
  for (int ic = 0; ic < channels; ic++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++) tapTable[t++] = (int)(ic * planeFloats + (size_t)ky * p->rowFloats + (size_t)(kx % s) * p->phaseFloats + kx / s);
  return tapTable;
}

// r[j] becomes the floats j of r[0..7]: an 8 x 8 transpose in 256-bit registers (unpack pairs of rows, then
// quads, then swap 128-bit halves). simd256.h's vtranspose, and the 16-float build's global average, which
// takes 8 planes' elements at a time.
__attribute__((target("avx2"))) static inline void transpose8x8(__m256 *r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4q + j]: columns j and j + 4 of rows 4q..4q + 3, one per half.
  for (int q = 0; q < 8; q += 4) {
    u[q] = _mm256_shuffle_ps(t[q], t[q + 2], 0x44);
    u[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], 0xee);
    u[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0x44);
    u[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0xee);
  }
  for (int j = 0; j < 4; j++) {
    r[j] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x20);
    r[j + 4] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x31);
  }
}

// 3 * 16 floats of +0 (and one vector more): what the stride-2 depthwise kernel loads for a padding row.
static const float zeroFloats[64] __attribute__((aligned(64)));

// Whether the depthwise kernel reads a 3x3's input plane in place (and a stride-2 5x5's on rows of one
// vector) rather than through its padded copy. On by default: it measured level to faster on an AVX-512 Xeon
// and on a Zen 5 at both widths (docs/benchmarks.md; a Zen 5 had run an earlier stride-1 version 1.5-2.3x
// slower). Either way the same bits; useDepthwiseInPlace switches it for tests and benchmarks.
static int depthwiseInPlace = 1;

#include "simd512.h"
#include "kernels.h"
#include "simd-names-end.h"
#include "simd256.h"
#include "kernels.h"
#include "simd-names-end.h"

// The vectors' width the calls use (see widestOnThisCpu); -1 until the module first loads.
static int width = -1;

static int64_t argInt(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return (int64_t)d;
}

// A kernel call's arguments: a Float32Array over the whole arena, byte offsets into it of the input, the
// weights, the bias (-1: none) and the output, then `ints` integers, then, with an epilogue, its kind, lo,
// hi and residual offset (-1: none), then, with an input scale, its offset (-1: none) and whether the scale
// is the Mul's first operand.
typedef struct {
  const float *input, *weights, *bias;
  float *out;
  int a[16];
  Epilogue e;
  const float *scale;
  int scaleFirst;
} KernelCall;

// Reads a call's arguments into *c. False, with a TypeError naming the expected ones thrown, otherwise.
static int kernelCall(napi_env env, napi_callback_info info, int ints, int withEpilogue, int withScale, const char *usage, KernelCall *c) {
  napi_value argv[24];
  const size_t count = 5 + ints + (withEpilogue ? 4 : 0) + (withScale ? 2 : 0);
  size_t argc = count;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (argc != count || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  char *base = (char *)data;
  int64_t biasAt = argInt(env, argv[3]);
  c->input = (const float *)(base + argInt(env, argv[1]));
  c->weights = (const float *)(base + argInt(env, argv[2]));
  c->bias = biasAt < 0 ? 0 : (const float *)(base + biasAt);
  c->out = (float *)(base + argInt(env, argv[4]));
  for (int i = 0; i < ints; i++) c->a[i] = (int)argInt(env, argv[5 + i]);
  if (withEpilogue) {
    const size_t at = 5 + ints;
    double lo = 0, hi = 0;
    napi_get_value_double(env, argv[at + 1], &lo);
    napi_get_value_double(env, argv[at + 2], &hi);
    int64_t residualAt = argInt(env, argv[at + 3]);
    Epilogue e = { (int)argInt(env, argv[at]), (float)lo, (float)hi, residualAt < 0 ? 0 : (const float *)(base + residualAt), c->out };
    c->e = e;
  }
  c->scale = 0;
  c->scaleFirst = 0;
  if (withScale) {
    const size_t at = 5 + ints + (withEpilogue ? 4 : 0);
    int64_t scaleAt = argInt(env, argv[at]);
    c->scale = scaleAt < 0 ? 0 : (const float *)(base + scaleAt);
    c->scaleFirst = argInt(env, argv[at + 1]) != 0;
  }
  return 1;
}

#include "placement.h"

static napi_value boolean(napi_env env, int value) {
  napi_value r;
  napi_get_boolean(env, value, &r);
  return r;
}

// pointwise(memory, input, packed, bias, output, taps, channels, hw, c0, c1, q0, q1, kind, lo, hi, residual,
// scale, scaleFirst): output channels [c0, c1) at positions [q0, q1) of the plane; the epilogue `kind` one
// of those above, applied as each output is stored; the input times a scale per channel (-1: none) as it is
// read (kernels.h, pointwise). Bounds are the caller's (plan/run.ts). False, having written nothing, where a
// scaled input's copy could not be allocated.
static napi_value Pointwise(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 7, 1, 1, "pointwise: expected (memory: Float32Array, input, packed, bias, output, taps, channels, hw, c0, c1, q0, q1, kind, lo, hi, residual, scale, scaleFirst)", &c)) return NULL;
  const int done = (width == 16 ? pointwise512 : pointwise256)(c.input, c.weights, c.bias, c.out, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5], c.a[6], c.scale, c.scaleFirst, &c.e);
  return boolean(env, done);
}

// depthwise(memory, input, packed, bias, output, h, w, k, stride, padTop, padLeft, outH, outW, c0, c1, kind, lo, hi, residual):
// one image of a depthwise KxK at stride 1 or 2. False, having written nothing, if its padded plane could
// not be allocated (the caller then runs the WebAssembly kernel).
static napi_value Depthwise(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 10, 1, 0, "depthwise: expected (memory: Float32Array, input, packed, bias, output, h, w, k, stride, padTop, padLeft, outH, outW, c0, c1, kind, lo, hi, residual)", &c)) return NULL;
  return boolean(env, (width == 16 ? depthwise512 : depthwise256)(c.input, c.weights, c.bias, c.out, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5], c.a[6], c.a[7], c.a[8], c.a[9], &c.e));
}

// depthwiseAcrossChannels(...): depthwise's arguments and bits, LANES channels per vector (kernels.h says
// where each is faster). False, having written nothing, if its buffer could not be allocated.
static napi_value DepthwiseAcrossChannels(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 10, 1, 0, "depthwiseAcrossChannels: expected (memory: Float32Array, input, packed, bias, output, h, w, k, stride, padTop, padLeft, outH, outW, c0, c1, kind, lo, hi, residual)", &c)) return NULL;
  return boolean(env, (width == 16 ? depthwiseAcrossChannels512 : depthwiseAcrossChannels256)(c.input, c.weights, c.bias, c.out, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5], c.a[6], c.a[7], c.a[8], c.a[9], &c.e));
}

// dense(memory, input, packed, bias, output, cin, groups, h, w, k, stride, padTop, padLeft, outH, outW, cout, c0, c1, kind, lo, hi, residual):
// one image of a KxK convolution at stride 1 to 4. False, having written nothing, if its padded planes
// could not be allocated (the caller then runs the WebAssembly kernel).
static napi_value Dense(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 13, 1, 0, "dense: expected (memory: Float32Array, input, packed, bias, output, cin, groups, h, w, k, stride, padTop, padLeft, outH, outW, cout, c0, c1, kind, lo, hi, residual)", &c)) return NULL;
  return boolean(env, (width == 16 ? dense512 : dense256)(c.input, c.weights, c.bias, c.out, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5], c.a[6], c.a[7], c.a[8], c.a[9], c.a[10], c.a[11], c.a[12], &c.e));
}

// maxPool(memory, input, 0, -1, output, p0, p1, h, w, outH, outW, kh, kw, sh, sw, ph, pw): planes [p0, p1)
// of a max pooling at stride 1 or 2 along rows, no dilation (the caller checks). False, having written
// nothing, if its padded plane could not be allocated (the caller then runs the WebAssembly kernel).
static napi_value MaxPool(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 12, 0, 0, "maxPool: expected (memory: Float32Array, input, 0, -1, output, p0, p1, h, w, outH, outW, kh, kw, sh, sw, ph, pw)", &c)) return NULL;
  return boolean(env, (width == 16 ? maxPool512 : maxPool256)(c.input, c.out, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5], c.a[6], c.a[7], c.a[8], c.a[9], c.a[10], c.a[11]));
}

// globalAverage(memory, input, 0, -1, output, q0, q1, plane): out[q] = the mean of input's plane q, q in
// [q0, q1), as assembly/global-pool.ts computes it.
static napi_value GlobalAverage(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 3, 0, 0, "globalAverage: expected (memory: Float32Array, input, 0, -1, output, q0, q1, plane)", &c)) return NULL;
  (width == 16 ? globalAverage512 : globalAverage256)(c.input, c.out, c.a[0], c.a[1], c.a[2]);
  return NULL;
}

// linear(memory, x, weight, bias, output, rows, inF, outF, o0, o1): outputs [o0, o1) of every row of a
// fully connected layer, as assembly/linear.ts computes them.
static napi_value Linear(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 5, 0, 0, "linear: expected (memory: Float32Array, x, weight, bias, output, rows, inF, outF, o0, o1)", &c)) return NULL;
  (width == 16 ? linear512 : linear256)(c.input, c.weights, c.bias, c.out, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4]);
  return NULL;
}

// copyRuns(memory, input, 0, -1, output, count, length, inStride, outStride): run i of `length` floats from
// input + i * inStride to output + i * outStride (floats), i < count: the layout kernels' copies (Concat, Split,
// Slice, Transpose rows). Why not Float32Array.set: over a SharedArrayBuffer V8 copies word by word with
// relaxed atomics (relaxed_memmove), 2-5x slower than libc's memmove for the channel planes these copy.
static void copyRuns(float *out, const float *input, int64_t count, int64_t length, int64_t inStride, int64_t outStride) {
  for (int64_t i = 0; i < count; i++) memmove(out + i * outStride, input + i * inStride, (size_t)length * sizeof(float));
}

static napi_value CopyRuns(napi_env env, napi_callback_info info) {
  KernelCall c;
  if (!kernelCall(env, info, 4, 0, 0, "copyRuns: expected (memory: Float32Array, input, 0, -1, output, count, length, inStride, outStride)", &c)) return NULL;
  copyRuns(c.out, c.input, c.a[0], c.a[1], c.a[2], c.a[3]);
  return NULL;
}

// A program's convolution and global average pool tasks in a row, on one runner (src/engine/native-stages.ts):
// each record the arguments runPlan would give pointwise, depthwise, depthwiseAcrossChannels or dense for one
// task (or the ranged pool its globalAverage, the ranged Gemm its linear), its
// tensors named by the program's buffer indexes, whose byte offsets this run's table holds (two doubles a
// buffer, offset then length, from `buffersAt`). The same calls with the same arguments, so the same bits;
// what goes is the JavaScript between them, whose code and objects a forward's kernels had pushed out of
// the cache: about 4 us a task on efficientnet_b0 at batch 1 (docs/benchmarks.md).
#define STAGE_RECORD 32
enum { RECORD_POINTWISE = 1, RECORD_DEPTHWISE = 2, RECORD_DEPTHWISE_ACROSS = 3, RECORD_DENSE = 4, RECORD_GLOBAL_AVERAGE = 5, RECORD_LINEAR = 6, RECORD_COPY = 7 };

// Program buffer `index`'s floats, from this run's (offset, length) pairs at `buffers`; null for index -1 (none).
static float *recordBuffer(char *base, const double *buffers, double index) {
  return index < 0 ? 0 : (float *)(base + (int64_t)buffers[2 * (int64_t)index]);
}

// One record, image by image. False, having written nothing for the image it stopped at, where a dense or
// depthwise kernel could not allocate its planes or a scaled copy failed (the caller runs that task itself).
static int runRecord(char *base, const double *r, const double *buffers) {
  const int kind = (int)r[0];
  if (kind == RECORD_GLOBAL_AVERAGE) {
    // A global average pool's planes [r[11], r[12]) of r[13] floats each, as globalAveragePlanesSimd calls it.
    (width == 16 ? globalAverage512 : globalAverage256)(recordBuffer(base, buffers, r[1]), recordBuffer(base, buffers, r[2]), (int)r[11], (int)r[12], (int)r[13]);
    return 1;
  }
  if (kind == RECORD_COPY) {
    // One copy of a layout op (Concat, Slice, a channel shuffle; ranged/layout.ts, layoutCopies), as CopyRuns
    // makes it: r[13] runs of r[14] floats from buffer r[1] at r[11] + i * r[15] to buffer r[2] at
    // r[12] + i * r[16] (floats).
    const int64_t from = (int64_t)r[11], to = (int64_t)r[12];
    copyRuns(recordBuffer(base, buffers, r[2]) + to, recordBuffer(base, buffers, r[1]) + from, (int64_t)r[13], (int64_t)r[14], (int64_t)r[15], (int64_t)r[16]);
    return 1;
  }
  if (kind == RECORD_LINEAR) {
    // A fully connected layer's outputs [r[14], r[15]) of every row, as the ranged Gemm calls linear: x r[1],
    // out r[2], weight r[3], bias r[4] (-1: none); rows, inF, outF r[11..13].
    (width == 16 ? linear512 : linear256)(recordBuffer(base, buffers, r[1]), recordBuffer(base, buffers, r[3]), recordBuffer(base, buffers, r[4]), recordBuffer(base, buffers, r[2]),
                                          (int)r[11], (int)r[12], (int)r[13], (int)r[14], (int)r[15]);
    return 1;
  }
  const int scaleFirst = r[5] != 0;
  const float *packed = (const float *)(base + (int64_t)r[6]);
  const float *bias = r[7] < 0 ? 0 : (const float *)(base + (int64_t)r[7]);
  const int epilogue = (int)r[8];
  const float lo = (float)r[9], hi = (float)r[10];
  const int b0 = (int)r[11], b1 = (int)r[12], c0 = (int)r[13], c1 = (int)r[14], q0 = (int)r[15], q1 = (int)r[16];
  const int cin = (int)r[17], cout = (int)r[18], groups = (int)r[19], h = (int)r[20], w = (int)r[21], k = (int)r[22], stride = (int)r[23];
  const int padTop = (int)r[24], padLeft = (int)r[25], outH = (int)r[26], outW = (int)r[27];
  const size_t inImage = (size_t)cin * h * w, outImage = (size_t)cout * outH * outW;
  const float *input = recordBuffer(base, buffers, r[1]);
  float *output = recordBuffer(base, buffers, r[2]);
  const float *residual = recordBuffer(base, buffers, r[3]);
  const float *scale = recordBuffer(base, buffers, r[4]);
  for (int n = b0; n < b1; n++) {
    const float *x = input + (size_t)n * inImage;
    float *out = output + (size_t)n * outImage;
    Epilogue e = { epilogue, lo, hi, residual ? residual + (size_t)n * outImage : 0, out };
    int done = 0;
    switch (kind) {
      case RECORD_POINTWISE:
        done = (width == 16 ? pointwise512 : pointwise256)(x, packed, bias, out, cin, cout, outH * outW, c0, c1, q0, q1, scale ? scale + (size_t)n * cin : 0, scaleFirst, &e);
        break;
      case RECORD_DEPTHWISE:
        done = (width == 16 ? depthwise512 : depthwise256)(x, packed, bias, out, h, w, k, stride, padTop, padLeft, outH, outW, c0, c1, &e);
        break;
      case RECORD_DEPTHWISE_ACROSS:
        done = (width == 16 ? depthwiseAcrossChannels512 : depthwiseAcrossChannels256)(x, packed, bias, out, h, w, k, stride, padTop, padLeft, outH, outW, c0, c1, &e);
        break;
      case RECORD_DENSE:
        done = (width == 16 ? dense512 : dense256)(x, packed, bias, out, cin, groups, h, w, k, stride, padTop, padLeft, outH, outW, cout, c0, c1, &e);
        break;
    }
    if (!done) return 0;
  }
  return 1;
}

// Milliseconds on CLOCK_MONOTONIC, the clock libuv's uv_hrtime (performance.now()) reads on Linux. A
// profiled run's native tasks are timed with it, plus the offset to the runner's absoluteNow() that the
// runner measured once (src/engine/native-stages.ts, nativeClockOffset): per task, not one start and end for a whole call.
static double monotonicMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

// now(): monotonicMs(), for that offset.
static napi_value Now(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_double(env, monotonicMs(), &r);
  return r;
}

// runStages(memory, records: Float64Array, count, buffersAt, cancelAt[, times: Float64Array, clockOffset]): records
// [0, count) in order until one cannot run (runRecord) or the int32 at cancelAt (the run's cancel flag) is set;
// returns how many ran. With `times` (a profiled run), record i's start and end at times[2i] and times[2i + 1],
// in monotonicMs() + clockOffset.
static napi_value RunStages(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type, recordsType, timesType = napi_float64_array;
  size_t length = 0, recordsLength = 0, timesLength = 0;
  void *data = NULL, *recordsData = NULL, *timesData = NULL;
  if ((argc != 5 && argc != 7) || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float32_array ||
      napi_get_typedarray_info(env, argv[1], &recordsType, &recordsLength, &recordsData, NULL, NULL) != napi_ok || recordsType != napi_float64_array ||
      (argc == 7 && (napi_get_typedarray_info(env, argv[5], &timesType, &timesLength, &timesData, NULL, NULL) != napi_ok || timesType != napi_float64_array))) {
    napi_throw_type_error(env, NULL, "runStages: expected (memory: Float32Array, records: Float64Array, count, buffersAt, cancelAt[, times: Float64Array, clockOffset])");
    return NULL;
  }
  char *base = (char *)data;
  const int64_t count = argInt(env, argv[2]);
  if (count < 0 || (size_t)count * STAGE_RECORD > recordsLength || (argc == 7 && (size_t)count * 2 > timesLength)) {
    napi_throw_range_error(env, NULL, "runStages: count exceeds the records or the times");
    return NULL;
  }
  double *times = (double *)timesData, clockOffset = 0;
  if (argc == 7 && napi_get_value_double(env, argv[6], &clockOffset) != napi_ok) {
    napi_throw_type_error(env, NULL, "runStages: expected clockOffset to be a number");
    return NULL;
  }
  const double *buffers = (const double *)(base + argInt(env, argv[3]));
  const int *cancel = (const int *)(base + argInt(env, argv[4]));
  int64_t i = 0;
  for (; i < count; i++) {
    if (__atomic_load_n(cancel, __ATOMIC_SEQ_CST) != 0) break;
    const double start = times ? monotonicMs() : 0;
    if (!runRecord(base, (const double *)recordsData + i * STAGE_RECORD, buffers)) break;
    if (times) {
      times[2 * i] = start + clockOffset;
      times[2 * i + 1] = monotonicMs() + clockOffset;
    }
  }
  napi_value r;
  napi_create_int32(env, (int32_t)i, &r);
  return r;
}

// runStageTasks(memory, records: Float64Array, tableAt, stage, stages, first, count, runner, buffersAt, timesAt,
// result: Int32Array(4)[, clockOffset, thread]): one runner of a run cut for several, on stage `stage` of its run table
// (program-table.ts), its tasks' records in task order: claims the stage's tasks as ProgramTable.claim does
// (even runners from the front, odd ones from the back, in one atomic word; past MAX_TWO_ENDED_TASKS from
// the front only), runs each, and counts it done as finishedOne does, the runner that finishes the last one
// moving the completed stages word from `stage` to `stage + 1`. It wakes nobody: V8's Atomics.wait is not a
// futex this code could wake, so the caller does (result[1]: it finished the stage's last task; result[3]:
// it moved the word). Stops when no task is left, when the cancel flag is set, or at a task whose kernel
// could not allocate (claimed, not run: result[2], else -1). result[0]: the tasks it ran. Each run task's
// times (three doubles a task from timesAt: start, end, thread): with clockOffset and thread (a profiled
// run) its start and end in monotonicMs() + clockOffset and the runner's thread id, else 1, 1 and 0. The end,
// written last and before the task counts as done, is what says it finished.
#define TABLE_CANCEL 0
#define TABLE_COMPLETED 1
#define TABLE_HEADER 4
#define MAX_TWO_ENDED_TASKS 0x7fff
static napi_value RunStageTasks(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type, recordsType, resultType;
  size_t length = 0, recordsLength = 0, resultLength = 0;
  void *data = NULL, *recordsData = NULL, *resultData = NULL;
  if ((argc != 11 && argc != 13) || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float32_array ||
      napi_get_typedarray_info(env, argv[1], &recordsType, &recordsLength, &recordsData, NULL, NULL) != napi_ok || recordsType != napi_float64_array ||
      napi_get_typedarray_info(env, argv[10], &resultType, &resultLength, &resultData, NULL, NULL) != napi_ok || resultType != napi_int32_array || resultLength < 4) {
    napi_throw_type_error(env, NULL, "runStageTasks: expected (memory: Float32Array, records: Float64Array, tableAt, stage, stages, first, count, runner, buffersAt, timesAt, result: Int32Array(4)[, clockOffset, thread])");
    return NULL;
  }
  const int timed = argc == 13;
  double clockOffset = 0, thread = 0;
  if (timed && (napi_get_value_double(env, argv[11], &clockOffset) != napi_ok || napi_get_value_double(env, argv[12], &thread) != napi_ok)) {
    napi_throw_type_error(env, NULL, "runStageTasks: expected clockOffset and thread to be numbers");
    return NULL;
  }
  char *base = (char *)data;
  int *ints = (int *)(base + argInt(env, argv[2]));
  const int stage = (int)argInt(env, argv[3]), stages = (int)argInt(env, argv[4]), first = (int)argInt(env, argv[5]), count = (int)argInt(env, argv[6]);
  const int runner = (int)argInt(env, argv[7]);
  const double *buffers = (const double *)(base + argInt(env, argv[8]));
  double *times = (double *)(base + argInt(env, argv[9]));
  int *result = (int *)resultData;
  if (count < 0 || (size_t)count * STAGE_RECORD > recordsLength) {
    napi_throw_range_error(env, NULL, "runStageTasks: count exceeds the records");
    return NULL;
  }
  result[0] = 0;
  result[1] = 0;
  result[2] = -1;
  result[3] = 0;
  int *claimWord = ints + TABLE_HEADER + 2 * stage, *doneWord = claimWord + 1;
  const int fromBack = (runner & 1) == 1;
  for (;;) {
    if (__atomic_load_n(ints + TABLE_CANCEL, __ATOMIC_SEQ_CST) != 0) break;
    int local = -1;
    if (count > MAX_TWO_ENDED_TASKS) {
      local = __atomic_fetch_add(claimWord, 1, __ATOMIC_SEQ_CST);
      if (local >= count) break;
    } else {
      int claimed = __atomic_load_n(claimWord, __ATOMIC_SEQ_CST);
      for (;;) {
        const int front = claimed & 0xffff, back = (int)((unsigned)claimed >> 16);
        if (front + back >= count) break;
        if (__atomic_compare_exchange_n(claimWord, &claimed, claimed + (fromBack ? 0x10000 : 1), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
          local = fromBack ? count - 1 - back : front;
          break;
        }
      }
      if (local < 0) break;
    }
    const int task = first + local;
    __atomic_store_n(ints + TABLE_HEADER + 2 * stages + task, runner + 1, __ATOMIC_SEQ_CST);
    const double start = timed ? monotonicMs() + clockOffset : 1;
    if (!runRecord(base, (const double *)recordsData + (size_t)local * STAGE_RECORD, buffers)) {
      result[2] = task;
      break;
    }
    times[3 * (size_t)task] = start;
    times[3 * (size_t)task + 2] = thread;
    times[3 * (size_t)task + 1] = timed ? monotonicMs() + clockOffset : 1;
    result[0]++;
    if (__atomic_add_fetch(doneWord, 1, __ATOMIC_SEQ_CST) == count) {
      int expected = stage;
      result[1] = 1;
      result[3] = __atomic_compare_exchange_n(ints + TABLE_COMPLETED, &expected, stage + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
  }
  return NULL;
}

// The widest vectors this CPU runs: 16 floats (AVX-512F), 8 (AVX2 and FMA), or 0 (neither: no native kernels).
static int widestOnThisCpu(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return 16;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
  return 0;
}

// available(): whether this CPU runs the native kernels at all.
static napi_value Available(napi_env env, napi_callback_info info) {
  (void)info;
  return boolean(env, width != 0);
}

// width(): the vectors' floats, 16 or 8 (0: not available).
static napi_value Width(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, width, &r);
  return r;
}

// useWidth(n): run the kernels with n-float vectors from now on, in every thread of the process (tests and
// benchmarks compare the two builds on one machine). n is 16 or 8 and this CPU must run it; returns the
// previous width.
static napi_value UseWidth(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t n = argc == 1 ? argInt(env, argv[0]) : 0;
  int widest = widestOnThisCpu();
  if ((n != 16 && n != 8) || n > widest) {
    napi_throw_range_error(env, NULL, "useWidth: expected 16 (AVX-512F) or 8 (AVX2 + FMA), one this CPU runs");
    return NULL;
  }
  napi_value r;
  napi_create_int32(env, width, &r);
  width = (int)n;
  return r;
}

// depthwiseInPlace(): whether the depthwise kernel reads a 3x3's input in place (see depthwiseInPlace).
static napi_value DepthwiseInPlace(napi_env env, napi_callback_info info) {
  (void)info;
  return boolean(env, depthwiseInPlace == 1);
}

// useDepthwiseInPlace(on): whether it does from now on, in every thread of the process (tests run both ways;
// benchmarks compare them); returns the previous setting.
static napi_value UseDepthwiseInPlace(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool on = false;
  if (argc != 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "useDepthwiseInPlace: expected true or false");
    return NULL;
  }
  napi_value r = boolean(env, depthwiseInPlace == 1);
  depthwiseInPlace = on ? 1 : 0;
  return r;
}

NAPI_MODULE_INIT() {
  // Once per process (the module is loaded by every thread, its statics shared).
  if (width < 0) width = widestOnThisCpu();
  // Writable and configurable, as plain exports are (tests spy on them).
  const napi_property_descriptor functions[] = {
    { "pointwise", NULL, Pointwise, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "depthwise", NULL, Depthwise, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "depthwiseAcrossChannels", NULL, DepthwiseAcrossChannels, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "dense", NULL, Dense, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "maxPool", NULL, MaxPool, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "globalAverage", NULL, GlobalAverage, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "copyRuns", NULL, CopyRuns, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "linear", NULL, Linear, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "runStages", NULL, RunStages, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "runStageTasks", NULL, RunStageTasks, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "now", NULL, Now, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "available", NULL, Available, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "width", NULL, Width, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "useWidth", NULL, UseWidth, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "depthwiseInPlace", NULL, DepthwiseInPlace, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "useDepthwiseInPlace", NULL, UseDepthwiseInPlace, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "osThreadId", NULL, OsThreadId, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "currentCpu", NULL, CurrentCpu, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "keepOffCpu", NULL, KeepOffCpu, NULL, NULL, NULL, napi_default_jsproperty, NULL },
    { "runOnlyOnNth", NULL, RunOnlyOnNth, NULL, NULL, NULL, napi_default_jsproperty, NULL },
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
