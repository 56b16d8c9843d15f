/* pl — the GPU memory planner: what a model, a context and a KV type need in device memory, and
 * whether that fits a budget. Pure arithmetic (no CUDA, no allocation of the planned memory), so
 * `bale run --dry-run`, `bale inspect` and the tests use it on any machine.
 *
 *   pl_tensors_from_reader(r, &t, &n, err, len);   per-tensor device bytes (SPEC §6.3 blobs)
 *   pl_dims_from_meta(fmt_reader_kv(r, FMT_SEC_META), &dims, err, len);
 *   pl_request q = {.tensors = t, .n_tensors = n, .dims = dims, .ctx = 32768, .kv_type = PL_KV_BF16,
 *                   .vram_bytes = 40ull << 30, .device_free = info.free_bytes};
 *   pl_plan p;
 *   pl_status st = pl_plan_compute(&q, &p, err, sizeof err);   PL_E_NOFIT: p is filled, err says
 *                                                               what would fit
 *
 * Planned layout and the formulas are in docs/GPU.md; in short:
 *   weights    each tensor's stored blob (codes + scales) uploaded as is, 256-byte aligned;
 *              embed_on_host keeps tok_embd in host memory (the embedding needs one row per
 *              token) unless the file ties `output` to it
 *   KV cache   n_seq × ceil(ctx / page_tokens) pages of [n_layers][2][n_kv_heads][page][head_dim]
 *              BF16 or FP8 E4M3, plus for FP8 one f32 scale per (token, layer, K/V, kv head):
 *              FP8 bytes per token = n_layers · 2 · n_kv_heads · (head_dim + 4)
 *   workspace  activations of one prefill step, logits, attention split-K partials, RoPE table,
 *              page table
 *   reserve    CUDA context, module images and allocator slack: an estimate (512 MiB default)
 *   budget     min(vram_bytes, device_free) — device_free 0 means "no device known"
 *
 * All arithmetic is checked: absurd dims give PL_E_OVERFLOW, never a wrapped number. Nothing here
 * prints or exits. */
#ifndef BALE_PLAN_H
#define BALE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	PL_OK = 0,
	PL_E_ARG = 1,      /* a missing or zero dimension, ctx 0, a NULL pointer */
	PL_E_OVERFLOW = 2, /* a size does not fit in 64 bits */
	PL_E_NOFIT = 3,    /* computed, but total > budget; the plan is filled and err says what fits */
	PL_E_NOMEM = 4,
} pl_status;

const char *pl_status_name(pl_status st); /* "PL_E_NOFIT" */

typedef enum { PL_KV_BF16 = 0, PL_KV_FP8 = 1 } pl_kv_type;
const char *pl_kv_name(pl_kv_type t); /* "BF16", "FP8" */

#define PL_DEFAULT_VRAM ((uint64_t)40 << 30)
#define PL_DEFAULT_RESERVE ((uint64_t)512 << 20)
#define PL_DEFAULT_PAGE 16u
#define PL_DEFAULT_CHUNK 512u
#define PL_SPLIT_TOKENS 256u  /* decode attention: one split-K partial per 256 cached tokens */
#define PL_ALIGN 256u         /* device allocation granularity of each tensor / buffer */

typedef struct {
	const char *name;
	uint64_t bytes; /* the stored blob: codes + scales (fmt_tensor.data_bytes) */
} pl_tensor;

typedef struct {
	uint32_t n_layers, n_heads, n_kv_heads, head_dim, d_model, d_ff, vocab;
	uint32_t max_ctx; /* the model's limit; only caps the reported maxima (0 = unknown) */
} pl_dims;

typedef struct {
	const pl_tensor *tensors;
	size_t n_tensors;
	pl_dims dims;
	pl_kv_type kv_type;
	uint32_t ctx;           /* positions per sequence, ≥ 1 */
	uint32_t n_seq;         /* sequences decoded together; 0 = 1 */
	uint32_t page_tokens;   /* KV page size; 0 = PL_DEFAULT_PAGE */
	uint32_t prefill_chunk; /* tokens per prefill step; 0 = PL_DEFAULT_CHUNK */
	bool embed_on_host;
	uint64_t vram_bytes;    /* 0 = PL_DEFAULT_VRAM */
	uint64_t device_free;   /* free memory of the device; 0 = unknown */
	uint64_t reserve_bytes; /* 0 = PL_DEFAULT_RESERVE */
} pl_request;

typedef struct {
	/* workspace parts (bytes, each 256-aligned) */
	uint64_t act;         /* one prefill step's activations */
	uint64_t logits;      /* f32 [n_seq][vocab] */
	uint64_t attn_split;  /* f32 split-K partials of decode attention */
	uint64_t rope;        /* f32 cos/sin table [ctx][head_dim] */
	uint64_t page_table;  /* i32 [n_seq][pages per sequence] + ids and positions */
	uint32_t step_tokens; /* rows of one step: max(prefill_chunk, n_seq) */
	uint64_t splits;      /* split-K partials per (sequence, head) */
} pl_workspace;

typedef struct {
	/* inputs as resolved */
	pl_kv_type kv_type;
	uint32_t ctx, n_seq, page_tokens, prefill_chunk;
	bool embed_on_host;
	bool tied;            /* no `output` tensor: tok_embd is also the LM head and stays on device */
	uint64_t vram_bytes, device_free, budget;

	/* device memory (bytes) */
	uint64_t weights;     /* on the device */
	uint64_t embed_host;  /* tok_embd kept in host memory (0 unless embed_on_host and not tied) */
	uint64_t kv;          /* KV pages including FP8 scales */
	uint64_t kv_scales;   /* of kv: the FP8 scales */
	uint64_t workspace;
	pl_workspace ws;
	uint64_t reserve;
	uint64_t total;       /* weights + kv + workspace + reserve */
	bool fits;            /* total ≤ budget */

	/* KV geometry */
	uint64_t n_pages, page_bytes; /* page_bytes includes the FP8 scales of the page */
	uint64_t kv_token_bytes;      /* K+V bytes of one token without scales */

	/* the largest ctx (a multiple of page_tokens) whose plan fits, at this budget and n_seq; 0 when
	 * not even one page fits; not capped by the model (compare with dims.max_ctx) */
	uint32_t max_ctx_bf16, max_ctx_fp8;
	/* the smallest budget in whole GiB that fits this request */
	uint64_t need_gib;
} pl_plan;

/* Computes the plan. PL_OK when it fits; PL_E_NOFIT with out filled and err like (8B, INT8,
 * embedding on the host) "ctx 131072 with BF16 KV needs 25.68 GiB > budget 20.00 GiB (--vram);
 * fits: ctx 89840 (BF16 KV) or ctx 131072 (FP8 KV), or --vram 26G". Other errors leave out
 * zeroed. */
pl_status pl_plan_compute(const pl_request *req, pl_plan *out, char *err, size_t len);

/* Bytes of the KV cache for n_tokens of one sequence (whole pages, FP8 scales included). */
pl_status pl_kv_bytes(const pl_dims *d, pl_kv_type kv, uint32_t page_tokens, uint64_t n_tokens, uint64_t *out,
		      char *err, size_t len);

/* Per-tensor blob sizes of a reader; *out is malloc'ed (names borrow from the reader). */
pl_status pl_tensors_from_reader(const fmt_reader *r, pl_tensor **out, size_t *n, char *err, size_t len);

/* Model dims from META (model.n_layers, n_heads, n_kv_heads, head_dim, d_model, d_ff,
 * vocab_size; max_ctx optional). PL_E_ARG names the missing or zero key. */
pl_status pl_dims_from_meta(const fmt_kvlist *meta, pl_dims *d, char *err, size_t len);

#ifdef __cplusplus
}
#endif
#endif
