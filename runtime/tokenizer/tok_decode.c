/* Decoding: every id's bytes are computed once at create time by running the decoder steps on the
 * token alone; decode concatenates them and replaces invalid UTF-8 by U+FFFD. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* One token through the per-token decoder steps, appended to `out`. */
static tok_status decode_token(const tok_tokenizer *tok, const char *s, size_t n, tok_buf *out, tok_buf *a, tok_buf *b)
{
	const fmt_tok *t = tok->t;
	a->n = 0;
	tok_status st = tok_buf_put(a, s, n);
	bool fused = false;
	for (uint32_t k = 0; !st && k < t->n_dec; k++) {
		const fmt_tok_step *p = &t->dec[k];
		b->n = 0;
		switch (p->kind) {
		case FMT_DEC_BYTE_LEVEL: {
			bool all = true;
			for (size_t i = 0; i < a->n && all;) {
				int32_t cp;
				i += tok_utf8_next(a->p + i, a->n - i, &cp);
				int by = tok_cp_to_byte(cp);
				if (by < 0)
					all = false;
				else
					st = tok_buf_put(b, &(char){(char)by}, 1);
			}
			if (!all) /* HF keeps a token with unmapped characters as it is */
				continue;
			break;
		}
		case FMT_DEC_REPLACE:
			for (size_t i = 0; !st && i < a->n;) {
				if (p->a.len && i + p->a.len <= a->n && !memcmp(a->p + i, p->a.s, p->a.len)) {
					st = tok_buf_put(b, p->b.s, p->b.len);
					i += p->a.len;
				} else {
					st = tok_buf_put(b, a->p + i, 1);
					i++;
				}
			}
			break;
		case FMT_DEC_BYTE_FALLBACK: {
			static const char hexd[] = "0123456789ABCDEF";
			const char *h1 = a->n == 6 && !memcmp(a->p, "<0x", 3) && a->p[5] == '>' ? strchr(hexd, a->p[3]) : NULL;
			const char *h2 = h1 ? strchr(hexd, a->p[4]) : NULL;
			if (h1 && h2 && a->p[3] && a->p[4])
				st = tok_buf_put(b, &(char){(char)(((h1 - hexd) << 4) | (h2 - hexd))}, 1);
			else
				continue;
			break;
		}
		case FMT_DEC_FUSE:
			fused = true;
			continue;
		case FMT_DEC_STRIP: {
			if (fused)
				continue; /* applies to the whole text (tok_decode) */
			size_t lo = 0, hi = a->n, cl = p->a.len;
			for (uint32_t i = 0; cl && i < p->start && lo + cl <= hi && !memcmp(a->p + lo, p->a.s, cl); i++)
				lo += cl;
			for (uint32_t i = 0; cl && i < p->stop && hi >= lo + cl && !memcmp(a->p + hi - cl, p->a.s, cl); i++)
				hi -= cl;
			st = tok_buf_put(b, a->p + lo, hi - lo);
			break;
		}
		default:
			return TOK_E_UNSUPPORTED;
		}
		tok_buf x = *a;
		*a = *b;
		*b = x;
	}
	return st ? st : tok_buf_put(out, a->p, a->n);
}

tok_status tok_decoder_build(tok_tokenizer *tok, char *err, size_t errlen)
{
	const fmt_tok *t = tok->t;
	bool fused = false;
	for (uint32_t k = 0; k < t->n_dec; k++) {
		const fmt_tok_step *p = &t->dec[k];
		if (p->kind < FMT_DEC_BYTE_LEVEL || p->kind > FMT_DEC_STRIP) {
			tok_set_err(err, errlen, "decoder step %u: kind %u unknown", k, p->kind);
			return TOK_E_UNSUPPORTED;
		}
		if (p->kind == FMT_DEC_FUSE)
			fused = true;
		if (p->kind == FMT_DEC_STRIP && fused) {
			tok->strip_fused = true;
			tok->strip_start = p->start;
			tok->strip_stop = p->stop;
			tok->strip_content = p->a;
		}
	}
	tok->dec_off = malloc(((size_t)t->n_tokens + 1) * sizeof *tok->dec_off);
	if (!tok->dec_off)
		return TOK_E_NOMEM;
	tok_buf out = {0}, a = {0}, b = {0};
	tok_status st = TOK_OK;
	for (uint32_t id = 0; id < t->n_tokens && !st; id++) {
		tok->dec_off[id] = (uint32_t)out.n;
		const fmt_strview *v = tok->added_text[id] ? tok->added_text[id] : &t->tokens[id];
		if (v->len)
			st = decode_token(tok, v->s, v->len, &out, &a, &b);
		if (!st && out.n > UINT32_MAX / 2) {
			tok_set_err(err, errlen, "decoded vocabulary larger than 2 GiB");
			st = TOK_E_LIMIT;
		}
	}
	tok->dec_off[t->n_tokens] = (uint32_t)out.n;
	free(a.p);
	free(b.p);
	if (st) {
		free(out.p);
		return st;
	}
	tok->dec_data = out.p ? out.p : malloc(1);
	return tok->dec_data ? TOK_OK : TOK_E_NOMEM;
}

tok_status tok_token_bytes(const tok_tokenizer *tok, int32_t id, const char **bytes, size_t *len)
{
	if (!tok || !bytes || !len || id < 0 || (uint32_t)id >= tok->t->n_tokens)
		return TOK_E_ARG;
	*bytes = tok->dec_data + tok->dec_off[id];
	*len = tok->dec_off[id + 1] - tok->dec_off[id];
	return TOK_OK;
}

static bool skip_id(const tok_tokenizer *tok, int32_t id, unsigned flags)
{
	return (flags & TOK_DEC_SKIP_SPECIAL) && (tok->special[id] & 1);
}

/* Removes the fused STRIP's leading/trailing content from raw bytes [*lo, *hi). */
static void strip_whole(const tok_tokenizer *tok, const char *p, size_t *lo, size_t *hi, bool tail)
{
	size_t cl = tok->strip_content.len;
	if (!tok->strip_fused || !cl)
		return;
	for (uint32_t i = 0; i < tok->strip_start && *lo + cl <= *hi && !memcmp(p + *lo, tok->strip_content.s, cl); i++)
		*lo += cl;
	for (uint32_t i = 0; tail && i < tok->strip_stop && *hi >= *lo + cl &&
			     !memcmp(p + *hi - cl, tok->strip_content.s, cl); i++)
		*hi -= cl;
}

tok_status tok_decode(const tok_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char **text, size_t *len)
{
	if (!tok || (!ids && n) || !text || !len || (flags & ~(unsigned)TOK_DEC_SKIP_SPECIAL))
		return TOK_E_ARG;
	*text = NULL;
	*len = 0;
	tok_buf raw = {0}, out = {0};
	tok_status st = TOK_OK;
	for (size_t i = 0; i < n && !st; i++) {
		if (ids[i] < 0 || (uint32_t)ids[i] >= tok->t->n_tokens)
			st = TOK_E_ARG;
		else if (!skip_id(tok, ids[i], flags))
			st = tok_buf_put(&raw, tok->dec_data + tok->dec_off[ids[i]], tok->dec_off[ids[i] + 1] - tok->dec_off[ids[i]]);
	}
	size_t lo = 0, hi = raw.n;
	if (!st)
		strip_whole(tok, raw.p, &lo, &hi, true);
	if (!st)
		st = tok_utf8_lossy(&out, raw.p ? raw.p + lo : "", hi - lo, false, NULL);
	if (!st)
		st = tok_buf_reserve(&out, 0);
	free(raw.p);
	if (st) {
		free(out.p);
		return st;
	}
	out.p[out.n] = 0;
	*text = out.p;
	*len = out.n;
	return TOK_OK;
}

/* ---- streaming ---- */

struct tok_stream {
	const tok_tokenizer *tok;
	unsigned flags;
	bool started; /* something was emitted (the fused STRIP only trims the very start) */
	char held[4];
	size_t n_held;
	tok_buf in, out;
};

tok_status tok_stream_create(const tok_tokenizer *tok, unsigned flags, tok_stream **out)
{
	if (!tok || !out || (flags & ~(unsigned)TOK_DEC_SKIP_SPECIAL))
		return TOK_E_ARG;
	*out = calloc(1, sizeof **out);
	if (!*out)
		return TOK_E_NOMEM;
	(*out)->tok = tok;
	(*out)->flags = flags;
	return TOK_OK;
}

void tok_stream_free(tok_stream *s)
{
	if (!s)
		return;
	free(s->in.p);
	free(s->out.p);
	free(s);
}

tok_status tok_stream_push(tok_stream *s, int32_t id, const char **text, size_t *len)
{
	if (!s || !text || !len)
		return TOK_E_ARG;
	*text = "";
	*len = 0;
	const tok_tokenizer *tok = s->tok;
	if (id < 0 || (uint32_t)id >= tok->t->n_tokens)
		return TOK_E_ARG;
	if (skip_id(tok, id, s->flags))
		return TOK_OK;
	s->in.n = 0;
	s->out.n = 0;
	tok_status st = tok_buf_put(&s->in, s->held, s->n_held);
	if (!st)
		st = tok_buf_put(&s->in, tok->dec_data + tok->dec_off[id], tok->dec_off[id + 1] - tok->dec_off[id]);
	if (st)
		return st;
	size_t lo = 0, hi = s->in.n, held = 0;
	if (!s->started)
		strip_whole(tok, s->in.p, &lo, &hi, false);
	if (hi > lo)
		s->started = true;
	st = tok_utf8_lossy(&s->out, s->in.p + lo, hi - lo, true, &held);
	if (st)
		return st;
	memcpy(s->held, s->in.p + hi - held, held);
	s->n_held = held;
	*text = s->out.p ? s->out.p : "";
	*len = s->out.n;
	return TOK_OK;
}

tok_status tok_stream_flush(tok_stream *s, const char **text, size_t *len)
{
	if (!s || !text || !len)
		return TOK_E_ARG;
	s->out.n = 0;
	tok_status st = tok_utf8_lossy(&s->out, s->held, s->n_held, false, NULL);
	s->n_held = 0;
	s->started = false;
	*text = s->out.p ? s->out.p : "";
	*len = st ? 0 : s->out.n;
	return st;
}
