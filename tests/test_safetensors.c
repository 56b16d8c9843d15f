/* Malformed safetensors files, shard indexes and config.json: each is refused with a message that
 * names the file and the problem; a few also through `bale convert` (exit 1, no output). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf_model.h"
#include "safetensors.h"
#include "test_convert_util.h"
#include "testutil.h"

static char *g_dir;

static char *tmp_path(const char *name)
{
	return tu_path_join(g_dir, name);
}

static void expect_st_fail_bytes(const void *bytes, size_t n, const char *needle)
{
	char *p = tmp_path("bad.safetensors");
	assert_int_equal(tu_write_file(p, bytes, n), 0);
	cv_st_file *f = (cv_st_file *)1;
	cv_err e = {{0}};
	int rc = cv_st_open(p, &f, &e);
	if (rc == 0 || !strstr(e.msg, needle) || !strstr(e.msg, "bad.safetensors"))
		fail_msg("expected failure containing '%s', got rc=%d msg='%s'", needle, rc, e.msg);
	assert_null(f);
	free(p);
}

static void expect_st_fail(const char *json, const void *data, size_t n, const char *needle)
{
	char *p = tmp_path("bad.safetensors");
	assert_int_equal(tcu_write_raw_st(p, json, data, n), 0);
	cv_st_file *f = NULL;
	cv_err e = {{0}};
	int rc = cv_st_open(p, &f, &e);
	if (rc == 0 || !strstr(e.msg, needle) || !strstr(e.msg, "bad.safetensors"))
		fail_msg("json %s: expected failure containing '%s', got rc=%d msg='%s'", json, needle, rc, e.msg);
	free(p);
}

static void header_len_cases(void **state)
{
	(void)state;
	expect_st_fail_bytes("", 0, "too small");
	expect_st_fail_bytes("\x01\x02\x03\x04\x05\x06\x07", 7, "too small");
	uint8_t b[24] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
	expect_st_fail_bytes(b, sizeof b, "exceeds"); /* 2^64-1: must not wrap */
	uint8_t c[24] = {0x00, 0xc2, 0xeb, 0x0b, 0, 0, 0, 0, '{', '}'}; /* 200,000,000 */
	expect_st_fail_bytes(c, sizeof c, "limit");
	uint8_t d[16] = {0x40, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
	expect_st_fail_bytes(d, sizeof d, "exceeds");
	uint8_t e[18] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, 0, 0, 0, 0, 0}; /* NUL padding */
	expect_st_fail_bytes(e, 16, "JSON");
}

static void json_cases(void **state)
{
	(void)state;
	expect_st_fail("{abc", NULL, 0, "not valid JSON");
	expect_st_fail("[1, 2]", NULL, 0, "not a JSON object");
	expect_st_fail("{} x", NULL, 0, "not valid JSON");
	expect_st_fail("{\"a\xff\": 1}", NULL, 0, "not valid JSON");
	uint8_t z[4] = {0};
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
		       "\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
		       z, 4, "duplicate");
	expect_st_fail("{\"__metadata__\": {\"a\": 1}}", NULL, 0, "__metadata__");
}

static void tensor_field_cases(void **state)
{
	(void)state;
	uint8_t z[64] = {1};
	expect_st_fail("{\"t\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", z, 4, "unknown dtype");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", z, 4, "shape[0]");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", z, 4, "shape[0]");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": \"abc\", \"data_offsets\": [0, 4]}}", z, 4, "not an array");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [1]}}", z, 4, "missing data_offsets");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", z, 4, "data_offsets");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 2], \"data_offsets\": [0, 4]}}", z,
		       4, "overflows");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 4]}}", z, 4,
		       "overflows");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 0]}}", z, 4, "end");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", z, 8, "beyond");
	expect_st_fail("{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", z, 4, "needs");
}

static void layout_cases(void **state)
{
	(void)state;
	uint8_t z[64] = {1};
	expect_st_fail("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
		       "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
		       z, 4, "overlaps");
	expect_st_fail("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
		       "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
		       z, 12, "hole");
	expect_st_fail("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", z, 12, "trailing");
}

static void valid_cases(void **state)
{
	(void)state;
	float v[6] = {1.5f, -2.0f, 3.25f, 0.5f, 7.0f, -1.0f};
	char *p = tmp_path("ok.safetensors");
	/* leading whitespace, a scalar, a zero-size tensor, metadata; JSON order differs from data order */
	assert_int_equal(tcu_write_raw_st(p,
					  "  {\"__metadata__\": {\"format\": \"pt\"}, "
					  "\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [8, 24]}, "
					  "\"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [4, 8]}, "
					  "\"z\": {\"dtype\": \"BF16\", \"shape\": [0, 4], \"data_offsets\": [0, 0]}, "
					  "\"f\": {\"dtype\": \"I8\", \"shape\": [4], \"data_offsets\": [0, 4]}}",
					  v, 24),
			 0);
	cv_st_file *f = NULL;
	cv_err e = {{0}};
	if (cv_st_open(p, &f, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(cv_st_n_tensors(f), 4);
	const cv_st_tensor *w = cv_st_find(f, "w");
	assert_non_null(w);
	assert_int_equal(w->n_dims, 2);
	assert_int_equal(w->n_elems, 4);
	float got[4];
	memcpy(got, w->data, sizeof got);
	assert_true(got[0] == 3.25f && got[3] == -1.0f);
	assert_int_equal(cv_st_find(f, "s")->n_dims, 0);
	assert_int_equal(cv_st_find(f, "s")->n_elems, 1);
	assert_int_equal(cv_st_find(f, "z")->n_elems, 0);
	assert_int_equal(cv_st_find(f, "f")->src, -1);
	assert_string_equal(cv_st_find(f, "f")->dtype, "I8");
	assert_null(cv_st_find(f, "nope"));
	assert_string_equal(cv_st_metadata(f, "format"), "pt");
	cv_st_close(f);
	free(p);
}

/* ---- shard index ---- */

static char *make_sharded(void)
{
	char *d = tu_mkdtemp("st-idx");
	tcu_model m;
	tcu_model_default(&m);
	m.n_shards = 2;
	assert_int_equal(tcu_make_model(d, &m), 0);
	return d;
}

static void write_index(const char *dir, const char *json)
{
	char *p = tu_path_join(dir, "model.safetensors.index.json");
	assert_int_equal(tu_write_file(p, json, strlen(json)), 0);
	free(p);
}

static void expect_model_fail(const char *dir, const char *needle, const char *file)
{
	cv_st_model *m = NULL;
	cv_err e = {{0}};
	int rc = cv_st_model_open(dir, &m, &e);
	if (rc == 0 || !strstr(e.msg, needle) || !strstr(e.msg, file))
		fail_msg("expected '%s' and '%s', got rc=%d msg='%s'", needle, file, rc, e.msg);
	assert_null(m);
}

static void index_cases(void **state)
{
	(void)state;
	char *d = make_sharded();
	cv_st_model *m = NULL;
	cv_err e = {{0}};
	if (cv_st_model_open(d, &m, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(cv_st_model_n_shards(m), 2);
	assert_non_null(cv_st_model_find(m, "model.norm.weight"));
	cv_st_model_close(m);
	const char *idx = "model.safetensors.index.json";
	write_index(d, "{\"weight_map\": {\"model.norm.weight\": \"../model-00001-of-00002.safetensors\"}}");
	expect_model_fail(d, "not a plain file name", idx);
	write_index(d, "{\"weight_map\": {\"model.norm.weight\": \"/etc/passwd\"}}");
	expect_model_fail(d, "not a plain file name", idx);
	write_index(d, "{\"weight_map\": {\"a\": \"x.safetensors\", \"a\": \"x.safetensors\"}}");
	expect_model_fail(d, "duplicate", idx);
	write_index(d, "{\"metadata\": {}}");
	expect_model_fail(d, "weight_map", idx);
	write_index(d, "{\"weight_map\": {\"model.norm.weight\": \"model-00001-of-00002.safetensors\"}}");
	expect_model_fail(d, "not listed in the index", idx);
	/* a symlinked shard that leaves the directory */
	char *out = tu_mkdtemp("st-out");
	char *target = tu_path_join(out, "evil.safetensors"), *link = tu_path_join(d, "evil.safetensors");
	assert_int_equal(tcu_write_raw_st(target, "{}", NULL, 0), 0);
	assert_int_equal(symlink(target, link), 0);
	write_index(d, "{\"weight_map\": {\"x\": \"evil.safetensors\"}}");
	expect_model_fail(d, "symlink", idx);
	/* a symlinked shard that stays inside but names a FIFO: refused, not opened (found by
	 * fuzz_st_index: the open waited forever for a writer) */
	char *fifo = tu_path_join(d, "fifo"), *flink = tu_path_join(d, "fifo.safetensors");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(symlink("fifo", flink), 0);
	write_index(d, "{\"weight_map\": {\"x\": \"fifo.safetensors\"}}");
	expect_model_fail(d, "other than a regular file", idx);
	free(fifo);
	free(flink);
	/* a tensor mapped to a shard that does not hold it */
	char *sing = tu_mkdtemp("st-one");
	char *sp = tu_path_join(sing, "a.safetensors");
	float v = 1.0f;
	assert_int_equal(tcu_write_raw_st(sp, "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", &v, 4), 0);
	write_index(sing, "{\"weight_map\": {\"t\": \"a.safetensors\", \"u\": \"a.safetensors\"}}");
	expect_model_fail(sing, "does not contain", idx);
	free(sp);
	tu_rmtree(sing);
	free(sing);
	free(target);
	free(link);
	tu_rmtree(out);
	free(out);
	/* the index itself a FIFO: refused, not read */
	char *ip = tu_path_join(d, idx);
	assert_int_equal(unlink(ip), 0);
	assert_int_equal(mkfifo(ip, 0600), 0);
	expect_model_fail(d, "not a regular file", idx);
	free(ip);
	tu_rmtree(d);
	free(d);
}

/* ---- config.json ---- */

static void expect_cfg_fail(const char *json, const char *needle)
{
	cv_hf_config c;
	cv_err e = {{0}};
	int rc = cv_hf_config_parse(json, strlen(json), "dir/config.json", &c, &e);
	if (rc == 0 || !strstr(e.msg, needle) || !strstr(e.msg, "config.json"))
		fail_msg("config %s: expected '%s', got rc=%d msg='%s'", json, needle, rc, e.msg);
}

#define BASE "\"architectures\": [\"LlamaForCausalLM\"], \"intermediate_size\": 128, \"vocab_size\": 320, " \
	     "\"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-5"

static void config_cases(void **state)
{
	(void)state;
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			"\"quantization_config\": {\"quant_method\": \"fp8\"}}", "already quantized");
	expect_cfg_fail("{\"architectures\": [\"MistralForCausalLM\"]}", "unsupported architecture");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 1.5, \"num_attention_heads\": 4}", "integer");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2000, \"num_attention_heads\": 4}", "out of range");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": -1, \"num_attention_heads\": 4}", "out of range");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 5}", "not a multiple");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			"\"num_key_value_heads\": 3}", "not a multiple");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 1e400, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "invalid JSON");
	expect_cfg_fail("{" BASE ", \"hidden_size\": \"64\", \"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "integer");
	expect_cfg_fail("{\"architectures\": [\"LlamaForCausalLM\"], \"intermediate_size\": 128, \"vocab_size\": 320, "
			"\"max_position_embeddings\": 256, \"rms_norm_eps\": -1, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
			"\"num_attention_heads\": 4}", "rms_norm_eps");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			"\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2}}", "rope_scaling");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			"\"rope_theta\": 0}", "rope_theta");
	expect_cfg_fail("{\"architectures\": [\"Qwen2ForCausalLM\"], \"intermediate_size\": 128, \"vocab_size\": 320, "
			"\"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-5, \"hidden_size\": 64, "
			"\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"head_dim\": 32}", "hidden_size");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			"\"eos_token_id\": 999}", "eos_token_id");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			"\"layer_types\": [\"full_attention\", \"sliding_attention\"]}", "layer_types[1]");
	expect_cfg_fail("{" BASE ", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
			"\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, "
			"\"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}}", "high_freq_factor");

	/* YaRN with DeepSeek's attn_factor spelling is kept verbatim. */
	const char *ok = "{\"architectures\": [\"Qwen3ForCausalLM\"], \"intermediate_size\": 128, \"vocab_size\": 320, "
			 "\"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-6, \"hidden_size\": 64, "
			 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32, "
			 "\"eos_token_id\": [300, 301], \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, "
			 "\"original_max_position_embeddings\": 64, \"attn_factor\": 0.8782488562869419}}";
	cv_hf_config c;
	cv_err e = {{0}};
	if (cv_hf_config_parse(ok, strlen(ok), "config.json", &c, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(c.rope_type, CV_ROPE_YARN);
	assert_true(c.has_attn_factor && c.attn_factor == 0.8782488562869419);
	assert_false(c.has_attention_factor);
	/* transformers' own key is a different quantity and is kept apart */
	const char *tf = "{\"architectures\": [\"Qwen3ForCausalLM\"], \"intermediate_size\": 128, \"vocab_size\": 320, "
			 "\"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-6, \"hidden_size\": 64, "
			 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32, "
			 "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, "
			 "\"original_max_position_embeddings\": 64, \"attention_factor\": 0.75}}";
	cv_hf_config c2;
	if (cv_hf_config_parse(tf, strlen(tf), "config.json", &c2, &e))
		fail_msg("%s", e.msg);
	assert_true(c2.has_attention_factor && c2.attention_factor == 0.75);
	assert_false(c2.has_attn_factor);
	assert_int_equal(c.head_dim, 32);
	assert_int_equal(c.n_eos, 2);
	assert_int_equal(c.eos_ids[1], 301);
	assert_int_equal(c.bos_id, -1);
	assert_true(c.qk_norm && !c.attn_bias);
}

/* ---- through the CLI ---- */

static int run_convert(const char *dir, const char *out, const char *extra, char **err_out)
{
	const char *bin = getenv("BALE_BIN") ? getenv("BALE_BIN") : BALE_BIN;
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' convert '%s' -o '%s' -q %s", bin, dir, out, extra ? extra : "");
	return tu_run(cmd, NULL, err_out);
}

static void replace_in_file(const char *dir, const char *name, const char *from, const char *to)
{
	char *p = tu_path_join(dir, name);
	size_t n;
	char *s = (char *)tu_read_file(p, &n);
	assert_non_null(s);
	char *at = NULL;
	for (size_t i = 0; !at && i + strlen(from) <= n; i++)
		if (!memcmp(s + i, from, strlen(from)))
			at = s + i;
	assert_non_null(at);
	size_t fl = strlen(from), tl = strlen(to);
	char *o = malloc(n + tl + 1);
	memcpy(o, s, (size_t)(at - s));
	memcpy(o + (at - s), to, tl);
	memcpy(o + (at - s) + tl, at + fl, n - (size_t)(at - s) - fl);
	assert_int_equal(tu_write_file(p, o, n - fl + tl), 0);
	free(o);
	free(s);
	free(p);
}

static void cli_expect_fail(const char *dir, const char *needle, const char *file)
{
	char *out = tu_path_join(g_dir, "cli-out.bale"), *err = NULL;
	int rc = run_convert(dir, out, NULL, &err);
	if (rc != 1 || !err || !strstr(err, needle) || !strstr(err, file))
		fail_msg("expected exit 1 with '%s' / '%s', got %d: %s", needle, file, rc, err ? err : "");
	assert_false(tu_file_exists(out));
	free(err);
	free(out);
}

static void cli_cases(void **state)
{
	(void)state;
	tcu_model m;
	tcu_model_default(&m);
	char *d = tu_mkdtemp("st-cli");
	assert_int_equal(tcu_make_model(d, &m), 0);
	/* truncate the safetensors file */
	char *st = tu_path_join(d, "model.safetensors");
	size_t n;
	uint8_t *b = tu_read_file(st, &n);
	assert_int_equal(tu_write_file(st, b, n - 10), 0);
	cli_expect_fail(d, "beyond the data section", "model.safetensors");
	uint8_t *longer = calloc(n + 3, 1);
	memcpy(longer, b, n);
	assert_int_equal(tu_write_file(st, longer, n + 3), 0);
	free(longer);
	cli_expect_fail(d, "trailing", "model.safetensors");
	assert_int_equal(tu_write_file(st, b, 5), 0);
	cli_expect_fail(d, "too small", "model.safetensors");
	assert_int_equal(tu_write_file(st, b, n), 0);
	free(b);
	replace_in_file(d, "config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
	cli_expect_fail(d, "missing: model.layers.2.", "st-cli");
	replace_in_file(d, "config.json", "\"num_hidden_layers\": 3", "\"num_hidden_layers\": 1");
	cli_expect_fail(d, "unexpected tensors", "model.layers.1.");
	replace_in_file(d, "config.json", "\"num_hidden_layers\": 1", "\"num_hidden_layers\": 2, \"quantization_config\": {}");
	cli_expect_fail(d, "already quantized", "config.json");
	tu_rmtree(d);
	free(d);
	free(st);

	/* unsupported source dtype, and NaN in a tensor */
	d = tu_mkdtemp("st-cli2");
	m.nan_tensor = 3;
	assert_int_equal(tcu_make_model(d, &m), 0);
	cli_expect_fail(d, "NaN or Inf at element 1024", "model.layers.0.self_attn.k_proj.weight");
	tu_rmtree(d);
	free(d);
	d = tu_mkdtemp("st-cli3");
	m.nan_tensor = -1;
	m.dtype = "F32";
	assert_int_equal(tcu_make_model(d, &m), 0);
	replace_in_file(d, "model.safetensors", "\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [64]",
			"\"model.norm.weight\": {\"dtype\": \"I32\", \"shape\": [64]");
	cli_expect_fail(d, "unsupported dtype I32", "model.norm.weight");
	tu_rmtree(d);
	free(d);
}

int main(void)
{
	g_dir = tu_mkdtemp("st");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_len_cases), cmocka_unit_test(json_cases),  cmocka_unit_test(tensor_field_cases),
		cmocka_unit_test(layout_cases),     cmocka_unit_test(valid_cases), cmocka_unit_test(index_cases),
		cmocka_unit_test(config_cases),     cmocka_unit_test(cli_cases),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmtree(g_dir);
	free(g_dir);
	return rc;
}
