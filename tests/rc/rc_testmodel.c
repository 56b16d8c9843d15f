/* The rc tests' small model writer. */
#include "rc_testmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void matrix(fmt_writer *w, tu_rng *rng, const rct_spec *sp, const char *name, uint64_t n, uint64_t k)
{
	fmt_dtype dt = sp->dtype;
	fmt_scheme sc = sp->scheme;
	uint32_t g = sp->scheme == FMT_SCHEME_GROUP ? sp->group : 0;
	if (sp->odd_tensor && !strcmp(sp->odd_tensor, name))
		dt = FMT_BF16, sc = FMT_SCHEME_NONE, g = 0;
	size_t es = fmt_dtype_size(dt), groups = sc == FMT_SCHEME_NONE ? 0 : sc == FMT_SCHEME_ROW ? 1 : k / g;
	uint8_t *codes = malloc(n * k * es);
	float *scales = malloc(n * (groups ? groups : 1) * 4);
	assert_non_null(codes);
	assert_non_null(scales);
	for (size_t i = 0; i < n * k; i++) {
		double v = tu_rng_normal(rng) * (sp->sd > 0 ? sp->sd : 1);
		if (dt == FMT_BF16) {
			uint16_t h = fmt_f32_to_bf16((float)(v / 8));
			memcpy(codes + 2 * i, &h, 2);
		} else if (dt == FMT_I8) {
			int c = (int)(v * 40);
			codes[i] = (uint8_t)(int8_t)(c > 127 ? 127 : c < -127 ? -127 : c);
		} else {
			codes[i] = fmt_f32_to_e4m3((float)(v * 50));
		}
	}
	for (size_t i = 0; i < n * groups; i++)
		scales[i] = (float)(0.001 + 0.002 * tu_rng_uniform(rng));
	fmt_tensor_desc d = {name, dt, sc, 2, {n, k, 1, 1}, g};
	fmt_error fe;
	if (fmt_writer_add_tensor(w, &d, codes, groups ? scales : NULL, NULL, &fe) != FMT_OK)
		fail_msg("%s: %s", name, fe.msg);
	free(codes);
	free(scales);
}

static void vector(fmt_writer *w, tu_rng *rng, const char *name, uint64_t n)
{
	float *v = malloc(n * 4);
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)(1 + 0.1 * tu_rng_normal(rng));
	fmt_tensor_desc d = {name, FMT_F32, FMT_SCHEME_NONE, 1, {n, 1, 1, 1}, 0};
	fmt_error fe;
	if (fmt_writer_add_tensor(w, &d, v, NULL, NULL, &fe) != FMT_OK)
		fail_msg("%s: %s", name, fe.msg);
	free(v);
}

char *rct_write(const char *dir, const char *name, const rct_spec *spec)
{
	rct_spec s = *spec, *sp = &s;
	uint32_t D = s.d ? s.d : RCT_D, HD = s.hd ? s.hd : RCT_HD, NH = s.nh ? s.nh : RCT_NH, NKV = s.nkv ? s.nkv : RCT_NKV,
		 FF = s.ff ? s.ff : RCT_FF, VOCAB = s.vocab ? s.vocab : RCT_VOCAB, LAYERS = s.layers ? s.layers : RCT_LAYERS,
		 CTX = s.max_ctx ? s.max_ctx : 256;
	char *path = tu_path_join(dir, name);
	fmt_writer *w;
	fmt_error fe;
	assert_int_equal(fmt_writer_open(path, &(fmt_writer_opts){0, true}, &w, &fe), FMT_OK);
	fmt_kvbuild *kv = fmt_writer_kv(w, FMT_SEC_META);
	const char *arch = sp->qwen3 ? "qwen3" : "llama";
	assert_int_equal(fmt_kvbuild_str(kv, "general.architecture", arch, strlen(arch)), FMT_OK);
	const struct {
		const char *k;
		uint32_t v;
	} u[] = {{"model.n_layers", LAYERS}, {"model.d_model", D},   {"model.n_heads", NH},
		 {"model.n_kv_heads", NKV},  {"model.head_dim", HD}, {"model.d_ff", FF},
		 {"model.vocab_size", VOCAB}, {"model.max_ctx", CTX},    {"rope.dim", HD}};
	for (size_t i = 0; i < sizeof u / sizeof *u; i++)
		assert_int_equal(fmt_kvbuild_u32(kv, u[i].k, u[i].v), FMT_OK);
	assert_int_equal(fmt_kvbuild_f32(kv, "model.norm_eps", 1e-6f), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(kv, "model.tie_embeddings", sp->tied), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(kv, "model.qk_norm", sp->qwen3), FMT_OK);
	assert_int_equal(fmt_kvbuild_bool(kv, "model.attn_bias", false), FMT_OK);
	assert_int_equal(fmt_kvbuild_str(kv, "model.act", "silu", 4), FMT_OK);
	assert_int_equal(fmt_kvbuild_f64(kv, "rope.theta", sp->qwen3 ? 1e6 : 10000.0), FMT_OK);
	if (sp->qwen3) {
		assert_int_equal(fmt_kvbuild_str(kv, "rope.type", "yarn", 4), FMT_OK);
		assert_int_equal(fmt_kvbuild_f64(kv, "rope.factor", 4.0), FMT_OK);
		assert_int_equal(fmt_kvbuild_u32(kv, "rope.orig_ctx", CTX / 4), FMT_OK);
	} else {
		assert_int_equal(fmt_kvbuild_str(kv, "rope.type", "none", 4), FMT_OK);
	}
	tu_rng rng = {7};
	matrix(w, &rng, sp, "tok_embd", VOCAB, D);
	if (!sp->tied)
		matrix(w, &rng, sp, "output", VOCAB, D);
	vector(w, &rng, "output_norm", D);
	for (int l = 0; l < (int)LAYERS; l++) {
		char n[64];
#define N(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
		vector(w, &rng, N("attn_norm"), D);
		vector(w, &rng, N("ffn_norm"), D);
		matrix(w, &rng, sp, N("attn_q"), NH * HD, D);
		matrix(w, &rng, sp, N("attn_k"), NKV * HD, D);
		matrix(w, &rng, sp, N("attn_v"), NKV * HD, D);
		matrix(w, &rng, sp, N("attn_output"), D, NH * HD);
		matrix(w, &rng, sp, N("ffn_gate"), FF, D);
		matrix(w, &rng, sp, N("ffn_up"), FF, D);
		matrix(w, &rng, sp, N("ffn_down"), D, FF);
		if (sp->qwen3) {
			vector(w, &rng, N("attn_q_norm"), HD);
			vector(w, &rng, N("attn_k_norm"), HD);
		}
#undef N
	}
	if (fmt_writer_finish(w, &fe) != FMT_OK)
		fail_msg("finish: %s", fe.msg);
	fmt_writer_free(w);
	return path;
}
