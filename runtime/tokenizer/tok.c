/* Tokenizer construction, the encode pipeline and lookups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define CACHE_SLOTS (1u << 16)

void tok_free(tok_tokenizer *tok)
{
	if (!tok)
		return;
	tok_pre_free(tok);
	tok_strmap_free(&tok->vocab);
	free(tok->merges);
	tok_added_free(&tok->raw_added);
	tok_added_free(&tok->norm_added);
	free(tok->special);
	free(tok->added_text);
	free(tok->dec_off);
	free(tok->dec_data);
	free(tok->norm.p);
	free(tok->tmp.p);
	free(tok->wordmap.p);
	free(tok->segs.v);
	free(tok->subs.v);
	free(tok->pieces.v);
	free(tok->pieces2.v);
	free(tok->mseg.v);
	free(tok->syms);
	free(tok->heap);
	free(tok->cache);
	free(tok->cache_data.p);
	free(tok);
}

static tok_status check_data(const fmt_tok *t, char *err, size_t errlen)
{
	if (t->model != FMT_TOK_BPE) {
		tok_set_err(err, errlen, "tokenizer model %u is not BPE", t->model);
		return TOK_E_UNSUPPORTED;
	}
	if (!t->n_tokens || t->n_tokens > FMT_TOK_MAX_TOKENS || t->n_merges > FMT_TOK_MAX_MERGES ||
	    t->n_added > FMT_TOK_MAX_ADDED || t->n_norm > FMT_TOK_MAX_STEPS || t->n_pre > FMT_TOK_MAX_STEPS ||
	    t->n_dec > FMT_TOK_MAX_STEPS) {
		tok_set_err(err, errlen, "tokenizer counts out of range (tokens %u, merges %u, added %u)", t->n_tokens,
			    t->n_merges, t->n_added);
		return TOK_E_DATA;
	}
	if (!t->tokens || (t->n_merges && !t->merges) || (t->n_added && !t->added)) {
		tok_set_err(err, errlen, "tokenizer arrays missing");
		return TOK_E_DATA;
	}
	const int32_t sp[4] = {t->unk_id, t->bos_id, t->eos_id, t->pad_id};
	static const char *const names[4] = {"unk_id", "bos_id", "eos_id", "pad_id"};
	for (int i = 0; i < 4; i++) {
		if (sp[i] < -1 || (sp[i] >= 0 && (uint32_t)sp[i] >= t->n_tokens)) {
			tok_set_err(err, errlen, "%s %d out of range", names[i], sp[i]);
			return TOK_E_DATA;
		}
	}
	for (uint32_t k = 0; k < t->n_norm; k++) {
		if (t->norm[k].kind < FMT_NORM_NFC || t->norm[k].kind > FMT_NORM_PREPEND) {
			tok_set_err(err, errlen, "normalizer step %u: kind %u unknown", k, t->norm[k].kind);
			return TOK_E_UNSUPPORTED;
		}
	}
	for (uint32_t i = 0; i < t->n_added; i++) {
		if (t->added[i].id >= t->n_tokens || !t->added[i].content.len) {
			tok_set_err(err, errlen, "added token %u: id %u out of range or empty content", i, t->added[i].id);
			return TOK_E_DATA;
		}
		if (!tok_utf8_valid(t->added[i].content.s, t->added[i].content.len)) {
			tok_set_err(err, errlen, "added token %u (id %u): content is not UTF-8", i, t->added[i].id);
			return TOK_E_DATA;
		}
	}
	return TOK_OK;
}

tok_status tok_create(const fmt_tok *t, tok_tokenizer **out, char *err, size_t errlen)
{
	tok_set_err(err, errlen, "ok");
	if (!out)
		return TOK_E_ARG;
	*out = NULL;
	if (!t) {
		tok_set_err(err, errlen, "no tokenizer data");
		return TOK_E_ARG;
	}
	tok_status st = check_data(t, err, errlen);
	if (st)
		return st;
	tok_tokenizer *tok = calloc(1, sizeof *tok);
	if (!tok)
		return TOK_E_NOMEM;
	tok->t = t;
	tok->special = calloc(t->n_tokens, 1);
	tok->added_text = calloc(t->n_tokens, sizeof *tok->added_text);
	tok->cache = calloc(CACHE_SLOTS, sizeof *tok->cache);
	tok->cache_mask = CACHE_SLOTS - 1;
	if (!tok->special || !tok->added_text || !tok->cache) {
		st = TOK_E_NOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < t->n_added; i++) {
		uint32_t id = t->added[i].id;
		tok->special[id] |= 2 | ((t->added[i].flags & FMT_ADDED_SPECIAL) ? 1 : 0);
		tok->added_text[id] = &t->added[i].content;
	}
	if ((st = tok_pre_compile(tok, err, errlen)))
		goto fail;
	if ((st = tok_strmap_build(&tok->vocab, t->tokens, t->n_tokens)))
		goto fail;
	if ((st = tok_bpe_build(tok, err, errlen)))
		goto fail;
	if ((st = tok_added_build(&tok->raw_added, t, false, &tok->norm, &tok->tmp)) ||
	    (st = tok_added_build(&tok->norm_added, t, true, &tok->norm, &tok->tmp))) {
		tok_set_err(err, errlen, "added tokens: %s", tok_strerror(st));
		goto fail;
	}
	if ((st = tok_decoder_build(tok, err, errlen)))
		goto fail;
	*out = tok;
	tok_set_err(err, errlen, "ok");
	return TOK_OK;
fail:
	if (st == TOK_E_NOMEM)
		tok_set_err(err, errlen, "out of memory building the tokenizer");
	tok_free(tok);
	return st;
}

/* The pipeline for one call; ids are appended to `ids`. */
static tok_status encode_ids(tok_tokenizer *tok, const char *text, size_t len, unsigned flags, tok_ids *ids)
{
	const fmt_tok *t = tok->t;
	if (len > TOK_MAX_INPUT)
		return TOK_E_LIMIT;
	if (!tok_utf8_valid(text, len))
		return TOK_E_UTF8;
	bool add = flags & TOK_ENC_ADD_SPECIAL, split_special = flags & TOK_ENC_SPLIT_SPECIAL;
	tok_status st = TOK_OK;
	if (add && (t->flags & FMT_TOKF_ADD_BOS) && t->bos_id >= 0)
		st = tok_ids_push(ids, t->bos_id);
	tok->segs.n = 0;
	if (!st && len)
		st = tok_added_split(&tok->raw_added, text, 0, len, split_special, &tok->segs);
	for (size_t i = 0; i < tok->segs.n && !st; i++) {
		tok_span sg = tok->segs.v[i];
		if (sg.id >= 0) {
			st = tok_ids_push(ids, sg.id);
			continue;
		}
		if ((st = tok_normalize(t, text + sg.off, sg.len, &tok->norm, &tok->tmp)))
			break;
		tok->subs.n = 0;
		if (tok->norm.n && (st = tok_added_split(&tok->norm_added, tok->norm.p, 0, tok->norm.n, split_special, &tok->subs)))
			break;
		for (size_t j = 0; j < tok->subs.n && !st; j++) {
			tok_span sb = tok->subs.v[j];
			if (sb.id >= 0) {
				st = tok_ids_push(ids, sb.id);
				continue;
			}
			tok->pieces.n = 0;
			if ((st = tok_spans_push(&tok->pieces, sb.off, sb.len, -1)))
				break;
			if ((st = tok_pretokenize(tok, &tok->norm, &tok->pieces, &tok->pieces2)))
				break;
			for (size_t k = 0; k < tok->pieces.n && !st; k++)
				st = tok_bpe_word(tok, tok->norm.p + tok->pieces.v[k].off, tok->pieces.v[k].len, ids);
		}
	}
	if (!st && add && (t->flags & FMT_TOKF_ADD_EOS) && t->eos_id >= 0)
		st = tok_ids_push(ids, t->eos_id);
	return st;
}

tok_status tok_encode(tok_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t **ids, size_t *n)
{
	if (!tok || (!text && len) || !ids || !n || (flags & ~(unsigned)(TOK_ENC_ADD_SPECIAL | TOK_ENC_SPLIT_SPECIAL)))
		return TOK_E_ARG;
	*ids = NULL;
	*n = 0;
	tok_ids v = {0};
	tok_status st = encode_ids(tok, text ? text : "", len, flags, &v);
	if (st) {
		free(v.v);
		return st;
	}
	*ids = v.v;
	*n = v.n;
	return TOK_OK;
}

tok_status tok_encode_to(tok_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t *ids, size_t cap,
			 size_t *n)
{
	if (!ids && cap)
		return TOK_E_ARG;
	int32_t *v;
	size_t k;
	tok_status st = tok_encode(tok, text, len, flags, &v, &k);
	if (st)
		return st;
	*n = k;
	if (k > cap) {
		free(v);
		return TOK_E_SPACE;
	}
	if (k)
		memcpy(ids, v, k * sizeof *v);
	free(v);
	return TOK_OK;
}

uint32_t tok_n_tokens(const tok_tokenizer *tok)
{
	return tok ? tok->t->n_tokens : 0;
}

int32_t tok_bos_id(const tok_tokenizer *tok)
{
	return tok ? tok->t->bos_id : -1;
}

int32_t tok_eos_id(const tok_tokenizer *tok)
{
	return tok ? tok->t->eos_id : -1;
}

bool tok_is_special(const tok_tokenizer *tok, int32_t id)
{
	return tok && id >= 0 && (uint32_t)id < tok->t->n_tokens && (tok->special[id] & 1);
}

tok_status tok_token_text(const tok_tokenizer *tok, int32_t id, const char **text, size_t *len)
{
	if (!tok || !text || !len || id < 0 || (uint32_t)id >= tok->t->n_tokens)
		return TOK_E_ARG;
	const fmt_strview *v = tok->added_text[id] ? tok->added_text[id] : &tok->t->tokens[id];
	*text = v->s;
	*len = v->len;
	return v->len ? TOK_OK : TOK_E_NOTFOUND;
}

int32_t tok_token_id(const tok_tokenizer *tok, const char *text, size_t len)
{
	if (!tok || !text || !len)
		return -1;
	for (uint32_t i = 0; i < tok->t->n_added; i++) {
		const fmt_strview *c = &tok->t->added[i].content;
		if (c->len == len && !memcmp(c->s, text, len))
			return (int32_t)tok->t->added[i].id;
	}
	return tok_strmap_get(&tok->vocab, text, len);
}

tok_status tok_describe(tok_tokenizer *tok, const char *text, size_t len, unsigned flags, char **out, size_t *out_len)
{
	if (!out || !out_len)
		return TOK_E_ARG;
	*out = NULL;
	*out_len = 0;
	int32_t *ids;
	size_t n;
	tok_status st = tok_encode(tok, text, len, flags, &ids, &n);
	if (st)
		return st;
	tok_buf b = {0};
	for (size_t i = 0; i < n && !st; i++) {
		const char *s;
		size_t k;
		char num[24];
		int w = snprintf(num, sizeof num, "%d\t", (int)ids[i]);
		st = tok_token_bytes(tok, ids[i], &s, &k);
		if (!st)
			st = tok_buf_put(&b, num, (size_t)w);
		for (size_t j = 0; j < k && !st;) {
			uint8_t c = (uint8_t)s[j];
			char e[8];
			size_t el = 0;
			if (c == '\n' || c == '\t' || c == '\r' || c == '\\') {
				e[0] = '\\';
				e[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : '\\';
				el = 2;
			} else if (c < 0x20 || c == 0x7f) {
				el = (size_t)snprintf(e, sizeof e, "\\x%02x", c);
			} else if (c >= 0x80) {
				/* whole valid sequences pass; stray or partial bytes are escaped */
				size_t m = 1;
				while (m < 4 && j + m < k && ((uint8_t)s[j + m] & 0xc0) == 0x80)
					m++;
				size_t v = m;
				while (v > 1 && !tok_utf8_valid(s + j, v))
					v--;
				if (v > 1 || tok_utf8_valid(s + j, 1)) {
					st = tok_buf_put(&b, s + j, v);
					j += v;
					continue;
				}
				el = (size_t)snprintf(e, sizeof e, "\\x%02x", c);
			} else {
				e[0] = (char)c;
				el = 1;
			}
			st = tok_buf_put(&b, e, el);
			j++;
		}
		if (!st)
			st = tok_buf_put(&b, "\n", 1);
	}
	free(ids);
	if (!st)
		st = tok_buf_reserve(&b, 0);
	if (st) {
		free(b.p);
		return st;
	}
	b.p[b.n] = 0;
	*out = b.p;
	*out_len = b.n;
	return TOK_OK;
}
