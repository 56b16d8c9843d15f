/* rt_config / rt_model binding / rt_state / rt_forward argument checks on small .bale files written
 * here with fmt_writer: a valid model loads and runs; each broken variant (missing or out-of-range
 * META key, missing tensor, wrong shape) fails with a message naming the key or tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_model.h"
#include "testutil.h"

/* llama-like: 1 layer, d 8, 2 heads of 4, 1 kv head, d_ff 16, vocab 10 */
enum { D = 8, HD = 4, NH = 2, NKV = 1, FF = 16, VOCAB = 10 };

typedef struct {
	const char *skip_key;     /* META key left out */
	const char *bad_u32_key;  /* META key given `bad_u32` instead */
	uint32_t bad_u32;
	const char *arch;         /* default "llama" */
	const char *rope;         /* default "none" */
	const char *skip_tensor;
	const char *wide_tensor;  /* this tensor gets twice the rows */
} variant;

static char *tmp_dir;
static int file_no;

static void meta_u32(fmt_kvbuild *kv, const variant *v, const char *key, uint32_t val)
{
	if (v->skip_key && !strcmp(v->skip_key, key))
		return;
	if (v->bad_u32_key && !strcmp(v->bad_u32_key, key))
		val = v->bad_u32;
	assert_int_equal(fmt_kvbuild_u32(kv, key, val), FMT_OK);
}

static void add_tensor(fmt_writer *w, tu_rng *rng, const variant *v, const char *name, uint64_t d0, uint64_t d1)
{
	if (v->skip_tensor && !strcmp(v->skip_tensor, name))
		return;
	if (v->wide_tensor && !strcmp(v->wide_tensor, name))
		d0 *= 2;
	size_t n = (size_t)(d0 * (d1 ? d1 : 1));
	float *data = malloc(n * sizeof *data);
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = d1 ? (float)(tu_rng_normal(rng) / sqrt((double)d1)) : (float)(1 + 0.1 * tu_rng_normal(rng));
	fmt_tensor_desc desc = {name, FMT_F32, FMT_SCHEME_NONE, d1 ? 2u : 1u, {d0, d1 ? d1 : 1, 1, 1}, 0};
	fmt_error fe;
	if (fmt_writer_add_tensor(w, &desc, data, NULL, NULL, &fe) != FMT_OK)
		fail_msg("%s: %s", name, fe.msg);
	free(data);
}

static char *write_model(const variant *v)
{
	char file[32];
	snprintf(file, sizeof file, "m%d.bale", file_no++);
	char *path = tu_path_join(tmp_dir, file);
	fmt_writer *w;
	fmt_error fe;
	assert_int_equal(fmt_writer_open(path, NULL, &w, &fe), FMT_OK);
	fmt_kvbuild *kv = fmt_writer_kv(w, FMT_SEC_META);
	const char *arch = v->arch ? v->arch : "llama", *rope = v->rope ? v->rope : "none";
	if (!v->skip_key || strcmp(v->skip_key, "general.architecture"))
		assert_int_equal(fmt_kvbuild_str(kv, "general.architecture", arch, strlen(arch)), FMT_OK);
	meta_u32(kv, v, "model.n_layers", 1);
	meta_u32(kv, v, "model.d_model", D);
	meta_u32(kv, v, "model.n_heads", NH);
	meta_u32(kv, v, "model.n_kv_heads", NKV);
	meta_u32(kv, v, "model.head_dim", HD);
	meta_u32(kv, v, "model.d_ff", FF);
	meta_u32(kv, v, "model.vocab_size", VOCAB);
	meta_u32(kv, v, "model.max_ctx", 32);
	meta_u32(kv, v, "rope.dim", HD);
	assert_int_equal(fmt_kvbuild_f32(kv, "model.norm_eps", 1e-6f), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(kv, "model.tie_embeddings", true), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(kv, "model.qk_norm", false), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(kv, "model.attn_bias", false), FMT_OK);
	assert_int_equal(fmt_kvbuild_str(kv, "model.act", "silu", 4), FMT_OK);
	assert_int_equal(fmt_kvbuild_f64(kv, "rope.theta", 10000.0), FMT_OK);
	assert_int_equal(fmt_kvbuild_str(kv, "rope.type", rope, strlen(rope)), FMT_OK);
	assert_int_equal(fmt_kvbuild_f64(kv, "rope.factor", 4.0), FMT_OK);
	tu_rng rng = {42};
	add_tensor(w, &rng, v, "tok_embd", VOCAB, D);
	add_tensor(w, &rng, v, "output_norm", D, 0);
	add_tensor(w, &rng, v, "blk.0.attn_norm", D, 0);
	add_tensor(w, &rng, v, "blk.0.ffn_norm", D, 0);
	add_tensor(w, &rng, v, "blk.0.attn_q", NH * HD, D);
	add_tensor(w, &rng, v, "blk.0.attn_k", NKV * HD, D);
	add_tensor(w, &rng, v, "blk.0.attn_v", NKV * HD, D);
	add_tensor(w, &rng, v, "blk.0.attn_output", D, NH * HD);
	add_tensor(w, &rng, v, "blk.0.ffn_gate", FF, D);
	add_tensor(w, &rng, v, "blk.0.ffn_up", FF, D);
	add_tensor(w, &rng, v, "blk.0.ffn_down", D, FF);
	if (fmt_writer_finish(w, &fe) != FMT_OK)
		fail_msg("finish: %s", fe.msg);
	fmt_writer_free(w);
	return path;
}

/* Opens a variant and returns the rt status; *msg gets the message. */
static rt_status try_load(const variant *v, char *msg, size_t len)
{
	char *path = write_model(v);
	fmt_reader *r;
	fmt_error fe;
	assert_int_equal(fmt_reader_open(path, &r, &fe), FMT_OK);
	rt_model *m = NULL;
	rt_error re = {0};
	rt_status st = rt_model_create(r, NULL, &m, &re);
	snprintf(msg, len, "%s", st == RT_OK ? "" : re.msg);
	if (st != RT_OK)
		assert_null(m);
	rt_model_free(m);
	fmt_reader_close(r);
	free(path);
	return st;
}

static void expect_fail(const variant *v, rt_status want, const char *needle)
{
	char msg[512];
	assert_int_equal(try_load(v, msg, sizeof msg), want);
	if (!strstr(msg, needle))
		fail_msg("message '%s' does not mention '%s'", msg, needle);
}

static void test_valid_model_runs(void **state)
{
	variant v = {0};
	char *path = write_model(&v);
	fmt_reader *r;
	fmt_error fe;
	assert_int_equal(fmt_reader_open(path, &r, &fe), FMT_OK);
	rt_model *m;
	rt_error re;
	assert_int_equal(rt_model_create(r, NULL, &m, &re), RT_OK);
	const rt_config *c = rt_model_config(m);
	assert_int_equal(c->arch, RT_ARCH_LLAMA);
	assert_int_equal(c->d_ff, FF);
	assert_true(c->tie_embeddings);
	/* tied: the output matrix is the embedding */
	assert_ptr_equal(rt_model_weights(m)->output.data, rt_model_weights(m)->tok_embd.data);

	/* size query: KV cache of 16 positions (2 × 16 × NKV·HD floats) plus activations */
	rt_state_opts so = {.max_ctx = 16, .max_batch = 4};
	size_t bytes, bytes_bf16;
	assert_int_equal(rt_state_size(m, &so, &bytes, &re), RT_OK);
	assert_true(bytes >= 2 * 16 * NKV * HD * 4 + 4 * (2 * D + 2 * NH * HD + 2 * NKV * HD + 2 * FF) * 4);
	so.kv_type = KN_KV_BF16;
	assert_int_equal(rt_state_size(m, &so, &bytes_bf16, &re), RT_OK);
	assert_true(bytes_bf16 < bytes);
	/* FP8: a row is NKV·HD codes padded to 4 bytes plus NKV f32 scales; the K and V buffers here
	 * are multiples of the 64-byte arena alignment, so the saving is exact */
	size_t bytes_f8;
	so.kv_type = KN_KV_F8;
	assert_int_equal(rt_state_size(m, &so, &bytes_f8, &re), RT_OK);
	assert_int_equal(bytes - bytes_f8, 2 * 16 * (NKV * HD * 4 - ((NKV * HD + 3) / 4 * 4 + NKV * 4)));
	so.kv_type = KN_KV_F32;
	rt_state *s;
	assert_int_equal(rt_state_create(m, &so, &s, &re), RT_OK);

	const int32_t ids[6] = {1, 7, 3, 9, 0, 4};
	float all[6 * VOCAB], last[VOCAB];
	assert_int_equal(rt_forward(m, s, ids, 6, 0, RT_LOGITS_ALL, all, &re), RT_OK);
	double mx = 0;
	for (int i = 0; i < 6 * VOCAB; i++) {
		assert_true(isfinite(all[i]));
		mx = fmax(mx, fabs(all[i]));
	}
	assert_true(mx > 0);
	/* LAST equals the last row of ALL (6 tokens in batches of 4, then 1 by 1) */
	assert_int_equal(rt_forward(m, s, ids, 6, 0, RT_LOGITS_LAST, last, &re), RT_OK);
	for (int i = 0; i < VOCAB; i++)
		assert_float_equal(last[i], all[5 * VOCAB + i], 1e-5 * mx);
	for (int t = 0; t < 6; t++)
		assert_int_equal(rt_forward(m, s, ids + t, 1, (size_t)t, RT_LOGITS_LAST, last, &re), RT_OK);
	for (int i = 0; i < VOCAB; i++)
		assert_float_equal(last[i], all[5 * VOCAB + i], 1e-5 * mx);

	/* bad calls */
	const int32_t bad[2] = {3, VOCAB};
	assert_int_equal(rt_forward(m, s, bad, 2, 0, RT_LOGITS_LAST, last, &re), RT_E_ARG);
	assert_non_null(strstr(re.msg, "token 1 has id 10"));
	const int32_t neg = -1;
	assert_int_equal(rt_forward(m, s, &neg, 1, 0, RT_LOGITS_LAST, last, &re), RT_E_ARG);
	assert_int_equal(rt_forward(m, s, ids, 1, 7, RT_LOGITS_LAST, last, &re), RT_E_ARG);
	assert_non_null(strstr(re.msg, "past the 6 cached"));
	assert_int_equal(rt_forward(m, s, ids, 0, 0, RT_LOGITS_LAST, last, &re), RT_E_ARG);
	assert_int_equal(rt_forward(m, s, ids, 1, 0, RT_LOGITS_LAST, NULL, &re), RT_E_ARG);
	assert_int_equal(rt_forward(m, s, ids, 1, 0, RT_LOGITS_NONE, NULL, &re), RT_OK);

	so.kv_type = (kn_kv_type)7;
	assert_int_equal(rt_state_size(m, &so, &bytes, &re), RT_E_ARG);
	rt_state_free(s);
	rt_model_free(m);
	fmt_reader_close(r);
	free(path);
}

static void test_meta_errors(void **state)
{
	expect_fail(&(variant){.skip_key = "model.d_ff"}, RT_E_META, "model.d_ff");
	expect_fail(&(variant){.skip_key = "general.architecture"}, RT_E_META, "general.architecture");
	expect_fail(&(variant){.bad_u32_key = "model.n_kv_heads", .bad_u32 = 3}, RT_E_META, "model.n_kv_heads");
	expect_fail(&(variant){.bad_u32_key = "model.n_layers", .bad_u32 = 0}, RT_E_META, "model.n_layers");
	expect_fail(&(variant){.bad_u32_key = "model.vocab_size", .bad_u32 = 0x7fffffff}, RT_E_META,
		    "model.vocab_size");
	expect_fail(&(variant){.bad_u32_key = "rope.dim", .bad_u32 = 3}, RT_E_META, "rope.dim");
	expect_fail(&(variant){.bad_u32_key = "rope.dim", .bad_u32 = HD * 2}, RT_E_META, "rope.dim");
	expect_fail(&(variant){.arch = "gpt2"}, RT_E_META, "'gpt2'");
	expect_fail(&(variant){.rope = "ntk"}, RT_E_META, "rope.type");
	/* yarn needs rope.orig_ctx, which this writer never adds */
	expect_fail(&(variant){.rope = "yarn"}, RT_E_META, "rope.orig_ctx");
	/* n_heads 4 with 1 kv head is fine in META, but then attn_q must be [16][8] */
	expect_fail(&(variant){.bad_u32_key = "model.n_heads", .bad_u32 = 4}, RT_E_TENSOR,
		    "tensor blk.0.attn_q: expected [16][8], got [8][8]");
}

static void test_tensor_errors(void **state)
{
	expect_fail(&(variant){.skip_tensor = "blk.0.ffn_up"}, RT_E_TENSOR, "tensor blk.0.ffn_up: missing");
	expect_fail(&(variant){.skip_tensor = "output_norm"}, RT_E_TENSOR, "tensor output_norm: missing");
	expect_fail(&(variant){.wide_tensor = "blk.0.attn_k"}, RT_E_TENSOR,
		    "tensor blk.0.attn_k: expected [4][8], got [8][8]");
	expect_fail(&(variant){.wide_tensor = "blk.0.ffn_norm"}, RT_E_TENSOR,
		    "tensor blk.0.ffn_norm: expected [8], got [16]");
	expect_fail(&(variant){.wide_tensor = "tok_embd"}, RT_E_TENSOR, "tensor tok_embd: expected [10][8], got [20][8]");
}

static int setup(void **state)
{
	tmp_dir = tu_mkdtemp("model-bind");
	return tmp_dir ? 0 : -1;
}

static int teardown(void **state)
{
	tu_rmtree(tmp_dir);
	free(tmp_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_model_runs),
		cmocka_unit_test(test_meta_errors),
		cmocka_unit_test(test_tensor_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
