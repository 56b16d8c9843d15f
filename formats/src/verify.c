/* fmt_verify: parallel recomputation of every tensor checksum plus the scale sanity check.
 * Work items are whole tensors (XXH3 streams cannot be split); each worker records the result of
 * its tensor, so the reported failure is the first bad tensor in table order regardless of timing. */
#include "fmt_internal.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define VERIFY_CHUNK ((size_t)16 << 20)

typedef struct {
	const fmt_reader *r;
	size_t n;
	atomic_size_t next;
	atomic_uint_fast64_t done;
	atomic_bool stop;
	uint8_t *bad;       /* per tensor: 0 ok, 1 checksum, 2 scale, 3 out of memory */
	uint64_t *got;      /* computed checksums */
	uint64_t *bad_scale; /* index of the first bad scale */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running;
} vctx;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check_tensor(vctx *c, size_t i)
{
	const fmt_tensor *t = fmt_reader_tensor_at(c->r, i);
	XXH3_state_t *st = XXH3_createState();
	if (!st) {
		c->bad[i] = 3;
		return;
	}
	XXH3_64bits_reset(st);
	for (uint64_t off = 0; off < t->data_bytes && !atomic_load(&c->stop);) {
		size_t k = t->data_bytes - off < VERIFY_CHUNK ? (size_t)(t->data_bytes - off) : VERIFY_CHUNK;
		XXH3_64bits_update(st, t->data + off, k);
		off += k;
		atomic_fetch_add(&c->done, k);
	}
	c->got[i] = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	if (atomic_load(&c->stop))
		return;
	if (c->got[i] != t->checksum) {
		c->bad[i] = 1;
		return;
	}
	if (t->scales) {
		uint64_t ns = t->rows * t->groups;
		for (uint64_t k = 0; k < ns; k++) {
			float s = fmt_ldf32(t->scales + 4 * k);
			if (!isfinite(s) || s < 0) {
				c->bad[i] = 2;
				c->bad_scale[i] = k;
				return;
			}
		}
	}
}

static void *worker(void *arg)
{
	vctx *c = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&c->next, 1);
		if (i >= c->n || atomic_load(&c->stop))
			break;
		check_tensor(c, i);
	}
	pthread_mutex_lock(&c->mu);
	c->running--;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

fmt_status fmt_verify(const fmt_reader *r, int n_threads, fmt_progress_fn progress, void *user,
		      fmt_verify_result *res, fmt_error *err)
{
	assert(r);
	double t0 = now_s();
	size_t n = fmt_reader_n_tensors(r);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += fmt_reader_tensor_at(r, i)->data_bytes; /* regions do not overlap: no overflow */
	if (n_threads <= 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = nc > 0 ? (int)(nc > 256 ? 256 : nc) : 1;
	}
	if ((size_t)n_threads > n)
		n_threads = (int)(n ? n : 1);
	vctx c = {.r = r, .n = n};
	atomic_init(&c.next, 0);
	atomic_init(&c.done, 0);
	atomic_init(&c.stop, false);
	c.bad = calloc(n ? n : 1, 1);
	c.got = calloc(n ? n : 1, sizeof *c.got);
	c.bad_scale = calloc(n ? n : 1, sizeof *c.bad_scale);
	pthread_t *th = calloc((size_t)n_threads, sizeof *th);
	if (!c.bad || !c.got || !c.bad_scale || !th) {
		free(c.bad), free(c.got), free(c.bad_scale), free(th);
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "verify: out of memory");
	}
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	int started = 0;
	for (int k = 0; k < n_threads; k++) {
		pthread_mutex_lock(&c.mu);
		c.running++;
		pthread_mutex_unlock(&c.mu);
		if (pthread_create(&th[k], NULL, worker, &c) != 0) {
			pthread_mutex_lock(&c.mu);
			c.running--;
			pthread_mutex_unlock(&c.mu);
			break;
		}
		started++;
	}
	bool interrupted = false;
	if (started == 0) {
		worker(&c); /* no threads available: do the work here */
	} else {
		/* The calling thread only reports progress, so the callback never runs concurrently. */
		pthread_mutex_lock(&c.mu);
		while (c.running > 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c.cv, &c.mu, &ts);
			if (progress && c.running > 0 && !interrupted) {
				pthread_mutex_unlock(&c.mu);
				if (!progress(user, atomic_load(&c.done), total)) {
					interrupted = true;
					atomic_store(&c.stop, true);
				}
				pthread_mutex_lock(&c.mu);
			}
		}
		pthread_mutex_unlock(&c.mu);
	}
	for (int k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	if (!interrupted && progress && !progress(user, atomic_load(&c.done), total))
		interrupted = true;
	fmt_status st = FMT_OK;
	uint64_t n_bad = 0;
	size_t first = n;
	for (size_t i = 0; i < n; i++) {
		if (c.bad[i]) {
			n_bad++;
			if (first == n)
				first = i;
		}
	}
	double secs = now_s() - t0;
	if (res) {
		res->bytes = atomic_load(&c.done);
		res->n_tensors = n;
		res->n_bad = n_bad;
		res->seconds = secs;
		res->gb_per_s = secs > 0 ? (double)res->bytes / secs / 1e9 : 0;
	}
	if (interrupted) {
		st = fmt_fail(err, FMT_E_INTERRUPTED, FMT_NO_OFFSET, "verify: stopped by the caller after %llu of %llu bytes",
			      (unsigned long long)atomic_load(&c.done), (unsigned long long)total);
	} else if (first < n) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, first);
		if (c.bad[first] == 3)
			st = fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "verify: out of memory");
		else if (c.bad[first] == 1)
			st = fmt_fail(err, FMT_E_CHECKSUM, t->data_offset, "tensor '%s' (#%zu): data at offset %llu (%llu bytes) "
				      "hashes to 0x%016llx, the table says 0x%016llx (%llu bad tensors in all)", t->name,
				      first, (unsigned long long)t->data_offset, (unsigned long long)t->data_bytes,
				      (unsigned long long)c.got[first], (unsigned long long)t->checksum,
				      (unsigned long long)n_bad);
		else
			st = fmt_fail(err, FMT_E_CORRUPT, t->data_offset + t->scale_offset + 4 * c.bad_scale[first],
				      "tensor '%s' (#%zu): scale %llu at offset %llu is negative, infinite or NaN (%llu bad "
				      "tensors in all)", t->name, first, (unsigned long long)c.bad_scale[first],
				      (unsigned long long)(t->data_offset + t->scale_offset + 4 * c.bad_scale[first]),
				      (unsigned long long)n_bad);
	}
	pthread_mutex_destroy(&c.mu);
	pthread_cond_destroy(&c.cv);
	free(c.bad), free(c.got), free(c.bad_scale), free(th);
	return st;
}
