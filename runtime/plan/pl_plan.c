/* The memory plan: weights + KV pages + workspace + reserve against a budget (docs/GPU.md). */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *pl_status_name(pl_status st)
{
	switch (st) {
	case PL_OK: return "PL_OK";
	case PL_E_ARG: return "PL_E_ARG";
	case PL_E_OVERFLOW: return "PL_E_OVERFLOW";
	case PL_E_NOFIT: return "PL_E_NOFIT";
	case PL_E_NOMEM: return "PL_E_NOMEM";
	}
	return "PL_E_?";
}

const char *pl_kv_name(pl_kv_type t) { return t == PL_KV_FP8 ? "FP8" : t == PL_KV_BF16 ? "BF16" : "?"; }

static pl_status fail(char *err, size_t len, pl_status st, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static pl_status fail(char *err, size_t len, pl_status st, const char *fmt, ...)
{
	if (err && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* ---- checked arithmetic: every helper returns false on overflow --------------------------- */

static bool mul(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static bool add(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_add_overflow(a, b, r); }

static bool mul3(uint64_t a, uint64_t b, uint64_t c, uint64_t *r)
{
	uint64_t t;
	return mul(a, b, &t) && mul(t, c, r);
}

static bool align_up(uint64_t v, uint64_t *r)
{
	uint64_t t;
	if (!add(v, PL_ALIGN - 1, &t))
		return false;
	*r = t / PL_ALIGN * PL_ALIGN;
	return true;
}

/* *acc += align(bytes) */
static bool acc_aligned(uint64_t *acc, uint64_t bytes)
{
	uint64_t a;
	return align_up(bytes, &a) && add(*acc, a, acc);
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

/* GiB, or MiB below 1 GiB so that small budgets stay distinguishable. */
static void gib_str(uint64_t n, char *buf, size_t len)
{
	if (n >= (uint64_t)1 << 30)
		snprintf(buf, len, "%.2f GiB", (double)n / (double)((uint64_t)1 << 30));
	else
		snprintf(buf, len, "%.2f MiB", (double)n / (double)((uint64_t)1 << 20));
}

/* ---- pieces ------------------------------------------------------------------------------- */

static pl_status check_dims(const pl_dims *d, char *err, size_t len)
{
	static const char *const names[] = {"n_layers", "n_heads", "n_kv_heads", "head_dim", "d_model", "d_ff", "vocab"};
	const uint32_t v[] = {d->n_layers, d->n_heads, d->n_kv_heads, d->head_dim, d->d_model, d->d_ff, d->vocab};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		if (!v[i])
			return fail(err, len, PL_E_ARG, "plan: model dimension %s is 0", names[i]);
	if (d->n_kv_heads > d->n_heads)
		return fail(err, len, PL_E_ARG, "plan: n_kv_heads %u exceeds n_heads %u", d->n_kv_heads, d->n_heads);
	return PL_OK;
}

/* K+V bytes of one token (no scales) and f32 scale bytes of one page: FP8 has one scale per
 * (token, layer, K/V, kv head), scales [n_pages][n_layers][2][n_kv_heads][page_tokens]. */
static bool kv_geometry(const pl_dims *d, pl_kv_type kv, uint32_t page, uint64_t *token_bytes, uint64_t *page_data,
			uint64_t *page_scales)
{
	uint64_t per_layer, t, token_scales;
	if (!mul3(2, d->n_kv_heads, d->head_dim, &per_layer) || !mul(per_layer, d->n_layers, &t) ||
	    !mul(t, kv == PL_KV_FP8 ? 1 : 2, token_bytes) || !mul(*token_bytes, page, page_data))
		return false;
	*page_scales = 0;
	return kv != PL_KV_FP8 ||
	       (mul3(2ull * 4, d->n_layers, d->n_kv_heads, &token_scales) && mul(token_scales, page, page_scales));
}

/* KV cache of n_pages pages: the page pool and the scale array, each one aligned allocation. */
static bool kv_pool(uint64_t n_pages, uint64_t page_data, uint64_t page_scales, uint64_t *kv, uint64_t *scales)
{
	uint64_t d, s;
	if (!mul(n_pages, page_data, &d) || !mul(n_pages, page_scales, &s))
		return false;
	*kv = 0;
	*scales = 0;
	return acc_aligned(kv, d) && acc_aligned(scales, s) && add(*kv, *scales, kv);
}

pl_status pl_kv_bytes(const pl_dims *d, pl_kv_type kv, uint32_t page_tokens, uint64_t n_tokens, uint64_t *out,
		      char *err, size_t len)
{
	if (!d || !out)
		return fail(err, len, PL_E_ARG, "plan: NULL argument");
	pl_status st = check_dims(d, err, len);
	if (st != PL_OK)
		return st;
	if (kv != PL_KV_BF16 && kv != PL_KV_FP8)
		return fail(err, len, PL_E_ARG, "plan: unknown KV type %d", (int)kv);
	uint32_t page = page_tokens ? page_tokens : PL_DEFAULT_PAGE;
	uint64_t tb, pd, ps, sc;
	if (!kv_geometry(d, kv, page, &tb, &pd, &ps) || !kv_pool(ceil_div(n_tokens, page), pd, ps, out, &sc))
		return fail(err, len, PL_E_OVERFLOW, "plan: KV cache of %llu tokens overflows 64 bits",
			    (unsigned long long)n_tokens);
	return PL_OK;
}

/* What everything but the weights and the reserve costs at `pages` pages per sequence. */
typedef struct {
	uint64_t kv, kv_scales, n_pages, page_bytes, token_bytes, workspace;
	pl_workspace ws;
} var_part;

static bool variable_part(const pl_dims *d, pl_kv_type kvt, uint32_t page, uint32_t n_seq, uint32_t chunk,
			  uint64_t pages, var_part *v)
{
	memset(v, 0, sizeof *v);
	uint64_t pd, ps, ctx_tokens;
	if (!kv_geometry(d, kvt, page, &v->token_bytes, &pd, &ps) || !add(pd, ps, &v->page_bytes) ||
	    !mul(pages, n_seq, &v->n_pages) || !kv_pool(v->n_pages, pd, ps, &v->kv, &v->kv_scales) ||
	    !mul(pages, page, &ctx_tokens))
		return false;

	pl_workspace *w = &v->ws;
	uint64_t T = chunk > n_seq ? chunk : n_seq;
	w->step_tokens = (uint32_t)T;
	/* One step's activations: residual stream f32 [T][d_model], normed input bf16 [T][d_model],
	 * q|k|v bf16 [T][(n_heads + 2 n_kv_heads) head_dim], attention output bf16
	 * [T][n_heads head_dim], gate|up bf16 [T][2 d_ff], SwiGLU output bf16 [T][d_ff]. */
	uint64_t qkv_w, attn_w, ff2, b;
	if (!mul(d->n_heads + 2ull * d->n_kv_heads, d->head_dim, &qkv_w) || !mul(d->n_heads, d->head_dim, &attn_w) ||
	    !mul(d->d_ff, 2, &ff2))
		return false;
	const struct {
		uint64_t cols, elt;
	} act[] = {{d->d_model, 4}, {d->d_model, 2}, {qkv_w, 2}, {attn_w, 2}, {ff2, 2}, {d->d_ff, 2}};
	for (size_t i = 0; i < sizeof act / sizeof *act; i++)
		if (!mul3(T, act[i].cols, act[i].elt, &b) || !acc_aligned(&w->act, b))
			return false;
	/* Logits f32 [n_seq][vocab]: only each sequence's last position reaches the LM head. */
	if (!mul3(n_seq, d->vocab, 4, &b) || !acc_aligned(&w->logits, b))
		return false;
	/* Decode attention splits each sequence's cache into PL_SPLIT_TOKENS pieces; a partial is the
	 * unnormalized output [head_dim] plus running max and sum, f32, per (sequence, head, split). */
	w->splits = ceil_div(ctx_tokens, PL_SPLIT_TOKENS);
	uint64_t per_split;
	if (!mul(d->head_dim + 2ull, 4, &per_split) || !mul3(n_seq, d->n_heads, w->splits, &b) || !mul(b, per_split, &b) ||
	    !acc_aligned(&w->attn_split, b))
		return false;
	/* RoPE cos/sin table f32 [ctx][head_dim] (kn_cuda_rope_table). */
	if (!mul3(ctx_tokens, d->head_dim, 4, &b) || !acc_aligned(&w->rope, b))
		return false;
	/* Page table i32 [n_seq][pages], token ids and positions i32 [T]. */
	if (!mul3(n_seq, pages, 4, &b) || !acc_aligned(&w->page_table, b) || !acc_aligned(&w->page_table, T * 4) ||
	    !acc_aligned(&w->page_table, T * 4))
		return false;
	return add(w->act, w->logits, &v->workspace) && add(v->workspace, w->attn_split, &v->workspace) &&
	       add(v->workspace, w->rope, &v->workspace) && add(v->workspace, w->page_table, &v->workspace);
}

static bool total_of(uint64_t fixed, const var_part *v, uint64_t *total)
{
	return add(fixed, v->kv, total) && add(*total, v->workspace, total);
}

/* Largest pages-per-sequence count whose total fits the budget (0 when none); the total is
 * monotone in pages, so a binary search finds it. */
static uint64_t max_pages(const pl_dims *d, pl_kv_type kvt, uint32_t page, uint32_t n_seq, uint32_t chunk,
			  uint64_t fixed, uint64_t budget)
{
	uint64_t lo = 0, hi = UINT32_MAX / page; /* ctx stays a uint32 */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		var_part v;
		uint64_t t;
		if (variable_part(d, kvt, page, n_seq, chunk, mid, &v) && total_of(fixed, &v, &t) && t <= budget)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Device bytes of the weights; the embedding table's host bytes when it stays on the host. */
static pl_status weight_bytes(const pl_request *q, uint64_t *dev, uint64_t *host, bool *tied, char *err, size_t len)
{
	*dev = *host = 0;
	*tied = true;
	const pl_tensor *embd = NULL;
	for (size_t i = 0; i < q->n_tensors; i++) {
		const pl_tensor *t = &q->tensors[i];
		if (t->name && !strcmp(t->name, "output"))
			*tied = false;
		if (t->name && !strcmp(t->name, "tok_embd") && !embd)
			embd = t;
	}
	for (size_t i = 0; i < q->n_tensors; i++) {
		const pl_tensor *t = &q->tensors[i];
		if (t == embd && q->embed_on_host && !*tied) {
			*host = t->bytes;
			continue;
		}
		if (!acc_aligned(dev, t->bytes))
			return fail(err, len, PL_E_OVERFLOW, "plan: weight bytes overflow 64 bits at tensor '%s'",
				    t->name ? t->name : "?");
	}
	return PL_OK;
}

/* "ctx C with BF16 KV needs X > budget B (--vram); fits: ctx M (BF16 KV) or ctx N (FP8 KV), or
 * --vram NG": the same KV type at its largest context, FP8 when BF16 was asked, and the budget that
 * would fit the request as asked (unless the device itself is the limit). */
static void no_fit_message(const pl_plan *p, char *err, size_t len)
{
	if (!err || !len)
		return;
	char need[32], bud[32];
	gib_str(p->total, need, sizeof need);
	gib_str(p->budget, bud, sizeof bud);
	bool by_device = p->device_free && p->device_free < p->vram_bytes;
	size_t o = 0;
#define PUT(...)                                                                                                       \
	do {                                                                                                           \
		if (o < len)                                                                                           \
			o += (size_t)snprintf(err + o, len - o, __VA_ARGS__);                                          \
	} while (0)
	PUT("ctx %u with %s KV", p->ctx, pl_kv_name(p->kv_type));
	if (p->n_seq > 1)
		PUT(" x %u sequences", p->n_seq);
	PUT(" needs %s > budget %s (%s)", need, bud, by_device ? "free memory on the device" : "--vram");
	uint32_t same = p->kv_type == PL_KV_FP8 ? p->max_ctx_fp8 : p->max_ctx_bf16;
	uint32_t fp8 = p->kv_type == PL_KV_BF16 && p->max_ctx_fp8 ? (p->max_ctx_fp8 < p->ctx ? p->max_ctx_fp8 : p->ctx) : 0;
	if (same || fp8) {
		PUT("; fits: ");
		if (same)
			PUT("ctx %u (%s KV)", same, pl_kv_name(p->kv_type));
		if (fp8)
			PUT("%sctx %u (FP8 KV)", same ? " or " : "", fp8);
		if (!by_device)
			PUT(", or --vram %lluG", (unsigned long long)p->need_gib);
	} else {
		char w[32];
		gib_str(p->weights + p->reserve, w, sizeof w);
		PUT("; not even %u tokens fit: the weights and the reserve alone need %s", p->page_tokens, w);
		if (!by_device)
			PUT("; fits with --vram %lluG", (unsigned long long)p->need_gib);
	}
	if (by_device) {
		char fr[32];
		gib_str(p->device_free, fr, sizeof fr);
		PUT("; the device has %s free, %llu GiB would be needed", fr, (unsigned long long)p->need_gib);
	}
#undef PUT
}

pl_status pl_plan_compute(const pl_request *q, pl_plan *p, char *err, size_t len)
{
	if (err && len)
		err[0] = 0;
	if (!p)
		return fail(err, len, PL_E_ARG, "plan: NULL argument");
	memset(p, 0, sizeof *p);
	if (!q || (q->n_tensors && !q->tensors))
		return fail(err, len, PL_E_ARG, "plan: NULL argument");
	pl_status st = check_dims(&q->dims, err, len);
	if (st != PL_OK)
		return st;
	if (q->kv_type != PL_KV_BF16 && q->kv_type != PL_KV_FP8)
		return fail(err, len, PL_E_ARG, "plan: unknown KV type %d", (int)q->kv_type);
	if (!q->ctx)
		return fail(err, len, PL_E_ARG, "plan: ctx is 0");

	pl_plan r;
	memset(&r, 0, sizeof r);
	r.kv_type = q->kv_type;
	r.ctx = q->ctx;
	r.n_seq = q->n_seq ? q->n_seq : 1;
	r.page_tokens = q->page_tokens ? q->page_tokens : PL_DEFAULT_PAGE;
	r.prefill_chunk = q->prefill_chunk ? q->prefill_chunk : PL_DEFAULT_CHUNK;
	r.embed_on_host = q->embed_on_host;
	r.vram_bytes = q->vram_bytes ? q->vram_bytes : PL_DEFAULT_VRAM;
	r.device_free = q->device_free;
	r.budget = r.device_free && r.device_free < r.vram_bytes ? r.device_free : r.vram_bytes;
	r.reserve = q->reserve_bytes ? q->reserve_bytes : PL_DEFAULT_RESERVE;

	if ((st = weight_bytes(q, &r.weights, &r.embed_host, &r.tied, err, len)) != PL_OK)
		return st;
	uint64_t fixed;
	if (!add(r.weights, r.reserve, &fixed))
		return fail(err, len, PL_E_OVERFLOW, "plan: weights + reserve overflow 64 bits");

	uint64_t pages = ceil_div(r.ctx, r.page_tokens);
	var_part v;
	if (!variable_part(&q->dims, r.kv_type, r.page_tokens, r.n_seq, r.prefill_chunk, pages, &v) ||
	    !total_of(fixed, &v, &r.total))
		return fail(err, len, PL_E_OVERFLOW,
			    "plan: sizes overflow 64 bits (ctx %u, %u sequences, %u layers, %u kv heads, head_dim %u, "
			    "d_model %u, d_ff %u, vocab %u)",
			    r.ctx, r.n_seq, q->dims.n_layers, q->dims.n_kv_heads, q->dims.head_dim, q->dims.d_model,
			    q->dims.d_ff, q->dims.vocab);
	r.kv = v.kv;
	r.kv_scales = v.kv_scales;
	r.n_pages = v.n_pages;
	r.page_bytes = v.page_bytes;
	r.kv_token_bytes = v.token_bytes;
	r.workspace = v.workspace;
	r.ws = v.ws;
	r.fits = r.total <= r.budget;
	r.need_gib = ceil_div(r.total, (uint64_t)1 << 30);
	r.max_ctx_bf16 = (uint32_t)(max_pages(&q->dims, PL_KV_BF16, r.page_tokens, r.n_seq, r.prefill_chunk, fixed,
					      r.budget) * r.page_tokens);
	r.max_ctx_fp8 = (uint32_t)(max_pages(&q->dims, PL_KV_FP8, r.page_tokens, r.n_seq, r.prefill_chunk, fixed,
					     r.budget) * r.page_tokens);
	*p = r;
	if (!r.fits) {
		no_fit_message(p, err, len);
		return PL_E_NOFIT;
	}
	return PL_OK;
}
