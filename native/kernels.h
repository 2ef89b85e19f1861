// The native kernels, written once in the vector operations of simd512.h or simd256.h: addon.c
// includes this file after each, and K(name) gives each width its own names (pointwise512,
// pointwise256, ...). See addon.c for what the kernels promise: the WebAssembly kernels' bits.
//
// Needs, from addon.c: Epilogue and its kinds, PaddedLayout, paddedLayout, paddedPlanes, poolingPlane and tapOffsets.

#define pmax K(pmax)
#define pmin K(pmin)
#define exp4 K(exp4)
#define expNegatedForSigmoid K(expNegatedForSigmoid)
#define expNegatedShort K(expNegatedShort)
#define silu K(silu)
#define sigmoid K(sigmoid)
#define nanOrdered K(nanOrdered)
#define finish K(finish)
#define store K(store)
#define tile8 K(tile8)
#define tile4 K(tile4)
#define tile8Half K(tile8Half)
#define tile8x3 K(tile8x3)
#define tile4Half K(tile4Half)
#define tile4x3 K(tile4x3)
#define threeVectorTiles K(threeVectorTiles)
#define row1 K(row1)
#define denseTile8 K(denseTile8)
#define denseTile4 K(denseTile4)
#define denseTile8Half K(denseTile8Half)
#define denseTile4Half K(denseTile4Half)
#define denseTile4x3 K(denseTile4x3)
#define denseRow1 K(denseRow1)
#define chunk K(chunk)
#define fillPadded K(fillPadded)
#define depthwiseRows8 K(depthwiseRows8)
#define depthwiseRows7 K(depthwiseRows7)
#define DepthwiseBlock K(DepthwiseBlock)
#define DepthwiseDirectBlock K(DepthwiseDirectBlock)
#define depthwiseBlock K(depthwiseBlock)
#define pointwise K(pointwise)
#define lastPosition K(lastPosition)
#define lastPositions K(lastPositions)
#define pointwiseColumns K(pointwiseColumns)
#define scaledBy K(scaledBy)
#define scaleRun K(scaleRun)
#define scaleEach K(scaleEach)
#define pointwiseSingle K(pointwiseSingle)
#define depthwise K(depthwise)
#define depthwiseAcrossChannels K(depthwiseAcrossChannels)
#define dense K(dense)
#define linear K(linear)
#define maxTap K(maxTap)
#define maxPool K(maxPool)
#define globalAverage K(globalAverage)
#define poolSum K(poolSum)
#define poolZero K(poolZero)
#define poolAdd K(poolAdd)
#define poolTotal K(poolTotal)
#define addScalar K(addScalar)

// WebAssembly's f32x4.pmax(a, b) = a < b ? b : a and pmin(a, b) = b < a ? b : a, exactly (NaN and -0 included).
SIMD static inline vf pmax(vf a, vf b) { return vpmax(a, b); }
SIMD static inline vf pmin(vf a, vf b) { return vpmin(a, b); }

// The epilogue's functions (exp4 to store) are always inlined. GCC kept finish, silu and
// expNegatedForSigmoid out of line, so every stored vector of a SiLU layer made calls, and every zmm register
// is caller-saved: a 1x1 tile's 16 accumulators went to the stack around each. Inlined, alternating with the
// tree before in one process pinned to one vCPU (bench/layer-gflops.ts --kernel --before): efficientnet_b0 at
// batch 1, the 1x1 layers 6.2 -> 5.5 ms, depthwise 3x3 0.9 -> 0.7, the stem 0.5 -> 0.4; mobilenet_v2 at batch
// 8 (ReLU6, finish only) its depthwise 3x3 7.8 -> 6.7 ms.
#define EPILOGUE_INLINE __attribute__((always_inline))

// assembly/exp.ts's exp4, operation for operation (src/kernels/wasm/exp-constants.ts: the same float32
// constants), its multiply-adds fused as relaxed_madd is in the relaxed-SIMD build (vfma), every other
// step one rounding (no contraction elsewhere: -ffp-contract=off), so the same bits. Fused, the SiLU
// epilogue ran 1.38x faster than with each product rounded (a C probe over 16-float vectors in L1).
SIMD static inline EPILOGUE_INLINE vf exp4(vf x) {
  vf v = pmin(pmax(x, vset1(-104.0f)), vset1(89.0f));
  const vf rounder = vset1(12582912.0f);
  vf t = vfma(v, vset1(1.4426950216293335f), rounder);
  vf kf = vsub(t, rounder);
  vi k = visub(vcastInt(t), viset1(0x4b400000));
  vf r = vfma(kf, vset1(-0.693359375f), v);
  r = vfma(kf, vset1(0.00021219444170128554f), r);
  vf z = vmul(r, r);
  vf low = vfma(vset1(0.16666534543037415f), r, vset1(0.5f));
  vf high = vfma(vset1(0.008367475122213364f), r, vset1(0.041667237877845764f));
  vf poly = vfma(z, vfma(vset1(0.0013863772619515657f), z, high), low);
  vf p = vadd(vfma(poly, z, r), vset1(1.0f));
  vi k1 = vishr1(k);
  vi k2 = visub(k, k1);
  vi bias = viset1(127);
  vf s1 = vcastFloat(vishl23(viadd(k1, bias)));
  vf s2 = vcastFloat(vishl23(viadd(k2, bias)));
  return vmul(vmul(p, s1), s2);
}

// The short path alone, for a vector whose every lane is at least -88.
SIMD static inline EPILOGUE_INLINE vf expNegatedShort(vf x) {
  vf m = pmin(x, vset1(86.0f));
  const vf rounder = vset1(12582912.0f);
  vf t = vfma(m, vset1(-1.4426950216293335f), rounder);
  vf kf = vsub(t, rounder);
  vf s = vfma(kf, vset1(0.693359375f), m);
  s = vfma(kf, vset1(-0.00021219444170128554f), s);
  vf z = vmul(s, s);
  vf low = vfma(vset1(-0.16666534543037415f), s, vset1(0.5f));
  vf high = vfma(vset1(-0.008367475122213364f), s, vset1(0.041667237877845764f));
  vf poly = vfma(z, vfma(vset1(0.0013863772619515657f), z, high), low);
  vf p = vadd(vfma(poly, z, vcastFloat(vixor(vcastInt(s), viset1((int)0x80000000u)))), vset1(1.0f));
  return vcastFloat(viadd(vcastInt(p), vishl23(vcastInt(t))));
}

// exp(-x) for the sigmoid's 1 + exp(-x), as assembly/exp.ts's expNegatedForSigmoid4, operation for
// operation: when every lane is at least -88 (NaN is not) its short path (no negation, no upper clamp, 2^k
// added to p's exponent bits), else exp4(-x). Both give exp4(-x)'s bits wherever 1 + exp(-x) is not 1
// (exp.ts says why), so taking the short path by 16 or 8 lanes where WebAssembly takes it by 4 changes no
// result. The short path is 16 operations where exp4(-x) is 24: on a SiLU layer the epilogue is most of
// the time (16 -> 96 channels at 112x112: 0.30 ms without an activation, 0.95 ms with SiLU).
SIMD static inline EPILOGUE_INLINE vf expNegatedForSigmoid(vf x) {
  if (!vallAtLeast(x, vset1(-88.0f))) return exp4(vcastFloat(vixor(vcastInt(x), viset1((int)0x80000000u))));
  return expNegatedShort(x);
}

// 1 / (1 + exp(-v)): the WebAssembly sigmoid's bits.
SIMD static inline EPILOGUE_INLINE vf sigmoid(vf v) {
  const vf one = vset1(1.0f);
  return vdiv(one, vadd(one, expNegatedForSigmoid(v)));
}

// x86 gives a NaN operand back (quietened) from an add or a multiply, the first source's when both
// are NaN. V8 emits WebAssembly's a + b and a * b with a first; GCC may swap a commutative pair. So
// where both can be NaN with different bits (v + residual; v * sigmoid(v), whose NaN has v's sign
// flipped), the result takes a's NaN, else b's, as V8's instruction does.
SIMD static inline vf nanOrdered(vf result, vf a, vf b) {
  const vi quiet = viset1(0x00400000);
  result = vblend(vunordered(b), result, vcastFloat(vior(vcastInt(b), quiet)));
  return vblend(vunordered(a), result, vcastFloat(vior(vcastInt(a), quiet)));
}

// v * sigmoid(v), with V8's NaN (nanOrdered). sigmoid(v) is NaN only where v is (exp4 clamps its input, so
// 1 + exp(-v) is at least 1 or +Infinity), so a vector with no NaN lane needs no reordering.
// A vector whose every lane is at least -88 holds no NaN (the ordered comparison fails on one): there the
// short path is taken with no NaN check after it, one test per vector where there were two.
SIMD static inline EPILOGUE_INLINE vf silu(vf v) {
  if (vallAtLeast(v, vset1(-88.0f))) {
    const vf one = vset1(1.0f);
    return vmul(v, vdiv(one, vadd(one, expNegatedShort(v))));
  }
  vf s = sigmoid(v);
  vf product = vmul(v, s);
  return vany(vunordered(v)) ? nanOrdered(product, v, s) : product;
}

// act(v [+ residual]) as assembly/epilogue.ts's activate: the same float32 operations in the same order.
SIMD static inline EPILOGUE_INLINE vf finish(vf v, const Epilogue *e, float *at, vmask m) {
  if (e->residual) {
    vf r = vloadz(m, e->residual + (at - e->out));
    v = nanOrdered(vadd(v, r), v, r);
  }
  switch (e->kind) {
    case EPILOGUE_RELU: return vzeroWhere(vlt(v, vzero()), v);
    case EPILOGUE_CLIP: return pmin(pmax(v, vset1(e->lo)), vset1(e->hi));
    case EPILOGUE_HARDSWISH: {
      vf six = vset1(6.0f);
      vf gate = pmin(pmax(vadd(v, vset1(3.0f)), vzero()), six);
      return vdiv(vmul(v, gate), six);
    }
    case EPILOGUE_SIGMOID: return sigmoid(v);
    case EPILOGUE_SILU: return silu(v);
    case EPILOGUE_HARDSIGMOID: {
      vf t = vadd(vmul(v, vset1(e->lo)), vset1(e->hi));
      return pmax(pmin(t, vset1(1.0f)), vzero());
    }
    default: return v;
  }
}

SIMD static inline EPILOGUE_INLINE void store(float *at, vf v, vmask m, const Epilogue *e) { vstore(at, m, finish(v, e, at, m)); }

// N vectors' epilogues and stores (vector i at at[i], lanes m[i]; m[i] empty: neither read nor written),
// one activation at a time over all of them: the sigmoid's long chain of dependent operations per vector
// is then N independent chains the CPU overlaps, where a finish() per vector ran them one after another
// (depthwise blocks: efficientnet_b0's 5x5 layers 17.3 -> 10.8 ms at batch 8). The 1x1 tiles keep a
// finish() per vector: their 16 accumulators through an array ran 1x1 layers with 96-1152 input
// channels 5-15% slower.
#define FINISH_ALL(N, v, at, m, e)                                                                     \
  do {                                                                                                 \
    if ((e)->residual) {                                                                               \
      _Pragma("GCC unroll 16") for (int i_ = 0; i_ < (N); i_++) {                                      \
        vf r_ = vloadz((m)[i_], (e)->residual + ((at)[i_] - (e)->out));                                \
        (v)[i_] = nanOrdered(vadd((v)[i_], r_), (v)[i_], r_);                                          \
      }                                                                                                \
    }                                                                                                  \
    switch ((e)->kind) {                                                                               \
      case EPILOGUE_NONE: break;                                                                       \
      case EPILOGUE_SIGMOID:                                                                           \
        _Pragma("GCC unroll 16") for (int i_ = 0; i_ < (N); i_++) (v)[i_] = sigmoid((v)[i_]);          \
        break;                                                                                         \
      case EPILOGUE_SILU:                                                                              \
        _Pragma("GCC unroll 16") for (int i_ = 0; i_ < (N); i_++) (v)[i_] = silu((v)[i_]);             \
        break;                                                                                         \
      default: {                                                                                       \
        const Epilogue plain_ = { (e)->kind, (e)->lo, (e)->hi, 0, (e)->out };                          \
        _Pragma("GCC unroll 16") for (int i_ = 0; i_ < (N); i_++) (v)[i_] = finish((v)[i_], &plain_, (at)[i_], (m)[i_]); \
      }                                                                                                \
    }                                                                                                  \
    _Pragma("GCC unroll 16") for (int i_ = 0; i_ < (N); i_++) vstore((at)[i_], (m)[i_], (v)[i_]);    \
  } while (0)

// 4 or 8 channels (one or two 4-channel blocks) x 2 vectors of positions (1: the half tiles below): up to 16 accumulators, each a
// variable of its own: held in an array, GCC kept them on the stack and stored every one back after each
// multiply-add (50 GFLOP/s where named registers reach 130-160). TAP: where tap t's first vector of
// inputs starts (a 1x1's input channel t; a KxK's offset table entry); the second vector is `secondIn`
// floats on, its outputs `secondOut` on (LANES and LANES: 2 * LANES consecutive positions).
// Each tap also prefetches the weights 1024 floats (4 KiB) on in the tile's blocks: at batch 1 a layer's
// weights are read once, from memory, not cache (1152 -> 192 at 7x7: 0.19 ms in efficientnet_b0, 0.13 ms
// run alone with its weights in L2), and the prefetch bought the 1x1 layers 1.03-1.21x there, mostly
// 1.05-1.1x (256 and 512 floats on: less; 128: none); at batch 8 nothing (docs/benchmarks.md).
#ifndef WEIGHT_PREFETCH_FLOATS
#define WEIGHT_PREFETCH_FLOATS 1024
#endif
// And where a tile has few taps over a large plane (16 -> 96 at 112x112), its outputs' lines are asked
// for with intent to write 128 floats (4 tiles) on before its multiply-adds: with 16 taps a tile's 256
// multiply-adds are too few to hide its 16 stores' misses. Batch 8, one worker, alternating with the
// tree before: 16 -> 96 at 112x112 1.20-1.23x (efficientnet_b0, mobilenet_v2), 24 -> 144 at 56x56
// 1.03-1.11x; 64 floats on gained nothing, 256 no more than 128, and on 7x7 planes it cost (hence the
// bounds). Prefetches do not fault, so lines past the output are harmless.
#ifndef OUTPUT_PREFETCH_FLOATS
#define OUTPUT_PREFETCH_FLOATS 128
#endif
#define OUTPUT_PREFETCH_LINES(W, LINES)                                                                \
  do {                                                                                                 \
    if (OUTPUT_PREFETCH_FLOATS > 0 && hw >= 1024 && taps <= 32) {                                     \
      const char *ahead = (const char *)(out + p + OUTPUT_PREFETCH_FLOATS);                            \
      _Pragma("GCC unroll 8") for (int c_ = 0; c_ < W; c_++)                                           \
        _Pragma("GCC unroll 4") for (int l_ = 0; l_ < (LINES); l_++) _mm_prefetch(ahead + (size_t)c_ * hw * 4 + l_ * 64, _MM_HINT_ET0); \
    }                                                                                                  \
  } while (0)
#define OUTPUT_PREFETCH(W) OUTPUT_PREFETCH_LINES(W, 2)
#define TILE_BODY(W, TAP, INPUT_AHEAD, V)                                                              \
  vf l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7;                                   \
  l0 = h0 = vset1(bias ? bias[0] : 0.0f);                                                              \
  l1 = h1 = vset1(bias ? bias[1] : 0.0f);                                                              \
  l2 = h2 = vset1(bias ? bias[2] : 0.0f);                                                              \
  l3 = h3 = vset1(bias ? bias[3] : 0.0f);                                                              \
  if (W == 8) {                                                                                        \
    l4 = h4 = vset1(bias ? bias[4] : 0.0f);                                                            \
    l5 = h5 = vset1(bias ? bias[5] : 0.0f);                                                            \
    l6 = h6 = vset1(bias ? bias[6] : 0.0f);                                                            \
    l7 = h7 = vset1(bias ? bias[7] : 0.0f);                                                            \
  } else {                                                                                             \
    l4 = h4 = l5 = h5 = l6 = h6 = l7 = h7 = vzero();                                                   \
  }                                                                                                    \
  OUTPUT_PREFETCH(W);                                                                                  \
  (void)prefetchInput;                                                                                 \
  for (int t = 0; t < taps; t++) {                                                                     \
    const float *xr = TAP;                                                                             \
    vf a = WHOLE_LOADS ? vloadu(xr) : vloadz(m0, xr), c = V == 1 ? vzero() : WHOLE_LOADS ? vloadu(xr + secondIn) : vloadz(m1, xr + secondIn), s; \
    if (INPUT_AHEAD && prefetchInput) {                                                                \
      __builtin_prefetch(xr + (INPUT_AHEAD));                                                          \
      if (V == 2) __builtin_prefetch(xr + (INPUT_AHEAD) + LANES);                                      \
    }                                                                                                  \
    const float *w0 = blk0 + t * 4;                                                                    \
    __builtin_prefetch(w0 + WEIGHT_PREFETCH_FLOATS);                                                   \
    if (W == 8) __builtin_prefetch(blk1 + t * 4 + WEIGHT_PREFETCH_FLOATS);                             \
    s = vset1(w0[0]); l0 = vfma(s, a, l0); if (V == 2) h0 = vfma(s, c, h0);                            \
    s = vset1(w0[1]); l1 = vfma(s, a, l1); if (V == 2) h1 = vfma(s, c, h1);                            \
    s = vset1(w0[2]); l2 = vfma(s, a, l2); if (V == 2) h2 = vfma(s, c, h2);                            \
    s = vset1(w0[3]); l3 = vfma(s, a, l3); if (V == 2) h3 = vfma(s, c, h3);                            \
    if (W == 8) {                                                                                      \
      const float *w1 = blk1 + t * 4;                                                                  \
      s = vset1(w1[0]); l4 = vfma(s, a, l4); if (V == 2) h4 = vfma(s, c, h4);                          \
      s = vset1(w1[1]); l5 = vfma(s, a, l5); if (V == 2) h5 = vfma(s, c, h5);                          \
      s = vset1(w1[2]); l6 = vfma(s, a, l6); if (V == 2) h6 = vfma(s, c, h6);                          \
      s = vset1(w1[3]); l7 = vfma(s, a, l7); if (V == 2) h7 = vfma(s, c, h7);                          \
    }                                                                                                  \
  }                                                                                                    \
  float *o = out + p;                                                                                  \
  store(o, l0, m0, e); if (V == 2) store(o + secondOut, h0, m1, e); o += hw;                           \
  store(o, l1, m0, e); if (V == 2) store(o + secondOut, h1, m1, e); o += hw;                           \
  store(o, l2, m0, e); if (V == 2) store(o + secondOut, h2, m1, e); o += hw;                           \
  store(o, l3, m0, e); if (V == 2) store(o + secondOut, h3, m1, e); o += hw;                           \
  if (W == 8) {                                                                                        \
    store(o, l4, m0, e); if (V == 2) store(o + secondOut, h4, m1, e); o += hw;                         \
    store(o, l5, m0, e); if (V == 2) store(o + secondOut, h5, m1, e); o += hw;                         \
    store(o, l6, m0, e); if (V == 2) store(o + secondOut, h6, m1, e); o += hw;                         \
    store(o, l7, m0, e); if (V == 2) store(o + secondOut, h7, m1, e);                                  \
  }

// One channel whose weights for tap t are at w[t * step].
#define ROW1_BODY(TAP)                                                                                 \
  vf a0 = vset1(bias), a1 = a0;                                                                        \
  for (int t = 0; t < taps; t++) {                                                                     \
    const float *xr = TAP;                                                                             \
    vf s = vset1(w[(size_t)t * step]);                                                                 \
    a0 = vfma(s, WHOLE_LOADS ? vloadu(xr) : vloadz(m0, xr), a0);                                        \
    a1 = vfma(s, WHOLE_LOADS ? vloadu(xr + secondIn) : vloadz(m1, xr + secondIn), a1);                  \
  }                                                                                                    \
  store(out + p, a0, m0, e);                                                                           \
  store(out + p + secondOut, a1, m1, e);

// How far on a 1x1 tile's tap asks for its input row, in the chunk's first tile pass (see chunk): the next
// tile's. Batch 8, one worker, alternating with the tree before: 144 -> 24 at 56x56 3.5 -> 1.4-1.6 ms,
// 32 -> 16 at 112x112 2.6 -> 0.9-1.1 ms; the 1x1 class 1.23x (mobilenet_v2), 1.15x (efficientnet_b0),
// 1.07x (resnext50). In every pass it cost resnext50's 28x28 layers 7-10%; on 14x14 planes mixed.
#ifndef INPUT_PREFETCH_FLOATS
#define INPUT_PREFETCH_FLOATS (2 * LANES)
#endif
#define WHOLE_LOADS 0
// Input rows `xs` floats apart: the plane's own (hw), or an aligned copy's (see pointwise).
#define POINTWISE_TAP (x + p + (size_t)t * xs)

// V: 2 vectors of positions, or 1 (the "Half" tiles) where the second would hold none: a plane's last tile of
// LANES positions or fewer (14x14: 4 of 196), at 16 floats a row of 112 outputs' last 16, a pair of rows without
// its second.
// Its multiply-adds were computed for nothing: 7% of a 14x14 1x1 layer's, 12.5% of a 3x3 stem's.
#if TILE_CHANNELS == 8
#define POINTWISE_TILE8(NAME, V)                                                                       \
  SIMD static void NAME(const float *x, const float *blk0, const float *blk1, const float *bias, float *out, int taps, int hw, int xs, int p, vmask m0, vmask m1, int prefetchInput, const Epilogue *e) { \
    const int secondIn = LANES, secondOut = LANES;                                                     \
    TILE_BODY(8, POINTWISE_TAP, INPUT_PREFETCH_FLOATS, V)                                              \
  }
POINTWISE_TILE8(tile8, 2)
POINTWISE_TILE8(tile8Half, 1)
#undef POINTWISE_TILE8
#endif

#if TILE_CHANNELS == 8
// 8 channels x 3 vectors of positions, all whole (24 accumulators: 16-float builds, whose 32 registers hold
// them): a plane's last 3 * LANES positions, where the 2-vector tiles went as one whole tile and a half one,
// and a half tile's 8 broadcasts per 8 multiply-adds are as slow as a whole tile's per 16 (7x7 planes, whose
// last position goes to lastPosition; 112-wide rows' last 48).
#define TILE3_ROW(k, w) s = vset1(w); l##k = vfma(s, a, l##k); m##k = vfma(s, b, m##k); h##k = vfma(s, c3, h##k)
#define TILE3_STORE(k) store(o, l##k, full, e); store(o + LANES, m##k, full, e); store(o + 2 * LANES, h##k, full, e); o += hw
SIMD static void tile8x3(const float *x, const float *blk0, const float *blk1, const float *bias, float *out, int taps, int hw, int xs, int p, const Epilogue *e) {
  OUTPUT_PREFETCH_LINES(8, 3);
  vf l0, l1, l2, l3, l4, l5, l6, l7, m0, m1, m2, m3, m4, m5, m6, m7, h0, h1, h2, h3, h4, h5, h6, h7;
  l0 = m0 = h0 = vset1(bias ? bias[0] : 0.0f);
  l1 = m1 = h1 = vset1(bias ? bias[1] : 0.0f);
  l2 = m2 = h2 = vset1(bias ? bias[2] : 0.0f);
  l3 = m3 = h3 = vset1(bias ? bias[3] : 0.0f);
  l4 = m4 = h4 = vset1(bias ? bias[4] : 0.0f);
  l5 = m5 = h5 = vset1(bias ? bias[5] : 0.0f);
  l6 = m6 = h6 = vset1(bias ? bias[6] : 0.0f);
  l7 = m7 = h7 = vset1(bias ? bias[7] : 0.0f);
  for (int t = 0; t < taps; t++) {
    const float *xr = POINTWISE_TAP;
    const vf a = vloadu(xr), b = vloadu(xr + LANES), c3 = vloadu(xr + 2 * LANES);
    const float *w0 = blk0 + t * 4, *w1 = blk1 + t * 4;
    __builtin_prefetch(w0 + WEIGHT_PREFETCH_FLOATS);
    __builtin_prefetch(w1 + WEIGHT_PREFETCH_FLOATS);
    vf s;
    TILE3_ROW(0, w0[0]); TILE3_ROW(1, w0[1]); TILE3_ROW(2, w0[2]); TILE3_ROW(3, w0[3]);
    TILE3_ROW(4, w1[0]); TILE3_ROW(5, w1[1]); TILE3_ROW(6, w1[2]); TILE3_ROW(7, w1[3]);
  }
  const vmask full = vfirst(LANES);
  float *o = out + p;
  TILE3_STORE(0); TILE3_STORE(1); TILE3_STORE(2); TILE3_STORE(3);
  TILE3_STORE(4); TILE3_STORE(5); TILE3_STORE(6); TILE3_STORE(7);
}
#undef TILE3_ROW
#undef TILE3_STORE
#endif

#define POINTWISE_TILE4(NAME, V)                                                                       \
  SIMD static void NAME(const float *x, const float *blk0, const float *bias, float *out, int taps, int hw, int xs, int p, vmask m0, vmask m1, int prefetchInput, const Epilogue *e) { \
    const float *blk1 = 0;                                                                             \
    (void)blk1;                                                                                        \
    const int secondIn = LANES, secondOut = LANES;                                                     \
    TILE_BODY(4, POINTWISE_TAP, INPUT_PREFETCH_FLOATS, V)                                              \
  }
POINTWISE_TILE4(tile4, 2)
POINTWISE_TILE4(tile4Half, 1)
#undef POINTWISE_TILE4

#if TILE_CHANNELS == 4
// 4 channels x 3 vectors of positions, all whole: 12 accumulators where the 2-vector tile has 8 (AVX2's
// 16 registers: 12, 3 input vectors, a broadcast weight). At 8 accumulators the multiply-adds' latency
// (4 cycles, 2 units) leaves nothing to hide a load or a tile's start and end behind; with 12, each tap's
// 4 broadcasts serve 12 multiply-adds, not 8. One thread, inputs past the caches, alternating with the
// 2-vector tiles: 16 -> 96 at 112x112 1.22-1.26x, 24 -> 144 at 56x56 1.17-1.21x, 144 -> 24 at 56x56
// 1.07-1.09x, 14x14 and 7x7 planes 0.97-1.06x; the 1x1 class of mobilenet_v2 and efficientnet_b0
// 1.04-1.09x at batch 1 and 8 (docs/benchmarks.md).
// Its body, over tap t's inputs at TAP (a 1x1's input row, or a KxK's offset table entry), outputs at out + p.
#define TILE43_ROW(k) s = vset1(w[k]); a##k = vfma(s, va, a##k); b##k = vfma(s, vb, b##k); c##k = vfma(s, vc, c##k)
#define TILE43_STORE(k) store(o, a##k, full, e); store(o + LANES, b##k, full, e); store(o + 2 * LANES, c##k, full, e); o += hw
#define TILE43_BODY(TAP)                                                                               \
  vf a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3;                                                   \
  a0 = b0 = c0 = vset1(bias ? bias[0] : 0.0f);                                                         \
  a1 = b1 = c1 = vset1(bias ? bias[1] : 0.0f);                                                         \
  a2 = b2 = c2 = vset1(bias ? bias[2] : 0.0f);                                                         \
  a3 = b3 = c3 = vset1(bias ? bias[3] : 0.0f);                                                         \
  for (int t = 0; t < taps; t++) {                                                                     \
    const float *xr = TAP;                                                                             \
    const vf va = vloadu(xr), vb = vloadu(xr + LANES), vc = vloadu(xr + 2 * LANES);                    \
    const float *w = blk0 + t * 4;                                                                     \
    __builtin_prefetch(w + WEIGHT_PREFETCH_FLOATS);                                                    \
    vf s;                                                                                              \
    TILE43_ROW(0); TILE43_ROW(1); TILE43_ROW(2); TILE43_ROW(3);                                        \
  }                                                                                                    \
  const vmask full = vfirst(LANES);                                                                    \
  float *o = out + p;                                                                                  \
  TILE43_STORE(0); TILE43_STORE(1); TILE43_STORE(2); TILE43_STORE(3);
SIMD static void tile4x3(const float *x, const float *blk0, const float *bias, float *out, int taps, int hw, int xs, int p, const Epilogue *e) {
  OUTPUT_PREFETCH(4);
  TILE43_BODY(POINTWISE_TAP)
}

#endif

// How many 3-vector tiles go first over a run of `positions`: of its whole vectors, as many as leave an
// even count of vectors (the last maybe part of one) to the 2-vector tiles. An odd one would go to a half
// tile, 4 accumulators whose multiply-adds wait on each other (a 32-position chunk as 24 + 8 ran slower
// than as 16 + 16).
static inline int threeVectorTiles(int positions) {
  const int vectors = (positions + LANES - 1) / LANES;
  int tiles = positions / LANES / 3;
  if (tiles > 0 && (vectors - 3 * tiles) % 2 != 0) tiles--;
  return tiles;
}

SIMD static void row1(const float *x, const float *w, int step, float bias, float *out, int taps, int hw, int xs, int p, vmask m0, vmask m1, const Epilogue *e) {
  (void)hw;
  const int secondIn = LANES, secondOut = LANES;
  ROW1_BODY(POINTWISE_TAP)
}

// The same tiles for a KxK convolution over padded planes (see dense): tap t's inputs at x + offsets[t],
// the outputs at out (p = 0), channels hw apart; the 2 * LANES positions are one row's, or, where rows
// are LANES wide or less, two rows' (secondIn and secondOut a row of input and of output apart).
#undef WHOLE_LOADS
// The dense tiles load whole vectors: the padded planes hold every float they reach (a pair's second row
// included), and the lanes past the row's outputs are computed but not stored. A load masked to part of a
// vector (7 of 16 lanes on a 7x7 output) was the slow case here (see fillPadded).
#define WHOLE_LOADS 1
#define OFFSET_TAP (x + offsets[t])

#if TILE_CHANNELS == 8
#define DENSE_TILE8(NAME, V)                                                                           \
  SIMD static void NAME(const float *x, const int *offsets, const float *blk0, const float *blk1, const float *bias, float *out, int taps, int hw, int secondIn, int secondOut, vmask m0, vmask m1, const Epilogue *e) { \
    const int p = 0, prefetchInput = 0;                                                                \
    TILE_BODY(8, OFFSET_TAP, 0, V)                                                                     \
  }
DENSE_TILE8(denseTile8, 2)
DENSE_TILE8(denseTile8Half, 1)
#undef DENSE_TILE8
#endif

#define DENSE_TILE4(NAME, V)                                                                           \
  SIMD static void NAME(const float *x, const int *offsets, const float *blk0, const float *bias, float *out, int taps, int hw, int secondIn, int secondOut, vmask m0, vmask m1, const Epilogue *e) { \
    const int p = 0, prefetchInput = 0;                                                                \
    const float *blk1 = 0;                                                                             \
    (void)blk1;                                                                                        \
    TILE_BODY(4, OFFSET_TAP, 0, V)                                                                     \
  }
DENSE_TILE4(denseTile4, 2)
DENSE_TILE4(denseTile4Half, 1)
#undef DENSE_TILE4

#if TILE_CHANNELS == 4
// tile4x3 over padded planes: 4 channels x 3 whole vectors of one output row, 12 accumulators (see tile4x3).
// The 3-channel stems at batch 1 and 8, alternating with the 2-vector tiles: shufflenet_v2's 3 -> 24 at
// 112x112 1.12x / 1.18x, mobilenet_v2's 3 -> 32 1.06x / 1.13x; resnext50's 7x7 stem 1.10x.
SIMD static void denseTile4x3(const float *x, const int *offsets, const float *blk0, const float *bias, float *out, int taps, int hw, const Epilogue *e) {
  const int p = 0;
  TILE43_BODY(OFFSET_TAP)
}
#undef TILE43_ROW
#undef TILE43_STORE
#undef TILE43_BODY
#endif

SIMD static void denseRow1(const float *x, const int *offsets, const float *w, int step, float bias, float *out, int taps, int secondIn, int secondOut, vmask m0, vmask m1, const Epilogue *e) {
  const int p = 0;
  ROW1_BODY(OFFSET_TAP)
}

// Output channels [c0, c1) of positions [p0, p1) (whole tiles of 2 * LANES but the last one's, which ends at p1) of
// one image.
SIMD static void chunk(const float *x, const float *packed, const float *bias, float *out, int taps, int channels, int hw, int xs, int c0, int c1, int p0, int p1, const Epilogue *e) {
  const int blocks = channels >> 2;
  const float *rest = packed + (size_t)blocks * 4 * taps;
  int c = c0;
  // Channels before the first whole block of the range, one at a time.
  for (; c < c1 && (c & 3) != 0 && c < blocks * 4; c++) {
    for (int p = p0; p < p1; p += 2 * LANES) {
      row1(x, packed + (size_t)(c >> 2) * 4 * taps + (c & 3), 4, bias ? bias[c] : 0.0f, out + (size_t)c * hw, taps, hw, xs, p, vfirst(p1 - p), vfirst(p1 - p - LANES), e);
    }
  }
  // The first tile pass over the chunk brings its input in (from the previous layer's writes, often past
  // L2): there each tap also asks for its input row's next tile. Its rows are `taps` streams, more than
  // the hardware prefetchers follow; later passes find the chunk in L2, where the prefetches only cost.
  const int firstPass = c;
  for (; c < c1;) {
    int width = TILE_CHANNELS == 8 && c + 8 <= c1 && c + 8 <= blocks * 4 ? 8 : c + 4 <= c1 && c + 4 <= blocks * 4 ? 4 : 1;
    const int prefetchInput = c == firstPass && hw >= 512;
    int p = p0;
#if TILE_CHANNELS == 4
    // First 3 vectors at a time (threeVectorTiles), but not in a first pass that asks for the input ahead:
    // there the 2-vector tiles' prefetches, one tile on, kept 144 -> 24 at 56x56 1.09x faster than the
    // 3-vector tiles with theirs (0.90x).
    const int tiles3 = width == 4 && !prefetchInput ? threeVectorTiles(p1 - p0) : 0;
    for (int i = 0; i < tiles3; i++, p += 3 * LANES) tile4x3(x, packed + (size_t)(c >> 2) * 4 * taps, bias ? bias + c : 0, out + (size_t)c * hw, taps, hw, xs, p, e);
#endif
#if TILE_CHANNELS == 8 && LANES == 16
    // So with 16-float vectors: 8 channels x 3 vectors (24 accumulators) where the positions allow, each
    // tap's 8 broadcasts then serving 24 multiply-adds, not 16. One thread, alternating call by call with
    // the 2-vector tiles (Zen 5): 24 -> 144 at 56x56 1.10-1.16x, 96 -> 576 and 80 -> 480 at 14x14
    // 1.04-1.10x, 512 -> 256 at 28x28 1.08x, 7x7 planes level (docs/benchmarks.md).
    const int tiles3 = width == 8 && !prefetchInput ? threeVectorTiles(p1 - p0) : 0;
    for (int i = 0; i < tiles3; i++, p += 3 * LANES) tile8x3(x, packed + (size_t)(c >> 2) * 4 * taps, packed + (size_t)((c >> 2) + 1) * 4 * taps, bias ? bias + c : 0, out + (size_t)c * hw, taps, hw, xs, p, e);
#endif
    for (; p < p1; p += 2 * LANES) {
#if TILE_CHANNELS == 8 && LANES == 16
      if (width == 8 && p1 - p == 3 * LANES) {
        tile8x3(x, packed + (size_t)(c >> 2) * 4 * taps, packed + (size_t)((c >> 2) + 1) * 4 * taps, bias ? bias + c : 0, out + (size_t)c * hw, taps, hw, xs, p, e);
        break;
      }
#endif
      vmask m0 = vfirst(p1 - p), m1 = vfirst(p1 - p - LANES);
      const int half = p1 - p <= LANES;
      if (width == 4) {
        (half ? tile4Half : tile4)(x, packed + (size_t)(c >> 2) * 4 * taps, bias ? bias + c : 0, out + (size_t)c * hw, taps, hw, xs, p, m0, m1, prefetchInput, e);
      } else if (width == 1 && c < blocks * 4) {
        row1(x, packed + (size_t)(c >> 2) * 4 * taps + (c & 3), 4, bias ? bias[c] : 0.0f, out + (size_t)c * hw, taps, hw, xs, p, m0, m1, e);
      } else if (width == 1) {
        row1(x, rest + (size_t)(c - blocks * 4) * taps, 1, bias ? bias[c] : 0.0f, out + (size_t)c * hw, taps, hw, xs, p, m0, m1, e);
      }
#if TILE_CHANNELS == 8
      else {
        (half ? tile8Half : tile8)(x, packed + (size_t)(c >> 2) * 4 * taps, packed + (size_t)((c >> 2) + 1) * 4 * taps, bias ? bias + c : 0, out + (size_t)c * hw, taps, hw, xs, p, m0, m1, prefetchInput, e);
      }
#endif
    }
    c += width;
  }
}

// NV vectors of LANES output channels from `base` (a block's first) of a 1x1 convolution over P positions
// at once (columns cols[j], taps floats each: outputs across channels, not along positions), lanes `m` of
// the last vector stored (the others' channels are outside the range or past the last block, whose rows
// stand in for theirs so every load is inside the weights): each lane its bias, then one fused
// multiply-add per input channel in order, tap t's weights of QUADS blocks gathered by quads (vquads)
// once and cols[j][t] broadcast for each position; NV x P independent chains. Only the first `count`
// positions are stored (the columns past them repeat one, unread), position j's at outs[j] + its channel,
// finished with es[j]. One position serves a squeeze-excitation's layers (pointwiseSingle), four a plane's
// last positions (lastPositions), where each gathered tap then serves four multiply-adds.
// Every 4 taps (a line of each block's weights) the line 256 floats on is asked for: at batch 1 a layer's
// weights come from memory once per forward (efficientnet_b0's 32 such layers, batch 1: 0.76-0.88 ms
// along positions, 0.64-0.69 across channels without it, 0.67-0.72 with it, each against a noisier run
// before; docs/benchmarks.md).
#ifndef SINGLE_PREFETCH_FLOATS
#define SINGLE_PREFETCH_FLOATS 256
#endif
#define FEW_POSITIONS 4
#define POINTWISE_ACROSS(NV, P)                                                                        \
  SIMD static void K(pointwiseAcross##NV##x##P)(const float *const *cols, const float *packed, const float *bias, float *const *outs, int count, int taps, int blocks, int base, vmask m, const Epilogue *es) { \
    const float *rows[NV][QUADS];                                                                      \
    vf acc[NV][P];                                                                                     \
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                                             \
      _Pragma("GCC unroll 4") for (int q = 0; q < QUADS; q++) {                                        \
        const int block = (base >> 2) + v * QUADS + q;                                                 \
        rows[v][q] = packed + (size_t)(block < blocks ? block : base >> 2) * 4 * taps;                \
      }                                                                                                \
      const vf b = bias ? vloadz(v == NV - 1 ? m : vfirst(LANES), bias + base + v * LANES) : vzero(); \
      _Pragma("GCC unroll 4") for (int j = 0; j < P; j++) acc[v][j] = b;                               \
    }                                                                                                  \
    for (int t = 0; t < taps; t++) {                                                                   \
      if ((t & 3) == 0) {                                                                              \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                           \
          _Pragma("GCC unroll 4") for (int q = 0; q < QUADS; q++) __builtin_prefetch(rows[v][q] + t * 4 + SINGLE_PREFETCH_FLOATS); \
      }                                                                                                \
      vf w[NV];                                                                                        \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) w[v] = vquads(rows[v], t * 4);              \
      _Pragma("GCC unroll 4") for (int j = 0; j < P; j++) {                                            \
        const vf xt = vset1(cols[j][t]);                                                               \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[v][j] = vfma(w[v], xt, acc[v][j]);    \
      }                                                                                                \
    }                                                                                                  \
    for (int j = 0; j < count; j++)                                                                    \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) store(outs[j] + base + v * LANES, acc[v][j], v == NV - 1 ? m : vfirst(LANES), &es[j]); \
  }
POINTWISE_ACROSS(4, 1)
POINTWISE_ACROSS(1, 1)
POINTWISE_ACROSS(2, 4)
POINTWISE_ACROSS(1, 4)
#undef POINTWISE_ACROSS

// Output channels [c0, c1) of a 1x1 convolution over `count` positions (1, or at most FEW_POSITIONS, the
// columns up to FEW_POSITIONS readable), through the kernels above: several vectors of channels a call
// (4 for one position, 2 for four), then one at a time where the range starts or ends inside a vector
// (only its lanes stored); the channels past the last 4-channel block ([channel][tap] in the packed
// weights, at most 3) one at a time, in lane 0. Same bits as the tiles: each output its bias, then one
// fused multiply-add per input channel in order, then the epilogue.
SIMD static void pointwiseColumns(const float *const *cols, const float *packed, const float *bias, float *const *outs, int count, int taps, int channels, int c0, int c1, const Epilogue *es) {
  const int blocks = channels >> 2, blocked = blocks * 4;
  const int end = c1 < blocked ? c1 : blocked;
  const int wide = count == 1 ? 4 : 2;
  for (int base = c0 & ~3; base < end;) {
    if (base >= c0 && base + wide * LANES <= end) {
      (count == 1 ? K(pointwiseAcross4x1) : K(pointwiseAcross2x4))(cols, packed, bias, outs, count, taps, blocks, base, vfirst(LANES), es);
      base += wide * LANES;
    } else {
      const int lo = c0 > base ? c0 - base : 0, hi = end - base < LANES ? end - base : LANES;
      (count == 1 ? K(pointwiseAcross1x1) : K(pointwiseAcross1x4))(cols, packed, bias, outs, count, taps, blocks, base, vlanes(lo, hi), es);
      base += LANES;
    }
  }
  const float *rest = packed + (size_t)blocked * taps;
  for (int c = c0 > blocked ? c0 : blocked; c < c1; c++) {
    const float *w = rest + (size_t)(c - blocked) * taps;
    for (int j = 0; j < count; j++) {
      vf acc = vset1(bias ? bias[c] : 0.0f);
      for (int t = 0; t < taps; t++) acc = vfma(vset1(w[t]), vset1(cols[j][t]), acc);
      store(outs[j] + c, acc, vfirst(1), &es[j]);
    }
  }
}

// A squeeze-and-excitation block's scale applied to a 1x1 convolution's input as its chunks are copied
// (pointwise's `scale`): each float its channel's scale times it, as assembly/broadcast.ts's mulRuns
// computes the graph's Mul, a float32 product with the operands in the Mul's order (`scaleFirst`), whose
// NaN comes out when both are NaN (nanOrdered). So the sums read the values the Mul would have stored.
// v times s in the Mul's operand order: s * v where the scale was its first operand, else v * s.
SIMD static inline vf scaledBy(vf v, vf s, int scaleFirst) { return scaleFirst ? nanOrdered(vmul(s, v), s, v) : nanOrdered(vmul(v, s), v, s); }

// dst[i] = s * src[i] (or src[i] * s) for i in [0, n).
// Whole vectors by plain loads and stores, the tail masked (AVX2's masked store is microcoded on AMD).
SIMD static void scaleRun(float *dst, const float *src, int n, float scale, int scaleFirst) {
  const vf s = vset1(scale);
  int i = 0;
  for (; i + LANES <= n; i += LANES) vstoreu(dst + i, scaledBy(vloadu(src + i), s, scaleFirst));
  if (i < n) {
    const vmask m = vfirst(n - i);
    vstore(dst + i, m, scaledBy(vloadz(m, src + i), s, scaleFirst));
  }
}

// dst[i] = scale[i] * src[i] (or src[i] * scale[i]) for i in [0, n): a single position's input column.
SIMD static void scaleEach(float *dst, const float *src, const float *scale, int n, int scaleFirst) {
  int i = 0;
  for (; i + LANES <= n; i += LANES) vstoreu(dst + i, scaledBy(vloadu(src + i), vloadu(scale + i), scaleFirst));
  if (i < n) {
    const vmask m = vfirst(n - i);
    vstore(dst + i, m, scaledBy(vloadz(m, src + i), vloadz(m, scale + i), scaleFirst));
  }
}

// Output channels [c0, c1) of a 1x1 convolution over a single position (hw = 1: a squeeze-excitation's
// two layers after its pool), a vector across output channels. Along positions, as the tiles run, a
// tile computed 1 of its 2 * LANES positions: efficientnet_b0's 32 such layers took 0.74 ms of a
// 13-ms batch-1 forward at 3 GFLOP/s (pointwiseColumns, one column).
SIMD static void pointwiseSingle(const float *x, const float *packed, const float *bias, float *out, int taps, int channels, int c0, int c1, const Epilogue *e) {
  pointwiseColumns(&x, packed, bias, &out, 1, taps, channels, c0, c1, e);
}

// The largest operands the last position's own pass (lastPosition) gathers on the stack, in floats.
#define LAST_POSITION_MAX 4096

// Output channels [c0, c1) of position q of a plane of hw (x [taps][hw], out [channels][hw]) through
// pointwiseSingle: its input column, and the residual's where the epilogue adds one, gathered; its outputs
// computed into a buffer, finished there, and scattered. The same sums and epilogue as the tiles.
SIMD static void lastPosition(const float *x, const float *packed, const float *bias, float *out, int taps, int channels, int hw, int q, int c0, int c1, const float *scale, int scaleFirst, const Epilogue *e) {
  float column[LAST_POSITION_MAX], outputs[LAST_POSITION_MAX], residual[LAST_POSITION_MAX];
  for (int t = 0; t < taps; t++) column[t] = x[(size_t)t * hw + q];
  if (scale) scaleEach(column, column, scale, taps, scaleFirst);
  Epilogue local = *e;
  local.out = outputs;
  if (e->residual) {
    for (int c = c0; c < c1; c++) residual[c] = e->residual[(out - e->out) + (size_t)c * hw + q];
    local.residual = residual;
  }
  pointwiseSingle(column, packed, bias, outputs, taps, channels, c0, c1, &local);
  for (int c = c0; c < c1; c++) out[(size_t)c * hw + q] = outputs[c];
}

// The largest operands the last few positions' pass (lastPositions) gathers on the stack, in floats a position.
#define FEW_POSITIONS_MAX 1024

// Output channels [c0, c1) of positions [q, q + count) (count at most FEW_POSITIONS) of a plane of hw, as
// lastPosition does for one: their input columns (scaled where `scale` says so) and residuals gathered,
// their outputs computed by pointwiseColumns into buffers, finished there, and scattered. Not inlined: its
// buffers (48 KiB) would join lastPosition's in pointwise's frame, on a worker's stack.
SIMD __attribute__((noinline)) static void lastPositions(const float *x, const float *packed, const float *bias, float *out, int taps, int channels, int hw, int q, int count, int c0, int c1, const float *scale, int scaleFirst, const Epilogue *e) {
  float columns[FEW_POSITIONS][FEW_POSITIONS_MAX], outputs[FEW_POSITIONS][FEW_POSITIONS_MAX], residual[FEW_POSITIONS][FEW_POSITIONS_MAX];
  const float *cols[FEW_POSITIONS];
  float *outs[FEW_POSITIONS];
  Epilogue es[FEW_POSITIONS];
  for (int t = 0; t < taps; t++)
    for (int j = 0; j < count; j++) columns[j][t] = x[(size_t)t * hw + q + j];
  for (int j = 0; j < FEW_POSITIONS; j++) {
    if (j >= count) {
      cols[j] = cols[count - 1];
      continue;
    }
    if (scale) scaleEach(columns[j], columns[j], scale, taps, scaleFirst);
    cols[j] = columns[j];
    outs[j] = outputs[j];
    es[j] = *e;
    es[j].out = outputs[j];
    if (e->residual) {
      const float *r = e->residual + (out - e->out) + q + j;
      for (int c = c0; c < c1; c++) residual[j][c] = r[(size_t)c * hw];
      es[j].residual = residual[j];
    }
  }
  pointwiseColumns(cols, packed, bias, outs, count, taps, channels, c0, c1, es);
  for (int c = c0; c < c1; c++)
    for (int j = 0; j < count; j++) out[(size_t)c * hw + q + j] = outputs[j][c];
}

// Output channels [c0, c1) at positions [q0, q1) of one image of a 1x1 convolution: x [taps][hw], out
// [channels][hw] from channel 0. A run of positions is how a batch-1 layer with fewer outputs than inputs
// is cut between threads (src/engine/position-cut.ts): cut by channels, each thread's tiles would read the
// whole input. Every output's sum is the same whatever the run (its bias, then one fused multiply-add per
// input channel in order, then the epilogue). Positions go in chunks whose input fits in cache, each taken
// through every channel tile:
// with few input channels a tile writes long runs of each output row, with many the chunk's input is
// read from cache by every tile.
// A plane one position past whole vectors (7x7: 49 = 3 x 16 + 1, at 8 floats 6 x 8 + 1) leaves that last
// position to its own pass across channels (lastPosition): along positions it took a vector of its own
// for every tile, and a 7x7 plane cost what an 8x8 does (1152 -> 192, batch 1, alone: 0.15 ms at 7x7,
// 0.14 at 8x8). Its pass reads the weights again, once, which costs less than that vector's multiply-adds.
// A plane 2 to 4 positions past whole vectors (14x14: 196 = 12 x 16 + 4 = 24 x 8 + 4) leaves those to a pass
// across channels too (lastPositions), each tap's gathered weights serving all of them, where a half tile
// did 16 multiply-adds a tap for 4 useful lanes of 16: mobilenet_v2's 14x14 1x1 layers alone 1.02-1.06x
// faster at batch 1 (Zen 5; docs/benchmarks.md).
// With `scale` (taps floats, or null), the input is a squeeze-and-excitation block's Mul of x by one scale
// per channel, done here as each chunk is copied (scaleRun) instead of by a pass of its own: every chunk is
// then copied, whatever its alignment. False, having written nothing, if a scaled copy cannot be allocated.
SIMD static int pointwise(const float *x, const float *packed, const float *bias, float *out, int taps, int channels, int hw, int c0, int c1, int q0, int q1,
                          const float *scale, int scaleFirst, const Epilogue *e) {
  if (q1 <= q0 || c1 <= c0) return 1;
  if (hw == 1) {
    float *column = scale ? alignedRows((size_t)taps) : 0;
    if (scale && !column) return 0;
    if (scale) scaleEach(column, x, scale, taps, scaleFirst);
    pointwiseSingle(scale ? column : x, packed, bias, out, taps, channels, c0, c1, e);
    return 1;
  }
  const int tail = hw > LANES ? hw % LANES : 0;
  const int last = tail == 1 && taps <= LAST_POSITION_MAX && channels <= LAST_POSITION_MAX && q1 == hw;
  const int few = tail > 1 && tail <= FEW_POSITIONS && taps <= FEW_POSITIONS_MAX && channels <= FEW_POSITIONS_MAX && q1 == hw && q0 <= hw - tail;
  const int end = last ? hw - 1 : few ? hw - tail : q1;
  int positions = CHUNK_INPUT_BYTES / (taps * 4);
  positions = positions < 2 * LANES ? 2 * LANES : positions & ~(2 * LANES - 1);
#if TILE_CHANNELS == 8 && LANES == 16
  // Whole 3-vector tiles (chunk): a 14x14 plane's 192 positions as 4 chunks of 48, not 3 of 64.
  if (positions >= 3 * LANES) positions = positions / (3 * LANES) * (3 * LANES);
#endif
  // Rows that are not whole vectors (7x7, 14x14 planes) start anywhere in a cache line, and about half of
  // a tile's loads then span two lines: on an AVX2 Zen 3, 1152 -> 192 over 48 positions ran 1.5x slower with
  // the input 1, 2 or 4 floats off alignment, and 7x7 as slowly (docs/benchmarks.md). So where at least
  // two channel tiles read a chunk, it is copied first to rows of whole vectors, aligned; the tiles read
  // the same values, so the sums are the same.
  const int copy = scale || (((hw % LANES) != 0 || (q0 % LANES) != 0 || ((uintptr_t)x % (LANES * sizeof(float))) != 0) && c1 - c0 >= 2 * TILE_CHANNELS);
  // Every chunk is as large as the first: one allocation serves them all.
  if (scale && !alignedRows((size_t)taps * (size_t)((positions + LANES - 1) & ~(LANES - 1)))) return 0;
  for (int p0 = q0; p0 < end; p0 += positions) {
    int p1 = p0 + positions < end ? p0 + positions : end;
    const int xs = (p1 - p0 + LANES - 1) & ~(LANES - 1);
    float *rows = copy ? alignedRows((size_t)taps * xs) : 0;
    if (rows) {
      if (scale) {
        for (int t = 0; t < taps; t++) scaleRun(rows + (size_t)t * xs, x + (size_t)t * hw + p0, p1 - p0, scale[t], scaleFirst);
      } else {
        for (int t = 0; t < taps; t++) memcpy(rows + (size_t)t * xs, x + (size_t)t * hw + p0, (size_t)(p1 - p0) * sizeof(float));
      }
      // The tiles read position p's input at x + p: so rows' first float stands for position p0.
      chunk((const float *)((uintptr_t)rows - (uintptr_t)p0 * sizeof(float)), packed, bias, out, taps, channels, hw, xs, c0, c1, p0, p1, e);
    } else {
      chunk(x, packed, bias, out, taps, channels, hw, hw, c0, c1, p0, p1, e);
    }
  }
  if (last) lastPosition(x, packed, bias, out, taps, channels, hw, end, c0, c1, scale, scaleFirst, e);
  if (few) lastPositions(x, packed, bias, out, taps, channels, hw, end, tail, c0, c1, scale, scaleFirst, e);
  return 1;
}

// Plane `plane` [h][w] into `buf`: padded rows [fromRow, toRow), row r holding input row r - padTop,
// phase q of it holding padded columns q, q + stride, ... (input column j * stride + q - padLeft at
// index j). Only the plane's own floats are written: the padding around them is the same for every
// plane of a layout, zeroed once (paddedPlanes).
SIMD static void fillPadded(float *buf, const PaddedLayout *p, const float *plane, int h, int w, int padTop, int padLeft, int fromRow, int toRow) {
  for (int r = fromRow; r < toRow; r++) {
    int iy = r - padTop;
    if (iy < 0 || iy >= h) continue;
    const float *src = plane + (size_t)iy * w;
    float *row = buf + (size_t)r * p->rowFloats;
    if (p->stride == 1) {
      memcpy(row + padLeft, src, (size_t)w * sizeof(float));
      continue;
    }
    if (p->stride > 2) {
      // AlexNet's conv1 (11x11 at stride 4): one float at a time, a small share of its multiply-adds.
      for (int c = 0; c < w; c++) row[(size_t)((c + padLeft) % p->stride) * p->phaseFloats + (c + padLeft) / p->stride] = src[c];
      continue;
    }
    // Input column c lands in phase (c + padLeft) & 1 at (c + padLeft) >> 1. Columns c, c + 2, ... of a
    // chunk of 2 * LANES share a phase; which one depends on padLeft's parity, the same for every chunk.
    float *first = row + (padLeft & 1) * p->phaseFloats, *second = row + (1 - (padLeft & 1)) * p->phaseFloats;
    int c = 0;
    // Whole chunks with plain loads and stores: the masks, made and tested per chunk, cost the stride-2
    // depthwise layers more than their multiply-adds (96 channels 3x3/2 at 112x112 on AVX2: the fill 47%
    // of the samples, the block kernel 22%).
    for (; c + 2 * LANES <= w; c += 2 * LANES) {
      vf even, odd;
      vdeinterleave(vloadu(src + c), vloadu(src + c + LANES), &even, &odd);
      vstoreu(first + ((c + padLeft) >> 1), even);
      vstoreu(second + ((c + 1 + padLeft) >> 1), odd);
    }
    for (; c < w; c += 2 * LANES) {
      int n = w - c < 2 * LANES ? w - c : 2 * LANES;
      vf even, odd;
      const vf lo = n >= LANES ? vloadu(src + c) : vloadz(vfirst(n), src + c);
      const vf hi = n >= 2 * LANES ? vloadu(src + c + LANES) : n > LANES ? vloadz(vfirst(n - LANES), src + c + LANES) : vzero();
      vdeinterleave(lo, hi, &even, &odd);
      // Even columns of the chunk (c even) at (c + padLeft) >> 1 + i; odd ones c + 1 + 2i at (c + 1 + padLeft) >> 1 + i.
      vstore(first + ((c + padLeft) >> 1), vfirst((n + 1) >> 1), even);
      vstore(second + ((c + 1 + padLeft) >> 1), vfirst(n >> 1), odd);
    }
  }
}

// A depthwise block's ROWS accumulators finished and stored, rows from oy at ox, those past outH neither read nor written.
#define FINISH_ROWS(ROWS)                                                                              \
  do {                                                                                                 \
    float *at[ROWS];                                                                                   \
    vmask m[ROWS];                                                                                     \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) {                                          \
      at[i] = oc + (size_t)(oy + i) * outW + ox;                                                       \
      m[i] = oy + i < outH ? mask : vfirst(0);                                                         \
    }                                                                                                  \
    FINISH_ALL(ROWS, acc, at, m, e);                                                                   \
  } while (0)

// Padded row r's tap columns v[0..KS) multiplied into every output row of the block the row feeds (rows i
// with 0 <= r - i * S < KS, as tap row ky = r - i * S), in kx order.
#define DEPTHWISE_ROW_TAPS(KS, S, ROWS)                                                                                \
  _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) {                                                             \
    const int ky = r - i * (S);                                                                                         \
    if (ky < 0 || ky >= (KS)) continue;                                                                                 \
    _Pragma("GCC unroll 8") for (int kx = 0; kx < (KS); kx++) acc[i] = vfma(vset1(wc[ky * (KS) + kx]), v[kx], acc[i]); \
  }

// ROWS output rows from oy of the LANES-output strip at ox: acc[i] = bias, then tap (ky, kx) of row
// oy + i from padded row (oy + i) * stride + ky, phase kx % stride, index ox + kx / stride. Rows are
// stored while under `outH`. For kernel sizes and strides without a DEPTHWISE_REUSE kernel.
#define DEPTHWISE_ROWS(ROWS)                                                                                            \
  SIMD static void K(depthwiseRows##ROWS)(const float *buf, const PaddedLayout *p, const float *wc, float bias,        \
                                          float *oc, int outH, int outW, int oy, int ox, vmask mask, const Epilogue *e) { \
    const vf b = vset1(bias);                                                                                           \
    vf acc[ROWS];                                                                                                       \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) acc[i] = b;                                                \
    const int k = p->k, s = p->stride;                                                                                  \
    const size_t rowStep = (size_t)s * p->rowFloats;                                                                    \
    for (int ky = 0; ky < k; ky++) {                                                                                    \
      const float *row = buf + (size_t)(oy * s + ky) * p->rowFloats + ox;                                             \
      for (int kx = 0; kx < k; kx++) {                                                                                  \
        const float *tap = row + (kx % s) * p->phaseFloats + kx / s;                                                   \
        const vf wv = vset1(wc[ky * k + kx]);                                                                           \
        _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) acc[i] = vfma(wv, vloadu(tap + i * rowStep), acc[i]);  \
      }                                                                                                                 \
    }                                                                                                                   \
    FINISH_ROWS(ROWS);                                                                                                  \
  }
DEPTHWISE_ROWS(8)
DEPTHWISE_ROWS(7)

// DEPTHWISE_ROWS with K and the stride S known: each padded row a block reads is loaded once, as two
// aligned vectors per phase, its K taps' columns made from them by shifts and used by every output row
// of the block it serves. Reading each tap's columns with its own unaligned load cost one load per
// multiply-add, most of them across two cache lines: 30-35 GFLOP/s on 3x3, below WebAssembly on 56x56
// planes. A block's rows meet padded row r in ascending r, so each output still takes its taps in
// (ky, kx) order.
// At 8 floats the shifts are two permutes and a blend each, which share the multiply-adds' pipes: there
// each tap column of a padded row is an unaligned load instead, still once per row and used by every
// output row of the block (a 3x3 row: 3 loads, about 1 in 4 across a line, where the shifts took 2 loads
// and 6 permutes and blends). Same floats, so the same sums. Alone on an AVX2 Zen 3, alternating with
// the shifts: 3x3 at stride 1 over 112x112 and 56x56 planes 1.40-1.46x (no activation), 1.30-1.34x
// (clip, batch 8), 1.15x (SiLU); 3x3 at stride 2 1.10-1.21x; 5x5 over 56x56 1.26x (docs/benchmarks.md).
#ifndef DEPTHWISE_LOADS_SHIFTED
#define DEPTHWISE_LOADS_SHIFTED (LANES == 8)
#endif
#define DEPTHWISE_REUSE(KS, S, ROWS)                                                                                   \
  SIMD static void K(depthwise##KS##s##S##r##ROWS)(const float *buf, const PaddedLayout *p, const float *wc, float bias, \
                                                   float *oc, int outH, int outW, int oy, int ox, vmask mask, const Epilogue *e) { \
    const vf b = vset1(bias);                                                                                           \
    vf acc[ROWS];                                                                                                       \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) acc[i] = b;                                                \
    const float *first = buf + (size_t)(oy * S) * p->rowFloats + ox;                                                  \
    _Pragma("GCC unroll 32") for (int r = 0; r < (ROWS - 1) * S + KS; r++) {                                           \
      const float *row = first + (size_t)r * p->rowFloats;                                                             \
      vf lo[S], hi[S], v[KS];                                                                                           \
      _Pragma("GCC unroll 2") for (int q = 0; q < S; q++) {                                                             \
        lo[q] = vload(row + q * p->phaseFloats);                                                                        \
        hi[q] = vload(row + q * p->phaseFloats + LANES);                                                                \
      }                                                                                                                 \
      _Pragma("GCC unroll 8") for (int kx = 0; kx < KS; kx++)                                                          \
        v[kx] = DEPTHWISE_LOADS_SHIFTED ? vloadu(row + (kx % S) * p->phaseFloats + kx / S) : vshifted(lo[kx % S], hi[kx % S], kx / S); \
      DEPTHWISE_ROW_TAPS(KS, S, ROWS);                                                                                  \
    }                                                                                                                   \
    FINISH_ROWS(ROWS);                                                                                                  \
  }
DEPTHWISE_REUSE(3, 1, 8) DEPTHWISE_REUSE(3, 1, 7) DEPTHWISE_REUSE(3, 2, 8) DEPTHWISE_REUSE(3, 2, 7)

// At 8 floats, 3x3 at stride 1: two strips side by side, ROWS rows each, acc[i] strip ox's row oy + i and
// acc[ROWS + i] strip ox + LANES's. Why: a padded row feeds at most 3 of a block's output rows, each by 3
// dependent multiply-adds, so one strip kept 3 chains in flight where two FMA units of 4-cycle latency
// want 8 (0.6 multiply-adds a cycle in the 8-row block). Two strips of 4 rows keep 6, in 8 accumulators
// and 6 tap columns (AVX2's 16 registers; 5 rows would spill). Same order per output, same bits. One
// thread, alternating with the 8-row blocks: 32 channels at 112x112 1.09-1.21x (a C probe over the
// kernel); mobilenet_v2's 112x112 layer 1.22x at batch 8 and 1.28x at batch 1, efficientnet_b0's (SiLU)
// 1.09x and 1.02x (docs/benchmarks.md).
#define DEPTHWISE_PAIR(KS, S, ROWS)                                                                                    \
  SIMD static void K(depthwise##KS##s##S##r##ROWS##pair)(const float *buf, const PaddedLayout *p, const float *wc, float bias, \
                                                         float *oc, int outH, int outW, int oy, int ox, vmask mask1, const Epilogue *e) { \
    const vf b = vset1(bias);                                                                                           \
    vf acc[2 * ROWS];                                                                                                   \
    _Pragma("GCC unroll 16") for (int i = 0; i < 2 * ROWS; i++) acc[i] = b;                                           \
    const float *first = buf + (size_t)(oy * S) * p->rowFloats + ox;                                                  \
    _Pragma("GCC unroll 32") for (int r = 0; r < (ROWS - 1) * S + KS; r++) {                                           \
      const float *row = first + (size_t)r * p->rowFloats;                                                             \
      vf v[KS], u[KS];                                                                                                  \
      _Pragma("GCC unroll 8") for (int kx = 0; kx < KS; kx++) {                                                        \
        v[kx] = vloadu(row + (kx % S) * p->phaseFloats + kx / S);                                                       \
        u[kx] = vloadu(row + (kx % S) * p->phaseFloats + kx / S + LANES);                                               \
      }                                                                                                                 \
      _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) {                                                         \
        const int ky = r - i * S;                                                                                       \
        if (ky < 0 || ky >= KS) continue;                                                                               \
        _Pragma("GCC unroll 8") for (int kx = 0; kx < KS; kx++) {                                                      \
          const vf w = vset1(wc[ky * KS + kx]);                                                                         \
          acc[i] = vfma(w, v[kx], acc[i]);                                                                              \
          acc[ROWS + i] = vfma(w, u[kx], acc[ROWS + i]);                                                                \
        }                                                                                                               \
      }                                                                                                                 \
    }                                                                                                                   \
    float *at[2 * ROWS];                                                                                                \
    vmask m[2 * ROWS];                                                                                                  \
    _Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++) {                                                          \
      at[i] = oc + (size_t)(oy + i) * outW + ox;                                                                        \
      at[ROWS + i] = at[i] + LANES;                                                                                     \
      m[i] = oy + i < outH ? vfirst(LANES) : vfirst(0);                                                                 \
      m[ROWS + i] = oy + i < outH ? mask1 : vfirst(0);                                                                  \
    }                                                                                                                   \
    FINISH_ALL(2 * ROWS, acc, at, m, e);                                                                                \
  }
DEPTHWISE_PAIR(3, 1, 4)
#undef DEPTHWISE_PAIR
DEPTHWISE_REUSE(5, 1, 8) DEPTHWISE_REUSE(5, 1, 7) DEPTHWISE_REUSE(5, 2, 8) DEPTHWISE_REUSE(5, 2, 7)
DEPTHWISE_REUSE(7, 1, 8) DEPTHWISE_REUSE(7, 1, 7)

typedef void DepthwiseBlock(const float *, const PaddedLayout *, const float *, float, float *, int, int, int, int, vmask, const Epilogue *);

// The block kernel for k, the stride and the rows per block: one that reuses rows where there is one.
static DepthwiseBlock *depthwiseBlock(int k, int stride, int rows) {
#define PICK(KS, S) if (k == KS && stride == S) return rows == 8 ? K(depthwise##KS##s##S##r8) : K(depthwise##KS##s##S##r7);
  PICK(3, 1) PICK(3, 2) PICK(5, 1) PICK(5, 2) PICK(7, 1)
#undef PICK
  return rows == 8 ? depthwiseRows8 : depthwiseRows7;
}

// DEPTHWISE_REUSE reading the input plane itself: each input row a block needs, as masked loads from
// column S * ox - padLeft (lanes outside the plane +0, the padding's value; a row outside it read from
// zeroFloats). At stride 2, three vectors split into their even and odd floats, which are the padded row's
// two phases; at stride 1, two. The K taps' columns are shifted from those as from a padded row's aligned
// loads. No padded copy: at stride 2 that copy (a load, a permute and a store per float, then the block's
// loads) took 0.22 of 0.30 ms on 96 channels at 112x112 and most of the layer on small planes, where it
// went row by row (576 channels 3x3/2 at 14x14, SiLU: 0.073 -> 0.041 ms; docs/benchmarks.md). Each output
// is still its bias, then one fused multiply-add per tap in (ky, kx) order, a tap in the padding
// multiplying +0: the same bits.
#define DEPTHWISE_DIRECT(KS, S, ROWS)                                                                                  \
  SIMD static void K(depthwise##KS##s##S##r##ROWS##direct)(const float *plane, int h, int w, int padTop, int padLeft,  \
                                                           const float *wc, float bias, float *oc, int outH, int outW, int oy, int ox, vmask mask, const Epilogue *e) { \
    const vf b = vset1(bias);                                                                                           \
    vf acc[ROWS];                                                                                                       \
    _Pragma("GCC unroll 8") for (int i = 0; i < ROWS; i++) acc[i] = b;                                                \
    const int base = S * ox - padLeft;                                                                                  \
    /* Lanes of the S + 1 vectors whose columns lie in [0, w); the last only for the taps past S * LANES. */           \
    const int past = S * LANES;                                                                                         \
    const vmask m0 = vlanes(-base, w - base), m1 = S == 2 ? vlanes(-base - LANES, w - base - LANES) : vfirst(0);      \
    const vmask mLast = vlanes(-base - past, w - base - past < KS - 1 ? w - base - past : KS - 1);                    \
    _Pragma("GCC unroll 32") for (int r = 0; r < (ROWS - 1) * S + KS; r++) {                                           \
      const int iy = oy * S + r - padTop;                                                                               \
      /* A row in the padding reads zeroFloats (addon.c): the same loads, +0 in every lane. */                       \
      const float *row = iy >= 0 && iy < h ? plane + (ptrdiff_t)iy * w + base : zeroFloats;                            \
      const vf last = vloadz(mLast, row + past);                                                                        \
      vf v[KS];                                                                                                         \
      if (S == 2) {                                                                                                     \
        vf even, odd, even2 = last, odd2 = last;                                                                        \
        vdeinterleave(vloadz(m0, row), vloadz(m1, row + LANES), &even, &odd);                                           \
        if (KS > 3) vdeinterleave(last, last, &even2, &odd2);                                                           \
        _Pragma("GCC unroll 8") for (int kx = 0; kx < KS; kx++) v[kx] = kx % 2 ? vshifted(odd, odd2, kx / 2) : vshifted(even, even2, kx / 2); \
      } else {                                                                                                          \
        const vf first = vloadz(m0, row);                                                                               \
        _Pragma("GCC unroll 8") for (int kx = 0; kx < KS; kx++) v[kx] = vshifted(first, last, kx);                     \
      }                                                                                                                 \
      DEPTHWISE_ROW_TAPS(KS, S, ROWS);                                                                                  \
    }                                                                                                                   \
    FINISH_ROWS(ROWS);                                                                                                  \
  }
DEPTHWISE_DIRECT(3, 2, 8) DEPTHWISE_DIRECT(3, 2, 7) DEPTHWISE_DIRECT(5, 2, 8) DEPTHWISE_DIRECT(5, 2, 7)
DEPTHWISE_DIRECT(3, 1, 8) DEPTHWISE_DIRECT(3, 1, 7)
#undef DEPTHWISE_DIRECT

typedef void DepthwiseDirectBlock(const float *, int, int, int, int, const float *, float, float *, int, int, int, int, vmask, const Epilogue *);

// Depthwise KxK at stride 1 or 2 (one input channel per output channel), output channels [c0, c1) of
// one image (see addon.c). False, having written nothing, if its padded plane cannot be allocated.
SIMD static int depthwise(const float *x, const float *weights, const float *bias, float *out, int h, int w, int k, int stride, int padTop, int padLeft, int outH, int outW, int c0, int c1, const Epilogue *e) {
  const int strips = (outW + LANES - 1) / LANES;
  // At 8 floats a 3x3 at stride 1 over an even count of strips goes by pairs of them, 4 rows a block
  // (DEPTHWISE_PAIR). An odd count would leave a strip to 4-row blocks alone, 3 chains for half the work
  // of an 8-row block: 56-wide planes (7 strips) ran level with the 8-row blocks that way. Else 7-row
  // blocks where the plane is 7, 14 or 28 rows high (8 would compute up to a block of padding rows).
  const int pairs = LANES == 8 && k == 3 && stride == 1 && strips % 2 == 0;
  const int rowsPerBlock = pairs ? 4 : outH % 8 != 0 && outH % 7 == 0 ? 7 : 8;
  const int blocks = (outH + rowsPerBlock - 1) / rowsPerBlock;
  // Where depthwiseInPlace (addon.c) says so, stride 2 reads the plane in place for a 3x3, and for a 5x5 on
  // rows of one vector; a 5x5 over wider rows keeps the padded copy, which its 5 taps a row amortize (144
  // channels 5x5/2 at 56x56: 0.155 ms copied, 0.171 in place, where its 3x3 went 0.119 -> 0.105;
  // docs/benchmarks.md).
  // And with 16-float vectors so does a 3x3 at stride 1, where the copy is a memcpy a row: 480 channels at
  // 14x14 with SiLU 0.072 -> 0.049-0.055 ms, 192 at 28x28 0.097 -> 0.078-0.090, 112x112 and 56x56 planes
  // level to 1.07x (a 5x5 over 28-wide rows was no faster; on narrower ones it goes across channels). With
  // 8-float vectors a 3x3 there runs two strips at a time.
  const int direct1 = depthwiseInPlace == 1 && LANES == 16 && stride == 1 && k == 3;
  if ((depthwiseInPlace == 1 && stride == 2 && (k == 3 || (k == 5 && strips == 1))) || direct1) {
    DepthwiseDirectBlock *direct = direct1  ? (rowsPerBlock == 8 ? K(depthwise3s1r8direct) : K(depthwise3s1r7direct))
                                   : k == 3 ? (rowsPerBlock == 8 ? K(depthwise3s2r8direct) : K(depthwise3s2r7direct))
                                            : (rowsPerBlock == 8 ? K(depthwise5s2r8direct) : K(depthwise5s2r7direct));
    for (int c = c0; c < c1; c++) {
      const float *wc = weights + (size_t)c * k * k;
      float *oc = out + (size_t)c * outH * outW;
      const float b = bias ? bias[c] : 0.0f;
      for (int oy = 0; oy < outH; oy += rowsPerBlock) {
        // The next block's output lines, asked for with intent to write, as below.
        const char *from = (const char *)(oc + (size_t)(oy + rowsPerBlock) * outW), *to = (const char *)(oc + (size_t)(oy + 2 * rowsPerBlock) * outW);
        const char *end = (const char *)(out + (size_t)c1 * outH * outW);
        for (const char *line = from; line < to && line < end; line += 64) _mm_prefetch(line, _MM_HINT_ET0);
        // The input rows the next block reads, asked for while this one computes (at a plane's last block,
        // the next plane's first). Its strips read a block's rows a few lines at a time, column by column,
        // which the hardware prefetchers follow badly: a 96-channel 3x3/2 at 112x112 whose input had just
        // been written took 0.34 ms without this and 0.18 with it, as long as with its input in cache
        // (Zen 5; docs/benchmarks.md).
        {
          const int next = oy + rowsPerBlock < outH ? oy + rowsPerBlock : 0;
          const int nextPlane = next == 0 ? c + 1 : c;
          if (nextPlane < c1) {
            const int r0 = next * stride - padTop, r1 = r0 + (rowsPerBlock - 1) * stride + k;
            const float *input = x + (size_t)nextPlane * h * w;
            const char *line = (const char *)(input + (size_t)(r0 < 0 ? 0 : r0) * w), *stop = (const char *)(input + (size_t)(r1 < h ? r1 : h) * w);
            for (; line < stop; line += 64) _mm_prefetch(line, _MM_HINT_T0);
          }
        }
        for (int strip = 0; strip < strips; strip++) {
          const int ox = strip * LANES;
          direct(x + (size_t)c * h * w, h, w, padTop, padLeft, wc, b, oc, outH, outW, oy, ox, vfirst(outW - ox), e);
        }
      }
    }
    return 1;
  }
  // Indexes read: up to strips * LANES + LANES - 1 per phase (a block kernel's second aligned vector, or a
  // tap's columns up to strips * LANES - 1 + (k - 1) / stride).
  const PaddedLayout p = paddedLayout(k, stride, w, padLeft, strips * LANES + ((k - 1) / stride > LANES ? (k - 1) / stride : LANES));
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
      if (pairs) {
        for (int strip = 0; strip < strips; strip += 2) {
          const int ox = strip * LANES;
          K(depthwise3s1r4pair)(buf, &p, wc, b, oc, outH, outW, oy, ox, vfirst(outW - ox - LANES), e);
        }
        continue;
      }
      for (int strip = 0; strip < strips; strip++) {
        int ox = strip * LANES;
        block(buf, &p, wc, b, oc, outH, outW, oy, ox, vfirst(outW - ox), e);
      }
    }
  }
  return 1;
}

// Depthwise KxK at stride 1 or 2 over small planes, LANES channels at a time: each vector holds one
// position of LANES channels (ONNX Runtime's NCHWc layout, made per call from the NCHW planes by LANES x
// LANES transposes, and back), so every lane does work where the kernel above, one plane at a time,
// fills 7 of 16 lanes on a 7x7 plane and pays a padded copy, a block call and a prefetch run per plane
// of 49 outputs. Each output is still its bias, then one fused multiply-add per tap in (ky, kx) order
// with a tap in the padding multiplying +0, then the epilogue (applied on the way back, as the output is
// laid out, so a residual is read in place): the same bits. Chosen per plan (plan/run.ts) where it is
// the faster of the two (docs/benchmarks.md). POSITIONS outputs of a row at a time: as many
// independent chains of multiply-adds.
#define DEPTHWISE_ACROSS_CHANNELS_CHUNK(POSITIONS)                                                                     \
  SIMD static inline void K(depthwiseChannelChunk##POSITIONS)(const float *row0, size_t rowStep, int k, int stride,     \
                                                              const float *wt, vf b, float *o, int valid) {             \
    vf acc[POSITIONS];                                                                                                  \
    _Pragma("GCC unroll 8") for (int i = 0; i < POSITIONS; i++) acc[i] = b;                                           \
    for (int ky = 0; ky < k; ky++) {                                                                                    \
      const float *row = row0 + (size_t)ky * rowStep;                                                                  \
      for (int kx = 0; kx < k; kx++) {                                                                                  \
        const vf wv = vload(wt + (size_t)(ky * k + kx) * LANES);                                                       \
        const float *tap = row + (size_t)kx * LANES;                                                                   \
        _Pragma("GCC unroll 8") for (int i = 0; i < POSITIONS; i++) acc[i] = vfma(wv, vload(tap + (size_t)i * stride * LANES), acc[i]); \
      }                                                                                                                 \
    }                                                                                                                   \
    _Pragma("GCC unroll 8") for (int i = 0; i < POSITIONS; i++) vstore(o + (size_t)i * LANES, vfirst(i < valid ? LANES : 0), acc[i]); \
  }
DEPTHWISE_ACROSS_CHANNELS_CHUNK(8)
DEPTHWISE_ACROSS_CHANNELS_CHUNK(7)

// Output channels [c0, c1) of one image, as depthwise's arguments. False, having written nothing, if its
// buffer cannot be allocated.
SIMD static int depthwiseAcrossChannels(const float *x, const float *weights, const float *bias, float *out, int h, int w, int k, int stride, int padTop, int padLeft, int outH, int outW, int c0, int c1, const Epilogue *e) {
  // 7 outputs at a time where a row is 7, 14 or 28 wide, else 8 (the last chunk's extra ones computed, not kept).
  const int positions = outW % 8 != 0 && outW % 7 == 0 ? 7 : 8;
  const int chunks = (outW + positions - 1) / positions;
  // Padded rows and columns the chunks read: the last chunk's last output, extra ones included, reads
  // column (chunks * positions - 1) * stride + k - 1.
  const int rows = (outH - 1) * stride + k, cols = (chunks * positions - 1) * stride + k;
  const int taps = k * k, hw = h * w;
  const int outHW = outH * outW;
  float *t = channelVectorPlanes(LANES, rows, cols, h, w, padTop, padLeft, stride, (size_t)(taps + outHW) * LANES);
  if (!t) return 0;
  float *wt = t + (size_t)rows * cols * LANES, *o = wt + (size_t)taps * LANES;
  // Input rows and columns that land inside the padded rows and columns (at stride 2 the last may not).
  const int rowsIn = h + padTop < rows ? h : rows - padTop, colsIn = w + padLeft < cols ? w : cols - padLeft;
  const size_t rowStep = (size_t)cols * LANES;
  for (int cb = c0; cb < c1; cb += LANES) {
    const int n = c1 - cb < LANES ? c1 - cb : LANES;
    // In: LANES input positions of the block's channels at a time, transposed into one vector per
    // position (lanes n and up +0: their outputs are never stored). Where rows are whole vectors (a
    // 56-wide input at stride 2), row by row: the vectors of a chunk go side by side in the padded row,
    // with no count per position (taken across rows, a position's row and column, counted one by one
    // with a test each, were a third of this kernel's samples on 144 channels 3x3/2 at 56x56 on AVX2;
    // docs/benchmarks.md). Narrower rows (7, 14, 28) are taken across rows: by row, a chunk's lanes past
    // the row's end would go unused, and that was slower.
    if (w % LANES == 0) {
      for (int iy = 0; iy < rowsIn; iy++) {
        float *to = t + (size_t)(iy + padTop) * rowStep + (size_t)padLeft * LANES;
        const float *from = x + (size_t)cb * hw + (size_t)iy * w;
        for (int ix = 0; ix < colsIn; ix += LANES) {
          vf v[LANES];
          const int count = colsIn - ix < LANES ? colsIn - ix : LANES;
          _Pragma("GCC unroll 16") for (int l = 0; l < LANES; l++) v[l] = l < n ? vloadu(from + (size_t)l * hw + ix) : vzero();
          vtranspose(v);
          // Whole chunks with the stores unrolled: indexed by a count known only at run time, v[] would live in memory.
          if (count == LANES) {
            _Pragma("GCC unroll 16") for (int j = 0; j < LANES; j++) vstoreu(to + (size_t)(ix + j) * LANES, v[j]);
          } else {
            for (int j = 0; j < count; j++) vstoreu(to + (size_t)(ix + j) * LANES, v[j]);
          }
        }
      }
    } else {
      for (int q = 0, iy = 0, ix = 0; q < hw; q += LANES) {
        vf v[LANES];
        const vmask m = vfirst(hw - q);
        _Pragma("GCC unroll 16") for (int l = 0; l < LANES; l++) v[l] = vloadz(l < n ? m : vfirst(0), x + (size_t)(cb + l) * hw + q);
        vtranspose(v);
        for (int j = 0; j < LANES && q + j < hw; j++) {
          if (iy < rowsIn && ix < colsIn) vstore(t + (size_t)(iy + padTop) * rowStep + (size_t)(ix + padLeft) * LANES, vfirst(LANES), v[j]);
          if (++ix == w) ix = 0, iy++;
        }
      }
    }
    for (int tap = 0; tap < taps; tap += LANES) {
      vf v[LANES];
      const vmask m = vfirst(taps - tap);
      _Pragma("GCC unroll 16") for (int l = 0; l < LANES; l++) v[l] = vloadz(l < n ? m : vfirst(0), weights + (size_t)(cb + l) * taps + tap);
      vtranspose(v);
      for (int j = 0; j < LANES && tap + j < taps; j++) vstore(wt + (size_t)(tap + j) * LANES, vfirst(LANES), v[j]);
    }
    const vf b = bias ? vloadz(vfirst(n), bias + cb) : vzero();
    for (int oy = 0; oy < outH; oy++) {
      const float *row0 = t + (size_t)oy * stride * rowStep;
      for (int ox = 0; ox < outW; ox += positions) {
        float *at = o + (size_t)(oy * outW + ox) * LANES;
        const float *first = row0 + (size_t)ox * stride * LANES;
        if (positions == 7) K(depthwiseChannelChunk7)(first, rowStep, k, stride, wt, b, at, outW - ox);
        else K(depthwiseChannelChunk8)(first, rowStep, k, stride, wt, b, at, outW - ox);
      }
    }
    // Out: LANES output positions at a time (across rows: o holds the outputs as the planes do), transposed
    // back into one vector per channel, finished and stored.
    for (int q = 0; q < outHW; q += LANES) {
      vf v[LANES];
      float *at[LANES];
      vmask m[LANES];
      const int count = outHW - q < LANES ? outHW - q : LANES;
      _Pragma("GCC unroll 16") for (int j = 0; j < LANES; j++) v[j] = j < count ? vload(o + (size_t)(q + j) * LANES) : vzero();
      vtranspose(v);
      _Pragma("GCC unroll 16") for (int l = 0; l < LANES; l++) {
        at[l] = out + (size_t)(cb + l) * outHW + q;
        m[l] = vfirst(l < n ? count : 0);
      }
      FINISH_ALL(LANES, v, at, m, e);
    }
  }
  return 1;
}

// A KxK convolution at stride 1 to 4, cin / groups input channels per group, output channels [c0, c1)
// of one image (see addon.c). The input is copied into padded planes laid out as the depthwise kernel's
// (each row its column phases), so tap t of an output row's 2 * LANES positions is as many consecutive
// floats at a fixed offset: the 1x1 kernel's tiles then run over the offset table. Rows are copied as
// the output rows reach them. False, having written nothing, if the planes or the table cannot be
// allocated.
SIMD static int dense(const float *x, const float *packed, const float *bias, float *out, int cin, int groups, int h, int w, int k, int stride, int padTop, int padLeft,
                      int outH, int outW, int cout, int c0, int c1, const Epilogue *e) {
  // A 1x1 at a stride (a ResNet's downsampling shortcut): every stride-th pixel of each input plane
  // gathered into planes of outH x outW, then the 1x1 kernel over them, whose sums are these: its
  // bias, then one fused multiply-add per input channel in order, the same packed weights (one group,
  // taps = cin). Through the tiles below a 7x7 output filled 14 of a tile's 32 positions (resnext50's
  // 1024 -> 2048 at 7x7 ran at 55-60 GFLOP/s at batch 8).
  if (k == 1 && groups == 1 && padTop == 0 && padLeft == 0) {
    const int hw = outH * outW;
    float *sub = subsampledPlanes((size_t)cin * hw);
    if (!sub) return 0;
    for (int ic = 0; ic < cin; ic++) {
      const float *plane = x + (size_t)ic * h * w;
      float *to = sub + (size_t)ic * hw;
      for (int oy = 0; oy < outH; oy++) {
        const float *row = plane + (size_t)oy * stride * w;
        for (int ox = 0; ox < outW; ox++) to[oy * outW + ox] = row[(size_t)ox * stride];
      }
    }
    pointwise(sub, packed, bias, out, cin, cout, hw, c0, c1, 0, hw, 0, 0, e);
    return 1;
  }
  const int cinG = cin / groups, coutG = cout / groups, taps = cinG * k * k, blocks = coutG >> 2;
  // A tile reads 2 * LANES positions from its row's start: up to ceil(outW / 32) * 32 - 1 + (k - 1) / stride.
  const PaddedLayout p = paddedLayout(k, stride, w, padLeft, (outW + 31) / 32 * 32 + (k - 1) / stride);
  const int rows = (outH - 1) * stride + k;
  // Rows of LANES or fewer: a tile takes two rows' LANES positions each, not one row's 2 * LANES of which most are idle.
  const int pairRows = outW <= LANES;
  // Each plane holds `stride` rows more than the outputs read: a last pair's missing second row, loaded whole.
  const int rowsHeld = rows + (pairRows ? stride : 0);
  const size_t planeFloats = (size_t)rowsHeld * p.rowFloats;
  float *buf = paddedPlanes(&p, cin, rowsHeld, h, w, padTop, padLeft);
  const int *offsets = buf ? tapOffsets(&p, cinG, planeFloats) : 0;
  if (!offsets) return 0;
  const int hw = outH * outW;
  const int rowStep = pairRows ? 2 : 1;
  const int secondIn = pairRows ? stride * p.rowFloats : LANES, secondOut = pairRows ? outW : LANES;
  // Group by group: a group's input planes are filled, then its output rows computed. Filled row by row
  // for all the range's groups at once, as the output rows reached them, the fills read 2 rows of each of
  // the input's planes at a time, hundreds of short streams the hardware prefetchers do not follow:
  // resnext50's grouped 3x3 at stride 2 spent 55% of its time waiting in those loads.
  for (int g = c0 / coutG; g <= (c1 - 1) / coutG; g++) {
    const int gc0 = c0 > g * coutG ? c0 : g * coutG, gc1 = c1 < (g + 1) * coutG ? c1 : (g + 1) * coutG;
    const float *groupWeights = packed + (size_t)g * coutG * taps;
    float *groupPlanes = buf + (size_t)g * cinG * planeFloats;
    const float *groupInput = x + (size_t)g * cinG * h * w;
    // Few planes (a 3-channel stem) are filled as the output rows reach them, so the input's reads go along
    // with the output's writes; more are filled whole first, each plane one stream.
    const int wholePlanes = cinG > 8;
    if (wholePlanes) for (int ic = 0; ic < cinG; ic++) fillPadded(groupPlanes + ic * planeFloats, &p, groupInput + (size_t)ic * h * w, h, w, padTop, padLeft, 0, rows);
    int filled = 0;
    for (int oy = 0; oy < outH; oy += rowStep) {
      const int lastRow = pairRows && oy + 1 < outH ? oy + 1 : oy;
      if (!wholePlanes) {
        const int upTo = lastRow * stride + k;
        for (int ic = 0; ic < cinG; ic++) fillPadded(groupPlanes + ic * planeFloats, &p, groupInput + (size_t)ic * h * w, h, w, padTop, padLeft, filled, upTo);
        filled = upTo;
      }
      const float *row = groupPlanes + (size_t)oy * stride * p.rowFloats;
      for (int c = gc0; c < gc1;) {
        const int j = c - g * coutG;
        // Whole blocks inside the range and the group: 8 or 4 channels at once; else one.
        const int inBlocks = j < blocks * 4 && (j & 3) == 0;
        const int width = TILE_CHANNELS == 8 && inBlocks && j + 8 <= blocks * 4 && c + 8 <= gc1 ? 8 : inBlocks && c + 4 <= gc1 ? 4 : 1;
        int ox = 0;
#if TILE_CHANNELS == 4
        // As in chunk: 3 vectors of the row at a time first (threeVectorTiles).
        const int tiles3 = width == 4 && !pairRows ? threeVectorTiles(outW) : 0;
        for (int i = 0; i < tiles3; i++, ox += 3 * LANES) {
          denseTile4x3(row + ox, offsets, groupWeights + (size_t)j * taps, bias ? bias + c : 0, out + (size_t)c * hw + (size_t)oy * outW + ox, taps, hw, e);
        }
#endif
        for (; ox < outW; ox += pairRows ? outW : 2 * LANES) {
          vmask m0 = vfirst(outW - ox);
          vmask m1 = pairRows ? vfirst(lastRow > oy ? outW : 0) : vfirst(outW - ox - LANES);
          const int half = pairRows ? lastRow == oy : outW - ox <= LANES;
          float *at = out + (size_t)c * hw + (size_t)oy * outW + ox;
          const float *b = bias ? bias + c : 0;
          if (width == 4) (half ? denseTile4Half : denseTile4)(row + ox, offsets, groupWeights + (size_t)j * taps, b, at, taps, hw, secondIn, secondOut, m0, m1, e);
          else if (width == 1 && j < blocks * 4) denseRow1(row + ox, offsets, groupWeights + (size_t)(j >> 2) * 4 * taps + (j & 3), 4, b ? b[0] : 0.0f, at, taps, secondIn, secondOut, m0, m1, e);
          else if (width == 1) denseRow1(row + ox, offsets, groupWeights + (size_t)blocks * 4 * taps + (size_t)(j - blocks * 4) * taps, 1, b ? b[0] : 0.0f, at, taps, secondIn, secondOut, m0, m1, e);
#if TILE_CHANNELS == 8
          else (half ? denseTile8Half : denseTile8)(row + ox, offsets, groupWeights + (size_t)j * taps, groupWeights + (size_t)(j + 4) * taps, b, at, taps, hw, secondIn, secondOut, m0, m1, e);
#endif
        }
        c += width;
      }
    }
  }
  return 1;
}

// PyTorch's max pooling step `val > maxval || isnan(val) ? val : maxval`, lane by lane: among equal maxima
// (+0 and -0) the first in scan order stays, of several NaNs the last comes out (assembly/pooling.ts, maxTap).
SIMD static inline vf maxTap(vf best, vf v) { return vblend(vmaskOr(vlt(best, v), vunordered(v)), best, v); }

// Max pooling of planes [p0, p1) of x [planes][h][w] into out [planes][outH][outW], torch's max_pool2d with
// padding -infinity, stride 1 or 2 along rows, no dilation (outH and outW the caller's, ceil mode included).
// Each output takes its window's taps in row-major order through maxTap, PyTorch's own scan, so the winner
// is the one WebAssembly's separable kernel finds. Each plane is copied into padded rows of column phases
// (as the depthwise kernel's, -infinity around it), so every tap of 4 * LANES outputs is 4 plain loads.
// False, having written nothing, if the padded plane cannot be allocated.
SIMD static int maxPool(const float *x, float *out, int p0, int p1, int h, int w, int outH, int outW, int kh, int kw, int sh, int sw, int ph, int pw) {
  const int strips = (outW + LANES - 1) / LANES;
  // The loads of a group of 4 strips reach 4 * LANES past its first, whole groups included.
  const PaddedLayout p = paddedLayout(kw, sw, w, pw, ((strips + 3) & ~3) * LANES + (kw - 1) / sw);
  float *buf = poolingPlane(&p, h, h, w, pw);
  if (!buf) return 0;
  const vf lowest = vset1(-INFINITY);
  for (int plane = p0; plane < p1; plane++) {
    fillPadded(buf, &p, x + (size_t)plane * h * w, h, w, 0, pw, 0, h);
    float *o = out + (size_t)plane * outH * outW;
    for (int oy = 0; oy < outH; oy++) {
      const int top = oy * sh - ph;
      float *line = o + (size_t)oy * outW;
      for (int strip = 0; strip < strips; strip += 4) {
        // Four strips at once: four independent chains of dependent maxima.
        vf b0 = lowest, b1 = lowest, b2 = lowest, b3 = lowest;
        for (int ky = 0; ky < kh; ky++) {
          const int iy = top + ky;
          if (iy < 0 || iy >= h) continue; // a padding row: -infinity never wins
          const float *row = buf + (size_t)iy * p.rowFloats + strip * LANES;
          for (int kx = 0; kx < kw; kx++) {
            const float *tap = row + (kx % sw) * p.phaseFloats + kx / sw;
            b0 = maxTap(b0, vloadu(tap));
            b1 = maxTap(b1, vloadu(tap + LANES));
            b2 = maxTap(b2, vloadu(tap + 2 * LANES));
            b3 = maxTap(b3, vloadu(tap + 3 * LANES));
          }
        }
        const int ox = strip * LANES;
        vstore(line + ox, vfirst(outW - ox), b0);
        vstore(line + ox + LANES, vfirst(outW - ox - LANES), b1);
        vstore(line + ox + 2 * LANES, vfirst(outW - ox - 2 * LANES), b2);
        vstore(line + ox + 3 * LANES, vfirst(outW - ox - 3 * LANES), b3);
      }
    }
  }
  return 1;
}

// Means of planes [q0, q1) of `plane` floats each, as assembly/global-pool.ts and ranged/pool.ts compute
// them (planeMean there): sixteen running sums in double precision, sum j over the elements i = j (mod 16)
// in order from +0, added as a tree (j and j + 8, then j and j + 4, j and j + 2, then the last two), then
// divided once by `plane` and rounded to float32. That order is a plane's own floats in a vector's lanes:
// one load and two conversions a 16 floats, where summing each plane from its first element to its last
// (the order before) had to transpose 16 planes into lanes and took efficientnet_b0's squeezes at 2-6
// G floats/s (docs/benchmarks.md). Four planes at a time: eight chains of adds in flight. Elements past a
// plane's end are loaded as +0, which leaves a sum that started at +0 as it was.
#if LANES == 16
#define POOL_SUMS 2
typedef __m512d poolSum;
SIMD static inline poolSum poolZero(void) { return _mm512_setzero_pd(); }
// Floats [i, i + 16) of p (the first n of them; the rest +0) into sums 0-7 and 8-15.
SIMD static inline void poolAdd(poolSum *acc, const float *p, int n) {
  // Two 8-float loads, each converted from memory: a 16-float load's high half took an extract, the shuffle
  // port's third uop per 16 floats (13.9-15.4 G floats/s that way with hot caches, 14.9-18.0 this way).
  if (n >= 16) {
    acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm256_loadu_ps(p)));
    acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm256_loadu_ps(p + 8)));
    return;
  }
  const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
  acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}
SIMD static inline double poolTotal(const poolSum *acc) {
  const __m512d s = _mm512_add_pd(acc[0], acc[1]);
  const __m256d t = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
  const __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
  return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));
}
#else
#define POOL_SUMS 4
typedef __m256d poolSum;
SIMD static inline poolSum poolZero(void) { return _mm256_setzero_pd(); }
// Floats [i, i + 16) of p (the first n of them; the rest +0) into sums 0-3, 4-7, 8-11 and 12-15.
SIMD static inline void poolAdd(poolSum *acc, const float *p, int n) {
  _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
    const int left = n - 4 * k;
    const __m128 v = left >= 4 ? _mm_loadu_ps(p + 4 * k) : left <= 0 ? _mm_setzero_ps() : _mm_maskload_ps(p + 4 * k, _mm_setr_epi32(left > 0 ? -1 : 0, left > 1 ? -1 : 0, left > 2 ? -1 : 0, 0));
    acc[k] = _mm256_add_pd(acc[k], _mm256_cvtps_pd(v));
  }
}
SIMD static inline double poolTotal(const poolSum *acc) {
  // Sums j and j + 8 (j < 8: 0-3 with 8-11, 4-7 with 12-15), then j and j + 4, j and j + 2, the last two.
  const __m256d t = _mm256_add_pd(_mm256_add_pd(acc[0], acc[2]), _mm256_add_pd(acc[1], acc[3]));
  const __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
  return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));
}
#endif

#define POOL_PLANES 4
SIMD static void globalAverage(const float *x, float *out, int q0, int q1, int plane) {
  for (int q = q0; q < q1; q += POOL_PLANES) {
    const int n = q1 - q < POOL_PLANES ? q1 - q : POOL_PLANES;
    poolSum acc[POOL_PLANES][POOL_SUMS];
    _Pragma("GCC unroll 4") for (int k = 0; k < POOL_PLANES; k++) _Pragma("GCC unroll 4") for (int j = 0; j < POOL_SUMS; j++) acc[k][j] = poolZero();
    const float *p = x + (size_t)q * plane;
    int i = 0;
    if (n == POOL_PLANES) {
      for (; i + 16 <= plane; i += 16) {
        _Pragma("GCC unroll 4") for (int k = 0; k < POOL_PLANES; k++) poolAdd(acc[k], p + (size_t)k * plane + i, 16);
      }
      if (i < plane) _Pragma("GCC unroll 4") for (int k = 0; k < POOL_PLANES; k++) poolAdd(acc[k], p + (size_t)k * plane + i, plane - i);
    } else {
      for (int k = 0; k < n; k++) for (int at = 0; at < plane; at += 16) poolAdd(acc[k], p + (size_t)k * plane + at, plane - at < 16 ? plane - at : 16);
    }
    for (int k = 0; k < n; k++) out[q + k] = (float)(poolTotal(acc[k]) / (double)plane);
  }
}
#undef POOL_PLANES
#undef POOL_SUMS

// A fully connected layer's outputs [o0, o1) of every row: out[r, o] = bias[o] + x[r, :] . w[o, :], x
// [rows, inF], w [outF, inF] as PyTorch stores them, computed as assembly/linear.ts does: four lane sums,
// lane j over i = j (mod 4) by fused multiply-add in order, added ((0 + 1) + (2 + 3)), then the inF % 4
// last products by fused multiply-add, then the bias. That order fits 4 floats, not a vector: so a vector
// holds QUADS outputs' four lane sums, group f for output o + f, its weights gathered from QUADS rows of
// w, and x's 4 floats broadcast to every group. The WebAssembly kernel ran classifiers at 3-17 GFLOP/s.
//
// NaN payloads: where both operands of an add are NaN, which one comes out is not fixed even in
// WebAssembly (V8's baseline and optimizing tiers order the operands of f32.add differently: a test
// saw both), so the sums here are plain adds; tests compare NaNs as NaNs.
SIMD static inline float addScalar(float a, float b) { return _mm_cvtss_f32(_mm_add_ss(_mm_set_ss(a), _mm_set_ss(b))); }

// How far ahead each weight row is asked for: a layer's weights come from memory once (4-151 MB), in as
// many streams as the tile has outputs (in-model Gemm 0.92 -> 0.84 ms, shufflenet_v2 at batch 8).
#define LINEAR_PREFETCH_FLOATS 256
// R rows from r x B vectors of QUADS outputs from o (outputs at or past o1 computed again from output o1 - 1's
// weights, not stored).
#define LINEAR_TILE(R, B)                                                                                              \
  SIMD static void K(linearTile##R##x##B)(const float *x, const float *w, const float *bias, float *out, int r, int o, int o1, int inF, int outF) { \
    const float *wRows[B][4];                                                                                           \
    _Pragma("GCC unroll 8") for (int b = 0; b < B; b++)                                                                \
      _Pragma("GCC unroll 4") for (int f = 0; f < 4; f++) {                                                            \
        int of = o + b * QUADS + f;                                                                                     \
        wRows[b][f] = w + (size_t)(of < o1 ? of : o1 - 1) * inF;                                                       \
      }                                                                                                                 \
    vf acc[R][B];                                                                                                       \
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) _Pragma("GCC unroll 8") for (int b = 0; b < B; b++) acc[i][b] = vzero(); \
    const int vecEnd = inF & ~3;                                                                                        \
    for (int at = 0; at < vecEnd; at += 4) {                                                                            \
      if ((at & 15) == 0)                                                                                               \
        _Pragma("GCC unroll 8") for (int b = 0; b < B; b++) _Pragma("GCC unroll 4") for (int f = 0; f < QUADS; f++)   \
          _mm_prefetch((const char *)(wRows[b][f] + at + LINEAR_PREFETCH_FLOATS), _MM_HINT_T0);                        \
      vf wv[B];                                                                                                         \
      _Pragma("GCC unroll 8") for (int b = 0; b < B; b++) wv[b] = vquads(wRows[b], at);                               \
      _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                            \
        const vf xv = vquadBroadcast(x + (size_t)(r + i) * inF + at);                                                  \
        _Pragma("GCC unroll 8") for (int b = 0; b < B; b++) acc[i][b] = vfma(wv[b], xv, acc[i][b]);                    \
      }                                                                                                                 \
    }                                                                                                                   \
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                              \
      const float *xr = x + (size_t)(r + i) * inF;                                                                      \
      _Pragma("GCC unroll 8") for (int b = 0; b < B; b++) {                                                            \
        _Pragma("GCC unroll 4") for (int f = 0; f < QUADS; f++) {                                                      \
          const int of = o + b * QUADS + f;                                                                             \
          if (of >= o1) continue;                                                                                       \
          __m128 q = vquad(acc[i][b], f);                                                                               \
          float l0 = _mm_cvtss_f32(q), l1 = _mm_cvtss_f32(_mm_shuffle_ps(q, q, 1));                                   \
          float l2 = _mm_cvtss_f32(_mm_shuffle_ps(q, q, 2)), l3 = _mm_cvtss_f32(_mm_shuffle_ps(q, q, 3));             \
          __m128 s = _mm_set_ss(addScalar(addScalar(l0, l1), addScalar(l2, l3)));                                    \
          const float *wr = w + (size_t)of * inF;                                                                       \
          for (int at = vecEnd; at < inF; at++) s = _mm_fmadd_ss(_mm_set_ss(wr[at]), _mm_set_ss(xr[at]), s);            \
          out[(size_t)(r + i) * outF + of] = addScalar(_mm_cvtss_f32(s), bias ? bias[of] : 0.0f);                     \
        }                                                                                                               \
      }                                                                                                                 \
    }                                                                                                                   \
  }
LINEAR_TILE(8, 2) LINEAR_TILE(4, 2) LINEAR_TILE(2, 4) LINEAR_TILE(1, 4)

SIMD static void linear(const float *x, const float *w, const float *bias, float *out, int rows, int inF, int outF, int o0, int o1) {
  // Blocks of outputs outside, rows inside: a block's weight rows come from memory once and stay in cache
  // while every row reads them (the weights are most of the bytes).
  const int block = (rows >= 4 ? 2 : 4) * QUADS;
  for (int o = o0; o < o1; o += block) {
    int r = 0;
    for (; r + 8 <= rows; r += 8) K(linearTile8x2)(x, w, bias, out, r, o, o1, inF, outF);
    for (; r + 4 <= rows; r += 4) K(linearTile4x2)(x, w, bias, out, r, o, o1, inF, outF);
    if (block == 2 * QUADS) {
      // Fewer than 4 rows left under 2-vector blocks: one row at a time, the block's outputs twice over.
      for (; r < rows; r++) {
        K(linearTile1x4)(x, w, bias, out, r, o, o + block < o1 ? o + block : o1, inF, outF);
      }
    } else {
      for (; r + 2 <= rows; r += 2) K(linearTile2x4)(x, w, bias, out, r, o, o1, inF, outF);
      for (; r < rows; r++) K(linearTile1x4)(x, w, bias, out, r, o, o1, inF, outF);
    }
  }
}

#undef EPILOGUE_INLINE
#undef pmax
#undef pmin
#undef exp4
#undef maxTap
#undef maxPool
#undef globalAverage
#undef poolSum
#undef poolZero
#undef poolAdd
#undef poolTotal
#undef expNegatedForSigmoid
#undef expNegatedShort
#undef silu
#undef sigmoid
#undef nanOrdered
#undef finish
#undef store
#undef tile8
#undef tile4
#undef tile8Half
#undef tile8x3
#undef tile4Half
#undef tile4x3
#undef threeVectorTiles
#undef row1
#undef denseTile8
#undef denseTile4
#undef denseTile8Half
#undef denseTile4Half
#undef denseTile4x3
#undef denseRow1
#undef chunk
#undef fillPadded
#undef depthwiseRows8
#undef depthwiseRows7
#undef DepthwiseBlock
#undef DepthwiseDirectBlock
#undef depthwiseBlock
#undef pointwise
#undef lastPosition
#undef lastPositions
#undef pointwiseColumns
#undef scaledBy
#undef scaleRun
#undef scaleEach
#undef depthwise
#undef dense
#undef linear
#undef addScalar
#undef TILE_BODY
#undef LINEAR_TILE
#undef LINEAR_PREFETCH_FLOATS
#undef FINISH_ALL
#undef FINISH_ROWS
#undef ROW1_BODY
#undef POINTWISE_TAP
#undef WHOLE_LOADS
#undef OFFSET_TAP
#undef DEPTHWISE_ROWS
#undef DEPTHWISE_ROW_TAPS
#undef DEPTHWISE_REUSE
