/* CUDA element-wise kernels against kernels/cpu (label gpu; exits 77 without a device):
 * residual add + RMSNorm, per-head q/k RMSNorm + NeoX RoPE (YaRN table), SwiGLU, BF16 → f32.
 * Inputs are BF16 (as on the device); the CPU reference runs on their exact f32 values and its
 * result is compared after the same final rounding, so the only slack is one BF16 ulp where the
 * reduction order or expf differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cuda_testutil.h"

/* Limits for BF16 outputs of element-wise ops: at most one BF16 ulp (2^-8 relative) per element. */
#define OPS_NMSE 1e-6
#define OPS_MAX_REL (1.0 / 128)

static void bf16_to_f32v(float *out, const uint16_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = fmt_bf16_to_f32(in[i]);
}

static void round_bf16v(float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = fmt_bf16_to_f32(fmt_f32_to_bf16(v[i]));
}

static void test_rmsnorm(void **state)
{
	(void)state;
	const int shapes[][2] = {{1, 4096}, {3, 4096}, {5, 1000}, {2, 1}, {16, 5120}, {1, 129}};
	uint64_t seed = 1;
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
		for (int with_add = 0; with_add < 2; with_add++) {
			const int m = shapes[s][0], n = shapes[s][1];
			const size_t mn = (size_t)m * n;
			float *h = malloc(mn * 4), *w = malloc((size_t)n * 4), *ref = malloc(mn * 4), *got = malloc(mn * 4),
			      *hgot = malloc(mn * 4);
			uint16_t *add = malloc(mn * 2), *yb = malloc(mn * 2), *tmp = malloc(mn * 2);
			assert_true(h && w && ref && got && hgot && add && yb && tmp);
			kct_fill_bf16(tmp, mn, seed++, 3.0);
			bf16_to_f32v(h, tmp, mn);
			for (size_t i = 0; i < mn; i++)
				h[i] += (float)(i % 7) * 0.001f; /* not BF16-representable: h is a true f32 stream */
			kct_fill_bf16(tmp, (size_t)n, seed++, 1.0);
			bf16_to_f32v(w, tmp, (size_t)n);
			kct_fill_bf16(add, mn, seed++, 1.0);

			float *hd = kct_dalloc(mn * 4), *wd = kct_dalloc((size_t)n * 4);
			uint16_t *addd = kct_dalloc(mn * 2), *yd = kct_dalloc(mn * 2);
			kct_h2d(hd, h, mn * 4);
			kct_h2d(wd, w, (size_t)n * 4);
			kct_h2d(addd, add, mn * 2);
			kct_poison(yd, mn * 2);
			char err[256];
			if (kn_cuda_rmsnorm(hd, with_add ? addd : NULL, wd, yd, m, n, 1e-6f, NULL, err, sizeof err))
				fail_msg("%s", err);
			kct_sync();
			kct_d2h(yb, yd, mn * 2);
			kct_d2h(hgot, hd, mn * 4);
			for (int i = 0; i < m; i++) {
				float *hr = h + (size_t)i * n;
				if (with_add)
					for (int j = 0; j < n; j++)
						hr[j] += fmt_bf16_to_f32(add[(size_t)i * n + j]);
				kn_rmsnorm(ref + (size_t)i * n, hr, w, (size_t)n, 1e-6f);
			}
			/* the residual stream written back is an exact f32 add */
			if (memcmp(hgot, h, mn * 4) != 0)
				fail_msg("rmsnorm m %d n %d: residual stream differs from h + add", m, n);
			round_bf16v(ref, mn);
			bf16_to_f32v(got, yb, mn);
			char label[96];
			snprintf(label, sizeof label, "rmsnorm m %d n %d add %d", m, n, with_add);
			kct_check(label, kct_compare(got, ref, mn), OPS_NMSE, OPS_MAX_REL);
			kn_cuda_free(hd), kn_cuda_free(wd), kn_cuda_free(addd), kn_cuda_free(yd);
			free(h), free(w), free(ref), free(got), free(hgot), free(add), free(yb), free(tmp);
		}
}

/* q (32 heads) and k (8 heads) of Qwen3-8B, plus a partial rotary dim and odd head counts; YaRN
 * table as for DeepSeek-R1-0528-Qwen3-8B. */
static void test_qk_norm_rope(void **state)
{
	(void)state;
	const int cases[][4] = {{1, 32, 128, 128}, {4, 8, 128, 128}, {3, 5, 64, 32}, {16, 32, 128, 128}, {2, 3, 80, 80}};
	uint64_t seed = 50;
	const int max_pos = 4096;
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
		for (int with_norm = 0; with_norm < 2; with_norm++) {
			const int m = cases[c][0], nh = cases[c][1], hd = cases[c][2], dim = cases[c][3];
			kn_rope_params p = {.type = KN_ROPE_YARN, .theta = 1e6, .dim = (uint32_t)dim, .factor = 4,
					    .orig_ctx = 32768, .beta_fast = 32, .beta_slow = 1};
			float *inv = malloc((size_t)dim / 2 * 4), ms;
			float *tab = malloc((size_t)max_pos * dim * 4);
			assert_true(inv && tab);
			assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
			kn_cuda_rope_table(tab, (size_t)max_pos, (uint32_t)dim, inv, ms);
			const size_t tot = (size_t)m * nh * hd;
			uint16_t *x = malloc(tot * 2), *xo = malloc(tot * 2), *tmp = malloc((size_t)hd * 2);
			float *ref = malloc(tot * 4), *got = malloc(tot * 4), *nw = malloc((size_t)hd * 4);
			int32_t *pos = malloc((size_t)m * 4);
			assert_true(x && xo && tmp && ref && got && nw && pos);
			kct_fill_bf16(x, tot, seed++, 2.0);
			kct_fill_bf16(tmp, (size_t)hd, seed++, 1.0);
			bf16_to_f32v(nw, tmp, (size_t)hd);
			for (int i = 0; i < m; i++)
				pos[i] = (int32_t)((i * 997 + 13 * (int)c) % max_pos);
			pos[m - 1] = max_pos - 1;

			void *xd = kct_dalloc(tot * 2), *nwd = kct_dalloc((size_t)hd * 4), *posd = kct_dalloc((size_t)m * 4),
			     *tabd = kct_dalloc((size_t)max_pos * dim * 4);
			kct_h2d(xd, x, tot * 2);
			kct_h2d(nwd, nw, (size_t)hd * 4);
			kct_h2d(posd, pos, (size_t)m * 4);
			kct_h2d(tabd, tab, (size_t)max_pos * dim * 4);
			char err[256];
			if (kn_cuda_qk_norm_rope(xd, with_norm ? nwd : NULL, posd, tabd, max_pos, m, nh, hd, dim, 1e-6f,
						 NULL, err, sizeof err))
				fail_msg("%s", err);
			kct_sync();
			kct_d2h(xo, xd, tot * 2);
			bf16_to_f32v(ref, x, tot);
			for (int i = 0; i < m; i++) {
				float *xi = ref + (size_t)i * nh * hd;
				if (with_norm)
					kn_rmsnorm_heads(xi, nw, (size_t)nh, (size_t)hd, 1e-6f);
				kn_rope(xi, (size_t)nh, (size_t)hd, (uint32_t)dim, (size_t)pos[i], inv, ms);
			}
			round_bf16v(ref, tot);
			bf16_to_f32v(got, xo, tot);
			char label[96];
			snprintf(label, sizeof label, "qk_norm_rope m %d heads %d hd %d dim %d norm %d", m, nh, hd, dim,
				 with_norm);
			kct_check(label, kct_compare(got, ref, tot), OPS_NMSE, OPS_MAX_REL);

			/* a position past the table poisons the token instead of reading out of bounds */
			pos[0] = max_pos;
			kct_h2d(posd, pos, (size_t)m * 4);
			kct_h2d(xd, x, tot * 2);
			if (kn_cuda_qk_norm_rope(xd, NULL, posd, tabd, max_pos, m, nh, hd, dim, 1e-6f, NULL, err, sizeof err))
				fail_msg("%s", err);
			kct_sync();
			kct_d2h(xo, xd, tot * 2);
			for (int j = 0; j < nh * hd; j++)
				assert_true(isnan(fmt_bf16_to_f32(xo[j])));
			kn_cuda_free(xd), kn_cuda_free(nwd), kn_cuda_free(posd), kn_cuda_free(tabd);
			free(inv), free(tab), free(x), free(xo), free(tmp), free(ref), free(got), free(nw), free(pos);
		}
}

static void test_swiglu_and_logits(void **state)
{
	(void)state;
	const int shapes[][2] = {{1, 12288}, {4, 12288}, {3, 1001}, {16, 77}};
	uint64_t seed = 90;
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		const int m = shapes[s][0], n = shapes[s][1];
		const size_t mn = (size_t)m * n;
		uint16_t *gu = malloc(mn * 4), *out = malloc(mn * 2);
		float *g = malloc(mn * 4), *u = malloc(mn * 4), *ref = malloc(mn * 4), *got = malloc(mn * 4),
		      *wide = malloc(mn * 8);
		assert_true(gu && out && g && u && ref && got && wide);
		kct_fill_bf16(gu, mn * 2, seed++, 3.0);
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++) {
				g[(size_t)i * n + j] = fmt_bf16_to_f32(gu[(size_t)i * 2 * n + j]);
				u[(size_t)i * n + j] = fmt_bf16_to_f32(gu[(size_t)i * 2 * n + n + j]);
			}
		void *gud = kct_dalloc(mn * 4), *od = kct_dalloc(mn * 2), *fd = kct_dalloc(mn * 8);
		kct_h2d(gud, gu, mn * 4);
		kct_poison(od, mn * 2);
		kct_poison(fd, mn * 8);
		char err[256];
		if (kn_cuda_swiglu(gud, od, m, n, NULL, err, sizeof err))
			fail_msg("%s", err);
		if (kn_cuda_bf16_to_f32(gud, fd, mn * 2, NULL, err, sizeof err))
			fail_msg("%s", err);
		kct_sync();
		kct_d2h(out, od, mn * 2);
		kct_d2h(wide, fd, mn * 8);
		kn_swiglu(ref, g, u, mn);
		round_bf16v(ref, mn);
		bf16_to_f32v(got, out, mn);
		char label[64];
		snprintf(label, sizeof label, "swiglu m %d n %d", m, n);
		kct_check(label, kct_compare(got, ref, mn), OPS_NMSE, OPS_MAX_REL);
		for (size_t i = 0; i < mn * 2; i++)
			if (memcmp(&wide[i], &(float){fmt_bf16_to_f32(gu[i])}, 4) != 0)
				fail_msg("bf16_to_f32 element %zu: %a", i, (double)wide[i]);
		/* overlapping output is refused */
		err[0] = 0;
		assert_int_equal(kn_cuda_swiglu(gud, gud, m, n, NULL, err, sizeof err), -1);
		assert_true(err[0] != 0);
		kn_cuda_free(gud), kn_cuda_free(od), kn_cuda_free(fd);
		free(gu), free(out), free(g), free(u), free(ref), free(got), free(wide);
	}
}

int main(void)
{
	int rc = kct_require_gpu();
	if (rc)
		return rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rmsnorm),
		cmocka_unit_test(test_qk_norm_rope),
		cmocka_unit_test(test_swiglu_and_logits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
