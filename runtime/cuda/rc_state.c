/* rc_state: the paged KV cache and the workspace of one state in one device allocation, the page
 * tables, the pinned mirror of the per-step inputs, and the RoPE table. */
#include <stdlib.h>
#include <string.h>

#include "rc_internal.h"

rc_status rc_state_bytes(const rc_model *m, const rc_state_opts *o, uint64_t *bytes, rc_error *err)
{
	if (!m || !bytes)
		return rc_fail(err, RC_E_ARG, "state: NULL argument");
	rc_state_layout L;
	rc_status st = rc_state_layout_compute(&m->cfg, o, &L, err);
	if (st == RC_OK)
		*bytes = L.total;
	return st;
}

/* The GEMM context is the model's; its row limit must cover this state's steps. Contexts are
 * replaced only while no state exists, because states' captured graphs hold its scratch. */
static rc_status ensure_blas(rc_model *m, uint32_t T, rc_error *err)
{
	if (m->blas && (uint32_t)m->blas_m >= T)
		return RC_OK;
	if (m->blas && m->live_states > 0)
		return rc_fail(err, RC_E_ARG,
			       "state: %u rows per step exceed the %d of the model's GEMM context, made for an earlier "
			       "state still alive (create the state with the largest prefill_chunk first)",
			       T, m->blas_m);
	const rt_config *c = &m->cfg;
	uint32_t k = c->d_model;
	if (c->n_heads * c->head_dim > k)
		k = c->n_heads * c->head_dim;
	if (c->d_ff > k)
		k = c->d_ff;
	kn_cuda_blas_free(m->blas);
	m->blas = NULL;
	char why[RC_ERRLEN];
	if (kn_cuda_blas_create(&m->blas, (int)T, (int)k, 0, why, sizeof why) != 0)
		return rc_fail(err, RC_E_DEVICE, "state: GEMM context for %u × %u: %s", T, k, why);
	m->blas_m = (int)T;
	return RC_OK;
}

rc_status rc_state_create(rc_model *m, const rc_state_opts *o, rc_state **out, rc_error *err)
{
	if (!m || !out)
		return rc_fail(err, RC_E_ARG, "state: NULL argument");
	*out = NULL;
	rc_state_opts def = {0};
	if (!o)
		o = &def;
	rc_state *s = calloc(1, sizeof *s);
	if (!s)
		return rc_fail(err, RC_E_NOMEM, "state: out of host memory");
	s->m = m;
	s->no_graphs = o->no_graphs;
	rc_state_layout *L = &s->L;
	const rt_config *c = &m->cfg;
	char why[RC_ERRLEN];
	rc_status st = rc_state_layout_compute(c, o, L, err);
	if (st != RC_OK)
		goto fail;
	if ((st = rc_device_check(m->device, "state", err)) != RC_OK)
		goto fail;
	if ((st = ensure_blas(m, L->T, err)) != RC_OK)
		goto fail;

	s->n_past = calloc(L->n_seq, sizeof *s->n_past);
	s->pt_row_seq = malloc(L->n_seq * sizeof *s->pt_row_seq);
	s->graphs = calloc(L->n_seq + 1, sizeof *s->graphs);
	s->splits = calloc(L->n_seq + 1, sizeof *s->splits);
	float *rope = malloc((size_t)L->ctx_tokens * L->rope_dim * sizeof *rope + 1);
	if (!s->n_past || !s->pt_row_seq || !s->graphs || !s->splits || !rope) {
		free(rope);
		st = rc_fail(err, RC_E_NOMEM, "state: out of host memory");
		goto fail;
	}
	if (kn_cuda_malloc((void **)&s->dev, L->total, why, sizeof why) != 0) {
		free(rope);
		st = rc_fail(err, RC_E_NOMEM, "state: %llu bytes (KV %llu, workspace %llu): %s",
			     (unsigned long long)L->total, (unsigned long long)L->kv_bytes, (unsigned long long)L->ws_bytes,
			     why);
		goto fail;
	}
	m->live_states++; /* from here rc_state_free gives it back */
	s->kv = (kn_cuda_kv){L->kv_type == RC_KV_FP8 ? KN_CUDA_KV_F8 : KN_CUDA_KV_BF16, (int)c->n_layers,
			     (int)c->n_kv_heads, (int)c->head_dim, (int)L->page_tokens, (int)L->n_pages, s->dev + L->kv,
			     L->kv_type == RC_KV_FP8 ? (float *)(void *)(s->dev + L->kv_scales) : NULL};
	/* the layout here must be the kernels' own */
	if (kn_cuda_kv_check(&s->kv, why, sizeof why) != 0) {
		free(rope);
		st = rc_fail(err, RC_E_ARG, "state: KV cache: %s", why);
		goto fail;
	}
	if (kn_cuda_kv_page_bytes(&s->kv) != L->page_bytes || kn_cuda_kv_page_scale_bytes(&s->kv) != L->page_scale_bytes) {
		free(rope);
		st = rc_fail(err, RC_E_DEVICE, "state: KV page of %zu + %zu bytes in kn_cuda_attn, %llu + %llu planned",
			     kn_cuda_kv_page_bytes(&s->kv), kn_cuda_kv_page_scale_bytes(&s->kv),
			     (unsigned long long)L->page_bytes, (unsigned long long)L->page_scale_bytes);
		goto fail;
	}
	kn_cuda_rope_table(rope, L->ctx_tokens, L->rope_dim, m->inv_freq, m->mscale);
	int rc = kn_cuda_memcpy_h2d(s->dev + L->rope, rope, (size_t)L->ctx_tokens * L->rope_dim * sizeof *rope, why,
				    sizeof why);
	free(rope);
	if (rc != 0) {
		st = rc_fail(err, RC_E_DEVICE, "state: RoPE table: %s", why);
		goto fail;
	}
	if (kn_cuda_stream_create(&s->stream, why, sizeof why) != 0 ||
	    kn_cuda_event_create(&s->ev_start, why, sizeof why) != 0 ||
	    kn_cuda_event_create(&s->ev_end, why, sizeof why) != 0) {
		st = rc_fail(err, RC_E_DEVICE, "state: stream/events: %s", why);
		goto fail;
	}
	size_t pt_bytes = (size_t)L->n_pages * 4;
	if (kn_cuda_host_alloc((void **)&s->pt_host, pt_bytes, why, sizeof why) != 0 ||
	    kn_cuda_host_alloc((void **)&s->io_host, L->io_bytes, why, sizeof why) != 0 ||
	    (m->embed_host &&
	     kn_cuda_host_alloc((void **)&s->embd_host, (size_t)L->T * c->d_model * 4, why, sizeof why) != 0)) {
		st = rc_fail(err, RC_E_NOMEM, "state: pinned host buffers: %s", why);
		goto fail;
	}
	memset(s->io_host, 0, L->io_bytes);
	/* Sequence s owns pages s·P .. s·P + P − 1. Everything reads page ids through these rows, so
	 * a later allocator can hand out pages differently without touching the forward pass. */
	for (uint32_t q = 0; q < L->n_seq; q++) {
		for (uint32_t j = 0; j < L->pages_per_seq; j++)
			s->pt_host[(size_t)q * L->pages_per_seq + j] = (int32_t)((uint64_t)q * L->pages_per_seq + j);
		s->pt_row_seq[q] = (int32_t)q;
	}
	if (kn_cuda_memcpy_h2d(s->dev + L->pt, s->pt_host, pt_bytes, why, sizeof why) != 0 ||
	    kn_cuda_memset(s->dev + L->io, 0, L->io_bytes, NULL, why, sizeof why) != 0 ||
	    kn_cuda_synchronize(NULL, why, sizeof why) != 0) {
		st = rc_fail(err, RC_E_DEVICE, "state: page table: %s", why);
		goto fail;
	}
	/* decode attention splits per batch size, bounded by the planned partials */
	kn_cuda_device_info info;
	int n_sms = kn_cuda_device_info_get(m->device, &info, why, sizeof why) == 0 ? info.n_sms : 1;
	for (uint32_t B = 1; B <= L->n_seq; B++) {
		int sp = kn_cuda_attn_decode_splits((int)B, (int)c->n_kv_heads, (int)L->ctx_tokens, n_sms);
		if (sp < 1)
			sp = 1;
		if ((uint32_t)sp > L->max_splits)
			sp = (int)L->max_splits;
		while (sp > 1 && kn_cuda_attn_decode_work_bytes((int)B, (int)c->n_heads, (int)c->head_dim, sp) > L->split_bytes)
			sp--;
		if (kn_cuda_attn_decode_work_bytes((int)B, (int)c->n_heads, (int)c->head_dim, sp) > L->split_bytes) {
			st = rc_fail(err, RC_E_DEVICE, "state: decode attention needs %zu bytes of partials, %llu planned",
				     kn_cuda_attn_decode_work_bytes((int)B, (int)c->n_heads, (int)c->head_dim, sp),
				     (unsigned long long)L->split_bytes);
			goto fail;
		}
		s->splits[B] = sp;
	}
	*out = s;
	return RC_OK;
fail:
	rc_state_free(s);
	return st;
}

void rc_state_free(rc_state *s)
{
	if (!s)
		return;
	char why[RC_ERRLEN];
	if (s->stream)
		kn_cuda_synchronize(s->stream, why, sizeof why);
	for (uint32_t b = 0; s->graphs && b <= s->L.n_seq; b++)
		kn_cuda_graph_destroy(s->graphs[b]);
	if (s->dev)
		s->m->live_states--;
	kn_cuda_free(s->dev);
	kn_cuda_host_free(s->pt_host);
	kn_cuda_host_free(s->io_host);
	kn_cuda_host_free(s->embd_host);
	kn_cuda_event_destroy(s->ev_start);
	kn_cuda_event_destroy(s->ev_end);
	kn_cuda_stream_destroy(s->stream);
	free(s->n_past);
	free(s->pt_row_seq);
	free(s->graphs);
	free(s->splits);
	free(s);
}

uint32_t rc_state_ctx(const rc_state *s)
{
	return s->L.ctx;
}

uint32_t rc_state_n_seq(const rc_state *s)
{
	return s->L.n_seq;
}

size_t rc_state_n_past(const rc_state *s, uint32_t seq)
{
	return seq < s->L.n_seq ? s->n_past[seq] : 0;
}

rc_status rc_state_fake_context(rc_state *s, uint32_t seq, size_t n, uint64_t seed, rc_error *err)
{
	if (!s || seq >= s->L.n_seq)
		return rc_fail(err, RC_E_ARG, "fake context: sequence %u outside the state", seq);
	if (n > s->L.ctx)
		return rc_fail(err, RC_E_ARG, "fake context: %zu positions exceed the KV cache of %u", n, s->L.ctx);
	/* A view of the pool over this sequence's pages only (contiguous as rc_state_create assigns
	 * them), so the other sequences' caches stay intact. */
	const rc_state_layout *L = &s->L;
	int32_t first = s->pt_host[(size_t)seq * L->pages_per_seq];
	for (uint32_t j = 1; j < L->pages_per_seq; j++)
		if (s->pt_host[(size_t)seq * L->pages_per_seq + j] != first + (int32_t)j)
			return rc_fail(err, RC_E_ARG, "fake context: the pages of sequence %u are not contiguous", seq);
	kn_cuda_kv v = s->kv;
	v.n_pages = (int)L->pages_per_seq;
	v.data = (uint8_t *)s->kv.data + (size_t)first * L->page_bytes;
	if (v.scales)
		v.scales = (float *)(void *)((uint8_t *)s->kv.scales + (size_t)first * L->page_scale_bytes);
	char why[RC_ERRLEN];
	if (kn_cuda_kv_fill_random(&v, seed, s->stream, why, sizeof why) != 0 ||
	    kn_cuda_synchronize(s->stream, why, sizeof why) != 0)
		return rc_fail(err, RC_E_DEVICE, "fake context: %s", why);
	s->n_past[seq] = n;
	return RC_OK;
}
