/* The GPU memory planner on DeepSeek-R1-0528-Qwen3-8B's shapes (model-facts §1) with INT8/row
 * weights whose sizes come from the format library's own layout (fmt_tensor_layout), budgets too
 * small for a request and the suggestions they produce, and hostile dimensions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "testutil.h"

#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)

/* ---- the 8B model: 399 tensors (1 embed + 36×11 + final norm + lm_head) ------------------ */

enum { L8 = 36, D8 = 4096, FF8 = 12288, V8 = 151936, H8 = 32, KV8 = 8, HD8 = 128 };

static const pl_dims DIMS8 = {.n_layers = L8, .n_heads = H8, .n_kv_heads = KV8, .head_dim = HD8, .d_model = D8,
			      .d_ff = FF8, .vocab = V8, .max_ctx = 131072};

typedef struct {
	pl_tensor t[400];
	char names[400][32];
	size_t n;
} model8;

static uint64_t blob_bytes(fmt_dtype dt, fmt_scheme sc, uint64_t rows, uint64_t cols)
{
	fmt_tensor t;
	memset(&t, 0, sizeof t);
	t.dtype = dt;
	t.scheme = sc;
	t.n_dims = cols ? 2 : 1;
	t.dims[0] = rows;
	t.dims[1] = cols ? cols : 1;
	t.dims[2] = t.dims[3] = 1;
	fmt_error fe;
	assert_int_equal(fmt_tensor_layout(&t, &fe), FMT_OK);
	return t.data_bytes;
}

static void add_t(model8 *m, const char *name, uint64_t bytes)
{
	assert_true(m->n < 400);
	snprintf(m->names[m->n], sizeof m->names[m->n], "%s", name);
	m->t[m->n].name = m->names[m->n];
	m->t[m->n].bytes = bytes;
	m->n++;
}

static void build_8b(model8 *m, bool with_output)
{
	memset(m, 0, sizeof *m);
	add_t(m, "tok_embd", blob_bytes(FMT_I8, FMT_SCHEME_ROW, V8, D8));
	static const struct {
		const char *n;
		uint64_t r, c;
	} mats[] = {{"attn_q", H8 * HD8, D8},  {"attn_k", KV8 * HD8, D8}, {"attn_v", KV8 * HD8, D8},
		    {"attn_output", D8, H8 * HD8}, {"ffn_gate", FF8, D8},  {"ffn_up", FF8, D8},
		    {"ffn_down", D8, FF8}};
	char nm[32];
	for (int l = 0; l < L8; l++) {
		for (size_t i = 0; i < 7; i++) {
			snprintf(nm, sizeof nm, "blk.%d.%s", l, mats[i].n);
			add_t(m, nm, blob_bytes(FMT_I8, FMT_SCHEME_ROW, mats[i].r, mats[i].c));
		}
		snprintf(nm, sizeof nm, "blk.%d.attn_norm", l);
		add_t(m, nm, blob_bytes(FMT_F32, FMT_SCHEME_NONE, D8, 0));
		snprintf(nm, sizeof nm, "blk.%d.ffn_norm", l);
		add_t(m, nm, blob_bytes(FMT_F32, FMT_SCHEME_NONE, D8, 0));
		snprintf(nm, sizeof nm, "blk.%d.attn_q_norm", l);
		add_t(m, nm, blob_bytes(FMT_F32, FMT_SCHEME_NONE, HD8, 0));
		snprintf(nm, sizeof nm, "blk.%d.attn_k_norm", l);
		add_t(m, nm, blob_bytes(FMT_F32, FMT_SCHEME_NONE, HD8, 0));
	}
	add_t(m, "output_norm", blob_bytes(FMT_F32, FMT_SCHEME_NONE, D8, 0));
	if (with_output)
		add_t(m, "output", blob_bytes(FMT_I8, FMT_SCHEME_ROW, V8, D8));
}

static pl_request req8(const model8 *m, uint32_t ctx, pl_kv_type kv, uint64_t vram)
{
	return (pl_request){.tensors = m->t, .n_tensors = m->n, .dims = DIMS8, .kv_type = kv, .ctx = ctx,
			    .vram_bytes = vram};
}

static pl_status plan(const pl_request *q, pl_plan *p, char *err, size_t len)
{
	memset(err, 0, len);
	return pl_plan_compute(q, p, err, len);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_8b_weights(void **state)
{
	(void)state;
	model8 m;
	build_8b(&m, true);
	assert_int_equal(m.n, 399); /* model-facts §1.3: 399 tensors */
	/* INT8/row: one byte per parameter of a matrix plus an f32 scale per row; norms stay f32.
	 * 8,190,735,360 parameters (§1.3), of which 36×(2×4096 + 2×128) + 4096 are norm weights. */
	uint64_t norm_params = 36ull * (2 * 4096 + 2 * 128) + 4096;
	uint64_t rows = 36ull * (4096 + 1024 + 1024 + 4096 + 12288 + 12288 + 4096) + 2ull * 151936;
	uint64_t expect = (8190735360ull - norm_params) + norm_params * 4 + rows * 4;
	char err[512];
	pl_plan p;
	pl_request q = req8(&m, 4096, PL_KV_BF16, 0);
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	assert_int_equal(p.weights, expect);
	assert_false(p.tied);
	assert_int_equal(p.embed_host, 0);
	assert_int_equal(p.budget, PL_DEFAULT_VRAM);
	assert_int_equal(p.reserve, PL_DEFAULT_RESERVE);
	assert_int_equal(p.total, p.weights + p.kv + p.workspace + p.reserve);

	/* embed_on_host saves exactly the tok_embd blob and reports it as host memory */
	q.embed_on_host = true;
	pl_plan h;
	assert_int_equal(plan(&q, &h, err, sizeof err), PL_OK);
	uint64_t embd = blob_bytes(FMT_I8, FMT_SCHEME_ROW, V8, D8);
	assert_int_equal(embd, 151936ull * 4096 + 151936ull * 4);
	assert_int_equal(p.weights - h.weights, embd);
	assert_int_equal(h.embed_host, embd);
	assert_int_equal(p.total - h.total, embd);
	assert_true(h.max_ctx_bf16 >= p.max_ctx_bf16);

	/* tied embeddings: tok_embd is also the LM head, so it stays on the device */
	build_8b(&m, false);
	q = req8(&m, 4096, PL_KV_BF16, 0);
	q.embed_on_host = true;
	assert_int_equal(plan(&q, &h, err, sizeof err), PL_OK);
	assert_true(h.tied);
	assert_int_equal(h.embed_host, 0);
	assert_int_equal(h.weights, expect - embd);
}

static void test_8b_kv(void **state)
{
	(void)state;
	model8 m;
	build_8b(&m, true);
	char err[512];
	pl_plan p;
	pl_request q = req8(&m, 131072, PL_KV_BF16, 0);
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	/* model-facts §1.3: 147,456 B/token; 131072 tokens → 18,432 MiB */
	assert_int_equal(p.kv_token_bytes, 147456);
	assert_int_equal(p.kv, 18432 * MIB);
	assert_int_equal(p.kv_scales, 0);
	assert_int_equal(p.n_pages, 131072 / 16);
	uint64_t kv;
	assert_int_equal(pl_kv_bytes(&DIMS8, PL_KV_BF16, 16, 131072, &kv, err, sizeof err), PL_OK);
	assert_int_equal(kv, 18432 * MIB);
	assert_int_equal(pl_kv_bytes(&DIMS8, PL_KV_BF16, 16, 1024, &kv, err, sizeof err), PL_OK);
	assert_int_equal(kv, 144 * MIB);

	/* FP8: one byte per element plus one f32 scale per (token, layer, K/V, kv head):
	 * 36 · 2 · 8 · (128 + 4) = 76,032 B per token, the scales 3 % of it; 131072 tokens → 9,216 MiB
	 * of codes + 288 MiB of scales */
	pl_plan f;
	q.kv_type = PL_KV_FP8;
	assert_int_equal(plan(&q, &f, err, sizeof err), PL_OK);
	uint64_t scales = 131072ull * 36 * 2 * 8 * 4;
	assert_int_equal(scales, 288 * MIB);
	assert_int_equal(f.kv_token_bytes, 147456 / 2);
	assert_int_equal(f.kv_scales, scales);
	assert_int_equal(f.kv, 9216 * MIB + scales);
	assert_int_equal(f.kv, 131072ull * 36 * 2 * 8 * (128 + 4));
	assert_int_equal(f.page_bytes, 16 * (73728 + 36 * 2 * 8 * 4));
	assert_int_equal(pl_kv_bytes(&DIMS8, PL_KV_FP8, 16, 131072, &kv, err, sizeof err), PL_OK);
	assert_int_equal(kv, f.kv);
	/* a partial page costs a whole page */
	assert_int_equal(pl_kv_bytes(&DIMS8, PL_KV_BF16, 16, 17, &kv, err, sizeof err), PL_OK);
	assert_int_equal(kv, 2 * 16 * 147456);

	/* sequences multiply the cache and the logits, not the weights */
	q.kv_type = PL_KV_BF16;
	q.ctx = 8192;
	q.n_seq = 4;
	pl_plan s4, s1;
	assert_int_equal(plan(&q, &s4, err, sizeof err), PL_OK);
	q.n_seq = 1;
	assert_int_equal(plan(&q, &s1, err, sizeof err), PL_OK);
	assert_int_equal(s4.kv, 4 * s1.kv);
	assert_int_equal(s4.ws.logits, 4ull * 151936 * 4);
	assert_int_equal(s1.ws.logits, 151936ull * 4);
	assert_int_equal(s4.weights, s1.weights);
	assert_true(s4.max_ctx_bf16 < s1.max_ctx_bf16 / 3);
}

/* Bounds that follow from the KV cost alone: workspace is positive and well under 1 GiB here. */
static void check_max(const model8 *m, pl_kv_type kv, uint32_t max, uint64_t budget, uint64_t fixed, uint64_t per_tok)
{
	char err[512];
	pl_plan p;
	assert_true(max > 0 && max % 16 == 0);
	pl_request q = req8(m, max, kv, budget);
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	assert_true(p.fits && p.total <= budget);
	q.ctx = max + 16;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_NOFIT);
	assert_true(p.total > budget);
	assert_true((uint64_t)max * per_tok <= budget - fixed);
	assert_true((uint64_t)max * per_tok >= budget - fixed - GIB);
}

static void test_8b_max_ctx_40g(void **state)
{
	(void)state;
	model8 m;
	build_8b(&m, true);
	char err[512];
	pl_plan p;
	pl_request q = req8(&m, 131072, PL_KV_BF16, 40 * GIB);
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	assert_true(p.fits);
	/* 7.64 GiB INT8 weights + 18 GiB KV + workspace + 0.5 GiB reserve */
	assert_true(p.total > 26 * GIB && p.total < 27 * GIB);
	assert_true(p.workspace > 64 * MIB && p.workspace < 512 * MIB);
	/* the RoPE table of 131072 positions × 128 f32 */
	assert_int_equal(p.ws.rope, 131072ull * 128 * 4);
	assert_int_equal(p.ws.splits, 131072 / PL_SPLIT_TOKENS);
	uint64_t fixed = p.weights + p.reserve;
	check_max(&m, PL_KV_BF16, p.max_ctx_bf16, 40 * GIB, fixed, 147456);
	/* FP8: 73728 bytes of codes + 2304 of scales per token */
	check_max(&m, PL_KV_FP8, p.max_ctx_fp8, 40 * GIB, fixed, 73728 + 2304);
	/* 40 GiB holds more than the model's 131072 positions either way */
	assert_true(p.max_ctx_bf16 > 131072 && p.max_ctx_fp8 > p.max_ctx_bf16 * 19 / 10);
	/* same maxima whatever ctx was asked */
	pl_plan p2;
	q.ctx = 16;
	q.kv_type = PL_KV_FP8;
	assert_int_equal(plan(&q, &p2, err, sizeof err), PL_OK);
	assert_int_equal(p2.max_ctx_bf16, p.max_ctx_bf16);
	assert_int_equal(p2.max_ctx_fp8, p.max_ctx_fp8);
}

static bool contains(const char *s, const char *sub)
{
	if (!strstr(s, sub)) {
		print_error("'%s' not in '%s'\n", sub, s);
		return false;
	}
	return true;
}

static void test_8b_budget_too_small(void **state)
{
	(void)state;
	model8 m;
	build_8b(&m, true);
	char err[512], want[128];
	pl_plan p;
	pl_request q = req8(&m, 131072, PL_KV_BF16, 20 * GIB);
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_NOFIT);
	assert_false(p.fits);
	assert_true(contains(err, "ctx 131072 with BF16 KV needs "));
	assert_true(contains(err, "> budget 20.00 GiB (--vram)"));
	/* BF16 at its maximum and FP8 at the asked context both fit 20 GiB */
	assert_true(p.max_ctx_bf16 > 32768 && p.max_ctx_bf16 < 131072);
	assert_true(p.max_ctx_fp8 >= 131072);
	snprintf(want, sizeof want, "fits: ctx %u (BF16 KV) or ctx 131072 (FP8 KV), or --vram %lluG", p.max_ctx_bf16,
		 (unsigned long long)p.need_gib);
	assert_true(contains(err, want));
	pl_plan s;
	q.ctx = p.max_ctx_bf16;
	assert_int_equal(plan(&q, &s, err, sizeof err), PL_OK);
	q.ctx = 131072;
	q.kv_type = PL_KV_FP8;
	assert_int_equal(plan(&q, &s, err, sizeof err), PL_OK);
	/* the suggested --vram is the smallest whole GiB that fits */
	q.kv_type = PL_KV_BF16;
	q.vram_bytes = p.need_gib * GIB;
	assert_int_equal(plan(&q, &s, err, sizeof err), PL_OK);
	q.vram_bytes = (p.need_gib - 1) * GIB;
	assert_int_equal(plan(&q, &s, err, sizeof err), PL_E_NOFIT);

	/* FP8 asked and too big: only the FP8 maximum is offered */
	q = req8(&m, 131072, PL_KV_FP8, 12 * GIB);
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_NOFIT);
	snprintf(want, sizeof want, "fits: ctx %u (FP8 KV), or --vram %lluG", p.max_ctx_fp8,
		 (unsigned long long)p.need_gib);
	assert_true(contains(err, want));
	assert_null(strstr(err, "(BF16 KV)"));

	/* the device's free memory is the budget when smaller than --vram; --vram cannot help */
	q = req8(&m, 131072, PL_KV_BF16, 40 * GIB);
	q.device_free = 16 * GIB;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_NOFIT);
	assert_int_equal(p.budget, 16 * GIB);
	assert_true(contains(err, "> budget 16.00 GiB (free memory on the device)"));
	assert_true(contains(err, "the device has 16.00 GiB free"));
	assert_null(strstr(err, "--vram"));
	/* and a larger free memory leaves --vram as the budget */
	q.device_free = 80 * GIB;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	assert_int_equal(p.budget, 40 * GIB);

	/* not even the weights fit */
	q = req8(&m, 4096, PL_KV_BF16, 6 * GIB);
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_NOFIT);
	assert_int_equal(p.max_ctx_bf16, 0);
	assert_int_equal(p.max_ctx_fp8, 0);
	assert_true(contains(err, "not even 16 tokens fit: the weights and the reserve alone need 8.14 GiB"));
	assert_true(contains(err, "fits with --vram 9G"));
}

/* Workspace formulas of docs/GPU.md on small dims, by hand. */
static void test_workspace_formulas(void **state)
{
	(void)state;
	pl_tensor t[2] = {{"tok_embd", 1000}, {"x", 1}};
	pl_request q = {.tensors = t,
			.n_tensors = 2,
			.dims = {.n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16, .d_model = 64, .d_ff = 96,
				 .vocab = 300},
			.ctx = 1000,
			.n_seq = 3,
			.page_tokens = 32,
			.prefill_chunk = 8,
			.vram_bytes = 1 * GIB,
			.reserve_bytes = 4096};
	char err[256];
	pl_plan p;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	assert_int_equal(p.weights, 1024 + 256); /* each blob 256-aligned; tied: no "output" */
	assert_true(p.tied);
	assert_int_equal(p.reserve, 4096);
	/* 32 pages per sequence (1024 positions), 3 sequences; page = 32 × (2×2×2×16×2 = 256 B) */
	assert_int_equal(p.n_pages, 96);
	assert_int_equal(p.kv_token_bytes, 256);
	assert_int_equal(p.kv, 96 * 32 * 256);
	/* T = 8: f32 h 8×64×4 = 2048, x 1024, qkv 8×128×2 = 2048, attn 8×64×2 = 1024, gate|up 8×192×2 =
	 * 3072, swiglu 8×96×2 = 1536 */
	assert_int_equal(p.ws.step_tokens, 8);
	assert_int_equal(p.ws.act, 2048 + 1024 + 2048 + 1024 + 3072 + 1536);
	assert_int_equal(p.ws.logits, 3840); /* 3 × 300 × 4 = 3600, 256-aligned */
	/* splits: 1024 / 256 = 4; 3 seq × 4 heads × 4 × (16 + 2) × 4 = 3456, 256-aligned */
	assert_int_equal(p.ws.splits, 4);
	assert_int_equal(p.ws.attn_split, 3584);
	assert_int_equal(p.ws.rope, 1024 * 16 * 4);
	assert_int_equal(p.ws.page_table, 512 + 256 + 256); /* 3×32×4 = 384 → 512; ids, positions */
	assert_int_equal(p.workspace, p.ws.act + p.ws.logits + p.ws.attn_split + p.ws.rope + p.ws.page_table);
	/* FP8: codes 32 × (2×2×2×16 = 128 B) per page, and scales [n_pages][2 layers][2][2 kv heads][32 tokens]
	 * f32 = 1024 B per page: n_layers · 2 · n_kv_heads · (head_dim + 4) = 160 B per token */
	q.kv_type = PL_KV_FP8;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	assert_int_equal(p.kv_token_bytes, 128);
	assert_int_equal(p.page_bytes, 32 * 128 + 2 * 2 * 2 * 32 * 4);
	assert_int_equal(p.kv_scales, 96 * 1024);
	assert_int_equal(p.kv, 96 * 32 * 160);
	uint64_t kv;
	assert_int_equal(pl_kv_bytes(&q.dims, PL_KV_FP8, 32, 1000, &kv, err, sizeof err), PL_OK);
	assert_int_equal(kv, 32 * 32 * 160); /* one sequence of whole pages */
	/* whole pages of 1 token: exactly 160 B per token, then the two allocations' 256-byte rounding */
	assert_int_equal(pl_kv_bytes(&q.dims, PL_KV_FP8, 1, 8, &kv, err, sizeof err), PL_OK);
	assert_int_equal(kv, 8 * 160);
	assert_int_equal(pl_kv_bytes(&q.dims, PL_KV_FP8, 1, 3, &kv, err, sizeof err), PL_OK);
	assert_int_equal(kv, 512 + 256); /* codes 384 → 512, scales 96 → 256 */
	q.kv_type = PL_KV_BF16;
	/* more sequences than the prefill chunk: a decode step has n_seq rows */
	q.n_seq = 20;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_OK);
	assert_int_equal(p.ws.step_tokens, 20);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	char err[512];
	pl_plan p;
	pl_tensor t[1] = {{"w", 4096}};
	pl_request q = {.tensors = t, .n_tensors = 1, .dims = DIMS8, .ctx = 4096};
	/* NULLs and zeros */
	assert_int_equal(pl_plan_compute(NULL, &p, err, sizeof err), PL_E_ARG);
	assert_int_equal(pl_plan_compute(&q, NULL, err, sizeof err), PL_E_ARG);
	q.ctx = 0;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_ARG);
	assert_true(contains(err, "ctx is 0"));
	q.ctx = 4096;
	q.dims.head_dim = 0;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_ARG);
	assert_true(contains(err, "head_dim is 0"));
	q.dims = DIMS8;
	q.dims.n_kv_heads = 64;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_ARG);
	q.dims = DIMS8;
	q.kv_type = (pl_kv_type)7;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_ARG);
	q.kv_type = PL_KV_BF16;
	q.tensors = NULL;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_ARG);
	q.tensors = t;

	/* absurd dims from a hostile file: overflow is reported, never wrapped */
	static const pl_dims huge[] = {
		{UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, 1, 1, 1, 0},
		{1, 1, 1, 1, UINT32_MAX, UINT32_MAX, UINT32_MAX, 0}, /* [T][d_model] with T = n_seq */
		{UINT32_MAX, 2, 2, UINT32_MAX, 1, 1, 1, 0},
		{1, UINT32_MAX, 1, UINT32_MAX, 1, 1, 1, 0},
	};
	for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
		q.dims = huge[i];
		q.ctx = UINT32_MAX;
		q.n_seq = UINT32_MAX;
		assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_OVERFLOW);
		assert_true(contains(err, "overflow"));
		assert_int_equal(p.total, 0); /* out zeroed */
	}
	/* large but finite: no fit, and the maxima come from a search that survives overflow */
	q.dims = huge[1];
	q.ctx = 16;
	q.n_seq = 1;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_NOFIT);
	assert_int_equal(p.max_ctx_bf16, 0);
	q.dims = DIMS8;
	q.ctx = UINT32_MAX; /* 4G positions of 144 KiB: 576 TiB */
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_NOFIT);
	assert_true(p.max_ctx_bf16 > 0);
	assert_true(contains(err, "ctx 4294967295 with BF16 KV"));
	/* weight bytes that overflow */
	pl_tensor big[2] = {{"a", UINT64_MAX - 10}, {"b", 1000}};
	q.tensors = big;
	q.n_tensors = 2;
	q.ctx = 16;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_OVERFLOW);
	assert_true(contains(err, "weight bytes overflow"));
	big[0].bytes = UINT64_MAX - 5000; /* aligned sum fits, + reserve does not */
	big[1].bytes = 0;
	assert_int_equal(plan(&q, &p, err, sizeof err), PL_E_OVERFLOW);
	/* pl_kv_bytes */
	uint64_t kv;
	assert_int_equal(pl_kv_bytes(&huge[0], PL_KV_BF16, 16, 1, &kv, err, sizeof err), PL_E_OVERFLOW);
	assert_int_equal(pl_kv_bytes(&DIMS8, PL_KV_BF16, 16, UINT64_MAX, &kv, err, sizeof err), PL_E_OVERFLOW);
	assert_int_equal(pl_kv_bytes(NULL, PL_KV_BF16, 16, 1, &kv, err, sizeof err), PL_E_ARG);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(pl_status_name(PL_E_NOFIT), "PL_E_NOFIT");
	assert_string_equal(pl_kv_name(PL_KV_FP8), "FP8");
	assert_string_equal(pl_kv_name(PL_KV_BF16), "BF16");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_8b_weights),        cmocka_unit_test(test_8b_kv),
		cmocka_unit_test(test_8b_max_ctx_40g),    cmocka_unit_test(test_8b_budget_too_small),
		cmocka_unit_test(test_workspace_formulas), cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
