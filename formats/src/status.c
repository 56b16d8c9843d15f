/* Status names, descriptions and the error-filling helper. */
#include "fmt_internal.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
	fmt_status st;
	const char *name, *text;
} status_tab[] = {
	{FMT_OK, "FMT_OK", "success"},
	{FMT_E_IO, "FMT_E_IO", "input/output error"},
	{FMT_E_NOMEM, "FMT_E_NOMEM", "out of memory"},
	{FMT_E_INTERRUPTED, "FMT_E_INTERRUPTED", "interrupted by the caller"},
	{FMT_E_MAGIC, "FMT_E_MAGIC", "not a .bale file"},
	{FMT_E_VERSION, "FMT_E_VERSION", "unsupported format version"},
	{FMT_E_ENDIAN, "FMT_E_ENDIAN", "byte-swapped file"},
	{FMT_E_TRUNCATED, "FMT_E_TRUNCATED", "file is truncated"},
	{FMT_E_CORRUPT, "FMT_E_CORRUPT", "file is corrupt"},
	{FMT_E_ALIGN, "FMT_E_ALIGN", "bad alignment"},
	{FMT_E_OVERFLOW, "FMT_E_OVERFLOW", "size computation overflows"},
	{FMT_E_OVERLAP, "FMT_E_OVERLAP", "regions overlap"},
	{FMT_E_BOUNDS, "FMT_E_BOUNDS", "offset or length out of bounds"},
	{FMT_E_CHECKSUM, "FMT_E_CHECKSUM", "checksum mismatch"},
	{FMT_E_DTYPE, "FMT_E_DTYPE", "bad dtype, scheme or scale type"},
	{FMT_E_SHAPE, "FMT_E_SHAPE", "bad shape or size"},
	{FMT_E_NAME, "FMT_E_NAME", "bad name or key"},
	{FMT_E_DUPLICATE, "FMT_E_DUPLICATE", "duplicate name"},
	{FMT_E_LIMIT, "FMT_E_LIMIT", "count or length above its limit"},
	{FMT_E_UNSUPPORTED, "FMT_E_UNSUPPORTED", "unsupported feature"},
	{FMT_E_METADATA, "FMT_E_METADATA", "bad metadata entry"},
	{FMT_E_NOTFOUND, "FMT_E_NOTFOUND", "not found"},
	{FMT_E_TYPE, "FMT_E_TYPE", "wrong type or value out of range"},
	{FMT_E_ARG, "FMT_E_ARG", "bad argument"},
	{FMT_E_STATE, "FMT_E_STATE", "call out of order"},
};

const char *fmt_status_name(fmt_status st)
{
	for (size_t i = 0; i < sizeof status_tab / sizeof status_tab[0]; i++)
		if (status_tab[i].st == st)
			return status_tab[i].name;
	return "FMT_E_UNKNOWN";
}

const char *fmt_strerror(fmt_status st)
{
	for (size_t i = 0; i < sizeof status_tab / sizeof status_tab[0]; i++)
		if (status_tab[i].st == st)
			return status_tab[i].text;
	return "unknown status";
}

fmt_status fmt_fail(fmt_error *err, fmt_status st, uint64_t offset, const char *fmt, ...)
{
	if (!err)
		return st;
	err->status = st;
	err->offset = offset;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return st;
}

void fmt_err_prefix(fmt_error *err, const char *prefix)
{
	if (!err)
		return;
	char tmp[sizeof err->msg];
	size_t pl = strlen(prefix);
	if (pl > sizeof tmp - 3)
		pl = sizeof tmp - 3;
	memcpy(tmp, prefix, pl);
	memcpy(tmp + pl, ": ", 2);
	size_t ml = strnlen(err->msg, sizeof err->msg);
	if (ml > sizeof tmp - pl - 3)
		ml = sizeof tmp - pl - 3;
	memcpy(tmp + pl + 2, err->msg, ml);
	tmp[pl + 2 + ml] = 0;
	memcpy(err->msg, tmp, sizeof tmp);
}
