/* Internal types shared by the chat template engine's files. */
#ifndef BALE_CHAT_IMPL_H
#define BALE_CHAT_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"

/* ---- arena: every AST node and every render-time value lives in one, so a
 * failed render never leaks and values need no reference counting ---- */
typedef struct chat_chunk chat_chunk;
typedef struct {
	chat_chunk *head;
	size_t total; /* bytes handed out so far */
	size_t limit; /* 0 = unlimited */
	bool over;    /* set when limit was hit */
} chat_arena;

void *chat_arena_alloc(chat_arena *a, size_t n);
void chat_arena_free(chat_arena *a);
char *chat_arena_strdup(chat_arena *a, const char *s, size_t n);

/* ---- values ---- */
typedef enum {
	CV_UNDEF, /* u.s holds a hint ("'x' is undefined") for the error when used */
	CV_NONE,
	CV_BOOL,
	CV_INT,
	CV_FLOAT,
	CV_STR,
	CV_LIST,
	CV_DICT,
	CV_NS,    /* namespace(): a mutable dict */
	CV_LOOP,  /* the loop variable */
	CV_MACRO,
	CV_FUNC,  /* a builtin global such as raise_exception */
} cv_type;

typedef struct cv_list cv_list;
typedef struct cv_dict cv_dict;
typedef struct cv_loop cv_loop;
typedef struct node node;

typedef struct {
	cv_type t;
	union {
		bool b;
		int64_t i;
		double f;
		struct {
			const char *p;
			size_t n;
		} s;
		cv_list *l;
		cv_dict *d;
		cv_loop *loop;
		const node *macro;
		int func;
	} u;
} cv;

struct cv_list {
	size_t n, cap;
	cv *v;
	bool tuple; /* only changes how it prints */
};

struct cv_dict {
	size_t n, cap;
	cv *k, *v;
};

struct cv_loop {
	size_t index0, length;
	const cv_list *items;
};

enum { CF_RAISE, CF_NAMESPACE, CF_STRFTIME, CF_RANGE, CF_DICT };

cv cv_undef(const char *hint);
cv cv_none(void);
cv cv_bool(bool b);
cv cv_int(int64_t i);
cv cv_float(double f);
cv cv_str(const char *p, size_t n);
cv_list *cv_list_new(chat_arena *a, size_t cap);
bool cv_list_push(chat_arena *a, cv_list *l, cv v);
cv_dict *cv_dict_new(chat_arena *a, size_t cap);
bool cv_dict_set(chat_arena *a, cv_dict *d, cv k, cv v);
const cv *cv_dict_get(const cv_dict *d, const char *key, size_t n);
const cv *cv_dict_getv(const cv_dict *d, cv key);
bool cv_truthy(cv v);
bool cv_equal(cv a, cv b);
const char *cv_type_name(cv v); /* python's type name, for error messages */

/* Growable byte buffer (malloc'ed), capped at limit bytes. */
typedef struct {
	char *p;
	size_t n, cap, limit;
	bool over; /* the limit was hit */
	bool oom;
} chat_buf;

bool chat_buf_put(chat_buf *b, const char *s, size_t n);
bool chat_buf_putc(chat_buf *b, char c);
bool chat_buf_printf(chat_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* str(v) as Python/jinja prints it (None, True, 1.0, ['a'], {'k': 1}). */
bool cv_write_str(chat_buf *b, cv v);
/* repr(v) */
bool cv_write_repr(chat_buf *b, cv v);
/* json.dumps(v, ensure_ascii=False, indent, separators, sort_keys). indent < 0 = None;
 * item_sep/key_sep NULL pick json.dumps' defaults. Returns false with *bad set to
 * the first value JSON cannot hold (undefined, macro...). */
bool cv_write_json(chat_buf *b, cv v, int indent, const char *indent_str, const char *item_sep,
		   const char *key_sep, bool sort_keys, int depth, cv *bad);
void chat_format_float(char *dst, size_t cap, double f); /* Python float repr */

/* Converts JSON to values allocated in a; false when out of arena memory or nested too deeply. */
bool cv_from_json(chat_arena *a, const json_t *j, cv *out, int depth);

/* ---- UTF-8 helpers ---- */
size_t chat_utf8_len(const char *p, size_t n);                 /* code points */
size_t chat_utf8_offset(const char *p, size_t n, size_t cp);   /* byte offset of code point cp */
size_t chat_utf8_put(char *dst, uint32_t cp);                  /* encodes, returns bytes (<=4) */

/* ---- lexer tokens ---- */
typedef enum {
	TK_EOF,
	TK_TEXT,      /* literal template data */
	TK_VAR_BEGIN, /* {{ */
	TK_VAR_END,
	TK_BLOCK_BEGIN, /* {% */
	TK_BLOCK_END,
	TK_NAME,
	TK_STRING, /* value already unescaped */
	TK_INT,
	TK_FLOAT,
	TK_OP, /* text holds the operator */
} tk_kind;

typedef struct {
	tk_kind k;
	int line, col;
	const char *p; /* arena text (TEXT/NAME/STRING/OP) */
	size_t n;
	int64_t i;
	double f;
} chat_token;

typedef struct {
	chat_token *v;
	size_t n, cap;
} chat_tokens;

/* Tokenizes with trim_blocks and lstrip_blocks on, as transformers configures jinja2. */
chat_status chat_lex(chat_arena *a, const char *src, size_t len, chat_tokens *out, chat_error *err);

/* ---- AST ---- */
typedef enum {
	/* expressions */
	N_CONST,
	N_NAME,
	N_LIST,
	N_TUPLE,
	N_DICT, /* kids: key, value, key, value... */
	N_ATTR, /* a.s */
	N_ITEM, /* a[b] */
	N_SLICE, /* a[b:c:d], each may be NULL */
	N_CALL, /* a(kids) */
	N_KWARG, /* s=a, only inside call/filter/test args */
	N_FILTER, /* a|s(kids) */
	N_TEST, /* a is [not] s(kids); op = negated */
	N_UNARY,
	N_BINARY,
	N_COND, /* b if a else c */
	/* statements */
	N_BODY, /* kids */
	N_TEXT, /* s */
	N_OUTPUT, /* {{ a }} */
	N_IF,  /* if a: b else c */
	N_FOR, /* for a in b if c: d else e */
	N_SET, /* a = b, or a = captured d */
	N_MACRO, /* s(kids = N_NAME params, each with default in a): d */
	N_CALLBLOCK, /* {% call a %}d{% endcall %} */
	N_BREAK,
	N_CONTINUE,
	N_FILTERBLOCK, /* a = filter chain applied to captured d (a's innermost operand NULL) */
} node_kind;

enum {
	OP_NOT, OP_NEG, OP_POS,
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN, OP_AND, OP_OR,
};

struct node {
	node_kind kind;
	int op;
	int line, col;
	node *a, *b, *c, *d, *e;
	node **kids;
	size_t nkids;
	const char *s;
	size_t sn;
	cv k; /* N_CONST */
};

struct chat_template {
	chat_arena arena;
	node *root;
};

chat_status chat_parse(chat_arena *a, const chat_tokens *toks, node **root, chat_error *err);

void chat_set_error(chat_error *err, chat_status st, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
