/* rt_forward: the decoder stack over a chunk of up to max_batch tokens at a time. */
#include <string.h>

#include "rt_state_impl.h"

static rt_status mm(const rt_model *m, float *y, const float *x, size_t rows, const kn_weight *w, const char *what,
		    uint32_t layer, rt_error *err)
{
	if (kn_matmul(y, x, rows, w, &m->exec) != 0)
		return rt_fail(err, RT_E_NOMEM, "forward: matmul %s of layer %u failed (out of memory)", what, layer);
	return RT_OK;
}

#define TRY(x)                                                                                    \
	do {                                                                                      \
		rt_status st_ = (x);                                                              \
		if (st_ != RT_OK)                                                                 \
			return st_;                                                               \
	} while (0)

/* Tokens tok[0..nb) at positions p0.. ; logits rows written for the chunk per `mode`. */
static rt_status chunk(const rt_model *m, rt_state *s, const int32_t *tok, size_t nb, size_t p0, rt_logits_mode mode,
		       float *logits, rt_error *err)
{
	const rt_config *c = &m->cfg;
	const rt_weights *w = &m->w;
	size_t d = c->d_model, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
	size_t q_row = nh * hd, kv_row = nkv * hd, ff = c->d_ff;
	size_t row_bytes = kn_kv_row_bytes(s->kv_type, nkv, hd); /* rt_state checked it and the sizes */
	size_t layer_cache = (size_t)s->max_ctx * row_bytes;
	float *x = s->buf[RT_BUF_X], *xn = s->buf[RT_BUF_XN], *q = s->buf[RT_BUF_Q], *kn = s->buf[RT_BUF_KN],
	      *vn = s->buf[RT_BUF_VN], *att = s->buf[RT_BUF_ATT], *gate = s->buf[RT_BUF_GATE], *up = s->buf[RT_BUF_UP],
	      *scores = s->buf[RT_BUF_SCORES];

	for (size_t i = 0; i < nb; i++)
		kn_embed(x + i * d, &w->tok_embd, (size_t)tok[i]);

	for (uint32_t l = 0; l < c->n_layers; l++) {
		const rt_layer *L = &w->layers[l];
		uint8_t *kc = (uint8_t *)s->buf[RT_BUF_K] + l * layer_cache;
		uint8_t *vc = (uint8_t *)s->buf[RT_BUF_V] + l * layer_cache;

		for (size_t i = 0; i < nb; i++)
			kn_rmsnorm(xn + i * d, x + i * d, L->attn_norm, d, c->norm_eps);
		TRY(mm(m, q, xn, nb, &L->attn_q, "attn_q", l, err));
		TRY(mm(m, kn, xn, nb, &L->attn_k, "attn_k", l, err));
		TRY(mm(m, vn, xn, nb, &L->attn_v, "attn_v", l, err));
		if (c->attn_bias) {
			kn_add_bias(q, L->q_bias, nb, q_row);
			kn_add_bias(kn, L->k_bias, nb, kv_row);
			kn_add_bias(vn, L->v_bias, nb, kv_row);
		}
		for (size_t i = 0; i < nb; i++) {
			float *qi = q + i * q_row, *ki = kn + i * kv_row;
			if (c->qk_norm) {
				kn_rmsnorm_heads(qi, L->q_norm, nh, hd, c->norm_eps);
				kn_rmsnorm_heads(ki, L->k_norm, nkv, hd, c->norm_eps);
			}
			kn_rope(qi, nh, hd, c->rope.dim, p0 + i, m->inv_freq, m->mscale);
			kn_rope(ki, nkv, hd, c->rope.dim, p0 + i, m->inv_freq, m->mscale);
			kn_kv_store_heads(kc + (p0 + i) * row_bytes, s->kv_type, ki, nkv, hd);
			kn_kv_store_heads(vc + (p0 + i) * row_bytes, s->kv_type, vn + i * kv_row, nkv, hd);
		}
		/* causal: token i sees cache positions 0..p0+i (its own key included) */
		for (size_t i = 0; i < nb; i++)
			kn_attention(att + i * q_row, q + i * q_row, kc, vc, s->kv_type, row_bytes, p0 + i + 1, nh, nkv,
				     hd, scores);
		TRY(mm(m, xn, att, nb, &L->attn_output, "attn_output", l, err));
		kn_add(x, xn, nb * d);

		for (size_t i = 0; i < nb; i++)
			kn_rmsnorm(xn + i * d, x + i * d, L->ffn_norm, d, c->norm_eps);
		TRY(mm(m, gate, xn, nb, &L->ffn_gate, "ffn_gate", l, err));
		TRY(mm(m, up, xn, nb, &L->ffn_up, "ffn_up", l, err));
		kn_swiglu(gate, gate, up, nb * ff);
		TRY(mm(m, xn, gate, nb, &L->ffn_down, "ffn_down", l, err));
		kn_add(x, xn, nb * d);
	}

	if (mode == RT_LOGITS_NONE)
		return RT_OK;
	size_t first = mode == RT_LOGITS_ALL ? 0 : nb - 1;
	for (size_t i = first; i < nb; i++)
		kn_rmsnorm(xn + i * d, x + i * d, w->output_norm, d, c->norm_eps);
	return mm(m, logits, xn + first * d, nb - first, &w->output, "output", c->n_layers, err);
}

rt_status rt_forward(const rt_model *m, rt_state *s, const int32_t *tokens, size_t n, size_t pos,
		     rt_logits_mode mode, float *logits, rt_error *err)
{
	const rt_config *c = &m->cfg;
	if (n == 0 || !tokens)
		return rt_fail(err, RT_E_ARG, "forward: no tokens");
	if (mode != RT_LOGITS_LAST && mode != RT_LOGITS_ALL && mode != RT_LOGITS_NONE)
		return rt_fail(err, RT_E_ARG, "forward: unknown logits mode %d", (int)mode);
	if (mode != RT_LOGITS_NONE && !logits)
		return rt_fail(err, RT_E_ARG, "forward: no logits buffer");
	if (pos > s->n_past)
		return rt_fail(err, RT_E_ARG, "forward: position %zu is past the %zu cached positions", pos, s->n_past);
	if (n > s->max_ctx || pos > s->max_ctx - n)
		return rt_fail(err, RT_E_ARG, "forward: positions %zu..%zu exceed the KV cache of %u", pos, pos + n - 1,
			       s->max_ctx);
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->vocab_size)
			return rt_fail(err, RT_E_ARG, "forward: token %zu has id %d, outside the vocabulary 0..%u", i,
				       (int)tokens[i], c->vocab_size - 1);
	/* A failure part-way leaves the cache holding only what completed. */
	s->n_past = pos;
	for (size_t done = 0; done < n;) {
		size_t nb = n - done < s->max_batch ? n - done : s->max_batch;
		bool last_chunk = done + nb == n;
		rt_logits_mode cm = mode == RT_LOGITS_ALL ? RT_LOGITS_ALL : last_chunk ? mode : RT_LOGITS_NONE;
		float *out = mode == RT_LOGITS_ALL ? logits + done * c->vocab_size : logits;
		rt_status st = chunk(m, s, tokens + done, nb, pos + done, cm, out, err);
		if (st != RT_OK)
			return st;
		done += nb;
		s->n_past = pos + done;
	}
	return RT_OK;
}
