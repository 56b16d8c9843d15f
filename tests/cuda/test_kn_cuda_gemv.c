/* CUDA GEMV / skinny GEMM (kn_cuda_gemv) and exact dequantization (kn_cuda_dequant_rows,
 * kn_cuda_embed) against kernels/cpu on seeded random data (label gpu; exits 77 without a device).
 *
 * Reference: rows dequantized with kn_dequant_row (SPEC §6.2, exact) and dotted in binary64, as
 * kn_matmul_ref does (parallel over rows so the real 8B shapes stay fast). The GPU sums in f32
 * and rounds once to the output type; the thresholds below bound that. Outputs are poisoned
 * with NaN before every launch, so an unwritten element fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cuda_testutil.h"

typedef struct {
	const char *name;
	int dtype, scheme;
	uint32_t group;
	double nmse_bf16, nmse_f32, max_rel_bf16, max_rel_f32; /* limits per output type */
} kind_t;

/* One table of limits. BF16 output: rounding alone gives NMSE ≈ (2^-9)²/3 ≈ 1.3e-6 and a max
 * error ≤ 2^-9·|y|; f32 output: f32 accumulation over k ≤ 12288 terms. */
static const kind_t kinds[] = {
	{"bf16", KN_CUDA_BF16, KN_CUDA_SCHEME_NONE, 0, 1e-5, 1e-9, 1.0 / 256, 1e-5},
	{"i8-row", KN_CUDA_I8, KN_CUDA_SCHEME_ROW, 0, 1e-5, 1e-9, 1.0 / 256, 1e-5},
	{"i8-g32", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 32, 1e-5, 1e-9, 1.0 / 256, 1e-5},
	{"i8-g64", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 64, 1e-5, 1e-9, 1.0 / 256, 1e-5},
	{"i8-g128", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 128, 1e-5, 1e-9, 1.0 / 256, 1e-5},
	{"f8-row", KN_CUDA_F8_E4M3, KN_CUDA_SCHEME_ROW, 0, 1e-5, 1e-9, 1.0 / 256, 1e-5},
};
#define N_KINDS (sizeof kinds / sizeof *kinds)

enum { F_OUT_F32 = 1, F_RESID = 2, F_RESID_INPLACE = 4, F_MISALIGN_W = 8, F_MISALIGN_X = 16 };

typedef struct {
	kn_weight cpu;
	kn_cuda_weight gpu;
	void *hdata;
	float *hscales;
	void *dbase, *dscales;
} wcase;

static size_t esize(const kind_t *kd)
{
	return kd->dtype == KN_CUDA_BF16 ? 2 : 1;
}

/* misalign: byte offset of the device codes inside their allocation (exercises the element-wise
 * path); the host copy stays aligned. */
static void weight_make(wcase *c, const kind_t *kd, size_t n, size_t k, uint64_t seed, size_t misalign)
{
	memset(c, 0, sizeof *c);
	size_t bytes = n * k * esize(kd), n_scales = kd->scheme == KN_CUDA_SCHEME_NONE ? 0 : n * (kd->group ? k / kd->group : 1);
	c->hdata = malloc(bytes);
	assert_non_null(c->hdata);
	if (kd->dtype == KN_CUDA_BF16)
		kct_fill_bf16(c->hdata, n * k, seed, 0.02);
	else if (kd->dtype == KN_CUDA_I8)
		kct_fill_i8(c->hdata, n * k, seed);
	else
		kct_fill_e4m3(c->hdata, n * k, seed);
	c->dbase = kct_dalloc(bytes + 16);
	kct_h2d((char *)c->dbase + misalign, c->hdata, bytes);
	if (n_scales) {
		c->hscales = malloc(n_scales * sizeof *c->hscales);
		assert_non_null(c->hscales);
		float lo = kd->dtype == KN_CUDA_I8 ? 2e-4f : 5e-5f;
		kct_fill_scales(c->hscales, n_scales, seed + 1, lo, 4 * lo);
		c->dscales = kct_dalloc(n_scales * sizeof *c->hscales);
		kct_h2d(c->dscales, c->hscales, n_scales * sizeof *c->hscales);
	}
	c->cpu = (kn_weight){.dtype = (fmt_dtype)kd->dtype, .scheme = (fmt_scheme)kd->scheme, .group_size = kd->group,
			     .n = n, .k = k, .data = c->hdata, .scales = c->hscales};
	assert_int_equal(kn_weight_check(&c->cpu, NULL, 0), 0);
	c->gpu = (kn_cuda_weight){.dtype = kd->dtype, .scheme = kd->scheme, .group_size = kd->group, .n = n, .k = k,
				  .data = (char *)c->dbase + misalign, .scales = c->dscales};
}

static void weight_free(wcase *c)
{
	free(c->hdata);
	free(c->hscales);
	kn_cuda_free(c->dbase);
	kn_cuda_free(c->dscales);
}

/* y[m][n] = x · dequant(W)ᵀ in binary64, rounded once. */
static void ref_gemv(float *y, const float *x, size_t m, const kn_weight *w)
{
	long long n = (long long)w->n;
#ifdef _OPENMP
#pragma omp parallel
#endif
	{
		float *row = malloc(w->k * sizeof *row);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
		for (long long r = 0; r < n; r++) {
			if (!row)
				continue;
			kn_dequant_row(w, (size_t)r, row);
			for (size_t i = 0; i < m; i++) {
				const float *xi = x + i * w->k;
				double acc = 0.0;
				for (size_t c = 0; c < w->k; c++)
					acc += (double)xi[c] * (double)row[c];
				y[i * w->n + (size_t)r] = (float)acc;
			}
		}
		free(row);
	}
}

static void run_gemv(const kind_t *kd, wcase *wc, int m, int flags, uint64_t seed)
{
	const size_t n = wc->cpu.n, k = wc->cpu.k, mn = (size_t)m * n;
	const int f32 = (flags & F_OUT_F32) != 0;
	const size_t ysz = f32 ? 4 : 2;
	uint16_t *xh = malloc((size_t)m * k * 2);
	float *xf = malloc((size_t)m * k * sizeof *xf), *ref = malloc(mn * sizeof *ref), *got = malloc(mn * sizeof *got);
	void *rh = calloc(mn, ysz), *yh = malloc(mn * ysz); /* calloc: -O3 cannot see rh is only read when filled */
	assert_true(xh && xf && ref && got && rh && yh);
	kct_fill_bf16(xh, (size_t)m * k, seed, 1.0);
	for (size_t i = 0; i < (size_t)m * k; i++)
		xf[i] = fmt_bf16_to_f32(xh[i]);

	const size_t xoff = (flags & F_MISALIGN_X) ? 2 : 0;
	char *xd = kct_dalloc((size_t)m * k * 2 + 16);
	kct_h2d(xd + xoff, xh, (size_t)m * k * 2);
	void *yd = kct_dalloc(mn * ysz), *rd = NULL;
	kct_poison(yd, mn * ysz);

	kn_cuda_epilogue ep = {.out_f32 = f32, .residual = NULL};
	if (flags & (F_RESID | F_RESID_INPLACE)) {
		rd = kct_residual(rh, yd, mn, f32, flags & F_RESID_INPLACE, seed, &ep);
	}
	char err[512] = "";
	if (kn_cuda_gemv(&wc->gpu, xd + xoff, yd, m, &ep, NULL, err, sizeof err))
		fail_msg("%s n %zu k %zu m %d: %s", kd->name, n, k, m, err);
	kct_sync();
	kct_d2h(yh, yd, mn * ysz);

	ref_gemv(ref, xf, (size_t)m, &wc->cpu);
	for (size_t i = 0; i < mn; i++) {
		got[i] = f32 ? ((float *)yh)[i] : fmt_bf16_to_f32(((uint16_t *)yh)[i]);
		if (ep.residual)
			ref[i] += f32 ? ((float *)rh)[i] : fmt_bf16_to_f32(((uint16_t *)rh)[i]);
	}
	char label[160];
	snprintf(label, sizeof label, "gemv %s n %zu k %zu m %d flags %d", kd->name, n, k, m, flags);
	kct_err e = kct_compare(got, ref, mn);
	kct_check(label, e, f32 ? kd->nmse_f32 : kd->nmse_bf16, f32 ? kd->max_rel_f32 : kd->max_rel_bf16);
	if (getenv("BALE_TEST_VERBOSE"))
		printf("%-48s nmse %.3g max_abs %.3g\n", label, e.nmse, e.max_abs);

	kn_cuda_free(xd);
	kn_cuda_free(yd);
	kn_cuda_free(rd);
	free(xh), free(xf), free(ref), free(got), free(rh), free(yh);
}

/* Many small shapes: odd n, k below and above one vector, every m from the tiles' edges. */
static void test_gemv_small(void **state)
{
	(void)state;
	const size_t ns[] = {1, 7, 33, 257};
	const size_t ks[] = {16, 40, 128, 384, 1000};
	const int ms[] = {1, 2, 3, 4, 5, 8, 11, 16};
	uint64_t seed = 100;
	for (size_t kd = 0; kd < N_KINDS; kd++)
		for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
			for (size_t b = 0; b < sizeof ks / sizeof *ks; b++) {
				if (kinds[kd].group && ks[b] % kinds[kd].group)
					continue;
				wcase wc;
				weight_make(&wc, &kinds[kd], ns[a], ks[b], seed++, 0);
				for (size_t c = 0; c < sizeof ms / sizeof *ms; c++)
					run_gemv(&kinds[kd], &wc, ms[c], 0, seed++);
				weight_free(&wc);
			}
}

/* Unaligned rows (k·size not a multiple of 16, or a shifted base) and unaligned x take the
 * element-wise paths. */
static void test_gemv_unaligned(void **state)
{
	(void)state;
	uint64_t seed = 5000;
	for (size_t kd = 0; kd < N_KINDS; kd++) {
		const size_t k = kinds[kd].group ? 256 : 100;
		const size_t shift = esize(&kinds[kd]);
		wcase wc;
		weight_make(&wc, &kinds[kd], 45, k, seed++, 0);
		run_gemv(&kinds[kd], &wc, 3, F_MISALIGN_X, seed++);
		run_gemv(&kinds[kd], &wc, 16, 0, seed++);
		weight_free(&wc);
		weight_make(&wc, &kinds[kd], 45, 256, seed++, shift);
		run_gemv(&kinds[kd], &wc, 1, 0, seed++);
		run_gemv(&kinds[kd], &wc, 6, F_MISALIGN_X, seed++);
		weight_free(&wc);
	}
}

/* f32 output, residual add (separate and in place). */
static void test_gemv_epilogue(void **state)
{
	(void)state;
	const int flags[] = {F_OUT_F32, F_RESID, F_RESID_INPLACE, F_OUT_F32 | F_RESID, F_OUT_F32 | F_RESID_INPLACE};
	uint64_t seed = 9000;
	for (size_t kd = 0; kd < N_KINDS; kd++) {
		wcase wc;
		weight_make(&wc, &kinds[kd], 129, 512, seed++, 0);
		for (size_t f = 0; f < sizeof flags / sizeof *flags; f++)
			for (int m = 1; m <= 16; m *= 4)
				run_gemv(&kinds[kd], &wc, m, flags[f], seed++);
		weight_free(&wc);
	}
}

/* K longer than one shared-memory tile (m = 16: 1536 elements per tile; m = 1: 24576). */
static void test_gemv_tiles(void **state)
{
	(void)state;
	uint64_t seed = 12000;
	for (size_t kd = 0; kd < N_KINDS; kd++) {
		wcase wc;
		weight_make(&wc, &kinds[kd], 19, 4096 + 128 * 3, seed++, 0);
		run_gemv(&kinds[kd], &wc, 16, 0, seed++);
		run_gemv(&kinds[kd], &wc, 9, F_OUT_F32, seed++);
		weight_free(&wc);
		weight_make(&wc, &kinds[kd], 17, 30000 - 30000 % 128, seed++, 0);
		run_gemv(&kinds[kd], &wc, 1, F_OUT_F32, seed++);
		run_gemv(&kinds[kd], &wc, 2, 0, seed++);
		weight_free(&wc);
	}
}

/* The real Qwen3-8B projections (n × k): q/o, k/v, gate+up fused, down; lm_head at m = 1. */
static void test_gemv_8b_shapes(void **state)
{
	(void)state;
	const size_t shapes[][2] = {{4096, 4096}, {1024, 4096}, {24576, 4096}, {4096, 12288}};
	const int ms[] = {1, 4, 16};
	uint64_t seed = 20000;
	for (size_t kd = 0; kd < N_KINDS; kd++)
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			wcase wc;
			weight_make(&wc, &kinds[kd], shapes[s][0], shapes[s][1], seed++, 0);
			for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
				run_gemv(&kinds[kd], &wc, ms[i], 0, seed++);
			weight_free(&wc);
		}
	for (size_t kd = 0; kd < N_KINDS; kd++) {
		if (kinds[kd].group && kinds[kd].group != 128)
			continue;
		wcase wc;
		weight_make(&wc, &kinds[kd], 151936, 4096, seed++, 0);
		run_gemv(&kinds[kd], &wc, 1, F_OUT_F32, seed++);
		weight_free(&wc);
	}
}


/* Dequantization on the device equals kn_dequant_row bit for bit, including int8 −128, all
 * E4M3 codes and extreme scales (subnormal, zero, huge). */
static void test_dequant_exact(void **state)
{
	(void)state;
	const size_t n = 37, k = 384;
	uint64_t seed = 30000;
	for (size_t kd = 0; kd < N_KINDS; kd++) {
		wcase wc;
		weight_make(&wc, &kinds[kd], n, k, seed++, kd % 2);
		if (kinds[kd].dtype != KN_CUDA_BF16) {
			uint8_t *codes = wc.hdata;
			for (size_t i = 0; i < 256; i++)
				codes[i * 3] = (uint8_t)(kinds[kd].dtype == KN_CUDA_I8 || (i & 0x7F) != 0x7F ? i : 0x42);
			size_t ns = n * (kinds[kd].group ? k / kinds[kd].group : 1);
			wc.hscales[0] = 1e-40f, wc.hscales[1] = 0.0f, wc.hscales[2] = 1e30f, wc.hscales[ns - 1] = 3.0f;
			kct_h2d((void *)wc.gpu.data, codes, n * k);
			kct_h2d(wc.dscales, wc.hscales, ns * sizeof(float));
		}
		float *ref = malloc(n * k * sizeof *ref), *got = malloc(n * k * sizeof *got);
		assert_true(ref && got);
		for (size_t r = 0; r < n; r++)
			kn_dequant_row(&wc.cpu, r, ref + r * k);
		float *d = kct_dalloc(n * k * sizeof *d);
		const size_t ranges[][2] = {{0, n}, {5, 1}, {n - 3, 3}};
		for (size_t q = 0; q < 3; q++) {
			char err[256];
			kct_poison(d, n * k * sizeof *d);
			if (kn_cuda_dequant_rows(&wc.gpu, ranges[q][0], ranges[q][1], d, NULL, err, sizeof err))
				fail_msg("%s", err);
			kct_sync();
			kct_d2h(got, d, ranges[q][1] * k * sizeof *got);
			for (size_t i = 0; i < ranges[q][1] * k; i++)
				if (kct_bits(got[i]) != kct_bits(ref[ranges[q][0] * k + i]))
					fail_msg("dequant %s row %zu col %zu: gpu %a, cpu %a", kinds[kd].name,
						 ranges[q][0] + i / k, i % k, (double)got[i], (double)ref[ranges[q][0] * k + i]);
		}
		/* embedding gather: same rows, bit for bit; a bad id gives NaN */
		const int32_t ids[] = {3, 0, (int32_t)n - 1, 3, (int32_t)n, -1};
		const int m = 6;
		int32_t *idd = kct_dalloc(sizeof ids);
		kct_h2d(idd, ids, sizeof ids);
		kct_poison(d, m * k * sizeof *d);
		char err[256];
		if (kn_cuda_embed(&wc.gpu, idd, m, d, NULL, err, sizeof err))
			fail_msg("%s", err);
		kct_sync();
		kct_d2h(got, d, m * k * sizeof *got);
		for (int i = 0; i < m; i++)
			for (size_t c = 0; c < k; c++) {
				float g = got[i * k + c];
				if (ids[i] < 0 || (size_t)ids[i] >= n) {
					if (!isnan(g))
						fail_msg("embed id %d col %zu: %a, want NaN", ids[i], c, (double)g);
				} else if (kct_bits(g) != kct_bits(ref[(size_t)ids[i] * k + c])) {
					fail_msg("embed %s id %d col %zu: gpu %a, cpu %a", kinds[kd].name, ids[i], c, (double)g,
						 (double)ref[(size_t)ids[i] * k + c]);
				}
			}
		kn_cuda_free(idd);
		kn_cuda_free(d);
		free(ref), free(got);
		weight_free(&wc);
	}
}

static void expect_error(int rc, const char *err, const char *what)
{
	if (rc != -1 || !err[0])
		fail_msg("%s: expected an error, got %d '%s'", what, rc, err);
}

/* Bad arguments are refused with a reason before anything is launched. */
static void test_gemv_bad_args(void **state)
{
	(void)state;
	wcase wc;
	weight_make(&wc, &kinds[2], 64, 256, 77, 0);
	char *x = kct_dalloc(16 * 256 * 2 + 64), *y = kct_dalloc(16 * 64 * 4 + 64);
	char err[256];
#define EXPECT_ERR(call)                      \
	do {                                  \
		err[0] = 0;                   \
		expect_error(call, err, #call); \
	} while (0)
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, x, y, 0, NULL, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, x, y, 17, NULL, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, NULL, y, 1, NULL, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, x + 1, y, 1, NULL, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, x, y + 1, 1, NULL, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, x, x + 64, 1, NULL, NULL, err, sizeof err)); /* overlap */
	kn_cuda_epilogue ep = {.out_f32 = 1, .residual = y + 2};
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, x, y, 1, &ep, NULL, err, sizeof err)); /* misaligned residual */
	ep.residual = y + 4;
	EXPECT_ERR(kn_cuda_gemv(&wc.gpu, x, y, 1, &ep, NULL, err, sizeof err)); /* partial overlap */
	kn_cuda_weight bad = wc.gpu;
	bad.group_size = 48;
	EXPECT_ERR(kn_cuda_gemv(&bad, x, y, 1, NULL, NULL, err, sizeof err));
	bad = wc.gpu, bad.k = 250; /* not a multiple of the group */
	EXPECT_ERR(kn_cuda_gemv(&bad, x, y, 1, NULL, NULL, err, sizeof err));
	bad = wc.gpu, bad.dtype = KN_CUDA_F32, bad.scheme = KN_CUDA_SCHEME_NONE;
	EXPECT_ERR(kn_cuda_gemv(&bad, x, y, 1, NULL, NULL, err, sizeof err));
	bad = wc.gpu, bad.scheme = KN_CUDA_SCHEME_ROW, bad.dtype = KN_CUDA_F8_E4M3, bad.scales = NULL;
	EXPECT_ERR(kn_cuda_gemv(&bad, x, y, 1, NULL, NULL, err, sizeof err));
	bad = wc.gpu, bad.n = 0;
	EXPECT_ERR(kn_cuda_gemv(&bad, x, y, 1, NULL, NULL, err, sizeof err));
	bad = wc.gpu, bad.k = (size_t)1 << 40;
	EXPECT_ERR(kn_cuda_gemv(&bad, x, y, 1, NULL, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_dequant_rows(&wc.gpu, 60, 5, y, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_embed(&wc.gpu, NULL, 1, y, NULL, err, sizeof err));
#undef EXPECT_ERR
	kct_sync(); /* nothing bad was launched */
	kn_cuda_free(x);
	kn_cuda_free(y);
	weight_free(&wc);
}

int main(void)
{
	int rc = kct_require_gpu();
	if (rc)
		return rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gemv_bad_args), cmocka_unit_test(test_dequant_exact),
		cmocka_unit_test(test_gemv_small),    cmocka_unit_test(test_gemv_unaligned),
		cmocka_unit_test(test_gemv_epilogue), cmocka_unit_test(test_gemv_tiles),
		cmocka_unit_test(test_gemv_8b_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
