/* Type names and the blob layout of SPEC §6.3. */
#include "fmt_internal.h"

const char *fmt_dtype_name(fmt_dtype t)
{
	static const char *n[] = {"F32", "F16", "BF16", "I8", "F8_E4M3"};
	return (unsigned)t < FMT_DTYPE_COUNT ? n[t] : "?";
}

size_t fmt_dtype_size(fmt_dtype t)
{
	static const size_t s[] = {4, 2, 2, 1, 1};
	return (unsigned)t < FMT_DTYPE_COUNT ? s[t] : 0;
}

const char *fmt_scheme_name(fmt_scheme s)
{
	static const char *n[] = {"none", "row", "group"};
	return (unsigned)s < FMT_SCHEME_COUNT ? n[s] : "?";
}

const char *fmt_section_name(uint32_t kind)
{
	static const char *n[] = {"?", "META", "TENSORS", "TOKENIZER", "CHAT_TEMPLATES", "GENERATION",
				  "PROVENANCE", "FILES"};
	return kind >= 1 && kind <= 7 ? n[kind] : "UNKNOWN";
}

const char *fmt_vtype_name(uint32_t t)
{
	static const char *n[] = {"?", "U32", "I32", "U64", "I64", "F32", "F64", "BOOL", "STR", "ARRAY"};
	return t >= 1 && t <= 9 ? n[t] : "?";
}

size_t fmt_vtype_scalar_size(uint32_t t)
{
	switch (t) {
	case FMT_V_U32: case FMT_V_I32: case FMT_V_F32: return 4;
	case FMT_V_U64: case FMT_V_I64: case FMT_V_F64: return 8;
	case FMT_V_BOOL: return 1;
	default: return 0;
	}
}

fmt_status fmt_tensor_layout(fmt_tensor *t, fmt_error *err)
{
	const char *nm = t->name ? t->name : "?";
	if ((unsigned)t->dtype >= FMT_DTYPE_COUNT)
		return fmt_fail(err, FMT_E_DTYPE, FMT_NO_OFFSET, "tensor '%s': unknown dtype %u", nm, (unsigned)t->dtype);
	if ((unsigned)t->scheme >= FMT_SCHEME_COUNT)
		return fmt_fail(err, FMT_E_DTYPE, FMT_NO_OFFSET, "tensor '%s': unknown scheme %u", nm, (unsigned)t->scheme);
	bool quant_dtype = t->dtype == FMT_I8 || t->dtype == FMT_F8_E4M3;
	if (t->scheme == FMT_SCHEME_NONE && quant_dtype)
		return fmt_fail(err, FMT_E_DTYPE, FMT_NO_OFFSET, "tensor '%s': dtype %s needs a quantization scheme",
				nm, fmt_dtype_name(t->dtype));
	if (t->scheme == FMT_SCHEME_ROW && !quant_dtype)
		return fmt_fail(err, FMT_E_DTYPE, FMT_NO_OFFSET, "tensor '%s': scheme row needs I8 or F8_E4M3, not %s",
				nm, fmt_dtype_name(t->dtype));
	if (t->scheme == FMT_SCHEME_GROUP && t->dtype != FMT_I8)
		return fmt_fail(err, FMT_E_DTYPE, FMT_NO_OFFSET, "tensor '%s': scheme group needs I8, not %s", nm,
				fmt_dtype_name(t->dtype));
	if (t->n_dims < 1 || t->n_dims > FMT_MAX_DIMS)
		return fmt_fail(err, FMT_E_SHAPE, FMT_NO_OFFSET, "tensor '%s': n_dims %u not in 1..4", nm, t->n_dims);
	uint64_t n = 1;
	bool ovf = false;
	for (uint32_t i = 0; i < FMT_MAX_DIMS; i++) {
		uint64_t d = t->dims[i];
		if (i >= t->n_dims) {
			if (d != 1)
				return fmt_fail(err, FMT_E_SHAPE, FMT_NO_OFFSET,
						"tensor '%s': unused dims[%u] = %llu, must be 1", nm, i, (unsigned long long)d);
			continue;
		}
		if (d < 1 || d > FMT_MAX_DIM)
			return fmt_fail(err, FMT_E_SHAPE, FMT_NO_OFFSET, "tensor '%s': dims[%u] = %llu not in 1..2^40",
					nm, i, (unsigned long long)d);
		ovf |= __builtin_mul_overflow(n, d, &n);
	}
	if (ovf)
		return fmt_fail(err, FMT_E_OVERFLOW, FMT_NO_OFFSET, "tensor '%s': element count overflows 64 bits", nm);
	uint64_t cols = t->dims[t->n_dims - 1];
	uint64_t groups = 0;
	if (t->scheme == FMT_SCHEME_GROUP) {
		uint32_t g = t->group_size;
		if (g != 32 && g != 64 && g != 128)
			return fmt_fail(err, FMT_E_SHAPE, FMT_NO_OFFSET, "tensor '%s': group_size %u not 32, 64 or 128",
					nm, g);
		if (cols % g)
			return fmt_fail(err, FMT_E_SHAPE, FMT_NO_OFFSET,
					"tensor '%s': group_size %u does not divide cols %llu", nm, g,
					(unsigned long long)cols);
		groups = cols / g;
	} else {
		if (t->group_size != 0)
			return fmt_fail(err, FMT_E_SHAPE, FMT_NO_OFFSET,
					"tensor '%s': group_size %u must be 0 for scheme %s", nm, t->group_size,
					fmt_scheme_name(t->scheme));
		if (t->scheme == FMT_SCHEME_ROW)
			groups = 1;
	}
	uint64_t bytes, scale_off = 0;
	if (t->scheme == FMT_SCHEME_NONE) {
		ovf = __builtin_mul_overflow(n, (uint64_t)fmt_dtype_size(t->dtype), &bytes);
	} else {
		uint64_t ns;
		ovf = __builtin_add_overflow(n, (uint64_t)FMT_SCALE_ALIGN - 1, &scale_off);
		scale_off &= ~(uint64_t)(FMT_SCALE_ALIGN - 1);
		ovf |= __builtin_mul_overflow(n / cols, groups, &ns);
		ovf |= __builtin_mul_overflow(ns, (uint64_t)4, &ns);
		ovf |= __builtin_add_overflow(scale_off, ns, &bytes);
	}
	if (ovf)
		return fmt_fail(err, FMT_E_OVERFLOW, FMT_NO_OFFSET, "tensor '%s': byte size overflows 64 bits", nm);
	t->n_elems = n;
	t->cols = cols;
	t->rows = n / cols;
	t->groups = groups;
	t->scale_offset = scale_off;
	t->data_bytes = bytes;
	t->scale_type = t->scheme == FMT_SCHEME_NONE ? FMT_SCALE_NONE : FMT_SCALE_F32;
	return FMT_OK;
}
