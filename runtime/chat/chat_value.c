/* Arena, values, output buffers and the Python-compatible printers (str, repr, json.dumps). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_impl.h"

struct chat_chunk {
	chat_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

#define CHAT_CHUNK 65536

void *chat_arena_alloc(chat_arena *a, size_t n)
{
	size_t need;
	if (__builtin_add_overflow(n, (size_t)15, &need))
		return NULL;
	need &= ~(size_t)15;
	if (need == 0)
		need = 16;
	if (a->limit && (need > a->limit || a->total > a->limit - need)) {
		a->over = true;
		return NULL;
	}
	chat_chunk *c = a->head;
	if (!c || c->cap - c->used < need) {
		size_t cap = need > CHAT_CHUNK / 4 ? need : CHAT_CHUNK;
		size_t sz;
		if (__builtin_add_overflow(cap, sizeof(chat_chunk), &sz))
			return NULL;
		chat_chunk *nc = malloc(sz);
		if (!nc)
			return NULL;
		nc->used = 0;
		nc->cap = cap;
		if (cap == CHAT_CHUNK || !c) {
			nc->next = c;
			a->head = nc;
		} else {
			/* a big one-off block goes behind the current chunk so its free space stays usable */
			nc->next = c->next;
			c->next = nc;
		}
		c = nc;
	}
	void *p = c->data + c->used;
	c->used += need;
	a->total += need;
	memset(p, 0, n);
	return p;
}

void chat_arena_free(chat_arena *a)
{
	chat_chunk *c = a->head;
	while (c) {
		chat_chunk *n = c->next;
		free(c);
		c = n;
	}
	a->head = NULL;
	a->total = 0;
}

char *chat_arena_strdup(chat_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = chat_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/* ---- constructors ---- */
cv cv_undef(const char *hint)
{
	cv v = {.t = CV_UNDEF};
	v.u.s.p = hint;
	v.u.s.n = hint ? strlen(hint) : 0;
	return v;
}
cv cv_none(void) { return (cv){.t = CV_NONE}; }
cv cv_bool(bool b)
{
	cv v = {.t = CV_BOOL};
	v.u.b = b;
	return v;
}
cv cv_int(int64_t i)
{
	cv v = {.t = CV_INT};
	v.u.i = i;
	return v;
}
cv cv_float(double f)
{
	cv v = {.t = CV_FLOAT};
	v.u.f = f;
	return v;
}
cv cv_str(const char *p, size_t n)
{
	cv v = {.t = CV_STR};
	v.u.s.p = p ? p : "";
	v.u.s.n = n;
	return v;
}

cv_list *cv_list_new(chat_arena *a, size_t cap)
{
	cv_list *l = chat_arena_alloc(a, sizeof(*l));
	if (!l)
		return NULL;
	if (cap) {
		size_t bytes;
		if (__builtin_mul_overflow(cap, sizeof(cv), &bytes))
			return NULL;
		l->v = chat_arena_alloc(a, bytes);
		if (!l->v)
			return NULL;
		l->cap = cap;
	}
	return l;
}

bool cv_list_push(chat_arena *a, cv_list *l, cv v)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 4, bytes;
		if (__builtin_mul_overflow(nc, sizeof(cv), &bytes))
			return false;
		cv *nv = chat_arena_alloc(a, bytes);
		if (!nv)
			return false;
		if (l->n)
			memcpy(nv, l->v, l->n * sizeof(cv));
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = v;
	return true;
}

cv_dict *cv_dict_new(chat_arena *a, size_t cap)
{
	cv_dict *d = chat_arena_alloc(a, sizeof(*d));
	if (!d)
		return NULL;
	if (cap) {
		size_t bytes;
		if (__builtin_mul_overflow(cap, sizeof(cv), &bytes))
			return NULL;
		d->k = chat_arena_alloc(a, bytes);
		d->v = chat_arena_alloc(a, bytes);
		if (!d->k || !d->v)
			return NULL;
		d->cap = cap;
	}
	return d;
}

const cv *cv_dict_getv(const cv_dict *d, cv key)
{
	for (size_t i = 0; i < d->n; i++)
		if (cv_equal(d->k[i], key))
			return &d->v[i];
	return NULL;
}

const cv *cv_dict_get(const cv_dict *d, const char *key, size_t n)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->k[i].t == CV_STR && d->k[i].u.s.n == n && memcmp(d->k[i].u.s.p, key, n) == 0)
			return &d->v[i];
	return NULL;
}

bool cv_dict_set(chat_arena *a, cv_dict *d, cv k, cv v)
{
	const cv *old = cv_dict_getv(d, k);
	if (old) {
		d->v[old - d->v] = v;
		return true;
	}
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 4, bytes;
		if (__builtin_mul_overflow(nc, sizeof(cv), &bytes))
			return false;
		cv *nk = chat_arena_alloc(a, bytes), *nv = chat_arena_alloc(a, bytes);
		if (!nk || !nv)
			return false;
		if (d->n) {
			memcpy(nk, d->k, d->n * sizeof(cv));
			memcpy(nv, d->v, d->n * sizeof(cv));
		}
		d->k = nk;
		d->v = nv;
		d->cap = nc;
	}
	d->k[d->n] = k;
	d->v[d->n] = v;
	d->n++;
	return true;
}

bool cv_truthy(cv v)
{
	switch (v.t) {
	case CV_UNDEF:
	case CV_NONE: return false;
	case CV_BOOL: return v.u.b;
	case CV_INT: return v.u.i != 0;
	case CV_FLOAT: return v.u.f != 0.0;
	case CV_STR: return v.u.s.n != 0;
	case CV_LIST: return v.u.l->n != 0;
	case CV_DICT: return v.u.d->n != 0;
	default: return true;
	}
}

static bool cv_is_num(cv v) { return v.t == CV_BOOL || v.t == CV_INT || v.t == CV_FLOAT; }

bool cv_equal(cv a, cv b)
{
	if (cv_is_num(a) && cv_is_num(b)) {
		if (a.t == CV_FLOAT || b.t == CV_FLOAT) {
			double x = a.t == CV_FLOAT ? a.u.f : a.t == CV_INT ? (double)a.u.i : a.u.b;
			double y = b.t == CV_FLOAT ? b.u.f : b.t == CV_INT ? (double)b.u.i : b.u.b;
			return x == y;
		}
		int64_t x = a.t == CV_INT ? a.u.i : a.u.b, y = b.t == CV_INT ? b.u.i : b.u.b;
		return x == y;
	}
	if (a.t != b.t)
		return false;
	switch (a.t) {
	case CV_UNDEF:
	case CV_NONE: return true;
	case CV_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
	case CV_LIST:
		if (a.u.l->n != b.u.l->n || a.u.l->tuple != b.u.l->tuple)
			return false;
		for (size_t i = 0; i < a.u.l->n; i++)
			if (!cv_equal(a.u.l->v[i], b.u.l->v[i]))
				return false;
		return true;
	case CV_DICT:
		if (a.u.d->n != b.u.d->n)
			return false;
		for (size_t i = 0; i < a.u.d->n; i++) {
			const cv *o = cv_dict_getv(b.u.d, a.u.d->k[i]);
			if (!o || !cv_equal(a.u.d->v[i], *o))
				return false;
		}
		return true;
	case CV_NS: return a.u.d == b.u.d;
	case CV_LOOP: return a.u.loop == b.u.loop;
	case CV_MACRO: return a.u.macro == b.u.macro;
	case CV_FUNC: return a.u.func == b.u.func;
	default: return false;
	}
}

const char *cv_type_name(cv v)
{
	switch (v.t) {
	case CV_UNDEF: return "Undefined";
	case CV_NONE: return "NoneType";
	case CV_BOOL: return "bool";
	case CV_INT: return "int";
	case CV_FLOAT: return "float";
	case CV_STR: return "str";
	case CV_LIST: return v.u.l->tuple ? "tuple" : "list";
	case CV_DICT: return "dict";
	case CV_NS: return "Namespace";
	case CV_LOOP: return "LoopContext";
	case CV_MACRO: return "Macro";
	default: return "function";
	}
}

/* ---- buffers ---- */
bool chat_buf_put(chat_buf *b, const char *s, size_t n)
{
	if (b->over || b->oom)
		return false;
	if (n > b->limit || b->n > b->limit - n) {
		b->over = true;
		return false;
	}
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->n + n + 1)
			nc = nc > SIZE_MAX / 2 ? b->n + n + 1 : nc * 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return false;
		}
		b->p = np;
		b->cap = nc;
	}
	if (n)
		memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return true;
}

bool chat_buf_putc(chat_buf *b, char c) { return chat_buf_put(b, &c, 1); }

bool chat_buf_printf(chat_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return false;
	return chat_buf_put(b, tmp, (size_t)n);
}

/* ---- floats: shortest round-trip digits, laid out like Python's float repr ---- */
void chat_format_float(char *dst, size_t cap, double f)
{
	if (isnan(f)) {
		snprintf(dst, cap, "nan");
		return;
	}
	if (isinf(f)) {
		snprintf(dst, cap, f < 0 ? "-inf" : "inf");
		return;
	}
	char e[40];
	for (int p = 0; p < 17; p++) {
		snprintf(e, sizeof e, "%.*e", p, f);
		if (strtod(e, NULL) == f)
			break;
	}
	/* e looks like [-]d[.ddd]e[+-]xx */
	const char *q = e;
	bool neg = *q == '-';
	if (neg)
		q++;
	char digits[24];
	size_t nd = 0;
	while (*q && *q != 'e') {
		if (*q != '.' && nd < sizeof digits - 1)
			digits[nd++] = *q;
		q++;
	}
	digits[nd] = 0;
	int ex = *q == 'e' ? atoi(q + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = 0;
	char out[64];
	size_t o = 0;
	if (neg)
		out[o++] = '-';
	if (ex >= -4 && ex < 16) {
		if (ex >= 0) {
			for (int i = 0; i <= ex; i++)
				out[o++] = (size_t)i < nd ? digits[i] : '0';
			out[o++] = '.';
			if ((size_t)ex + 1 < nd)
				for (size_t i = (size_t)ex + 1; i < nd; i++)
					out[o++] = digits[i];
			else
				out[o++] = '0';
		} else {
			out[o++] = '0';
			out[o++] = '.';
			for (int i = 0; i < -ex - 1; i++)
				out[o++] = '0';
			for (size_t i = 0; i < nd; i++)
				out[o++] = digits[i];
		}
		out[o] = 0;
	} else {
		out[o++] = digits[0];
		if (nd > 1) {
			out[o++] = '.';
			for (size_t i = 1; i < nd; i++)
				out[o++] = digits[i];
		}
		out[o] = 0;
		snprintf(out + o, sizeof out - o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
	}
	snprintf(dst, cap, "%s", out);
}

/* ---- str / repr ---- */
static bool write_str_repr(chat_buf *b, const char *p, size_t n)
{
	bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
	char q = has_sq && !has_dq ? '"' : '\'';
	if (!chat_buf_putc(b, q))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		bool ok;
		if (c == '\\' || c == (unsigned char)q) {
			char t[2] = {'\\', (char)c};
			ok = chat_buf_put(b, t, 2);
		} else if (c == '\n')
			ok = chat_buf_put(b, "\\n", 2);
		else if (c == '\r')
			ok = chat_buf_put(b, "\\r", 2);
		else if (c == '\t')
			ok = chat_buf_put(b, "\\t", 2);
		else if (c < 0x20 || c == 0x7f)
			ok = chat_buf_printf(b, "\\x%02x", c);
		else
			ok = chat_buf_putc(b, (char)c);
		if (!ok)
			return false;
	}
	return chat_buf_putc(b, q);
}

static bool write_repr_depth(chat_buf *b, cv v, int depth);

static bool write_str_depth(chat_buf *b, cv v, int depth)
{
	char tmp[64];
	switch (v.t) {
	case CV_UNDEF: return true;
	case CV_NONE: return chat_buf_put(b, "None", 4);
	case CV_BOOL: return v.u.b ? chat_buf_put(b, "True", 4) : chat_buf_put(b, "False", 5);
	case CV_INT: return chat_buf_printf(b, "%lld", (long long)v.u.i);
	case CV_FLOAT: chat_format_float(tmp, sizeof tmp, v.u.f); return chat_buf_put(b, tmp, strlen(tmp));
	case CV_STR: return chat_buf_put(b, v.u.s.p, v.u.s.n);
	default: return write_repr_depth(b, v, depth);
	}
}

static bool write_repr_depth(chat_buf *b, cv v, int depth)
{
	if (depth > 200) {
		b->over = true;
		return false;
	}
	switch (v.t) {
	case CV_STR: return write_str_repr(b, v.u.s.p, v.u.s.n);
	case CV_LIST: {
		const cv_list *l = v.u.l;
		if (!chat_buf_putc(b, l->tuple ? '(' : '['))
			return false;
		for (size_t i = 0; i < l->n; i++)
			if ((i && !chat_buf_put(b, ", ", 2)) || !write_repr_depth(b, l->v[i], depth + 1))
				return false;
		if (l->tuple && l->n == 1 && !chat_buf_putc(b, ','))
			return false;
		return chat_buf_putc(b, l->tuple ? ')' : ']');
	}
	case CV_DICT:
	case CV_NS: {
		const cv_dict *d = v.u.d;
		if (v.t == CV_NS && !chat_buf_put(b, "<Namespace ", 11))
			return false;
		if (!chat_buf_putc(b, '{'))
			return false;
		for (size_t i = 0; i < d->n; i++)
			if ((i && !chat_buf_put(b, ", ", 2)) || !write_repr_depth(b, d->k[i], depth + 1) ||
			    !chat_buf_put(b, ": ", 2) || !write_repr_depth(b, d->v[i], depth + 1))
				return false;
		if (!chat_buf_putc(b, '}'))
			return false;
		return v.t == CV_NS ? chat_buf_putc(b, '>') : true;
	}
	case CV_UNDEF: return true;
	case CV_LOOP: return chat_buf_put(b, "<LoopContext>", 13);
	case CV_MACRO: return chat_buf_put(b, "<Macro>", 7);
	case CV_FUNC: return chat_buf_put(b, "<function>", 10);
	default: return write_str_depth(b, v, depth);
	}
}

bool cv_write_str(chat_buf *b, cv v) { return write_str_depth(b, v, 0); }
bool cv_write_repr(chat_buf *b, cv v) { return write_repr_depth(b, v, 0); }

/* ---- json.dumps ---- */
static bool json_put_string(chat_buf *b, const char *p, size_t n)
{
	if (!chat_buf_putc(b, '"'))
		return false;
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		const char *esc = NULL;
		char tmp[8];
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			if (c < 0x20) {
				snprintf(tmp, sizeof tmp, "\\u%04x", c);
				esc = tmp;
			}
		}
		if (esc) {
			if (!chat_buf_put(b, p + run, i - run) || !chat_buf_put(b, esc, strlen(esc)))
				return false;
			run = i + 1;
		}
	}
	return chat_buf_put(b, p + run, n - run) && chat_buf_putc(b, '"');
}

static bool json_newline(chat_buf *b, const char *ind, int level)
{
	if (!chat_buf_putc(b, '\n'))
		return false;
	for (int i = 0; i < level; i++)
		if (!chat_buf_put(b, ind, strlen(ind)))
			return false;
	return true;
}

static int key_cmp(const void *x, const void *y)
{
	const cv *a = *(const cv *const *)x, *b = *(const cv *const *)y;
	if (a->t != CV_STR || b->t != CV_STR)
		return 0;
	size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
	int c = memcmp(a->u.s.p, b->u.s.p, n);
	if (c)
		return c;
	return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
}

bool cv_write_json(chat_buf *b, cv v, int indent, const char *ind, const char *item_sep, const char *key_sep,
		   bool sort_keys, int depth, cv *bad)
{
	char tmp[64];
	if (depth > 200) {
		b->over = true;
		return false;
	}
	if (!item_sep)
		item_sep = indent >= 0 ? "," : ", ";
	if (!key_sep)
		key_sep = ": ";
	switch (v.t) {
	case CV_NONE: return chat_buf_put(b, "null", 4);
	case CV_BOOL: return v.u.b ? chat_buf_put(b, "true", 4) : chat_buf_put(b, "false", 5);
	case CV_INT: return chat_buf_printf(b, "%lld", (long long)v.u.i);
	case CV_FLOAT:
		if (isnan(v.u.f))
			return chat_buf_put(b, "NaN", 3);
		if (isinf(v.u.f))
			return v.u.f < 0 ? chat_buf_put(b, "-Infinity", 9) : chat_buf_put(b, "Infinity", 8);
		chat_format_float(tmp, sizeof tmp, v.u.f);
		return chat_buf_put(b, tmp, strlen(tmp));
	case CV_STR: return json_put_string(b, v.u.s.p, v.u.s.n);
	case CV_LIST: {
		const cv_list *l = v.u.l;
		if (l->n == 0)
			return chat_buf_put(b, "[]", 2);
		if (!chat_buf_putc(b, '['))
			return false;
		for (size_t i = 0; i < l->n; i++) {
			if (i && !chat_buf_put(b, item_sep, strlen(item_sep)))
				return false;
			if (indent >= 0 && !json_newline(b, ind, depth + 1))
				return false;
			if (!cv_write_json(b, l->v[i], indent, ind, item_sep, key_sep, sort_keys, depth + 1, bad))
				return false;
		}
		if (indent >= 0 && !json_newline(b, ind, depth))
			return false;
		return chat_buf_putc(b, ']');
	}
	case CV_DICT: {
		const cv_dict *d = v.u.d;
		if (d->n == 0)
			return chat_buf_put(b, "{}", 2);
		const cv **order = malloc(d->n * sizeof(*order));
		if (!order) {
			b->oom = true;
			return false;
		}
		for (size_t i = 0; i < d->n; i++)
			order[i] = &d->k[i];
		if (sort_keys)
			qsort(order, d->n, sizeof(*order), key_cmp);
		bool ok = chat_buf_putc(b, '{');
		for (size_t j = 0; ok && j < d->n; j++) {
			size_t i = (size_t)(order[j] - d->k);
			cv k = d->k[i];
			if (j)
				ok = chat_buf_put(b, item_sep, strlen(item_sep));
			if (ok && indent >= 0)
				ok = json_newline(b, ind, depth + 1);
			if (!ok)
				break;
			/* json.dumps turns non-string keys into strings */
			if (k.t == CV_STR)
				ok = json_put_string(b, k.u.s.p, k.u.s.n);
			else if (k.t == CV_INT || k.t == CV_FLOAT || k.t == CV_BOOL || k.t == CV_NONE) {
				ok = chat_buf_putc(b, '"') &&
				     cv_write_json(b, k, indent, ind, item_sep, key_sep, false, depth + 1, bad) &&
				     chat_buf_putc(b, '"');
			} else {
				*bad = k;
				ok = false;
			}
			ok = ok && chat_buf_put(b, key_sep, strlen(key_sep)) &&
			     cv_write_json(b, d->v[i], indent, ind, item_sep, key_sep, sort_keys, depth + 1, bad);
		}
		free(order);
		if (ok && indent >= 0)
			ok = json_newline(b, ind, depth);
		return ok && chat_buf_putc(b, '}');
	}
	default: *bad = v; return false;
	}
}

/* ---- JSON input ---- */
bool cv_from_json(chat_arena *a, const json_t *j, cv *out, int depth)
{
	if (depth > 512)
		return false;
	switch (json_typeof(j)) {
	case JSON_NULL: *out = cv_none(); return true;
	case JSON_TRUE: *out = cv_bool(true); return true;
	case JSON_FALSE: *out = cv_bool(false); return true;
	case JSON_INTEGER: *out = cv_int((int64_t)json_integer_value(j)); return true;
	case JSON_REAL: *out = cv_float(json_real_value(j)); return true;
	case JSON_STRING: *out = cv_str(json_string_value(j), json_string_length(j)); return true;
	case JSON_ARRAY: {
		size_t n = json_array_size(j);
		cv_list *l = cv_list_new(a, n);
		if (!l)
			return false;
		for (size_t i = 0; i < n; i++) {
			if (!cv_from_json(a, json_array_get(j, i), &l->v[i], depth + 1))
				return false;
		}
		l->n = n;
		out->t = CV_LIST;
		out->u.l = l;
		return true;
	}
	case JSON_OBJECT: {
		cv_dict *d = cv_dict_new(a, json_object_size(j));
		if (!d)
			return false;
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)j, key, val) {
			if (d->n >= d->cap)
				return false;
			d->k[d->n] = cv_str(key, strlen(key));
			if (!cv_from_json(a, val, &d->v[d->n], depth + 1))
				return false;
			d->n++;
		}
		out->t = CV_DICT;
		out->u.d = d;
		return true;
	}
	}
	return false;
}

/* ---- UTF-8 ---- */
size_t chat_utf8_len(const char *p, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] & 0xC0) != 0x80)
			c++;
	return c;
}

size_t chat_utf8_offset(const char *p, size_t n, size_t cp)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++) {
		if (((unsigned char)p[i] & 0xC0) != 0x80) {
			if (c == cp)
				return i;
			c++;
		}
	}
	return n;
}

size_t chat_utf8_put(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xE0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp > 0x10FFFF)
		cp = 0xFFFD;
	d[0] = (char)(0xF0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

void chat_set_error(chat_error *err, chat_status st, int line, int col, const char *fmt, ...)
{
	if (!err)
		return;
	err->status = st;
	err->line = line;
	err->column = col;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}
