/* bale eval --text: perplexity over sliding windows, and KL divergence against --ref. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval_run.h"

typedef struct {
	size_t begin, end, score_from; /* tokens [begin, end); targets at positions >= score_from */
} window;

typedef struct {
	/* shared, read-only */
	gen_model *m, *ref;
	const int32_t *ids;
	const window *win;
	size_t n_win;
	uint32_t ctx, vocab;
	gen_kv_type kv;
	/* per target position (index = token position), written by exactly one worker */
	double *nll, *nll_ref, *kl, *dp_top, *dp_tok;
	uint8_t *same_top, *scored;
	/* job queue and progress */
	pthread_mutex_t mu;
	size_t next, done;
	bool failed;
	char err[700];
	eval_progress prog;
} ppl_job;

/* log-softmax pieces of a row in double: max and log(sum exp(x - max)). */
static void row_lse(const float *x, uint32_t n, double *mx, double *lse, uint32_t *arg)
{
	float m = x[0];
	uint32_t a = 0;
	for (uint32_t i = 1; i < n; i++)
		if (x[i] > m)
			m = x[i], a = i;
	double s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += exp((double)x[i] - m);
	*mx = m;
	*lse = log(s);
	*arg = a;
}

static void fail(ppl_job *j, const char *msg)
{
	pthread_mutex_lock(&j->mu);
	if (!j->failed)
		snprintf(j->err, sizeof j->err, "%s", msg);
	j->failed = true;
	pthread_mutex_unlock(&j->mu);
}

static void score(ppl_job *j, const window *w, const float *lg, const float *lr)
{
	uint32_t V = j->vocab;
	for (size_t t = w->score_from; t < w->end; t++) {
		const float *a = lg + (t - 1 - w->begin) * (size_t)V;
		double ma, la;
		uint32_t ta;
		row_lse(a, V, &ma, &la, &ta);
		int32_t tok = j->ids[t];
		j->scored[t] = 1;
		j->nll[t] = ma + la - a[tok];
		if (!lr)
			continue;
		const float *r = lr + (t - 1 - w->begin) * (size_t)V;
		double mr, lrs;
		uint32_t tr;
		row_lse(r, V, &mr, &lrs, &tr);
		j->nll_ref[t] = mr + lrs - r[tok];
		double kl = 0;
		for (uint32_t i = 0; i < V; i++) {
			double lpr = (double)r[i] - mr - lrs, lpa = (double)a[i] - ma - la;
			kl += exp(lpr) * (lpr - lpa);
		}
		j->kl[t] = kl > 0 ? kl : 0; /* rounding can give -1e-17 for identical rows */
		j->same_top[t] = ta == tr;
		j->dp_top[t] = exp((double)a[tr] - ma - la) - exp((double)r[tr] - mr - lrs);
		j->dp_tok[t] = exp(-j->nll[t]) - exp(-j->nll_ref[t]);
	}
}

static void *ppl_worker(void *arg)
{
	ppl_job *j = arg;
	gen_session *s = NULL, *sr = NULL;
	float *lg = NULL, *lr = NULL;
	gen_error ge;
	gen_session_opts so = {.ctx = j->ctx, .kv_type = j->kv};
	if (gen_session_create(j->m, &so, &s, &ge) != GEN_OK ||
	    (j->ref && gen_session_create(j->ref, &so, &sr, &ge) != GEN_OK)) {
		fail(j, ge.msg);
		goto done;
	}
	size_t rows = (size_t)j->ctx * j->vocab;
	lg = malloc(rows * sizeof *lg);
	lr = j->ref ? malloc(rows * sizeof *lr) : NULL;
	if (!lg || (j->ref && !lr)) {
		fail(j, "out of memory for the logits of a window (lower --ctx or --parallel)");
		goto done;
	}
	for (;;) {
		pthread_mutex_lock(&j->mu);
		size_t k = j->failed ? j->n_win : j->next++;
		pthread_mutex_unlock(&j->mu);
		if (k >= j->n_win)
			break;
		const window *w = &j->win[k];
		size_t n = w->end - w->begin;
		gen_session_reset(s);
		if (gen_logits(s, j->ids + w->begin, n, true, lg, &ge) != GEN_OK) {
			fail(j, ge.msg);
			break;
		}
		if (sr) {
			gen_session_reset(sr);
			if (gen_logits(sr, j->ids + w->begin, n, true, lr, &ge) != GEN_OK) {
				fail(j, ge.msg);
				break;
			}
		}
		score(j, w, lg, lr);
		pthread_mutex_lock(&j->mu);
		j->done++;
		eval_progress_update(&j->prog, j->done);
		pthread_mutex_unlock(&j->mu);
	}
done:
	free(lg);
	free(lr);
	gen_session_free(s);
	gen_session_free(sr);
	return NULL;
}

/* Same tokenizer: identical token count, model vocabulary and the bytes of every token. */
static int same_tokenizer(const eval_opts *o, gen_model *a, gen_model *b)
{
	tok_tokenizer *ta = gen_model_tokenizer(a), *tb = gen_model_tokenizer(b);
	uint32_t va = gen_model_config(a)->vocab_size, vb = gen_model_config(b)->vocab_size;
	uint32_t na = tok_n_tokens(ta), nb = tok_n_tokens(tb);
	if (va != vb || na != nb) {
		cli_error("eval", "%s and %s do not share a tokenizer: vocabulary %u vs %u, %u vs %u tokens", o->g.model,
			  o->ref, va, vb, na, nb);
		return CLI_FAIL;
	}
	for (uint32_t id = 0; id < na; id++) {
		const char *pa, *pb;
		size_t la, lb;
		tok_status sa = tok_token_bytes(ta, (int32_t)id, &pa, &la), sb = tok_token_bytes(tb, (int32_t)id, &pb, &lb);
		if (sa != sb || (sa == TOK_OK && (la != lb || memcmp(pa, pb, la) != 0))) {
			cli_error("eval", "%s and %s do not share a tokenizer: token %u differs", o->g.model, o->ref, id);
			return CLI_FAIL;
		}
	}
	return CLI_OK;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p * (double)n);
	return v[k ? k - 1 : 0];
}

static int read_text(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cli_error("eval", "%s: %s", path, strerror(errno));
		return CLI_FAIL;
	}
	*buf = cli_gen_read_all(f, len);
	fclose(f);
	if (!*buf) {
		cli_error("eval", "%s: cannot read the file (or larger than 1 GiB)", path);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static void report(const eval_opts *o, const ppl_job *j, size_t n_tok, size_t stride)
{
	size_t ns = 0;
	double s = 0, sr = 0, skl = 0, sdp = 0, sdt = 0, same = 0;
	for (size_t t = 1; t < n_tok; t++) {
		if (!j->scored[t])
			continue;
		s += j->nll[t];
		if (j->ref) {
			j->kl[ns] = j->kl[t]; /* compacted for the percentiles (ns <= t) */
			sr += j->nll_ref[t];
			skl += j->kl[t];
			sdp += j->dp_top[t] * j->dp_top[t];
			sdt += j->dp_tok[t] * j->dp_tok[t];
			same += j->same_top[t];
		}
		ns++;
	}
	double ppl = exp(s / (double)ns), ppl_ref = exp(sr / (double)ns);
	double kl_med = 0, kl_p99 = 0, kl_max = 0;
	if (j->ref) {
		qsort(j->kl, ns, sizeof *j->kl, cmp_double);
		kl_med = pct(j->kl, ns, 0.5);
		kl_p99 = pct(j->kl, ns, 0.99);
		kl_max = j->kl[ns - 1];
	}
	double top1 = 100.0 * same / (double)ns, rms = 100.0 * sqrt(sdp / (double)ns), rms_t = 100.0 * sqrt(sdt / (double)ns);
	if (o->json) {
		json_t *r = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "mode", "perplexity", "model",
				      o->g.model, "tokens", (json_int_t)n_tok, "scored", (json_int_t)ns, "windows",
				      (json_int_t)j->n_win, "ctx", (json_int_t)j->ctx, "stride", (json_int_t)stride, "nll_mean",
				      s / (double)ns, "ppl", ppl);
		if (r && j->ref) {
			json_object_set_new(r, "ref", json_string(o->ref));
			json_object_set_new(r, "ppl_ref", json_real(ppl_ref));
			json_object_set_new(r, "kl", json_pack("{s:f, s:f, s:f, s:f}", "mean", skl / (double)ns, "median", kl_med,
							       "p99", kl_p99, "max", kl_max));
			json_object_set_new(r, "top1_pct", json_real(top1));
			json_object_set_new(r, "rms_dp_pct", json_real(rms));
			json_object_set_new(r, "rms_dp_token_pct", json_real(rms_t));
		}
		char *txt = r ? json_dumps(r, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) : NULL;
		if (txt)
			puts(txt);
		else
			cli_error("eval", "out of memory");
		free(txt);
		json_decref(r);
		return;
	}
	printf("tokens %zu, scored %zu, windows %zu (ctx %u, stride %zu)\n", n_tok, ns, j->n_win, j->ctx, stride);
	printf("PPL %.6f\n", ppl);
	if (j->ref) {
		printf("PPL ref %.6f (ratio %.6f)\n", ppl_ref, ppl / ppl_ref);
		printf("KL mean %.6g, median %.6g, p99 %.6g, max %.6g\n", skl / (double)ns, kl_med, kl_p99, kl_max);
		printf("top-1 agreement %.3f %%\n", top1);
		printf("RMS dp %.4f %% (reference top token), %.4f %% (actual next token)\n", rms, rms_t);
	}
}

int eval_perplexity(eval_opts *o)
{
	int ret = CLI_FAIL;
	char *text = NULL;
	size_t len = 0, n = 0;
	int32_t *ids = NULL;
	window *win = NULL;
	ppl_job j;
	memset(&j, 0, sizeof j);
	pthread_mutex_init(&j.mu, NULL);
	gen_error ge;
	if (read_text(o->text, &text, &len) != CLI_OK)
		goto done;
	if (eval_open(o->g.model, o, &j.m) != CLI_OK || (o->ref && eval_open(o->ref, o, &j.ref) != CLI_OK))
		goto done;
	if (j.ref && same_tokenizer(o, j.m, j.ref) != CLI_OK)
		goto done;
	if (gen_encode(j.m, text, len, false, &ids, &n, &ge) != GEN_OK) {
		cli_error("eval", "%s: %s", o->text, ge.msg);
		goto done;
	}
	if (n < 2) {
		cli_error("eval", "%s: the text has %zu token%s; perplexity needs at least 2", o->text, n, n == 1 ? "" : "s");
		goto done;
	}
	const rt_config *c = gen_model_config(j.m);
	uint32_t max_ctx = c->max_ctx;
	if (j.ref && gen_model_config(j.ref)->max_ctx < max_ctx)
		max_ctx = gen_model_config(j.ref)->max_ctx;
	j.ctx = o->g.so.ctx ? o->g.so.ctx : max_ctx < 512 ? max_ctx : 512;
	if (j.ctx < 2 || j.ctx > max_ctx) {
		cli_error("eval", "--ctx %u must be in [2, %u] (the model's max_ctx)", j.ctx, max_ctx);
		ret = CLI_USAGE;
		goto done;
	}
	size_t stride = o->stride ? (size_t)o->stride : j.ctx / 2;
	if (stride > j.ctx) {
		cli_error("eval", "--stride %zu is larger than the window %u", stride, j.ctx);
		ret = CLI_USAGE;
		goto done;
	}
	/* windows: [b, min(b + ctx, n)), b = 0, stride, ...; each scores what the last one did not */
	size_t cap = n / stride + 2;
	win = calloc(cap, sizeof *win);
	j.nll = calloc(n, sizeof *j.nll);
	j.scored = calloc(n, 1);
	if (o->ref) {
		j.nll_ref = calloc(n, sizeof(double));
		j.kl = calloc(n, sizeof(double));
		j.dp_top = calloc(n, sizeof(double));
		j.dp_tok = calloc(n, sizeof(double));
		j.same_top = calloc(n, 1);
	}
	if (!win || !j.nll || !j.scored || (o->ref && (!j.nll_ref || !j.kl || !j.dp_top || !j.dp_tok || !j.same_top))) {
		cli_error("eval", "out of memory for %zu tokens", n);
		goto done;
	}
	/* With stride == ctx (disjoint windows) a window's first token has no context in it and
	 * stays unscored, as in llama.cpp's chunks. */
	size_t scored_to = 1;
	for (size_t b = 0; scored_to < n; b += stride) {
		size_t e = b + j.ctx < n ? b + j.ctx : n;
		win[j.n_win++] = (window){b, e, scored_to > b ? scored_to : b + 1};
		scored_to = e;
	}
	j.ids = ids;
	j.win = win;
	j.vocab = c->vocab_size;
	j.kv = o->g.so.kv_type;
	eval_progress_init(&j.prog, "windows", j.n_win, o->quiet);
	size_t np = (size_t)o->parallel < j.n_win ? (size_t)o->parallel : j.n_win;
	if (eval_run_workers(np, ppl_worker, &j) != CLI_OK)
		goto done;
	eval_progress_done(&j.prog, j.done);
	if (j.failed) {
		cli_error("eval", "%s", j.err);
		goto done;
	}
	report(o, &j, n, stride);
	ret = CLI_OK;
done:
	pthread_mutex_destroy(&j.mu);
	free(win);
	free(j.nll);
	free(j.nll_ref);
	free(j.kl);
	free(j.dp_top);
	free(j.dp_tok);
	free(j.same_top);
	free(j.scored);
	free(ids);
	free(text);
	gen_model_free(j.m);
	gen_model_free(j.ref);
	return ret;
}
