/* Render-time state shared by the evaluator (chat_eval.c) and the builtins (chat_builtins.c). */
#ifndef BALE_CHAT_EVAL_H
#define BALE_CHAT_EVAL_H

#include "chat_impl.h"

/* The evaluator's rt_* helpers are linked into the same programs as the model runtime (rt_
 * prefix, runtime/model); these names keep the two apart. */
#define rt_fail chat_rt_fail
#define rt_undef chat_rt_undef
#define rt_oom chat_rt_oom
#define rt_hint chat_rt_hint
#define rt_tostr chat_rt_tostr
#define rt_iter_list chat_rt_iter_list
#define rt_getattr chat_rt_getattr
#define rt_getitem chat_rt_getitem
#define rt_compare chat_rt_compare

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

bool rt_fail(rctx *R, const node *at, chat_status st, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* fails with the undefined's hint as message */
bool rt_undef(rctx *R, const node *at, cv u);
/* true when out of arena memory; sets the error */
bool rt_oom(rctx *R, const node *at);

cv rt_hint(rctx *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool rt_tostr(rctx *R, const node *at, cv v, cv *out); /* str(v) as a value */
bool rt_iter_list(rctx *R, const node *at, cv v, cv_list **out);
bool rt_getattr(rctx *R, const node *at, cv obj, const char *name, size_t n, cv *out);
bool rt_getitem(rctx *R, const node *at, cv obj, cv key, cv *out);
bool rt_compare(rctx *R, const node *at, cv a, cv b, int *cmp);

/* positional i, or keyword name, or NULL */
const cv *arg_get(const chat_args *A, size_t i, const char *name);

bool chat_call_filter(rctx *R, const node *at, const char *name, size_t n, cv v, const chat_args *A, cv *out);
bool chat_call_test(rctx *R, const node *at, const char *name, size_t n, cv v, const chat_args *A, bool *out);
/* method calls on str/dict/list/loop values; *handled false when obj has no such method */
bool chat_call_method(rctx *R, const node *at, cv obj, const char *name, size_t n, const chat_args *A, cv *out,
		      bool *handled);
bool chat_call_builtin(rctx *R, const node *at, int func, const chat_args *A, cv *out);

#endif
