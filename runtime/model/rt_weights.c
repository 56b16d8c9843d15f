/* rt_model: binds the canonical tensors (SPEC §7) of a mapped .bale to kernel weight views,
 * checking every shape against the config before anything runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static void dims_str(const fmt_tensor *t, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < t->n_dims && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "[%llu]", (unsigned long long)t->dims[i]);
}

static const fmt_tensor *find(const fmt_reader *r, const char *name, bool required, rt_error *err)
{
	const fmt_tensor *t = fmt_reader_find_tensor(r, name);
	if (!t && required)
		rt_fail(err, RT_E_TENSOR, "tensor %s: missing", name);
	return t;
}

/* Shape check: n_dims == (d1 ? 2 : 1) and dims == [d0][d1] (or [d0]). */
static rt_status check_shape(const fmt_tensor *t, uint64_t d0, uint64_t d1, rt_error *err)
{
	uint32_t nd = d1 ? 2 : 1;
	if (t->n_dims == nd && t->dims[0] == d0 && (nd == 1 || t->dims[1] == d1) && t->layout == 0)
		return RT_OK;
	char got[128];
	dims_str(t, got, sizeof got);
	if (t->layout != 0)
		return rt_fail(err, RT_E_TENSOR, "tensor %s: layout %u is not row-major", t->name, t->layout);
	if (nd == 1)
		return rt_fail(err, RT_E_TENSOR, "tensor %s: expected [%llu], got %s", t->name, (unsigned long long)d0, got);
	return rt_fail(err, RT_E_TENSOR, "tensor %s: expected [%llu][%llu], got %s", t->name, (unsigned long long)d0,
		       (unsigned long long)d1, got);
}

static rt_status bind_matrix(const fmt_reader *r, const char *name, uint64_t n, uint64_t k, kn_weight *w,
			     rt_error *err)
{
	const fmt_tensor *t = find(r, name, true, err);
	if (!t)
		return RT_E_TENSOR;
	rt_status st = check_shape(t, n, k, err);
	if (st != RT_OK)
		return st;
	*w = (kn_weight){t->dtype, t->scheme, t->group_size, (size_t)n, (size_t)k, t->data, (const float *)(const void *)t->scales};
	char why[200];
	if (kn_weight_check(w, why, sizeof why) != 0)
		return rt_fail(err, RT_E_TENSOR, "tensor %s: cannot be used: %s", name, why);
	return RT_OK;
}

/* A vector tensor copied to f32 at *cursor (advanced by n). */
static rt_status bind_vector(const fmt_reader *r, const char *name, uint64_t n, float **cursor, const float **out,
			     rt_error *err)
{
	const fmt_tensor *t = find(r, name, true, err);
	if (!t)
		return RT_E_TENSOR;
	rt_status st = check_shape(t, n, 0, err);
	if (st != RT_OK)
		return st;
	if (t->scheme != FMT_SCHEME_NONE && t->scheme != FMT_SCHEME_ROW)
		return rt_fail(err, RT_E_TENSOR, "tensor %s: a vector cannot use scheme %s", name, fmt_scheme_name(t->scheme));
	fmt_tensor_dequant_row(t, 0, *cursor);
	*out = *cursor;
	*cursor += n;
	return RT_OK;
}

#define TRY(x)                                                                                    \
	do {                                                                                      \
		rt_status st_ = (x);                                                              \
		if (st_ != RT_OK)                                                                 \
			goto fail;                                                                \
	} while (0)

rt_status rt_model_create(const fmt_reader *r, const rt_model_opts *opts, rt_model **out, rt_error *err)
{
	*out = NULL;
	rt_model *m = calloc(1, sizeof *m);
	if (!m)
		return rt_fail(err, RT_E_NOMEM, "out of memory");
	rt_config *c = &m->cfg;
	rt_status st = rt_config_from_meta(fmt_reader_kv(r, FMT_SEC_META), c, err);
	if (st != RT_OK) {
		free(m);
		return st;
	}
	if (opts) {
		c->rope.mscale_mode = opts->yarn_mscale;
		m->exec = opts->exec;
	}
	uint64_t d = c->d_model, hd = c->head_dim, q_out = (uint64_t)c->n_heads * hd, kv_out = (uint64_t)c->n_kv_heads * hd;
	/* f32 vectors: output_norm + per layer two norms, qk norms, biases (all < 2^40, no overflow) */
	uint64_t per_layer = 2 * d + (c->qk_norm ? 2 * hd : 0) + (c->attn_bias ? q_out + 2 * kv_out : 0);
	uint64_t n_owned = d + per_layer * c->n_layers + c->rope.dim / 2;
	m->owned = malloc(n_owned * sizeof(float));
	m->w.layers = calloc(c->n_layers, sizeof *m->w.layers);
	if (!m->owned || !m->w.layers) {
		st = rt_fail(err, RT_E_NOMEM, "out of memory for %llu weight floats", (unsigned long long)n_owned);
		goto fail;
	}
	float *cur = m->owned;
	m->inv_freq = cur;
	cur += c->rope.dim / 2;
	char msg[200];
	if (kn_rope_init(&c->rope, m->inv_freq, &m->mscale, msg, sizeof msg) != 0) {
		st = rt_fail(err, RT_E_META, "META: %s", msg);
		goto fail;
	}

	rt_weights *w = &m->w;
	TRY(st = bind_matrix(r, "tok_embd", c->vocab_size, d, &w->tok_embd, err));
	TRY(st = bind_vector(r, "output_norm", d, &cur, &w->output_norm, err));
	if (c->tie_embeddings) {
		if (fmt_reader_find_tensor(r, "output")) {
			st = rt_fail(err, RT_E_TENSOR, "tensor output: present although model.tie_embeddings is true");
			goto fail;
		}
		w->output = w->tok_embd;
	} else {
		TRY(st = bind_matrix(r, "output", c->vocab_size, d, &w->output, err));
	}
	for (uint32_t i = 0; i < c->n_layers; i++) {
		rt_layer *L = &w->layers[i];
		char name[64];
#define NAME(s) (snprintf(name, sizeof name, "blk.%u.%s", i, s), name)
		TRY(st = bind_vector(r, NAME("attn_norm"), d, &cur, &L->attn_norm, err));
		TRY(st = bind_vector(r, NAME("ffn_norm"), d, &cur, &L->ffn_norm, err));
		TRY(st = bind_matrix(r, NAME("attn_q"), q_out, d, &L->attn_q, err));
		TRY(st = bind_matrix(r, NAME("attn_k"), kv_out, d, &L->attn_k, err));
		TRY(st = bind_matrix(r, NAME("attn_v"), kv_out, d, &L->attn_v, err));
		TRY(st = bind_matrix(r, NAME("attn_output"), d, q_out, &L->attn_output, err));
		TRY(st = bind_matrix(r, NAME("ffn_gate"), c->d_ff, d, &L->ffn_gate, err));
		TRY(st = bind_matrix(r, NAME("ffn_up"), c->d_ff, d, &L->ffn_up, err));
		TRY(st = bind_matrix(r, NAME("ffn_down"), d, c->d_ff, &L->ffn_down, err));
		if (c->qk_norm) {
			TRY(st = bind_vector(r, NAME("attn_q_norm"), hd, &cur, &L->q_norm, err));
			TRY(st = bind_vector(r, NAME("attn_k_norm"), hd, &cur, &L->k_norm, err));
		}
		if (c->attn_bias) {
			TRY(st = bind_vector(r, NAME("attn_q_bias"), q_out, &cur, &L->q_bias, err));
			TRY(st = bind_vector(r, NAME("attn_k_bias"), kv_out, &cur, &L->k_bias, err));
			TRY(st = bind_vector(r, NAME("attn_v_bias"), kv_out, &cur, &L->v_bias, err));
		}
#undef NAME
	}
	*out = m;
	return RT_OK;
fail:
	rt_model_free(m);
	return st;
}

void rt_model_free(rt_model *m)
{
	if (!m)
		return;
	free(m->owned);
	free(m->w.layers);
	free(m);
}

const rt_config *rt_model_config(const rt_model *m)
{
	return &m->cfg;
}

const rt_weights *rt_model_weights(const rt_model *m)
{
	return &m->w;
}
