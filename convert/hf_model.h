/* cv_hf — a Hugging Face config.json read into a validated description of the model, the tensors
 * it must have (Hugging Face name → canonical name of SPEC §7, with shapes) and its META keys
 * (SPEC §8.1). Every number is checked: integers integral and in range, head counts dividing,
 * layer count ≤ 1024, floats finite and positive where they must be. */
#ifndef BALE_CV_HF_MODEL_H
#define BALE_CV_HF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"
#include "safetensors.h"

#define CV_HF_MAX_LAYERS 1024u
#define CV_HF_MAX_EOS 16

typedef enum { CV_ARCH_QWEN3 = 0, CV_ARCH_QWEN2, CV_ARCH_LLAMA } cv_arch;
typedef enum { CV_ROPE_NONE = 0, CV_ROPE_YARN, CV_ROPE_LINEAR, CV_ROPE_LLAMA3 } cv_rope_type;

typedef struct {
	cv_arch arch;
	const char *arch_name; /* "qwen3", "qwen2", "llama" */
	uint32_t n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff, vocab_size, max_ctx;
	double norm_eps;
	bool tie_embeddings, qk_norm, attn_bias;
	double rope_theta;
	cv_rope_type rope_type;
	double rope_factor;
	uint32_t rope_orig_ctx; /* 0 when absent */
	double yarn_beta_fast, yarn_beta_slow;
	bool has_attn_factor;       /* rope_scaling.attn_factor (DeepSeek/vLLM meaning) */
	double attn_factor;
	bool has_attention_factor;  /* rope_scaling.attention_factor (transformers meaning) */
	double attention_factor;
	double low_freq_factor, high_freq_factor;
	int32_t bos_id, pad_id;
	int32_t eos_ids[CV_HF_MAX_EOS]; /* config first, then generation_config, without repeats */
	uint32_t n_eos;
} cv_hf_config;

/* Parses config.json text (`path` names it in messages). Refuses quantized checkpoints
 * (quantization_config), unknown architectures and inconsistent or out-of-range values. */
int cv_hf_config_parse(const char *json, size_t len, const char *path, cv_hf_config *c, cv_err *err);
/* Adds eos ids of generation_config.json (int or list) to c->eos_ids. */
int cv_hf_config_add_generation_eos(cv_hf_config *c, const char *json, size_t len, const char *path, cv_err *err);

typedef enum { CV_ROLE_EMBD, CV_ROLE_LINEAR, CV_ROLE_NORM, CV_ROLE_BIAS } cv_role;

typedef struct {
	char hf_name[96];
	char name[64];         /* canonical */
	cv_role role;
	uint32_t n_dims;       /* 1 or 2 */
	uint64_t dims[2];
} cv_hf_tensor;

/* The tensors a model of this config has, in output order: tok_embd, then each layer
 * (attn_norm, attn_q, attn_q_bias, attn_k, attn_k_bias, attn_v, attn_v_bias, attn_q_norm,
 * attn_k_norm, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down), output_norm, output.
 * Malloc'ed array; caller frees. */
int cv_hf_expected(const cv_hf_config *c, cv_hf_tensor **out, size_t *n, cv_err *err);

/* HF names present in a checkpoint that are not tensors of the model but harmless to skip:
 * rotary inv_freq buffers, and lm_head.weight when the embeddings are tied (transformers ties
 * it to embed_tokens on load, so its stored value is never used). */
bool cv_hf_ignorable(const cv_hf_config *c, const char *hf_name);

/* Writes the META keys of SPEC §8.1 (general.name when `name` is non-NULL). */
int cv_hf_write_meta(const cv_hf_config *c, const char *name, fmt_kvbuild *kv, cv_err *err);

/* Copies the keys of SPEC §8.3 from generation_config.json into the GENERATION list. */
int cv_hf_write_generation(const char *json, size_t len, const char *path, fmt_kvbuild *kv, cv_err *err);

#endif
