/* Internals shared by the smp_*.c files (not installed). */
#ifndef BALE_SMP_INTERNAL_H
#define BALE_SMP_INTERNAL_H

#include <stdarg.h>

#include "smp.h"

/* The row is handled in blocks of this many ids; each block's maximum lets the filters skip
 * blocks that cannot hold a candidate, and each block's weight sum lets the draw skip blocks. */
#define SMP_BLOCK 256

typedef struct {
	float x;    /* penalized logit */
	float w;    /* exp((x - max) / T), in [0, 1] */
	int32_t id;
} smp_cand;

struct smp_sampler {
	smp_params p;
	uint32_t n;
	bool penalize; /* some penalty is active and penalty_last_n != 0 */
	uint64_t rng[4];

	float *work;    /* n: penalized copy of the row (penalize only) */
	smp_cand *cand; /* n: candidate ids */
	float *heap;    /* top_k: min-heap of the k largest logits */
	uint32_t n_blocks;
	float *bmax;    /* per block: largest logit (-inf when all masked) */
	double *bsum;   /* per block: sum of weights (unfiltered draw) */

	/* penalty history: per-id counts over the window, the distinct ids with count > 0 */
	uint32_t *count;
	int32_t *seen_pos; /* index in seen[], -1 when absent */
	int32_t *seen;
	uint32_t n_seen;
	int32_t *ring; /* last penalty_last_n ids when > 0 */
	uint32_t ring_cap, ring_head, ring_len;

	char err[200];
};

/* The result of the filtering pipeline for one row. */
typedef struct {
	bool greedy;     /* temperature 0: `id` is the answer */
	int32_t id;
	bool all;        /* no filter: draw over every id, block sums in bsum */
	const float *x;  /* the (penalized) row */
	float max, inv_t;
	size_t n;        /* else: cand[0..n) are the kept ids */
	double total;    /* sum of the kept weights */
} smp_dist;

smp_status smp_run(smp_sampler *s, const float *logits, bool sorted, smp_dist *d);
/* Id drawn from an `all` distribution for r in [0, total). */
int32_t smp_draw_all(const smp_sampler *s, const smp_dist *d, double r);
void smp_seterr(smp_sampler *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t smp_rng_next(uint64_t st[4]);
void smp_rng_seed(uint64_t st[4], uint64_t seed);

#endif
