/* Writer -> reader round trips for every dtype/scheme, KV type, raw sections and files; determinism;
 * verify (good, corrupted, interrupted); writer misuse, overwrite and failure semantics. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "bale/fmt.h"
#include "test_fmt_common.h"
#include "testutil.h"

typedef struct {
	const char *name;
	fmt_dtype dt;
	fmt_scheme sc;
	uint32_t nd;
	uint64_t dims[4];
	uint32_t gs;
	size_t chunk; /* 0 = one-shot add_tensor, else streaming chunk size */
} spec;

static const spec specs[] = {
	{"tok_embd", FMT_BF16, FMT_SCHEME_NONE, 2, {37, 64}, 0, 0},
	{"output_norm", FMT_F32, FMT_SCHEME_NONE, 1, {64}, 0, 7},
	{"blk.0.attn_q", FMT_I8, FMT_SCHEME_ROW, 2, {48, 64}, 0, 13},
	{"blk.0.attn_k", FMT_I8, FMT_SCHEME_GROUP, 2, {16, 128}, 32, 0},
	{"blk.0.attn_v", FMT_I8, FMT_SCHEME_GROUP, 2, {16, 128}, 64, 1000},
	{"blk.0.ffn_up", FMT_I8, FMT_SCHEME_GROUP, 3, {2, 3, 256}, 128, 3},
	{"blk.0.ffn_down", FMT_F8_E4M3, FMT_SCHEME_ROW, 2, {64, 40}, 0, 0},
	{"blk.0.attn_q_norm", FMT_F16, FMT_SCHEME_NONE, 3, {2, 3, 5}, 0, 1},
	{"big.f32", FMT_F32, FMT_SCHEME_NONE, 2, {300, 4096}, 0, 0},
	{"blk.1.\xc3\xa9t\xc3\xa9", FMT_F8_E4M3, FMT_SCHEME_ROW, 4, {2, 2, 2, 8}, 0, 5}, /* UTF-8 name, 4-D */
};
#define N_SPECS (sizeof specs / sizeof specs[0])

typedef struct {
	uint8_t *codes;
	float *scales;
	size_t codes_bytes, n_scales;
	fmt_tensor t;
} tdata;

static tdata make_data(const spec *s, uint64_t seed)
{
	tdata d = {0};
	d.t = (fmt_tensor){.name = s->name, .dtype = s->dt, .scheme = s->sc, .n_dims = s->nd, .group_size = s->gs};
	for (int i = 0; i < 4; i++)
		d.t.dims[i] = (uint32_t)i < s->nd ? s->dims[i] : 1;
	assert_int_equal(fmt_tensor_layout(&d.t, NULL), FMT_OK);
	d.codes_bytes = (size_t)(d.t.n_elems * fmt_dtype_size(s->dt));
	d.codes = malloc(d.codes_bytes);
	tu_rng r = {seed};
	for (size_t i = 0; i < d.t.n_elems; i++) {
		float v = (float)tu_rng_normal(&r);
		switch (s->dt) {
		case FMT_F32: memcpy(d.codes + 4 * i, &v, 4); break;
		case FMT_F16: { uint16_t h = fmt_f32_to_f16(v); memcpy(d.codes + 2 * i, &h, 2); break; }
		case FMT_BF16: { uint16_t h = fmt_f32_to_bf16(v); memcpy(d.codes + 2 * i, &h, 2); break; }
		case FMT_I8: d.codes[i] = (uint8_t)(int8_t)((int)(tu_rng_u64(&r) % 255) - 127); break;
		default: d.codes[i] = fmt_f32_to_e4m3(v * 100); break;
		}
	}
	if (s->sc != FMT_SCHEME_NONE) {
		d.n_scales = (size_t)(d.t.rows * d.t.groups);
		d.scales = malloc(d.n_scales * sizeof(float));
		for (size_t i = 0; i < d.n_scales; i++)
			d.scales[i] = (float)(0.001 + tu_rng_uniform(&r) * 0.01);
	}
	return d;
}

static void free_data(tdata *d)
{
	free(d->codes);
	free(d->scales);
}

static void write_chunked(fmt_writer *w, fmt_part part, const uint8_t *p, size_t n, size_t chunk)
{
	fmt_error e;
	for (size_t off = 0; off < n;) {
		size_t k = n - off < chunk ? n - off : chunk;
		assert_int_equal(fmt_writer_write(w, part, p + off, k, &e), FMT_OK);
		off += k;
	}
}

static const char *tmpl_names[] = {"x", "yy", ""};

static void fill_kv(fmt_writer *w)
{
	fmt_kvbuild *m = fmt_writer_kv(w, FMT_SEC_META);
	assert_non_null(m);
	assert_int_equal(fmt_kvbuild_str(m, "general.architecture", "qwen3", 5), FMT_OK);
	assert_int_equal(fmt_kvbuild_u32(m, "model.n_layers", 36), FMT_OK);
	assert_int_equal(fmt_kvbuild_i32(m, "token.pad_id", -1), FMT_OK);
	assert_int_equal(fmt_kvbuild_u64(m, "v.u64", 0xFFFFFFFFFFull), FMT_OK);
	assert_int_equal(fmt_kvbuild_i64(m, "v.i64", -5000000000ll), FMT_OK);
	assert_int_equal(fmt_kvbuild_f32(m, "model.norm_eps", 1e-6f), FMT_OK);
	assert_int_equal(fmt_kvbuild_f64(m, "rope.theta", 1e6), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(m, "model.qk_norm", true), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(m, "model.attn_bias", false), FMT_OK);
	uint32_t au32[3] = {1, 2, 0xFFFFFFFFu};
	int32_t ai32[3] = {-1, 151643, 151645};
	uint64_t au64[2] = {1ull << 50, 7};
	int64_t ai64[2] = {-(1ll << 50), 9};
	float af32[2] = {0.5f, -1.25f};
	double af64[2] = {3.5, -1e300};
	uint8_t abool[3] = {1, 0, 1};
	const char *astr[3] = {"config.json", "", "t\xc3\xa9st"};
	assert_int_equal(fmt_kvbuild_array(m, "a.u32", FMT_V_U32, au32, 3), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "token.eos_ids", FMT_V_I32, ai32, 3), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "a.u64", FMT_V_U64, au64, 2), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "a.i64", FMT_V_I64, ai64, 2), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "a.f32", FMT_V_F32, af32, 2), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "a.f64", FMT_V_F64, af64, 2), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "a.bool", FMT_V_BOOL, abool, 3), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "a.str", FMT_V_STR, astr, 3), FMT_OK);
	assert_int_equal(fmt_kvbuild_array(m, "a.empty", FMT_V_U32, NULL, 0), FMT_OK);
	/* builder refusals */
	assert_int_equal(fmt_kvbuild_u32(m, "model.n_layers", 1), FMT_E_DUPLICATE);
	assert_int_equal(fmt_kvbuild_u32(m, "bad key", 1), FMT_E_NAME);
	assert_int_equal(fmt_kvbuild_u32(m, "", 1), FMT_E_NAME);
	assert_int_equal(fmt_kvbuild_str(m, "s.bad", "\xff", 1), FMT_E_METADATA);
	assert_int_equal(fmt_kvbuild_str(m, "s.nul", "a\0b", 3), FMT_E_METADATA);
	uint8_t bad_bool = 2;
	assert_int_equal(fmt_kvbuild_array(m, "a.badbool", FMT_V_BOOL, &bad_bool, 1), FMT_E_METADATA);
	assert_int_equal(fmt_kvbuild_array(m, "a.nested", FMT_V_ARRAY, au32, 1), FMT_E_METADATA);
	fmt_kvbuild *c = fmt_writer_kv(w, FMT_SEC_CHAT_TEMPLATES);
	assert_int_equal(fmt_kvbuild_str(c, "default", "{{ messages }}", 14), FMT_OK);
	fmt_kvbuild *pv = fmt_writer_kv(w, FMT_SEC_PROVENANCE);
	assert_int_equal(fmt_kvbuild_str(pv, "converter.name", "bale", 4), FMT_OK);
	assert_null(fmt_writer_kv(w, FMT_SEC_TENSORS));
	assert_null(fmt_writer_kv(w, FMT_SEC_FILES));
	(void)tmpl_names;
}

static void check_kv(const fmt_reader *r)
{
	const fmt_kvlist *m = fmt_reader_kv(r, FMT_SEC_META);
	assert_non_null(m);
	assert_int_equal(fmt_kv_count(m), 18);
	fmt_error e;
	const char *s;
	size_t n;
	assert_int_equal(fmt_kv_str(m, "general.architecture", &s, &n, &e), FMT_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(s, "qwen3", 5);
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	double f;
	bool b;
	assert_int_equal(fmt_kv_u32(m, "model.n_layers", &u32, &e), FMT_OK);
	assert_int_equal(u32, 36);
	assert_int_equal(fmt_kv_i32(m, "token.pad_id", &i32, &e), FMT_OK);
	assert_int_equal(i32, -1);
	assert_int_equal(fmt_kv_u32(m, "token.pad_id", &u32, &e), FMT_E_TYPE);
	assert_non_null(strstr(e.msg, "token.pad_id"));
	assert_int_equal(fmt_kv_u64(m, "v.u64", &u64, &e), FMT_OK);
	assert_int_equal(u64, 0xFFFFFFFFFFull);
	assert_int_equal(fmt_kv_u32(m, "v.u64", &u32, &e), FMT_E_TYPE); /* out of range */
	assert_int_equal(fmt_kv_i32(m, "v.i64", &i32, &e), FMT_E_TYPE);
	assert_int_equal(fmt_kv_u64(m, "v.i64", &u64, &e), FMT_E_TYPE);
	assert_int_equal(fmt_kv_u64(m, "model.n_layers", &u64, &e), FMT_OK); /* widening */
	assert_int_equal(u64, 36);
	assert_int_equal(fmt_kv_f64(m, "model.norm_eps", &f, &e), FMT_OK);
	assert_true(f == (double)1e-6f);
	assert_int_equal(fmt_kv_f64(m, "rope.theta", &f, &e), FMT_OK);
	assert_true(f == 1e6);
	assert_int_equal(fmt_kv_f64(m, "model.n_layers", &f, &e), FMT_E_TYPE);
	assert_int_equal(fmt_kv_bool(m, "model.qk_norm", &b, &e), FMT_OK);
	assert_true(b);
	assert_int_equal(fmt_kv_bool(m, "model.attn_bias", &b, &e), FMT_OK);
	assert_false(b);
	assert_int_equal(fmt_kv_bool(m, "model.n_layers", &b, &e), FMT_E_TYPE);
	assert_int_equal(fmt_kv_u32(m, "missing.key", &u32, &e), FMT_E_NOTFOUND);
	assert_non_null(strstr(e.msg, "missing.key"));
	assert_null(fmt_kv_find(m, "missing.key"));
	assert_null(fmt_kv_find(NULL, "x"));
	const fmt_kv *kv = fmt_kv_find(m, "a.u32");
	assert_true(kv->type == FMT_V_ARRAY && kv->elem_type == FMT_V_U32 && kv->count == 3);
	assert_int_equal(fmt_kv_array_u64(kv, 2), 0xFFFFFFFFu);
	kv = fmt_kv_find(m, "token.eos_ids");
	assert_int_equal(fmt_kv_array_i64(kv, 0), -1);
	assert_int_equal(fmt_kv_array_i64(kv, 2), 151645);
	kv = fmt_kv_find(m, "a.u64");
	assert_int_equal(fmt_kv_array_u64(kv, 0), 1ull << 50);
	kv = fmt_kv_find(m, "a.i64");
	assert_int_equal(fmt_kv_array_i64(kv, 0), -(1ll << 50));
	kv = fmt_kv_find(m, "a.f32");
	assert_true(fmt_kv_array_f64(kv, 1) == -1.25);
	kv = fmt_kv_find(m, "a.f64");
	assert_true(fmt_kv_array_f64(kv, 1) == -1e300);
	kv = fmt_kv_find(m, "a.bool");
	assert_int_equal(fmt_kv_array_u64(kv, 0), 1);
	assert_int_equal(fmt_kv_array_u64(kv, 1), 0);
	kv = fmt_kv_find(m, "a.str");
	fmt_kv_array_str(kv, 0, &s, &n);
	assert_true(n == 11 && !memcmp(s, "config.json", 11));
	fmt_kv_array_str(kv, 1, &s, &n);
	assert_int_equal(n, 0);
	fmt_kv_array_str(kv, 2, &s, &n);
	assert_true(n == 5 && !memcmp(s, "t\xc3\xa9st", 5));
	kv = fmt_kv_find(m, "a.empty");
	assert_int_equal(kv->count, 0);
	/* keys are NUL-terminated copies and entries keep file offsets */
	for (size_t i = 0; i < fmt_kv_count(m); i++) {
		const fmt_kv *k = fmt_kv_at(m, i);
		assert_true(strlen(k->key) > 0 && fmt_kv_find(m, k->key) == k);
		assert_true(k->offset >= fmt_reader_section(r, FMT_SEC_META)->offset);
	}
	assert_int_equal(fmt_kv_str(fmt_reader_kv(r, FMT_SEC_CHAT_TEMPLATES), "default", &s, &n, &e), FMT_OK);
	assert_true(n == 14 && !memcmp(s, "{{ messages }}", 14));
	assert_non_null(fmt_reader_kv(r, FMT_SEC_PROVENANCE));
	assert_null(fmt_reader_kv(r, FMT_SEC_GENERATION));
}

static uint8_t tokbytes[40];
static uint8_t *bigfile;
#define BIGFILE_BYTES 100000

/* Writes the full round-trip file. */
static void write_full(const char *path, tdata *data)
{
	fmt_writer *w;
	fmt_error e;
	fmt_writer_opts o = {0};
	assert_int_equal(fmt_writer_open(path, &o, &w, &e), FMT_OK);
	assert_non_null(strstr(fmt_writer_temp_path(w), ".tmp."));
	fill_kv(w);
	for (size_t i = 0; i < N_SPECS; i++) {
		const spec *s = &specs[i];
		fmt_tensor_desc d = {.name = s->name, .dtype = s->dt, .scheme = s->sc, .n_dims = s->nd, .group_size = s->gs};
		memcpy(d.dims, data[i].t.dims, sizeof d.dims);
		fmt_tensor_stats st = {0.001f * (float)i, 0.002f * (float)i, 1.0f + (float)i};
		if (!s->chunk) {
			assert_int_equal(fmt_writer_add_tensor(w, &d, data[i].codes, data[i].scales, &st, &e), FMT_OK);
			continue;
		}
		assert_int_equal(fmt_writer_begin_tensor(w, &d, &e), FMT_OK);
		write_chunked(w, FMT_PART_DATA, data[i].codes, data[i].codes_bytes, s->chunk);
		if (data[i].scales)
			write_chunked(w, FMT_PART_SCALES, (const uint8_t *)data[i].scales, data[i].n_scales * 4, 3);
		assert_int_equal(fmt_writer_end_tensor(w, &st, &e), FMT_OK);
	}
	assert_int_equal(fmt_writer_set_section(w, FMT_SEC_TOKENIZER, tokbytes, sizeof tokbytes, &e), FMT_OK);
	assert_int_equal(fmt_writer_set_section(w, 42, tokbytes, 5, &e), FMT_OK);
	assert_int_equal(fmt_writer_set_section(w, 9, "", 0, &e), FMT_OK); /* empty section */
	assert_int_equal(fmt_writer_set_section(w, FMT_SEC_META, tokbytes, 4, &e), FMT_E_ARG);
	assert_int_equal(fmt_writer_set_section(w, 42, tokbytes, 4, &e), FMT_E_DUPLICATE);
	assert_int_equal(fmt_writer_add_file(w, "config.json", "{\"a\":1}", 7, &e), FMT_OK);
	assert_int_equal(fmt_writer_add_file(w, "tokenizer.json", bigfile, BIGFILE_BYTES, &e), FMT_OK);
	assert_int_equal(fmt_writer_add_file(w, "empty.txt", NULL, 0, &e), FMT_OK);
	assert_int_equal(fmt_writer_add_file(w, "config.json", "x", 1, &e), FMT_E_DUPLICATE);
	assert_int_equal(fmt_writer_add_file(w, "../x", "x", 1, &e), FMT_E_NAME);
	assert_int_equal(fmt_writer_add_file(w, ".hidden", "x", 1, &e), FMT_E_NAME);
	assert_int_equal(fmt_writer_finish(w, &e), FMT_OK);
	assert_true(fmt_writer_bytes_written(w) > 300 * 4096 * 4);
	assert_int_equal(fmt_writer_finish(w, &e), FMT_E_STATE);
	fmt_writer_free(w);
}

static void test_roundtrip(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("fmt-rt");
	char *p1 = tu_path_join(dir, "a.bale"), *p2 = tu_path_join(dir, "b.bale");
	tdata data[N_SPECS];
	for (size_t i = 0; i < N_SPECS; i++)
		data[i] = make_data(&specs[i], 100 + i);
	tfc_fill(tokbytes, sizeof tokbytes, 9);
	bigfile = malloc(BIGFILE_BYTES);
	for (size_t i = 0; i < BIGFILE_BYTES; i++)
		bigfile[i] = (uint8_t)("{\"vocab\": [abcdefgh]}"[i % 21] + (i / 997) % 3);
	write_full(p1, data);
	write_full(p2, data);

	/* determinism */
	size_t n1, n2;
	uint8_t *b1 = tu_read_file(p1, &n1), *b2 = tu_read_file(p2, &n2);
	assert_true(n1 == n2 && memcmp(b1, b2, n1) == 0);

	fmt_reader *r;
	fmt_error e;
	assert_int_equal(fmt_reader_open(p1, &r, &e), FMT_OK);
	const fmt_header *h = fmt_reader_header(r);
	assert_int_equal(h->major, 1);
	assert_int_equal(h->alignment, 4096);
	assert_int_equal(h->file_bytes, n1);
	assert_int_equal(fmt_reader_n_tensors(r), N_SPECS);
	/* sections in ascending kind order */
	assert_int_equal(fmt_reader_n_sections(r), 8);
	for (size_t i = 1; i < fmt_reader_n_sections(r); i++)
		assert_true(fmt_reader_section_at(r, i - 1)->kind < fmt_reader_section_at(r, i)->kind);
	for (size_t i = 0; i < N_SPECS; i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		assert_string_equal(t->name, specs[i].name);
		assert_ptr_equal(fmt_reader_find_tensor(r, specs[i].name), t);
		assert_int_equal(t->dtype, specs[i].dt);
		assert_int_equal(t->scheme, specs[i].sc);
		assert_int_equal(t->n_dims, specs[i].nd);
		assert_memory_equal(t->dims, data[i].t.dims, sizeof t->dims);
		assert_int_equal(t->data_offset % 4096, 0);
		assert_int_equal(t->data_bytes, data[i].t.data_bytes);
		assert_memory_equal(t->data, data[i].codes, data[i].codes_bytes);
		assert_int_equal(t->checksum, XXH3_64bits(t->data, t->data_bytes));
		assert_true(t->src_rms == 1.0f + (float)i && t->err_rmse == 0.001f * (float)i);
		if (specs[i].sc != FMT_SCHEME_NONE) {
			assert_int_equal(t->scale_type, FMT_SCALE_F32);
			assert_memory_equal(t->scales, data[i].scales, data[i].n_scales * 4);
			assert_int_equal((uintptr_t)t->scales % 4, 0);
			for (uint64_t k = data[i].codes_bytes; k < t->scale_offset; k++)
				assert_int_equal(t->data[k], 0); /* padding is zero */
		} else {
			assert_null(t->scales);
		}
		/* dequantize the last row and compare with the definition */
		float *row = malloc(t->cols * sizeof *row);
		uint64_t rr = t->rows - 1;
		fmt_tensor_dequant_row(t, rr, row);
		for (uint64_t c = 0; c < t->cols; c++) {
			uint64_t k = rr * t->cols + c;
			float want;
			switch (t->dtype) {
			case FMT_F32: memcpy(&want, data[i].codes + 4 * k, 4); break;
			case FMT_F16: { uint16_t v; memcpy(&v, data[i].codes + 2 * k, 2); want = fmt_f16_to_f32(v); break; }
			case FMT_BF16: { uint16_t v; memcpy(&v, data[i].codes + 2 * k, 2); want = fmt_bf16_to_f32(v); break; }
			case FMT_I8: want = (float)(int8_t)data[i].codes[k] *
					    data[i].scales[rr * t->groups + (t->group_size ? c / t->group_size : 0)];
				break;
			default: want = fmt_e4m3_to_f32(data[i].codes[k]) * data[i].scales[rr]; break;
			}
			assert_true(memcmp(&want, &row[c], 4) == 0);
		}
		free(row);
	}
	check_kv(r);
	const fmt_section *tok = fmt_reader_section(r, FMT_SEC_TOKENIZER);
	assert_true(tok && tok->bytes == sizeof tokbytes && !memcmp(tok->data, tokbytes, sizeof tokbytes));
	const fmt_section *s42 = fmt_reader_section(r, 42);
	assert_true(s42 && s42->bytes == 5 && !memcmp(s42->data, tokbytes, 5));
	assert_int_equal(fmt_reader_section(r, 9)->bytes, 0);
	assert_int_equal(fmt_reader_n_files(r), 3);
	const fmt_file *f = fmt_reader_find_file(r, "tokenizer.json");
	assert_non_null(f);
	assert_true(f->z_bytes < BIGFILE_BYTES / 4); /* level 19 on repetitive text */
	uint8_t *x;
	size_t xn;
	assert_int_equal(fmt_file_extract(f, &x, &xn, &e), FMT_OK);
	assert_true(xn == BIGFILE_BYTES && !memcmp(x, bigfile, xn));
	free(x);
	assert_int_equal(fmt_file_extract(fmt_reader_find_file(r, "empty.txt"), &x, &xn, &e), FMT_OK);
	assert_int_equal(xn, 0);
	free(x);
	assert_int_equal(fmt_file_extract(fmt_reader_find_file(r, "config.json"), &x, &xn, &e), FMT_OK);
	assert_true(xn == 7 && !memcmp(x, "{\"a\":1}", 7));
	free(x);
	assert_null(fmt_reader_find_file(r, "nope"));

	fmt_verify_result vr;
	assert_int_equal(fmt_verify(r, 4, NULL, NULL, &vr, &e), FMT_OK);
	assert_int_equal(vr.n_tensors, N_SPECS);
	assert_int_equal(vr.n_bad, 0);
	uint64_t total = 0;
	for (size_t i = 0; i < N_SPECS; i++)
		total += fmt_reader_tensor_at(r, i)->data_bytes;
	assert_int_equal(vr.bytes, total);
	assert_int_equal(fmt_verify(r, 0, NULL, NULL, &vr, &e), FMT_OK);
	fmt_reader_close(r);

	/* corrupt blobs: one byte in tensors #6 and #2; the first in table order is reported */
	assert_int_equal(fmt_reader_open_mem(b1, n1, &r, &e), FMT_OK);
	uint64_t o6 = fmt_reader_tensor_at(r, 6)->data_offset + 17, o2 = fmt_reader_tensor_at(r, 2)->data_offset + 3;
	fmt_reader_close(r);
	b1[o6] ^= 0x40;
	assert_int_equal(fmt_reader_open_mem(b1, n1, &r, &e), FMT_OK); /* tensor data is not checked at open */
	assert_int_equal(fmt_verify(r, 3, NULL, NULL, &vr, &e), FMT_E_CHECKSUM);
	assert_non_null(strstr(e.msg, "blk.0.ffn_down"));
	assert_int_equal(vr.n_bad, 1);
	fmt_reader_close(r);
	b1[o2] ^= 0x01;
	assert_int_equal(fmt_reader_open_mem(b1, n1, &r, &e), FMT_OK);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(fmt_verify(r, 4, NULL, NULL, &vr, &e), FMT_E_CHECKSUM);
		assert_non_null(strstr(e.msg, "'blk.0.attn_q'"));
		assert_int_equal(vr.n_bad, 2);
	}
	fmt_reader_close(r);

	free(b1);
	free(b2);
	free(bigfile);
	for (size_t i = 0; i < N_SPECS; i++)
		free_data(&data[i]);
	tu_rmtree(dir);
	free(p1);
	free(p2);
	free(dir);
}

static int n_progress;
static uint64_t last_done;

static bool prog_ok(void *user, uint64_t done, uint64_t total)
{
	(void)user;
	assert_true(done <= total && done >= last_done);
	last_done = done;
	n_progress++;
	return true;
}

static bool prog_stop(void *user, uint64_t done, uint64_t total)
{
	(void)user, (void)done, (void)total;
	n_progress++;
	return false;
}

static void test_verify_scales_progress(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = tfc_sample_bytes(&n);
	assert_non_null(b);
	fmt_reader *r;
	fmt_error e;
	fmt_verify_result vr;
	assert_int_equal(fmt_reader_open_mem(b, n, &r, &e), FMT_OK);
	n_progress = 0;
	last_done = 0;
	assert_int_equal(fmt_verify(r, 2, prog_ok, NULL, &vr, &e), FMT_OK);
	assert_true(n_progress >= 1);
	assert_int_equal(last_done, vr.bytes);
	n_progress = 0;
	assert_int_equal(fmt_verify(r, 2, prog_stop, NULL, &vr, &e), FMT_E_INTERRUPTED);
	assert_int_equal(n_progress, 1);
	/* a negative scale in blk.0.wk (#1) with its checksum fixed: verify names it */
	const fmt_tensor *t = fmt_reader_tensor_at(r, 1);
	uint64_t so = t->data_offset + t->scale_offset + 4, doff = t->data_offset, dbytes = t->data_bytes;
	fmt_reader_close(r);
	b[so + 3] |= 0x80;
	uint64_t cs = XXH3_64bits(b + doff, dbytes);
	/* find the table record holding this checksum and patch it, then refix the section chain */
	uint64_t old;
	assert_int_equal(fmt_reader_open_mem(b, n, &r, &e), FMT_OK);
	old = fmt_reader_tensor_at(r, 1)->checksum;
	fmt_reader_close(r);
	size_t hits = 0;
	for (size_t i = 0; i + 8 <= n; i++) {
		uint64_t v;
		memcpy(&v, b + i, 8);
		if (v == old) {
			memcpy(b + i, &cs, 8);
			hits++;
		}
	}
	assert_int_equal(hits, 1);
	tfc_refix(b, n);
	assert_int_equal(fmt_reader_open_mem(b, n, &r, &e), FMT_OK);
	assert_int_equal(fmt_verify(r, 2, NULL, NULL, &vr, &e), FMT_E_CORRUPT);
	assert_non_null(strstr(e.msg, "'blk.0.wk'"));
	assert_int_equal(e.offset, so);
	fmt_reader_close(r);
	free(b);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void add_small(fmt_writer *w, const char *name)
{
	fmt_tensor_desc d = {.name = name, .dtype = FMT_F32, .scheme = FMT_SCHEME_NONE, .n_dims = 1, .dims = {4}};
	float v[4] = {1, 2, 3, 4};
	fmt_error e;
	assert_int_equal(fmt_writer_add_tensor(w, &d, v, NULL, NULL, &e), FMT_OK);
}

static void test_writer_misuse(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("fmt-misuse");
	char *p = tu_path_join(dir, "m.bale");
	fmt_writer *w;
	fmt_error e;
	fmt_writer_opts bad = {.alignment = 100};
	assert_int_equal(fmt_writer_open(p, &bad, &w, &e), FMT_E_ARG);
	assert_int_equal(fmt_writer_open(p, NULL, &w, &e), FMT_OK);
	uint8_t buf[4096];
	tfc_fill(buf, sizeof buf, 3);
	assert_int_equal(fmt_writer_write(w, FMT_PART_DATA, buf, 4, &e), FMT_E_STATE);
	assert_int_equal(fmt_writer_end_tensor(w, NULL, &e), FMT_E_STATE);
	assert_int_equal(fmt_writer_finish(w, &e), FMT_E_STATE); /* no tensors */
	fmt_tensor_desc d = {.name = "q", .dtype = FMT_I8, .scheme = FMT_SCHEME_ROW, .n_dims = 2, .dims = {2, 8}};
	fmt_tensor_desc bd = d;
	bd.scheme = FMT_SCHEME_NONE;
	assert_int_equal(fmt_writer_begin_tensor(w, &bd, &e), FMT_E_ARG);
	bd = d;
	bd.name = "";
	assert_int_equal(fmt_writer_begin_tensor(w, &bd, &e), FMT_E_NAME);
	bd.name = "bad\nname";
	assert_int_equal(fmt_writer_begin_tensor(w, &bd, &e), FMT_E_NAME);
	bd = d;
	bd.scheme = FMT_SCHEME_GROUP;
	bd.group_size = 32; /* does not divide 8 */
	assert_int_equal(fmt_writer_begin_tensor(w, &bd, &e), FMT_E_ARG);
	assert_int_equal(fmt_writer_add_tensor(w, &d, buf, NULL, NULL, &e), FMT_E_ARG); /* no scales */
	assert_int_equal(fmt_writer_begin_tensor(w, &d, &e), FMT_OK);
	assert_int_equal(fmt_writer_begin_tensor(w, &d, &e), FMT_E_STATE);
	assert_int_equal(fmt_writer_write(w, FMT_PART_DATA, buf, 17, &e), FMT_E_ARG); /* 16 codes */
	assert_int_equal(fmt_writer_write(w, FMT_PART_DATA, buf, 10, &e), FMT_OK);
	float sc[2] = {0.5f, 0.25f};
	assert_int_equal(fmt_writer_write(w, FMT_PART_SCALES, sc, 8, &e), FMT_E_STATE); /* codes incomplete */
	assert_int_equal(fmt_writer_end_tensor(w, NULL, &e), FMT_E_STATE);
	assert_int_equal(fmt_writer_finish(w, &e), FMT_E_STATE); /* tensor open */
	assert_int_equal(fmt_writer_write(w, FMT_PART_DATA, buf, 6, &e), FMT_OK);
	float nan_sc[2] = {NAN, 1};
	assert_int_equal(fmt_writer_write(w, FMT_PART_SCALES, nan_sc, 8, &e), FMT_E_ARG);
	assert_int_equal(fmt_writer_write(w, FMT_PART_SCALES, sc, 12, &e), FMT_E_ARG); /* too many */
	assert_int_equal(fmt_writer_write(w, FMT_PART_SCALES, sc, 8, &e), FMT_OK);
	assert_int_equal(fmt_writer_write(w, FMT_PART_DATA, buf, 1, &e), FMT_E_STATE);
	fmt_tensor_stats bs = {-1, 0, 0};
	assert_int_equal(fmt_writer_end_tensor(w, &bs, &e), FMT_E_ARG);
	assert_int_equal(fmt_writer_end_tensor(w, NULL, &e), FMT_OK);
	assert_int_equal(fmt_writer_add_tensor(w, &d, buf, sc, NULL, &e), FMT_E_DUPLICATE);
	fmt_tensor_desc nd = {.name = "n", .dtype = FMT_F32, .scheme = FMT_SCHEME_NONE, .n_dims = 1, .dims = {2}};
	assert_int_equal(fmt_writer_begin_tensor(w, &nd, &e), FMT_OK);
	assert_int_equal(fmt_writer_write(w, FMT_PART_DATA, buf, 8, &e), FMT_OK);
	assert_int_equal(fmt_writer_write(w, FMT_PART_SCALES, sc, 4, &e), FMT_E_ARG);
	assert_int_equal(fmt_writer_end_tensor(w, NULL, &e), FMT_OK);
	/* free without finish: no file, no temp */
	assert_int_equal(count_entries(dir), 1);
	fmt_writer_free(w);
	assert_int_equal(count_entries(dir), 0);
	assert_false(tu_file_exists(p));
	fmt_writer_free(NULL);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

static void test_overwrite(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("fmt-ow");
	char *p = tu_path_join(dir, "o.bale");
	assert_int_equal(tu_write_file(p, "old", 3), 0);
	fmt_writer *w;
	fmt_error e;
	fmt_writer_opts no = {.overwrite = false}, yes = {.overwrite = true};
	assert_int_equal(fmt_writer_open(p, &no, &w, &e), FMT_E_IO);
	assert_non_null(strstr(e.msg, "exists"));
	assert_null(w);
	/* the path appears while writing: refused again before rename, old content untouched */
	unlink(p);
	assert_int_equal(fmt_writer_open(p, &no, &w, &e), FMT_OK);
	add_small(w, "t");
	assert_int_equal(tu_write_file(p, "new", 3), 0);
	assert_int_equal(fmt_writer_finish(w, &e), FMT_E_IO);
	fmt_writer_free(w);
	size_t n;
	uint8_t *b = tu_read_file(p, &n);
	assert_true(n == 3 && !memcmp(b, "new", 3));
	free(b);
	assert_int_equal(count_entries(dir), 1);
	/* overwrite=true replaces */
	assert_int_equal(fmt_writer_open(p, &yes, &w, &e), FMT_OK);
	add_small(w, "t");
	assert_int_equal(fmt_writer_finish(w, &e), FMT_OK);
	fmt_writer_free(w);
	fmt_reader *r;
	assert_int_equal(fmt_reader_open(p, &r, &e), FMT_OK);
	assert_int_equal(fmt_reader_n_tensors(r), 1);
	fmt_reader_close(r);
	assert_int_equal(count_entries(dir), 1);
	/* open errors name the path */
	char *missing = tu_path_join(dir, "nodir/x.bale");
	assert_int_equal(fmt_writer_open(missing, NULL, &w, &e), FMT_E_IO);
	assert_non_null(strstr(e.msg, "nodir"));
	assert_int_equal(fmt_reader_open(missing, &r, &e), FMT_E_IO);
	assert_non_null(strstr(e.msg, "nodir"));
	free(missing);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

/* A write failing with EFBIG (RLIMIT_FSIZE, SIGXFSZ ignored) in a child process. */
static void test_write_failure(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("fmt-fail");
	char *p = tu_path_join(dir, "f.bale");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {100000, 100000};
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(10);
		fmt_writer *w;
		fmt_error e;
		if (fmt_writer_open(p, NULL, &w, &e) != FMT_OK)
			_exit(11);
		fmt_tensor_desc d = {.name = "big", .dtype = FMT_F32, .scheme = FMT_SCHEME_NONE, .n_dims = 2,
				     .dims = {64, 4096}};
		uint8_t *z = calloc(1, 64 * 4096 * 4);
		tfc_fill(z, 64 * 4096 * 4, 1);
		fmt_status st = fmt_writer_add_tensor(w, &d, z, NULL, NULL, &e);
		if (st == FMT_OK)
			st = fmt_writer_finish(w, &e);
		int ok = st == FMT_E_IO && strstr(e.msg, "File too large") && strstr(e.msg, p);
		fmt_writer_free(w);
		free(z);
		_exit(ok ? 0 : 12);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_false(tu_file_exists(p));
	assert_int_equal(count_entries(dir), 0);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_verify_scales_progress),
		cmocka_unit_test(test_writer_misuse), cmocka_unit_test(test_overwrite),
		cmocka_unit_test(test_write_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
