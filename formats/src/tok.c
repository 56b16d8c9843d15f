/* TOKENIZER section codec (SPEC §9). The decoder is the single source of truth for the rules:
 * the encoder serialises and then runs the decoder over its own output, so both always agree. */
#include "bale/fmt_tok.h"
#include "fmt_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MERGE_BYTES 12u
#define TOK_ADDED_MIN_BYTES 9u /* id, flags, str len */
#define TOK_ADDED_FLAGS_ALL 0x1fu
#define TOK_FLAGS_ALL 0x1fu

static fmt_status tok_fail(fmt_error *err, fmt_status st, uint64_t off, const char *fmt, ...) FMT_PRINTF(4, 5);
static fmt_status tok_fail(fmt_error *err, fmt_status st, uint64_t off, const char *fmt, ...)
{
	if (!err)
		return st;
	err->status = st;
	err->offset = off;
	int k = snprintf(err->msg, sizeof err->msg, "TOKENIZER: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg + k, sizeof err->msg - (size_t)k, fmt, ap);
	va_end(ap);
	size_t used = strlen(err->msg);
	if (off != FMT_NO_OFFSET && used + 1 < sizeof err->msg)
		snprintf(err->msg + used, sizeof err->msg - used, " (file offset %llu)", (unsigned long long)off);
	return st;
}

/* ---- decoding cursor ---- */

typedef struct {
	const uint8_t *p;
	size_t n, pos;
	uint64_t base;
	fmt_error *err;
} tok_cur;

static uint64_t cur_off(const tok_cur *c)
{
	return c->base + c->pos;
}

static fmt_status cur_need(tok_cur *c, size_t k, const char *field)
{
	if (c->n - c->pos < k)
		return tok_fail(c->err, FMT_E_TRUNCATED, cur_off(c), "%s: needs %zu bytes, section has %zu left",
				field, k, c->n - c->pos);
	return FMT_OK;
}

static fmt_status cur_u8(tok_cur *c, uint8_t *v, const char *field)
{
	fmt_status st = cur_need(c, 1, field);
	if (st)
		return st;
	*v = c->p[c->pos++];
	return FMT_OK;
}

static fmt_status cur_bool(tok_cur *c, uint8_t *v, const char *field)
{
	uint64_t off = cur_off(c);
	fmt_status st = cur_u8(c, v, field);
	if (!st && *v > 1)
		st = tok_fail(c->err, FMT_E_CORRUPT, off, "%s: %u is not a boolean (0 or 1)", field, *v);
	return st;
}

static fmt_status cur_u32(tok_cur *c, uint32_t *v, const char *field)
{
	fmt_status st = cur_need(c, 4, field);
	if (st)
		return st;
	*v = fmt_ld32(c->p + c->pos);
	c->pos += 4;
	return FMT_OK;
}

/* A str whose text must be valid UTF-8 without NUL; `nonempty` rejects length 0. */
static fmt_status cur_str(tok_cur *c, fmt_strview *v, bool nonempty, const char *field)
{
	uint64_t off = cur_off(c);
	uint32_t len;
	fmt_status st = cur_u32(c, &len, field);
	if (st)
		return st;
	if (len > c->n - c->pos)
		return tok_fail(c->err, FMT_E_TRUNCATED, off, "%s: length %u exceeds the %zu bytes left in the section",
				field, len, c->n - c->pos);
	const uint8_t *s = c->p + c->pos;
	if (nonempty && len == 0)
		return tok_fail(c->err, FMT_E_CORRUPT, off, "%s: empty string", field);
	if (!fmt_utf8_valid(s, len))
		return tok_fail(c->err, FMT_E_CORRUPT, off, "%s: not valid UTF-8 (or contains NUL)", field);
	v->s = (const char *)s;
	v->len = len;
	c->pos += len;
	return FMT_OK;
}

static int view_cmp(const fmt_strview *a, const fmt_strview *b)
{
	uint32_t m = a->len < b->len ? a->len : b->len;
	int r = m ? memcmp(a->s, b->s, m) : 0;
	if (r)
		return r;
	return (a->len > b->len) - (a->len < b->len);
}

static int viewp_cmp(const void *a, const void *b)
{
	return view_cmp(*(const fmt_strview *const *)a, *(const fmt_strview *const *)b);
}

static int addedp_cmp(const void *a, const void *b)
{
	const fmt_tok_added *x = *(const fmt_tok_added *const *)a, *y = *(const fmt_tok_added *const *)b;
	return view_cmp(&x->content, &y->content);
}

static int merge_pair_cmp(const void *a, const void *b)
{
	const fmt_tok_merge *x = a, *y = b;
	if (x->left != y->left)
		return x->left < y->left ? -1 : 1;
	if (x->right != y->right)
		return x->right < y->right ? -1 : 1;
	return 0;
}

/* ---- steps ---- */

enum { STAGE_NORM, STAGE_PRE, STAGE_DEC };
static const char *const stage_name[] = {"normalizer", "pre_tokenizer", "decoder"};

static fmt_status decode_step(tok_cur *c, int stage, uint32_t i, fmt_tok_step *s)
{
	char f[96];
	const char *sn = stage_name[stage];
	uint64_t off = cur_off(c);
	memset(s, 0, sizeof *s);
	snprintf(f, sizeof f, "%s[%u].kind", sn, i);
	fmt_status st = cur_u8(c, &s->kind, f);
	if (st)
		return st;
#define FIELD(name) (snprintf(f, sizeof f, "%s[%u].%s", sn, i, name), f)
	switch (stage) {
	case STAGE_NORM:
		switch (s->kind) {
		case FMT_NORM_NFC: case FMT_NORM_NFD: case FMT_NORM_NFKC: case FMT_NORM_NFKD: case FMT_NORM_LOWERCASE:
			return FMT_OK;
		case FMT_NORM_REPLACE:
			if ((st = cur_str(c, &s->a, true, FIELD("pattern"))))
				return st;
			return cur_str(c, &s->b, false, FIELD("content"));
		case FMT_NORM_PREPEND:
			return cur_str(c, &s->a, false, FIELD("prepend"));
		default:
			break;
		}
		break;
	case STAGE_PRE:
		switch (s->kind) {
		case FMT_PRE_SPLIT: {
			if ((st = cur_bool(c, &s->is_regex, FIELD("is_regex"))) ||
			    (st = cur_str(c, &s->a, true, FIELD("pattern"))))
				return st;
			uint64_t boff = cur_off(c);
			if ((st = cur_u8(c, &s->behavior, FIELD("behavior"))))
				return st;
			if (s->behavior > FMT_SPLIT_CONTIGUOUS)
				return tok_fail(c->err, FMT_E_UNSUPPORTED, boff, "%s: unknown split behavior %u", f,
						s->behavior);
			return cur_bool(c, &s->invert, FIELD("invert"));
		}
		case FMT_PRE_BYTE_LEVEL:
			if ((st = cur_bool(c, &s->add_prefix_space, FIELD("add_prefix_space"))) ||
			    (st = cur_bool(c, &s->trim_offsets, FIELD("trim_offsets"))))
				return st;
			return cur_bool(c, &s->use_regex, FIELD("use_regex"));
		case FMT_PRE_DIGITS:
			return cur_bool(c, &s->individual_digits, FIELD("individual_digits"));
		default:
			break;
		}
		break;
	default:
		switch (s->kind) {
		case FMT_DEC_BYTE_LEVEL: case FMT_DEC_BYTE_FALLBACK: case FMT_DEC_FUSE:
			return FMT_OK;
		case FMT_DEC_REPLACE:
			if ((st = cur_str(c, &s->a, true, FIELD("pattern"))))
				return st;
			return cur_str(c, &s->b, false, FIELD("content"));
		case FMT_DEC_STRIP:
			if ((st = cur_str(c, &s->a, false, FIELD("content"))) ||
			    (st = cur_u32(c, &s->start, FIELD("start"))))
				return st;
			return cur_u32(c, &s->stop, FIELD("stop"));
		default:
			break;
		}
		break;
	}
#undef FIELD
	return tok_fail(c->err, FMT_E_UNSUPPORTED, off, "%s[%u].kind: unknown %s step kind %u", sn, i, sn, s->kind);
}

static fmt_status decode_stage(tok_cur *c, int stage, uint32_t *n, fmt_tok_step *steps)
{
	char f[64];
	snprintf(f, sizeof f, "%s.n_steps", stage_name[stage]);
	uint64_t off = cur_off(c);
	fmt_status st = cur_u32(c, n, f);
	if (st)
		return st;
	if (*n > FMT_TOK_MAX_STEPS) {
		uint32_t bad = *n;
		*n = 0;
		return tok_fail(c->err, FMT_E_LIMIT, off, "%s: %u steps exceed the cap of %u", f, bad, FMT_TOK_MAX_STEPS);
	}
	for (uint32_t i = 0; i < *n; i++)
		if ((st = decode_step(c, stage, i, &steps[i])))
			return st;
	return FMT_OK;
}

/* ---- whole-section checks that need all tables ---- */

static fmt_status check_unique(const fmt_tok *t, const uint64_t *tok_off, uint64_t base, fmt_error *err)
{
	fmt_status st = FMT_OK;
	const fmt_strview **tv = malloc(((size_t)t->n_tokens + 1) * sizeof *tv);
	const fmt_tok_added **av = malloc(((size_t)t->n_added + 1) * sizeof *av);
	fmt_tok_merge *mv = malloc(((size_t)t->n_merges + 1) * sizeof *mv);
	if (!tv || !av || !mv) {
		st = tok_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory checking uniqueness");
		goto out;
	}
	size_t nv = 0;
	for (uint32_t i = 0; i < t->n_tokens; i++)
		if (t->tokens[i].len)
			tv[nv++] = &t->tokens[i];
	qsort(tv, nv, sizeof *tv, viewp_cmp);
	for (size_t i = 1; i < nv; i++) {
		if (!view_cmp(tv[i - 1], tv[i])) {
			size_t a = (size_t)(tv[i - 1] - t->tokens), b = (size_t)(tv[i] - t->tokens);
			size_t later = a > b ? a : b;
			st = tok_fail(err, FMT_E_DUPLICATE, base + tok_off[later], "tokens[%zu]: same text as tokens[%zu]",
				      later, a > b ? b : a);
			goto out;
		}
	}
	/* An added token's text may only name its own id in the vocabulary. */
	for (uint32_t i = 0; i < t->n_added; i++) {
		const fmt_tok_added *ad = &t->added[i];
		size_t lo = 0, hi = nv;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int r = view_cmp(tv[mid], &ad->content);
			if (!r) {
				size_t id = (size_t)(tv[mid] - t->tokens);
				if (id != ad->id) {
					st = tok_fail(err, FMT_E_DUPLICATE, FMT_NO_OFFSET,
						      "added[%u]: content is the text of vocabulary id %zu, not of its id %u",
						      i, id, ad->id);
					goto out;
				}
				break;
			}
			if (r < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		av[i] = ad;
	}
	qsort(av, t->n_added, sizeof *av, addedp_cmp);
	for (uint32_t i = 1; i < t->n_added; i++) {
		if (!view_cmp(&av[i - 1]->content, &av[i]->content)) {
			st = tok_fail(err, FMT_E_DUPLICATE, FMT_NO_OFFSET, "added tokens with ids %u and %u have the same content",
				      av[i - 1]->id, av[i]->id);
			goto out;
		}
	}
	if (t->n_merges)
		memcpy(mv, t->merges, (size_t)t->n_merges * sizeof *mv);
	qsort(mv, t->n_merges, sizeof *mv, merge_pair_cmp);
	for (uint32_t i = 1; i < t->n_merges; i++) {
		if (!merge_pair_cmp(&mv[i - 1], &mv[i])) {
			st = tok_fail(err, FMT_E_DUPLICATE, FMT_NO_OFFSET, "merges: pair (%u, %u) appears twice", mv[i].left,
				      mv[i].right);
			goto out;
		}
	}
out:
	free(tv);
	free(av);
	free(mv);
	return st;
}

void fmt_tok_free(fmt_tok *t)
{
	if (!t)
		return;
	free(t->tokens);
	free(t->merges);
	free(t->added);
	free(t);
}

static fmt_status check_special(tok_cur *c, int32_t v, uint32_t n_tokens, const char *name, uint64_t off)
{
	if (v == -1 || (v >= 0 && (uint32_t)v < n_tokens))
		return FMT_OK;
	return tok_fail(c->err, FMT_E_BOUNDS, off, "%s: %d is neither -1 nor below n_tokens %u", name, v, n_tokens);
}

fmt_status fmt_tok_decode(const void *data, size_t n, uint64_t base_offset, fmt_tok **out, fmt_error *err)
{
	*out = NULL;
	tok_cur c = {.p = data, .n = n, .pos = 0, .base = base_offset, .err = err};
	fmt_status st;
	uint64_t *tok_off = NULL;
	fmt_tok *t = calloc(1, sizeof *t);
	if (!t)
		return tok_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	if (n && !data) {
		st = tok_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "NULL data");
		goto fail;
	}

	/* ---- fixed fields ---- */
	uint64_t off = cur_off(&c);
	if ((st = cur_u32(&c, &t->model, "model")))
		goto fail;
	if (t->model != FMT_TOK_BPE) {
		st = tok_fail(err, FMT_E_UNSUPPORTED, off, "model: unknown tokenizer model %u", t->model);
		goto fail;
	}
	off = cur_off(&c);
	if ((st = cur_u32(&c, &t->flags, "flags")))
		goto fail;
	if (t->flags & ~TOK_FLAGS_ALL) {
		st = tok_fail(err, FMT_E_UNSUPPORTED, off, "flags: unknown bits 0x%x", t->flags & ~TOK_FLAGS_ALL);
		goto fail;
	}
	static const char *const id_names[] = {"unk_id", "bos_id", "eos_id", "pad_id"};
	int32_t *ids[] = {&t->unk_id, &t->bos_id, &t->eos_id, &t->pad_id};
	uint64_t id_off[4];
	for (int i = 0; i < 4; i++) {
		uint32_t u;
		id_off[i] = cur_off(&c);
		if ((st = cur_u32(&c, &u, id_names[i])))
			goto fail;
		memcpy(ids[i], &u, 4);
	}
	uint64_t cnt_off[3];
	uint32_t *cnts[] = {&t->n_tokens, &t->n_merges, &t->n_added};
	static const char *const cnt_names[] = {"n_tokens", "n_merges", "n_added"};
	static const uint32_t caps[] = {FMT_TOK_MAX_TOKENS, FMT_TOK_MAX_MERGES, FMT_TOK_MAX_ADDED};
	static const uint32_t min_rec[] = {4, TOK_MERGE_BYTES, TOK_ADDED_MIN_BYTES};
	for (int i = 0; i < 3; i++) {
		cnt_off[i] = cur_off(&c);
		if ((st = cur_u32(&c, cnts[i], cnt_names[i])))
			goto fail;
	}
	/* Bound every count by its cap and by what the rest of the section could hold before allocating. */
	uint64_t need = 0;
	for (int i = 0; i < 3; i++) {
		if (*cnts[i] > caps[i]) {
			st = tok_fail(err, FMT_E_LIMIT, cnt_off[i], "%s: %u exceeds the cap of %u", cnt_names[i], *cnts[i],
				      caps[i]);
			goto fail;
		}
		need += (uint64_t)*cnts[i] * min_rec[i];
		if (need > n - c.pos) {
			st = tok_fail(err, FMT_E_LIMIT, cnt_off[i], "%s: %u records cannot fit in the %zu bytes left",
				      cnt_names[i], *cnts[i], n - c.pos);
			goto fail;
		}
	}
	for (int i = 0; i < 4; i++)
		if ((st = check_special(&c, *ids[i], t->n_tokens, id_names[i], id_off[i])))
			goto fail;

	t->tokens = calloc((size_t)t->n_tokens + 1, sizeof *t->tokens);
	t->merges = calloc((size_t)t->n_merges + 1, sizeof *t->merges);
	t->added = calloc((size_t)t->n_added + 1, sizeof *t->added);
	tok_off = malloc(((size_t)t->n_tokens + 1) * sizeof *tok_off);
	if (!t->tokens || !t->merges || !t->added || !tok_off) {
		st = tok_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory for %u tokens", t->n_tokens);
		goto fail;
	}

	/* ---- vocabulary ---- */
	char f[64];
	for (uint32_t i = 0; i < t->n_tokens; i++) {
		tok_off[i] = c.pos;
		snprintf(f, sizeof f, "tokens[%u]", i);
		if ((st = cur_str(&c, &t->tokens[i], false, f)))
			goto fail;
	}

	/* ---- merges ---- */
	for (uint32_t i = 0; i < t->n_merges; i++) {
		fmt_tok_merge *m = &t->merges[i];
		uint64_t moff = cur_off(&c);
		if ((st = cur_need(&c, TOK_MERGE_BYTES, (snprintf(f, sizeof f, "merges[%u]", i), f))))
			goto fail;
		m->left = fmt_ld32(c.p + c.pos);
		m->right = fmt_ld32(c.p + c.pos + 4);
		m->result = fmt_ld32(c.p + c.pos + 8);
		c.pos += TOK_MERGE_BYTES;
		const uint32_t v[3] = {m->left, m->right, m->result};
		static const char *const nm[3] = {"left", "right", "result"};
		for (int k = 0; k < 3; k++) {
			if (v[k] >= t->n_tokens) {
				st = tok_fail(err, FMT_E_BOUNDS, moff + 4u * (unsigned)k, "merges[%u].%s: id %u >= n_tokens %u", i,
					      nm[k], v[k], t->n_tokens);
				goto fail;
			}
			if (!t->tokens[v[k]].len) {
				st = tok_fail(err, FMT_E_CORRUPT, moff + 4u * (unsigned)k,
					      "merges[%u].%s: id %u has no vocabulary text", i, nm[k], v[k]);
				goto fail;
			}
		}
		const fmt_strview *l = &t->tokens[m->left], *r = &t->tokens[m->right], *res = &t->tokens[m->result];
		if ((uint64_t)l->len + r->len != res->len || memcmp(res->s, l->s, l->len) ||
		    memcmp(res->s + l->len, r->s, r->len)) {
			st = tok_fail(err, FMT_E_CORRUPT, moff + 8, "merges[%u].result: text of id %u is not text(%u) + text(%u)",
				      i, m->result, m->left, m->right);
			goto fail;
		}
	}

	/* ---- added tokens ---- */
	for (uint32_t i = 0; i < t->n_added; i++) {
		fmt_tok_added *a = &t->added[i];
		off = cur_off(&c);
		if ((st = cur_u32(&c, &a->id, (snprintf(f, sizeof f, "added[%u].id", i), f))))
			goto fail;
		if (a->id >= t->n_tokens) {
			st = tok_fail(err, FMT_E_BOUNDS, off, "added[%u].id: %u >= n_tokens %u", i, a->id, t->n_tokens);
			goto fail;
		}
		for (uint32_t k = 0; k < i; k++) {
			if (t->added[k].id == a->id) {
				st = tok_fail(err, FMT_E_DUPLICATE, off, "added[%u].id: %u already used by added[%u]", i, a->id, k);
				goto fail;
			}
		}
		off = cur_off(&c);
		if ((st = cur_u8(&c, &a->flags, (snprintf(f, sizeof f, "added[%u].flags", i), f))))
			goto fail;
		if (a->flags & ~TOK_ADDED_FLAGS_ALL) {
			st = tok_fail(err, FMT_E_UNSUPPORTED, off, "added[%u].flags: unknown bits 0x%x", i,
				      a->flags & ~TOK_ADDED_FLAGS_ALL);
			goto fail;
		}
		off = cur_off(&c);
		if ((st = cur_str(&c, &a->content, true, (snprintf(f, sizeof f, "added[%u].content", i), f))))
			goto fail;
		const fmt_strview *v = &t->tokens[a->id];
		if (v->len && view_cmp(v, &a->content)) {
			st = tok_fail(err, FMT_E_CORRUPT, off, "added[%u].content: differs from the vocabulary text of id %u", i,
				      a->id);
			goto fail;
		}
	}

	/* ---- pipelines ---- */
	if ((st = decode_stage(&c, STAGE_NORM, &t->n_norm, t->norm)) ||
	    (st = decode_stage(&c, STAGE_PRE, &t->n_pre, t->pre)) ||
	    (st = decode_stage(&c, STAGE_DEC, &t->n_dec, t->dec)))
		goto fail;
	if (c.pos != n) {
		st = tok_fail(err, FMT_E_CORRUPT, cur_off(&c), "%zu trailing bytes after the decoder steps", n - c.pos);
		goto fail;
	}
	if ((st = check_unique(t, tok_off, base_offset, err)))
		goto fail;
	free(tok_off);
	*out = t;
	return FMT_OK;
fail:
	free(tok_off);
	fmt_tok_free(t);
	return st;
}

/* ---- encoding ---- */

static void buf_view(fmt_buf *b, fmt_strview v)
{
	fmt_buf_str(b, v.s, v.len);
}

static fmt_status encode_steps(fmt_buf *b, int stage, uint32_t n, const fmt_tok_step *steps, fmt_error *err)
{
	if (n > FMT_TOK_MAX_STEPS)
		return tok_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "encode: %u %s steps exceed the cap of %u", n,
				stage_name[stage], FMT_TOK_MAX_STEPS);
	fmt_buf_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		const fmt_tok_step *s = &steps[i];
		if ((s->a.len && !s->a.s) || (s->b.len && !s->b.s))
			return tok_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "encode: %s[%u]: NULL string with length", stage_name[stage], i);
		fmt_buf_u8(b, s->kind);
		/* Unknown kinds are written bare; the validating decode below reports them. */
		if (stage == STAGE_NORM) {
			if (s->kind == FMT_NORM_REPLACE) {
				buf_view(b, s->a);
				buf_view(b, s->b);
			} else if (s->kind == FMT_NORM_PREPEND) {
				buf_view(b, s->a);
			}
		} else if (stage == STAGE_PRE) {
			if (s->kind == FMT_PRE_SPLIT) {
				fmt_buf_u8(b, s->is_regex);
				buf_view(b, s->a);
				fmt_buf_u8(b, s->behavior);
				fmt_buf_u8(b, s->invert);
			} else if (s->kind == FMT_PRE_BYTE_LEVEL) {
				fmt_buf_u8(b, s->add_prefix_space);
				fmt_buf_u8(b, s->trim_offsets);
				fmt_buf_u8(b, s->use_regex);
			} else if (s->kind == FMT_PRE_DIGITS) {
				fmt_buf_u8(b, s->individual_digits);
			}
		} else {
			if (s->kind == FMT_DEC_REPLACE) {
				buf_view(b, s->a);
				buf_view(b, s->b);
			} else if (s->kind == FMT_DEC_STRIP) {
				buf_view(b, s->a);
				fmt_buf_u32(b, s->start);
				fmt_buf_u32(b, s->stop);
			}
		}
	}
	return FMT_OK;
}

fmt_status fmt_tok_encode(const fmt_tok *t, uint8_t **out, size_t *out_len, fmt_error *err)
{
	*out = NULL;
	*out_len = 0;
	if (t->n_tokens > FMT_TOK_MAX_TOKENS || t->n_merges > FMT_TOK_MAX_MERGES || t->n_added > FMT_TOK_MAX_ADDED)
		return tok_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "encode: counts %u/%u/%u exceed the caps", t->n_tokens,
				t->n_merges, t->n_added);
	if ((t->n_tokens && !t->tokens) || (t->n_merges && !t->merges) || (t->n_added && !t->added))
		return tok_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "encode: NULL array with a nonzero count");
	fmt_buf b = {0};
	uint32_t u[4];
	fmt_buf_u32(&b, t->model);
	fmt_buf_u32(&b, t->flags);
	memcpy(&u[0], &t->unk_id, 4);
	memcpy(&u[1], &t->bos_id, 4);
	memcpy(&u[2], &t->eos_id, 4);
	memcpy(&u[3], &t->pad_id, 4);
	for (int i = 0; i < 4; i++)
		fmt_buf_u32(&b, u[i]);
	fmt_buf_u32(&b, t->n_tokens);
	fmt_buf_u32(&b, t->n_merges);
	fmt_buf_u32(&b, t->n_added);
	for (uint32_t i = 0; i < t->n_tokens; i++) {
		if (t->tokens[i].len && !t->tokens[i].s) {
			fmt_buf_free(&b);
			return tok_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "encode: tokens[%u]: NULL string with length", i);
		}
		buf_view(&b, t->tokens[i]);
	}
	for (uint32_t i = 0; i < t->n_merges; i++) {
		fmt_buf_u32(&b, t->merges[i].left);
		fmt_buf_u32(&b, t->merges[i].right);
		fmt_buf_u32(&b, t->merges[i].result);
	}
	for (uint32_t i = 0; i < t->n_added; i++) {
		if (t->added[i].content.len && !t->added[i].content.s) {
			fmt_buf_free(&b);
			return tok_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "encode: added[%u]: NULL content with length", i);
		}
		fmt_buf_u32(&b, t->added[i].id);
		fmt_buf_u8(&b, t->added[i].flags);
		buf_view(&b, t->added[i].content);
	}
	fmt_status st;
	if ((st = encode_steps(&b, STAGE_NORM, t->n_norm, t->norm, err)) ||
	    (st = encode_steps(&b, STAGE_PRE, t->n_pre, t->pre, err)) ||
	    (st = encode_steps(&b, STAGE_DEC, t->n_dec, t->dec, err))) {
		fmt_buf_free(&b);
		return st;
	}
	if (b.oom) {
		fmt_buf_free(&b);
		return tok_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "encode: out of memory");
	}
	if ((uint64_t)b.n > FMT_MAX_SECTION_BYTES) {
		fmt_buf_free(&b);
		return tok_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "encode: section of %zu bytes exceeds the cap", b.n);
	}
	/* Validate by decoding our own output: one rule set for writer and reader. */
	fmt_tok *chk = NULL;
	st = fmt_tok_decode(b.p, b.n, 0, &chk, err);
	fmt_tok_free(chk);
	if (st) {
		fmt_err_prefix(err, "encode");
		if (err)
			err->offset = FMT_NO_OFFSET; /* the offsets were within the unwritten section */
		fmt_buf_free(&b);
		return st;
	}
	*out = b.p;
	*out_len = b.n;
	return FMT_OK;
}
