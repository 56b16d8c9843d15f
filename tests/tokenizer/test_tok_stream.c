/* Streaming decoder on the real Qwen3 vocabulary: byte tokens that are partial UTF-8 are held back
 * until the character completes, invalid bytes become U+FFFD, and the streamed text equals
 * tok_decode for every corpus string fed one id at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tok_fixture.h"
#include "tok_internal.h"

static tf_tok g_f;

/* Id of the single-byte token for byte b (its GPT-2 mapped character). */
static int32_t byte_token(uint8_t b)
{
	char s[4];
	size_t k = tok_utf8_put(s, tok_byte_to_cp(b));
	int32_t id = tok_token_id(g_f.tok, s, k);
	assert_true(id >= 0);
	const char *bytes;
	size_t n;
	assert_int_equal(tok_token_bytes(g_f.tok, id, &bytes, &n), TOK_OK);
	assert_int_equal(n, 1);
	assert_int_equal((uint8_t)bytes[0], b);
	return id;
}

static void push_expect(tok_stream *s, int32_t id, const char *want)
{
	const char *out;
	size_t n;
	assert_int_equal(tok_stream_push(s, id, &out, &n), TOK_OK);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
}

static void flush_expect(tok_stream *s, const char *want)
{
	const char *out;
	size_t n;
	assert_int_equal(tok_stream_flush(s, &out, &n), TOK_OK);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
}

static void test_emoji_bytes(void **state)
{
	(void)state;
	tok_stream *s;
	assert_int_equal(tok_stream_create(g_f.tok, 0, &s), TOK_OK);
	/* U+1F600 = F0 9F 98 80, one byte token each */
	push_expect(s, byte_token(0xf0), "");
	push_expect(s, byte_token(0x9f), "");
	push_expect(s, byte_token(0x98), "");
	push_expect(s, byte_token(0x80), "\xf0\x9f\x98\x80");
	/* a 3-byte character split 1+2 behind ASCII text */
	int32_t ids[2];
	const char *hello = "hi";
	int32_t *enc;
	size_t ne;
	assert_int_equal(tok_encode(g_f.tok, hello, 2, 0, &enc, &ne), TOK_OK);
	assert_int_equal(ne, 1);
	ids[0] = enc[0];
	free(enc);
	push_expect(s, ids[0], "hi");
	push_expect(s, byte_token(0xe4), ""); /* 你 = E4 BD A0 */
	push_expect(s, byte_token(0xbd), "");
	push_expect(s, byte_token(0xa0), "\xe4\xbd\xa0");
	flush_expect(s, "");
	tok_stream_free(s);
}

static void test_invalid_bytes(void **state)
{
	(void)state;
	tok_stream *s;
	assert_int_equal(tok_stream_create(g_f.tok, 0, &s), TOK_OK);
	/* lead byte then ASCII: the lead is invalid as soon as the ASCII arrives */
	push_expect(s, byte_token(0xf0), "");
	push_expect(s, byte_token('a'), "\xef\xbf\xbd" "a");
	/* stray continuation byte: invalid at once */
	push_expect(s, byte_token(0x80), "\xef\xbf\xbd");
	/* truncated sequence at the end: one U+FFFD at flush (maximal subpart) */
	push_expect(s, byte_token(0xe4), "");
	push_expect(s, byte_token(0xbd), "");
	flush_expect(s, "\xef\xbf\xbd");
	/* the same ids through tok_decode give the same text */
	int32_t ids[6] = {byte_token(0xf0), byte_token('a'), byte_token(0x80), byte_token(0xe4), byte_token(0xbd)};
	char *d;
	size_t dn;
	assert_int_equal(tok_decode(g_f.tok, ids, 5, 0, &d, &dn), TOK_OK);
	assert_string_equal(d, "\xef\xbf\xbd" "a" "\xef\xbf\xbd\xef\xbf\xbd");
	free(d);
	/* out of range ids are rejected */
	const char *o;
	size_t on;
	assert_int_equal(tok_stream_push(s, -1, &o, &on), TOK_E_ARG);
	assert_int_equal(tok_stream_push(s, (int32_t)tok_n_tokens(g_f.tok), &o, &on), TOK_E_ARG);
	tok_stream_free(s);
}

/* Feeds an id sequence one at a time and compares with tok_decode. */
static void stream_equals_decode(const int32_t *ids, size_t n, unsigned flags)
{
	tok_stream *s;
	assert_int_equal(tok_stream_create(g_f.tok, flags, &s), TOK_OK);
	char *acc = malloc(16 * n + 16);
	assert_non_null(acc);
	size_t an = 0;
	for (size_t i = 0; i <= n; i++) {
		const char *o;
		size_t on;
		if (i < n)
			assert_int_equal(tok_stream_push(s, ids[i], &o, &on), TOK_OK);
		else
			assert_int_equal(tok_stream_flush(s, &o, &on), TOK_OK);
		/* every chunk is valid UTF-8 on its own */
		assert_true(tok_utf8_valid(o, on));
		memcpy(acc + an, o, on);
		an += on;
	}
	char *d;
	size_t dn;
	assert_int_equal(tok_decode(g_f.tok, ids, n, flags, &d, &dn), TOK_OK);
	assert_int_equal(an, dn);
	assert_memory_equal(acc, d, dn);
	free(d);
	free(acc);
	tok_stream_free(s);
}

static void test_stream_matches_decode(void **state)
{
	(void)state;
	static const char *texts[] = {
		"👨‍👩‍👧‍👦 family and 👍🏽", "안녕하세요 世界 こんにちは", "<|im_start|>user\nhi<|im_end|>", "plain ascii",
		"e\xcc\x81 combining", "\xef\xbf\xbd replacement",
	};
	for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
		int32_t *ids;
		size_t n;
		assert_int_equal(tok_encode(g_f.tok, texts[t], strlen(texts[t]), 0, &ids, &n), TOK_OK);
		stream_equals_decode(ids, n, 0);
		stream_equals_decode(ids, n, TOK_DEC_SKIP_SPECIAL);
		free(ids);
	}
	/* every 4-byte emoji of a block as raw byte tokens, in a random order of valid/invalid runs */
	tu_rng r = {12345};
	int32_t ids[64];
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + tu_rng_u64(&r) % 63;
		for (size_t i = 0; i < n; i++) {
			static const uint8_t pool[] = {0xf0, 0x9f, 0x98, 0x80, 0xe4, 0xbd, 0xa0, 'x', 0xc3, 0xa9, 0xff, 0xed, 0xa0};
			ids[i] = byte_token(pool[tu_rng_u64(&r) % sizeof pool]);
		}
		stream_equals_decode(ids, n, 0);
	}
}

int main(void)
{
	int rc = tf_load(&g_f, "qwen3-tokenizer", 0);
	if (rc == BALE_SKIP) {
		fprintf(stderr, "shared fixtures absent: skipping\n");
		return BALE_SKIP;
	}
	if (rc)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emoji_bytes),
		cmocka_unit_test(test_invalid_bytes),
		cmocka_unit_test(test_stream_matches_decode),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	tf_free(&g_f);
	return r;
}
