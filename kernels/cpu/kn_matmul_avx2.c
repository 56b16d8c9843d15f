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
KN_AVX2 static inline __m256 ld_f8(const void *p, size_t i, const float *lut)
{
	__m128i b = _mm_loadl_epi64((const __m128i *)((const uint8_t *)p + i));
	return _mm256_i32gather_ps(lut, _mm256_cvtepu8_epi32(b), 4);
}

/* Scalar element loaders for tails */
static inline float el_f32(const void *p, size_t i, const float *lut) { return ((const float *)p)[i]; }
static inline float el_f16(const void *p, size_t i, const float *lut) { return fmt_f16_to_f32(((const uint16_t *)p)[i]); }
static inline float el_bf16(const void *p, size_t i, const float *lut) { return fmt_bf16_to_f32(((const uint16_t *)p)[i]); }
static inline float el_i8(const void *p, size_t i, const float *lut) { return (float)((const int8_t *)p)[i]; }
static inline float el_f8(const void *p, size_t i, const float *lut) { return lut[((const uint8_t *)p)[i]]; }

/* Σ_{i<n} x[i]·W(p, i), as a vector of 8 partial sums plus a scalar tail. */
#define KN_DOT_BODY(LD, EL)                                                                       \
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                   \
	size_t i = 0;                                                                                 \
	for (; i + 32 <= n; i += 32) {                                                                \
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

#define KN_DOT_FN(NAME, LD, EL)                                                                   \
	KN_AVX2 static float NAME(const float *x, const void *p, size_t n, const float *lut)          \
	{                                                                                             \
		KN_DOT_BODY(LD, EL)                                                                       \
	}

KN_DOT_FN(dot_f32, ld_f32, el_f32)
KN_DOT_FN(dot_f16, ld_f16, el_f16)
KN_DOT_FN(dot_bf16, ld_bf16, el_bf16)
KN_DOT_FN(dot_i8, ld_i8, el_i8)
KN_DOT_FN(dot_f8, ld_f8, el_f8)

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
	return dot_f8(x, (const uint8_t *)w->data + r * w->k, w->k, lut) * w->scales[r];
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

#else /* not x86: no AVX2 kernels */

kn_rowdot_fn kn_rowdot_avx2(const kn_weight *w)
{
	return NULL;
}

float kn_dot_avx2(const float *a, const float *b, size_t n)
{
	return kn_dot_scalar(a, b, n);
}

#endif
