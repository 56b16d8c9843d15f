/* libFuzzer target for the Hugging Face tokenizer importer. Input layout: a 4-byte little-endian
 * length L, then L bytes of tokenizer.json (clamped to what is there), then tokenizer_config.json
 * (absent when empty). An accepted import must yield a TOKENIZER section that decodes, and
 * NUL-terminated templates. Also linked into the corpus replay driver. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	size_t tok_len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
	if (tok_len > size - 4)
		tok_len = size - 4;
	const uint8_t *tok_json = data + 4, *cfg = tok_json + tok_len;
	size_t cfg_len = size - 4 - tok_len;
	cv_hf_tokenizer *h = NULL;
	char msg[512] = "";
	if (cv_hf_tokenizer_load_mem(tok_json, tok_len, "tokenizer.json", cfg_len ? cfg : NULL, cfg_len,
				     "tokenizer_config.json", &h, msg, sizeof msg) != 0) {
		if (h || strlen(msg) == 0)
			abort();
		return 0;
	}
	const fmt_tok *t = cv_hf_tokenizer_tok(h);
	size_t sec_len = 0;
	const uint8_t *sec = cv_hf_tokenizer_section(h, &sec_len);
	fmt_tok *back = NULL;
	fmt_error err;
	if (!t || !sec || fmt_tok_decode(sec, sec_len, 0, &back, &err) != FMT_OK)
		abort(); /* the importer promises an already validated section */
	if (back->n_tokens != t->n_tokens || back->n_merges != t->n_merges || back->n_added != t->n_added)
		abort();
	fmt_tok_free(back);
	if (cv_hf_tokenizer_n_vocab(h) > t->n_tokens)
		abort();
	for (size_t i = 0; i < cv_hf_tokenizer_n_templates(h); i++) {
		const cv_chat_template *ct = cv_hf_tokenizer_template_at(h, i);
		if (!ct->name || !ct->text || ct->text[ct->text_len] != 0 || strlen(ct->name) == 0)
			abort();
		sink += (unsigned)ct->text_len;
	}
	for (uint32_t i = 0; i < t->n_added && i < 8; i++) {
		const fmt_strview *c = &t->added[i].content;
		if (c->len && cv_hf_tokenizer_find(h, c->s, c->len) < 0)
			abort(); /* an added token's own text must resolve to some id */
	}
	sink += (unsigned)cv_hf_tokenizer_find(h, "a", 1);
	cv_hf_tokenizer_free(h);
	return 0;
}
