/* Matmul bandwidth benchmark for the CPU kernels (not a test).
 *
 *   bale_bench_kn [--threads T] [--m M] [--seconds S] [--isa auto|scalar|avx2|avx512] [--copies C]
 *
 * For each weight type and the shapes 4096×4096 and 12288×4096 (n×k, the qwen3-8b attention
 * and MLP projections), runs y = x·Wᵀ repeatedly for about S seconds and prints GB/s of weight
 * bytes (codes + scales) read per second, and the equivalent GFLOP/s. The ISA is that of
 * kn_matmul (AUTO honours BALE_KN_ISA). One weight may stay in a large last-level cache; with
 * C copies used in turn the working set is C times larger, as in a model's decode step, and the
 * figure is memory bandwidth instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kn_cpu.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Realistic values (|w| ~ 0.02, no subnormals, which would cost microcode assists): pseudo-random
 * codes for the quantized types, encoded floats for the others. */
static void fill(uint8_t *data, fmt_dtype dt, size_t count)
{
	uint64_t st = 0x9E3779B97F4A7C15u;
	for (size_t i = 0; i < count; i++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		float v = ((float)(st % 2001) - 1000.0f) * 2e-5f;
		uint8_t c = (uint8_t)(st >> 32);
		switch (dt) {
		case FMT_F32:
			memcpy(data + 4 * i, &v, 4);
			break;
		case FMT_F16: {
			uint16_t h = fmt_f32_to_f16(v);
			memcpy(data + 2 * i, &h, 2);
			break;
		}
		case FMT_BF16: {
			uint16_t h = fmt_f32_to_bf16(v);
			memcpy(data + 2 * i, &h, 2);
			break;
		}
		case FMT_I8:
			data[i] = c == 0x80 ? 0x81 : c;
			break;
		default:
			data[i] = (c & 0x7F) == 0x7F ? 0x7E : c;
			break;
		}
	}
}

int main(int argc, char **argv)
{
	int threads = 1;
	size_t m = 1;
	double seconds = 1.0;
	kn_isa isa = KN_ISA_AUTO;
	bool bad_isa = false;
	long copies = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--m"))
			m = (size_t)atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--copies"))
			copies = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--isa")) {
			bad_isa = true;
			for (int j = KN_ISA_AUTO; j <= KN_ISA_AVX512; j++)
				if (!strcmp(argv[i + 1], kn_isa_name((kn_isa)j)))
					isa = (kn_isa)j, bad_isa = false;
		}
	}
	if (threads < 1 || m < 1 || m > 512 || !(seconds > 0) || bad_isa || copies < 1 || copies > 64) {
		fprintf(stderr, "usage: bale_bench_kn [--threads T>=1] [--m 1..512] [--seconds S] "
				"[--isa auto|scalar|avx2|avx512] [--copies 1..64]\n");
		return 2;
	}
	static const struct {
		const char *name;
		fmt_dtype dt;
		fmt_scheme sc;
		uint32_t gs;
	} types[] = {
		{"f32", FMT_F32, FMT_SCHEME_NONE, 0},       {"f16", FMT_F16, FMT_SCHEME_NONE, 0},
		{"bf16", FMT_BF16, FMT_SCHEME_NONE, 0},     {"int8-row", FMT_I8, FMT_SCHEME_ROW, 0},
		{"int8-g128", FMT_I8, FMT_SCHEME_GROUP, 128}, {"int8-g32", FMT_I8, FMT_SCHEME_GROUP, 32},
		{"fp8-row", FMT_F8_E4M3, FMT_SCHEME_ROW, 0},
	};
	static const size_t shapes[][2] = {{4096, 4096}, {12288, 4096}};
	printf("threads %d, m %zu, copies %ld, isa %s (avx2 %s, avx512 %s)\n", threads, m, copies,
	       kn_isa_name(kn_isa_resolve(isa)), kn_cpu_has_avx2() ? "yes" : "no", kn_cpu_has_avx512() ? "yes" : "no");
	printf("%-10s %-12s %10s %10s %10s\n", "type", "n x k", "ms/call", "GB/s", "GFLOP/s");
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		size_t n = shapes[s][0], k = shapes[s][1];
		float *x = malloc(m * k * sizeof *x), *y = malloc(m * n * sizeof *y);
		size_t nc = (size_t)copies, ns = n * (k / 32);
		uint8_t *data = malloc(nc * n * k * 4);
		float *scales = malloc(nc * ns * sizeof *scales);
		if (!x || !y || !data || !scales) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < nc * ns; i++)
			scales[i] = 0.01f;
		for (size_t i = 0; i < m * k; i++)
			x[i] = (float)((int)(i % 17) - 8) * 0.125f;
		for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
			size_t wb = n * k * fmt_dtype_size(types[t].dt);
			fill(data, types[t].dt, n * k);
			for (size_t c = 1; c < nc; c++)
				memcpy(data + c * wb, data, wb);
			kn_weight w = {types[t].dt, types[t].sc, types[t].gs, n, k, data,
				       types[t].sc == FMT_SCHEME_NONE ? NULL : scales};
			size_t groups = types[t].sc == FMT_SCHEME_GROUP ? k / types[t].gs
				      : types[t].sc == FMT_SCHEME_ROW ? 1 : 0;
			double bytes = (double)n * k * fmt_dtype_size(types[t].dt) + (double)n * groups * 4;
			kn_exec ex = {threads, isa};
			if (kn_matmul(y, x, m, &w, &ex) != 0) { /* warm-up */
				fprintf(stderr, "matmul failed for %s\n", types[t].name);
				return 1;
			}
			int iters = 0;
			double t0 = now(), el;
			do {
				size_t c = (size_t)iters % nc;
				w.data = data + c * wb;
				w.scales = w.scales ? scales + c * ns : NULL;
				kn_matmul(y, x, m, &w, &ex);
				iters++;
				el = now() - t0;
			} while (el < seconds);
			double per = el / iters;
			char shape[32];
			snprintf(shape, sizeof shape, "%zux%zu", n, k);
			printf("%-10s %-12s %10.2f %10.2f %10.2f\n", types[t].name, shape, per * 1e3, bytes / per / 1e9,
			       2.0 * m * n * k / per / 1e9);
		}
		free(x), free(y), free(data), free(scales);
	}
	return 0;
}
