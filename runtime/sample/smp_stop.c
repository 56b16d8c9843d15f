/* Stop conditions: end-of-generation ids, stop strings over the decoded stream, token budget.
 *
 * Each stop string has a KMP automaton whose state is the length of the longest prefix of the
 * string that is a suffix of the stream so far. A match completes when a state reaches the
 * string's length; the bytes that must be held back are the largest state over all strings
 * (a shorter hold could release the first bytes of a future match), plus an incomplete UTF-8
 * sequence at the end so released text never splits a character. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smp_internal.h"

typedef struct {
	unsigned char *s;
	uint32_t len;
	uint32_t *fail; /* fail[i]: longest proper border of s[0..i] */
	uint32_t state;
} stop_str;

struct smp_stop {
	int32_t *eos; /* sorted, unique */
	size_t n_eos;
	stop_str *str;
	size_t n_str;
	uint64_t max_tokens, n_tokens;
	char *buf; /* bytes not yet released */
	size_t len, cap;
	size_t released; /* prefix of buf handed out by the previous call */
	bool done;
};

static void put_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Length of the valid UTF-8 sequence starting at s (n bytes available), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return need;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

void smp_stop_free(smp_stop *st)
{
	if (!st)
		return;
	for (size_t i = 0; st->str && i < st->n_str; i++) {
		free(st->str[i].s);
		free(st->str[i].fail);
	}
	free(st->str);
	free(st->eos);
	free(st->buf);
	free(st);
}

smp_status smp_stop_create(const smp_stop_params *p, smp_stop **out, char *err, size_t errlen)
{
	if (!out || !p) {
		put_err(err, errlen, "%s is NULL", out ? "params" : "out");
		return SMP_E_ARG;
	}
	*out = NULL;
	if (p->n_eos > SMP_STOP_MAX_EOS || (p->n_eos && !p->eos_ids)) {
		put_err(err, errlen, "eos_ids: %zu ids (at most %d, non-NULL)", p->n_eos, SMP_STOP_MAX_EOS);
		return SMP_E_PARAM;
	}
	if (p->n_strings > SMP_STOP_MAX_STRINGS || (p->n_strings && !p->strings)) {
		put_err(err, errlen, "strings: %zu stop strings (at most %d, non-NULL)", p->n_strings,
			SMP_STOP_MAX_STRINGS);
		return SMP_E_PARAM;
	}
	for (size_t i = 0; i < p->n_eos; i++) {
		if (p->eos_ids[i] < 0) {
			put_err(err, errlen, "eos_ids[%zu] = %d: ids are >= 0", i, (int)p->eos_ids[i]);
			return SMP_E_PARAM;
		}
	}
	for (size_t i = 0; i < p->n_strings; i++) {
		const char *s = p->strings[i];
		if (!s) {
			put_err(err, errlen, "stop string %zu is NULL", i);
			return SMP_E_PARAM;
		}
		size_t n = p->string_lens ? p->string_lens[i] : strnlen(s, SMP_STOP_MAX_LEN + 1);
		if (n == 0 || n > SMP_STOP_MAX_LEN) {
			put_err(err, errlen, "stop string %zu: length %zu outside [1, %d]", i, n, SMP_STOP_MAX_LEN);
			return SMP_E_PARAM;
		}
		if (!utf8_valid((const unsigned char *)s, n)) {
			put_err(err, errlen, "stop string %zu is not valid UTF-8", i);
			return SMP_E_PARAM;
		}
	}

	smp_stop *st = calloc(1, sizeof *st);
	if (!st)
		goto nomem;
	st->max_tokens = p->max_tokens;
	if (p->n_eos) {
		st->eos = malloc(p->n_eos * sizeof *st->eos);
		if (!st->eos)
			goto nomem;
		memcpy(st->eos, p->eos_ids, p->n_eos * sizeof *st->eos);
		qsort(st->eos, p->n_eos, sizeof *st->eos, cmp_i32);
		size_t u = 0;
		for (size_t i = 0; i < p->n_eos; i++)
			if (!u || st->eos[u - 1] != st->eos[i])
				st->eos[u++] = st->eos[i];
		st->n_eos = u;
	}
	if (p->n_strings) {
		st->str = calloc(p->n_strings, sizeof *st->str);
		if (!st->str)
			goto nomem;
		st->n_str = p->n_strings;
		for (size_t i = 0; i < p->n_strings; i++) {
			stop_str *q = &st->str[i];
			size_t n = p->string_lens ? p->string_lens[i] : strlen(p->strings[i]);
			q->s = malloc(n);
			q->fail = malloc(n * sizeof *q->fail);
			if (!q->s || !q->fail)
				goto nomem;
			memcpy(q->s, p->strings[i], n);
			q->len = (uint32_t)n;
			q->fail[0] = 0;
			for (uint32_t j = 1, k = 0; j < q->len; j++) {
				while (k > 0 && q->s[j] != q->s[k])
					k = q->fail[k - 1];
				if (q->s[j] == q->s[k])
					k++;
				q->fail[j] = k;
			}
		}
	}
	*out = st;
	return SMP_OK;
nomem:
	put_err(err, errlen, "out of memory for the stop matcher");
	smp_stop_free(st);
	return SMP_E_NOMEM;
}

void smp_stop_reset(smp_stop *st)
{
	if (!st)
		return;
	st->len = st->released = 0;
	st->n_tokens = 0;
	st->done = false;
	for (size_t i = 0; i < st->n_str; i++)
		st->str[i].state = 0;
}

bool smp_stop_is_eos(const smp_stop *st, int32_t id)
{
	return st && st->n_eos && bsearch(&id, st->eos, st->n_eos, sizeof *st->eos, cmp_i32) != NULL;
}

/* Drops what the previous call released and checks the handle can take more. */
static smp_status begin(smp_stop *st, smp_stop_result *res)
{
	if (!st || !res)
		return SMP_E_ARG;
	*res = (smp_stop_result){st->buf ? st->buf : "", 0, SMP_STOP_NONE, -1};
	if (st->done)
		return SMP_E_ARG;
	if (st->released) {
		memmove(st->buf, st->buf + st->released, st->len - st->released);
		st->len -= st->released;
		st->released = 0;
	}
	return SMP_OK;
}

static void release(smp_stop *st, smp_stop_result *res, size_t n, smp_stop_reason why)
{
	res->text = st->buf ? st->buf : "";
	res->len = n;
	res->reason = why;
	st->released = n;
	if (why != SMP_STOP_NONE)
		st->done = true;
}

/* Appends `text`, advancing the automata byte by byte; true when a stop string completed (then
 * the result is already filled). */
static smp_status push(smp_stop *st, const char *text, size_t n, smp_stop_result *res, bool *hit)
{
	*hit = false;
	if (!n)
		return SMP_OK;
	if (!text)
		return SMP_E_ARG;
	size_t need;
	if (__builtin_add_overflow(st->len, n, &need))
		return SMP_E_NOMEM;
	if (need > st->cap) {
		size_t cap = st->cap ? st->cap : 256;
		while (cap < need)
			if (__builtin_mul_overflow(cap, 2, &cap))
				return SMP_E_NOMEM;
		char *b = realloc(st->buf, cap);
		if (!b)
			return SMP_E_NOMEM;
		st->buf = b;
		st->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		st->buf[st->len++] = (char)c;
		int32_t which = -1;
		uint32_t wlen = 0;
		for (size_t k = 0; k < st->n_str; k++) {
			stop_str *q = &st->str[k];
			uint32_t s = q->state;
			while (s > 0 && q->s[s] != c)
				s = q->fail[s - 1];
			if (q->s[s] == c)
				s++;
			if (s == q->len) {
				/* Longest string among those ending here. */
				if (s > wlen) {
					which = (int32_t)k;
					wlen = s;
				}
				s = q->fail[s - 1];
			}
			q->state = s;
		}
		if (which >= 0) {
			/* The match began inside the held bytes, so it starts within buf. */
			release(st, res, st->len - wlen, SMP_STOP_STRING);
			res->which = which;
			*hit = true;
			return SMP_OK;
		}
	}
	return SMP_OK;
}

/* Everything except a possible stop-string prefix and an incomplete UTF-8 tail. */
static size_t safe_len(const smp_stop *st)
{
	uint32_t hold = 0;
	for (size_t k = 0; k < st->n_str; k++)
		if (st->str[k].state > hold)
			hold = st->str[k].state;
	size_t end = st->len - hold;
	const unsigned char *b = (const unsigned char *)st->buf;
	/* Last lead byte within 3 bytes of the end, followed only by continuation bytes. */
	for (size_t back = 1; back <= 3 && back <= end; back++) {
		unsigned char c = b[end - back];
		if ((c & 0xC0) == 0x80)
			continue;
		size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
		if (want > back && c >= 0xC2 && c <= 0xF4)
			end -= back;
		break;
	}
	return end;
}

static smp_status feed(smp_stop *st, bool counted, int32_t id, const char *text, size_t n, smp_stop_result *res)
{
	smp_status rc = begin(st, res);
	if (rc)
		return rc;
	if (counted) {
		st->n_tokens++;
		if (smp_stop_is_eos(st, id)) {
			release(st, res, st->len, SMP_STOP_EOS);
			return SMP_OK;
		}
	}
	bool hit;
	rc = push(st, text, n, res, &hit);
	if (rc || hit)
		return rc;
	if (counted && st->max_tokens && st->n_tokens >= st->max_tokens)
		release(st, res, st->len, SMP_STOP_MAX_TOKENS);
	else
		release(st, res, safe_len(st), SMP_STOP_NONE);
	return SMP_OK;
}

smp_status smp_stop_feed(smp_stop *st, int32_t id, const char *text, size_t len, smp_stop_result *res)
{
	return feed(st, true, id, text, len, res);
}

smp_status smp_stop_feed_text(smp_stop *st, const char *text, size_t len, smp_stop_result *res)
{
	return feed(st, false, -1, text, len, res);
}

smp_status smp_stop_flush(smp_stop *st, smp_stop_result *res)
{
	smp_status rc = begin(st, res);
	if (rc)
		return rc;
	release(st, res, st->len, SMP_STOP_NONE);
	for (size_t i = 0; i < st->n_str; i++)
		st->str[i].state = 0;
	return SMP_OK;
}
