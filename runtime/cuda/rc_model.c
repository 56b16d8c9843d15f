/* rc_model: device checks, synthetic weights, the device views of a laid-out arena, accessors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rc_internal.h"

const char *rc_status_name(rc_status st)
{
	switch (st) {
	case RC_OK: return "RC_OK";
	case RC_E_DEVICE: return "RC_E_DEVICE";
	case RC_E_NOMEM: return "RC_E_NOMEM";
	case RC_E_TENSOR: return "RC_E_TENSOR";
	case RC_E_ARG: return "RC_E_ARG";
	case RC_E_IO: return "RC_E_IO";
	}
	return "RC_E_?";
}

rc_status rc_device_check(int device, const char *what, rc_error *err)
{
	char why[RC_ERRLEN] = "";
	int n = kn_cuda_device_count(why, sizeof why);
	if (n <= 0)
		return rc_fail(err, RC_E_DEVICE, "%s: no usable CUDA device: %s", what, why[0] ? why : "none found");
	if (device < 0 || device >= n)
		return rc_fail(err, RC_E_DEVICE, "%s: CUDA device %d does not exist (%d found)", what, device, n);
	kn_cuda_device_info info;
	/* also makes `device` current for this thread */
	if (kn_cuda_device_info_get(device, &info, why, sizeof why) != 0)
		return rc_fail(err, RC_E_DEVICE, "%s: %s", what, why);
	if (info.major < 8)
		return rc_fail(err, RC_E_DEVICE, "%s: %s has compute capability %d.%d; bale needs 8.0 or newer", what,
			       info.name, info.major, info.minor);
	return RC_OK;
}

static rc_status check_weight(const rc_wplan *p, const kn_cuda_weight *w, rc_error *err)
{
	char why[RC_ERRLEN];
	if (kn_cuda_weight_check(w, why, sizeof why) != 0)
		return rc_fail(err, RC_E_TENSOR, "%s (%s/%s): the GPU kernels cannot use it: %s", p->name,
			       fmt_dtype_name(p->dtype), fmt_scheme_name(p->scheme), why);
	return RC_OK;
}

rc_status rc_model_finish(rc_model *m, rc_error *err)
{
	const rt_config *c = &m->cfg;
	rc_plan *p = &m->plan;
	uint8_t *a = m->arena;
	rc_status st;
	m->layers = calloc(c->n_layers ? c->n_layers : 1, sizeof *m->layers);
	m->inv_freq = malloc((c->rope.dim / 2 + 1) * sizeof(float));
	if (!m->layers || !m->inv_freq)
		return rc_fail(err, RC_E_NOMEM, "model: out of host memory");
	char why[RC_ERRLEN];
	if (kn_rope_init(&c->rope, m->inv_freq, &m->mscale, why, sizeof why) != 0)
		return rc_fail(err, RC_E_ARG, "model: RoPE parameters: %s", why);
	uint64_t bytes = 0;
	if (p->embd_on_device) {
		m->tok_embd = rc_wplan_device(&p->tok_embd, a);
		if ((st = check_weight(&p->tok_embd, &m->tok_embd, err)) != RC_OK)
			return st;
	}
	m->output = rc_wplan_device(&p->output, a);
	if ((st = check_weight(&p->output, &m->output, err)) != RC_OK)
		return st;
	bytes += p->output.codes_bytes + p->output.scales_bytes;
	m->output_norm = (const float *)(const void *)(a + p->output_norm);
	for (uint32_t l = 0; l < c->n_layers; l++) {
		rc_layer_plan *lp = &p->layers[l];
		rc_dlayer *L = &m->layers[l];
		rc_wplan *all[7];
		kn_cuda_weight *dv[7];
		int n = 0;
		L->n_qkv = lp->n_qkv;
		L->n_gu = lp->n_gu;
		for (int i = 0; i < lp->n_qkv; i++)
			all[n] = &lp->qkv[i], dv[n++] = &L->qkv[i];
		for (int i = 0; i < lp->n_gu; i++)
			all[n] = &lp->gu[i], dv[n++] = &L->gu[i];
		all[n] = &lp->o, dv[n++] = &L->o;
		all[n] = &lp->down, dv[n++] = &L->down;
		for (int i = 0; i < n; i++) {
			*dv[i] = rc_wplan_device(all[i], a);
			if ((st = check_weight(all[i], dv[i], err)) != RC_OK)
				return st;
			bytes += all[i]->codes_bytes + all[i]->scales_bytes;
		}
		L->attn_norm = (const float *)(const void *)(a + lp->attn_norm);
		L->ffn_norm = (const float *)(const void *)(a + lp->ffn_norm);
		L->q_norm = c->qk_norm ? (const float *)(const void *)(a + lp->q_norm) : NULL;
		L->k_norm = c->qk_norm ? (const float *)(const void *)(a + lp->k_norm) : NULL;
		L->bias = c->attn_bias ? (const float *)(const void *)(a + lp->bias) : NULL;
		bytes += 2ull * c->d_model * 4;
	}
	m->weight_bytes = bytes;
	return RC_OK;
}

/* Root-mean-square of the values kn_cuda_fill_random writes for dtype with bound hi. */
static double fill_rms(fmt_dtype dt, float hi)
{
	if (dt == FMT_I8)
		return sqrt(127.0 * 128.0 / 3.0); /* uniform over −127..127: 2·Σ_{1..127} v² / 255 */
	if (dt == FMT_F8_E4M3) {
		double s = 0;
		int n = 0;
		for (int code = 0; code < 0x7F; code++) {
			double v = fmt_e4m3_to_f32((uint8_t)code);
			if (v <= hi)
				s += v * v, n++;
		}
		return sqrt(s / n);
	}
	return hi / sqrt(3.0); /* uniform in [−hi, hi) */
}

/* Codes and scales of one synthetic weight, so that x·Wᵀ keeps the scale of x: entries of
 * standard deviation ≈ 1/sqrt(k). Scales vary by ±25 % around that. */
static rc_status fill_weight(const rc_wplan *p, uint8_t *a, uint64_t seed, void *stream, rc_error *err)
{
	char why[RC_ERRLEN];
	double target = 1.0 / sqrt((double)p->k);
	float hi = p->dtype == FMT_BF16 ? (float)(target * sqrt(3.0)) : p->dtype == FMT_F8_E4M3 ? 448.0f : 127.0f;
	float lo = p->dtype == FMT_BF16 ? -hi : -hi;
	if (kn_cuda_fill_random(a + p->codes_off, (int)p->dtype, p->n * p->k, seed, lo, hi, stream, why, sizeof why))
		return rc_fail(err, RC_E_DEVICE, "dummy: %s: %s", p->name, why);
	if (p->scales_bytes) {
		double s = target / fill_rms(p->dtype, hi);
		if (kn_cuda_fill_random(a + p->scales_off, FMT_F32, p->n * p->groups, seed ^ 0x5CA1E5ull, (float)(0.75 * s),
					(float)(1.25 * s), stream, why, sizeof why))
			return rc_fail(err, RC_E_DEVICE, "dummy: %s scales: %s", p->name, why);
	}
	return RC_OK;
}

rc_status rc_model_create_dummy(const rt_config *cfg, fmt_dtype dtype, fmt_scheme scheme, uint32_t group_size,
				uint64_t seed, const rc_model_opts *opts, rc_model **out, rc_error *err)
{
	rc_model_opts def = {0};
	if (!opts)
		opts = &def;
	if (!out || !cfg)
		return rc_fail(err, RC_E_ARG, "dummy: NULL argument");
	*out = NULL;
	bool ok = (dtype == FMT_BF16 && scheme == FMT_SCHEME_NONE) || (dtype == FMT_I8 && scheme == FMT_SCHEME_ROW) ||
		  (dtype == FMT_I8 && scheme == FMT_SCHEME_GROUP &&
		   (group_size == 32 || group_size == 64 || group_size == 128)) ||
		  (dtype == FMT_F8_E4M3 && scheme == FMT_SCHEME_ROW);
	if (!ok)
		return rc_fail(err, RC_E_ARG, "dummy: weights %s/%s (group %u) are not supported by the GPU kernels",
			       fmt_dtype_name(dtype), fmt_scheme_name(scheme), group_size);
	if (cfg->n_layers == 0 || cfg->d_model == 0 || cfg->n_heads == 0 || cfg->n_kv_heads == 0 || cfg->head_dim == 0 ||
	    cfg->d_ff == 0 || cfg->vocab_size == 0 || cfg->n_heads % cfg->n_kv_heads)
		return rc_fail(err, RC_E_ARG, "dummy: config has a zero dimension or n_heads %% n_kv_heads != 0");
	rc_status st = rc_device_check(opts->device, "dummy", err);
	if (st != RC_OK)
		return st;

	rc_model *m = calloc(1, sizeof *m);
	rt_weights w = {0};
	w.layers = calloc(cfg->n_layers, sizeof *w.layers);
	if (!m || !w.layers) {
		free(m);
		free(w.layers);
		return rc_fail(err, RC_E_NOMEM, "dummy: out of host memory");
	}
	m->cfg = *cfg;
	m->prefill_algo = opts->prefill_algo;
	m->device = opts->device;
	uint32_t g = scheme == FMT_SCHEME_GROUP ? group_size : 0;
	size_t d = cfg->d_model, nq = (size_t)cfg->n_heads * cfg->head_dim, nk = (size_t)cfg->n_kv_heads * cfg->head_dim;
#define W(n_, k_) ((kn_weight){dtype, scheme, g, (n_), (k_), NULL, NULL})
	w.tok_embd = W(cfg->vocab_size, d);
	w.output = W(cfg->vocab_size, d);
	for (uint32_t l = 0; l < cfg->n_layers; l++) {
		rt_layer *L = &w.layers[l];
		L->attn_q = W(nq, d);
		L->attn_k = W(nk, d);
		L->attn_v = W(nk, d);
		L->attn_output = W(d, nq);
		L->ffn_gate = W(cfg->d_ff, d);
		L->ffn_up = W(cfg->d_ff, d);
		L->ffn_down = W(d, cfg->d_ff);
	}
#undef W
	st = rc_plan_build(&m->plan, cfg, &w, NULL, false, err);
	free(w.layers);
	if (st != RC_OK) {
		free(m);
		return st;
	}
	char why[RC_ERRLEN];
	if (kn_cuda_malloc((void **)&m->arena, m->plan.total, why, sizeof why) != 0) {
		st = rc_fail(err, RC_E_NOMEM, "dummy: %llu bytes of weights: %s", (unsigned long long)m->plan.total, why);
		goto fail;
	}
	if ((st = rc_model_finish(m, err)) != RC_OK)
		goto fail;
	/* weights on the device; norms 1 and biases 0 through one host buffer */
	rc_plan *p = &m->plan;
	uint64_t k = 0;
	st = fill_weight(&p->tok_embd, m->arena, seed + k++, NULL, err);
	if (st == RC_OK && !p->tied)
		st = fill_weight(&p->output, m->arena, seed + k++, NULL, err);
	for (uint32_t l = 0; st == RC_OK && l < cfg->n_layers; l++) {
		rc_layer_plan *lp = &p->layers[l];
		for (int i = 0; st == RC_OK && i < lp->n_qkv; i++)
			st = fill_weight(&lp->qkv[i], m->arena, seed + 1000003ull * (l + 1) + k++, NULL, err);
		for (int i = 0; st == RC_OK && i < lp->n_gu; i++)
			st = fill_weight(&lp->gu[i], m->arena, seed + 1000003ull * (l + 1) + k++, NULL, err);
		if (st == RC_OK)
			st = fill_weight(&lp->o, m->arena, seed + 1000003ull * (l + 1) + k++, NULL, err);
		if (st == RC_OK)
			st = fill_weight(&lp->down, m->arena, seed + 1000003ull * (l + 1) + k++, NULL, err);
	}
	if (st != RC_OK)
		goto fail;
	rc_job *jobs = NULL;
	size_t nj = rc_jobs_vecs(p, UINT64_MAX, NULL, err);
	jobs = nj ? malloc(nj * sizeof *jobs) : NULL;
	if (nj && !jobs) {
		st = rc_fail(err, RC_E_NOMEM, "dummy: out of host memory");
		goto fail;
	}
	rc_jobs_vecs(p, UINT64_MAX, jobs, err);
	for (size_t i = 0; st == RC_OK && i < nj; i++) {
		uint8_t *buf = malloc(jobs[i].bytes ? jobs[i].bytes : 1);
		if (!buf) {
			st = rc_fail(err, RC_E_NOMEM, "dummy: out of host memory");
			break;
		}
		rc_job_fill(p, &jobs[i], buf);
		if (kn_cuda_memcpy_h2d(m->arena + jobs[i].dst_off, buf, jobs[i].bytes, why, sizeof why) != 0)
			st = rc_fail(err, RC_E_DEVICE, "dummy: norm weights: %s", why);
		free(buf);
	}
	free(jobs);
	if (st == RC_OK && kn_cuda_synchronize(NULL, why, sizeof why) != 0)
		st = rc_fail(err, RC_E_DEVICE, "dummy: filling the weights: %s", why);
	if (st != RC_OK)
		goto fail;
	*out = m;
	return RC_OK;
fail:
	rc_model_free(m);
	return st;
}

void rc_model_free(rc_model *m)
{
	if (!m)
		return;
	kn_cuda_blas_free(m->blas);
	kn_cuda_free(m->arena);
	rc_plan_free(&m->plan);
	free(m->layers);
	free(m->inv_freq);
	free(m);
}

const rt_config *rc_model_config(const rc_model *m)
{
	return &m->cfg;
}

uint64_t rc_model_weight_bytes(const rc_model *m)
{
	return m->weight_bytes;
}
