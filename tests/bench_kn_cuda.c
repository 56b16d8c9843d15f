/* GPU matmul benchmark (a tool, not a test; tools/gpu-check.sh runs it).
 *
 *   bale_bench_kn_cuda [--reps N] [--budget-ms T] [--deadline-s S]
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
 * A markdown table is printed last. Exit status 77 without a GPU.
 *
 * Bounded run time (this runs inside a GPU session of a few minutes): every wait on the device
 * polls with a timeout (a call that takes longer than CALL_TIMEOUT_S is taken as hung: the
 * table so far is printed and the process exits 1, since a hung kernel cannot be cancelled), a
 * row stops after ROW_WALL_S of wall time, rows not started by --deadline-s (default 150 s) are
 * skipped, and SIGALRM ends the process shortly after that whatever it is blocked in. A row whose
 * call fails is reported as FAIL with the reason and the others still run (exit status 1 at
 * the end); a sticky CUDA error (the context is lost) ends the run after printing the table. */
#include <cuda_runtime_api.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kn_cuda.h"
#include "kn_cuda_gemm.h"

#define ROTATE_BYTES ((size_t)256 << 20)
#define MAX_ROWS 512
#define MAX_M 2048
#define MAX_K 12288
#define CALL_TIMEOUT_S 20.0 /* one call (or warm-up pair) longer than this is a hang */
#define ROW_WALL_S 3.0      /* wall-clock cap of one row's timed loop */
#define HARD_EXTRA_S 30     /* SIGALRM this long after the deadline */

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Setup calls: a failure here leaves nothing to measure. */
#define CK(call)                                                                              \
	do {                                                                                  \
		cudaError_t e_ = (call);                                                      \
		if (e_ != cudaSuccess)                                                        \
			fatal("%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
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
	char fail[160]; /* non-empty: the row failed, with the reason */
} row_t;

static row_t rows[MAX_ROWS];
static int n_rows, n_failed, n_skipped, n_groups_skipped;
static int reps = 50;
static double budget_ms = 60.0, deadline_s = 150.0;
static double copy_gbs, peak_tflops, t_start, t_deadline;
static kn_cuda_blas *blas;
static cudaEvent_t ev0, ev1;
static void *xbuf, *ybuf;
static const char *dev_name = "?";

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

static void print_table(void)
{
	printf("\n## kn_cuda_matmul on %s (copy %.0f GB/s, cuBLAS BF16 %.0f TFLOP/s, median of <= %d, %.0f s)\n\n",
	       dev_name, copy_gbs, peak_tflops, reps, now_s() - t_start);
	printf("| shape | M | weights | path | µs | GB/s | %% of copy | TFLOP/s | × cuBLAS BF16 |\n"
	       "|---|---:|---|---|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < n_rows; i++) {
		const row_t *r = &rows[i];
		if (r->fail[0])
			printf("| %s | %d | %s | %s | FAIL: %s | | | | |\n", r->shape, r->m, r->kind, r->algo, r->fail);
		else if (r->m <= KN_CUDA_GEMV_MAX_M)
			printf("| %s | %d | %s | %s | %.1f | %.0f | %.0f | | %.2f |\n", r->shape, r->m, r->kind, r->algo, r->us,
			       r->gbs, r->pct, r->vs_cublas);
		else
			printf("| %s | %d | %s | %s | %.1f | | | %.1f | %.2f |\n", r->shape, r->m, r->kind, r->algo, r->us,
			       r->tflops, r->vs_cublas);
	}
	if (n_failed)
		printf("\n%d row(s) FAILED\n", n_failed);
	if (n_skipped || n_groups_skipped)
		printf("\nincomplete: %d row(s) and %d (shape, weights) group(s) skipped at the %.0f s deadline "
		       "(--deadline-s)\n",
		       n_skipped, n_groups_skipped, deadline_s);
	fflush(stdout);
}

/* The device may be hung or its context lost: print what was measured and leave without the
 * runtime's teardown (which could wait on the hung kernel). */
static void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_kn_cuda: fatal: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	fflush(stderr);
	print_table();
	_exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "\nbench_kn_cuda: hard time limit reached (blocked in a CUDA call?); exiting\n";
	ssize_t w = write(2, msg, sizeof msg - 1);
	(void)w;
	_exit(124);
}

/* Waits for ev with a timeout instead of cudaEventSynchronize (which would wait forever on a
 * hung kernel): 0 when done, -1 on a CUDA error (reason in err), -2 on timeout. */
static int wait_event(cudaEvent_t ev, double timeout_s, char *err, size_t errlen)
{
	const double t0 = now_s();
	const struct timespec nap = {0, 20000};
	for (;;) {
		cudaError_t e = cudaEventQuery(ev);
		if (e == cudaSuccess)
			return 0;
		if (e != cudaErrorNotReady) {
			snprintf(err, errlen, "%s", cudaGetErrorString(e));
			return -1;
		}
		if (now_s() - t0 > timeout_s) {
			snprintf(err, errlen, "no completion after %.0f s", timeout_s);
			return -2;
		}
		nanosleep(&nap, NULL);
	}
}

/* After a failed call: drain the stream (bounded) and tell a recoverable failure (a refused
 * argument, a library status) from a lost context or a hang, which end the run. */
static void check_device_alive(const char *what)
{
	char err[256];
	cudaError_t e = cudaEventRecord(ev1, 0);
	if (e != cudaSuccess)
		fatal("%s: then cudaEventRecord: %s", what, cudaGetErrorString(e));
	int rc = wait_event(ev1, CALL_TIMEOUT_S, err, sizeof err);
	if (rc)
		fatal("%s: then waiting for the device: %s", what, err);
	cudaGetLastError(); /* a non-sticky error of the failed call must not leak into the next row */
}

static int fill(void *d, int dtype, size_t count, uint64_t seed, float lo, float hi)
{
	char err[256];
	if (kn_cuda_fill_random(d, dtype, count, seed, lo, hi, NULL, err, sizeof err)) {
		fprintf(stderr, "fill: %s\n", err);
		return -1;
	}
	return 0;
}

/* A runner launches one call on the default stream for rotation index i. */
typedef int (*runner_fn)(void *ctx, int i, char *err, size_t errlen);

/* Median device time in ms: 2 warm-up calls, then up to `reps` timed calls or about budget_ms
 * (and at most ROW_WALL_S of wall time). Returns -1 with the reason in err when a call fails
 * (the device is still usable: check_device_alive has run); a hang or a lost context is fatal. */
static double time_runs(runner_fn f, void *ctx, const char *what, char *err, size_t errlen)
{
	static float t[100000];
	char why[256];
	for (int i = 0; i < 2; i++)
		if (f(ctx, i, err, errlen)) {
			check_device_alive(what);
			return -1.0;
		}
	CK(cudaEventRecord(ev1, 0));
	int rc = wait_event(ev1, CALL_TIMEOUT_S, why, sizeof why);
	if (rc)
		fatal("%s: warm-up: %s", what, why);
	int n = 0;
	double spent = 0.0;
	const double row_t0 = now_s();
	while (n < reps && (n < 3 || (spent < budget_ms && now_s() - row_t0 < ROW_WALL_S))) {
		CK(cudaEventRecord(ev0, 0));
		if (f(ctx, n + 2, err, errlen)) {
			check_device_alive(what);
			return -1.0;
		}
		CK(cudaEventRecord(ev1, 0));
		if ((rc = wait_event(ev1, CALL_TIMEOUT_S, why, sizeof why)))
			fatal("%s: %s", what, why);
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
	char why[256];
	CK(cudaMalloc(&a, bytes));
	CK(cudaMalloc(&b, bytes));
	CK(cudaMemsetAsync(a, 0x5A, bytes, 0));
	float t[12];
	for (int i = 0; i < 14; i++) {
		CK(cudaEventRecord(ev0, 0));
		CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0));
		CK(cudaEventRecord(ev1, 0));
		if (wait_event(ev1, CALL_TIMEOUT_S, why, sizeof why))
			fatal("copy bandwidth: %s", why);
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
	char err[512];
	double tf = 0.0, ms_med = -1.0;
	if (!fill(c.w, KN_CUDA_BF16, (size_t)d * d, 1, -1.0f, 1.0f) &&
	    !fill(c.x, KN_CUDA_BF16, (size_t)d * d, 2, -1.0f, 1.0f))
		ms_med = time_runs(run_cublas_bf16, &c, "cublas peak", err, sizeof err);
	else
		snprintf(err, sizeof err, "fill failed");
	if (ms_med > 0) {
		tf = 2.0 * d * (double)d * d / (ms_med * 1e-3) / 1e12;
		printf("cuBLAS BF16 GEMM %dx%dx%d: %.3f ms = %.1f TFLOP/s\n", d, d, d, ms_med, tf);
	} else {
		printf("cuBLAS BF16 GEMM %dx%dx%d: FAIL: %s\n", d, d, d, err);
		n_failed++;
	}
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

/* ms_med < 0: the row failed with the reason `fail`. */
static void add_row(const shape_t *s, int m, const char *kind, const char *algo, double ms_med, double wbytes,
		    double anchor_ms, const char *fail)
{
	if (ms_med < 0) {
		n_failed++;
		printf("%-8s M=%-5d %-8s %-7s FAIL: %s\n", s->name, m, kind, algo, fail);
		fflush(stdout);
	}
	if (n_rows >= MAX_ROWS)
		return;
	row_t *r = &rows[n_rows++];
	memset(r, 0, sizeof *r);
	snprintf(r->shape, sizeof r->shape, "%s", s->name);
	r->m = m;
	snprintf(r->kind, sizeof r->kind, "%s", kind);
	snprintf(r->algo, sizeof r->algo, "%s", algo);
	if (ms_med < 0) {
		snprintf(r->fail, sizeof r->fail, "%s", fail);
		return;
	}
	r->us = ms_med * 1e3;
	r->gbs = wbytes / (ms_med * 1e-3) / 1e9;
	r->pct = copy_gbs > 0 ? 100.0 * r->gbs / copy_gbs : 0.0;
	r->tflops = 2.0 * m * (double)s->n * (double)s->k / (ms_med * 1e-3) / 1e12;
	r->vs_cublas = anchor_ms > 0 ? anchor_ms / ms_med : 0.0;
	printf("%-8s M=%-5d %-8s %-7s %10.1f us %8.0f GB/s %5.1f %% %7.1f TFLOP/s %5.2fx cuBLAS\n", r->shape, m, kind,
	       algo, r->us, r->gbs, r->pct, r->tflops, r->vs_cublas);
	fflush(stdout);
}

/* Before starting a row: past the deadline it is counted as skipped instead. */
static int row_allowed(void)
{
	if (now_s() < t_deadline)
		return 1;
	n_skipped++;
	return 0;
}

static void free_weights(kn_cuda_weight *w, int nbuf)
{
	for (int b = 0; b < nbuf; b++) {
		cudaFree((void *)w[b].data);
		cudaFree((void *)w[b].scales);
	}
	free(w);
}

/* nbuf device copies of a weight; NULL (reason printed, error state cleared) when they do not fit. */
static kn_cuda_weight *make_weights(const shape_t *s, const kind_t *K, size_t wbytes, size_t ns, int nbuf)
{
	kn_cuda_weight *w = calloc((size_t)nbuf, sizeof *w);
	if (!w)
		return NULL;
	for (int b = 0; b < nbuf; b++) {
		void *d = NULL, *sc = NULL;
		cudaError_t e = cudaMalloc(&d, wbytes);
		if (e == cudaSuccess && ns)
			e = cudaMalloc(&sc, ns * 4);
		w[b] = (kn_cuda_weight){.dtype = K->dtype, .scheme = K->scheme, .group_size = K->group, .n = s->n,
					.k = s->k, .data = d, .scales = sc};
		if (e != cudaSuccess) {
			fprintf(stderr, "%s %s: weight copy %d: %s\n", s->name, K->name, b, cudaGetErrorString(e));
			cudaGetLastError();
			free_weights(w, b + 1);
			return NULL;
		}
		if (fill(d, K->dtype, s->n * s->k, 100 + (uint64_t)b, -0.05f, 0.05f) ||
		    (ns && fill(sc, KN_CUDA_F32, ns, 200 + (uint64_t)b, 1e-4f, 1e-3f))) {
			free_weights(w, b + 1);
			return NULL;
		}
	}
	return w;
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
		if (now_s() >= t_deadline) {
			n_groups_skipped++;
			continue;
		}
		kn_cuda_weight *w = make_weights(s, K, wbytes, ns, nbuf);
		if (!w) {
			add_row(s, 0, K->name, "setup", -1.0, 0, 0, "weight allocation or fill failed");
			continue;
		}
		const double traffic = (double)wbytes + (double)ns * 4.0;
		char err[512], what[96];
		if (K->dtype == KN_CUDA_BF16) {
			/* the anchor first: cuBLAS BF16 on the same weights */
			for (size_t mi = 0; mi < N_MS; mi++) {
				if (!row_allowed())
					continue;
				cb_rot_ctx c = {w, nbuf, ms[mi]};
				snprintf(what, sizeof what, "%s %s M=%d cublas-bf16", s->name, K->name, ms[mi]);
				anchor[mi] = time_runs(run_cublas_rot, &c, what, err, sizeof err);
				add_row(s, ms[mi], K->name, "cublas-bf16", anchor[mi], traffic, anchor[mi], err);
			}
		}
		for (size_t mi = 0; mi < N_MS; mi++) {
			const int m = ms[mi];
			const kn_gemm_algo small[] = {KN_GEMM_GEMV}, large[] = {KN_GEMM_MMA, KN_GEMM_CUBLAS, KN_GEMM_FP8};
			const kn_gemm_algo *al = m <= KN_CUDA_GEMV_MAX_M ? small : large;
			const int n_al = m <= KN_CUDA_GEMV_MAX_M ? 1 : 3;
			for (int a = 0; a < n_al; a++) {
				if (kn_cuda_matmul_supported(&w[0], m, al[a], err, sizeof err))
					continue; /* FP8 on non-F8 weights or before sm_89 */
				if (!row_allowed())
					continue;
				mm_ctx c = {w, nbuf, m, al[a]};
				snprintf(what, sizeof what, "%s %s M=%d %s", s->name, K->name, m, kn_gemm_algo_name(al[a]));
				double t = time_runs(run_matmul, &c, what, err, sizeof err);
				add_row(s, m, K->name, kn_gemm_algo_name(al[a]), t, traffic, anchor[mi], err);
			}
		}
		free_weights(w, nbuf);
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--budget-ms") && i + 1 < argc)
			budget_ms = atof(argv[++i]);
		else if (!strcmp(argv[i], "--deadline-s") && i + 1 < argc)
			deadline_s = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--reps N] [--budget-ms T] [--deadline-s S]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 3 || reps > 100000)
		reps = 50;
	if (!(budget_ms > 0))
		budget_ms = 60.0;
	if (!(deadline_s > 0 && deadline_s < 86400))
		deadline_s = 150.0;
	t_start = now_s();
	t_deadline = t_start + deadline_s;
	signal(SIGALRM, on_alarm);
	alarm((unsigned)deadline_s + HARD_EXTRA_S);
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
	dev_name = info.name;
	int l2 = 0;
	CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
	printf("device: %s, sm_%d%d, %d SMs, L2 %d MiB, driver %d, runtime %d\n", info.name, info.major, info.minor,
	       info.n_sms, l2 >> 20, info.driver_version, info.runtime_version);
	fflush(stdout);
	CK(cudaEventCreate(&ev0));
	CK(cudaEventCreate(&ev1));
	if (kn_cuda_blas_create(&blas, MAX_M, MAX_K, (size_t)256 << 20, why, sizeof why))
		fatal("%s", why);
	copy_gbs = copy_bandwidth();
	peak_tflops = cublas_peak();
	CK(cudaMalloc(&xbuf, (size_t)MAX_M * MAX_K * 2));
	CK(cudaMalloc(&ybuf, (size_t)MAX_M * 151936 * 2));
	if (fill(xbuf, KN_CUDA_BF16, (size_t)MAX_M * MAX_K, 7, -1.0f, 1.0f))
		fatal("activation fill failed");
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
		bench_shape(&shapes[s]);
	CK(cudaFree(xbuf));
	CK(cudaFree(ybuf));
	kn_cuda_blas_free(blas);
	alarm(0);
	print_table();
	return n_failed ? 1 : 0;
}
