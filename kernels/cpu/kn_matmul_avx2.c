/* AVX2 + FMA row kernels, compiled per function (target attribute) so the library still runs on
 * CPUs without them; kn_matmul only calls these after kn_cpu_has_avx2(). Each keeps four 8-lane
 * binary32 accumulators (32 elements per step) to hide FMA latency; scalar tails handle any k. */
#include "kn_matmul_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define KN_AVX2 __attribute__((target("avx2,fma,f16c")))

KN_AVX2 static inline float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Software prefetch a fixed distance ahead, as in kn_matmul_avx512.c (where it is measured) */
#ifndef KN_PREFETCH
#define KN_PREFETCH 4096
#endif

/* 8 weights widened to floats, one loader per dtype */
KN_AVX2 static inline __m256 ld_f32(const void *p, size_t i, const float *lut)
{
	return _mm256_loadu_ps((const float *)p + i);
}
KN_AVX2 static inline __m256 ld_f16(const void *p, size_t i, const float *lut)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
}
KN_AVX2 static inline __m256 ld_bf16(const void *p, size_t i, const float *lut)
{
	__m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
	return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}
KN_AVX2 static inline __m256 ld_i8(const void *p, size_t i, const float *lut)
{
	__m128i b = _mm_loadl_epi64((const __m128i *)((const int8_t *)p + i));
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}
/* E4M3 → binary16 by moving bits (see kn_matmul_avx512.c): the code's value × 2^-8, exact, with
 * S.1111.111 turned into a binary16 NaN. Faster than gathering from the table. */
KN_AVX2 static inline __m256 ld_f8(const void *p, size_t i, const float *lut)
{
	__m128i x = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)((const uint8_t *)p + i)));
	__m128i h = _mm_and_si128(_mm_slli_epi16(x, 7), _mm_set1_epi16((short)0xBFFF));
	__m128i nan = _mm_cmpeq_epi16(_mm_slli_epi16(x, 9), _mm_set1_epi16((short)0xFE00));
	return _mm256_cvtph_ps(_mm_or_si128(h, _mm_and_si128(nan, _mm_set1_epi16(0x7E00))));
}

/* Scalar element loaders for tails */
static inline float el_f32(const void *p, size_t i, const float *lut) { return ((const float *)p)[i]; }
static inline float el_f16(const void *p, size_t i, const float *lut) { return fmt_f16_to_f32(((const uint16_t *)p)[i]); }
static inline float el_bf16(const void *p, size_t i, const float *lut) { return fmt_bf16_to_f32(((const uint16_t *)p)[i]); }
static inline float el_i8(const void *p, size_t i, const float *lut) { return (float)((const int8_t *)p)[i]; }
static inline float el_f8(const void *p, size_t i, const float *lut) { return lut[((const uint8_t *)p)[i]] * 0x1p-8f; }

/* Σ_{i<n} x[i]·W(p, i), as a vector of 8 partial sums plus a scalar tail. */
#define KN_DOT_BODY(T, LD, EL)                                                                    \
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                   \
	size_t i = 0;                                                                                 \
	for (; i + 32 <= n; i += 32) {                                                                \
		for (size_t b_ = 0; b_ < 32 * sizeof(T); b_ += 64) /* once per step for 1-byte codes */   \
			_mm_prefetch((const char *)((const T *)p + i) + KN_PREFETCH + b_, _MM_HINT_T0);       \
		a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LD(p, i, lut), a0);                          \
		a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), LD(p, i + 8, lut), a1);                  \
		a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), LD(p, i + 16, lut), a2);                \
		a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), LD(p, i + 24, lut), a3);                \
	}                                                                                             \
	for (; i + 8 <= n; i += 8)                                                                    \
		a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LD(p, i, lut), a0);                          \
	float tail = 0.0f;                                                                            \
	for (; i < n; i++)                                                                            \
		tail += x[i] * EL(p, i, lut);                                                             \
	return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + tail;

#define KN_DOT_FN(NAME, T, LD, EL)                                                                \
	KN_AVX2 static float NAME(const float *x, const void *p, size_t n, const float *lut)          \
	{                                                                                             \
		KN_DOT_BODY(T, LD, EL)                                                                    \
	}

KN_DOT_FN(dot_f32, float, ld_f32, el_f32)
KN_DOT_FN(dot_f16, uint16_t, ld_f16, el_f16)
KN_DOT_FN(dot_bf16, uint16_t, ld_bf16, el_bf16)
KN_DOT_FN(dot_i8, int8_t, ld_i8, el_i8)

/* F8 converts 16 codes per integer op (halves the work of ld_f8), otherwise KN_DOT_BODY */
KN_AVX2 static inline void ld_f8x16(const uint8_t *p, __m256 *lo, __m256 *hi)
{
	__m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
	__m256i h = _mm256_and_si256(_mm256_slli_epi16(x, 7), _mm256_set1_epi16((short)0xBFFF));
	__m256i nan = _mm256_cmpeq_epi16(_mm256_slli_epi16(x, 9), _mm256_set1_epi16((short)0xFE00));
	h = _mm256_or_si256(h, _mm256_and_si256(nan, _mm256_set1_epi16(0x7E00)));
	*lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
	*hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

KN_AVX2 static float dot_f8(const float *x, const void *p, size_t n, const float *lut)
{
	const uint8_t *q = p;
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, w0, w1, w2, w3;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		_mm_prefetch((const char *)q + i + KN_PREFETCH, _MM_HINT_T0);
		ld_f8x16(q + i, &w0, &w1);
		ld_f8x16(q + i + 16, &w2, &w3);
		a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), w0, a0);
		a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), w1, a1);
		a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), w2, a2);
		a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), w3, a3);
	}
	for (; i + 8 <= n; i += 8)
		a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), ld_f8(q, i, lut), a0);
	float tail = 0.0f;
	for (; i < n; i++)
		tail += x[i] * el_f8(q, i, lut);
	return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + tail;
}

KN_AVX2 float kn_dot_avx2(const float *a, const float *b, size_t n)
{
	return dot_f32(a, b, n, NULL);
}

KN_AVX2 static float rd_f32(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_f32(x, (const float *)w->data + r * w->k, w->k, lut);
}
KN_AVX2 static float rd_f16(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_f16(x, (const uint16_t *)w->data + r * w->k, w->k, lut);
}
KN_AVX2 static float rd_bf16(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_bf16(x, (const uint16_t *)w->data + r * w->k, w->k, lut);
}
KN_AVX2 static float rd_i8_row(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return dot_i8(x, (const int8_t *)w->data + r * w->k, w->k, lut) * w->scales[r];
}
KN_AVX2 static float rd_f8_row(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	/* the sum is of codes × 2^-8; scaling it back by 2^8 is exact */
	return dot_f8(x, (const uint8_t *)w->data + r * w->k, w->k, lut) * 256.0f * w->scales[r];
}

/* Groups are 32, 64 or 128 wide, so each is whole 8-lane steps: scale each group's partial-sum
 * vector and keep one vector accumulator, with a single horizontal sum per row. */
KN_AVX2 static float rd_i8_group(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	const int8_t *q = (const int8_t *)w->data + r * w->k;
	size_t gs = w->group_size, ng = w->k / gs;
	const float *s = w->scales + r * ng;
	__m256 acc = _mm256_setzero_ps();
	for (size_t g = 0; g < ng; g++) {
		const float *xg = x + g * gs;
		const int8_t *qg = q + g * gs;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		for (size_t b = 0; b < gs; b += 64)
			_mm_prefetch((const char *)qg + KN_PREFETCH + b, _MM_HINT_T0);
		for (size_t i = 0; i < gs; i += 32) {
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xg + i), ld_i8(qg, i, lut), a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xg + i + 8), ld_i8(qg, i + 8, lut), a1);
			a2 = _mm256_fmadd_ps(_mm256_loadu_ps(xg + i + 16), ld_i8(qg, i + 16, lut), a2);
			a3 = _mm256_fmadd_ps(_mm256_loadu_ps(xg + i + 24), ld_i8(qg, i + 24, lut), a3);
		}
		__m256 part = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
		acc = _mm256_fmadd_ps(part, _mm256_set1_ps(s[g]), acc);
	}
	return hsum8(acc);
}

kn_rowdot_fn kn_rowdot_avx2(const kn_weight *w)
{
	switch (w->dtype) {
	case FMT_F32:
		return rd_f32;
	case FMT_F16:
		return rd_f16;
	case FMT_BF16:
		return rd_bf16;
	case FMT_I8:
		return w->scheme == FMT_SCHEME_GROUP ? rd_i8_group : rd_i8_row;
	case FMT_F8_E4M3:
		return rd_f8_row;
	default:
		return NULL;
	}
}

/* ---- dequantization for the batch path: out[c] = code × scale, one binary32 multiply ---- */

KN_AVX2 static void deq_f16(const kn_weight *w, size_t r, const float *lut, float *out)
{
	const uint16_t *q = (const uint16_t *)w->data + r * w->k;
	size_t i = 0;
	for (; i + 8 <= w->k; i += 8)
		_mm256_storeu_ps(out + i, ld_f16(q, i, lut));
	for (; i < w->k; i++)
		out[i] = el_f16(q, i, lut);
}

KN_AVX2 static void deq_bf16(const kn_weight *w, size_t r, const float *lut, float *out)
{
	const uint16_t *q = (const uint16_t *)w->data + r * w->k;
	size_t i = 0;
	for (; i + 8 <= w->k; i += 8)
		_mm256_storeu_ps(out + i, ld_bf16(q, i, lut));
	for (; i < w->k; i++)
		out[i] = el_bf16(q, i, lut);
}

/* I8 row is one group of k */
KN_AVX2 static void deq_i8(const kn_weight *w, size_t r, const float *lut, float *out)
{
	const int8_t *q = (const int8_t *)w->data + r * w->k;
	size_t gs = w->scheme == FMT_SCHEME_GROUP ? w->group_size : w->k, ng = w->k / gs;
	const float *s = w->scales + r * ng;
	for (size_t g = 0; g < ng; g++) {
		__m256 sv = _mm256_set1_ps(s[g]);
		size_t i = g * gs, end = i + gs;
		for (; i + 8 <= end; i += 8)
			_mm256_storeu_ps(out + i, _mm256_mul_ps(ld_i8(q, i, lut), sv));
		for (; i < end; i++)
			out[i] = el_i8(q, i, lut) * s[g];
	}
}

/* codes × 2^-8 × 2^8 is the code exactly, then the one multiply by the scale */
KN_AVX2 static void deq_f8(const kn_weight *w, size_t r, const float *lut, float *out)
{
	const uint8_t *q = (const uint8_t *)w->data + r * w->k;
	float s = w->scales[r];
	__m256 sv = _mm256_set1_ps(s), c256 = _mm256_set1_ps(256.0f);
	size_t i = 0;
	for (; i + 8 <= w->k; i += 8)
		_mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(ld_f8(q, i, lut), c256), sv));
	for (; i < w->k; i++)
		out[i] = lut[q[i]] * s;
}

kn_dequant_fn kn_dequant_avx2(const kn_weight *w)
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

/* ---- batch micro-kernel: a 3-row × 3-token block of dot products ----
 * Each weight vector loaded feeds 3 FMAs and each token vector 3 (6 loads per 9 FMAs, against
 * 2 per FMA for a plain dot); 9 accumulators + 3 weights + 1 token fit the 16 YMM registers and
 * are enough independent chains to cover FMA latency (4 × 2 measured ~1.6× slower: the compiler
 * folds the weight loads into the FMAs, reloading them per token). Each output is one 8-lane
 * chain over k summed at the end, plus a sequential scalar tail: a different addition order from
 * kn_dot_avx2's four chains, bounded by the same tests. */
#define T2_R 3
#define T2_T 3

KN_AVX2 static void tile_avx2(const float *const *w, const float *const *x, size_t k, float *out)
{
	__m256 acc[T2_R][T2_T];
	for (int i = 0; i < T2_R; i++)
		for (int j = 0; j < T2_T; j++)
			acc[i][j] = _mm256_setzero_ps();
	size_t c = 0;
	for (; c + 8 <= k; c += 8) {
		__m256 wv[T2_R];
		for (int i = 0; i < T2_R; i++)
			wv[i] = _mm256_loadu_ps(w[i] + c);
		for (int j = 0; j < T2_T; j++) {
			__m256 xv = _mm256_loadu_ps(x[j] + c);
			for (int i = 0; i < T2_R; i++)
				acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
		}
	}
	for (int i = 0; i < T2_R; i++)
		for (int j = 0; j < T2_T; j++) {
			float tail = 0.0f;
			for (size_t e = c; e < k; e++)
				tail += w[i][e] * x[j][e];
			out[i * T2_T + j] = hsum8(acc[i][j]) + tail;
		}
}

kn_tile_kernel kn_tile_avx2(void)
{
	return (kn_tile_kernel){T2_R, T2_T, tile_avx2};
}

#else /* not x86: no AVX2 kernels */

kn_tile_kernel kn_tile_avx2(void)
{
	return (kn_tile_kernel){0, 0, NULL};
}

kn_dequant_fn kn_dequant_avx2(const kn_weight *w)
{
	return NULL;
}

kn_rowdot_fn kn_rowdot_avx2(const kn_weight *w)
{
	return NULL;
}

float kn_dot_avx2(const float *a, const float *b, size_t n)
{
	return kn_dot_scalar(a, b, n);
}

#endif
