// Native 1x1 convolutions: the WebAssembly pointwise microkernel's arithmetic
// with 512-bit vectors (AVX-512), for the CPUs that have them.
//
// Why: our WebAssembly kernels are 128-bit SIMD. On a CPU with two 512-bit FMA
// units (this project's Zen 5 machines) they reach 41-48 GFLOP/s on 1x1
// convolutions, about the 128-bit peak, where onnxruntime's native code does
// ~160. A 1x1 convolution is most of a MobileNet's, a ResNeXt's or a
// ShuffleNet's work. This kernel runs them at 120-160 GFLOP/s on one thread
// (docs/benchmarks.md).
//
// Same bits as the WebAssembly kernel of the relaxed-SIMD ('fma') build:
// every output is its bias (or 0), then one fused multiply-add per input
// channel in order, exactly as pointwise.ts's tiles accumulate it; the tiling
// only decides which outputs are computed together, never the order of one
// output's sum. The epilogue (residual, activation) is left to the WebAssembly
// epilogue, applied to the stored outputs: the same float32 steps. So plans
// may take either kernel, and every worker count, device split and the
// calling thread keep agreeing bit for bit.
//
// Memory: the arena's WebAssembly memory, reached through a Float32Array over
// all of it; every other argument is a byte offset into it. Weights are the
// plan's packed copy (plan/packing.ts, packDirectWeights): blocks of 4 output
// channels [block][tap][4], then the channels left over [channel][tap].
#include <node_api.h>
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The epilogue's codes (src/kernels/wasm/param-block.ts), all applied from registers.
enum { EPILOGUE_NONE = 0, EPILOGUE_RELU = 1, EPILOGUE_CLIP = 2, EPILOGUE_HARDSWISH = 3, EPILOGUE_SIGMOID = 4, EPILOGUE_SILU = 5, EPILOGUE_HARDSIGMOID = 6 };

typedef struct {
  int kind;
  float lo, hi;
  // Residual at the same offset from `residual` as the output from `out` (0: none).
  const float *residual;
  const float *out;
} Epilogue;

// WebAssembly's f32x4.pmax(a, b) = a < b ? b : a and pmin(a, b) = b < a ? b : a, exactly (NaN and -0 included).
__attribute__((target("avx512f"))) static inline __m512 pmax(__m512 a, __m512 b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), a, b); }
__attribute__((target("avx512f"))) static inline __m512 pmin(__m512 a, __m512 b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, a, _CMP_LT_OQ), a, b); }

// assembly/exp.ts's exp4, operation for operation (src/kernels/wasm/exp-constants.ts: the same float32
// constants): each a single rounding, no fused multiply-add (-ffp-contract=off), so the same bits.
__attribute__((target("avx512f")))
static inline __m512 exp4(__m512 x) {
  __m512 v = pmin(pmax(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
  const __m512 rounder = _mm512_set1_ps(12582912.0f);
  __m512 t = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.4426950216293335f)), rounder);
  __m512 kf = _mm512_sub_ps(t, rounder);
  __m512i k = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4b400000));
  __m512 r = _mm512_sub_ps(v, _mm512_mul_ps(kf, _mm512_set1_ps(0.693359375f)));
  r = _mm512_sub_ps(r, _mm512_mul_ps(kf, _mm512_set1_ps(-0.00021219444170128554f)));
  __m512 z = _mm512_mul_ps(r, r);
  __m512 p = _mm512_set1_ps(0.00019875691214110702f);
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.001398199936375022f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.008333452045917511f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.04166579619050026f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.1666666567325592f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
  p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, z), r), _mm512_set1_ps(1.0f));
  __m512i k1 = _mm512_srai_epi32(k, 1);
  __m512i k2 = _mm512_sub_epi32(k, k1);
  __m512i bias = _mm512_set1_epi32(127);
  __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k1, bias), 23));
  __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k2, bias), 23));
  return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

// 1 / (1 + exp(-v)): the WebAssembly sigmoid's bits. Its exp(-v) takes a shorter path where it can,
// with exp4(-v)'s bits wherever 1 + exp(-v) is not 1 (assembly/exp.ts, expNegatedForSigmoid4), so
// exp4 of the negation gives the same sum, and the same quotient.
__attribute__((target("avx512f")))
static inline __m512 sigmoid(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 negated = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)));
  return _mm512_div_ps(one, _mm512_add_ps(one, exp4(negated)));
}

// x86 gives a NaN operand back (quietened) from an add or a multiply, the first source's when both
// are NaN. V8 emits WebAssembly's a + b and a * b with a first; GCC may swap a commutative pair. So
// where both can be NaN with different bits (v + residual; v * sigmoid(v), whose NaN has v's sign
// flipped), the result takes a's NaN, else b's, as V8's instruction does.
__attribute__((target("avx512f")))
static inline __m512 nanOrdered(__m512 result, __m512 a, __m512 b) {
  const __m512i quiet = _mm512_set1_epi32(0x00400000);
  result = _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q), _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(b), quiet)));
  return _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), quiet)));
}

// act(v [+ residual]) as assembly/epilogue.ts's activate: the same float32 operations in the same order.
__attribute__((target("avx512f")))
static inline __m512 finish(__m512 v, const Epilogue *e, float *at, __mmask16 m) {
  if (e->residual) {
    __m512 r = _mm512_maskz_loadu_ps(m, e->residual + (at - e->out));
    v = nanOrdered(_mm512_add_ps(v, r), v, r);
  }
  switch (e->kind) {
    case EPILOGUE_RELU: return _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v);
    case EPILOGUE_CLIP: return pmin(pmax(v, _mm512_set1_ps(e->lo)), _mm512_set1_ps(e->hi));
    case EPILOGUE_HARDSWISH: {
      __m512 six = _mm512_set1_ps(6.0f);
      __m512 gate = pmin(pmax(_mm512_add_ps(v, _mm512_set1_ps(3.0f)), _mm512_setzero_ps()), six);
      return _mm512_div_ps(_mm512_mul_ps(v, gate), six);
    }
    case EPILOGUE_SIGMOID: return sigmoid(v);
    case EPILOGUE_SILU: {
      __m512 s = sigmoid(v);
      return nanOrdered(_mm512_mul_ps(v, s), v, s);
    }
    case EPILOGUE_HARDSIGMOID: {
      __m512 t = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(e->lo)), _mm512_set1_ps(e->hi));
      return pmax(pmin(t, _mm512_set1_ps(1.0f)), _mm512_setzero_ps());
    }
    default: return v;
  }
}

__attribute__((target("avx512f")))
static inline void store(float *at, __m512 v, __mmask16 m, const Epilogue *e) {
  _mm512_mask_storeu_ps(at, m, finish(v, e, at, m));
}

// 4 or 8 channels (one or two 4-channel blocks) x 32 positions: up to 16 accumulators of the 32
// registers, each a variable of its own: held in an array, GCC kept them on the stack and stored every
// one back after each multiply-add (50 GFLOP/s where named registers reach 130-160).
// TAP: where tap t's first 16 inputs start (a 1x1's input channel t; a KxK's offset table entry); the
// second 16 are `secondIn` floats on, their outputs `secondOut` on (16 and 16: 32 consecutive positions).
#define TILE_BODY(W, TAP)                                                                              \
  __m512 l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7;                               \
  l0 = h0 = _mm512_set1_ps(bias ? bias[0] : 0.0f);                                                     \
  l1 = h1 = _mm512_set1_ps(bias ? bias[1] : 0.0f);                                                     \
  l2 = h2 = _mm512_set1_ps(bias ? bias[2] : 0.0f);                                                     \
  l3 = h3 = _mm512_set1_ps(bias ? bias[3] : 0.0f);                                                     \
  if (W == 8) {                                                                                        \
    l4 = h4 = _mm512_set1_ps(bias ? bias[4] : 0.0f);                                                   \
    l5 = h5 = _mm512_set1_ps(bias ? bias[5] : 0.0f);                                                   \
    l6 = h6 = _mm512_set1_ps(bias ? bias[6] : 0.0f);                                                   \
    l7 = h7 = _mm512_set1_ps(bias ? bias[7] : 0.0f);                                                   \
  } else {                                                                                             \
    l4 = h4 = l5 = h5 = l6 = h6 = l7 = h7 = _mm512_setzero_ps();                                       \
  }                                                                                                    \
  for (int t = 0; t < taps; t++) {                                                                     \
    const float *xr = TAP;                                                                             \
    __m512 a = _mm512_maskz_loadu_ps(m0, xr), c = _mm512_maskz_loadu_ps(m1, xr + secondIn), s;         \
    const float *w0 = blk0 + t * 4;                                                                    \
    s = _mm512_set1_ps(w0[0]); l0 = _mm512_fmadd_ps(s, a, l0); h0 = _mm512_fmadd_ps(s, c, h0);         \
    s = _mm512_set1_ps(w0[1]); l1 = _mm512_fmadd_ps(s, a, l1); h1 = _mm512_fmadd_ps(s, c, h1);         \
    s = _mm512_set1_ps(w0[2]); l2 = _mm512_fmadd_ps(s, a, l2); h2 = _mm512_fmadd_ps(s, c, h2);         \
    s = _mm512_set1_ps(w0[3]); l3 = _mm512_fmadd_ps(s, a, l3); h3 = _mm512_fmadd_ps(s, c, h3);         \
    if (W == 8) {                                                                                      \
      const float *w1 = blk1 + t * 4;                                                                  \
      s = _mm512_set1_ps(w1[0]); l4 = _mm512_fmadd_ps(s, a, l4); h4 = _mm512_fmadd_ps(s, c, h4);       \
      s = _mm512_set1_ps(w1[1]); l5 = _mm512_fmadd_ps(s, a, l5); h5 = _mm512_fmadd_ps(s, c, h5);       \
      s = _mm512_set1_ps(w1[2]); l6 = _mm512_fmadd_ps(s, a, l6); h6 = _mm512_fmadd_ps(s, c, h6);       \
      s = _mm512_set1_ps(w1[3]); l7 = _mm512_fmadd_ps(s, a, l7); h7 = _mm512_fmadd_ps(s, c, h7);       \
    }                                                                                                  \
  }                                                                                                    \
  float *o = out + p;                                                                                  \
  store(o, l0, m0, e); store(o + secondOut, h0, m1, e); o += hw;                                              \
  store(o, l1, m0, e); store(o + secondOut, h1, m1, e); o += hw;                                              \
  store(o, l2, m0, e); store(o + secondOut, h2, m1, e); o += hw;                                              \
  store(o, l3, m0, e); store(o + secondOut, h3, m1, e); o += hw;                                              \
  if (W == 8) {                                                                                        \
    store(o, l4, m0, e); store(o + secondOut, h4, m1, e); o += hw;                                            \
    store(o, l5, m0, e); store(o + secondOut, h5, m1, e); o += hw;                                            \
    store(o, l6, m0, e); store(o + secondOut, h6, m1, e); o += hw;                                            \
    store(o, l7, m0, e); store(o + secondOut, h7, m1, e);                                                     \
  }

#define POINTWISE_TAP (x + p + (size_t)t * hw)

__attribute__((target("avx512f")))
static void tile8(const float *x, const float *blk0, const float *blk1, const float *bias, float *out, int taps, int hw, int p, __mmask16 m0, __mmask16 m1, const Epilogue *e) {
  const int secondIn = 16, secondOut = 16;
  TILE_BODY(8, POINTWISE_TAP)
}

__attribute__((target("avx512f")))
static void tile4(const float *x, const float *blk0, const float *bias, float *out, int taps, int hw, int p, __mmask16 m0, __mmask16 m1, const Epilogue *e) {
  const float *blk1 = 0;
  (void)blk1;
  const int secondIn = 16, secondOut = 16;
  TILE_BODY(4, POINTWISE_TAP)
}

// One channel whose weights for tap t are at w[t * step].
#define ROW1_BODY(TAP)                                                                                 \
  __m512 a0 = _mm512_set1_ps(bias), a1 = a0;                                                           \
  for (int t = 0; t < taps; t++) {                                                                     \
    const float *xr = TAP;                                                                             \
    __m512 s = _mm512_set1_ps(w[(size_t)t * step]);                                                    \
    a0 = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m0, xr), a0);                                        \
    a1 = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m1, xr + secondIn), a1);                             \
  }                                                                                                    \
  store(out + p, a0, m0, e);                                                                           \
  store(out + p + secondOut, a1, m1, e);

__attribute__((target("avx512f")))
static void row1(const float *x, const float *w, int step, float bias, float *out, int taps, int hw, int p, __mmask16 m0, __mmask16 m1, const Epilogue *e) {
  const int secondIn = 16, secondOut = 16;
  ROW1_BODY(POINTWISE_TAP)
}

// The same tiles for a KxK convolution over padded planes (see dense512): tap t's inputs at
// x + offsets[t], the outputs at out (p = 0), channels hw apart; the 32 positions are one row's, or, where
// rows are 16 wide or less, two rows' (secondIn and secondOut a row of input and of output apart).
#define OFFSET_TAP (x + offsets[t])

__attribute__((target("avx512f")))
static void denseTile8(const float *x, const int *offsets, const float *blk0, const float *blk1, const float *bias, float *out, int taps, int hw, int secondIn, int secondOut, __mmask16 m0, __mmask16 m1, const Epilogue *e) {
  const int p = 0;
  TILE_BODY(8, OFFSET_TAP)
}

__attribute__((target("avx512f")))
static void denseTile4(const float *x, const int *offsets, const float *blk0, const float *bias, float *out, int taps, int hw, int secondIn, int secondOut, __mmask16 m0, __mmask16 m1, const Epilogue *e) {
  const int p = 0;
  const float *blk1 = 0;
  (void)blk1;
  TILE_BODY(4, OFFSET_TAP)
}

__attribute__((target("avx512f")))
static void denseRow1(const float *x, const int *offsets, const float *w, int step, float bias, float *out, int taps, int secondIn, int secondOut, __mmask16 m0, __mmask16 m1, const Epilogue *e) {
  const int p = 0;
  ROW1_BODY(OFFSET_TAP)
}

// Output channels [c0, c1) of positions [p0, p1) (whole strips of 32 but the plane's last) of one image.
__attribute__((target("avx512f")))
static void chunk512(const float *x, const float *packed, const float *bias, float *out, int taps, int channels, int hw, int c0, int c1, int p0, int p1, const Epilogue *e) {
  const int blocks = channels >> 2;
  const float *rest = packed + (size_t)blocks * 4 * taps;
  int c = c0;
  // Channels before the first whole block of the range, one at a time.
  for (; c < c1 && (c & 3) != 0 && c < blocks * 4; c++) {
    for (int p = p0; p < p1; p += 32) {
      int left = hw - p;
      __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
      __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
      row1(x, packed + (size_t)(c >> 2) * 4 * taps + (c & 3), 4, bias ? bias[c] : 0.0f, out + (size_t)c * hw, taps, hw, p, m0, m1, e);
    }
  }
  for (; c < c1; ) {
    int width = c + 8 <= c1 && c + 8 <= blocks * 4 ? 8 : c + 4 <= c1 && c + 4 <= blocks * 4 ? 4 : 1;
    for (int p = p0; p < p1; p += 32) {
      int left = hw - p;
      __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
      __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
      if (width == 8) {
        tile8(x, packed + (size_t)(c >> 2) * 4 * taps, packed + (size_t)((c >> 2) + 1) * 4 * taps, bias ? bias + c : 0, out + (size_t)c * hw, taps, hw, p, m0, m1, e);
      } else if (width == 4) {
        tile4(x, packed + (size_t)(c >> 2) * 4 * taps, bias ? bias + c : 0, out + (size_t)c * hw, taps, hw, p, m0, m1, e);
      } else if (c < blocks * 4) {
        row1(x, packed + (size_t)(c >> 2) * 4 * taps + (c & 3), 4, bias ? bias[c] : 0.0f, out + (size_t)c * hw, taps, hw, p, m0, m1, e);
      } else {
        row1(x, rest + (size_t)(c - blocks * 4) * taps, 1, bias ? bias[c] : 0.0f, out + (size_t)c * hw, taps, hw, p, m0, m1, e);
      }
    }
    c += width;
  }
}

// Input bytes of a chunk of positions: a chunk's input stays in cache while every channel tile passes over it.
#define CHUNK_INPUT_BYTES (192 * 1024)

// Output channels [c0, c1) of one image: x [taps][hw], out [channels][hw] from channel 0. Positions go in
// chunks whose input fits in cache, each taken through every channel tile: with few input channels a tile
// writes long runs of each output row, with many the chunk's input is read from cache by every tile.
__attribute__((target("avx512f")))
static void pointwise512(const float *x, const float *packed, const float *bias, float *out, int taps, int channels, int hw, int c0, int c1, const Epilogue *e) {
  int chunk = CHUNK_INPUT_BYTES / (taps * 4);
  chunk = chunk < 32 ? 32 : chunk & ~31;
  for (int p0 = 0; p0 < hw; p0 += chunk) {
    int p1 = p0 + chunk < hw ? p0 + chunk : hw;
    chunk512(x, packed, bias, out, taps, channels, hw, c0, c1, p0, p1, e);
  }
}

// Depthwise KxK at stride 1 or 2 (one input channel per output channel), output channels [c0, c1) of
// one image: each output its bias, then one fused multiply-add per tap in (ky, kx) order, a tap in the
// padding multiplying +0, as the WebAssembly depthwise microkernels compute it (kernels.md, "Bitwise
// determinism": padding read in place is the same +0 the padded copy holds, read in the same order).
// x [channels][h][w], out [channels][outH][outW], weights [channel][K * K].
//
// Why a padded copy of each plane: with it every tap of every strip is a plain load. Reading the plane in
// place took a mask per tap wherever a strip touched the padding, which is every strip of a plane under
// 16 + K columns wide (28x28, 14x14, 7x7), and at stride 2 picking even columns cost more than the
// multiply-adds (two attempts, docs/benchmarks.md). The copy stores each padded row as its `stride`
// column phases (at stride 2: even columns, then odd ones), so tap kx of a 16-output strip is 16
// consecutive floats of phase kx % stride. Copying costs one load and store per 16 inputs; the taps
// cost K * K multiply-adds per 16 outputs.
//
// Why blocks of rows: one output's taps are a chain of dependent multiply-adds (4 cycles each), so a
// strip at a time ran at the chain's speed, 11-13 GFLOP/s. ROWS output rows of one strip are ROWS
// independent chains over the same taps, enough to keep both FMA units busy.

// A thread's padded plane, kept between calls (each worker is one thread; a few hundred KiB at most).
static __thread float *padded = 0;
static __thread size_t paddedFloats = 0;

typedef struct {
  int stride, k;
  int phaseFloats;  // floats per column phase of a padded row
  int rowFloats;    // stride * phaseFloats
} PaddedLayout;

// The layout whose padding the buffer holds zeroed: a fill writes only the planes' own floats, so the
// next call with the same layout (the next image of a layer, the next layer of the same shape) skips
// zeroing it again.
typedef struct {
  int planes, h, w, padTop, padLeft, stride, rows, rowFloats, phaseFloats;
} PaddingKey;
static __thread PaddingKey zeroedFor;

static float *paddedPlane(size_t floats) {
  if (floats > paddedFloats) {
    free(padded);
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    padded = (float *)aligned_alloc(64, bytes);
    paddedFloats = padded ? floats : 0;
    memset(&zeroedFor, 0, sizeof zeroedFor);
  }
  return padded;
}

// The thread's buffer for `planes` padded planes of `rows` rows in layout p, its padding +0.
static float *paddedPlanes(const PaddedLayout *p, int planes, int rows, int h, int w, int padTop, int padLeft) {
  size_t floats = (size_t)planes * rows * p->rowFloats;
  float *buf = paddedPlane(floats);
  if (!buf) return 0;
  PaddingKey key = { planes, h, w, padTop, padLeft, p->stride, rows, p->rowFloats, p->phaseFloats };
  if (memcmp(&key, &zeroedFor, sizeof key) != 0) {
    memset(buf, 0, floats * sizeof(float));
    zeroedFor = key;
  }
  return buf;
}

// Plane `plane` [h][w] into `buf`: padded rows [0, rows), row r holding input row r - padTop, phase q
// of it holding padded columns q, q + stride, ... (input column j * stride + q - padLeft at index j).
// Only the plane's own floats are written: the padding around them is the same for every plane of a
// call, zeroed once (paddedPlanes).
__attribute__((target("avx512f")))
static void fillPadded(float *buf, const PaddedLayout *p, const float *plane, int h, int w, int padTop, int padLeft, int fromRow, int toRow) {
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int r = fromRow; r < toRow; r++) {
    int iy = r - padTop;
    if (iy < 0 || iy >= h) continue;
    const float *src = plane + (size_t)iy * w;
    float *row = buf + (size_t)r * p->rowFloats;
    if (p->stride == 1) {
      memcpy(row + padLeft, src, (size_t)w * sizeof(float));
      continue;
    }
    // Input column c lands in phase (c + padLeft) & 1 at (c + padLeft) >> 1. Columns c, c + 2, ... of a
    // 32-column chunk share a phase; which one depends on padLeft's parity, the same for every chunk.
    float *first = row + (padLeft & 1) * p->phaseFloats, *second = row + (1 - (padLeft & 1)) * p->phaseFloats;
    for (int c = 0; c < w; c += 32) {
      int n = w - c < 32 ? w - c : 32;
      __m512 a = _mm512_maskz_loadu_ps(n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1), src + c);
      __m512 b = _mm512_maskz_loadu_ps(n <= 16 ? 0 : n >= 32 ? 0xffff : (__mmask16)((1u << (n - 16)) - 1), src + c + 16);
      int nEven = (n + 1) >> 1, nOdd = n >> 1;
      int at = (c + padLeft) >> 1;  // even columns of the chunk (c even)
      _mm512_mask_storeu_ps(first + at, (__mmask16)((1u << nEven) - 1), _mm512_permutex2var_ps(a, evens, b));
      // Odd columns c + 1 + 2i sit at (c + 1 + padLeft) >> 1 + i.
      _mm512_mask_storeu_ps(second + ((c + 1 + padLeft) >> 1), (__mmask16)((1u << nOdd) - 1), _mm512_permutex2var_ps(a, odds, b));
    }
  }
}

// ROWS output rows from oy of the 16-output strip at ox: acc[i] = bias, then tap (ky, kx) of row oy + i
// from padded row (oy + i) * stride + ky, phase kx % stride, index ox + kx / stride. Rows are stored
// while under `outH`.
#define DEPTHWISE_ROWS(ROWS)                                                                                            \
  __attribute__((target("avx512f"))) static void depthwiseRows##ROWS(const float *buf, const PaddedLayout *p, const float *wc, float bias, \
                                                                      float *oc, int outH, int outW, int oy, int ox, __mmask16 store, const Epilogue *e) { \
    const __m512 b = _mm512_set1_ps(bias);                                                                              \
    __m512 acc[ROWS];                                                                                                   \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) acc[i] = b;                                                \
    const int k = p->k, s = p->stride;                                                                                  \
    const size_t rowStep = (size_t)s * p->rowFloats;                                                                    \
    for (int ky = 0; ky < k; ky++) {                                                                                    \
      const float *row = buf + (size_t)(oy * s + ky) * p->rowFloats + ox;                                             \
      for (int kx = 0; kx < k; kx++) {                                                                                  \
        const float *tap = row + (kx % s) * p->phaseFloats + kx / s;                                                   \
        const __m512 wv = _mm512_set1_ps(wc[ky * k + kx]);                                                             \
        _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) acc[i] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(tap + i * rowStep), acc[i]); \
      }                                                                                                                 \
    }                                                                                                                   \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) {                                                           \
      if (oy + i >= outH) break;                                                                                        \
      float *at = oc + (size_t)(oy + i) * outW + ox;                                                                    \
      _mm512_mask_storeu_ps(at, store, finish(acc[i], e, at, store));                                                   \
    }                                                                                                                   \
  }
DEPTHWISE_ROWS(8)
DEPTHWISE_ROWS(7)

// Floats d..d+15 of the 32 in a then b (d a constant once inlined and unrolled).
__attribute__((target("avx512f"))) static inline __m512 shifted(__m512 a, __m512 b, int d) {
#define SHIFTED_CASE(D) case D: return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(a), D));
  switch (d) {
    case 0: return a;
    SHIFTED_CASE(1) SHIFTED_CASE(2) SHIFTED_CASE(3) SHIFTED_CASE(4) SHIFTED_CASE(5) SHIFTED_CASE(6)
    default: return b;  // d == 16 (not reached: K <= 7)
  }
#undef SHIFTED_CASE
}

// DEPTHWISE_ROWS with K and the stride S known: each padded row a block reads is loaded once, as two
// aligned vectors per phase, its K taps' columns made from them by shifts (valignd) and used by every
// output row of the block it serves. Reading each tap's columns with its own unaligned load cost one
// load per multiply-add, most of them across two cache lines: 30-35 GFLOP/s on 3x3, below WebAssembly
// on 56x56 planes. A block's rows meet padded row r in ascending r, so each output still takes its taps
// in (ky, kx) order.
#define DEPTHWISE_REUSE(K, S, ROWS)                                                                                    \
  __attribute__((target("avx512f"))) static void depthwise##K##s##S##r##ROWS(const float *buf, const PaddedLayout *p, const float *wc, float bias, \
                                                                            float *oc, int outH, int outW, int oy, int ox, __mmask16 store, const Epilogue *e) { \
    const __m512 b = _mm512_set1_ps(bias);                                                                              \
    __m512 acc[ROWS];                                                                                                   \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) acc[i] = b;                                                \
    const float *first = buf + (size_t)(oy * S) * p->rowFloats + ox;                                                  \
    _Pragma("GCC unroll 32") for (int r = 0; r < (ROWS - 1) * S + K; r++) {                                            \
      const float *row = first + (size_t)r * p->rowFloats;                                                             \
      __m512 lo[S], hi[S], v[K];                                                                                        \
      _Pragma("GCC unroll 2") for (int q = 0; q < S; q++) {                                                             \
        lo[q] = _mm512_load_ps(row + q * p->phaseFloats);                                                              \
        hi[q] = _mm512_load_ps(row + q * p->phaseFloats + 16);                                                         \
      }                                                                                                                 \
      _Pragma("GCC unroll 8") for (int kx = 0; kx < K; kx++) v[kx] = shifted(lo[kx % S], hi[kx % S], kx / S);         \
      _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) {                                                         \
        const int ky = r - i * S;                                                                                       \
        if (ky < 0 || ky >= K) continue;                                                                                \
        _Pragma("GCC unroll 8") for (int kx = 0; kx < K; kx++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(wc[ky * K + kx]), v[kx], acc[i]); \
      }                                                                                                                 \
    }                                                                                                                   \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) {                                                           \
      if (oy + i >= outH) break;                                                                                        \
      float *at = oc + (size_t)(oy + i) * outW + ox;                                                                    \
      _mm512_mask_storeu_ps(at, store, finish(acc[i], e, at, store));                                                   \
    }                                                                                                                   \
  }
DEPTHWISE_REUSE(3, 1, 8) DEPTHWISE_REUSE(3, 1, 7) DEPTHWISE_REUSE(3, 2, 8) DEPTHWISE_REUSE(3, 2, 7)
DEPTHWISE_REUSE(5, 1, 8) DEPTHWISE_REUSE(5, 1, 7) DEPTHWISE_REUSE(5, 2, 8) DEPTHWISE_REUSE(5, 2, 7)
DEPTHWISE_REUSE(7, 1, 8) DEPTHWISE_REUSE(7, 1, 7)

typedef void DepthwiseBlock(const float *, const PaddedLayout *, const float *, float, float *, int, int, int, int, __mmask16, const Epilogue *);

// The block kernel for K, the stride and the rows per block: one that reuses rows where there is one.
static DepthwiseBlock *depthwiseBlock(int k, int stride, int rows) {
#define PICK(K, S) if (k == K && stride == S) return rows == 8 ? depthwise##K##s##S##r8 : depthwise##K##s##S##r7;
  PICK(3, 1) PICK(3, 2) PICK(5, 1) PICK(5, 2) PICK(7, 1)
#undef PICK
  return rows == 8 ? depthwiseRows8 : depthwiseRows7;
}

__attribute__((target("avx512f")))
static int depthwise512(const float *x, const float *weights, const float *bias, float *out, int h, int w, int k, int stride, int padTop, int padLeft, int outH, int outW, int c0, int c1, const Epilogue *e) {
  // 7-row blocks where the plane is 7, 14 or 28 rows high (8 would compute up to a block of padding rows).
  const int rowsPerBlock = outH % 8 != 0 && outH % 7 == 0 ? 7 : 8;
  const int blocks = (outH + rowsPerBlock - 1) / rowsPerBlock;
  const int strips = (outW + 15) / 16;
  PaddedLayout p;
  p.stride = stride;
  p.k = k;
  // Indexes read: up to strips * 16 + 15 per phase (a block kernel's second aligned vector, or a tap's
  // columns up to strips * 16 - 1 + (k - 1) / stride, k <= 17); written: up to (w - 1 + padLeft) / stride.
  int need = strips * 16 + ((k - 1) / stride > 16 ? (k - 1) / stride : 16);
  int written = (w - 1 + padLeft) / stride + 1;
  p.phaseFloats = ((need > written ? need : written) + 15) & ~15;
  p.rowFloats = stride * p.phaseFloats;
  // Rows read by the last block, whole (its rows past outH are computed from +0 rows, not stored).
  const int rows = (blocks * rowsPerBlock - 1) * stride + k;
  float *buf = paddedPlanes(&p, 1, rows, h, w, padTop, padLeft);
  if (!buf) return 0;
  DepthwiseBlock *block = depthwiseBlock(k, stride, rowsPerBlock);
  for (int c = c0; c < c1; c++) {
    const float *wc = weights + (size_t)c * k * k;
    float *oc = out + (size_t)c * outH * outW;
    const float b = bias ? bias[c] : 0.0f;
    int filled = 0;
    for (int oy = 0; oy < outH; oy += rowsPerBlock) {
      // The block's padded rows, copied just before it reads them, so the input's reads go along with the
      // output's writes (mobilenet_v2's 3x3 stride-2 layer at 112x112, batch 8: 4.64 -> 3.73 ms).
      int upTo = (oy + rowsPerBlock - 1) * stride + k;
      fillPadded(buf, &p, x + (size_t)c * h * w, h, w, padTop, padLeft, filled, upTo);
      filled = upTo;
      // The next block's output lines, asked for with intent to write while this block computes. Where the
      // output comes from memory (batch 8), waiting for each store's line cost more than the multiply-adds:
      // mobilenet_v2's 3x3 at 56x56 went from 0.74x to 1.35-1.42x WebAssembly's speed (docs/benchmarks.md).
      // Prefetching the next block's input as well gained nothing measurable.
      const char *from = (const char *)(oc + (size_t)(oy + rowsPerBlock) * outW), *to = (const char *)(oc + (size_t)(oy + 2 * rowsPerBlock) * outW);
      const char *end = (const char *)(out + (size_t)c1 * outH * outW);
      for (const char *line = from; line < to && line < end; line += 64) _mm_prefetch(line, _MM_HINT_ET0);
      for (int strip = 0; strip < strips; strip++) {
        int ox = strip * 16;
        __mmask16 store = outW - ox >= 16 ? 0xffff : (__mmask16)((1u << (outW - ox)) - 1);
        block(buf, &p, wc, b, oc, outH, outW, oy, ox, store, e);
      }
    }
  }
  return 1;
}

// A KxK convolution at stride 1 or 2 with cin / groups input channels per group (a ShuffleNet's,
// MobileNet's or EfficientNet's 3-channel 3x3 stem; ResNeXt's grouped 3x3), output channels [c0, c1)
// of one image: each output its bias, then one fused multiply-add per tap in (input channel, ky, kx)
// order, a tap in the padding multiplying +0, as the WebAssembly direct kernels compute it over their
// phase planes (layout.ts, tapOffsets; packing.ts, packDirectWeights: per group, blocks of 4 output
// channels [block][tap][4], then the rest [channel][tap]). The input is copied into padded planes laid
// out as the depthwise kernel's (each row its column phases), so tap t of an output row's 32 positions
// is 32 consecutive floats at a fixed offset: the 1x1 kernel's tiles then run over the offset table.
// Rows are copied as the output rows reach them. False, having written nothing, if the planes or the
// table cannot be allocated.
static __thread int *tapTable = 0;
static __thread size_t tapTableLength = 0;

__attribute__((target("avx512f")))
static int dense512(const float *x, const float *packed, const float *bias, float *out, int cin, int groups, int h, int w, int k, int stride, int padTop, int padLeft,
                    int outH, int outW, int cout, int c0, int c1, const Epilogue *e) {
  const int cinG = cin / groups, coutG = cout / groups, taps = cinG * k * k, blocks = coutG >> 2;
  PaddedLayout p;
  p.stride = stride;
  p.k = k;
  // A tile reads 32 positions from its row's start: up to ceil(outW / 32) * 32 - 1 + (k - 1) / stride.
  int need = (outW + 31) / 32 * 32 + (k - 1) / stride;
  int written = (w - 1 + padLeft) / stride + 1;
  p.phaseFloats = ((need > written ? need : written) + 15) & ~15;
  p.rowFloats = stride * p.phaseFloats;
  const int rows = (outH - 1) * stride + k;
  const size_t planeFloats = (size_t)rows * p.rowFloats;
  float *buf = paddedPlanes(&p, cin, rows, h, w, padTop, padLeft);
  if (!buf) return 0;
  if ((size_t)taps > tapTableLength) {
    free(tapTable);
    tapTable = (int *)malloc((size_t)taps * sizeof(int));
    tapTableLength = tapTable ? (size_t)taps : 0;
    if (!tapTable) return 0;
  }
  int *offsets = tapTable;
  for (int ic = 0, t = 0; ic < cinG; ic++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++) offsets[t++] = (int)(ic * planeFloats + (size_t)ky * p.rowFloats + (size_t)(kx % stride) * p.phaseFloats + kx / stride);
  const int hw = outH * outW;
  // Rows of 16 or fewer: a tile takes two rows' 16 positions each, not one row's 32 of which most are idle.
  const int pairRows = outW <= 16;
  const int rowStep = pairRows ? 2 : 1;
  const int secondIn = pairRows ? stride * p.rowFloats : 16, secondOut = pairRows ? outW : 16;
  int filled = 0;
  for (int oy = 0; oy < outH; oy += rowStep) {
    const int lastRow = pairRows && oy + 1 < outH ? oy + 1 : oy;
    int upTo = lastRow * stride + k;
    for (int ic = 0; ic < cin; ic++) fillPadded(buf + ic * planeFloats, &p, x + (size_t)ic * h * w, h, w, padTop, padLeft, filled, upTo);
    filled = upTo;
    for (int c = c0; c < c1;) {
      const int g = c / coutG, j = c - g * coutG;
      const float *groupWeights = packed + (size_t)g * coutG * taps;
      const float *row = buf + (size_t)g * cinG * planeFloats + (size_t)oy * stride * p.rowFloats;
      // Whole blocks inside the range and the group: 8 or 4 channels at once; else one.
      const int inBlocks = j < blocks * 4 && (j & 3) == 0;
      const int width = inBlocks && j + 8 <= blocks * 4 && c + 8 <= c1 ? 8 : inBlocks && c + 4 <= c1 ? 4 : 1;
      for (int ox = 0; ox < outW; ox += pairRows ? outW : 32) {
        int left = outW - ox;
        __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
        __mmask16 m1 = pairRows ? (lastRow > oy ? m0 : 0) : left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
        float *at = out + (size_t)c * hw + (size_t)oy * outW + ox;
        const float *b = bias ? bias + c : 0;
        if (width == 8) denseTile8(row + ox, offsets, groupWeights + (size_t)j * taps, groupWeights + (size_t)(j + 4) * taps, b, at, taps, hw, secondIn, secondOut, m0, m1, e);
        else if (width == 4) denseTile4(row + ox, offsets, groupWeights + (size_t)j * taps, b, at, taps, hw, secondIn, secondOut, m0, m1, e);
        else if (j < blocks * 4) denseRow1(row + ox, offsets, groupWeights + (size_t)(j >> 2) * 4 * taps + (j & 3), 4, b ? b[0] : 0.0f, at, taps, secondIn, secondOut, m0, m1, e);
        else denseRow1(row + ox, offsets, groupWeights + (size_t)blocks * 4 * taps + (size_t)(j - blocks * 4) * taps, 1, b ? b[0] : 0.0f, at, taps, secondIn, secondOut, m0, m1, e);
      }
      c += width;
    }
  }
  return 1;
}

static int64_t argInt(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return (int64_t)d;
}

// A kernel call's arguments: `count` of them, the first a Float32Array over the whole arena (its data
// in *base), the rest numbers, byte offsets into it among them. False, with a TypeError thrown, otherwise.
static int kernelArgs(napi_env env, napi_callback_info info, napi_value *argv, size_t count, char **base, const char *usage) {
  size_t argc = count;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (argc != count || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  *base = (char *)data;
  return 1;
}

// The epilogue of a call whose arguments from argv[at] are kind, lo, hi and residual (-1: none).
static Epilogue epilogueArgs(napi_env env, napi_value *argv, size_t at, char *base, float *out) {
  double lo = 0, hi = 0;
  napi_get_value_double(env, argv[at + 1], &lo);
  napi_get_value_double(env, argv[at + 2], &hi);
  int64_t residualAt = argInt(env, argv[at + 3]);
  Epilogue e = { (int)argInt(env, argv[at]), (float)lo, (float)hi, residualAt < 0 ? 0 : (const float *)(base + residualAt), out };
  return e;
}

static const float *biasArg(napi_env env, napi_value v, char *base) {
  int64_t at = argInt(env, v);
  return at < 0 ? 0 : (const float *)(base + at);
}

// pointwise(memory, input, packed, bias, output, taps, channels, hw, c0, c1, kind, lo, hi, residual):
// byte offsets into `memory` (bias and residual -1: none), the epilogue `kind` one of those above,
// applied as each output is stored. Bounds are the caller's (plan/run.ts).
static napi_value Pointwise(napi_env env, napi_callback_info info) {
  napi_value argv[14];
  char *base;
  if (!kernelArgs(env, info, argv, 14, &base, "pointwise: expected (memory: Float32Array, input, packed, bias, output, taps, channels, hw, c0, c1, kind, lo, hi, residual)")) return NULL;
  float *out = (float *)(base + argInt(env, argv[4]));
  Epilogue e = epilogueArgs(env, argv, 10, base, out);
  pointwise512((const float *)(base + argInt(env, argv[1])), (const float *)(base + argInt(env, argv[2])), biasArg(env, argv[3], base), out,
               (int)argInt(env, argv[5]), (int)argInt(env, argv[6]), (int)argInt(env, argv[7]), (int)argInt(env, argv[8]), (int)argInt(env, argv[9]), &e);
  return NULL;
}

// depthwise(memory, input, packed, bias, output, h, w, k, stride, padTop, padLeft, outH, outW, c0, c1, kind, lo, hi, residual):
// one image of a depthwise KxK at stride 1 or 2, arguments as pointwise's. Throws if its padded plane
// cannot be allocated (nothing written then).
static napi_value Depthwise(napi_env env, napi_callback_info info) {
  napi_value argv[19];
  char *base;
  if (!kernelArgs(env, info, argv, 19, &base, "depthwise: expected (memory: Float32Array, input, packed, bias, output, h, w, k, stride, padTop, padLeft, outH, outW, c0, c1, kind, lo, hi, residual)")) return NULL;
  float *out = (float *)(base + argInt(env, argv[4]));
  Epilogue e = epilogueArgs(env, argv, 15, base, out);
  if (!depthwise512((const float *)(base + argInt(env, argv[1])), (const float *)(base + argInt(env, argv[2])), biasArg(env, argv[3], base), out,
                    (int)argInt(env, argv[5]), (int)argInt(env, argv[6]), (int)argInt(env, argv[7]), (int)argInt(env, argv[8]), (int)argInt(env, argv[9]),
                    (int)argInt(env, argv[10]), (int)argInt(env, argv[11]), (int)argInt(env, argv[12]), (int)argInt(env, argv[13]), (int)argInt(env, argv[14]), &e)) {
    napi_throw_error(env, NULL, "depthwise: could not allocate the padded plane");
  }
  return NULL;
}

// dense(memory, input, packed, bias, output, cin, groups, h, w, k, stride, padTop, padLeft, outH, outW, cout, c0, c1, kind, lo, hi, residual):
// one image of a KxK convolution at stride 1 or 2, arguments as pointwise's. False, having written nothing,
// if its padded planes could not be allocated (the caller then runs the WebAssembly kernel).
static napi_value Dense(napi_env env, napi_callback_info info) {
  napi_value argv[22];
  char *base;
  if (!kernelArgs(env, info, argv, 22, &base, "dense: expected (memory: Float32Array, input, packed, bias, output, cin, groups, h, w, k, stride, padTop, padLeft, outH, outW, cout, c0, c1, kind, lo, hi, residual)")) return NULL;
  float *out = (float *)(base + argInt(env, argv[4]));
  Epilogue e = epilogueArgs(env, argv, 18, base, out);
  int a[13];
  for (int i = 0; i < 13; i++) a[i] = (int)argInt(env, argv[5 + i]);
  int done = dense512((const float *)(base + argInt(env, argv[1])), (const float *)(base + argInt(env, argv[2])), biasArg(env, argv[3], base), out,
                      a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], &e);
  napi_value r;
  napi_get_boolean(env, done, &r);
  return r;
}

static napi_value Available(napi_env env, napi_callback_info info) {
  napi_value r;
  __builtin_cpu_init();
  napi_get_boolean(env, __builtin_cpu_supports("avx512f"), &r);
  return r;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "pointwise", NAPI_AUTO_LENGTH, Pointwise, NULL, &f);
  napi_set_named_property(env, exports, "pointwise", f);
  napi_create_function(env, "depthwise", NAPI_AUTO_LENGTH, Depthwise, NULL, &f);
  napi_set_named_property(env, exports, "depthwise", f);
  napi_create_function(env, "dense", NAPI_AUTO_LENGTH, Dense, NULL, &f);
  napi_set_named_property(env, exports, "dense", f);
  napi_create_function(env, "available", NAPI_AUTO_LENGTH, Available, NULL, &f);
  napi_set_named_property(env, exports, "available", f);
  return exports;
}
