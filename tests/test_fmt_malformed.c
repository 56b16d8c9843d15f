/* A table of generated bad files: each row patches a valid sample (built by the writer), re-fixes
 * checksums where the case needs it so the intended check fires, and expects one fmt_status, both
 * through fmt_reader_open_mem and through a file on disk. Plus truncation at every length, a
 * one-bit flip at every byte, and embedded-file extraction failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bale/fmt.h"
#include "test_fmt_common.h"
#include "testutil.h"

typedef struct {
	uint8_t *b;
	size_t n;
	uint64_t to;
	uint32_t ns;
	uint64_t sec_entry[8], sec_off[8], sec_bytes[8];
	size_t nt;
	uint64_t trec[8], tfix[8], tdoff[8], tdbytes[8];
	size_t nkv;
	uint64_t kv[16];
	size_t nf;
	uint64_t fz[4]; /* offset of each file's compressed data */
	uint64_t ftab;  /* FILES section offset */
} mctx;

static uint8_t *g_base;
static size_t g_n;
static mctx g_info; /* offsets of the valid sample */

static void w8(mctx *c, uint64_t o, uint8_t v) { c->b[o] = v; }
static void w32(mctx *c, uint64_t o, uint32_t v) { for (int i = 0; i < 4; i++) c->b[o + i] = (uint8_t)(v >> (8 * i)); }
static void w64(mctx *c, uint64_t o, uint64_t v) { for (int i = 0; i < 8; i++) c->b[o + i] = (uint8_t)(v >> (8 * i)); }
static uint32_t r32(const mctx *c, uint64_t o) { uint32_t v; memcpy(&v, c->b + o, 4); return v; }
static uint64_t r64(const mctx *c, uint64_t o) { uint64_t v; memcpy(&v, c->b + o, 8); return v; }
static void wf32(mctx *c, uint64_t o, float f) { uint32_t u; memcpy(&u, &f, 4); w32(c, o, u); }

/* Offsets inside the sample: sections by kind, tensor records, META entries, files. */
static void scan(mctx *c)
{
	fmt_reader *r;
	fmt_error e;
	assert_int_equal(fmt_reader_open_mem(c->b, c->n, &r, &e), FMT_OK);
	const fmt_header *h = fmt_reader_header(r);
	c->to = h->section_table_offset;
	c->ns = h->n_sections;
	for (size_t i = 0; i < fmt_reader_n_sections(r); i++) {
		const fmt_section *s = fmt_reader_section_at(r, i);
		assert_true(s->kind < 8);
		c->sec_entry[s->kind] = c->to + 32 * i;
		c->sec_off[s->kind] = s->offset;
		c->sec_bytes[s->kind] = s->bytes;
	}
	c->nt = fmt_reader_n_tensors(r);
	uint64_t pos = c->sec_off[FMT_SEC_TENSORS] + 4;
	for (size_t i = 0; i < c->nt; i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		c->trec[i] = pos;
		c->tfix[i] = pos + 4 + t->name_len;
		c->tdoff[i] = t->data_offset;
		c->tdbytes[i] = t->data_bytes;
		pos = c->tfix[i] + 80;
	}
	const fmt_kvlist *m = fmt_reader_kv(r, FMT_SEC_META);
	c->nkv = fmt_kv_count(m);
	for (size_t i = 0; i < c->nkv; i++)
		c->kv[i] = fmt_kv_at(m, i)->offset;
	c->nf = fmt_reader_n_files(r);
	for (size_t i = 0; i < c->nf; i++)
		c->fz[i] = (uint64_t)(fmt_reader_file_at(r, i)->z_data - c->b);
	c->ftab = c->sec_off[FMT_SEC_FILES];
	fmt_reader_close(r);
}

/* META entry i: offset of its type byte / value */
static uint64_t kv_type(mctx *c, int i) { return c->kv[i] + 4 + r32(c, c->kv[i]); }
static uint64_t kv_val(mctx *c, int i) { return kv_type(c, i) + 1; }
/* tensor record fields */
#define T_DTYPE(i) (c->tfix[i] + 0)
#define T_SCHEME(i) (c->tfix[i] + 1)
#define T_LAYOUT(i) (c->tfix[i] + 2)
#define T_NDIMS(i) (c->tfix[i] + 3)
#define T_DIM(i, k) (c->tfix[i] + 4 + 8 * (k))
#define T_GS(i) (c->tfix[i] + 36)
#define T_SCT(i) (c->tfix[i] + 40)
#define T_RES(i) (c->tfix[i] + 41)
#define T_DOFF(i) (c->tfix[i] + 44)
#define T_DBYTES(i) (c->tfix[i] + 52)
#define T_STAT(i, k) (c->tfix[i] + 68 + 4 * (k))
#define SEC(kind, field) (c->sec_entry[kind] + (field)) /* field: 0 kind, 4 flags, 8 offset, 16 bytes */

static void resize(mctx *c, size_t n)
{
	c->b = realloc(c->b, n ? n : 1);
	if (n > c->n)
		memset(c->b + c->n, 0, n - c->n);
	c->n = n;
}

#define P(name) static void name(mctx *c)
/* header */
P(h_magic) { w8(c, 0, 'X'); }
P(h_magic_pngish) { w8(c, 4, 0x0A); }
P(h_version0) { w32(c, 8, 0); }
P(h_future) { w8(c, 8, 2); }
P(h_swapped_version) { w8(c, 8, 0); w8(c, 9, 1); }
P(h_endian_swapped) { w32(c, 12, 0x0D0C0B0A); }
P(h_endian_other) { w32(c, 12, 0x01020304); }
P(h_minor_newer) { w8(c, 10, 7); }
P(h_header_bytes) { w32(c, 16, 255); }
P(h_align0) { w32(c, 20, 0); }
P(h_align3) { w32(c, 20, 3); }
P(h_align32) { w32(c, 20, 32); }
P(h_align2m) { w32(c, 20, 1u << 21); }
P(h_fb_larger) { w64(c, 24, c->n + 64); }
P(h_fb_smaller) { w64(c, 24, c->n - 8); }
P(h_fb_huge) { w64(c, 24, UINT64_MAX); }
P(h_cut_tail) { resize(c, c->n - 8); }
P(h_cut_100) { resize(c, 100); }
P(h_cut_0) { resize(c, 0); }
P(h_append) { resize(c, c->n + 8); }
P(h_to_past_end) { w64(c, 32, c->n); }
P(h_to_wrap) { w64(c, 32, UINT64_MAX - 7); }
P(h_to_misaligned) { w64(c, 32, c->to + 4); }
P(h_to_in_header) { w64(c, 32, 8); }
P(h_to_over_tensor)
{ /* a valid table moved into tensor #0's blob */
	memcpy(c->b + c->tdoff[0], c->b + c->to, 32 * c->ns);
	w64(c, 32, c->tdoff[0]);
}
P(h_nsec0) { w32(c, 40, 0); }
P(h_nsec1) { w32(c, 40, 1); }
P(h_nsec65) { w32(c, 40, 65); }
P(h_nsec_huge) { w32(c, 40, UINT32_MAX); }
P(h_flags) { w32(c, 44, 1); }
P(h_reserved) { w8(c, 200, 1); }
P(h_checksum_flip) { c->b[50] ^= 0x04; }
P(h_table_flip) { c->b[c->to + 20] ^= 0x01; }
P(h_zero_tail) { memset(c->b + c->n * 3 / 4, 0, c->n - c->n * 3 / 4); }
/* section table */
P(s_dup_kind) { w32(c, SEC(FMT_SEC_GENERATION, 0), FMT_SEC_META); }
P(s_kind0) { w32(c, SEC(FMT_SEC_TOKENIZER, 0), 0); }
P(s_flags) { w32(c, SEC(FMT_SEC_META, 4), 2); }
P(s_off_misaligned) { w64(c, SEC(FMT_SEC_META, 8), c->sec_off[FMT_SEC_META] + 4); }
P(s_off_header) { w64(c, SEC(FMT_SEC_TOKENIZER, 8), 0); }
P(s_bytes_wrap) { w64(c, SEC(FMT_SEC_TOKENIZER, 16), UINT64_MAX - 7); }
P(s_bytes_past_end) { w64(c, SEC(FMT_SEC_FILES, 16), c->n); }
P(s_off_past_end) { w64(c, SEC(FMT_SEC_TOKENIZER, 8), (c->n + 64) & ~7ull); }
P(s_no_meta) { w32(c, SEC(FMT_SEC_META, 0), 99); }
P(s_no_tensors) { w32(c, SEC(FMT_SEC_TENSORS, 0), 100); }
P(s_unknown_kind_ok) { w32(c, SEC(FMT_SEC_TOKENIZER, 0), 200); }
P(s_tokenizer_opaque_ok) { c->b[c->sec_off[FMT_SEC_TOKENIZER] + 3] ^= 0xFF; }
P(s_checksum_meta) { c->b[c->sec_off[FMT_SEC_META] + 9] ^= 0x20; }
P(s_checksum_tensors) { c->b[c->sec_off[FMT_SEC_TENSORS] + 30] ^= 0x01; }
P(s_checksum_tokenizer) { c->b[c->sec_off[FMT_SEC_TOKENIZER] + 3] ^= 0x80; }
P(s_over_tensor)
{
	uint64_t n = c->sec_bytes[FMT_SEC_TOKENIZER];
	memcpy(c->b + c->tdoff[2], c->b + c->sec_off[FMT_SEC_TOKENIZER], n);
	w64(c, SEC(FMT_SEC_TOKENIZER, 8), c->tdoff[2]);
}
P(s_over_section)
{
	w64(c, SEC(FMT_SEC_GENERATION, 8), c->sec_off[FMT_SEC_META]);
	w64(c, SEC(FMT_SEC_GENERATION, 16), c->sec_bytes[FMT_SEC_META]);
}
/* KV (META) */
P(kv_count_huge) { w32(c, c->sec_off[FMT_SEC_META], UINT32_MAX); }
P(kv_count_65537) { w32(c, c->sec_off[FMT_SEC_META], 65537); }
P(kv_key_len_past_end) { w32(c, c->kv[0], 0xFFFFFF00u); }
P(kv_key_empty) { w32(c, c->kv[1], 0); }
P(kv_key_char) { w8(c, c->kv[1] + 4, ' '); }
P(kv_key_slash) { w8(c, c->kv[1] + 6, '/'); }
P(kv_dup_key) { memcpy(c->b + c->kv[2] + 4, "model.d_model", 13); }
P(kv_type0) { w8(c, kv_type(c, 1), 0); }
P(kv_type10) { w8(c, kv_type(c, 1), 10); }
P(kv_bool2) { w8(c, kv_val(c, 3), 2); }
P(kv_str_utf8) { w8(c, kv_val(c, 0) + 4, 0xFF); }
P(kv_str_overlong) { w8(c, kv_val(c, 0) + 4, 0xC0); w8(c, kv_val(c, 0) + 5, 0x80); }
P(kv_str_nul) { w8(c, kv_val(c, 0) + 5, 0); }
P(kv_str_len_huge) { w32(c, kv_val(c, 0), UINT32_MAX); }
P(kv_array_count_huge) { w32(c, kv_val(c, 9) + 1, UINT32_MAX); }
P(kv_array_elem_array) { w8(c, kv_val(c, 9), 9); }
P(kv_array_elem0) { w8(c, kv_val(c, 9), 0); }
P(kv_array_str_len) { w32(c, kv_val(c, 10) + 5, 0x7FFFFFFF); }
P(kv_trailing) { w32(c, c->sec_off[FMT_SEC_META], (uint32_t)c->nkv - 1); }
P(kv_gen_count) { w32(c, c->sec_off[FMT_SEC_GENERATION], 3); }
/* tensors */
#define TS (c->sec_off[FMT_SEC_TENSORS])
P(t_count0) { w32(c, TS, 0); }
P(t_count_huge) { w32(c, TS, UINT32_MAX); }
P(t_count_limit) { w32(c, TS, FMT_MAX_TENSORS + 1); }
P(t_trailing) { w32(c, TS, (uint32_t)c->nt - 1); }
P(t_name_len_huge) { w32(c, c->trec[1], 0xFFFFFFF0u); }
P(t_name_empty) { w32(c, c->trec[2], 0); }
P(t_name_utf8) { w8(c, c->trec[2] + 4, 0xFF); }
P(t_name_control) { w8(c, c->trec[2] + 5, 0x01); }
P(t_name_c1_control) { w8(c, c->trec[2] + 4, 0xC2); w8(c, c->trec[2] + 5, 0x85); }
P(t_dup_name) { memcpy(c->b + c->trec[1] + 4, "blk.0.wq", 8); }
P(t_ndims0) { w8(c, T_NDIMS(0), 0); }
P(t_ndims5) { w8(c, T_NDIMS(0), 5); }
P(t_dim0) { w64(c, T_DIM(0, 0), 0); }
P(t_dim_max) { w64(c, T_DIM(0, 0), UINT64_MAX); }
P(t_dim_2_63) { w64(c, T_DIM(0, 1), 1ull << 63); }
P(t_dim_overflow) { w64(c, T_DIM(0, 0), 1ull << 40); w64(c, T_DIM(0, 1), 1ull << 40); }
P(t_unused_dim) { w64(c, T_DIM(2, 1), 2); }
P(t_dtype) { w8(c, T_DTYPE(0), 9); }
P(t_scheme) { w8(c, T_SCHEME(0), 3); }
P(t_layout) { w8(c, T_LAYOUT(0), 1); }
P(t_scale_type2) { w8(c, T_SCT(0), 2); }
P(t_scale_type_none_q) { w8(c, T_SCT(0), 0); }
P(t_scale_type_f32_none) { w8(c, T_SCT(2), 1); }
P(t_i8_none) { w8(c, T_SCHEME(0), 0); }
P(t_f32_row) { w8(c, T_SCHEME(2), 1); }
P(t_f8_group) { w8(c, T_SCHEME(4), 2); w32(c, T_GS(4), 16); }
P(t_gs_not_dividing) { w32(c, T_GS(1), 128); }
P(t_gs_48) { w32(c, T_GS(1), 48); }
P(t_gs_on_row) { w32(c, T_GS(0), 32); }
P(t_dbytes) { w64(c, T_DBYTES(0), c->tdbytes[0] + 1); }
P(t_off_misaligned) { w64(c, T_DOFF(0), c->tdoff[0] + 8); }
P(t_off_past_eof) { w64(c, T_DOFF(0), ((c->n + 63) & ~63ull) + 64); }
P(t_off_wrap) { w64(c, T_DOFF(0), UINT64_MAX - 63); }
P(t_off_header) { w64(c, T_DOFF(2), 0); }
P(t_off_in_header_aligned) { w64(c, T_DOFF(2), 192); }
P(t_overlap_tensor) { w64(c, T_DOFF(1), c->tdoff[0]); }
P(t_overlap_table) { w64(c, T_DOFF(2), (c->n - c->tdbytes[2]) & ~63ull); }
P(t_overlap_section) { w64(c, T_DOFF(2), c->sec_off[FMT_SEC_META] & ~63ull); }
P(t_stat_nan) { wf32(c, T_STAT(0, 0), 0.0f / 0.0f); }
P(t_stat_neg) { wf32(c, T_STAT(1, 1), -1.0f); }
P(t_stat_inf) { wf32(c, T_STAT(3, 2), 1.0f / 0.0f); }
P(t_reserved) { w8(c, T_RES(0) + 2, 1); }
/* files */
P(f_count65) { w32(c, c->ftab, 65); }
P(f_trailing) { w32(c, c->ftab, 1); }
P(f_name_slash) { w8(c, c->ftab + 4 + 4 + 6, '/'); }
P(f_name_dot) { w8(c, c->ftab + 4 + 4, '.'); }
P(f_name_len_huge) { w32(c, c->ftab + 4, 0xFFFFFFFFu); }
P(f_dup_name) { memcpy(c->b + c->fz[1] - 24 - 11, "config.json", 11); }
P(f_raw_huge) { w64(c, c->fz[0] - 24, 1ull << 40); }
P(f_zbytes_past_end) { w64(c, c->fz[1] - 8, r64(c, c->fz[1] - 8) + 1000); }
P(f_zbytes_huge) { w64(c, c->fz[0] - 8, UINT64_MAX); }
#undef P

typedef struct {
	const char *name;
	void (*patch)(mctx *);
	fmt_status want;
	int nofix; /* keep the stale checksums (the case is about them) */
} mcase;

#define C(fn, st) {#fn, fn, st, 0}
#define CN(fn, st) {#fn, fn, st, 1}
static const mcase cases[] = {
	CN(h_magic, FMT_E_MAGIC), CN(h_magic_pngish, FMT_E_MAGIC), C(h_version0, FMT_E_VERSION),
	C(h_future, FMT_E_VERSION), C(h_swapped_version, FMT_E_ENDIAN), C(h_endian_swapped, FMT_E_ENDIAN),
	C(h_endian_other, FMT_E_ENDIAN), C(h_minor_newer, FMT_OK), C(h_header_bytes, FMT_E_CORRUPT),
	C(h_align0, FMT_E_ALIGN), C(h_align3, FMT_E_ALIGN), C(h_align32, FMT_E_ALIGN), C(h_align2m, FMT_E_ALIGN),
	C(h_fb_larger, FMT_E_TRUNCATED), C(h_fb_smaller, FMT_E_CORRUPT), C(h_fb_huge, FMT_E_TRUNCATED),
	CN(h_cut_tail, FMT_E_TRUNCATED), CN(h_cut_100, FMT_E_TRUNCATED), CN(h_cut_0, FMT_E_TRUNCATED),
	CN(h_append, FMT_E_CORRUPT), C(h_to_past_end, FMT_E_BOUNDS), C(h_to_wrap, FMT_E_BOUNDS),
	C(h_to_misaligned, FMT_E_BOUNDS), C(h_to_in_header, FMT_E_BOUNDS), C(h_to_over_tensor, FMT_E_OVERLAP),
	C(h_nsec0, FMT_E_LIMIT), C(h_nsec1, FMT_E_LIMIT), C(h_nsec65, FMT_E_LIMIT), C(h_nsec_huge, FMT_E_LIMIT),
	C(h_flags, FMT_E_UNSUPPORTED), C(h_reserved, FMT_E_CORRUPT), CN(h_checksum_flip, FMT_E_CHECKSUM),
	CN(h_table_flip, FMT_E_CHECKSUM), CN(h_zero_tail, FMT_E_CHECKSUM),
	C(s_dup_kind, FMT_E_DUPLICATE), C(s_kind0, FMT_E_CORRUPT), C(s_flags, FMT_E_UNSUPPORTED),
	C(s_off_misaligned, FMT_E_ALIGN), C(s_off_header, FMT_E_BOUNDS), C(s_bytes_wrap, FMT_E_BOUNDS),
	C(s_bytes_past_end, FMT_E_BOUNDS), C(s_off_past_end, FMT_E_BOUNDS), C(s_no_meta, FMT_E_NOTFOUND),
	C(s_no_tensors, FMT_E_NOTFOUND), C(s_unknown_kind_ok, FMT_OK), C(s_tokenizer_opaque_ok, FMT_OK),
	CN(s_checksum_meta, FMT_E_CHECKSUM), CN(s_checksum_tensors, FMT_E_CHECKSUM),
	CN(s_checksum_tokenizer, FMT_E_CHECKSUM), C(s_over_tensor, FMT_E_OVERLAP), C(s_over_section, FMT_E_OVERLAP),
	C(kv_count_huge, FMT_E_LIMIT), C(kv_count_65537, FMT_E_LIMIT), C(kv_key_len_past_end, FMT_E_BOUNDS),
	C(kv_key_empty, FMT_E_NAME), C(kv_key_char, FMT_E_NAME), C(kv_key_slash, FMT_E_NAME),
	C(kv_dup_key, FMT_E_DUPLICATE), C(kv_type0, FMT_E_METADATA), C(kv_type10, FMT_E_METADATA),
	C(kv_bool2, FMT_E_METADATA), C(kv_str_utf8, FMT_E_METADATA), C(kv_str_overlong, FMT_E_METADATA),
	C(kv_str_nul, FMT_E_METADATA), C(kv_str_len_huge, FMT_E_BOUNDS), C(kv_array_count_huge, FMT_E_LIMIT),
	C(kv_array_elem_array, FMT_E_METADATA), C(kv_array_elem0, FMT_E_METADATA), C(kv_array_str_len, FMT_E_BOUNDS),
	C(kv_trailing, FMT_E_CORRUPT), C(kv_gen_count, FMT_E_BOUNDS),
	C(t_count0, FMT_E_LIMIT), C(t_count_huge, FMT_E_LIMIT), C(t_count_limit, FMT_E_LIMIT),
	C(t_trailing, FMT_E_CORRUPT), C(t_name_len_huge, FMT_E_BOUNDS), C(t_name_empty, FMT_E_NAME),
	C(t_name_utf8, FMT_E_NAME), C(t_name_control, FMT_E_NAME), C(t_name_c1_control, FMT_E_NAME),
	C(t_dup_name, FMT_E_DUPLICATE), C(t_ndims0, FMT_E_SHAPE), C(t_ndims5, FMT_E_SHAPE), C(t_dim0, FMT_E_SHAPE),
	C(t_dim_max, FMT_E_SHAPE), C(t_dim_2_63, FMT_E_SHAPE), C(t_dim_overflow, FMT_E_OVERFLOW),
	C(t_unused_dim, FMT_E_SHAPE), C(t_dtype, FMT_E_DTYPE), C(t_scheme, FMT_E_DTYPE),
	C(t_layout, FMT_E_UNSUPPORTED), C(t_scale_type2, FMT_E_DTYPE), C(t_scale_type_none_q, FMT_E_DTYPE),
	C(t_scale_type_f32_none, FMT_E_DTYPE), C(t_i8_none, FMT_E_DTYPE), C(t_f32_row, FMT_E_DTYPE),
	C(t_f8_group, FMT_E_DTYPE), C(t_gs_not_dividing, FMT_E_SHAPE), C(t_gs_48, FMT_E_SHAPE),
	C(t_gs_on_row, FMT_E_SHAPE), C(t_dbytes, FMT_E_SHAPE), C(t_off_misaligned, FMT_E_ALIGN),
	C(t_off_past_eof, FMT_E_BOUNDS), C(t_off_wrap, FMT_E_BOUNDS), C(t_off_header, FMT_E_BOUNDS),
	C(t_off_in_header_aligned, FMT_E_BOUNDS), C(t_overlap_tensor, FMT_E_OVERLAP),
	C(t_overlap_table, FMT_E_OVERLAP), C(t_overlap_section, FMT_E_OVERLAP), C(t_stat_nan, FMT_E_CORRUPT),
	C(t_stat_neg, FMT_E_CORRUPT), C(t_stat_inf, FMT_E_CORRUPT), C(t_reserved, FMT_E_CORRUPT),
	C(f_count65, FMT_E_LIMIT), C(f_trailing, FMT_E_CORRUPT), C(f_name_slash, FMT_E_NAME),
	C(f_name_dot, FMT_E_NAME), C(f_name_len_huge, FMT_E_BOUNDS), C(f_dup_name, FMT_E_DUPLICATE),
	C(f_raw_huge, FMT_E_LIMIT), C(f_zbytes_past_end, FMT_E_BOUNDS), C(f_zbytes_huge, FMT_E_BOUNDS),
};
#define N_CASES (sizeof cases / sizeof cases[0])

static char *g_dir;

static int group_setup(void **state)
{
	(void)state;
	g_base = tfc_sample_bytes(&g_n);
	if (!g_base)
		return -1;
	g_info.b = g_base;
	g_info.n = g_n;
	scan(&g_info);
	g_dir = tu_mkdtemp("fmt-bad");
	return g_dir ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	free(g_base);
	tu_rmtree(g_dir);
	free(g_dir);
	return 0;
}

/* Opens (b, n) from memory (an exact-size copy, so ASan sees any overread) and from disk. */
static void expect(const char *what, const uint8_t *b, size_t n, fmt_status want)
{
	uint8_t *copy = malloc(n ? n : 1);
	memcpy(copy, b, n);
	fmt_reader *r = (fmt_reader *)1;
	fmt_error e = {0};
	fmt_status st = fmt_reader_open_mem(copy, n, &r, &e);
	if (st != want)
		fail_msg("%s (memory): got %s, want %s: %s", what, fmt_status_name(st), fmt_status_name(want), e.msg);
	if (st) {
		assert_null(r);
		assert_int_equal(e.status, st);
		assert_true(strlen(e.msg) > 10);
	}
	fmt_reader_close(r);
	free(copy);
	char *p = tu_path_join(g_dir, "case.bale");
	assert_int_equal(tu_write_file(p, b, n), 0);
	fmt_error e2 = {0};
	st = fmt_reader_open(p, &r, &e2);
	if (st != want)
		fail_msg("%s (file): got %s, want %s: %s", what, fmt_status_name(st), fmt_status_name(want), e2.msg);
	if (st)
		assert_non_null(strstr(e2.msg, "case.bale"));
	fmt_reader_close(r);
	free(p);
}

static void test_table(void **state)
{
	(void)state;
	assert_true(N_CASES >= 35);
	expect("valid sample", g_base, g_n, FMT_OK);
	for (size_t i = 0; i < N_CASES; i++) {
		mctx c = g_info;
		c.b = malloc(g_n);
		memcpy(c.b, g_base, g_n);
		cases[i].patch(&c);
		if (!cases[i].nofix)
			tfc_refix(c.b, c.n);
		expect(cases[i].name, c.b, c.n, cases[i].want);
		free(c.b);
	}
}

/* The example message format from the brief: names the tensor, index, offset and table entry. */
static void test_messages(void **state)
{
	(void)state;
	mctx c = g_info;
	c.b = malloc(g_n);
	memcpy(c.b, g_base, g_n);
	t_off_misaligned(&c);
	tfc_refix(c.b, c.n);
	fmt_reader *r;
	fmt_error e;
	assert_int_equal(fmt_reader_open_mem(c.b, c.n, &r, &e), FMT_E_ALIGN);
	char want[256];
	snprintf(want, sizeof want, "tensor 'blk.0.wq' (#0): data_offset %llu is not a multiple of alignment 64 (table "
		 "entry at offset %llu)", (unsigned long long)(g_info.tdoff[0] + 8), (unsigned long long)g_info.trec[0]);
	assert_string_equal(e.msg, want);
	assert_int_equal(e.offset, g_info.tfix[0] + 44);
	free(c.b);
}

static void test_truncation(void **state)
{
	(void)state;
	/* every length from memory (exact-size buffers) */
	for (size_t k = 0; k < g_n; k++) {
		uint8_t *b = malloc(k ? k : 1);
		memcpy(b, g_base, k);
		fmt_reader *r;
		fmt_error e;
		fmt_status st = fmt_reader_open_mem(b, k, &r, &e);
		if (st != FMT_E_TRUNCATED)
			fail_msg("cut at %zu: got %s: %s", k, fmt_status_name(st), e.msg);
		free(b);
	}
	/* on disk at every boundary: header fields, section starts/ends, the table, tensor blobs */
	const mctx *c = &g_info;
	uint64_t cuts[64];
	size_t nc = 0;
	static const uint64_t hdr[] = {0, 1, 7, 8, 12, 24, 47, 55, 255, 256};
	for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++)
		cuts[nc++] = hdr[i];
	for (int k = 1; k < 8; k++)
		if (c->sec_entry[k]) {
			cuts[nc++] = c->sec_off[k];
			cuts[nc++] = c->sec_off[k] + c->sec_bytes[k] - 1;
		}
	cuts[nc++] = c->to;
	cuts[nc++] = c->to + 31;
	cuts[nc++] = g_n - 1;
	for (size_t i = 0; i < c->nt; i++) {
		cuts[nc++] = c->tdoff[i];
		cuts[nc++] = c->tdoff[i] + c->tdbytes[i] / 2;
	}
	for (size_t i = 0; i < nc; i++) {
		char what[64];
		snprintf(what, sizeof what, "cut at %llu", (unsigned long long)cuts[i]);
		expect(what, g_base, (size_t)cuts[i], FMT_E_TRUNCATED);
	}
}

/* One flipped bit anywhere inside a region is detected: at open, or by verify for tensor data. */
static void test_bit_flips(void **state)
{
	(void)state;
	fmt_reader *r;
	fmt_error e;
	assert_int_equal(fmt_reader_open_mem(g_base, g_n, &r, &e), FMT_OK);
	uint8_t *covered = calloc(g_n, 1);
	memset(covered, 1, 256);
	memset(covered + g_info.to, 1, 32 * g_info.ns);
	for (size_t i = 0; i < fmt_reader_n_sections(r); i++) {
		const fmt_section *s = fmt_reader_section_at(r, i);
		memset(covered + s->offset, 1, s->bytes);
	}
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++)
		memset(covered + g_info.tdoff[i], 2, g_info.tdbytes[i]);
	fmt_reader_close(r);
	uint8_t *b = malloc(g_n);
	memcpy(b, g_base, g_n);
	size_t n_open = 0, n_verify = 0;
	for (size_t k = 0; k < g_n; k++) {
		if (!covered[k])
			continue; /* alignment padding is not covered by any checksum */
		uint8_t bit = (uint8_t)(1u << (k % 8));
		b[k] ^= bit;
		fmt_status st = fmt_reader_open_mem(b, g_n, &r, &e);
		if (st == FMT_OK) {
			fmt_verify_result vr;
			st = fmt_verify(r, 1, NULL, NULL, &vr, &e);
			fmt_reader_close(r);
			if (st == FMT_OK)
				fail_msg("bit flip at %zu not detected", k);
			assert_int_equal(covered[k], 2);
			n_verify++;
		} else {
			n_open++;
		}
		b[k] ^= bit;
	}
	assert_true(n_open > 1000 && n_verify > 500);
	free(b);
	free(covered);
}

static void test_file_extract_errors(void **state)
{
	(void)state;
	struct {
		int what;
		fmt_status want;
	} rows[] = {{0, FMT_E_CHECKSUM}, {1, FMT_E_CORRUPT}, {2, FMT_E_CHECKSUM}, {3, FMT_E_CORRUPT}};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		mctx c = g_info;
		c.b = malloc(g_n);
		memcpy(c.b, g_base, g_n);
		switch (rows[i].what) {
		case 0: c.b[c.fz[0] - 16] ^= 1; break;                              /* raw_xxh3 */
		case 1: w64(&c, c.fz[0] - 24, r64(&c, c.fz[0] - 24) + 1); break; /* raw_bytes vs frame */
		case 2: c.b[c.fz[0] + r32(&c, c.fz[0] - 8) / 2] ^= 0xFF; break;  /* payload: content changes */
		default: c.b[c.fz[0]] ^= 0xFF; break;                               /* zstd magic */
		}
		tfc_refix(c.b, c.n);
		fmt_reader *r;
		fmt_error e;
		assert_int_equal(fmt_reader_open_mem(c.b, c.n, &r, &e), FMT_OK);
		uint8_t *out = (uint8_t *)1;
		size_t n = 1;
		fmt_status st = fmt_file_extract(fmt_reader_file_at(r, 0), &out, &n, &e);
		if (st != rows[i].want)
			fail_msg("extract row %zu: got %s: %s", i, fmt_status_name(st), e.msg);
		assert_null(out);
		assert_int_equal(n, 0);
		assert_non_null(strstr(e.msg, "config.json"));
		assert_int_equal(fmt_file_extract(fmt_reader_file_at(r, 1), &out, &n, &e), FMT_OK);
		free(out);
		fmt_reader_close(r);
		free(c.b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),     cmocka_unit_test(test_messages),
		cmocka_unit_test(test_truncation), cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_file_extract_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
