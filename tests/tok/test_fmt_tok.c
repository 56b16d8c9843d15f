/* TOKENIZER section codec (SPEC §9): round trip of a small tokenizer using every step kind, and
 * malformed sections, each rejected with the expected status and file offset. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "bale/fmt_tok.h"

#define BASE 1000u /* section's pretend file offset: every error offset must include it */

static fmt_strview sv(const char *s)
{
	return (fmt_strview){s, (uint32_t)strlen(s)};
}

/* ids: 0 a, 1 b, 2 ab, 3 c, 4 abc, 5 (hole), 6 (added <s> only), 7 </s> (vocab + added), 8 Ġ, 9 Ġa,
 * 10 z, 11 é */
static const char *const k_vocab[] = {"a", "b", "ab", "c", "abc", "", "", "</s>", "\xc4\xa0", "\xc4\xa0\x61", "z", "\xc3\xa9"};
#define N_TOK 12u

typedef struct {
	fmt_tok t;
	fmt_strview tokens[N_TOK];
	fmt_tok_merge merges[3];
	fmt_tok_added added[2];
} sample;

static void make_sample(sample *s)
{
	memset(s, 0, sizeof *s);
	fmt_tok *t = &s->t;
	t->model = FMT_TOK_BPE;
	t->flags = FMT_TOKF_ADD_BOS | FMT_TOKF_BYTE_FALLBACK;
	t->unk_id = 3;
	t->bos_id = 6;
	t->eos_id = 7;
	t->pad_id = -1;
	t->n_tokens = N_TOK;
	for (unsigned i = 0; i < N_TOK; i++)
		s->tokens[i] = sv(k_vocab[i]);
	t->tokens = s->tokens;
	s->merges[0] = (fmt_tok_merge){0, 1, 2};
	s->merges[1] = (fmt_tok_merge){2, 3, 4};
	s->merges[2] = (fmt_tok_merge){8, 0, 9};
	t->merges = s->merges;
	t->n_merges = 3;
	s->added[0] = (fmt_tok_added){6, FMT_ADDED_SPECIAL, sv("<s>")};
	s->added[1] = (fmt_tok_added){7, FMT_ADDED_SPECIAL | FMT_ADDED_LSTRIP | FMT_ADDED_NORMALIZED, sv("</s>")};
	t->added = s->added;
	t->n_added = 2;

	uint8_t nk[] = {FMT_NORM_NFC, FMT_NORM_NFD, FMT_NORM_NFKC, FMT_NORM_NFKD, FMT_NORM_LOWERCASE};
	for (unsigned i = 0; i < 5; i++)
		t->norm[i].kind = nk[i];
	t->norm[5] = (fmt_tok_step){.kind = FMT_NORM_REPLACE, .a = sv(" "), .b = sv("\xe2\x96\x81")};
	t->norm[6] = (fmt_tok_step){.kind = FMT_NORM_PREPEND, .a = sv("\xe2\x96\x81")};
	t->n_norm = 7;
	t->pre[0] = (fmt_tok_step){.kind = FMT_PRE_SPLIT, .is_regex = 1, .a = sv("\\p{N}{1,3}"), .behavior = FMT_SPLIT_ISOLATED};
	t->pre[1] = (fmt_tok_step){.kind = FMT_PRE_SPLIT, .is_regex = 0, .a = sv("x"), .behavior = FMT_SPLIT_CONTIGUOUS, .invert = 1};
	t->pre[2] = (fmt_tok_step){.kind = FMT_PRE_BYTE_LEVEL, .add_prefix_space = 0, .trim_offsets = 1, .use_regex = 1};
	t->pre[3] = (fmt_tok_step){.kind = FMT_PRE_DIGITS, .individual_digits = 1};
	t->n_pre = 4;
	t->dec[0] = (fmt_tok_step){.kind = FMT_DEC_BYTE_LEVEL};
	t->dec[1] = (fmt_tok_step){.kind = FMT_DEC_REPLACE, .a = sv("\xe2\x96\x81"), .b = sv(" ")};
	t->dec[2] = (fmt_tok_step){.kind = FMT_DEC_BYTE_FALLBACK};
	t->dec[3] = (fmt_tok_step){.kind = FMT_DEC_FUSE};
	t->dec[4] = (fmt_tok_step){.kind = FMT_DEC_STRIP, .a = sv(" "), .start = 1, .stop = 2};
	t->n_dec = 5;
}

/* ---- layout of the sample's encoding, computed from the spec (not from the encoder) ---- */

static size_t step_bytes(int stage, const fmt_tok_step *s)
{
	size_t n = 1;
	if (stage == 0 && (s->kind == FMT_NORM_REPLACE))
		n += 8 + s->a.len + s->b.len;
	if (stage == 0 && s->kind == FMT_NORM_PREPEND)
		n += 4 + s->a.len;
	if (stage == 1 && s->kind == FMT_PRE_SPLIT)
		n += 1 + 4 + s->a.len + 2;
	if (stage == 1 && s->kind == FMT_PRE_BYTE_LEVEL)
		n += 3;
	if (stage == 1 && s->kind == FMT_PRE_DIGITS)
		n += 1;
	if (stage == 2 && s->kind == FMT_DEC_REPLACE)
		n += 8 + s->a.len + s->b.len;
	if (stage == 2 && s->kind == FMT_DEC_STRIP)
		n += 4 + s->a.len + 8;
	return n;
}

typedef struct {
	size_t token[N_TOK], merges, added[2], norm, norm_step[16], pre, pre_step[16], dec, dec_step[16], end;
} layout;

static void make_layout(const sample *s, layout *L)
{
	size_t o = 36; /* model, flags, 4 ids, 3 counts */
	for (unsigned i = 0; i < N_TOK; i++) {
		L->token[i] = o;
		o += 4 + s->tokens[i].len;
	}
	L->merges = o;
	o += 12 * s->t.n_merges;
	for (unsigned i = 0; i < 2; i++) {
		L->added[i] = o;
		o += 9 + s->added[i].content.len;
	}
	L->norm = o;
	o += 4;
	for (unsigned i = 0; i < s->t.n_norm; i++)
		L->norm_step[i] = o, o += step_bytes(0, &s->t.norm[i]);
	L->pre = o;
	o += 4;
	for (unsigned i = 0; i < s->t.n_pre; i++)
		L->pre_step[i] = o, o += step_bytes(1, &s->t.pre[i]);
	L->dec = o;
	o += 4;
	for (unsigned i = 0; i < s->t.n_dec; i++)
		L->dec_step[i] = o, o += step_bytes(2, &s->t.dec[i]);
	L->end = o;
}

static uint8_t *encode_sample(const sample *s, size_t *n)
{
	uint8_t *buf = NULL;
	fmt_error err;
	assert_int_equal(fmt_tok_encode(&s->t, &buf, n, &err), FMT_OK);
	return buf;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void expect_view(fmt_strview a, fmt_strview b)
{
	assert_int_equal(a.len, b.len);
	if (a.len)
		assert_memory_equal(a.s, b.s, a.len);
}

static void expect_step(int stage, const fmt_tok_step *a, const fmt_tok_step *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(step_bytes(stage, a), step_bytes(stage, b));
	assert_int_equal(a->is_regex, b->is_regex);
	assert_int_equal(a->behavior, b->behavior);
	assert_int_equal(a->invert, b->invert);
	assert_int_equal(a->add_prefix_space, b->add_prefix_space);
	assert_int_equal(a->trim_offsets, b->trim_offsets);
	assert_int_equal(a->use_regex, b->use_regex);
	assert_int_equal(a->individual_digits, b->individual_digits);
	expect_view(a->a, b->a);
	expect_view(a->b, b->b);
	assert_int_equal(a->start, b->start);
	assert_int_equal(a->stop, b->stop);
}

static void test_roundtrip(void **state)
{
	(void)state;
	sample s;
	layout L;
	make_sample(&s);
	make_layout(&s, &L);
	size_t n;
	uint8_t *buf = encode_sample(&s, &n);
	assert_int_equal(n, L.end);
	/* Spot-check the byte layout against the spec, independent of the decoder. */
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[4], FMT_TOKF_ADD_BOS | FMT_TOKF_BYTE_FALLBACK);
	assert_memory_equal(buf + 20, "\xff\xff\xff\xff", 4); /* pad_id −1 */
	assert_int_equal(buf[24], N_TOK);
	assert_int_equal(buf[L.token[9]], 3);
	assert_memory_equal(buf + L.token[9] + 4, "\xc4\xa0" "a", 3);
	assert_int_equal(buf[L.merges + 12], 2); /* merges[1].left */
	assert_int_equal(buf[L.added[1]], 7);
	assert_int_equal(buf[L.pre_step[0]], FMT_PRE_SPLIT);
	assert_int_equal(buf[L.dec_step[4]], FMT_DEC_STRIP);

	fmt_tok *d = NULL;
	fmt_error err;
	assert_int_equal(fmt_tok_decode(buf, n, BASE, &d, &err), FMT_OK);
	assert_int_equal(d->model, FMT_TOK_BPE);
	assert_int_equal(d->flags, s.t.flags);
	assert_int_equal(d->unk_id, 3);
	assert_int_equal(d->bos_id, 6);
	assert_int_equal(d->eos_id, 7);
	assert_int_equal(d->pad_id, -1);
	assert_int_equal(d->n_tokens, N_TOK);
	for (unsigned i = 0; i < N_TOK; i++)
		expect_view(d->tokens[i], s.tokens[i]);
	assert_int_equal(d->n_merges, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(d->merges[i].left, s.merges[i].left);
		assert_int_equal(d->merges[i].right, s.merges[i].right);
		assert_int_equal(d->merges[i].result, s.merges[i].result);
	}
	assert_int_equal(d->n_added, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(d->added[i].id, s.added[i].id);
		assert_int_equal(d->added[i].flags, s.added[i].flags);
		expect_view(d->added[i].content, s.added[i].content);
	}
	assert_int_equal(d->n_norm, 7);
	assert_int_equal(d->n_pre, 4);
	assert_int_equal(d->n_dec, 5);
	for (unsigned i = 0; i < d->n_norm; i++)
		expect_step(0, &d->norm[i], &s.t.norm[i]);
	for (unsigned i = 0; i < d->n_pre; i++)
		expect_step(1, &d->pre[i], &s.t.pre[i]);
	for (unsigned i = 0; i < d->n_dec; i++)
		expect_step(2, &d->dec[i], &s.t.dec[i]);
	/* Strings are borrowed from the section. */
	assert_ptr_equal(d->tokens[0].s, (const char *)buf + L.token[0] + 4);

	/* Re-encoding the decoded view gives the same bytes (deterministic, lossless). */
	uint8_t *again = NULL;
	size_t n2;
	assert_int_equal(fmt_tok_encode(d, &again, &n2, &err), FMT_OK);
	assert_int_equal(n2, n);
	assert_memory_equal(again, buf, n);
	free(again);
	fmt_tok_free(d);
	fmt_tok_free(NULL);
	free(buf);
}

static void test_empty_tokenizer(void **state)
{
	(void)state;
	fmt_tok t = {.model = FMT_TOK_BPE, .unk_id = -1, .bos_id = -1, .eos_id = -1, .pad_id = -1};
	uint8_t *buf = NULL;
	size_t n;
	fmt_error err;
	assert_int_equal(fmt_tok_encode(&t, &buf, &n, &err), FMT_OK);
	assert_int_equal(n, 48); /* 36 fixed + 3 empty stages */
	fmt_tok *d = NULL;
	assert_int_equal(fmt_tok_decode(buf, n, 0, &d, &err), FMT_OK);
	assert_int_equal(d->n_tokens, 0);
	fmt_tok_free(d);
	free(buf);
}

/* Decodes `buf` and expects status `st` at file offset BASE + `at` (or any offset when at = SIZE_MAX). */
static void expect_bad(const uint8_t *buf, size_t n, fmt_status st, size_t at, const char *needle)
{
	fmt_tok *d = (fmt_tok *)(uintptr_t)1;
	fmt_error err;
	memset(&err, 0, sizeof err);
	fmt_status got = fmt_tok_decode(buf, n, BASE, &d, &err);
	if (got != st || (at != SIZE_MAX && err.offset != BASE + at) || (needle && !strstr(err.msg, needle)))
		print_error("want status %d at %zu (%s); got %d at %llu: %s\n", st, at == SIZE_MAX ? 0 : BASE + at,
			    needle ? needle : "", got, (unsigned long long)err.offset, err.msg);
	assert_int_equal(got, st);
	assert_null(d);
	assert_int_equal(err.status, st);
	assert_true(strlen(err.msg) > 0);
	if (at != SIZE_MAX)
		assert_int_equal(err.offset, BASE + at);
	if (needle)
		assert_non_null(strstr(err.msg, needle));
}

static void test_truncated_everywhere(void **state)
{
	(void)state;
	sample s;
	make_sample(&s);
	size_t n;
	uint8_t *buf = encode_sample(&s, &n);
	for (size_t k = 0; k < n; k++) {
		/* Exact-size copy so ASan sees any read past the cut. */
		uint8_t *cut = malloc(k ? k : 1);
		memcpy(cut, buf, k);
		fmt_tok *d = NULL;
		fmt_error err;
		fmt_status st = fmt_tok_decode(cut, k, BASE, &d, &err);
		assert_true(st == FMT_E_TRUNCATED || st == FMT_E_LIMIT);
		assert_null(d);
		assert_true(err.offset >= BASE && err.offset <= BASE + k);
		free(cut);
	}
	/* A cut inside a fixed field is reported at that field. */
	expect_bad(buf, 2, FMT_E_TRUNCATED, 0, "model");
	expect_bad(buf, 34, FMT_E_TRUNCATED, 32, "n_added");
	expect_bad(buf, n - 1, FMT_E_TRUNCATED, SIZE_MAX, "decoder[4].stop");
	free(buf);
}

/* One mutation of the sample's bytes, then decode. */
typedef void (*mutate_fn)(uint8_t *buf, const layout *L);

static void run_mut(mutate_fn f, fmt_status st, const char *needle)
{
	sample s;
	layout L;
	make_sample(&s);
	make_layout(&s, &L);
	size_t n;
	uint8_t *buf = encode_sample(&s, &n);
	f(buf, &L);
	expect_bad(buf, n, st, SIZE_MAX, needle);
	free(buf);
}

#define MUT(name, body) \
	static void name(uint8_t *b, const layout *L) \
	{ \
		(void)L; \
		body; \
	}

MUT(m_model, put32(b, 2))
MUT(m_flags, put32(b + 4, 1u << 7))
MUT(m_bos_big, put32(b + 12, N_TOK))
MUT(m_pad_neg, put32(b + 20, (uint32_t)-2))
MUT(m_ntok_huge, put32(b + 24, 0xffffffffu))
MUT(m_ntok_cap, put32(b + 24, FMT_TOK_MAX_TOKENS))
MUT(m_nmerge_fit, put32(b + 28, 1000))
MUT(m_nadded_cap, put32(b + 32, FMT_TOK_MAX_ADDED + 1))
MUT(m_tok_len, put32(b + L->token[3], 1000000))
MUT(m_tok_utf8, b[L->token[3] + 4] = 0xff)
MUT(m_tok_nul, b[L->token[3] + 4] = 0)
MUT(m_tok_dup, b[L->token[10] + 4] = 'a')
MUT(m_merge_range, put32(b + L->merges + 4, N_TOK))
MUT(m_merge_text, put32(b + L->merges + 8, 4))
MUT(m_merge_hole, put32(b + L->merges + 12 + 4, 5))
MUT(m_merge_dup, memcpy(b + L->merges + 24, b + L->merges, 12))
MUT(m_added_range, put32(b + L->added[1], N_TOK + 5))
MUT(m_added_dupid, put32(b + L->added[1], 6))
MUT(m_added_flags, b[L->added[0] + 4] = 0x20)
MUT(m_added_mismatch, b[L->added[1] + 9 + 2] = 't')
MUT(m_added_vocabdup, memcpy(b + L->added[0] + 9, "abc", 3) /* "<s>" → "abc" = id 4 */)
MUT(m_norm_kind, b[L->norm_step[0]] = 8)
MUT(m_pre_kind, b[L->pre_step[2]] = 4)
MUT(m_dec_kind, b[L->dec_step[0]] = 6)
MUT(m_dec_kind0, b[L->dec_step[2]] = 0)
MUT(m_behavior, b[L->pre_step[0] + 2 + 4 + 10] = 5) /* kind, is_regex, len, 10-byte pattern */
MUT(m_is_regex, b[L->pre_step[0] + 1] = 2)
MUT(m_bl_bool, b[L->pre_step[2] + 3] = 7)
MUT(m_nsteps, put32(b + L->pre, 17))
MUT(m_nsteps_dec, put32(b + L->dec, 4))

static void test_malformed_fields(void **state)
{
	(void)state;
	sample s;
	layout L;
	make_sample(&s);
	make_layout(&s, &L);
	static const struct {
		mutate_fn f;
		fmt_status st;
		const char *needle;
	} cases[] = {
		{m_model, FMT_E_UNSUPPORTED, "model"},
		{m_flags, FMT_E_UNSUPPORTED, "flags"},
		{m_bos_big, FMT_E_BOUNDS, "bos_id"},
		{m_pad_neg, FMT_E_BOUNDS, "pad_id"},
		{m_ntok_huge, FMT_E_LIMIT, "n_tokens"},
		{m_ntok_cap, FMT_E_LIMIT, "n_tokens"},
		{m_nmerge_fit, FMT_E_LIMIT, "n_merges"},
		{m_nadded_cap, FMT_E_LIMIT, "n_added"},
		{m_tok_len, FMT_E_TRUNCATED, "tokens[3]"},
		{m_tok_utf8, FMT_E_CORRUPT, "tokens[3]"},
		{m_tok_nul, FMT_E_CORRUPT, "tokens[3]"},
		{m_tok_dup, FMT_E_DUPLICATE, "tokens[10]"},
		{m_merge_range, FMT_E_BOUNDS, "merges[0].right"},
		{m_merge_text, FMT_E_CORRUPT, "merges[0].result"},
		{m_merge_hole, FMT_E_CORRUPT, "merges[1].right"},
		{m_merge_dup, FMT_E_DUPLICATE, "merges"},
		{m_added_range, FMT_E_BOUNDS, "added[1].id"},
		{m_added_dupid, FMT_E_DUPLICATE, "added[1].id"},
		{m_added_flags, FMT_E_UNSUPPORTED, "added[0].flags"},
		{m_added_mismatch, FMT_E_CORRUPT, "added[1].content"},
		{m_added_vocabdup, FMT_E_DUPLICATE, "added[0]"},
		{m_norm_kind, FMT_E_UNSUPPORTED, "normalizer[0].kind"},
		{m_pre_kind, FMT_E_UNSUPPORTED, "pre_tokenizer[2].kind"},
		{m_dec_kind, FMT_E_UNSUPPORTED, "decoder[0].kind"},
		{m_dec_kind0, FMT_E_UNSUPPORTED, "decoder[2].kind"},
		{m_behavior, FMT_E_UNSUPPORTED, "behavior"},
		{m_is_regex, FMT_E_CORRUPT, "is_regex"},
		{m_bl_bool, FMT_E_CORRUPT, "use_regex"},
		{m_nsteps, FMT_E_LIMIT, "pre_tokenizer.n_steps"},
		{m_nsteps_dec, FMT_E_CORRUPT, "trailing"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_mut(cases[i].f, cases[i].st, cases[i].needle);

	/* Offsets: point at the offending field, shifted by the section's file offset. */
	size_t n;
	uint8_t *buf = encode_sample(&s, &n);
	put32(buf + L.merges + 12 + 8, 9); /* merges[1].result */
	expect_bad(buf, n, FMT_E_CORRUPT, L.merges + 12 + 8, "merges[1].result");
	free(buf);
	buf = encode_sample(&s, &n);
	buf[L.pre_step[1] + 2 + 4 + 1] = 9; /* pre[1].behavior ("x" is 1 byte) */
	expect_bad(buf, n, FMT_E_UNSUPPORTED, L.pre_step[1] + 2 + 4 + 1, "pre_tokenizer[1].behavior");
	free(buf);
	buf = encode_sample(&s, &n);
	put32(buf + 24, FMT_TOK_MAX_TOKENS + 1);
	expect_bad(buf, n, FMT_E_LIMIT, 24, "n_tokens");
	free(buf);
	buf = encode_sample(&s, &n);
	buf[L.dec_step[3]] = 77;
	expect_bad(buf, n, FMT_E_UNSUPPORTED, L.dec_step[3], "decoder[3].kind");
	free(buf);

	/* Trailing byte, reported where it starts. */
	buf = encode_sample(&s, &n);
	uint8_t *longer = malloc(n + 1);
	memcpy(longer, buf, n);
	longer[n] = 0;
	expect_bad(longer, n + 1, FMT_E_CORRUPT, n, "trailing");
	free(longer);
	free(buf);
}

/* Length-changing edits: splice bytes [at, at+del) for `ins`. */
static uint8_t *splice(const uint8_t *b, size_t n, size_t at, size_t del, const void *ins, size_t ins_len, size_t *out_n)
{
	*out_n = n - del + ins_len;
	uint8_t *o = malloc(*out_n);
	memcpy(o, b, at);
	memcpy(o + at, ins, ins_len);
	memcpy(o + at + ins_len, b + at + del, n - at - del);
	return o;
}

static void test_malformed_lengths(void **state)
{
	(void)state;
	sample s;
	layout L;
	make_sample(&s);
	make_layout(&s, &L);
	size_t n, m;
	uint8_t *buf = encode_sample(&s, &n);
	/* added[0].content "<s>" → "" */
	uint8_t *o = splice(buf, n, L.added[0] + 5, 7, "\0\0\0\0", 4, &m);
	expect_bad(o, m, FMT_E_CORRUPT, L.added[0] + 5, "added[0].content: empty");
	free(o);
	/* pre[0] split pattern → "" */
	o = splice(buf, n, L.pre_step[0] + 2, 4 + 10, "\0\0\0\0", 4, &m);
	expect_bad(o, m, FMT_E_CORRUPT, L.pre_step[0] + 2, "pattern");
	free(o);
	/* Overlong UTF-8 ("/" as C0 AF) in a step string */
	o = splice(buf, n, L.dec_step[4] + 1, 4 + 1, "\2\0\0\0\xc0\xaf", 6, &m);
	expect_bad(o, m, FMT_E_CORRUPT, L.dec_step[4] + 1, "decoder[4].content");
	free(o);
	/* UTF-16 surrogate encoded in UTF-8 in a token */
	o = splice(buf, n, L.token[10], 5, "\3\0\0\0\xed\xa0\x80", 7, &m);
	expect_bad(o, m, FMT_E_CORRUPT, L.token[10], "tokens[10]");
	free(o);
	free(buf);
}

static void test_encode_rejects(void **state)
{
	(void)state;
	sample s;
	uint8_t *buf;
	size_t n;
	fmt_error err;

	make_sample(&s);
	s.t.n_tokens = FMT_TOK_MAX_TOKENS + 1;
	assert_int_equal(fmt_tok_encode(&s.t, &buf, &n, &err), FMT_E_LIMIT);
	assert_null(buf);

	make_sample(&s);
	s.t.pre[1].a = sv("");
	assert_int_equal(fmt_tok_encode(&s.t, &buf, &n, &err), FMT_E_CORRUPT);
	assert_non_null(strstr(err.msg, "pre_tokenizer[1].pattern"));
	assert_null(buf);

	make_sample(&s);
	s.merges[2].result = 4;
	assert_int_equal(fmt_tok_encode(&s.t, &buf, &n, &err), FMT_E_CORRUPT);
	assert_non_null(strstr(err.msg, "merges[2].result"));

	make_sample(&s);
	s.t.n_dec = FMT_TOK_MAX_STEPS + 1;
	assert_int_equal(fmt_tok_encode(&s.t, &buf, &n, &err), FMT_E_LIMIT);

	make_sample(&s);
	s.t.eos_id = (int32_t)N_TOK;
	assert_int_equal(fmt_tok_encode(&s.t, &buf, &n, &err), FMT_E_BOUNDS);

	make_sample(&s);
	s.t.pre[0].behavior = 5;
	assert_int_equal(fmt_tok_encode(&s.t, &buf, &n, &err), FMT_E_UNSUPPORTED);

	/* Fields a kind does not use are ignored, so stale values cannot change the bytes. */
	make_sample(&s);
	uint8_t *a = encode_sample(&s, &n);
	s.t.norm[0].a = sv("junk");
	s.t.dec[0].start = 99;
	size_t n2;
	uint8_t *b = encode_sample(&s, &n2);
	assert_int_equal(n, n2);
	assert_memory_equal(a, b, n);
	free(a);
	free(b);
}

/* Random byte edits: never a crash, an error with a message, or — when the edit happens to stay
 * valid — a view that re-encodes to exactly the same bytes. */
static void test_random_edits(void **state)
{
	(void)state;
	sample s;
	make_sample(&s);
	size_t n;
	uint8_t *buf = encode_sample(&s, &n);
	tu_rng rng = {0x70c5eed};
	unsigned valid = 0;
	for (int it = 0; it < 3000; it++) {
		uint8_t *m = malloc(n);
		memcpy(m, buf, n);
		int edits = 1 + (int)(tu_rng_u64(&rng) % 3);
		for (int e = 0; e < edits; e++)
			m[tu_rng_u64(&rng) % n] ^= (uint8_t)(1u << (tu_rng_u64(&rng) % 8));
		fmt_tok *d = NULL;
		fmt_error err;
		memset(&err, 0, sizeof err);
		fmt_status st = fmt_tok_decode(m, n, BASE, &d, &err);
		if (st == FMT_OK) {
			uint8_t *again = NULL;
			size_t n2;
			assert_int_equal(fmt_tok_encode(d, &again, &n2, &err), FMT_OK);
			assert_int_equal(n2, n);
			assert_memory_equal(again, m, n);
			free(again);
			fmt_tok_free(d);
			valid++;
		} else {
			assert_null(d);
			assert_int_equal(err.status, st);
			assert_true(err.msg[0] != 0);
		}
		free(m);
	}
	assert_true(valid > 0 && valid < 3000); /* both outcomes occur */
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty_tokenizer),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_malformed_fields),
		cmocka_unit_test(test_malformed_lengths),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_random_edits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
