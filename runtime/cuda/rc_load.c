/* rc_load: the weights of an rt_model copied into one device allocation through pinned staging
 * buffers. io threads take whole items (a weight, the packed vectors) and fill their jobs in
 * order into free buffers, reading the mapping there (that is where page faults happen) and
 * hashing the source blobs on the way; the calling thread issues each filled buffer's copy on one
 * stream and records an event; a buffer is free again once its event has completed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_internal.h"

enum { BUF_FREE, BUF_FILLING, BUF_READY, BUF_INFLIGHT };

typedef struct {
	uint8_t *host; /* pinned, `cap` bytes */
	void *ev;
	int state;
	uint64_t seq;  /* order of READY / INFLIGHT */
	uint64_t dst_off, bytes;
} stage_buf;

typedef enum { ITEM_WEIGHT, ITEM_VECS, ITEM_HASH } item_kind;
typedef struct {
	item_kind kind;
	const rc_wplan *w;     /* WEIGHT */
	const fmt_tensor *t;   /* HASH */
} item;

typedef struct {
	const rc_plan *p;
	bool verify;
	uint64_t cap;
	item *items;
	size_t n_items;
	atomic_size_t next;
	stage_buf *bufs;
	int n_bufs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t seq;
	int workers_left;
	bool failed;
	rc_error err; /* the first failure */
} loader;

static void set_failed(loader *ld, const rc_error *e)
{
	pthread_mutex_lock(&ld->mu);
	if (!ld->failed) {
		ld->failed = true;
		ld->err = *e;
	}
	pthread_cond_broadcast(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
}

/* A free buffer marked FILLING, or NULL once the load has failed. */
static stage_buf *acquire(loader *ld)
{
	pthread_mutex_lock(&ld->mu);
	stage_buf *b = NULL;
	while (!ld->failed) {
		for (int i = 0; i < ld->n_bufs && !b; i++)
			if (ld->bufs[i].state == BUF_FREE)
				b = &ld->bufs[i];
		if (b)
			break;
		pthread_cond_wait(&ld->cv, &ld->mu);
	}
	if (b)
		b->state = BUF_FILLING;
	pthread_mutex_unlock(&ld->mu);
	return b;
}

static void publish(loader *ld, stage_buf *b, const rc_job *j)
{
	pthread_mutex_lock(&ld->mu);
	b->dst_off = j->dst_off;
	b->bytes = j->bytes;
	b->seq = ld->seq++;
	b->state = BUF_READY;
	pthread_cond_broadcast(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
}

static rc_status run_item(loader *ld, const item *it, rc_error *e)
{
	if (it->kind == ITEM_HASH)
		return rc_tensor_check(it->t, e);
	size_t n = it->kind == ITEM_WEIGHT ? rc_jobs_rows(it->w, ld->cap, NULL, e) : rc_jobs_vecs(ld->p, ld->cap, NULL, e);
	if (n == 0)
		return e->status;
	rc_job *jobs = malloc(n * sizeof *jobs);
	rc_hasher *h = NULL;
	if (jobs && ld->verify && it->kind == ITEM_WEIGHT)
		h = rc_hasher_create(it->w);
	if (!jobs || (ld->verify && it->kind == ITEM_WEIGHT && !h)) {
		free(jobs);
		return rc_fail(e, RC_E_NOMEM, "load: out of host memory");
	}
	if (it->kind == ITEM_WEIGHT)
		rc_jobs_rows(it->w, ld->cap, jobs, e);
	else
		rc_jobs_vecs(ld->p, ld->cap, jobs, e);
	rc_status st = RC_OK;
	for (size_t i = 0; i < n && st == RC_OK; i++) {
		stage_buf *b = acquire(ld);
		if (!b) {
			st = rc_fail(e, RC_E_DEVICE, "load: stopped");
			break;
		}
		rc_job_fill(ld->p, &jobs[i], b->host);
		if (h)
			rc_hasher_job(h, &jobs[i]);
		publish(ld, b, &jobs[i]);
	}
	if (st == RC_OK && h)
		st = rc_hasher_check(h, e);
	if (st == RC_OK && ld->verify && it->kind == ITEM_VECS)
		for (size_t i = 0; i < ld->p->n_vecs && st == RC_OK; i++)
			if (ld->p->vecs[i].tensor)
				st = rc_tensor_check(ld->p->vecs[i].tensor, e);
	rc_hasher_free(h);
	free(jobs);
	return st;
}

static void *worker(void *arg)
{
	loader *ld = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&ld->next, 1);
		if (i >= ld->n_items)
			break;
		pthread_mutex_lock(&ld->mu);
		bool stop = ld->failed;
		pthread_mutex_unlock(&ld->mu);
		if (stop)
			break;
		rc_error e = {0};
		if (run_item(ld, &ld->items[i], &e) != RC_OK) {
			set_failed(ld, &e);
			break;
		}
	}
	pthread_mutex_lock(&ld->mu);
	ld->workers_left--;
	pthread_cond_broadcast(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
	return NULL;
}

/* The calling thread: copies READY buffers in order, recycles INFLIGHT ones as their events
 * complete, until every worker has finished and nothing is pending. */
static void drive(loader *ld, uint8_t *arena, void *stream, uint64_t *copied)
{
	char why[RC_ERRLEN];
	pthread_mutex_lock(&ld->mu);
	for (;;) {
		stage_buf *ready = NULL, *oldest = NULL;
		for (int i = 0; i < ld->n_bufs; i++) {
			stage_buf *b = &ld->bufs[i];
			if (b->state == BUF_READY && (!ready || b->seq < ready->seq))
				ready = b;
			if (b->state == BUF_INFLIGHT && (!oldest || b->seq < oldest->seq))
				oldest = b;
		}
		if (ready && !ld->failed) {
			ready->state = BUF_INFLIGHT;
			pthread_mutex_unlock(&ld->mu);
			int rc = kn_cuda_memcpy_h2d_async(arena + ready->dst_off, ready->host, ready->bytes, stream, why,
							  sizeof why);
			if (rc == 0)
				rc = kn_cuda_event_record(ready->ev, stream, why, sizeof why);
			if (rc != 0) {
				rc_error e;
				rc_fail(&e, RC_E_DEVICE, "load: copying %llu bytes to the device: %s",
					(unsigned long long)ready->bytes, why);
				set_failed(ld, &e);
			} else {
				*copied += ready->bytes;
			}
			pthread_mutex_lock(&ld->mu);
			continue;
		}
		if (oldest) {
			pthread_mutex_unlock(&ld->mu);
			int rc = kn_cuda_event_sync(oldest->ev, why, sizeof why);
			if (rc != 0) {
				rc_error e;
				rc_fail(&e, RC_E_DEVICE, "load: waiting for a copy: %s", why);
				set_failed(ld, &e);
			}
			pthread_mutex_lock(&ld->mu);
			oldest->state = BUF_FREE;
			pthread_cond_broadcast(&ld->cv);
			continue;
		}
		if (ld->failed) {
			/* READY buffers are dropped; workers waiting for one see `failed` */
			for (int i = 0; i < ld->n_bufs; i++)
				if (ld->bufs[i].state == BUF_READY)
					ld->bufs[i].state = BUF_FREE;
			pthread_cond_broadcast(&ld->cv);
		}
		if (ld->workers_left == 0)
			break;
		pthread_cond_wait(&ld->cv, &ld->mu);
	}
	pthread_mutex_unlock(&ld->mu);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static rc_status upload(rc_model *m, const rc_model_opts *o, uint64_t *copied, rc_error *err)
{
	const rc_plan *p = &m->plan;
	loader ld = {0};
	ld.p = p;
	ld.verify = o->verify;
	int n_threads = o->io_threads > 0 ? o->io_threads : 4;
	uint64_t cap = o->staging_bytes ? o->staging_bytes : (uint64_t)64 << 20;
	/* a small model needs no 64 MiB buffers */
	ld.cap = cap < p->total ? cap : (p->total > 4096 ? p->total : 4096);
	ld.n_bufs = o->staging_buffers > 0 ? o->staging_buffers : 4;
	ld.n_items = 3 + 7 * (size_t)p->n_layers;
	ld.items = calloc(ld.n_items, sizeof *ld.items);
	ld.bufs = calloc((size_t)ld.n_bufs, sizeof *ld.bufs);
	pthread_t *th = calloc((size_t)n_threads, sizeof *th);
	void *stream = NULL;
	char why[RC_ERRLEN];
	rc_status st = RC_OK;
	if (!ld.items || !ld.bufs || !th) {
		st = rc_fail(err, RC_E_NOMEM, "load: out of host memory");
		goto out;
	}
	size_t n = 0;
	if (p->embd_on_device)
		ld.items[n++] = (item){ITEM_WEIGHT, &p->tok_embd, NULL};
	else if (o->verify && p->tok_embd.tensor[0])
		ld.items[n++] = (item){ITEM_HASH, NULL, p->tok_embd.tensor[0]};
	if (!p->tied)
		ld.items[n++] = (item){ITEM_WEIGHT, &p->output, NULL};
	ld.items[n++] = (item){ITEM_VECS, NULL, NULL};
	for (uint32_t l = 0; l < p->n_layers; l++) {
		const rc_layer_plan *lp = &p->layers[l];
		for (int i = 0; i < lp->n_qkv; i++)
			ld.items[n++] = (item){ITEM_WEIGHT, &lp->qkv[i], NULL};
		for (int i = 0; i < lp->n_gu; i++)
			ld.items[n++] = (item){ITEM_WEIGHT, &lp->gu[i], NULL};
		ld.items[n++] = (item){ITEM_WEIGHT, &lp->o, NULL};
		ld.items[n++] = (item){ITEM_WEIGHT, &lp->down, NULL};
	}
	ld.n_items = n;
	if (kn_cuda_stream_create(&stream, why, sizeof why) != 0) {
		st = rc_fail(err, RC_E_DEVICE, "load: stream: %s", why);
		goto out;
	}
	for (int i = 0; i < ld.n_bufs; i++) {
		if (kn_cuda_host_alloc((void **)&ld.bufs[i].host, ld.cap, why, sizeof why) != 0) {
			st = rc_fail(err, RC_E_NOMEM, "load: %d pinned staging buffers of %llu bytes: %s", ld.n_bufs,
				     (unsigned long long)ld.cap, why);
			goto out;
		}
		if (kn_cuda_event_create(&ld.bufs[i].ev, why, sizeof why) != 0) {
			st = rc_fail(err, RC_E_DEVICE, "load: event: %s", why);
			goto out;
		}
	}
	pthread_mutex_init(&ld.mu, NULL);
	pthread_cond_init(&ld.cv, NULL);
	atomic_init(&ld.next, 0);
	int started = 0;
	for (; started < n_threads; started++) {
		pthread_mutex_lock(&ld.mu);
		ld.workers_left++;
		pthread_mutex_unlock(&ld.mu);
		if (pthread_create(&th[started], NULL, worker, &ld) != 0) {
			pthread_mutex_lock(&ld.mu);
			ld.workers_left--;
			pthread_mutex_unlock(&ld.mu);
			if (started == 0) {
				rc_error e;
				rc_fail(&e, RC_E_NOMEM, "load: cannot start an io thread");
				set_failed(&ld, &e);
			}
			break;
		}
	}
	drive(&ld, m->arena, stream, copied);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&ld.mu);
	pthread_cond_destroy(&ld.cv);
	if (ld.failed) {
		st = ld.err.status;
		if (err)
			*err = ld.err;
	}
out:
	/* nothing may still read a pinned buffer when it is freed */
	if (stream && kn_cuda_synchronize(stream, why, sizeof why) != 0 && st == RC_OK)
		st = rc_fail(err, RC_E_DEVICE, "load: %s", why);
	for (int i = 0; ld.bufs && i < ld.n_bufs; i++) {
		kn_cuda_event_destroy(ld.bufs[i].ev);
		kn_cuda_host_free(ld.bufs[i].host);
	}
	kn_cuda_stream_destroy(stream);
	free(ld.items);
	free(ld.bufs);
	free(th);
	return st;
}

rc_status rc_model_load(const rt_model *cpu, const fmt_reader *r, const rc_model_opts *opts, rc_model **out,
			rc_load_stats *stats, rc_error *err)
{
	rc_model_opts def = {0};
	if (!opts)
		opts = &def;
	if (!cpu || !r || !out)
		return rc_fail(err, RC_E_ARG, "load: NULL argument");
	*out = NULL;
	if (stats)
		memset(stats, 0, sizeof *stats);
	rc_status st = rc_device_check(opts->device, "load", err);
	if (st != RC_OK)
		return st;
	double t0 = now_s();
	rc_model *m = calloc(1, sizeof *m);
	if (!m)
		return rc_fail(err, RC_E_NOMEM, "load: out of host memory");
	m->cfg = *rt_model_config(cpu);
	m->prefill_algo = opts->prefill_algo;
	m->device = opts->device;
	const rt_weights *w = rt_model_weights(cpu);
	if ((st = rc_plan_build(&m->plan, &m->cfg, w, r, opts->embed_on_host, err)) != RC_OK) {
		free(m);
		return st;
	}
	char why[RC_ERRLEN];
	if (kn_cuda_malloc((void **)&m->arena, m->plan.total, why, sizeof why) != 0) {
		st = rc_fail(err, RC_E_NOMEM, "load: %llu bytes of weights on the device: %s",
			     (unsigned long long)m->plan.total, why);
		goto fail;
	}
	if ((st = rc_model_finish(m, err)) != RC_OK)
		goto fail;
	m->embed_host = !m->plan.embd_on_device;
	if (m->embed_host)
		m->host_embd = w->tok_embd;
	uint64_t copied = 0;
	if ((st = upload(m, opts, &copied, err)) != RC_OK)
		goto fail;
	double dt = now_s() - t0;
	if (stats) {
		stats->seconds = dt;
		stats->bytes = copied;
		stats->gb_per_s = dt > 0 ? (double)copied / dt / 1e9 : 0;
		stats->device_bytes = m->plan.total;
		stats->host_bytes = m->plan.host_bytes;
		stats->verified = opts->verify;
	}
	*out = m;
	return RC_OK;
fail:
	rc_model_free(m);
	return st;
}
