/* runtime/cuda host-side pieces (label unit, no GPU): the weight arena layout, q|k|v row stacking
 * and gate/up row interleaving of codes and scales through staging jobs of every size, XXH3
 * verification on the way (a flipped byte names its tensor), the state's byte math against the
 * planner, and the forward argument checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "rc_layout.h"
#include "rc_testmodel.h"
#include "testutil.h"

static char *tmp_dir;

typedef struct {
	fmt_reader *r;
	rt_model *cpu;
	uint8_t *file; /* when opened from memory */
} opened;

static opened open_model(const char *path, size_t flip_at)
{
	opened o = {0};
	fmt_error fe;
	if (flip_at == SIZE_MAX) {
		assert_int_equal(fmt_reader_open(path, &o.r, &fe), FMT_OK);
	} else {
		size_t n;
		o.file = tu_read_file(path, &n);
		assert_non_null(o.file);
		assert_true(flip_at < n);
		o.file[flip_at] ^= 0x10;
		if (fmt_reader_open_mem(o.file, n, &o.r, &fe) != FMT_OK)
			fail_msg("open_mem: %s", fe.msg);
	}
	rt_error re;
	if (rt_model_create(o.r, NULL, &o.cpu, &re) != RT_OK)
		fail_msg("rt_model_create: %s", re.msg);
	return o;
}

static void close_model(opened *o)
{
	rt_model_free(o->cpu);
	fmt_reader_close(o->r);
	free(o->file);
}

static void collect(const rc_plan *p, const rc_wplan **ws, size_t *n)
{
	*n = 0;
	if (p->embd_on_device)
		ws[(*n)++] = &p->tok_embd;
	if (!p->tied)
		ws[(*n)++] = &p->output;
	for (uint32_t l = 0; l < p->n_layers; l++) {
		const rc_layer_plan *lp = &p->layers[l];
		for (int i = 0; i < lp->n_qkv; i++)
			ws[(*n)++] = &lp->qkv[i];
		for (int i = 0; i < lp->n_gu; i++)
			ws[(*n)++] = &lp->gu[i];
		ws[(*n)++] = &lp->o;
		ws[(*n)++] = &lp->down;
	}
}

/* What rc_load does, into host memory: every job filled at its offset, checksums on the way. */
static rc_status stage_all(const rc_plan *p, uint64_t cap, uint8_t *arena, bool verify, rc_error *err)
{
	const rc_wplan *ws[64];
	size_t n;
	collect(p, ws, &n);
	for (size_t i = 0; i < n; i++) {
		size_t nj = rc_jobs_rows(ws[i], cap, NULL, err);
		if (!nj)
			return err->status;
		rc_job *jobs = malloc(nj * sizeof *jobs);
		assert_int_equal(rc_jobs_rows(ws[i], cap, jobs, err), nj);
		rc_hasher *h = verify ? rc_hasher_create(ws[i]) : NULL;
		uint64_t covered = 0;
		for (size_t j = 0; j < nj; j++) {
			assert_true(jobs[j].bytes <= cap);
			assert_true(jobs[j].dst_off + jobs[j].bytes <= p->total);
			rc_job_fill(p, &jobs[j], arena + jobs[j].dst_off);
			if (h)
				rc_hasher_job(h, &jobs[j]);
			covered += jobs[j].bytes;
		}
		assert_int_equal(covered, ws[i]->codes_bytes + ws[i]->scales_bytes);
		rc_status st = h ? rc_hasher_check(h, err) : RC_OK;
		rc_hasher_free(h);
		free(jobs);
		if (st != RC_OK)
			return st;
	}
	size_t nj = rc_jobs_vecs(p, cap, NULL, err);
	assert_true(nj > 0);
	rc_job *jobs = malloc(nj * sizeof *jobs);
	rc_jobs_vecs(p, cap, jobs, err);
	for (size_t j = 0; j < nj; j++)
		rc_job_fill(p, &jobs[j], arena + jobs[j].dst_off);
	free(jobs);
	if (verify)
		for (size_t i = 0; i < p->n_vecs; i++)
			if (p->vecs[i].tensor && rc_tensor_check(p->vecs[i].tensor, err) != RC_OK)
				return err->status;
	return RC_OK;
}

/* Row `row` of part of device weight w in the arena equals row src_row of source s. */
static void expect_row(const rc_wplan *w, const uint8_t *arena, rc_part part, size_t row, const kn_weight *src,
		       size_t src_row)
{
	size_t rb = rc_wplan_row_bytes(w, part);
	const uint8_t *got = arena + (part == RC_PART_CODES ? w->codes_off : w->scales_off) + row * rb;
	const uint8_t *want = (const uint8_t *)(part == RC_PART_CODES ? src->data : (const void *)src->scales) + src_row * rb;
	if (memcmp(got, want, rb))
		fail_msg("%s: %s row %zu differs from its source row %zu", w->name, part ? "scale" : "code", row, src_row);
}

static void check_arena(const rc_plan *p, const rt_weights *w, const uint8_t *arena)
{
	for (uint32_t l = 0; l < p->n_layers; l++) {
		const rc_layer_plan *lp = &p->layers[l];
		const rt_layer *L = &w->layers[l];
		const kn_weight *q[3] = {&L->attn_q, &L->attn_k, &L->attn_v};
		for (int part = 0; part < (lp->qkv[0].scheme == FMT_SCHEME_NONE ? 1 : 2); part++) {
			if (lp->n_qkv == 1) {
				size_t r = 0;
				for (int i = 0; i < 3; i++)
					for (size_t j = 0; j < q[i]->n; j++)
						expect_row(&lp->qkv[0], arena, (rc_part)part, r++, q[i], j);
				assert_int_equal(r, lp->qkv[0].n);
			}
			if (lp->n_gu == 1)
				for (size_t j = 0; j < L->ffn_gate.n; j++) {
					expect_row(&lp->gu[0], arena, (rc_part)part, 2 * j, &L->ffn_gate, j);
					expect_row(&lp->gu[0], arena, (rc_part)part, 2 * j + 1, &L->ffn_up, j);
				}
			for (size_t j = 0; j < L->ffn_down.n; j++)
				expect_row(&lp->down, arena, (rc_part)part, j, &L->ffn_down, j);
		}
		assert_memory_equal(arena + lp->attn_norm, L->attn_norm, RCT_D * 4);
		assert_memory_equal(arena + lp->ffn_norm, L->ffn_norm, RCT_D * 4);
	}
	assert_memory_equal(arena + p->output_norm, w->output_norm, RCT_D * 4);
}

/* Offsets aligned and sub-allocations disjoint. */
static void check_disjoint(const rc_plan *p)
{
	const rc_wplan *ws[64];
	size_t n;
	collect(p, ws, &n);
	uint64_t lo[200], hi[200];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ws[i]->codes_off % RC_ALIGN, 0);
		lo[k] = ws[i]->codes_off, hi[k++] = ws[i]->codes_off + ws[i]->codes_bytes;
		if (ws[i]->scales_bytes) {
			assert_int_equal(ws[i]->scales_off % RC_ALIGN, 0);
			lo[k] = ws[i]->scales_off, hi[k++] = ws[i]->scales_off + ws[i]->scales_bytes;
		}
	}
	for (size_t i = 0; i < p->n_vecs; i++)
		lo[k] = p->vecs[i].dst_off, hi[k++] = p->vecs[i].dst_off + p->vecs[i].n * 4;
	for (size_t i = 0; i < k; i++) {
		assert_true(hi[i] <= p->total);
		for (size_t j = i + 1; j < k; j++)
			if (lo[i] < hi[j] && lo[j] < hi[i])
				fail_msg("sub-allocations [%llu,%llu) and [%llu,%llu) overlap", (unsigned long long)lo[i],
					 (unsigned long long)hi[i], (unsigned long long)lo[j], (unsigned long long)hi[j]);
	}
	assert_int_equal(p->total % RC_ALIGN, 0);
}

static const rct_spec kinds[] = {
	{.dtype = FMT_BF16, .scheme = FMT_SCHEME_NONE},
	{.dtype = FMT_I8, .scheme = FMT_SCHEME_ROW},
	{.dtype = FMT_I8, .scheme = FMT_SCHEME_GROUP, .group = 32, .tied = true},
	{.dtype = FMT_F8_E4M3, .scheme = FMT_SCHEME_ROW},
};

static void test_stack_interleave(void **state)
{
	(void)state;
	for (size_t kd = 0; kd < sizeof kinds / sizeof *kinds; kd++) {
		char name[32];
		snprintf(name, sizeof name, "k%zu.bale", kd);
		char *path = rct_write(tmp_dir, name, &kinds[kd]);
		opened o = open_model(path, SIZE_MAX);
		rc_plan p;
		rc_error err = {0};
		if (rc_plan_build(&p, rt_model_config(o.cpu), rt_model_weights(o.cpu), o.r, false, &err) != RC_OK)
			fail_msg("plan: %s", err.msg);
		assert_int_equal(p.layers[0].n_qkv, 1);
		assert_int_equal(p.layers[0].n_gu, 1);
		assert_int_equal(p.layers[0].qkv[0].n, (RCT_NH + 2 * RCT_NKV) * RCT_HD);
		assert_int_equal(p.layers[0].gu[0].n, 2 * RCT_FF);
		assert_int_equal(p.tied, kinds[kd].tied);
		check_disjoint(&p);
		/* staging buffers of one row's size up to everything at once */
		const uint64_t caps[] = {RCT_D * 4, 1000, 4096, UINT64_MAX / 2};
		for (size_t c = 0; c < sizeof caps / sizeof *caps; c++) {
			uint8_t *arena = malloc(p.total);
			memset(arena, 0xA5, p.total);
			if (stage_all(&p, caps[c], arena, true, &err) != RC_OK)
				fail_msg("%s cap %llu: %s", name, (unsigned long long)caps[c], err.msg);
			check_arena(&p, rt_model_weights(o.cpu), arena);
			free(arena);
		}
		/* a staging buffer smaller than a row is refused by name */
		assert_int_equal(rc_jobs_rows(&p.layers[0].down, 8, NULL, &err), 0);
		assert_int_equal(err.status, RC_E_ARG);
		assert_non_null(strstr(err.msg, "blk.0.ffn_down"));
		rc_plan_free(&p);
		close_model(&o);
		free(path);
	}
}

/* A flipped byte in codes, padding or scales of a tensor is reported with the tensor's name. */
static void test_checksum_mismatch(void **state)
{
	(void)state;
	rct_spec sp = {.dtype = FMT_I8, .scheme = FMT_SCHEME_ROW};
	char *path = rct_write(tmp_dir, "ck.bale", &sp);
	opened o = open_model(path, SIZE_MAX);
	const struct {
		const char *tensor;
		int where; /* 0 codes, 1 padding after codes, 2 scales */
	} cases[] = {{"blk.1.ffn_up", 0}, {"blk.0.attn_k", 2}, {"blk.0.attn_v", 1}, {"output", 0}, {"blk.1.ffn_down", 2}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const fmt_tensor *t = fmt_reader_find_tensor(o.r, cases[i].tensor);
		assert_non_null(t);
		uint64_t codes = t->rows * t->cols;
		uint64_t off = cases[i].where == 0 ? codes / 2 : cases[i].where == 2 ? t->scale_offset + 5 : codes;
		if (cases[i].where == 1 && codes == t->scale_offset)
			continue; /* no padding in this tensor */
		opened bad = open_model(path, (size_t)(t->data_offset + off));
		rc_plan p;
		rc_error err = {0};
		assert_int_equal(rc_plan_build(&p, rt_model_config(bad.cpu), rt_model_weights(bad.cpu), bad.r, false, &err),
				 RC_OK);
		uint8_t *arena = malloc(p.total);
		assert_int_equal(stage_all(&p, 1000, arena, true, &err), RC_E_TENSOR);
		if (!strstr(err.msg, cases[i].tensor))
			fail_msg("flip in %s: message '%s'", cases[i].tensor, err.msg);
		/* without verification the same file stages */
		assert_int_equal(stage_all(&p, 1000, arena, false, &err), RC_OK);
		free(arena);
		rc_plan_free(&p);
		close_model(&bad);
	}
	/* a norm vector is checked whole */
	const fmt_tensor *t = fmt_reader_find_tensor(o.r, "blk.1.ffn_norm");
	opened bad = open_model(path, (size_t)t->data_offset + 4);
	rc_plan p;
	rc_error err = {0};
	assert_int_equal(rc_plan_build(&p, rt_model_config(bad.cpu), rt_model_weights(bad.cpu), bad.r, false, &err), RC_OK);
	uint8_t *arena = malloc(p.total);
	assert_int_equal(stage_all(&p, 1000, arena, true, &err), RC_E_TENSOR);
	assert_non_null(strstr(err.msg, "blk.1.ffn_norm"));
	free(arena);
	rc_plan_free(&p);
	close_model(&bad);
	close_model(&o);
	free(path);
}

static void test_unfused_and_host_embedding(void **state)
{
	(void)state;
	rct_spec sp = {.dtype = FMT_I8, .scheme = FMT_SCHEME_ROW, .odd_tensor = "blk.0.attn_v"};
	char *path = rct_write(tmp_dir, "odd.bale", &sp);
	opened o = open_model(path, SIZE_MAX);
	rc_plan p;
	rc_error err = {0};
	assert_int_equal(rc_plan_build(&p, rt_model_config(o.cpu), rt_model_weights(o.cpu), o.r, true, &err), RC_OK);
	assert_int_equal(p.layers[0].n_qkv, 3);
	assert_int_equal(p.layers[1].n_qkv, 1);
	assert_int_equal(p.layers[0].qkv[2].dtype, FMT_BF16);
	assert_false(p.embd_on_device);
	assert_int_equal(p.host_bytes, fmt_reader_find_tensor(o.r, "tok_embd")->data_bytes);
	check_disjoint(&p);
	uint8_t *arena = malloc(p.total);
	assert_int_equal(stage_all(&p, 777, arena, true, &err), RC_OK);
	check_arena(&p, rt_model_weights(o.cpu), arena);
	free(arena);
	rc_plan_free(&p);
	close_model(&o);
	free(path);

	sp = (rct_spec){.dtype = FMT_F8_E4M3, .scheme = FMT_SCHEME_ROW, .tied = true, .odd_tensor = "blk.1.ffn_up"};
	path = rct_write(tmp_dir, "odd2.bale", &sp);
	o = open_model(path, SIZE_MAX);
	assert_int_equal(rc_plan_build(&p, rt_model_config(o.cpu), rt_model_weights(o.cpu), o.r, true, &err), RC_OK);
	assert_int_equal(p.layers[1].n_gu, 2);
	assert_int_equal(p.layers[0].n_gu, 1);
	assert_true(p.embd_on_device); /* tied: the table is also the LM head */
	assert_int_equal(p.output.codes_off, p.tok_embd.codes_off);
	rc_plan_free(&p);
	close_model(&o);
	free(path);

	/* mismatched interleave sources are refused */
	kn_weight a = {FMT_I8, FMT_SCHEME_ROW, 0, 4, 8, NULL, NULL}, b = a;
	b.n = 5;
	rc_wplan w;
	kn_weight two[2] = {a, b};
	assert_int_equal(rc_wplan_init(&w, "x", RC_FUSE_INTERLEAVE, two, 2, &err), RC_E_TENSOR);
	two[1] = a;
	two[1].dtype = FMT_F8_E4M3;
	assert_int_equal(rc_wplan_init(&w, "x", RC_FUSE_STACK, two, 2, &err), RC_E_TENSOR);
}

static uint64_t al(uint64_t v) { return (v + RC_ALIGN - 1) / RC_ALIGN * RC_ALIGN; }

/* rc_state_bytes' layout against pl_plan_compute: equal but for what docs/GPU.md does not plan
 * (the slots and lengths of a step, two more small int32 arrays). */
static void test_state_vs_planner(void **state)
{
	(void)state;
	rt_config c = {0};
	c.n_layers = 36, c.d_model = 4096, c.n_heads = 32, c.n_kv_heads = 8, c.head_dim = 128, c.d_ff = 12288;
	c.vocab_size = 151936, c.max_ctx = 131072, c.rope.dim = 128;
	const struct {
		uint32_t ctx, n_seq, page, chunk;
		rc_kv_type kv;
	} cfg[] = {{4096, 1, 0, 0, RC_KV_BF16}, {131072, 1, 16, 512, RC_KV_FP8}, {1000, 4, 32, 64, RC_KV_BF16},
		   {777, 600, 16, 512, RC_KV_FP8}, {0, 0, 0, 0, RC_KV_BF16}};
	for (size_t i = 0; i < sizeof cfg / sizeof *cfg; i++) {
		rc_state_opts o = {cfg[i].ctx, cfg[i].n_seq, cfg[i].kv, cfg[i].page, cfg[i].chunk, false};
		rc_state_layout L;
		rc_error err;
		assert_int_equal(rc_state_layout_compute(&c, &o, &L, &err), RC_OK);
		pl_request q = {0};
		q.dims = (pl_dims){c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.d_model, c.d_ff, c.vocab_size, c.max_ctx};
		q.kv_type = cfg[i].kv == RC_KV_FP8 ? PL_KV_FP8 : PL_KV_BF16;
		q.ctx = L.ctx, q.n_seq = cfg[i].n_seq, q.page_tokens = cfg[i].page, q.prefill_chunk = cfg[i].chunk;
		q.vram_bytes = (uint64_t)1 << 50;
		pl_plan pp;
		char msg[512];
		assert_int_equal(pl_plan_compute(&q, &pp, msg, sizeof msg), PL_OK);
		assert_int_equal(L.n_pages, pp.n_pages);
		assert_int_equal(L.T, pp.ws.step_tokens);
		assert_int_equal(L.page_bytes + L.page_scale_bytes, pp.page_bytes);
		assert_int_equal(L.kv_bytes, pp.kv);
		assert_int_equal(al(L.n_pages * L.page_scale_bytes), pp.kv_scales);
		assert_int_equal(L.ws_bytes, pp.workspace + al((uint64_t)L.T * 4) + al((uint64_t)L.n_seq * 4));
		assert_int_equal(L.total, L.kv_bytes + L.ws_bytes);
		/* offsets aligned, increasing, inside the allocation */
		const uint64_t offs[] = {L.kv, L.kv_scales, L.h, L.xn, L.qkv, L.att, L.gu, L.ffo, L.logits, L.split, L.rope, L.pt, L.io};
		for (size_t k = 0; k < sizeof offs / sizeof *offs; k++) {
			assert_int_equal(offs[k] % RC_ALIGN, 0);
			assert_true(offs[k] < L.total);
			if (k)
				assert_true(offs[k] >= offs[k - 1]);
		}
		assert_true(L.io + L.io_bytes <= L.total);
	}
	/* defaults and refusals */
	rc_state_layout L;
	rc_error err;
	assert_int_equal(rc_state_layout_compute(&c, NULL, &L, &err), RC_OK);
	assert_int_equal(L.ctx, 4096);
	assert_int_equal(L.page_tokens, 16);
	assert_int_equal(L.chunk, 512);
	assert_int_equal(rc_state_layout_compute(&c, &(rc_state_opts){.ctx = 131073}, &L, &err), RC_E_ARG);
	assert_non_null(strstr(err.msg, "max_ctx"));
	assert_int_equal(rc_state_layout_compute(&c, &(rc_state_opts){.n_seq = RC_MAX_SEQ + 1}, &L, &err), RC_E_ARG);
	assert_int_equal(rc_state_layout_compute(&c, &(rc_state_opts){.kv_type = (rc_kv_type)7}, &L, &err), RC_E_ARG);
	c.head_dim = 512;
	assert_int_equal(rc_state_layout_compute(&c, NULL, &L, &err), RC_E_TENSOR);
}

static void test_argument_checks(void **state)
{
	(void)state;
	rt_config c = {0};
	c.vocab_size = 100;
	int32_t ok[3] = {1, 2, 3}, bad[3] = {1, 100, 3};
	float lg[300] = {0};
	rc_error err;
	assert_int_equal(rc_check_forward(&c, 64, 2, 0, 0, ok, 3, 0, RT_LOGITS_LAST, lg, &err), RC_OK);
	assert_int_equal(rc_check_forward(&c, 64, 2, 1, 10, ok, 3, 4, RT_LOGITS_ALL, lg, &err), RC_OK);
	const struct {
		uint32_t seq;
		size_t n_past;
		const int32_t *tok;
		size_t n, pos;
		rt_logits_mode mode;
		const float *logits;
		const char *needle;
	} bads[] = {
		{0, 0, ok, 0, 0, RT_LOGITS_LAST, lg, "no tokens"},
		{2, 0, ok, 3, 0, RT_LOGITS_LAST, lg, "sequence 2"},
		{0, 0, ok, 3, 0, (rt_logits_mode)9, lg, "logits mode"},
		{0, 0, ok, 3, 0, RT_LOGITS_ALL, NULL, "logits buffer"},
		{0, 2, ok, 3, 3, RT_LOGITS_LAST, lg, "past the 2 cached"},
		{0, 63, ok, 3, 62, RT_LOGITS_LAST, lg, "exceed the KV cache"},
		{0, 0, bad, 3, 0, RT_LOGITS_LAST, lg, "token 1 has id 100"},
	};
	for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
		err.msg[0] = 0;
		assert_int_equal(rc_check_forward(&c, 64, 2, bads[i].seq, bads[i].n_past, bads[i].tok, bads[i].n, bads[i].pos,
						  bads[i].mode, bads[i].logits, &err),
				 RC_E_ARG);
		if (!strstr(err.msg, bads[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bads[i].needle);
	}
	assert_int_equal(rc_check_forward(&c, 64, 2, 0, 0, ok, 1, 0, RT_LOGITS_NONE, NULL, &err), RC_OK);

	size_t n_past[3] = {5, 64, 0};
	uint32_t s01[2] = {0, 2}, dup[2] = {0, 0}, full[1] = {1}, out[1] = {3};
	assert_int_equal(rc_check_batch(&c, 64, 3, n_past, s01, ok, 2, lg, &err), RC_OK);
	assert_int_equal(rc_check_batch(&c, 64, 3, n_past, dup, ok, 2, lg, &err), RC_E_ARG);
	assert_non_null(strstr(err.msg, "twice"));
	assert_int_equal(rc_check_batch(&c, 64, 3, n_past, full, ok, 1, lg, &err), RC_E_ARG);
	assert_non_null(strstr(err.msg, "full"));
	assert_int_equal(rc_check_batch(&c, 64, 3, n_past, out, ok, 1, lg, &err), RC_E_ARG);
	assert_int_equal(rc_check_batch(&c, 64, 1, n_past, s01, ok, 2, lg, &err), RC_E_ARG);
	assert_int_equal(rc_check_batch(&c, 64, 3, n_past, s01, bad + 1, 2, lg, &err), RC_E_ARG);
	assert_int_equal(rc_check_batch(&c, 64, 3, n_past, s01, ok, 0, lg, &err), RC_E_ARG);
	assert_int_equal(rc_check_batch(&c, 64, 3, n_past, s01, ok, 2, NULL, &err), RC_E_ARG);
}

static int setup(void **state)
{
	(void)state;
	tmp_dir = tu_mkdtemp("rc-layout");
	return tmp_dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(tmp_dir);
	free(tmp_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stack_interleave),
		cmocka_unit_test(test_checksum_mismatch),
		cmocka_unit_test(test_unfused_and_host_embedding),
		cmocka_unit_test(test_state_vs_planner),
		cmocka_unit_test(test_argument_checks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
