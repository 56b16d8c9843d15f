/* Helpers for the gpu-labelled kernel tests: device skip, device buffers that fail the test on
 * error, seeded non-zero data and the error metrics with their thresholds. */
#ifndef BALE_KN_CUDA_TESTUTIL_H
#define BALE_KN_CUDA_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "kn_cpu.h"
#include "kn_cuda.h"
#include "testutil.h"

/* Returns 0 when a device is usable, else prints "SKIP: reason" and returns BALE_SKIP. */
int kct_require_gpu(void);

/* Device allocation / copies that fail the current cmocka test with the reason. */
void *kct_dalloc(size_t bytes);
void kct_h2d(void *dst, const void *src, size_t bytes);
void kct_d2h(void *dst, const void *src, size_t bytes);
void kct_poison(void *dst, size_t bytes);
uint32_t kct_bits(float f); /* the binary32 bit pattern, for bit-exact comparisons */ /* 0xFF bytes: NaN in BF16 and F32 */
void kct_sync(void);

/* Seeded data, never all zero: BF16 ~ N(0, sd); int8 codes in −127..127; finite E4M3 codes;
 * scales positive in [lo, hi). Parallel over chunks when OpenMP is on (seed per chunk). */
void kct_fill_bf16(uint16_t *p, size_t n, uint64_t seed, double sd);
/* A random residual of mn outputs (f32 or BF16) in rh, uploaded for ep: into yd itself when
 * inplace, else into a new device buffer returned for the caller to free (NULL when inplace). */
void *kct_residual(void *rh, void *yd, size_t mn, int f32, int inplace, uint64_t seed, kn_cuda_epilogue *ep);
void kct_fill_i8(int8_t *p, size_t n, uint64_t seed);
void kct_fill_e4m3(uint8_t *p, size_t n, uint64_t seed);
void kct_fill_scales(float *p, size_t n, uint64_t seed, float lo, float hi);

typedef struct {
	double nmse;    /* Σ(got − ref)² / Σ ref² */
	double max_abs; /* max |got − ref| */
	double ref_max; /* max |ref| */
	size_t n_nan;   /* non-finite outputs where ref is finite (unwritten or broken) */
	size_t worst;   /* index of max_abs */
} kct_err;

kct_err kct_compare(const float *got, const float *ref, size_t n);
/* Fails the test (with the label) when NaNs appear or nmse / max_abs exceed the limits:
 * max_abs ≤ max_rel · ref_max. */
void kct_check(const char *label, kct_err e, double nmse_max, double max_rel);

#endif
