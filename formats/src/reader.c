/* Reader: maps a file (or borrows memory) and validates every rule of SPEC §3–§6 and §10 before
 * handing out views. Tensor data checksums are left to fmt_verify. */
#include "fmt_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const uint8_t bale_magic[8] = {0x42, 0x41, 0x4C, 0x45, 0x0D, 0x0A, 0x1A, 0x0A};

#define N_KV_KINDS 8

struct fmt_reader {
	const uint8_t *base;
	size_t size;
	void *map;
	size_t map_len;
	fmt_header hdr;
	fmt_section *sec;
	size_t n_sec;
	fmt_tensor *t;
	size_t n_t;
	fmt_nameref *t_sorted;
	char *names;
	fmt_kvlist kv[N_KV_KINDS];
	bool has_kv[N_KV_KINDS];
	fmt_file *files;
	size_t n_files;
	char *fnames;
};

typedef unsigned long long ull;

/* Fuzzing builds accept wrong checksums so mutations reach the structural checks behind them. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CHECKSUM_BAD(got, want) ((void)(got), (void)(want), false)
#else
#define CHECKSUM_BAD(got, want) ((got) != (want))
#endif

/* ---------------------------------------------------------------------------------------------
 * Header and section table */

static fmt_status check_header(fmt_reader *r, fmt_error *err)
{
	const uint8_t *b = r->base;
	uint64_t n = r->size;
	if (n < FMT_HEADER_BYTES)
		return fmt_fail(err, FMT_E_TRUNCATED, 0, "file is %llu bytes, shorter than the 256-byte header", (ull)n);
	if (memcmp(b, bale_magic, 8) != 0)
		return fmt_fail(err, FMT_E_MAGIC, 0, "bad magic at offset 0: not a .bale file");
	uint16_t major = fmt_ld16(b + 8), minor = fmt_ld16(b + 10);
	if (major == 0x0100)
		return fmt_fail(err, FMT_E_ENDIAN, 8, "version_major at offset 8 reads 0x0100: byte-swapped file");
	if (major == 0 || major > FMT_VERSION_MAJOR)
		return fmt_fail(err, FMT_E_VERSION, 8, "version_major %u at offset 8 is not supported (this library reads "
				"version %d)", major, FMT_VERSION_MAJOR);
	uint32_t tag = fmt_ld32(b + 12);
	if (tag != 0x0A0B0C0Du)
		return fmt_fail(err, FMT_E_ENDIAN, 12, "endian_tag 0x%08x at offset 12 is not 0x0A0B0C0D%s", tag,
				tag == 0x0D0C0B0Au ? " (byte-swapped file)" : "");
	uint32_t hb = fmt_ld32(b + 16);
	if (hb != FMT_HEADER_BYTES)
		return fmt_fail(err, FMT_E_CORRUPT, 16, "header_bytes %u at offset 16 is not 256", hb);
	uint32_t al = fmt_ld32(b + 20);
	if (al < 64 || al > (1u << 20) || (al & (al - 1)))
		return fmt_fail(err, FMT_E_ALIGN, 20, "alignment %u at offset 20 is not a power of two in 64..1048576", al);
	uint64_t fb = fmt_ld64(b + 24);
	if (fb > n)
		return fmt_fail(err, FMT_E_TRUNCATED, 24, "file_bytes %llu at offset 24 is larger than the real size %llu "
				"(truncated file)", (ull)fb, (ull)n);
	if (fb < n)
		return fmt_fail(err, FMT_E_CORRUPT, 24, "file_bytes %llu at offset 24 is smaller than the real size %llu "
				"(trailing bytes)", (ull)fb, (ull)n);
	uint64_t to = fmt_ld64(b + 32);
	uint32_t ns = fmt_ld32(b + 40);
	if (ns < 2 || ns > FMT_MAX_SECTIONS)
		return fmt_fail(err, FMT_E_LIMIT, 40, "n_sections %u at offset 40 is not in 2..64", ns);
	if (to % 8 || to < FMT_HEADER_BYTES || to > fb || fb - to < (uint64_t)ns * 32)
		return fmt_fail(err, FMT_E_BOUNDS, 32, "section_table_offset %llu at offset 32 (%u entries of 32 bytes) is "
				"misaligned, inside the header or past the end of the file (%llu bytes)", (ull)to, ns,
				(ull)fb);
	uint32_t flags = fmt_ld32(b + 44);
	if (flags)
		return fmt_fail(err, FMT_E_UNSUPPORTED, 44, "header flags 0x%08x at offset 44 are not 0", flags);
	for (uint32_t i = 56; i < FMT_HEADER_BYTES; i++)
		if (b[i])
			return fmt_fail(err, FMT_E_CORRUPT, i, "reserved header byte at offset %u is not zero", i);
	uint64_t cs = fmt_ld64(b + 48);
	uint8_t h[FMT_HEADER_BYTES];
	memcpy(h, b, sizeof h);
	memset(h + 48, 0, 8);
	XXH3_state_t *xs = XXH3_createState();
	if (!xs)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	XXH3_64bits_reset(xs);
	XXH3_64bits_update(xs, h, sizeof h);
	XXH3_64bits_update(xs, b + to, (size_t)ns * 32);
	uint64_t got = XXH3_64bits_digest(xs);
	XXH3_freeState(xs);
	if (CHECKSUM_BAD(got, cs))
		return fmt_fail(err, FMT_E_CHECKSUM, 48, "header_checksum at offset 48 is 0x%016llx but the header and "
				"section table hash to 0x%016llx", (ull)cs, (ull)got);
	r->hdr = (fmt_header){major, minor, al, fb, to, ns, cs};
	return FMT_OK;
}

static fmt_status read_sections(fmt_reader *r, fmt_error *err)
{
	const fmt_header *h = &r->hdr;
	r->sec = calloc(h->n_sections, sizeof *r->sec);
	if (!r->sec)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	r->n_sec = h->n_sections;
	for (uint32_t i = 0; i < h->n_sections; i++) {
		uint64_t eo = h->section_table_offset + (uint64_t)i * 32;
		const uint8_t *e = r->base + eo;
		fmt_section *s = &r->sec[i];
		s->kind = fmt_ld32(e);
		s->flags = fmt_ld32(e + 4);
		s->offset = fmt_ld64(e + 8);
		s->bytes = fmt_ld64(e + 16);
		s->checksum = fmt_ld64(e + 24);
		const char *nm = fmt_section_name(s->kind);
		if (s->kind == 0)
			return fmt_fail(err, FMT_E_CORRUPT, eo, "section #%u (table entry at offset %llu): kind 0 is invalid", i,
					(ull)eo);
		if (s->flags)
			return fmt_fail(err, FMT_E_UNSUPPORTED, eo + 4, "section #%u %s (table entry at offset %llu): flags "
					"0x%x are not 0", i, nm, (ull)eo, s->flags);
		if (s->offset % 8)
			return fmt_fail(err, FMT_E_ALIGN, eo + 8, "section #%u %s (table entry at offset %llu): offset %llu is "
					"not a multiple of 8", i, nm, (ull)eo, (ull)s->offset);
		if (s->offset < FMT_HEADER_BYTES || s->offset > h->file_bytes || s->bytes > h->file_bytes - s->offset)
			return fmt_fail(err, FMT_E_BOUNDS, eo + 8, "section #%u %s (table entry at offset %llu): bytes "
					"[%llu, +%llu) are not inside [256, %llu)", i, nm, (ull)eo, (ull)s->offset,
					(ull)s->bytes, (ull)h->file_bytes);
		if (s->bytes > FMT_MAX_SECTION_BYTES)
			return fmt_fail(err, FMT_E_LIMIT, eo + 16, "section #%u %s (table entry at offset %llu): %llu bytes "
					"exceed the 1 GiB limit", i, nm, (ull)eo, (ull)s->bytes);
		for (uint32_t j = 0; j < i; j++)
			if (r->sec[j].kind == s->kind)
				return fmt_fail(err, FMT_E_DUPLICATE, eo, "section #%u (table entry at offset %llu): kind %u "
						"(%s) already used by section #%u", i, (ull)eo, s->kind, nm, j);
		s->data = r->base + s->offset;
	}
	for (uint32_t i = 0; i < h->n_sections; i++) {
		fmt_section *s = &r->sec[i];
		uint64_t got = XXH3_64bits(s->data, (size_t)s->bytes);
		if (CHECKSUM_BAD(got, s->checksum))
			return fmt_fail(err, FMT_E_CHECKSUM, s->offset, "section #%u %s at offset %llu (%llu bytes): checksum "
					"0x%016llx in the table, data hashes to 0x%016llx", i, fmt_section_name(s->kind),
					(ull)s->offset, (ull)s->bytes, (ull)s->checksum, (ull)got);
	}
	if (!fmt_reader_section(r, FMT_SEC_META))
		return fmt_fail(err, FMT_E_NOTFOUND, h->section_table_offset, "required section META is missing from the "
				"section table at offset %llu", (ull)h->section_table_offset);
	if (!fmt_reader_section(r, FMT_SEC_TENSORS))
		return fmt_fail(err, FMT_E_NOTFOUND, h->section_table_offset, "required section TENSORS is missing from "
				"the section table at offset %llu", (ull)h->section_table_offset);
	return FMT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Tensor table */

#define TREC_FIXED 80u /* record bytes after the name (84 with the name length) */

static fmt_status read_tensors(fmt_reader *r, fmt_error *err)
{
	const fmt_section *s = fmt_reader_section(r, FMT_SEC_TENSORS);
	const uint8_t *p = s->data;
	uint64_t n = s->bytes, bo = s->offset, fb = r->hdr.file_bytes;
	uint64_t first = fmt_align_up(FMT_HEADER_BYTES, r->hdr.alignment);
	if (n < 4)
		return fmt_fail(err, FMT_E_CORRUPT, bo, "TENSORS section at offset %llu: %llu bytes, too small for n_tensors",
				(ull)bo, (ull)n);
	uint32_t cnt = fmt_ld32(p);
	if (cnt < 1 || cnt > FMT_MAX_TENSORS || cnt > n / 85)
		return fmt_fail(err, FMT_E_LIMIT, bo, "n_tensors %u at offset %llu is not in 1..min(1048576, section bytes "
				"/ 85 = %llu)", cnt, (ull)bo, (ull)(n / 85));
	r->t = calloc(cnt, sizeof *r->t);
	r->t_sorted = calloc(cnt, sizeof *r->t_sorted);
	r->names = malloc(n);
	if (!r->t || !r->t_sorted || !r->names)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory for %u tensors", cnt);
	uint64_t pos = 4, npos = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		uint64_t ro = bo + pos;
		fmt_tensor *t = &r->t[i];
		if (n - pos < 4)
			return fmt_fail(err, FMT_E_BOUNDS, ro, "tensor #%u: record at offset %llu past the end of the TENSORS "
					"section", i, (ull)ro);
		uint32_t len = fmt_ld32(p + pos);
		if (len > n - pos - 4)
			return fmt_fail(err, FMT_E_BOUNDS, ro, "tensor #%u: name length %u at offset %llu exceeds the %llu bytes "
					"left in the TENSORS section", i, len, (ull)ro, (ull)(n - pos - 4));
		const char *why = fmt_tensor_name_problem(p + pos + 4, len);
		if (why)
			return fmt_fail(err, FMT_E_NAME, ro + 4, "tensor #%u (table entry at offset %llu): %s", i, (ull)ro, why);
		char *name = r->names + npos;
		memcpy(name, p + pos + 4, len);
		name[len] = 0;
		npos += (uint64_t)len + 1;
		t->name = name;
		t->name_len = len;
		r->t_sorted[i] = (fmt_nameref){name, len, i};
		pos += 4 + (uint64_t)len;
		if (n - pos < TREC_FIXED)
			return fmt_fail(err, FMT_E_BOUNDS, ro, "tensor '%s' (#%u): record at offset %llu runs past the end of the "
					"TENSORS section", name, i, (ull)ro);
		const uint8_t *q = p + pos;
		uint32_t dtype = q[0], scheme = q[1], layout = q[2], nd = q[3];
		for (int k = 0; k < FMT_MAX_DIMS; k++)
			t->dims[k] = fmt_ld64(q + 4 + 8 * k);
		uint32_t gs = fmt_ld32(q + 36);
		uint32_t sct = q[40];
		uint64_t doff = fmt_ld64(q + 44), dbytes = fmt_ld64(q + 52);
		t->checksum = fmt_ld64(q + 60);
		t->err_rmse = fmt_ldf32(q + 68);
		t->err_max_abs = fmt_ldf32(q + 72);
		t->src_rms = fmt_ldf32(q + 76);
		uint64_t fo = bo + pos; /* offset of the fixed part */
		if (dtype >= FMT_DTYPE_COUNT)
			return fmt_fail(err, FMT_E_DTYPE, fo, "tensor '%s' (#%u): unknown dtype %u (table entry at offset %llu)",
					name, i, dtype, (ull)ro);
		if (scheme >= FMT_SCHEME_COUNT)
			return fmt_fail(err, FMT_E_DTYPE, fo + 1, "tensor '%s' (#%u): unknown scheme %u (table entry at offset "
					"%llu)", name, i, scheme, (ull)ro);
		if (layout)
			return fmt_fail(err, FMT_E_UNSUPPORTED, fo + 2, "tensor '%s' (#%u): layout %u is not supported (table "
					"entry at offset %llu)", name, i, layout, (ull)ro);
		t->dtype = (fmt_dtype)dtype;
		t->scheme = (fmt_scheme)scheme;
		t->layout = layout;
		t->n_dims = nd;
		t->group_size = gs;
		fmt_error le;
		fmt_status st = fmt_tensor_layout(t, &le);
		if (st)
			return fmt_fail(err, st, fo, "%s (#%u, table entry at offset %llu)", le.msg, i, (ull)ro);
		uint32_t want_sct = scheme == FMT_SCHEME_NONE ? FMT_SCALE_NONE : FMT_SCALE_F32;
		if (sct != want_sct)
			return fmt_fail(err, FMT_E_DTYPE, fo + 40, "tensor '%s' (#%u): scale_type %u, want %u for scheme %s "
					"(table entry at offset %llu)", name, i, sct, want_sct, fmt_scheme_name(t->scheme),
					(ull)ro);
		if (q[41] | q[42] | q[43])
			return fmt_fail(err, FMT_E_CORRUPT, fo + 41, "tensor '%s' (#%u): reserved bytes are not zero (table "
					"entry at offset %llu)", name, i, (ull)ro);
		if (dbytes != t->data_bytes)
			return fmt_fail(err, FMT_E_SHAPE, fo + 52, "tensor '%s' (#%u): data_bytes %llu, but its shape and type "
					"need %llu (table entry at offset %llu)", name, i, (ull)dbytes, (ull)t->data_bytes,
					(ull)ro);
		if (doff % r->hdr.alignment)
			return fmt_fail(err, FMT_E_ALIGN, fo + 44, "tensor '%s' (#%u): data_offset %llu is not a multiple of "
					"alignment %u (table entry at offset %llu)", name, i, (ull)doff, r->hdr.alignment,
					(ull)ro);
		if (doff < first || doff > fb || dbytes > fb - doff)
			return fmt_fail(err, FMT_E_BOUNDS, fo + 44, "tensor '%s' (#%u): data [%llu, +%llu) is not inside "
					"[%llu, %llu) (table entry at offset %llu)", name, i, (ull)doff, (ull)dbytes,
					(ull)first, (ull)fb, (ull)ro);
		float stats[3] = {t->err_rmse, t->err_max_abs, t->src_rms};
		for (int k = 0; k < 3; k++)
			if (!isfinite(stats[k]) || stats[k] < 0)
				return fmt_fail(err, FMT_E_CORRUPT, fo + 68 + 4 * k, "tensor '%s' (#%u): error statistic %d is %g, "
						"must be finite and >= 0 (table entry at offset %llu)", name, i, k,
						(double)stats[k], (ull)ro);
		t->data_offset = doff;
		t->data = r->base + doff;
		t->scales = t->scheme == FMT_SCHEME_NONE ? NULL : t->data + t->scale_offset;
		pos += TREC_FIXED;
	}
	if (pos != n)
		return fmt_fail(err, FMT_E_CORRUPT, bo + pos, "TENSORS section: %llu trailing bytes at offset %llu after the "
				"last record", (ull)(n - pos), (ull)(bo + pos));
	r->n_t = cnt;
	qsort(r->t_sorted, cnt, sizeof *r->t_sorted, fmt_nameref_cmp);
	for (uint32_t i = 1; i < cnt; i++) {
		const fmt_nameref *a = &r->t_sorted[i - 1], *b = &r->t_sorted[i];
		if (a->len == b->len && memcmp(a->s, b->s, a->len) == 0)
			return fmt_fail(err, FMT_E_DUPLICATE, bo, "tensor name '%s' is used by #%u and #%u (TENSORS section at "
					"offset %llu)", a->s, a->idx, b->idx, (ull)bo);
	}
	return FMT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * FILES section */

static fmt_status read_files(fmt_reader *r, fmt_error *err)
{
	const fmt_section *s = fmt_reader_section(r, FMT_SEC_FILES);
	if (!s)
		return FMT_OK;
	const uint8_t *p = s->data;
	uint64_t n = s->bytes, bo = s->offset;
	if (n < 4)
		return fmt_fail(err, FMT_E_CORRUPT, bo, "FILES section at offset %llu: too small for n_files", (ull)bo);
	uint32_t cnt = fmt_ld32(p);
	if (cnt > FMT_MAX_FILES)
		return fmt_fail(err, FMT_E_LIMIT, bo, "FILES section: n_files %u at offset %llu exceeds 64", cnt, (ull)bo);
	r->files = calloc(cnt ? cnt : 1, sizeof *r->files);
	r->fnames = malloc(n);
	if (!r->files || !r->fnames)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	uint64_t pos = 4, npos = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		uint64_t eo = bo + pos;
		fmt_file *f = &r->files[i];
		if (n - pos < 4)
			return fmt_fail(err, FMT_E_BOUNDS, eo, "file #%u: entry at offset %llu past the end of the FILES "
					"section", i, (ull)eo);
		uint32_t len = fmt_ld32(p + pos);
		if (len > n - pos - 4)
			return fmt_fail(err, FMT_E_BOUNDS, eo, "file #%u: name length %u at offset %llu exceeds the bytes left",
					i, len, (ull)eo);
		const char *why = fmt_file_name_problem(p + pos + 4, len);
		if (why)
			return fmt_fail(err, FMT_E_NAME, eo + 4, "file #%u (entry at offset %llu): %s", i, (ull)eo, why);
		char *name = r->fnames + npos;
		memcpy(name, p + pos + 4, len);
		name[len] = 0;
		npos += (uint64_t)len + 1;
		f->name = name;
		pos += 4 + (uint64_t)len;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(r->files[j].name, name) == 0)
				return fmt_fail(err, FMT_E_DUPLICATE, eo, "file '%s' (#%u, entry at offset %llu) duplicates #%u",
						name, i, (ull)eo, j);
		if (n - pos < 24)
			return fmt_fail(err, FMT_E_BOUNDS, eo, "file '%s' (#%u): entry at offset %llu runs past the end of the "
					"FILES section", name, i, (ull)eo);
		f->raw_bytes = fmt_ld64(p + pos);
		f->raw_xxh3 = fmt_ld64(p + pos + 8);
		f->z_bytes = fmt_ld64(p + pos + 16);
		if (f->raw_bytes > FMT_MAX_FILE_BYTES)
			return fmt_fail(err, FMT_E_LIMIT, bo + pos, "file '%s' (#%u): raw_bytes %llu at offset %llu exceed 1 GiB",
					name, i, (ull)f->raw_bytes, (ull)(bo + pos));
		pos += 24;
		if (f->z_bytes > n - pos)
			return fmt_fail(err, FMT_E_BOUNDS, bo + pos - 8, "file '%s' (#%u): z_bytes %llu at offset %llu exceed "
					"the %llu bytes left", name, i, (ull)f->z_bytes, (ull)(bo + pos - 8), (ull)(n - pos));
		f->z_data = p + pos;
		pos += f->z_bytes;
	}
	if (pos != n)
		return fmt_fail(err, FMT_E_CORRUPT, bo + pos, "FILES section: %llu trailing bytes at offset %llu",
				(ull)(n - pos), (ull)(bo + pos));
	r->n_files = cnt;
	return FMT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Overlap of every region (header, section table, sections, tensor blobs) */

typedef struct {
	uint64_t start, end;
	int kind; /* 0 header, 1 table, 2 section, 3 tensor */
	uint32_t idx;
} region;

static int region_cmp(const void *pa, const void *pb)
{
	const region *a = pa, *b = pb;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void region_label(const fmt_reader *r, const region *g, char *buf, size_t n)
{
	switch (g->kind) {
	case 0: snprintf(buf, n, "the header"); break;
	case 1: snprintf(buf, n, "the section table"); break;
	case 2: snprintf(buf, n, "section #%u %s", g->idx, fmt_section_name(r->sec[g->idx].kind)); break;
	default: snprintf(buf, n, "tensor '%.200s' (#%u)", r->t[g->idx].name, g->idx); break;
	}
}

static fmt_status check_overlap(fmt_reader *r, fmt_error *err)
{
	size_t nr = 2 + r->n_sec + r->n_t;
	region *g = malloc(nr * sizeof *g);
	if (!g)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	size_t k = 0;
	g[k++] = (region){0, FMT_HEADER_BYTES, 0, 0};
	g[k++] = (region){r->hdr.section_table_offset, r->hdr.section_table_offset + 32ull * r->hdr.n_sections, 1, 0};
	for (size_t i = 0; i < r->n_sec; i++)
		g[k++] = (region){r->sec[i].offset, r->sec[i].offset + r->sec[i].bytes, 2, (uint32_t)i};
	for (size_t i = 0; i < r->n_t; i++)
		g[k++] = (region){r->t[i].data_offset, r->t[i].data_offset + r->t[i].data_bytes, 3, (uint32_t)i};
	qsort(g, nr, sizeof *g, region_cmp);
	const region *far = NULL; /* the region reaching furthest so far */
	fmt_status st = FMT_OK;
	for (size_t i = 0; i < nr; i++) {
		if (g[i].start == g[i].end)
			continue; /* empty sections occupy nothing */
		if (far && g[i].start < far->end) {
			char a[256], b[256];
			region_label(r, far, a, sizeof a);
			region_label(r, &g[i], b, sizeof b);
			st = fmt_fail(err, FMT_E_OVERLAP, g[i].start, "%s [%llu, %llu) overlaps %s [%llu, %llu)", b,
				      (ull)g[i].start, (ull)g[i].end, a, (ull)far->start, (ull)far->end);
			break;
		}
		if (!far || g[i].end > far->end)
			far = &g[i];
	}
	free(g);
	return st;
}

/* ---------------------------------------------------------------------------------------------
 * Open / close */

static fmt_status validate(fmt_reader *r, fmt_error *err)
{
	fmt_status st = check_header(r, err);
	if (!st)
		st = read_sections(r, err);
	static const uint32_t kv_kinds[] = {FMT_SEC_META, FMT_SEC_CHAT_TEMPLATES, FMT_SEC_GENERATION,
					    FMT_SEC_PROVENANCE};
	for (size_t i = 0; !st && i < sizeof kv_kinds / sizeof kv_kinds[0]; i++) {
		uint32_t kind = kv_kinds[i];
		const fmt_section *s = fmt_reader_section(r, kind);
		if (!s)
			continue;
		st = fmt_kvlist_decode(s->data, s->bytes, s->offset, fmt_section_name(kind), &r->kv[kind], err);
		if (!st)
			r->has_kv[kind] = true;
	}
	if (!st)
		st = read_tensors(r, err);
	if (!st)
		st = read_files(r, err);
	if (!st)
		st = check_overlap(r, err);
	return st;
}

static fmt_status finish_open(fmt_reader *r, fmt_reader **out, fmt_error *err)
{
	fmt_status st = validate(r, err);
	if (st) {
		fmt_reader_close(r);
		return st;
	}
	*out = r;
	return FMT_OK;
}

fmt_status fmt_reader_open_mem(const void *data, size_t n, fmt_reader **out, fmt_error *err)
{
	assert(out && (data || n == 0));
	*out = NULL;
	fmt_reader *r = calloc(1, sizeof *r);
	if (!r)
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "out of memory");
	r->base = data;
	r->size = n;
	return finish_open(r, out, err);
}

fmt_status fmt_reader_open(const char *path, fmt_reader **out, fmt_error *err)
{
	assert(path && out);
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s: open: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		int e = errno;
		close(fd);
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s: fstat: %s", path, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s: not a regular file", path);
	}
	if ((uint64_t)sb.st_size < FMT_HEADER_BYTES) {
		close(fd);
		return fmt_fail(err, FMT_E_TRUNCATED, 0, "%s: file is %llu bytes, shorter than the 256-byte header", path,
				(ull)sb.st_size);
	}
	if ((uint64_t)sb.st_size > SIZE_MAX) {
		close(fd);
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s: file too large to map", path);
	}
	size_t len = (size_t)sb.st_size;
	void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	int e = errno;
	close(fd); /* the mapping keeps the file alive */
	if (m == MAP_FAILED)
		return fmt_fail(err, FMT_E_IO, FMT_NO_OFFSET, "%s: mmap of %zu bytes: %s", path, len, strerror(e));
	(void)madvise(m, len, MADV_SEQUENTIAL);
	fmt_reader *r = calloc(1, sizeof *r);
	if (!r) {
		munmap(m, len);
		return fmt_fail(err, FMT_E_NOMEM, FMT_NO_OFFSET, "%s: out of memory", path);
	}
	r->base = m;
	r->size = len;
	r->map = m;
	r->map_len = len;
	fmt_status st = finish_open(r, out, err);
	if (st)
		fmt_err_prefix(err, path);
	return st;
}

void fmt_reader_close(fmt_reader *r)
{
	if (!r)
		return;
	for (int i = 0; i < N_KV_KINDS; i++)
		fmt_kvlist_clear(&r->kv[i]);
	free(r->sec);
	free(r->t);
	free(r->t_sorted);
	free(r->names);
	free(r->files);
	free(r->fnames);
	if (r->map)
		munmap(r->map, r->map_len);
	free(r);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors */

const fmt_header *fmt_reader_header(const fmt_reader *r)
{
	return &r->hdr;
}

const uint8_t *fmt_reader_base(const fmt_reader *r)
{
	return r->base;
}

size_t fmt_reader_n_sections(const fmt_reader *r)
{
	return r->n_sec;
}

const fmt_section *fmt_reader_section_at(const fmt_reader *r, size_t i)
{
	assert(i < r->n_sec);
	return &r->sec[i];
}

const fmt_section *fmt_reader_section(const fmt_reader *r, uint32_t kind)
{
	for (size_t i = 0; i < r->n_sec; i++)
		if (r->sec[i].kind == kind)
			return &r->sec[i];
	return NULL;
}

size_t fmt_reader_n_tensors(const fmt_reader *r)
{
	return r->n_t;
}

const fmt_tensor *fmt_reader_tensor_at(const fmt_reader *r, size_t i)
{
	assert(i < r->n_t);
	return &r->t[i];
}

const fmt_tensor *fmt_reader_find_tensor(const fmt_reader *r, const char *name)
{
	long i = fmt_nameref_find(r->t_sorted, r->n_t, name, strlen(name));
	return i < 0 ? NULL : &r->t[i];
}

const fmt_kvlist *fmt_reader_kv(const fmt_reader *r, fmt_section_kind kind)
{
	if ((unsigned)kind >= N_KV_KINDS || !r->has_kv[kind])
		return NULL;
	return &r->kv[kind];
}

size_t fmt_reader_n_files(const fmt_reader *r)
{
	return r->n_files;
}

const fmt_file *fmt_reader_file_at(const fmt_reader *r, size_t i)
{
	assert(i < r->n_files);
	return &r->files[i];
}

const fmt_file *fmt_reader_find_file(const fmt_reader *r, const char *name)
{
	for (size_t i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].name, name) == 0)
			return &r->files[i];
	return NULL;
}
