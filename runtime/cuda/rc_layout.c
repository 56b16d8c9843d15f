/* rc_layout: weight arena layout, fused-row assembly and state layout (host only, no CUDA). */
#include "rc_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

rc_status rc_fail(rc_error *err, rc_status st, const char *fmt, ...)
{
	if (err) {
		err->status = st;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return st;
}

uint64_t rc_take(uint64_t *total, uint64_t bytes)
{
	uint64_t off, end;
	if (__builtin_add_overflow(*total, (uint64_t)RC_ALIGN - 1, &off))
		return UINT64_MAX;
	off &= ~(uint64_t)(RC_ALIGN - 1);
	if (__builtin_add_overflow(off, bytes, &end))
		return UINT64_MAX;
	*total = end;
	return off;
}

/* ---- weights ---- */

bool rc_can_fuse(const kn_weight *a, const kn_weight *b)
{
	return a->dtype == b->dtype && a->scheme == b->scheme && a->group_size == b->group_size && a->k == b->k;
}

rc_status rc_wplan_init(rc_wplan *p, const char *name, rc_fuse fuse, const kn_weight *src, int n_src, rc_error *err)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	if (n_src < 1 || n_src > 3 || (fuse == RC_FUSE_NONE && n_src != 1) || (fuse == RC_FUSE_INTERLEAVE && n_src != 2))
		return rc_fail(err, RC_E_ARG, "%s: %d sources for fusion %d", name, n_src, (int)fuse);
	size_t n = 0;
	for (int i = 0; i < n_src; i++) {
		if (!rc_can_fuse(&src[0], &src[i]))
			return rc_fail(err, RC_E_TENSOR, "%s: parts differ in type, scheme or width", name);
		p->src[i] = src[i];
		n += src[i].n;
	}
	if (fuse == RC_FUSE_INTERLEAVE && src[0].n != src[1].n)
		return rc_fail(err, RC_E_TENSOR, "%s: gate has %zu rows, up %zu", name, src[0].n, src[1].n);
	p->fuse = fuse;
	p->n_src = n_src;
	p->dtype = src[0].dtype;
	p->scheme = src[0].scheme;
	p->group_size = src[0].group_size;
	p->n = n;
	p->k = src[0].k;
	p->groups = p->scheme == FMT_SCHEME_ROW ? 1 : p->scheme == FMT_SCHEME_GROUP ? p->k / p->group_size : 0;
	if (p->scheme == FMT_SCHEME_GROUP && (p->group_size == 0 || p->k % p->group_size))
		return rc_fail(err, RC_E_TENSOR, "%s: group size %u does not divide %zu", name, p->group_size, p->k);
	size_t es = fmt_dtype_size(p->dtype);
	if (!es)
		return rc_fail(err, RC_E_TENSOR, "%s: unknown type %d", name, (int)p->dtype);
	if (__builtin_mul_overflow((uint64_t)n, (uint64_t)p->k * es, &p->codes_bytes) ||
	    __builtin_mul_overflow((uint64_t)n, (uint64_t)p->groups * 4, &p->scales_bytes))
		return rc_fail(err, RC_E_TENSOR, "%s: size overflows", name);
	return RC_OK;
}

void rc_wplan_row_source(const rc_wplan *p, size_t row, int *src, size_t *src_row)
{
	if (p->fuse == RC_FUSE_INTERLEAVE) {
		*src = (int)(row & 1);
		*src_row = row >> 1;
		return;
	}
	int i = 0;
	while (i < p->n_src - 1 && row >= p->src[i].n)
		row -= p->src[i++].n;
	*src = i;
	*src_row = row;
}

size_t rc_wplan_row_bytes(const rc_wplan *p, rc_part part)
{
	return part == RC_PART_CODES ? p->k * fmt_dtype_size(p->dtype) : p->groups * 4;
}

void rc_wplan_fill(const rc_wplan *p, rc_part part, size_t row0, size_t rows, uint8_t *dst)
{
	size_t rb = rc_wplan_row_bytes(p, part);
	for (size_t r = 0; r < rows; r++) {
		int s;
		size_t sr;
		rc_wplan_row_source(p, row0 + r, &s, &sr);
		const uint8_t *base = part == RC_PART_CODES ? (const uint8_t *)p->src[s].data : (const uint8_t *)p->src[s].scales;
		memcpy(dst + r * rb, base + sr * rb, rb);
	}
}

kn_cuda_weight rc_wplan_device(const rc_wplan *p, uint8_t *base)
{
	return (kn_cuda_weight){(int)p->dtype, (int)p->scheme, p->group_size, p->n, p->k, base + p->codes_off,
				p->scheme == FMT_SCHEME_NONE ? NULL : (const float *)(const void *)(base + p->scales_off)};
}

/* ---- plan ---- */

static rc_status place(rc_plan *p, rc_wplan *w, rc_error *err)
{
	w->codes_off = rc_take(&p->total, w->codes_bytes);
	w->scales_off = w->scales_bytes ? rc_take(&p->total, w->scales_bytes) : 0;
	if (w->codes_off == UINT64_MAX || w->scales_off == UINT64_MAX)
		return rc_fail(err, RC_E_NOMEM, "%s: arena size overflows", w->name);
	return RC_OK;
}

/* The file's record of `name`, which must hold the bytes w was bound to. */
static rc_status lookup(const fmt_reader *r, const char *name, const void *data, const fmt_tensor **out, rc_error *err)
{
	*out = NULL;
	if (!r)
		return RC_OK;
	const fmt_tensor *t = fmt_reader_find_tensor(r, name);
	if (!t || (const void *)t->data != data)
		return rc_fail(err, RC_E_ARG, "tensor %s: the model was not bound to this reader", name);
	*out = t;
	return RC_OK;
}

static rc_status add_vec(rc_plan *p, const fmt_reader *r, const char *name, const float *src, float fill, size_t n,
			 bool aligned, uint64_t *off, rc_error *err)
{
	rc_vec *v = &p->vecs[p->n_vecs];
	memset(v, 0, sizeof *v);
	v->src = src;
	v->fill = fill;
	v->n = n;
	/* vectors get their own region (placed after the weights), so a job packing several of them
	 * covers no weight bytes */
	if (aligned)
		v->dst_off = rc_take(&p->vec_total, n * 4);
	else
		v->dst_off = p->vec_total, p->vec_total += n * 4;
	if (v->dst_off == UINT64_MAX)
		return rc_fail(err, RC_E_NOMEM, "%s: arena size overflows", name);
	if (r && src) {
		const fmt_tensor *t = fmt_reader_find_tensor(r, name);
		if (!t)
			return rc_fail(err, RC_E_ARG, "tensor %s: not in the reader", name);
		v->tensor = t;
	}
	if (off)
		*off = v->dst_off;
	p->n_vecs++;
	return RC_OK;
}

#define TRY(x)                                                                                    \
	do {                                                                                      \
		rc_status st_ = (x);                                                              \
		if (st_ != RC_OK) {                                                               \
			rc_plan_free(p);                                                          \
			return st_;                                                               \
		}                                                                                 \
	} while (0)

static rc_status single(rc_plan *p, rc_wplan *w, const char *name, const kn_weight *src, const fmt_reader *r,
			const char *tname, rc_error *err)
{
	rc_status st = rc_wplan_init(w, name, RC_FUSE_NONE, src, 1, err);
	if (st == RC_OK)
		st = lookup(r, tname, src->data, &w->tensor[0], err);
	return st == RC_OK ? place(p, w, err) : st;
}

/* Weight names for messages live in the tail of the layer array, so they last as long as the plan. */
#define NAME_LEN 48

rc_status rc_plan_build(rc_plan *p, const rt_config *c, const rt_weights *w, const fmt_reader *r, bool embed_on_host,
			rc_error *err)
{
	memset(p, 0, sizeof *p);
	uint32_t L = c->n_layers;
	size_t max_vecs = 1 + (size_t)L * 7;
	p->n_layers = L;
	p->layers = calloc(L ? L : 1, sizeof *p->layers + 8 * NAME_LEN);
	p->vecs = calloc(max_vecs, sizeof *p->vecs);
	if (!p->layers || !p->vecs) {
		rc_plan_free(p);
		return rc_fail(err, RC_E_NOMEM, "load: out of host memory for the layout");
	}
	char *names = (char *)(p->layers + (L ? L : 1));
	p->tied = c->tie_embeddings;
	p->embd_on_device = !embed_on_host || p->tied || !r;
	TRY(rc_wplan_init(&p->tok_embd, "tok_embd", RC_FUSE_NONE, &w->tok_embd, 1, err));
	TRY(lookup(r, "tok_embd", w->tok_embd.data, &p->tok_embd.tensor[0], err));
	if (p->embd_on_device)
		TRY(place(p, &p->tok_embd, err));
	else
		p->host_bytes = p->tok_embd.tensor[0] ? p->tok_embd.tensor[0]->data_bytes
						      : p->tok_embd.codes_bytes + p->tok_embd.scales_bytes;
	if (p->tied)
		p->output = p->tok_embd;
	else
		TRY(single(p, &p->output, "output", &w->output, r, "output", err));
	TRY(add_vec(p, r, "output_norm", w->output_norm, 1.0f, c->d_model, true, &p->output_norm, err));

	size_t hd = c->head_dim, nq = (size_t)c->n_heads * hd, nk = (size_t)c->n_kv_heads * hd;
	for (uint32_t l = 0; l < L; l++) {
		const rt_layer *src = &w->layers[l];
		rc_layer_plan *lp = &p->layers[l];
		char *nm = names + (size_t)l * 8 * NAME_LEN;
		char tn[64];
#define TN(s) (snprintf(tn, sizeof tn, "blk.%u.%s", l, s), tn)
#define NM(i, s) (snprintf(nm + (i) * NAME_LEN, NAME_LEN, "blk.%u.%s", l, s), nm + (i) * NAME_LEN)
		const kn_weight qkv[3] = {src->attn_q, src->attn_k, src->attn_v};
		static const char *const qkv_names[3] = {"attn_q", "attn_k", "attn_v"};
		if (rc_can_fuse(&qkv[0], &qkv[1]) && rc_can_fuse(&qkv[0], &qkv[2])) {
			lp->n_qkv = 1;
			TRY(rc_wplan_init(&lp->qkv[0], NM(0, "attn_qkv"), RC_FUSE_STACK, qkv, 3, err));
			for (int i = 0; i < 3; i++)
				TRY(lookup(r, TN(qkv_names[i]), qkv[i].data, &lp->qkv[0].tensor[i], err));
			TRY(place(p, &lp->qkv[0], err));
		} else {
			lp->n_qkv = 3;
			for (int i = 0; i < 3; i++)
				TRY(single(p, &lp->qkv[i], NM(i, qkv_names[i]), &qkv[i], r, TN(qkv_names[i]), err));
		}
		const kn_weight gu[2] = {src->ffn_gate, src->ffn_up};
		if (rc_can_fuse(&gu[0], &gu[1]) && gu[0].n == gu[1].n) {
			lp->n_gu = 1;
			TRY(rc_wplan_init(&lp->gu[0], NM(3, "ffn_gate_up"), RC_FUSE_INTERLEAVE, gu, 2, err));
			TRY(lookup(r, TN("ffn_gate"), gu[0].data, &lp->gu[0].tensor[0], err));
			TRY(lookup(r, TN("ffn_up"), gu[1].data, &lp->gu[0].tensor[1], err));
			TRY(place(p, &lp->gu[0], err));
		} else {
			lp->n_gu = 2;
			TRY(single(p, &lp->gu[0], NM(3, "ffn_gate"), &gu[0], r, TN("ffn_gate"), err));
			TRY(single(p, &lp->gu[1], NM(4, "ffn_up"), &gu[1], r, TN("ffn_up"), err));
		}
		TRY(single(p, &lp->o, NM(5, "attn_output"), &src->attn_output, r, TN("attn_output"), err));
		TRY(single(p, &lp->down, NM(6, "ffn_down"), &src->ffn_down, r, TN("ffn_down"), err));
		TRY(add_vec(p, r, TN("attn_norm"), src->attn_norm, 1.0f, c->d_model, true, &lp->attn_norm, err));
		TRY(add_vec(p, r, TN("ffn_norm"), src->ffn_norm, 1.0f, c->d_model, true, &lp->ffn_norm, err));
		if (c->qk_norm) {
			TRY(add_vec(p, r, TN("attn_q_norm"), src->q_norm, 1.0f, hd, true, &lp->q_norm, err));
			TRY(add_vec(p, r, TN("attn_k_norm"), src->k_norm, 1.0f, hd, true, &lp->k_norm, err));
		}
		if (c->attn_bias) {
			/* one f32 row q|k|v, as kn_cuda_qkv_prep adds it */
			TRY(add_vec(p, r, TN("attn_q_bias"), src->q_bias, 0.0f, nq, true, &lp->bias, err));
			TRY(add_vec(p, r, TN("attn_k_bias"), src->k_bias, 0.0f, nk, false, NULL, err));
			TRY(add_vec(p, r, TN("attn_v_bias"), src->v_bias, 0.0f, nk, false, NULL, err));
		}
#undef TN
#undef NM
	}
	uint64_t base = rc_take(&p->total, p->vec_total);
	for (size_t i = 0; i < p->n_vecs; i++)
		p->vecs[i].dst_off += base;
	p->output_norm += base;
	for (uint32_t l = 0; l < L; l++) {
		rc_layer_plan *lp = &p->layers[l];
		lp->attn_norm += base, lp->ffn_norm += base, lp->q_norm += base, lp->k_norm += base, lp->bias += base;
	}
	/* the arena ends on an aligned size so sub-allocations never reach past it */
	uint64_t end = rc_take(&p->total, 0);
	if (base == UINT64_MAX || end == UINT64_MAX) {
		rc_plan_free(p);
		return rc_fail(err, RC_E_NOMEM, "load: arena size overflows");
	}
	return RC_OK;
}

void rc_plan_free(rc_plan *p)
{
	free(p->layers);
	free(p->vecs);
	p->layers = NULL;
	p->vecs = NULL;
}

/* ---- jobs ---- */

size_t rc_jobs_rows(const rc_wplan *w, uint64_t cap, rc_job *jobs, rc_error *err)
{
	size_t n = 0;
	for (int part = 0; part < 2; part++) {
		size_t rb = rc_wplan_row_bytes(w, (rc_part)part);
		if (!rb)
			continue;
		if (rb > cap) {
			rc_fail(err, RC_E_ARG, "%s: a row of %zu bytes exceeds the %llu-byte staging buffer", w->name, rb,
				(unsigned long long)cap);
			return 0;
		}
		size_t per = (size_t)(cap / rb);
		uint64_t base = part == RC_PART_CODES ? w->codes_off : w->scales_off;
		for (size_t r0 = 0; r0 < w->n; r0 += per) {
			size_t rows = w->n - r0 < per ? w->n - r0 : per;
			if (jobs)
				jobs[n] = (rc_job){RC_JOB_ROWS, w, (rc_part)part, r0, rows, 0, 0, base + (uint64_t)r0 * rb,
						   (uint64_t)rows * rb};
			n++;
		}
	}
	return n;
}

size_t rc_jobs_vecs(const rc_plan *p, uint64_t cap, rc_job *jobs, rc_error *err)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_vecs;) {
		uint64_t start = p->vecs[i].dst_off;
		size_t j = i;
		while (j < p->n_vecs && p->vecs[j].dst_off + p->vecs[j].n * 4 - start <= cap)
			j++;
		if (j == i) {
			rc_fail(err, RC_E_ARG, "a vector of %zu floats exceeds the %llu-byte staging buffer", p->vecs[i].n,
				(unsigned long long)cap);
			return 0;
		}
		if (jobs)
			jobs[n] = (rc_job){RC_JOB_VECS, NULL, RC_PART_CODES, 0, 0, i, j - i, start,
					   p->vecs[j - 1].dst_off + p->vecs[j - 1].n * 4 - start};
		n++;
		i = j;
	}
	return n;
}

void rc_job_fill(const rc_plan *p, const rc_job *j, uint8_t *dst)
{
	if (j->kind == RC_JOB_ROWS) {
		rc_wplan_fill(j->w, j->part, j->row0, j->rows, dst);
		return;
	}
	memset(dst, 0, j->bytes);
	for (size_t i = j->vec0; i < j->vec0 + j->n_vecs; i++) {
		const rc_vec *v = &p->vecs[i];
		float *o = (float *)(void *)(dst + (v->dst_off - j->dst_off));
		if (v->src)
			memcpy(o, v->src, v->n * 4);
		else
			for (size_t k = 0; k < v->n; k++)
				o[k] = v->fill;
	}
}

/* ---- checksums ---- */

struct rc_hasher {
	const rc_wplan *w;
	XXH3_state_t *st[3];
	size_t done[2][3]; /* rows of each part fed per source */
};

rc_hasher *rc_hasher_create(const rc_wplan *w)
{
	rc_hasher *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->w = w;
	for (int i = 0; i < w->n_src; i++) {
		if (!w->tensor[i])
			continue;
		h->st[i] = XXH3_createState();
		if (!h->st[i]) {
			rc_hasher_free(h);
			return NULL;
		}
		XXH3_64bits_reset(h->st[i]);
	}
	return h;
}

void rc_hasher_free(rc_hasher *h)
{
	if (!h)
		return;
	for (int i = 0; i < 3; i++)
		if (h->st[i])
			XXH3_freeState(h->st[i]);
	free(h);
}

/* Blob bytes of source s from `from` to `to` (padding between codes and scales, or the tail). */
static void feed_gap(rc_hasher *h, int s, uint64_t from, uint64_t to)
{
	const fmt_tensor *t = h->w->tensor[s];
	if (to > t->data_bytes)
		to = t->data_bytes;
	if (to > from)
		XXH3_64bits_update(h->st[s], t->data + from, (size_t)(to - from));
}

void rc_hasher_job(rc_hasher *h, const rc_job *j)
{
	const rc_wplan *w = h->w;
	size_t rb = rc_wplan_row_bytes(w, j->part);
	for (size_t r = j->row0; r < j->row0 + j->rows; r++) {
		int s;
		size_t sr;
		rc_wplan_row_source(w, r, &s, &sr);
		const fmt_tensor *t = w->tensor[s];
		if (!h->st[s])
			continue;
		/* the stream of a source is its blob in order: rows arrive ascending within a part */
		uint64_t off = j->part == RC_PART_CODES ? (uint64_t)sr * rb : t->scale_offset + (uint64_t)sr * rb;
		XXH3_64bits_update(h->st[s], t->data + off, rb);
		if (++h->done[j->part][s] == w->src[s].n) {
			uint64_t end = off + rb;
			feed_gap(h, s, end, j->part == RC_PART_CODES && w->scheme != FMT_SCHEME_NONE ? t->scale_offset
												  : t->data_bytes);
		}
	}
}

rc_status rc_hasher_check(rc_hasher *h, rc_error *err)
{
	for (int s = 0; s < h->w->n_src; s++) {
		if (!h->st[s])
			continue;
		const fmt_tensor *t = h->w->tensor[s];
		uint64_t got = XXH3_64bits_digest(h->st[s]);
		if (got != t->checksum)
			return rc_fail(err, RC_E_TENSOR, "tensor %s: checksum %016llx, the file records %016llx", t->name,
				       (unsigned long long)got, (unsigned long long)t->checksum);
	}
	return RC_OK;
}

rc_status rc_tensor_check(const fmt_tensor *t, rc_error *err)
{
	uint64_t got = XXH3_64bits(t->data, (size_t)t->data_bytes);
	if (got != t->checksum)
		return rc_fail(err, RC_E_TENSOR, "tensor %s: checksum %016llx, the file records %016llx", t->name,
			       (unsigned long long)got, (unsigned long long)t->checksum);
	return RC_OK;
}
