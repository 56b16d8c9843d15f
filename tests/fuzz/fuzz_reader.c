/* libFuzzer target for the .bale reader: open from memory, walk every view, dequantize a row of
 * each tensor, extract small files, verify, close. Also linked into the corpus replay driver. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile float sink;

static void walk_kv(const fmt_kvlist *l)
{
	for (size_t i = 0; i < fmt_kv_count(l); i++) {
		const fmt_kv *kv = fmt_kv_at(l, i);
		if (fmt_kv_find(l, kv->key) != kv)
			abort();
		uint32_t u32;
		int32_t i32;
		uint64_t u64;
		double f;
		bool b;
		const char *s;
		size_t n;
		fmt_error e;
		(void)fmt_kv_u32(l, kv->key, &u32, &e);
		(void)fmt_kv_i32(l, kv->key, &i32, &e);
		(void)fmt_kv_u64(l, kv->key, &u64, &e);
		(void)fmt_kv_f64(l, kv->key, &f, &e);
		(void)fmt_kv_bool(l, kv->key, &b, &e);
		(void)fmt_kv_str(l, kv->key, &s, &n, &e);
		if (kv->type != FMT_V_ARRAY)
			continue;
		for (uint64_t k = 0; k < kv->count && k < 64; k++) {
			if (kv->elem_type == FMT_V_STR) {
				fmt_kv_array_str(kv, k, &s, &n);
				sink += n ? (float)(uint8_t)s[n - 1] : 0;
			} else if (kv->elem_type == FMT_V_F32 || kv->elem_type == FMT_V_F64) {
				sink += (float)fmt_kv_array_f64(kv, k);
			} else {
				sink += (float)fmt_kv_array_i64(kv, k) + (float)fmt_kv_array_u64(kv, k);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fmt_reader *r;
	fmt_error err;
	if (fmt_reader_open_mem(data, size, &r, &err) != FMT_OK) {
		if (strlen(err.msg) == 0)
			abort(); /* every rejection must explain itself */
		return 0;
	}
	for (size_t i = 0; i < fmt_reader_n_sections(r); i++)
		sink += (float)fmt_reader_section_at(r, i)->bytes;
	static const fmt_section_kind kinds[] = {FMT_SEC_META, FMT_SEC_CHAT_TEMPLATES, FMT_SEC_GENERATION,
						 FMT_SEC_PROVENANCE};
	for (size_t k = 0; k < 4; k++) {
		const fmt_kvlist *l = fmt_reader_kv(r, kinds[k]);
		if (l)
			walk_kv(l);
	}
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		if (fmt_reader_find_tensor(r, t->name) != t)
			abort();
		if (t->cols <= (1u << 20)) {
			float *row = malloc((size_t)t->cols * sizeof *row);
			if (row) {
				fmt_tensor_dequant_row(t, t->rows - 1, row);
				sink += row[0];
				free(row);
			}
		}
	}
	for (size_t i = 0; i < fmt_reader_n_files(r); i++) {
		const fmt_file *f = fmt_reader_file_at(r, i);
		if (fmt_reader_find_file(r, f->name) != f)
			abort();
		if (f->raw_bytes > (1u << 20))
			continue; /* decompression bombs up to 1 GiB are legal; keep the fuzzer fast */
		uint8_t *out;
		size_t n;
		if (fmt_file_extract(f, &out, &n, &err) == FMT_OK) {
			if (n != f->raw_bytes)
				abort();
			free(out);
		}
	}
	fmt_verify_result res;
	(void)fmt_verify(r, 1, NULL, NULL, &res, &err);
	fmt_reader_close(r);
	return 0;
}
