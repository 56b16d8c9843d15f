/* Extraction of embedded files (SPEC §10). */
#include "fmt_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <xxhash.h>
#include <zstd.h>

fmt_status fmt_file_extract(const fmt_file *f, uint8_t **out, size_t *out_len, fmt_error *err)
{
	assert(f && out && out_len);
	*out = NULL;
	*out_len = 0;
	if (f->raw_bytes > FMT_MAX_FILE_BYTES)
		return fmt_fail(err, FMT_E_LIMIT, FMT_NO_OFFSET, "file '%s': raw_bytes %llu exceed 1 GiB", f->name,
				(unsigned long long)f->raw_bytes);
	/* one frame covering exactly z_bytes */
	size_t fsz = ZSTD_findFrameCompressedSize(f->z_data, (size_t)f->z_bytes);
	if (ZSTD_isError(fsz) || fsz != f->z_bytes)
		return fmt_fail(err, FMT_E_CORRUPT, FMT_NO_OFFSET, "file '%s': compressed data (%llu bytes) is not exactly "
				"one zstd frame", f->name, (unsigned long long)f->z_bytes);
	unsigned long long cs = ZSTD_getFrameContentSize(f->z_data, (size_t)f->z_bytes);
	if (cs == ZSTD_CONTENTSIZE_ERROR || (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != f->raw_bytes))
		return fmt_fail(err, FMT_E_CORRUPT, FMT_NO_OFFSET, "file '%s': zstd frame declares %llu bytes, the table "
				"says raw_bytes %llu", f->name, cs, (unsigned long long)f->raw_bytes);
	size_t n = (size_t)f->raw_bytes;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "file '%s': out of memory for %zu bytes", f->name, n);
	size_t got = ZSTD_decompress(buf, n, f->z_data, (size_t)f->z_bytes);
	if (ZSTD_isError(got) || got != n) {
		free(buf);
		return fmt_fail(err, FMT_E_CORRUPT, FMT_NO_OFFSET, "file '%s': zstd decompression failed or gave the wrong "
				"size (%s)", f->name, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size mismatch");
	}
	uint64_t h = XXH3_64bits(buf, n);
	if (h != f->raw_xxh3) {
		free(buf);
		return fmt_fail(err, FMT_E_CHECKSUM, FMT_NO_OFFSET, "file '%s': content hashes to 0x%016llx, the table says "
				"0x%016llx", f->name, (unsigned long long)h, (unsigned long long)f->raw_xxh3);
	}
	*out = buf;
	*out_len = n;
	return FMT_OK;
}
