/* GPU decode-GEMV benchmark (a tool, not a test; tools/gpu-check.sh runs it).
 *
 *   bale_bench_kn_cuda [--reps N]
 *
 * 1. Copy ceiling: a 2 GiB device-to-device cudaMemcpy, counting bytes read + written.
 * 2. kn_cuda_gemv on the Qwen3-8B projection shapes for m ∈ {1, 4, 16} and each weight type
 *    (lm_head 151936×4096 at m = 1 only): median of CUDA-event timings over N runs, rotating
 *    among weight copies that together exceed 256 MiB (several times the L2), so weights come
 *    from HBM. GB/s counts weight codes + scales + x + y once.
 * 3. The anchor: cuBLAS BF16 GEMM (cublasGemmEx, f32 compute) on the same shapes and buffers.
 * A markdown table is printed last. Exit status 77 without a GPU. */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cpu.h"
#include "kn_cuda.h"

#define ROTATE_BYTES ((size_t)256 << 20)
#define MAX_ROWS 128

#define CK(call)                                                                                    \
	do {                                                                                        \
		cudaError_t e_ = (call);                                                            \
		if (e_ != cudaSuccess) {                                                            \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
			exit(1);                                                                    \
		}                                                                                   \
	} while (0)

typedef struct {
	const char *name;
	int dtype, scheme;
	uint32_t group;
} kind_t;

static const kind_t kinds[] = {
	{"bf16", KN_CUDA_BF16, KN_CUDA_SCHEME_NONE, 0},   {"i8-row", KN_CUDA_I8, KN_CUDA_SCHEME_ROW, 0},
	{"i8-g32", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 32}, {"i8-g128", KN_CUDA_I8, KN_CUDA_SCHEME_GROUP, 128},
	{"f8-row", KN_CUDA_F8_E4M3, KN_CUDA_SCHEME_ROW, 0},
};

typedef struct {
	char shape[32];
	int m;
	char kind[16];
	double us, gbs, pct;
} row_t;

static row_t rows[MAX_ROWS];
static int n_rows;
static int reps = 50;
static uint8_t *pattern; /* ROTATE_BYTES of realistic host data to upload */

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

static void add_row(const char *shape, int m, const char *kind, double us, double gbs, double copy_gbs)
{
	if (n_rows >= MAX_ROWS)
		return;
	row_t *r = &rows[n_rows++];
	snprintf(r->shape, sizeof r->shape, "%s", shape);
	r->m = m;
	snprintf(r->kind, sizeof r->kind, "%s", kind);
	r->us = us, r->gbs = gbs, r->pct = 100.0 * gbs / copy_gbs;
	printf("%-14s m=%-2d %-8s %9.1f us %8.1f GB/s %5.1f %%\n", shape, m, kind, us, gbs, r->pct);
	fflush(stdout);
}

static void make_pattern(void)
{
	pattern = malloc(ROTATE_BYTES);
	if (!pattern)
		exit(1);
	uint64_t s = 0x243F6A8885A308D3u;
	uint16_t *p16 = (uint16_t *)pattern;
	for (size_t i = 0; i < ROTATE_BYTES / 2; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		/* a BF16 of magnitude ~0.02 whose low byte also serves as a finite int8 / E4M3 code */
		float v = ((float)(s % 2001) - 1000.0f) * 2e-5f;
		p16[i] = fmt_f32_to_bf16(v);
		if ((p16[i] & 0x7F) == 0x7F)
			p16[i] ^= 0x08;
		if (((p16[i] >> 8) & 0x7F) == 0x7F)
			p16[i] ^= 0x0800;
	}
}

static double copy_bandwidth(void)
{
	size_t bytes = (size_t)2 << 30;
	void *a, *b;
	CK(cudaMalloc(&a, bytes));
	CK(cudaMalloc(&b, bytes));
	CK(cudaMemset(a, 0x5A, bytes));
	cudaEvent_t e0, e1;
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	float t[12];
	for (int i = 0; i < 14; i++) {
		CK(cudaEventRecord(e0, 0));
		CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0));
		CK(cudaEventRecord(e1, 0));
		CK(cudaEventSynchronize(e1));
		if (i >= 2)
			CK(cudaEventElapsedTime(&t[i - 2], e0, e1));
	}
	double ms = median(t, 12);
	CK(cudaFree(a));
	CK(cudaFree(b));
	CK(cudaEventDestroy(e0));
	CK(cudaEventDestroy(e1));
	double gbs = 2.0 * (double)bytes / (ms * 1e-3) / 1e9;
	printf("copy: %zu MiB D2D in %.3f ms = %.1f GB/s (read + write)\n", bytes >> 20, ms, gbs);
	return gbs;
}

static void upload(void *d, size_t bytes)
{
	size_t done = 0;
	while (done < bytes) {
		size_t c = bytes - done < ROTATE_BYTES ? bytes - done : ROTATE_BYTES;
		CK(cudaMemcpy((char *)d + done, pattern, c, cudaMemcpyHostToDevice));
		done += c;
	}
}

static void bench_shape(size_t n, size_t k, const int *ms, int n_ms, double copy_gbs, cublasHandle_t cb)
{
	char shape[32];
	snprintf(shape, sizeof shape, "%zux%zu", n, k);
	cudaEvent_t e0, e1;
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	float *t = malloc((size_t)reps * sizeof *t);
	void *x, *y;
	CK(cudaMalloc(&x, 16 * k * 2));
	CK(cudaMalloc(&y, 16 * n * 4));
	upload(x, 16 * k * 2);
	for (size_t kd = 0; kd < sizeof kinds / sizeof *kinds; kd++) {
		const kind_t *K = &kinds[kd];
		size_t wbytes = n * k * (K->dtype == KN_CUDA_BF16 ? 2 : 1);
		size_t sbytes = K->scheme == KN_CUDA_SCHEME_NONE ? 0 : n * (K->group ? k / K->group : 1) * 4;
		int nbuf = (int)((ROTATE_BYTES + wbytes - 1) / wbytes);
		if (nbuf < 2)
			nbuf = 2;
		kn_cuda_weight *w = calloc((size_t)nbuf, sizeof *w);
		for (int b = 0; b < nbuf; b++) {
			void *d, *s = NULL;
			CK(cudaMalloc(&d, wbytes));
			upload(d, wbytes);
			if (sbytes) {
				CK(cudaMalloc(&s, sbytes));
				float *hs = malloc(sbytes);
				for (size_t i = 0; i < sbytes / 4; i++)
					hs[i] = 1e-3f * (float)(1 + i % 13);
				CK(cudaMemcpy(s, hs, sbytes, cudaMemcpyHostToDevice));
				free(hs);
			}
			w[b] = (kn_cuda_weight){.dtype = K->dtype, .scheme = K->scheme, .group_size = K->group, .n = n,
						.k = k, .data = d, .scales = s};
		}
		for (int mi = 0; mi < n_ms; mi++) {
			int m = ms[mi];
			char err[256];
			for (int i = 0; i < reps + 3; i++) {
				CK(cudaEventRecord(e0, 0));
				if (kn_cuda_gemv(&w[i % nbuf], x, y, m, NULL, NULL, err, sizeof err)) {
					fprintf(stderr, "kn_cuda_gemv %s %s m=%d: %s\n", shape, K->name, m, err);
					exit(1);
				}
				CK(cudaEventRecord(e1, 0));
				CK(cudaEventSynchronize(e1));
				if (i >= 3)
					CK(cudaEventElapsedTime(&t[i - 3], e0, e1));
			}
			double ms_med = median(t, reps);
			double bytes = (double)(wbytes + sbytes) + (double)m * (double)k * 2 + (double)m * (double)n * 2;
			add_row(shape, m, K->name, ms_med * 1e3, bytes / (ms_med * 1e-3) / 1e9, copy_gbs);
		}
		if (K->dtype == KN_CUDA_BF16 && cb) {
			for (int mi = 0; mi < n_ms; mi++) {
				int m = ms[mi];
				const float alpha = 1.0f, beta = 0.0f;
				for (int i = 0; i < reps + 3; i++) {
					CK(cudaEventRecord(e0, 0));
					cublasStatus_t st = cublasGemmEx(cb, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, m, (int)k, &alpha,
									 w[i % nbuf].data, CUDA_R_16BF, (int)k, x, CUDA_R_16BF,
									 (int)k, &beta, y, CUDA_R_16BF, (int)n,
									 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
					if (st != CUBLAS_STATUS_SUCCESS) {
						fprintf(stderr, "cublasGemmEx: status %d\n", (int)st);
						exit(1);
					}
					CK(cudaEventRecord(e1, 0));
					CK(cudaEventSynchronize(e1));
					if (i >= 3)
						CK(cudaEventElapsedTime(&t[i - 3], e0, e1));
				}
				double ms_med = median(t, reps);
				double bytes = (double)wbytes + (double)m * (double)k * 2 + (double)m * (double)n * 2;
				add_row(shape, m, "cublas", ms_med * 1e3, bytes / (ms_med * 1e-3) / 1e9, copy_gbs);
			}
		}
		for (int b = 0; b < nbuf; b++) {
			CK(cudaFree((void *)w[b].data));
			if (w[b].scales)
				CK(cudaFree((void *)w[b].scales));
		}
		free(w);
	}
	CK(cudaFree(x));
	CK(cudaFree(y));
	CK(cudaEventDestroy(e0));
	CK(cudaEventDestroy(e1));
	free(t);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--reps N]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 1 || reps > 100000)
		reps = 50;
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
	make_pattern();
	double copy_gbs = copy_bandwidth();
	cublasHandle_t cb = NULL;
	if (cublasCreate(&cb) != CUBLAS_STATUS_SUCCESS) {
		fprintf(stderr, "cublasCreate failed; skipping the cuBLAS anchor\n");
		cb = NULL;
	}
	const int ms_all[] = {1, 4, 16}, ms_one[] = {1};
	const size_t shapes[][2] = {{4096, 4096}, {1024, 4096}, {24576, 4096}, {4096, 12288}};
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
		bench_shape(shapes[s][0], shapes[s][1], ms_all, 3, copy_gbs, cb);
	bench_shape(151936, 4096, ms_one, 1, copy_gbs, cb);
	if (cb)
		cublasDestroy(cb);

	printf("\n## kn_cuda_gemv on %s (copy %.0f GB/s, median of %d)\n\n", info.name, copy_gbs, reps);
	printf("| n×k | m | weights | µs | GB/s | %% of copy |\n|---|---:|---|---:|---:|---:|\n");
	for (int i = 0; i < n_rows; i++)
		printf("| %s | %d | %s | %.1f | %.0f | %.0f |\n", rows[i].shape, rows[i].m, rows[i].kind, rows[i].us,
		       rows[i].gbs, rows[i].pct);
	free(pattern);
	return 0;
}
