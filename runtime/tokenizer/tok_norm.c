/* Normalizer steps, applied in order to one piece of text. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tok_internal.h"

static tok_status norm_unicode(tok_buf *b, tok_buf *tmp, utf8proc_option_t opt)
{
	size_t i = 0;
	while (i < b->n && (uint8_t)b->p[i] < 0x80)
		i++;
	if (i == b->n) /* ASCII is invariant under all four forms */
		return TOK_OK;
	utf8proc_uint8_t *res = NULL;
	utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)b->p, (utf8proc_ssize_t)b->n, &res,
					  opt | UTF8PROC_STABLE);
	if (r < 0) {
		free(res);
		return r == UTF8PROC_ERROR_NOMEM ? TOK_E_NOMEM : TOK_E_UTF8;
	}
	tmp->n = 0;
	tok_status st = tok_buf_put(tmp, res, (size_t)r);
	free(res);
	if (st)
		return st;
	tok_buf x = *b;
	*b = *tmp;
	*tmp = x;
	return TOK_OK;
}

/* Rust's str::to_lowercase: simple mappings plus U+0130 → "i̇"; final sigma is not special-cased. */
static tok_status norm_lower(tok_buf *b, tok_buf *tmp)
{
	tmp->n = 0;
	tok_status st = tok_buf_reserve(tmp, b->n);
	for (size_t i = 0; !st && i < b->n;) {
		int32_t cp;
		i += tok_utf8_next(b->p + i, b->n - i, &cp);
		char enc[8];
		size_t k;
		if (cp == 0x130) {
			k = tok_utf8_put(enc, 'i');
			k += tok_utf8_put(enc + k, 0x307);
		} else {
			k = tok_utf8_put(enc, utf8proc_tolower(cp));
		}
		st = tok_buf_put(tmp, enc, k);
	}
	if (st)
		return st;
	tok_buf x = *b;
	*b = *tmp;
	*tmp = x;
	return TOK_OK;
}

static tok_status norm_replace(tok_buf *b, tok_buf *tmp, fmt_strview pat, fmt_strview with)
{
	if (!pat.len)
		return TOK_OK;
	tmp->n = 0;
	tok_status st = TOK_OK;
	size_t i = 0, run = 0;
	while (!st && i + pat.len <= b->n) {
		if (!memcmp(b->p + i, pat.s, pat.len)) {
			if (!(st = tok_buf_put(tmp, b->p + run, i - run)))
				st = tok_buf_put(tmp, with.s, with.len);
			i += pat.len;
			run = i;
		} else {
			i++;
		}
	}
	if (!st)
		st = tok_buf_put(tmp, b->p + run, b->n - run);
	if (st)
		return st;
	tok_buf x = *b;
	*b = *tmp;
	*tmp = x;
	return TOK_OK;
}

tok_status tok_normalize(const fmt_tok *t, const char *s, size_t n, tok_buf *out, tok_buf *tmp)
{
	out->n = 0;
	tok_status st = tok_buf_put(out, s, n);
	for (uint32_t k = 0; !st && k < t->n_norm; k++) {
		const fmt_tok_step *p = &t->norm[k];
		switch (p->kind) {
		case FMT_NORM_NFC: st = norm_unicode(out, tmp, UTF8PROC_COMPOSE); break;
		case FMT_NORM_NFD: st = norm_unicode(out, tmp, UTF8PROC_DECOMPOSE); break;
		case FMT_NORM_NFKC: st = norm_unicode(out, tmp, UTF8PROC_COMPOSE | UTF8PROC_COMPAT); break;
		case FMT_NORM_NFKD: st = norm_unicode(out, tmp, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT); break;
		case FMT_NORM_LOWERCASE: st = norm_lower(out, tmp); break;
		case FMT_NORM_REPLACE: st = norm_replace(out, tmp, p->a, p->b); break;
		case FMT_NORM_PREPEND:
			if (out->n) {
				tmp->n = 0;
				if (!(st = tok_buf_put(tmp, p->a.s, p->a.len)) && !(st = tok_buf_put(tmp, out->p, out->n))) {
					tok_buf x = *out;
					*out = *tmp;
					*tmp = x;
				}
			}
			break;
		default: st = TOK_E_UNSUPPORTED; break;
		}
	}
	return st;
}
