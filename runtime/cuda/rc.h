/* rc — the transformer forward pass on one CUDA GPU, over the same model description as the CPU
 * backend (rt_config, rt_weights of runtime/model) and the kernels of kernels/cuda. Plain C: every
 * CUDA call goes through the C launchers (kn_cuda.h, kn_cuda_gemm.h, kn_cuda_attn.h).
 *
 *   fmt_reader_open(path, &r, &fe);
 *   rt_model_create(r, NULL, &cpu, &re);                 config + weights bound over the mapping
 *   rc_model_load(cpu, r, &(rc_model_opts){.verify = true}, &g, &stats, &err);
 *   rc_state_create(g, &(rc_state_opts){.ctx = 32768, .kv_type = RC_KV_BF16}, &s, &err);
 *   rc_forward(g, s, 0, ids, n, 0, RT_LOGITS_LAST, logits, &err);     prefill sequence 0
 *   rc_forward(g, s, 0, &next, 1, n, RT_LOGITS_LAST, logits, &err);   decode (CUDA graph)
 *   rc_decode_batch(g, s, seqs, toks, B, logits, &err);                one token for B sequences
 *
 * Load: the mapped tensors are copied into one device allocation through pinned staging buffers
 * (several in flight: a reader thread fills buffer i+1 while buffer i is copied), optionally
 * checking each tensor's XXH3 on the way. Fused layouts are built at upload: q|k|v rows stacked
 * into one weight per layer, gate/up rows interleaved (kn_cuda_epilogue.swiglu). Small vectors
 * (norms, biases) are uploaded as f32.
 *
 * State: the paged KV cache (kn_cuda_attn.h layout, BF16 or FP8) for n_seq sequences of up to
 * ctx positions each, plus the activations of one step of up to max(prefill_chunk, n_seq) rows,
 * all allocated once at create. Each sequence owns ceil(ctx / page_tokens) pages fixed at create.
 *
 * Forward: embedding (rows dequantized on the host when the table stays in host memory), per layer
 * RMSNorm → fused qkv matmul → kn_cuda_qkv_prep (bias, q/k norm, RoPE, KV store) → attention
 * (prefill flash kernel or split-K decode) → o-proj with the residual add in the epilogue →
 * RMSNorm → fused gate/up matmul with the SwiGLU epilogue → down-proj with the residual add; the
 * final norm and LM head for the rows whose logits are asked, written f32 and copied to the host
 * once per call. No host↔device round trip per layer. Single-token decode steps of one sequence
 * and batched decode steps of B sequences are captured into CUDA graphs (one per B) the first time
 * and replayed; inputs (ids, positions, slots, lengths) go through one small pinned upload.
 *
 * Nothing here prints or exits; failures return rc_status with a message naming the step,
 * tensor or layer.
 */
#ifndef BALE_RC_H
#define BALE_RC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"
#include "rt_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	RC_OK = 0,
	RC_E_DEVICE = 1, /* no usable GPU, a CUDA call failed, a kernel is unsupported here */
	RC_E_NOMEM = 2,  /* device or pinned host memory exhausted */
	RC_E_TENSOR = 3, /* a weight the kernels cannot use (type, shape), or a checksum mismatch */
	RC_E_ARG = 4,    /* bad call: sequence index, positions past the cache, token ids */
	RC_E_IO = 5,     /* reading the mapped file failed (SIGBUS guarded reads report here) */
} rc_status;

typedef struct {
	rc_status status;
	char msg[512];
} rc_error;

const char *rc_status_name(rc_status st); /* "RC_E_DEVICE" */

typedef enum { RC_KV_BF16 = 0, RC_KV_FP8 = 1 } rc_kv_type;

/* ---- model: weights on the device ---- */

typedef struct {
	int device;             /* CUDA device index; 0 */
	bool embed_on_host;     /* keep tok_embd in host memory when not tied (docs/GPU.md) */
	bool verify;            /* check each tensor's XXH3 while uploading */
	int io_threads;         /* threads reading the mapping into staging buffers; 0 = 4 */
	size_t staging_bytes;   /* per buffer; 0 = 64 MiB */
	int staging_buffers;    /* buffers in flight; 0 = 4 */
	int prefill_algo;       /* kn_gemm_algo for m > 16 (KN_GEMM_AUTO = 0) */
} rc_model_opts;

typedef struct {
	double seconds;         /* wall time of the upload (and verification) */
	uint64_t bytes;         /* bytes copied to the device */
	double gb_per_s;        /* bytes / seconds / 1e9 */
	uint64_t device_bytes;  /* device memory the weights occupy (incl. alignment) */
	uint64_t host_bytes;    /* tok_embd kept in host memory */
	bool verified;
} rc_load_stats;

typedef struct rc_model rc_model;

/* Uploads the weights of a CPU model binding (cpu must outlive nothing: everything needed is
 * copied; the reader's mapping is only read during the call, except that with embed_on_host the
 * embedding rows are read from it later, so the reader must stay open until rc_model_free).
 * stats may be NULL. */
rc_status rc_model_load(const rt_model *cpu, const fmt_reader *r, const rc_model_opts *opts, rc_model **out,
			rc_load_stats *stats, rc_error *err);

/* Synthetic weights generated on the device (kn_cuda_fill_random), real shapes from cfg, for
 * benchmarks without a file: every matrix of dtype/scheme (fmt_dtype, fmt_scheme; group_size for
 * GROUP) with scales chosen so activations stay O(1). */
rc_status rc_model_create_dummy(const rt_config *cfg, fmt_dtype dtype, fmt_scheme scheme, uint32_t group_size,
				uint64_t seed, const rc_model_opts *opts, rc_model **out, rc_error *err);

void rc_model_free(rc_model *m); /* accepts NULL */
const rt_config *rc_model_config(const rc_model *m);
uint64_t rc_model_weight_bytes(const rc_model *m); /* bytes read per token by a decode step */

/* ---- state: paged KV cache + activations ---- */

typedef struct {
	uint32_t ctx;            /* positions per sequence; 0 = min(model max_ctx, 4096) */
	uint32_t n_seq;          /* sequences; 0 = 1 */
	rc_kv_type kv_type;
	uint32_t page_tokens;    /* 0 = 16 */
	uint32_t prefill_chunk;  /* rows per prefill step; 0 = 512 */
	bool no_graphs;          /* run decode steps without CUDA graphs (for tests and comparison) */
} rc_state_opts;

typedef struct rc_state rc_state;

/* Device bytes rc_state_create would allocate (KV pages + scales + workspace). */
rc_status rc_state_bytes(const rc_model *m, const rc_state_opts *o, uint64_t *bytes, rc_error *err);
rc_status rc_state_create(rc_model *m, const rc_state_opts *o, rc_state **out, rc_error *err);
void rc_state_free(rc_state *s); /* accepts NULL */
uint32_t rc_state_ctx(const rc_state *s);
uint32_t rc_state_n_seq(const rc_state *s);
size_t rc_state_n_past(const rc_state *s, uint32_t seq);
/* Pretends sequence seq holds n positions of random K/V (kn_cuda_kv_fill_random on its pages):
 * decode benchmarks at long contexts without running the prefill. */
rc_status rc_state_fake_context(rc_state *s, uint32_t seq, size_t n, uint64_t seed, rc_error *err);

/* ---- forward ---- */

/* As rt_forward, for sequence seq: runs tokens[0..n) at positions pos..pos+n−1 (pos ≤ n_past of
 * seq; smaller rewinds) and writes f32 logits per mode ([vocab], [n][vocab] or none). n == 1 runs
 * the decode path (graph-captured unless no_graphs); larger n runs prefill in chunks. */
rc_status rc_forward(rc_model *m, rc_state *s, uint32_t seq, const int32_t *tokens, size_t n, size_t pos,
		     rt_logits_mode mode, float *logits, rc_error *err);

/* One decode step for B distinct sequences seqs[0..B) (each at its own n_past, which advances by
 * one): logits [B][vocab] f32. B ≤ n_seq. */
rc_status rc_decode_batch(rc_model *m, rc_state *s, const uint32_t *seqs, const int32_t *tokens, uint32_t B,
			  float *logits, rc_error *err);

/* Waits for the device and returns the time of the last rc_forward / rc_decode_batch call on
 * the GPU alone (CUDA events), for benchmarks. */
double rc_last_gpu_ms(const rc_state *s);

#ifdef __cplusplus
}
#endif
#endif
