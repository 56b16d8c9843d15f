/* The paged KV cache and attention kernels (kernels/cuda/kn_attn*) against kernels/cpu (label gpu;
 * exits 77 without a device):
 *   - kn_cuda_qkv_prep vs kn_rmsnorm_heads / kn_rope / kn_kv_store_heads on the same BF16 input;
 *   - kn_cuda_attn_prefill (MMA and SIMPLE) and kn_cuda_attn_decode vs kn_attention (KN_KV_F32) on
 *     the cache copied back, gathered through the page table and dequantized on the host;
 *   - a 40,000-position context (random K/V from kn_cuda_kv_fill_random) on sampled queries.
 * Outputs are poisoned (0xFF) before every run; page tables are shuffled; entries a sequence must
 * not read hold an invalid page id (reading one would put NaN in the output). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_attn_index.cuh"
#include "kn_cuda_attn.h"
#include "kn_cuda_testutil.h"

/* Error limits (kct_check: nmse ≤ nmse, max |got − ref| ≤ max_rel · max |ref|). BF16 outputs carry
 * a 2^-9 rounding; the MMA prefill also rounds P (and FP8 K/V) to BF16 before the tensor cores. */
enum { LIM_PREP, LIM_ATTN, LIM_ATTN_MMA, LIM_N };
static const struct {
	const char *what;
	double nmse, max_rel;
} LIM[LIM_N] = {
	[LIM_PREP] = {"qkv_prep BF16 outputs (≤ 1 BF16 ulp)", 1e-6, 1.0 / 128},
	[LIM_ATTN] = {"decode and SIMPLE prefill (f32 math, BF16 output)", 2e-5, 1.0 / 64},
	[LIM_ATTN_MMA] = {"MMA prefill (BF16 P, K and V)", 5e-5, 1.0 / 32},
};
/* FP8 codes from kn_cuda_qkv_prep: equal to the CPU's, except where the f32 values differ by the
 * norm's summation order; then one step, in at most this fraction of the codes. */
#define PREP_F8_MISMATCH_FRAC 1e-3

#ifdef _OPENMP
#define PAR_FOR _Pragma("omp parallel for schedule(dynamic)")
#else
#define PAR_FOR
#endif

typedef struct {
	kn_cuda_kv kv;       /* device */
	size_t data_bytes, scale_bytes;
	uint8_t *h_data;     /* host copy */
	float *h_scales;
} pool;

static void pool_init(pool *p, int type, int nl, int nkv, int hd, int pt, int np)
{
	memset(p, 0, sizeof *p);
	p->kv = (kn_cuda_kv){.kv_type = type, .n_layers = nl, .n_kv_heads = nkv, .head_dim = hd, .page_tokens = pt,
			     .n_pages = np};
	p->data_bytes = kn_cuda_kv_page_bytes(&p->kv) * (size_t)np;
	p->scale_bytes = kn_cuda_kv_page_scale_bytes(&p->kv) * (size_t)np;
	assert_true(p->data_bytes > 0);
	p->kv.data = kct_dalloc(p->data_bytes);
	if (p->scale_bytes)
		p->kv.scales = kct_dalloc(p->scale_bytes);
	p->h_data = malloc(p->data_bytes);
	p->h_scales = p->scale_bytes ? malloc(p->scale_bytes) : NULL;
	assert_non_null(p->h_data);
	char err[256];
	if (kn_cuda_kv_check(&p->kv, err, sizeof err))
		fail_msg("%s", err);
}

static void pool_download(pool *p)
{
	kct_sync();
	kct_d2h(p->h_data, p->kv.data, p->data_bytes);
	if (p->scale_bytes)
		kct_d2h(p->h_scales, p->kv.scales, p->scale_bytes);
}

static void pool_free(pool *p)
{
	kn_cuda_free(p->kv.data);
	kn_cuda_free(p->kv.scales);
	free(p->h_data);
	free(p->h_scales);
}

static float pool_value(const pool *p, size_t blk, int off, int d)
{
	const size_t e = kn_kv_elem(blk, off, p->kv.page_tokens, p->kv.head_dim) + (size_t)d;
	if (p->kv.kv_type == KN_CUDA_KV_BF16) {
		uint16_t h;
		memcpy(&h, p->h_data + e * 2, 2);
		return fmt_bf16_to_f32(h);
	}
	return fmt_e4m3_to_f32(p->h_data[e]) * p->h_scales[kn_kv_scale_at(blk, off, p->kv.page_tokens)];
}

/* K and V of positions 0..n−1 of a sequence as f32 rows [n][n_kv_heads][head_dim]. */
static void gather(const pool *p, int layer, const int32_t *ptab, int n, float *kf, float *vf)
{
	const int nkv = p->kv.n_kv_heads, hd = p->kv.head_dim, pt = p->kv.page_tokens;
	PAR_FOR for (int pos = 0; pos < n; pos++)
	{
		const int pg = ptab[pos / pt], off = pos % pt;
		assert_true(pg >= 0 && pg < p->kv.n_pages);
		for (int h = 0; h < nkv; h++) {
			const size_t bk = kn_kv_block((size_t)pg, layer, 0, h, p->kv.n_layers, nkv);
			const size_t bv = kn_kv_block((size_t)pg, layer, 1, h, p->kv.n_layers, nkv);
			for (int d = 0; d < hd; d++) {
				kf[((size_t)pos * nkv + h) * hd + d] = pool_value(p, bk, off, d);
				vf[((size_t)pos * nkv + h) * hd + d] = pool_value(p, bv, off, d);
			}
		}
	}
}

/* Reference outputs of query rows rows[0..nr) (row r at position p0 + r attends to 0..p0 + r). */
static void ref_attention(float *out, const float *q, size_t q_stride, const int *rows, int nr, int p0,
			  const float *kf, const float *vf, int nh, int nkv, int hd)
{
	PAR_FOR for (int i = 0; i < nr; i++)
	{
		const int n_ctx = p0 + rows[i] + 1;
		float *scores = malloc((size_t)n_ctx * sizeof *scores);
		assert_non_null(scores);
		kn_attention(out + (size_t)i * nh * hd, q + (size_t)rows[i] * q_stride, kf, vf, KN_KV_F32,
			     (size_t)nkv * hd * 4, (size_t)n_ctx, (size_t)nh, (size_t)nkv, (size_t)hd, scores);
		free(scores);
	}
}

static void shuffle(int32_t *a, int n, uint64_t seed)
{
	tu_rng r = {seed};
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(tu_rng_u64(&r) % (uint64_t)(i + 1));
		int32_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

static void bf16v_to_f32(float *out, const uint16_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = fmt_bf16_to_f32(in[i]);
}

static void check_lim(const char *label, const float *got, const float *ref, size_t n, int lim)
{
	char buf[320];
	snprintf(buf, sizeof buf, "%s [%s]", label, LIM[lim].what);
	kct_check(buf, kct_compare(got, ref, n), LIM[lim].nmse, LIM[lim].max_rel);
}

/* Rows `rows` of a device output [T][nh·hd] as f32. */
static void out_rows(float *dst, const uint16_t *h_out, const int *rows, int nr, size_t width)
{
	for (int i = 0; i < nr; i++)
		bf16v_to_f32(dst + (size_t)i * width, h_out + (size_t)rows[i] * width, width);
}

/* ---- qkv_prep ---- */

static void test_qkv_prep(void **state)
{
	(void)state;
	/* n_heads, n_kv_heads, head_dim, rope_dim, norm, bias */
	const int cases[][6] = {{32, 8, 128, 128, 1, 0}, {14, 2, 64, 64, 0, 1}, {4, 4, 80, 32, 1, 1},
				{6, 3, 48, 48, 1, 1},    {4, 2, 96, 64, 1, 0},  {8, 2, 256, 256, 1, 0}};
	const int m = 9, nl = 2, layer = 1, pt = 16, np = 6, max_pos = 2048;
	uint64_t seed = 1000;
	for (int type = 0; type < 2; type++)
		for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
			const int nh = cases[c][0], nkv = cases[c][1], hd = cases[c][2], rd = cases[c][3];
			const int with_norm = cases[c][4], with_bias = cases[c][5], nh_all = nh + 2 * nkv;
			const size_t row = (size_t)nh_all * hd, tot = (size_t)m * row;
			pool P;
			pool_init(&P, type, nl, nkv, hd, pt, np);
			kn_rope_params rp = {.type = KN_ROPE_YARN, .theta = 1e6, .dim = (uint32_t)rd, .factor = 4,
					     .orig_ctx = 32768, .beta_fast = 32, .beta_slow = 1};
			float *inv = malloc((size_t)rd / 2 * 4), ms, *tab = malloc((size_t)max_pos * rd * 4);
			uint16_t *x = malloc(tot * 2), *xo = malloc(tot * 2), *tmp = malloc(row * 2);
			float *bias = malloc(row * 4), *qn = malloc((size_t)hd * 4), *kn = malloc((size_t)hd * 4);
			float *ref = malloc(tot * 4), *got = malloc(tot * 4);
			int32_t pos[9], slot[9];
			assert_true(inv && tab && x && xo && tmp && bias && qn && kn && ref && got);
			assert_int_equal(kn_rope_init(&rp, inv, &ms, NULL, 0), 0);
			kn_cuda_rope_table(tab, (size_t)max_pos, (uint32_t)rd, inv, ms);
			kct_fill_bf16(x, tot, seed++, 2.0);
			kct_fill_bf16(tmp, row, seed++, 0.5);
			bf16v_to_f32(bias, tmp, row);
			kct_fill_bf16(tmp, (size_t)hd, seed++, 1.0);
			bf16v_to_f32(qn, tmp, (size_t)hd);
			kct_fill_bf16(tmp, (size_t)hd, seed++, 1.0);
			bf16v_to_f32(kn, tmp, (size_t)hd);
			/* distinct slots across the pool; token 2 skipped (−1), token 5 past the pool, token 7 at
			 * an invalid position (q and k become NaN) */
			for (int i = 0; i < m; i++) {
				pos[i] = (int32_t)((i * 331 + 17) % max_pos);
				slot[i] = (int32_t)((i * 37 + 3) % (np * pt));
			}
			slot[2] = -1;
			slot[5] = np * pt;
			pos[7] = max_pos;

			void *xd = kct_dalloc(tot * 2), *posd = kct_dalloc(sizeof pos), *slotd = kct_dalloc(sizeof slot);
			float *biasd = kct_dalloc(row * 4), *qnd = kct_dalloc((size_t)hd * 4), *knd = kct_dalloc((size_t)hd * 4),
			      *tabd = kct_dalloc((size_t)max_pos * rd * 4);
			kct_h2d(xd, x, tot * 2);
			kct_h2d(posd, pos, sizeof pos);
			kct_h2d(slotd, slot, sizeof slot);
			kct_h2d(biasd, bias, row * 4);
			kct_h2d(qnd, qn, (size_t)hd * 4);
			kct_h2d(knd, kn, (size_t)hd * 4);
			kct_h2d(tabd, tab, (size_t)max_pos * rd * 4);
			kct_poison(P.kv.data, P.data_bytes);
			if (P.scale_bytes)
				kct_poison(P.kv.scales, P.scale_bytes);
			kn_cuda_qkv_args a = {.n_heads = nh, .bias = with_bias ? biasd : NULL, .q_norm = with_norm ? qnd : NULL,
					      .k_norm = with_norm ? knd : NULL, .eps = 1e-6f, .rope_table = tabd,
					      .rope_max_pos = max_pos, .rope_dim = rd};
			char err[256];
			if (kn_cuda_qkv_prep(&P.kv, layer, xd, m, posd, slotd, &a, NULL, err, sizeof err))
				fail_msg("%s", err);
			kct_sync();
			kct_d2h(xo, xd, tot * 2);
			pool_download(&P);

			/* CPU: the same f32 steps on the same BF16 input */
			for (int i = 0; i < m; i++) {
				float *r = ref + (size_t)i * row;
				bf16v_to_f32(r, x + (size_t)i * row, row);
				if (with_bias)
					kn_add(r, bias, row);
				if (with_norm) {
					kn_rmsnorm_heads(r, qn, (size_t)nh, (size_t)hd, 1e-6f);
					kn_rmsnorm_heads(r + (size_t)nh * hd, kn, (size_t)nkv, (size_t)hd, 1e-6f);
				}
				if (pos[i] < max_pos)
					kn_rope(r, (size_t)(nh + nkv), (size_t)hd, (uint32_t)rd, (size_t)pos[i], inv, ms);
				else
					for (size_t j = 0; j < (size_t)(nh + nkv) * hd; j++)
						r[j] = NAN;
			}
			char label[160];
			snprintf(label, sizeof label, "qkv_prep %s heads %d/%d hd %d rope %d norm %d bias %d",
				 type ? "fp8" : "bf16", nh, nkv, hd, rd, with_norm, with_bias);
			/* q written back in place (BF16) */
			for (int i = 0; i < m; i++) {
				float rq[4096], gq[4096];
				const size_t nq = (size_t)nh * hd;
				for (size_t j = 0; j < nq; j++) {
					rq[j] = fmt_bf16_to_f32(fmt_f32_to_bf16(ref[(size_t)i * row + j]));
					gq[j] = fmt_bf16_to_f32(xo[(size_t)i * row + j]);
				}
				if (i == 7) {
					for (size_t j = 0; j < nq; j++)
						if (!isnan(gq[j]))
							fail_msg("%s: token at an invalid position, q[%zu] = %g (want NaN)", label, j,
								 (double)gq[j]);
				} else {
					check_lim(label, gq, rq, nq, LIM_PREP);
				}
			}
			/* k and v in the cache */
			size_t n_codes = 0, n_mismatch = 0;
			for (int i = 0; i < m; i++) {
				if (!kn_kv_slot_ok(slot[i], np, pt))
					continue;
				const int pg = slot[i] / pt, off = slot[i] % pt;
				for (int kvsel = 0; kvsel < 2; kvsel++)
					for (int h = 0; h < nkv; h++) {
						const float *src = ref + (size_t)i * row + (size_t)(nh + kvsel * nkv + h) * hd;
						const size_t blk = kn_kv_block((size_t)pg, layer, kvsel, h, nl, nkv);
						const size_t e0 = kn_kv_elem(blk, off, pt, hd);
						if (type == KN_CUDA_KV_BF16) {
							float rv[256], gv[256];
							for (int d = 0; d < hd; d++) {
								uint16_t hb;
								memcpy(&hb, P.h_data + (e0 + (size_t)d) * 2, 2);
								uint16_t want = fmt_f32_to_bf16(src[d]);
								if (isnan(src[d]) ? (hb & 0x7FFF) <= 0x7F80 : 0)
									fail_msg("%s: NaN k not stored as NaN", label);
								rv[d] = isnan(src[d]) ? 0.0f : fmt_bf16_to_f32(want);
								gv[d] = isnan(src[d]) ? 0.0f : fmt_bf16_to_f32(hb);
							}
							check_lim(label, gv, rv, (size_t)hd, LIM_PREP);
						} else {
							uint8_t want[256 + 8];
							float want_sc;
							kn_kv_store_heads(want, KN_KV_F8, src, 1, (size_t)hd);
							memcpy(&want_sc, want + (((size_t)hd + 3) & ~(size_t)3), 4);
							const float got_sc = P.h_scales[kn_kv_scale_at(blk, off, pt)];
							if (!(fabsf(got_sc - want_sc) <= want_sc * 0x1p-20f))
								fail_msg("%s: token %d kv %d head %d: scale %a, CPU %a", label, i, kvsel, h,
									 (double)got_sc, (double)want_sc);
							for (int d = 0; d < hd; d++) {
								const uint8_t gc = P.h_data[e0 + (size_t)d];
								n_codes++;
								if (gc == want[d])
									continue;
								n_mismatch++;
								const int diff = (int)(gc & 0x7F) - (int)(want[d] & 0x7F);
								if ((gc & 0x80) != (want[d] & 0x80) || diff < -1 || diff > 1)
									fail_msg("%s: token %d kv %d head %d dim %d: code 0x%02x, CPU 0x%02x",
										 label, i, kvsel, h, d, gc, want[d]);
							}
						}
					}
			}
			if ((double)n_mismatch > PREP_F8_MISMATCH_FRAC * (double)n_codes + 1)
				fail_msg("%s: %zu of %zu FP8 codes differ by one step", label, n_mismatch, n_codes);
			/* slots not written keep the poison: count the touched blocks' rows */
			size_t written = 0;
			const size_t elem_size = type == KN_CUDA_KV_BF16 ? 2 : 1;
			for (size_t e = 0; e < P.data_bytes / elem_size / (size_t)hd; e++) {
				int poisoned = 1;
				for (size_t b = 0; b < (size_t)hd * elem_size; b++)
					poisoned &= P.h_data[e * hd * elem_size + b] == 0xFF;
				written += !poisoned;
			}
			if (written != (size_t)(m - 2) * 2 * nkv)
				fail_msg("%s: %zu cache rows written, expected %d", label, written, (m - 2) * 2 * nkv);

			kn_cuda_free(xd), kn_cuda_free(posd), kn_cuda_free(slotd), kn_cuda_free(biasd);
			kn_cuda_free(qnd), kn_cuda_free(knd), kn_cuda_free(tabd);
			pool_free(&P);
			free(inv), free(tab), free(x), free(xo), free(tmp), free(bias), free(qn), free(kn), free(ref), free(got);
		}
}

/* Head dims of the prefill and decode sweeps: the exact-dim kernels (64, 128) and the generic ones of
 * every capacity (kn_attn_hd_cap: 16 → 32, 48 → 64, 96 and 112 → 128, 192 and 256 → 256). */
static const int hds[] = {64, 128, 48, 96, 256, 16, 112, 192};
#define N_HDS ((int)(sizeof hds / sizeof *hds))

/* ---- prefill ---- */

static const char *impl_name(int impl)
{
	return impl == KN_CUDA_PREFILL_SIMPLE ? "simple" : "mma";
}

/* Runs both prefill implementations on rows 0..T−1 (q rows q_stride apart on the device) and
 * compares rows[0..nr) with the reference. */
static void check_prefill(const char *label, const pool *P, int layer, const void *qd, int q_stride, int T, int p0,
			  const void *ptd, int nh, const int *rows, int nr, const float *ref)
{
	const size_t width = (size_t)nh * P->kv.head_dim;
	uint16_t *od = kct_dalloc((size_t)T * width * 2), *ho = malloc((size_t)T * width * 2);
	float *got = malloc((size_t)nr * width * 4);
	assert_true(ho && got);
	const int impls[] = {KN_CUDA_PREFILL_MMA, KN_CUDA_PREFILL_SIMPLE};
	for (int k = 0; k < 2; k++) {
		char err[256], lab[256];
		kct_poison(od, (size_t)T * width * 2);
		if (kn_cuda_attn_prefill_impl(&P->kv, layer, qd, q_stride, od, T, p0, ptd, nh, impls[k], NULL, err,
					      sizeof err))
			fail_msg("%s: %s", label, err);
		kct_sync();
		kct_d2h(ho, od, (size_t)T * width * 2);
		out_rows(got, ho, rows, nr, width);
		snprintf(lab, sizeof lab, "%s prefill %s", label, impl_name(impls[k]));
		check_lim(lab, got, ref, (size_t)nr * width, impls[k] == KN_CUDA_PREFILL_MMA ? LIM_ATTN_MMA : LIM_ATTN);
	}
	kn_cuda_free(od);
	free(ho), free(got);
}

/* qkv_prep stores the chunk's k/v after a random prefix (fill_random), then prefill attends over
 * both through a shuffled page table. */
static void test_prefill(void **state)
{
	(void)state;
	const int tp[][2] = {{1, 0}, {17, 5}, {64, 300}, {200, 0}, {200, 300}, {1, 300}, {64, 5}, {17, 0}};
	const int groups[] = {1, 4, 8};
	const int nkv = 2, nl = 2, layer = 1, pt = 16, max_pos = 1024;
	uint64_t seed = 2000;
	for (int type = 0; type < 2; type++)
		for (int hi = 0; hi < N_HDS; hi++)
			for (int gi = 0; gi < 3; gi++)
				for (size_t c = 0; c < sizeof tp / sizeof *tp; c++) {
					const int hd = hds[hi], nh = nkv * groups[gi], T = tp[c][0], p0 = tp[c][1];
					const int n = p0 + T, n_pg = (n + pt - 1) / pt, np = n_pg + 3;
					const int q_stride = (nh + 2 * nkv) * hd;
					pool P;
					pool_init(&P, type, nl, nkv, hd, pt, np);
					char err[256];
					if (kn_cuda_kv_fill_random(&P.kv, seed++, NULL, err, sizeof err))
						fail_msg("%s", err);
					int32_t *ptab = malloc((size_t)np * 4), *pos = malloc((size_t)T * 4), *slot = malloc((size_t)T * 4);
					uint16_t *qkv = malloc((size_t)T * q_stride * 2);
					float *qf = malloc((size_t)T * q_stride * 4), *nw = malloc((size_t)hd * 4);
					float *inv = malloc((size_t)hd / 2 * 4), ms, *tab = malloc((size_t)max_pos * hd * 4);
					float *kf = malloc((size_t)n * nkv * hd * 4), *vf = malloc((size_t)n * nkv * hd * 4);
					float *ref = malloc((size_t)T * nh * hd * 4);
					int *rows = malloc((size_t)T * sizeof *rows);
					assert_true(ptab && pos && slot && qkv && qf && nw && inv && tab && kf && vf && ref && rows);
					for (int i = 0; i < np; i++)
						ptab[i] = i;
					shuffle(ptab, np, seed++);
					for (int i = n_pg; i < np; i++)
						ptab[i] = -5; /* past the chunk: never read (NaN in the output if it were) */
					for (int i = 0; i < T; i++) {
						pos[i] = p0 + i;
						slot[i] = ptab[(p0 + i) / pt] * pt + (p0 + i) % pt;
						rows[i] = i;
					}
					kn_rope_params rp = {.type = KN_ROPE_NONE, .theta = 1e6, .dim = (uint32_t)hd};
					assert_int_equal(kn_rope_init(&rp, inv, &ms, NULL, 0), 0);
					kn_cuda_rope_table(tab, (size_t)max_pos, (uint32_t)hd, inv, ms);
					kct_fill_bf16(qkv, (size_t)T * q_stride, seed++, 1.0);
					for (int d = 0; d < hd; d++)
						nw[d] = 1.0f + 0.01f * (float)(d % 7);
					void *qkvd = kct_dalloc((size_t)T * q_stride * 2), *posd = kct_dalloc((size_t)T * 4),
					     *slotd = kct_dalloc((size_t)T * 4), *ptd = kct_dalloc((size_t)np * 4),
					     *nwd = kct_dalloc((size_t)hd * 4), *tabd = kct_dalloc((size_t)max_pos * hd * 4);
					kct_h2d(qkvd, qkv, (size_t)T * q_stride * 2);
					kct_h2d(posd, pos, (size_t)T * 4);
					kct_h2d(slotd, slot, (size_t)T * 4);
					kct_h2d(ptd, ptab, (size_t)np * 4);
					kct_h2d(nwd, nw, (size_t)hd * 4);
					kct_h2d(tabd, tab, (size_t)max_pos * hd * 4);
					kn_cuda_qkv_args a = {.n_heads = nh, .q_norm = nwd, .k_norm = nwd, .eps = 1e-6f,
							      .rope_table = tabd, .rope_max_pos = max_pos, .rope_dim = hd};
					if (kn_cuda_qkv_prep(&P.kv, layer, qkvd, T, posd, slotd, &a, NULL, err, sizeof err))
						fail_msg("%s", err);
					kct_sync();
					kct_d2h(qkv, qkvd, (size_t)T * q_stride * 2);
					bf16v_to_f32(qf, qkv, (size_t)T * q_stride);
					pool_download(&P);
					gather(&P, layer, ptab, n, kf, vf);
					ref_attention(ref, qf, (size_t)q_stride, rows, T, p0, kf, vf, nh, nkv, hd);
					char label[128];
					snprintf(label, sizeof label, "%s hd %d heads %d/%d T %d p0 %d", type ? "fp8" : "bf16", hd, nh,
						 nkv, T, p0);
					check_prefill(label, &P, layer, qkvd, q_stride, T, p0, ptd, nh, rows, T, ref);

					kn_cuda_free(qkvd), kn_cuda_free(posd), kn_cuda_free(slotd), kn_cuda_free(ptd);
					kn_cuda_free(nwd), kn_cuda_free(tabd);
					pool_free(&P);
					free(ptab), free(pos), free(slot), free(qkv), free(qf), free(nw), free(inv), free(tab);
					free(kf), free(vf), free(ref), free(rows);
				}
}

/* ---- decode ---- */

/* Decode of n_seq sequences (lengths lens, pages from one shuffled pool; unused page-table entries
 * hold −5) for each n_splits in splits[], against the reference. */
static void run_decode(const char *label, const pool *P, int layer, const int *lens, int n_seq, const int32_t *ptab,
		       int max_pages, int nh, const uint16_t *q, int q_stride, const int *splits, int n_splits_cases)
{
	const int nkv = P->kv.n_kv_heads, hd = P->kv.head_dim;
	const size_t width = (size_t)nh * hd;
	float *ref = calloc((size_t)n_seq * width, 4), *got = malloc((size_t)n_seq * width * 4), *qf = malloc(width * 4);
	uint16_t *ho = malloc((size_t)n_seq * width * 2);
	assert_true(ref && got && qf && ho);
	for (int s = 0; s < n_seq; s++) {
		if (lens[s] == 0)
			continue; /* zeros, as the kernel writes */
		float *kf = malloc((size_t)lens[s] * nkv * hd * 4), *vf = malloc((size_t)lens[s] * nkv * hd * 4);
		assert_true(kf && vf);
		gather(P, layer, ptab + (size_t)s * max_pages, lens[s], kf, vf);
		bf16v_to_f32(qf, q + (size_t)s * q_stride, width);
		const int row = 0;
		ref_attention(ref + (size_t)s * width, qf, width, &row, 1, lens[s] - 1, kf, vf, nh, nkv, hd);
		free(kf), free(vf);
	}
	void *qd = kct_dalloc((size_t)n_seq * q_stride * 2), *lend = kct_dalloc((size_t)n_seq * 4),
	     *ptd = kct_dalloc((size_t)n_seq * max_pages * 4), *od = kct_dalloc((size_t)n_seq * width * 2);
	kct_h2d(qd, q, (size_t)n_seq * q_stride * 2);
	kct_h2d(lend, lens, (size_t)n_seq * 4);
	kct_h2d(ptd, ptab, (size_t)n_seq * max_pages * 4);
	for (int k = 0; k < n_splits_cases; k++) {
		const int ns = splits[k];
		const size_t wb = kn_cuda_attn_decode_work_bytes(n_seq, nh, hd, ns);
		void *work = kct_dalloc(wb);
		kct_poison(work, wb);
		kct_poison(od, (size_t)n_seq * width * 2);
		char err[256], lab[256];
		if (kn_cuda_attn_decode(&P->kv, layer, qd, q_stride, od, n_seq, lend, ptd, max_pages, nh, ns, work, NULL, err,
					sizeof err))
			fail_msg("%s: %s", label, err);
		kct_sync();
		kct_d2h(ho, od, (size_t)n_seq * width * 2);
		bf16v_to_f32(got, ho, (size_t)n_seq * width);
		for (int s = 0; s < n_seq; s++) {
			snprintf(lab, sizeof lab, "%s decode seq %d len %d splits %d", label, s, lens[s], ns);
			if (lens[s] == 0) {
				for (size_t j = 0; j < width; j++)
					if (got[(size_t)s * width + j] != 0.0f)
						fail_msg("%s: output %g, want 0", lab, (double)got[(size_t)s * width + j]);
				continue;
			}
			check_lim(lab, got + (size_t)s * width, ref + (size_t)s * width, width, LIM_ATTN);
		}
		kn_cuda_free(work);
	}
	kn_cuda_free(qd), kn_cuda_free(lend), kn_cuda_free(ptd), kn_cuda_free(od);
	free(ref), free(got), free(qf), free(ho);
}

static int device_sms(void)
{
	kn_cuda_device_info info;
	char why[256];
	if (kn_cuda_device_info_get(0, &info, why, sizeof why))
		fail_msg("%s", why);
	return info.n_sms;
}

static void test_decode(void **state)
{
	(void)state;
	const int lens[] = {1, 15, 16, 17, 1000, 333, 0, 64, 257};
	const int n_seq = (int)(sizeof lens / sizeof *lens), nkv = 2, nl = 3, layer = 2, pt = 16;
	const int groups[] = {1, 4, 8, 6};
	uint64_t seed = 3000;
	int max_pages = 0, total = 0;
	for (int s = 0; s < n_seq; s++) {
		int p = (lens[s] + pt - 1) / pt;
		total += p;
		max_pages = p > max_pages ? p : max_pages;
	}
	max_pages += 1; /* a stride wider than any sequence needs */
	const int np = total + 5;
	for (int type = 0; type < 2; type++)
		for (int hi = 0; hi < N_HDS; hi++)
			for (int gi = 0; gi < 4; gi++) {
				const int hd = hds[hi], nh = nkv * groups[gi], q_stride = (nh + 2 * nkv) * hd;
				pool P;
				pool_init(&P, type, nl, nkv, hd, pt, np);
				char err[256];
				if (kn_cuda_kv_fill_random(&P.kv, seed++, NULL, err, sizeof err))
					fail_msg("%s", err);
				pool_download(&P);
				int32_t *perm = malloc((size_t)np * 4), *ptab = malloc((size_t)n_seq * max_pages * 4);
				uint16_t *q = malloc((size_t)n_seq * q_stride * 2);
				assert_true(perm && ptab && q);
				for (int i = 0; i < np; i++)
					perm[i] = i;
				shuffle(perm, np, seed++);
				for (int s = 0, next = 0; s < n_seq; s++)
					for (int i = 0; i < max_pages; i++)
						ptab[(size_t)s * max_pages + i] = i < (lens[s] + pt - 1) / pt ? perm[next++] : -5;
				kct_fill_bf16(q, (size_t)n_seq * q_stride, seed++, 1.0);
				const int splits[] = {1, 3, 16, kn_cuda_attn_decode_splits(n_seq, nkv, 1000, device_sms())};
				char label[96];
				snprintf(label, sizeof label, "%s hd %d heads %d/%d", type ? "fp8" : "bf16", hd, nh, nkv);
				run_decode(label, &P, layer, lens, n_seq, ptab, max_pages, nh, q, q_stride, splits, 4);
				pool_free(&P);
				free(perm), free(ptab), free(q);
			}
}

/* ---- long context: 40,000 positions of the 8B's attention shape ---- */

static void test_long_context(void **state)
{
	(void)state;
	const int n = 40000, nkv = 8, nh = 32, hd = 128, pt = 16, np = (n + pt - 1) / pt;
	const int q_stride = (nh + 2 * nkv) * hd;
	for (int type = 0; type < 2; type++) {
		pool P;
		pool_init(&P, type, 1, nkv, hd, pt, np);
		char err[256];
		if (kn_cuda_kv_fill_random(&P.kv, 77 + (uint64_t)type, NULL, err, sizeof err))
			fail_msg("%s", err);
		pool_download(&P);
		int32_t *ptab = malloc((size_t)np * 4 * 2);
		assert_non_null(ptab);
		for (int i = 0; i < np; i++)
			ptab[i] = i;
		shuffle(ptab, np, 4242);
		memcpy(ptab + np, ptab, (size_t)np * 4); /* sequence 1 shares the pages, shorter */
		const char *tn = type ? "fp8" : "bf16";

		/* decode: one split and the suggested number */
		const int lens[2] = {n, 20001};
		uint16_t *q = malloc((size_t)2 * q_stride * 2);
		assert_non_null(q);
		kct_fill_bf16(q, (size_t)2 * q_stride, 91, 1.0);
		const int splits[] = {1, kn_cuda_attn_decode_splits(2, nkv, n, device_sms())};
		char label[96];
		snprintf(label, sizeof label, "long %s", tn);
		run_decode(label, &P, 0, lens, 2, ptab, np, nh, q, q_stride, splits, 2);
		free(q);

		/* prefill windows, compared on sampled rows */
		float *kf = malloc((size_t)n * nkv * hd * 4), *vf = malloc((size_t)n * nkv * hd * 4);
		assert_true(kf && vf);
		gather(&P, 0, ptab, n, kf, vf);
		const int win[][2] = {{0, 64}, {16003, 17}, {39900, 100}};
		void *ptd = kct_dalloc((size_t)np * 4);
		kct_h2d(ptd, ptab, (size_t)np * 4);
		for (int w = 0; w < 3; w++) {
			const int p0 = win[w][0], T = win[w][1];
			const int rows[] = {0, 1, T / 2, T - 1};
			uint16_t *qb = malloc((size_t)T * q_stride * 2);
			float *qf = malloc((size_t)T * q_stride * 4), *ref = malloc(4 * (size_t)nh * hd * 4);
			assert_true(qb && qf && ref);
			kct_fill_bf16(qb, (size_t)T * q_stride, 500 + (uint64_t)w, 1.0);
			bf16v_to_f32(qf, qb, (size_t)T * q_stride);
			ref_attention(ref, qf, (size_t)q_stride, rows, 4, p0, kf, vf, nh, nkv, hd);
			void *qd = kct_dalloc((size_t)T * q_stride * 2);
			kct_h2d(qd, qb, (size_t)T * q_stride * 2);
			snprintf(label, sizeof label, "long %s p0 %d T %d", tn, p0, T);
			check_prefill(label, &P, 0, qd, q_stride, T, p0, ptd, nh, rows, 4, ref);
			kn_cuda_free(qd);
			free(qb), free(qf), free(ref);
		}
		kn_cuda_free(ptd);
		free(kf), free(vf), free(ptab);
		pool_free(&P);
	}
}

/* Launchers reject bad arguments before launching anything. */
static void test_bad_args(void **state)
{
	(void)state;
	pool P;
	pool_init(&P, KN_CUDA_KV_BF16, 1, 2, 128, 16, 4);
	char err[256] = "";
	kn_cuda_kv bad = P.kv;
	bad.head_dim = 72; /* even (a valid cache) but not a multiple of 16 */
	assert_int_equal(kn_cuda_attn_prefill(&bad, 0, P.kv.data, 512, P.kv.data, 1, 0, P.kv.data, 4, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "head_dim"));
	assert_int_equal(kn_cuda_attn_prefill(&P.kv, 1, P.kv.data, 512, P.kv.data, 1, 0, P.kv.data, 4, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "layer"));
	assert_int_equal(kn_cuda_attn_decode(&P.kv, 0, P.kv.data, 512, P.kv.data, 1, P.kv.data, P.kv.data, 4, 3, 1,
					     P.kv.data, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "multiple"));
	assert_int_equal(kn_cuda_attn_decode(&P.kv, 0, P.kv.data, 8192, P.kv.data, 1, P.kv.data, P.kv.data, 4, 32, 1,
					     P.kv.data, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "group"));
	bad = P.kv;
	bad.kv_type = KN_CUDA_KV_F8;
	bad.scales = NULL;
	assert_int_equal(kn_cuda_kv_check(&bad, err, sizeof err), -1);
	pool_free(&P);
}

int main(void)
{
	if (kct_require_gpu())
		return BALE_SKIP;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_args),  cmocka_unit_test(test_qkv_prep),     cmocka_unit_test(test_decode),
		cmocka_unit_test(test_prefill),   cmocka_unit_test(test_long_context),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
