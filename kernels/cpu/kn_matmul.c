/* Fast matmul driver: splits the n output rows over OpenMP threads and picks AVX2 or portable
 * row kernels. One token (m == 1) streams each weight row once through a fused dequant-dot; a
 * batch (m > 1) dequantizes each row once into a per-thread scratch and reuses it for all m. */
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kn_matmul_impl.h"

bool kn_cpu_has_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* clang 14 does not know "f16c" in __builtin_cpu_supports, so that bit comes from CPUID leaf 1
	 * (every AVX2 CPU has it, but checking keeps the F16 kernel honest). */
	unsigned a, b, c, d;
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __get_cpuid(1, &a, &b, &c, &d) &&
	       (c & bit_F16C);
#else
	return false;
#endif
}

/* Portable per-type row kernels (binary32 accumulation, one scale multiply per segment). */
static float rowdot_f32(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	return kn_dot_scalar(x, (const float *)w->data + r * w->k, w->k);
}

static float rowdot_f16(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	const uint16_t *q = (const uint16_t *)w->data + r * w->k;
	float acc = 0.0f;
	for (size_t c = 0; c < w->k; c++)
		acc += x[c] * fmt_f16_to_f32(q[c]);
	return acc;
}

static float rowdot_bf16(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	const uint16_t *q = (const uint16_t *)w->data + r * w->k;
	float acc = 0.0f;
	for (size_t c = 0; c < w->k; c++)
		acc += x[c] * fmt_bf16_to_f32(q[c]);
	return acc;
}

static float rowdot_i8_row(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	const int8_t *q = (const int8_t *)w->data + r * w->k;
	float acc = 0.0f;
	for (size_t c = 0; c < w->k; c++)
		acc += x[c] * (float)q[c];
	return acc * w->scales[r];
}

static float rowdot_i8_group(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	const int8_t *q = (const int8_t *)w->data + r * w->k;
	size_t gs = w->group_size, ng = w->k / gs;
	const float *s = w->scales + r * ng;
	float acc = 0.0f;
	for (size_t g = 0; g < ng; g++) {
		float part = 0.0f;
		for (size_t c = g * gs; c < (g + 1) * gs; c++)
			part += x[c] * (float)q[c];
		acc += part * s[g];
	}
	return acc;
}

static float rowdot_f8_row(const kn_weight *w, size_t r, const float *x, const float *lut)
{
	const uint8_t *q = (const uint8_t *)w->data + r * w->k;
	float acc = 0.0f;
	for (size_t c = 0; c < w->k; c++)
		acc += x[c] * lut[q[c]];
	return acc * w->scales[r];
}

float kn_dot_scalar(const float *a, const float *b, size_t n)
{
	float acc = 0.0f;
	for (size_t i = 0; i < n; i++)
		acc += a[i] * b[i];
	return acc;
}

kn_rowdot_fn kn_rowdot_scalar(const kn_weight *w)
{
	switch (w->dtype) {
	case FMT_F32:
		return rowdot_f32;
	case FMT_F16:
		return rowdot_f16;
	case FMT_BF16:
		return rowdot_bf16;
	case FMT_I8:
		return w->scheme == FMT_SCHEME_GROUP ? rowdot_i8_group : rowdot_i8_row;
	case FMT_F8_E4M3:
		return rowdot_f8_row;
	default:
		return NULL;
	}
}

/* Row r dequantized with the table for F8 (same values as kn_dequant_row, cheaper). */
static void dequant_row_fast(const kn_weight *w, size_t r, const float *lut, float *out)
{
	if (w->dtype == FMT_F8_E4M3) {
		const uint8_t *q = (const uint8_t *)w->data + r * w->k;
		float s = w->scales[r];
		for (size_t c = 0; c < w->k; c++)
			out[c] = lut[q[c]] * s;
	} else if (w->dtype == FMT_I8) {
		const int8_t *q = (const int8_t *)w->data + r * w->k;
		size_t gs = w->scheme == FMT_SCHEME_GROUP ? w->group_size : w->k;
		const float *s = w->scales + r * (w->k / gs);
		for (size_t c = 0; c < w->k; c++)
			out[c] = (float)q[c] * s[c / gs];
	} else if (w->dtype == FMT_BF16) {
		const uint16_t *q = (const uint16_t *)w->data + r * w->k;
		for (size_t c = 0; c < w->k; c++)
			out[c] = fmt_bf16_to_f32(q[c]);
	} else {
		kn_dequant_row(w, r, out);
	}
}

int kn_matmul(float *y, const float *x, size_t m, const kn_weight *w, const kn_exec *ex)
{
	if (kn_weight_check(w, NULL, 0) != 0)
		return -1;
	kn_exec def = {0, KN_ISA_AUTO};
	if (!ex)
		ex = &def;
	bool avx2 = ex->isa != KN_ISA_SCALAR && kn_cpu_has_avx2();
	kn_rowdot_fn rowdot = avx2 ? kn_rowdot_avx2(w) : NULL;
	if (!rowdot)
		rowdot = kn_rowdot_scalar(w);
	kn_dot_fn dot = avx2 ? kn_dot_avx2 : kn_dot_scalar;

	float lut[256];
	if (w->dtype == FMT_F8_E4M3)
		for (int i = 0; i < 256; i++)
			lut[i] = kn_e4m3_decode((uint8_t)i);

	size_t n = w->n, k = w->k;
	int fail = 0;
#ifdef _OPENMP
	int nt = ex->n_threads > 0 ? ex->n_threads : omp_get_max_threads();
	/* Threads cost a few microseconds to wake; not worth it below ~64K multiply-adds. */
	int par = (double)n * (double)k * (double)m >= 65536.0;
#pragma omp parallel num_threads(nt) if (par)
#endif
	{
		float *buf = NULL;
		if (m > 1) {
			buf = malloc(k * sizeof *buf);
			if (!buf) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
				fail = 1;
			}
		}
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
		for (size_t r = 0; r < n; r++) {
			if (m == 1) {
				y[r] = rowdot(w, r, x, lut);
			} else if (buf) {
				dequant_row_fast(w, r, lut, buf);
				for (size_t i = 0; i < m; i++)
					y[i * n + r] = dot(x + i * k, buf, k);
			}
		}
		free(buf);
	}
	return fail ? -1 : 0;
}
