/* AVX-512 (F, BW, VL) row kernels, compiled per function (target attribute) so the library still
 * runs on CPUs without them; kn_matmul only calls these after kn_cpu_has_avx512(). Like the AVX2
 * file they keep four binary32 accumulators, here of 16 lanes (64 elements per step), and scale
 * once per row or group. Tails shorter than 16 use masked loads (the masked lanes read as 0 and
 * touch no memory), so there is no scalar tail and the sums run in a different order from the
 * AVX2 and scalar paths; tests/test_kn_cpu.c holds every path to the same bounds. */
#include "kn_matmul_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define KN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define KN_AVX512_INLINE KN_AVX512 __attribute__((always_inline)) static inline

/* A row is one long stream, but with several vector ops per cache line the out-of-order window
 * covers too few lines to keep enough DRAM reads in flight, so each step also prefetches the line
 * KN_PREFETCH bytes ahead (past a row's end it fetches the next row, which this thread reads
 * next). Measured with bale_bench_kn --copies 8 (working set over the last-level cache): int8 and
 * bf16 rows go from 6-8 to 10-13 GB/s on one core; f32 is unchanged. */
#ifndef KN_PREFETCH
#define KN_PREFETCH 4096
#endif

KN_AVX512_INLINE void prefetch_ahead(const void *p, size_t bytes)
{
	for (size_t b = 0; b < bytes; b += 64)
		_mm_prefetch((const char *)p + KN_PREFETCH + b, _MM_HINT_T0);
}

/* Lanes [0, len) of a 16-lane mask, len < 16 */
KN_AVX512_INLINE __mmask16 tail_mask(size_t len)
{
	return (__mmask16)((1u << len) - 1u);
}

/* E4M3 → binary16 by moving bits, exact for every code: from the sign-extended byte, x << 7
 * puts the 7 magnitude bits at 7..13 and the sign at 14 and 15; clearing bit 14 leaves the same
 * value times 2^-8 (binary16's exponent bias is 8 more than E4M3's, and E4M3 subnormals land on
 * binary16 subnormals). S.1111.111 becomes a binary16 NaN. Callers multiply by 256 once per row,
 * or per element when dequantizing; both are exact. This costs a few integer ops and a
 * vcvtph2ps, well under a gather or a 128-entry table walked with permutes. */
KN_AVX512_INLINE __m256i f8_to_f16_bits(__m256i x)
{
	__m256i h = _mm256_and_si256(_mm256_slli_epi16(x, 7), _mm256_set1_epi16((short)0xBFFF));
	__mmask16 nan = _mm256_cmpeq_epi16_mask(_mm256_slli_epi16(x, 9), _mm256_set1_epi16((short)0xFE00));
	return _mm256_mask_mov_epi16(h, nan, _mm256_set1_epi16(0x7E00));
}
KN_AVX512_INLINE __m512 f8_to_ps_div256(__m128i b)
{
	return _mm512_cvtph_ps(f8_to_f16_bits(_mm256_cvtepi8_epi16(b)));
}
/* The same for 32 codes at once: half the integer work per element */
KN_AVX512_INLINE void f8x32_to_ps_div256(const uint8_t *p, __m512 *lo, __m512 *hi)
{
	__m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)p));
	__m512i h = _mm512_and_si512(_mm512_slli_epi16(x, 7), _mm512_set1_epi16((short)0xBFFF));
	__mmask32 nan = _mm512_cmpeq_epi16_mask(_mm512_slli_epi16(x, 9), _mm512_set1_epi16((short)0xFE00));
	h = _mm512_mask_mov_epi16(h, nan, _mm512_set1_epi16(0x7E00));
	*lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
	*hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}

/* 16 weights widened to floats (full, and masked to the first lanes), one pair per dtype */
KN_AVX512_INLINE __m512 ld_f32(const void *p, size_t i)
{
	return _mm512_loadu_ps((const float *)p + i);
}
KN_AVX512_INLINE __m512 ldm_f32(const void *p, size_t i, __mmask16 k)
{
	return _mm512_maskz_loadu_ps(k, (const float *)p + i);
}
KN_AVX512_INLINE __m512 ld_f16(const void *p, size_t i)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
}
KN_AVX512_INLINE __m512 ldm_f16(const void *p, size_t i, __mmask16 k)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, (const uint16_t *)p + i));
}
KN_AVX512_INLINE __m512 bf16_to_ps(__m256i h)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
KN_AVX512_INLINE __m512 ld_bf16(const void *p, size_t i)
{
	return bf16_to_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
}
KN_AVX512_INLINE __m512 ldm_bf16(const void *p, size_t i, __mmask16 k)
{
	return bf16_to_ps(_mm256_maskz_loadu_epi16(k, (const uint16_t *)p + i));
}
KN_AVX512_INLINE __m512 ld_i8(const void *p, size_t i)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)p + i))));
}
KN_AVX512_INLINE __m512 ldm_i8(const void *p, size_t i, __mmask16 k)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, (const int8_t *)p + i)));
}
KN_AVX512_INLINE __m512 ld_f8(const void *p, size_t i)
{
	return f8_to_ps_div256(_mm_loadu_si128((const __m128i *)((const uint8_t *)p + i)));
}
KN_AVX512_INLINE __m512 ldm_f8(const void *p, size_t i, __mmask16 k)
{
	return f8_to_ps_div256(_mm_maskz_loadu_epi8(k, (const uint8_t *)p + i));
}

/* Σ_{i<n} x[i]·W(p, i) (F8: times 2^-8) */
#define KN_DOT_FN(NAME, T, LD, LDM)                                                               \
	KN_AVX512 static float NAME(const float *x, const void *p, size_t n)                          \
	{                                                                                             \
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                               \
		size_t i = 0;                                                                             \
		for (; i + 64 <= n; i += 64) {                                                            \
			prefetch_ahead((const T *)p + i, 64 * sizeof(T));                                     \
			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), LD(p, i), a0);                           \
			a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), LD(p, i + 16), a1);                 \
			a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), LD(p, i + 32), a2);                 \
			a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), LD(p, i + 48), a3);                 \
		}                                                                                         \
		for (; i + 16 <= n; i += 16)                                                              \
			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), LD(p, i), a0);                           \
		if (i < n) {                                                                              \
			__mmask16 k = tail_mask(n - i);                                                       \
			a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), LDM(p, i, k), a1);              \
		}                                                                                         \
		return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
	}

KN_DOT_FN(dot_f32, float, ld_f32, ldm_f32)
KN_DOT_FN(dot_f16, uint16_t, ld_f16, ldm_f16)
KN_DOT_FN(dot_bf16, uint16_t, ld_bf16, ldm_bf16)
KN_DOT_FN(dot_i8, int8_t, ld_i8, ldm_i8)

/* F8 converts 32 codes per step (see f8x32_to_ps_div256); otherwise the loop above */
KN_AVX512 static float dot_f8(const float *x, const void *p, size_t n)
{
	const uint8_t *q = p;
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, w0, w1, w2, w3;
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		prefetch_ahead(q + i, 64);
		f8x32_to_ps_div256(q + i, &w0, &w1);
		f8x32_to_ps_div256(q + i + 32, &w2, &w3);
		a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), w0, a0);
		a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), w1, a1);
		a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), w2, a2);
		a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), w3, a3);
	}
	for (; i + 16 <= n; i += 16)
		a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), ld_f8(q, i), a0);
	if (i < n) {
		__mmask16 k = tail_mask(n - i);
		a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), ldm_f8(q, i, k), a1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

KN_AVX512 float kn_dot_avx512(const float *a, const float *b, size_t n)
{
	return dot_f32(a, b, n);
}

KN_AVX512 static float rd_f32(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_f32(x, (const float *)w->data + r * w->k, w->k);
}
KN_AVX512 static float rd_f16(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_f16(x, (const uint16_t *)w->data + r * w->k, w->k);
}
KN_AVX512 static float rd_bf16(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_bf16(x, (const uint16_t *)w->data + r * w->k, w->k);
}
KN_AVX512 static float rd_i8_row(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_i8(x, (const int8_t *)w->data + r * w->k, w->k) * w->scales[r];
}
/* Scaling a binary32 sum by 2^8 is exact, so this equals Σ x·code rounded the same way (short of
 * products in the subnormal range). */
KN_AVX512 static float rd_f8_row(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_f8(x, (const uint8_t *)w->data + r * w->k, w->k) * 256.0f * w->scales[r];
}

/* One group's 16 partial sums; gs is a constant 32, 64 or 128 at each call, so this unrolls. */
KN_AVX512_INLINE __m512 i8_group_part(const float *x, const int8_t *q, size_t gs)
{
	__m512 a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x), ld_i8(q, 0), _mm512_setzero_ps());
	__m512 a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16), ld_i8(q, 16), _mm512_setzero_ps());
	for (size_t i = 32; i < gs; i += 32) {
		a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), ld_i8(q, i), a0);
		a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), ld_i8(q, i + 16), a1);
	}
	return _mm512_add_ps(a0, a1);
}

/* Each group's partial-sum vector is scaled into one of two vector accumulators (alternating, so
 * consecutive groups do not wait on each other's FMA), with one horizontal sum per row. */
KN_AVX512_INLINE float i8_group_row(const kn_weight *w, size_t r, const float *x, size_t gs)
{
	const int8_t *q = (const int8_t *)w->data + r * w->k;
	size_t ng = w->k / gs, g = 0;
	const float *s = w->scales + r * ng;
	__m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
	for (; g + 2 <= ng; g += 2) {
		prefetch_ahead(q + g * gs, 2 * gs);
		acc0 = _mm512_fmadd_ps(i8_group_part(x + g * gs, q + g * gs, gs), _mm512_set1_ps(s[g]), acc0);
		acc1 = _mm512_fmadd_ps(i8_group_part(x + (g + 1) * gs, q + (g + 1) * gs, gs),
				       _mm512_set1_ps(s[g + 1]), acc1);
	}
	if (g < ng)
		acc0 = _mm512_fmadd_ps(i8_group_part(x + g * gs, q + g * gs, gs), _mm512_set1_ps(s[g]), acc0);
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

KN_AVX512 static float rd_i8_g32(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return i8_group_row(w, r, x, 32);
}
KN_AVX512 static float rd_i8_g64(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return i8_group_row(w, r, x, 64);
}
KN_AVX512 static float rd_i8_g128(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return i8_group_row(w, r, x, 128);
}

kn_rowdot_fn kn_rowdot_avx512(const kn_weight *w)
{
	switch (w->dtype) {
	case FMT_F32:
		return rd_f32;
	case FMT_F16:
		return rd_f16;
	case FMT_BF16:
		return rd_bf16;
	case FMT_I8:
		if (w->scheme != FMT_SCHEME_GROUP)
			return rd_i8_row;
		return w->group_size == 32 ? rd_i8_g32 : w->group_size == 64 ? rd_i8_g64 : rd_i8_g128;
	case FMT_F8_E4M3:
		return rd_f8_row;
	default:
		return NULL;
	}
}

/* ---- dequantization for the batch path: out[c] = code × scale, one binary32 multiply ---- */

#define KN_DEQ_FN(NAME, T, LD, LDM)                                                               \
	KN_AVX512 static void NAME(const kn_weight *w, size_t r, const float *lut, float *out)        \
	{                                                                                             \
		const T *q = (const T *)w->data + r * w->k;                                               \
		size_t i = 0;                                                                             \
		for (; i + 16 <= w->k; i += 16)                                                           \
			_mm512_storeu_ps(out + i, LD(q, i));                                                  \
		if (i < w->k) {                                                                           \
			__mmask16 k = tail_mask(w->k - i);                                                    \
			_mm512_mask_storeu_ps(out + i, k, LDM(q, i, k));                                      \
		}                                                                                         \
	}

KN_DEQ_FN(deq_f16, uint16_t, ld_f16, ldm_f16)
KN_DEQ_FN(deq_bf16, uint16_t, ld_bf16, ldm_bf16)

/* I8 (row: one group of k) and F8 (codes × 2^-8 × 2^8 is the code exactly, then × scale) */
KN_AVX512 static void deq_i8(const kn_weight *w, size_t r, const float *lut, float *out)
{
	const int8_t *q = (const int8_t *)w->data + r * w->k;
	size_t gs = w->scheme == FMT_SCHEME_GROUP ? w->group_size : w->k, ng = w->k / gs;
	const float *s = w->scales + r * ng;
	for (size_t g = 0; g < ng; g++) {
		__m512 sv = _mm512_set1_ps(s[g]);
		size_t i = g * gs, end = i + gs;
		for (; i + 16 <= end; i += 16)
			_mm512_storeu_ps(out + i, _mm512_mul_ps(ld_i8(q, i), sv));
		if (i < end) {
			__mmask16 k = tail_mask(end - i);
			_mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(ldm_i8(q, i, k), sv));
		}
	}
}

KN_AVX512 static void deq_f8(const kn_weight *w, size_t r, const float *lut, float *out)
{
	const uint8_t *q = (const uint8_t *)w->data + r * w->k;
	__m512 sv = _mm512_set1_ps(w->scales[r]), c256 = _mm512_set1_ps(256.0f);
	size_t i = 0;
	for (; i + 16 <= w->k; i += 16)
		_mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(ld_f8(q, i), c256), sv));
	if (i < w->k) {
		__mmask16 k = tail_mask(w->k - i);
		_mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(_mm512_mul_ps(ldm_f8(q, i, k), c256), sv));
	}
}

kn_dequant_fn kn_dequant_avx512(const kn_weight *w)
{
	switch (w->dtype) {
	case FMT_F16:
		return deq_f16;
	case FMT_BF16:
		return deq_bf16;
	case FMT_I8:
		return deq_i8;
	case FMT_F8_E4M3:
		return deq_f8;
	default:
		return NULL;
	}
}

/* ---- batch micro-kernel: a 4-row × 6-token block of dot products ----
 * Each weight vector loaded feeds 6 FMAs and each token vector 4, so the loop is bound by FMA
 * throughput instead of by loads and horizontal sums (the per-output dot it replaces did one load
 * pair per FMA and a reduction per output). 24 accumulators + 4 weights + 1 token fit the 32 ZMM
 * registers. Each output is one 16-lane chain over k (masked tail, lanes summed at the end), so
 * the addition order differs from kn_dot_avx512's four chains; the tests bound both. */
#define T512_R 4
#define T512_T 6

KN_AVX512 static void tile_avx512(const float *const *w, const float *const *x, size_t k, float *out)
{
	__m512 acc[T512_R][T512_T];
	for (int i = 0; i < T512_R; i++)
		for (int j = 0; j < T512_T; j++)
			acc[i][j] = _mm512_setzero_ps();
	size_t c = 0;
	for (; c + 16 <= k; c += 16) {
		__m512 wv[T512_R];
		for (int i = 0; i < T512_R; i++)
			wv[i] = _mm512_loadu_ps(w[i] + c);
		for (int j = 0; j < T512_T; j++) {
			__m512 xv = _mm512_loadu_ps(x[j] + c);
			for (int i = 0; i < T512_R; i++)
				acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
		}
	}
	if (c < k) {
		__mmask16 m = tail_mask(k - c);
		__m512 wv[T512_R];
		for (int i = 0; i < T512_R; i++)
			wv[i] = _mm512_maskz_loadu_ps(m, w[i] + c);
		for (int j = 0; j < T512_T; j++) {
			__m512 xv = _mm512_maskz_loadu_ps(m, x[j] + c);
			for (int i = 0; i < T512_R; i++)
				acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
		}
	}
	for (int i = 0; i < T512_R; i++)
		for (int j = 0; j < T512_T; j++)
			out[i * T512_T + j] = _mm512_reduce_add_ps(acc[i][j]);
}

kn_tile_kernel kn_tile_avx512(void)
{
	return (kn_tile_kernel){T512_R, T512_T, tile_avx512};
}

#else /* not x86: no AVX-512 kernels */

kn_tile_kernel kn_tile_avx512(void)
{
	return (kn_tile_kernel){0, 0, NULL};
}

kn_rowdot_fn kn_rowdot_avx512(const kn_weight *w)
{
	return NULL;
}

kn_dequant_fn kn_dequant_avx512(const kn_weight *w)
{
	return NULL;
}

float kn_dot_avx512(const float *a, const float *b, size_t n)
{
	return kn_dot_scalar(a, b, n);
}

#endif
