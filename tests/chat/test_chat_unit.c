/* Feature tests for the chat template engine: snippets with outputs produced by jinja2 (see
 * tools/reference/make_template_fixtures.py), error positions, hostile templates and API misuse. */
#include "chat_testlib.h"

static void test_snippets(void **state)
{
	(void)state;
	json_t *rows = ct_load_jsonl("snippets.jsonl");
	assert_non_null(rows);
	size_t i, bad = 0, n_out = 0, n_err = 0, n_syn = 0;
	json_t *r;
	assert_true(json_array_size(rows) >= 60);
	json_array_foreach(rows, i, r) {
		const char *id = json_string_value(json_object_get(r, "id"));
		json_t *src = json_object_get(r, "template");
		json_t *want = json_object_get(r, "expected");
		const char *kind = json_string_value(json_object_get(r, "kind"));
		char *out = NULL;
		size_t out_len = 0;
		chat_error err;
		chat_status st = ct_render(json_string_value(src), json_string_length(src), json_object_get(r, "context"),
					   NULL, &out, &out_len, &err);
		if (want) {
			n_out++;
			const char *w = json_string_value(want);
			size_t wn = json_string_length(want);
			if (st != CHAT_OK) {
				fprintf(stderr, "[%s] failed: %s at %d:%d: %s\n", id, chat_status_str(st), err.line,
					err.column, err.message);
				bad++;
			} else if (wn != out_len || memcmp(w, out, wn) != 0) {
				ct_show_diff(id, w, wn, out, out_len);
				bad++;
			}
		} else if (strcmp(kind, "syntax") == 0) {
			n_syn++;
			json_t *line = json_object_get(r, "line");
			if (st != CHAT_ERR_SYNTAX && st != CHAT_ERR_LIMIT) {
				fprintf(stderr, "[%s] expected a syntax error, got %s\n", id, chat_status_str(st));
				bad++;
			} else if (json_is_integer(line) && json_integer_value(line) != err.line) {
				fprintf(stderr, "[%s] error on line %d, jinja2 says %lld (%s)\n", id, err.line,
					(long long)json_integer_value(line), err.message);
				bad++;
			} else if (err.line < 1 || err.column < 1 || !err.message[0]) {
				fprintf(stderr, "[%s] error lacks a position or message\n", id);
				bad++;
			}
		} else {
			n_err++;
			chat_status want_st = strcmp(kind, "raised") == 0 ? CHAT_ERR_RAISED : CHAT_ERR_RUNTIME;
			const char *jmsg = json_string_value(json_object_get(r, "error"));
			if (st != want_st) {
				fprintf(stderr, "[%s] expected %s (%s), got %s\n", id, chat_status_str(want_st), jmsg,
					chat_status_str(st));
				bad++;
			} else if (want_st == CHAT_ERR_RAISED &&
				   strcmp(err.message, strchr(jmsg, ':') ? strchr(jmsg, ':') + 2 : jmsg) != 0) {
				fprintf(stderr, "[%s] raise message '%s' vs jinja2 '%s'\n", id, err.message, jmsg);
				bad++;
			} else if (err.line < 1) {
				fprintf(stderr, "[%s] runtime error without a line\n", id);
				bad++;
			}
		}
		free(out);
	}
	fprintf(stderr, "test_chat_unit: %zu snippets (%zu outputs, %zu runtime errors, %zu syntax errors), %zu bad\n",
		json_array_size(rows), n_out, n_err, n_syn, bad);
	json_decref(rows);
	assert_int_equal(bad, 0);
}

typedef struct {
	const char *src;
	int line, col;
	chat_status st;
} pos_case;

/* Our columns (jinja2 reports lines only): the token where the problem is. */
static void test_error_positions(void **state)
{
	(void)state;
	static const pos_case cases[] = {
		{"{{ 1 + }}", 1, 8, CHAT_ERR_SYNTAX},
		{"ab\ncd {{ x $ }}", 2, 9, CHAT_ERR_SYNTAX},
		{"\n\n  {% if x %}\n{% endfor %}", 4, 4, CHAT_ERR_SYNTAX},
		{"x\n  {{ 'abc }}", 2, 6, CHAT_ERR_SYNTAX},
		{"{% if a %}\n{% frob %}", 2, 4, CHAT_ERR_SYNTAX},
		{"{{ (1 + 2 }}", 1, 11, CHAT_ERR_SYNTAX},
		{"{% for x in [1] %}\n  {{ x.y.z }}\n{% endfor %}", 2, 9, CHAT_ERR_RUNTIME},
		{"line\n{{ 'a' + 1 }}", 2, 8, CHAT_ERR_RUNTIME},
		{"\n\n{{ raise_exception('nope') }}", 3, 19, CHAT_ERR_RAISED},
		{"{{ missing.attr }}", 1, 11, CHAT_ERR_RUNTIME},
		{"{% if true %}\n\n{{ 1 / 0 }}{% endif %}", 3, 6, CHAT_ERR_RUNTIME},
		{"{# unclosed", 1, 1, CHAT_ERR_SYNTAX},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = NULL;
		chat_error err;
		json_t *ctx = json_object();
		chat_status st = ct_render(cases[i].src, strlen(cases[i].src), ctx, NULL, &out, NULL, &err);
		json_decref(ctx);
		if (st != cases[i].st || err.line != cases[i].line || err.column != cases[i].col)
			fprintf(stderr, "case %zu: got %s %d:%d (%s), want %s %d:%d\n", i, chat_status_str(st), err.line,
				err.column, err.message, chat_status_str(cases[i].st), cases[i].line, cases[i].col);
		assert_int_equal(st, cases[i].st);
		assert_int_equal(err.line, cases[i].line);
		assert_int_equal(err.column, cases[i].col);
		assert_null(out);
	}
}

static chat_status render_lim(const char *src, const chat_limits *lim, chat_error *err)
{
	char *out = NULL;
	chat_status st = ct_render(src, strlen(src), NULL, lim, &out, NULL, err);
	free(out);
	return st;
}

static char *repeat(const char *a, int n, const char *mid, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), lm = strlen(mid);
	char *s = malloc((la + lb) * (size_t)n + lm + 1);
	assert_non_null(s);
	size_t o = 0;
	for (int i = 0; i < n; i++, o += la)
		memcpy(s + o, a, la);
	memcpy(s + o, mid, lm);
	o += lm;
	for (int i = 0; i < n; i++, o += lb)
		memcpy(s + o, b, lb);
	s[o] = 0;
	return s;
}

static void test_hostile(void **state)
{
	(void)state;
	chat_limits lim;
	chat_limits_default(&lim);
	chat_error err;
	/* deep nesting in expressions and statements: clean limit errors, no stack overflow */
	char *s = repeat("(", 100000, "1", ")");
	size_t ls = strlen(s);
	char *src = malloc(ls + 8);
	snprintf(src, ls + 8, "{{ %s }}", s);
	assert_int_equal(render_lim(src, NULL, &err), CHAT_ERR_LIMIT);
	assert_true(err.line == 1 && err.column > 1);
	free(src);
	free(s);
	s = repeat("{% if true %}", 5000, "x", "{% endif %}");
	assert_int_equal(render_lim(s, NULL, &err), CHAT_ERR_LIMIT);
	free(s);
	s = repeat("[", 50000, "", "]");
	src = malloc(strlen(s) + 8);
	sprintf(src, "{{ %s }}", s);
	assert_int_equal(render_lim(src, NULL, &err), CHAT_ERR_LIMIT);
	free(src);
	free(s);
	s = repeat("-", 50000, "1", "");
	src = malloc(strlen(s) + 8);
	sprintf(src, "{{ %s }}", s);
	assert_int_equal(render_lim(src, NULL, &err), CHAT_ERR_LIMIT);
	free(src);
	free(s);
	/* unbounded recursion through a macro */
	assert_int_equal(render_lim("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, &err),
			 CHAT_ERR_LIMIT);
	assert_int_equal(err.line, 1);
	/* loops: a huge range, nested loops, and the iteration cap */
	assert_int_equal(render_lim("{% for i in range(1000000000000) %}x{% endfor %}", NULL, &err), CHAT_ERR_LIMIT);
	lim.max_iterations = 100000;
	assert_int_equal(render_lim("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", &lim,
				    &err),
			 CHAT_ERR_LIMIT);
	assert_true(strstr(err.message, "iteration") != NULL);
	chat_limits_default(&lim);
	/* output size */
	lim.max_output = 1 << 20;
	assert_int_equal(render_lim("{% for i in range(100000) %}{{ 'abcdefghij' * 100 }}{% endfor %}", &lim, &err),
			 CHAT_ERR_LIMIT);
	assert_true(strstr(err.message, "output") != NULL);
	/* exponential string and list growth */
	assert_int_equal(render_lim("{% set ns = namespace(s='xy') %}{% for i in range(200) %}{% set ns.s = ns.s ~ ns.s "
				    "%}{% endfor %}{{ ns.s|length }}",
				    &lim, &err),
			 CHAT_ERR_LIMIT);
	chat_limits_default(&lim);
	lim.max_memory = 64 << 20;
	assert_int_equal(render_lim("{% set ns = namespace(l=[1]) %}{% for i in range(200) %}{% set ns.l = ns.l + ns.l "
				    "%}{% endfor %}{{ ns.l|length }}",
				    &lim, &err),
			 CHAT_ERR_LIMIT);
	assert_int_equal(render_lim("{{ 'x' * 100000000000 }}", NULL, &err), CHAT_ERR_LIMIT);
	/* big but legitimate output still works */
	char *out = NULL;
	size_t n = 0;
	const char *big = "{% for i in range(20000) %}{{ i }},{% endfor %}";
	assert_int_equal(ct_render(big, strlen(big), NULL, NULL, &out, &n, &err), CHAT_OK);
	assert_true(n > 100000);
	assert_memory_equal(out + n - 6, "19999,", 6);
	free(out);
}

static void test_api(void **state)
{
	(void)state;
	chat_template *t = (chat_template *)(uintptr_t)1;
	chat_error err;
	assert_int_equal(chat_template_create(NULL, 3, &t, &err), CHAT_ERR_ARG);
	assert_int_equal(chat_template_create("x", 1, NULL, &err), CHAT_ERR_ARG);
	assert_int_equal(chat_template_create("{{ a }} {{ b.c }}", 17, &t, NULL), CHAT_OK);
	char *out = (char *)"junk";
	assert_int_equal(chat_template_render(NULL, NULL, NULL, &out, NULL, &err), CHAT_ERR_ARG);
	assert_null(out);
	json_t *arr = json_array();
	assert_int_equal(chat_template_render(t, arr, NULL, &out, NULL, &err), CHAT_ERR_ARG);
	json_decref(arr);
	/* b is undefined, so b.c fails; a prints empty */
	assert_int_equal(chat_template_render(t, NULL, NULL, &out, NULL, &err), CHAT_ERR_RUNTIME);
	assert_string_equal(err.message, "'b' is undefined");
	json_t *ctx = json_pack("{s:s, s:{s:[i,f,b,n]}}", "a", "A\xc3\xa9", "b", "c", 1, 2.5, 1);
	size_t n = 0;
	assert_int_equal(chat_template_render(t, ctx, NULL, &out, &n, &err), CHAT_OK);
	assert_string_equal(out, "A\xc3\xa9 [1, 2.5, True, None]");
	assert_int_equal(n, strlen(out));
	/* the template can be rendered again, and results do not depend on earlier renders */
	char *out2 = NULL;
	assert_int_equal(chat_template_render(t, ctx, NULL, &out2, NULL, &err), CHAT_OK);
	assert_string_equal(out, out2);
	chat_string_free(out);
	chat_string_free(out2);
	json_decref(ctx);
	chat_template_free(t);
	chat_template_free(NULL);
	/* empty template renders to an empty string */
	assert_int_equal(chat_template_create("", 0, &t, &err), CHAT_OK);
	assert_int_equal(chat_template_render(t, NULL, NULL, &out, &n, &err), CHAT_OK);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	free(out);
	chat_template_free(t);
	assert_string_equal(chat_status_str(CHAT_ERR_SYNTAX), "template syntax error");
}

/* Every prefix of the real templates (and of the byte-flipped ones) must parse or fail cleanly. */
static void test_truncated_and_mutated(void **state)
{
	(void)state;
	static const char *const names[] = {"qwen3.jinja", "deepseek_v3.jinja", "deepseek_r1_0528.jinja"};
	json_t *ctx = json_pack("{s:[{s:s,s:s},{s:s,s:s}], s:b, s:s}", "messages", "role", "user", "content", "hi", "role",
				"assistant", "content", "<think>x</think>yo", "add_generation_prompt", 1, "bos_token", "<s>");
	tu_rng rng = {.s = 12345};
	size_t ok = 0, failed = 0;
	for (size_t k = 0; k < 3; k++) {
		size_t n;
		char *src = ct_read_data(names[k], &n);
		assert_non_null(src);
		char *buf = malloc(n + 1);
		for (size_t cut = 0; cut <= n; cut += 7) {
			for (int mut = 0; mut < 2; mut++) {
				memcpy(buf, src, cut);
				if (mut && cut > 0)
					buf[tu_rng_u64(&rng) % cut] = "{}%#-+'\"()[]|.x\n"[tu_rng_u64(&rng) % 16];
				chat_template *t = NULL;
				chat_error err;
				chat_status st = chat_template_create(buf, cut, &t, &err);
				if (st != CHAT_OK) {
					assert_true(st == CHAT_ERR_SYNTAX || st == CHAT_ERR_LIMIT);
					assert_true(err.line >= 1 && err.message[0]);
					failed++;
					continue;
				}
				char *out = NULL;
				st = chat_template_render(t, ctx, NULL, &out, NULL, &err);
				assert_true(st == CHAT_OK || st == CHAT_ERR_RUNTIME || st == CHAT_ERR_RAISED);
				assert_true((st == CHAT_OK) == (out != NULL));
				free(out);
				chat_template_free(t);
				ok++;
			}
		}
		free(buf);
		free(src);
	}
	json_decref(ctx);
	assert_true(ok > 0 && failed > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snippets),          cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_hostile),           cmocka_unit_test(test_api),
		cmocka_unit_test(test_truncated_and_mutated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
