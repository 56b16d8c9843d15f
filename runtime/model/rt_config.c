/* rt_config: META (SPEC §8.1) to a plain struct, every value range-checked. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rt_internal.h"

rt_status rt_fail(rt_error *err, rt_status st, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->status = st;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return st;
}

const char *rt_status_name(rt_status st)
{
	switch (st) {
	case RT_OK:
		return "RT_OK";
	case RT_E_META:
		return "RT_E_META";
	case RT_E_TENSOR:
		return "RT_E_TENSOR";
	case RT_E_NOMEM:
		return "RT_E_NOMEM";
	case RT_E_ARG:
		return "RT_E_ARG";
	}
	return "RT_E_?";
}

static rt_status meta_err(rt_error *err, const fmt_error *fe)
{
	return rt_fail(err, RT_E_META, "META: %s", fe->msg);
}

static rt_status get_u32(const fmt_kvlist *l, const char *key, uint32_t lo, uint32_t hi, uint32_t *out, rt_error *err)
{
	fmt_error fe = {0};
	if (fmt_kv_u32(l, key, out, &fe) != FMT_OK)
		return meta_err(err, &fe);
	if (*out < lo || *out > hi)
		return rt_fail(err, RT_E_META, "META key %s: %u is out of range %u..%u", key, *out, lo, hi);
	return RT_OK;
}

static rt_status get_bool(const fmt_kvlist *l, const char *key, bool *out, rt_error *err)
{
	fmt_error fe = {0};
	return fmt_kv_bool(l, key, out, &fe) == FMT_OK ? RT_OK : meta_err(err, &fe);
}

/* A finite double in [lo, hi]; when `def` is non-NULL the key is optional. */
static rt_status get_f64(const fmt_kvlist *l, const char *key, double lo, double hi, const double *def, double *out,
			 rt_error *err)
{
	fmt_error fe = {0};
	fmt_status fs = fmt_kv_f64(l, key, out, &fe);
	if (fs == FMT_E_NOTFOUND && def) {
		*out = *def;
		return RT_OK;
	}
	if (fs != FMT_OK)
		return meta_err(err, &fe);
	if (!isfinite(*out) || *out < lo || *out > hi)
		return rt_fail(err, RT_E_META, "META key %s: %g is not a finite value in [%g, %g]", key, *out, lo, hi);
	return RT_OK;
}

/* A STR equal to one of names[]; returns its index in *idx. */
static rt_status get_enum(const fmt_kvlist *l, const char *key, const char *const *names, size_t n, size_t *idx,
			  rt_error *err)
{
	fmt_error fe = {0};
	const char *s;
	size_t len;
	if (fmt_kv_str(l, key, &s, &len, &fe) != FMT_OK)
		return meta_err(err, &fe);
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], s, len)) {
			*idx = i;
			return RT_OK;
		}
	return rt_fail(err, RT_E_META, "META key %s: unsupported value '%.*s'", key, (int)(len > 64 ? 64 : len), s);
}

#define TRY(x)                                                                                    \
	do {                                                                                      \
		rt_status st_ = (x);                                                              \
		if (st_ != RT_OK)                                                                 \
			return st_;                                                               \
	} while (0)

rt_status rt_config_from_meta(const fmt_kvlist *l, rt_config *c, rt_error *err)
{
	memset(c, 0, sizeof *c);
	if (!l)
		return rt_fail(err, RT_E_META, "the file has no META section");
	static const char *const archs[] = {"qwen3", "qwen2", "llama"};
	static const char *const acts[] = {"silu"};
	static const char *const ropes[] = {"none", "linear", "yarn", "llama3"}; /* kn_rope_type order */
	size_t idx = 0;
	TRY(get_enum(l, "general.architecture", archs, 3, &idx, err));
	c->arch = (rt_arch)idx;
	TRY(get_enum(l, "model.act", acts, 1, &idx, err));
	TRY(get_u32(l, "model.n_layers", 1, RT_MAX_LAYERS, &c->n_layers, err));
	TRY(get_u32(l, "model.d_model", 1, RT_MAX_DIM, &c->d_model, err));
	TRY(get_u32(l, "model.n_heads", 1, RT_MAX_HEADS, &c->n_heads, err));
	TRY(get_u32(l, "model.n_kv_heads", 1, c->n_heads, &c->n_kv_heads, err));
	if (c->n_heads % c->n_kv_heads)
		return rt_fail(err, RT_E_META, "META: model.n_heads %u is not a multiple of model.n_kv_heads %u",
			       c->n_heads, c->n_kv_heads);
	TRY(get_u32(l, "model.head_dim", 2, RT_MAX_HEAD_DIM, &c->head_dim, err));
	TRY(get_u32(l, "model.d_ff", 1, RT_MAX_DIM, &c->d_ff, err));
	TRY(get_u32(l, "model.vocab_size", 1, RT_MAX_VOCAB, &c->vocab_size, err));
	TRY(get_u32(l, "model.max_ctx", 1, RT_MAX_CTX, &c->max_ctx, err));
	double eps;
	TRY(get_f64(l, "model.norm_eps", 1e-12, 1.0, NULL, &eps, err));
	c->norm_eps = (float)eps;
	TRY(get_bool(l, "model.tie_embeddings", &c->tie_embeddings, err));
	TRY(get_bool(l, "model.qk_norm", &c->qk_norm, err));
	TRY(get_bool(l, "model.attn_bias", &c->attn_bias, err));

	kn_rope_params *r = &c->rope;
	TRY(get_enum(l, "rope.type", ropes, 4, &idx, err));
	r->type = (kn_rope_type)idx;
	TRY(get_f64(l, "rope.theta", 1e-3, 1e12, NULL, &r->theta, err));
	if (r->theta == 1.0)
		return rt_fail(err, RT_E_META, "META key rope.theta: must not be 1");
	TRY(get_u32(l, "rope.dim", 2, c->head_dim, &r->dim, err));
	if (r->dim % 2)
		return rt_fail(err, RT_E_META, "META key rope.dim: %u is odd", r->dim);
	const double one = 1.0, b_fast = 32.0, b_slow = 1.0;
	TRY(get_f64(l, "rope.factor", 1e-6, 1e6, &one, &r->factor, err));
	if (r->type == KN_ROPE_YARN || r->type == KN_ROPE_LLAMA3) {
		TRY(get_u32(l, "rope.orig_ctx", 1, RT_MAX_CTX, &r->orig_ctx, err));
	}
	if (r->type == KN_ROPE_YARN) {
		TRY(get_f64(l, "rope.yarn_beta_fast", 1e-6, 1e6, &b_fast, &r->beta_fast, err));
		TRY(get_f64(l, "rope.yarn_beta_slow", 1e-6, 1e6, &b_slow, &r->beta_slow, err));
		if (fmt_kv_find(l, "rope.attn_factor")) {
			TRY(get_f64(l, "rope.attn_factor", 1e-6, 1e6, NULL, &r->attn_factor, err));
			r->has_attn_factor = true;
		}
		if (fmt_kv_find(l, "rope.attention_factor")) {
			TRY(get_f64(l, "rope.attention_factor", 1e-6, 1e6, NULL, &r->attention_factor, err));
			r->has_attention_factor = true;
		}
	}
	if (r->type == KN_ROPE_LLAMA3) {
		TRY(get_f64(l, "rope.low_freq_factor", 1e-6, 1e6, NULL, &r->low_freq_factor, err));
		TRY(get_f64(l, "rope.high_freq_factor", 1e-6, 1e6, NULL, &r->high_freq_factor, err));
		if (r->high_freq_factor <= r->low_freq_factor)
			return rt_fail(err, RT_E_META, "META: rope.high_freq_factor %g must exceed rope.low_freq_factor %g",
				       r->high_freq_factor, r->low_freq_factor);
	}
	/* Leaves the remaining checks (and their messages) to the one place that computes frequencies. */
	float probe[RT_MAX_HEAD_DIM / 2], ms;
	char msg[200];
	if (kn_rope_init(r, probe, &ms, msg, sizeof msg) != 0)
		return rt_fail(err, RT_E_META, "META: %s", msg);
	return RT_OK;
}
