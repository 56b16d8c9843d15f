/* rc_args: the state layout (docs/GPU.md "Workspace") and the forward argument checks, host only. */
#include <string.h>

#include "rc_layout.h"

static uint64_t cdiv(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

rc_status rc_state_layout_compute(const rt_config *c, const rc_state_opts *o, rc_state_layout *L, rc_error *err)
{
	rc_state_opts def = {0};
	if (!o)
		o = &def;
	memset(L, 0, sizeof *L);
	uint32_t max_ctx = c->max_ctx ? c->max_ctx : 4096;
	L->ctx = o->ctx ? o->ctx : (max_ctx < 4096 ? max_ctx : 4096);
	L->n_seq = o->n_seq ? o->n_seq : 1;
	L->page_tokens = o->page_tokens ? o->page_tokens : 16;
	L->chunk = o->prefill_chunk ? o->prefill_chunk : 512;
	L->kv_type = o->kv_type;
	if (L->kv_type != RC_KV_BF16 && L->kv_type != RC_KV_FP8)
		return rc_fail(err, RC_E_ARG, "state: unknown KV type %d", (int)L->kv_type);
	if (c->max_ctx && L->ctx > c->max_ctx)
		return rc_fail(err, RC_E_ARG, "state: ctx %u exceeds the model's max_ctx %u", L->ctx, c->max_ctx);
	if (L->ctx > (1u << 24))
		return rc_fail(err, RC_E_ARG, "state: ctx %u exceeds %u", L->ctx, 1u << 24);
	if (L->n_seq > RC_MAX_SEQ)
		return rc_fail(err, RC_E_ARG, "state: n_seq %u exceeds %u", L->n_seq, RC_MAX_SEQ);
	if (L->chunk > RC_MAX_CHUNK)
		return rc_fail(err, RC_E_ARG, "state: prefill_chunk %u exceeds %u", L->chunk, RC_MAX_CHUNK);
	if (L->page_tokens > 4096)
		return rc_fail(err, RC_E_ARG, "state: page_tokens %u exceeds 4096", L->page_tokens);
	if (c->head_dim % 16 || c->head_dim < 16 || c->head_dim > 256)
		return rc_fail(err, RC_E_TENSOR,
			       "state: head_dim %u is not a multiple of 16 in 16..256 (attention kernels)", c->head_dim);
	/* kn_attn_decode.cu keeps a query group's running softmax in registers for at most 8 heads
	 * (KN_DEC_GMAX): enough for every Qwen3/Qwen2.5/Llama model, refused here rather than at the
	 * first decode step. */
	if (c->n_heads % c->n_kv_heads || c->n_heads / c->n_kv_heads > 8)
		return rc_fail(err, RC_E_TENSOR, "state: %u query heads per kv head (%u / %u); the decode kernel takes 1..8",
			       c->n_heads / c->n_kv_heads, c->n_heads, c->n_kv_heads);
	L->T = L->chunk > L->n_seq ? L->chunk : L->n_seq;
	L->pages_per_seq = (uint32_t)cdiv(L->ctx, L->page_tokens);
	L->ctx_tokens = L->pages_per_seq * L->page_tokens; /* ≤ 2^24 + 4095: no overflow */
	L->rope_dim = c->rope.dim;
	L->max_splits = (uint32_t)cdiv(L->ctx_tokens, 256);
	L->n_pages = (uint64_t)L->n_seq * L->pages_per_seq;
	if (L->n_pages * L->page_tokens > INT32_MAX)
		return rc_fail(err, RC_E_ARG, "state: %llu cache slots exceed the int32 slot ids",
			       (unsigned long long)(L->n_pages * L->page_tokens));

	/* kn_cuda_attn.h: page = [n_layers][2][n_kv_heads][page_tokens][head_dim] elements, FP8 scales
	 * one f32 per (layer, K/V, head, token). Every factor is < 2^24, the products checked. */
	uint64_t es = L->kv_type == RC_KV_FP8 ? 1 : 2, vecs, b;
	bool ovf = __builtin_mul_overflow((uint64_t)c->n_layers * 2 * c->n_kv_heads, (uint64_t)L->page_tokens, &vecs);
	ovf |= __builtin_mul_overflow(vecs, (uint64_t)c->head_dim * es, &L->page_bytes);
	L->page_scale_bytes = L->kv_type == RC_KV_FP8 ? vecs * 4 : 0;
	uint64_t t = 0, T = L->T, d = c->d_model, nq = (uint64_t)c->n_heads * c->head_dim,
		 qkv = nq + 2ull * c->n_kv_heads * c->head_dim;
	ovf |= __builtin_mul_overflow(L->n_pages, L->page_bytes, &b);
	L->kv = rc_take(&t, ovf ? 0 : b);
	uint64_t sb;
	ovf |= __builtin_mul_overflow(L->n_pages, L->page_scale_bytes, &sb);
	L->kv_scales = rc_take(&t, ovf ? 0 : sb);
	L->kv_bytes = rc_take(&t, 0);
	/* workspace, in the order of the planner's table */
	L->h = rc_take(&t, T * d * 4);
	L->xn = rc_take(&t, T * d * 2);
	L->qkv = rc_take(&t, T * qkv * 2);
	L->att = rc_take(&t, T * nq * 2);
	L->gu = rc_take(&t, T * 2 * c->d_ff * 2);
	L->ffo = rc_take(&t, T * c->d_ff * 2);
	L->logits = rc_take(&t, (uint64_t)L->n_seq * c->vocab_size * 4);
	L->split_bytes = (uint64_t)L->n_seq * c->n_heads * L->max_splits * (c->head_dim + 2ull) * 4;
	L->split = rc_take(&t, L->split_bytes);
	L->rope = rc_take(&t, (uint64_t)L->ctx_tokens * L->rope_dim * 4);
	L->pt = rc_take(&t, L->n_pages * 4);
	/* ids, positions, slots and lengths: one region, uploaded by one copy per step */
	uint64_t io = 0;
	L->io_ids = rc_take(&io, T * 4);
	L->io_pos = rc_take(&io, T * 4);
	L->io_slots = rc_take(&io, T * 4);
	L->io_lens = rc_take(&io, (uint64_t)L->n_seq * 4);
	L->io_bytes = io;
	L->io = rc_take(&t, io);
	L->total = rc_take(&t, 0);
	if (ovf || L->total == UINT64_MAX || L->h == UINT64_MAX || L->io == UINT64_MAX)
		return rc_fail(err, RC_E_NOMEM, "state: size overflows");
	L->ws_bytes = L->total - L->kv_bytes;
	return RC_OK;
}

static rc_status check_tokens(const rt_config *c, const int32_t *tokens, size_t n, rc_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->vocab_size)
			return rc_fail(err, RC_E_ARG, "forward: token %zu has id %d, outside the vocabulary 0..%u", i,
				       (int)tokens[i], c->vocab_size - 1);
	return RC_OK;
}

rc_status rc_check_forward(const rt_config *c, uint32_t ctx, uint32_t n_seq, uint32_t seq, size_t n_past,
			   const int32_t *tokens, size_t n, size_t pos, rt_logits_mode mode, const float *logits,
			   rc_error *err)
{
	if (n == 0 || !tokens)
		return rc_fail(err, RC_E_ARG, "forward: no tokens");
	if (seq >= n_seq)
		return rc_fail(err, RC_E_ARG, "forward: sequence %u outside 0..%u", seq, n_seq - 1);
	if (mode != RT_LOGITS_LAST && mode != RT_LOGITS_ALL && mode != RT_LOGITS_NONE)
		return rc_fail(err, RC_E_ARG, "forward: unknown logits mode %d", (int)mode);
	if (mode != RT_LOGITS_NONE && !logits)
		return rc_fail(err, RC_E_ARG, "forward: no logits buffer");
	if (pos > n_past)
		return rc_fail(err, RC_E_ARG, "forward: position %zu is past the %zu cached positions of sequence %u", pos,
			       n_past, seq);
	if (n > ctx || pos > ctx - n)
		return rc_fail(err, RC_E_ARG, "forward: positions %zu..%zu exceed the KV cache of %u", pos, pos + n - 1,
			       ctx);
	return check_tokens(c, tokens, n, err);
}

rc_status rc_check_batch(const rt_config *c, uint32_t ctx, uint32_t n_seq, const size_t *n_past, const uint32_t *seqs,
			 const int32_t *tokens, uint32_t B, const float *logits, rc_error *err)
{
	if (B == 0 || !seqs || !tokens)
		return rc_fail(err, RC_E_ARG, "decode batch: no sequences");
	if (!logits)
		return rc_fail(err, RC_E_ARG, "decode batch: no logits buffer");
	if (B > n_seq)
		return rc_fail(err, RC_E_ARG, "decode batch: %u sequences but the state holds %u", B, n_seq);
	for (uint32_t i = 0; i < B; i++) {
		if (seqs[i] >= n_seq)
			return rc_fail(err, RC_E_ARG, "decode batch: sequence %u outside 0..%u", seqs[i], n_seq - 1);
		for (uint32_t j = 0; j < i; j++)
			if (seqs[j] == seqs[i])
				return rc_fail(err, RC_E_ARG, "decode batch: sequence %u appears twice", seqs[i]);
		if (n_past[seqs[i]] >= ctx)
			return rc_fail(err, RC_E_ARG, "decode batch: sequence %u is full (%zu of %u positions)", seqs[i],
				       n_past[seqs[i]], ctx);
	}
	return check_tokens(c, tokens, B, err);
}
