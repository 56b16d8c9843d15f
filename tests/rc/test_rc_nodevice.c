/* Without a usable GPU (or in a build without CUDA) every entry point that needs one reports
 * RC_E_DEVICE with kn_cuda's reason, and NULL-argument calls fail before touching CUDA. Where a
 * GPU is usable the device half is skipped (test_rc_gpu covers that machine). Label unit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cuda.h"
#include "rc.h"
#include "rc_testmodel.h"
#include "testutil.h"

static void test_null_arguments(void **state)
{
	(void)state;
	rc_error err;
	rc_model *m = (rc_model *)1;
	assert_int_equal(rc_model_load(NULL, NULL, NULL, &m, NULL, &err), RC_E_ARG);
	assert_int_equal(rc_model_create_dummy(NULL, FMT_I8, FMT_SCHEME_ROW, 0, 1, NULL, &m, &err), RC_E_ARG);
	rt_config c = {0};
	c.n_layers = 1, c.d_model = 64, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16, c.d_ff = 128, c.vocab_size = 10;
	assert_int_equal(rc_model_create_dummy(&c, FMT_F32, FMT_SCHEME_NONE, 0, 1, NULL, &m, &err), RC_E_ARG);
	assert_non_null(strstr(err.msg, "not supported"));
	assert_int_equal(rc_model_create_dummy(&c, FMT_I8, FMT_SCHEME_GROUP, 48, 1, NULL, &m, &err), RC_E_ARG);
	assert_int_equal(rc_state_create(NULL, NULL, NULL, &err), RC_E_ARG);
	uint64_t b;
	assert_int_equal(rc_state_bytes(NULL, NULL, &b, &err), RC_E_ARG);
	int32_t t = 1;
	float lg[10];
	assert_int_equal(rc_forward(NULL, NULL, 0, &t, 1, 0, RT_LOGITS_LAST, lg, &err), RC_E_ARG);
	uint32_t s = 0;
	assert_int_equal(rc_decode_batch(NULL, NULL, &s, &t, 1, lg, &err), RC_E_ARG);
	rc_model_free(NULL);
	rc_state_free(NULL);
	assert_string_equal(rc_status_name(RC_E_DEVICE), "RC_E_DEVICE");
	assert_string_equal(rc_status_name(RC_E_TENSOR), "RC_E_TENSOR");
}

static void test_no_device(void **state)
{
	(void)state;
	char why[512] = "";
	if (kn_cuda_device_count(why, sizeof why) > 0) {
		printf("a CUDA device is usable here: the no-device half is test_rc_gpu's machine's to skip\n");
		return;
	}
	assert_true(why[0] != 0);
	char *dir = tu_mkdtemp("rc-nodev");
	rct_spec sp = {.dtype = FMT_I8, .scheme = FMT_SCHEME_ROW};
	char *path = rct_write(dir, "m.bale", &sp);
	fmt_reader *r;
	fmt_error fe;
	assert_int_equal(fmt_reader_open(path, &r, &fe), FMT_OK);
	rt_model *cpu;
	rt_error re;
	assert_int_equal(rt_model_create(r, NULL, &cpu, &re), RT_OK);
	rc_error err = {0};
	rc_model *m = (rc_model *)1;
	rc_load_stats stats;
	assert_int_equal(rc_model_load(cpu, r, &(rc_model_opts){.verify = true}, &m, &stats, &err), RC_E_DEVICE);
	assert_null(m);
	if (!strstr(err.msg, why))
		fail_msg("'%s' does not carry kn_cuda's reason '%s'", err.msg, why);
	m = (rc_model *)1;
	assert_int_equal(rc_model_create_dummy(rt_model_config(cpu), FMT_I8, FMT_SCHEME_ROW, 0, 1, NULL, &m, &err),
			 RC_E_DEVICE);
	assert_null(m);
	assert_non_null(strstr(err.msg, why));
	rt_model_free(cpu);
	fmt_reader_close(r);
	tu_rmtree(dir);
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_arguments),
		cmocka_unit_test(test_no_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
