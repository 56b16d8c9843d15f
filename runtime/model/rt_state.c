/* rt_state: one allocation holding the KV cache and every activation buffer. */
#include <stdlib.h>
#include <string.h>

#include "rt_state_impl.h"

#define ALIGN 64u

/* Adds `count` elements of `size` bytes, 64-byte aligned, to *total; returns the offset or
 * SIZE_MAX on overflow. */
static size_t take(size_t *total, size_t count, size_t size)
{
	size_t bytes, off, end;
	if (__builtin_mul_overflow(count, size, &bytes) || __builtin_add_overflow(*total, ALIGN - 1, &off))
		return SIZE_MAX;
	off &= ~(size_t)(ALIGN - 1);
	if (__builtin_add_overflow(off, bytes, &end))
		return SIZE_MAX;
	*total = end;
	return off;
}

/* Lays out the buffers; fills offsets into *s when s is non-NULL. Returns false on overflow. */
static bool layout(const rt_config *c, uint32_t ctx, uint32_t batch, kn_kv_type kt, size_t *total, rt_state *s)
{
	size_t t = 0, kv_row = (size_t)c->n_kv_heads * c->head_dim, q_row = (size_t)c->n_heads * c->head_dim;
	size_t row_bytes = kn_kv_row_bytes(kt, c->n_kv_heads, c->head_dim), cache_rows;
	if (!row_bytes || __builtin_mul_overflow((size_t)c->n_layers, (size_t)ctx, &cache_rows))
		return false;
	size_t off[RT_BUF_COUNT];
	off[RT_BUF_K] = take(&t, cache_rows, row_bytes);
	off[RT_BUF_V] = take(&t, cache_rows, row_bytes);
	off[RT_BUF_X] = take(&t, (size_t)batch * c->d_model, 4);
	off[RT_BUF_XN] = take(&t, (size_t)batch * c->d_model, 4);
	off[RT_BUF_Q] = take(&t, (size_t)batch * q_row, 4);
	off[RT_BUF_KN] = take(&t, (size_t)batch * kv_row, 4);
	off[RT_BUF_VN] = take(&t, (size_t)batch * kv_row, 4);
	off[RT_BUF_ATT] = take(&t, (size_t)batch * q_row, 4);
	off[RT_BUF_GATE] = take(&t, (size_t)batch * c->d_ff, 4);
	off[RT_BUF_UP] = take(&t, (size_t)batch * c->d_ff, 4);
	off[RT_BUF_SCORES] = take(&t, ctx, 4);
	for (int i = 0; i < RT_BUF_COUNT; i++)
		if (off[i] == SIZE_MAX)
			return false;
	*total = t;
	if (s)
		for (int i = 0; i < RT_BUF_COUNT; i++)
			s->buf[i] = s->arena + off[i];
	return true;
}

static rt_status resolve(const rt_model *m, const rt_state_opts *o, uint32_t *ctx, uint32_t *batch, kn_kv_type *kt,
			 rt_error *err)
{
	const rt_config *c = rt_model_config(m);
	rt_state_opts def = {0};
	if (!o)
		o = &def;
	*ctx = o->max_ctx ? o->max_ctx : c->max_ctx;
	*batch = o->max_batch ? o->max_batch : 1;
	*kt = o->kv_type;
	if (*ctx > RT_MAX_CTX)
		return rt_fail(err, RT_E_ARG, "state: max_ctx %u exceeds %u", *ctx, RT_MAX_CTX);
	if (*batch > 65536)
		return rt_fail(err, RT_E_ARG, "state: max_batch %u exceeds 65536", *batch);
	if (*kt != KN_KV_F32 && *kt != KN_KV_BF16 && *kt != KN_KV_F8)
		return rt_fail(err, RT_E_ARG, "state: unknown KV cache type %d", (int)*kt);
	return RT_OK;
}

rt_status rt_state_size(const rt_model *m, const rt_state_opts *o, size_t *bytes, rt_error *err)
{
	uint32_t ctx, batch;
	kn_kv_type kt;
	rt_status st = resolve(m, o, &ctx, &batch, &kt, err);
	if (st != RT_OK)
		return st;
	if (!layout(rt_model_config(m), ctx, batch, kt, bytes, NULL))
		return rt_fail(err, RT_E_NOMEM, "state: size overflows");
	return RT_OK;
}

rt_status rt_state_create(const rt_model *m, const rt_state_opts *o, rt_state **out, rt_error *err)
{
	*out = NULL;
	size_t bytes;
	rt_status st = rt_state_size(m, o, &bytes, err);
	if (st != RT_OK)
		return st;
	rt_state *s = calloc(1, sizeof *s);
	if (!s)
		return rt_fail(err, RT_E_NOMEM, "out of memory");
	resolve(m, o, &s->max_ctx, &s->max_batch, &s->kv_type, err);
	size_t rounded = (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	s->arena = aligned_alloc(ALIGN, rounded ? rounded : ALIGN);
	if (!s->arena) {
		free(s);
		return rt_fail(err, RT_E_NOMEM, "state: cannot allocate %zu bytes", bytes);
	}
	layout(rt_model_config(m), s->max_ctx, s->max_batch, s->kv_type, &bytes, s);
	s->bytes = bytes;
	*out = s;
	return RT_OK;
}

void rt_state_free(rt_state *s)
{
	if (!s)
		return;
	free(s->arena);
	free(s);
}

size_t rt_state_n_past(const rt_state *s)
{
	return s->n_past;
}
