/* rc_layout — the host-only half of runtime/cuda: where every weight and buffer lives in the
 * device allocations, and how fused weights are assembled row by row in a staging buffer. No CUDA
 * here, so tests/rc checks all of it on a machine without a GPU. Internal to runtime/cuda (and its
 * tests). */
#ifndef BALE_RC_LAYOUT_H
#define BALE_RC_LAYOUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kn_cuda.h"
#include "rc.h"

#define RC_ALIGN 256u /* every sub-allocation (PL_ALIGN of the planner) */
#define RC_MAX_SEQ 4096u
#define RC_MAX_CHUNK 65536u

rc_status rc_fail(rc_error *err, rc_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* *total rounded up to RC_ALIGN is the returned offset; *total then ends bytes later. UINT64_MAX
 * (and *total unchanged) on overflow. */
uint64_t rc_take(uint64_t *total, uint64_t bytes);

/* ---- weights ---- */

typedef enum { RC_FUSE_NONE = 0, RC_FUSE_STACK = 1, RC_FUSE_INTERLEAVE = 2 } rc_fuse;
typedef enum { RC_PART_CODES = 0, RC_PART_SCALES = 1 } rc_part;

/* One device weight [n][k] made of 1..3 host weights of equal k, dtype, scheme and group:
 *   NONE        one source, copied as is;
 *   STACK       rows of src[0], then src[1], then src[2] (q|k|v);
 *   INTERLEAVE  two sources of equal rows, src[0] row j → row 2j, src[1] row j → row 2j + 1
 *               (gate/up for the swiglu epilogue).
 * Scales follow their rows. On the device: codes [n][k] at codes_off, f32 scales [n][groups] at
 * scales_off (none for scheme NONE), both relative to the weight arena. */
typedef struct {
	rc_fuse fuse;
	int n_src;
	kn_weight src[3];            /* host views; data/scales NULL for synthetic (dummy) weights */
	const fmt_tensor *tensor[3]; /* the file's records, for checksums; NULL when unknown */
	const char *name;            /* for messages: "blk.3.attn_qkv", "output" */
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t group_size;
	size_t n, k, groups;         /* groups: scales per row (0 for NONE) */
	uint64_t codes_off, codes_bytes, scales_off, scales_bytes;
} rc_wplan;

/* True when a and b can share a fused device weight. */
bool rc_can_fuse(const kn_weight *a, const kn_weight *b);
/* Fills p (offsets zero) from the sources; RC_E_TENSOR naming `name` when they cannot be fused. */
rc_status rc_wplan_init(rc_wplan *p, const char *name, rc_fuse fuse, const kn_weight *src, int n_src, rc_error *err);
/* Source and source row of device row `row` (< p->n). */
void rc_wplan_row_source(const rc_wplan *p, size_t row, int *src, size_t *src_row);
/* Bytes of one device row of codes (k × element size) or scales (groups × 4). */
size_t rc_wplan_row_bytes(const rc_wplan *p, rc_part part);
/* Writes device rows [row0, row0 + rows) of `part` to dst (rows × rc_wplan_row_bytes bytes),
 * gathered from the sources. */
void rc_wplan_fill(const rc_wplan *p, rc_part part, size_t row0, size_t rows, uint8_t *dst);
/* The device view of p over an arena at `base`. */
kn_cuda_weight rc_wplan_device(const rc_wplan *p, uint8_t *base);

/* An f32 vector (norm weight, bias) at dst_off; the bias of q, k and v is stored as one vector of
 * three pieces placed back to back. */
typedef struct {
	const float *src;         /* host f32 (rt_weights' copies); NULL = fill with `fill` */
	float fill;
	size_t n;
	uint64_t dst_off;
	const fmt_tensor *tensor; /* for checksums; NULL when unknown */
} rc_vec;

typedef struct {
	int n_qkv;         /* 1: fused q|k|v; 3: q, k, v apart */
	rc_wplan qkv[3];
	int n_gu;          /* 1: interleaved gate/up; 2: apart */
	rc_wplan gu[2];
	rc_wplan o, down;
	uint64_t attn_norm, ffn_norm, q_norm, k_norm, bias; /* vector offsets (q_norm.. valid when used) */
} rc_layer_plan;

typedef struct {
	uint32_t n_layers;
	rc_layer_plan *layers;
	rc_wplan tok_embd, output;
	bool embd_on_device; /* false: tok_embd stays in host memory */
	bool tied;           /* output is tok_embd */
	uint64_t output_norm;
	rc_vec *vecs;
	size_t n_vecs;
	uint64_t vec_total;  /* bytes of the vector region (at vecs[0].dst_off) */
	uint64_t total;      /* bytes of the weight arena */
	uint64_t host_bytes; /* tok_embd blob left in host memory */
} rc_plan;

/* Lays out every tensor of w for config c. w's views may have NULL data (synthetic weights).
 * r may be NULL; else each source's tensor record is looked up by its canonical name and must
 * be the one w was bound to (RC_E_ARG otherwise). */
rc_status rc_plan_build(rc_plan *p, const rt_config *c, const rt_weights *w, const fmt_reader *r, bool embed_on_host,
			rc_error *err);
void rc_plan_free(rc_plan *p);

/* ---- staging: the upload split into jobs that fit a staging buffer ---- */

/* A job fills [dst_off, dst_off + bytes) of the arena. Jobs of one item run in order (a weight's
 * code rows ascending, then its scale rows), so each source's checksum can be computed as the
 * bytes pass by. */
typedef enum { RC_JOB_ROWS = 0, RC_JOB_VECS = 1 } rc_job_kind;
typedef struct {
	rc_job_kind kind;
	const rc_wplan *w; /* ROWS */
	rc_part part;
	size_t row0, rows;
	size_t vec0, n_vecs; /* VECS: plan vecs [vec0, vec0 + n_vecs) */
	uint64_t dst_off, bytes;
} rc_job;

/* Streaming XXH3 of the source blobs of one weight, fed in the job order above. */
typedef struct rc_hasher rc_hasher;
rc_hasher *rc_hasher_create(const rc_wplan *w); /* NULL when out of memory */
void rc_hasher_free(rc_hasher *h);
/* Feeds the source bytes a ROWS job of w copies (and the blob padding a finished part leaves). */
void rc_hasher_job(rc_hasher *h, const rc_job *j);
/* After the last job: RC_OK, or RC_E_TENSOR naming the tensor whose checksum differs. */
rc_status rc_hasher_check(rc_hasher *h, rc_error *err);
/* Whole-blob check (vectors, a host-kept embedding). */
rc_status rc_tensor_check(const fmt_tensor *t, rc_error *err);

/* Splits item `w` (ROWS) into jobs of at most `cap` bytes; returns the count written to jobs (NULL:
 * count only), or 0 with RC_E_ARG when one row exceeds cap. */
size_t rc_jobs_rows(const rc_wplan *w, uint64_t cap, rc_job *jobs, rc_error *err);
/* Packs the plan's vectors into jobs of at most cap bytes (count only when jobs is NULL). */
size_t rc_jobs_vecs(const rc_plan *p, uint64_t cap, rc_job *jobs, rc_error *err);
/* Writes a job's bytes to dst (job->bytes). */
void rc_job_fill(const rc_plan *p, const rc_job *j, uint8_t *dst);

/* ---- state ---- */

typedef struct {
	/* resolved options */
	uint32_t ctx, n_seq, page_tokens, chunk, T; /* T = max(chunk, n_seq) rows per step */
	rc_kv_type kv_type;
	uint32_t pages_per_seq, ctx_tokens;         /* ctx_tokens = pages_per_seq × page_tokens */
	uint32_t rope_dim, max_splits;              /* max_splits = ceil(ctx_tokens / 256) */
	uint64_t n_pages, page_bytes, page_scale_bytes;
	/* offsets in the state's one device allocation */
	uint64_t kv, kv_scales, h, xn, qkv, att, gu, ffo, logits, split, rope, pt, io;
	uint64_t io_ids, io_pos, io_slots, io_lens, io_bytes; /* relative to io; io_bytes: the upload */
	uint64_t split_bytes;
	uint64_t kv_bytes, ws_bytes, total;
} rc_state_layout;

/* Resolves o (NULL = defaults) and lays out the state of a model with config c. */
rc_status rc_state_layout_compute(const rt_config *c, const rc_state_opts *o, rc_state_layout *L, rc_error *err);

/* ---- argument checks shared by the forward entry points ---- */

rc_status rc_check_forward(const rt_config *c, uint32_t ctx, uint32_t n_seq, uint32_t seq, size_t n_past,
			   const int32_t *tokens, size_t n, size_t pos, rt_logits_mode mode, const float *logits,
			   rc_error *err);
rc_status rc_check_batch(const rt_config *c, uint32_t ctx, uint32_t n_seq, const size_t *n_past, const uint32_t *seqs,
			 const int32_t *tokens, uint32_t B, const float *logits, rc_error *err);

#endif
