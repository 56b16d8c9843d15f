#include "test_convert_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt.h"
#include "testutil.h"

int tcu_write_raw_st(const char *path, const char *json, const void *data, size_t data_len)
{
	size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
	size_t n = 8 + padded + data_len;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return -1;
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
	memcpy(buf + 8, json, jl);
	memset(buf + 8 + jl, ' ', padded - jl);
	if (data_len)
		memcpy(buf + 8 + padded, data, data_len);
	int rc = tu_write_file(path, buf, n);
	free(buf);
	return rc;
}

void tcu_model_default(tcu_model *m)
{
	memset(m, 0, sizeof *m);
	m->arch = "qwen3";
	m->dtype = "BF16";
	m->n_layers = 2;
	m->d_model = 64;
	m->n_heads = 4;
	m->n_kv_heads = 2;
	m->head_dim = 16;
	m->d_ff = 128;
	m->vocab = 320;
	m->n_shards = 1;
	m->seed = 1;
	m->nan_tensor = -1;
}

typedef struct {
	char name[96];
	uint32_t nd;
	uint64_t d[2];
	bool norm;
} tdesc;

static size_t list_tensors(const tcu_model *m, tdesc *t)
{
	size_t n = 0;
	uint64_t q = (uint64_t)m->n_heads * m->head_dim, kv = (uint64_t)m->n_kv_heads * m->head_dim, d = m->d_model;
#define T(nm, ndim, a, b, isnorm) \
	do { \
		snprintf(t[n].name, sizeof t[n].name, "%s", nm); \
		t[n].nd = ndim, t[n].d[0] = a, t[n].d[1] = b, t[n].norm = isnorm; \
		n++; \
	} while (0)
	char b[96];
	T("model.embed_tokens.weight", 2, m->vocab, d, false);
	for (uint32_t l = 0; l < m->n_layers; l++) {
#define LT(s, ndim, a, c, isnorm) \
	do { \
		snprintf(b, sizeof b, "model.layers.%u.%s", l, s); \
		T(b, ndim, a, c, isnorm); \
	} while (0)
		LT("input_layernorm.weight", 1, d, 1, true);
		LT("self_attn.q_proj.weight", 2, q, d, false);
		LT("self_attn.k_proj.weight", 2, kv, d, false);
		LT("self_attn.v_proj.weight", 2, kv, d, false);
		if (!strcmp(m->arch, "qwen2")) {
			LT("self_attn.q_proj.bias", 1, q, 1, false);
			LT("self_attn.k_proj.bias", 1, kv, 1, false);
			LT("self_attn.v_proj.bias", 1, kv, 1, false);
		}
		if (!strcmp(m->arch, "qwen3")) {
			LT("self_attn.q_norm.weight", 1, m->head_dim, 1, true);
			LT("self_attn.k_norm.weight", 1, m->head_dim, 1, true);
		}
		LT("self_attn.o_proj.weight", 2, d, q, false);
		LT("post_attention_layernorm.weight", 1, d, 1, true);
		LT("mlp.gate_proj.weight", 2, m->d_ff, d, false);
		LT("mlp.up_proj.weight", 2, m->d_ff, d, false);
		LT("mlp.down_proj.weight", 2, d, m->d_ff, false);
	}
	T("model.norm.weight", 1, d, 1, true);
	if (!m->tie)
		T("lm_head.weight", 2, m->vocab, d, false);
#undef T
#undef LT
	return n;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char *p = tu_path_join(dir, name);
	int rc = tu_write_file(p, text, strlen(text));
	free(p);
	return rc;
}

static int copy_or_write(const char *dir, const char *name, const char *fallback)
{
	char src[1024];
	snprintf(src, sizeof src, "%s/hf/qwen3-bf16/%s", BALE_TEST_DATA, name);
	size_t n;
	uint8_t *d = tu_read_file(src, &n);
	if (!d)
		return write_text(dir, name, fallback);
	char *p = tu_path_join(dir, name);
	int rc = tu_write_file(p, d, n);
	free(p);
	free(d);
	return rc;
}

/* A minimal byte-level BPE used when tests/data has no tokenizer. */
static const char *MIN_TOK =
	"{\"version\":\"1.0\",\"added_tokens\":[{\"id\":300,\"content\":\"<|endoftext|>\",\"single_word\":false,"
	"\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],\"normalizer\":null,"
	"\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":true},"
	"\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"dropout\":null,"
	"\"unk_token\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
	"\"merges\":[\"a b\"]}}";
static const char *MIN_TOKCFG = "{\"eos_token\":\"<|endoftext|>\",\"chat_template\":\"{{ messages }}\"}";

/* Irwin–Hall sum of four 16-bit uniforms: close to N(0,1), cheap enough for models of 10^7
 * values under ASan. */
static double fast_normal(tu_rng *r)
{
	uint64_t x = tu_rng_u64(r);
	double s = 0;
	for (int i = 0; i < 4; i++)
		s += (double)((x >> (16 * i)) & 0xffff) / 65536.0;
	return (s - 2.0) * 1.7320508075688772;
}

int tcu_make_model(const char *dir, const tcu_model *m)
{
	tdesc *t = calloc(8 + (size_t)m->n_layers * 16, sizeof *t);
	if (!t)
		return -1;
	size_t n = list_tensors(m, t);
	const char *archname = !strcmp(m->arch, "qwen3") ? "Qwen3ForCausalLM"
			       : !strcmp(m->arch, "qwen2") ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
	char cfg[4096];
	snprintf(cfg, sizeof cfg,
		 "{\"architectures\": [\"%s\"], \"hidden_size\": %u, \"intermediate_size\": %u, "
		 "\"num_hidden_layers\": %u, \"num_attention_heads\": %u, \"num_key_value_heads\": %u, "
		 "%s%u, \"vocab_size\": %u, \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-06, "
		 "\"rope_theta\": 1000000.0, \"tie_word_embeddings\": %s, \"bos_token_id\": 300, "
		 "\"eos_token_id\": 300, \"hidden_act\": \"silu\"%s%s}",
		 archname, m->d_model, m->d_ff, m->n_layers, m->n_heads, m->n_kv_heads,
		 strcmp(m->arch, "qwen2") ? "\"head_dim\": " : "\"x_head_dim\": ", m->head_dim, m->vocab,
		 m->tie ? "true" : "false", m->extra_config ? ", " : "", m->extra_config ? m->extra_config : "");
	int rc = write_text(dir, "config.json", cfg);
	rc |= write_text(dir, "generation_config.json",
			 "{\"temperature\": 0.6, \"top_p\": 0.95, \"top_k\": 20, \"do_sample\": true, \"eos_token_id\": [300, 302]}");
	rc |= copy_or_write(dir, "tokenizer.json", MIN_TOK);
	rc |= copy_or_write(dir, "tokenizer_config.json", MIN_TOKCFG);
	size_t esz = !strcmp(m->dtype, "F32") ? 4 : 2;
	int shards = m->n_shards > 1 ? m->n_shards : 1;
	tu_rng rng = {m->seed};
	char *index = malloc(64 + n * 160);
	size_t io = 0;
	if (index)
		io += (size_t)sprintf(index, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
	for (int s = 0; s < shards && !rc && index; s++) {
		char *json = malloc(64 + n * 200);
		size_t jo = 0, total = 0;
		for (size_t i = (size_t)s; i < n; i += (size_t)shards)
			total += (size_t)(t[i].d[0] * (t[i].nd == 2 ? t[i].d[1] : 1)) * esz;
		uint8_t *data = malloc(total ? total : 1);
		if (!json || !data) {
			free(json);
			free(data);
			rc = -1;
			break;
		}
		jo += (size_t)sprintf(json + jo, "{\"__metadata__\": {\"format\": \"pt\"}");
		size_t off = 0;
		for (size_t i = (size_t)s; i < n; i += (size_t)shards) {
			uint64_t ne = t[i].d[0] * (t[i].nd == 2 ? t[i].d[1] : 1);
			if (t[i].nd == 2)
				jo += (size_t)sprintf(json + jo, ", \"%s\": {\"dtype\": \"%s\", \"shape\": [%llu, %llu], \"data_offsets\": [%zu, %zu]}",
						      t[i].name, m->dtype, (unsigned long long)t[i].d[0], (unsigned long long)t[i].d[1],
						      off, off + (size_t)ne * esz);
			else
				jo += (size_t)sprintf(json + jo, ", \"%s\": {\"dtype\": \"%s\", \"shape\": [%llu], \"data_offsets\": [%zu, %zu]}",
						      t[i].name, m->dtype, (unsigned long long)t[i].d[0], off, off + (size_t)ne * esz);
			for (uint64_t e = 0; e < ne; e++) {
				float v = t[i].norm ? (float)(1.0 + 0.1 * fast_normal(&rng)) : (float)(0.05 * fast_normal(&rng));
				if ((int)i == m->nan_tensor && e == ne / 2)
					v = NAN;
				uint8_t *p = data + off + e * esz;
				if (esz == 4) {
					memcpy(p, &v, 4);
				} else {
					uint16_t h = !strcmp(m->dtype, "F16") ? fmt_f32_to_f16(v) : fmt_f32_to_bf16(v);
					p[0] = (uint8_t)h;
					p[1] = (uint8_t)(h >> 8);
				}
			}
			off += (size_t)ne * esz;
			if (shards > 1)
				io += (size_t)sprintf(index + io, "%s\"%s\": \"model-%05d-of-%05d.safetensors\"", i ? ", " : "",
						      t[i].name, s + 1, shards);
		}
		jo += (size_t)sprintf(json + jo, "}");
		char fname[64];
		if (shards > 1)
			snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, shards);
		else
			snprintf(fname, sizeof fname, "model.safetensors");
		char *p = tu_path_join(dir, fname);
		rc |= tcu_write_raw_st(p, json, data, off);
		free(p);
		free(json);
		free(data);
	}
	if (!rc && index && shards > 1) {
		sprintf(index + io, "}}");
		rc |= write_text(dir, "model.safetensors.index.json", index);
	}
	free(index);
	free(t);
	return rc || !index ? -1 : 0;
}
