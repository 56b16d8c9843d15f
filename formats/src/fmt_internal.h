/* Internal helpers shared by the fmt_ sources: little-endian codecs, error filling, name rules,
 * a small string set, a growable byte buffer and the reader's private structures. */
#ifndef BALE_FMT_INTERNAL_H
#define BALE_FMT_INTERNAL_H

#include "bale/fmt.h"

#include <string.h>

#if defined(__GNUC__)
#define FMT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FMT_PRINTF(a, b)
#endif

#define FMT_NO_OFFSET UINT64_MAX

/* ---- little-endian loads/stores through memcpy (no alignment or aliasing assumptions) ---- */

static inline uint16_t fmt_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t fmt_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t fmt_ld64(const uint8_t *p)
{
	return (uint64_t)fmt_ld32(p) | ((uint64_t)fmt_ld32(p + 4) << 32);
}
static inline float fmt_ldf32(const uint8_t *p)
{
	uint32_t u = fmt_ld32(p);
	float f;
	memcpy(&f, &u, 4);
	return f;
}
static inline double fmt_ldf64(const uint8_t *p)
{
	uint64_t u = fmt_ld64(p);
	double d;
	memcpy(&d, &u, 8);
	return d;
}
static inline void fmt_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void fmt_st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void fmt_st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t fmt_align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1); /* callers guarantee no overflow and a power of two */
}

/* Fills err (when non-NULL) and returns st. */
fmt_status fmt_fail(fmt_error *err, fmt_status st, uint64_t offset, const char *fmt, ...) FMT_PRINTF(4, 5);
/* Prefixes an already filled message (e.g. with the file path). */
void fmt_err_prefix(fmt_error *err, const char *prefix);

/* ---- text rules ---- */
bool fmt_utf8_valid(const uint8_t *s, size_t n); /* strict UTF-8; NUL rejected */
bool fmt_key_valid(const uint8_t *s, size_t n);  /* 1..255 of [A-Za-z0-9_.-] */
/* 0 when valid, else a short reason. */
const char *fmt_tensor_name_problem(const uint8_t *s, size_t n);
const char *fmt_file_name_problem(const uint8_t *s, size_t n);

/* ---- growable byte buffer ---- */
typedef struct {
	uint8_t *p;
	size_t n, cap;
	bool oom;
} fmt_buf;
bool fmt_buf_reserve(fmt_buf *b, size_t extra);
void fmt_buf_put(fmt_buf *b, const void *p, size_t n); /* sets oom on failure */
void fmt_buf_u8(fmt_buf *b, uint8_t v);
void fmt_buf_u32(fmt_buf *b, uint32_t v);
void fmt_buf_u64(fmt_buf *b, uint64_t v);
void fmt_buf_str(fmt_buf *b, const void *s, uint32_t len);
void fmt_buf_free(fmt_buf *b);

/* ---- string set (owned copies, open addressing) ---- */
typedef struct {
	char **keys;
	size_t *lens;
	size_t n, cap;
} fmt_strset;
bool fmt_strset_has(const fmt_strset *s, const char *k, size_t len);
/* 1 added, 0 already present, -1 out of memory */
int fmt_strset_add(fmt_strset *s, const char *k, size_t len);
void fmt_strset_free(fmt_strset *s);

/* ---- KV lists ---- */
typedef struct {
	const char *s;
	uint32_t len;
	uint32_t idx;
} fmt_nameref;
int fmt_nameref_cmp(const void *a, const void *b);
/* Binary search in a sorted nameref array; -1 when absent. */
long fmt_nameref_find(const fmt_nameref *v, size_t n, const char *s, size_t len);

struct fmt_kvlist {
	fmt_kv *kv;
	size_t n;
	fmt_nameref *sorted;
	char *keys;
};
/* Decodes and validates a KV section. `base_off` is the section's file offset (for messages). */
fmt_status fmt_kvlist_decode(const uint8_t *p, uint64_t n, uint64_t base_off, const char *what,
			     fmt_kvlist *out, fmt_error *err);
void fmt_kvlist_clear(fmt_kvlist *l);

/* Size of one scalar payload of a KV type (0 for STR/ARRAY/unknown). */
size_t fmt_vtype_scalar_size(uint32_t t);

#endif
