/* Strict safetensors reader; see safetensors.h for the rules enforced. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant.h"

struct cv_st_file {
	char *path;
	int fd;
	const uint8_t *base;
	uint64_t size;
	bool mapped;
	uint64_t data_off;
	size_t n;
	cv_st_tensor *t;       /* sorted by (begin, end, name) */
	cv_st_tensor **by_name;
	size_t n_meta;
	char **meta;           /* key, value pairs */
};

int cv_fail(cv_err *e, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const struct {
	const char *name;
	uint32_t bits;
	int src;
} dtypes[] = {
	{"BOOL", 8, -1}, {"F4", 4, -1}, {"F6_E2M3", 6, -1}, {"F6_E3M2", 6, -1}, {"U8", 8, -1},
	{"I8", 8, -1}, {"F8_E5M2", 8, -1}, {"F8_E4M3", 8, -1}, {"F8_E8M0", 8, -1},
	{"F8_E4M3FNUZ", 8, -1}, {"F8_E5M2FNUZ", 8, -1}, {"I16", 16, -1}, {"U16", 16, -1},
	{"F16", 16, CV_SRC_F16}, {"BF16", 16, CV_SRC_BF16}, {"I32", 32, -1}, {"U32", 32, -1},
	{"F32", 32, CV_SRC_F32}, {"C64", 64, -1}, {"F64", 64, -1}, {"I64", 64, -1}, {"U64", 64, -1},
};

static int cmp_offset(const void *a, const void *b)
{
	const cv_st_tensor *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b)
{
	const cv_st_tensor *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* A JSON integer ≥ 0 (jansson already rejects integers beyond int64). */
static bool json_u64(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static int parse_tensor(cv_st_file *f, const char *key, json_t *v, cv_st_tensor *t, cv_err *err)
{
	const char *lab = f->path;
	if (strlen(key) == 0 || strlen(key) >= CV_ST_MAX_NAME)
		return cv_fail(err, "%s: tensor name of length %zu (must be 1..%d bytes)", lab, strlen(key), CV_ST_MAX_NAME - 1);
	if (!json_is_object(v))
		return cv_fail(err, "%s: tensor '%s': entry is not an object", lab, key);
	json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"), *off = json_object_get(v, "data_offsets");
	if (!dt || !sh || !off)
		return cv_fail(err, "%s: tensor '%s': missing %s", lab, key, !dt ? "dtype" : !sh ? "shape" : "data_offsets");
	if (json_object_size(v) != 3) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
				return cv_fail(err, "%s: tensor '%s': unknown field '%s'", lab, key, k);
		}
	}
	if (!json_is_string(dt))
		return cv_fail(err, "%s: tensor '%s': dtype is not a string", lab, key);
	const char *ds = json_string_value(dt);
	size_t di;
	for (di = 0; di < sizeof dtypes / sizeof dtypes[0]; di++)
		if (!strcmp(ds, dtypes[di].name))
			break;
	if (di == sizeof dtypes / sizeof dtypes[0])
		return cv_fail(err, "%s: tensor '%s': unknown dtype '%.32s'", lab, key, ds);
	t->dtype = dtypes[di].name;
	t->elem_bits = dtypes[di].bits;
	t->src = dtypes[di].src;
	if (!json_is_array(sh))
		return cv_fail(err, "%s: tensor '%s': shape is not an array", lab, key);
	if (json_array_size(sh) > CV_ST_MAX_DIMS)
		return cv_fail(err, "%s: tensor '%s': %zu dimensions (at most %d)", lab, key, json_array_size(sh), CV_ST_MAX_DIMS);
	t->n_dims = (uint32_t)json_array_size(sh);
	uint64_t n = 1;
	for (uint32_t i = 0; i < t->n_dims; i++) {
		if (!json_u64(json_array_get(sh, i), &t->dims[i]))
			return cv_fail(err, "%s: tensor '%s': shape[%u] is not a non-negative integer", lab, key, i);
		if (__builtin_mul_overflow(n, t->dims[i], &n))
			return cv_fail(err, "%s: tensor '%s': element count overflows 64 bits", lab, key);
	}
	t->n_elems = n;
	uint64_t bits, bytes;
	if (__builtin_mul_overflow(n, (uint64_t)t->elem_bits, &bits))
		return cv_fail(err, "%s: tensor '%s': byte size overflows 64 bits", lab, key);
	if (bits % 8)
		return cv_fail(err, "%s: tensor '%s': %s data does not end on a byte boundary", lab, key, t->dtype);
	bytes = bits / 8;
	if (!json_is_array(off) || json_array_size(off) != 2 || !json_u64(json_array_get(off, 0), &t->begin) ||
	    !json_u64(json_array_get(off, 1), &t->end))
		return cv_fail(err, "%s: tensor '%s': data_offsets must be two non-negative integers", lab, key);
	if (t->end < t->begin)
		return cv_fail(err, "%s: tensor '%s': data_offsets end %llu < begin %llu", lab, key,
			       (unsigned long long)t->end, (unsigned long long)t->begin);
	if (t->end - t->begin != bytes)
		return cv_fail(err, "%s: tensor '%s': data_offsets span %llu bytes but its %s shape needs %llu", lab,
			       key, (unsigned long long)(t->end - t->begin), t->dtype, (unsigned long long)bytes);
	if (t->end > f->size - f->data_off)
		return cv_fail(err, "%s: tensor '%s': data_offsets end %llu is beyond the data section (%llu bytes)", lab,
			       key, (unsigned long long)t->end, (unsigned long long)(f->size - f->data_off));
	t->name = strdup(key);
	if (!t->name)
		return cv_fail(err, "%s: out of memory", lab);
	t->data = f->base + f->data_off + t->begin;
	return 0;
}

static int parse_metadata(cv_st_file *f, json_t *v, cv_err *err)
{
	if (!json_is_object(v))
		return cv_fail(err, "%s: __metadata__ is not an object", f->path);
	f->meta = calloc(2 * json_object_size(v) + 1, sizeof *f->meta);
	if (!f->meta)
		return cv_fail(err, "%s: out of memory", f->path);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) {
		if (!json_is_string(x))
			return cv_fail(err, "%s: __metadata__ value of '%.64s' is not a string", f->path, k);
		f->meta[2 * f->n_meta] = strdup(k);
		f->meta[2 * f->n_meta + 1] = strdup(json_string_value(x));
		f->n_meta++;
		if (!f->meta[2 * f->n_meta - 2] || !f->meta[2 * f->n_meta - 1])
			return cv_fail(err, "%s: out of memory", f->path);
	}
	return 0;
}

static int parse(cv_st_file *f, cv_err *err)
{
	const char *lab = f->path;
	if (f->size < 8)
		return cv_fail(err, "%s: file is %llu bytes, too small for a safetensors header (8 bytes)", lab,
			       (unsigned long long)f->size);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | f->base[i];
	if (hlen > CV_ST_MAX_HEADER)
		return cv_fail(err, "%s: header length %llu exceeds the %u byte limit", lab, (unsigned long long)hlen,
			       CV_ST_MAX_HEADER);
	if (hlen > f->size - 8)
		return cv_fail(err, "%s: header length %llu exceeds the %llu bytes after the length field (truncated file?)",
			       lab, (unsigned long long)hlen, (unsigned long long)(f->size - 8));
	if (hlen < 2)
		return cv_fail(err, "%s: header length %llu is too small for a JSON object", lab, (unsigned long long)hlen);
	f->data_off = 8 + hlen;
	json_error_t je;
	json_t *root = json_loadb((const char *)f->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return cv_fail(err, "%s: header is not valid JSON at byte %d: %s", lab, je.position, je.text);
	int rc = -1;
	if (!json_is_object(root)) {
		cv_fail(err, "%s: header is not a JSON object", lab);
		goto out;
	}
	size_t cap = json_object_size(root);
	f->t = calloc(cap ? cap : 1, sizeof *f->t);
	f->by_name = calloc(cap ? cap : 1, sizeof *f->by_name);
	if (!f->t || !f->by_name) {
		cv_fail(err, "%s: out of memory", lab);
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		if (!strcmp(k, "__metadata__")) {
			if (parse_metadata(f, v, err))
				goto out;
			continue;
		}
		if (parse_tensor(f, k, v, &f->t[f->n], err))
			goto out;
		f->n++;
	}
	qsort(f->t, f->n, sizeof *f->t, cmp_offset);
	uint64_t pos = 0;
	for (size_t i = 0; i < f->n; i++) {
		const cv_st_tensor *t = &f->t[i];
		if (t->begin < pos) {
			cv_fail(err, "%s: tensor '%s' (bytes %llu..%llu of data) overlaps '%s'", lab, t->name,
				(unsigned long long)t->begin, (unsigned long long)t->end, f->t[i - 1].name);
			goto out;
		}
		if (t->begin > pos) {
			cv_fail(err, "%s: hole of %llu unused bytes at data offset %llu before tensor '%s'", lab,
				(unsigned long long)(t->begin - pos), (unsigned long long)pos, t->name);
			goto out;
		}
		pos = t->end;
		f->by_name[i] = &f->t[i];
	}
	if (pos != f->size - f->data_off) {
		cv_fail(err, "%s: tensors cover %llu bytes of data but the data section has %llu (trailing bytes)", lab,
			(unsigned long long)pos, (unsigned long long)(f->size - f->data_off));
		goto out;
	}
	qsort(f->by_name, f->n, sizeof *f->by_name, cmp_name);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static cv_st_file *new_file(const char *label)
{
	cv_st_file *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->fd = -1;
	f->path = strdup(label ? label : "(memory)");
	if (!f->path) {
		free(f);
		return NULL;
	}
	return f;
}

int cv_st_open_mem(const void *data, size_t n, const char *label, cv_st_file **out, cv_err *err)
{
	*out = NULL;
	cv_st_file *f = new_file(label);
	if (!f)
		return cv_fail(err, "%s: out of memory", label ? label : "(memory)");
	f->base = data;
	f->size = n;
	if (parse(f, err)) {
		cv_st_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

int cv_st_open(const char *path, cv_st_file **out, cv_err *err)
{
	*out = NULL;
	cv_st_file *f = new_file(path);
	if (!f)
		return cv_fail(err, "%s: out of memory", path);
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block: refused below */
	struct stat st;
	if (f->fd < 0 || fstat(f->fd, &st) != 0) {
		cv_fail(err, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		cv_fail(err, "%s: not a regular file", path);
		goto fail;
	}
	f->size = (uint64_t)st.st_size;
	if (f->size < 8) {
		cv_fail(err, "%s: file is %llu bytes, too small for a safetensors header (8 bytes)", path,
			(unsigned long long)f->size);
		goto fail;
	}
	if (f->size > SIZE_MAX) {
		cv_fail(err, "%s: file too large to map", path);
		goto fail;
	}
	void *p = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
	if (p == MAP_FAILED) {
		cv_fail(err, "%s: mmap failed: %s", path, strerror(errno));
		goto fail;
	}
	f->base = p;
	f->mapped = true;
	if (parse(f, err))
		goto fail;
	*out = f;
	return 0;
fail:
	cv_st_close(f);
	return -1;
}

void cv_st_close(cv_st_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free((char *)f->t[i].name);
	free(f->t);
	free(f->by_name);
	for (size_t i = 0; i < 2 * f->n_meta; i++)
		free(f->meta[i]);
	free(f->meta);
	if (f->mapped)
		munmap((void *)f->base, (size_t)f->size);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

const char *cv_st_path(const cv_st_file *f) { return f->path; }
size_t cv_st_n_tensors(const cv_st_file *f) { return f->n; }
const cv_st_tensor *cv_st_tensor_at(const cv_st_file *f, size_t i) { return i < f->n ? &f->t[i] : NULL; }
const uint8_t *cv_st_base(const cv_st_file *f) { return f->base; }
uint64_t cv_st_file_bytes(const cv_st_file *f) { return f->size; }
uint64_t cv_st_data_offset(const cv_st_file *f) { return f->data_off; }
bool cv_st_is_mapped(const cv_st_file *f) { return f->mapped; }
int cv_st_fd(const cv_st_file *f) { return f->fd; }

const cv_st_tensor *cv_st_find(const cv_st_file *f, const char *name)
{
	size_t lo = 0, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, f->by_name[mid]->name);
		if (!c)
			return f->by_name[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *cv_st_metadata(const cv_st_file *f, const char *key)
{
	for (size_t i = 0; i < f->n_meta; i++)
		if (!strcmp(f->meta[2 * i], key))
			return f->meta[2 * i + 1];
	return NULL;
}
