/* Sampler lifecycle, parameters, penalty history, random stream and the final draw. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smp_internal.h"

const char *smp_strerror(smp_status st)
{
	switch (st) {
	case SMP_OK: return "ok";
	case SMP_E_NOMEM: return "out of memory";
	case SMP_E_ARG: return "invalid argument";
	case SMP_E_PARAM: return "invalid sampling parameter";
	case SMP_E_LOGITS: return "invalid logits (NaN, +inf or nothing finite)";
	case SMP_E_SPACE: return "buffer too small";
	}
	return "unknown status";
}

static void put_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void smp_seterr(smp_sampler *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
}

const char *smp_last_error(const smp_sampler *s)
{
	return s ? s->err : "no sampler";
}

smp_params smp_params_default(void)
{
	return (smp_params){
		.temperature = 1.0f,
		.top_k = 0,
		.top_p = 1.0f,
		.min_p = 0.0f,
		.repetition_penalty = 1.0f,
		.presence_penalty = 0.0f,
		.frequency_penalty = 0.0f,
		.penalty_last_n = -1,
		.seed = 0,
	};
}

smp_status smp_params_check(const smp_params *p, char *err, size_t errlen)
{
	if (!p) {
		put_err(err, errlen, "smp_params is NULL");
		return SMP_E_ARG;
	}
	/* Negated comparisons so NaN fails each check. */
	if (!(p->temperature >= 0.0f && isfinite(p->temperature))) {
		put_err(err, errlen, "temperature %g: must be finite and >= 0 (0 = greedy)", (double)p->temperature);
		return SMP_E_PARAM;
	}
	if (p->top_k < 0) {
		put_err(err, errlen, "top_k %d: must be >= 0 (0 = off)", (int)p->top_k);
		return SMP_E_PARAM;
	}
	if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) {
		put_err(err, errlen, "top_p %g: must be in (0, 1] (1 = off)", (double)p->top_p);
		return SMP_E_PARAM;
	}
	if (!(p->min_p >= 0.0f && p->min_p < 1.0f)) {
		put_err(err, errlen, "min_p %g: must be in [0, 1) (0 = off)", (double)p->min_p);
		return SMP_E_PARAM;
	}
	if (!(p->repetition_penalty > 0.0f && isfinite(p->repetition_penalty))) {
		put_err(err, errlen, "repetition_penalty %g: must be finite and > 0 (1 = off)",
			(double)p->repetition_penalty);
		return SMP_E_PARAM;
	}
	if (!isfinite(p->presence_penalty)) {
		put_err(err, errlen, "presence_penalty %g: must be finite", (double)p->presence_penalty);
		return SMP_E_PARAM;
	}
	if (!isfinite(p->frequency_penalty)) {
		put_err(err, errlen, "frequency_penalty %g: must be finite", (double)p->frequency_penalty);
		return SMP_E_PARAM;
	}
	if (p->penalty_last_n < -1 || p->penalty_last_n > SMP_MAX_WINDOW) {
		put_err(err, errlen, "penalty_last_n %d: must be -1 (all), 0 (none) or at most %d", (int)p->penalty_last_n,
			SMP_MAX_WINDOW);
		return SMP_E_PARAM;
	}
	return SMP_OK;
}

/* ---- random stream: splitmix64 expands the seed, xoshiro256** generates ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void smp_rng_seed(uint64_t st[4], uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		st[i] = splitmix64(&x);
}

static uint64_t rotl64(uint64_t v, int k)
{
	return (v << k) | (v >> (64 - k));
}

uint64_t smp_rng_next(uint64_t st[4])
{
	uint64_t out = rotl64(st[1] * 5, 7) * 9;
	uint64_t t = st[1] << 17;
	st[2] ^= st[0];
	st[3] ^= st[1];
	st[1] ^= st[2];
	st[0] ^= st[3];
	st[2] ^= t;
	st[3] = rotl64(st[3], 45);
	return out;
}

/* ---- lifecycle ---- */

void smp_free(smp_sampler *s)
{
	if (!s)
		return;
	free(s->work);
	free(s->bmax);
	free(s->bsum);
	free(s->cand);
	free(s->heap);
	free(s->count);
	free(s->seen_pos);
	free(s->seen);
	free(s->ring);
	free(s);
}

smp_status smp_sampler_create(const smp_params *p, uint32_t n_vocab, smp_sampler **out, char *err, size_t errlen)
{
	if (!out) {
		put_err(err, errlen, "out is NULL");
		return SMP_E_ARG;
	}
	*out = NULL;
	smp_status st = smp_params_check(p, err, errlen);
	if (st)
		return st;
	if (n_vocab == 0 || n_vocab > SMP_MAX_VOCAB) {
		put_err(err, errlen, "n_vocab %u: must be in [1, %u]", n_vocab, SMP_MAX_VOCAB);
		return SMP_E_PARAM;
	}
	smp_sampler *s = calloc(1, sizeof *s);
	if (!s)
		goto nomem;
	s->p = *p;
	s->n = n_vocab;
	s->penalize = p->penalty_last_n != 0 &&
		      (p->repetition_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
	size_t n = n_vocab;
	s->n_blocks = (uint32_t)((n + SMP_BLOCK - 1) / SMP_BLOCK);
	s->cand = malloc(n * sizeof *s->cand);
	s->bmax = malloc(s->n_blocks * sizeof *s->bmax);
	s->bsum = malloc(s->n_blocks * sizeof *s->bsum);
	if (!s->cand || !s->bmax || !s->bsum)
		goto nomem;
	if (p->top_k > 0 && (uint32_t)p->top_k < n_vocab) {
		s->heap = malloc((size_t)p->top_k * sizeof *s->heap);
		if (!s->heap)
			goto nomem;
	}
	if (s->penalize) {
		s->work = malloc(n * sizeof *s->work);
		s->count = calloc(n, sizeof *s->count);
		s->seen_pos = malloc(n * sizeof *s->seen_pos);
		s->seen = malloc(n * sizeof *s->seen);
		if (!s->work || !s->count || !s->seen_pos || !s->seen)
			goto nomem;
		for (size_t i = 0; i < n; i++)
			s->seen_pos[i] = -1;
		if (p->penalty_last_n > 0) {
			s->ring_cap = (uint32_t)p->penalty_last_n;
			s->ring = malloc((size_t)s->ring_cap * sizeof *s->ring);
			if (!s->ring)
				goto nomem;
		}
	}
	smp_rng_seed(s->rng, p->seed);
	*out = s;
	return SMP_OK;
nomem:
	put_err(err, errlen, "out of memory for a sampler over %u ids", n_vocab);
	smp_free(s);
	return SMP_E_NOMEM;
}

void smp_reset(smp_sampler *s)
{
	if (!s)
		return;
	if (s->penalize) {
		for (uint32_t j = 0; j < s->n_seen; j++) {
			s->count[s->seen[j]] = 0;
			s->seen_pos[s->seen[j]] = -1;
		}
		s->n_seen = 0;
		s->ring_head = s->ring_len = 0;
	}
	smp_rng_seed(s->rng, s->p.seed);
	s->err[0] = '\0';
}

/* ---- penalty history ---- */

static void hist_add(smp_sampler *s, int32_t id)
{
	if (s->count[id]++ == 0) {
		s->seen_pos[id] = (int32_t)s->n_seen;
		s->seen[s->n_seen++] = id;
	} else if (s->count[id] == 0) {
		s->count[id] = UINT32_MAX; /* saturate rather than wrap to "unseen" */
	}
}

static void hist_drop(smp_sampler *s, int32_t id)
{
	if (s->count[id] == 0 || --s->count[id] > 0)
		return;
	/* Swap the last distinct id into the freed slot. */
	int32_t pos = s->seen_pos[id];
	int32_t last = s->seen[--s->n_seen];
	s->seen[pos] = last;
	s->seen_pos[last] = pos;
	s->seen_pos[id] = -1;
}

smp_status smp_accept(smp_sampler *s, int32_t id)
{
	if (!s)
		return SMP_E_ARG;
	if (id < 0 || (uint32_t)id >= s->n) {
		smp_seterr(s, "accepted id %d outside [0, %u)", (int)id, s->n);
		return SMP_E_ARG;
	}
	if (!s->penalize)
		return SMP_OK;
	if (s->ring) {
		if (s->ring_len == s->ring_cap)
			hist_drop(s, s->ring[s->ring_head]);
		else
			s->ring_len++;
		s->ring[s->ring_head] = id;
		s->ring_head = s->ring_head + 1 == s->ring_cap ? 0 : s->ring_head + 1;
	}
	hist_add(s, id);
	return SMP_OK;
}

/* ---- public sampling entry points ---- */

smp_status smp_sample(smp_sampler *s, const float *logits, int32_t *out_id)
{
	if (!s || !logits || !out_id)
		return SMP_E_ARG;
	*out_id = -1;
	smp_dist d;
	smp_status st = smp_run(s, logits, false, &d);
	if (st)
		return st;
	if (d.greedy) {
		*out_id = d.id;
		return SMP_OK;
	}
	/* 53 random bits -> uniform double in [0, 1). The walk picks the first id whose cumulative
	 * weight exceeds u * total; zero-weight ids can never be that first id. */
	double r = (double)(smp_rng_next(s->rng) >> 11) * 0x1p-53 * d.total;
	double acc = 0.0;
	int32_t last = -1;
	if (d.all) {
		last = smp_draw_all(s, &d, r);
	} else {
		for (size_t i = 0; i < d.n; i++) {
			float w = s->cand[i].w;
			if (w > 0.0f) {
				acc += w;
				last = s->cand[i].id;
				if (r < acc)
					break;
			}
		}
	}
	/* last == -1 cannot happen (the max logit weighs exactly 1); rounding at the top end lands
	 * on the last positive weight. */
	*out_id = last;
	return SMP_OK;
}

smp_status smp_probs(smp_sampler *s, const float *logits, int32_t *ids, float *probs, size_t cap, size_t *n)
{
	if (!s || !logits || !n || (cap && (!ids || !probs)))
		return SMP_E_ARG;
	*n = 0;
	smp_dist d;
	smp_status st = smp_run(s, logits, true, &d);
	if (st)
		return st;
	if (d.greedy) {
		*n = 1;
		if (cap < 1)
			return SMP_E_SPACE;
		ids[0] = d.id;
		probs[0] = 1.0f;
		return SMP_OK;
	}
	*n = d.n;
	if (cap < d.n) {
		smp_seterr(s, "%zu kept ids, room for %zu", d.n, cap);
		return SMP_E_SPACE;
	}
	for (size_t i = 0; i < d.n; i++) {
		ids[i] = s->cand[i].id;
		probs[i] = (float)(s->cand[i].w / d.total);
	}
	return SMP_OK;
}
