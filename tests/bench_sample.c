/* Single-core sampling speed on Qwen3-size rows (152064 ids): bale_bench_sample [iterations].
 * Rows look like LM logits: a broad N(0, 2.5) bulk, a few dozen strong candidates, the padded
 * tail masked. Prints microseconds per smp_sample (+ smp_accept) for typical settings; a second
 * argument picks the configs whose name contains it. Rows rotate over NROWS (2.4 MB, more than
 * L2 on most CPUs); BALE_BENCH_ONE_ROW=1 reuses one row (cache-warm, as right after lm_head). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smp.h"
#include "testutil.h"

#define NV 152064u
#define NROWS 4

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 500;
	if (iters < 1)
		iters = 1;
	float *rows = malloc((size_t)NROWS * NV * sizeof *rows);
	if (!rows)
		return 1;
	tu_rng r = {42};
	for (int k = 0; k < NROWS; k++) {
		float *x = rows + (size_t)k * NV;
		for (uint32_t i = 0; i < NV; i++)
			x[i] = i >= 151669 ? -INFINITY : (float)(tu_rng_normal(&r) * 2.5);
		for (int j = 0; j < 40; j++)
			x[tu_rng_u64(&r) % 151669] = (float)(10.0 + tu_rng_uniform(&r) * 8.0);
	}
	struct {
		const char *name;
		float t;
		int32_t k;
		float tp, mp, rp;
	} cfg[] = {
		{"greedy", 0.0f, 0, 1.0f, 0.0f, 1.0f},
		{"qwen3 T0.6 k20 p0.95", 0.6f, 20, 0.95f, 0.0f, 1.0f},
		{"T0.7 p0.9 (no k)", 0.7f, 0, 0.9f, 0.0f, 1.0f},
		{"T1.0 p0.95 (no k)", 1.0f, 0, 0.95f, 0.0f, 1.0f},
		{"T1.0 min_p0.05", 1.0f, 0, 1.0f, 0.05f, 1.0f},
		{"T0.8 k40", 0.8f, 40, 1.0f, 0.0f, 1.0f},
		{"T1.0 plain", 1.0f, 0, 1.0f, 0.0f, 1.0f},
		{"k20 p0.95 rep1.1/64", 0.6f, 20, 0.95f, 0.0f, 1.1f},
	};
	const char *only = argc > 2 ? argv[2] : NULL;
	const char *one = getenv("BALE_BENCH_ONE_ROW");
	int nrows = one && one[0] == '1' ? 1 : NROWS;
	printf("%-24s %10s %10s   (%d row%s of %u ids)\n", "config", "us/token", "kept(avg)", nrows, nrows > 1 ? "s" : "",
	       NV);
	for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
		if (only && !strstr(cfg[c].name, only))
			continue;
		smp_params p = smp_params_default();
		p.temperature = cfg[c].t;
		p.top_k = cfg[c].k;
		p.top_p = cfg[c].tp;
		p.min_p = cfg[c].mp;
		p.repetition_penalty = cfg[c].rp;
		p.penalty_last_n = 64;
		p.seed = 7;
		smp_sampler *s = NULL;
		char err[200];
		if (smp_sampler_create(&p, NV, &s, err, sizeof err)) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		double kept = 0.0;
		if (cfg[c].t > 0.0f && cfg[c].k + cfg[c].tp + cfg[c].mp != 1.0f) {
			int32_t *ids = malloc(NV * sizeof *ids);
			float *pr = malloc(NV * sizeof *pr);
			for (int k = 0; k < NROWS; k++) {
				size_t n = 0;
				smp_probs(s, rows + (size_t)k * NV, ids, pr, NV, &n);
				kept += (double)n / NROWS;
			}
			free(ids);
			free(pr);
		}
		int32_t id = 0;
		double t0 = now();
		for (int i = 0; i < iters; i++) {
			if (smp_sample(s, rows + (size_t)(i % nrows) * NV, &id) || smp_accept(s, id)) {
				fprintf(stderr, "%s: %s\n", cfg[c].name, smp_last_error(s));
				return 1;
			}
		}
		double us = (now() - t0) / iters * 1e6;
		printf("%-24s %10.1f %10.0f\n", cfg[c].name, us, kept);
		smp_free(s);
	}
	free(rows);
	return 0;
}
