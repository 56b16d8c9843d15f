/* Differential test: every conversation in tests/data/chat/cases.jsonl (rendered by transformers'
 * own jinja setup, see tools/reference/make_template_fixtures.py) must render byte-identically,
 * and cases where jinja2 failed must fail here too. */
#include "chat_testlib.h"

typedef struct {
	const char *id;
	chat_template *t;
} tmpl_entry;

static chat_template *get_template(tmpl_entry *cache, size_t *n, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(cache[i].id, id) == 0)
			return cache[i].t;
	char name[128];
	snprintf(name, sizeof name, "%s.jinja", id);
	size_t len;
	char *src = ct_read_data(name, &len);
	assert_non_null(src);
	chat_template *t = NULL;
	chat_error err;
	chat_status st = chat_template_create(src, len, &t, &err);
	free(src);
	if (st != CHAT_OK)
		fprintf(stderr, "%s: %s at %d:%d: %s\n", name, chat_status_str(st), err.line, err.column, err.message);
	assert_int_equal(st, CHAT_OK);
	assert_true(*n < 8);
	cache[*n].id = id;
	cache[*n].t = t;
	(*n)++;
	return t;
}

static void test_cases_identical(void **state)
{
	(void)state;
	json_t *cases = ct_load_jsonl("cases.jsonl");
	assert_non_null(cases);
	tmpl_entry cache[8];
	size_t ncache = 0, same = 0, total = json_array_size(cases), errors_ok = 0, nerr = 0;
	assert_true(total >= 20);
	size_t i;
	json_t *c;
	json_array_foreach(cases, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));
		const char *tid = json_string_value(json_object_get(c, "template"));
		json_t *ctx = json_object_get(c, "context");
		json_t *want = json_object_get(c, "expected");
		chat_template *t = get_template(cache, &ncache, tid);
		char *out = NULL;
		size_t out_len = 0;
		chat_error err;
		chat_status st = chat_template_render(t, ctx, NULL, &out, &out_len, &err);
		if (!want) {
			nerr++;
			if (st == CHAT_ERR_RUNTIME || st == CHAT_ERR_RAISED)
				errors_ok++;
			else
				fprintf(stderr, "[%s] expected an error (%s), got status %s\n", id,
					json_string_value(json_object_get(c, "error")), chat_status_str(st));
			free(out);
			continue;
		}
		if (st != CHAT_OK) {
			fprintf(stderr, "[%s] render failed: %s at %d:%d: %s\n", id, chat_status_str(st), err.line,
				err.column, err.message);
			continue;
		}
		const char *w = json_string_value(want);
		size_t wn = json_string_length(want);
		if (wn == out_len && memcmp(w, out, wn) == 0)
			same++;
		else
			ct_show_diff(id, w, wn, out, out_len);
		chat_string_free(out);
	}
	fprintf(stderr, "test_chat_diff: %zu/%zu renders identical, %zu/%zu expected errors reproduced\n", same,
		total - nerr, errors_ok, nerr);
	for (size_t k = 0; k < ncache; k++)
		chat_template_free(cache[k].t);
	json_decref(cases);
	assert_int_equal(same, total - nerr);
	assert_int_equal(errors_ok, nerr);
}

/* The same templates straight from ../shared must equal the committed copies, so the
 * differential test really covers the fixture models' templates. */
static void test_shared_copies_match(void **state)
{
	(void)state;
	const char *shared = tu_shared_dir();
	if (!shared) {
		skip();
		return;
	}
	static const char *const pairs[][2] = {{"qwen3-tokenizer", "qwen3.jinja"},
					       {"deepseek-v3-tokenizer", "deepseek_v3.jinja"}};
	for (size_t k = 0; k < 2; k++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/fixtures/%s/tokenizer_config.json", shared, pairs[k][0]);
		json_error_t je;
		json_t *cfg = json_load_file(path, 0, &je);
		assert_non_null(cfg);
		json_t *tmpl = json_object_get(cfg, "chat_template");
		assert_true(json_is_string(tmpl));
		size_t n;
		char *copy = ct_read_data(pairs[k][1], &n);
		assert_non_null(copy);
		assert_int_equal(n, json_string_length(tmpl));
		assert_memory_equal(copy, json_string_value(tmpl), n);
		free(copy);
		json_decref(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases_identical),
		cmocka_unit_test(test_shared_copies_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
