/* Differential test against Hugging Face tokenizers: every string of tests/data/tokenizer/corpus.jsonl
 * must encode to exactly the ids recorded by tools/reference/make_tokenizer_corpus.py, with and
 * without special-token handling, and decode back to HF's decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"
#include "tok_fixture.h"

static json_t *load_jsonl(const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/tokenizer/%s", BALE_TEST_DATA, name);
	size_t n;
	uint8_t *d = tu_read_file(path, &n);
	if (!d)
		return NULL;
	json_t *arr = json_array();
	char *s = (char *)d, *end = s + n;
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		if (len) {
			json_error_t je;
			json_t *o = json_loadb(s, len, JSON_ALLOW_NUL, &je);
			if (!o) {
				fprintf(stderr, "%s: %s\n", path, je.text);
				json_decref(arr);
				free(d);
				return NULL;
			}
			json_array_append_new(arr, o);
		}
		s += len + 1;
	}
	free(d);
	return arr;
}

static int ids_equal(const int32_t *ids, size_t n, json_t *want, int32_t prefix)
{
	size_t off = prefix >= 0;
	if (json_array_size(want) + off != n)
		return 0;
	if (prefix >= 0 && ids[0] != prefix)
		return 0;
	for (size_t i = 0; i < json_array_size(want); i++) {
		if (ids[i + off] != (int32_t)json_integer_value(json_array_get(want, i)))
			return 0;
	}
	return 1;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
	fprintf(stderr, "  %s:", label);
	for (size_t i = 0; i < n && i < 40; i++)
		fprintf(stderr, " %d", ids[i]);
	fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

static void run_parity(const char *fixture, const char *expected, int *skipped)
{
	tf_tok f;
	int rc = tf_load(&f, fixture, 0);
	if (rc == BALE_SKIP) {
		*skipped = 1;
		return;
	}
	assert_int_equal(rc, 0);
	json_t *corpus = load_jsonl("corpus.jsonl"), *exp = load_jsonl(expected);
	assert_non_null(corpus);
	assert_non_null(exp);
	assert_int_equal(json_array_size(corpus), json_array_size(exp));
	size_t total = json_array_size(corpus), ok_plain = 0, ok_special = 0, ok_decode = 0, ok_split = 0,
	       roundtrip = 0, roundtrip_eligible = 0;
	for (size_t i = 0; i < total; i++) {
		json_t *c = json_array_get(corpus, i), *e = json_array_get(exp, i);
		const char *text = json_string_value(json_object_get(c, "text"));
		size_t len = json_string_length(json_object_get(c, "text"));
		int32_t *ids;
		size_t n;
		assert_int_equal(tok_encode(f.tok, text, len, 0, &ids, &n), TOK_OK);
		if (ids_equal(ids, n, json_object_get(e, "ids"), -1)) {
			ok_plain++;
		} else {
			fprintf(stderr, "%s: string %zu differs: %s\n", fixture, i, text);
			print_ids("ours", ids, n);
		}
		/* decode of our ids against HF's decode of its ids */
		char *dec;
		size_t dlen;
		assert_int_equal(tok_decode(f.tok, ids, n, 0, &dec, &dlen), TOK_OK);
		const char *hd = json_string_value(json_object_get(e, "decode"));
		size_t hdl = json_string_length(json_object_get(e, "decode"));
		if (dlen == hdl && !memcmp(dec, hd, dlen))
			ok_decode++;
		else
			fprintf(stderr, "%s: string %zu decode differs\n", fixture, i);
		/* decode(encode(x)) == x wherever HF's normalizer leaves x unchanged */
		if (hdl == len && !memcmp(hd, text, len)) {
			roundtrip_eligible++;
			roundtrip += dlen == len && !memcmp(dec, text, len);
		}
		free(dec);
		free(ids);
		assert_int_equal(tok_encode(f.tok, text, len, TOK_ENC_ADD_SPECIAL, &ids, &n), TOK_OK);
		ok_special += ids_equal(ids, n, json_object_get(e, "ids_special"), -1);
		free(ids);
		/* split-special: no id of a special added token may appear */
		assert_int_equal(tok_encode(f.tok, text, len, TOK_ENC_SPLIT_SPECIAL, &ids, &n), TOK_OK);
		int clean = 1;
		for (size_t k = 0; k < n; k++)
			clean &= !tok_is_special(f.tok, ids[k]);
		ok_split += clean;
		free(ids);
	}
	fprintf(stderr, "%s: ids %zu/%zu, ids+special %zu/%zu, decode %zu/%zu, roundtrip %zu/%zu, split-special %zu/%zu\n",
		fixture, ok_plain, total, ok_special, total, ok_decode, total, roundtrip, roundtrip_eligible, ok_split, total);
	assert_int_equal(ok_plain, total);
	assert_int_equal(ok_special, total);
	assert_int_equal(ok_decode, total);
	assert_int_equal(roundtrip, roundtrip_eligible);
	assert_int_equal(ok_split, total);
	assert_true(roundtrip_eligible > total * 3 / 4); /* the corpus is mostly NFC */
	json_decref(corpus);
	json_decref(exp);
	tf_free(&f);
}

static int g_skipped;

static void test_qwen3(void **state)
{
	(void)state;
	run_parity("qwen3-tokenizer", "expected_qwen3.jsonl", &g_skipped);
}

static void test_deepseek_v3(void **state)
{
	(void)state;
	run_parity("deepseek-v3-tokenizer", "expected_deepseek_v3.jsonl", &g_skipped);
}

/* With tokenizer_config.json (add_bos_token true) DeepSeek gets its BOS in front; the rest is
 * unchanged. Qwen's config adds nothing. */
static void test_bos_from_config(void **state)
{
	(void)state;
	tf_tok f;
	int rc = tf_load(&f, "deepseek-v3-tokenizer", 1);
	if (rc == BALE_SKIP)
		return;
	assert_int_equal(rc, 0);
	int32_t bos = tok_bos_id(f.tok);
	assert_true(bos >= 0);
	const char *bos_text;
	size_t bl;
	assert_int_equal(tok_token_text(f.tok, bos, &bos_text, &bl), TOK_OK);
	assert_int_equal(tok_token_id(f.tok, bos_text, bl), bos);
	int32_t *a, *b;
	size_t na, nb;
	assert_int_equal(tok_encode(f.tok, "Hello world", 11, 0, &a, &na), TOK_OK);
	assert_int_equal(tok_encode(f.tok, "Hello world", 11, TOK_ENC_ADD_SPECIAL, &b, &nb), TOK_OK);
	assert_int_equal(nb, na + 1);
	assert_int_equal(b[0], bos);
	assert_memory_equal(a, b + 1, na * sizeof *a);
	free(a);
	free(b);
	tf_free(&f);
}

int main(void)
{
	if (!tu_shared_dir()) {
		fprintf(stderr, "shared fixtures absent: skipping\n");
		return BALE_SKIP;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qwen3),
		cmocka_unit_test(test_deepseek_v3),
		cmocka_unit_test(test_bos_from_config),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	return r ? r : (g_skipped ? BALE_SKIP : 0);
}
