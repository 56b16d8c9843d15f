/* The filtering pipeline of smp.h: penalties, greedy, temperature, top-k, top-p, min-p.
 *
 * Every filter keeps a prefix of the ids sorted by logit (descending), so the work is to find
 * that prefix without sorting the vocabulary. The row is scanned once in blocks of SMP_BLOCK ids
 * (validity and each block's maximum, in integer keys so the loop vectorizes); then
 *   top-k   a k-entry min-heap of logits gives the k-th largest value, visiting only blocks whose
 *           maximum beats the heap's root; a second pass collects every id at or above it (ties
 *           included, as HF);
 *   top-p   without top-k the nucleus needs the total mass Z (one vectorized pass of weights);
 *           ids with logit >= max - g*T are collected for g = 8, 16, 32, ... until their mass
 *           reaches top_p * Z, which makes them a superset of the nucleus; only they are sorted;
 *   min-p   p >= min_p * p_max is w >= min_p, a threshold on the logit (a slightly loose bound in
 *           logit space, then the exact test on the weights).
 * Collection passes skip every block whose maximum is below the threshold. Weights are
 * w = exp((x - max) / T) in float, so the most likely id weighs exactly 1; sums are in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "smp_internal.h"

/* e^y for y <= 0 (y may be -inf): Cody-Waite reduction and a degree-7 polynomial, within 1.2e-7
 * relative of expf (checked over every float in [-87, 0]); exactly 1 at 0, and 0 below -87 (the
 * float normal range ends near -87.3). Branch-free so the block loops vectorize. */
static inline float fast_exp(float y)
{
	float c = y < -87.0f ? -87.0f : y;
	float n = (c * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(c / ln 2) */
	float g = c - n * 0.693359375f;
	g = g + n * 2.12194440e-4f;
	float p = 1.0f / 5040.0f;
	p = p * g + 1.0f / 720.0f;
	p = p * g + 1.0f / 120.0f;
	p = p * g + 1.0f / 24.0f;
	p = p * g + 1.0f / 6.0f;
	p = p * g + 0.5f;
	p = p * g + 1.0f;
	p = p * g + 1.0f;
	int32_t bits = ((int32_t)n + 127) << 23;
	float scale;
	memcpy(&scale, &bits, sizeof scale);
	return y < -87.0f ? 0.0f : p * scale;
}

/* w = exp((v - m) / T) for v <= m; the select keeps an infinite 1/T (T subnormal) from making
 * 0 * inf at v == m. */
static inline float weight(float v, float m, float inv_t)
{
	float d = v - m;
	return fast_exp(d < 0.0f ? d * inv_t : 0.0f);
}

static int cand_cmp(const void *a, const void *b)
{
	const smp_cand *p = a, *q = b;
	if (p->x != q->x)
		return p->x > q->x ? -1 : 1;
	return (p->id > q->id) - (p->id < q->id);
}

static const float *apply_penalties(smp_sampler *s, const float *logits)
{
	memcpy(s->work, logits, (size_t)s->n * sizeof *s->work);
	float rp = s->p.repetition_penalty;
	double pres = s->p.presence_penalty, freq = s->p.frequency_penalty;
	for (uint32_t j = 0; j < s->n_seen; j++) {
		int32_t id = s->seen[j];
		float v = s->work[id];
		if (rp != 1.0f)
			v = v < 0.0f ? v * rp : v / rp;
		if (pres != 0.0 || freq != 0.0)
			v = (float)((double)v - ((double)s->count[id] * freq + pres));
		s->work[id] = v;
	}
	return s->work;
}

static void heap_sift_down(float *h, size_t n, size_t i)
{
	float v = h[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1] < h[c])
			c++;
		if (!(h[c] < v))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

static void heap_sift_up(float *h, size_t i)
{
	float v = h[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!(v < h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = v;
}

static uint32_t block_end(const smp_sampler *s, uint32_t b)
{
	return b + 1 < s->n_blocks ? (b + 1) * SMP_BLOCK : s->n;
}

/* Checks the row, fills the block maxima and finds the row's maximum (first index on ties). */
static smp_status scan_row(smp_sampler *s, const float *x, float *max, int32_t *arg)
{
	float best = -INFINITY;
	uint32_t best_b = 0;
	bool bad = false;
	for (uint32_t b = 0; b < s->n_blocks; b++) {
		const float *xb = x + (size_t)b * SMP_BLOCK;
		size_t len = block_end(s, b) - (size_t)b * SMP_BLOCK;
		/* Integer keys ordered like the floats (and -0 folded into +0): an integer max
		 * reduction vectorizes, a float one does not without -ffinite-math-only. The flag
		 * catches NaN (either sign) and +inf by their bits; -inf is a masked id. */
		int32_t hk = INT32_MIN;
		uint32_t flag = 0;
		for (size_t j = 0; j < len; j++) {
			uint32_t u;
			float v = xb[j] + 0.0f;
			memcpy(&u, &v, sizeof u);
			int32_t k = (int32_t)(u ^ ((0u - (u >> 31)) >> 1));
			hk = k > hk ? k : hk;
			flag |= ((u & 0x7FFFFFFFu) > 0x7F800000u) | (u == 0x7F800000u);
		}
		bad |= flag != 0;
		uint32_t hu = (uint32_t)hk;
		hu ^= (0u - (hu >> 31)) >> 1;
		float hi;
		memcpy(&hi, &hu, sizeof hi);
		s->bmax[b] = hi;
		if (hi > best) {
			best = hi;
			best_b = b;
		}
	}
	if (bad) {
		for (uint32_t i = 0; i < s->n; i++) {
			if (isnan(x[i]) || x[i] == INFINITY) {
				smp_seterr(s, "logit %u is %s%s", i, isnan(x[i]) ? "NaN" : "+inf",
					   s->penalize ? " (after penalties)" : "");
				break;
			}
		}
		return SMP_E_LOGITS;
	}
	if (best == -INFINITY) {
		smp_seterr(s, "no finite logit among %u", s->n);
		return SMP_E_LOGITS;
	}
	/* best_b is the first block reaching the maximum (-0 == +0 included). */
	uint32_t i = best_b * SMP_BLOCK;
	while (x[i] != best)
		i++;
	*max = best;
	*arg = (int32_t)i;
	return SMP_OK;
}

/* The k-th largest finite logit, or -inf when fewer than k are finite. */
static float kth_largest(smp_sampler *s, const float *x, size_t k)
{
	float *h = s->heap;
	size_t hn = 0;
	uint32_t i = 0;
	for (; i < s->n && hn < k; i++) {
		if (x[i] > -INFINITY) {
			h[hn] = x[i];
			heap_sift_up(h, hn++);
		}
	}
	if (hn < k)
		return -INFINITY;
	float root = h[0];
	for (uint32_t b = i / SMP_BLOCK; b < s->n_blocks; b++) {
		if (!(s->bmax[b] > root))
			continue;
		for (uint32_t j = b * SMP_BLOCK > i ? b * SMP_BLOCK : i, e = block_end(s, b); j < e; j++) {
			if (x[j] > root) {
				h[0] = x[j];
				heap_sift_down(h, k, 0);
				root = h[0];
			}
		}
	}
	return root;
}

/* Ids with a finite logit >= lo, with their weights. */
static size_t collect_above(smp_sampler *s, const float *x, float lo, float m, float inv_t)
{
	size_t nc = 0;
	for (uint32_t b = 0; b < s->n_blocks; b++) {
		if (!(s->bmax[b] >= lo && s->bmax[b] > -INFINITY))
			continue;
		for (uint32_t i = b * SMP_BLOCK, e = block_end(s, b); i < e; i++) {
			float v = x[i];
			if (v >= lo && v > -INFINITY)
				s->cand[nc++] = (smp_cand){v, weight(v, m, inv_t), (int32_t)i};
		}
	}
	return nc;
}

/* x86-64 GCC builds also get an AVX2 copy of the weight loop, picked at load time. Without FMA
 * (and with ISO C fp-contract off) it computes bit for bit what the SSE2 copy does, so draws do
 * not depend on the CPU. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define SMP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SMP_CLONES
#endif

/* Sum of the weights of block b: a map loop, then eight float lanes, so both vectorize. */
SMP_CLONES static double block_sum(const smp_sampler *s, const float *x, uint32_t b, float m, float inv_t)
{
	/* A block whose maximum weighs 0 contributes nothing. */
	if (weight(s->bmax[b], m, inv_t) == 0.0f)
		return 0.0;
	const float *xb = x + (size_t)b * SMP_BLOCK;
	size_t len = block_end(s, b) - (size_t)b * SMP_BLOCK;
	float w[SMP_BLOCK];
	for (size_t j = 0; j < len; j++)
		w[j] = weight(xb[j], m, inv_t);
	float acc[8] = {0};
	size_t j = 0;
	for (; j + 8 <= len; j += 8)
		for (size_t l = 0; l < 8; l++)
			acc[l] += w[j + l];
	double sum = 0.0;
	for (; j < len; j++)
		sum += w[j];
	for (size_t l = 0; l < 8; l++)
		sum += acc[l];
	return sum;
}

static double weigh_blocks(smp_sampler *s, const float *x, float m, float inv_t)
{
	double total = 0.0;
	for (uint32_t b = 0; b < s->n_blocks; b++)
		total += s->bsum[b] = block_sum(s, x, b, m, inv_t);
	return total;
}

int32_t smp_draw_all(const smp_sampler *s, const smp_dist *d, double r)
{
	double acc = 0.0;
	int32_t last = -1;
	for (uint32_t b = 0; b < s->n_blocks; b++) {
		if (!(s->bsum[b] > 0.0))
			continue;
		if (acc + s->bsum[b] <= r) {
			acc += s->bsum[b];
			continue;
		}
		/* The block sums and this walk round differently: if the walk does not cross r here it
		 * goes on into the next blocks. */
		for (uint32_t i = b * SMP_BLOCK, e = block_end(s, b); i < e; i++) {
			float w = weight(d->x[i], d->max, d->inv_t);
			if (w > 0.0f) {
				acc += w;
				last = (int32_t)i;
				if (r < acc)
					return last;
			}
		}
	}
	if (last < 0) {
		/* r fell past every block sum: the last id with weight. */
		for (uint32_t b = s->n_blocks; b-- > 0 && last < 0;) {
			if (!(s->bsum[b] > 0.0))
				continue;
			for (uint32_t i = b * SMP_BLOCK, e = block_end(s, b); i < e; i++)
				if (weight(d->x[i], d->max, d->inv_t) > 0.0f)
					last = (int32_t)i;
		}
	}
	return last;
}

/* Keeps the sorted prefix whose mass before each id is < top_p of `total`. */
static size_t nucleus(const smp_cand *c, size_t n, double total, float top_p)
{
	double lim = (double)top_p * total, before = 0.0;
	size_t keep = 0;
	while (keep < n && before < lim)
		before += c[keep++].w;
	return keep ? keep : (n ? 1 : 0);
}

smp_status smp_run(smp_sampler *s, const float *logits, bool sorted, smp_dist *d)
{
	memset(d, 0, sizeof *d);
	s->err[0] = '\0';
	const float *x = s->penalize ? apply_penalties(s, logits) : logits;
	float m;
	int32_t am;
	smp_status st = scan_row(s, x, &m, &am);
	if (st)
		return st;
	const smp_params *p = &s->p;
	if (p->temperature == 0.0f) {
		d->greedy = true;
		d->id = am;
		return SMP_OK;
	}
	float inv_t = 1.0f / p->temperature;
	d->x = x;
	d->max = m;
	d->inv_t = inv_t;
	bool use_k = s->heap != NULL, use_p = p->top_p < 1.0f, use_min = p->min_p > 0.0f;
	size_t nc = 0;
	double total = 0.0; /* the mass top-p is measured against */

	if (use_k) {
		float lo = kth_largest(s, x, (size_t)p->top_k);
		nc = collect_above(s, x, lo, m, inv_t);
		for (size_t i = 0; i < nc; i++)
			total += s->cand[i].w;
	} else if (use_p) {
		total = weigh_blocks(s, x, m, inv_t);
		/* A little over top_p * total so rounding between the two sums cannot cut the nucleus. */
		double want = (double)p->top_p * total * (1.0 + 1e-6);
		for (float g = 8.0f;; g *= 2.0f) {
			float lo = g > 128.0f ? -INFINITY : m - g * p->temperature;
			nc = collect_above(s, x, isnan(lo) ? -INFINITY : lo, m, inv_t);
			double mass = 0.0;
			for (size_t i = 0; i < nc; i++)
				mass += s->cand[i].w;
			if (mass >= want || lo == -INFINITY)
				break;
		}
	} else if (use_min) {
		/* Loose bound first (rounding of log and of the subtraction), exact test below. */
		float lo = m + p->temperature * logf(p->min_p) * 1.001f - fabsf(m) * 1e-5f;
		nc = collect_above(s, x, isnan(lo) ? -INFINITY : lo, m, inv_t);
	} else if (!sorted) {
		d->all = true;
		d->total = weigh_blocks(s, x, m, inv_t);
		return SMP_OK;
	} else {
		nc = collect_above(s, x, -INFINITY, m, inv_t);
	}

	bool is_sorted = false;
	if (use_p) {
		qsort(s->cand, nc, sizeof *s->cand, cand_cmp);
		is_sorted = true;
		nc = nucleus(s->cand, nc, total, p->top_p);
	}
	if (use_min) {
		/* HF: drop p < min_p * p_max, i.e. w < min_p since the top id weighs 1. */
		size_t o = 0;
		for (size_t i = 0; i < nc; i++)
			if (s->cand[i].w >= p->min_p)
				s->cand[o++] = s->cand[i];
		nc = o;
	}
	if (sorted && !is_sorted)
		qsort(s->cand, nc, sizeof *s->cand, cand_cmp);
	double kept = 0.0;
	for (size_t i = 0; i < nc; i++)
		kept += s->cand[i].w;
	d->n = nc;
	d->total = kept;
	return SMP_OK;
}
