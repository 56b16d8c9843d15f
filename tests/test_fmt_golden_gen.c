/* Deterministic generator of tests/data/golden/small.bale: a tiny Qwen3-like model (1 layer,
 * d_model 64) with one tensor of each stored type, the META keys of SPEC §8, generation
 * defaults, provenance and two embedded files. Any change to these bytes is a format change. */
#include "test_fmt_golden_gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64 + Box-Muller, kept local so the golden bytes never depend on other helpers */
static uint64_t g_state;

static uint64_t next_u64(void)
{
	uint64_t z = (g_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A value in (-1, 1) built from integers only, so no libm differences can leak in. */
static float next_val(void)
{
	int64_t v = (int64_t)(next_u64() >> 40) - (1ll << 23);
	return (float)v / (float)(1 << 23);
}

static fmt_status quant_rows(fmt_writer *w, const char *name, fmt_dtype dt, uint32_t gs, uint64_t rows, uint64_t cols,
			     fmt_error *err)
{
	uint64_t n = rows * cols, gsz = gs ? gs : cols, groups = cols / gsz;
	float *src = malloc(n * sizeof *src);
	uint8_t *q = malloc(n);
	float *s = malloc(rows * groups * sizeof *s);
	double se = 0, sw = 0, emax = 0;
	for (uint64_t i = 0; i < n; i++)
		src[i] = next_val();
	for (uint64_t r = 0; r < rows; r++) {
		for (uint64_t g = 0; g < groups; g++) {
			const float *x = src + r * cols + g * gsz;
			float amax = 0;
			for (uint64_t c = 0; c < gsz; c++)
				amax = fabsf(x[c]) > amax ? fabsf(x[c]) : amax;
			float sc = amax / (dt == FMT_I8 ? 127.0f : 448.0f);
			s[r * groups + g] = sc;
			for (uint64_t c = 0; c < gsz; c++) {
				uint8_t code = 0;
				float deq = 0;
				if (sc != 0) {
					float v = x[c] / sc;
					if (dt == FMT_I8) {
						float rv = nearbyintf(v);
						rv = rv > 127 ? 127 : rv < -127 ? -127 : rv;
						code = (uint8_t)(int8_t)rv;
						deq = rv * sc;
					} else {
						code = fmt_f32_to_e4m3(v);
						deq = fmt_e4m3_to_f32(code) * sc;
					}
				}
				q[r * cols + g * gsz + c] = code;
				double e = (double)deq - x[c];
				se += e * e;
				sw += (double)x[c] * x[c];
				emax = fabs(e) > emax ? fabs(e) : emax;
			}
		}
	}
	fmt_tensor_desc d = {.name = name, .dtype = dt, .scheme = gs ? FMT_SCHEME_GROUP : FMT_SCHEME_ROW, .n_dims = 2,
			     .dims = {rows, cols}, .group_size = gs};
	fmt_tensor_stats st = {(float)sqrt(se / (double)n), (float)emax, (float)sqrt(sw / (double)n)};
	fmt_status rc = fmt_writer_add_tensor(w, &d, q, s, &st, err);
	free(src);
	free(q);
	free(s);
	return rc;
}

static fmt_status plain(fmt_writer *w, const char *name, fmt_dtype dt, uint32_t nd, uint64_t d0, uint64_t d1,
			float bias, fmt_error *err)
{
	uint64_t n = nd == 1 ? d0 : d0 * d1;
	uint8_t *b = malloc(n * 4);
	double sw = 0;
	for (uint64_t i = 0; i < n; i++) {
		float v = bias + 0.1f * next_val();
		sw += (double)v * v;
		if (dt == FMT_F32) {
			memcpy(b + 4 * i, &v, 4);
		} else {
			uint16_t h = dt == FMT_BF16 ? fmt_f32_to_bf16(v) : fmt_f32_to_f16(v);
			b[2 * i] = (uint8_t)h;
			b[2 * i + 1] = (uint8_t)(h >> 8);
		}
	}
	fmt_tensor_desc d = {.name = name, .dtype = dt, .scheme = FMT_SCHEME_NONE, .n_dims = nd, .dims = {d0, d1}};
	if (nd == 1)
		d.dims[1] = 0;
	fmt_tensor_stats st = {0, 0, (float)sqrt(sw / (double)n)};
	fmt_status rc = fmt_writer_add_tensor(w, &d, b, NULL, &st, err);
	free(b);
	return rc;
}

fmt_status bale_golden_write(const char *path, fmt_error *err)
{
	enum { L = 1, D = 64, H = 4, KVH = 2, HD = 16, FF = 128, V = 64 };
	g_state = 20250101;
	fmt_writer *w;
	fmt_writer_opts o = {.alignment = 0, .overwrite = true};
	fmt_status st = fmt_writer_open(path, &o, &w, err);
	if (st)
		return st;
	fmt_kvbuild *m = fmt_writer_kv(w, FMT_SEC_META);
	fmt_kvbuild_str(m, "general.architecture", "qwen3", 5);
	fmt_kvbuild_str(m, "general.name", "golden-tiny", 11);
	fmt_kvbuild_u32(m, "model.n_layers", L);
	fmt_kvbuild_u32(m, "model.d_model", D);
	fmt_kvbuild_u32(m, "model.n_heads", H);
	fmt_kvbuild_u32(m, "model.n_kv_heads", KVH);
	fmt_kvbuild_u32(m, "model.head_dim", HD);
	fmt_kvbuild_u32(m, "model.d_ff", FF);
	fmt_kvbuild_u32(m, "model.vocab_size", V);
	fmt_kvbuild_u32(m, "model.max_ctx", 256);
	fmt_kvbuild_f32(m, "model.norm_eps", 1e-6f);
	fmt_kvbuild_bool(m, "model.tie_embeddings", true);
	fmt_kvbuild_bool(m, "model.qk_norm", true);
	fmt_kvbuild_bool(m, "model.attn_bias", false);
	fmt_kvbuild_str(m, "model.act", "silu", 4);
	fmt_kvbuild_f64(m, "rope.theta", 1000000.0);
	fmt_kvbuild_u32(m, "rope.dim", HD);
	fmt_kvbuild_str(m, "rope.type", "none", 4);
	fmt_kvbuild_f64(m, "rope.factor", 1.0);
	fmt_kvbuild_f64(m, "rope.yarn_beta_fast", 32.0);
	fmt_kvbuild_f64(m, "rope.yarn_beta_slow", 1.0);
	fmt_kvbuild_i32(m, "token.bos_id", -1);
	fmt_kvbuild_i32(m, "token.eos_id", 95);
	fmt_kvbuild_i32(m, "token.pad_id", 94);
	int32_t eos[2] = {95, 93};
	fmt_kvbuild_array(m, "token.eos_ids", FMT_V_I32, eos, 2);
	fmt_kvbuild *c = fmt_writer_kv(w, FMT_SEC_CHAT_TEMPLATES);
	static const char tmpl[] = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";
	fmt_kvbuild_str(c, "default", tmpl, sizeof tmpl - 1);
	fmt_kvbuild *g = fmt_writer_kv(w, FMT_SEC_GENERATION);
	fmt_kvbuild_f32(g, "temperature", 0.6f);
	fmt_kvbuild_f32(g, "top_p", 0.95f);
	fmt_kvbuild_u32(g, "top_k", 20);
	fmt_kvbuild_bool(g, "do_sample", true);
	fmt_kvbuild_array(g, "eos_ids", FMT_V_I32, eos, 2);
	fmt_kvbuild *p = fmt_writer_kv(w, FMT_SEC_PROVENANCE);
	fmt_kvbuild_str(p, "converter.name", "bale", 4);
	fmt_kvbuild_str(p, "converter.version", "golden", 6);
	fmt_kvbuild_str(p, "quant.recipe", "int8", 4);
	fmt_kvbuild_str(p, "quant.keep", "", 0);
	const char *files[2] = {"config.json", "generation_config.json"};
	uint64_t fbytes[2] = {0, 0}, fx[2] = {1, 2};
	fmt_kvbuild_array(p, "source.files", FMT_V_STR, files, 2);
	fmt_kvbuild_array(p, "source.bytes", FMT_V_U64, fbytes, 2);
	fmt_kvbuild_array(p, "source.xxh3", FMT_V_U64, fx, 2);

	st = plain(w, "tok_embd", FMT_BF16, 2, V, D, 0, err);
	if (!st)
		st = plain(w, "output_norm", FMT_F32, 1, D, 0, 1.0f, err);
	char nm[64];
	for (int l = 0; l < L && !st; l++) {
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), nm)
		st = plain(w, NAME("attn_norm"), FMT_F32, 1, D, 0, 1.0f, err);
		if (!st)
			st = quant_rows(w, NAME("attn_q"), FMT_I8, 0, H * HD, D, err);
		if (!st)
			st = quant_rows(w, NAME("attn_k"), FMT_I8, 32, KVH * HD, D, err);
		if (!st)
			st = quant_rows(w, NAME("attn_v"), FMT_I8, 64, KVH * HD, D, err);
		if (!st)
			st = plain(w, NAME("attn_q_norm"), FMT_F16, 1, HD, 0, 1.0f, err);
		if (!st)
			st = plain(w, NAME("attn_k_norm"), FMT_F16, 1, HD, 0, 1.0f, err);
		if (!st)
			st = quant_rows(w, NAME("attn_output"), FMT_F8_E4M3, 0, D, H * HD, err);
		if (!st)
			st = plain(w, NAME("ffn_norm"), FMT_F32, 1, D, 0, 1.0f, err);
		if (!st)
			st = quant_rows(w, NAME("ffn_gate"), FMT_I8, 32, FF, D, err);
		if (!st)
			st = quant_rows(w, NAME("ffn_up"), FMT_F8_E4M3, 0, FF, D, err);
		if (!st)
			st = quant_rows(w, NAME("ffn_down"), FMT_I8, 128, D, FF, err);
#undef NAME
	}
	static const char cfg[] = "{\n  \"architectures\": [\"Qwen3ForCausalLM\"],\n  \"hidden_size\": 64,\n"
				  "  \"num_hidden_layers\": 1,\n  \"num_attention_heads\": 4,\n  \"num_key_value_heads\": 2\n}\n";
	static const char gen[] = "{\n  \"temperature\": 0.6,\n  \"top_p\": 0.95,\n  \"top_k\": 20\n}\n";
	if (!st)
		st = fmt_writer_add_file(w, "config.json", cfg, sizeof cfg - 1, err);
	if (!st)
		st = fmt_writer_add_file(w, "generation_config.json", gen, sizeof gen - 1, err);
	if (!st)
		st = fmt_writer_finish(w, err);
	fmt_writer_free(w);
	return st;
}
