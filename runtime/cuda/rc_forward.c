/* rc_forward: the layer loop on the GPU — prefill in chunks, decode steps (captured into CUDA
 * graphs per batch size), the LM head for the rows whose logits are asked.
 *
 * Per-step inputs (token ids, positions, cache slots, lengths; the embedding rows when the table
 * stays on the host) are written to pinned mirrors and copied to fixed device addresses on the
 * state's stream just before the step's kernels — for decode, before the graph launch, outside
 * the captured region. Stream order makes the kernels see this step's values; every call ends
 * with a stream synchronize, so a mirror is never rewritten while its copy may still be pending.
 * The graph itself holds only fixed addresses and sizes that depend on the batch size alone
 * (attention reads the lengths on the device, splits are fixed per batch size at state create). */
#include <stdio.h>
#include <string.h>

#include "rc_internal.h"

typedef struct {
	int rows;
	bool decode;        /* rows sequences, one token each, decode attention */
	int p0;             /* prefill: position of row 0 */
	const void *pt_row; /* prefill: the sequence's page table row (device) */
} step;

#define KTRY(call, ...)                                                                           \
	do {                                                                                      \
		if ((call) != 0) {                                                                \
			char ctx_[200];                                                           \
			snprintf(ctx_, sizeof ctx_, __VA_ARGS__);                                 \
			return rc_fail(err, RC_E_DEVICE, "forward: %s: %s", ctx_, why);           \
		}                                                                                 \
	} while (0)

#define TRY(x)                                                                                    \
	do {                                                                                      \
		rc_status st_ = (x);                                                              \
		if (st_ != RC_OK)                                                                 \
			return st_;                                                               \
	} while (0)

/* Decode steps (captured into graphs) of more than 16 sequences keep to our own kernels: the
 * FP8 path quantizes the activations (kn_cuda_gemm.h: never the decode path), and the CUBLAS path
 * calls cublasSetStream, which resets cuBLAS to its default workspace pool (cuBLAS docs), so the
 * first capture on a stream could allocate inside the capture. */
static kn_gemm_algo pick(const rc_model *m, const kn_cuda_weight *w, int rows, bool decode)
{
	if (rows <= KN_CUDA_GEMV_MAX_M)
		return KN_GEMM_AUTO;
	if (decode) {
		kn_gemm_algo a = kn_cuda_matmul_pick(w, rows);
		if ((a == KN_GEMM_CUBLAS || a == KN_GEMM_FP8) && kn_cuda_matmul_supported(w, rows, KN_GEMM_MMA, NULL, 0) == 0)
			return KN_GEMM_MMA;
		return KN_GEMM_AUTO;
	}
	kn_gemm_algo a = (kn_gemm_algo)m->prefill_algo;
	/* the prefill choice applies where it can run; the rest stays on AUTO */
	if (a != KN_GEMM_AUTO && kn_cuda_matmul_supported(w, rows, a, NULL, 0) == 0)
		return a;
	return KN_GEMM_AUTO;
}

static rc_status mm(rc_state *s, const kn_cuda_weight *w, const void *x, void *y, int rows, bool decode,
		    const kn_cuda_epilogue *ep, const char *what, uint32_t layer, rc_error *err)
{
	char why[RC_ERRLEN];
	KTRY(kn_cuda_matmul(s->m->blas, w, x, y, rows, ep, pick(s->m, w, rows, decode), s->stream, why, sizeof why),
	     "layer %u: %s (%d rows)", layer, what, rows);
	return RC_OK;
}

/* y = x·Wᵀ written to columns [col, col + w->n) of the BF16 rows of `dst` (stride elements): for
 * weights kept apart because they cannot be fused. One row is written in place; more go through
 * `scratch` ([rows][w->n] BF16) and one copy per row. */
static rc_status mm_cols(rc_state *s, const kn_cuda_weight *w, const void *x, uint8_t *dst, size_t stride, size_t col,
			 int rows, bool decode, uint8_t *scratch, const char *what, uint32_t layer, rc_error *err)
{
	if (rows == 1)
		return mm(s, w, x, dst + col * 2, 1, decode, NULL, what, layer, err);
	TRY(mm(s, w, x, scratch, rows, decode, NULL, what, layer, err));
	char why[RC_ERRLEN];
	for (int i = 0; i < rows; i++)
		KTRY(kn_cuda_memcpy_d2d_async(dst + ((size_t)i * stride + col) * 2, scratch + (size_t)i * w->n * 2, w->n * 2,
					      s->stream, why, sizeof why),
		     "layer %u: %s row copy", layer, what);
	return RC_OK;
}

/* Embedding (on the device) and every layer for k->rows rows; the residual stream ends in h. */
static rc_status enqueue_layers(rc_state *s, const step *k, rc_error *err)
{
	rc_model *m = s->m;
	const rt_config *c = &m->cfg;
	const rc_state_layout *L = &s->L;
	uint8_t *dev = s->dev, *io = dev + L->io;
	uint8_t *h = dev + L->h, *xn = dev + L->xn, *qkv = dev + L->qkv, *att = dev + L->att, *gu = dev + L->gu,
		*ffo = dev + L->ffo;
	int rows = k->rows, d = (int)c->d_model, ff = (int)c->d_ff;
	size_t nq = (size_t)c->n_heads * c->head_dim, nk = (size_t)c->n_kv_heads * c->head_dim, qkv_w = nq + 2 * nk;
	char why[RC_ERRLEN];
	void *st = s->stream;
	if (!m->embed_host)
		KTRY(kn_cuda_embed(&m->tok_embd, io + L->io_ids, rows, h, st, why, sizeof why), "embedding");
	kn_cuda_qkv_args qa = {(int)c->n_heads, NULL, NULL, NULL, c->norm_eps, (const float *)(const void *)(dev + L->rope),
			       (int)L->ctx_tokens, (int)L->rope_dim};
	kn_cuda_epilogue add = {1, h, 0}, swiglu = {0, NULL, 1};
	for (uint32_t l = 0; l < c->n_layers; l++) {
		const rc_dlayer *W = &m->layers[l];
		KTRY(kn_cuda_rmsnorm(h, NULL, W->attn_norm, xn, rows, d, c->norm_eps, st, why, sizeof why),
		     "layer %u: attn_norm", l);
		if (W->n_qkv == 1) {
			TRY(mm(s, &W->qkv[0], xn, qkv, rows, k->decode, NULL, "attn_qkv", l, err));
		} else {
			TRY(mm_cols(s, &W->qkv[0], xn, qkv, qkv_w, 0, rows, k->decode, att, "attn_q", l, err));
			TRY(mm_cols(s, &W->qkv[1], xn, qkv, qkv_w, nq, rows, k->decode, att, "attn_k", l, err));
			TRY(mm_cols(s, &W->qkv[2], xn, qkv, qkv_w, nq + nk, rows, k->decode, att, "attn_v", l, err));
		}
		qa.bias = W->bias;
		qa.q_norm = W->q_norm;
		qa.k_norm = W->k_norm;
		KTRY(kn_cuda_qkv_prep(&s->kv, (int)l, qkv, rows, io + L->io_pos, io + L->io_slots, &qa, st, why, sizeof why),
		     "layer %u: q/k norm, RoPE, KV store", l);
		if (k->decode)
			KTRY(kn_cuda_attn_decode(&s->kv, (int)l, qkv, (int)qkv_w, att, rows, io + L->io_lens, dev + L->pt,
						 (int)L->pages_per_seq, (int)c->n_heads, s->splits[rows], dev + L->split, st,
						 why, sizeof why),
			     "layer %u: decode attention (%d sequences)", l, rows);
		else
			KTRY(kn_cuda_attn_prefill(&s->kv, (int)l, qkv, (int)qkv_w, att, rows, k->p0, k->pt_row,
						  (int)c->n_heads, st, why, sizeof why),
			     "layer %u: prefill attention (%d rows at %d)", l, rows, k->p0);
		TRY(mm(s, &W->o, att, h, rows, k->decode, &add, "attn_output", l, err));
		KTRY(kn_cuda_rmsnorm(h, NULL, W->ffn_norm, xn, rows, d, c->norm_eps, st, why, sizeof why),
		     "layer %u: ffn_norm", l);
		if (W->n_gu == 1) {
			TRY(mm(s, &W->gu[0], xn, ffo, rows, k->decode, &swiglu, "ffn_gate_up", l, err));
		} else {
			TRY(mm_cols(s, &W->gu[0], xn, gu, 2 * (size_t)ff, 0, rows, k->decode, ffo, "ffn_gate", l, err));
			TRY(mm_cols(s, &W->gu[1], xn, gu, 2 * (size_t)ff, (size_t)ff, rows, k->decode, ffo, "ffn_up", l, err));
			KTRY(kn_cuda_swiglu(gu, ffo, rows, ff, st, why, sizeof why), "layer %u: swiglu", l);
		}
		TRY(mm(s, &W->down, ffo, h, rows, k->decode, &add, "ffn_down", l, err));
	}
	return RC_OK;
}

/* Final norm and LM head of residual rows [row0, row0 + rows) into the logits buffer. */
static rc_status enqueue_head(rc_state *s, int row0, int rows, bool decode, rc_error *err)
{
	rc_model *m = s->m;
	const rt_config *c = &m->cfg;
	uint8_t *h = s->dev + s->L.h + (size_t)row0 * c->d_model * 4, *xn = s->dev + s->L.xn;
	char why[RC_ERRLEN];
	KTRY(kn_cuda_rmsnorm(h, NULL, m->output_norm, xn, rows, (int)c->d_model, c->norm_eps, s->stream, why, sizeof why),
	     "output_norm");
	kn_cuda_epilogue f32 = {1, NULL, 0};
	return mm(s, &m->output, xn, s->dev + s->L.logits, rows, decode, &f32, "output", c->n_layers, err);
}

static int32_t slot_of(const rc_state *s, uint32_t seq, size_t p)
{
	const rc_state_layout *L = &s->L;
	int32_t page = s->pt_host[(size_t)seq * L->pages_per_seq + p / L->page_tokens];
	return page * (int32_t)L->page_tokens + (int32_t)(p % L->page_tokens);
}

/* Device page-table row b made to hold sequence seq's page ids (a copy only when it changes). */
static rc_status bind_row(rc_state *s, uint32_t b, uint32_t seq, rc_error *err)
{
	if (s->pt_row_seq[b] == (int32_t)seq)
		return RC_OK;
	size_t P = s->L.pages_per_seq;
	char why[RC_ERRLEN];
	KTRY(kn_cuda_memcpy_h2d_async(s->dev + s->L.pt + b * P * 4, s->pt_host + (size_t)seq * P, P * 4, s->stream, why,
				      sizeof why),
	     "page table");
	s->pt_row_seq[b] = (int32_t)seq;
	return RC_OK;
}

/* Inputs of `rows` rows (already in the mirror) and their embedding rows to the device. */
static rc_status upload_inputs(rc_state *s, const int32_t *tokens, int rows, rc_error *err)
{
	rc_model *m = s->m;
	char why[RC_ERRLEN];
	if (m->embed_host) {
		size_t d = m->cfg.d_model;
		for (int i = 0; i < rows; i++)
			kn_embed(s->embd_host + (size_t)i * d, &m->host_embd, (size_t)tokens[i]);
		KTRY(kn_cuda_memcpy_h2d_async(s->dev + s->L.h, s->embd_host, (size_t)rows * d * 4, s->stream, why,
					      sizeof why),
		     "embedding rows");
	}
	KTRY(kn_cuda_memcpy_h2d_async(s->dev + s->L.io, s->io_host, s->L.io_bytes, s->stream, why, sizeof why),
	     "step inputs");
	return RC_OK;
}

static rc_status run_decode(rc_state *s, const step *k, rc_error *err)
{
	char why[RC_ERRLEN];
	if (s->no_graphs) {
		TRY(enqueue_layers(s, k, err));
		return enqueue_head(s, 0, k->rows, true, err);
	}
	void **g = &s->graphs[k->rows];
	if (!*g) {
		KTRY(kn_cuda_graph_begin(s->stream, why, sizeof why), "graph capture");
		rc_status st = enqueue_layers(s, k, err);
		if (st == RC_OK)
			st = enqueue_head(s, 0, k->rows, true, err);
		void *exec = NULL;
		/* the capture is always ended, so the stream leaves capture mode even after a failure */
		int rc = kn_cuda_graph_end(s->stream, &exec, why, sizeof why);
		if (st != RC_OK) {
			kn_cuda_graph_destroy(exec);
			return st;
		}
		KTRY(rc, "graph capture of the decode step (batch %d)", k->rows);
		*g = exec;
	}
	KTRY(kn_cuda_graph_launch(*g, s->stream, why, sizeof why), "decode graph (batch %d)", k->rows);
	return RC_OK;
}

/* One decode step of B sequences at positions pos[b]; logits [B][vocab] when non-NULL. */
static rc_status decode(rc_state *s, const uint32_t *seqs, const size_t *pos, const int32_t *tokens, uint32_t B,
			float *logits, rc_error *err)
{
	const rc_state_layout *L = &s->L;
	int32_t *ids = (int32_t *)(void *)(s->io_host + L->io_ids), *ps = (int32_t *)(void *)(s->io_host + L->io_pos),
		*sl = (int32_t *)(void *)(s->io_host + L->io_slots), *ln = (int32_t *)(void *)(s->io_host + L->io_lens);
	for (uint32_t b = 0; b < B; b++) {
		TRY(bind_row(s, b, seqs[b], err));
		ids[b] = tokens[b];
		ps[b] = (int32_t)pos[b];
		sl[b] = slot_of(s, seqs[b], pos[b]);
		ln[b] = (int32_t)pos[b] + 1;
	}
	TRY(upload_inputs(s, tokens, (int)B, err));
	step k = {(int)B, true, 0, NULL};
	TRY(run_decode(s, &k, err));
	if (logits) {
		char why[RC_ERRLEN];
		KTRY(kn_cuda_memcpy_d2h_async(logits, s->dev + L->logits, (size_t)B * s->m->cfg.vocab_size * 4, s->stream, why,
					      sizeof why),
		     "logits");
	}
	return RC_OK;
}

static rc_status prefill(rc_state *s, uint32_t seq, const int32_t *tokens, size_t n, size_t pos, rt_logits_mode mode,
			 float *logits, rc_error *err)
{
	const rc_state_layout *L = &s->L;
	size_t vocab = s->m->cfg.vocab_size;
	uint32_t b = 0;
	for (uint32_t i = 0; i < L->n_seq; i++)
		if (s->pt_row_seq[i] == (int32_t)seq)
			b = i;
	TRY(bind_row(s, b, seq, err));
	const void *pt_row = s->dev + L->pt + (size_t)b * L->pages_per_seq * 4;
	int32_t *ids = (int32_t *)(void *)(s->io_host + L->io_ids), *ps = (int32_t *)(void *)(s->io_host + L->io_pos),
		*sl = (int32_t *)(void *)(s->io_host + L->io_slots);
	char why[RC_ERRLEN];
	for (size_t done = 0; done < n;) {
		size_t nb = n - done < L->chunk ? n - done : L->chunk;
		size_t p0 = pos + done;
		for (size_t i = 0; i < nb; i++) {
			ids[i] = tokens[done + i];
			ps[i] = (int32_t)(p0 + i);
			sl[i] = slot_of(s, seq, p0 + i);
		}
		TRY(upload_inputs(s, tokens + done, (int)nb, err));
		step k = {(int)nb, false, (int)p0, pt_row};
		TRY(enqueue_layers(s, &k, err));
		if (mode == RT_LOGITS_ALL) {
			/* the logits buffer holds n_seq rows (the planner's size): the head runs in groups */
			for (size_t g = 0; g < nb; g += L->n_seq) {
				size_t gn = nb - g < L->n_seq ? nb - g : L->n_seq;
				TRY(enqueue_head(s, (int)g, (int)gn, false, err));
				KTRY(kn_cuda_memcpy_d2h_async(logits + (done + g) * vocab, s->dev + L->logits, gn * vocab * 4,
							      s->stream, why, sizeof why),
				     "logits");
			}
		} else if (mode == RT_LOGITS_LAST && done + nb == n) {
			TRY(enqueue_head(s, (int)nb - 1, 1, false, err));
			KTRY(kn_cuda_memcpy_d2h_async(logits, s->dev + L->logits, vocab * 4, s->stream, why, sizeof why),
			     "logits");
		}
		/* the mirrors are rewritten by the next chunk */
		KTRY(kn_cuda_synchronize(s->stream, why, sizeof why), "prefill chunk at %zu", p0);
		done += nb;
		s->n_past[seq] = pos + done;
	}
	return RC_OK;
}

static rc_status begin(rc_state *s, rc_error *err)
{
	char why[RC_ERRLEN];
	s->timed = false;
	KTRY(kn_cuda_event_record(s->ev_start, s->stream, why, sizeof why), "timing event");
	return RC_OK;
}

static rc_status finish(rc_state *s, rc_status st, rc_error *err)
{
	char why[RC_ERRLEN];
	if (st == RC_OK && kn_cuda_event_record(s->ev_end, s->stream, why, sizeof why) == 0)
		s->timed = true;
	/* always drained: a failed step must not leave copies from the mirrors in flight */
	int rc = kn_cuda_synchronize(s->stream, why, sizeof why);
	if (st == RC_OK && rc != 0)
		return rc_fail(err, RC_E_DEVICE, "forward: %s", why);
	return st;
}

rc_status rc_forward(rc_model *m, rc_state *s, uint32_t seq, const int32_t *tokens, size_t n, size_t pos,
		     rt_logits_mode mode, float *logits, rc_error *err)
{
	if (!m || !s || s->m != m)
		return rc_fail(err, RC_E_ARG, "forward: no model or state, or a state of another model");
	size_t n_past = seq < s->L.n_seq ? s->n_past[seq] : 0;
	TRY(rc_check_forward(&m->cfg, s->L.ctx, s->L.n_seq, seq, n_past, tokens, n, pos, mode, logits, err));
	/* a failure part-way leaves the cache holding only what completed */
	s->n_past[seq] = pos;
	rc_status st = begin(s, err);
	if (st != RC_OK)
		return st;
	if (n == 1) {
		st = decode(s, &seq, &pos, tokens, 1, mode == RT_LOGITS_NONE ? NULL : logits, err);
		st = finish(s, st, err);
		if (st == RC_OK)
			s->n_past[seq] = pos + 1;
		return st;
	}
	st = prefill(s, seq, tokens, n, pos, mode, logits, err);
	return finish(s, st, err);
}

rc_status rc_decode_batch(rc_model *m, rc_state *s, const uint32_t *seqs, const int32_t *tokens, uint32_t B,
			  float *logits, rc_error *err)
{
	if (!m || !s || s->m != m)
		return rc_fail(err, RC_E_ARG, "decode batch: no model or state, or a state of another model");
	TRY(rc_check_batch(&m->cfg, s->L.ctx, s->L.n_seq, s->n_past, seqs, tokens, B, logits, err));
	size_t pos[RC_MAX_SEQ];
	for (uint32_t b = 0; b < B; b++)
		pos[b] = s->n_past[seqs[b]];
	rc_status st = begin(s, err);
	if (st == RC_OK)
		st = decode(s, seqs, pos, tokens, B, logits, err);
	st = finish(s, st, err);
	if (st == RC_OK)
		for (uint32_t b = 0; b < B; b++)
			s->n_past[seqs[b]] = pos[b] + 1;
	return st;
}

double rc_last_gpu_ms(const rc_state *s)
{
	if (!s || !s->timed)
		return 0;
	float ms = 0;
	char why[RC_ERRLEN];
	if (kn_cuda_event_sync(s->ev_end, why, sizeof why) != 0 ||
	    kn_cuda_event_elapsed_ms(&ms, s->ev_start, s->ev_end, why, sizeof why) != 0)
		return 0;
	return ms;
}
