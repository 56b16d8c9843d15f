/* Hugging Face tokenizer import (convert/hf_tokenizer.c): malformed and unsupported inputs are
 * rejected with a message naming the problem; the two real tokenizers (../shared/fixtures) load
 * with the right counts, ids, steps and templates, and survive a section encode/decode round trip.
 * Expected values are read from the JSON independently (jansson) or are published facts. */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hf_tokenizer.h"

static char *g_dir; /* temp dir for written cases */

/* ---- small valid tokenizer used as the base of malformed cases ---- */

#define TOK_HEAD "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
#define MODEL_OK "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"<s>\":3,\"c\":4,\"abc\":5},\"merges\":[\"a b\",[\"ab\",\"c\"]]}"
#define ADDED_OK "\"added_tokens\":[{\"id\":3,\"content\":\"<s>\",\"special\":true,\"lstrip\":false,\"rstrip\":false,\"single_word\":false,\"normalized\":false},{\"id\":7,\"content\":\"</s>\",\"special\":true}]"
#define PRE_OK "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"
#define DEC_OK "\"decoder\":{\"type\":\"ByteLevel\"}"

static int load_strings(const char *tok, const char *cfg, cv_hf_tokenizer **out, char *err, size_t errlen)
{
	char *tp = tu_path_join(g_dir, "tokenizer.json");
	char *cp = tu_path_join(g_dir, "tokenizer_config.json");
	assert_int_equal(tu_write_file(tp, tok, strlen(tok)), 0);
	if (cfg)
		assert_int_equal(tu_write_file(cp, cfg, strlen(cfg)), 0);
	int rc = cv_hf_tokenizer_load(tp, cfg ? cp : NULL, out, err, errlen);
	free(tp);
	free(cp);
	return rc;
}

static void expect_reject(const char *tok, const char *cfg, const char *needle)
{
	char err[1024] = "";
	cv_hf_tokenizer *h = (cv_hf_tokenizer *)(uintptr_t)1;
	int rc = load_strings(tok, cfg, &h, err, sizeof err);
	if (rc == 0 || !strstr(err, needle))
		print_error("want \"%s\"; got rc %d: %s\n", needle, rc, err);
	assert_int_not_equal(rc, 0);
	assert_null(h);
	assert_non_null(strstr(err, needle));
	assert_non_null(strstr(err, g_dir)); /* messages start with the file's path */
}

static void test_small_valid(void **state)
{
	(void)state;
	const char *tok = TOK_HEAD MODEL_OK "," ADDED_OK ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}]},"
		"\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"Split\",\"pattern\":{\"String\":\"x\"},\"behavior\":\"MergedWithNext\",\"invert\":true}]},"
		"\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"_\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
		"\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
		"\"pair\":[],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[3],\"tokens\":[\"<s>\"]},\"</s>\":{\"id\":\"</s>\",\"ids\":[7],\"tokens\":[\"</s>\"]}}}}";
	const char *cfg = "{\"chat_template\":[{\"name\":\"default\",\"template\":\"{{ x }}\"},{\"name\":\"tool_use\",\"template\":\"T\\u00e9\"}],"
			  "\"pad_token\":{\"content\":\"a\",\"lstrip\":false},\"add_eos_token\":false}";
	char err[1024] = "";
	cv_hf_tokenizer *h = NULL;
	assert_int_equal(load_strings(tok, cfg, &h, err, sizeof err), 0);
	const fmt_tok *t = cv_hf_tokenizer_tok(h);
	assert_int_equal(t->n_tokens, 8); /* ids 0..5 vocab, 6 hole, 7 added only */
	assert_int_equal(cv_hf_tokenizer_n_vocab(h), 6);
	assert_int_equal(t->tokens[6].len, 0);
	assert_int_equal(t->tokens[7].len, 0);
	assert_int_equal(t->n_merges, 2);
	assert_int_equal(t->merges[1].left, 2);
	assert_int_equal(t->merges[1].right, 4);
	assert_int_equal(t->merges[1].result, 5);
	assert_int_equal(t->n_added, 2);
	assert_int_equal(t->added[0].flags, FMT_ADDED_SPECIAL);
	/* Template has BOS and EOS; the config's add_eos_token=false wins for EOS. */
	assert_true(t->flags & FMT_TOKF_ADD_BOS);
	assert_false(t->flags & FMT_TOKF_ADD_EOS);
	assert_int_equal(t->bos_id, 3);
	assert_int_equal(t->eos_id, 7);
	assert_int_equal(t->pad_id, 0);
	assert_int_equal(t->unk_id, -1);
	assert_int_equal(t->n_norm, 2);
	assert_int_equal(t->norm[0].kind, FMT_NORM_NFKC);
	assert_int_equal(t->norm[1].kind, FMT_NORM_REPLACE);
	assert_int_equal(t->n_pre, 2);
	assert_int_equal(t->pre[0].kind, FMT_PRE_DIGITS);
	assert_int_equal(t->pre[0].individual_digits, 1);
	assert_int_equal(t->pre[1].kind, FMT_PRE_SPLIT);
	assert_int_equal(t->pre[1].is_regex, 0);
	assert_int_equal(t->pre[1].behavior, FMT_SPLIT_MERGED_NEXT);
	assert_int_equal(t->pre[1].invert, 1);
	assert_int_equal(t->n_dec, 4);
	assert_int_equal(t->dec[3].kind, FMT_DEC_STRIP);
	assert_int_equal(t->dec[3].start, 1);
	assert_int_equal(cv_hf_tokenizer_n_templates(h), 2);
	assert_string_equal(cv_hf_tokenizer_template_at(h, 1)->name, "tool_use");
	assert_string_equal(cv_hf_tokenizer_template_at(h, 1)->text, "T\xc3\xa9");
	assert_null(cv_hf_tokenizer_template_at(h, 2));
	assert_int_equal(cv_hf_tokenizer_find(h, "</s>", 4), 7);
	assert_int_equal(cv_hf_tokenizer_find(h, "abc", 3), 5);
	assert_int_equal(cv_hf_tokenizer_find(h, "zz", 2), -1);
	cv_hf_tokenizer_free(h);

	/* add_bos_token=true in the config with a bos_token and a plain ByteLevel post-processor. */
	const char *tok2 = TOK_HEAD MODEL_OK "," ADDED_OK "," PRE_OK "," DEC_OK ",\"post_processor\":{\"type\":\"ByteLevel\"}}";
	assert_int_equal(load_strings(tok2, "{\"bos_token\":\"<s>\",\"add_bos_token\":true,\"chat_template\":\"hi\"}", &h, err,
				      sizeof err), 0);
	t = cv_hf_tokenizer_tok(h);
	assert_true(t->flags & FMT_TOKF_ADD_BOS);
	assert_int_equal(t->bos_id, 3);
	assert_string_equal(cv_hf_tokenizer_template_at(h, 0)->name, "default");
	cv_hf_tokenizer_free(h);
	cv_hf_tokenizer_free(NULL);

	/* Every proper prefix is rejected; random byte edits never crash and either load or explain. */
	size_t n = strlen(tok);
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(cv_hf_tokenizer_load_mem(tok, k, "t.json", NULL, 0, NULL, &h, err, sizeof err), -1);
		assert_non_null(strstr(err, "t.json: "));
	}
	char *m = malloc(n);
	tu_rng rng = {42};
	int ok = 0;
	for (int it = 0; it < 1500; it++) {
		memcpy(m, tok, n);
		m[tu_rng_u64(&rng) % n] = (char)(tu_rng_u64(&rng) & 0x7f);
		err[0] = 0;
		if (cv_hf_tokenizer_load_mem(m, n, "t.json", cfg, strlen(cfg), "c.json", &h, err, sizeof err) == 0) {
			ok++;
			size_t sl;
			assert_non_null(cv_hf_tokenizer_section(h, &sl));
			cv_hf_tokenizer_free(h);
		} else {
			assert_null(h);
			assert_true(strlen(err) > 8);
		}
	}
	assert_true(ok > 0 && ok < 1500);
	free(m);
}

static void test_rejects(void **state)
{
	(void)state;
	const char *base_tail = "," ADDED_OK "," PRE_OK "," DEC_OK "}";
	static char deep[200010];
	memset(deep, '[', 100000);
	memset(deep + 100000, ']', 100000);
	deep[200000] = 0;

	static const struct {
		const char *tok, *cfg, *needle;
	} cases[] = {
		{"{\"model\":", NULL, "invalid JSON"},
		{"[1,2]", NULL, "top level is not an object"},
		{deep, NULL, "nesting deeper than"},
		{TOK_HEAD MODEL_OK "," ADDED_OK ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},{\"type\":\"Metaspace\"}]}}", NULL,
		 "pre_tokenizer.pretokenizers[1].type \"Metaspace\" is not supported"},
		{TOK_HEAD "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", NULL, "model.type \"WordPiece\" is not supported"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a q\"]}}", NULL,
		 "model.merges[0]: \"q\" is not in model.vocab"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[[\"a\",\"b\"]]}}", NULL,
		 "model.merges[0]: the merged text \"ab\" is not in model.vocab"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b c\"]}}", NULL,
		 "not two tokens separated by one space"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\",\"b\",\"c\"]]}}", NULL,
		 "model.merges[0] must be"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", NULL, "id must be an integer"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1.5},\"merges\":[]}}", NULL, "id must be an integer"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}", NULL, "id 0 used by both"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"a\":1},\"merges\":[]}}", NULL, "duplicate object key"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":16000000},\"merges\":[]}}", NULL, "too many unused ids"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":99999999999},\"merges\":[]}}", NULL, "id must be an integer"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\\u0000\":0},\"merges\":[]}}", NULL, "invalid JSON"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\ud800\":0},\"merges\":[]}}", NULL, "invalid JSON"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xff\":0},\"merges\":[]}}", NULL, "invalid JSON"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\":0},\"merges\":[]}}", NULL, "empty token text"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{\"a\":0},\"merges\":[]}}", NULL, "model.dropout"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"continuing_subword_prefix\":\"##\",\"vocab\":{\"a\":0},\"merges\":[]}}", NULL,
		 "model.continuing_subword_prefix"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"byte_fallback\":\"yes\",\"vocab\":{\"a\":0},\"merges\":[]}}", NULL,
		 "model.byte_fallback must be a boolean"},
		{TOK_HEAD "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0},\"merges\":[]}}", NULL,
		 "model.unk_token \"<unk>\" is not a token"},
		{TOK_HEAD MODEL_OK ",\"added_tokens\":[{\"id\":6,\"content\":\"x\"},{\"id\":6,\"content\":\"y\"}]}", NULL,
		 "added_tokens[1].id 6 is used by an earlier added token"},
		{TOK_HEAD MODEL_OK ",\"added_tokens\":[{\"id\":6,\"content\":\"\"}]}", NULL, "added_tokens[0].content is empty"},
		{TOK_HEAD MODEL_OK ",\"added_tokens\":[{\"id\":1,\"content\":\"<x>\"}]}", NULL, "added_tokens[0]: id 1 is \"b\" in model.vocab"},
		{TOK_HEAD MODEL_OK ",\"added_tokens\":[{\"id\":9,\"content\":\"ab\"}]}", NULL, "added_tokens[0]: content \"ab\" has id 2"},
		{TOK_HEAD MODEL_OK ",\"added_tokens\":[{\"id\":\"9\",\"content\":\"q\"}]}", NULL, "added_tokens[0].id must be an integer"},
		{TOK_HEAD MODEL_OK ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a+\"},\"content\":\"\"}}", NULL,
		 "normalizer.pattern.Regex is not supported"},
		{TOK_HEAD MODEL_OK ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"BertNormalizer\"}]}}", NULL,
		 "normalizer.normalizers[1].type \"BertNormalizer\" is not supported"},
		{TOK_HEAD MODEL_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Sideways\",\"invert\":false}}", NULL,
		 "pre_tokenizer.behavior \"Sideways\" is not supported"},
		{TOK_HEAD MODEL_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\"},\"behavior\":\"Isolated\"}}", NULL,
		 "pre_tokenizer.pattern.Regex must be a non-empty string"},
		{TOK_HEAD MODEL_OK ",\"decoder\":{\"type\":\"WordPiece\"}}", NULL, "decoder.type \"WordPiece\" is not supported"},
		{TOK_HEAD MODEL_OK ",\"post_processor\":{\"type\":\"RobertaProcessing\"}}", NULL, "post_processor.type \"RobertaProcessing\""},
		{TOK_HEAD MODEL_OK ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<q>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{}}}",
		 NULL, "special_tokens[\"<q>\"].ids must list exactly one id"},
		{TOK_HEAD MODEL_OK "," ADDED_OK "," PRE_OK ",\"decoder\":{\"type\":\"Sequence\",\"decoders\":[" "{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},"
		 "{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"},{\"type\":\"Fuse\"}]}}",
		 NULL, "decoder.decoders[16]: more than 16 steps"},
		/* tokenizer_config.json */
		{TOK_HEAD MODEL_OK "%s", "{\"eos_token\":\"<nope>\"}", "tokenizer_config.json: eos_token \"<nope>\" is not a token"},
		{TOK_HEAD MODEL_OK "%s", "{\"bos_token\":{\"content\":7}}", "bos_token.content must be a string"},
		{TOK_HEAD MODEL_OK "%s", "{\"chat_template\":42}", "chat_template must be a string or a list"},
		{TOK_HEAD MODEL_OK "%s", "{\"chat_template\":[{\"name\":\"a b\",\"template\":\"x\"}]}", "chat_template[0]: template name \"a b\""},
		{TOK_HEAD MODEL_OK "%s", "{\"chat_template\":[{\"name\":\"x\",\"template\":\"1\"},{\"name\":\"x\",\"template\":\"2\"}]}",
		 "chat_template[1]: template name \"x\" appears twice"},
		{TOK_HEAD MODEL_OK "%s", "{\"chat_template\":[{\"name\":\"x\"}]}", "chat_template[0].template is missing"},
		{TOK_HEAD MODEL_OK "%s", "{\"add_bos_token\":true}", "add_bos_token is true but there is no bos_token"},
		{TOK_HEAD MODEL_OK "%s", "{\"add_eos_token\":\"true\"}", "add_eos_token must be a boolean"},
		{TOK_HEAD MODEL_OK "%s", "{\"bos_token\":\"<s>\",}", "tokenizer_config.json: invalid JSON"},
	};
	char buf[4096];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *tok = cases[i].tok;
		if (strstr(tok, "%s")) {
			snprintf(buf, sizeof buf, "%.*s%s", (int)(strstr(tok, "%s") - tok), tok, base_tail);
			tok = buf;
		}
		expect_reject(tok, cases[i].cfg, cases[i].needle);
	}

	/* A missing file names itself. */
	char err[512];
	cv_hf_tokenizer *h = NULL;
	assert_int_equal(cv_hf_tokenizer_load("/nonexistent/tokenizer.json", NULL, &h, err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/tokenizer.json: cannot open"));
	/* Tiny error buffers are safe. */
	assert_int_equal(cv_hf_tokenizer_load_mem("{", 1, "t", NULL, 0, NULL, &h, err, 4), -1);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(cv_hf_tokenizer_load_mem("{", 1, "t", NULL, 0, NULL, &h, NULL, 0), -1);
}

/* ---- real tokenizers ---- */

typedef struct {
	json_t *tok, *cfg;
	char *tok_path, *cfg_path;
} fixture;

static int load_fixture(const char *name, fixture *f)
{
	memset(f, 0, sizeof *f);
	const char *sh = tu_shared_dir();
	if (!sh)
		return -1;
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/fixtures/%s", sh, name);
	f->tok_path = tu_path_join(dir, "tokenizer.json");
	f->cfg_path = tu_path_join(dir, "tokenizer_config.json");
	if (!tu_file_exists(f->tok_path) || !tu_file_exists(f->cfg_path))
		return -1;
	json_error_t je;
	f->cfg = json_load_file(f->cfg_path, 0, &je);
	f->tok = NULL;
	return f->cfg ? 0 : -1;
}

static void free_fixture(fixture *f)
{
	json_decref(f->tok);
	json_decref(f->cfg);
	free(f->tok_path);
	free(f->cfg_path);
}

static bool view_is(fmt_strview v, const char *s)
{
	return v.len == strlen(s) && !memcmp(v.s, s, v.len);
}

/* Section round trip: decode the importer's bytes, compare with its fmt_tok, re-encode identically. */
static void check_section(const cv_hf_tokenizer *h)
{
	const fmt_tok *t = cv_hf_tokenizer_tok(h);
	size_t n;
	const uint8_t *sec = cv_hf_tokenizer_section(h, &n);
	assert_non_null(sec);
	fmt_tok *d = NULL;
	fmt_error err;
	assert_int_equal(fmt_tok_decode(sec, n, 4096, &d, &err), FMT_OK);
	assert_int_equal(d->n_tokens, t->n_tokens);
	assert_int_equal(d->n_merges, t->n_merges);
	assert_int_equal(d->n_added, t->n_added);
	assert_int_equal(d->flags, t->flags);
	assert_int_equal(d->bos_id, t->bos_id);
	assert_int_equal(d->eos_id, t->eos_id);
	assert_int_equal(d->n_pre, t->n_pre);
	for (uint32_t i = 0; i < t->n_tokens; i += 997)
		assert_true(d->tokens[i].len == t->tokens[i].len &&
			    (!t->tokens[i].len || !memcmp(d->tokens[i].s, t->tokens[i].s, t->tokens[i].len)));
	assert_memory_equal(d->merges, t->merges, (size_t)t->n_merges * sizeof *t->merges);
	uint8_t *again = NULL;
	size_t n2;
	assert_int_equal(fmt_tok_encode(d, &again, &n2, &err), FMT_OK);
	assert_int_equal(n2, n);
	assert_memory_equal(again, sec, n);
	free(again);
	fmt_tok_free(d);
}

static void check_template(const cv_hf_tokenizer *h, json_t *cfg)
{
	json_t *ct = json_object_get(cfg, "chat_template");
	assert_true(json_is_string(ct));
	assert_int_equal(cv_hf_tokenizer_n_templates(h), 1);
	const cv_chat_template *t = cv_hf_tokenizer_template_at(h, 0);
	assert_string_equal(t->name, "default");
	assert_int_equal(t->text_len, json_string_length(ct));
	assert_memory_equal(t->text, json_string_value(ct), t->text_len);
}

static void check_special_from_config(const cv_hf_tokenizer *h, json_t *cfg, const char *key, int32_t id)
{
	json_t *v = json_object_get(cfg, key);
	if (json_is_object(v))
		v = json_object_get(v, "content");
	if (!json_is_string(v)) {
		assert_int_equal(id, -1);
		return;
	}
	assert_int_equal(cv_hf_tokenizer_find(h, json_string_value(v), json_string_length(v)), id);
}

static void test_qwen3(void **state)
{
	(void)state;
	fixture f;
	if (load_fixture("qwen3-tokenizer", &f)) {
		free_fixture(&f);
		skip();
	}
	char err[1024] = "";
	cv_hf_tokenizer *h = NULL;
	clock_t t0 = clock();
	int rc = cv_hf_tokenizer_load(f.tok_path, f.cfg_path, &h, err, sizeof err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	print_message("qwen3 load: %.2f s cpu\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
	const fmt_tok *t = cv_hf_tokenizer_tok(h);
	assert_int_equal(cv_hf_tokenizer_n_vocab(h), 151643);
	assert_int_equal(t->n_added, 26);
	assert_int_equal(t->n_tokens, 151669);
	for (uint32_t i = 0; i < 26; i++) {
		assert_int_equal(t->added[i].id, 151643 + i);
		assert_int_equal(t->tokens[151643 + i].len, 0);
	}
	assert_int_equal(t->n_merges, 151387);
	assert_int_equal(cv_hf_tokenizer_find(h, "<|im_start|>", 12), 151644);
	assert_int_equal(cv_hf_tokenizer_find(h, "<|endoftext|>", 13), 151643);
	assert_int_equal(cv_hf_tokenizer_find(h, "</think>", 8), 151668);
	assert_true(t->added[0].flags & FMT_ADDED_SPECIAL);
	assert_false(t->added[25].flags & FMT_ADDED_SPECIAL); /* </think> is not special */
	/* Byte-level vocabulary: "Ġ" (U+0120) is the space byte; first merge is Ġ + Ġ. */
	assert_true(view_is(t->tokens[t->merges[0].left], "\xc4\xa0"));
	assert_true(view_is(t->tokens[t->merges[0].result], "\xc4\xa0\xc4\xa0"));
	assert_true(view_is(t->tokens[0], "!"));
	assert_int_equal(t->n_norm, 1);
	assert_int_equal(t->norm[0].kind, FMT_NORM_NFC);
	assert_int_equal(t->n_pre, 2);
	assert_int_equal(t->pre[0].kind, FMT_PRE_SPLIT);
	assert_int_equal(t->pre[0].is_regex, 1);
	assert_int_equal(t->pre[0].behavior, FMT_SPLIT_ISOLATED);
	assert_int_equal(t->pre[0].invert, 0);
	assert_int_equal(t->pre[1].kind, FMT_PRE_BYTE_LEVEL);
	assert_int_equal(t->pre[1].add_prefix_space + t->pre[1].trim_offsets + t->pre[1].use_regex, 0);
	assert_int_equal(t->n_dec, 1);
	assert_int_equal(t->dec[0].kind, FMT_DEC_BYTE_LEVEL);
	assert_int_equal(t->flags, 0); /* no BOS, no EOS, no fallback */
	assert_int_equal(t->bos_id, -1);
	assert_int_equal(t->eos_id, 151645); /* <|im_end|> */
	assert_int_equal(t->pad_id, 151643);
	assert_int_equal(t->unk_id, -1);
	check_special_from_config(h, f.cfg, "eos_token", t->eos_id);
	check_special_from_config(h, f.cfg, "pad_token", t->pad_id);
	check_template(h, f.cfg);
	/* The split regex is preserved byte for byte (from the published Qwen2 tokenizer). */
	static const char qwen_re[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
	assert_int_equal(t->pre[0].a.len, sizeof qwen_re - 1);
	assert_memory_equal(t->pre[0].a.s, qwen_re, sizeof qwen_re - 1);
	check_section(h);
	cv_hf_tokenizer_free(h);
	free_fixture(&f);
}

static void test_deepseek_v3(void **state)
{
	(void)state;
	fixture f;
	if (load_fixture("deepseek-v3-tokenizer", &f)) {
		free_fixture(&f);
		skip();
	}
	char err[1024] = "";
	cv_hf_tokenizer *h = NULL;
	clock_t t0 = clock();
	int rc = cv_hf_tokenizer_load(f.tok_path, f.cfg_path, &h, err, sizeof err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	print_message("deepseek-v3 load: %.2f s cpu\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
	const fmt_tok *t = cv_hf_tokenizer_tok(h);
	assert_int_equal(cv_hf_tokenizer_n_vocab(h), 128000);
	assert_int_equal(t->n_added, 818);
	assert_int_equal(t->n_tokens, 128815);
	assert_int_equal(t->n_merges, 127741);
	/* String-form merges ("Ġ t") split at the space. */
	assert_true(view_is(t->tokens[t->merges[0].left], "\xc4\xa0"));
	assert_true(view_is(t->tokens[t->merges[0].right], "t"));
	assert_true(view_is(t->tokens[t->merges[0].result], "\xc4\xa0t"));
	const char *bos = "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
	const char *eos = "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
	assert_int_equal(cv_hf_tokenizer_find(h, bos, strlen(bos)), 0);
	assert_int_equal(cv_hf_tokenizer_find(h, eos, strlen(eos)), 1);
	assert_true(view_is(t->tokens[0], bos)); /* added token that is also in the vocabulary */
	assert_int_equal(t->n_norm, 0);
	assert_int_equal(t->n_pre, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(t->pre[i].kind, FMT_PRE_SPLIT);
		assert_int_equal(t->pre[i].is_regex, 1);
		assert_int_equal(t->pre[i].behavior, FMT_SPLIT_ISOLATED);
	}
	assert_true(view_is(t->pre[0].a, "\\p{N}{1,3}"));
	assert_int_equal(t->pre[3].kind, FMT_PRE_BYTE_LEVEL);
	assert_int_equal(t->pre[3].trim_offsets, 1);
	assert_int_equal(t->pre[3].use_regex, 0);
	assert_int_equal(t->n_dec, 1);
	assert_int_equal(t->dec[0].kind, FMT_DEC_BYTE_LEVEL);
	/* add_bos_token true, add_eos_token false in tokenizer_config.json */
	assert_true(json_is_true(json_object_get(f.cfg, "add_bos_token")));
	assert_int_equal(t->flags, FMT_TOKF_ADD_BOS);
	assert_int_equal(t->bos_id, 0);
	assert_int_equal(t->eos_id, 1);
	assert_int_equal(t->pad_id, 1);
	check_special_from_config(h, f.cfg, "bos_token", t->bos_id);
	check_special_from_config(h, f.cfg, "eos_token", t->eos_id);
	check_template(h, f.cfg);
	check_section(h);
	cv_hf_tokenizer_free(h);
	free_fixture(&f);
}

static int setup(void **state)
{
	(void)state;
	g_dir = tu_mkdtemp("tok");
	return g_dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(g_dir);
	free(g_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest bad[] = {
		cmocka_unit_test(test_small_valid),
		cmocka_unit_test(test_rejects),
	};
	const struct CMUnitTest real[] = {
		cmocka_unit_test(test_qwen3),
		cmocka_unit_test(test_deepseek_v3),
	};
	int failed = cmocka_run_group_tests_name("hf_tokenizer_synthetic", bad, setup, teardown);
	if (failed)
		return failed;
	const char *sh = tu_shared_dir();
	if (!sh)
		return BALE_SKIP; /* the real-tokenizer half needs ../shared/fixtures */
	return cmocka_run_group_tests_name("hf_tokenizer_real", real, NULL, NULL);
}
