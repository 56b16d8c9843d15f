/* The committed golden file must be reproduced byte for byte by its generator and accepted by
 * the reader: an accidental change to the byte layout fails here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt.h"
#include "test_fmt_golden_gen.h"
#include "testutil.h"

#define GOLDEN BALE_TEST_DATA "/golden/small.bale"
#define REGEN "cmake --build build --target bale_make_golden && build/tests/bale_make_golden tests/data/golden/small.bale"

static void test_golden_bytes(void **state)
{
	(void)state;
	size_t ng, nr;
	uint8_t *g = tu_read_file(GOLDEN, &ng);
	assert_non_null(g);
	char *dir = tu_mkdtemp("fmt-golden");
	char *p = tu_path_join(dir, "small.bale");
	fmt_error e;
	assert_int_equal(bale_golden_write(p, &e), FMT_OK);
	uint8_t *r = tu_read_file(p, &nr);
	size_t first = 0;
	while (first < ng && first < nr && g[first] == r[first])
		first++;
	if (ng != nr || first != ng) {
		fprintf(stderr, "golden mismatch: committed %zu bytes, regenerated %zu, first difference at %zu.\n"
				"If the format change is intended, bump the version in SPEC.md and regenerate:\n  %s\n",
			ng, nr, first, REGEN);
		fail();
	}
	free(r);
	free(g);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

static void test_golden_reads(void **state)
{
	(void)state;
	fmt_reader *r;
	fmt_error e;
	assert_int_equal(fmt_reader_open(GOLDEN, &r, &e), FMT_OK);
	fmt_verify_result vr;
	assert_int_equal(fmt_verify(r, 2, NULL, NULL, &vr, &e), FMT_OK);
	assert_int_equal(fmt_reader_n_tensors(r), 13);
	const fmt_kvlist *m = fmt_reader_kv(r, FMT_SEC_META);
	uint32_t v;
	assert_int_equal(fmt_kv_u32(m, "model.n_layers", &v, &e), FMT_OK);
	assert_int_equal(v, 1);
	assert_int_equal(fmt_kv_u32(m, "model.vocab_size", &v, &e), FMT_OK);
	const fmt_tensor *t = fmt_reader_find_tensor(r, "tok_embd");
	assert_non_null(t);
	assert_int_equal(t->rows, v);
	/* every quantized tensor reproduces its source within the stored error statistics */
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++) {
		t = fmt_reader_tensor_at(r, i);
		assert_true(t->src_rms > 0);
		if (t->scheme != FMT_SCHEME_NONE) {
			assert_true(t->err_rmse > 0 && t->err_rmse < 0.05f * t->src_rms);
			float *row = malloc(t->cols * sizeof *row);
			fmt_tensor_dequant_row(t, 0, row);
			for (uint64_t c = 0; c < t->cols; c++)
				assert_true(row[c] >= -1.0f && row[c] <= 1.0f);
			free(row);
		}
	}
	assert_int_equal(fmt_reader_n_files(r), 2);
	uint8_t *x;
	size_t n;
	assert_int_equal(fmt_file_extract(fmt_reader_find_file(r, "config.json"), &x, &n, &e), FMT_OK);
	assert_non_null(memchr(x, '{', n));
	free(x);
	fmt_reader_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_bytes),
		cmocka_unit_test(test_golden_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
