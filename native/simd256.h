// simd512.h's operations on 256-bit AVX2 + FMA vectors, for CPUs without AVX-512: 8 floats, masks as
// vectors of all-ones lanes. Same float32 operations, same bits.
#include <immintrin.h>

#define LANES 8
// prfchw: without it GCC compiles _mm_prefetch(p, _MM_HINT_ET0) to a plain read prefetch, so a line the
// other core had read (a 1x1's projection reads every plane a depthwise layer writes) still waited for
// that core to give it up at the store. Every CPU with AVX2 runs PREFETCHW (older Intel ones as a no-op).
#define SIMD __attribute__((target("avx2,fma,prfchw")))
#define K(name) name##256
#include "simd-names.h"

typedef __m256 vf;
typedef __m256i vi;
typedef __m256i vmask;

SIMD static inline vf vzero(void) { return _mm256_setzero_ps(); }
SIMD static inline vf vset1(float x) { return _mm256_set1_ps(x); }
SIMD static inline vf vload(const float *p) { return _mm256_load_ps(p); }
SIMD static inline vf vloadu(const float *p) { return _mm256_loadu_ps(p); }
// A masked-off lane reads nothing (no fault past the end) and is +0. Whole vectors take plain loads and
// stores: AMD's vmaskmovps store is microcoded, and with it every output stored through a mask ran the
// stride-2 depthwise kernel at half WebAssembly's speed.
SIMD static inline int vwhole(vmask m) { return _mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xff; }
SIMD static inline vf vloadz(vmask m, const float *p) { return vwhole(m) ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m); }
SIMD static inline void vstore(float *p, vmask m, vf v) {
  if (vwhole(m)) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, m, v);
}
SIMD static inline void vstoreu(float *p, vf v) { _mm256_storeu_ps(p, v); }
SIMD static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
SIMD static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
SIMD static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
SIMD static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
SIMD static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
// WebAssembly's pmin and pmax in one instruction each, as in simd512.h.
SIMD static inline vf vpmin(vf a, vf b) { return _mm256_min_ps(b, a); }
SIMD static inline vf vpmax(vf a, vf b) { return _mm256_max_ps(b, a); }

SIMD static inline vmask vfirst(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
SIMD static inline vmask vlt(vf a, vf b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
SIMD static inline vmask vunordered(vf a) { return _mm256_castps_si256(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)); }
SIMD static inline int vallAtLeast(vf a, vf b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ)) == 0xff; }
SIMD static inline int vany(vmask m) { return !_mm256_testz_si256(m, m); }
SIMD static inline vmask vmaskOr(vmask a, vmask b) { return _mm256_or_si256(a, b); }
// Lanes [lo, hi).
SIMD static inline vmask vlanes(int lo, int hi) { return _mm256_andnot_si256(vfirst(lo), vfirst(hi)); }
SIMD static inline vf vblend(vmask m, vf a, vf b) { return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(m)); }
SIMD static inline vf vzeroWhere(vmask m, vf v) { return _mm256_andnot_ps(_mm256_castsi256_ps(m), v); }

SIMD static inline vi vcastInt(vf v) { return _mm256_castps_si256(v); }
SIMD static inline vf vcastFloat(vi v) { return _mm256_castsi256_ps(v); }
SIMD static inline vi viset1(int x) { return _mm256_set1_epi32(x); }
SIMD static inline vi viadd(vi a, vi b) { return _mm256_add_epi32(a, b); }
SIMD static inline vi visub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
SIMD static inline vi vior(vi a, vi b) { return _mm256_or_si256(a, b); }
SIMD static inline vi vixor(vi a, vi b) { return _mm256_xor_si256(a, b); }
SIMD static inline vi vishr1(vi a) { return _mm256_srai_epi32(a, 1); }
SIMD static inline vi vishl23(vi a) { return _mm256_slli_epi32(a, 23); }

SIMD static inline void vdeinterleave(vf a, vf b, vf *even, vf *odd) {
  // Within 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit pairs in order.
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
}

SIMD static inline vf vshifted(vf a, vf b, int d) {
  if (d == 0) return a;
  // Lane i takes float i + d: from a while i + d < 8, else from b.
  const __m256i index = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(d));
  const __m256i fromB = _mm256_cmpgt_epi32(index, _mm256_set1_epi32(7));
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(a, index), _mm256_permutevar8x32_ps(b, index), _mm256_castsi256_ps(fromB));
}

// r[j] becomes the floats j of r[0..7] (addon.c's transpose8x8).
SIMD static inline void vtranspose(vf *r) { transpose8x8(r); }

#define QUADS 2
SIMD static inline vf vquads(const float *const *rows, int at) { return _mm256_set_m128(_mm_loadu_ps(rows[1] + at), _mm_loadu_ps(rows[0] + at)); }
SIMD static inline vf vquadBroadcast(const float *p) { return _mm256_broadcast_ps((const __m128 *)p); }
SIMD static inline __m128 vquad(vf v, int f) { return f == 0 ? _mm256_castps256_ps128(v) : _mm256_extractf128_ps(v, 1); }

// 16 registers: 4 channels x 2 vectors of accumulators.
#define TILE_CHANNELS 4
