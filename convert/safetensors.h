/* cv_st — a strict, read-only safetensors reader (single file) and a sharded-checkpoint index.
 *
 * A file is 8 bytes of little-endian header length N, N bytes of a UTF-8 JSON object, then the
 * data section. Accepted only when: N ≤ 100 MB and ≤ file size − 8; the JSON is one object with no
 * trailing bytes other than spaces, no duplicate keys; `__metadata__` maps strings to strings;
 * every tensor has a known dtype, a shape of non-negative integers and data_offsets whose length
 * equals numel × dtype size (overflow-checked); and the tensors tile the data section exactly (no
 * overlap, no hole, nothing after the last one). Data is mapped read-only, never copied.
 *
 * Errors are a status plus a message naming the file and the problem; nothing is printed. */
#ifndef BALE_CV_SAFETENSORS_H
#define BALE_CV_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_ST_MAX_HEADER 100000000u /* same cap as the reference implementation */
#define CV_ST_MAX_DIMS 8
#define CV_ST_MAX_NAME 1024
#define CV_ST_MAX_SHARDS 4096

typedef struct {
	char msg[1024];
} cv_err;

/* Reads a regular file of at most `max` bytes into a malloc'ed, NUL-terminated buffer. */
int cv_read_file(const char *path, uint64_t max, char **out, size_t *len, cv_err *err);

/* Formats into e->msg (when e is non-NULL) and returns -1, so callers can `return cv_fail(...)`. */
int cv_fail(cv_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct {
	const char *name;       /* NUL-terminated, owned by the file */
	const char *dtype;      /* safetensors spelling, e.g. "BF16" */
	int src;                /* cv_src_dtype (quant.h) when BF16/F16/F32, else -1 */
	uint32_t elem_bits;     /* bits per element (4 for F4) */
	uint32_t n_dims;
	uint64_t dims[CV_ST_MAX_DIMS];
	uint64_t n_elems;
	uint64_t begin, end;    /* relative to the data section */
	const uint8_t *data;    /* end − begin bytes inside the mapping */
} cv_st_tensor;

typedef struct cv_st_file cv_st_file;

/* Maps and validates `path`. `label` (may be NULL = path) names the file in messages. */
int cv_st_open(const char *path, cv_st_file **out, cv_err *err);
/* The same checks over caller memory (borrowed), for tests and fuzzing. */
int cv_st_open_mem(const void *data, size_t n, const char *label, cv_st_file **out, cv_err *err);
void cv_st_close(cv_st_file *f); /* accepts NULL */

const char *cv_st_path(const cv_st_file *f);
size_t cv_st_n_tensors(const cv_st_file *f);
const cv_st_tensor *cv_st_tensor_at(const cv_st_file *f, size_t i); /* sorted by data offset */
const cv_st_tensor *cv_st_find(const cv_st_file *f, const char *name);
const uint8_t *cv_st_base(const cv_st_file *f);  /* start of the mapping (file offset 0) */
uint64_t cv_st_file_bytes(const cv_st_file *f);
uint64_t cv_st_data_offset(const cv_st_file *f); /* 8 + N */
bool cv_st_is_mapped(const cv_st_file *f);      /* false for cv_st_open_mem */
int cv_st_fd(const cv_st_file *f);              /* -1 for memory files */
/* `__metadata__` value for key, or NULL. */
const char *cv_st_metadata(const cv_st_file *f, const char *key);

/* ---------------------------------------------------------------------------------------------
 * A checkpoint: model.safetensors, or model.safetensors.index.json plus its shards. */

typedef struct cv_st_model cv_st_model;

typedef struct {
	const cv_st_tensor *t;
	uint32_t shard; /* index into cv_st_model_shard */
} cv_st_ref;

/* Opens `dir`/model.safetensors.index.json when present, else `dir`/model.safetensors.
 * Shard names must be plain basenames of regular files inside `dir` (no '/', "..", NUL, no
 * symlink leaving the directory); the index must list every tensor of every shard exactly once
 * and each mapped tensor must exist in its shard. */
int cv_st_model_open(const char *dir, cv_st_model **out, cv_err *err);
void cv_st_model_close(cv_st_model *m);

size_t cv_st_model_n_shards(const cv_st_model *m);
cv_st_file *cv_st_model_shard(const cv_st_model *m, size_t i);
const char *cv_st_model_shard_name(const cv_st_model *m, size_t i); /* basename */
size_t cv_st_model_n_tensors(const cv_st_model *m);
const cv_st_ref *cv_st_model_tensor_at(const cv_st_model *m, size_t i); /* sorted by name */
const cv_st_ref *cv_st_model_find(const cv_st_model *m, const char *name);
/* The index file's basename and bytes when the model is sharded (else NULL / 0). */
const char *cv_st_model_index_name(const cv_st_model *m);

#endif
