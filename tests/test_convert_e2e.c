/* cv_convert end to end: every recipe on generated models, read back with the fmt reader and
 * compared with the source; keep rules, architectures, sharding, ties, determinism, --force. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt.h"
#include "convert.h"
#include "safetensors.h"
#include "test_convert_util.h"
#include "testutil.h"

#include <xxhash.h>

static char *g_dir;

static tcu_model base_model(void)
{
	tcu_model m;
	tcu_model_default(&m);
	m.d_model = 128;
	m.head_dim = 32;
	m.d_ff = 256;
	return m;
}

static char *make_dir(const char *tag, const tcu_model *m)
{
	char *p = tu_path_join(g_dir, tag);
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(tcu_make_model(p, m), 0);
	return p;
}

static void convert_ok(const char *dir, const char *out, cv_options *o, cv_result *r)
{
	cv_err e = {{0}};
	if (cv_convert(dir, out, o, r, &e))
		fail_msg("convert %s: %s", dir, e.msg);
}

static float src_value(const cv_st_tensor *t, uint64_t i)
{
	const uint8_t *p = t->data;
	if (t->src == CV_SRC_F32) {
		float f;
		memcpy(&f, p + 4 * i, 4);
		return f;
	}
	uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
	return t->src == CV_SRC_F16 ? fmt_f16_to_f32(h) : fmt_bf16_to_f32(h);
}

/* Every tensor of `out` against the source, within the bound of its stored type. */
static void check_values(const char *dir, const char *out, size_t expect_tensors)
{
	fmt_reader *r = NULL;
	fmt_error fe = {0};
	if (fmt_reader_open(out, &r, &fe) != FMT_OK)
		fail_msg("open %s: %s", out, fe.msg);
	assert_int_equal(fmt_reader_n_tensors(r), expect_tensors);
	cv_st_model *m = NULL;
	cv_err e = {{0}};
	if (cv_st_model_open(dir, &m, &e))
		fail_msg("%s", e.msg);
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		/* canonical → HF name for the lookups this test needs */
		char hf[160];
		unsigned l;
		char rest[64];
		if (!strcmp(t->name, "tok_embd"))
			snprintf(hf, sizeof hf, "model.embed_tokens.weight");
		else if (!strcmp(t->name, "output"))
			snprintf(hf, sizeof hf, "lm_head.weight");
		else if (!strcmp(t->name, "output_norm"))
			snprintf(hf, sizeof hf, "model.norm.weight");
		else if (sscanf(t->name, "blk.%u.%63s", &l, rest) == 2) {
			static const char *map[][2] = {
				{"attn_norm", "input_layernorm.weight"}, {"attn_q", "self_attn.q_proj.weight"},
				{"attn_k", "self_attn.k_proj.weight"},   {"attn_v", "self_attn.v_proj.weight"},
				{"attn_q_bias", "self_attn.q_proj.bias"}, {"attn_k_bias", "self_attn.k_proj.bias"},
				{"attn_v_bias", "self_attn.v_proj.bias"}, {"attn_q_norm", "self_attn.q_norm.weight"},
				{"attn_k_norm", "self_attn.k_norm.weight"}, {"attn_output", "self_attn.o_proj.weight"},
				{"ffn_norm", "post_attention_layernorm.weight"}, {"ffn_gate", "mlp.gate_proj.weight"},
				{"ffn_up", "mlp.up_proj.weight"},         {"ffn_down", "mlp.down_proj.weight"}};
			size_t k = 0;
			while (k < 14 && strcmp(map[k][0], rest))
				k++;
			assert_true(k < 14);
			snprintf(hf, sizeof hf, "model.layers.%u.%s", l, map[k][1]);
		} else {
			fail_msg("unexpected tensor %s", t->name);
		}
		const cv_st_ref *sr = cv_st_model_find(m, hf);
		assert_non_null(sr);
		const cv_st_tensor *s = sr->t;
		assert_int_equal(t->n_dims, s->n_dims);
		for (uint32_t d = 0; d < s->n_dims; d++)
			assert_int_equal(t->dims[d], s->dims[d]);
		if (s->n_dims == 1)
			assert_int_equal(t->dtype, FMT_F32);
		float *row = malloc(t->cols * sizeof *row), *src = malloc(t->cols * sizeof *src);
		double max_err = 0;
		uint64_t gs = t->scheme == FMT_SCHEME_GROUP ? t->group_size : t->cols;
		for (uint64_t rr = 0; rr < t->rows; rr++) {
			fmt_tensor_dequant_row(t, rr, row);
			double amax = 0, ga = 0;
			for (uint64_t c = 0; c < t->cols; c++) {
				src[c] = src_value(s, rr * t->cols + c);
				amax = fmax(amax, fabs(src[c]));
			}
			for (uint64_t c = 0; c < t->cols; c++) {
				if (c % gs == 0) {
					ga = 0;
					for (uint64_t k = c; k < c + gs; k++)
						ga = fmax(ga, fabs(src[k]));
				}
				double w = src[c], err = fabs((double)row[c] - w), bound;
				switch (t->dtype) {
				case FMT_I8: bound = ga / 254.0 * 1.001 + 1e-12; break;
				case FMT_F8_E4M3: bound = fmax(fabs(w) / 16.0, amax / 448.0 / 1024.0) * 1.001 + 1e-12; break;
				case FMT_BF16: bound = fabs(w) / 256.0; break;
				case FMT_F16: bound = fmax(fabs(w) / 2048.0, 3e-8); break;
				default: bound = 0; break;
				}
				if (err > bound)
					fail_msg("%s [%llu,%llu] (%s): |%g - %g| = %g > %g", t->name, (unsigned long long)rr,
						 (unsigned long long)c, fmt_dtype_name(t->dtype), (double)row[c], w, err, bound);
				max_err = fmax(max_err, err);
			}
		}
		free(src);
		/* the stored statistics describe the same error */
		assert_true(fabs((double)t->err_max_abs - max_err) <= 1e-6 + 1e-3 * max_err);
		assert_true(t->src_rms > 0);
		free(row);
	}
	cv_st_model_close(m);
	fmt_reader_close(r);
}

static void recipes(void **state)
{
	(void)state;
	tcu_model m = base_model();
	char *dir = make_dir("qwen3", &m);
	static const char *names[] = {"int8", "int8-g128", "int8-g64", "int8-g32", "fp8", "bf16", "f16", "f32"};
	static const fmt_dtype dts[] = {FMT_I8, FMT_I8, FMT_I8, FMT_I8, FMT_F8_E4M3, FMT_BF16, FMT_F16, FMT_F32};
	for (size_t i = 0; i < 8; i++) {
		cv_options o;
		cv_options_init(&o);
		assert_true(cv_recipe_parse(names[i], &o.recipe));
		char of[64];
		snprintf(of, sizeof of, "out-%s.bale", names[i]);
		char *out = tu_path_join(g_dir, of);
		cv_result res = {0};
		convert_ok(dir, out, &o, &res);
		assert_int_equal(res.n_tensors, 3 + 2 * 11);
		check_values(dir, out, 3 + 2 * 11);
		fmt_reader *r = NULL;
		fmt_error fe = {0};
		assert_int_equal(fmt_reader_open(out, &r, &fe), FMT_OK);
		const fmt_tensor *q = fmt_reader_find_tensor(r, "blk.1.attn_q");
		assert_non_null(q);
		assert_int_equal(q->dtype, dts[i]);
		assert_int_equal(fmt_reader_find_tensor(r, "tok_embd")->dtype, dts[i]);
		assert_int_equal(fmt_reader_find_tensor(r, "blk.0.attn_q_norm")->dtype, FMT_F32);
		static const uint32_t groups[] = {0, 128, 64, 32, 0, 0, 0, 0};
		assert_int_equal(q->group_size, groups[i]);
		const char *rs;
		size_t rl;
		assert_int_equal(fmt_kv_str(fmt_reader_kv(r, FMT_SEC_PROVENANCE), "quant.recipe", &rs, &rl, &fe), FMT_OK);
		assert_true(rl == strlen(names[i]) && !memcmp(rs, names[i], rl));
		fmt_reader_close(r);
		cv_result_free(&res);
		free(out);
	}
	free(dir);
}

static void meta_and_sections(void **state)
{
	(void)state;
	tcu_model m = base_model();
	m.extra_config = "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, "
			 "\"original_max_position_embeddings\": 64, \"attn_factor\": 0.875}";
	char *dir = make_dir("meta", &m);
	char *out = tu_path_join(g_dir, "meta.bale");
	cv_options o;
	cv_options_init(&o);
	cv_result res = {0};
	convert_ok(dir, out, &o, &res);
	fmt_reader *r = NULL;
	fmt_error fe = {0};
	assert_int_equal(fmt_reader_open(out, &r, &fe), FMT_OK);
	const fmt_kvlist *meta = fmt_reader_kv(r, FMT_SEC_META);
	const char *s;
	size_t sl;
	uint32_t u;
	double f;
	bool b;
	assert_int_equal(fmt_kv_str(meta, "general.architecture", &s, &sl, &fe), FMT_OK);
	assert_true(sl == 5 && !memcmp(s, "qwen3", 5));
	assert_int_equal(fmt_kv_u32(meta, "model.n_layers", &u, &fe), FMT_OK);
	assert_int_equal(u, 2);
	assert_int_equal(fmt_kv_u32(meta, "model.d_model", &u, &fe), FMT_OK);
	assert_int_equal(u, 128);
	assert_int_equal(fmt_kv_u32(meta, "model.head_dim", &u, &fe), FMT_OK);
	assert_int_equal(u, 32);
	assert_int_equal(fmt_kv_u32(meta, "model.vocab_size", &u, &fe), FMT_OK);
	assert_int_equal(u, 320);
	assert_int_equal(fmt_kv_bool(meta, "model.qk_norm", &b, &fe), FMT_OK);
	assert_true(b);
	assert_int_equal(fmt_kv_str(meta, "rope.type", &s, &sl, &fe), FMT_OK);
	assert_true(sl == 4 && !memcmp(s, "yarn", 4));
	assert_int_equal(fmt_kv_f64(meta, "rope.attn_factor", &f, &fe), FMT_OK);
	assert_true(f == 0.875);
	assert_int_equal(fmt_kv_u32(meta, "rope.orig_ctx", &u, &fe), FMT_OK);
	assert_int_equal(u, 64);
	const fmt_kv *eos = fmt_kv_find(meta, "token.eos_ids");
	assert_non_null(eos);
	assert_int_equal(eos->count, 2); /* 300 from config, 302 added by generation_config */
	assert_int_equal(fmt_kv_array_i64(eos, 1), 302);
	assert_int_equal(fmt_kv_f64(fmt_reader_kv(r, FMT_SEC_GENERATION), "temperature", &f, &fe), FMT_OK);
	assert_true(fabs(f - 0.6) < 1e-6);
	assert_non_null(fmt_reader_section(r, FMT_SEC_TOKENIZER));
	assert_non_null(fmt_reader_find_file(r, "config.json"));
	assert_non_null(fmt_reader_find_file(r, "tokenizer.json"));
	const fmt_kv *files = fmt_kv_find(fmt_reader_kv(r, FMT_SEC_PROVENANCE), "source.files");
	assert_non_null(files);
	const char *last;
	size_t ll;
	fmt_kv_array_str(files, files->count - 1, &last, &ll);
	assert_true(ll == strlen("model.safetensors") && !memcmp(last, "model.safetensors", ll));
	fmt_verify_result vr;
	assert_int_equal(fmt_verify(r, 1, NULL, NULL, &vr, &fe), FMT_OK);
	fmt_reader_close(r);
	cv_result_free(&res);
	free(out);
	free(dir);
}

static void keep_rules_and_archs(void **state)
{
	(void)state;
	tcu_model m = base_model();
	char *dir = make_dir("keep", &m);
	char *out = tu_path_join(g_dir, "keep.bale");
	cv_options o;
	cv_options_init(&o);
	assert_true(cv_keep_parse("output=bf16", &o.keep[0]));
	assert_true(cv_keep_parse("blk.*.ffn_down=int8-g128", &o.keep[1]));
	assert_true(cv_keep_parse("model.layers.1.mlp.up_proj.weight=fp8", &o.keep[2]));
	o.n_keep = 3;
	assert_false(cv_keep_parse("output=int4", &o.keep[3]));
	assert_false(cv_keep_parse("=bf16", &o.keep[3]));
	cv_result res = {0};
	convert_ok(dir, out, &o, &res);
	check_values(dir, out, 25);
	fmt_reader *r = NULL;
	fmt_error fe = {0};
	assert_int_equal(fmt_reader_open(out, &r, &fe), FMT_OK);
	assert_int_equal(fmt_reader_find_tensor(r, "output")->dtype, FMT_BF16);
	assert_int_equal(fmt_reader_find_tensor(r, "blk.0.ffn_down")->group_size, 128);
	assert_int_equal(fmt_reader_find_tensor(r, "blk.1.ffn_up")->dtype, FMT_F8_E4M3);
	assert_int_equal(fmt_reader_find_tensor(r, "blk.0.ffn_up")->dtype, FMT_I8);
	fmt_reader_close(r);
	cv_result_free(&res);

	/* a group that does not divide the columns, and a quantized 1-D tensor, are refused */
	cv_err e = {{0}};
	tcu_model small;
	tcu_model_default(&small);
	char *sd = make_dir("small", &small);
	cv_options_init(&o);
	o.force = true;
	assert_true(cv_recipe_parse("int8-g128", &o.recipe));
	assert_int_not_equal(cv_convert(sd, out, &o, NULL, &e), 0);
	assert_non_null(strstr(e.msg, "not a multiple of the group size"));
	cv_options_init(&o);
	o.force = true;
	assert_true(cv_keep_parse("*norm=int8", &o.keep[0]));
	o.n_keep = 1;
	assert_int_not_equal(cv_convert(sd, out, &o, NULL, &e), 0);
	assert_non_null(strstr(e.msg, "1-D"));
	free(sd);

	/* Qwen2 (biases, tied embeddings), Llama F32, Qwen3 F16 sharded */
	const struct {
		const char *arch, *dtype;
		bool tie;
		int shards;
		size_t n;
	} v[] = {{"qwen2", "BF16", true, 1, 2 + 2 * 12}, {"llama", "F32", false, 1, 3 + 2 * 9}, {"qwen3", "F16", false, 3, 25}};
	for (size_t i = 0; i < 3; i++) {
		tcu_model a = base_model();
		a.arch = v[i].arch;
		a.dtype = v[i].dtype;
		a.tie = v[i].tie;
		a.n_shards = v[i].shards;
		a.seed = 7 + i;
		char tag[32];
		snprintf(tag, sizeof tag, "arch%zu", i);
		char *d = make_dir(tag, &a);
		cv_options_init(&o);
		o.force = true;
		convert_ok(d, out, &o, &res);
		check_values(d, out, v[i].n);
		assert_int_equal(fmt_reader_open(out, &r, &fe), FMT_OK);
		assert_true((fmt_reader_find_tensor(r, "output") == NULL) == v[i].tie);
		assert_true((fmt_reader_find_tensor(r, "blk.0.attn_q_bias") != NULL) == !strcmp(v[i].arch, "qwen2"));
		if (v[i].shards > 1) {
			const fmt_kv *files = fmt_kv_find(fmt_reader_kv(r, FMT_SEC_PROVENANCE), "source.files");
			assert_int_equal(files->count, 4 + 1 + 3);
		}
		fmt_reader_close(r);
		cv_result_free(&res);
		free(d);
	}
	free(out);
	free(dir);
}

static void determinism_and_force(void **state)
{
	(void)state;
	/* small row blocks (3 rows of 128, or 1 row) so every tensor spans many blocks and two
	 * threads really interleave */
	tcu_model m = base_model();
	m.n_layers = 1;
	char *dir = make_dir("det", &m);
	char *a = tu_path_join(g_dir, "det1.bale"), *b = tu_path_join(g_dir, "det2.bale");
	cv_options o;
	cv_options_init(&o);
	o.block_elems = 400;
	assert_true(cv_recipe_parse("int8-g64", &o.recipe));
	o.n_threads = 1;
	cv_result res = {0};
	convert_ok(dir, a, &o, &res);
	cv_result_free(&res);
	o.n_threads = 2;
	convert_ok(dir, b, &o, &res);
	size_t na, nb;
	uint8_t *da = tu_read_file(a, &na), *db = tu_read_file(b, &nb);
	assert_true(na == nb && !memcmp(da, db, na));
	assert_int_equal(res.out_bytes, na);
	cv_result_free(&res);
	free(db);
	check_values(dir, b, 3 + 11);

	/* without force an existing output is left alone; with force it is replaced */
	cv_err e = {{0}};
	assert_true(cv_recipe_parse("bf16", &o.recipe));
	assert_int_not_equal(cv_convert(dir, a, &o, NULL, &e), 0);
	assert_non_null(strstr(e.msg, "exists"));
	uint8_t *again = tu_read_file(a, &nb);
	assert_true(na == nb && !memcmp(da, again, na));
	free(again);
	o.force = true;
	convert_ok(dir, a, &o, NULL);
	again = tu_read_file(a, &nb);
	assert_true(nb != na);
	free(again);
	free(da);
	/* output equal to an input, even with force */
	char *in = tu_path_join(dir, "config.json");
	assert_int_not_equal(cv_convert(dir, in, &o, NULL, &e), 0);
	assert_non_null(strstr(e.msg, "input file"));
	free(in);
	assert_int_not_equal(cv_convert(dir, dir, &o, NULL, &e), 0);
	assert_non_null(strstr(e.msg, "directory"));
	free(a);
	free(b);
	free(dir);
}

/* source.xxh3 is computed while converting, also when tensors are consumed out of file order
 * (save_pretrained stores lm_head.weight first, it is converted last); it must equal the hash
 * of each whole file. */
static void provenance_hashes(void **state)
{
	(void)state;
	static const char *fixtures[] = {"qwen3-bf16-sharded", "qwen3-bf16", "qwen2-bf16-tied"};
	for (size_t k = 0; k < 3; k++) {
		char dir[1024];
		snprintf(dir, sizeof dir, "%s/hf/%s", BALE_TEST_DATA, fixtures[k]);
		if (!tu_file_exists(dir)) {
			if (k == 0)
				skip();
			continue;
		}
		char *out = tu_path_join(g_dir, "prov.bale");
		cv_options o;
		cv_options_init(&o);
		o.force = true;
		cv_result res = {0};
		convert_ok(dir, out, &o, &res);
		fmt_reader *r = NULL;
		fmt_error fe = {0};
		assert_int_equal(fmt_reader_open(out, &r, &fe), FMT_OK);
		const fmt_kvlist *pv = fmt_reader_kv(r, FMT_SEC_PROVENANCE);
		const fmt_kv *files = fmt_kv_find(pv, "source.files"), *hashes = fmt_kv_find(pv, "source.xxh3"),
			     *sizes = fmt_kv_find(pv, "source.bytes");
		assert_true(files && hashes && sizes && files->count == hashes->count && files->count >= 4);
		for (uint64_t i = 0; i < files->count; i++) {
			const char *nm;
			size_t nl;
			fmt_kv_array_str(files, i, &nm, &nl);
			char path[2048];
			snprintf(path, sizeof path, "%s/%.*s", dir, (int)nl, nm);
			size_t n;
			uint8_t *d = tu_read_file(path, &n);
			assert_non_null(d);
			assert_int_equal(fmt_kv_array_u64(sizes, i), n);
			if (fmt_kv_array_u64(hashes, i) != XXH3_64bits(d, n))
				fail_msg("%s: source.xxh3 differs from the file's XXH3", path);
			free(d);
		}
		fmt_reader_close(r);
		cv_result_free(&res);
		free(out);
	}
}

int main(void)
{
	g_dir = tu_mkdtemp("conv-e2e");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recipes),
		cmocka_unit_test(meta_and_sections),
		cmocka_unit_test(keep_rules_and_archs),
		cmocka_unit_test(determinism_and_force),
		cmocka_unit_test(provenance_hashes),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmtree(g_dir);
	free(g_dir);
	return rc;
}
