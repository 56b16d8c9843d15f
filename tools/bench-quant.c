/* Single-thread throughput of the quantizers (MB/s of f32 input, best of 7 runs in thread CPU
 * time), with and without statistics.
 * Usage: bale_bench_quant [rows] [cols]   (default 1024 × 4096 = 16 MiB of f32) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "quant.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the build machine is shared */
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift normal-ish values (sum of uniforms): the benchmark only needs realistic magnitudes */
static float rnd(uint64_t *s)
{
	float acc = 0;
	for (int i = 0; i < 4; i++) {
		*s ^= *s << 13;
		*s ^= *s >> 7;
		*s ^= *s << 17;
		acc += (float)(*s >> 40) * 0x1p-24f - 0.5f;
	}
	return acc * 0.02f;
}

int main(int argc, char **argv)
{
	uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
	uint64_t cols = argc > 2 ? strtoull(argv[2], NULL, 10) : 4096;
	if (rows == 0 || cols == 0 || cols % 128 != 0 || rows > (1u << 20) || cols > (1u << 20)) {
		fprintf(stderr, "bale_bench_quant: rows ≥ 1, cols a multiple of 128 (≤ 2^20)\n");
		return 2;
	}
	size_t n = (size_t)(rows * cols);
	float *w = malloc(n * sizeof *w);
	void *codes = malloc(n * 4);
	float *scales = malloc((size_t)rows * (cols / 32) * sizeof *scales);
	uint16_t *b16 = malloc(n * 2);
	if (!w || !codes || !scales || !b16) {
		fprintf(stderr, "bale_bench_quant: out of memory\n");
		return 1;
	}
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < n; i++)
		w[i] = rnd(&seed);
	if (cv_quantize_rows(CV_Q_BF16, 0, w, rows, cols, b16, NULL, NULL) != 0)
		return 1;

	const struct {
		cv_qkind k;
		uint32_t g;
	} kinds[] = {{CV_Q_INT8_ROW, 0}, {CV_Q_INT8_GROUP, 32}, {CV_Q_INT8_GROUP, 128},
		     {CV_Q_FP8_ROW, 0}, {CV_Q_BF16, 0}, {CV_Q_F16, 0}, {CV_Q_F32, 0}};
	double mb = (double)n * 4 / 1e6;
	printf("%llu x %llu f32 (%.1f MB), single thread\n", (unsigned long long)rows,
	       (unsigned long long)cols, mb);
	printf("%-10s %12s %12s\n", "kind", "MB/s stats", "MB/s codes");
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		double rate[2];
		for (int with = 1; with >= 0; with--) {
			/* Best of several short trials: other jobs share this machine. */
			rate[with] = 0;
			for (int trial = 0; trial < 7; trial++) {
				cv_qstats st;
				double t0 = now();
				if (cv_quantize_rows(kinds[i].k, kinds[i].g, w, rows, cols, codes, scales,
						     with ? &st : NULL) != 0)
					return 1;
				double r = mb / (now() - t0);
				rate[with] = r > rate[with] ? r : rate[with];
			}
		}
		printf("%-10s %12.0f %12.0f\n", cv_qkind_name(kinds[i].k, kinds[i].g), rate[1], rate[0]);
	}
	/* Widening the BF16 source (the usual safetensors dtype) to f32. */
	size_t bad;
	double best = 0;
	for (int trial = 0; trial < 7; trial++) {
		double t0 = now();
		if (cv_src_to_f32(CV_SRC_BF16, b16, n, w, &bad) != 0)
			return 1;
		double r = mb / (now() - t0);
		best = r > best ? r : best;
	}
	printf("%-10s %12.0f   (MB/s of f32 output)\n", "bf16->f32", best);
	free(w);
	free(codes);
	free(scales);
	free(b16);
	return 0;
}
