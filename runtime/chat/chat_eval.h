/* Render-time state shared by the evaluator (chat_eval.c) and the builtins (chat_builtins.c). */
#ifndef BALE_CHAT_EVAL_H
#define BALE_CHAT_EVAL_H

#include "chat_impl.h"

typedef struct chat_var {
	const char *p;
	size_t n;
	cv v;
} chat_var;

typedef struct chat_frame chat_frame;
struct chat_frame {
	chat_frame *parent;
	chat_var *vars;
	size_t n, cap;
};

typedef struct {
	chat_arena *a;
	chat_error *err;
	chat_limits lim;
	chat_buf *out;
	chat_frame *root;
	chat_frame *frame; /* innermost scope */
	size_t iterations;
	int depth;
	bool failed;
} rctx;

/* call arguments, already evaluated */
typedef struct {
	cv *pos;
	size_t npos;
	const node **kwn; /* N_KWARG nodes (name in s/sn) */
	cv *kwv;
	size_t nkw;
} chat_args;

bool chat_fail_at(rctx *R, const node *at, chat_status st, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* fails with the undefined's hint as message */
bool chat_undef_at(rctx *R, const node *at, cv u);
/* true when out of arena memory; sets the error */
bool chat_oom_at(rctx *R, const node *at);

cv chat_hint_at(rctx *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool chat_tostr_at(rctx *R, const node *at, cv v, cv *out); /* str(v) as a value */
bool chat_iter_list_at(rctx *R, const node *at, cv v, cv_list **out);
bool chat_getattr_at(rctx *R, const node *at, cv obj, const char *name, size_t n, cv *out);
bool chat_getitem_at(rctx *R, const node *at, cv obj, cv key, cv *out);
bool chat_compare_at(rctx *R, const node *at, cv a, cv b, int *cmp);

/* positional i, or keyword name, or NULL */
const cv *chat_arg_get(const chat_args *A, size_t i, const char *name);

bool chat_call_filter(rctx *R, const node *at, const char *name, size_t n, cv v, const chat_args *A, cv *out);
bool chat_call_test(rctx *R, const node *at, const char *name, size_t n, cv v, const chat_args *A, bool *out);
/* method calls on str/dict/list/loop values; *handled false when obj has no such method */
bool chat_call_method(rctx *R, const node *at, cv obj, const char *name, size_t n, const chat_args *A, cv *out,
		      bool *handled);
bool chat_call_builtin(rctx *R, const node *at, int func, const chat_args *A, cv *out);

#endif
