/* Added-token extraction and the pre-tokenizer steps (SPLIT, DIGITS, BYTE_LEVEL), following the
 * splitting rules of HF tokenizers' NormalizedString::split and AddedVocabulary::find_matches. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* The pattern HF's ByteLevel pre-tokenizer uses when use_regex is set (part of its definition,
 * not of the data). */
static const char gpt2_pattern[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- added tokens ---- */

static int pat_cmp(const void *a, const void *b)
{
	const tok_added_pat *x = a, *y = b;
	uint8_t bx = (uint8_t)x->s[0], by = (uint8_t)y->s[0];
	if (bx != by)
		return bx < by ? -1 : 1;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1; /* longest first */
	return x->id < y->id ? -1 : x->id > y->id;
}

tok_status tok_added_build(tok_added_set *set, const fmt_tok *t, bool normalized, tok_buf *scratch, tok_buf *scratch2)
{
	memset(set, 0, sizeof *set);
	size_t n = 0;
	for (uint32_t i = 0; i < t->n_added; i++)
		n += ((t->added[i].flags & FMT_ADDED_NORMALIZED) != 0) == normalized;
	if (!n)
		return TOK_OK;
	set->pats = calloc(n, sizeof *set->pats);
	if (!set->pats)
		return TOK_E_NOMEM;
	/* Normalized contents go into one owned block; offsets are fixed up after it stops growing. */
	tok_buf own = {0};
	size_t *own_off = calloc(n, sizeof *own_off);
	tok_status st = own_off ? TOK_OK : TOK_E_NOMEM;
	for (uint32_t i = 0; !st && i < t->n_added; i++) {
		const fmt_tok_added *a = &t->added[i];
		if (((a->flags & FMT_ADDED_NORMALIZED) != 0) != normalized || !a->content.len)
			continue;
		tok_added_pat *p = &set->pats[set->n];
		p->id = (int32_t)a->id;
		p->flags = a->flags;
		p->s = a->content.s;
		p->len = a->content.len;
		if (normalized && t->n_norm) {
			st = tok_normalize(t, a->content.s, a->content.len, scratch, scratch2);
			if (st || !scratch->n)
				continue;
			own_off[set->n] = own.n;
			p->len = scratch->n;
			p->s = NULL;
			st = tok_buf_put(&own, scratch->p, scratch->n);
		}
		set->n++;
	}
	if (!st) {
		for (size_t i = 0; i < set->n; i++) {
			if (!set->pats[i].s)
				set->pats[i].s = own.p + own_off[i];
		}
		set->owned = own.p;
		own.p = NULL;
		qsort(set->pats, set->n, sizeof *set->pats, pat_cmp);
		size_t j = 0;
		for (int b = 0; b <= 256; b++) {
			while (j < set->n && (uint8_t)set->pats[j].s[0] < b)
				j++;
			set->first[b] = (uint32_t)j;
		}
	}
	free(own.p);
	free(own_off);
	return st;
}

void tok_added_free(tok_added_set *set)
{
	free(set->pats);
	free(set->owned);
	memset(set, 0, sizeof *set);
}

static bool ends_with_word(const char *s, size_t n)
{
	if (!n)
		return false;
	size_t k = tok_utf8_prev_len(s, n);
	int32_t cp;
	tok_utf8_next(s + n - k, k, &cp);
	return tok_is_word_char(cp);
}

static bool starts_with_word(const char *s, size_t n)
{
	if (!n)
		return false;
	int32_t cp;
	tok_utf8_next(s, n, &cp);
	return tok_is_word_char(cp);
}

tok_status tok_added_split(const tok_added_set *set, const char *text, size_t off, size_t len, bool split_special,
			   tok_spans *out)
{
	const char *s = text + off;
	size_t start_off = 0, i = 0;
	tok_status st = TOK_OK;
	while (set->n && i < len && !st) {
		uint8_t b = (uint8_t)s[i];
		const tok_added_pat *m = NULL;
		for (uint32_t k = set->first[b]; k < set->first[b + 1]; k++) {
			const tok_added_pat *p = &set->pats[k];
			if (p->len <= len - i && !memcmp(s + i, p->s, p->len)) {
				m = p;
				break;
			}
		}
		if (!m) {
			i++;
			continue;
		}
		size_t start = i, stop = i + m->len;
		i = stop; /* matches never overlap, even when this one is discarded below */
		if (split_special && (m->flags & FMT_ADDED_SPECIAL))
			continue;
		if ((m->flags & FMT_ADDED_SINGLE_WORD) &&
		    (ends_with_word(s, start) || starts_with_word(s + stop, len - stop)))
			continue;
		if (m->flags & FMT_ADDED_LSTRIP) {
			size_t ns = start;
			while (ns > 0) {
				size_t k = tok_utf8_prev_len(s, ns);
				int32_t cp;
				tok_utf8_next(s + ns - k, k, &cp);
				if (!tok_is_white_space(cp))
					break;
				ns -= k;
			}
			start = ns > start_off ? ns : start_off;
		}
		if (m->flags & FMT_ADDED_RSTRIP) {
			while (stop < len) {
				int32_t cp;
				size_t k = tok_utf8_next(s + stop, len - stop, &cp);
				if (!tok_is_white_space(cp))
					break;
				stop += k;
			}
		}
		if (start > start_off)
			st = tok_spans_push(out, off + start_off, start - start_off, -1);
		if (!st)
			st = tok_spans_push(out, off + start, stop - start, m->id);
		if (stop > start_off)
			start_off = stop;
		if (i < start_off)
			i = start_off;
	}
	if (!st && start_off < len)
		st = tok_spans_push(out, off + start_off, len - start_off, -1);
	return st;
}

/* ---- pre-tokenizers ---- */

static pcre2_code *compile(const char *pat, size_t len, uint32_t extra, bool *jit, char *err, size_t errlen,
			   uint32_t step)
{
	int ec;
	PCRE2_SIZE eo;
	/* PCRE2_LITERAL does not combine with UCP (nothing in a literal depends on it) */
	uint32_t opt = PCRE2_UTF | extra | ((extra & PCRE2_LITERAL) ? 0 : PCRE2_UCP);
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opt, &ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof msg);
		tok_set_err(err, errlen, "pre_tokenizer step %u: pattern rejected at offset %zu: %s", step, (size_t)eo,
			    (const char *)msg);
		return NULL;
	}
	*jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
	return re;
}

tok_status tok_pre_compile(tok_tokenizer *tok, char *err, size_t errlen)
{
	const fmt_tok *t = tok->t;
	bool seen_byte_level = false;
	for (uint32_t k = 0; k < t->n_pre; k++) {
		const fmt_tok_step *p = &t->pre[k];
		tok_pre *q = &tok->pre[tok->n_pre++];
		q->step = p;
		if (seen_byte_level && p->kind != FMT_PRE_BYTE_LEVEL) {
			/* BPE runs over raw bytes here; a split after the byte mapping would see other text. */
			tok_set_err(err, errlen, "pre_tokenizer step %u (kind %u) after BYTE_LEVEL is not supported", k,
				    p->kind);
			return TOK_E_UNSUPPORTED;
		}
		switch (p->kind) {
		case FMT_PRE_SPLIT:
			if (p->behavior > FMT_SPLIT_CONTIGUOUS) {
				tok_set_err(err, errlen, "pre_tokenizer step %u: split behavior %u unknown", k, p->behavior);
				return TOK_E_DATA;
			}
			if (!p->a.len) {
				tok_set_err(err, errlen, "pre_tokenizer step %u: empty split pattern", k);
				return TOK_E_DATA;
			}
			q->re = compile(p->a.s, p->a.len, p->is_regex ? 0 : PCRE2_LITERAL, &q->jit, err, errlen, k);
			if (!q->re)
				return TOK_E_REGEX;
			break;
		case FMT_PRE_BYTE_LEVEL:
			seen_byte_level = true;
			tok->byte_level = true;
			if (p->use_regex) {
				q->re = compile(gpt2_pattern, sizeof gpt2_pattern - 1, 0, &q->jit, err, errlen, k);
				if (!q->re)
					return TOK_E_REGEX;
			}
			break;
		case FMT_PRE_DIGITS:
			break;
		default:
			tok_set_err(err, errlen, "pre_tokenizer step %u: kind %u unknown", k, p->kind);
			return TOK_E_UNSUPPORTED;
		}
	}
	tok->md = pcre2_match_data_create(1, NULL);
	return tok->md ? TOK_OK : TOK_E_NOMEM;
}

void tok_pre_free(tok_tokenizer *tok)
{
	for (uint32_t k = 0; k < tok->n_pre; k++)
		pcre2_code_free(tok->pre[k].re);
	tok->n_pre = 0;
	pcre2_match_data_free(tok->md);
	tok->md = NULL;
}

/* Appends the regex matches of one piece to `m` as (off, len, is_match) covering the piece. */
static tok_status regex_segments(tok_tokenizer *tok, pcre2_code *re, const char *base, size_t off, size_t len,
				 tok_spans *m)
{
	const char *s = base + off;
	size_t prev = 0, pos = 0;
	tok_status st = TOK_OK;
	while (pos <= len && !st) {
		int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, tok->md, NULL);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0)
			return TOK_E_REGEX;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->md);
		size_t a = ov[0], b = ov[1];
		if (a < prev || b < a || b > len)
			return TOK_E_REGEX;
		if (a > prev)
			st = tok_spans_push(m, off + prev, a - prev, 0);
		if (!st)
			st = tok_spans_push(m, off + a, b - a, 1);
		prev = b;
		if (b == a) { /* empty match: move on by one character */
			if (a >= len)
				break;
			int32_t cp;
			pos = a + tok_utf8_next(s + a, len - a, &cp);
		} else {
			pos = b;
		}
	}
	if (!st && prev < len)
		st = tok_spans_push(m, off + prev, len - prev, 0);
	return st;
}

static tok_status digit_segments(const char *base, size_t off, size_t len, tok_spans *m)
{
	const char *s = base + off;
	size_t last = 0, i = 0;
	tok_status st = TOK_OK;
	while (i < len && !st) {
		int32_t cp;
		size_t k = tok_utf8_next(s + i, len - i, &cp);
		if (tok_is_numeric(cp)) {
			if (last < i)
				st = tok_spans_push(m, off + last, i - last, 0);
			if (!st)
				st = tok_spans_push(m, off + i, k, 1);
			last = i + k;
		}
		i += k;
	}
	if (!st && last < len)
		st = tok_spans_push(m, off + last, len - last, 0);
	return st;
}

/* Turns (segment, is_match) into pieces by HF's SplitDelimiterBehavior; empty pieces are dropped. */
static tok_status apply_behavior(tok_spans *m, uint8_t behavior, bool invert, tok_spans *out)
{
	tok_status st = TOK_OK;
	if (invert) {
		for (size_t i = 0; i < m->n; i++)
			m->v[i].id = !m->v[i].id;
	}
	size_t first_out = out->n;
	bool prev_match = false;
	switch (behavior) {
	case FMT_SPLIT_REMOVED:
		for (size_t i = 0; i < m->n && !st; i++) {
			if (!m->v[i].id)
				st = tok_spans_push(out, m->v[i].off, m->v[i].len, -1);
		}
		break;
	case FMT_SPLIT_ISOLATED:
		for (size_t i = 0; i < m->n && !st; i++)
			st = tok_spans_push(out, m->v[i].off, m->v[i].len, -1);
		break;
	case FMT_SPLIT_MERGED_PREV:
		for (size_t i = 0; i < m->n && !st; i++) {
			bool is = m->v[i].id;
			if (is && !prev_match && out->n > first_out)
				out->v[out->n - 1].len = m->v[i].off + m->v[i].len - out->v[out->n - 1].off;
			else
				st = tok_spans_push(out, m->v[i].off, m->v[i].len, -1);
			prev_match = is;
		}
		break;
	case FMT_SPLIT_MERGED_NEXT:
		/* Walk backwards: a match joins the piece that follows it. */
		for (size_t i = m->n; i-- > 0 && !st;) {
			bool is = m->v[i].id;
			if (is && !prev_match && out->n > first_out) {
				tok_span *l = &out->v[out->n - 1];
				l->len += l->off - m->v[i].off;
				l->off = m->v[i].off;
			} else {
				st = tok_spans_push(out, m->v[i].off, m->v[i].len, -1);
			}
			prev_match = is;
		}
		for (size_t a = first_out, b = out->n; !st && a + 1 < b; a++, b--) {
			tok_span x = out->v[a];
			out->v[a] = out->v[b - 1];
			out->v[b - 1] = x;
		}
		break;
	case FMT_SPLIT_CONTIGUOUS:
		for (size_t i = 0; i < m->n && !st; i++) {
			bool is = m->v[i].id;
			if (is == prev_match && out->n > first_out)
				out->v[out->n - 1].len = m->v[i].off + m->v[i].len - out->v[out->n - 1].off;
			else
				st = tok_spans_push(out, m->v[i].off, m->v[i].len, -1);
			prev_match = is;
		}
		break;
	default:
		return TOK_E_DATA;
	}
	if (st)
		return st;
	size_t w = first_out;
	for (size_t i = first_out; i < out->n; i++) {
		if (out->v[i].len)
			out->v[w++] = out->v[i];
	}
	out->n = w;
	return TOK_OK;
}

tok_status tok_pretokenize(tok_tokenizer *tok, tok_buf *buf, tok_spans *pieces, tok_spans *tmp)
{
	tok_spans *m = &tok->mseg;
	for (uint32_t k = 0; k < tok->n_pre; k++) {
		const tok_pre *q = &tok->pre[k];
		const fmt_tok_step *p = q->step;
		tmp->n = 0;
		tok_status st = TOK_OK;
		for (size_t i = 0; i < pieces->n && !st; i++) {
			tok_span sp = pieces->v[i];
			m->n = 0;
			switch (p->kind) {
			case FMT_PRE_SPLIT:
				st = regex_segments(tok, q->re, buf->p, sp.off, sp.len, m);
				if (!st)
					st = apply_behavior(m, p->behavior, p->invert, tmp);
				break;
			case FMT_PRE_DIGITS:
				st = digit_segments(buf->p, sp.off, sp.len, m);
				if (!st)
					st = apply_behavior(m, p->individual_digits ? FMT_SPLIT_ISOLATED : FMT_SPLIT_CONTIGUOUS,
							    false, tmp);
				break;
			case FMT_PRE_BYTE_LEVEL:
				if (p->add_prefix_space && buf->p[sp.off] != ' ') {
					size_t noff = buf->n;
					if (!(st = tok_buf_put(buf, " ", 1)) && !(st = tok_buf_reserve(buf, sp.len))) {
						memcpy(buf->p + buf->n, buf->p + sp.off, sp.len);
						buf->n += sp.len;
						sp.off = noff;
						sp.len++;
					}
				}
				if (st)
					break;
				if (q->re) {
					st = regex_segments(tok, q->re, buf->p, sp.off, sp.len, m);
					if (!st)
						st = apply_behavior(m, FMT_SPLIT_ISOLATED, false, tmp);
				} else {
					st = tok_spans_push(tmp, sp.off, sp.len, -1);
				}
				break;
			default:
				st = TOK_E_UNSUPPORTED;
			}
		}
		if (st)
			return st;
		tok_spans x = *pieces;
		*pieces = *tmp;
		*tmp = x;
	}
	return TOK_OK;
}
