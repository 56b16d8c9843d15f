/* gen — text generation over a .bale: the layer `bale run`, `bale chat` and `bale logits` share.
 *
 *   gen_model_open("m.bale", &opts, &m, &err);      reader, rt model, tokenizer, chat template,
 *                                                   GENERATION defaults, end-of-generation ids;
 *                                                   with GEN_DEVICE_CUDA also the weights uploaded
 *                                                   to the GPU (runtime/cuda, rc_model_load)
 *   gen_render(m, msgs, n, &ro, &text, &len, &err); messages → prompt text via the chat template
 *   gen_encode(m, text, len, false, &ids, &n, &err);
 *   gen_session_create(m, &so, &s, &err);           KV cache of --ctx positions
 *   gen_generate(s, ids, n, &params, on_piece, user, &stats, &err);
 *
 * A session remembers the tokens its KV cache holds; the next gen_generate only recomputes the
 * part of the new prompt after the longest common prefix (a chat turn re-renders the whole
 * conversation, and most of it is already cached).
 *
 * Text reaches the callback UTF-8-complete and final (stop strings already cut), split at the
 * reasoning tags "<think>" and "</think>": every piece says whether it is reasoning; the tags
 * themselves are delivered as reasoning pieces so a caller can show or hide them with the rest.
 *
 * Libraries never print: every failure returns a gen_status and fills a gen_error. */
#ifndef BALE_GEN_H
#define BALE_GEN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"
#include "rt_model.h"
#include "smp.h"
#include "tok.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	GEN_OK = 0,
	GEN_E_FORMAT = 1,    /* the file does not open or a section is malformed */
	GEN_E_MODEL = 2,     /* rt_model/rt_state refused the file or the options */
	GEN_E_TOKENIZER = 3, /* no TOKENIZER section, or the tokenizer fails on the text */
	GEN_E_TEMPLATE = 4,  /* no / bad chat template, or rendering failed */
	GEN_E_CONTEXT = 5,   /* the prompt does not fit in the context */
	GEN_E_SAMPLE = 6,    /* bad sampling parameters, or the sampler rejected the logits */
	GEN_E_ARG = 7,
	GEN_E_NOMEM = 8,
	GEN_E_IO = 9,        /* reading --chat-template FILE, or the mapped file during a GPU upload */
	GEN_E_DEVICE = 10,   /* no usable GPU, or the GPU backend failed (the reason from kn_cuda / rc) */
} gen_status;

typedef struct {
	gen_status status;
	char msg[640];
} gen_error;

const char *gen_status_name(gen_status st); /* "GEN_E_CONTEXT" */

/* How YaRN's attention factor is read (kn_cpu.h kn_yarn_mscale). AUTO = VLLM when the file
 * stores rope.attn_factor (DeepSeek-R1-0528-Qwen3-8B: what DeepSeek and vLLM/SGLang run),
 * else TRANSFORMERS. */
typedef enum { GEN_YARN_AUTO = 0, GEN_YARN_TRANSFORMERS, GEN_YARN_VLLM, GEN_YARN_EXPLICIT } gen_yarn;

/* Where the forward pass runs. CUDA: the weights live on device 0 (runtime/cuda, docs/GPU.md);
 * tokenizer, sampling and stop conditions stay on the host, identical to the CPU path. */
typedef enum { GEN_DEVICE_CPU = 0, GEN_DEVICE_CUDA = 1 } gen_device;

typedef struct {
	const char *chat_template_name; /* NULL = "default" (else the first stored template) */
	const char *chat_template_file; /* overrides the stored templates */
	gen_yarn yarn;
	kn_exec exec; /* threads; zero = defaults */
	gen_device device;
	/* GEN_DEVICE_CUDA only: */
	bool verify_load;     /* check each tensor's XXH3 while uploading */
	bool embed_on_device; /* also upload tok_embd (default: it stays in host memory and the host
			       * dequantizes the rows a step needs, unless the LM head shares it) */
} gen_model_opts;

/* What a GPU upload did (rc_load_stats). */
typedef struct {
	double seconds;        /* wall time of the upload (and verification) */
	uint64_t bytes;        /* bytes copied to the device */
	double gb_per_s;       /* bytes / seconds / 1e9 */
	uint64_t device_bytes; /* device memory the weights occupy */
	uint64_t host_bytes;   /* tok_embd kept in host memory */
	bool verified;
} gen_load_stats;

/* Sampling and length defaults of a model: HF's generation defaults (temperature 1, top_k 50,
 * top_p 1, min_p 0, repetition_penalty 1) overridden by the GENERATION section; do_sample=false
 * there means greedy (temperature 0), as in transformers. */
typedef struct {
	smp_params sampling;
	uint32_t max_new_tokens; /* 0 when the file has none */
} gen_defaults;

typedef struct gen_model gen_model;

gen_status gen_model_open(const char *path, const gen_model_opts *opts, gen_model **out, gen_error *err);
void gen_model_free(gen_model *m); /* accepts NULL */

const rt_config *gen_model_config(const gen_model *m);
const rt_model *gen_model_rt(const gen_model *m);
const fmt_reader *gen_model_reader(const gen_model *m);
tok_tokenizer *gen_model_tokenizer(const gen_model *m); /* NULL when the file has no TOKENIZER */
const gen_defaults *gen_model_defaults(const gen_model *m);
/* End-of-generation ids: META token.eos_id / token.eos_ids, GENERATION eos_ids and the
 * tokenizer's eos, deduplicated. */
const int32_t *gen_model_eos_ids(const gen_model *m, size_t *n);
gen_yarn gen_model_yarn(const gen_model *m); /* the mode in use (never AUTO) */
bool gen_model_has_template(const gen_model *m);
const char *gen_yarn_name(gen_yarn y); /* "transformers", "vllm", "explicit", "auto" */
gen_device gen_model_device(const gen_model *m);
const char *gen_device_name(gen_device d); /* "cpu", "cuda" */
/* The upload of a GEN_DEVICE_CUDA model; NULL for a CPU model (its weights are mapped, not copied). */
const gen_load_stats *gen_model_load_stats(const gen_model *m);

/* ---- prompts ---- */

typedef struct {
	const char *role;    /* "system", "user", "assistant" */
	const char *content; /* UTF-8 */
} gen_message;

typedef struct {
	bool add_generation_prompt;
	int enable_thinking; /* -1 = leave undefined, 0 = false, 1 = true */
} gen_render_opts;

/* Renders messages with the chat template (bos_token / eos_token from the tokenizer). *out is
 * malloc'ed and NUL-terminated. */
gen_status gen_render(const gen_model *m, const gen_message *msgs, size_t n, const gen_render_opts *ro, char **out,
		      size_t *out_len, gen_error *err);

/* Text → ids. Special-token text is parsed as the special tokens (rendered templates contain
 * them); add_special adds BOS/EOS when the tokenizer data asks for it (raw prompts). */
gen_status gen_encode(const gen_model *m, const char *text, size_t len, bool add_special, int32_t **ids, size_t *n,
		      gen_error *err);

/* True when the last "<think>" in text is not followed by "</think>", i.e. generation after
 * this prompt starts inside reasoning. */
bool gen_text_opens_reasoning(const char *text, size_t len);

/* ---- sessions ---- */

/* KV cache element type. DEFAULT is F32 on the CPU and BF16 on the GPU; F32 is CPU-only. */
typedef enum { GEN_KV_DEFAULT = 0, GEN_KV_F32 = 1, GEN_KV_BF16 = 2, GEN_KV_FP8 = 3 } gen_kv_type;
const char *gen_kv_name(gen_kv_type t); /* "f32", "bf16", "fp8", "default" */

typedef struct {
	uint32_t ctx;        /* 0 = min(model max_ctx, 4096) */
	gen_kv_type kv_type;
	uint32_t max_batch;  /* prefill tokens per step; 0 = 64 on the CPU, 512 on the GPU */
} gen_session_opts;

typedef struct gen_session gen_session;

gen_status gen_session_create(gen_model *m, const gen_session_opts *o, gen_session **out, gen_error *err);
void gen_session_free(gen_session *s); /* accepts NULL */
void gen_session_reset(gen_session *s);   /* forget the cached tokens */
uint32_t gen_session_ctx(const gen_session *s);
size_t gen_session_n_cached(const gen_session *s);
gen_kv_type gen_session_kv_type(const gen_session *s); /* never DEFAULT */

/* Logits of a prompt (reusing the cached prefix): [vocab] for the last token, or [n][vocab]
 * with all. Positions before the reused prefix are recomputed when all is set. */
gen_status gen_logits(gen_session *s, const int32_t *ids, size_t n, bool all, float *logits, gen_error *err);

typedef struct {
	smp_params sampling;
	uint64_t max_tokens;          /* 0 = until eos / stop / context full */
	const char *const *stop;      /* stop strings */
	size_t n_stop;
	bool start_in_reasoning;      /* the prompt ended inside <think> (gen_text_opens_reasoning) */
	bool penalize_prompt;         /* penalties also count the prompt ids (transformers does) */
} gen_params;

/* Called with each final piece; return false to stop generating. */
typedef bool (*gen_piece_fn)(void *user, const char *text, size_t len, bool reasoning);

typedef enum {
	GEN_STOP_EOS = 0,
	GEN_STOP_STRING,
	GEN_STOP_MAX_TOKENS,
	GEN_STOP_CTX_FULL,
	GEN_STOP_CANCELLED, /* gen_cancel() or the callback returned false */
} gen_stop_reason;

typedef struct {
	size_t prompt_tokens;    /* ids given */
	size_t reused_tokens;    /* of those, taken from the cache */
	size_t generated_tokens; /* sampled ids, including a final eos */
	double prefill_s, decode_s;
	double prefill_tps;      /* computed prompt tokens per second */
	double decode_tps;       /* single-token forwards per second */
	gen_stop_reason reason;
} gen_stats;

/* Prefills ids (reusing the cached prefix), then samples until a stop condition. The generated
 * ids stay in the cache, so a follow-up prompt that extends this output reuses them. */
gen_status gen_generate(gen_session *s, const int32_t *ids, size_t n, const gen_params *p, gen_piece_fn fn, void *user,
			gen_stats *stats, gen_error *err);

/* Ctrl-C: async-signal-safe; the running gen_generate stops after the current token. The flag
 * is cleared when gen_generate starts. */
void gen_cancel(void);
bool gen_cancelled(void);

const char *gen_stop_reason_name(gen_stop_reason r); /* "eos", "stop string", ... */

#ifdef __cplusplus
}
#endif
#endif
