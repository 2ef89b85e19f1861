// The vector operations kernels.h is written in, on 512-bit AVX-512F vectors: 16 floats, masks in
// mask registers. simd256.h gives the same operations on AVX2 + FMA. Each is the float32 operation the
// WebAssembly kernels perform, lane by lane, with one rounding (no contraction: -ffp-contract=off),
// so a kernel written in them gives the same bits at either width.
#include <immintrin.h>

#define LANES 16
// prfchw: without it GCC compiles _mm_prefetch(p, _MM_HINT_ET0) to a plain read prefetch, so a line the
// other core had read (a 1x1's projection reads every plane a depthwise layer writes) still waited for
// that core to give it up at the store. Every CPU with AVX2 runs PREFETCHW (older Intel ones as a no-op).
#define SIMD __attribute__((target("avx512f,fma,prfchw")))
#define K(name) name##512
#include "simd-names.h"

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vmask;

SIMD static inline vf vzero(void) { return _mm512_setzero_ps(); }
SIMD static inline vf vset1(float x) { return _mm512_set1_ps(x); }
SIMD static inline vf vload(const float *p) { return _mm512_load_ps(p); }
SIMD static inline vf vloadu(const float *p) { return _mm512_loadu_ps(p); }
SIMD static inline vf vloadz(vmask m, const float *p) { return _mm512_maskz_loadu_ps(m, p); }
SIMD static inline void vstore(float *p, vmask m, vf v) { _mm512_mask_storeu_ps(p, m, v); }
SIMD static inline void vstoreu(float *p, vf v) { _mm512_storeu_ps(p, v); }
SIMD static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
SIMD static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
SIMD static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
SIMD static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
SIMD static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
// WebAssembly's f32x4.pmin(a, b) = b < a ? b : a and pmax(a, b) = a < b ? b : a, NaN and -0 included, in
// one instruction: x86's min and max return their second operand unless the first is less (greater), so
// with the operands swapped they are pmin and pmax exactly. (GCC keeps the order: without
// -ffinite-math-only it does not treat them as commutative.)
SIMD static inline vf vpmin(vf a, vf b) { return _mm512_min_ps(b, a); }
SIMD static inline vf vpmax(vf a, vf b) { return _mm512_max_ps(b, a); }

// Lanes [0, n), n anything.
SIMD static inline vmask vfirst(int n) { return n >= 16 ? (vmask)0xffff : n <= 0 ? (vmask)0 : (vmask)((1u << n) - 1); }
SIMD static inline vmask vlt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
SIMD static inline vmask vunordered(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
// Whether every lane of a is at least b (a NaN lane is not).
SIMD static inline int vallAtLeast(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ) == 0xffff; }
// Whether any lane is set.
SIMD static inline int vany(vmask m) { return m != 0; }
// Lanes set in either mask.
SIMD static inline vmask vmaskOr(vmask a, vmask b) { return (vmask)(a | b); }
// Lanes [lo, hi).
SIMD static inline vmask vlanes(int lo, int hi) { return (vmask)(vfirst(hi) & ~vfirst(lo)); }
// m ? b : a, lane by lane.
SIMD static inline vf vblend(vmask m, vf a, vf b) { return _mm512_mask_blend_ps(m, a, b); }
// v where m is clear, +0 where it is set.
SIMD static inline vf vzeroWhere(vmask m, vf v) { return _mm512_maskz_mov_ps((vmask)~m, v); }

SIMD static inline vi vcastInt(vf v) { return _mm512_castps_si512(v); }
SIMD static inline vf vcastFloat(vi v) { return _mm512_castsi512_ps(v); }
SIMD static inline vi viset1(int x) { return _mm512_set1_epi32(x); }
SIMD static inline vi viadd(vi a, vi b) { return _mm512_add_epi32(a, b); }
SIMD static inline vi visub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
SIMD static inline vi vior(vi a, vi b) { return _mm512_or_si512(a, b); }
SIMD static inline vi vixor(vi a, vi b) { return _mm512_xor_si512(a, b); }
SIMD static inline vi vishr1(vi a) { return _mm512_srai_epi32(a, 1); }
SIMD static inline vi vishl23(vi a) { return _mm512_slli_epi32(a, 23); }

// The even and the odd floats of the 2 * LANES in a then b.
SIMD static inline void vdeinterleave(vf a, vf b, vf *even, vf *odd) {
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  *even = _mm512_permutex2var_ps(a, evens, b);
  *odd = _mm512_permutex2var_ps(a, odds, b);
}

// Floats d..d + LANES - 1 of the 2 * LANES in a then b (d a constant once inlined and unrolled, at most 6).
SIMD static inline vf vshifted(vf a, vf b, int d) {
#define SHIFTED_CASE(D) case D: return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(a), D));
  switch (d) {
    case 0: return a;
    SHIFTED_CASE(1) SHIFTED_CASE(2) SHIFTED_CASE(3) SHIFTED_CASE(4) SHIFTED_CASE(5) SHIFTED_CASE(6)
    default: return b;
  }
#undef SHIFTED_CASE
}

// r[j] becomes the floats j of r[0..15] (a 16 x 16 transpose, in registers): unpack pairs of rows, then
// quads, then 128-bit blocks twice.
SIMD static inline void vtranspose(vf *r) {
  vf t[16], u[16], v[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4q + j]: columns j, j + 4, j + 8, j + 12 of rows 4q..4q + 3, one per 128-bit block.
  for (int q = 0; q < 16; q += 4) {
    u[q] = _mm512_shuffle_ps(t[q], t[q + 2], 0x44);
    u[q + 1] = _mm512_shuffle_ps(t[q], t[q + 2], 0xee);
    u[q + 2] = _mm512_shuffle_ps(t[q + 1], t[q + 3], 0x44);
    u[q + 3] = _mm512_shuffle_ps(t[q + 1], t[q + 3], 0xee);
  }
  for (int j = 0; j < 4; j++) {
    v[j] = _mm512_shuffle_f32x4(u[j], u[j + 4], 0x88);
    v[j + 4] = _mm512_shuffle_f32x4(u[j], u[j + 4], 0xdd);
    v[j + 8] = _mm512_shuffle_f32x4(u[j + 8], u[j + 12], 0x88);
    v[j + 12] = _mm512_shuffle_f32x4(u[j + 8], u[j + 12], 0xdd);
  }
  for (int j = 0; j < 4; j++) {
    r[j] = _mm512_shuffle_f32x4(v[j], v[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(v[j], v[j + 8], 0xdd);
    r[j + 4] = _mm512_shuffle_f32x4(v[j + 4], v[j + 12], 0x88);
    r[j + 12] = _mm512_shuffle_f32x4(v[j + 4], v[j + 12], 0xdd);
  }
}

// The fully connected kernel's vectors: QUADS groups of 4 floats, group f from its own row.
#define QUADS 4
SIMD static inline vf vquads(const float *const *rows, int at) {
  __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(rows[0] + at));
  v = _mm512_insertf32x4(v, _mm_loadu_ps(rows[1] + at), 1);
  v = _mm512_insertf32x4(v, _mm_loadu_ps(rows[2] + at), 2);
  return _mm512_insertf32x4(v, _mm_loadu_ps(rows[3] + at), 3);
}
// The 4 floats at p in every group.
SIMD static inline vf vquadBroadcast(const float *p) { return _mm512_broadcast_f32x4(_mm_loadu_ps(p)); }
// Group f (a constant once inlined and unrolled).
SIMD static inline __m128 vquad(vf v, int f) {
  switch (f) {
    case 0: return _mm512_castps512_ps128(v);
    case 1: return _mm512_extractf32x4_ps(v, 1);
    case 2: return _mm512_extractf32x4_ps(v, 2);
    default: return _mm512_extractf32x4_ps(v, 3);
  }
}

// The 1x1 tiles' widest: 8 channels x 2 vectors, 16 accumulators of the 32 registers.
#define TILE_CHANNELS 8
