/* Recursive-descent parser following jinja2's grammar and operator precedence. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_impl.h"

#define MAX_PARSE_DEPTH 200

typedef struct {
	chat_arena *a;
	const chat_tokens *t;
	size_t i;
	chat_error *err;
	int depth;
	int loops;  /* enclosing for loops (break/continue need one) */
	bool failed;
} parser;

static const chat_token *peek(parser *P) { return &P->t->v[P->i]; }
static const chat_token *peek2(parser *P)
{
	return P->i + 1 < P->t->n ? &P->t->v[P->i + 1] : &P->t->v[P->t->n - 1];
}
static const chat_token *next(parser *P)
{
	const chat_token *k = &P->t->v[P->i];
	if (k->k != TK_EOF)
		P->i++;
	return k;
}

static bool is_op(const chat_token *k, const char *op)
{
	return k->k == TK_OP && k->n == strlen(op) && memcmp(k->p, op, k->n) == 0;
}
static bool is_name(const chat_token *k, const char *name)
{
	return k->k == TK_NAME && k->n == strlen(name) && memcmp(k->p, name, k->n) == 0;
}

static const char *tok_desc(const chat_token *k, char *buf, size_t cap)
{
	switch (k->k) {
	case TK_EOF: return "end of template";
	case TK_TEXT: return "template data";
	case TK_VAR_BEGIN: return "begin of print statement";
	case TK_VAR_END: return "end of print statement";
	case TK_BLOCK_BEGIN: return "begin of statement block";
	case TK_BLOCK_END: return "end of statement block";
	case TK_STRING: return "string";
	case TK_INT: return "integer";
	case TK_FLOAT: return "float";
	default: {
		size_t n = k->n < cap - 3 ? k->n : cap - 3;
		buf[0] = '\'';
		memcpy(buf + 1, k->p, n);
		buf[n + 1] = '\'';
		buf[n + 2] = 0;
		return buf;
	}
	}
}

static void *perr(parser *P, const chat_token *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void *perr(parser *P, const chat_token *k, const char *fmt, ...)
{
	if (!P->failed) {
		char msg[400];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		P->failed = true;
		chat_set_error(P->err, CHAT_ERR_SYNTAX, k->line, k->col, "%s", msg);
	}
	return NULL;
}

static void *unexpected(parser *P, const chat_token *k, const char *expected)
{
	char buf[64], msg[160];
	const char *d = tok_desc(k, buf, sizeof buf);
	if (expected)
		snprintf(msg, sizeof msg, "unexpected %s, expected %s", d, expected);
	else
		snprintf(msg, sizeof msg, "unexpected %s", d);
	return perr(P, k, "%s", msg);
}

static node *mk(parser *P, node_kind kind, const chat_token *at)
{
	node *n = chat_arena_alloc(P->a, sizeof(*n));
	if (!n) {
		if (!P->failed) {
			P->failed = true;
			chat_set_error(P->err, CHAT_ERR_NOMEM, at->line, at->col, "out of memory while parsing");
		}
		return NULL;
	}
	n->kind = kind;
	n->line = at->line;
	n->col = at->col;
	return n;
}

/* growable child list built in the arena */
static bool add_kid(parser *P, node *n, node *kid, size_t *cap)
{
	if (!kid)
		return false;
	if (n->nkids == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		node **nk = chat_arena_alloc(P->a, nc * sizeof(*nk));
		if (!nk) {
			P->failed = true;
			chat_set_error(P->err, CHAT_ERR_NOMEM, n->line, n->col, "out of memory while parsing");
			return false;
		}
		if (n->nkids)
			memcpy(nk, n->kids, n->nkids * sizeof(*nk));
		n->kids = nk;
		*cap = nc;
	}
	n->kids[n->nkids++] = kid;
	return true;
}

static bool expect_op(parser *P, const char *op)
{
	const chat_token *k = peek(P);
	if (!is_op(k, op)) {
		char e[16];
		snprintf(e, sizeof e, "'%s'", op);
		unexpected(P, k, e);
		return false;
	}
	next(P);
	return true;
}

static bool enter(parser *P, const chat_token *at)
{
	if (++P->depth > MAX_PARSE_DEPTH) {
		if (!P->failed) {
			P->failed = true;
			chat_set_error(P->err, CHAT_ERR_LIMIT, at->line, at->col, "template nested too deeply (limit %d)",
				       MAX_PARSE_DEPTH);
		}
		return false;
	}
	return true;
}

static node *parse_expr(parser *P, bool with_cond);
static node *parse_tuple(parser *P, bool with_cond, bool explicit_parens);
static node *parse_unary(parser *P, bool with_filter);
static node *parse_primary(parser *P);
static node *parse_postfix(parser *P, node *n);

static node *parse_call_args(parser *P, node *call)
{
	size_t cap = 0;
	const chat_token *open = peek(P);
	if (!expect_op(P, "("))
		return NULL;
	bool first = true;
	while (!is_op(peek(P), ")")) {
		if (!first && !expect_op(P, ","))
			return NULL;
		if (is_op(peek(P), ")"))
			break;
		first = false;
		const chat_token *k = peek(P);
		if (is_op(k, "*") || is_op(k, "**"))
			return perr(P, k, "%s", "*args and **kwargs are not supported");
		if (k->k == TK_NAME && is_op(peek2(P), "=")) {
			next(P);
			next(P);
			node *kw = mk(P, N_KWARG, k);
			if (!kw)
				return NULL;
			kw->s = k->p;
			kw->sn = k->n;
			if (!(kw->a = parse_expr(P, true)) || !add_kid(P, call, kw, &cap))
				return NULL;
		} else {
			for (size_t j = 0; j < call->nkids; j++)
				if (call->kids[j]->kind == N_KWARG)
					return perr(P, k, "%s", "positional argument follows keyword argument");
			if (!add_kid(P, call, parse_expr(P, true), &cap))
				return NULL;
		}
		if (peek(P)->k == TK_EOF)
			return unexpected(P, peek(P), "')'");
	}
	(void)open;
	next(P);
	return call;
}

static bool known(const char *const *names, const chat_token *k)
{
	for (size_t i = 0; names[i]; i++)
		if (is_name(k, names[i]))
			return true;
	return false;
}

/* jinja2 rejects unknown filters and tests when compiling; keep in sync with chat_builtins.c */
static const char *const filter_names[] = {
	"tojson", "safe", "length", "count", "default", "d", "string", "trim", "upper", "lower", "capitalize",
	"title", "replace", "wordcount", "indent", "join", "first", "last", "items", "dictsort", "list", "int",
	"float", "abs", "round", "reverse", "sort", "unique", "min", "max", "sum", "map", "selectattr",
	"rejectattr", "select", "reject", "format", NULL};
static const char *const test_names[] = {
	"defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false",
	"mapping", "sequence", "iterable", "callable", "odd", "even", "divisibleby", "eq", "equalto", "sameas",
	"ne", "lt", "le", "gt", "ge", "lessthan", "greaterthan", "in", "lower", "upper", NULL};

static node *parse_filter(parser *P, node *operand, bool start_inline)
{
	const chat_token *k = peek(P);
	if (start_inline) {
		if (!is_op(k, "|"))
			return operand;
		next(P);
	}
	k = next(P);
	if (k->k != TK_NAME)
		return unexpected(P, k, "name");
	if (!known(filter_names, k))
		return perr(P, k, "No filter named '%.*s'.", (int)(k->n > 60 ? 60 : k->n), k->p);
	node *f = mk(P, N_FILTER, k);
	if (!f)
		return NULL;
	f->a = operand;
	f->s = k->p;
	f->sn = k->n;
	if (is_op(peek(P), "(") && !parse_call_args(P, f))
		return NULL;
	return f;
}

static node *parse_test(parser *P, node *operand)
{
	const chat_token *at = next(P); /* 'is' */
	bool neg = false;
	if (is_name(peek(P), "not")) {
		next(P);
		neg = true;
	}
	const chat_token *k = next(P);
	if (k->k != TK_NAME)
		return unexpected(P, k, "name");
	if (!known(test_names, k))
		return perr(P, k, "No test named '%.*s'.", (int)(k->n > 60 ? 60 : k->n), k->p);
	node *t = mk(P, N_TEST, at);
	if (!t)
		return NULL;
	t->a = operand;
	t->s = k->p;
	t->sn = k->n;
	t->op = neg;
	const chat_token *c = peek(P);
	if (is_op(c, "(")) {
		if (!parse_call_args(P, t))
			return NULL;
	} else if ((c->k == TK_NAME || c->k == TK_STRING || c->k == TK_INT || c->k == TK_FLOAT || is_op(c, "[") ||
		    is_op(c, "{")) &&
		   !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
		if (is_name(c, "is"))
			return perr(P, c, "%s", "You cannot chain multiple tests with is");
		node *arg = parse_primary(P);
		if (!arg || !(arg = parse_postfix(P, arg)))
			return NULL;
		size_t cap = 0;
		if (!add_kid(P, t, arg, &cap))
			return NULL;
	}
	return t;
}

static node *parse_filter_expr(parser *P, node *n)
{
	for (;;) {
		const chat_token *k = peek(P);
		if (is_op(k, "|")) {
			if (!(n = parse_filter(P, n, true)))
				return NULL;
		} else if (is_name(k, "is")) {
			if (!(n = parse_test(P, n)))
				return NULL;
		} else if (is_op(k, "(")) {
			node *c = mk(P, N_CALL, k);
			if (!c)
				return NULL;
			c->a = n;
			if (!(n = parse_call_args(P, c)))
				return NULL;
		} else
			return n;
	}
}

static node *parse_subscript(parser *P, node *obj, const chat_token *at)
{
	node *parts[3] = {NULL, NULL, NULL};
	int np = 0;
	bool is_slice = false;
	for (;;) {
		const chat_token *k = peek(P);
		if (is_op(k, ":")) {
			if (np >= 2)
				return unexpected(P, k, "']'");
			next(P);
			is_slice = true;
			np++;
			continue;
		}
		if (is_op(k, "]"))
			break;
		if (parts[np])
			return unexpected(P, k, "']'");
		if (!(parts[np] = parse_expr(P, true)))
			return NULL;
	}
	next(P);
	node *n = mk(P, is_slice ? N_SLICE : N_ITEM, at);
	if (!n)
		return NULL;
	n->a = obj;
	if (is_slice) {
		n->b = parts[0];
		n->c = parts[1];
		n->d = parts[2];
	} else {
		if (!parts[0])
			return unexpected(P, peek(P), "expression");
		n->b = parts[0];
	}
	return n;
}

static node *parse_postfix(parser *P, node *n)
{
	for (;;) {
		const chat_token *k = peek(P);
		if (is_op(k, ".")) {
			next(P);
			const chat_token *a = next(P);
			if (a->k == TK_NAME) {
				node *x = mk(P, N_ATTR, k);
				if (!x)
					return NULL;
				x->a = n;
				x->s = a->p;
				x->sn = a->n;
				n = x;
			} else if (a->k == TK_INT) {
				node *x = mk(P, N_ITEM, k), *c = mk(P, N_CONST, a);
				if (!x || !c)
					return NULL;
				c->k = cv_int(a->i);
				x->a = n;
				x->b = c;
				n = x;
			} else
				return unexpected(P, a, "name or number");
		} else if (is_op(k, "[")) {
			next(P);
			if (!(n = parse_subscript(P, n, k)))
				return NULL;
		} else if (is_op(k, "(")) {
			node *c = mk(P, N_CALL, k);
			if (!c)
				return NULL;
			c->a = n;
			if (!(n = parse_call_args(P, c)))
				return NULL;
		} else
			return n;
	}
}

static node *parse_primary(parser *P)
{
	const chat_token *k = peek(P);
	if (!enter(P, k))
		return NULL;
	node *n = NULL;
	if (k->k == TK_NAME) {
		next(P);
		n = mk(P, N_CONST, k);
		if (!n)
			goto out;
		if (is_name(k, "true") || is_name(k, "True"))
			n->k = cv_bool(true);
		else if (is_name(k, "false") || is_name(k, "False"))
			n->k = cv_bool(false);
		else if (is_name(k, "none") || is_name(k, "None"))
			n->k = cv_none();
		else {
			n->kind = N_NAME;
			n->s = k->p;
			n->sn = k->n;
		}
	} else if (k->k == TK_STRING) {
		next(P);
		n = mk(P, N_CONST, k);
		if (!n)
			goto out;
		const char *p = k->p;
		size_t len = k->n;
		/* adjacent literals concatenate, as in Python */
		while (peek(P)->k == TK_STRING) {
			const chat_token *k2 = next(P);
			char *q = chat_arena_alloc(P->a, len + k2->n + 1);
			if (!q) {
				n = NULL;
				goto out;
			}
			memcpy(q, p, len);
			memcpy(q + len, k2->p, k2->n);
			p = q;
			len += k2->n;
		}
		n->k = cv_str(p, len);
	} else if (k->k == TK_INT || k->k == TK_FLOAT) {
		next(P);
		n = mk(P, N_CONST, k);
		if (n)
			n->k = k->k == TK_INT ? cv_int(k->i) : cv_float(k->f);
	} else if (is_op(k, "(")) {
		next(P);
		n = parse_tuple(P, true, true);
		if (n && !expect_op(P, ")"))
			n = NULL;
	} else if (is_op(k, "[") || is_op(k, "{")) {
		bool dict = is_op(k, "{");
		next(P);
		n = mk(P, dict ? N_DICT : N_LIST, k);
		size_t cap = 0;
		const char *close = dict ? "}" : "]";
		while (n && !is_op(peek(P), close)) {
			if (n->nkids && !expect_op(P, ",")) {
				n = NULL;
				break;
			}
			if (is_op(peek(P), close))
				break;
			node *e = parse_expr(P, true);
			if (!add_kid(P, n, e, &cap)) {
				n = NULL;
				break;
			}
			if (dict) {
				if (!expect_op(P, ":") || !add_kid(P, n, parse_expr(P, true), &cap)) {
					n = NULL;
					break;
				}
			}
		}
		if (n)
			next(P);
	} else
		n = unexpected(P, k, NULL);
out:
	P->depth--;
	return n;
}

static node *parse_unary(parser *P, bool with_filter)
{
	const chat_token *k = peek(P);
	if (!enter(P, k))
		return NULL;
	node *n;
	if (is_op(k, "-") || is_op(k, "+")) {
		next(P);
		n = mk(P, N_UNARY, k);
		if (n) {
			n->op = is_op(k, "-") ? OP_NEG : OP_POS;
			if (!(n->a = parse_unary(P, false)))
				n = NULL;
		}
	} else {
		n = parse_primary(P);
	}
	if (n)
		n = parse_postfix(P, n);
	if (n && with_filter)
		n = parse_filter_expr(P, n);
	P->depth--;
	return n;
}

static node *binary(parser *P, const chat_token *at, int op, node *l, node *r)
{
	if (!l || !r)
		return NULL;
	node *n = mk(P, N_BINARY, at);
	if (!n)
		return NULL;
	n->op = op;
	n->a = l;
	n->b = r;
	return n;
}

static node *parse_pow(parser *P)
{
	node *l = parse_unary(P, true);
	while (l && is_op(peek(P), "**")) {
		const chat_token *k = next(P);
		l = binary(P, k, OP_POW, l, parse_unary(P, true));
	}
	return l;
}

static node *parse_math2(parser *P)
{
	node *l = parse_pow(P);
	for (;;) {
		const chat_token *k = peek(P);
		int op = is_op(k, "*") ? OP_MUL : is_op(k, "/") ? OP_DIV : is_op(k, "//") ? OP_FLOORDIV
					      : is_op(k, "%")   ? OP_MOD
								: -1;
		if (!l || op < 0)
			return l;
		next(P);
		l = binary(P, k, op, l, parse_pow(P));
	}
}

static node *parse_concat(parser *P)
{
	node *l = parse_math2(P);
	while (l && is_op(peek(P), "~")) {
		const chat_token *k = next(P);
		l = binary(P, k, OP_CONCAT, l, parse_math2(P));
	}
	return l;
}

static node *parse_math1(parser *P)
{
	node *l = parse_concat(P);
	for (;;) {
		const chat_token *k = peek(P);
		int op = is_op(k, "+") ? OP_ADD : is_op(k, "-") ? OP_SUB : -1;
		if (!l || op < 0)
			return l;
		next(P);
		l = binary(P, k, op, l, parse_concat(P));
	}
}

static node *parse_compare(parser *P)
{
	node *l = parse_math1(P);
	node *result = NULL;
	for (;;) {
		if (!l)
			return NULL;
		const chat_token *k = peek(P);
		int op = -1;
		if (is_op(k, "=="))
			op = OP_EQ;
		else if (is_op(k, "!="))
			op = OP_NE;
		else if (is_op(k, "<"))
			op = OP_LT;
		else if (is_op(k, "<="))
			op = OP_LE;
		else if (is_op(k, ">"))
			op = OP_GT;
		else if (is_op(k, ">="))
			op = OP_GE;
		else if (is_name(k, "in"))
			op = OP_IN;
		else if (is_name(k, "not") && is_name(peek2(P), "in")) {
			next(P);
			op = OP_NOTIN;
		}
		if (op < 0)
			return result ? result : l;
		next(P);
		node *r = parse_math1(P);
		node *cmp = binary(P, k, op, l, r);
		if (!cmp)
			return NULL;
		/* a < b < c means (a < b) and (b < c) */
		result = result ? binary(P, k, OP_AND, result, cmp) : cmp;
		l = r;
	}
}

static node *parse_not(parser *P)
{
	const chat_token *k = peek(P);
	if (is_name(k, "not")) {
		if (!enter(P, k))
			return NULL;
		next(P);
		node *n = mk(P, N_UNARY, k);
		if (n) {
			n->op = OP_NOT;
			if (!(n->a = parse_not(P)))
				n = NULL;
		}
		P->depth--;
		return n;
	}
	return parse_compare(P);
}

static node *parse_and(parser *P)
{
	node *l = parse_not(P);
	while (l && is_name(peek(P), "and")) {
		const chat_token *k = next(P);
		l = binary(P, k, OP_AND, l, parse_not(P));
	}
	return l;
}

static node *parse_or(parser *P)
{
	node *l = parse_and(P);
	while (l && is_name(peek(P), "or")) {
		const chat_token *k = next(P);
		l = binary(P, k, OP_OR, l, parse_and(P));
	}
	return l;
}

static node *parse_expr(parser *P, bool with_cond)
{
	const chat_token *at = peek(P);
	if (!enter(P, at))
		return NULL;
	node *n = parse_or(P);
	while (with_cond && n && is_name(peek(P), "if")) {
		const chat_token *k = next(P);
		node *c = mk(P, N_COND, k);
		if (!c) {
			n = NULL;
			break;
		}
		c->b = n;
		if (!(c->a = parse_or(P))) {
			n = NULL;
			break;
		}
		if (is_name(peek(P), "else")) {
			next(P);
			if (!(c->c = parse_expr(P, true))) {
				n = NULL;
				break;
			}
		}
		n = c;
	}
	P->depth--;
	return n;
}

static bool tuple_ends(const chat_token *k)
{
	return k->k == TK_VAR_END || k->k == TK_BLOCK_END || k->k == TK_EOF || is_op(k, ")") || is_op(k, "=") ||
	       is_name(k, "in") || is_name(k, "if");
}

static node *parse_tuple(parser *P, bool with_cond, bool explicit_parens)
{
	const chat_token *at = peek(P);
	if (explicit_parens && is_op(at, ")")) {
		node *t = mk(P, N_TUPLE, at);
		return t;
	}
	node *first = parse_expr(P, with_cond);
	if (!first || !is_op(peek(P), ","))
		return first;
	node *t = mk(P, N_TUPLE, at);
	size_t cap = 0;
	if (!t || !add_kid(P, t, first, &cap))
		return NULL;
	while (is_op(peek(P), ",")) {
		next(P);
		if (tuple_ends(peek(P)))
			break;
		if (!add_kid(P, t, parse_expr(P, with_cond), &cap))
			return NULL;
	}
	return t;
}

/* ---- statements ---- */
static node *parse_body(parser *P, const char *const *ends, int nends, const char *block, int block_line);

static bool expect_block_end(parser *P)
{
	const chat_token *k = peek(P);
	if (k->k != TK_BLOCK_END) {
		unexpected(P, k, "end of statement block");
		return false;
	}
	next(P);
	return true;
}

/* target of for/set: name, ns.attr (set only), or a tuple of names */
static node *parse_target(parser *P, bool allow_attr)
{
	const chat_token *at = peek(P);
	bool paren = is_op(at, "(");
	if (paren)
		next(P);
	node *t = NULL;
	size_t cap = 0;
	for (;;) {
		const chat_token *k = next(P);
		if (k->k != TK_NAME)
			return unexpected(P, k, "name");
		node *n = mk(P, N_NAME, k);
		if (!n)
			return NULL;
		n->s = k->p;
		n->sn = k->n;
		if (allow_attr && !t && is_op(peek(P), ".")) {
			next(P);
			const chat_token *a = next(P);
			if (a->k != TK_NAME)
				return unexpected(P, a, "name");
			node *x = mk(P, N_ATTR, k);
			if (!x)
				return NULL;
			x->a = n;
			x->s = a->p;
			x->sn = a->n;
			return x;
		}
		if (!is_op(peek(P), ",")) {
			if (!t)
				t = n;
			else if (!add_kid(P, t, n, &cap))
				return NULL;
			break;
		}
		next(P);
		if (!t) {
			t = mk(P, N_TUPLE, at);
			if (!t)
				return NULL;
		}
		if (!add_kid(P, t, n, &cap))
			return NULL;
		if (!(peek(P)->k == TK_NAME))
			break;
	}
	if (paren && !expect_op(P, ")"))
		return NULL;
	return t;
}

static node *parse_for(parser *P, const chat_token *at)
{
	node *n = mk(P, N_FOR, at);
	if (!n || !(n->a = parse_target(P, false)))
		return NULL;
	if (!is_name(peek(P), "in"))
		return unexpected(P, peek(P), "'in'");
	next(P);
	if (!(n->b = parse_tuple(P, false, false)))
		return NULL;
	if (is_name(peek(P), "if")) {
		next(P);
		if (!(n->c = parse_expr(P, true)))
			return NULL;
	}
	if (is_name(peek(P), "recursive"))
		return perr(P, peek(P), "%s", "recursive loops are not supported");
	if (!expect_block_end(P))
		return NULL;
	static const char *const e1[] = {"endfor", "else"}, *const e2[] = {"endfor"};
	P->loops++;
	n->d = parse_body(P, e1, 2, "for", at->line);
	P->loops--;
	if (!n->d)
		return NULL;
	if (is_name(next(P), "else")) {
		if (!expect_block_end(P) || !(n->e = parse_body(P, e2, 1, "for", at->line)))
			return NULL;
		next(P);
	}
	return expect_block_end(P) ? n : NULL;
}

static node *parse_if(parser *P, const chat_token *at)
{
	node *n = mk(P, N_IF, at);
	if (!n || !(n->a = parse_tuple(P, false, false)) || !expect_block_end(P))
		return NULL;
	static const char *const e1[] = {"elif", "else", "endif"}, *const e2[] = {"endif"};
	if (!(n->b = parse_body(P, e1, 3, "if", at->line)))
		return NULL;
	const chat_token *k = next(P);
	if (is_name(k, "elif")) {
		if (!enter(P, k))
			return NULL;
		n->c = parse_if(P, k);
		P->depth--;
		return n->c ? n : NULL;
	}
	if (is_name(k, "else")) {
		if (!expect_block_end(P) || !(n->c = parse_body(P, e2, 1, "if", at->line)))
			return NULL;
		next(P);
	}
	return expect_block_end(P) ? n : NULL;
}

static node *parse_set(parser *P, const chat_token *at)
{
	node *n = mk(P, N_SET, at);
	if (!n || !(n->a = parse_target(P, true)))
		return NULL;
	if (is_op(peek(P), "=")) {
		next(P);
		if (!(n->b = parse_tuple(P, true, false)))
			return NULL;
		return expect_block_end(P) ? n : NULL;
	}
	if (n->a->kind != N_NAME)
		return unexpected(P, peek(P), "'='");
	if (is_op(peek(P), "|")) {
		/* {% set x | filter %}...{% endset %}: a filter chain with an empty operand */
		node *f = NULL;
		while (is_op(peek(P), "|"))
			if (!(f = parse_filter(P, f, true)))
				return NULL;
		n->c = f;
	}
	static const char *const e[] = {"endset"};
	if (!expect_block_end(P) || !(n->d = parse_body(P, e, 1, "set", at->line)))
		return NULL;
	next(P);
	return expect_block_end(P) ? n : NULL;
}

static node *parse_macro(parser *P, const chat_token *at, bool is_call)
{
	node *n = mk(P, N_MACRO, at);
	if (!n)
		return NULL;
	const chat_token *k = NULL;
	if (!is_call) {
		k = next(P);
		if (k->k != TK_NAME)
			return unexpected(P, k, "name");
		n->s = k->p;
		n->sn = k->n;
	}
	size_t cap = 0;
	if (is_op(peek(P), "(") || !is_call) {
		if (!expect_op(P, "("))
			return NULL;
		while (!is_op(peek(P), ")")) {
			if (n->nkids && !expect_op(P, ","))
				return NULL;
			const chat_token *pk = next(P);
			if (pk->k != TK_NAME)
				return unexpected(P, pk, "name");
			node *pn = mk(P, N_NAME, pk);
			if (!pn)
				return NULL;
			pn->s = pk->p;
			pn->sn = pk->n;
			if (is_op(peek(P), "=")) {
				next(P);
				if (!(pn->a = parse_expr(P, true)))
					return NULL;
			} else if (n->nkids && n->kids[n->nkids - 1]->a)
				return perr(P, pk, "%s", "non-default argument follows default argument");
			if (!add_kid(P, n, pn, &cap))
				return NULL;
		}
		next(P);
	}
	node *cb = NULL;
	if (is_call) {
		/* {% call [(params)] expr %}body{% endcall %} */
		cb = mk(P, N_CALLBLOCK, at);
		if (!cb || !(cb->a = parse_expr(P, true)))
			return NULL;
		if (cb->a->kind != N_CALL)
			return perr(P, at, "%s", "expected a call expression");
	}
	if (!expect_block_end(P))
		return NULL;
	static const char *const e1[] = {"endmacro"}, *const e2[] = {"endcall"};
	int saved = P->loops;
	P->loops = 0;
	n->d = parse_body(P, is_call ? e2 : e1, 1, is_call ? "call" : "macro", at->line);
	P->loops = saved;
	if (!n->d)
		return NULL;
	next(P);
	if (!is_call && peek(P)->k == TK_NAME)
		next(P);
	if (!expect_block_end(P))
		return NULL;
	if (is_call) {
		cb->d = n;
		return cb;
	}
	return n;
}

static node *parse_statement(parser *P)
{
	const chat_token *at = next(P); /* after {% */
	if (at->k != TK_NAME)
		return unexpected(P, at, "statement name");
	if (!enter(P, at))
		return NULL;
	node *n = NULL;
	if (is_name(at, "if"))
		n = parse_if(P, at);
	else if (is_name(at, "for"))
		n = parse_for(P, at);
	else if (is_name(at, "set"))
		n = parse_set(P, at);
	else if (is_name(at, "macro"))
		n = parse_macro(P, at, false);
	else if (is_name(at, "call"))
		n = parse_macro(P, at, true);
	else if (is_name(at, "break") || is_name(at, "continue")) {
		if (P->loops == 0)
			n = perr(P, at, "'%s' outside of a loop", is_name(at, "break") ? "break" : "continue");
		else if ((n = mk(P, is_name(at, "break") ? N_BREAK : N_CONTINUE, at)) && !expect_block_end(P))
			n = NULL;
	} else if (is_name(at, "filter")) {
		node *f = NULL;
		if ((f = parse_filter(P, NULL, false)))
			while (f && is_op(peek(P), "|"))
				f = parse_filter(P, f, true);
		static const char *const e[] = {"endfilter"};
		if (f && expect_block_end(P) && (n = mk(P, N_FILTERBLOCK, at))) {
			n->a = f;
			if (!(n->d = parse_body(P, e, 1, "filter", at->line)))
				n = NULL;
			else {
				next(P);
				if (!expect_block_end(P))
					n = NULL;
			}
		}
	} else if (is_name(at, "generation")) {
		/* transformers' AssistantTracker tag: renders its body unchanged */
		static const char *const e[] = {"endgeneration"};
		if (expect_block_end(P) && (n = parse_body(P, e, 1, "generation", at->line))) {
			next(P);
			if (!expect_block_end(P))
				n = NULL;
		}
	} else {
		char buf[64];
		size_t l = at->n < 40 ? at->n : 40;
		memcpy(buf, at->p, l);
		buf[l] = 0;
		n = perr(P, at, "Encountered unknown tag '%s'.", buf);
	}
	P->depth--;
	return n;
}

static node *parse_body(parser *P, const char *const *ends, int nends, const char *block, int block_line)
{
	const chat_token *start = peek(P);
	node *body = mk(P, N_BODY, start);
	size_t cap = 0;
	if (!body)
		return NULL;
	for (;;) {
		const chat_token *k = peek(P);
		if (P->failed)
			return NULL;
		if (k->k == TK_EOF) {
			if (nends == 0)
				return body;
			char msg[200];
			snprintf(msg, sizeof msg,
				 "Unexpected end of template. Jinja was looking for the following tags: '%s'. "
				 "The innermost block that needs to be closed is '%s' (opened on line %d).",
				 ends[0], block, block_line);
			return perr(P, k, "%s", msg);
		}
		if (k->k == TK_TEXT) {
			next(P);
			node *t = mk(P, N_TEXT, k);
			if (!t)
				return NULL;
			t->s = k->p;
			t->sn = k->n;
			if (!add_kid(P, body, t, &cap))
				return NULL;
		} else if (k->k == TK_VAR_BEGIN) {
			next(P);
			node *o = mk(P, N_OUTPUT, k);
			if (!o || !(o->a = parse_tuple(P, true, false)))
				return NULL;
			const chat_token *e = next(P);
			if (e->k != TK_VAR_END)
				return unexpected(P, e, "end of print statement");
			if (!add_kid(P, body, o, &cap))
				return NULL;
		} else if (k->k == TK_BLOCK_BEGIN) {
			const chat_token *name = peek2(P);
			for (int j = 0; j < nends; j++)
				if (is_name(name, ends[j])) {
					next(P); /* leave the end tag's name for the caller */
					return body;
				}
			if (name->k == TK_NAME &&
			    (is_name(name, "endfor") || is_name(name, "endif") || is_name(name, "else") ||
			     is_name(name, "elif") || is_name(name, "endmacro") || is_name(name, "endset") ||
			     is_name(name, "endcall") || is_name(name, "endfilter") || is_name(name, "endgeneration"))) {
				char buf[64];
				size_t l = name->n < 40 ? name->n : 40;
				memcpy(buf, name->p, l);
				buf[l] = 0;
				return perr(P, name, "Encountered unknown tag '%s'.", buf);
			}
			next(P);
			if (!add_kid(P, body, parse_statement(P), &cap))
				return NULL;
		} else
			return unexpected(P, k, NULL);
	}
}

chat_status chat_parse(chat_arena *a, const chat_tokens *toks, node **root, chat_error *err)
{
	parser P = {.a = a, .t = toks, .err = err};
	*root = parse_body(&P, NULL, 0, "", 0);
	if (!*root) {
		if (!P.failed)
			chat_set_error(err, CHAT_ERR_SYNTAX, 0, 0, "parse failed");
		return err ? err->status : CHAT_ERR_SYNTAX;
	}
	return CHAT_OK;
}
