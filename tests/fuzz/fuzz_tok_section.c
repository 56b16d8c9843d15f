/* libFuzzer target for the TOKENIZER section decoder (SPEC §9). A section that decodes is built
 * into a runtime tokenizer (PCRE2 patterns, normalizers, BPE tables) which then encodes and
 * decodes a short fixed text. Also linked into the corpus replay driver. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt_tok.h"
#include "tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

/* Mixed scripts, digits, spaces, newlines and chat markers, so every pipeline step has work. */
static const char text[] = "Hello, world! 12345  <|im_start|>user\nÉté naïve 日本語 ß\tend</s>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fmt_tok *t = NULL;
	fmt_error err;
	memset(&err, 0, sizeof err);
	if (fmt_tok_decode(data, size, 0, &t, &err) != FMT_OK) {
		if (t || strlen(err.msg) == 0)
			abort();
		return 0;
	}
	tok_tokenizer *tk = NULL;
	char msg[256] = "";
	tok_status st = tok_create(t, &tk, msg, sizeof msg);
	if (st != TOK_OK) {
		if (tk)
			abort();
		fmt_tok_free(t);
		return 0;
	}
	if (tok_n_tokens(tk) != t->n_tokens)
		abort();
	for (unsigned flags = 0; flags < 4; flags++) {
		int32_t *ids = NULL;
		size_t n = 0;
		if (tok_encode(tk, text, sizeof text - 1, flags, &ids, &n) != TOK_OK)
			continue;
		for (size_t i = 0; i < n; i++)
			if (ids[i] < 0 || (uint32_t)ids[i] >= t->n_tokens)
				abort();
		char *out = NULL;
		size_t out_len = 0;
		if (tok_decode(tk, ids, n, flags & TOK_DEC_SKIP_SPECIAL, &out, &out_len) == TOK_OK) {
			if (out[out_len] != 0)
				abort();
			free(out);
		}
		tok_stream *s = NULL;
		if (tok_stream_create(tk, 0, &s) == TOK_OK) {
			const char *p;
			size_t len;
			for (size_t i = 0; i < n && i < 64; i++)
				if (tok_stream_push(s, ids[i], &p, &len) == TOK_OK)
					sink += (unsigned)len;
			if (tok_stream_flush(s, &p, &len) == TOK_OK)
				sink += (unsigned)len;
			tok_stream_free(s);
		}
		free(ids);
	}
	for (int32_t id = 0; id < 4 && (uint32_t)id < t->n_tokens; id++) {
		const char *p;
		size_t len;
		if (tok_token_text(tk, id, &p, &len) == TOK_OK && tok_token_id(tk, p, len) < 0)
			abort(); /* a stored text must map back to some id */
		if (tok_token_bytes(tk, id, &p, &len) == TOK_OK)
			sink += (unsigned)len;
	}
	tok_free(tk);
	fmt_tok_free(t);
	return 0;
}
