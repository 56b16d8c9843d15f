/* Tree-walking evaluator: statements, expressions, scoping, macros, and the public API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_eval.h"

enum { EX_OK = 0, EX_BREAK = 1, EX_CONTINUE = 2, EX_ERR = -1 };

bool chat_fail_at(rctx *R, const node *at, chat_status st, const char *fmt, ...)
{
	if (R->failed)
		return false;
	R->failed = true;
	if (R->err) {
		R->err->status = st;
		R->err->line = at ? at->line : 0;
		R->err->column = at ? at->col : 0;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(R->err->message, sizeof R->err->message, fmt, ap);
		va_end(ap);
	}
	return false;
}

bool chat_undef_at(rctx *R, const node *at, cv u)
{
	return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "%.*s", (int)(u.u.s.n > 400 ? 400 : u.u.s.n),
		       u.u.s.p ? u.u.s.p : "value is undefined");
}

bool chat_oom_at(rctx *R, const node *at)
{
	if (R->a->over)
		return chat_fail_at(R, at, CHAT_ERR_LIMIT, "render memory limit (%zu bytes) exceeded", R->lim.max_memory);
	return chat_fail_at(R, at, CHAT_ERR_NOMEM, "out of memory");
}

cv chat_hint_at(rctx *R, const char *fmt, ...)
{
	char tmp[300];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof tmp)
		n = sizeof tmp - 1;
	char *p = chat_arena_strdup(R->a, tmp, (size_t)n);
	return cv_undef(p ? p : "value is undefined");
}

static bool depth_in(rctx *R, const node *at)
{
	if (++R->depth > R->lim.max_depth) {
		R->depth--;
		return chat_fail_at(R, at, CHAT_ERR_LIMIT, "render nesting limit (%d) exceeded", R->lim.max_depth);
	}
	return true;
}

/* ---- scopes ---- */
static chat_frame *frame_new(rctx *R, chat_frame *parent)
{
	chat_frame *f = chat_arena_alloc(R->a, sizeof(*f));
	if (f)
		f->parent = parent;
	return f;
}

static bool frame_set(rctx *R, chat_frame *f, const char *p, size_t n, cv v)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->vars[i].n == n && memcmp(f->vars[i].p, p, n) == 0) {
			f->vars[i].v = v;
			return true;
		}
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 8;
		chat_var *nv = chat_arena_alloc(R->a, nc * sizeof(*nv));
		if (!nv)
			return false;
		if (f->n)
			memcpy(nv, f->vars, f->n * sizeof(*nv));
		f->vars = nv;
		f->cap = nc;
	}
	f->vars[f->n++] = (chat_var){p, n, v};
	return true;
}

static const cv *frame_lookup(const chat_frame *f, const char *p, size_t n)
{
	for (; f; f = f->parent)
		for (size_t i = f->n; i-- > 0;)
			if (f->vars[i].n == n && memcmp(f->vars[i].p, p, n) == 0)
				return &f->vars[i].v;
	return NULL;
}

static bool name_is(const char *p, size_t n, const char *s) { return strlen(s) == n && memcmp(p, s, n) == 0; }

/* ---- conversions ---- */
bool chat_tostr_at(rctx *R, const node *at, cv v, cv *out)
{
	if (v.t == CV_STR) {
		*out = v;
		return true;
	}
	chat_buf b = {.limit = R->lim.max_output};
	if (!cv_write_str(&b, v) && (b.over || b.oom)) {
		free(b.p);
		return b.over ? chat_fail_at(R, at, CHAT_ERR_LIMIT, "value too large to print") : chat_oom_at(R, at);
	}
	char *p = chat_arena_strdup(R->a, b.p ? b.p : "", b.n);
	size_t n = b.n;
	free(b.p);
	if (!p)
		return chat_oom_at(R, at);
	*out = cv_str(p, n);
	return true;
}

/* list(v): the items a for loop or filter walks */
bool chat_iter_list_at(rctx *R, const node *at, cv v, cv_list **out)
{
	switch (v.t) {
	case CV_LIST: *out = v.u.l; return true;
	case CV_UNDEF: *out = cv_list_new(R->a, 0); return *out ? true : chat_oom_at(R, at);
	case CV_DICT: {
		cv_list *l = cv_list_new(R->a, v.u.d->n);
		if (!l)
			return chat_oom_at(R, at);
		for (size_t i = 0; i < v.u.d->n; i++)
			l->v[i] = v.u.d->k[i];
		l->n = v.u.d->n;
		*out = l;
		return true;
	}
	case CV_STR: {
		/* Count with the splitting rule below, not chat_utf8_len: a string that starts with a
		 * stray continuation byte (invalid UTF-8 in the template) yields one more piece. */
		size_t cnt = 0;
		for (size_t i = 0; i < v.u.s.n; i++)
			if (i == 0 || ((unsigned char)v.u.s.p[i] & 0xC0) != 0x80)
				cnt++;
		cv_list *l = cv_list_new(R->a, cnt);
		if (!l)
			return chat_oom_at(R, at);
		size_t i = 0;
		while (i < v.u.s.n) {
			size_t j = i + 1;
			while (j < v.u.s.n && ((unsigned char)v.u.s.p[j] & 0xC0) == 0x80)
				j++;
			l->v[l->n++] = cv_str(v.u.s.p + i, j - i);
			i = j;
		}
		*out = l;
		return true;
	}
	default: return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "'%s' object is not iterable", cv_type_name(v));
	}
}

static const char *obj_desc(cv v)
{
	switch (v.t) {
	case CV_DICT: return "'dict object'";
	case CV_LIST: return v.u.l->tuple ? "'tuple object'" : "'list object'";
	case CV_STR: return "'str object'";
	case CV_INT: return "'int object'";
	case CV_FLOAT: return "'float object'";
	case CV_BOOL: return "'bool object'";
	case CV_NONE: return "'None'";
	case CV_NS: return "'Namespace object'";
	case CV_LOOP: return "'LoopContext object'";
	default: return "'object'";
	}
}

static bool loop_attr(rctx *R, const cv_loop *L, const char *name, size_t n, cv *out)
{
	int64_t i0 = (int64_t)L->index0, len = (int64_t)L->length;
	if (name_is(name, n, "index"))
		*out = cv_int(i0 + 1);
	else if (name_is(name, n, "index0"))
		*out = cv_int(i0);
	else if (name_is(name, n, "first"))
		*out = cv_bool(i0 == 0);
	else if (name_is(name, n, "last"))
		*out = cv_bool(i0 == len - 1);
	else if (name_is(name, n, "length"))
		*out = cv_int(len);
	else if (name_is(name, n, "revindex"))
		*out = cv_int(len - i0);
	else if (name_is(name, n, "revindex0"))
		*out = cv_int(len - i0 - 1);
	else if (name_is(name, n, "depth"))
		*out = cv_int(1);
	else if (name_is(name, n, "depth0"))
		*out = cv_int(0);
	else if (name_is(name, n, "previtem"))
		*out = i0 > 0 ? L->items->v[i0 - 1] : chat_hint_at(R, "there is no previous item");
	else if (name_is(name, n, "nextitem"))
		*out = i0 + 1 < len ? L->items->v[i0 + 1] : chat_hint_at(R, "there is no next item");
	else
		*out = chat_hint_at(R, "'LoopContext object' has no attribute '%.*s'", (int)(n > 100 ? 100 : n), name);
	return true;
}

bool chat_getattr_at(rctx *R, const node *at, cv obj, const char *name, size_t n, cv *out)
{
	int pn = (int)(n > 100 ? 100 : n);
	switch (obj.t) {
	case CV_UNDEF: return chat_undef_at(R, at, obj);
	case CV_DICT:
	case CV_NS: {
		const cv *v = cv_dict_get(obj.u.d, name, n);
		if (v) {
			*out = *v;
			return true;
		}
		break;
	}
	case CV_LOOP: return loop_attr(R, obj.u.loop, name, n, out);
	default: break;
	}
	*out = chat_hint_at(R, "%s has no attribute '%.*s'", obj_desc(obj), pn, name);
	return !R->failed;
}

/* Python slice index normalisation for a sequence of length len */
static bool slice_bounds(rctx *R, const node *at, const cv *s0, const cv *s1, const cv *st, int64_t len,
			 int64_t *start, int64_t *stop, int64_t *step)
{
	*step = 1;
	if (st && st->t != CV_NONE) {
		if (st->t != CV_INT)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "slice indices must be integers or None");
		*step = st->u.i;
		if (*step == 0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "slice step cannot be zero");
	}
	int64_t lo_def = *step < 0 ? len - 1 : 0, hi_def = *step < 0 ? -1 : len;
	const cv *in[2] = {s0, s1};
	int64_t *o[2] = {start, stop};
	for (int k = 0; k < 2; k++) {
		if (!in[k] || in[k]->t == CV_NONE) {
			*o[k] = k == 0 ? lo_def : hi_def;
			continue;
		}
		if (in[k]->t != CV_INT && in[k]->t != CV_BOOL)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "slice indices must be integers or None");
		int64_t v = in[k]->t == CV_INT ? in[k]->u.i : in[k]->u.b;
		if (v < 0) {
			v = v < -len ? (*step < 0 ? -1 : 0) : v + len;
		} else if (v >= len)
			v = *step < 0 ? len - 1 : len;
		*o[k] = v;
	}
	return true;
}

static bool do_slice(rctx *R, const node *at, cv obj, const cv *s0, const cv *s1, const cv *st, cv *out)
{
	if (obj.t == CV_UNDEF)
		return chat_undef_at(R, at, obj);
	if (obj.t != CV_LIST && obj.t != CV_STR)
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "'%s' object is not subscriptable", cv_type_name(obj));
	cv_list *items = NULL;
	if (obj.t == CV_STR) {
		if (!chat_iter_list_at(R, at, obj, &items))
			return false;
	} else
		items = obj.u.l;
	int64_t len = (int64_t)items->n, a = 0, b = 0, st_ = 1;
	if (!slice_bounds(R, at, s0, s1, st, len, &a, &b, &st_))
		return false;
	cv_list *res = cv_list_new(R->a, 0);
	if (!res)
		return chat_oom_at(R, at);
	for (int64_t i = a; st_ > 0 ? i < b : i > b; i += st_)
		if (i >= 0 && i < len && !cv_list_push(R->a, res, items->v[i]))
			return chat_oom_at(R, at);
	if (obj.t == CV_LIST) {
		res->tuple = obj.u.l->tuple;
		out->t = CV_LIST;
		out->u.l = res;
		return true;
	}
	size_t total = 0;
	for (size_t i = 0; i < res->n; i++)
		total += res->v[i].u.s.n;
	char *p = chat_arena_alloc(R->a, total + 1);
	if (!p)
		return chat_oom_at(R, at);
	size_t o = 0;
	for (size_t i = 0; i < res->n; i++) {
		memcpy(p + o, res->v[i].u.s.p, res->v[i].u.s.n);
		o += res->v[i].u.s.n;
	}
	*out = cv_str(p, o);
	return true;
}

bool chat_getitem_at(rctx *R, const node *at, cv obj, cv key, cv *out)
{
	if (obj.t == CV_UNDEF)
		return chat_undef_at(R, at, obj);
	if (obj.t == CV_DICT || obj.t == CV_NS) {
		const cv *v = cv_dict_getv(obj.u.d, key);
		if (v) {
			*out = *v;
			return true;
		}
	} else if ((obj.t == CV_LIST || obj.t == CV_STR) && (key.t == CV_INT || key.t == CV_BOOL)) {
		int64_t i = key.t == CV_INT ? key.u.i : key.u.b;
		int64_t len = obj.t == CV_LIST ? (int64_t)obj.u.l->n : (int64_t)chat_utf8_len(obj.u.s.p, obj.u.s.n);
		int64_t j = i < 0 ? i + len : i;
		if (j >= 0 && j < len) {
			if (obj.t == CV_LIST)
				*out = obj.u.l->v[j];
			else {
				size_t b0 = chat_utf8_offset(obj.u.s.p, obj.u.s.n, (size_t)j);
				size_t b1 = chat_utf8_offset(obj.u.s.p, obj.u.s.n, (size_t)j + 1);
				*out = cv_str(obj.u.s.p + b0, b1 - b0);
			}
			return true;
		}
		*out = chat_hint_at(R, "%s has no element %lld", obj_desc(obj), (long long)i);
		return !R->failed;
	} else if (obj.t == CV_LOOP && key.t == CV_STR)
		return loop_attr(R, obj.u.loop, key.u.s.p, key.u.s.n, out);
	if (key.t == CV_STR) {
		*out = chat_hint_at(R, "%s has no attribute '%.*s'", obj_desc(obj), (int)(key.u.s.n > 100 ? 100 : key.u.s.n),
			       key.u.s.p);
		return !R->failed;
	}
	chat_buf b = {.limit = 100};
	cv_write_repr(&b, key);
	*out = chat_hint_at(R, "%s has no element %s", obj_desc(obj), b.p ? b.p : "?");
	free(b.p);
	return !R->failed;
}

static bool num_val(cv v, double *f, int64_t *i, bool *is_int)
{
	switch (v.t) {
	case CV_BOOL: *i = v.u.b; *f = v.u.b; *is_int = true; return true;
	case CV_INT: *i = v.u.i; *f = (double)v.u.i; *is_int = true; return true;
	case CV_FLOAT: *f = v.u.f; *is_int = false; return true;
	default: return false;
	}
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c < 0 ? -1 : 1;
	return an < bn ? -1 : an > bn;
}

bool chat_compare_at(rctx *R, const node *at, cv a, cv b, int *cmp)
{
	double fa = 0, fb = 0;
	int64_t ia = 0, ib = 0;
	bool inta = false, intb = false;
	if (a.t == CV_UNDEF)
		return chat_undef_at(R, at, a);
	if (b.t == CV_UNDEF)
		return chat_undef_at(R, at, b);
	if (num_val(a, &fa, &ia, &inta) && num_val(b, &fb, &ib, &intb)) {
		if (inta && intb)
			*cmp = ia < ib ? -1 : ia > ib;
		else
			*cmp = fa < fb ? -1 : fa > fb;
		return true;
	}
	if (a.t == CV_STR && b.t == CV_STR) {
		/* UTF-8 byte order equals code point order */
		*cmp = bytes_cmp(a.u.s.p, a.u.s.n, b.u.s.p, b.u.s.n);
		return true;
	}
	if (a.t == CV_LIST && b.t == CV_LIST) {
		size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
		for (size_t i = 0; i < n; i++) {
			if (cv_equal(a.u.l->v[i], b.u.l->v[i]))
				continue;
			return chat_compare_at(R, at, a.u.l->v[i], b.u.l->v[i], cmp);
		}
		*cmp = a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
		return true;
	}
	return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "'<' not supported between instances of '%s' and '%s'",
		       cv_type_name(a), cv_type_name(b));
}

static bool str_concat(rctx *R, const node *at, cv a, cv b, cv *out)
{
	size_t n;
	if (__builtin_add_overflow(a.u.s.n, b.u.s.n, &n) || n > R->lim.max_output)
		return chat_fail_at(R, at, CHAT_ERR_LIMIT, "string too long (output limit %zu bytes)", R->lim.max_output);
	char *p = chat_arena_alloc(R->a, n + 1);
	if (!p)
		return chat_oom_at(R, at);
	memcpy(p, a.u.s.p, a.u.s.n);
	memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
	*out = cv_str(p, n);
	return true;
}

static bool type_err(rctx *R, const node *at, const char *op, cv a, cv b)
{
	return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "unsupported operand type(s) for %s: '%s' and '%s'", op,
		       cv_type_name(a), cv_type_name(b));
}

static bool repeat_seq(rctx *R, const node *at, cv s, int64_t k, cv *out)
{
	if (k < 0)
		k = 0;
	if (s.t == CV_STR) {
		size_t n;
		if (__builtin_mul_overflow(s.u.s.n, (size_t)k, &n) || n > R->lim.max_output)
			return chat_fail_at(R, at, CHAT_ERR_LIMIT, "string too long (output limit %zu bytes)",
				       R->lim.max_output);
		char *p = chat_arena_alloc(R->a, n + 1);
		if (!p)
			return chat_oom_at(R, at);
		for (int64_t i = 0; i < k; i++)
			memcpy(p + (size_t)i * s.u.s.n, s.u.s.p, s.u.s.n);
		*out = cv_str(p, n);
		return true;
	}
	size_t n;
	if (__builtin_mul_overflow(s.u.l->n, (size_t)k, &n) || n > R->lim.max_iterations)
		return chat_fail_at(R, at, CHAT_ERR_LIMIT, "list too long");
	cv_list *l = cv_list_new(R->a, n);
	if (!l)
		return chat_oom_at(R, at);
	for (int64_t i = 0; i < k; i++)
		for (size_t j = 0; j < s.u.l->n; j++)
			l->v[l->n++] = s.u.l->v[j];
	out->t = CV_LIST;
	out->u.l = l;
	return true;
}

static bool arith(rctx *R, const node *at, int op, cv a, cv b, cv *out)
{
	static const char *const names[] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/",
					    [OP_FLOORDIV] = "//", [OP_MOD] = "%", [OP_POW] = "**"};
	if (a.t == CV_UNDEF)
		return chat_undef_at(R, at, a);
	if (b.t == CV_UNDEF)
		return chat_undef_at(R, at, b);
	double fa = 0, fb = 0;
	int64_t ia = 0, ib = 0;
	bool inta = false, intb = false;
	bool na = num_val(a, &fa, &ia, &inta), nb = num_val(b, &fb, &ib, &intb);
	if (op == OP_ADD && a.t == CV_STR && b.t == CV_STR)
		return str_concat(R, at, a, b, out);
	if (op == OP_ADD && a.t == CV_LIST && b.t == CV_LIST) {
		cv_list *l = cv_list_new(R->a, a.u.l->n + b.u.l->n);
		if (!l)
			return chat_oom_at(R, at);
		if (a.u.l->n)
			memcpy(l->v, a.u.l->v, a.u.l->n * sizeof(cv));
		if (b.u.l->n)
			memcpy(l->v + a.u.l->n, b.u.l->v, b.u.l->n * sizeof(cv));
		l->n = a.u.l->n + b.u.l->n;
		l->tuple = a.u.l->tuple;
		out->t = CV_LIST;
		out->u.l = l;
		return true;
	}
	if (op == OP_MUL && (a.t == CV_STR || a.t == CV_LIST) && nb && intb)
		return repeat_seq(R, at, a, ib, out);
	if (op == OP_MUL && (b.t == CV_STR || b.t == CV_LIST) && na && inta)
		return repeat_seq(R, at, b, ia, out);
	if (op == OP_ADD && a.t == CV_STR)
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "can only concatenate str (not \"%s\") to str", cv_type_name(b));
	if (!na || !nb)
		return type_err(R, at, names[op], a, b);
	bool ints = inta && intb;
	int64_t r;
	switch (op) {
	case OP_ADD:
		if (ints) {
			if (__builtin_add_overflow(ia, ib, &r))
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "integer overflow");
			*out = cv_int(r);
		} else
			*out = cv_float(fa + fb);
		return true;
	case OP_SUB:
		if (ints) {
			if (__builtin_sub_overflow(ia, ib, &r))
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "integer overflow");
			*out = cv_int(r);
		} else
			*out = cv_float(fa - fb);
		return true;
	case OP_MUL:
		if (ints) {
			if (__builtin_mul_overflow(ia, ib, &r))
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "integer overflow");
			*out = cv_int(r);
		} else
			*out = cv_float(fa * fb);
		return true;
	case OP_DIV:
		if (fb == 0)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "division by zero");
		*out = cv_float(fa / fb);
		return true;
	case OP_FLOORDIV:
	case OP_MOD:
		if (ints) {
			if (ib == 0)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "integer division or modulo by zero");
			if (ia == INT64_MIN && ib == -1)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "integer overflow");
			int64_t q = ia / ib, m = ia % ib;
			if (m != 0 && ((m < 0) != (ib < 0))) {
				q -= 1;
				m += ib;
			}
			*out = cv_int(op == OP_FLOORDIV ? q : m);
		} else {
			if (fb == 0)
				return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "float division by zero");
			double m = fmod(fa, fb);
			if (m != 0 && ((m < 0) != (fb < 0)))
				m += fb; /* Python's modulo takes the divisor's sign */
			*out = cv_float(op == OP_FLOORDIV ? floor(fa / fb) : m);
		}
		return true;
	case OP_POW:
		if (ints && ib >= 0) {
			int64_t acc = 1;
			for (int64_t k = 0; k < ib; k++) {
				if (__builtin_mul_overflow(acc, ia, &acc))
					return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "integer overflow");
				if (acc == 0 || acc == 1)
					break;
			}
			if (acc == 1 && ia == -1 && (ib & 1))
				acc = -1;
			*out = cv_int(acc);
		} else
			*out = cv_float(pow(fa, fb));
		return true;
	}
	return type_err(R, at, "?", a, b);
}

static bool contains(rctx *R, const node *at, cv item, cv seq, bool *res)
{
	switch (seq.t) {
	case CV_STR:
		if (item.t != CV_STR)
			return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "'in <string>' requires string as left operand, not %s",
				       cv_type_name(item));
		if (item.u.s.n == 0)
			*res = true;
		else {
			*res = false;
			for (size_t i = 0; i + item.u.s.n <= seq.u.s.n; i++)
				if (memcmp(seq.u.s.p + i, item.u.s.p, item.u.s.n) == 0) {
					*res = true;
					break;
				}
		}
		return true;
	case CV_LIST:
		*res = false;
		for (size_t i = 0; i < seq.u.l->n; i++)
			if (cv_equal(seq.u.l->v[i], item)) {
				*res = true;
				break;
			}
		return true;
	case CV_DICT: *res = cv_dict_getv(seq.u.d, item) != NULL; return true;
	case CV_UNDEF: *res = false; return true;
	default:
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "argument of type '%s' is not iterable", cv_type_name(seq));
	}
}

static bool eval(rctx *R, const node *n, cv *out);

static bool eval_args(rctx *R, const node *call, chat_args *A)
{
	memset(A, 0, sizeof(*A));
	if (!call->nkids)
		return true;
	A->pos = chat_arena_alloc(R->a, call->nkids * sizeof(cv));
	A->kwv = chat_arena_alloc(R->a, call->nkids * sizeof(cv));
	A->kwn = chat_arena_alloc(R->a, call->nkids * sizeof(node *));
	if (!A->pos || !A->kwv || !A->kwn)
		return chat_oom_at(R, call);
	for (size_t i = 0; i < call->nkids; i++) {
		const node *k = call->kids[i];
		if (k->kind == N_KWARG) {
			for (size_t j = 0; j < A->nkw; j++)
				if (A->kwn[j]->sn == k->sn && memcmp(A->kwn[j]->s, k->s, k->sn) == 0)
					return chat_fail_at(R, k, CHAT_ERR_RUNTIME, "keyword argument repeated");
			A->kwn[A->nkw] = k;
			if (!eval(R, k->a, &A->kwv[A->nkw]))
				return false;
			A->nkw++;
		} else if (!eval(R, k, &A->pos[A->npos++]))
			return false;
	}
	return true;
}

const cv *chat_arg_get(const chat_args *A, size_t i, const char *name)
{
	if (i < A->npos)
		return &A->pos[i];
	if (name)
		for (size_t j = 0; j < A->nkw; j++)
			if (name_is(A->kwn[j]->s, A->kwn[j]->sn, name))
				return &A->kwv[j];
	return NULL;
}

static int exec(rctx *R, const node *n);

/* renders body into a fresh buffer and returns it as a string value */
static bool capture(rctx *R, const node *body, chat_frame *f, cv *out)
{
	chat_buf b = {.limit = R->lim.max_output};
	chat_buf *saved = R->out;
	chat_frame *saved_f = R->frame;
	R->out = &b;
	R->frame = f;
	int rc = exec(R, body);
	R->out = saved;
	R->frame = saved_f;
	if (rc == EX_ERR) {
		free(b.p);
		return false;
	}
	char *p = chat_arena_strdup(R->a, b.p ? b.p : "", b.n);
	size_t len = b.n;
	free(b.p);
	if (!p)
		return chat_oom_at(R, body);
	*out = cv_str(p, len);
	return true;
}

static bool call_macro(rctx *R, const node *at, const node *m, const chat_args *A, const node *caller, cv *out)
{
	chat_frame *f = frame_new(R, R->root);
	if (!f)
		return chat_oom_at(R, at);
	if (A->npos > m->nkids)
		return chat_fail_at(R, at, CHAT_ERR_RUNTIME, "macro '%.*s' takes not more than %zu argument(s)",
			       (int)(m->sn > 100 ? 100 : m->sn), m->s ? m->s : "caller", m->nkids);
	for (size_t j = 0; j < A->nkw; j++) {
		bool found = false;
		for (size_t i = 0; i < m->nkids; i++)
			if (m->kids[i]->sn == A->kwn[j]->sn && memcmp(m->kids[i]->s, A->kwn[j]->s, m->kids[i]->sn) == 0)
				found = true;
		if (!found)
			return chat_fail_at(R, A->kwn[j], CHAT_ERR_RUNTIME, "macro '%.*s' takes no keyword argument '%.*s'",
				       (int)(m->sn > 100 ? 100 : m->sn), m->s ? m->s : "caller",
				       (int)(A->kwn[j]->sn > 100 ? 100 : A->kwn[j]->sn), A->kwn[j]->s);
	}
	chat_frame *saved_f = R->frame;
	R->frame = f; /* defaults may refer to earlier parameters */
	for (size_t i = 0; i < m->nkids; i++) {
		const node *p = m->kids[i];
		cv v;
		const cv *given = i < A->npos ? &A->pos[i] : NULL;
		for (size_t j = 0; !given && j < A->nkw; j++)
			if (A->kwn[j]->sn == p->sn && memcmp(A->kwn[j]->s, p->s, p->sn) == 0)
				given = &A->kwv[j];
		if (given)
			v = *given;
		else if (p->a) {
			if (!eval(R, p->a, &v)) {
				R->frame = saved_f;
				return false;
			}
		} else
			v = chat_hint_at(R, "parameter '%.*s' was not provided", (int)(p->sn > 100 ? 100 : p->sn), p->s);
		if (!frame_set(R, f, p->s, p->sn, v)) {
			R->frame = saved_f;
			return chat_oom_at(R, at);
		}
	}
	R->frame = saved_f;
	if (caller) {
		cv c = {.t = CV_MACRO};
		c.u.macro = caller;
		if (!frame_set(R, f, "caller", 6, c))
			return chat_oom_at(R, at);
	}
	if (!depth_in(R, at))
		return false;
	bool ok = capture(R, m->d, f, out);
	R->depth--;
	return ok;
}

static bool eval_call(rctx *R, const node *n, const node *caller, cv *out)
{
	chat_args A;
	const node *cal = n->a;
	if (cal->kind == N_ATTR) {
		cv obj;
		if (!eval(R, cal->a, &obj))
			return false;
		if (obj.t == CV_UNDEF)
			return chat_undef_at(R, n, obj);
		if (obj.t == CV_STR || obj.t == CV_LIST || obj.t == CV_DICT || obj.t == CV_LOOP) {
			bool handled = false;
			if (!eval_args(R, n, &A))
				return false;
			if (!chat_call_method(R, n, obj, cal->s, cal->sn, &A, out, &handled))
				return false;
			if (handled)
				return true;
		}
		cv fn;
		if (!chat_getattr_at(R, cal, obj, cal->s, cal->sn, &fn))
			return false;
		if (fn.t == CV_UNDEF)
			return chat_undef_at(R, n, fn);
		if (fn.t != CV_MACRO && fn.t != CV_FUNC)
			return chat_fail_at(R, n, CHAT_ERR_RUNTIME, "'%s' object is not callable", cv_type_name(fn));
		if (!eval_args(R, n, &A))
			return false;
		return fn.t == CV_MACRO ? call_macro(R, n, fn.u.macro, &A, caller, out)
					: chat_call_builtin(R, n, fn.u.func, &A, out);
	}
	cv fn;
	if (!eval(R, cal, &fn))
		return false;
	if (fn.t == CV_UNDEF)
		return chat_undef_at(R, n, fn);
	if (fn.t != CV_MACRO && fn.t != CV_FUNC)
		return chat_fail_at(R, n, CHAT_ERR_RUNTIME, "'%s' object is not callable", cv_type_name(fn));
	if (!eval_args(R, n, &A))
		return false;
	if (fn.t == CV_MACRO)
		return call_macro(R, n, fn.u.macro, &A, caller, out);
	return chat_call_builtin(R, n, fn.u.func, &A, out);
}

static bool lookup_name(rctx *R, const node *n, cv *out)
{
	const cv *v = frame_lookup(R->frame, n->s, n->sn);
	if (v) {
		*out = *v;
		return true;
	}
	static const struct {
		const char *name;
		int id;
	} globals[] = {{"raise_exception", CF_RAISE}, {"namespace", CF_NAMESPACE}, {"strftime_now", CF_STRFTIME},
		       {"range", CF_RANGE},           {"dict", CF_DICT}};
	for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
		if (name_is(n->s, n->sn, globals[i].name)) {
			out->t = CV_FUNC;
			out->u.func = globals[i].id;
			return true;
		}
	*out = chat_hint_at(R, "'%.*s' is undefined", (int)(n->sn > 100 ? 100 : n->sn), n->s);
	return !R->failed;
}

static bool eval_test(rctx *R, const node *n, cv *out)
{
	cv v;
	chat_args A;
	/* "x is defined" must not fail on undefined x, so plain evaluation is fine: undefined is a value */
	if (!eval(R, n->a, &v) || !eval_args(R, n, &A))
		return false;
	bool r;
	if (!chat_call_test(R, n, n->s, n->sn, v, &A, &r))
		return false;
	*out = cv_bool(n->op ? !r : r);
	return true;
}

static bool eval_filter(rctx *R, const node *n, cv operand, cv *out)
{
	chat_args A;
	if (!eval_args(R, n, &A))
		return false;
	return chat_call_filter(R, n, n->s, n->sn, operand, &A, out);
}

/* applies a filter chain whose innermost operand is NULL (filter blocks, set blocks) */
static bool apply_chain(rctx *R, const node *f, cv v, cv *out)
{
	if (!f) {
		*out = v;
		return true;
	}
	cv inner;
	if (!apply_chain(R, f->a, v, &inner))
		return false;
	return eval_filter(R, f, inner, out);
}

static bool eval(rctx *R, const node *n, cv *out)
{
	if (!depth_in(R, n))
		return false;
	bool ok = true;
	cv a, b;
	switch (n->kind) {
	case N_CONST: *out = n->k; break;
	case N_NAME: ok = lookup_name(R, n, out); break;
	case N_LIST:
	case N_TUPLE: {
		cv_list *l = cv_list_new(R->a, n->nkids);
		if (!l) {
			ok = chat_oom_at(R, n);
			break;
		}
		l->tuple = n->kind == N_TUPLE;
		for (size_t i = 0; ok && i < n->nkids; i++)
			ok = eval(R, n->kids[i], &l->v[l->n++]);
		out->t = CV_LIST;
		out->u.l = l;
		break;
	}
	case N_DICT: {
		cv_dict *d = cv_dict_new(R->a, n->nkids / 2);
		if (!d) {
			ok = chat_oom_at(R, n);
			break;
		}
		for (size_t i = 0; ok && i + 1 < n->nkids; i += 2) {
			ok = eval(R, n->kids[i], &a) && eval(R, n->kids[i + 1], &b);
			if (ok && (a.t == CV_LIST && !a.u.l->tuple))
				ok = chat_fail_at(R, n->kids[i], CHAT_ERR_RUNTIME, "unhashable type: 'list'");
			if (ok && (a.t == CV_DICT || a.t == CV_UNDEF))
				ok = a.t == CV_UNDEF ? chat_undef_at(R, n->kids[i], a)
						     : chat_fail_at(R, n->kids[i], CHAT_ERR_RUNTIME, "unhashable type: 'dict'");
			if (ok && !cv_dict_set(R->a, d, a, b))
				ok = chat_oom_at(R, n);
		}
		out->t = CV_DICT;
		out->u.d = d;
		break;
	}
	case N_ATTR: ok = eval(R, n->a, &a) && chat_getattr_at(R, n, a, n->s, n->sn, out); break;
	case N_ITEM: ok = eval(R, n->a, &a) && eval(R, n->b, &b) && chat_getitem_at(R, n, a, b, out); break;
	case N_SLICE: {
		cv s[3];
		const node *p[3] = {n->b, n->c, n->d};
		ok = eval(R, n->a, &a);
		for (int i = 0; ok && i < 3; i++)
			if (p[i])
				ok = eval(R, p[i], &s[i]);
		if (ok)
			ok = do_slice(R, n, a, p[0] ? &s[0] : NULL, p[1] ? &s[1] : NULL, p[2] ? &s[2] : NULL, out);
		break;
	}
	case N_CALL: ok = eval_call(R, n, NULL, out); break;
	case N_FILTER: ok = eval(R, n->a, &a) && eval_filter(R, n, a, out); break;
	case N_TEST: ok = eval_test(R, n, out); break;
	case N_UNARY:
		ok = eval(R, n->a, &a);
		if (!ok)
			break;
		if (n->op == OP_NOT)
			*out = cv_bool(!cv_truthy(a));
		else if (a.t == CV_UNDEF)
			ok = chat_undef_at(R, n, a);
		else if (a.t == CV_INT) {
			if (n->op == OP_NEG && a.u.i == INT64_MIN)
				ok = chat_fail_at(R, n, CHAT_ERR_RUNTIME, "integer overflow");
			else
				*out = cv_int(n->op == OP_NEG ? -a.u.i : a.u.i);
		} else if (a.t == CV_BOOL)
			*out = cv_int(n->op == OP_NEG ? -(int64_t)a.u.b : a.u.b);
		else if (a.t == CV_FLOAT)
			*out = cv_float(n->op == OP_NEG ? -a.u.f : a.u.f);
		else
			ok = chat_fail_at(R, n, CHAT_ERR_RUNTIME, "bad operand type for unary %s: '%s'",
				     n->op == OP_NEG ? "-" : "+", cv_type_name(a));
		break;
	case N_BINARY:
		if (n->op == OP_AND || n->op == OP_OR) {
			ok = eval(R, n->a, &a);
			if (ok) {
				bool t = cv_truthy(a);
				if ((n->op == OP_AND) == t)
					ok = eval(R, n->b, out);
				else
					*out = a;
			}
			break;
		}
		ok = eval(R, n->a, &a) && eval(R, n->b, &b);
		if (!ok)
			break;
		switch (n->op) {
		case OP_CONCAT: {
			cv sa, sb;
			ok = chat_tostr_at(R, n, a, &sa) && chat_tostr_at(R, n, b, &sb) && str_concat(R, n, sa, sb, out);
			break;
		}
		case OP_EQ: *out = cv_bool(cv_equal(a, b)); break;
		case OP_NE: *out = cv_bool(!cv_equal(a, b)); break;
		case OP_LT:
		case OP_LE:
		case OP_GT:
		case OP_GE: {
			int c = 0;
			ok = chat_compare_at(R, n, a, b, &c);
			bool r = n->op == OP_LT ? c < 0 : n->op == OP_LE ? c <= 0 : n->op == OP_GT ? c > 0 : c >= 0;
			*out = cv_bool(r);
			break;
		}
		case OP_IN:
		case OP_NOTIN: {
			bool r = false;
			ok = contains(R, n, a, b, &r);
			*out = cv_bool(n->op == OP_IN ? r : !r);
			break;
		}
		default: ok = arith(R, n, n->op, a, b, out);
		}
		break;
	case N_COND:
		ok = eval(R, n->a, &a);
		if (ok) {
			if (cv_truthy(a))
				ok = eval(R, n->b, out);
			else if (n->c)
				ok = eval(R, n->c, out);
			else
				*out = chat_hint_at(R, "the inline if-expression on line %d evaluated to false and no else "
						  "section was defined.",
					       n->line);
		}
		break;
	default: ok = chat_fail_at(R, n, CHAT_ERR_RUNTIME, "internal error: statement used as expression");
	}
	R->depth--;
	return ok && !R->failed;
}

static bool emit(rctx *R, const node *at, const char *p, size_t n)
{
	if (chat_buf_put(R->out, p, n))
		return true;
	if (R->out->over)
		return chat_fail_at(R, at, CHAT_ERR_LIMIT, "output limit (%zu bytes) exceeded", R->lim.max_output);
	return chat_fail_at(R, at, CHAT_ERR_NOMEM, "out of memory");
}

static bool assign(rctx *R, const node *target, cv v, chat_frame *f)
{
	if (target->kind == N_NAME) {
		if (!frame_set(R, f, target->s, target->sn, v))
			return chat_oom_at(R, target);
		return true;
	}
	if (target->kind == N_ATTR) {
		cv obj;
		if (!lookup_name(R, target->a, &obj))
			return false;
		if (obj.t != CV_NS)
			return chat_fail_at(R, target, CHAT_ERR_RUNTIME, "cannot assign attribute on non-namespace object");
		if (target->sn && target->s[0] == '_')
			return chat_fail_at(R, target, CHAT_ERR_RUNTIME,
				       "Chat templates cannot store underscore-prefixed attributes on a namespace");
		char *k = chat_arena_strdup(R->a, target->s, target->sn);
		if (!k || !cv_dict_set(R->a, obj.u.d, cv_str(k, target->sn), v))
			return chat_oom_at(R, target);
		return true;
	}
	/* tuple unpacking */
	cv_list *items;
	if (!chat_iter_list_at(R, target, v, &items))
		return false;
	if (items->n != target->nkids)
		return chat_fail_at(R, target, CHAT_ERR_RUNTIME, "%s values to unpack (expected %zu, got %zu)",
			       items->n > target->nkids ? "too many" : "not enough", target->nkids, items->n);
	for (size_t i = 0; i < target->nkids; i++)
		if (!assign(R, target->kids[i], items->v[i], f))
			return false;
	return true;
}

static int exec_for(rctx *R, const node *n)
{
	cv it;
	if (!eval(R, n->b, &it))
		return EX_ERR;
	if (it.t != CV_LIST && it.t != CV_DICT && it.t != CV_STR && it.t != CV_UNDEF) {
		chat_fail_at(R, n->b, CHAT_ERR_RUNTIME, "'%s' object is not iterable", cv_type_name(it));
		return EX_ERR;
	}
	cv_list *items;
	if (!chat_iter_list_at(R, n->b, it, &items))
		return EX_ERR;
	chat_frame *outer = R->frame;
	chat_frame *f = frame_new(R, outer);
	if (!f) {
		chat_oom_at(R, n);
		return EX_ERR;
	}
	int rc = EX_OK;
	R->frame = f;
	if (n->c) {
		/* "for x in xs if cond": filter first, so loop.index/length count the kept items only */
		cv_list *kept = cv_list_new(R->a, 0);
		if (!kept) {
			chat_oom_at(R, n);
			rc = EX_ERR;
		}
		for (size_t i = 0; rc == EX_OK && i < items->n; i++) {
			cv c;
			f->n = 0;
			if (++R->iterations > R->lim.max_iterations) {
				chat_fail_at(R, n, CHAT_ERR_LIMIT, "loop iteration limit (%zu) exceeded", R->lim.max_iterations);
				rc = EX_ERR;
			} else if (!assign(R, n->a, items->v[i], f) || !eval(R, n->c, &c))
				rc = EX_ERR;
			else if (cv_truthy(c) && !cv_list_push(R->a, kept, items->v[i])) {
				chat_oom_at(R, n);
				rc = EX_ERR;
			}
		}
		items = kept;
	}
	cv_loop *L = rc == EX_OK ? chat_arena_alloc(R->a, sizeof(*L)) : NULL;
	if (rc == EX_OK && !L) {
		chat_oom_at(R, n);
		rc = EX_ERR;
	}
	for (size_t i = 0; rc == EX_OK && i < items->n; i++) {
		if (++R->iterations > R->lim.max_iterations) {
			chat_fail_at(R, n, CHAT_ERR_LIMIT, "loop iteration limit (%zu) exceeded", R->lim.max_iterations);
			rc = EX_ERR;
			break;
		}
		/* a fresh scope each iteration: sets inside the body do not survive it (as in jinja2) */
		f->n = 0;
		L->index0 = i;
		L->length = items->n;
		L->items = items;
		cv lv = {.t = CV_LOOP};
		lv.u.loop = L;
		if (!frame_set(R, f, "loop", 4, lv)) {
			chat_oom_at(R, n);
			rc = EX_ERR;
			break;
		}
		if (!assign(R, n->a, items->v[i], f)) {
			rc = EX_ERR;
			break;
		}
		int r = exec(R, n->d);
		if (r == EX_ERR)
			rc = EX_ERR;
		else if (r == EX_BREAK)
			break;
	}
	R->frame = outer;
	if (rc == EX_OK && items->n == 0 && n->e)
		rc = exec(R, n->e);
	return rc;
}

static int exec(rctx *R, const node *n)
{
	if (!depth_in(R, n))
		return EX_ERR;
	int rc = EX_OK;
	cv v;
	switch (n->kind) {
	case N_BODY:
		for (size_t i = 0; i < n->nkids && rc == EX_OK; i++)
			rc = exec(R, n->kids[i]);
		break;
	case N_TEXT:
		if (!emit(R, n, n->s, n->sn))
			rc = EX_ERR;
		break;
	case N_OUTPUT:
		if (!eval(R, n->a, &v))
			rc = EX_ERR;
		else if (v.t == CV_STR) {
			if (!emit(R, n, v.u.s.p, v.u.s.n))
				rc = EX_ERR;
		} else if (!cv_write_str(R->out, v)) {
			if (R->out->over || R->out->oom)
				emit(R, n, "", 0);
			rc = EX_ERR;
		}
		break;
	case N_IF:
		if (!eval(R, n->a, &v))
			rc = EX_ERR;
		else if (cv_truthy(v))
			rc = exec(R, n->b);
		else if (n->c)
			rc = exec(R, n->c);
		break;
	case N_FOR: rc = exec_for(R, n); break;
	case N_SET:
		if (n->b) {
			if (!eval(R, n->b, &v) || !assign(R, n->a, v, R->frame))
				rc = EX_ERR;
		} else {
			cv body;
			if (!capture(R, n->d, R->frame, &body) || !apply_chain(R, n->c, body, &v) ||
			    !assign(R, n->a, v, R->frame))
				rc = EX_ERR;
		}
		break;
	case N_MACRO: {
		cv m = {.t = CV_MACRO};
		m.u.macro = n;
		if (!frame_set(R, R->frame, n->s, n->sn, m)) {
			chat_oom_at(R, n);
			rc = EX_ERR;
		}
		break;
	}
	case N_CALLBLOCK:
		if (!eval_call(R, n->a, n->d, &v) || !emit(R, n, v.u.s.p, v.t == CV_STR ? v.u.s.n : 0))
			rc = EX_ERR;
		break;
	case N_FILTERBLOCK: {
		cv body;
		if (!capture(R, n->d, R->frame, &body) || !apply_chain(R, n->a, body, &v))
			rc = EX_ERR;
		else if (v.t == CV_STR ? !emit(R, n, v.u.s.p, v.u.s.n) : !cv_write_str(R->out, v))
			rc = EX_ERR;
		break;
	}
	case N_BREAK: rc = EX_BREAK; break;
	case N_CONTINUE: rc = EX_CONTINUE; break;
	default:
		chat_fail_at(R, n, CHAT_ERR_RUNTIME, "internal error: expression used as statement");
		rc = EX_ERR;
	}
	R->depth--;
	if (R->failed)
		rc = EX_ERR;
	return rc;
}

/* ---- public API ---- */
void chat_limits_default(chat_limits *lim)
{
	lim->max_output = (size_t)64 << 20;
	lim->max_iterations = 10000000;
	lim->max_memory = (size_t)512 << 20;
	lim->max_depth = 200;
}

const char *chat_status_str(chat_status s)
{
	switch (s) {
	case CHAT_OK: return "ok";
	case CHAT_ERR_ARG: return "bad argument";
	case CHAT_ERR_NOMEM: return "out of memory";
	case CHAT_ERR_SYNTAX: return "template syntax error";
	case CHAT_ERR_RUNTIME: return "template render error";
	case CHAT_ERR_RAISED: return "template raised an exception";
	case CHAT_ERR_LIMIT: return "template resource limit exceeded";
	}
	return "unknown status";
}

chat_status chat_template_create(const char *src, size_t len, chat_template **out, chat_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
	if (!out || (!src && len)) {
		chat_set_error(err, CHAT_ERR_ARG, 0, 0, "chat_template_create: NULL argument");
		return CHAT_ERR_ARG;
	}
	*out = NULL;
	if (len > ((size_t)64 << 20)) {
		chat_set_error(err, CHAT_ERR_LIMIT, 0, 0, "template larger than 64 MiB");
		return CHAT_ERR_LIMIT;
	}
	chat_template *t = calloc(1, sizeof(*t));
	if (!t) {
		chat_set_error(err, CHAT_ERR_NOMEM, 0, 0, "out of memory");
		return CHAT_ERR_NOMEM;
	}
	chat_error local;
	chat_error *e = err ? err : &local;
	chat_tokens toks = {0};
	chat_status st = chat_lex(&t->arena, src ? src : "", len, &toks, e);
	if (st == CHAT_OK)
		st = chat_parse(&t->arena, &toks, &t->root, e);
	free(toks.v);
	if (st != CHAT_OK) {
		chat_template_free(t);
		return st;
	}
	*out = t;
	return CHAT_OK;
}

void chat_template_free(chat_template *t)
{
	if (!t)
		return;
	chat_arena_free(&t->arena);
	free(t);
}

void chat_string_free(char *s) { free(s); }

chat_status chat_template_render(const chat_template *t, const json_t *ctx, const chat_limits *lim, char **out,
				 size_t *out_len, chat_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
	if (out)
		*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!t || !out || (ctx && !json_is_object(ctx))) {
		chat_set_error(err, CHAT_ERR_ARG, 0, 0, "chat_template_render: NULL template/output or context not an object");
		return CHAT_ERR_ARG;
	}
	chat_error local;
	rctx R = {.err = err ? err : &local};
	if (lim)
		R.lim = *lim;
	else
		chat_limits_default(&R.lim);
	chat_arena arena = {.limit = R.lim.max_memory};
	chat_buf buf = {.limit = R.lim.max_output};
	R.a = &arena;
	R.out = &buf;
	R.root = frame_new(&R, NULL);
	R.frame = R.root;
	bool ok = R.root != NULL;
	if (!ok)
		chat_oom_at(&R, NULL);
	if (ok && ctx) {
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)ctx, key, val) {
			cv v;
			if (!cv_from_json(&arena, val, &v, 0)) {
				ok = arena.over ? chat_oom_at(&R, NULL)
						: chat_fail_at(&R, NULL, CHAT_ERR_LIMIT, "context value '%s' too large or deep", key);
				break;
			}
			if (!frame_set(&R, R.root, key, strlen(key), v)) {
				ok = chat_oom_at(&R, NULL);
				break;
			}
		}
	}
	if (ok)
		ok = exec(&R, t->root) == EX_OK;
	chat_arena_free(&arena);
	if (!ok) {
		free(buf.p);
		return R.err->status != CHAT_OK ? R.err->status : CHAT_ERR_RUNTIME;
	}
	if (!buf.p) {
		buf.p = malloc(1);
		if (!buf.p) {
			chat_set_error(err, CHAT_ERR_NOMEM, 0, 0, "out of memory");
			return CHAT_ERR_NOMEM;
		}
		buf.p[0] = 0;
	}
	*out = buf.p;
	if (out_len)
		*out_len = buf.n;
	return CHAT_OK;
}
