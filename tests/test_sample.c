/* runtime/sample: the sampler against transformers' logits processors (tests/data/sample/cases.jsonl,
 * regenerated with tools/reference/make_sampler_cases.py), greedy, seeding, draw statistics,
 * penalties, bad logits and parameters, the fast filter paths against a full sort on a Qwen-size
 * row, and the stop matcher against a naive reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "smp.h"
#include "testutil.h"

static smp_sampler *mk(const smp_params *p, uint32_t n)
{
	char err[256] = "";
	smp_sampler *s = NULL;
	smp_status st = smp_sampler_create(p, n, &s, err, sizeof err);
	if (st)
		fprintf(stderr, "create: %s\n", err);
	assert_int_equal(st, SMP_OK);
	assert_non_null(s);
	return s;
}

/* ---------------------------------------------------------------- parameters */

static void expect_bad(smp_params p, const char *field)
{
	char err[256] = "";
	smp_sampler *s = (smp_sampler *)&p; /* must be reset to NULL */
	assert_int_equal(smp_sampler_create(&p, 100, &s, err, sizeof err), SMP_E_PARAM);
	assert_null(s);
	if (!strstr(err, field))
		fprintf(stderr, "message \"%s\" does not name %s\n", err, field);
	assert_non_null(strstr(err, field));
	assert_int_equal(smp_params_check(&p, NULL, 0), SMP_E_PARAM);
}

static void test_params(void **state)
{
	(void)state;
	smp_params d = smp_params_default();
	assert_int_equal(smp_params_check(&d, NULL, 0), SMP_OK);
	assert_true(d.temperature == 1.0f && d.top_k == 0 && d.top_p == 1.0f && d.min_p == 0.0f);
	assert_true(d.repetition_penalty == 1.0f && d.presence_penalty == 0.0f && d.frequency_penalty == 0.0f);
	smp_params p;
	p = d, p.temperature = -0.1f, expect_bad(p, "temperature");
	p = d, p.temperature = NAN, expect_bad(p, "temperature");
	p = d, p.temperature = INFINITY, expect_bad(p, "temperature");
	p = d, p.top_k = -1, expect_bad(p, "top_k");
	p = d, p.top_p = 0.0f, expect_bad(p, "top_p");
	p = d, p.top_p = 1.0001f, expect_bad(p, "top_p");
	p = d, p.top_p = NAN, expect_bad(p, "top_p");
	p = d, p.min_p = 1.0f, expect_bad(p, "min_p");
	p = d, p.min_p = -0.01f, expect_bad(p, "min_p");
	p = d, p.min_p = NAN, expect_bad(p, "min_p");
	p = d, p.repetition_penalty = 0.0f, expect_bad(p, "repetition_penalty");
	p = d, p.repetition_penalty = INFINITY, expect_bad(p, "repetition_penalty");
	p = d, p.presence_penalty = NAN, expect_bad(p, "presence_penalty");
	p = d, p.frequency_penalty = -INFINITY, expect_bad(p, "frequency_penalty");
	p = d, p.penalty_last_n = -2, expect_bad(p, "penalty_last_n");
	p = d, p.penalty_last_n = SMP_MAX_WINDOW + 1, expect_bad(p, "penalty_last_n");

	/* Edge values that are valid. */
	p = d, p.temperature = 0.0f, p.top_p = 1e-6f, p.min_p = 0.999f, p.top_k = 1000000, p.penalty_last_n = 0;
	smp_sampler *s = mk(&p, 10);
	smp_free(s);

	char err[128] = "";
	s = NULL;
	assert_int_equal(smp_sampler_create(&d, 0, &s, err, sizeof err), SMP_E_PARAM);
	assert_non_null(strstr(err, "n_vocab"));
	assert_int_equal(smp_sampler_create(&d, SMP_MAX_VOCAB + 1, &s, err, sizeof err), SMP_E_PARAM);
	assert_int_equal(smp_sampler_create(NULL, 10, &s, err, sizeof err), SMP_E_ARG);
	assert_int_equal(smp_sampler_create(&d, 10, NULL, NULL, 0), SMP_E_ARG);

	s = mk(&d, 10);
	float row[10] = {0};
	int32_t id;
	assert_int_equal(smp_sample(s, NULL, &id), SMP_E_ARG);
	assert_int_equal(smp_sample(s, row, NULL), SMP_E_ARG);
	assert_int_equal(smp_accept(s, 10), SMP_E_ARG);
	assert_non_null(strstr(smp_last_error(s), "10"));
	assert_int_equal(smp_accept(s, -1), SMP_E_ARG);
	assert_int_equal(smp_accept(s, 9), SMP_OK);
	smp_free(s);
	smp_free(NULL);
	assert_string_equal(smp_strerror(SMP_E_LOGITS), "invalid logits (NaN, +inf or nothing finite)");
}

/* ---------------------------------------------------------------- greedy, bad logits */

static void test_greedy(void **state)
{
	(void)state;
	smp_params p = smp_params_default();
	p.temperature = 0.0f;
	p.top_k = 3; /* ignored by greedy */
	smp_sampler *s = mk(&p, 8);
	float row[8] = {0.5f, -2.0f, 3.25f, 1.0f, 3.25f, -INFINITY, 3.0f, 0.0f};
	int32_t id = -1;
	/* Tie between ids 2 and 4 at the maximum: the lowest id wins. */
	assert_int_equal(smp_sample(s, row, &id), SMP_OK);
	assert_int_equal(id, 2);
	row[4] = 3.5f;
	assert_int_equal(smp_sample(s, row, &id), SMP_OK);
	assert_int_equal(id, 4);
	/* Everything masked but the last id. */
	for (int i = 0; i < 7; i++)
		row[i] = -INFINITY;
	row[7] = -1e30f;
	assert_int_equal(smp_sample(s, row, &id), SMP_OK);
	assert_int_equal(id, 7);
	int32_t ids[4];
	float pr[4];
	size_t n = 0;
	assert_int_equal(smp_probs(s, row, ids, pr, 4, &n), SMP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 7);
	assert_true(pr[0] == 1.0f);
	smp_free(s);
}

static void test_bad_logits(void **state)
{
	(void)state;
	smp_params p = smp_params_default();
	for (int greedy = 0; greedy < 2; greedy++) {
		p.temperature = greedy ? 0.0f : 0.8f;
		smp_sampler *s = mk(&p, 64);
		float row[64];
		for (int i = 0; i < 64; i++)
			row[i] = (float)((i * 37) % 64) * 0.1f;
		int32_t id = 0;
		row[41] = NAN;
		assert_int_equal(smp_sample(s, row, &id), SMP_E_LOGITS);
		assert_int_equal(id, -1);
		assert_non_null(strstr(smp_last_error(s), "41"));
		assert_non_null(strstr(smp_last_error(s), "NaN"));
		row[41] = INFINITY;
		assert_int_equal(smp_sample(s, row, &id), SMP_E_LOGITS);
		assert_non_null(strstr(smp_last_error(s), "+inf"));
		for (int i = 0; i < 64; i++)
			row[i] = -INFINITY;
		assert_int_equal(smp_sample(s, row, &id), SMP_E_LOGITS);
		assert_non_null(strstr(smp_last_error(s), "no finite"));
		size_t n;
		assert_int_equal(smp_probs(s, row, NULL, NULL, 0, &n), SMP_E_LOGITS);
		/* Recovers on a good row; -inf ids are never drawn. */
		for (int i = 0; i < 64; i += 2)
			row[i] = (float)i * 0.01f;
		for (int t = 0; t < 500; t++) {
			assert_int_equal(smp_sample(s, row, &id), SMP_OK);
			assert_true(id >= 0 && id < 64 && id % 2 == 0);
		}
		assert_string_equal(smp_last_error(s), "");
		smp_free(s);
	}
}

/* ---------------------------------------------------------------- seeding and statistics */

static void draw_seq(const smp_params *p, const float *row, uint32_t n, int32_t *out, int count)
{
	smp_sampler *s = mk(p, n);
	for (int i = 0; i < count; i++)
		assert_int_equal(smp_sample(s, row, &out[i]), SMP_OK);
	smp_free(s);
}

static void test_seed(void **state)
{
	(void)state;
	enum { N = 300, C = 200 };
	float row[N];
	tu_rng r = {7};
	for (int i = 0; i < N; i++)
		row[i] = (float)tu_rng_normal(&r);
	smp_params p = smp_params_default();
	p.seed = 1234;
	p.top_k = 100;
	int32_t a[C], b[C], c[C];
	draw_seq(&p, row, N, a, C);
	draw_seq(&p, row, N, b, C);
	assert_memory_equal(a, b, sizeof a);
	p.seed = 1235;
	draw_seq(&p, row, N, c, C);
	int same = 0;
	for (int i = 0; i < C; i++)
		same += a[i] == c[i];
	assert_true(same < C / 4); /* ~100 kept ids: two streams agree about 1% of the time */

	/* smp_reset restarts the stream; history does not affect draws without penalties. */
	p.seed = 1234;
	smp_sampler *s = mk(&p, N);
	for (int i = 0; i < 17; i++) {
		int32_t id;
		assert_int_equal(smp_sample(s, row, &id), SMP_OK);
		assert_int_equal(smp_accept(s, id), SMP_OK);
	}
	smp_reset(s);
	for (int i = 0; i < C; i++) {
		assert_int_equal(smp_sample(s, row, &b[i]), SMP_OK);
		assert_int_equal(b[i], a[i]);
	}
	smp_free(s);
}

/* Pearson chi-square of observed counts against expected probabilities. */
static double chi2(const long *obs, const double *prob, int n, long draws)
{
	double c = 0.0;
	for (int i = 0; i < n; i++) {
		double e = prob[i] * (double)draws;
		c += (obs[i] - e) * (obs[i] - e) / e;
	}
	return c;
}

static void test_distribution(void **state)
{
	(void)state;
	enum { V = 8, DRAWS = 60000 };
	const float row[V] = {1.0f, 0.2f, -0.5f, 2.0f, 0.9f, -3.0f, 0.0f, 1.4f};
	const float temps[] = {1.0f, 0.5f, 2.0f};
	for (size_t t = 0; t < sizeof temps / sizeof *temps; t++) {
		smp_params p = smp_params_default();
		p.temperature = temps[t];
		p.seed = 99 + t;
		smp_sampler *s = mk(&p, V);
		double prob[V], z = 0.0;
		for (int i = 0; i < V; i++)
			z += prob[i] = exp((double)row[i] / temps[t]);
		for (int i = 0; i < V; i++)
			prob[i] /= z;
		long obs[V] = {0};
		for (int i = 0; i < DRAWS; i++) {
			int32_t id;
			assert_int_equal(smp_sample(s, row, &id), SMP_OK);
			obs[id]++;
		}
		/* 7 degrees of freedom: P(chi2 > 35) ~ 1e-5; a wrong temperature gives thousands. */
		double c = chi2(obs, prob, V, DRAWS);
		if (c > 35.0)
			fprintf(stderr, "T=%g chi2 %.1f\n", (double)temps[t], c);
		assert_true(c < 35.0);
		smp_free(s);
	}

	/* top-k = 2: only ids 3 and 7, in the ratio e^2 : e^1.4. */
	smp_params p = smp_params_default();
	p.top_k = 2;
	p.seed = 5;
	smp_sampler *s = mk(&p, V);
	long obs[V] = {0};
	for (int i = 0; i < DRAWS; i++) {
		int32_t id;
		assert_int_equal(smp_sample(s, row, &id), SMP_OK);
		obs[id]++;
	}
	for (int i = 0; i < V; i++)
		if (i != 3 && i != 7)
			assert_int_equal(obs[i], 0);
	double p3 = exp(2.0) / (exp(2.0) + exp(1.4));
	long o2[2] = {obs[3], obs[7]};
	double e2[2] = {p3, 1.0 - p3};
	assert_true(chi2(o2, e2, 2, DRAWS) < 20.0);
	smp_free(s);

	/* min-p 0.4 relative to p(3) = e^2: keeps ids with x >= 2 + ln 0.4 = 1.084 -> 3, 7. */
	p = smp_params_default();
	p.min_p = 0.4f;
	s = mk(&p, V);
	memset(obs, 0, sizeof obs);
	for (int i = 0; i < 20000; i++) {
		int32_t id;
		assert_int_equal(smp_sample(s, row, &id), SMP_OK);
		obs[id]++;
	}
	assert_int_equal(obs[3] + obs[7], 20000);
	assert_true(obs[7] > 6000); /* expected 20000 * 0.354 */
	smp_free(s);
}

/* ---------------------------------------------------------------- transformers reference cases */

static void test_hf_cases(void **state)
{
	(void)state;
	char path[4096];
	snprintf(path, sizeof path, "%s/sample/cases.jsonl", BALE_TEST_DATA);
	size_t fn;
	char *data = (char *)tu_read_file(path, &fn);
	assert_non_null(data);
	int ncase = 0;
	for (char *line = data, *end = data + fn; line < end;) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
		json_error_t je;
		json_t *c = json_loadb(line, len, 0, &je);
		line += len + 1;
		if (!c)
			continue;
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *jl = json_object_get(c, "logits"), *jh = json_object_get(c, "history");
		json_t *ji = json_object_get(c, "ids"), *jp = json_object_get(c, "probs");
		size_t nv = json_array_size(jl), nk = json_array_size(ji);
		assert_true(nv > 0 && nk > 0 && nk == json_array_size(jp));
		float *row = malloc(nv * sizeof *row), *want = calloc(nv, sizeof *want), *got = calloc(nv, sizeof *got);
		int32_t *ids = malloc(nv * sizeof *ids);
		float *pr = malloc(nv * sizeof *pr);
		char *wk = calloc(nv, 1);
		for (size_t i = 0; i < nv; i++) {
			json_t *v = json_array_get(jl, i);
			row[i] = json_is_null(v) ? -INFINITY : (float)json_number_value(v);
		}
		for (size_t i = 0; i < nk; i++) {
			json_int_t id = json_integer_value(json_array_get(ji, i));
			wk[id] = 1;
			want[id] = (float)json_number_value(json_array_get(jp, i));
		}
		smp_params p = smp_params_default();
		p.temperature = (float)json_number_value(json_object_get(c, "temperature"));
		p.top_k = (int32_t)json_integer_value(json_object_get(c, "top_k"));
		p.top_p = (float)json_number_value(json_object_get(c, "top_p"));
		p.min_p = (float)json_number_value(json_object_get(c, "min_p"));
		p.repetition_penalty = (float)json_number_value(json_object_get(c, "repetition_penalty"));
		p.seed = (uint64_t)ncase;
		smp_sampler *s = mk(&p, (uint32_t)nv);
		for (size_t i = 0; i < json_array_size(jh); i++)
			assert_int_equal(smp_accept(s, (int32_t)json_integer_value(json_array_get(jh, i))), SMP_OK);
		size_t n = 0;
		assert_int_equal(smp_probs(s, row, ids, pr, 0, &n), SMP_E_SPACE);
		assert_int_equal(n, nk);
		assert_int_equal(smp_probs(s, row, ids, pr, nv, &n), SMP_OK);
		if (n != nk)
			fprintf(stderr, "%s: kept %zu ids, transformers %zu\n", name, n, nk);
		assert_int_equal(n, nk);
		for (size_t i = 0; i < n; i++) {
			if (!wk[ids[i]] || fabsf(pr[i] - want[ids[i]]) > 1e-5f)
				fprintf(stderr, "%s: id %d p %.8f want %s%.8f\n", name, ids[i], (double)pr[i],
					wk[ids[i]] ? "" : "(dropped) ", (double)want[ids[i]]);
			assert_true(wk[ids[i]]);
			assert_true(fabsf(pr[i] - want[ids[i]]) <= 1e-5f);
			if (i)
				assert_true(pr[i] <= pr[i - 1]);
			got[ids[i]] = pr[i];
		}
		/* Draws stay in the kept set and follow it roughly (the heaviest id most often). */
		int32_t best = ids[0];
		long hits = 0;
		for (int t = 0; t < 400; t++) {
			int32_t id;
			assert_int_equal(smp_sample(s, row, &id), SMP_OK);
			assert_true(id >= 0 && (size_t)id < nv && wk[id]);
			hits += id == best;
		}
		double e = 400.0 * got[best];
		assert_true(fabs((double)hits - e) <= 6.0 * sqrt(e * (1.0 - got[best])) + 1.0);
		smp_free(s);
		free(row), free(want), free(got), free(ids), free(pr), free(wk);
		json_decref(c);
		ncase++;
	}
	free(data);
	assert_true(ncase >= 15);
}

/* ---------------------------------------------------------------- penalties */

static void probs_of(smp_sampler *s, const float *row, uint32_t n, float *dense)
{
	int32_t ids[16];
	float pr[16];
	size_t k = 0;
	assert_int_equal(smp_probs(s, row, ids, pr, 16, &k), SMP_OK);
	memset(dense, 0, n * sizeof *dense);
	for (size_t i = 0; i < k; i++)
		dense[ids[i]] = pr[i];
}

static void expect_softmax(const float *dense, const double *x, uint32_t n)
{
	double z = 0.0;
	for (uint32_t i = 0; i < n; i++)
		z += exp(x[i]);
	for (uint32_t i = 0; i < n; i++) {
		if (fabs(dense[i] - exp(x[i]) / z) > 1e-6)
			fprintf(stderr, "id %u: %.7f want %.7f\n", i, (double)dense[i], exp(x[i]) / z);
		assert_true(fabs(dense[i] - exp(x[i]) / z) <= 1e-6);
	}
}

static void test_penalties(void **state)
{
	(void)state;
	const float row[5] = {2.0f, -1.0f, 0.5f, 1.0f, 0.0f};
	float dense[5];
	/* Repetition 2 over the whole history: positive divided, negative multiplied, zero unchanged;
	 * an id seen twice is penalized once. */
	smp_params p = smp_params_default();
	p.repetition_penalty = 2.0f;
	smp_sampler *s = mk(&p, 5);
	assert_int_equal(smp_accept(s, 0), SMP_OK);
	assert_int_equal(smp_accept(s, 1), SMP_OK);
	assert_int_equal(smp_accept(s, 0), SMP_OK);
	assert_int_equal(smp_accept(s, 4), SMP_OK);
	probs_of(s, row, 5, dense);
	expect_softmax(dense, (const double[]){1.0, -2.0, 0.5, 1.0, 0.0}, 5);
	smp_reset(s);
	probs_of(s, row, 5, dense);
	expect_softmax(dense, (const double[]){2.0, -1.0, 0.5, 1.0, 0.0}, 5);
	smp_free(s);

	/* Window of 2: after 0, 1, 2 only 1 and 2 count. */
	p.penalty_last_n = 2;
	s = mk(&p, 5);
	for (int32_t id = 0; id < 3; id++)
		assert_int_equal(smp_accept(s, id), SMP_OK);
	probs_of(s, row, 5, dense);
	expect_softmax(dense, (const double[]){2.0, -2.0, 0.25, 1.0, 0.0}, 5);
	/* ... then 2, 2: only 2 (once). */
	assert_int_equal(smp_accept(s, 2), SMP_OK);
	assert_int_equal(smp_accept(s, 2), SMP_OK);
	probs_of(s, row, 5, dense);
	expect_softmax(dense, (const double[]){2.0, -1.0, 0.25, 1.0, 0.0}, 5);
	smp_free(s);

	/* Frequency and presence (OpenAI): x -= count * f + p for seen ids, after repetition. */
	p = smp_params_default();
	p.frequency_penalty = 0.25f;
	p.presence_penalty = 0.5f;
	p.repetition_penalty = 2.0f;
	s = mk(&p, 5);
	for (int i = 0; i < 3; i++)
		assert_int_equal(smp_accept(s, 3), SMP_OK);
	assert_int_equal(smp_accept(s, 1), SMP_OK);
	probs_of(s, row, 5, dense);
	expect_softmax(dense, (const double[]){2.0, -2.0 - 0.75, 0.5, 0.5 - 1.25, 0.0}, 5);
	smp_free(s);

	/* Penalties also steer greedy; negative presence rewards. */
	p = smp_params_default();
	p.temperature = 0.0f;
	p.presence_penalty = -2.0f;
	s = mk(&p, 5);
	int32_t id;
	assert_int_equal(smp_sample(s, row, &id), SMP_OK);
	assert_int_equal(id, 0);
	assert_int_equal(smp_accept(s, 2), SMP_OK);
	assert_int_equal(smp_sample(s, row, &id), SMP_OK);
	assert_int_equal(id, 2); /* 0.5 + 2 = 2.5 > 2.0 */
	smp_free(s);

	/* penalty_last_n 0 disables them. */
	p = smp_params_default();
	p.repetition_penalty = 3.0f;
	p.penalty_last_n = 0;
	s = mk(&p, 5);
	assert_int_equal(smp_accept(s, 0), SMP_OK);
	probs_of(s, row, 5, dense);
	expect_softmax(dense, (const double[]){2.0, -1.0, 0.5, 1.0, 0.0}, 5);
	smp_free(s);

	/* A penalty that overflows to +inf is reported, not sampled. */
	p = smp_params_default();
	p.repetition_penalty = 1e-30f;
	s = mk(&p, 5);
	float big[5] = {1e10f, 0.0f, 0.0f, 0.0f, 0.0f};
	assert_int_equal(smp_accept(s, 0), SMP_OK);
	assert_int_equal(smp_sample(s, big, &id), SMP_E_LOGITS);
	assert_non_null(strstr(smp_last_error(s), "after penalties"));
	smp_free(s);
}

/* ---------------------------------------------------------------- fast paths vs a full sort */

typedef struct {
	float x;
	int32_t id;
} ref_c;

static int ref_cmp(const void *a, const void *b)
{
	const ref_c *p = a, *q = b;
	if (p->x != q->x)
		return p->x > q->x ? -1 : 1;
	return (p->id > q->id) - (p->id < q->id);
}

/* The kept count by the definitions in smp.h, computed with a full sort and double sums. */
static size_t ref_kept(const float *row, uint32_t n, const smp_params *p, ref_c *c)
{
	for (uint32_t i = 0; i < n; i++)
		c[i] = (ref_c){row[i], (int32_t)i};
	qsort(c, n, sizeof *c, ref_cmp);
	size_t k = n;
	while (k > 0 && c[k - 1].x == -INFINITY)
		k--;
	if (p->top_k > 0 && (size_t)p->top_k < k) {
		float kth = c[p->top_k - 1].x;
		size_t j = (size_t)p->top_k;
		while (j < k && c[j].x == kth)
			j++;
		k = j;
	}
	double m = c[0].x, t = p->temperature;
	if (p->top_p < 1.0f) {
		double tot = 0.0, before = 0.0;
		for (size_t i = 0; i < k; i++)
			tot += exp((c[i].x - m) / t);
		size_t j = 0;
		while (j < k && before < p->top_p * tot)
			before += exp((c[j++].x - m) / t);
		k = j;
	}
	if (p->min_p > 0.0f) {
		size_t j = 0;
		while (j < k && exp((c[j].x - m) / t) >= p->min_p)
			j++;
		k = j;
	}
	return k;
}

static void test_large_vocab(void **state)
{
	(void)state;
	const uint32_t n = 152064;
	float *row = malloc(n * sizeof *row);
	ref_c *c = malloc(n * sizeof *c);
	int32_t *ids = malloc(n * sizeof *ids);
	float *pr = malloc(n * sizeof *pr);
	tu_rng r = {2024};
	/* LLM-like: a heavy-tailed few plus a broad bulk, some masked ids. */
	for (uint32_t i = 0; i < n; i++)
		row[i] = (float)(tu_rng_normal(&r) * 2.0 + (i % 997 == 0 ? 12.0 : 0.0));
	for (uint32_t i = 151700; i < n; i++)
		row[i] = -INFINITY;
	struct {
		float t;
		int32_t k;
		float tp, mp;
	} cfg[] = {
		{0.6f, 20, 0.95f, 0.0f}, {1.0f, 0, 0.95f, 0.0f}, {0.7f, 0, 0.5f, 0.0f}, {1.0f, 0, 1.0f, 0.05f},
		{0.8f, 50, 1.0f, 0.1f},  {1.5f, 0, 0.9f, 0.001f}, {1.0f, 5000, 0.99f, 0.0f}, {3.0f, 0, 0.3f, 0.0f},
	};
	for (size_t ci = 0; ci < sizeof cfg / sizeof *cfg; ci++) {
		smp_params p = smp_params_default();
		p.temperature = cfg[ci].t;
		p.top_k = cfg[ci].k;
		p.top_p = cfg[ci].tp;
		p.min_p = cfg[ci].mp;
		smp_sampler *s = mk(&p, n);
		size_t want = ref_kept(row, n, &p, c), got = 0;
		assert_int_equal(smp_probs(s, row, ids, pr, n, &got), SMP_OK);
		if (got != want)
			fprintf(stderr, "config %zu: kept %zu, full sort %zu\n", ci, got, want);
		assert_int_equal(got, want);
		double sum = 0.0;
		for (size_t i = 0; i < got; i++) {
			assert_int_equal(ids[i], c[i].id);
			sum += pr[i];
		}
		assert_true(fabs(sum - 1.0) < 1e-4);
		for (int t = 0; t < 20; t++) {
			int32_t id;
			assert_int_equal(smp_sample(s, row, &id), SMP_OK);
			size_t j = 0;
			while (j < got && ids[j] != id)
				j++;
			assert_true(j < got);
		}
		smp_free(s);
	}
	free(row), free(c), free(ids), free(pr);
}

/* ---------------------------------------------------------------- stop conditions */

static smp_stop *mk_stop(const char *const *strs, size_t n, const int32_t *eos, size_t ne, uint64_t max_tokens)
{
	smp_stop_params sp = {.eos_ids = eos, .n_eos = ne, .strings = strs, .n_strings = n, .max_tokens = max_tokens};
	char err[256] = "";
	smp_stop *st = NULL;
	smp_status rc = smp_stop_create(&sp, &st, err, sizeof err);
	if (rc)
		fprintf(stderr, "stop create: %s\n", err);
	assert_int_equal(rc, SMP_OK);
	return st;
}

/* Feeds `chunks` as text-only pieces, concatenating what is released. */
typedef struct {
	char out[1024];
	size_t n;
	smp_stop_reason reason;
	int32_t which;
} stream_out;

static void take(stream_out *o, const smp_stop_result *r)
{
	assert_true(o->n + r->len < sizeof o->out);
	memcpy(o->out + o->n, r->text, r->len);
	o->n += r->len;
	o->out[o->n] = '\0';
	o->reason = r->reason;
	o->which = r->which;
}

static stream_out run_chunks(smp_stop *st, const char *const *chunks, size_t nc, size_t *released_after)
{
	stream_out o = {.which = -1};
	smp_stop_result r;
	for (size_t i = 0; i < nc; i++) {
		assert_int_equal(smp_stop_feed(st, (int32_t)i, chunks[i], strlen(chunks[i]), &r), SMP_OK);
		take(&o, &r);
		if (released_after)
			released_after[i] = o.n;
		if (r.reason != SMP_STOP_NONE)
			return o;
	}
	assert_int_equal(smp_stop_flush(st, &r), SMP_OK);
	take(&o, &r);
	return o;
}

static void test_stop_strings(void **state)
{
	(void)state;
	/* A stop string spanning three chunks; nothing of it is ever released. */
	const char *s1[] = {"</answer>"};
	smp_stop *st = mk_stop(s1, 1, NULL, 0, 0);
	const char *c1[] = {"The result is 42<", "/ans", "wer> trailing"};
	size_t rel[3];
	stream_out o = run_chunks(st, c1, 3, rel);
	assert_string_equal(o.out, "The result is 42");
	assert_int_equal(o.reason, SMP_STOP_STRING);
	assert_int_equal(o.which, 0);
	assert_int_equal(rel[0], strlen("The result is 42")); /* "<" held */
	assert_int_equal(rel[1], strlen("The result is 42"));
	smp_stop_result r;
	assert_int_equal(smp_stop_feed(st, 0, "x", 1, &r), SMP_E_ARG); /* stopped until reset */

	/* A held prefix that turns out not to match is released. */
	smp_stop_reset(st);
	const char *c2[] = {"a </ans", "x> b"};
	o = run_chunks(st, c2, 2, rel);
	assert_string_equal(o.out, "a </ansx> b");
	assert_int_equal(o.reason, SMP_STOP_NONE);
	assert_int_equal(rel[0], 2);
	smp_stop_free(st);

	/* Overlapping prefixes: "ab" in "aab", byte by byte. */
	const char *s2[] = {"ab"};
	st = mk_stop(s2, 1, NULL, 0, 0);
	const char *c3[] = {"a", "a", "b", "c"};
	o = run_chunks(st, c3, 4, rel);
	assert_string_equal(o.out, "a");
	assert_int_equal(o.reason, SMP_STOP_STRING);
	assert_int_equal(rel[0], 0);
	assert_int_equal(rel[1], 1);
	smp_stop_free(st);
	const char *s3[] = {"abab", "abc"};
	st = mk_stop(s3, 2, NULL, 0, 0);
	const char *c4[] = {"xabab", "c"}; /* "abab" completes before the "c" arrives */
	o = run_chunks(st, c4, 2, NULL);
	assert_string_equal(o.out, "x");
	assert_int_equal(o.which, 0);
	smp_stop_reset(st);
	const char *c5[] = {"xa", "bc"};
	o = run_chunks(st, c5, 2, NULL);
	assert_string_equal(o.out, "x");
	assert_int_equal(o.which, 1);
	smp_stop_reset(st);
	const char *c6[] = {"ab", "ab", "ab", "c"};
	o = run_chunks(st, c6, 4, NULL);
	assert_string_equal(o.out, "");
	assert_int_equal(o.which, 0);
	smp_stop_free(st);

	/* Several strings: the earliest-ending wins; at the same end, the longest. */
	const char *s4[] = {"END", "D", "STOP"};
	st = mk_stop(s4, 3, NULL, 0, 0);
	const char *c7[] = {"go STO", "P now END"};
	o = run_chunks(st, c7, 2, NULL);
	assert_string_equal(o.out, "go ");
	assert_int_equal(o.which, 2);
	smp_stop_reset(st);
	const char *c8[] = {"the E", "ND"};
	o = run_chunks(st, c8, 2, NULL);
	assert_string_equal(o.out, "the ");
	assert_int_equal(o.which, 0);
	smp_stop_free(st);
}

static void test_stop_utf8(void **state)
{
	(void)state;
	/* No stop strings: an incomplete UTF-8 tail is held until completed ("é" = C3 A9,
	 * "€" = E2 82 AC, "😀" = F0 9F 98 80). */
	smp_stop *st = mk_stop(NULL, 0, NULL, 0, 0);
	const char *c[] = {"caf\xC3", "\xA9 \xE2\x82", "\xAC \xF0\x9F\x98", "\x80!"};
	size_t rel[4];
	stream_out o = run_chunks(st, c, 4, rel);
	assert_string_equal(o.out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80!");
	assert_int_equal(rel[0], 3);
	assert_int_equal(rel[1], 6);
	assert_int_equal(rel[2], 10);
	assert_int_equal(rel[3], 15);
	/* A truncated tail at the end is still released by flush; invalid bytes are not held. */
	smp_stop_reset(st);
	const char *d[] = {"\xFF\x80", "ok\xE2\x82"};
	o = run_chunks(st, d, 2, rel);
	assert_int_equal(rel[0], 2);
	assert_int_equal(rel[1], 4);
	assert_int_equal(o.n, 6);
	smp_stop_free(st);

	/* A multi-byte stop string split inside a character. */
	const char *s[] = {"\xE2\x80\x94stop"}; /* "—stop" */
	st = mk_stop(s, 1, NULL, 0, 0);
	const char *e[] = {"x\xE2", "\x80", "\x94st", "op more"};
	o = run_chunks(st, e, 4, rel);
	assert_string_equal(o.out, "x");
	assert_int_equal(o.reason, SMP_STOP_STRING);
	smp_stop_reset(st);
	const char *f[] = {"x\xE2\x80", "\x99s"}; /* "’s": same lead bytes, different character */
	o = run_chunks(st, f, 2, rel);
	assert_int_equal(rel[0], 1);
	assert_string_equal(o.out, "x\xE2\x80\x99s");
	smp_stop_free(st);
}

static void test_stop_eos_max(void **state)
{
	(void)state;
	const int32_t eos[] = {151645, 151643, 151645};
	const char *s[] = {"<|im_end|>"};
	smp_stop *st = mk_stop(s, 1, eos, 3, 4);
	assert_true(smp_stop_is_eos(st, 151643));
	assert_true(smp_stop_is_eos(st, 151645));
	assert_false(smp_stop_is_eos(st, 151644));
	assert_false(smp_stop_is_eos(st, -1));
	smp_stop_result r;
	stream_out o = {.which = -1};
	assert_int_equal(smp_stop_feed(st, 10, "Hi <|im", 7, &r), SMP_OK);
	take(&o, &r);
	assert_string_equal(o.out, "Hi ");
	/* EOS: its text is dropped, the held "<|im" released. */
	assert_int_equal(smp_stop_feed(st, 151643, "<|endoftext|>", 13, &r), SMP_OK);
	take(&o, &r);
	assert_string_equal(o.out, "Hi <|im");
	assert_int_equal(r.reason, SMP_STOP_EOS);
	assert_int_equal(r.which, -1);
	assert_int_equal(smp_stop_flush(st, &r), SMP_E_ARG);

	/* Budget of 4 tokens: the 4th token's text is kept and the held bytes released. */
	smp_stop_reset(st);
	o = (stream_out){.which = -1};
	const char *t[] = {"one", " two", "", " <|"};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(smp_stop_feed(st, i, t[i], strlen(t[i]), &r), SMP_OK);
		take(&o, &r);
		assert_int_equal(r.reason, i == 3 ? SMP_STOP_MAX_TOKENS : SMP_STOP_NONE);
	}
	assert_string_equal(o.out, "one two <|");
	/* A stop string in the last token of the budget wins over the budget. */
	smp_stop_reset(st);
	for (int i = 0; i < 3; i++)
		assert_int_equal(smp_stop_feed(st, i, "a", 1, &r), SMP_OK);
	assert_int_equal(smp_stop_feed(st, 3, "<|im_end|>b", 11, &r), SMP_OK);
	assert_int_equal(r.reason, SMP_STOP_STRING);
	assert_int_equal(r.len, 0);
	/* feed_text does not count against the budget. */
	smp_stop_reset(st);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(smp_stop_feed_text(st, "z", 1, &r), SMP_OK);
		assert_int_equal(r.reason, SMP_STOP_NONE);
	}
	smp_stop_free(st);

	/* Bad parameters. */
	smp_stop *bad = NULL;
	char err[128];
	const char *empty[] = {""};
	smp_stop_params sp = {.strings = empty, .n_strings = 1};
	assert_int_equal(smp_stop_create(&sp, &bad, err, sizeof err), SMP_E_PARAM);
	assert_non_null(strstr(err, "stop string 0"));
	const char *inval[] = {"ok", "\xC3("};
	sp = (smp_stop_params){.strings = inval, .n_strings = 2};
	assert_int_equal(smp_stop_create(&sp, &bad, err, sizeof err), SMP_E_PARAM);
	assert_non_null(strstr(err, "UTF-8"));
	const int32_t neg[] = {3, -2};
	sp = (smp_stop_params){.eos_ids = neg, .n_eos = 2};
	assert_int_equal(smp_stop_create(&sp, &bad, err, sizeof err), SMP_E_PARAM);
	assert_non_null(strstr(err, "eos_ids[1]"));
	sp = (smp_stop_params){.n_strings = 2};
	assert_int_equal(smp_stop_create(&sp, &bad, err, sizeof err), SMP_E_PARAM);
	assert_null(bad);
	assert_int_equal(smp_stop_create(NULL, &bad, err, sizeof err), SMP_E_ARG);
	smp_stop_free(NULL);
}

/* Random streams over a 3-letter alphabet, random chunking, random stop sets, against a naive
 * search over the whole text: released text = text before the earliest-ending (then longest)
 * match, or all of it. */
static void test_stop_random(void **state)
{
	(void)state;
	tu_rng r = {31337};
	for (int iter = 0; iter < 3000; iter++) {
		char strs[4][6];
		const char *sp[4];
		size_t ns = 1 + tu_rng_u64(&r) % 4;
		for (size_t k = 0; k < ns; k++) {
			size_t l = 1 + tu_rng_u64(&r) % 5;
			for (size_t j = 0; j < l; j++)
				strs[k][j] = (char)('a' + tu_rng_u64(&r) % 3);
			strs[k][l] = '\0';
			sp[k] = strs[k];
		}
		char text[64];
		size_t tl = tu_rng_u64(&r) % 40;
		for (size_t j = 0; j < tl; j++)
			text[j] = (char)('a' + tu_rng_u64(&r) % 3);
		text[tl] = '\0';
		/* Reference. */
		size_t want_len = tl;
		int32_t want_which = -1;
		for (size_t e = 1; e <= tl && want_which < 0; e++) {
			size_t best = 0;
			for (size_t k = 0; k < ns; k++) {
				size_t l = strlen(sp[k]);
				if (l <= e && l > best && !memcmp(text + e - l, sp[k], l)) {
					best = l;
					want_which = (int32_t)k;
				}
			}
			if (want_which >= 0)
				want_len = e - best;
		}
		smp_stop *st = mk_stop(sp, ns, NULL, 0, 0);
		stream_out o = {.which = -1};
		smp_stop_result res;
		size_t pos = 0;
		while (pos < tl && o.reason == SMP_STOP_NONE) {
			size_t k = tu_rng_u64(&r) % 5; /* empty chunks too */
			if (k > tl - pos)
				k = tl - pos;
			assert_int_equal(smp_stop_feed_text(st, text + pos, k, &res), SMP_OK);
			take(&o, &res);
			pos += k;
		}
		if (o.reason == SMP_STOP_NONE) {
			assert_int_equal(smp_stop_flush(st, &res), SMP_OK);
			take(&o, &res);
		}
		if (o.n != want_len || o.which != want_which)
			fprintf(stderr, "text %s stops %s %s %s %s: got %zu/%d want %zu/%d\n", text, sp[0],
				ns > 1 ? sp[1] : "", ns > 2 ? sp[2] : "", ns > 3 ? sp[3] : "", o.n, o.which, want_len,
				want_which);
		assert_int_equal(o.n, want_len);
		assert_int_equal(o.which, want_which);
		assert_memory_equal(o.out, text, want_len);
		smp_stop_free(st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),       cmocka_unit_test(test_greedy),
		cmocka_unit_test(test_bad_logits),   cmocka_unit_test(test_seed),
		cmocka_unit_test(test_distribution), cmocka_unit_test(test_hf_cases),
		cmocka_unit_test(test_penalties),    cmocka_unit_test(test_large_vocab),
		cmocka_unit_test(test_stop_strings), cmocka_unit_test(test_stop_utf8),
		cmocka_unit_test(test_stop_eos_max), cmocka_unit_test(test_stop_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
