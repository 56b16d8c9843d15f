/* runtime/gen on the GPU (label gpu; exits 77 without a usable device): the tiny Qwen3 (YaRN)
 * fixture converted to INT8, run through gen_ with GEN_DEVICE_CUDA against the same file on the
 * CPU: load stats, logits of every position (BF16 and FP8 KV), prefix reuse and rewinding, and a
 * greedy generation through the sampling loop. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "kn_cuda.h"
#include "testutil.h"

/* Relative L2 error of GPU logits against the CPU's (same INT8 weights; the GPU keeps BF16
 * activations and KV, the CPU f32). */
static const struct {
	const char *what;
	double max_rel_l2;
} LIMITS[] = {
	{"bf16 KV, all positions", 3e-2},
	{"fp8 KV, all positions", 1e-1},
	{"cached prefix vs fresh", 3e-2},
};
enum { LIM_BF16 = 0, LIM_FP8 = 1, LIM_REUSE = 2 };

#define VOCAB 320
#define N_IDS 40

static char *tmp_dir, *model_path;
static int32_t ids[64];

static const char *bale_bin(void)
{
	const char *b = getenv("BALE_BIN");
	return b && *b ? b : BALE_BIN;
}

static int setup(void **state)
{
	tmp_dir = tu_mkdtemp("gencuda");
	model_path = tu_path_join(tmp_dir, "m.bale");
	int rc = tu_bale_convert(bale_bin(), BALE_TEST_DATA "/logits/qwen3-yarn", model_path, "int8");
	json_t *j = json_load_file(BALE_TEST_DATA "/logits/qwen3-yarn/logits.json", 0, NULL);
	if (!j)
		return -1;
	json_t *a = json_object_get(json_array_get(json_object_get(j, "sequences"), 0), "ids");
	size_t n = json_array_size(a);
	for (size_t i = 0; i < N_IDS && i < n; i++)
		ids[i] = (int32_t)json_integer_value(json_array_get(a, i));
	json_decref(j);
	return rc == 0 && n >= N_IDS ? 0 : -1;
}

static int teardown(void **state)
{
	tu_rmtree(tmp_dir);
	free(tmp_dir);
	free(model_path);
	return 0;
}

static double rel_l2(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(a[i]))
			return INFINITY; /* unwritten (poisoned) or broken */
		double d = (double)a[i] - b[i];
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return den > 0 ? sqrt(num / den) : INFINITY;
}

static void check(int lim, const float *got, const float *ref, size_t n)
{
	double e = rel_l2(got, ref, n);
	if (!(e <= LIMITS[lim].max_rel_l2))
		fail_msg("%s: relative L2 %.4g > %.4g", LIMITS[lim].what, e, LIMITS[lim].max_rel_l2);
	print_message("%s: relative L2 %.4g (limit %.4g)\n", LIMITS[lim].what, e, LIMITS[lim].max_rel_l2);
}

static gen_model *open_on(gen_device d)
{
	gen_model_opts o = {.device = d, .verify_load = true};
	gen_model *m;
	gen_error ge;
	if (gen_model_open(model_path, &o, &m, &ge) != GEN_OK)
		fail_msg("open on %s: %s", gen_device_name(d), ge.msg);
	return m;
}

static gen_session *session(gen_model *m, gen_kv_type kv, uint32_t ctx)
{
	gen_session_opts so = {.ctx = ctx, .kv_type = kv};
	gen_session *s;
	gen_error ge;
	if (gen_session_create(m, &so, &s, &ge) != GEN_OK)
		fail_msg("session (%s KV): %s", gen_kv_name(kv), ge.msg);
	return s;
}

static void logits_all(gen_session *s, size_t n, float *out)
{
	gen_error ge;
	memset(out, 0xFF, n * VOCAB * sizeof *out);
	if (gen_logits(s, ids, n, true, out, &ge) != GEN_OK)
		fail_msg("logits: %s", ge.msg);
}

static void test_logits_parity(void **state)
{
	gen_model *cpu = open_on(GEN_DEVICE_CPU), *gpu = open_on(GEN_DEVICE_CUDA);
	const gen_load_stats *ls = gen_model_load_stats(gpu);
	assert_non_null(ls);
	assert_true(ls->bytes > 0 && ls->verified && ls->seconds > 0);
	assert_int_equal(gen_model_device(gpu), GEN_DEVICE_CUDA);
	float *ref = malloc(N_IDS * VOCAB * sizeof *ref), *got = malloc(N_IDS * VOCAB * sizeof *got);
	assert_non_null(ref);
	assert_non_null(got);
	gen_session *sc = session(cpu, GEN_KV_F32, 64);
	logits_all(sc, N_IDS, ref);
	gen_session_free(sc);

	gen_session *sg = session(gpu, GEN_KV_DEFAULT, 64);
	assert_int_equal(gen_session_kv_type(sg), GEN_KV_BF16);
	logits_all(sg, N_IDS, got);
	check(LIM_BF16, got, ref, N_IDS * VOCAB);
	gen_session_free(sg);

	sg = session(gpu, GEN_KV_FP8, 64);
	logits_all(sg, N_IDS, got);
	check(LIM_FP8, got, ref, N_IDS * VOCAB);
	gen_session_free(sg);

	gen_session_opts bad = {.ctx = 64, .kv_type = GEN_KV_F32};
	gen_error ge;
	assert_int_equal(gen_session_create(gpu, &bad, &sg, &ge), GEN_E_ARG);
	free(ref);
	free(got);
	gen_model_free(gpu);
	gen_model_free(cpu);
}

/* The last-position logits after reusing a cached prefix (decode path), after rewinding to a
 * shorter prompt, and from a fresh session (prefill path) agree. */
static void test_reuse_and_rewind(void **state)
{
	gen_model *gpu = open_on(GEN_DEVICE_CUDA);
	gen_session *a = session(gpu, GEN_KV_BF16, 64), *b = session(gpu, GEN_KV_BF16, 64);
	float la[VOCAB], lb[VOCAB];
	gen_error ge;
	assert_int_equal(gen_logits(a, ids, 30, false, la, &ge), GEN_OK);
	memset(la, 0xFF, sizeof la);
	assert_int_equal(gen_logits(a, ids, 31, false, la, &ge), GEN_OK); /* one decode step on the cache */
	assert_int_equal(gen_session_n_cached(a), 31);
	assert_int_equal(gen_logits(b, ids, 31, false, lb, &ge), GEN_OK);
	check(LIM_REUSE, la, lb, VOCAB);
	memset(la, 0xFF, sizeof la);
	assert_int_equal(gen_logits(a, ids, 20, false, la, &ge), GEN_OK); /* rewinds */
	gen_session_reset(b);
	assert_int_equal(gen_logits(b, ids, 20, false, lb, &ge), GEN_OK);
	check(LIM_REUSE, la, lb, VOCAB);
	gen_session_free(a);
	gen_session_free(b);
	gen_model_free(gpu);
}

static bool count_piece(void *user, const char *t, size_t len, bool reasoning)
{
	(void)t, (void)reasoning;
	*(size_t *)user += len;
	return true;
}

static void test_generate(void **state)
{
	gen_model *gpu = open_on(GEN_DEVICE_CUDA);
	gen_session *s = session(gpu, GEN_KV_BF16, 64);
	gen_params p = {.sampling = smp_params_default(), .max_tokens = 16};
	p.sampling.temperature = 0;
	gen_stats st;
	gen_error ge;
	size_t bytes = 0;
	if (gen_generate(s, ids, 20, &p, count_piece, &bytes, &st, &ge) != GEN_OK)
		fail_msg("generate: %s", ge.msg);
	assert_true(st.generated_tokens >= 1 && st.generated_tokens <= 16);
	if (st.reason == GEN_STOP_MAX_TOKENS)
		assert_int_equal(st.generated_tokens, 16);
	assert_true(st.prefill_tps > 0);
	/* every sampled id but the last one was run through the model */
	assert_int_equal(gen_session_n_cached(s), 20 + st.generated_tokens - 1);
	gen_session_free(s);
	gen_model_free(gpu);
}

int main(void)
{
	char why[256] = "";
	if (kn_cuda_device_count(why, sizeof why) <= 0) {
		printf("SKIP: no usable GPU: %s\n", why);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logits_parity),
		cmocka_unit_test(test_reuse_and_rewind),
		cmocka_unit_test(test_generate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
