/* gen_session: a KV cache with the ids it holds, prefix reuse, and the sampling loop. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen_internal.h"

#define GEN_DEFAULT_CTX 4096u
#define GEN_DEFAULT_BATCH 64u

static volatile sig_atomic_t cancel_flag;

void gen_cancel(void) { cancel_flag = 1; }
bool gen_cancelled(void) { return cancel_flag != 0; }

const char *gen_stop_reason_name(gen_stop_reason r)
{
	switch (r) {
	case GEN_STOP_EOS: return "eos";
	case GEN_STOP_STRING: return "stop string";
	case GEN_STOP_MAX_TOKENS: return "max tokens";
	case GEN_STOP_CTX_FULL: return "context full";
	case GEN_STOP_CANCELLED: return "cancelled";
	}
	return "?";
}

struct gen_session {
	gen_model *m;
	rt_state *st;       /* GEN_DEVICE_CPU */
	rc_state *gst;      /* GEN_DEVICE_CUDA */
	gen_kv_type kv;
	uint32_t ctx;
	int32_t *cache_ids; /* [ctx]: the ids at positions 0..n_cached-1 of the KV cache */
	size_t n_cached;
	float *logits;      /* [vocab] */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the backend switch: the only places that differ between the CPU and the GPU ---- */

static gen_status state_create_cpu(gen_session *s, const gen_session_opts *o, gen_error *err)
{
	kn_kv_type t = s->kv == GEN_KV_BF16 ? KN_KV_BF16 : s->kv == GEN_KV_FP8 ? KN_KV_F8 : KN_KV_F32;
	rt_state_opts so = {.max_ctx = s->ctx, .max_batch = o->max_batch ? o->max_batch : GEN_DEFAULT_BATCH, .kv_type = t};
	rt_error re;
	if (rt_state_create(s->m->rt, &so, &s->st, &re) != RT_OK)
		return gen_fail(err, re.status == RT_E_NOMEM ? GEN_E_NOMEM : GEN_E_MODEL, "KV cache for %u positions: %s",
				s->ctx, re.msg);
	return GEN_OK;
}

static gen_status state_create_gpu(gen_session *s, const gen_session_opts *o, gen_error *err)
{
	rc_state_opts so = {.ctx = s->ctx, .n_seq = 1, .kv_type = s->kv == GEN_KV_FP8 ? RC_KV_FP8 : RC_KV_BF16,
			    .prefill_chunk = o->max_batch};
	rc_error re;
	rc_status rs = rc_state_create(s->m->gpu, &so, &s->gst, &re);
	if (rs != RC_OK)
		return gen_fail(err, gen_status_from_rc(rs), "KV cache for %u positions (%s) on the GPU: %s [%s]", s->ctx,
				gen_kv_name(s->kv), re.msg, rc_status_name(rs));
	return GEN_OK;
}

static gen_status backend_forward(gen_session *s, const int32_t *ids, size_t n, size_t pos, rt_logits_mode mode,
				  float *logits, gen_error *err)
{
	if (s->gst) {
		rc_error ge;
		rc_status rs = rc_forward(s->m->gpu, s->gst, 0, ids, n, pos, mode, logits, &ge);
		/* check_prompt already validated ids and positions: an RC_E_ARG here is a backend fault */
		gen_status st = rs == RC_E_ARG ? GEN_E_MODEL : gen_status_from_rc(rs);
		if (rs != RC_OK)
			return gen_fail(err, st, "forward on the GPU: %s [%s]", ge.msg, rc_status_name(rs));
		return GEN_OK;
	}
	rt_error re;
	if (rt_forward(s->m->rt, s->st, ids, n, pos, mode, logits, &re) != RT_OK)
		return gen_fail(err, GEN_E_MODEL, "forward: %s", re.msg);
	return GEN_OK;
}

gen_status gen_session_create(gen_model *m, const gen_session_opts *o, gen_session **out, gen_error *err)
{
	*out = NULL;
	gen_session_opts o0 = {0};
	if (!o)
		o = &o0;
	const rt_config *c = rt_model_config(m->rt);
	uint32_t ctx = o->ctx ? o->ctx : (c->max_ctx < GEN_DEFAULT_CTX ? c->max_ctx : GEN_DEFAULT_CTX);
	if (ctx > c->max_ctx)
		return gen_fail(err, GEN_E_ARG, "context %u is larger than the model's maximum (model.max_ctx %u)", ctx,
				c->max_ctx);
	bool gpu = m->device == GEN_DEVICE_CUDA;
	gen_kv_type kv = o->kv_type == GEN_KV_DEFAULT ? (gpu ? GEN_KV_BF16 : GEN_KV_F32) : o->kv_type;
	if (kv != GEN_KV_F32 && kv != GEN_KV_BF16 && kv != GEN_KV_FP8)
		return gen_fail(err, GEN_E_ARG, "unknown KV cache type %d", (int)o->kv_type);
	if (gpu && kv == GEN_KV_F32)
		return gen_fail(err, GEN_E_ARG, "an f32 KV cache is CPU-only; the GPU KV cache is bf16 or fp8");
	gen_session *s = calloc(1, sizeof *s);
	if (!s)
		return gen_fail(err, GEN_E_NOMEM, "out of memory");
	s->m = m;
	s->ctx = ctx;
	s->cache_ids = malloc((size_t)ctx * sizeof *s->cache_ids);
	s->logits = malloc((size_t)c->vocab_size * sizeof *s->logits);
	if (!s->cache_ids || !s->logits) {
		gen_session_free(s);
		return gen_fail(err, GEN_E_NOMEM, "out of memory for a context of %u", ctx);
	}
	s->kv = kv;
	gen_status st = gpu ? state_create_gpu(s, o, err) : state_create_cpu(s, o, err);
	if (st != GEN_OK) {
		gen_session_free(s);
		return st;
	}
	*out = s;
	return GEN_OK;
}

void gen_session_free(gen_session *s)
{
	if (!s)
		return;
	rt_state_free(s->st);
	rc_state_free(s->gst);
	free(s->cache_ids);
	free(s->logits);
	free(s);
}

void gen_session_reset(gen_session *s) { s->n_cached = 0; }
uint32_t gen_session_ctx(const gen_session *s) { return s->ctx; }
size_t gen_session_n_cached(const gen_session *s) { return s->n_cached; }
gen_kv_type gen_session_kv_type(const gen_session *s) { return s->kv; }

static gen_status check_prompt(const gen_session *s, const int32_t *ids, size_t n, gen_error *err)
{
	if (n == 0)
		return gen_fail(err, GEN_E_ARG, "the prompt is empty (0 tokens)");
	if (n > s->ctx)
		return gen_fail(err, GEN_E_CONTEXT, "the prompt has %zu tokens but the context holds %u (raise --ctx, max %u)",
				n, s->ctx, rt_model_config(s->m->rt)->max_ctx);
	uint32_t vocab = rt_model_config(s->m->rt)->vocab_size;
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= vocab)
			return gen_fail(err, GEN_E_ARG, "token id %d at position %zu is outside the vocabulary [0, %u)",
					ids[i], i, vocab);
	return GEN_OK;
}

/* Runs ids[from..n) at positions from.. and records them as cached. */
static gen_status forward(gen_session *s, const int32_t *ids, size_t from, size_t n, rt_logits_mode mode, float *logits,
			  gen_error *err)
{
	s->n_cached = from; /* positions past `from` are stale until this call succeeds */
	gen_status st = backend_forward(s, ids + from, n - from, from, mode, logits, err);
	if (st != GEN_OK)
		return st;
	if (ids + from != s->cache_ids + from)
		memmove(s->cache_ids + from, ids + from, (n - from) * sizeof *ids);
	s->n_cached = n;
	return GEN_OK;
}

/* Longest cached prefix of ids, leaving at least one id to compute (its logits are needed). */
static size_t reusable(const gen_session *s, const int32_t *ids, size_t n)
{
	size_t c = 0;
	while (c < s->n_cached && c < n && s->cache_ids[c] == ids[c])
		c++;
	return c == n ? n - 1 : c;
}

gen_status gen_logits(gen_session *s, const int32_t *ids, size_t n, bool all, float *logits, gen_error *err)
{
	gen_status st = check_prompt(s, ids, n, err);
	if (st != GEN_OK)
		return st;
	size_t from = all ? 0 : reusable(s, ids, n);
	return forward(s, ids, from, n, all ? RT_LOGITS_ALL : RT_LOGITS_LAST, logits, err);
}

/* ---- reasoning splitter: cuts the released text at <think> / </think> ---- */

typedef struct {
	bool in;          /* inside reasoning */
	char *buf;
	size_t n, cap;
	gen_piece_fn fn;
	void *user;
	bool stopped;     /* the callback asked to stop */
} splitter;

static void emit(splitter *sp, const char *t, size_t len, bool reasoning)
{
	if (len && !sp->stopped && !sp->fn(sp->user, t, len, reasoning))
		sp->stopped = true;
}

static gen_status split_feed(splitter *sp, const char *t, size_t len, bool final, gen_error *err)
{
	if (len) {
		if (sp->n + len > sp->cap) {
			size_t cap = (sp->n + len) * 2 + 64;
			char *nb = realloc(sp->buf, cap);
			if (!nb)
				return gen_fail(err, GEN_E_NOMEM, "out of memory");
			sp->buf = nb;
			sp->cap = cap;
		}
		memcpy(sp->buf + sp->n, t, len);
		sp->n += len;
	}
	size_t i = 0;
	for (;;) {
		const char *tag = sp->in ? "</think>" : "<think>";
		size_t tl = strlen(tag), j = i, found = SIZE_MAX;
		for (; j + tl <= sp->n; j++)
			if (memcmp(sp->buf + j, tag, tl) == 0) {
				found = j;
				break;
			}
		if (found != SIZE_MAX) {
			emit(sp, sp->buf + i, found - i, sp->in);
			emit(sp, tag, tl, true);
			sp->in = !sp->in;
			i = found + tl;
			continue;
		}
		/* hold back a tail that could still become the tag */
		size_t keep = 0;
		if (!final)
			for (size_t k = tl - 1; k > 0; k--)
				if (sp->n - i >= k && memcmp(sp->buf + sp->n - k, tag, k) == 0) {
					keep = k;
					break;
				}
		emit(sp, sp->buf + i, sp->n - keep - i, sp->in);
		if (keep)
			memmove(sp->buf, sp->buf + sp->n - keep, keep);
		sp->n = keep;
		return GEN_OK;
	}
}

/* ---- generation ---- */

static gen_stop_reason map_reason(smp_stop_reason r)
{
	return r == SMP_STOP_EOS ? GEN_STOP_EOS : r == SMP_STOP_STRING ? GEN_STOP_STRING : GEN_STOP_MAX_TOKENS;
}

typedef struct {
	smp_sampler *smp;
	smp_stop *stop;
	tok_stream *stream;
	uint32_t n_tok;
	splitter sp;
} gen_run;

static void run_free(gen_run *r)
{
	smp_free(r->smp);
	smp_stop_free(r->stop);
	tok_stream_free(r->stream);
	free(r->sp.buf);
}

static gen_status run_init(gen_session *s, const gen_params *p, gen_piece_fn fn, void *user, gen_run *r, gen_error *err)
{
	memset(r, 0, sizeof *r);
	gen_model *m = s->m;
	if (!m->tok)
		return gen_fail(err, GEN_E_TOKENIZER, "the model file has no TOKENIZER section");
	char msg[512];
	if (smp_sampler_create(&p->sampling, rt_model_config(m->rt)->vocab_size, &r->smp, msg, sizeof msg) != SMP_OK)
		return gen_fail(err, GEN_E_SAMPLE, "sampling: %s", msg);
	smp_stop_params sp = {.eos_ids = m->eos_ids, .n_eos = m->n_eos, .strings = p->stop, .n_strings = p->n_stop,
			      .max_tokens = p->max_tokens};
	if (smp_stop_create(&sp, &r->stop, msg, sizeof msg) != SMP_OK)
		return gen_fail(err, GEN_E_SAMPLE, "stop conditions: %s", msg);
	if (tok_stream_create(m->tok, 0, &r->stream) != TOK_OK)
		return gen_fail(err, GEN_E_NOMEM, "out of memory");
	r->n_tok = tok_n_tokens(m->tok);
	r->sp = (splitter){.in = p->start_in_reasoning, .fn = fn, .user = user};
	return GEN_OK;
}

/* Passes text released by the stop matcher on to the splitter. */
static gen_status release(gen_run *r, const smp_stop_result *res, gen_error *err)
{
	return split_feed(&r->sp, res->text, res->len, false, err);
}

static gen_status stop_fail(smp_status ss, gen_error *err)
{
	return gen_fail(err, GEN_E_SAMPLE, "stop matcher: %s", smp_strerror(ss));
}

/* Flushes the tokenizer's held UTF-8 tail into the stop matcher. */
static gen_status flush_stream(gen_run *r, gen_error *err)
{
	const char *t;
	size_t len;
	smp_stop_result res;
	if (tok_stream_flush(r->stream, &t, &len) != TOK_OK)
		return gen_fail(err, GEN_E_TOKENIZER, "stream decoder failed");
	smp_status ss = smp_stop_feed_text(r->stop, t, len, &res);
	if (ss != SMP_OK)
		return stop_fail(ss, err);
	return release(r, &res, err);
}

/* One sampled id: decode, match stops, emit. *done with *reason when generation ends. */
static gen_status step_token(gen_run *r, int32_t id, bool *done, gen_stop_reason *reason, gen_error *err)
{
	smp_stop_result res;
	smp_status ss;
	gen_status st;
	if (smp_stop_is_eos(r->stop, id)) {
		if ((st = flush_stream(r, err)) != GEN_OK)
			return st;
		if ((ss = smp_stop_feed(r->stop, id, "", 0, &res)) != SMP_OK)
			return stop_fail(ss, err);
	} else {
		const char *t = "";
		size_t len = 0;
		/* the embedding may have more rows than the tokenizer has tokens (padding); like HF,
		 * such ids decode to nothing */
		if ((uint32_t)id < r->n_tok && tok_stream_push(r->stream, id, &t, &len) != TOK_OK)
			return gen_fail(err, GEN_E_TOKENIZER, "cannot decode token %d", id);
		if ((ss = smp_stop_feed(r->stop, id, t, len, &res)) != SMP_OK)
			return stop_fail(ss, err);
	}
	if ((st = release(r, &res, err)) != GEN_OK)
		return st;
	if (res.reason == SMP_STOP_MAX_TOKENS) {
		/* the matcher is closed now; an incomplete UTF-8 tail still held by the decoder
		 * becomes U+FFFD, as a full decode of the ids gives */
		const char *t;
		size_t len;
		if (tok_stream_flush(r->stream, &t, &len) != TOK_OK)
			return gen_fail(err, GEN_E_TOKENIZER, "stream decoder failed");
		if ((st = split_feed(&r->sp, t, len, false, err)) != GEN_OK)
			return st;
	}
	if (res.reason != SMP_STOP_NONE) {
		*done = true;
		*reason = map_reason(res.reason);
	}
	return GEN_OK;
}

gen_status gen_generate(gen_session *s, const int32_t *ids, size_t n, const gen_params *p, gen_piece_fn fn, void *user,
			gen_stats *stats, gen_error *err)
{
	gen_stats z = {0};
	if (!stats)
		stats = &z;
	memset(stats, 0, sizeof *stats);
	cancel_flag = 0;
	gen_status st = check_prompt(s, ids, n, err);
	if (st != GEN_OK)
		return st;
	gen_run r;
	if ((st = run_init(s, p, fn, user, &r, err)) != GEN_OK)
		goto done;

	stats->prompt_tokens = n;
	size_t from = reusable(s, ids, n);
	stats->reused_tokens = from;
	double t0 = now_s();
	if ((st = forward(s, ids, from, n, RT_LOGITS_LAST, s->logits, err)) != GEN_OK)
		goto done;
	stats->prefill_s = now_s() - t0;
	stats->prefill_tps = stats->prefill_s > 0 ? (double)(n - from) / stats->prefill_s : 0;
	if (p->penalize_prompt)
		for (size_t i = 0; i < n; i++)
			smp_accept(r.smp, ids[i]);

	bool done = false, smp_final = false;
	size_t n_decode = 0;
	gen_stop_reason reason = GEN_STOP_CANCELLED;
	while (!done) {
		if (cancel_flag || r.sp.stopped) {
			reason = GEN_STOP_CANCELLED;
			break;
		}
		int32_t id;
		if (smp_sample(r.smp, s->logits, &id) != SMP_OK) {
			st = gen_fail(err, GEN_E_SAMPLE, "sampling at position %zu: %s", s->n_cached, smp_last_error(r.smp));
			goto done;
		}
		smp_accept(r.smp, id);
		stats->generated_tokens++;
		if ((st = step_token(&r, id, &done, &reason, err)) != GEN_OK)
			goto done;
		if (done) {
			smp_final = true;
			break;
		}
		if (s->n_cached >= s->ctx) {
			reason = GEN_STOP_CTX_FULL;
			break;
		}
		if (cancel_flag || r.sp.stopped)
			continue;
		double t1 = now_s();
		s->cache_ids[s->n_cached] = id;
		if ((st = forward(s, s->cache_ids, s->n_cached, s->n_cached + 1, RT_LOGITS_LAST, s->logits, err)) != GEN_OK)
			goto done;
		stats->decode_s += now_s() - t1;
		n_decode++;
	}
	if (!smp_final) {
		smp_stop_result res;
		smp_status ss;
		if ((st = flush_stream(&r, err)) != GEN_OK)
			goto done;
		if ((ss = smp_stop_flush(r.stop, &res)) != SMP_OK) {
			st = stop_fail(ss, err);
			goto done;
		}
		if ((st = release(&r, &res, err)) != GEN_OK)
			goto done;
	}
	st = split_feed(&r.sp, NULL, 0, true, err);
	stats->reason = reason;
	stats->decode_tps = stats->decode_s > 0 ? (double)n_decode / stats->decode_s : 0;
done:
	run_free(&r);
	return st;
}
