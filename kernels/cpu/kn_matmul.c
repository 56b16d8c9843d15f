/* Fast matmul driver: splits the n output rows over OpenMP threads and picks AVX-512, AVX2 or
 * portable row kernels. One token (m == 1) streams each weight row once through a fused
 * dequant-dot; a batch (m > 1) dequantizes a tile of a few rows once into a per-thread scratch
 * and runs every block of tokens against it through a register-blocked micro-kernel (each
 * loaded vector feeds several FMAs, so prefill is bound by FMA throughput, not loads). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

bool kn_cpu_has_avx512(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* libgcc and compiler-rt only report AVX-512 features when XGETBV shows the OS saves the
	 * opmask and ZMM state, so this also covers kernels that leave AVX-512 disabled. */
	__builtin_cpu_init();
	return kn_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl");
#else
	return false;
#endif
}

const char *kn_isa_name(kn_isa isa)
{
	switch (isa) {
	case KN_ISA_AUTO:
		return "auto";
	case KN_ISA_SCALAR:
		return "scalar";
	case KN_ISA_AVX2:
		return "avx2";
	case KN_ISA_AVX512:
		return "avx512";
	default:
		return "?";
	}
}

/* CPUID traps to the hypervisor on virtual machines (microseconds), and matmul runs hundreds of
 * times per token, so the best ISA and the environment override are looked up once. Racing
 * first calls compute the same values; the atomics only make the sharing well defined. */
static int isa_best_cached, isa_env_cached; /* 0 = not yet known, else kn_isa + 1 */

static kn_isa isa_best(void)
{
	int v = __atomic_load_n(&isa_best_cached, __ATOMIC_RELAXED);
	if (v == 0) {
		kn_isa b = kn_cpu_has_avx512() ? KN_ISA_AVX512 : kn_cpu_has_avx2() ? KN_ISA_AVX2 : KN_ISA_SCALAR;
		v = (int)b + 1;
		__atomic_store_n(&isa_best_cached, v, __ATOMIC_RELAXED);
	}
	return (kn_isa)(v - 1);
}

/* BALE_KN_ISA; AUTO when unset or not one of the names (a library cannot complain). */
static kn_isa isa_env(void)
{
	int v = __atomic_load_n(&isa_env_cached, __ATOMIC_RELAXED);
	if (v == 0) {
		const char *e = getenv("BALE_KN_ISA");
		kn_isa r = KN_ISA_AUTO;
		for (int i = KN_ISA_SCALAR; e && i <= KN_ISA_AVX512; i++)
			if (!strcmp(e, kn_isa_name((kn_isa)i)))
				r = (kn_isa)i;
		v = (int)r + 1;
		__atomic_store_n(&isa_env_cached, v, __ATOMIC_RELAXED);
	}
	return (kn_isa)(v - 1);
}

kn_isa kn_isa_resolve(kn_isa want)
{
	kn_isa best = isa_best();
	if (want == KN_ISA_AUTO)
		want = isa_env();
	if (want == KN_ISA_AUTO || want > best || want < KN_ISA_SCALAR)
		want = best;
	return want;
}

/* E4M3 "fn" values as constant expressions: (8 + m)·2^(e−10) for e > 0, m·2^−9 for e = 0, NaN for
 * S.1111.111. The F8 test checks every code against kn_e4m3_decode through the scalar path. */
#define KN_E4_E(c) (((c) >> 3) & 15)
#define KN_E4_M(c) ((c) & 7)
#define KN_E4(c)                                                                                  \
	(KN_E4_E(c) == 15 && KN_E4_M(c) == 7 ? NAN                                                    \
	 : ((c) & 0x80 ? -1.0f : 1.0f) * (KN_E4_E(c) == 0 ? (float)KN_E4_M(c) / 512.0f                \
				       : (float)(8 + KN_E4_M(c)) * (float)(1u << KN_E4_E(c)) / 1024.0f))
#define KN_E4x4(c) KN_E4(c), KN_E4((c) + 1), KN_E4((c) + 2), KN_E4((c) + 3)
#define KN_E4x16(c) KN_E4x4(c), KN_E4x4((c) + 4), KN_E4x4((c) + 8), KN_E4x4((c) + 12)
#define KN_E4x64(c) KN_E4x16(c), KN_E4x16((c) + 16), KN_E4x16((c) + 32), KN_E4x16((c) + 48)
static const float e4m3_lut[256] = {KN_E4x64(0), KN_E4x64(64), KN_E4x64(128), KN_E4x64(192)};

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
	size_t k = w->k;
	if (w->dtype == FMT_F8_E4M3) {
		const uint8_t *q = (const uint8_t *)w->data + r * k;
		float s = w->scales[r];
		for (size_t c = 0; c < k; c++)
			out[c] = lut[q[c]] * s;
	} else if (w->dtype == FMT_I8) {
		const int8_t *q = (const int8_t *)w->data + r * k;
		size_t gs = w->scheme == FMT_SCHEME_GROUP ? w->group_size : k, ng = k / gs;
		const float *s = w->scales + r * ng;
		/* a loop per group: c / gs per element was a 64-bit division each */
		for (size_t g = 0; g < ng; g++)
			for (size_t c = g * gs; c < (g + 1) * gs; c++)
				out[c] = (float)q[c] * s[g];
	} else if (w->dtype == FMT_BF16) {
		const uint16_t *q = (const uint16_t *)w->data + r * k;
		for (size_t c = 0; c < k; c++)
			out[c] = fmt_bf16_to_f32(q[c]);
	} else {
		kn_dequant_row(w, r, out);
	}
}

/* Portable batch kernel: one plain dot per output (tile of 1 × 1). */
static void tile_scalar(const float *const *w, const float *const *x, size_t k, float *out)
{
	out[0] = kn_dot_scalar(x[0], w[0], k);
}

/* The batch path for output rows [r0, r0 + nr): rows dequantized into buf (or used in place for
 * F32, buf NULL), then every block of tk.t tokens through the micro-kernel over the whole of k.
 * Partial tiles repeat the last valid row or token so the kernel always runs full size; those
 * outputs are dropped. (Splitting k into L1-sized chunks, with the accumulators saved between
 * chunks, measured 10-20% slower on a Xeon with 48 KiB L1: the rows already stay in L2.) */
static void batch_tile(float *y, const float *x, size_t m, const kn_weight *w, size_t r0, size_t nr,
		       const kn_tile_kernel *tk, kn_dequant_fn deq, const float *lut, float *buf)
{
	size_t n = w->n, k = w->k;
	const float *wp[KN_TILE_MAX], *xp[KN_TILE_MAX];
	float out[KN_TILE_MAX * KN_TILE_MAX];
	for (size_t i = 0; i < tk->r; i++) {
		size_t ii = i < nr ? i : nr - 1;
		if (!buf) {
			wp[i] = (const float *)w->data + (r0 + ii) * k;
		} else {
			if (i < nr)
				deq(w, r0 + i, lut, buf + i * k);
			wp[i] = buf + ii * k;
		}
	}
	for (size_t t0 = 0; t0 < m; t0 += tk->t) {
		size_t nt = m - t0 < tk->t ? m - t0 : tk->t;
		for (size_t j = 0; j < tk->t; j++)
			xp[j] = x + (t0 + (j < nt ? j : nt - 1)) * k;
		tk->fn(wp, xp, k, out);
		for (size_t j = 0; j < nt; j++)
			for (size_t i = 0; i < nr; i++)
				y[(t0 + j) * n + r0 + i] = out[i * tk->t + j];
	}
}

int kn_matmul(float *y, const float *x, size_t m, const kn_weight *w, const kn_exec *ex)
{
	if (kn_weight_check(w, NULL, 0) != 0)
		return -1;
	kn_exec def = {0, KN_ISA_AUTO};
	if (!ex)
		ex = &def;
	kn_isa isa = kn_isa_resolve(ex->isa);
	kn_rowdot_fn rowdot = NULL;
	kn_dequant_fn deq = NULL;
	kn_tile_kernel tk = {0, 0, NULL};
	if (isa == KN_ISA_AVX512) {
		rowdot = kn_rowdot_avx512(w);
		deq = kn_dequant_avx512(w);
		tk = kn_tile_avx512();
	} else if (isa == KN_ISA_AVX2) {
		rowdot = kn_rowdot_avx2(w);
		deq = kn_dequant_avx2(w);
		tk = kn_tile_avx2();
	}
	if (!rowdot)
		rowdot = kn_rowdot_scalar(w);
	if (!deq)
		deq = dequant_row_fast;
	if (!tk.fn || tk.r < 1 || tk.t < 1 || tk.r > KN_TILE_MAX || tk.t > KN_TILE_MAX)
		tk = (kn_tile_kernel){1, 1, tile_scalar};
	const float *lut = e4m3_lut;
	/* F32 rows are used in place by the batch path */
	bool in_place = w->dtype == FMT_F32;

	size_t n = w->n, k = w->k;
	/* m == 1 streams row by row; a batch works on tiles of tk.r rows */
	size_t rows_per = m == 1 ? 1 : tk.r, n_tiles = n / rows_per + (n % rows_per != 0);
	size_t buf_len; /* tk.r ≤ 8, and n·k elements exist, so this cannot overflow in practice */
	if (__builtin_mul_overflow(rows_per, k, &buf_len))
		return -1;
	int fail = 0;
#ifdef _OPENMP
	int nt = ex->n_threads > 0 ? ex->n_threads : omp_get_max_threads();
	/* Threads cost a few microseconds to wake; not worth it below ~64K multiply-adds. */
	int par = (double)n * (double)k * (double)m >= 65536.0;
#pragma omp parallel num_threads(nt) if (par)
#endif
	{
		float *buf = NULL;
		if (m > 1 && !in_place) {
			buf = malloc(buf_len * sizeof *buf);
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
		for (size_t j = 0; j < n_tiles; j++) {
			if (m == 1) {
				y[j] = rowdot(w, j, x, lut);
			} else if (in_place || buf) {
				size_t r0 = j * rows_per, nr = n - r0 < rows_per ? n - r0 : rows_per;
				batch_tile(y, x, m, w, r0, nr, &tk, deq, lut, buf);
			}
		}
		free(buf);
	}
	return fail ? -1 : 0;
}
