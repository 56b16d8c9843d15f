/* Internal to runtime/cuda: the model and state structs shared by rc_load, rc_model, rc_state
 * and rc_forward. */
#ifndef BALE_RC_INTERNAL_H
#define BALE_RC_INTERNAL_H

#include "kn_cuda.h"
#include "kn_cuda_attn.h"
#include "kn_cuda_gemm.h"
#include "rc.h"
#include "rc_layout.h"

#define RC_ERRLEN 400

/* Device views of one layer's weights (pointers into the model's arena). */
typedef struct {
	int n_qkv;              /* 1: fused q|k|v [qkv rows][d_model]; 3: q, k, v apart */
	kn_cuda_weight qkv[3];
	int n_gu;               /* 1: gate/up interleaved [2·d_ff][d_model] (swiglu epilogue); 2: apart */
	kn_cuda_weight gu[2];
	kn_cuda_weight o, down;
	const float *attn_norm, *ffn_norm; /* [d_model] */
	const float *q_norm, *k_norm;      /* [head_dim] or NULL */
	const float *bias;                 /* [(n_heads + 2·n_kv_heads)·head_dim] or NULL */
} rc_dlayer;

struct rc_model {
	rt_config cfg;
	rc_plan plan;
	uint8_t *arena;          /* device: every weight */
	rc_dlayer *layers;       /* n_layers */
	kn_cuda_weight tok_embd; /* device view; unused when embed_host */
	kn_cuda_weight output;
	const float *output_norm;
	bool embed_host;
	kn_weight host_embd;     /* embed_host: the table in the reader's mapping */
	float *inv_freq;         /* [rope.dim / 2] */
	float mscale;
	int prefill_algo;
	int device;               /* CUDA device index (made current by every create) */
	uint64_t weight_bytes;   /* read per decode token */
	kn_cuda_blas *blas;      /* created by the first state, shared by the model's states */
	int blas_m;
	int live_states;
};

struct rc_state {
	rc_model *m;
	rc_state_layout L;
	uint8_t *dev;            /* the one device allocation (KV pages + workspace) */
	void *stream;
	void *ev_start, *ev_end;
	bool timed;              /* ev_start/ev_end bracket the last call */
	kn_cuda_kv kv;
	int32_t *pt_host;        /* pinned [n_seq][pages_per_seq]: each sequence's page ids (constant) */
	int32_t *pt_row_seq;     /* [n_seq]: the sequence whose page ids device row b holds, or −1 */
	uint8_t *io_host;        /* pinned mirror of the io region (ids, positions, slots, lengths) */
	float *embd_host;        /* pinned [T][d_model] embedding rows (embed_host only) */
	size_t *n_past;          /* [n_seq] */
	void **graphs;           /* [n_seq + 1]: decode graph for batch size B */
	int *splits;             /* [n_seq + 1]: decode attention splits for batch size B */
	bool no_graphs;
};

rc_status rc_device_check(int device, const char *what, rc_error *err);
/* Fills the model's host-side pieces shared by load and dummy (RoPE tables, device views); the
 * arena is allocated. */
rc_status rc_model_finish(rc_model *m, rc_error *err);

#endif
