/* rt — the transformer forward pass on the CPU over a mapped .bale (Qwen3, Qwen2, Llama).
 *
 *   fmt_reader_open(path, &r, &fe);
 *   rt_model_create(r, NULL, &m, &err);          config from META, weights bound by canonical name
 *   rt_state_create(m, &(rt_state_opts){.max_ctx = 4096, .max_batch = 64}, &s, &err);
 *   rt_forward(m, s, ids, n, 0, RT_LOGITS_LAST, logits, &err);          prefill
 *   rt_forward(m, s, &next, 1, n, RT_LOGITS_LAST, logits, &err);        decode one token
 *
 * The model borrows the reader's mapping (close the reader after rt_model_free). Weights stay in
 * their stored type and are dequantized inside the matmul; only the small vectors (norm weights,
 * biases) are copied to f32. All memory of a state (KV cache and activations) is allocated once
 * by rt_state_create; rt_state_size says how much beforehand. Nothing here prints or exits.
 *
 * Layer (pre-norm): h = x + Wo·attn(rope(qk_norm(Wq·n1(x) + bq)), rope(qk_norm(Wk·n1(x) + bk)), Wv·n1(x) + bv)
 *                   x' = h + Wdown·(silu(Wgate·n2(h)) ⊙ Wup·n2(h))
 * with qk_norm for Qwen3 (model.qk_norm), biases for Qwen2 (model.attn_bias), neither for Llama;
 * then logits = W_out·norm(x), W_out = tok_embd when model.tie_embeddings.
 */
#ifndef BALE_RT_MODEL_H
#define BALE_RT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"
#include "kn_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	RT_OK = 0,
	RT_E_META = 1,   /* a META key is missing, has the wrong type or is out of range */
	RT_E_TENSOR = 2, /* a tensor is missing, has the wrong shape, or a type the kernels cannot read */
	RT_E_NOMEM = 3,
	RT_E_ARG = 4,    /* bad call: token id out of range, position past the cache, n == 0, ... */
} rt_status;

typedef struct {
	rt_status status;
	char msg[512];
} rt_error;

const char *rt_status_name(rt_status st); /* "RT_E_META" */

/* ---- configuration (formats/SPEC.md §8.1) ---- */

typedef enum { RT_ARCH_QWEN3 = 0, RT_ARCH_QWEN2 = 1, RT_ARCH_LLAMA = 2 } rt_arch;

typedef struct {
	rt_arch arch;
	uint32_t n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff, vocab_size, max_ctx;
	float norm_eps;
	bool tie_embeddings, qk_norm, attn_bias;
	kn_rope_params rope; /* mscale_mode is left at KN_YARN_MSCALE_TRANSFORMERS */
} rt_config;

/* Fills cfg from a META list, checking presence, type and range of every key. */
rt_status rt_config_from_meta(const fmt_kvlist *meta, rt_config *cfg, rt_error *err);

/* ---- weights ---- */

typedef struct {
	kn_weight attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down;
	const float *attn_norm, *ffn_norm;        /* [d_model] */
	const float *q_norm, *k_norm;             /* [head_dim] when qk_norm, else NULL */
	const float *q_bias, *k_bias, *v_bias;    /* when attn_bias, else NULL */
} rt_layer;

typedef struct {
	kn_weight tok_embd; /* [vocab][d_model] */
	kn_weight output;   /* [vocab][d_model]; equals tok_embd when tied */
	const float *output_norm;
	rt_layer *layers;   /* n_layers */
} rt_weights;

/* ---- model ---- */

typedef struct rt_model rt_model;

typedef struct {
	/* How YaRN's cos/sin scale treats rope.attn_factor (kn_cpu.h). Default (0) reproduces
	 * transformers' logits; KN_YARN_MSCALE_VLLM reproduces vLLM/SGLang (scale 1.0 for
	 * DeepSeek-R1-0528-Qwen3-8B). */
	kn_yarn_mscale yarn_mscale;
	kn_exec exec; /* matmul threads / ISA; zero = defaults */
} rt_model_opts;

/* opts may be NULL. The reader must stay open until rt_model_free. */
rt_status rt_model_create(const fmt_reader *r, const rt_model_opts *opts, rt_model **out, rt_error *err);
void rt_model_free(rt_model *m); /* accepts NULL */
const rt_config *rt_model_config(const rt_model *m);
const rt_weights *rt_model_weights(const rt_model *m);

/* ---- state: KV cache + activations ---- */

typedef struct rt_state rt_state;

typedef struct {
	uint32_t max_ctx;   /* positions the KV cache holds; 0 = the model's max_ctx */
	uint32_t max_batch; /* tokens per internal step of rt_forward; 0 = 1. Larger prompts are split. */
	kn_kv_type kv_type; /* KN_KV_F32 (default), KN_KV_BF16 or KN_KV_F8 (E4M3 + f32 scale per head) */
} rt_state_opts;

/* Bytes rt_state_create would allocate (opts may be NULL). */
rt_status rt_state_size(const rt_model *m, const rt_state_opts *opts, size_t *bytes, rt_error *err);
rt_status rt_state_create(const rt_model *m, const rt_state_opts *opts, rt_state **out, rt_error *err);
void rt_state_free(rt_state *s); /* accepts NULL */
/* Positions currently held in the KV cache (the next rt_forward may start at any pos ≤ this). */
size_t rt_state_n_past(const rt_state *s);

/* ---- forward ---- */

typedef enum { RT_LOGITS_LAST = 0, RT_LOGITS_ALL = 1, RT_LOGITS_NONE = 2 } rt_logits_mode;

/* Runs tokens[0..n) at positions pos..pos+n-1, attending to cache positions 0..pos-1 written by
 * earlier calls (pos ≤ rt_state_n_past; a smaller pos rewinds). Writes f32 logits: [vocab] for
 * the last token (LAST), [n][vocab] (ALL), or nothing (NONE, logits may be NULL). */
rt_status rt_forward(const rt_model *m, rt_state *s, const int32_t *tokens, size_t n, size_t pos,
		     rt_logits_mode mode, float *logits, rt_error *err);

#ifdef __cplusplus
}
#endif
#endif
