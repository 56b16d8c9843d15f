/* Buffers, UTF-8, Unicode properties, the string hash and the GPT-2 byte mapping. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tok_internal.h"

void tok_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *tok_strerror(tok_status st)
{
	switch (st) {
	case TOK_OK: return "ok";
	case TOK_E_NOMEM: return "out of memory";
	case TOK_E_ARG: return "bad argument";
	case TOK_E_UNSUPPORTED: return "unsupported tokenizer layout";
	case TOK_E_DATA: return "inconsistent tokenizer data";
	case TOK_E_REGEX: return "regular expression error";
	case TOK_E_UTF8: return "input is not valid UTF-8";
	case TOK_E_LIMIT: return "input too large";
	case TOK_E_SPACE: return "output buffer too small";
	case TOK_E_NOTFOUND: return "not found";
	}
	return "unknown status";
}

/* Grows `*p` (elements of `size` bytes) so that `need` fit; doubles to amortize. */
static tok_status grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return TOK_OK;
	size_t nc = *cap ? *cap : 16;
	while (nc < need) {
		if (__builtin_mul_overflow(nc, 2, &nc))
			return TOK_E_NOMEM;
	}
	size_t bytes;
	if (__builtin_mul_overflow(nc, size, &bytes))
		return TOK_E_NOMEM;
	void *q = realloc(*p, bytes);
	if (!q)
		return TOK_E_NOMEM;
	*p = q;
	*cap = nc;
	return TOK_OK;
}

tok_status tok_buf_reserve(tok_buf *b, size_t extra)
{
	size_t need;
	if (__builtin_add_overflow(b->n, extra, &need) || __builtin_add_overflow(need, 1, &need))
		return TOK_E_NOMEM;
	void *p = b->p;
	tok_status st = grow(&p, &b->cap, need, 1);
	b->p = p;
	return st;
}

tok_status tok_buf_put(tok_buf *b, const void *src, size_t k)
{
	tok_status st = tok_buf_reserve(b, k);
	if (st)
		return st;
	if (k)
		memcpy(b->p + b->n, src, k);
	b->n += k;
	return TOK_OK;
}

tok_status tok_spans_push(tok_spans *s, size_t off, size_t len, int32_t id)
{
	void *p = s->v;
	tok_status st = grow(&p, &s->cap, s->n + 1, sizeof(tok_span));
	s->v = p;
	if (st)
		return st;
	s->v[s->n++] = (tok_span){off, len, id};
	return TOK_OK;
}

tok_status tok_ids_push(tok_ids *s, int32_t id)
{
	void *p = s->v;
	tok_status st = grow(&p, &s->cap, s->n + 1, sizeof(int32_t));
	s->v = p;
	if (st)
		return st;
	s->v[s->n++] = id;
	return TOK_OK;
}

/* ---- UTF-8 ---- */

/* Length of the valid sequence at s[0..n) (1..4), 0 if invalid; *need gets the full length the lead
 * byte asks for and *got how many bytes of it are valid so far (for the maximal-subpart rule). */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *need, size_t *got)
{
	uint8_t c = s[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;
	if (c < 0x80) {
		*need = *got = 1;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*need = 1;
		*got = 0;
		return 0;
	}
	*need = len;
	size_t i = 1;
	for (; i < len && i < n; i++) {
		uint8_t d = s[i];
		if (i == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf))
			break;
	}
	*got = i;
	return i == len ? len : 0;
}

bool tok_utf8_valid(const char *s, size_t n)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t i = 0;
	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t need, got, k = utf8_seq(u + i, n - i, &need, &got);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

size_t tok_utf8_next(const char *s, size_t n, int32_t *cp)
{
	const uint8_t *u = (const uint8_t *)s;
	if (u[0] < 0x80 || n < 2) {
		*cp = u[0];
		return 1;
	}
	if (u[0] < 0xe0) {
		*cp = ((u[0] & 0x1f) << 6) | (u[1] & 0x3f);
		return 2;
	}
	if (u[0] < 0xf0 && n >= 3) {
		*cp = ((u[0] & 0x0f) << 12) | ((u[1] & 0x3f) << 6) | (u[2] & 0x3f);
		return 3;
	}
	if (n >= 4) {
		*cp = ((u[0] & 0x07) << 18) | ((u[1] & 0x3f) << 12) | ((u[2] & 0x3f) << 6) | (u[3] & 0x3f);
		return 4;
	}
	*cp = u[0];
	return 1;
}

size_t tok_utf8_prev_len(const char *s, size_t n)
{
	size_t k = 1;
	while (k < n && k < 4 && (((const uint8_t *)s)[n - k] & 0xc0) == 0x80)
		k++;
	return k;
}

size_t tok_utf8_put(char *dst, int32_t cp)
{
	return (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)dst);
}

tok_status tok_utf8_lossy(tok_buf *out, const char *s, size_t n, bool hold, size_t *held)
{
	static const char fffd[3] = {(char)0xef, (char)0xbf, (char)0xbd};
	const uint8_t *u = (const uint8_t *)s;
	tok_status st = tok_buf_reserve(out, n);
	if (st)
		return st;
	size_t i = 0, run = 0; /* run: start of the pending valid stretch */
	if (held)
		*held = 0;
	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t need, got, k = utf8_seq(u + i, n - i, &need, &got);
		if (k) {
			i += k;
			continue;
		}
		if ((st = tok_buf_put(out, s + run, i - run)))
			return st;
		if (hold && got > 0 && i + got == n) { /* valid so far, cut by the end */
			*held = got;
			return TOK_OK;
		}
		if ((st = tok_buf_put(out, fffd, 3)))
			return st;
		i += got ? got : 1;
		run = i;
	}
	return tok_buf_put(out, s + run, n - run);
}

/* ---- Unicode properties ---- */

bool tok_is_white_space(int32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
	       cp == 0x3000;
}

bool tok_is_word_char(int32_t cp)
{
	if (cp == '_' || cp == 0x200c || cp == 0x200d)
		return true;
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
		return true;
	default:
		return false;
	}
}

bool tok_is_numeric(int32_t cp)
{
	utf8proc_category_t c = utf8proc_category(cp);
	return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

/* ---- string hash ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

tok_status tok_strmap_build(tok_strmap *m, const fmt_strview *keys, uint32_t n)
{
	size_t cap = 16;
	while (cap < (size_t)n * 2)
		cap *= 2;
	m->slot = calloc(cap, sizeof(uint32_t));
	if (!m->slot)
		return TOK_E_NOMEM;
	m->mask = cap - 1;
	m->keys = keys;
	for (uint32_t id = 0; id < n; id++) {
		if (!keys[id].len)
			continue;
		size_t i = hash_bytes(keys[id].s, keys[id].len) & m->mask;
		while (m->slot[i]) {
			const fmt_strview *k = &keys[m->slot[i] - 1];
			if (k->len == keys[id].len && !memcmp(k->s, keys[id].s, k->len))
				break; /* duplicate text: the first id wins */
			i = (i + 1) & m->mask;
		}
		if (!m->slot[i])
			m->slot[i] = id + 1;
	}
	return TOK_OK;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *s, size_t len)
{
	if (!m->slot || !len)
		return -1;
	size_t i = hash_bytes(s, len) & m->mask;
	while (m->slot[i]) {
		const fmt_strview *k = &m->keys[m->slot[i] - 1];
		if (k->len == len && !memcmp(k->s, s, len))
			return (int32_t)(m->slot[i] - 1);
		i = (i + 1) & m->mask;
	}
	return -1;
}

void tok_strmap_free(tok_strmap *m)
{
	free(m->slot);
	m->slot = NULL;
}

/* ---- GPT-2 byte ↔ unicode: printable Latin-1 bytes map to themselves, the 68 others to
 * U+0100 upward in byte order ---- */

static bool byte_is_direct(int b)
{
	return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

int32_t tok_byte_to_cp(uint8_t b)
{
	if (byte_is_direct(b))
		return b;
	int k = 0;
	for (int i = 0; i < b; i++)
		k += !byte_is_direct(i);
	return 256 + k;
}

int tok_cp_to_byte(int32_t cp)
{
	if (cp >= 0 && cp < 256)
		return byte_is_direct(cp) ? cp : -1;
	if (cp < 256 || cp >= 256 + 68)
		return -1;
	int k = cp - 256;
	for (int b = 0; b < 256; b++) {
		if (!byte_is_direct(b) && k-- == 0)
			return b;
	}
	return -1;
}
