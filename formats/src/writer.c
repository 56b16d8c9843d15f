/* Streaming writer: tensor blobs are written (buffered) as they arrive, the tables and the header
 * at finish; the file only appears under its final name once it is complete (temp + rename). */
#include "fmt_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#define WBUF_BYTES ((size_t)2 << 20)
#define N_KV_KINDS 8
/* Level 9: level 19 saves 17% on an 11 MB tokenizer.json but costs ~30 s on two cores, which would
 * dominate a whole 8B conversion. */
#define ZSTD_LEVEL 9

typedef unsigned long long ull;

typedef struct {
	uint32_t kind;
	uint8_t *p;
	size_t n;
} raw_section;

struct fmt_writer {
	char *path, *tmp, *dir;
	int fd;
	uint32_t align;
	bool overwrite, finished, failed;
	uint8_t *buf;
	size_t bn;
	uint64_t pos; /* logical file position, buffered bytes included */
	fmt_buf table; /* TENSORS section: u32 count (patched at finish) + records */
	uint32_t n_t;
	fmt_strset names;
	/* tensor in progress */
	bool in_t;
	fmt_tensor cur;
	size_t cur_name_off; /* the name lives in `table` */
	uint64_t codes_bytes, scales_bytes, data_done, sc_done;
	XXH3_state_t *xs;
	uint8_t carry[4];
	size_t carry_n;
	fmt_kvbuild *kv[N_KV_KINDS];
	raw_section raw[FMT_MAX_SECTIONS];
	size_t n_raw;
	fmt_buf files; /* FILES section: u32 count (patched) + entries */
	uint32_t n_files;
	fmt_strset fnames;
};

static atomic_uint tmp_counter;

/* ---------------------------------------------------------------------------------------------
 * Low-level output */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (k == 0)
			return EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static fmt_status io_fail(fmt_writer *w, fmt_error *err, const char *what, int e)
{
	w->failed = true;
	return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s '%s': %s", what, w->tmp, strerror(e));
}

static fmt_status flush(fmt_writer *w, fmt_error *err)
{
	int e = write_all(w->fd, w->buf, w->bn);
	w->bn = 0;
	if (e)
		return io_fail(w, err, "write", e);
	return FMT_OK;
}

static fmt_status emit(fmt_writer *w, const void *p, size_t n, bool hash, fmt_error *err)
{
	if (hash)
		XXH3_64bits_update(w->xs, p, n);
	const uint8_t *s = p;
	w->pos += n;
	while (n > 0) {
		if (w->bn == 0 && n >= WBUF_BYTES) {
			int e = write_all(w->fd, s, n);
			if (e)
				return io_fail(w, err, "write", e);
			return FMT_OK;
		}
		size_t k = WBUF_BYTES - w->bn < n ? WBUF_BYTES - w->bn : n;
		memcpy(w->buf + w->bn, s, k);
		w->bn += k;
		s += k;
		n -= k;
		if (w->bn == WBUF_BYTES) {
			fmt_status st = flush(w, err);
			if (st)
				return st;
		}
	}
	return FMT_OK;
}

static fmt_status pad_zero(fmt_writer *w, uint64_t n, bool hash, fmt_error *err)
{
	static const uint8_t zeros[4096];
	while (n > 0) {
		size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
		fmt_status st = emit(w, zeros, k, hash, err);
		if (st)
			return st;
		n -= k;
	}
	return FMT_OK;
}

static fmt_status pad_to(fmt_writer *w, uint64_t a, fmt_error *err)
{
	uint64_t target;
	if (__builtin_add_overflow(w->pos, a - 1, &target))
		return fmt_fail(err, FMT_E_OVERFLOW, FMT_NO_OFFSET, "file offset overflows 64 bits");
	target &= ~(a - 1);
	return pad_zero(w, target - w->pos, false, err);
}

/* ---------------------------------------------------------------------------------------------
 * Open / free */

fmt_status fmt_writer_open(const char *path, const fmt_writer_opts *opts, fmt_writer **out, fmt_error *err)
{
	assert(path && out);
	*out = NULL;
	uint32_t align = opts && opts->alignment ? opts->alignment : FMT_DEFAULT_ALIGNMENT;
	bool overwrite = opts ? opts->overwrite : false;
	if (align < 64 || align > (1u << 20) || (align & (align - 1)))
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "alignment %u is not a power of two in 64..1048576", align);
	if (!*path)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "empty output path");
	struct stat sb;
	if (!overwrite && lstat(path, &sb) == 0)
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s: already exists (overwrite not allowed)", path);
	fmt_writer *w = calloc(1, sizeof *w);
	if (!w)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	w->fd = -1;
	w->align = align;
	w->overwrite = overwrite;
	size_t pl = strlen(path);
	w->path = strdup(path);
	w->tmp = malloc(pl + 64);
	w->dir = strdup(path);
	w->buf = malloc(WBUF_BYTES);
	w->xs = XXH3_createState();
	if (!w->path || !w->tmp || !w->dir || !w->buf || !w->xs) {
		fmt_writer_free(w);
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	}
	snprintf(w->tmp, pl + 64, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
	char *slash = strrchr(w->dir, '/');
	if (!slash)
		strcpy(w->dir, ".");
	else if (slash == w->dir)
		w->dir[1] = 0;
	else
		*slash = 0;
	fmt_buf_u32(&w->table, 0);
	fmt_buf_u32(&w->files, 0);
	if (w->table.oom || w->files.oom) {
		fmt_writer_free(w);
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	}
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int e = errno;
		fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "create '%s': %s", w->tmp, strerror(e));
		free(w->tmp);
		w->tmp = NULL; /* not ours: do not unlink */
		fmt_writer_free(w);
		return FMT_E_IO;
	}
	fmt_status st = pad_zero(w, FMT_HEADER_BYTES, false, err); /* header placeholder */
	if (st) {
		fmt_writer_free(w);
		return st;
	}
	*out = w;
	return FMT_OK;
}

void fmt_writer_free(fmt_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->finished && w->tmp)
		unlink(w->tmp);
	free(w->path);
	free(w->tmp);
	free(w->dir);
	free(w->buf);
	if (w->xs)
		XXH3_freeState(w->xs);
	fmt_buf_free(&w->table);
	fmt_strset_free(&w->names);
	for (int i = 0; i < N_KV_KINDS; i++)
		fmt_kvbuild_free(w->kv[i]);
	for (size_t i = 0; i < w->n_raw; i++)
		free(w->raw[i].p);
	fmt_buf_free(&w->files);
	fmt_strset_free(&w->fnames);
	free(w);
}

const char *fmt_writer_temp_path(const fmt_writer *w)
{
	return w->tmp;
}

uint64_t fmt_writer_bytes_written(const fmt_writer *w)
{
	return w->pos;
}

static fmt_status usable(fmt_writer *w, fmt_error *err)
{
	assert(w);
	if (w->finished)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "writer for '%s' is already finished", w->path);
	if (w->failed)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "writer for '%s' failed earlier", w->path);
	return FMT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Tensors */

static const char *cur_name(const fmt_writer *w, char *buf, size_t n);

fmt_status fmt_writer_begin_tensor(fmt_writer *w, const fmt_tensor_desc *d, fmt_error *err)
{
	fmt_status st = usable(w, err);
	if (st)
		return st;
	assert(d);
	char nb[256];
	if (w->in_t)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "begin_tensor '%.200s' while tensor '%s' is open",
				d->name ? d->name : "?", cur_name(w, nb, sizeof nb));
	if (!d->name)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor without a name");
	size_t len = strlen(d->name);
	const char *why = fmt_tensor_name_problem((const uint8_t *)d->name, len);
	if (why)
		return fmt_fail(err, FMT_E_NAME, FMT_NO_OFFSET, "tensor '%.200s': %s", d->name, why);
	if (fmt_strset_has(&w->names, d->name, len))
		return fmt_fail(err, FMT_E_DUPLICATE, FMT_NO_OFFSET, "tensor '%s' was already written", d->name);
	if (w->n_t >= FMT_MAX_TENSORS)
		return fmt_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "more than %u tensors", FMT_MAX_TENSORS);
	fmt_tensor t = {.name = d->name, .name_len = len, .dtype = d->dtype, .scheme = d->scheme, .n_dims = d->n_dims,
			.group_size = d->group_size};
	for (int i = 0; i < FMT_MAX_DIMS; i++)
		t.dims[i] = (uint32_t)i < d->n_dims ? d->dims[i] : 1;
	fmt_error le;
	st = fmt_tensor_layout(&t, &le);
	if (st)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "%s", le.msg);
	st = pad_to(w, w->align, err);
	if (st)
		return st;
	uint64_t end;
	if (__builtin_add_overflow(w->pos, t.data_bytes, &end))
		return fmt_fail(err, FMT_E_OVERFLOW, FMT_NO_OFFSET, "tensor '%s': file offset overflows", d->name);
	if (fmt_strset_add(&w->names, d->name, len) < 0)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	t.data_offset = w->pos;
	t.name = NULL; /* the caller's string may not outlive this call */
	w->cur = t;
	w->codes_bytes = t.n_elems * fmt_dtype_size(t.dtype);
	w->scales_bytes = t.scheme == FMT_SCHEME_NONE ? 0 : t.data_bytes - t.scale_offset;
	w->data_done = w->sc_done = 0;
	w->carry_n = 0;
	XXH3_64bits_reset(w->xs);
	/* Keep the name in the table buffer right away; the rest of the record follows at end. */
	fmt_buf_str(&w->table, d->name, (uint32_t)len);
	if (w->table.oom)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	w->cur_name_off = w->table.n - len;
	w->in_t = true;
	return FMT_OK;
}

static const char *cur_name(const fmt_writer *w, char *buf, size_t n)
{
	size_t off = w->cur_name_off, len = w->cur.name_len;
	snprintf(buf, n, "%.*s", (int)(len < 200 ? len : 200), (const char *)w->table.p + off);
	return buf;
}

fmt_status fmt_writer_write(fmt_writer *w, fmt_part part, const void *bytes, size_t n, fmt_error *err)
{
	fmt_status st = usable(w, err);
	if (st)
		return st;
	char nb[256];
	if (!w->in_t)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "write without begin_tensor");
	if (n && !bytes)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%s': NULL data", cur_name(w, nb, sizeof nb));
	if (part == FMT_PART_DATA) {
		if (w->sc_done)
			return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "tensor '%s': data after scales",
					cur_name(w, nb, sizeof nb));
		if (n > w->codes_bytes - w->data_done)
			return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%s': %zu data bytes exceed the %llu left", cur_name(w, nb, sizeof nb),
					n, (ull)(w->codes_bytes - w->data_done));
		w->data_done += n;
		return emit(w, bytes, n, true, err);
	}
	if (part != FMT_PART_SCALES)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%s': unknown part %d", cur_name(w, nb, sizeof nb), (int)part);
	if (w->cur.scheme == FMT_SCHEME_NONE)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%s': scheme none has no scales", cur_name(w, nb, sizeof nb));
	if (w->data_done != w->codes_bytes)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "tensor '%s': scales before all %llu data bytes",
				cur_name(w, nb, sizeof nb), (ull)w->codes_bytes);
	if (n > w->scales_bytes - w->sc_done)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%s': %zu scale bytes exceed the %llu left",
				cur_name(w, nb, sizeof nb), n, (ull)(w->scales_bytes - w->sc_done));
	/* check every completed scale before any byte is written */
	const uint8_t *p = bytes;
	uint8_t c[4];
	size_t cn = w->carry_n;
	memcpy(c, w->carry, cn);
	for (size_t i = 0; i < n; i++) {
		c[cn++] = p[i];
		if (cn == 4) {
			float s = fmt_ldf32(c);
			if (!isfinite(s) || s < 0)
				return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%s': scale %llu is %g, must be finite and "
						">= 0", cur_name(w, nb, sizeof nb), (ull)((w->sc_done + i) / 4), (double)s);
			cn = 0;
		}
	}
	memcpy(w->carry, c, cn);
	w->carry_n = cn;
	if (w->sc_done == 0 && n > 0) {
		st = pad_zero(w, w->cur.scale_offset - w->codes_bytes, true, err);
		if (st)
			return st;
	}
	w->sc_done += n;
	return emit(w, bytes, n, true, err);
}

fmt_status fmt_writer_end_tensor(fmt_writer *w, const fmt_tensor_stats *stats, fmt_error *err)
{
	fmt_status st = usable(w, err);
	if (st)
		return st;
	char nb[256];
	if (!w->in_t)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "end_tensor without begin_tensor");
	if (w->data_done != w->codes_bytes || w->sc_done != w->scales_bytes)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "tensor '%s': got %llu of %llu data bytes and %llu of %llu "
				"scale bytes", cur_name(w, nb, sizeof nb), (ull)w->data_done, (ull)w->codes_bytes,
				(ull)w->sc_done, (ull)w->scales_bytes);
	fmt_tensor_stats s = stats ? *stats : (fmt_tensor_stats){0, 0, 0};
	float v[3] = {s.err_rmse, s.err_max_abs, s.src_rms};
	for (int i = 0; i < 3; i++)
		if (!isfinite(v[i]) || v[i] < 0)
			return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%s': statistic %d is %g, must be finite and >= 0",
					cur_name(w, nb, sizeof nb), i, (double)v[i]);
	const fmt_tensor *t = &w->cur;
	fmt_buf *b = &w->table;
	fmt_buf_u8(b, (uint8_t)t->dtype);
	fmt_buf_u8(b, (uint8_t)t->scheme);
	fmt_buf_u8(b, 0);
	fmt_buf_u8(b, (uint8_t)t->n_dims);
	for (int i = 0; i < FMT_MAX_DIMS; i++)
		fmt_buf_u64(b, t->dims[i]);
	fmt_buf_u32(b, t->group_size);
	fmt_buf_u8(b, (uint8_t)t->scale_type);
	fmt_buf_u8(b, 0);
	fmt_buf_u8(b, 0);
	fmt_buf_u8(b, 0);
	fmt_buf_u64(b, t->data_offset);
	fmt_buf_u64(b, t->data_bytes);
	fmt_buf_u64(b, XXH3_64bits_digest(w->xs));
	for (int i = 0; i < 3; i++) {
		uint32_t u;
		memcpy(&u, &v[i], 4);
		fmt_buf_u32(b, u);
	}
	if (b->oom) {
		w->failed = true;
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	}
	w->n_t++;
	w->in_t = false;
	return FMT_OK;
}

fmt_status fmt_writer_add_tensor(fmt_writer *w, const fmt_tensor_desc *d, const void *data, const void *scales,
				 const fmt_tensor_stats *stats, fmt_error *err)
{
	assert(d);
	if (d->scheme != FMT_SCHEME_NONE && !scales)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "tensor '%.200s': quantized tensor without scales",
				d->name ? d->name : "?");
	fmt_status st = fmt_writer_begin_tensor(w, d, err);
	if (st)
		return st;
	st = fmt_writer_write(w, FMT_PART_DATA, data, (size_t)w->codes_bytes, err);
	if (!st && w->scales_bytes)
		st = fmt_writer_write(w, FMT_PART_SCALES, scales, (size_t)w->scales_bytes, err);
	if (!st)
		st = fmt_writer_end_tensor(w, stats, err);
	return st;
}

/* ---------------------------------------------------------------------------------------------
 * Sections */

fmt_kvbuild *fmt_writer_kv(fmt_writer *w, fmt_section_kind kind)
{
	assert(w);
	if (kind != FMT_SEC_META && kind != FMT_SEC_CHAT_TEMPLATES && kind != FMT_SEC_GENERATION &&
	    kind != FMT_SEC_PROVENANCE)
		return NULL;
	if (!w->kv[kind])
		w->kv[kind] = fmt_kvbuild_create();
	return w->kv[kind];
}

fmt_status fmt_writer_set_section(fmt_writer *w, uint32_t kind, const void *bytes, size_t n, fmt_error *err)
{
	fmt_status st = usable(w, err);
	if (st)
		return st;
	if (kind != FMT_SEC_TOKENIZER && kind < 8)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "section kind %u (%s) cannot be set raw", kind,
				fmt_section_name(kind));
	if (n > FMT_MAX_SECTION_BYTES)
		return fmt_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "section kind %u: %zu bytes exceed 1 GiB", kind, n);
	if (n && !bytes)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "section kind %u: NULL bytes", kind);
	for (size_t i = 0; i < w->n_raw; i++)
		if (w->raw[i].kind == kind)
			return fmt_fail(err, FMT_E_DUPLICATE, FMT_NO_OFFSET, "section kind %u set twice", kind);
	if (w->n_raw >= FMT_MAX_SECTIONS - 7)
		return fmt_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "too many sections");
	uint8_t *c = malloc(n ? n : 1);
	if (!c)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	if (n)
		memcpy(c, bytes, n);
	w->raw[w->n_raw++] = (raw_section){kind, c, n};
	return FMT_OK;
}

fmt_status fmt_writer_add_file(fmt_writer *w, const char *name, const void *bytes, size_t n, fmt_error *err)
{
	fmt_status st = usable(w, err);
	if (st)
		return st;
	assert(name);
	size_t len = strlen(name);
	const char *why = fmt_file_name_problem((const uint8_t *)name, len);
	if (why)
		return fmt_fail(err, FMT_E_NAME, FMT_NO_OFFSET, "file '%.200s': %s", name, why);
	if (fmt_strset_has(&w->fnames, name, len))
		return fmt_fail(err, FMT_E_DUPLICATE, FMT_NO_OFFSET, "file '%s' added twice", name);
	if (w->n_files >= FMT_MAX_FILES)
		return fmt_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "more than %u files", FMT_MAX_FILES);
	if (n > FMT_MAX_FILE_BYTES)
		return fmt_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "file '%s': %zu bytes exceed 1 GiB", name, n);
	if (n && !bytes)
		return fmt_fail(err, FMT_E_ARG, FMT_NO_OFFSET, "file '%s': NULL bytes", name);
	size_t cap = ZSTD_compressBound(n);
	uint8_t *z = malloc(cap);
	if (!z)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory compressing '%s'", name);
	size_t zn = ZSTD_compress(z, cap, n ? bytes : "", n, ZSTD_LEVEL);
	if (ZSTD_isError(zn)) {
		free(z);
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "zstd compression of '%s' failed: %s", name,
				ZSTD_getErrorName(zn));
	}
	fmt_buf *b = &w->files;
	size_t mark = b->n;
	fmt_buf_str(b, name, (uint32_t)len);
	fmt_buf_u64(b, n);
	fmt_buf_u64(b, XXH3_64bits(n ? bytes : "", n));
	fmt_buf_u64(b, zn);
	fmt_buf_put(b, z, zn);
	free(z);
	if (b->oom || fmt_strset_add(&w->fnames, name, len) < 0) {
		b->oom = false;
		b->n = mark;
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	}
	w->n_files++;
	fmt_st32(b->p, w->n_files);
	return FMT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Finish */

typedef struct {
	uint32_t kind;
	const uint8_t *p;
	size_t n;
	uint64_t off, cs;
} out_section;

static int out_section_cmp(const void *pa, const void *pb)
{
	const out_section *a = pa, *b = pb;
	return a->kind < b->kind ? -1 : a->kind > b->kind;
}

static fmt_status sync_dir(fmt_writer *w, fmt_error *err)
{
	int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "open directory '%s': %s", w->dir, strerror(errno));
	int rc = fsync(dfd);
	int e = errno;
	close(dfd);
	if (rc != 0 && e != EINVAL) /* some filesystems cannot fsync directories */
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "fsync directory '%s': %s", w->dir, strerror(e));
	return FMT_OK;
}

fmt_status fmt_writer_finish(fmt_writer *w, fmt_error *err)
{
	fmt_status st = usable(w, err);
	if (st)
		return st;
	if (w->in_t)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "finish while a tensor is open");
	if (w->n_t == 0)
		return fmt_fail(err, FMT_E_STATE, FMT_NO_OFFSET, "finish without any tensor");
	if (!fmt_writer_kv(w, FMT_SEC_META))
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	fmt_st32(w->table.p, w->n_t);

	out_section sec[FMT_MAX_SECTIONS];
	size_t ns = 0;
	for (uint32_t k = 1; k < N_KV_KINDS; k++) {
		if (!w->kv[k])
			continue;
		size_t len;
		const uint8_t *p = fmt_kvbuild_bytes(w->kv[k], &len);
		sec[ns++] = (out_section){k, p, len, 0, 0};
	}
	sec[ns++] = (out_section){FMT_SEC_TENSORS, w->table.p, w->table.n, 0, 0};
	if (w->n_files)
		sec[ns++] = (out_section){FMT_SEC_FILES, w->files.p, w->files.n, 0, 0};
	for (size_t i = 0; i < w->n_raw; i++)
		sec[ns++] = (out_section){w->raw[i].kind, w->raw[i].p, w->raw[i].n, 0, 0};
	qsort(sec, ns, sizeof sec[0], out_section_cmp);

	for (size_t i = 0; i < ns; i++) {
		if (sec[i].n > FMT_MAX_SECTION_BYTES)
			return fmt_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "section %s: %zu bytes exceed 1 GiB",
					fmt_section_name(sec[i].kind), sec[i].n);
		st = pad_to(w, 8, err);
		if (!st) {
			sec[i].off = w->pos;
			sec[i].cs = XXH3_64bits(sec[i].p, sec[i].n);
			st = emit(w, sec[i].p, sec[i].n, false, err);
		}
		if (st)
			return st;
	}
	st = pad_to(w, 8, err);
	if (st)
		return st;
	uint64_t table_off = w->pos;
	uint8_t tab[FMT_MAX_SECTIONS * 32];
	memset(tab, 0, sizeof tab);
	for (size_t i = 0; i < ns; i++) {
		uint8_t *e = tab + 32 * i;
		fmt_st32(e, sec[i].kind);
		fmt_st64(e + 8, sec[i].off);
		fmt_st64(e + 16, sec[i].n);
		fmt_st64(e + 24, sec[i].cs);
	}
	st = emit(w, tab, 32 * ns, false, err);
	if (!st)
		st = flush(w, err);
	if (st)
		return st;

	uint8_t h[FMT_HEADER_BYTES];
	memset(h, 0, sizeof h);
	static const uint8_t magic[8] = {0x42, 0x41, 0x4C, 0x45, 0x0D, 0x0A, 0x1A, 0x0A};
	memcpy(h, magic, 8);
	fmt_st16(h + 8, FMT_VERSION_MAJOR);
	fmt_st16(h + 10, FMT_VERSION_MINOR);
	fmt_st32(h + 12, 0x0A0B0C0Du);
	fmt_st32(h + 16, FMT_HEADER_BYTES);
	fmt_st32(h + 20, w->align);
	fmt_st64(h + 24, w->pos);
	fmt_st64(h + 32, table_off);
	fmt_st32(h + 40, (uint32_t)ns);
	XXH3_64bits_reset(w->xs);
	XXH3_64bits_update(w->xs, h, sizeof h);
	XXH3_64bits_update(w->xs, tab, 32 * ns);
	fmt_st64(h + 48, XXH3_64bits_digest(w->xs));
	size_t done = 0;
	while (done < sizeof h) {
		ssize_t k = pwrite(w->fd, h + done, sizeof h - done, (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return io_fail(w, err, "write header of", k < 0 ? errno : EIO);
		done += (size_t)k;
	}
	if (fsync(w->fd) != 0)
		return io_fail(w, err, "fsync", errno);
	int fd = w->fd;
	w->fd = -1;
	if (close(fd) != 0)
		return io_fail(w, err, "close", errno);
	struct stat sb;
	if (!w->overwrite && lstat(w->path, &sb) == 0) {
		w->failed = true;
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s: already exists (overwrite not allowed)", w->path);
	}
	if (rename(w->tmp, w->path) != 0) {
		int e = errno;
		w->failed = true;
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "rename '%s' to '%s': %s", w->tmp, w->path, strerror(e));
	}
	w->finished = true;
	return sync_dir(w, err);
}
