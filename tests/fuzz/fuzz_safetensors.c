/* libFuzzer target for the strict safetensors reader: the input is a whole file (8-byte length,
 * JSON header, data section) opened from memory; every accepted tensor is looked up by name and
 * its data range touched at both ends. Also linked into the corpus replay driver. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cv_st_file *f;
	cv_err err = {{0}};
	if (cv_st_open_mem(data, size, "fuzz.safetensors", &f, &err) != 0) {
		if (f || strlen(err.msg) == 0)
			abort(); /* every rejection must explain itself and leave nothing behind */
		return 0;
	}
	uint64_t data_off = cv_st_data_offset(f), covered = 0;
	if (cv_st_base(f) != data || cv_st_file_bytes(f) != size || data_off > size || cv_st_is_mapped(f) ||
	    cv_st_fd(f) != -1)
		abort();
	for (size_t i = 0; i < cv_st_n_tensors(f); i++) {
		const cv_st_tensor *t = cv_st_tensor_at(f, i);
		if (cv_st_find(f, t->name) != t || t->end < t->begin || t->begin != covered)
			abort();
		if (t->n_dims > CV_ST_MAX_DIMS || (t->n_elems * t->elem_bits) / 8 != t->end - t->begin)
			abort();
		if (t->data != data + data_off + t->begin)
			abort();
		if (t->end > t->begin)
			sink += t->data[0] + t->data[t->end - t->begin - 1];
		covered = t->end;
	}
	if (covered != size - data_off) /* tensors must tile the data section exactly */
		abort();
	if (cv_st_tensor_at(f, cv_st_n_tensors(f)) != NULL || cv_st_find(f, "") != NULL)
		abort();
	const char *v = cv_st_metadata(f, "format");
	sink += v ? (unsigned)strlen(v) : 0;
	cv_st_close(f);
	return 0;
}
