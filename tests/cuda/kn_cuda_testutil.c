#include "kn_cuda_testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kct_require_gpu(void)
{
	char why[512] = "";
	if (kn_cuda_device_count(why, sizeof why) > 0)
		return 0;
	printf("SKIP: %s\n", why[0] ? why : "no CUDA device");
	return BALE_SKIP;
}

void *kct_dalloc(size_t bytes)
{
	char err[256];
	void *p = NULL;
	if (kn_cuda_malloc(&p, bytes, err, sizeof err))
		fail_msg("%s", err);
	return p;
}

void kct_h2d(void *dst, const void *src, size_t bytes)
{
	char err[256];
	if (kn_cuda_memcpy_h2d(dst, src, bytes, err, sizeof err))
		fail_msg("%s", err);
}

void kct_d2h(void *dst, const void *src, size_t bytes)
{
	char err[256];
	if (kn_cuda_memcpy_d2h(dst, src, bytes, err, sizeof err))
		fail_msg("%s", err);
}

void kct_poison(void *dst, size_t bytes)
{
	char err[256];
	if (kn_cuda_memset(dst, 0xFF, bytes, NULL, err, sizeof err))
		fail_msg("%s", err);
}

void kct_sync(void)
{
	char err[256];
	if (kn_cuda_synchronize(NULL, err, sizeof err))
		fail_msg("%s", err);
}

#define CHUNK 65536

#ifdef _OPENMP
#define KCT_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#else
#define KCT_PARALLEL_FOR
#endif

/* Each chunk gets its own generator so the data does not depend on the thread count. */
#define FILL_LOOP(n, seed, body)                                                                 \
	do {                                                                                     \
		long long n_chunks = (long long)(((n) + CHUNK - 1) / CHUNK);                     \
		KCT_PARALLEL_FOR for (long long ch = 0; ch < n_chunks; ch++) \
		{                                                                                \
			tu_rng rng = {(seed) * 0x9E3779B97F4A7C15u + (uint64_t)ch};              \
			size_t end = (size_t)(ch + 1) * CHUNK < (n) ? (size_t)(ch + 1) * CHUNK : (n); \
			for (size_t i = (size_t)ch * CHUNK; i < end; i++) {                      \
				body;                                                            \
			}                                                                        \
		}                                                                                \
	} while (0)

void kct_fill_bf16(uint16_t *p, size_t n, uint64_t seed, double sd)
{
	FILL_LOOP(n, seed, {
		float v = (float)(tu_rng_normal(&rng) * sd);
		if (v == 0.0f)
			v = (float)sd;
		p[i] = fmt_f32_to_bf16(v);
	});
}

void kct_fill_i8(int8_t *p, size_t n, uint64_t seed)
{
	FILL_LOOP(n, seed, {
		int v = (int)(tu_rng_u64(&rng) % 255u) - 127;
		p[i] = (int8_t)(v == 0 ? 1 + (int)(i % 5) : v);
	});
}

void kct_fill_e4m3(uint8_t *p, size_t n, uint64_t seed)
{
	FILL_LOOP(n, seed, {
		uint8_t c = (uint8_t)tu_rng_u64(&rng);
		if ((c & 0x7F) == 0x7F)
			c ^= 0x08; /* NaN codes are never written (SPEC §6.1) */
		p[i] = c;
	});
}

void kct_fill_scales(float *p, size_t n, uint64_t seed, float lo, float hi)
{
	FILL_LOOP(n, seed, { p[i] = lo + (hi - lo) * (float)tu_rng_uniform(&rng); });
}

kct_err kct_compare(const float *got, const float *ref, size_t n)
{
	kct_err e = {0, 0, 0, 0, 0};
	double se = 0, sr = 0;
	for (size_t i = 0; i < n; i++) {
		double r = ref[i], g = got[i];
		if (!isfinite(g) && isfinite(r)) {
			e.n_nan++;
			continue;
		}
		double d = fabs(g - r);
		se += d * d;
		sr += r * r;
		if (d > e.max_abs) {
			e.max_abs = d;
			e.worst = i;
		}
		if (fabs(r) > e.ref_max)
			e.ref_max = fabs(r);
	}
	e.nmse = sr > 0 ? se / sr : (se > 0 ? INFINITY : 0);
	return e;
}

void kct_check(const char *label, kct_err e, double nmse_max, double max_rel)
{
	if (e.n_nan || !(e.nmse <= nmse_max) || !(e.max_abs <= max_rel * e.ref_max))
		fail_msg("%s: %zu non-finite, nmse %.3g (limit %.3g), max_abs %.3g at %zu (limit %.3g)", label, e.n_nan,
			 e.nmse, nmse_max, e.max_abs, e.worst, max_rel * e.ref_max);
}

void *kct_residual(void *rh, void *yd, size_t mn, int f32, int inplace, uint64_t seed, kn_cuda_epilogue *ep)
{
	size_t ysz = f32 ? 4 : 2;
	if (f32)
		for (size_t i = 0; i < mn; i++)
			((float *)rh)[i] = (float)(tu_rng_normal(&(tu_rng){seed * 31 + i}) * 0.5);
	else
		kct_fill_bf16(rh, mn, seed + 7, 0.5);
	if (inplace) {
		kct_h2d(yd, rh, mn * ysz);
		ep->residual = yd;
		return NULL;
	}
	void *rd = kct_dalloc(mn * ysz);
	kct_h2d(rd, rh, mn * ysz);
	ep->residual = rd;
	return rd;
}

uint32_t kct_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}
