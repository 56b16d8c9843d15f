#include "test_fmt_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "testutil.h"

void tfc_fill(uint8_t *p, size_t n, uint64_t seed)
{
	tu_rng r = {seed * 7919 + 1};
	for (size_t i = 0; i < n; i++) {
		uint8_t v = (uint8_t)tu_rng_u64(&r);
		p[i] = v ? v : 0x5A;
	}
}

static fmt_status put_tensor(fmt_writer *w, const char *name, fmt_dtype dt, fmt_scheme sc, uint32_t nd,
			     const uint64_t *dims, uint32_t gs, uint64_t seed, fmt_error *err)
{
	fmt_tensor_desc d = {.name = name, .dtype = dt, .scheme = sc, .n_dims = nd, .group_size = gs};
	fmt_tensor t = {.name = name, .dtype = dt, .scheme = sc, .n_dims = nd, .group_size = gs};
	for (uint32_t i = 0; i < 4; i++)
		d.dims[i] = t.dims[i] = i < nd ? dims[i] : 1;
	fmt_status st = fmt_tensor_layout(&t, err);
	if (st)
		return st;
	size_t cb = (size_t)(t.n_elems * fmt_dtype_size(dt));
	uint8_t *data = malloc(cb);
	tfc_fill(data, cb, seed);
	if (dt == FMT_F32) /* keep the values finite */
		for (size_t i = 0; i < cb; i += 4)
			data[i + 3] = 0x3F;
	if (dt == FMT_F8_E4M3)
		for (size_t i = 0; i < cb; i++)
			if ((data[i] & 0x7F) == 0x7F)
				data[i] = 0x11;
	if (dt == FMT_I8)
		for (size_t i = 0; i < cb; i++)
			if (data[i] == 0x80)
				data[i] = 0x81;
	float *sc_v = NULL;
	if (sc != FMT_SCHEME_NONE) {
		size_t ns = (size_t)(t.rows * t.groups);
		sc_v = malloc(ns * sizeof *sc_v);
		for (size_t i = 0; i < ns; i++)
			sc_v[i] = 0.001f * (float)(i + 1 + seed);
	}
	fmt_tensor_stats stats = {0.01f, 0.02f, 0.5f};
	st = fmt_writer_add_tensor(w, &d, data, sc_v, &stats, err);
	free(data);
	free(sc_v);
	return st;
}

fmt_status tfc_write_sample(const char *path, fmt_error *err)
{
	fmt_writer_opts o = {.alignment = 64, .overwrite = true};
	fmt_writer *w;
	fmt_status st = fmt_writer_open(path, &o, &w, err);
	if (st)
		return st;
	fmt_kvbuild *m = fmt_writer_kv(w, FMT_SEC_META);
	fmt_kvbuild_str(m, "general.architecture", "qwen3", 5);
	fmt_kvbuild_u32(m, "model.d_model", 64);
	fmt_kvbuild_u32(m, "model.n_heads", 4);
	fmt_kvbuild_bool(m, "model.tie_embeddings", true);
	fmt_kvbuild_f32(m, "model.norm_eps", 1e-6f);
	fmt_kvbuild_f64(m, "rope.theta", 1000000.0);
	fmt_kvbuild_i32(m, "token.bos_id", -1);
	fmt_kvbuild_u64(m, "big.u64", 1ull << 40);
	fmt_kvbuild_i64(m, "big.i64", -(1ll << 40));
	int32_t eos[2] = {1, 2};
	fmt_kvbuild_array(m, "token.eos_ids", FMT_V_I32, eos, 2);
	const char *tags[2] = {"a", "bc"};
	fmt_kvbuild_array(m, "general.tags", FMT_V_STR, tags, 2);
	fmt_kvbuild *g = fmt_writer_kv(w, FMT_SEC_GENERATION);
	fmt_kvbuild_f32(g, "temperature", 0.6f);
	fmt_kvbuild_u32(g, "top_k", 20);
	static const uint64_t d_row[] = {4, 64}, d_grp[] = {2, 64}, d_1d[] = {8}, d_bf[] = {4, 8}, d_f8[] = {2, 16},
			      d_3d[] = {2, 2, 4};
	if (!st)
		st = put_tensor(w, "blk.0.wq", FMT_I8, FMT_SCHEME_ROW, 2, d_row, 0, 1, err);
	if (!st)
		st = put_tensor(w, "blk.0.wk", FMT_I8, FMT_SCHEME_GROUP, 2, d_grp, 32, 2, err);
	if (!st)
		st = put_tensor(w, "norm", FMT_F32, FMT_SCHEME_NONE, 1, d_1d, 0, 3, err);
	if (!st)
		st = put_tensor(w, "emb", FMT_BF16, FMT_SCHEME_NONE, 2, d_bf, 0, 4, err);
	if (!st)
		st = put_tensor(w, "fp8", FMT_F8_E4M3, FMT_SCHEME_ROW, 2, d_f8, 0, 5, err);
	if (!st)
		st = put_tensor(w, "h16", FMT_F16, FMT_SCHEME_NONE, 3, d_3d, 0, 6, err);
	static const uint8_t tok[16] = {1, 0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0xAA, 0xBB, 0xCC};
	if (!st)
		st = fmt_writer_set_section(w, FMT_SEC_TOKENIZER, tok, sizeof tok, err);
	static const char cfg[] = "{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":64}";
	static const char par[] = "{\"temperature\":0.6,\"top_k\":20,\"top_k2\":20,\"top_k3\":20}";
	if (!st)
		st = fmt_writer_add_file(w, "config.json", cfg, sizeof cfg - 1, err);
	if (!st)
		st = fmt_writer_add_file(w, "params.json", par, sizeof par - 1, err);
	if (!st)
		st = fmt_writer_finish(w, err);
	fmt_writer_free(w);
	return st;
}

uint8_t *tfc_sample_bytes(size_t *n)
{
	char *dir = tu_mkdtemp("fmt-sample");
	if (!dir)
		return NULL;
	char *p = tu_path_join(dir, "s.bale");
	fmt_error err;
	uint8_t *b = NULL;
	if (tfc_write_sample(p, &err) == FMT_OK)
		b = tu_read_file(p, n);
	else
		fprintf(stderr, "sample: %s\n", err.msg);
	tu_rmtree(dir);
	free(p);
	free(dir);
	return b;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void tfc_refix(uint8_t *b, size_t n)
{
	if (n < 256)
		return;
	uint64_t to = rd64(b + 32);
	uint32_t ns = rd32(b + 40);
	if (ns > 64 || to > n || n - to < (uint64_t)ns * 32)
		return;
	for (uint32_t i = 0; i < ns; i++) {
		uint8_t *e = b + to + 32 * i;
		uint64_t off = rd64(e + 8), len = rd64(e + 16);
		if (off <= n && len <= n - off)
			wr64(e + 24, XXH3_64bits(b + off, len));
	}
	uint8_t h[256];
	memcpy(h, b, 256);
	memset(h + 48, 0, 8);
	XXH3_state_t *s = XXH3_createState();
	XXH3_64bits_reset(s);
	XXH3_64bits_update(s, h, 256);
	XXH3_64bits_update(s, b + to, (size_t)ns * 32);
	wr64(b + 48, XXH3_64bits_digest(s));
	XXH3_freeState(s);
}
