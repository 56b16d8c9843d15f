/* Filters, tests, string/dict methods and global functions available to templates. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "chat_eval.h"

static bool nm(const char *p, size_t n, const char *s) { return strlen(s) == n && memcmp(p, s, n) == 0; }

static int pn(size_t n) { return (int)(n > 100 ? 100 : n); }

static bool mkstr(rctx *R, const node *at, const char *p, size_t n, cv *out)
{
	char *q = chat_arena_strdup(R->a, p, n);
	if (!q)
		return chat_oom_at(R, at);
	*out = cv_str(q, n);
	return true;
}

static bool need_str(rctx *R, const node *at, const cv *v, const char *what)
{
	if (v && v->t == CV_STR)
		return true;
	if (v && v->t == CV_UNDEF)
		return chat_undef_at(R, at, *v);
	return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "%s must be str, not %s", what, v ? cv_type_name(*v) : "nothing");
}

/* decodes one UTF-8 code point (invalid bytes come back as themselves) */
static int32_t dec(const char *p, size_t n, size_t i, size_t *len)
{
	utf8proc_int32_t cp;
	utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)p + i, (utf8proc_ssize_t)(n - i), &cp);
	if (r <= 0) {
		*len = 1;
		return (unsigned char)p[i];
	}
	*len = (size_t)r;
	return cp;
}

static bool py_space(int32_t c)
{
	if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0 ||
	    c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	    c == 0x205f || c == 0x3000)
		return true;
	return false;
}

static bool in_set(int32_t c, const cv *chars)
{
	if (!chars || chars->t == CV_NONE)
		return py_space(c);
	size_t i = 0, l;
	while (i < chars->u.s.n) {
		if (dec(chars->u.s.p, chars->u.s.n, i, &l) == c)
			return true;
		i += l;
	}
	return false;
}

/* str.strip family; which: 1 = left, 2 = right, 3 = both */
static void strip_range(cv s, const cv *chars, int which, size_t *b, size_t *e)
{
	size_t i = 0, l, end = s.u.s.n;
	if (which & 1) {
		while (i < end) {
			int32_t c = dec(s.u.s.p, end, i, &l);
			if (!in_set(c, chars))
				break;
			i += l;
		}
	}
	if (which & 2) {
		while (end > i) {
			size_t st = end - 1;
			while (st > i && ((unsigned char)s.u.s.p[st] & 0xC0) == 0x80)
				st--;
			int32_t c = dec(s.u.s.p, end, st, &l);
			if (!in_set(c, chars))
				break;
			end = st;
		}
	}
	*b = i;
	*e = end;
}

/* case mapping: mode 0 lower, 1 upper, 2 title, 3 capitalize */
static bool map_case(rctx *R, const node *at, cv s, int mode, cv *out)
{
	size_t cap;
	if (__builtin_mul_overflow(s.u.s.n, (size_t)4, &cap))
		return chat_oom_at(R, at);
	char *d = chat_arena_alloc(R->a, cap + 1);
	if (!d)
		return chat_oom_at(R, at);
	size_t i = 0, o = 0, l;
	bool prev_cased = false, first = true;
	while (i < s.u.s.n) {
		int32_t c = dec(s.u.s.p, s.u.s.n, i, &l);
		int32_t m;
		if (mode == 0)
			m = utf8proc_tolower(c);
		else if (mode == 1)
			m = utf8proc_toupper(c);
		else if (mode == 2)
			m = prev_cased ? utf8proc_tolower(c) : utf8proc_totitle(c);
		else
			m = first ? utf8proc_totitle(c) : utf8proc_tolower(c);
		utf8proc_category_t cat = utf8proc_category(c);
		prev_cased = cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
		first = false;
		if (m < 0 || m > 0x10FFFF)
			m = c;
		if (c < 0x80 || m != c)
			o += chat_utf8_put(d + o, (uint32_t)m);
		else {
			memcpy(d + o, s.u.s.p + i, l); /* keep invalid bytes as they are */
			o += l;
		}
		i += l;
	}
	*out = cv_str(d, o);
	return true;
}

static bool str_find(cv h, cv nd, size_t from, size_t *at)
{
	if (nd.u.s.n == 0) {
		*at = from;
		return from <= h.u.s.n;
	}
	for (size_t i = from; i + nd.u.s.n <= h.u.s.n; i++)
		if (memcmp(h.u.s.p + i, nd.u.s.p, nd.u.s.n) == 0) {
			*at = i;
			return true;
		}
	return false;
}

static bool do_replace(rctx *R, const node *at, cv s, const cv *old, const cv *new_, const cv *count, cv *out)
{
	if (!need_str(R, at, old, "replace() argument 1") || !need_str(R, at, new_, "replace() argument 2"))
		return false;
	int64_t maxc = count && count->t == CV_INT ? count->u.i : -1;
	chat_buf b = {.limit = R->lim.max_output};
	size_t pos = 0, hit;
	int64_t done = 0;
	if (old->u.s.n == 0) {
		/* Python inserts the replacement between every character */
		size_t i = 0, l;
		while (maxc < 0 || done < maxc) {
			chat_buf_put(&b, new_->u.s.p, new_->u.s.n);
			done++;
			if (i >= s.u.s.n)
				break;
			dec(s.u.s.p, s.u.s.n, i, &l);
			chat_buf_put(&b, s.u.s.p + i, l);
			i += l;
		}
		pos = i;
	} else {
		while ((maxc < 0 || done < maxc) && str_find(s, *old, pos, &hit)) {
			chat_buf_put(&b, s.u.s.p + pos, hit - pos);
			chat_buf_put(&b, new_->u.s.p, new_->u.s.n);
			pos = hit + old->u.s.n;
			done++;
		}
	}
	chat_buf_put(&b, s.u.s.p + pos, s.u.s.n - pos);
	if (b.over || b.oom) {
		free(b.p);
		return b.over ? chat_fail_at(R, at, CHAT_ERR_LIMIT, "string too long") : chat_oom_at(R, at);
	}
	bool ok = mkstr(R, at, b.p ? b.p : "", b.n, out);
	free(b.p);
	return ok;
}

static bool do_split(rctx *R, const node *at, cv s, const cv *sep, const cv *maxsplit, cv *out)
{
	int64_t maxs = maxsplit && maxsplit->t == CV_INT ? maxsplit->u.i : -1;
	cv_list *l = cv_list_new(R->a, 0);
	if (!l)
		return chat_oom_at(R, at);
	if (!sep || sep->t == CV_NONE) {
		size_t i = 0, len;
		int64_t cnt = 0;
		for (;;) {
			while (i < s.u.s.n && py_space(dec(s.u.s.p, s.u.s.n, i, &len)))
				i += len;
			if (i >= s.u.s.n)
				break;
			size_t st = i;
			if (maxs >= 0 && cnt >= maxs) {
				size_t b, e;
				cv rest = cv_str(s.u.s.p + st, s.u.s.n - st);
				strip_range(rest, NULL, 2, &b, &e);
				if (!cv_list_push(R->a, l, cv_str(rest.u.s.p, e)))
					return chat_oom_at(R, at);
				break;
			}
			while (i < s.u.s.n && !py_space(dec(s.u.s.p, s.u.s.n, i, &len)))
				i += len;
			if (!cv_list_push(R->a, l, cv_str(s.u.s.p + st, i - st)))
				return chat_oom_at(R, at);
			cnt++;
		}
	} else {
		if (!need_str(R, at, sep, "separator"))
			return false;
		if (sep->u.s.n == 0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "empty separator");
		size_t pos = 0, hit;
		int64_t cnt = 0;
		while ((maxs < 0 || cnt < maxs) && str_find(s, *sep, pos, &hit)) {
			if (!cv_list_push(R->a, l, cv_str(s.u.s.p + pos, hit - pos)))
				return chat_oom_at(R, at);
			pos = hit + sep->u.s.n;
			cnt++;
		}
		if (!cv_list_push(R->a, l, cv_str(s.u.s.p + pos, s.u.s.n - pos)))
			return chat_oom_at(R, at);
	}
	out->t = CV_LIST;
	out->u.l = l;
	return true;
}

static bool do_join(rctx *R, const node *at, cv seq, const cv *sep, const cv *attr, cv *out)
{
	cv_list *items;
	if (!chat_iter_list_at(R, at, seq, &items))
		return false;
	if (sep && sep->t != CV_STR && !need_str(R, at, sep, "join separator"))
		return false;
	chat_buf b = {.limit = R->lim.max_output};
	for (size_t i = 0; i < items->n; i++) {
		cv v = items->v[i], s;
		if (attr && !chat_getattr_at(R, at, v, attr->u.s.p, attr->u.s.n, &v))
			break;
		if (!chat_tostr_at(R, at, v, &s))
			break;
		if (i && sep)
			chat_buf_put(&b, sep->u.s.p, sep->u.s.n);
		chat_buf_put(&b, s.u.s.p, s.u.s.n);
	}
	if (R->failed || b.over || b.oom) {
		free(b.p);
		if (R->failed)
			return false;
		return b.over ? chat_fail_at(R, at, CHAT_ERR_LIMIT, "string too long") : chat_oom_at(R, at);
	}
	bool ok = mkstr(R, at, b.p ? b.p : "", b.n, out);
	free(b.p);
	return ok;
}

static bool do_tojson(rctx *R, const node *at, cv v, const chat_args *A, cv *out)
{
	const cv *ind = chat_arg_get(A, 0, "indent");
	const cv *seps = chat_arg_get(A, 99, "separators");
	const cv *sk = chat_arg_get(A, 99, "sort_keys");
	int indent = -1;
	char ibuf[64] = "";
	const char *istr = ibuf;
	if (ind && ind->t == CV_INT) {
		indent = ind->u.i < 0 ? 0 : ind->u.i > 32 ? 32 : (int)ind->u.i;
		memset(ibuf, ' ', (size_t)indent);
		ibuf[indent] = 0;
	} else if (ind && ind->t == CV_STR) {
		indent = 0;
		istr = chat_arena_strdup(R->a, ind->u.s.p, ind->u.s.n);
		if (!istr)
			return chat_oom_at(R, at);
	} else if (ind && ind->t != CV_NONE)
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "tojson: indent must be an int or str");
	const char *item_sep = NULL, *key_sep = NULL;
	if (seps && seps->t == CV_LIST) {
		if (seps->u.l->n != 2 || seps->u.l->v[0].t != CV_STR || seps->u.l->v[1].t != CV_STR)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "tojson: separators must be two strings");
		item_sep = chat_arena_strdup(R->a, seps->u.l->v[0].u.s.p, seps->u.l->v[0].u.s.n);
		key_sep = chat_arena_strdup(R->a, seps->u.l->v[1].u.s.p, seps->u.l->v[1].u.s.n);
		if (!item_sep || !key_sep)
			return chat_oom_at(R, at);
	}
	chat_buf b = {.limit = R->lim.max_output};
	cv bad = cv_none();
	if (!cv_write_json(&b, v, indent, istr, item_sep, key_sep, sk && cv_truthy(*sk), 0, &bad)) {
		free(b.p);
		if (b.over)
			return chat_fail_at(R, at, CHAT_ERR_LIMIT, "tojson: output too large or nested too deeply");
		if (b.oom)
			return chat_oom_at(R, at);
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "Object of type %s is not JSON serializable", cv_type_name(bad));
	}
	bool ok = mkstr(R, at, b.p ? b.p : "", b.n, out);
	free(b.p);
	return ok;
}

static bool to_int(rctx *R, const node *at, cv v, const cv *def, cv *out)
{
	(void)R;
	(void)at;
	cv d = def ? *def : cv_int(0);
	switch (v.t) {
	case CV_INT: *out = v; return true;
	case CV_BOOL: *out = cv_int(v.u.b); return true;
	case CV_FLOAT:
		if (isnan(v.u.f) || fabs(v.u.f) >= 9.2e18)
			*out = d;
		else
			*out = cv_int((int64_t)v.u.f);
		return true;
	case CV_STR: {
		char buf[64];
		size_t b, e;
		strip_range(v, NULL, 3, &b, &e);
		if (e - b == 0 || e - b >= sizeof buf) {
			*out = d;
			return true;
		}
		size_t k = 0;
		for (size_t i = b; i < e; i++)
			if (v.u.s.p[i] != '_')
				buf[k++] = v.u.s.p[i];
		buf[k] = 0;
		char *end;
		long long x = strtoll(buf, &end, 10);
		if (*end == 0 && (isdigit((unsigned char)buf[k - 1]))) {
			*out = cv_int(x);
			return true;
		}
		double f = strtod(buf, &end);
		if (*end == 0 && isfinite(f) && fabs(f) < 9.2e18)
			*out = cv_int((int64_t)f);
		else
			*out = d;
		return true;
	}
	default: *out = d; return true;
	}
}

static bool to_float(cv v, const cv *def, cv *out)
{
	cv d = def ? *def : cv_float(0.0);
	switch (v.t) {
	case CV_INT: *out = cv_float((double)v.u.i); return true;
	case CV_BOOL: *out = cv_float(v.u.b); return true;
	case CV_FLOAT: *out = v; return true;
	case CV_STR: {
		char buf[64];
		size_t b, e;
		strip_range(v, NULL, 3, &b, &e);
		if (e - b == 0 || e - b >= sizeof buf) {
			*out = d;
			return true;
		}
		memcpy(buf, v.u.s.p + b, e - b);
		buf[e - b] = 0;
		char *end;
		double f = strtod(buf, &end);
		*out = *end == 0 ? cv_float(f) : d;
		return true;
	}
	default: *out = d; return true;
	}
}

typedef struct {
	bool case_sensitive;
	bool err; /* set when two keys cannot be ordered */
} sort_ctx;

static int sort_cmp(sort_ctx *S, const cv *a, const cv *b)
{
	if (a->t == CV_STR && b->t == CV_STR) {
		size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
		for (size_t i = 0; i < n; i++) {
			unsigned char p = (unsigned char)a->u.s.p[i], q = (unsigned char)b->u.s.p[i];
			if (!S->case_sensitive) {
				if (p >= 'A' && p <= 'Z')
					p = (unsigned char)(p + 32);
				if (q >= 'A' && q <= 'Z')
					q = (unsigned char)(q + 32);
			}
			if (p != q)
				return p < q ? -1 : 1;
		}
		return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
	}
	bool na = a->t == CV_INT || a->t == CV_FLOAT || a->t == CV_BOOL;
	bool nb = b->t == CV_INT || b->t == CV_FLOAT || b->t == CV_BOOL;
	if (na && nb) {
		if (a->t == CV_INT && b->t == CV_INT)
			return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
		double fa = a->t == CV_INT ? (double)a->u.i : a->t == CV_FLOAT ? a->u.f : a->u.b;
		double fb = b->t == CV_INT ? (double)b->u.i : b->t == CV_FLOAT ? b->u.f : b->u.b;
		return fa < fb ? -1 : fa > fb;
	}
	S->err = true;
	return 0;
}

/* stable merge sort of (key, value) pairs, like Python's sorted(); tk/tv are scratch of n items */
static void stable_sort(sort_ctx *S, cv *k, cv *v, cv *tk, cv *tv, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	stable_sort(S, k, v, tk, tv, h);
	stable_sort(S, k + h, v + h, tk, tv, n - h);
	size_t i = 0, j = h, o = 0;
	while (i < h && j < n) {
		if (sort_cmp(S, &k[j], &k[i]) < 0) {
			tk[o] = k[j];
			tv[o++] = v[j++];
		} else {
			tk[o] = k[i];
			tv[o++] = v[i++];
		}
	}
	while (i < h) {
		tk[o] = k[i];
		tv[o++] = v[i++];
	}
	while (j < n) {
		tk[o] = k[j];
		tv[o++] = v[j++];
	}
	memcpy(k, tk, n * sizeof(cv));
	memcpy(v, tv, n * sizeof(cv));
}

static bool sort_pairs(rctx *R, const node *at, sort_ctx *S, cv *k, cv *v, size_t n)
{
	cv *tk = chat_arena_alloc(R->a, (n + 1) * sizeof(cv)), *tv = chat_arena_alloc(R->a, (n + 1) * sizeof(cv));
	if (!tk || !tv)
		return chat_oom_at(R, at);
	stable_sort(S, k, v, tk, tv, n);
	if (S->err)
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "sort: values are not comparable");
	return true;
}

static bool mklist(rctx *R, const node *at, cv_list *l, cv *out)
{
	if (!l)
		return chat_oom_at(R, at);
	out->t = CV_LIST;
	out->u.l = l;
	return true;
}

/* attribute path "a.b" lookup used by map/selectattr/sort/join */
static bool attr_path(rctx *R, const node *at, cv v, cv path, cv *out)
{
	size_t i = 0;
	while (true) {
		size_t j = i;
		while (j < path.u.s.n && path.u.s.p[j] != '.')
			j++;
		if (v.t == CV_UNDEF) {
			*out = v;
			return true;
		}
		if (!chat_getattr_at(R, at, v, path.u.s.p + i, j - i, &v))
			return false;
		if (j >= path.u.s.n)
			break;
		i = j + 1;
	}
	*out = v;
	return true;
}

bool chat_call_filter(rctx *R, const node *at, const char *name, size_t n, cv v, const chat_args *A, cv *out)
{
	const cv *a0 = chat_arg_get(A, 0, NULL), *a1 = chat_arg_get(A, 1, NULL);
	if (nm(name, n, "tojson"))
		return do_tojson(R, at, v, A, out);
	if (nm(name, n, "safe")) {
		*out = v;
		return true;
	}
	if (nm(name, n, "length") || nm(name, n, "count")) {
		switch (v.t) {
		case CV_STR: *out = cv_int((int64_t)chat_utf8_len(v.u.s.p, v.u.s.n)); return true;
		case CV_LIST: *out = cv_int((int64_t)v.u.l->n); return true;
		case CV_DICT:
		case CV_NS: *out = cv_int((int64_t)v.u.d->n); return true;
		case CV_UNDEF: *out = cv_int(0); return true;
		default: return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "object of type '%s' has no len()", cv_type_name(v));
		}
	}
	if (nm(name, n, "default") || nm(name, n, "d")) {
		const cv *def = chat_arg_get(A, 0, "default_value"), *boolean = chat_arg_get(A, 1, "boolean");
		bool use = v.t == CV_UNDEF || (boolean && cv_truthy(*boolean) && !cv_truthy(v));
		*out = use ? (def ? *def : cv_str("", 0)) : v;
		return true;
	}
	if (nm(name, n, "string")) {
		return chat_tostr_at(R, at, v, out);
	}
	if (nm(name, n, "trim") || nm(name, n, "upper") || nm(name, n, "lower") || nm(name, n, "capitalize") ||
	    nm(name, n, "title") || nm(name, n, "replace") || nm(name, n, "wordcount") || nm(name, n, "indent")) {
		cv s;
		if (!chat_tostr_at(R, at, v, &s))
			return false;
		if (nm(name, n, "trim")) {
			size_t b, e;
			const cv *chars = chat_arg_get(A, 0, "chars");
			if (chars && chars->t != CV_NONE && !need_str(R, at, chars, "trim chars"))
				return false;
			strip_range(s, chars, 3, &b, &e);
			*out = cv_str(s.u.s.p + b, e - b);
			return true;
		}
		if (nm(name, n, "replace"))
			return do_replace(R, at, s, a0, a1, chat_arg_get(A, 2, "count"), out);
		if (nm(name, n, "wordcount")) {
			cv parts;
			if (!do_split(R, at, s, NULL, NULL, &parts))
				return false;
			*out = cv_int((int64_t)parts.u.l->n);
			return true;
		}
		if (nm(name, n, "indent")) {
			const cv *w = chat_arg_get(A, 0, "width"), *first = chat_arg_get(A, 1, "first"),
				 *blank = chat_arg_get(A, 2, "blank");
			char pad[64] = "    ";
			const char *padp = pad;
			size_t padn = 4;
			if (w && w->t == CV_INT) {
				padn = w->u.i < 0 ? 0 : w->u.i > 60 ? 60 : (size_t)w->u.i;
				memset(pad, ' ', padn);
			} else if (w && w->t == CV_STR) {
				padp = w->u.s.p;
				padn = w->u.s.n;
			}
			chat_buf b = {.limit = R->lim.max_output};
			bool at_line_start = first && cv_truthy(*first);
			bool want_blank = blank && cv_truthy(*blank);
			for (size_t i = 0; i < s.u.s.n; i++) {
				if (at_line_start && (want_blank || s.u.s.p[i] != '\n'))
					chat_buf_put(&b, padp, padn);
				at_line_start = s.u.s.p[i] == '\n';
				chat_buf_putc(&b, s.u.s.p[i]);
			}
			if (at_line_start && s.u.s.n == 0 && first && cv_truthy(*first) && want_blank)
				chat_buf_put(&b, padp, padn);
			bool ok = !(b.over || b.oom) && mkstr(R, at, b.p ? b.p : "", b.n, out);
			free(b.p);
			return ok ? true : chat_fail_at(R, at, CHAT_ERR_LIMIT, "string too long");
		}
		int mode = nm(name, n, "lower") ? 0 : nm(name, n, "upper") ? 1 : nm(name, n, "title") ? 2 : 3;
		return map_case(R, at, s, mode, out);
	}
	if (nm(name, n, "join"))
		return do_join(R, at, v, chat_arg_get(A, 0, "d"), chat_arg_get(A, 1, "attribute"), out);
	if (nm(name, n, "first") || nm(name, n, "last")) {
		cv_list *l;
		if (!chat_iter_list_at(R, at, v, &l))
			return false;
		if (l->n == 0)
			*out = chat_hint_at(R, "No %s item, sequence was empty.", nm(name, n, "first") ? "first" : "last");
		else
			*out = nm(name, n, "first") ? l->v[0] : l->v[l->n - 1];
		return !R->failed;
	}
	if (nm(name, n, "items") || nm(name, n, "dictsort")) {
		if (v.t == CV_UNDEF)
			return mklist(R, at, cv_list_new(R->a, 0), out);
		if (v.t != CV_DICT)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "Can only get item pairs from a mapping.");
		cv_list *l = cv_list_new(R->a, v.u.d->n);
		cv *keys = chat_arena_alloc(R->a, (v.u.d->n + 1) * sizeof(cv));
		if (!l || !keys)
			return chat_oom_at(R, at);
		for (size_t i = 0; i < v.u.d->n; i++) {
			cv_list *t = cv_list_new(R->a, 2);
			if (!t)
				return chat_oom_at(R, at);
			t->tuple = true;
			t->v[0] = v.u.d->k[i];
			t->v[1] = v.u.d->v[i];
			t->n = 2;
			l->v[i].t = CV_LIST;
			l->v[i].u.l = t;
			keys[i] = v.u.d->k[i];
		}
		l->n = v.u.d->n;
		if (nm(name, n, "dictsort")) {
			const cv *cs = chat_arg_get(A, 0, "case_sensitive"), *by = chat_arg_get(A, 1, "by"),
				 *rev = chat_arg_get(A, 2, "reverse");
			if (by && by->t == CV_STR && nm(by->u.s.p, by->u.s.n, "value"))
				for (size_t i = 0; i < l->n; i++)
					keys[i] = v.u.d->v[i];
			sort_ctx S = {.case_sensitive = cs && cv_truthy(*cs)};
			if (!sort_pairs(R, at, &S, keys, l->v, l->n))
				return false;
			if (rev && cv_truthy(*rev))
				for (size_t i = 0; i < l->n / 2; i++) {
					cv t = l->v[i];
					l->v[i] = l->v[l->n - 1 - i];
					l->v[l->n - 1 - i] = t;
				}
		}
		return mklist(R, at, l, out);
	}
	if (nm(name, n, "list")) {
		cv_list *l;
		if (!chat_iter_list_at(R, at, v, &l))
			return false;
		cv_list *c = cv_list_new(R->a, l->n);
		if (!c)
			return chat_oom_at(R, at);
		if (l->n)
			memcpy(c->v, l->v, l->n * sizeof(cv));
		c->n = l->n;
		return mklist(R, at, c, out);
	}
	if (nm(name, n, "int"))
		return to_int(R, at, v, chat_arg_get(A, 0, "default"), out);
	if (nm(name, n, "float"))
		return to_float(v, chat_arg_get(A, 0, "default"), out);
	if (nm(name, n, "abs")) {
		if (v.t == CV_INT && v.u.i != INT64_MIN)
			*out = cv_int(v.u.i < 0 ? -v.u.i : v.u.i);
		else if (v.t == CV_FLOAT)
			*out = cv_float(fabs(v.u.f));
		else if (v.t == CV_BOOL)
			*out = cv_int(v.u.b);
		else
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "bad operand type for abs(): '%s'", cv_type_name(v));
		return true;
	}
	if (nm(name, n, "round")) {
		const cv *prec = chat_arg_get(A, 0, "precision"), *meth = chat_arg_get(A, 1, "method");
		cv f;
		if (v.t != CV_INT && v.t != CV_FLOAT && v.t != CV_BOOL)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "round: '%s' is not a number", cv_type_name(v));
		to_float(v, NULL, &f);
		int64_t p = prec && prec->t == CV_INT ? prec->u.i : 0;
		if (p < -15)
			p = -15;
		if (p > 15)
			p = 15;
		double m = pow(10.0, (double)p), x = f.u.f * m;
		const char *how = meth && meth->t == CV_STR ? meth->u.s.p : "common";
		if (strncmp(how, "floor", 5) == 0)
			x = floor(x);
		else if (strncmp(how, "ceil", 4) == 0)
			x = ceil(x);
		else
			x = nearbyint(x); /* Python's round() goes to even on ties */
		*out = cv_float(x / m);
		return true;
	}
	if (nm(name, n, "reverse")) {
		if (v.t == CV_STR) {
			cv_list *l;
			if (!chat_iter_list_at(R, at, v, &l))
				return false;
			char *p = chat_arena_alloc(R->a, v.u.s.n + 1);
			if (!p)
				return chat_oom_at(R, at);
			size_t o = 0;
			for (size_t i = l->n; i-- > 0;) {
				memcpy(p + o, l->v[i].u.s.p, l->v[i].u.s.n);
				o += l->v[i].u.s.n;
			}
			*out = cv_str(p, o);
			return true;
		}
		cv_list *l;
		if (!chat_iter_list_at(R, at, v, &l))
			return false;
		cv_list *c = cv_list_new(R->a, l->n);
		if (!c)
			return chat_oom_at(R, at);
		for (size_t i = 0; i < l->n; i++)
			c->v[i] = l->v[l->n - 1 - i];
		c->n = l->n;
		return mklist(R, at, c, out);
	}
	if (nm(name, n, "sort") || nm(name, n, "unique") || nm(name, n, "min") || nm(name, n, "max") ||
	    nm(name, n, "sum")) {
		cv_list *l;
		if (!chat_iter_list_at(R, at, v, &l))
			return false;
		const cv *attr = chat_arg_get(A, nm(name, n, "sort") ? 2 : nm(name, n, "sum") ? 0 : 1, "attribute");
		if (nm(name, n, "sum")) {
			const cv *start = chat_arg_get(A, 1, "start");
			cv acc = start ? *start : cv_int(0);
			for (size_t i = 0; i < l->n; i++) {
				cv x = l->v[i];
				if (attr && attr->t == CV_STR && !attr_path(R, at, x, *attr, &x))
					return false;
				bool ai = acc.t == CV_INT, xi = x.t == CV_INT || x.t == CV_BOOL;
				if ((acc.t != CV_INT && acc.t != CV_FLOAT) || (!xi && x.t != CV_FLOAT))
					return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "sum: unsupported operand types");
				if (ai && xi) {
					if (__builtin_add_overflow(acc.u.i, x.t == CV_INT ? x.u.i : x.u.b, &acc.u.i))
						return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "integer overflow");
				} else {
					double a = acc.t == CV_INT ? (double)acc.u.i : acc.u.f;
					double b = x.t == CV_FLOAT ? x.u.f : x.t == CV_INT ? (double)x.u.i : x.u.b;
					acc = cv_float(a + b);
				}
			}
			*out = acc;
			return true;
		}
		const cv *cs = chat_arg_get(A, nm(name, n, "sort") ? 1 : 0, "case_sensitive");
		cv *keys = chat_arena_alloc(R->a, (l->n + 1) * sizeof(cv));
		cv_list *c = cv_list_new(R->a, l->n);
		if (!keys || !c)
			return chat_oom_at(R, at);
		for (size_t i = 0; i < l->n; i++) {
			keys[i] = l->v[i];
			if (attr && attr->t == CV_STR && !attr_path(R, at, l->v[i], *attr, &keys[i]))
				return false;
			c->v[i] = l->v[i];
		}
		c->n = l->n;
		sort_ctx S = {.case_sensitive = cs && cv_truthy(*cs)};
		if (nm(name, n, "unique")) {
			cv_list *u = cv_list_new(R->a, l->n);
			if (!u)
				return chat_oom_at(R, at);
			for (size_t i = 0; i < l->n; i++) {
				bool dup = false;
				for (size_t j = 0; j < i && !dup; j++) {
					S.err = false;
					dup = sort_cmp(&S, &keys[j], &keys[i]) == 0 && !S.err;
				}
				if (!dup)
					u->v[u->n++] = l->v[i];
			}
			return mklist(R, at, u, out);
		}
		if (!sort_pairs(R, at, &S, keys, c->v, c->n))
			return false;
		if (nm(name, n, "min") || nm(name, n, "max")) {
			if (c->n == 0)
				*out = chat_hint_at(R, "No aggregated item, sequence was empty.");
			else
				*out = nm(name, n, "min") ? c->v[0] : c->v[c->n - 1];
			return !R->failed;
		}
		const cv *rev = chat_arg_get(A, 0, "reverse");
		if (rev && cv_truthy(*rev))
			for (size_t i = 0; i < c->n / 2; i++) {
				cv t = c->v[i];
				c->v[i] = c->v[c->n - 1 - i];
				c->v[c->n - 1 - i] = t;
			}
		return mklist(R, at, c, out);
	}
	if (nm(name, n, "map") || nm(name, n, "selectattr") || nm(name, n, "rejectattr") || nm(name, n, "select") ||
	    nm(name, n, "reject")) {
		cv_list *l;
		if (!chat_iter_list_at(R, at, v, &l))
			return false;
		cv_list *res = cv_list_new(R->a, l->n);
		if (!res)
			return chat_oom_at(R, at);
		if (nm(name, n, "map")) {
			const cv *attr = chat_arg_get(A, 99, "attribute"), *def = chat_arg_get(A, 99, "default");
			for (size_t i = 0; i < l->n; i++) {
				cv x = l->v[i];
				if (attr) {
					if (!need_str(R, at, attr, "map attribute") || !attr_path(R, at, x, *attr, &x))
						return false;
					if (x.t == CV_UNDEF && def)
						x = *def;
				} else {
					if (!a0)
						return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "map requires a filter argument");
					if (!need_str(R, at, a0, "map filter name"))
						return false;
					chat_args sub = *A;
					sub.pos = A->npos > 1 ? A->pos + 1 : NULL;
					sub.npos = A->npos > 1 ? A->npos - 1 : 0;
					if (!chat_call_filter(R, at, a0->u.s.p, a0->u.s.n, x, &sub, &x))
						return false;
				}
				res->v[res->n++] = x;
			}
			return mklist(R, at, res, out);
		}
		bool by_attr = nm(name, n, "selectattr") || nm(name, n, "rejectattr");
		bool reject = nm(name, n, "rejectattr") || nm(name, n, "reject");
		size_t ti = by_attr ? 1 : 0;
		const cv *test = chat_arg_get(A, ti, NULL);
		if (by_attr && !need_str(R, at, a0, "attribute name"))
			return false;
		if (test && !need_str(R, at, test, "test name"))
			return false;
		chat_args sub = {0};
		if (A->npos > ti + 1) {
			sub.pos = A->pos + ti + 1;
			sub.npos = A->npos - ti - 1;
		}
		for (size_t i = 0; i < l->n; i++) {
			cv x = l->v[i];
			if (by_attr && !attr_path(R, at, x, *a0, &x))
				return false;
			bool r;
			if (test) {
				if (!chat_call_test(R, at, test->u.s.p, test->u.s.n, x, &sub, &r))
					return false;
			} else
				r = cv_truthy(x);
			if (r != reject)
				res->v[res->n++] = l->v[i];
		}
		return mklist(R, at, res, out);
	}
	if (nm(name, n, "format")) {
		/* printf-style: %s and %d/%i, %% only */
		cv fmt;
		if (!chat_tostr_at(R, at, v, &fmt))
			return false;
		chat_buf b = {.limit = R->lim.max_output};
		size_t ai = 0;
		for (size_t i = 0; i < fmt.u.s.n; i++) {
			char c = fmt.u.s.p[i];
			if (c != '%' || i + 1 >= fmt.u.s.n) {
				chat_buf_putc(&b, c);
				continue;
			}
			char k = fmt.u.s.p[++i];
			if (k == '%') {
				chat_buf_putc(&b, '%');
				continue;
			}
			if ((k != 's' && k != 'd' && k != 'i') || ai >= A->npos) {
				free(b.p);
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "format: unsupported format or not enough arguments");
			}
			cv x = A->pos[ai++], s;
			if (k != 's' && !to_int(R, at, x, NULL, &x)) {
				free(b.p);
				return false;
			}
			if (!chat_tostr_at(R, at, x, &s)) {
				free(b.p);
				return false;
			}
			chat_buf_put(&b, s.u.s.p, s.u.s.n);
		}
		bool ok = !(b.over || b.oom) && mkstr(R, at, b.p ? b.p : "", b.n, out);
		free(b.p);
		return ok ? true : chat_fail_at(R, at, CHAT_ERR_LIMIT, "string too long");
	}
	return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "No filter named '%.*s'.", pn(n), name);
}

static bool is_num(cv v) { return v.t == CV_INT || v.t == CV_FLOAT || v.t == CV_BOOL; }

bool chat_call_test(rctx *R, const node *at, const char *name, size_t n, cv v, const chat_args *A, bool *out)
{
	const cv *a0 = chat_arg_get(A, 0, NULL);
	if (nm(name, n, "defined"))
		*out = v.t != CV_UNDEF;
	else if (nm(name, n, "undefined"))
		*out = v.t == CV_UNDEF;
	else if (nm(name, n, "none"))
		*out = v.t == CV_NONE;
	else if (nm(name, n, "string"))
		*out = v.t == CV_STR;
	else if (nm(name, n, "number"))
		*out = is_num(v);
	else if (nm(name, n, "integer"))
		*out = v.t == CV_INT;
	else if (nm(name, n, "float"))
		*out = v.t == CV_FLOAT;
	else if (nm(name, n, "boolean"))
		*out = v.t == CV_BOOL;
	else if (nm(name, n, "true"))
		*out = v.t == CV_BOOL && v.u.b;
	else if (nm(name, n, "false"))
		*out = v.t == CV_BOOL && !v.u.b;
	else if (nm(name, n, "mapping"))
		*out = v.t == CV_DICT;
	else if (nm(name, n, "sequence"))
		*out = v.t == CV_LIST || v.t == CV_STR || v.t == CV_DICT;
	else if (nm(name, n, "iterable"))
		*out = v.t == CV_LIST || v.t == CV_STR || v.t == CV_DICT || v.t == CV_UNDEF;
	else if (nm(name, n, "callable"))
		*out = v.t == CV_MACRO || v.t == CV_FUNC;
	else if (nm(name, n, "odd") || nm(name, n, "even") || nm(name, n, "divisibleby")) {
		cv i;
		if (v.t != CV_INT && v.t != CV_BOOL)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "test '%.*s' needs an integer", pn(n), name);
		to_int(R, at, v, NULL, &i);
		if (nm(name, n, "divisibleby")) {
			if (!a0 || a0->t != CV_INT || a0->u.i == 0)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "divisibleby needs a non-zero integer");
			*out = a0->u.i == -1 || i.u.i % a0->u.i == 0;
		} else
			*out = (i.u.i % 2 != 0) == nm(name, n, "odd");
	} else if (nm(name, n, "eq") || nm(name, n, "equalto") || nm(name, n, "==") || nm(name, n, "sameas")) {
		if (!a0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "test '%.*s' needs an argument", pn(n), name);
		if (nm(name, n, "sameas"))
			*out = v.t == a0->t && ((v.t == CV_NONE) || (v.t == CV_BOOL && v.u.b == a0->u.b) ||
						(v.t != CV_BOOL && cv_equal(v, *a0) && v.t != CV_STR && v.t != CV_FLOAT));
		else
			*out = cv_equal(v, *a0);
	} else if (nm(name, n, "ne") || nm(name, n, "!=")) {
		if (!a0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "test 'ne' needs an argument");
		*out = !cv_equal(v, *a0);
	} else if (nm(name, n, "lt") || nm(name, n, "le") || nm(name, n, "gt") || nm(name, n, "ge") ||
		   nm(name, n, "lessthan") || nm(name, n, "greaterthan") || nm(name, n, "<") || nm(name, n, ">") ||
		   nm(name, n, "<=") || nm(name, n, ">=")) {
		int c;
		if (!a0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "comparison test needs an argument");
		if (!chat_compare_at(R, at, v, *a0, &c))
			return false;
		if (nm(name, n, "lt") || nm(name, n, "lessthan") || nm(name, n, "<"))
			*out = c < 0;
		else if (nm(name, n, "le") || nm(name, n, "<="))
			*out = c <= 0;
		else if (nm(name, n, "gt") || nm(name, n, "greaterthan") || nm(name, n, ">"))
			*out = c > 0;
		else
			*out = c >= 0;
	} else if (nm(name, n, "in")) {
		if (!a0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "test 'in' needs an argument");
		if (a0->t == CV_STR) {
			if (v.t != CV_STR)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "'in <string>' requires string as left operand");
			*out = false;
			for (size_t i = 0; i + v.u.s.n <= a0->u.s.n; i++)
				if (memcmp(a0->u.s.p + i, v.u.s.p, v.u.s.n) == 0) {
					*out = true;
					break;
				}
		} else if (a0->t == CV_LIST) {
			*out = false;
			for (size_t i = 0; i < a0->u.l->n; i++)
				if (cv_equal(a0->u.l->v[i], v))
					*out = true;
		} else if (a0->t == CV_DICT)
			*out = cv_dict_getv(a0->u.d, v) != NULL;
		else
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "argument of type '%s' is not iterable",
				       cv_type_name(*a0));
	} else if (nm(name, n, "lower") || nm(name, n, "upper")) {
		cv s, m;
		if (!chat_tostr_at(R, at, v, &s) || !map_case(R, at, s, nm(name, n, "upper"), &m))
			return false;
		*out = cv_equal(s, m);
	} else
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "No test named '%.*s'.", pn(n), name);
	return true;
}

static bool prefix_test(rctx *R, const node *at, cv s, const cv *arg, bool suffix, bool *out)
{
	if (!arg)
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "%s() takes at least 1 argument", suffix ? "endswith" : "startswith");
	size_t cnt = 1;
	const cv *opts = arg;
	if (arg->t == CV_LIST) {
		cnt = arg->u.l->n;
		opts = arg->u.l->v;
	}
	*out = false;
	for (size_t i = 0; i < cnt; i++) {
		if (!need_str(R, at, &opts[i], suffix ? "endswith argument" : "startswith argument"))
			return false;
		size_t k = opts[i].u.s.n;
		if (k <= s.u.s.n &&
		    memcmp(suffix ? s.u.s.p + s.u.s.n - k : s.u.s.p, opts[i].u.s.p, k) == 0)
			*out = true;
	}
	return true;
}

bool chat_call_method(rctx *R, const node *at, cv obj, const char *name, size_t n, const chat_args *A, cv *out,
		      bool *handled)
{
	const cv *a0 = chat_arg_get(A, 0, NULL), *a1 = chat_arg_get(A, 1, NULL);
	*handled = true;
	if (obj.t == CV_STR) {
		bool b = false;
		if (nm(name, n, "startswith") || nm(name, n, "endswith")) {
			if (!prefix_test(R, at, obj, a0, nm(name, n, "endswith"), &b))
				return false;
			*out = cv_bool(b);
			return true;
		}
		if (nm(name, n, "strip") || nm(name, n, "lstrip") || nm(name, n, "rstrip")) {
			if (a0 && a0->t != CV_NONE && !need_str(R, at, a0, "strip arg"))
				return false;
			size_t bb, e;
			strip_range(obj, a0, nm(name, n, "strip") ? 3 : nm(name, n, "lstrip") ? 1 : 2, &bb, &e);
			*out = cv_str(obj.u.s.p + bb, e - bb);
			return true;
		}
		if (nm(name, n, "split"))
			return do_split(R, at, obj, chat_arg_get(A, 0, "sep"), chat_arg_get(A, 1, "maxsplit"), out);
		if (nm(name, n, "replace"))
			return do_replace(R, at, obj, a0, a1, chat_arg_get(A, 2, "count"), out);
		if (nm(name, n, "upper") || nm(name, n, "lower") || nm(name, n, "title") || nm(name, n, "capitalize"))
			return map_case(R, at, obj,
					nm(name, n, "lower") ? 0 : nm(name, n, "upper") ? 1 : nm(name, n, "title") ? 2 : 3,
					out);
		if (nm(name, n, "find") || nm(name, n, "count") || nm(name, n, "rfind")) {
			if (!need_str(R, at, a0, "substring"))
				return false;
			size_t pos = 0, hit;
			int64_t cnt = 0, first = -1, last = -1;
			while (str_find(obj, *a0, pos, &hit)) {
				int64_t cpi = (int64_t)chat_utf8_len(obj.u.s.p, hit);
				if (first < 0)
					first = cpi;
				last = cpi;
				cnt++;
				pos = hit + (a0->u.s.n ? a0->u.s.n : 1);
				if (pos > obj.u.s.n)
					break;
			}
			*out = cv_int(nm(name, n, "count") ? cnt : nm(name, n, "find") ? first : last);
			return true;
		}
		if (nm(name, n, "join"))
			return do_join(R, at, a0 ? *a0 : cv_undef(NULL), &obj, NULL, out);
		if (nm(name, n, "isdigit") || nm(name, n, "isspace") || nm(name, n, "isalpha")) {
			bool all = obj.u.s.n > 0;
			size_t i = 0, l;
			while (all && i < obj.u.s.n) {
				int32_t c = dec(obj.u.s.p, obj.u.s.n, i, &l);
				utf8proc_category_t cat = utf8proc_category(c);
				if (nm(name, n, "isdigit"))
					all = cat == UTF8PROC_CATEGORY_ND;
				else if (nm(name, n, "isspace"))
					all = py_space(c);
				else
					all = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
				i += l;
			}
			*out = cv_bool(all);
			return true;
		}
		if (nm(name, n, "splitlines")) {
			cv_list *l = cv_list_new(R->a, 0);
			if (!l)
				return chat_oom_at(R, at);
			size_t st = 0;
			for (size_t i = 0; i < obj.u.s.n; i++)
				if (obj.u.s.p[i] == '\n' || obj.u.s.p[i] == '\r') {
					if (!cv_list_push(R->a, l, cv_str(obj.u.s.p + st, i - st)))
						return chat_oom_at(R, at);
					if (obj.u.s.p[i] == '\r' && i + 1 < obj.u.s.n && obj.u.s.p[i + 1] == '\n')
						i++;
					st = i + 1;
				}
			if (st < obj.u.s.n && !cv_list_push(R->a, l, cv_str(obj.u.s.p + st, obj.u.s.n - st)))
				return chat_oom_at(R, at);
			return mklist(R, at, l, out);
		}
	} else if (obj.t == CV_DICT) {
		if (nm(name, n, "get")) {
			if (!a0)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "get expected at least 1 argument");
			const cv *v = cv_dict_getv(obj.u.d, *a0);
			*out = v ? *v : a1 ? *a1 : cv_none();
			return true;
		}
		if (nm(name, n, "items")) {
			chat_args none = {0};
			return chat_call_filter(R, at, "items", 5, obj, &none, out);
		}
		if (nm(name, n, "keys") || nm(name, n, "values")) {
			cv_list *l = cv_list_new(R->a, obj.u.d->n);
			if (!l)
				return chat_oom_at(R, at);
			for (size_t i = 0; i < obj.u.d->n; i++)
				l->v[i] = nm(name, n, "keys") ? obj.u.d->k[i] : obj.u.d->v[i];
			l->n = obj.u.d->n;
			return mklist(R, at, l, out);
		}
		if (nm(name, n, "update") || nm(name, n, "pop") || nm(name, n, "setdefault") || nm(name, n, "clear") ||
		    nm(name, n, "popitem"))
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "access to attribute '%.*s' of 'dict' object is unsafe.",
				       pn(n), name);
		*handled = false;
		return true;
	} else if (obj.t == CV_LIST) {
		if (nm(name, n, "append") || nm(name, n, "pop") || nm(name, n, "extend") || nm(name, n, "insert") ||
		    nm(name, n, "remove") || nm(name, n, "clear") || nm(name, n, "sort") || nm(name, n, "reverse"))
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "access to attribute '%.*s' of 'list' object is unsafe.",
				       pn(n), name);
		if (nm(name, n, "index") || nm(name, n, "count")) {
			if (!a0)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "%.*s() takes exactly one argument", pn(n), name);
			int64_t cnt = 0, first = -1;
			for (size_t i = 0; i < obj.u.l->n; i++)
				if (cv_equal(obj.u.l->v[i], *a0)) {
					if (first < 0)
						first = (int64_t)i;
					cnt++;
				}
			if (nm(name, n, "index") && first < 0)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "value is not in list");
			*out = cv_int(nm(name, n, "index") ? first : cnt);
			return true;
		}
	} else if (obj.t == CV_LOOP && nm(name, n, "cycle")) {
		if (A->npos == 0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "no items for cycling given");
		*out = A->pos[obj.u.loop->index0 % A->npos];
		return true;
	}
	if (obj.t == CV_STR || obj.t == CV_LIST) {
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "'%s object' has no attribute '%.*s'", cv_type_name(obj), pn(n),
			       name);
	}
	*handled = false;
	return true;
}

bool chat_call_builtin(rctx *R, const node *at, int func, const chat_args *A, cv *out)
{
	const cv *a0 = chat_arg_get(A, 0, NULL);
	switch (func) {
	case CF_RAISE: {
		cv s = cv_str("", 0);
		if (a0 && !chat_tostr_at(R, at, *a0, &s))
			return false;
		return chat_fail_at(R, at, CHAT_ERR_RAISED, "%.*s", (int)(s.u.s.n > 480 ? 480 : s.u.s.n), s.u.s.p);
	}
	case CF_NAMESPACE:
	case CF_DICT: {
		cv_dict *d = cv_dict_new(R->a, A->nkw);
		if (!d)
			return chat_oom_at(R, at);
		if (a0) {
			if (a0->t != CV_DICT && a0->t != CV_NS)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "%s() argument must be a mapping",
					       func == CF_DICT ? "dict" : "namespace");
			for (size_t i = 0; i < a0->u.d->n; i++)
				if (!cv_dict_set(R->a, d, a0->u.d->k[i], a0->u.d->v[i]))
					return chat_oom_at(R, at);
		}
		for (size_t i = 0; i < A->nkw; i++) {
			if (func == CF_NAMESPACE && A->kwn[i]->sn && A->kwn[i]->s[0] == '_')
				return chat_fail_at(R, A->kwn[i], CHAT_ERR_RUNTIME,
					       "Chat templates cannot store underscore-prefixed attributes on a namespace");
			if (!cv_dict_set(R->a, d, cv_str(A->kwn[i]->s, A->kwn[i]->sn), A->kwv[i]))
				return chat_oom_at(R, at);
		}
		out->t = func == CF_DICT ? CV_DICT : CV_NS;
		out->u.d = d;
		return true;
	}
	case CF_STRFTIME: {
		if (!need_str(R, at, a0, "strftime_now format"))
			return false;
		char fmt[256], buf[512];
		if (a0->u.s.n >= sizeof fmt)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "strftime_now: format too long");
		memcpy(fmt, a0->u.s.p, a0->u.s.n);
		fmt[a0->u.s.n] = 0;
		time_t now = time(NULL);
		struct tm tmv;
		if (!localtime_r(&now, &tmv))
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "strftime_now: no local time");
		/* the format comes from the template by design (strftime_now(fmt)); strftime cannot overrun buf */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		size_t k = fmt[0] ? strftime(buf, sizeof buf, fmt, &tmv) : 0;
#pragma GCC diagnostic pop
		return mkstr(R, at, buf, k, out);
	}
	case CF_RANGE: {
		int64_t v[3] = {0, 0, 1};
		if (A->npos < 1 || A->npos > 3)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "range expected 1 to 3 arguments");
		for (size_t i = 0; i < A->npos; i++) {
			if (A->pos[i].t != CV_INT && A->pos[i].t != CV_BOOL)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "range() arguments must be integers");
			int64_t x = A->pos[i].t == CV_INT ? A->pos[i].u.i : A->pos[i].u.b;
			if (A->npos == 1)
				v[1] = x;
			else
				v[i] = x;
		}
		if (v[2] == 0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "range() arg 3 must not be zero");
		double cnt = v[2] > 0 ? ceil(((double)v[1] - (double)v[0]) / (double)v[2])
				      : ceil(((double)v[0] - (double)v[1]) / (double)-v[2]);
		if (cnt < 0)
			cnt = 0;
		if (cnt > (double)R->lim.max_iterations)
			return chat_fail_at(R, at, CHAT_ERR_LIMIT, "range too large (iteration limit %zu)", R->lim.max_iterations);
		cv_list *l = cv_list_new(R->a, (size_t)cnt);
		if (!l)
			return chat_oom_at(R, at);
		for (size_t i = 0; i < (size_t)cnt; i++)
			l->v[l->n++] = cv_int(v[0] + (int64_t)i * v[2]);
		return mklist(R, at, l, out);
	}
	}
	return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "unknown function");
}
