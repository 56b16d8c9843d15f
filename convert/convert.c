/* The conversion pipeline (convert.h). */
#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "hf_model.h"
#include "hf_tokenizer.h"

#define BLOCK_ELEMS ((uint64_t)2 << 20) /* ~4 MiB of BF16 source per block */
#define PREFETCH_BLOCKS 16 /* read-ahead distance in blocks (~64 MiB of BF16) */
#define HASH_CHUNK ((uint64_t)8 << 20)
#define MAX_JSON_BYTES ((uint64_t)64 << 20)
#define MAX_LIST 8 /* names listed in missing/unexpected messages */

/* One output tensor and where its rows come from. */
typedef struct {
	const cv_hf_tensor *ex;
	const cv_st_tensor *src;
	uint32_t shard;
	cv_recipe rc;
	uint64_t rows, cols, rows_per_block, n_blocks, first_block, groups;
} job;

typedef struct {
	uint64_t seq;
	int state; /* 0 free, 1 busy, 2 ready, 3 failed */
	uint8_t *buf;
	uint64_t code_bytes, scale_off, n_scales;
	cv_qstats st;
	char err[512];
} slot;

/* Per source file: XXH3 of the whole file, computed in file order as data is consumed. */
typedef struct {
	cv_st_file *f;
	XXH3_state_t *h;
	uint64_t hashed; /* file offset up to which bytes are hashed */
	size_t cursor;   /* next tensor (offset order) not fully hashed */
	bool *done;
	long page;
} src_hash;

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	uint64_t next_claim, committed, total_blocks;
	size_t claim_job;
	bool stop;
	job *jobs;
	size_t n_jobs;
	slot *slots;
	size_t n_slots;
	uint64_t scratch_elems;
	src_hash *hs;
} pipe_t;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t src_size(int src)
{
	return src == CV_SRC_F32 ? 4 : 2;
}

/* ---- source hashing and page release ---- */

static void release(src_hash *s, uint64_t a, uint64_t b, bool drop_cache)
{
	if (!cv_st_is_mapped(s->f) || b <= a)
		return;
	uint64_t pa = a / (uint64_t)s->page * (uint64_t)s->page;
	madvise((void *)(cv_st_base(s->f) + pa), (size_t)(b - pa), MADV_DONTNEED);
	if (drop_cache)
		posix_fadvise(cv_st_fd(s->f), (off_t)pa, (off_t)(b - pa), POSIX_FADV_DONTNEED);
}

static void hash_range(src_hash *s, uint64_t a, uint64_t b)
{
	while (a < b) {
		uint64_t e = b - a > HASH_CHUNK ? a + HASH_CHUNK : b;
		XXH3_64bits_update(s->h, cv_st_base(s->f) + a, (size_t)(e - a));
		release(s, a, e, true);
		a = e;
	}
	s->hashed = b;
}

/* Hashes every fully consumed tensor the cursor has reached. */
static void hash_advance(src_hash *s)
{
	size_t n = cv_st_n_tensors(s->f);
	uint64_t d0 = cv_st_data_offset(s->f);
	while (s->cursor < n && s->done[s->cursor]) {
		const cv_st_tensor *t = cv_st_tensor_at(s->f, s->cursor);
		if (d0 + t->end > s->hashed)
			hash_range(s, s->hashed > d0 + t->begin ? s->hashed : d0 + t->begin, d0 + t->end);
		s->cursor++;
	}
}

/* A consumed block [a, b) (file offsets): hash it now if the cursor is there, else drop it from
 * our resident set and let hash_advance fetch it again from the page cache later. */
static void consumed_block(src_hash *s, uint64_t a, uint64_t b)
{
	if (a == s->hashed)
		hash_range(s, a, b);
	else
		release(s, a, b, false);
}

static void tensor_done(src_hash *s, const cv_st_tensor *t)
{
	s->done[t - cv_st_tensor_at(s->f, 0)] = true;
	hash_advance(s);
}

/* ---- workers ---- */

static void process(pipe_t *p, const job *j, uint64_t b, slot *sl, float *scratch)
{
	uint64_t r0 = b * j->rows_per_block;
	uint64_t r1 = r0 + j->rows_per_block < j->rows ? r0 + j->rows_per_block : j->rows;
	uint64_t n = (r1 - r0) * j->cols;
	const uint8_t *src = j->src->data + r0 * j->cols * src_size(j->src->src);
	size_t bad = 0;
	if (cv_src_to_f32((cv_src_dtype)j->src->src, src, (size_t)n, scratch, &bad) != 0) {
		snprintf(sl->err, sizeof sl->err, "tensor '%s' (%s): NaN or Inf at element %llu", j->ex->hf_name,
			 j->ex->name, (unsigned long long)(r0 * j->cols + bad));
		sl->state = 3;
		return;
	}
	fmt_dtype dt = cv_qkind_dtype(j->rc.kind);
	sl->code_bytes = n * fmt_dtype_size(dt);
	sl->scale_off = (sl->code_bytes + 7) & ~(uint64_t)7;
	sl->n_scales = (r1 - r0) * j->groups;
	float *scales = j->groups ? (float *)(void *)(sl->buf + sl->scale_off) : NULL;
	if (cv_quantize_rows(j->rc.kind, j->rc.group, scratch, r1 - r0, j->cols, sl->buf, scales, &sl->st) != 0) {
		snprintf(sl->err, sizeof sl->err, "tensor '%s' (%s): cannot be stored as %s (values out of range)",
			 j->ex->hf_name, j->ex->name, fmt_dtype_name(dt));
		sl->state = 3;
		return;
	}
	sl->state = 2;
	(void)p;
}

/* Cold pages of a mapping are otherwise read one readahead window per page fault, which is
 * latency bound; ask the kernel for a block well before a worker reaches it. */
typedef struct {
	int fd;
	uint64_t off, len;
} prefetch_req;

/* The source range of block `seq` (caller holds mu: claim_job moves). */
static prefetch_req prefetch_range(const pipe_t *p, uint64_t seq)
{
	prefetch_req r = {-1, 0, 0};
	if (seq >= p->total_blocks)
		return r;
	size_t ji = p->claim_job;
	while (seq >= p->jobs[ji].first_block + p->jobs[ji].n_blocks)
		ji++;
	const job *j = &p->jobs[ji];
	const src_hash *s = &p->hs[j->shard];
	if (!cv_st_is_mapped(s->f))
		return r;
	uint64_t row_bytes = j->cols * src_size(j->src->src), r0 = (seq - j->first_block) * j->rows_per_block;
	uint64_t nr = r0 + j->rows_per_block < j->rows ? j->rows_per_block : j->rows - r0;
	r.fd = cv_st_fd(s->f);
	r.off = cv_st_data_offset(s->f) + j->src->begin + r0 * row_bytes;
	r.len = nr * row_bytes;
	return r;
}

static void prefetch(prefetch_req r)
{
	if (r.fd >= 0)
		posix_fadvise(r.fd, (off_t)r.off, (off_t)r.len, POSIX_FADV_WILLNEED);
}

static void *worker(void *arg)
{
	pipe_t *p = arg;
	float *scratch = malloc((size_t)p->scratch_elems * sizeof(float));
	pthread_mutex_lock(&p->mu);
	while (!p->stop && p->next_claim < p->total_blocks) {
		if (p->next_claim >= p->committed + p->n_slots) {
			pthread_cond_wait(&p->cv_work, &p->mu);
			continue;
		}
		uint64_t seq = p->next_claim++;
		while (seq >= p->jobs[p->claim_job].first_block + p->jobs[p->claim_job].n_blocks)
			p->claim_job++;
		const job *j = &p->jobs[p->claim_job];
		prefetch_req ahead[PREFETCH_BLOCKS];
		size_t n_ahead = 0;
		for (uint64_t k = seq ? PREFETCH_BLOCKS : 1; k <= PREFETCH_BLOCKS; k++)
			ahead[n_ahead++] = prefetch_range(p, seq + k);
		slot *sl = &p->slots[seq % p->n_slots];
		sl->seq = seq;
		sl->state = 1;
		pthread_mutex_unlock(&p->mu);
		for (size_t k = 0; k < n_ahead; k++)
			prefetch(ahead[k]);
		if (scratch) {
			process(p, j, seq - j->first_block, sl, scratch);
		} else {
			snprintf(sl->err, sizeof sl->err, "out of memory");
			sl->state = 3;
		}
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv_done);
	}
	pthread_mutex_unlock(&p->mu);
	free(scratch);
	return NULL;
}

/* ---- planning ---- */

static int list_names(char *buf, size_t len, const char **names, size_t n)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && i < MAX_LIST && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i]);
	if (n > MAX_LIST && o < len)
		snprintf(buf + o, len - o, " (and %zu more)", n - MAX_LIST);
	return 0;
}

static cv_recipe pick_recipe(const cv_options *o, const cv_hf_tensor *e)
{
	cv_recipe r = o->recipe;
	if (e->n_dims == 1)
		r = (cv_recipe){CV_Q_F32, 0};
	for (size_t i = 0; i < o->n_keep; i++)
		if (!fnmatch(o->keep[i].pattern, e->name, 0) || !fnmatch(o->keep[i].pattern, e->hf_name, 0))
			r = o->keep[i].recipe;
	return r;
}

static int plan(const cv_hf_config *c, const cv_st_model *m, const cv_options *o, const char *dir,
		const cv_hf_tensor *ex, size_t n_ex, job *jobs, size_t *n_skipped, char *skipped_first,
		size_t sf_len, cv_err *err)
{
	const char **missing = calloc(n_ex + cv_st_model_n_tensors(m) + 1, sizeof *missing);
	if (!missing)
		return cv_fail(err, "out of memory");
	size_t n_missing = 0, n_extra = 0;
	for (size_t i = 0; i < n_ex; i++) {
		const cv_st_ref *r = cv_st_model_find(m, ex[i].hf_name);
		if (!r) {
			missing[n_missing++] = ex[i].hf_name;
			continue;
		}
		jobs[i] = (job){.ex = &ex[i], .src = r->t, .shard = r->shard};
	}
	int rc = 0;
	char list[1024];
	if (n_missing) {
		list_names(list, sizeof list, missing, n_missing);
		rc = cv_fail(err, "%s: %zu expected %s tensor%s missing: %s", dir, n_missing, c->arch_name,
			     n_missing > 1 ? "s are" : " is", list);
		goto out;
	}
	const char **extra = missing;
	*n_skipped = 0;
	for (size_t i = 0; i < cv_st_model_n_tensors(m); i++) {
		const char *nm = cv_st_model_tensor_at(m, i)->t->name;
		bool found = false;
		for (size_t k = 0; k < n_ex && !found; k++)
			found = jobs[k].src == cv_st_model_tensor_at(m, i)->t;
		if (found)
			continue;
		if (cv_hf_ignorable(c, nm)) {
			if (!(*n_skipped)++)
				snprintf(skipped_first, sf_len, "%s", nm);
			continue;
		}
		extra[n_extra++] = nm;
	}
	if (n_extra) {
		list_names(list, sizeof list, extra, n_extra);
		rc = cv_fail(err, "%s: %zu unexpected tensor%s for %s with %u layers: %s", dir, n_extra,
			     n_extra > 1 ? "s" : "", c->arch_name, c->n_layers, list);
		goto out;
	}
	for (size_t i = 0; i < n_ex; i++) {
		job *j = &jobs[i];
		const cv_st_tensor *t = j->src;
		const char *file = cv_st_path(cv_st_model_shard(m, j->shard));
		if (t->src < 0) {
			rc = cv_fail(err, "%s: unsupported dtype %s for tensor '%s' (BF16, F16 or F32 expected)", file,
				     t->dtype, t->name);
			goto out;
		}
		bool shape_ok = t->n_dims == ex[i].n_dims;
		for (uint32_t d = 0; shape_ok && d < t->n_dims; d++)
			shape_ok = t->dims[d] == ex[i].dims[d];
		if (!shape_ok) {
			char got[128] = "", want[64];
			size_t o2 = 0;
			for (uint32_t d = 0; d < t->n_dims && o2 < sizeof got; d++)
				o2 += (size_t)snprintf(got + o2, sizeof got - o2, "%s%llu", d ? ", " : "",
						       (unsigned long long)t->dims[d]);
			if (ex[i].n_dims == 1)
				snprintf(want, sizeof want, "%llu", (unsigned long long)ex[i].dims[0]);
			else
				snprintf(want, sizeof want, "%llu, %llu", (unsigned long long)ex[i].dims[0],
					 (unsigned long long)ex[i].dims[1]);
			rc = cv_fail(err, "%s: tensor '%s' has shape [%s] but config.json implies [%s]", file, t->name, got, want);
			goto out;
		}
		j->rc = pick_recipe(o, &ex[i]);
		j->cols = ex[i].n_dims == 1 ? ex[i].dims[0] : ex[i].dims[1];
		j->rows = ex[i].n_dims == 1 ? 1 : ex[i].dims[0];
		bool quant = cv_qkind_scheme(j->rc.kind) != FMT_SCHEME_NONE;
		char rn[16];
		cv_recipe_name(j->rc, rn, sizeof rn);
		if (quant && ex[i].n_dims == 1) {
			rc = cv_fail(err, "tensor '%s' is 1-D and cannot be stored as %s (use bf16, f16 or f32)", ex[i].name, rn);
			goto out;
		}
		if (j->rc.kind == CV_Q_INT8_GROUP && j->cols % j->rc.group) {
			rc = cv_fail(err, "tensor '%s': %llu columns are not a multiple of the group size %u of %s",
				     ex[i].name, (unsigned long long)j->cols, j->rc.group, rn);
			goto out;
		}
		j->groups = !quant ? 0 : j->rc.kind == CV_Q_INT8_GROUP ? j->cols / j->rc.group : 1;
		uint64_t be = o->block_elems ? o->block_elems : BLOCK_ELEMS;
		j->rows_per_block = be / j->cols ? be / j->cols : 1;
		j->n_blocks = (j->rows + j->rows_per_block - 1) / j->rows_per_block;
		j->first_block = i ? jobs[i - 1].first_block + jobs[i - 1].n_blocks : 0;
	}
out:
	free(missing);
	return rc;
}

/* ---- inputs ---- */

typedef struct {
	const char *name;
	char *data;
	size_t len;
	bool required;
} side_file;

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int read_side(const char *dir, side_file *f, cv_err *err)
{
	char *p = join(dir, f->name);
	if (!p)
		return cv_fail(err, "out of memory");
	struct stat st;
	int rc = 0;
	if (lstat(p, &st) != 0) {
		if (f->required)
			rc = cv_fail(err, "%s: missing (a Hugging Face model directory needs %s)", p, f->name);
	} else {
		rc = cv_read_file(p, MAX_JSON_BYTES, &f->data, &f->len, err);
	}
	free(p);
	return rc;
}

static int set_templates(fmt_writer *w, const cv_hf_tokenizer *tk, cv_err *err)
{
	size_t n = cv_hf_tokenizer_n_templates(tk);
	if (!n)
		return 0;
	fmt_kvbuild *kv = fmt_writer_kv(w, FMT_SEC_CHAT_TEMPLATES);
	for (size_t i = 0; i < n; i++) {
		const cv_chat_template *t = cv_hf_tokenizer_template_at(tk, i);
		fmt_status st = fmt_kvbuild_str(kv, t->name, t->text, t->text_len);
		if (st != FMT_OK)
			return cv_fail(err, "chat template '%s': %s", t->name, fmt_strerror(st));
	}
	return 0;
}

/* ---- the main loop ---- */

static int fail_fmt(cv_err *err, const char *what, const fmt_error *fe)
{
	return cv_fail(err, "%s: %s", what, fe->msg[0] ? fe->msg : fmt_strerror(fe->status));
}

static int stream(pipe_t *p, fmt_writer *w, src_hash *hs, const cv_options *o, uint64_t total, cv_result *res,
		  cv_err *err)
{
	uint64_t done = 0;
	fmt_error fe = {0};
	for (size_t ji = 0; ji < p->n_jobs; ji++) {
		const job *j = &p->jobs[ji];
		fmt_tensor_desc d = {.name = j->ex->name, .dtype = cv_qkind_dtype(j->rc.kind),
				     .scheme = cv_qkind_scheme(j->rc.kind), .n_dims = j->ex->n_dims,
				     .group_size = j->rc.kind == CV_Q_INT8_GROUP ? j->rc.group : 0};
		for (uint32_t k = 0; k < FMT_MAX_DIMS; k++)
			d.dims[k] = 1; /* unused dims are 1 (SPEC §6) */
		for (uint32_t k = 0; k < j->ex->n_dims && k < sizeof j->ex->dims / sizeof j->ex->dims[0]; k++)
			d.dims[k] = j->ex->dims[k];
		if (fmt_writer_begin_tensor(w, &d, &fe) != FMT_OK)
			return fail_fmt(err, j->ex->name, &fe);
		float *scales = NULL;
		if (j->groups && !(scales = malloc((size_t)(j->rows * j->groups) * sizeof *scales)))
			return cv_fail(err, "out of memory for the scales of %s", j->ex->name);
		cv_qstats st;
		cv_qstats_init(&st);
		uint64_t n_sc = 0, src_row_bytes = j->cols * src_size(j->src->src);
		uint64_t d0 = cv_st_data_offset(hs[j->shard].f);
		for (uint64_t b = 0; b < j->n_blocks; b++) {
			uint64_t seq = j->first_block + b;
			slot *sl = &p->slots[seq % p->n_slots];
			pthread_mutex_lock(&p->mu);
			while (sl->seq != seq || sl->state < 2)
				pthread_cond_wait(&p->cv_done, &p->mu);
			pthread_mutex_unlock(&p->mu);
			int rc = 0;
			if (sl->state == 3)
				rc = cv_fail(err, "%s: %s", cv_st_path(hs[j->shard].f), sl->err);
			else if (fmt_writer_write(w, FMT_PART_DATA, sl->buf, (size_t)sl->code_bytes, &fe) != FMT_OK)
				rc = fail_fmt(err, j->ex->name, &fe);
			if (rc) {
				free(scales);
				return rc;
			}
			if (j->groups) {
				memcpy(scales + n_sc, sl->buf + sl->scale_off, (size_t)sl->n_scales * sizeof *scales);
				n_sc += sl->n_scales;
			}
			cv_qstats_merge(&st, &sl->st);
			uint64_t r0 = b * j->rows_per_block;
			uint64_t nr = r0 + j->rows_per_block < j->rows ? j->rows_per_block : j->rows - r0;
			pthread_mutex_lock(&p->mu);
			sl->state = 0;
			p->committed++;
			pthread_cond_broadcast(&p->cv_work);
			pthread_mutex_unlock(&p->mu);
			uint64_t a = d0 + j->src->begin + r0 * src_row_bytes;
			consumed_block(&hs[j->shard], a, a + nr * src_row_bytes);
			done += nr * src_row_bytes;
			if (o->progress && !o->progress(o->user, done, total, j->ex->name)) {
				free(scales);
				return cv_fail(err, "interrupted");
			}
		}
		int rc = 0;
		if (j->groups && fmt_writer_write(w, FMT_PART_SCALES, scales, (size_t)n_sc * sizeof *scales, &fe) != FMT_OK)
			rc = fail_fmt(err, j->ex->name, &fe);
		free(scales);
		if (rc)
			return rc;
		fmt_tensor_stats ts = cv_qstats_finish(&st);
		if (fmt_writer_end_tensor(w, &ts, &fe) != FMT_OK)
			return fail_fmt(err, j->ex->name, &fe);
		tensor_done(&hs[j->shard], j->src);
		cv_tensor_info *ti = &res->tensors[ji];
		snprintf(ti->name, sizeof ti->name, "%s", j->ex->name);
		snprintf(ti->hf_name, sizeof ti->hf_name, "%s", j->ex->hf_name);
		cv_recipe_name(j->rc, ti->type, sizeof ti->type);
		ti->n_dims = j->ex->n_dims;
		ti->dims[0] = j->ex->dims[0];
		ti->dims[1] = j->ex->dims[1];
		ti->src_bytes = j->src->end - j->src->begin;
		ti->out_bytes = j->rows * j->cols * fmt_dtype_size(d.dtype);
		if (j->groups)
			ti->out_bytes = ((ti->out_bytes + FMT_SCALE_ALIGN - 1) & ~(uint64_t)(FMT_SCALE_ALIGN - 1)) +
					j->rows * j->groups * 4;
		ti->rmse = ts.err_rmse;
		ti->max_abs = ts.err_max_abs;
		ti->src_rms = ts.src_rms;
	}
	return 0;
}

static int run_pipeline(pipe_t *p, int n_threads, fmt_writer *w, src_hash *hs, const cv_options *o, uint64_t total,
			cv_result *res, cv_err *err)
{
	uint64_t slot_bytes = 0;
	p->scratch_elems = 1;
	for (size_t i = 0; i < p->n_jobs; i++) {
		const job *j = &p->jobs[i];
		uint64_t elems = j->rows_per_block * j->cols;
		uint64_t b = ((elems * fmt_dtype_size(cv_qkind_dtype(j->rc.kind)) + 7) & ~(uint64_t)7) +
			     j->rows_per_block * j->groups * 4;
		if (b > slot_bytes)
			slot_bytes = b;
		if (elems > p->scratch_elems)
			p->scratch_elems = elems;
	}
	p->total_blocks = p->n_jobs ? p->jobs[p->n_jobs - 1].first_block + p->jobs[p->n_jobs - 1].n_blocks : 0;
	p->n_slots = 2 * (size_t)n_threads;
	p->slots = calloc(p->n_slots, sizeof *p->slots);
	if (!p->slots)
		return cv_fail(err, "out of memory");
	for (size_t i = 0; i < p->n_slots; i++) {
		p->slots[i].seq = UINT64_MAX;
		if (!(p->slots[i].buf = malloc((size_t)slot_bytes)))
			return cv_fail(err, "out of memory for block buffers");
	}
	pthread_t *th = calloc((size_t)n_threads, sizeof *th);
	if (!th)
		return cv_fail(err, "out of memory");
	int started = 0, rc = 0;
	for (; started < n_threads; started++)
		if (pthread_create(&th[started], NULL, worker, p) != 0) {
			rc = cv_fail(err, "cannot start a worker thread: %s", strerror(errno));
			break;
		}
	if (!rc && started > 0)
		rc = stream(p, w, hs, o, total, res, err);
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	return rc;
}

static int add_totals(cv_result *r)
{
	for (size_t i = 0; i < r->n_tensors; i++) {
		const cv_tensor_info *t = &r->tensors[i];
		size_t k = 0;
		while (k < r->n_totals && strcmp(r->totals[k].type, t->type))
			k++;
		if (k == r->n_totals) {
			if (k == sizeof r->totals / sizeof r->totals[0])
				continue;
			snprintf(r->totals[k].type, sizeof r->totals[k].type, "%s", t->type);
			r->n_totals++;
		}
		r->totals[k].n_tensors++;
		r->totals[k].n_params += t->n_dims == 1 ? t->dims[0] : t->dims[0] * t->dims[1];
		r->totals[k].bytes += t->out_bytes;
	}
	return 0;
}

static const char *base_name(const char *path, char *buf, size_t len)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	size_t s = n;
	while (s > 0 && path[s - 1] != '/')
		s--;
	snprintf(buf, len, "%.*s", (int)(n - s), path + s);
	return buf;
}

int cv_convert(const char *dir, const char *out_path, const cv_options *opt, cv_result *res_out, cv_err *err)
{
	double t0 = now_s();
	side_file side[] = {{"config.json", NULL, 0, true},
			    {"generation_config.json", NULL, 0, false},
			    {"tokenizer.json", NULL, 0, true},
			    {"tokenizer_config.json", NULL, 0, false}};
	enum { N_SIDE = sizeof side / sizeof side[0] };
	cv_result res = {0};
	cv_hf_config cfg;
	cv_st_model *m = NULL;
	cv_hf_tensor *ex = NULL;
	size_t n_ex = 0;
	job *jobs = NULL;
	cv_hf_tokenizer *tk = NULL;
	fmt_writer *w = NULL;
	src_hash *hs = NULL;
	size_t n_hs = 0;
	pipe_t p = {0};
	bool pipe_init = false;
	fmt_error fe = {0};
	int rc = -1;
	char *path = NULL;

	if (cv_check_output(dir, out_path, opt->force, err))
		goto out;
	for (size_t i = 0; i < N_SIDE; i++)
		if (read_side(dir, &side[i], err))
			goto out;
	path = join(dir, "config.json");
	if (!path) {
		cv_fail(err, "out of memory");
		goto out;
	}
	if (cv_hf_config_parse(side[0].data, side[0].len, path, &cfg, err))
		goto out;
	free(path);
	path = NULL;
	if (side[1].data) {
		path = join(dir, "generation_config.json");
		if (!path) {
			cv_fail(err, "out of memory");
			goto out;
		}
		if (cv_hf_config_add_generation_eos(&cfg, side[1].data, side[1].len, path, err))
			goto out;
		free(path);
		path = NULL;
	}
	if (cv_st_model_open(dir, &m, err) || cv_hf_expected(&cfg, &ex, &n_ex, err))
		goto out;
	if (!(jobs = calloc(n_ex, sizeof *jobs)) || !(res.tensors = calloc(n_ex, sizeof *res.tensors))) {
		cv_fail(err, "out of memory");
		goto out;
	}
	res.n_tensors = n_ex;
	if (plan(&cfg, m, opt, dir, ex, n_ex, jobs, &res.n_skipped, res.skipped_first, sizeof res.skipped_first, err))
		goto out;

	/* Tokenizer: must fit the embedding. */
	{
		char *tp = join(dir, "tokenizer.json"), *tcp = side[3].data ? join(dir, "tokenizer_config.json") : NULL;
		char msg[768] = "";
		int trc = tp ? cv_hf_tokenizer_load(tp, tcp, &tk, msg, sizeof msg) : -1;
		free(tp);
		free(tcp);
		if (trc) {
			cv_fail(err, "%s", msg[0] ? msg : "out of memory");
			goto out;
		}
		const fmt_tok *tok = cv_hf_tokenizer_tok(tk);
		if (tok->n_tokens > cfg.vocab_size) {
			cv_fail(err, "%s/tokenizer.json: %u token ids but the embedding has only %u rows", dir, tok->n_tokens,
				cfg.vocab_size);
			goto out;
		}
		if (cfg.bos_id < 0)
			cfg.bos_id = tok->bos_id;
		if (cfg.pad_id < 0)
			cfg.pad_id = tok->pad_id;
		if (cfg.n_eos == 0 && tok->eos_id >= 0)
			cfg.eos_ids[cfg.n_eos++] = tok->eos_id;
	}

	/* Source hashing state, header bytes first; unused tensors count as consumed. */
	n_hs = cv_st_model_n_shards(m);
	if (!(hs = calloc(n_hs, sizeof *hs))) {
		cv_fail(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_hs; i++) {
		src_hash *s = &hs[i];
		s->f = cv_st_model_shard(m, i);
		s->page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
		s->h = XXH3_createState();
		s->done = calloc(cv_st_n_tensors(s->f) + 1, sizeof *s->done);
		if (!s->h || !s->done) {
			cv_fail(err, "out of memory");
			goto out;
		}
		XXH3_64bits_reset(s->h);
		if (cv_st_is_mapped(s->f))
			madvise((void *)cv_st_base(s->f), (size_t)cv_st_file_bytes(s->f), MADV_SEQUENTIAL);
		hash_range(s, 0, cv_st_data_offset(s->f));
	}
	for (size_t i = 0; i < cv_st_model_n_tensors(m); i++) {
		const cv_st_ref *r = cv_st_model_tensor_at(m, i);
		bool used = false;
		for (size_t k = 0; k < n_ex && !used; k++)
			used = jobs[k].src == r->t;
		if (!used)
			hs[r->shard].done[r->t - cv_st_tensor_at(hs[r->shard].f, 0)] = true;
	}
	for (size_t i = 0; i < n_hs; i++)
		hash_advance(&hs[i]);

	fmt_writer_opts wo = {.alignment = 0, .overwrite = opt->force};
	if (fmt_writer_open(out_path, &wo, &w, &fe) != FMT_OK) {
		fail_fmt(err, out_path, &fe);
		goto out;
	}
	if (opt->on_temp)
		opt->on_temp(opt->user, fmt_writer_temp_path(w));
	char bn[256];
	if (cv_hf_write_meta(&cfg, base_name(dir, bn, sizeof bn), fmt_writer_kv(w, FMT_SEC_META), err))
		goto out;
	if (side[1].data) {
		path = join(dir, "generation_config.json");
		if (!path) {
			cv_fail(err, "out of memory");
			goto out;
		}
		if (cv_hf_write_generation(side[1].data, side[1].len, path, fmt_writer_kv(w, FMT_SEC_GENERATION), err))
			goto out;
		free(path);
		path = NULL;
	}
	{
		size_t sl;
		const uint8_t *sec = cv_hf_tokenizer_section(tk, &sl);
		if (fmt_writer_set_section(w, FMT_SEC_TOKENIZER, sec, sl, &fe) != FMT_OK) {
			fail_fmt(err, "TOKENIZER", &fe);
			goto out;
		}
		if (set_templates(w, tk, err))
			goto out;
	}
	for (size_t i = 0; i < N_SIDE; i++)
		if (side[i].data && fmt_writer_add_file(w, side[i].name, side[i].data, side[i].len, &fe) != FMT_OK) {
			fail_fmt(err, side[i].name, &fe);
			goto out;
		}

	int n_threads = opt->n_threads;
	if (n_threads <= 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = nc > 0 ? (int)nc : 1;
	}
	if (n_threads > 256)
		n_threads = 256;
	res.n_threads = n_threads;
	uint64_t total = 0;
	for (size_t i = 0; i < n_ex; i++)
		total += jobs[i].src->end - jobs[i].src->begin;
	res.src_bytes = total;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv_work, NULL);
	pthread_cond_init(&p.cv_done, NULL);
	pipe_init = true;
	p.jobs = jobs;
	p.n_jobs = n_ex;
	p.hs = hs;
	double ts0 = now_s();
	if (run_pipeline(&p, n_threads, w, hs, opt, total, &res, err))
		goto out;
	res.tensor_seconds = now_s() - ts0;

	/* PROVENANCE: side files, index, then shards (hashed while converting). */
	{
		enum { MAXF = N_SIDE + 1 + CV_ST_MAX_SHARDS };
		const char **names = calloc(MAXF, sizeof *names);
		uint64_t *bytes = calloc(MAXF, sizeof *bytes), *hashes = calloc(MAXF, sizeof *hashes);
		char *idx = NULL;
		size_t nf = 0;
		int prc = 0;
		if (!names || !bytes || !hashes)
			prc = cv_fail(err, "out of memory");
		for (size_t i = 0; !prc && i < N_SIDE; i++)
			if (side[i].data) {
				names[nf] = side[i].name;
				bytes[nf] = side[i].len;
				hashes[nf++] = XXH3_64bits(side[i].data, side[i].len);
			}
		if (!prc && cv_st_model_index_name(m)) {
			char *ip = join(dir, cv_st_model_index_name(m));
			size_t il = 0;
			if (!ip || cv_read_file(ip, MAX_JSON_BYTES, &idx, &il, err))
				prc = -1;
			free(ip);
			if (!prc) {
				names[nf] = cv_st_model_index_name(m);
				bytes[nf] = il;
				hashes[nf++] = XXH3_64bits(idx, il);
			}
		}
		for (size_t i = 0; !prc && i < n_hs; i++) {
			if (hs[i].cursor != cv_st_n_tensors(hs[i].f) || hs[i].hashed != cv_st_file_bytes(hs[i].f))
				prc = cv_fail(err, "internal error: %s was not hashed completely", cv_st_path(hs[i].f));
			names[nf] = cv_st_model_shard_name(m, i);
			bytes[nf] = cv_st_file_bytes(hs[i].f);
			hashes[nf++] = XXH3_64bits_digest(hs[i].h);
		}
		fmt_kvbuild *kv = fmt_writer_kv(w, FMT_SEC_PROVENANCE);
		char rn[16], keep[CV_MAX_KEEP * 280] = "";
		cv_recipe_name(opt->recipe, rn, sizeof rn);
		size_t ko = 0;
		for (size_t i = 0; i < opt->n_keep && ko < sizeof keep; i++) {
			char kn[16];
			cv_recipe_name(opt->keep[i].recipe, kn, sizeof kn);
			ko += (size_t)snprintf(keep + ko, sizeof keep - ko, "%s%s=%s", i ? " " : "", opt->keep[i].pattern, kn);
		}
		if (!prc && (fmt_kvbuild_str(kv, "converter.name", "bale", 4) != FMT_OK ||
			     fmt_kvbuild_str(kv, "converter.version", BALE_VERSION, strlen(BALE_VERSION)) != FMT_OK ||
			     fmt_kvbuild_str(kv, "quant.recipe", rn, strlen(rn)) != FMT_OK ||
			     fmt_kvbuild_str(kv, "quant.keep", keep, strlen(keep)) != FMT_OK ||
			     fmt_kvbuild_array(kv, "source.files", FMT_V_STR, names, nf) != FMT_OK ||
			     fmt_kvbuild_array(kv, "source.bytes", FMT_V_U64, bytes, nf) != FMT_OK ||
			     fmt_kvbuild_array(kv, "source.xxh3", FMT_V_U64, hashes, nf) != FMT_OK))
			prc = cv_fail(err, "PROVENANCE: cannot store the keys (keep rules not representable?)");
		free(names);
		free(bytes);
		free(hashes);
		free(idx);
		if (prc)
			goto out;
	}
	if (fmt_writer_finish(w, &fe) != FMT_OK) {
		fail_fmt(err, out_path, &fe);
		goto out;
	}
	res.out_bytes = fmt_writer_bytes_written(w);
	add_totals(&res);
	rc = 0;
out:
	free(path);
	if (w) {
		fmt_writer_free(w);
		if (opt->on_temp)
			opt->on_temp(opt->user, NULL);
	}
	if (pipe_init) {
		pthread_mutex_destroy(&p.mu);
		pthread_cond_destroy(&p.cv_work);
		pthread_cond_destroy(&p.cv_done);
	}
	if (p.slots)
		for (size_t i = 0; i < p.n_slots; i++)
			free(p.slots[i].buf);
	free(p.slots);
	for (size_t i = 0; hs && i < n_hs; i++) {
		if (hs[i].h)
			XXH3_freeState(hs[i].h);
		free(hs[i].done);
	}
	free(hs);
	cv_hf_tokenizer_free(tk);
	free(jobs);
	free(ex);
	cv_st_model_close(m);
	for (size_t i = 0; i < N_SIDE; i++)
		free(side[i].data);
	res.seconds = now_s() - t0;
	if (rc == 0 && res_out)
		*res_out = res;
	else
		cv_result_free(&res);
	return rc;
}
