/* kn_cuda_matmul on every path (GEMV in passes, MMA, CUBLAS, FP8) × weight kind × shape × m ×
 * epilogue against kernels/cpu, plus the exact helpers (kn_cuda_dequant_rows_bf16,
 * kn_cuda_quant_rows_f8) bit for bit (label gpu; exits 77 without a device).
 *
 * Reference: rows dequantized by kn_dequant_row (SPEC §6.2) and dotted in binary64. The FP8 path
 * quantizes x per token; its reference quantizes x with the same kn_kv_f8_* functions, so only
 * the summation order differs. Outputs are poisoned with NaN before each launch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_conv.cuh"
#include "kn_cuda_gemm.h"
#include "kn_cuda_testutil.h"

typedef struct {
	const char *name;
	int dtype, scheme;
	uint32_t group;
} kind_t;

static const kind_t kinds[] = {
	{"bf16", KN_CUDA_BF16, KN_CUDA_SCHEME_NONE, 0},     {"i8-row", KN_CUDA_I8, KN_CUDA_SCHEME_ROW, 0},
	{"i8-g32", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 32},   {"i8-g64", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 64},
	{"i8-g128", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 128}, {"f8-row", KN_CUDA_F8_E4M3, KN_CUDA_SCHEME_ROW, 0},
};
#define N_KINDS (sizeof kinds / sizeof *kinds)

/* One table of limits per path: NMSE and max |err| / max |ref|, for BF16 and f32 outputs.
 * GEMV: f32 sums of exact products; BF16 output adds one rounding (NMSE ≈ 1.3e-6).
 * MMA and CUBLAS: weights enter the tensor cores as BF16; GROUP scales (MMA) and all scales
 * (CUBLAS) are rounded into them, a relative error ≤ 2^-9 per weight (NMSE ≈ 1.3e-6 again).
 * FP8: against the reference on the same quantized x; tensor-core FP8 accumulation.
 * With SwiGLU two such dot products combine, and over short k (36) an output can be small next
 * to its terms, so a handful of outputs carries NMSE ~3e-5 (seen on the CPU emulator for
 * CUBLAS f8-row n 34 k 36): MMA/CUBLAS limits leave 3× room. A wrong fragment layout or scale
 * gives errors of order 1; Hopper's FP8 accumulation is not exactly f32, hence 1e-5 there. */
static const struct {
	kn_gemm_algo algo;
	double nmse_bf16, nmse_f32, max_rel_bf16, max_rel_f32;
} limits[] = {
	{KN_GEMM_GEMV, 1e-5, 1e-9, 1.0 / 256, 1e-5},
	{KN_GEMM_MMA, 1e-4, 1e-4, 1.0 / 64, 1.0 / 64},
	{KN_GEMM_CUBLAS, 1e-4, 1e-4, 1.0 / 64, 1.0 / 64},
	{KN_GEMM_FP8, 1e-5, 1e-5, 1.0 / 128, 1e-2},
};
#define N_ALGOS (sizeof limits / sizeof *limits)

enum { F_OUT_F32 = 1, F_RESID = 2, F_RESID_INPLACE = 4, F_SWIGLU = 8 };
static const int flag_sets[] = {0, F_OUT_F32, F_RESID, F_OUT_F32 | F_RESID_INPLACE, F_SWIGLU, F_SWIGLU | F_OUT_F32,
				F_RESID_INPLACE, F_OUT_F32 | F_RESID};
#define N_FLAGS (sizeof flag_sets / sizeof *flag_sets)

static kn_cuda_blas *blas;

typedef struct {
	kn_weight cpu;
	kn_cuda_weight gpu;
	void *hdata;
	float *hscales;
	void *ddata, *dscales;
} wcase;

static void weight_make(wcase *c, const kind_t *kd, size_t n, size_t k, uint64_t seed)
{
	memset(c, 0, sizeof *c);
	size_t esz = kd->dtype == KN_CUDA_BF16 ? 2 : 1, bytes = n * k * esz;
	size_t ns = kd->scheme == KN_CUDA_SCHEME_NONE ? 0 : n * (kd->group ? k / kd->group : 1);
	c->hdata = malloc(bytes);
	assert_non_null(c->hdata);
	if (kd->dtype == KN_CUDA_BF16)
		kct_fill_bf16(c->hdata, n * k, seed, 0.02);
	else if (kd->dtype == KN_CUDA_I8)
		kct_fill_i8(c->hdata, n * k, seed);
	else
		kct_fill_e4m3(c->hdata, n * k, seed);
	c->ddata = kct_dalloc(bytes);
	kct_h2d(c->ddata, c->hdata, bytes);
	if (ns) {
		c->hscales = malloc(ns * sizeof *c->hscales);
		assert_non_null(c->hscales);
		float lo = kd->dtype == KN_CUDA_I8 ? 2e-4f : 5e-5f;
		kct_fill_scales(c->hscales, ns, seed + 1, lo, 4 * lo);
		c->dscales = kct_dalloc(ns * sizeof *c->hscales);
		kct_h2d(c->dscales, c->hscales, ns * sizeof *c->hscales);
	}
	c->cpu = (kn_weight){.dtype = (fmt_dtype)kd->dtype, .scheme = (fmt_scheme)kd->scheme, .group_size = kd->group,
			     .n = n, .k = k, .data = c->hdata, .scales = c->hscales};
	c->gpu = (kn_cuda_weight){.dtype = kd->dtype, .scheme = kd->scheme, .group_size = kd->group, .n = n, .k = k,
				  .data = c->ddata, .scales = c->dscales};
}

static void weight_free(wcase *c)
{
	free(c->hdata);
	free(c->hscales);
	kn_cuda_free(c->ddata);
	kn_cuda_free(c->dscales);
}

/* The FP8 path's view of x: per-token scale and E4M3 codes, exactly as the GPU computes them. */
static void quant_x_f8(const float *x, size_t m, size_t k, uint8_t *codes, float *scales)
{
	for (size_t i = 0; i < m; i++) {
		float amax = 0.0f;
		for (size_t c = 0; c < k; c++)
			amax = fmaxf(amax, fabsf(x[i * k + c]));
		scales[i] = kn_kv_f8_scale(amax);
		for (size_t c = 0; c < k; c++)
			codes[i * k + c] = kn_kv_f8_encode(x[i * k + c], scales[i]);
	}
}

/* ref[m][n] in binary64: x · dequant(W)ᵀ, or for fp8 (Σ e4m3(xq)·e4m3(wq)) · sw · sx. */
static void reference(double *ref, const float *x, size_t m, const wcase *wc, int fp8)
{
	const size_t n = wc->cpu.n, k = wc->cpu.k;
	uint8_t *xq = NULL;
	float *sx = NULL;
	if (fp8) {
		xq = malloc(m * k);
		sx = malloc(m * sizeof *sx);
		assert_true(xq && sx);
		quant_x_f8(x, m, k, xq, sx);
	}
	float *row = malloc(k * sizeof *row);
	assert_non_null(row);
	for (size_t r = 0; r < n; r++) {
		if (fp8) {
			const uint8_t *wr = (const uint8_t *)wc->hdata + r * k;
			for (size_t c = 0; c < k; c++)
				row[c] = kn_e4m3_to_f32(wr[c]);
		} else {
			kn_dequant_row(&wc->cpu, r, row);
		}
		for (size_t i = 0; i < m; i++) {
			double acc = 0.0;
			for (size_t c = 0; c < k; c++)
				acc += (fp8 ? (double)kn_e4m3_to_f32(xq[i * k + c]) : (double)x[i * k + c]) * (double)row[c];
			if (fp8)
				acc *= (double)wc->hscales[r] * (double)sx[i];
			ref[i * n + r] = acc;
		}
	}
	free(row);
	free(xq);
	free(sx);
}

static int limit_index(kn_gemm_algo a)
{
	for (size_t i = 0; i < N_ALGOS; i++)
		if (limits[i].algo == a)
			return (int)i;
	return 0;
}

/* 1 when the path runs here; 0 (with a note the first time) when the device or weight rules it out. */
static int algo_runs(const wcase *wc, int m, kn_gemm_algo a)
{
	char err[256] = "";
	if (kn_cuda_matmul_supported(&wc->gpu, m, a, err, sizeof err) == 0)
		return 1;
	if (a != KN_GEMM_FP8)
		fail_msg("%s unsupported for n %zu k %zu: %s", kn_gemm_algo_name(a), wc->gpu.n, wc->gpu.k, err);
	return 0;
}

static void run_case(const kind_t *kd, const wcase *wc, const double *ref_all, const uint16_t *xh, int m, int flags,
		     kn_gemm_algo algo, uint64_t seed)
{
	const size_t n = wc->cpu.n, k = wc->cpu.k;
	const int f32 = (flags & F_OUT_F32) != 0, sw = (flags & F_SWIGLU) != 0;
	const size_t n_out = sw ? n / 2 : n, mn = (size_t)m * n_out, ysz = f32 ? 4 : 2;
	void *rh = calloc(mn, ysz), *yh = malloc(mn * ysz);
	float *ref = malloc(mn * sizeof *ref), *got = malloc(mn * sizeof *got);
	assert_true(rh && yh && ref && got);
	char *xd = kct_dalloc((size_t)m * k * 2);
	kct_h2d(xd, xh, (size_t)m * k * 2);
	void *yd = kct_dalloc(mn * ysz), *rd = NULL;
	kct_poison(yd, mn * ysz);
	kn_cuda_epilogue ep = {.out_f32 = f32, .residual = NULL, .swiglu = sw};
	if (flags & (F_RESID | F_RESID_INPLACE)) {
		rd = kct_residual(rh, yd, mn, f32, flags & F_RESID_INPLACE, seed, &ep);
	}
	char err[512] = "";
	if (kn_cuda_matmul(blas, &wc->gpu, xd, yd, m, &ep, algo, NULL, err, sizeof err))
		fail_msg("%s %s n %zu k %zu m %d flags %d: %s", kn_gemm_algo_name(algo), kd->name, n, k, m, flags, err);
	kct_sync();
	kct_d2h(yh, yd, mn * ysz);
	for (size_t i = 0; i < (size_t)m; i++)
		for (size_t j = 0; j < n_out; j++) {
			double v;
			if (sw) {
				double g = ref_all[i * n + 2 * j], u = ref_all[i * n + 2 * j + 1];
				v = g / (1.0 + exp(-g)) * u;
			} else {
				v = ref_all[i * n + j];
			}
			const size_t o = i * n_out + j;
			if (ep.residual)
				v += f32 ? ((float *)rh)[o] : fmt_bf16_to_f32(((uint16_t *)rh)[o]);
			ref[o] = (float)v;
			got[o] = f32 ? ((float *)yh)[o] : fmt_bf16_to_f32(((uint16_t *)yh)[o]);
		}
	const int li = limit_index(algo);
	char label[200];
	snprintf(label, sizeof label, "%s %s n %zu k %zu m %d flags %d", kn_gemm_algo_name(algo), kd->name, n, k, m,
		 flags);
	kct_err e = kct_compare(got, ref, mn);
	kct_check(label, e, f32 ? limits[li].nmse_f32 : limits[li].nmse_bf16,
		  f32 ? limits[li].max_rel_f32 : limits[li].max_rel_bf16);
	if (getenv("BALE_TEST_VERBOSE"))
		printf("%-56s nmse %.3g max_abs %.3g\n", label, e.nmse, e.max_abs);
	kn_cuda_free(xd);
	kn_cuda_free(yd);
	kn_cuda_free(rd);
	free(rh), free(yh), free(ref), free(got);
}

/* One weight, one m: every path, epilogues rotating (all of them when `all_flags`). */
static void sweep(const kind_t *kd, size_t n, size_t k, const int *ms, size_t n_ms, int all_flags, uint64_t *seed)
{
	wcase wc;
	weight_make(&wc, kd, n, k, (*seed)++);
	for (size_t mi = 0; mi < n_ms; mi++) {
		const int m = ms[mi];
		uint16_t *xh = malloc((size_t)m * k * 2);
		float *xf = malloc((size_t)m * k * sizeof *xf);
		double *ref = malloc((size_t)m * n * sizeof *ref), *ref8 = malloc((size_t)m * n * sizeof *ref8);
		assert_true(xh && xf && ref && ref8);
		kct_fill_bf16(xh, (size_t)m * k, (*seed)++, 1.0);
		for (size_t i = 0; i < (size_t)m * k; i++)
			xf[i] = fmt_bf16_to_f32(xh[i]);
		reference(ref, xf, (size_t)m, &wc, 0);
		const int f8 = algo_runs(&wc, m, KN_GEMM_FP8);
		if (f8)
			reference(ref8, xf, (size_t)m, &wc, 1);
		for (size_t a = 0; a < N_ALGOS; a++) {
			if (limits[a].algo == KN_GEMM_FP8 && !f8)
				continue;
			if (!algo_runs(&wc, m, limits[a].algo))
				continue;
			const double *r = limits[a].algo == KN_GEMM_FP8 ? ref8 : ref;
			for (size_t f = 0; f < N_FLAGS; f++) {
				if (!all_flags && f != (mi + a + n) % N_FLAGS)
					continue;
				int flags = flag_sets[f];
				if ((flags & F_SWIGLU) && n % 2)
					flags = F_OUT_F32;
				run_case(kd, &wc, r, xh, m, flags, limits[a].algo, (*seed)++);
			}
		}
		free(xh), free(xf), free(ref), free(ref8);
	}
	weight_free(&wc);
}

/* Odd n, n below and above one 128-row tile, k below one 32-column tile and not a multiple of it,
 * k not a multiple of 8 or 16 (unaligned rows), m from 1 to 256. */
static void test_gemm_shapes(void **state)
{
	(void)state;
	const size_t shapes[][2] = {{7, 16}, {33, 40}, {130, 96}, {257, 384}, {64, 1000}, {200, 2080}, {34, 36}};
	const int ms[] = {1, 3, 17, 64, 100, 256};
	uint64_t seed = 100;
	for (size_t kd = 0; kd < N_KINDS; kd++)
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			if (kinds[kd].group && shapes[s][1] % kinds[kd].group)
				continue;
			sweep(&kinds[kd], shapes[s][0], shapes[s][1], ms, sizeof ms / sizeof *ms, 0, &seed);
		}
}

/* Every epilogue on every path and kind. */
static void test_gemm_epilogues(void **state)
{
	(void)state;
	const int ms[] = {17, 130};
	uint64_t seed = 5000;
	for (size_t kd = 0; kd < N_KINDS; kd++)
		sweep(&kinds[kd], 258, 512, ms, 2, 1, &seed);
}

/* More rows than one scratch chunk (CUBLAS dequantizes in chunks; FP8 and SwiGLU chunk their
 * f32 block), and more tokens than the context's max_m (FP8 passes). */
static void test_gemm_chunks(void **state)
{
	(void)state;
	kn_cuda_blas *big = blas;
	char err[256];
	/* 256 KiB: CUBLAS 112 rows per chunk (96 with SwiGLU), FP8 1008 rows; tokens in passes of 64 */
	if (kn_cuda_blas_create(&blas, 64, 1024, 256 << 10, err, sizeof err))
		fail_msg("%s", err);
	const int ms[] = {100};
	uint64_t seed = 9000;
	for (size_t kd = 0; kd < N_KINDS; kd++)
		sweep(&kinds[kd], 1090, 1024, ms, 1, 1, &seed);
	kn_cuda_blas_free(blas);
	blas = big;
}


/* kn_cuda_dequant_rows_bf16 = bf16(kn_dequant_row), and kn_cuda_quant_rows_f8 = kn_kv_f8_* on the
 * host, bit for bit (including an all-zero row and huge / tiny values). */
static void test_exact_helpers(void **state)
{
	(void)state;
	const size_t n = 37, k = 384;
	for (size_t kd = 0; kd < N_KINDS; kd++) {
		wcase wc;
		weight_make(&wc, &kinds[kd], n, k, 300 + kd);
		uint16_t *got = malloc(n * k * 2);
		float *row = malloc(k * sizeof *row);
		assert_true(got && row);
		uint16_t *d = kct_dalloc(n * k * 2);
		const size_t ranges[][2] = {{0, n}, {5, 1}, {n - 3, 3}};
		for (size_t q = 0; q < 3; q++) {
			char err[256];
			kct_poison(d, n * k * 2);
			if (kn_cuda_dequant_rows_bf16(&wc.gpu, ranges[q][0], ranges[q][1], d, NULL, err, sizeof err))
				fail_msg("%s", err);
			kct_sync();
			kct_d2h(got, d, ranges[q][1] * k * 2);
			for (size_t r = 0; r < ranges[q][1]; r++) {
				kn_dequant_row(&wc.cpu, ranges[q][0] + r, row);
				for (size_t c = 0; c < k; c++)
					if (got[r * k + c] != fmt_f32_to_bf16(row[c]))
						fail_msg("dequant bf16 %s row %zu col %zu: %04x want %04x", kinds[kd].name,
							 ranges[q][0] + r, c, got[r * k + c], fmt_f32_to_bf16(row[c]));
			}
		}
		kn_cuda_free(d);
		free(got), free(row);
		weight_free(&wc);
	}

	const int m = 9, k8 = 1000;
	uint16_t *xh = malloc((size_t)m * k8 * 2);
	float *xf = malloc((size_t)m * k8 * sizeof *xf), sref[9], sgot[9];
	uint8_t *cref = malloc((size_t)m * k8), *cgot = malloc((size_t)m * k8);
	assert_true(xh && xf && cref && cgot);
	kct_fill_bf16(xh, (size_t)m * k8, 77, 3.0);
	for (int c = 0; c < k8; c++) {
		xh[2 * k8 + c] = 0;                                   /* all-zero row: scale 1 */
		xh[3 * k8 + c] = fmt_f32_to_bf16(c % 2 ? 1e30f : 1e-30f); /* huge */
		xh[4 * k8 + c] = fmt_f32_to_bf16(c % 3 ? 1e-38f : -3e-38f); /* tiny */
	}
	for (size_t i = 0; i < (size_t)m * k8; i++)
		xf[i] = fmt_bf16_to_f32(xh[i]);
	quant_x_f8(xf, (size_t)m, (size_t)k8, cref, sref);
	void *xd = kct_dalloc((size_t)m * k8 * 2), *cd = kct_dalloc((size_t)m * k8);
	float *sd = kct_dalloc(sizeof sref);
	kct_h2d(xd, xh, (size_t)m * k8 * 2);
	kct_poison(cd, (size_t)m * k8);
	kct_poison(sd, sizeof sref);
	char err[256];
	if (kn_cuda_quant_rows_f8(xd, m, k8, cd, sd, NULL, err, sizeof err))
		fail_msg("%s", err);
	kct_sync();
	kct_d2h(cgot, cd, (size_t)m * k8);
	kct_d2h(sgot, sd, sizeof sgot);
	for (int i = 0; i < m; i++) {
		if (kct_bits(sgot[i]) != kct_bits(sref[i]))
			fail_msg("quant f8 row %d: scale %a want %a", i, (double)sgot[i], (double)sref[i]);
		for (int c = 0; c < k8; c++)
			if (cgot[i * k8 + c] != cref[i * k8 + c])
				fail_msg("quant f8 row %d col %d: %02x want %02x", i, c, cgot[i * k8 + c], cref[i * k8 + c]);
	}
	kn_cuda_free(xd), kn_cuda_free(cd), kn_cuda_free(sd);
	free(xh), free(xf), free(cref), free(cgot);
}

static void expect_error(int rc, const char *err, const char *what)
{
	if (rc != -1 || !err[0])
		fail_msg("%s: expected an error, got %d '%s'", what, rc, err);
}

static void test_gemm_bad_args(void **state)
{
	(void)state;
	wcase i8, f8;
	weight_make(&i8, &kinds[1], 64, 256, 71);
	weight_make(&f8, &kinds[5], 63, 40, 72); /* k % 16 != 0: no FP8; odd n: no swiglu */
	char *x = kct_dalloc(64 * 256 * 2 + 64), *y = kct_dalloc(64 * 64 * 4 + 64);
	char err[256];
#define EXPECT_ERR(call)                        \
	do {                                    \
		err[0] = 0;                     \
		expect_error(call, err, #call); \
	} while (0)
	kn_cuda_epilogue sw = {.swiglu = 1}, swr = {.swiglu = 1, .residual = y};
	EXPECT_ERR(kn_cuda_matmul(blas, &i8.gpu, x, y, 0, NULL, KN_GEMM_MMA, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(blas, &i8.gpu, NULL, y, 20, NULL, KN_GEMM_MMA, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(blas, &i8.gpu, x, y, 20, &swr, KN_GEMM_MMA, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(blas, &f8.gpu, x, y, 20, &sw, KN_GEMM_MMA, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_gemv(&f8.gpu, x, y, 2, &sw, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_gemv(&i8.gpu, x, y, 2, &swr, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(blas, &i8.gpu, x, y, 20, NULL, KN_GEMM_FP8, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(blas, &f8.gpu, x, y, 20, NULL, KN_GEMM_FP8, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(NULL, &i8.gpu, x, y, 20, NULL, KN_GEMM_CUBLAS, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(blas, &i8.gpu, x, x + 64, 20, NULL, KN_GEMM_MMA, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul(blas, &i8.gpu, x, y, 20, NULL, (kn_gemm_algo)9, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_matmul_supported(&f8.gpu, 64, KN_GEMM_FP8, err, sizeof err));
	EXPECT_ERR(kn_cuda_dequant_rows_bf16(&i8.gpu, 60, 5, y, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_quant_rows_f8(x, 0, 16, y, (float *)y, NULL, err, sizeof err));
	EXPECT_ERR(kn_cuda_blas_create(NULL, 1, 1, 0, err, sizeof err));
#undef EXPECT_ERR
	/* AUTO without a context stays on our kernels and succeeds. */
	if (kn_cuda_matmul(NULL, &i8.gpu, x, y, 40, NULL, KN_GEMM_AUTO, NULL, err, sizeof err))
		fail_msg("AUTO without context: %s", err);
	assert_int_not_equal(kn_cuda_matmul_pick(&i8.gpu, 40), KN_GEMM_GEMV);
	assert_int_equal(kn_cuda_matmul_pick(&i8.gpu, 16), KN_GEMM_GEMV);
	kct_sync();
	kn_cuda_free(x), kn_cuda_free(y);
	weight_free(&i8), weight_free(&f8);
}

static int setup(void **state)
{
	(void)state;
	char err[256];
	if (kn_cuda_blas_create(&blas, 512, 4096, 0, err, sizeof err)) {
		fprintf(stderr, "kn_cuda_blas_create: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kn_cuda_blas_free(blas);
	return 0;
}

int main(void)
{
	if (kct_require_gpu())
		return BALE_SKIP;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_helpers),  cmocka_unit_test(test_gemm_bad_args),
		cmocka_unit_test(test_gemm_shapes),    cmocka_unit_test(test_gemm_epilogues),
		cmocka_unit_test(test_gemm_chunks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
