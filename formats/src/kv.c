/* KV lists (SPEC §5): validating decoder, typed getters, and the builder that encodes them. */
#include "fmt_internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------------------------
 * Decoder */

static fmt_status check_str_value(const uint8_t *s, uint32_t len, uint64_t off, const char *what,
				  const char *key, fmt_error *err)
{
	if (!fmt_utf8_valid(s, len))
		return fmt_fail(err, FMT_E_METADATA, off, "%s key '%s': string value at offset %llu is not valid UTF-8 "
				"(or contains NUL)", what, key, (unsigned long long)off);
	return FMT_OK;
}

/* Validates one scalar/str payload at p[pos..n) and returns its size in *sz. */
static fmt_status decode_payload(const uint8_t *p, uint64_t n, uint64_t pos, uint64_t base_off, uint32_t type,
				 const char *what, const char *key, uint64_t *sz, fmt_error *err)
{
	uint64_t left = n - pos, off = base_off + pos;
	if (type == FMT_V_STR) {
		if (left < 4)
			return fmt_fail(err, FMT_E_BOUNDS, off, "%s key '%s': string length at offset %llu past the end of "
					"the section", what, key, (unsigned long long)off);
		uint32_t len = fmt_ld32(p + pos);
		if (len > left - 4)
			return fmt_fail(err, FMT_E_BOUNDS, off, "%s key '%s': string length %u at offset %llu exceeds "
					"the %llu bytes left", what, key, len, (unsigned long long)off,
					(unsigned long long)(left - 4));
		fmt_status st = check_str_value(p + pos + 4, len, off + 4, what, key, err);
		if (st)
			return st;
		*sz = 4 + (uint64_t)len;
		return FMT_OK;
	}
	size_t s = fmt_vtype_scalar_size(type);
	if (left < s)
		return fmt_fail(err, FMT_E_BOUNDS, off, "%s key '%s': %s value at offset %llu past the end of the section",
				what, key, fmt_vtype_name(type), (unsigned long long)off);
	if (type == FMT_V_BOOL && p[pos] > 1)
		return fmt_fail(err, FMT_E_METADATA, off, "%s key '%s': BOOL value %u at offset %llu is not 0 or 1", what,
				key, p[pos], (unsigned long long)off);
	*sz = s;
	return FMT_OK;
}

fmt_status fmt_kvlist_decode(const uint8_t *p, uint64_t n, uint64_t base_off, const char *what, fmt_kvlist *out,
			     fmt_error *err)
{
	memset(out, 0, sizeof *out);
	if (n < 4)
		return fmt_fail(err, FMT_E_CORRUPT, base_off, "%s section: %llu bytes, too small for n_entries at offset %llu",
				what, (unsigned long long)n, (unsigned long long)base_off);
	uint32_t cnt = fmt_ld32(p);
	if (cnt > FMT_MAX_KV || cnt > n / 7)
		return fmt_fail(err, FMT_E_LIMIT, base_off, "%s section: n_entries %u at offset %llu exceeds the limit "
				"(65536 and section bytes / 7 = %llu)", what, cnt, (unsigned long long)base_off,
				(unsigned long long)(n / 7));
	fmt_status st = FMT_E_NOMEM;
	out->kv = calloc(cnt ? cnt : 1, sizeof *out->kv);
	out->sorted = calloc(cnt ? cnt : 1, sizeof *out->sorted);
	out->keys = malloc(n); /* every key copy (len + NUL) fits: each key has a 4-byte length prefix */
	if (!out->kv || !out->sorted || !out->keys) {
		fmt_fail(err, FMT_E_NOMEM, base_off, "%s section: out of memory", what);
		goto fail;
	}
	uint64_t pos = 4, kpos = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		fmt_kv *kv = &out->kv[i];
		uint64_t eoff = base_off + pos;
		kv->offset = eoff;
		if (n - pos < 4) {
			st = fmt_fail(err, FMT_E_BOUNDS, eoff, "%s entry #%u: key length at offset %llu past the end of the "
				      "section", what, i, (unsigned long long)eoff);
			goto fail;
		}
		uint32_t klen = fmt_ld32(p + pos);
		if (klen > n - pos - 4) {
			st = fmt_fail(err, FMT_E_BOUNDS, eoff, "%s entry #%u: key length %u at offset %llu exceeds the %llu "
				      "bytes left", what, i, klen, (unsigned long long)eoff,
				      (unsigned long long)(n - pos - 4));
			goto fail;
		}
		if (!fmt_key_valid(p + pos + 4, klen)) {
			st = fmt_fail(err, FMT_E_NAME, eoff, "%s entry #%u at offset %llu: key must be 1..255 bytes of "
				      "[A-Za-z0-9_.-] (length %u)", what, i, (unsigned long long)eoff, klen);
			goto fail;
		}
		char *key = out->keys + kpos;
		memcpy(key, p + pos + 4, klen);
		key[klen] = 0;
		kpos += klen + 1;
		kv->key = key;
		out->sorted[i] = (fmt_nameref){key, klen, i};
		pos += 4 + (uint64_t)klen;
		if (pos >= n) {
			st = fmt_fail(err, FMT_E_BOUNDS, base_off + pos, "%s key '%s': type byte at offset %llu past the end "
				      "of the section", what, key, (unsigned long long)(base_off + pos));
			goto fail;
		}
		uint32_t type = p[pos];
		if (type < FMT_V_U32 || type > FMT_V_ARRAY) {
			st = fmt_fail(err, FMT_E_METADATA, base_off + pos, "%s key '%s': unknown type %u at offset %llu",
				      what, key, type, (unsigned long long)(base_off + pos));
			goto fail;
		}
		kv->type = (fmt_vtype)type;
		pos++;
		uint64_t sz = 0;
		if (type == FMT_V_ARRAY) {
			uint64_t aoff = base_off + pos;
			if (n - pos < 5) {
				st = fmt_fail(err, FMT_E_BOUNDS, aoff, "%s key '%s': array header at offset %llu past the end "
					      "of the section", what, key, (unsigned long long)aoff);
				goto fail;
			}
			uint32_t et = p[pos];
			uint32_t count = fmt_ld32(p + pos + 1);
			if (et < FMT_V_U32 || et > FMT_V_STR) {
				st = fmt_fail(err, FMT_E_METADATA, aoff, "%s key '%s': bad array element type %u at offset %llu",
					      what, key, et, (unsigned long long)aoff);
				goto fail;
			}
			pos += 5;
			uint64_t left = n - pos;
			uint64_t minsz = et == FMT_V_STR ? 4 : fmt_vtype_scalar_size(et);
			if ((uint64_t)count > left / minsz) {
				st = fmt_fail(err, FMT_E_LIMIT, aoff, "%s key '%s': array count %u at offset %llu exceeds the "
					      "%llu bytes left", what, key, count, (unsigned long long)aoff,
					      (unsigned long long)left);
				goto fail;
			}
			kv->elem_type = (fmt_vtype)et;
			kv->count = count;
			kv->raw = p + pos;
			uint64_t start = pos;
			if (et == FMT_V_STR || et == FMT_V_BOOL) {
				for (uint32_t k = 0; k < count; k++) {
					uint64_t esz;
					st = decode_payload(p, n, pos, base_off, et, what, key, &esz, err);
					if (st)
						goto fail;
					pos += esz;
				}
			} else {
				pos += (uint64_t)count * minsz;
			}
			kv->raw_bytes = pos - start;
			continue;
		}
		st = decode_payload(p, n, pos, base_off, type, what, key, &sz, err);
		if (st)
			goto fail;
		const uint8_t *v = p + pos;
		switch (type) {
		case FMT_V_U32: kv->v.u = fmt_ld32(v); break;
		case FMT_V_I32: kv->v.i = (int32_t)fmt_ld32(v); break;
		case FMT_V_U64: kv->v.u = fmt_ld64(v); break;
		case FMT_V_I64: kv->v.i = (int64_t)fmt_ld64(v); break;
		case FMT_V_F32: kv->v.f = fmt_ldf32(v); break;
		case FMT_V_F64: kv->v.f = fmt_ldf64(v); break;
		case FMT_V_BOOL: kv->v.u = v[0]; break;
		case FMT_V_STR:
			kv->str = (const char *)v + 4;
			kv->str_len = sz - 4;
			break;
		}
		pos += sz;
	}
	if (pos != n) {
		st = fmt_fail(err, FMT_E_CORRUPT, base_off + pos, "%s section: %llu trailing bytes after the last entry at "
			      "offset %llu", what, (unsigned long long)(n - pos), (unsigned long long)(base_off + pos));
		goto fail;
	}
	out->n = cnt;
	qsort(out->sorted, cnt, sizeof *out->sorted, fmt_nameref_cmp);
	for (uint32_t i = 1; i < cnt; i++) {
		const fmt_nameref *a = &out->sorted[i - 1], *b = &out->sorted[i];
		if (a->len == b->len && memcmp(a->s, b->s, a->len) == 0) {
			uint32_t j = a->idx > b->idx ? a->idx : b->idx;
			st = fmt_fail(err, FMT_E_DUPLICATE, out->kv[j].offset, "%s key '%s' (entry #%u at offset %llu) "
				      "appears twice", what, b->s, j, (unsigned long long)out->kv[j].offset);
			goto fail;
		}
	}
	return FMT_OK;
fail:
	fmt_kvlist_clear(out);
	return st;
}

void fmt_kvlist_clear(fmt_kvlist *l)
{
	free(l->kv);
	free(l->sorted);
	free(l->keys);
	memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------------------------------------
 * Lookup and typed getters */

size_t fmt_kv_count(const fmt_kvlist *l)
{
	return l ? l->n : 0;
}

const fmt_kv *fmt_kv_at(const fmt_kvlist *l, size_t i)
{
	assert(l && i < l->n);
	return &l->kv[i];
}

const fmt_kv *fmt_kv_find(const fmt_kvlist *l, const char *key)
{
	if (!l || !key)
		return NULL;
	long i = fmt_nameref_find(l->sorted, l->n, key, strlen(key));
	return i < 0 ? NULL : &l->kv[i];
}

static fmt_status need(const fmt_kvlist *l, const char *key, const fmt_kv **kv, fmt_error *err)
{
	*kv = fmt_kv_find(l, key);
	if (!*kv)
		return fmt_fail(err, FMT_E_NOTFOUND, FMT_NO_OFFSET, "metadata key '%s' not found", key);
	return FMT_OK;
}

static fmt_status type_err(const fmt_kv *kv, const char *want, fmt_error *err)
{
	return fmt_fail(err, FMT_E_TYPE, kv->offset, "metadata key '%s' (offset %llu): has type %s, want %s", kv->key,
			(unsigned long long)kv->offset, fmt_vtype_name(kv->type), want);
}

/* Integer value as a sign flag + magnitude so every range check is exact. */
static bool kv_int(const fmt_kv *kv, bool *neg, uint64_t *mag)
{
	switch (kv->type) {
	case FMT_V_U32: case FMT_V_U64:
		*neg = false, *mag = kv->v.u;
		return true;
	case FMT_V_I32: case FMT_V_I64:
		*neg = kv->v.i < 0;
		*mag = *neg ? (uint64_t)0 - (uint64_t)kv->v.i : (uint64_t)kv->v.i;
		return true;
	default:
		return false;
	}
}

fmt_status fmt_kv_u64(const fmt_kvlist *l, const char *key, uint64_t *out, fmt_error *err)
{
	const fmt_kv *kv;
	fmt_status st = need(l, key, &kv, err);
	if (st)
		return st;
	bool neg;
	uint64_t m;
	if (!kv_int(kv, &neg, &m) || neg)
		return type_err(kv, "a non-negative integer", err);
	*out = m;
	return FMT_OK;
}

fmt_status fmt_kv_u32(const fmt_kvlist *l, const char *key, uint32_t *out, fmt_error *err)
{
	const fmt_kv *kv;
	fmt_status st = need(l, key, &kv, err);
	if (st)
		return st;
	bool neg;
	uint64_t m;
	if (!kv_int(kv, &neg, &m) || neg || m > UINT32_MAX)
		return type_err(kv, "an integer in 0..2^32-1", err);
	*out = (uint32_t)m;
	return FMT_OK;
}

fmt_status fmt_kv_i32(const fmt_kvlist *l, const char *key, int32_t *out, fmt_error *err)
{
	const fmt_kv *kv;
	fmt_status st = need(l, key, &kv, err);
	if (st)
		return st;
	bool neg;
	uint64_t m;
	if (!kv_int(kv, &neg, &m) || (neg ? m > (uint64_t)INT32_MAX + 1 : m > INT32_MAX))
		return type_err(kv, "an integer in -2^31..2^31-1", err);
	*out = neg ? (int32_t)(-(int64_t)m) : (int32_t)m;
	return FMT_OK;
}

fmt_status fmt_kv_f64(const fmt_kvlist *l, const char *key, double *out, fmt_error *err)
{
	const fmt_kv *kv;
	fmt_status st = need(l, key, &kv, err);
	if (st)
		return st;
	if (kv->type != FMT_V_F32 && kv->type != FMT_V_F64)
		return type_err(kv, "F32 or F64", err);
	*out = kv->v.f;
	return FMT_OK;
}

fmt_status fmt_kv_bool(const fmt_kvlist *l, const char *key, bool *out, fmt_error *err)
{
	const fmt_kv *kv;
	fmt_status st = need(l, key, &kv, err);
	if (st)
		return st;
	if (kv->type != FMT_V_BOOL)
		return type_err(kv, "BOOL", err);
	*out = kv->v.u != 0;
	return FMT_OK;
}

fmt_status fmt_kv_str(const fmt_kvlist *l, const char *key, const char **s, size_t *len, fmt_error *err)
{
	const fmt_kv *kv;
	fmt_status st = need(l, key, &kv, err);
	if (st)
		return st;
	if (kv->type != FMT_V_STR)
		return type_err(kv, "STR", err);
	*s = kv->str;
	*len = kv->str_len;
	return FMT_OK;
}

uint64_t fmt_kv_array_u64(const fmt_kv *kv, uint64_t i)
{
	assert(kv->type == FMT_V_ARRAY && i < kv->count);
	const uint8_t *p = kv->raw;
	switch (kv->elem_type) {
	case FMT_V_U32: return fmt_ld32(p + 4 * i);
	case FMT_V_I32: return (uint64_t)(int64_t)(int32_t)fmt_ld32(p + 4 * i);
	case FMT_V_U64: case FMT_V_I64: return fmt_ld64(p + 8 * i);
	case FMT_V_BOOL: return p[i];
	default: assert(!"array read as an integer"); return 0;
	}
}

int64_t fmt_kv_array_i64(const fmt_kv *kv, uint64_t i)
{
	assert(kv->type == FMT_V_ARRAY && i < kv->count);
	const uint8_t *p = kv->raw;
	switch (kv->elem_type) {
	case FMT_V_U32: return (int64_t)fmt_ld32(p + 4 * i);
	case FMT_V_I32: return (int32_t)fmt_ld32(p + 4 * i);
	case FMT_V_U64: case FMT_V_I64: return (int64_t)fmt_ld64(p + 8 * i);
	case FMT_V_BOOL: return p[i];
	default: assert(!"array read as an integer"); return 0;
	}
}

double fmt_kv_array_f64(const fmt_kv *kv, uint64_t i)
{
	assert(kv->type == FMT_V_ARRAY && i < kv->count);
	const uint8_t *p = kv->raw;
	switch (kv->elem_type) {
	case FMT_V_F32: return fmt_ldf32(p + 4 * i);
	case FMT_V_F64: return fmt_ldf64(p + 8 * i);
	case FMT_V_U32: return fmt_ld32(p + 4 * i);
	case FMT_V_I32: return (int32_t)fmt_ld32(p + 4 * i);
	case FMT_V_U64: return (double)fmt_ld64(p + 8 * i);
	case FMT_V_I64: return (double)(int64_t)fmt_ld64(p + 8 * i);
	case FMT_V_BOOL: return p[i];
	default: assert(!"array of strings read as a float"); return 0;
	}
}

void fmt_kv_array_str(const fmt_kv *kv, uint64_t i, const char **s, size_t *len)
{
	assert(kv->type == FMT_V_ARRAY && kv->elem_type == FMT_V_STR && i < kv->count);
	const uint8_t *p = kv->raw;
	for (uint64_t k = 0; k < i; k++)
		p += 4 + (uint64_t)fmt_ld32(p);
	*len = fmt_ld32(p);
	*s = (const char *)p + 4;
}

/* ---------------------------------------------------------------------------------------------
 * Builder */

struct fmt_kvbuild {
	fmt_buf buf; /* starts with the u32 entry count, patched on every add */
	fmt_strset keys;
	uint32_t n;
};

fmt_kvbuild *fmt_kvbuild_create(void)
{
	fmt_kvbuild *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	fmt_buf_u32(&b->buf, 0);
	if (b->buf.oom) {
		free(b);
		return NULL;
	}
	return b;
}

void fmt_kvbuild_free(fmt_kvbuild *b)
{
	if (!b)
		return;
	fmt_buf_free(&b->buf);
	fmt_strset_free(&b->keys);
	free(b);
}

static fmt_status kb_key(fmt_kvbuild *b, const char *key, uint8_t type)
{
	assert(b && key);
	size_t len = strlen(key);
	if (!fmt_key_valid((const uint8_t *)key, len))
		return FMT_E_NAME;
	if (fmt_strset_has(&b->keys, key, len))
		return FMT_E_DUPLICATE;
	if (b->n >= FMT_MAX_KV)
		return FMT_E_LIMIT;
	/* reserve first so a failed add leaves the buffer as it was */
	if (!fmt_buf_reserve(&b->buf, 4 + len + 1))
		return FMT_E_NOMEM;
	if (fmt_strset_add(&b->keys, key, len) < 0)
		return FMT_E_NOMEM;
	fmt_buf_str(&b->buf, key, (uint32_t)len);
	fmt_buf_u8(&b->buf, type);
	return FMT_OK;
}

static fmt_status kb_done(fmt_kvbuild *b)
{
	if (b->buf.oom)
		return FMT_E_NOMEM;
	b->n++;
	fmt_st32(b->buf.p, b->n);
	return FMT_OK;
}

static fmt_status kb_scalar(fmt_kvbuild *b, const char *key, uint8_t type, const void *v, size_t n)
{
	fmt_status st = kb_key(b, key, type);
	if (st)
		return st;
	fmt_buf_put(&b->buf, v, n);
	return kb_done(b);
}

fmt_status fmt_kvbuild_u32(fmt_kvbuild *b, const char *key, uint32_t v)
{
	uint8_t t[4];
	fmt_st32(t, v);
	return kb_scalar(b, key, FMT_V_U32, t, 4);
}

fmt_status fmt_kvbuild_i32(fmt_kvbuild *b, const char *key, int32_t v)
{
	uint8_t t[4];
	fmt_st32(t, (uint32_t)v);
	return kb_scalar(b, key, FMT_V_I32, t, 4);
}

fmt_status fmt_kvbuild_u64(fmt_kvbuild *b, const char *key, uint64_t v)
{
	uint8_t t[8];
	fmt_st64(t, v);
	return kb_scalar(b, key, FMT_V_U64, t, 8);
}

fmt_status fmt_kvbuild_i64(fmt_kvbuild *b, const char *key, int64_t v)
{
	uint8_t t[8];
	fmt_st64(t, (uint64_t)v);
	return kb_scalar(b, key, FMT_V_I64, t, 8);
}

fmt_status fmt_kvbuild_f32(fmt_kvbuild *b, const char *key, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	uint8_t t[4];
	fmt_st32(t, u);
	return kb_scalar(b, key, FMT_V_F32, t, 4);
}

fmt_status fmt_kvbuild_f64(fmt_kvbuild *b, const char *key, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	uint8_t t[8];
	fmt_st64(t, u);
	return kb_scalar(b, key, FMT_V_F64, t, 8);
}

fmt_status fmt_kvbuild_bool(fmt_kvbuild *b, const char *key, bool v)
{
	uint8_t t = v ? 1 : 0;
	return kb_scalar(b, key, FMT_V_BOOL, &t, 1);
}

fmt_status fmt_kvbuild_str(fmt_kvbuild *b, const char *key, const char *s, size_t len)
{
	if (len > UINT32_MAX || (len && !s) || !fmt_utf8_valid((const uint8_t *)s, len))
		return FMT_E_METADATA;
	fmt_status st = kb_key(b, key, FMT_V_STR);
	if (st)
		return st;
	fmt_buf_str(&b->buf, s, (uint32_t)len);
	return kb_done(b);
}

fmt_status fmt_kvbuild_array(fmt_kvbuild *b, const char *key, fmt_vtype elem, const void *elems, uint64_t count)
{
	if (elem < FMT_V_U32 || elem > FMT_V_STR || count > UINT32_MAX || (count && !elems))
		return FMT_E_METADATA;
	if (elem == FMT_V_STR) {
		const char *const *sv = elems;
		for (uint64_t i = 0; i < count; i++) {
			if (!sv[i] || strlen(sv[i]) > UINT32_MAX ||
			    !fmt_utf8_valid((const uint8_t *)sv[i], strlen(sv[i])))
				return FMT_E_METADATA;
		}
	}
	if (elem == FMT_V_BOOL) {
		const uint8_t *bv = elems;
		for (uint64_t i = 0; i < count; i++)
			if (bv[i] > 1)
				return FMT_E_METADATA;
	}
	fmt_status st = kb_key(b, key, FMT_V_ARRAY);
	if (st)
		return st;
	fmt_buf_u8(&b->buf, (uint8_t)elem);
	fmt_buf_u32(&b->buf, (uint32_t)count);
	for (uint64_t i = 0; i < count; i++) {
		uint8_t t[8];
		switch (elem) {
		case FMT_V_U32: case FMT_V_I32: case FMT_V_F32: {
			uint32_t u;
			memcpy(&u, (const uint8_t *)elems + 4 * i, 4);
			fmt_st32(t, u);
			fmt_buf_put(&b->buf, t, 4);
			break;
		}
		case FMT_V_U64: case FMT_V_I64: case FMT_V_F64: {
			uint64_t u;
			memcpy(&u, (const uint8_t *)elems + 8 * i, 8);
			fmt_st64(t, u);
			fmt_buf_put(&b->buf, t, 8);
			break;
		}
		case FMT_V_BOOL:
			fmt_buf_u8(&b->buf, ((const uint8_t *)elems)[i]);
			break;
		default: {
			const char *s = ((const char *const *)elems)[i];
			fmt_buf_str(&b->buf, s, (uint32_t)strlen(s));
			break;
		}
		}
	}
	return kb_done(b);
}

const uint8_t *fmt_kvbuild_bytes(const fmt_kvbuild *b, size_t *len)
{
	*len = b->buf.n;
	return b->buf.p;
}
