/* Edge cases on small tokenizers built in the test. The expected ids of the split / digits /
 * added-token cases were produced by HF tokenizers 0.23 on the same configuration (a byte-level
 * vocabulary plus every substring of the sample words, ignore_merges, no merges, so the ids show
 * exactly where the pre-tokenizer cut); regenerate with tools/reference/make_tok_unit_cases.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tok.h"
#include "tok_internal.h"

#define NV 342
static const char *const extra_vocab[] = {"\u0120h", "\u0120he", "\u0120hel", "\u0120hell", "\u0120hello", "--", "--e", "--ef", "-c", "-cd", "-cd-", "-cd--", "-cd--e", "-cd--ef", "-e", "-ef", "12", "12y", "12y3", "12y34", "12y345", "12y345z", "1b", "2y", "2y3", "2y34", "2y345", "2y345z", "34", "345", "345z", "45", "45z", "5z", "FI", "FIX", "IX", "a1", "a1b", "ab", "ab-", "ab-c", "ab-cd", "ab-cd-", "ab-cd--", "ab-cd--e", "ab-cd--ef", "b-", "b-c", "b-cd", "b-cd-", "b-cd--", "b-cd--e", "b-cd--ef", "cd", "cd-", "cd--", "cd--e", "cd--ef", "d-", "d--", "d--e", "d--ef", "ef", "el", "ell", "ello", "he", "hel", "hell", "hello", "ll", "llo", "lo", "x1", "x12", "x12y", "x12y3", "x12y34", "x12y345", "x12y345z", "y3", "y34", "y345", "y345z", "\u00ef\u00ac\u0123x"};

typedef struct {
	fmt_tok t;
	fmt_strview tokens[NV + 8];
	char store[NV][4];
	fmt_tok_added added[8];
} mini;

/* Byte tokens 0..255 (GPT-2 mapped), then extra_vocab; ignore_merges; pre = [step, BYTE_LEVEL]. */
static void mini_init(mini *m)
{
	memset(m, 0, sizeof *m);
	m->t.model = FMT_TOK_BPE;
	m->t.flags = FMT_TOKF_IGNORE_MERGES;
	m->t.unk_id = m->t.bos_id = m->t.eos_id = m->t.pad_id = -1;
	for (int b = 0; b < 256; b++) {
		size_t k = tok_utf8_put(m->store[b], tok_byte_to_cp((uint8_t)b));
		m->tokens[b] = (fmt_strview){m->store[b], (uint32_t)k};
	}
	for (size_t i = 0; i < sizeof extra_vocab / sizeof *extra_vocab; i++)
		m->tokens[256 + i] = (fmt_strview){extra_vocab[i], (uint32_t)strlen(extra_vocab[i])};
	assert_int_equal(256 + sizeof extra_vocab / sizeof *extra_vocab, NV);
	m->t.n_tokens = NV;
	m->t.tokens = m->tokens;
	m->t.n_dec = 1;
	m->t.dec[0].kind = FMT_DEC_BYTE_LEVEL;
}

static void add_byte_level(fmt_tok *t)
{
	t->pre[t->n_pre++] = (fmt_tok_step){.kind = FMT_PRE_BYTE_LEVEL};
}

static void expect_ids(tok_tokenizer *tok, const char *text, unsigned flags, const int32_t *want, size_t nw)
{
	int32_t *ids;
	size_t n;
	assert_int_equal(tok_encode(tok, text, strlen(text), flags, &ids, &n), TOK_OK);
	if (n != nw || (n && memcmp(ids, want, n * sizeof *ids))) {
		fprintf(stderr, "encode \"%s\":", text);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %d", ids[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(n, nw);
	if (n)
		assert_memory_equal(ids, want, n * sizeof *ids);
	free(ids);
}

typedef struct {
	const char *name;
	int kind, arg, invert;
	const char *text;
	int32_t ids[16];
	size_t n;
} split_case;

static const split_case split_cases[] = {
	{"split Removed inv 0", FMT_PRE_SPLIT, 0, 0, "ab-cd--ef", {295, 310, 319}, 3},
	{"split Removed inv 1", FMT_PRE_SPLIT, 0, 1, "ab-cd--ef", {45, 45, 45}, 3},
	{"split Isolated inv 0", FMT_PRE_SPLIT, 1, 0, "ab-cd--ef", {295, 45, 310, 45, 45, 319}, 6},
	{"split Isolated inv 1", FMT_PRE_SPLIT, 1, 1, "ab-cd--ef", {295, 45, 310, 45, 45, 319}, 6},
	{"split MergedWithPrevious inv 0", FMT_PRE_SPLIT, 2, 0, "ab-cd--ef", {296, 311, 45, 319}, 4},
	{"split MergedWithPrevious inv 1", FMT_PRE_SPLIT, 2, 1, "ab-cd--ef", {295, 265, 45, 271}, 4},
	{"split MergedWithNext inv 0", FMT_PRE_SPLIT, 3, 0, "ab-cd--ef", {295, 265, 45, 271}, 4},
	{"split MergedWithNext inv 1", FMT_PRE_SPLIT, 3, 1, "ab-cd--ef", {296, 311, 45, 319}, 4},
	{"split Contiguous inv 0", FMT_PRE_SPLIT, 4, 0, "ab-cd--ef", {295, 45, 310, 261, 319}, 5},
	{"split Contiguous inv 1", FMT_PRE_SPLIT, 4, 1, "ab-cd--ef", {295, 45, 310, 261, 319}, 5},
	{"digits 0", FMT_PRE_DIGITS, 0, 0, "x12y345z", {120, 272, 121, 285, 122}, 5},
	{"digits 1", FMT_PRE_DIGITS, 1, 0, "x12y345z", {120, 49, 50, 121, 51, 52, 53, 122}, 8},
};

static void test_split_behaviors(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof split_cases / sizeof *split_cases; c++) {
		const split_case *sc = &split_cases[c];
		mini m;
		mini_init(&m);
		fmt_tok_step *s = &m.t.pre[m.t.n_pre++];
		s->kind = (uint8_t)sc->kind;
		if (sc->kind == FMT_PRE_SPLIT) {
			s->is_regex = 0;
			s->a = (fmt_strview){"-", 1};
			s->behavior = (uint8_t)sc->arg;
			s->invert = (uint8_t)sc->invert;
		} else {
			s->individual_digits = (uint8_t)sc->arg;
		}
		add_byte_level(&m.t);
		tok_tokenizer *tok;
		char err[256];
		assert_int_equal(tok_create(&m.t, &tok, err, sizeof err), TOK_OK);
		expect_ids(tok, sc->text, 0, sc->ids, sc->n);
		tok_free(tok);
	}
}

typedef struct {
	const char *text;
	int32_t ids[24];
	size_t n;
	int32_t ids2[24];
	size_t n2;
} added_case;

static const added_case added_cases[] = {
	{"a  <z>  b", {94, 97, 342, 94, 32, 32, 98}, 7, {94, 97, 342, 94, 32, 32, 98}, 7},
	{"[R]   x", {343, 94, 120}, 3, {343, 94, 120}, 3},
	{"tok token atok tok", {344, 94, 32, 116, 111, 107, 101, 110, 32, 97, 116, 111, 107, 32, 344}, 15, {344, 94, 32, 116, 111, 107, 101, 110, 32, 97, 116, 111, 107, 32, 344}, 15},
	{"\ufb01x FIX \u00c9  x", {345, 32, 102, 105, 120, 32, 101, 32, 32, 120}, 10, {345, 32, 102, 105, 120, 32, 101, 32, 32, 120}, 10},
	{"<z>[R]<z>", {342, 343, 342}, 3, {342, 343, 342}, 3},
	{"x[R]\t\n<z>", {94, 120, 343, 342}, 4, {94, 120, 343, 342}, 4},
	{"", {}, 0, {}, 0},
};

typedef struct {
	const char *text;
	int32_t ids[24];
	size_t n;
} ss_case;

static const ss_case split_special_cases[] = {
	{"a  <z>  b", {94, 97, 32, 32, 60, 122, 62, 32, 32, 98}, 10},
	{"[R]   x", {94, 91, 114, 93, 32, 32, 32, 120}, 8},
};

/* NFKC, Lowercase, Replace é→e, Prepend ^; Split \s+|\p{L}+|\p{N}+ isolated; added tokens
 * <z> (lstrip, special), [R] (rstrip, special), tok (single_word), fix (normalized). */
static tok_tokenizer *added_tokenizer(mini *m)
{
	mini_init(m);
	m->t.n_norm = 4;
	m->t.norm[0].kind = FMT_NORM_NFKC;
	m->t.norm[1].kind = FMT_NORM_LOWERCASE;
	m->t.norm[2] = (fmt_tok_step){.kind = FMT_NORM_REPLACE, .a = {"\xc3\xa9", 2}, .b = {"e", 1}};
	m->t.norm[3] = (fmt_tok_step){.kind = FMT_NORM_PREPEND, .a = {"^", 1}};
	static const char pat[] = "\\s+|\\p{L}+|\\p{N}+";
	m->t.pre[m->t.n_pre++] = (fmt_tok_step){.kind = FMT_PRE_SPLIT, .is_regex = 1, .a = {pat, sizeof pat - 1},
						.behavior = FMT_SPLIT_ISOLATED};
	add_byte_level(&m->t);
	static const char *const contents[4] = {"<z>", "[R]", "tok", "fix"};
	static const uint8_t flags[4] = {FMT_ADDED_LSTRIP | FMT_ADDED_SPECIAL, FMT_ADDED_RSTRIP | FMT_ADDED_SPECIAL,
					 FMT_ADDED_SINGLE_WORD, FMT_ADDED_NORMALIZED};
	for (uint32_t i = 0; i < 4; i++) {
		m->added[i] = (fmt_tok_added){NV + i, flags[i], {contents[i], (uint32_t)strlen(contents[i])}};
		m->tokens[NV + i] = (fmt_strview){"", 0};
	}
	m->t.n_added = 4;
	m->t.added = m->added;
	m->t.n_tokens = NV + 4;
	tok_tokenizer *tok;
	char err[256];
	assert_int_equal(tok_create(&m->t, &tok, err, sizeof err), TOK_OK);
	return tok;
}

static void test_added_and_normalizers(void **state)
{
	(void)state;
	mini m;
	tok_tokenizer *tok = added_tokenizer(&m);
	for (size_t c = 0; c < sizeof added_cases / sizeof *added_cases; c++)
		expect_ids(tok, added_cases[c].text, 0, added_cases[c].ids, added_cases[c].n);
	for (size_t c = 0; c < sizeof split_special_cases / sizeof *split_special_cases; c++)
		expect_ids(tok, split_special_cases[c].text, TOK_ENC_SPLIT_SPECIAL, split_special_cases[c].ids,
			   split_special_cases[c].n);
	assert_true(tok_is_special(tok, NV));
	assert_false(tok_is_special(tok, NV + 2));
	assert_int_equal(tok_token_id(tok, "[R]", 3), NV + 1);
	assert_int_equal(tok_token_id(tok, "ab", 2), tok_token_id(tok, "ab-", 3) - 1);
	assert_int_equal(tok_token_id(tok, "nope-not-there", 14), -1);
	/* decode skips special tokens on request */
	int32_t ids[3] = {NV, 'h', NV + 2};
	char *d;
	size_t dn;
	assert_int_equal(tok_decode(tok, ids, 3, 0, &d, &dn), TOK_OK);
	assert_string_equal(d, "<z>htok");
	free(d);
	assert_int_equal(tok_decode(tok, ids, 3, TOK_DEC_SKIP_SPECIAL, &d, &dn), TOK_OK);
	assert_string_equal(d, "htok");
	free(d);
	tok_free(tok);
}

/* Plain byte-level tokenizer with a merge chain for "aa…" to exercise the heap on long words. */
typedef struct {
	mini m;
	fmt_tok_merge merges[4];
	fmt_strview tok2[NV + 8];
	char aa[4][17];
} merged;

static tok_tokenizer *merge_tokenizer(merged *g)
{
	mini_init(&g->m);
	g->m.t.flags = FMT_TOKF_ADD_BOS | FMT_TOKF_ADD_EOS;
	static const char pat[] = "\\s+(?!\\S)|\\s+|\\S+";
	g->m.t.pre[g->m.t.n_pre++] = (fmt_tok_step){.kind = FMT_PRE_SPLIT, .is_regex = 1, .a = {pat, sizeof pat - 1},
						    .behavior = FMT_SPLIT_ISOLATED};
	add_byte_level(&g->m.t);
	/* ids NV.. = "aa", "aaaa", "aaaaaaaa", "  " */
	static const char *const txt[4] = {"aa", "aaaa", "aaaaaaaa", "\xc4\xa0\xc4\xa0"};
	for (int i = 0; i < 4; i++)
		g->m.tokens[NV + i] = (fmt_strview){txt[i], (uint32_t)strlen(txt[i])};
	g->merges[0] = (fmt_tok_merge){'a', 'a', NV};
	g->merges[1] = (fmt_tok_merge){NV, NV, NV + 1};
	g->merges[2] = (fmt_tok_merge){NV + 1, NV + 1, NV + 2};
	g->merges[3] = (fmt_tok_merge){0x20, 0x20, NV + 3}; /* byte 0x20 is id 0x20, text "Ġ" */
	g->m.t.n_merges = 4;
	g->m.t.merges = g->merges;
	g->m.t.n_tokens = NV + 4;
	g->m.t.bos_id = NV + 3;
	g->m.t.eos_id = 'e';
	tok_tokenizer *tok;
	char err[256];
	tok_status st = tok_create(&g->m.t, &tok, err, sizeof err);
	if (st)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(st, TOK_OK);
	return tok;
}

static void test_edge_cases(void **state)
{
	(void)state;
	merged g;
	tok_tokenizer *tok = merge_tokenizer(&g);
	int32_t *ids;
	size_t n;
	/* empty: nothing, or just BOS/EOS */
	assert_int_equal(tok_encode(tok, "", 0, 0, &ids, &n), TOK_OK);
	assert_int_equal(n, 0);
	assert_null(ids);
	assert_int_equal(tok_encode(tok, NULL, 0, TOK_ENC_ADD_SPECIAL, &ids, &n), TOK_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], NV + 3);
	assert_int_equal(ids[1], 'e');
	free(ids);
	/* only spaces: byte 0x20 is token 0x20 (its mapped char); pairs merge into "  " */
	char sp[8] = "     ";
	assert_int_equal(tok_encode(tok, sp, 5, 0, &ids, &n), TOK_OK);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], NV + 3);
	assert_int_equal(ids[1], NV + 3);
	assert_int_equal(ids[2], ' ');
	free(ids);
	/* 10k-char word: 10000 = 1250 × "a"*8 */
	size_t big = 10000;
	char *w = malloc(big + 1);
	assert_non_null(w);
	memset(w, 'a', big);
	assert_int_equal(tok_encode(tok, w, big, 0, &ids, &n), TOK_OK);
	assert_int_equal(n, 1250);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ids[i], NV + 2);
	char *d;
	size_t dn;
	assert_int_equal(tok_decode(tok, ids, n, 0, &d, &dn), TOK_OK);
	assert_int_equal(dn, big);
	assert_memory_equal(d, w, big);
	free(d);
	free(ids);
	/* odd length: 10001 leaves one "a" at the end (merges go left to right at equal rank) */
	w[big] = 'a';
	assert_int_equal(tok_encode(tok, w, big + 1, 0, &ids, &n), TOK_OK);
	assert_int_equal(n, 1251);
	assert_int_equal(ids[1250], 'a');
	free(ids);
	free(w);
	/* caller buffer: too small reports the size needed */
	int32_t buf[4];
	assert_int_equal(tok_encode_to(tok, "aaaa b", 6, 0, buf, 1, &n), TOK_E_SPACE);
	assert_int_equal(n, 3);
	assert_int_equal(tok_encode_to(tok, "aaaa b", 6, 0, buf, 4, &n), TOK_OK);
	assert_int_equal(n, 3);
	assert_int_equal(buf[0], NV + 1);
	/* invalid UTF-8 and bad flags are rejected */
	assert_int_equal(tok_encode(tok, "a\xff", 2, 0, &ids, &n), TOK_E_UTF8);
	assert_int_equal(tok_encode(tok, "\xed\xa0\x80", 3, 0, &ids, &n), TOK_E_UTF8); /* surrogate */
	assert_int_equal(tok_encode(tok, "\xc0\xaf", 2, 0, &ids, &n), TOK_E_UTF8);     /* overlong */
	assert_int_equal(tok_encode(tok, "a", 1, 1u << 7, &ids, &n), TOK_E_ARG);
	int32_t bad = (int32_t)tok_n_tokens(tok);
	assert_int_equal(tok_decode(tok, &bad, 1, 0, &d, &dn), TOK_E_ARG);
	/* the CLI rendering */
	char *out;
	size_t ol;
	assert_int_equal(tok_describe(tok, "aa\n\x01", 4, 0, &out, &ol), TOK_OK);
	char want[64];
	snprintf(want, sizeof want, "%d\taa\n%d\t\\n\n%d\t\\x01\n", NV, '\n', 1);
	assert_string_equal(out, want);
	free(out);
	tok_free(tok);
}

static void test_bad_data(void **state)
{
	(void)state;
	mini m;
	mini_init(&m);
	static const char pat[] = "(\\p{L}+";
	m.t.pre[m.t.n_pre++] = (fmt_tok_step){.kind = FMT_PRE_SPLIT, .is_regex = 1, .a = {pat, sizeof pat - 1},
					      .behavior = FMT_SPLIT_ISOLATED};
	tok_tokenizer *tok = (tok_tokenizer *)&m;
	char err[256];
	assert_int_equal(tok_create(&m.t, &tok, err, sizeof err), TOK_E_REGEX);
	assert_null(tok);
	assert_non_null(strstr(err, "step 0"));
	m.t.pre[0].a = (fmt_strview){"x", 1};
	m.t.pre[0].behavior = 9;
	assert_int_equal(tok_create(&m.t, &tok, err, sizeof err), TOK_E_DATA);
	m.t.pre[0].behavior = 0;
	m.t.bos_id = (int32_t)NV;
	assert_int_equal(tok_create(&m.t, &tok, err, sizeof err), TOK_E_DATA);
	m.t.bos_id = -1;
	m.t.model = 7;
	assert_int_equal(tok_create(&m.t, &tok, err, sizeof err), TOK_E_UNSUPPORTED);
	m.t.model = FMT_TOK_BPE;
	fmt_tok_merge mg = {1, 2, NV + 5};
	m.t.merges = &mg;
	m.t.n_merges = 1;
	assert_int_equal(tok_create(&m.t, &tok, err, sizeof err), TOK_E_DATA);
	assert_int_equal(tok_create(NULL, &tok, err, sizeof err), TOK_E_ARG);
	tok_free(NULL);
	tok_stream_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_behaviors),
		cmocka_unit_test(test_added_and_normalizers),
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_bad_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
