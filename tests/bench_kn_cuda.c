/* GPU matmul benchmark (a tool, not a test; tools/gpu-check.sh runs it).
 *
 *   bale_bench_kn_cuda [--reps N] [--budget-ms T]
 *
 * 1. Ceilings: a 2 GiB device-to-device cudaMemcpy (bytes read + written) and a large cuBLAS
 *    BF16 GEMM (8192³, TFLOP/s).
 * 2. kn_cuda_matmul on the DeepSeek-R1-0528-Qwen3-8B projections (qkv fused 6144×4096, o
 *    4096×4096, gate+up fused 24576×4096, down 4096×12288, lm_head 151936×4096) for
 *    M ∈ {1, 4, 16, 64, 512, 2048}, each weight kind and each path that applies (GEMV for
 *    M ≤ 16; MMA, CUBLAS and FP8 for M ≥ 64), plus cuBLAS BF16 on the same shape as the anchor.
 *    Median of CUDA-event timings, at most N runs and about T ms of measured time per row,
 *    rotating among weight copies that together exceed 256 MiB (several times the L2), so
 *    weights come from HBM. Weights are generated on the device (kn_cuda_fill_random).
 *    M ≤ 16: GB/s of weight traffic (codes + scales) and % of copy bandwidth;
 *    M ≥ 64: TFLOP/s (2·M·n·k) and the ratio to cuBLAS BF16 on the same shape.
 * A markdown table is printed last. Exit status 77 without a GPU. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kn_cuda.h"
#include "kn_cuda_gemm.h"

#define ROTATE_BYTES ((size_t)256 << 20)
#define MAX_ROWS 512
#define MAX_M 2048
#define MAX_K 12288

#define CK(call)                                                                                           \
	do {                                                                                               \
		cudaError_t e_ = (call);                                                                   \
		if (e_ != cudaSuccess) {                                                                   \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
			exit(1);                                                                           \
		}                                                                                          \
	} while (0)

typedef struct {
	const char *name;
	int dtype, scheme;
	uint32_t group;
} kind_t;

static const kind_t kinds[] = {
	{"bf16", KN_CUDA_BF16, KN_CUDA_SCHEME_NONE, 0},     {"i8-row", KN_CUDA_I8, KN_CUDA_SCHEME_ROW, 0},
	{"i8-g32", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 32},   {"i8-g128", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 128},
	{"f8-row", KN_CUDA_F8_E4M3, KN_CUDA_SCHEME_ROW, 0},
};
#define N_KINDS (sizeof kinds / sizeof *kinds)

typedef struct {
	const char *name;
	size_t n, k;
} shape_t;

static const shape_t shapes[] = {
	{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 24576, 4096}, {"down", 4096, 12288}, {"lm_head", 151936, 4096},
};
static const int ms[] = {1, 4, 16, 64, 512, 2048};
#define N_MS (sizeof ms / sizeof *ms)

typedef struct {
	char shape[16];
	int m;
	char kind[12], algo[12];
	double us, gbs, pct, tflops, vs_cublas;
} row_t;

static row_t rows[MAX_ROWS];
static int n_rows;
static int reps = 50;
static double budget_ms = 60.0;
static double copy_gbs;
static kn_cuda_blas *blas;
static cudaEvent_t ev0, ev1;
static void *xbuf, *ybuf;

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static float median(float *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_float);
	return v[n / 2];
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(void *d, int dtype, size_t count, uint64_t seed, float lo, float hi)
{
	char err[256];
	if (kn_cuda_fill_random(d, dtype, count, seed, lo, hi, NULL, err, sizeof err)) {
		fprintf(stderr, "fill: %s\n", err);
		exit(1);
	}
}

/* A runner launches one call on the default stream for rotation index i. */
typedef int (*runner_fn)(void *ctx, int i, char *err, size_t errlen);

/* Median device time in ms: 2 warm-up calls, then up to `reps` timed calls or about budget_ms. */
static double time_runs(runner_fn f, void *ctx, const char *what)
{
	static float t[100000];
	char err[512];
	for (int i = 0; i < 2; i++)
		if (f(ctx, i, err, sizeof err)) {
			fprintf(stderr, "%s: %s\n", what, err);
			exit(1);
		}
	CK(cudaDeviceSynchronize());
	int n = 0;
	double spent = 0.0;
	while (n < reps && (n < 3 || spent < budget_ms)) {
		CK(cudaEventRecord(ev0, 0));
		if (f(ctx, n + 2, err, sizeof err)) {
			fprintf(stderr, "%s: %s\n", what, err);
			exit(1);
		}
		CK(cudaEventRecord(ev1, 0));
		CK(cudaEventSynchronize(ev1));
		CK(cudaEventElapsedTime(&t[n], ev0, ev1));
		spent += t[n];
		n++;
	}
	return median(t, n);
}

static double copy_bandwidth(void)
{
	size_t bytes = (size_t)2 << 30;
	void *a, *b;
	CK(cudaMalloc(&a, bytes));
	CK(cudaMalloc(&b, bytes));
	CK(cudaMemset(a, 0x5A, bytes));
	float t[12];
	for (int i = 0; i < 14; i++) {
		CK(cudaEventRecord(ev0, 0));
		CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0));
		CK(cudaEventRecord(ev1, 0));
		CK(cudaEventSynchronize(ev1));
		if (i >= 2)
			CK(cudaEventElapsedTime(&t[i - 2], ev0, ev1));
	}
	double ms_med = median(t, 12);
	CK(cudaFree(a));
	CK(cudaFree(b));
	double gbs = 2.0 * (double)bytes / (ms_med * 1e-3) / 1e9;
	printf("copy: %zu MiB D2D in %.3f ms = %.1f GB/s (read + write)\n", bytes >> 20, ms_med, gbs);
	return gbs;
}

typedef struct {
	void *w, *x, *y;
	int m, n, k;
} cublas_ctx;

static int run_cublas_bf16(void *ctx, int i, char *err, size_t errlen)
{
	(void)i;
	cublas_ctx *c = ctx;
	return kn_cuda_cublas_bf16(blas, c->w, c->x, c->y, c->m, c->n, c->k, NULL, err, errlen);
}

static double cublas_peak(void)
{
	const int d = 8192;
	cublas_ctx c = {NULL, NULL, NULL, d, d, d};
	CK(cudaMalloc(&c.w, (size_t)d * d * 2));
	CK(cudaMalloc(&c.x, (size_t)d * d * 2));
	CK(cudaMalloc(&c.y, (size_t)d * d * 2));
	fill(c.w, KN_CUDA_BF16, (size_t)d * d, 1, -1.0f, 1.0f);
	fill(c.x, KN_CUDA_BF16, (size_t)d * d, 2, -1.0f, 1.0f);
	double ms_med = time_runs(run_cublas_bf16, &c, "cublas peak");
	double tf = 2.0 * d * (double)d * d / (ms_med * 1e-3) / 1e12;
	printf("cuBLAS BF16 GEMM %dx%dx%d: %.3f ms = %.1f TFLOP/s\n", d, d, d, ms_med, tf);
	CK(cudaFree(c.w));
	CK(cudaFree(c.x));
	CK(cudaFree(c.y));
	return tf;
}

typedef struct {
	kn_cuda_weight *w;
	int nbuf, m;
	kn_gemm_algo algo;
} mm_ctx;

static int run_matmul(void *ctx, int i, char *err, size_t errlen)
{
	mm_ctx *c = ctx;
	return kn_cuda_matmul(blas, &c->w[i % c->nbuf], xbuf, ybuf, c->m, NULL, c->algo, NULL, err, errlen);
}

typedef struct {
	kn_cuda_weight *w;
	int nbuf, m;
} cb_rot_ctx;

static int run_cublas_rot(void *ctx, int i, char *err, size_t errlen)
{
	cb_rot_ctx *c = ctx;
	const kn_cuda_weight *w = &c->w[i % c->nbuf];
	return kn_cuda_cublas_bf16(blas, w->data, xbuf, ybuf, c->m, (int)w->n, (int)w->k, NULL, err, errlen);
}

static void add_row(const shape_t *s, int m, const char *kind, const char *algo, double ms_med, double wbytes,
		    double anchor_ms)
{
	if (n_rows >= MAX_ROWS)
		return;
	row_t *r = &rows[n_rows++];
	snprintf(r->shape, sizeof r->shape, "%s", s->name);
	r->m = m;
	snprintf(r->kind, sizeof r->kind, "%s", kind);
	snprintf(r->algo, sizeof r->algo, "%s", algo);
	r->us = ms_med * 1e3;
	r->gbs = wbytes / (ms_med * 1e-3) / 1e9;
	r->pct = 100.0 * r->gbs / copy_gbs;
	r->tflops = 2.0 * m * (double)s->n * (double)s->k / (ms_med * 1e-3) / 1e12;
	r->vs_cublas = anchor_ms > 0 ? anchor_ms / ms_med : 0.0;
	printf("%-8s M=%-5d %-8s %-7s %10.1f us %8.0f GB/s %5.1f %% %7.1f TFLOP/s %5.2fx cuBLAS\n", r->shape, m, kind,
	       algo, r->us, r->gbs, r->pct, r->tflops, r->vs_cublas);
	fflush(stdout);
}

static void bench_shape(const shape_t *s)
{
	double anchor[N_MS] = {0};
	for (size_t kd = 0; kd < N_KINDS; kd++) {
		const kind_t *K = &kinds[kd];
		size_t wbytes = s->n * s->k * (K->dtype == KN_CUDA_BF16 ? 2 : 1);
		size_t ns = K->scheme == KN_CUDA_SCHEME_NONE ? 0 : s->n * (K->group ? s->k / K->group : 1);
		int nbuf = (int)((ROTATE_BYTES + wbytes - 1) / wbytes);
		if (nbuf < 2)
			nbuf = 2;
		kn_cuda_weight *w = calloc((size_t)nbuf, sizeof *w);
		if (!w)
			exit(1);
		for (int b = 0; b < nbuf; b++) {
			void *d, *sc = NULL;
			CK(cudaMalloc(&d, wbytes));
			fill(d, K->dtype, s->n * s->k, 100 + (uint64_t)b, -0.05f, 0.05f);
			if (ns) {
				CK(cudaMalloc(&sc, ns * 4));
				fill(sc, KN_CUDA_F32, ns, 200 + (uint64_t)b, 1e-4f, 1e-3f);
			}
			w[b] = (kn_cuda_weight){.dtype = K->dtype, .scheme = K->scheme, .group_size = K->group, .n = s->n,
						.k = s->k, .data = d, .scales = sc};
		}
		const double traffic = (double)wbytes + (double)ns * 4.0;
		if (K->dtype == KN_CUDA_BF16) {
			/* the anchor first: cuBLAS BF16 on the same weights */
			for (size_t mi = 0; mi < N_MS; mi++) {
				cb_rot_ctx c = {w, nbuf, ms[mi]};
				anchor[mi] = time_runs(run_cublas_rot, &c, "cublas bf16");
				add_row(s, ms[mi], K->name, "cublas-bf16", anchor[mi], traffic, anchor[mi]);
			}
		}
		for (size_t mi = 0; mi < N_MS; mi++) {
			const int m = ms[mi];
			const kn_gemm_algo small[] = {KN_GEMM_GEMV}, large[] = {KN_GEMM_MMA, KN_GEMM_CUBLAS, KN_GEMM_FP8};
			const kn_gemm_algo *al = m <= KN_CUDA_GEMV_MAX_M ? small : large;
			const int n_al = m <= KN_CUDA_GEMV_MAX_M ? 1 : 3;
			for (int a = 0; a < n_al; a++) {
				char err[256];
				if (kn_cuda_matmul_supported(&w[0], m, al[a], err, sizeof err))
					continue; /* FP8 on non-F8 weights or before sm_89 */
				mm_ctx c = {w, nbuf, m, al[a]};
				char what[96];
				snprintf(what, sizeof what, "%s %s M=%d %s", s->name, K->name, m, kn_gemm_algo_name(al[a]));
				double t = time_runs(run_matmul, &c, what);
				add_row(s, m, K->name, kn_gemm_algo_name(al[a]), t, traffic, anchor[mi]);
			}
		}
		for (int b = 0; b < nbuf; b++) {
			CK(cudaFree((void *)w[b].data));
			if (w[b].scales)
				CK(cudaFree((void *)w[b].scales));
		}
		free(w);
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--budget-ms") && i + 1 < argc)
			budget_ms = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--reps N] [--budget-ms T]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 3 || reps > 100000)
		reps = 50;
	if (!(budget_ms > 0))
		budget_ms = 60.0;
	char why[512] = "";
	if (kn_cuda_device_count(why, sizeof why) <= 0) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	kn_cuda_device_info info;
	if (kn_cuda_device_info_get(0, &info, why, sizeof why)) {
		fprintf(stderr, "%s\n", why);
		return 1;
	}
	int l2 = 0;
	CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
	printf("device: %s, sm_%d%d, %d SMs, L2 %d MiB, driver %d, runtime %d\n", info.name, info.major, info.minor,
	       info.n_sms, l2 >> 20, info.driver_version, info.runtime_version);
	const double t0 = now_s();
	CK(cudaEventCreate(&ev0));
	CK(cudaEventCreate(&ev1));
	if (kn_cuda_blas_create(&blas, MAX_M, MAX_K, (size_t)256 << 20, why, sizeof why)) {
		fprintf(stderr, "%s\n", why);
		return 1;
	}
	copy_gbs = copy_bandwidth();
	const double peak = cublas_peak();
	CK(cudaMalloc(&xbuf, (size_t)MAX_M * MAX_K * 2));
	CK(cudaMalloc(&ybuf, (size_t)MAX_M * 151936 * 2));
	fill(xbuf, KN_CUDA_BF16, (size_t)MAX_M * MAX_K, 7, -1.0f, 1.0f);
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
		bench_shape(&shapes[s]);
	CK(cudaFree(xbuf));
	CK(cudaFree(ybuf));
	kn_cuda_blas_free(blas);

	printf("\n## kn_cuda_matmul on %s (copy %.0f GB/s, cuBLAS BF16 %.0f TFLOP/s, median of <= %d, %.0f s)\n\n",
	       info.name, copy_gbs, peak, reps, now_s() - t0);
	printf("| shape | M | weights | path | µs | GB/s | %% of copy | TFLOP/s | × cuBLAS BF16 |\n"
	       "|---|---:|---|---|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < n_rows; i++) {
		const row_t *r = &rows[i];
		if (r->m <= KN_CUDA_GEMV_MAX_M)
			printf("| %s | %d | %s | %s | %.1f | %.0f | %.0f | | %.2f |\n", r->shape, r->m, r->kind, r->algo, r->us,
			       r->gbs, r->pct, r->vs_cublas);
		else
			printf("| %s | %d | %s | %s | %.1f | | | %.1f | %.2f |\n", r->shape, r->m, r->kind, r->algo, r->us,
			       r->tflops, r->vs_cublas);
	}
	return 0;
}
