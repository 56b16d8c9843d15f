/* runtime/gen end to end on the tiny Qwen3 (YaRN) fixture converted with --weights f32:
 * greedy generation against a hand-written argmax loop over rt_forward, prefix reuse against a
 * fresh session, seeded sampling, stop strings, token budget, context limits, and chat template
 * rendering against transformers' output (tests/data/chat/cases.jsonl). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "kn_cuda.h"
#include "testutil.h"

static char *tmp_dir, *model_path;
static int32_t fixture_ids[64];
static size_t n_fixture;

static const char *bale_bin(void)
{
	const char *b = getenv("BALE_BIN");
	return b && *b ? b : BALE_BIN;
}

static int setup(void **state)
{
	tmp_dir = tu_mkdtemp("gen");
	model_path = tu_path_join(tmp_dir, "m.bale");
	int rc = tu_bale_convert(bale_bin(), BALE_TEST_DATA "/logits/qwen3-yarn", model_path, "f32");
	json_error_t je;
	json_t *j = json_load_file(BALE_TEST_DATA "/logits/qwen3-yarn/logits.json", 0, &je);
	if (!j)
		return -1;
	json_t *ids = json_object_get(json_array_get(json_object_get(j, "sequences"), 0), "ids");
	n_fixture = json_array_size(ids) < 64 ? json_array_size(ids) : 64;
	for (size_t i = 0; i < n_fixture; i++)
		fixture_ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
	json_decref(j);
	return rc == 0 && n_fixture >= 40 ? 0 : -1;
}

static int teardown(void **state)
{
	tu_rmtree(tmp_dir);
	free(tmp_dir);
	free(model_path);
	return 0;
}

static gen_model *open_model(const gen_model_opts *o)
{
	gen_model *m;
	gen_error ge;
	if (gen_model_open(model_path, o, &m, &ge) != GEN_OK)
		fail_msg("open: %s", ge.msg);
	return m;
}

static gen_session *new_session(gen_model *m, uint32_t ctx)
{
	gen_session *s;
	gen_error ge;
	gen_session_opts so = {.ctx = ctx, .max_batch = 8};
	if (gen_session_create(m, &so, &s, &ge) != GEN_OK)
		fail_msg("session: %s", ge.msg);
	return s;
}

typedef struct {
	char buf[8192];
	size_t len;
	size_t n_pieces, n_reasoning;
} collect;

static bool on_piece(void *user, const char *t, size_t len, bool reasoning)
{
	collect *c = user;
	assert_true(len > 0);
	assert_true(c->len + len < sizeof c->buf);
	memcpy(c->buf + c->len, t, len);
	c->len += len;
	c->buf[c->len] = 0;
	c->n_pieces++;
	c->n_reasoning += reasoning;
	return true;
}

static gen_params greedy_params(uint64_t max_tokens)
{
	gen_params p = {.sampling = smp_params_default(), .max_tokens = max_tokens};
	p.sampling.temperature = 0;
	return p;
}

static void generate(gen_session *s, const int32_t *ids, size_t n, const gen_params *p, collect *c, gen_stats *st)
{
	memset(c, 0, sizeof *c);
	gen_error ge;
	if (gen_generate(s, ids, n, p, on_piece, c, st, &ge) != GEN_OK)
		fail_msg("generate: %s", ge.msg);
}

static size_t argmax(const float *v, size_t n)
{
	size_t b = 0;
	for (size_t i = 1; i < n; i++)
		if (v[i] > v[b])
			b = i;
	return b;
}

/* Greedy output equals an argmax loop over rt_forward, decoded with tok_decode, and repeats. */
static void test_greedy_matches_manual(void **state)
{
	gen_model *m = open_model(NULL);
	gen_session *s = new_session(m, 96);
	const size_t n_prompt = 12, max_new = 24;
	gen_params p = greedy_params(max_new);
	collect a, b;
	gen_stats sa, sb;
	generate(s, fixture_ids, n_prompt, &p, &a, &sa);
	gen_session_reset(s);
	generate(s, fixture_ids, n_prompt, &p, &b, &sb);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	assert_int_equal(sa.generated_tokens, sb.generated_tokens);
	assert_int_equal(sa.prompt_tokens, n_prompt);

	/* the manual loop, on its own state */
	const rt_model *rm = gen_model_rt(m);
	const rt_config *c = gen_model_config(m);
	rt_state *rs;
	rt_error re;
	assert_int_equal(rt_state_create(rm, &(rt_state_opts){.max_ctx = 96, .max_batch = 4}, &rs, &re), RT_OK);
	float *lg = malloc(c->vocab_size * sizeof *lg);
	assert_non_null(lg);
	assert_int_equal(rt_forward(rm, rs, fixture_ids, n_prompt, 0, RT_LOGITS_LAST, lg, &re), RT_OK);
	size_t n_eos;
	const int32_t *eos = gen_model_eos_ids(m, &n_eos);
	assert_true(n_eos >= 1 && eos[0] == 302);
	tok_tokenizer *tok = gen_model_tokenizer(m);
	int32_t out[64];
	size_t n_out = 0, n_gen = 0;
	bool hit_eos = false;
	for (size_t i = 0; i < max_new && !hit_eos; i++) {
		int32_t id = (int32_t)argmax(lg, c->vocab_size);
		n_gen++;
		for (size_t k = 0; k < n_eos; k++)
			hit_eos |= id == eos[k];
		if (hit_eos)
			break;
		if ((uint32_t)id < tok_n_tokens(tok))
			out[n_out++] = id;
		assert_int_equal(rt_forward(rm, rs, &id, 1, n_prompt + i, RT_LOGITS_LAST, lg, &re), RT_OK);
	}
	char *text;
	size_t len;
	assert_int_equal(tok_decode(tok, out, n_out, 0, &text, &len), TOK_OK);
	assert_int_equal(sa.generated_tokens, n_gen);
	assert_int_equal(sa.reason, hit_eos ? GEN_STOP_EOS : GEN_STOP_MAX_TOKENS);
	assert_int_equal(len, a.len);
	assert_memory_equal(text, a.buf, len);
	assert_true(len > 0);
	free(text);
	free(lg);
	rt_state_free(rs);
	gen_session_free(s);
	gen_model_free(m);
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
	double md = 0, mr = 0;
	for (size_t i = 0; i < n; i++) {
		md = fmax(md, fabs((double)a[i] - b[i]));
		mr = fmax(mr, fabs((double)b[i]));
	}
	return md / mr;
}

/* Logits after reusing a cached prefix equal those of a fresh session. */
static void test_prefix_reuse(void **state)
{
	gen_model *m = open_model(NULL);
	uint32_t V = gen_model_config(m)->vocab_size;
	gen_session *s1 = new_session(m, 64), *s2 = new_session(m, 64);
	float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b), *all = malloc(40 * V * sizeof *all);
	assert_true(a && b && all);
	gen_error ge;
	assert_int_equal(gen_logits(s1, fixture_ids, 30, false, a, &ge), GEN_OK);
	assert_int_equal(gen_session_n_cached(s1), 30);
	/* same 30-token prefix, then a different continuation: the cache is cut back to 30 */
	int32_t ids[40];
	memcpy(ids, fixture_ids, sizeof ids);
	ids[35] = (ids[35] + 1) % (int32_t)V;
	assert_int_equal(gen_logits(s1, ids, 40, false, a, &ge), GEN_OK);
	assert_int_equal(gen_logits(s2, ids, 40, false, b, &ge), GEN_OK);
	assert_true(max_rel_diff(a, b, V) < 1e-5);
	/* all positions from scratch agree with the cached last row too */
	assert_int_equal(gen_logits(s1, ids, 40, true, all, &ge), GEN_OK);
	assert_true(max_rel_diff(all + 39 * (size_t)V, b, V) < 1e-5);

	/* after a generation, a prompt extending it reuses prompt + output */
	gen_session_reset(s1);
	gen_params p = greedy_params(6);
	collect c;
	gen_stats st;
	generate(s1, fixture_ids, 20, &p, &c, &st);
	size_t cached = gen_session_n_cached(s1);
	assert_true(cached >= 20 && cached <= 26);
	generate(s1, fixture_ids, 25, &p, &c, &st);
	assert_int_equal(st.reused_tokens, 20);
	free(a), free(b), free(all);
	gen_session_free(s1);
	gen_session_free(s2);
	gen_model_free(m);
}

static void test_seeded_sampling(void **state)
{
	gen_model *m = open_model(NULL);
	gen_session *s = new_session(m, 64);
	gen_params p = {.sampling = smp_params_default(), .max_tokens = 20};
	p.sampling.seed = 42;
	collect a, b, c;
	gen_stats st;
	generate(s, fixture_ids, 8, &p, &a, &st);
	generate(s, fixture_ids, 8, &p, &b, &st); /* fully cached prompt: one position recomputed */
	assert_int_equal(st.reused_tokens, 7);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	p.sampling.seed = 43;
	generate(s, fixture_ids, 8, &p, &c, &st);
	assert_false(c.len == a.len && memcmp(a.buf, c.buf, a.len) == 0);
	gen_session_free(s);
	gen_model_free(m);
}

/* Length of the UTF-8 sequence starting at s[i], or 0 for a continuation byte. */
static size_t u8len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xC0 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static void test_stop_and_budget(void **state)
{
	gen_model *m = open_model(NULL);
	gen_session *s = new_session(m, 96);
	gen_params p = greedy_params(30);
	collect full, c;
	gen_stats st;
	generate(s, fixture_ids, 10, &p, &full, &st);
	assert_int_equal(st.reason, GEN_STOP_MAX_TOKENS);
	assert_int_equal(st.generated_tokens, 30);
	assert_true(full.len > 8);

	/* a stop string taken from the middle of the output: text ends right before its first match */
	size_t k = full.len / 2;
	while (k > 0 && u8len((unsigned char)full.buf[k]) == 0)
		k--;
	size_t e = k + u8len((unsigned char)full.buf[k]);
	if (e < full.len)
		e += u8len((unsigned char)full.buf[e]);
	char stop[16] = {0};
	assert_true(e - k < sizeof stop && e <= full.len);
	memcpy(stop, full.buf + k, e - k);
	const char *first = strstr(full.buf, stop);
	assert_non_null(first);
	const char *stops[] = {stop};
	p.stop = stops;
	p.n_stop = 1;
	generate(s, fixture_ids, 10, &p, &c, &st);
	assert_int_equal(st.reason, GEN_STOP_STRING);
	assert_int_equal(c.len, (size_t)(first - full.buf));
	assert_memory_equal(c.buf, full.buf, c.len);

	/* budget */
	p = greedy_params(5);
	generate(s, fixture_ids, 10, &p, &c, &st);
	assert_int_equal(st.reason, GEN_STOP_MAX_TOKENS);
	assert_int_equal(st.generated_tokens, 5);
	assert_true(c.len <= full.len && memcmp(c.buf, full.buf, c.len) == 0);
	gen_session_free(s);
	gen_model_free(m);
}

static void test_context_limits(void **state)
{
	gen_model *m = open_model(NULL);
	gen_session *s = new_session(m, 16);
	gen_params p = greedy_params(100);
	collect c;
	gen_stats st;
	gen_error ge;
	assert_int_equal(gen_generate(s, fixture_ids, 20, &p, on_piece, &c, &st, &ge), GEN_E_CONTEXT);
	assert_non_null(strstr(ge.msg, "20 tokens"));
	assert_non_null(strstr(ge.msg, "16"));
	float lg[320];
	assert_int_equal(gen_logits(s, fixture_ids, 17, false, lg, &ge), GEN_E_CONTEXT);
	assert_int_equal(gen_logits(s, fixture_ids, 0, false, lg, &ge), GEN_E_ARG);
	int32_t bad[2] = {1, 320};
	assert_int_equal(gen_logits(s, bad, 2, false, lg, &ge), GEN_E_ARG);
	/* a generation that fills the context stops there */
	generate(s, fixture_ids, 10, &p, &c, &st);
	assert_int_equal(st.reason, GEN_STOP_CTX_FULL);
	assert_int_equal(gen_session_n_cached(s), 16);
	assert_int_equal(st.generated_tokens, 7);
	gen_session_free(s);
	/* a context larger than the model's is refused */
	gen_session_opts so = {.ctx = 129};
	assert_int_equal(gen_session_create(m, &so, &s, &ge), GEN_E_ARG);
	gen_model_free(m);
}

static void test_template_fixture(void **state)
{
	gen_model_opts o = {.chat_template_file = BALE_TEST_DATA "/chat/qwen3.jinja"};
	gen_model *m = open_model(&o);
	FILE *f = fopen(BALE_TEST_DATA "/chat/cases.jsonl", "r");
	assert_non_null(f);
	static const char *const wanted[] = {"qwen3/think_in_content/agp1", "qwen3/multi_turn/agp1/nothink"};
	size_t found = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		const char *id = json_string_value(json_object_get(j, "id"));
		bool want = false;
		for (size_t k = 0; k < 2; k++)
			want |= !strcmp(id, wanted[k]);
		if (want) {
			json_t *ctx = json_object_get(j, "context"), *msgs = json_object_get(ctx, "messages");
			gen_message mm[16];
			size_t n = json_array_size(msgs);
			assert_true(n <= 16);
			for (size_t i = 0; i < n; i++) {
				json_t *mj = json_array_get(msgs, i);
				mm[i] = (gen_message){json_string_value(json_object_get(mj, "role")),
						      json_string_value(json_object_get(mj, "content"))};
			}
			json_t *et = json_object_get(ctx, "enable_thinking");
			gen_render_opts ro = {.add_generation_prompt = true, .enable_thinking = et ? json_is_true(et) : -1};
			char *out;
			size_t len;
			gen_error ge;
			if (gen_render(m, mm, n, &ro, &out, &len, &ge) != GEN_OK)
				fail_msg("%s: %s", id, ge.msg);
			const char *exp = json_string_value(json_object_get(j, "expected"));
			if (strcmp(out, exp) != 0)
				fail_msg("%s: rendered\n%s\nexpected\n%s", id, out, exp);
			assert_int_equal(len, strlen(exp));
			found++;
			free(out);
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
	assert_int_equal(found, 2);
	gen_model_free(m);
}

static void test_model_errors(void **state)
{
	gen_model *m;
	gen_error ge;
	char *bad = tu_path_join(tmp_dir, "bad.bale");
	assert_int_equal(tu_write_file(bad, "not a bale file at all", 22), 0);
	assert_int_equal(gen_model_open(bad, NULL, &m, &ge), GEN_E_FORMAT);
	assert_null(m);
	assert_non_null(strstr(ge.msg, "bad.bale"));
	gen_model_opts o = {.chat_template_name = "nope"};
	assert_int_equal(gen_model_open(model_path, &o, &m, &ge), GEN_E_TEMPLATE);
	o = (gen_model_opts){.chat_template_file = bad};
	assert_int_equal(gen_model_open(model_path, &o, &m, &ge), GEN_OK); /* plain text is a valid template */
	gen_model_free(m);
	char *tp = tu_path_join(tmp_dir, "bad.jinja");
	assert_int_equal(tu_write_file(tp, "{% if %}", 8), 0);
	o = (gen_model_opts){.chat_template_file = tp};
	assert_int_equal(gen_model_open(model_path, &o, &m, &ge), GEN_E_TEMPLATE);
	o = (gen_model_opts){.chat_template_file = "/nonexistent/t.jinja"};
	assert_int_equal(gen_model_open(model_path, &o, &m, &ge), GEN_E_IO);
	/* YaRN mode: auto picks vllm because the file stores rope.attn_factor */
	m = open_model(NULL);
	assert_int_equal(gen_model_yarn(m), GEN_YARN_VLLM);
	gen_model_free(m);
	free(bad);
	free(tp);
}

/* Relative L2 distance ‖a − b‖ / ‖b‖. */
static double rel_l2(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return den > 0 ? sqrt(num / den) : INFINITY;
}

/* KV types on the CPU (FP8 against F32) and the device choice: a CUDA model without a GPU fails
 * with GEN_E_DEVICE and kn_cuda's reason, before anything is uploaded. */
static void test_devices_and_kv(void **state)
{
	gen_model *m = open_model(NULL);
	assert_int_equal(gen_model_device(m), GEN_DEVICE_CPU);
	assert_null(gen_model_load_stats(m));
	gen_error ge;
	gen_session *s;
	float ref[320], got[320];
	gen_session_opts so = {.ctx = 64, .max_batch = 8};
	assert_int_equal(gen_session_create(m, &so, &s, &ge), GEN_OK);
	assert_int_equal(gen_session_kv_type(s), GEN_KV_F32); /* DEFAULT on the CPU */
	assert_int_equal(gen_logits(s, fixture_ids, 40, false, ref, &ge), GEN_OK);
	gen_session_free(s);
	/* FP8 E4M3 keeps ~3 significant bits per element: logits move, but only a little */
	static const struct {
		gen_kv_type kv;
		double max_rel_l2;
	} kv_limits[] = {{GEN_KV_BF16, 1e-2}, {GEN_KV_FP8, 1.5e-1}};
	for (size_t k = 0; k < sizeof kv_limits / sizeof *kv_limits; k++) {
		so.kv_type = kv_limits[k].kv;
		memset(got, 0xFF, sizeof got);
		if (gen_session_create(m, &so, &s, &ge) != GEN_OK)
			fail_msg("%s session: %s", gen_kv_name(so.kv_type), ge.msg);
		assert_int_equal(gen_session_kv_type(s), kv_limits[k].kv);
		if (gen_logits(s, fixture_ids, 40, false, got, &ge) != GEN_OK)
			fail_msg("%s logits: %s", gen_kv_name(so.kv_type), ge.msg);
		double e = rel_l2(got, ref, 320);
		if (!(e <= kv_limits[k].max_rel_l2))
			fail_msg("%s KV: relative L2 %.3g > %.3g", gen_kv_name(so.kv_type), e, kv_limits[k].max_rel_l2);
		gen_session_free(s);
	}
	so.kv_type = (gen_kv_type)42;
	assert_int_equal(gen_session_create(m, &so, &s, &ge), GEN_E_ARG);
	gen_model_free(m);

	gen_model_opts o = {.device = (gen_device)7};
	assert_int_equal(gen_model_open(model_path, &o, &m, &ge), GEN_E_ARG);
	assert_null(m);
	char why[256] = "";
	if (kn_cuda_device_count(why, sizeof why) > 0) {
		print_message("a GPU is usable here: the no-GPU path is not exercised (test_gen_cuda covers the GPU)\n");
		return;
	}
	o = (gen_model_opts){.device = GEN_DEVICE_CUDA, .verify_load = true};
	assert_int_equal(gen_model_open(model_path, &o, &m, &ge), GEN_E_DEVICE);
	assert_null(m);
	assert_non_null(strstr(ge.msg, "no usable GPU"));
	assert_true(strlen(why) > 8);
	if (!strstr(ge.msg, why))
		fail_msg("the message should carry kn_cuda's reason '%s': %s", why, ge.msg);
	assert_non_null(strstr(ge.msg, "m.bale"));
	assert_string_equal(gen_status_name(GEN_E_DEVICE), "GEN_E_DEVICE");
}

static void test_reasoning_helpers(void **state)
{
	assert_true(gen_text_opens_reasoning("a<think>\n", 9));
	assert_false(gen_text_opens_reasoning("a<think>b</think>c", 18));
	assert_true(gen_text_opens_reasoning("<think>b</think>c<think>", 24));
	assert_false(gen_text_opens_reasoning("plain", 5));
	/* the tiny template ends its prompt with <think>: everything generated is reasoning */
	gen_model *m = open_model(NULL);
	gen_message msg = {"user", "hi"};
	gen_render_opts ro = {.add_generation_prompt = true, .enable_thinking = -1};
	char *text;
	size_t len;
	gen_error ge;
	assert_int_equal(gen_render(m, &msg, 1, &ro, &text, &len, &ge), GEN_OK);
	assert_true(gen_text_opens_reasoning(text, len));
	int32_t *ids;
	size_t n;
	assert_int_equal(gen_encode(m, text, len, false, &ids, &n, &ge), GEN_OK);
	assert_int_equal(ids[0], 301); /* <|im_start|> as one special token */
	gen_session *s = new_session(m, 64);
	gen_params p = greedy_params(10);
	p.start_in_reasoning = true;
	collect c;
	gen_stats st;
	generate(s, ids, n, &p, &c, &st);
	assert_true(c.n_pieces > 0);
	if (!strstr(c.buf, "</think>"))
		assert_int_equal(c.n_reasoning, c.n_pieces);
	free(ids);
	free(text);
	gen_session_free(s);
	gen_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greedy_matches_manual), cmocka_unit_test(test_prefix_reuse),
		cmocka_unit_test(test_seeded_sampling),       cmocka_unit_test(test_stop_and_budget),
		cmocka_unit_test(test_context_limits),        cmocka_unit_test(test_template_fixture),
		cmocka_unit_test(test_model_errors),          cmocka_unit_test(test_reasoning_helpers),
		cmocka_unit_test(test_devices_and_kv),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
