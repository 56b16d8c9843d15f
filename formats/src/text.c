/* Name/key rules, UTF-8 validation, byte buffer, string set and sorted name lookup. */
#include "fmt_internal.h"

#include <stdlib.h>

bool fmt_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp, min;
		if (c >= 0xC2 && c <= 0xDF) {
			len = 2, cp = c & 0x1F, min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static bool key_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.' || c == '-';
}

bool fmt_key_valid(const uint8_t *s, size_t n)
{
	if (n < 1 || n > FMT_MAX_KEY)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!key_char(s[i]))
			return false;
	return true;
}

const char *fmt_tensor_name_problem(const uint8_t *s, size_t n)
{
	if (n == 0)
		return "empty name";
	if (n > FMT_MAX_NAME)
		return "name longer than 512 bytes";
	if (!fmt_utf8_valid(s, n))
		return "name is not valid UTF-8 (or contains NUL)";
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7F)
			return "name contains a control character";
		/* C1 controls U+0080..U+009F are encoded C2 80..C2 9F */
		if (s[i] == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
			return "name contains a control character";
	}
	return NULL;
}

const char *fmt_file_name_problem(const uint8_t *s, size_t n)
{
	if (!fmt_key_valid(s, n))
		return "file name must be 1..255 bytes of [A-Za-z0-9_.-]";
	if (s[0] == '.')
		return "file name starts with '.'";
	return NULL;
}

/* ---- byte buffer ---- */

bool fmt_buf_reserve(fmt_buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (extra <= b->cap - b->n)
		return true;
	size_t need;
	if (__builtin_add_overflow(b->n, extra, &need)) {
		b->oom = true;
		return false;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	uint8_t *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void fmt_buf_put(fmt_buf *b, const void *p, size_t n)
{
	if (n == 0 || !fmt_buf_reserve(b, n))
		return;
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

void fmt_buf_u8(fmt_buf *b, uint8_t v)
{
	fmt_buf_put(b, &v, 1);
}

void fmt_buf_u32(fmt_buf *b, uint32_t v)
{
	uint8_t t[4];
	fmt_st32(t, v);
	fmt_buf_put(b, t, 4);
}

void fmt_buf_u64(fmt_buf *b, uint64_t v)
{
	uint8_t t[8];
	fmt_st64(t, v);
	fmt_buf_put(b, t, 8);
}

void fmt_buf_str(fmt_buf *b, const void *s, uint32_t len)
{
	fmt_buf_u32(b, len);
	fmt_buf_put(b, s, len);
}

void fmt_buf_free(fmt_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- string set ---- */

static uint64_t str_hash(const char *k, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
	return h;
}

static size_t strset_slot(const fmt_strset *s, const char *k, size_t len)
{
	size_t m = s->cap - 1, i = (size_t)str_hash(k, len) & m;
	while (s->keys[i] && !(s->lens[i] == len && memcmp(s->keys[i], k, len) == 0))
		i = (i + 1) & m;
	return i;
}

bool fmt_strset_has(const fmt_strset *s, const char *k, size_t len)
{
	return s->cap && s->keys[strset_slot(s, k, len)] != NULL;
}

int fmt_strset_add(fmt_strset *s, const char *k, size_t len)
{
	if (fmt_strset_has(s, k, len))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		fmt_strset ns = {calloc(ncap, sizeof(char *)), calloc(ncap, sizeof(size_t)), s->n, ncap};
		if (!ns.keys || !ns.lens) {
			free(ns.keys);
			free(ns.lens);
			return -1;
		}
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->keys[i])
				continue;
			size_t j = strset_slot(&ns, s->keys[i], s->lens[i]);
			ns.keys[j] = s->keys[i];
			ns.lens[j] = s->lens[i];
		}
		free(s->keys);
		free(s->lens);
		*s = ns;
	}
	char *c = malloc(len + 1);
	if (!c)
		return -1;
	memcpy(c, k, len);
	c[len] = 0;
	size_t j = strset_slot(s, k, len);
	s->keys[j] = c;
	s->lens[j] = len;
	s->n++;
	return 1;
}

void fmt_strset_free(fmt_strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->keys[i]);
	free(s->keys);
	free(s->lens);
	memset(s, 0, sizeof *s);
}

/* ---- sorted names ---- */

static int name_cmp(const char *a, size_t la, const char *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);
	if (c)
		return c;
	return la < lb ? -1 : la > lb;
}

int fmt_nameref_cmp(const void *pa, const void *pb)
{
	const fmt_nameref *a = pa, *b = pb;
	int c = name_cmp(a->s, a->len, b->s, b->len);
	if (c)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx; /* deterministic: lower index first */
}

long fmt_nameref_find(const fmt_nameref *v, size_t n, const char *s, size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(v[mid].s, v[mid].len, s, len);
		if (c == 0)
			return (long)v[mid].idx;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}
