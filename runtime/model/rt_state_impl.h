/* Internal to runtime/model: the state's buffers. */
#ifndef BALE_RT_STATE_IMPL_H
#define BALE_RT_STATE_IMPL_H

#include "rt_internal.h"

enum {
	RT_BUF_K,      /* [n_layers][max_ctx] rows of kn_kv_row_bytes(kv_type, n_kv_heads, head_dim) */
	RT_BUF_V,
	RT_BUF_X,      /* [max_batch][d_model] residual stream */
	RT_BUF_XN,     /* [max_batch][d_model] normed input / projection output */
	RT_BUF_Q,      /* [max_batch][n_heads·head_dim] */
	RT_BUF_KN,     /* [max_batch][n_kv_heads·head_dim] new keys */
	RT_BUF_VN,     /* [max_batch][n_kv_heads·head_dim] new values */
	RT_BUF_ATT,    /* [max_batch][n_heads·head_dim] attention output */
	RT_BUF_GATE,   /* [max_batch][d_ff] */
	RT_BUF_UP,     /* [max_batch][d_ff] */
	RT_BUF_SCORES, /* [max_ctx] */
	RT_BUF_COUNT
};

struct rt_state {
	uint8_t *arena;
	size_t bytes;
	void *buf[RT_BUF_COUNT];
	uint32_t max_ctx, max_batch;
	kn_kv_type kv_type;
	size_t n_past;
};

#endif
