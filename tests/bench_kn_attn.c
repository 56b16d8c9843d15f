/* Attention benchmark (a tool, not a test): the paged KV cache kernels at the 8B's attention shape
 * (32 query heads, 8 kv heads, head_dim 128, one layer, pages of 16 tokens, random K/V from
 * kn_cuda_kv_fill_random).
 *
 *   bale_bench_kn_attn [--reps N]
 *
 * 1. A 1 GiB device-to-device copy: the bandwidth ceiling (bytes read + written).
 * 2. Decode, one sequence at 8K, 32K and 64K positions, BF16 and FP8: GB/s of K/V (+ scales) read
 *    and % of the copy bandwidth; splits from kn_cuda_attn_decode_splits.
 * 3. Prefill of T = 512, 2048, 8192 new tokens at p0 = 0 (causal), MMA and SIMPLE (SIMPLE only up
 *    to 2048): TFLOP/s counting 4·head_dim·n_heads·Σ(p0 + i + 1) (QKᵀ and PV).
 * Median of CUDA-event timings. Prints a markdown table under "## kn_cuda_attn". Exit 77 without a
 * GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cuda.h"
#include "kn_cuda_attn.h"

#define NH 32
#define NKV 8
#define HD 128
#define PT 16

static void die(const char *what, const char *err)
{
	fprintf(stderr, "bale_bench_kn_attn: %s: %s\n", what, err);
	exit(1);
}

static void *dalloc(size_t bytes)
{
	char err[256];
	void *p;
	if (kn_cuda_malloc(&p, bytes, err, sizeof err))
		die("malloc", err);
	return p;
}

static int cmp_f(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

typedef int (*run_fn)(void *ctx, char *err, size_t errlen);

/* Median milliseconds of reps runs of fn (after one warm-up). */
static float time_ms(run_fn fn, void *ctx, int reps)
{
	char err[256];
	void *e0, *e1;
	float t[64];
	if (reps > 64)
		reps = 64;
	if (kn_cuda_event_create(&e0, err, sizeof err) || kn_cuda_event_create(&e1, err, sizeof err))
		die("event", err);
	if (fn(ctx, err, sizeof err) || kn_cuda_synchronize(NULL, err, sizeof err))
		die("warm-up", err);
	for (int i = 0; i < reps; i++) {
		if (kn_cuda_event_record(e0, NULL, err, sizeof err) || fn(ctx, err, sizeof err) ||
		    kn_cuda_event_record(e1, NULL, err, sizeof err) || kn_cuda_event_sync(e1, err, sizeof err) ||
		    kn_cuda_event_elapsed_ms(&t[i], e0, e1, err, sizeof err))
			die("timed run", err);
	}
	kn_cuda_event_destroy(e0);
	kn_cuda_event_destroy(e1);
	qsort(t, (size_t)reps, sizeof *t, cmp_f);
	return t[reps / 2];
}

typedef struct {
	void *dst, *src;
	size_t bytes;
	kn_cuda_kv kv;
	void *q, *out, *lens, *ptab, *work;
	int n, splits, T, impl;
} ctx_t;

static int run_copy(void *c, char *err, size_t errlen)
{
	ctx_t *x = c;
	return kn_cuda_memcpy_d2d_async(x->dst, x->src, x->bytes, NULL, err, errlen);
}

static int run_decode(void *c, char *err, size_t errlen)
{
	ctx_t *x = c;
	return kn_cuda_attn_decode(&x->kv, 0, x->q, (NH + 2 * NKV) * HD, x->out, 1, x->lens, x->ptab, x->kv.n_pages, NH,
				   x->splits, x->work, NULL, err, errlen);
}

static int run_prefill(void *c, char *err, size_t errlen)
{
	ctx_t *x = c;
	return kn_cuda_attn_prefill_impl(&x->kv, 0, x->q, (NH + 2 * NKV) * HD, x->out, x->T, 0, x->ptab, NH, x->impl,
					 NULL, err, errlen);
}

int main(int argc, char **argv)
{
	int reps = 21;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
	if (reps < 1)
		reps = 1;
	char why[256], err[256];
	kn_cuda_device_info info;
	if (kn_cuda_device_count(why, sizeof why) < 1) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	if (kn_cuda_device_info_get(0, &info, why, sizeof why))
		die("device", why);

	ctx_t c;
	memset(&c, 0, sizeof c);
	c.bytes = (size_t)1 << 30;
	c.src = dalloc(c.bytes);
	c.dst = dalloc(c.bytes);
	if (kn_cuda_memset(c.src, 1, c.bytes, NULL, err, sizeof err))
		die("memset", err);
	const float copy_ms = time_ms(run_copy, &c, reps);
	const double copy_gbs = 2.0 * (double)c.bytes / (copy_ms * 1e-3) / 1e9;
	kn_cuda_free(c.src);
	kn_cuda_free(c.dst);

	const int max_n = 65536, np = max_n / PT;
	const int q_stride = (NH + 2 * NKV) * HD;
	c.q = dalloc((size_t)8192 * q_stride * 2);
	c.out = dalloc((size_t)8192 * NH * HD * 2);
	c.lens = dalloc(4);
	c.ptab = dalloc((size_t)np * 4);
	c.work = dalloc(kn_cuda_attn_decode_work_bytes(1, NH, HD, 1024));
	if (kn_cuda_fill_random(c.q, KN_CUDA_BF16, (size_t)8192 * q_stride, 5, -1.0f, 1.0f, NULL, err, sizeof err))
		die("fill q", err);
	int32_t *pt = malloc((size_t)np * 4);
	if (!pt)
		die("malloc", "out of memory");
	for (int i = 0; i < np; i++)
		pt[i] = (int32_t)((i * 7919) % np); /* scattered pages (7919 is prime, np a power of 2) */
	if (kn_cuda_memcpy_h2d(c.ptab, pt, (size_t)np * 4, err, sizeof err))
		die("page table", err);

	printf("## kn_cuda_attn\n\n%s, %d SMs; copy bandwidth %.0f GB/s (1 GiB device-to-device, read + write)\n\n",
	       info.name, info.n_sms, copy_gbs);
	printf("| kernel | KV | size | splits | time (µs) | rate | vs copy |\n|---|---|---:|---:|---:|---:|---:|\n");
	for (int type = 0; type < 2; type++) {
		c.kv = (kn_cuda_kv){.kv_type = type, .n_layers = 1, .n_kv_heads = NKV, .head_dim = HD, .page_tokens = PT,
				    .n_pages = np};
		const size_t db = kn_cuda_kv_page_bytes(&c.kv) * (size_t)np, sb = kn_cuda_kv_page_scale_bytes(&c.kv) * (size_t)np;
		c.kv.data = dalloc(db);
		c.kv.scales = sb ? dalloc(sb) : NULL;
		if (kn_cuda_kv_fill_random(&c.kv, 11, NULL, err, sizeof err))
			die("fill kv", err);
		const char *tn = type ? "FP8" : "BF16";
		const int ns[] = {8192, 32768, 65536};
		for (int i = 0; i < 3; i++) {
			c.n = ns[i];
			if (kn_cuda_memcpy_h2d(c.lens, &c.n, 4, err, sizeof err))
				die("lens", err);
			c.splits = kn_cuda_attn_decode_splits(1, NKV, c.n, info.n_sms);
			const float ms = time_ms(run_decode, &c, reps);
			const double bytes = (double)c.n * NKV * 2 * HD * (type ? 1 : 2) + (type ? (double)c.n * NKV * 2 * 4 : 0);
			const double gbs = bytes / (ms * 1e-3) / 1e9;
			printf("| decode | %s | %dK | %d | %.1f | %.0f GB/s | %.0f %% |\n", tn, c.n / 1024, c.splits, ms * 1e3, gbs,
			       100.0 * gbs / copy_gbs);
			fflush(stdout);
		}
		const int Ts[] = {512, 2048, 8192};
		for (int impl = KN_CUDA_PREFILL_MMA; impl <= KN_CUDA_PREFILL_SIMPLE; impl++)
			for (int i = 0; i < 3; i++) {
				c.T = Ts[i];
				c.impl = impl;
				if (impl == KN_CUDA_PREFILL_SIMPLE && c.T > 2048)
					continue;
				const float ms = time_ms(run_prefill, &c, impl == KN_CUDA_PREFILL_SIMPLE ? 3 : reps);
				const double flop = 4.0 * HD * NH * ((double)c.T * (c.T + 1) / 2);
				printf("| prefill %s | %s | T %d | - | %.1f | %.1f TFLOP/s | - |\n",
				       impl == KN_CUDA_PREFILL_MMA ? "mma" : "simple", tn, c.T, ms * 1e3, flop / (ms * 1e-3) / 1e12);
				fflush(stdout);
			}
		kn_cuda_free(c.kv.data);
		kn_cuda_free(c.kv.scales);
	}
	free(pt);
	kn_cuda_free(c.q), kn_cuda_free(c.out), kn_cuda_free(c.lens), kn_cuda_free(c.ptab), kn_cuda_free(c.work);
	return 0;
}
