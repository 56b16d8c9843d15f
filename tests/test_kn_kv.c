/* The CPU KV cache (kernels/cpu/kn_kv.c): row sizes and layout, the per-head FP8 encoding
 * checked against formats/'s independent E4M3 encoder and decoder, its quantization error per
 * element, attention over FP8 rows against attention over their dequantized values, and edge rows
 * (zero, huge, tiny, infinite, NaN). This CPU path is the reference of the GPU's FP8 cache. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cpu.h"
#include "testutil.h"

/* Worst |attention over F8 rows − attention over their dequantized f32 values| / max|v|: the same
 * values in the same order, so only an F8 read that differs from kn_kv_load_heads can exceed it. */
#define ATT_DEQUANT_REL 1e-6
/* Worst |attention over F8 rows − attention over the unquantized input| / max|v|, measured
 * 1.7e-2 over the shapes of test_attention_f8 (3 mantissa bits on N(0,1) keys and values). */
#define ATT_QUANT_REL 4e-2

static float *alloc_f(size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	assert_non_null(p);
	return p;
}

/* Start of the scales: the codes padded to a multiple of 4 (the documented layout). */
static size_t scale_off(size_t n_kv_heads, size_t head_dim)
{
	return (n_kv_heads * head_dim + 3) / 4 * 4;
}

static float scale_of(const uint8_t *row, size_t n_kv_heads, size_t head_dim, size_t h)
{
	float s;
	memcpy(&s, row + scale_off(n_kv_heads, head_dim) + 4 * h, sizeof s);
	return s;
}

static void test_row_bytes(void **state)
{
	(void)state;
	assert_int_equal(kn_kv_row_bytes(KN_KV_F32, 2, 16), 128);
	assert_int_equal(kn_kv_row_bytes(KN_KV_BF16, 2, 16), 64);
	assert_int_equal(kn_kv_row_bytes(KN_KV_F8, 2, 16), 32 + 8);
	assert_int_equal(kn_kv_row_bytes(KN_KV_F8, 3, 5), 16 + 12); /* 15 codes, 1 byte of padding */
	assert_int_equal(kn_kv_row_bytes(KN_KV_F8, 1, 1), 8);
	assert_int_equal(kn_kv_row_bytes(KN_KV_F8, 8, 128), 8 * 128 + 8 * 4); /* the 8B: 3 % of scales */
	for (size_t nkv = 1; nkv < 9; nkv++)
		for (size_t hd = 1; hd < 19; hd++)
			assert_int_equal(kn_kv_row_bytes(KN_KV_F8, nkv, hd) % 4, 0);
	/* overflow and unknown types give 0 */
	assert_int_equal(kn_kv_row_bytes(KN_KV_F32, SIZE_MAX / 2, 2), 0);
	assert_int_equal(kn_kv_row_bytes(KN_KV_F32, SIZE_MAX / 4 + 1, 1), 0);
	assert_int_equal(kn_kv_row_bytes(KN_KV_BF16, SIZE_MAX / 2 + 1, 1), 0);
	assert_int_equal(kn_kv_row_bytes(KN_KV_F8, SIZE_MAX - 1, 1), 0);
	assert_int_equal(kn_kv_row_bytes(KN_KV_F8, SIZE_MAX / 4 + 1, 0), 0); /* the scales alone overflow */
	assert_int_equal(kn_kv_row_bytes((kn_kv_type)7, 2, 16), 0);
}

/* Half a step of E4M3 at |y| (y = x / scale): 2^-10 in the subnormal range, else 2^(e−4) for
 * |y| in [2^e, 2^(e+1)). */
static double half_step(double y)
{
	y = fabs(y);
	if (y < 0x1p-6)
		return 0x1p-10;
	int e;
	frexp(y, &e); /* y = m · 2^e with m in [0.5, 1) */
	return ldexp(1.0, e - 1 - 4);
}

/* Stores src [nkv][hd] as one F8 row and checks everything the header promises: the scale is
 * amax / 448 of its head (NaN ignored; 1 for zero or non-finite amax), every code is
 * formats/'s fmt_f32_to_e4m3(x / scale), the padding is zero, nothing past the row is written,
 * kn_kv_load_heads gives e4m3(code) × scale, and finite inputs are within half an E4M3 step ×
 * scale (plus binary32 rounding). */
static void check_f8_row(const float *src, size_t nkv, size_t hd)
{
	size_t rb = kn_kv_row_bytes(KN_KV_F8, nkv, hd), n = nkv * hd;
	uint8_t *row = malloc(rb + 16);
	float *back = alloc_f(n);
	assert_non_null(row);
	memset(row, 0xFF, rb + 16);
	kn_kv_store_heads(row, KN_KV_F8, src, nkv, hd);
	kn_kv_load_heads(back, row, KN_KV_F8, nkv, hd);
	for (size_t i = n; i < scale_off(nkv, hd); i++)
		assert_int_equal(row[i], 0);
	for (size_t i = rb; i < rb + 16; i++)
		assert_int_equal(row[i], 0xFF);
	for (size_t h = 0; h < nkv; h++) {
		const float *x = src + h * hd;
		float amax = 0;
		for (size_t d = 0; d < hd; d++)
			if (!isnan(x[d]))
				amax = fmaxf(amax, fabsf(x[d]));
		float s = scale_of(row, nkv, hd, h);
		float want = isfinite(amax) && amax / 448.0f > 0 ? amax / 448.0f : 1.0f;
		assert_memory_equal(&s, &want, sizeof s);
		for (size_t d = 0; d < hd; d++) {
			uint8_t c = row[h * hd + d];
			assert_int_equal(c, fmt_f32_to_e4m3(x[d] / s));
			float v = fmt_e4m3_to_f32(c) * s, b = back[h * hd + d];
			if (isnan(x[d])) {
				assert_true(isnan(b));
				continue;
			}
			assert_false(isnan(b));
			assert_memory_equal(&b, &v, sizeof v);
			if (isinf(x[d])) {
				assert_true(b == copysignf(448.0f, x[d]) * s);
				continue;
			}
			double y = (double)x[d] / s;
			/* plus the rounding of x / scale and of code × scale (to the subnormal grid, too) */
			double bound = (half_step(y) + fabs(y) * 0x1p-22) * s + fabs((double)x[d]) * 0x1p-23 + FLT_TRUE_MIN;
			if (fabs((double)b - x[d]) > bound)
				fail_msg("head %zu elem %zu: x %.9g stored as %.9g (scale %.9g), error > %.3g", h, d,
					 (double)x[d], (double)b, (double)s, bound);
		}
	}
	free(back);
	free(row);
}

static void test_store_f8_random(void **state)
{
	(void)state;
	tu_rng r = {0x6b76f8};
	static const size_t shapes[][2] = {{1, 1}, {1, 7}, {3, 5}, {2, 16}, {4, 128}, {8, 128}, {5, 33}};
	for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
		size_t nkv = shapes[si][0], hd = shapes[si][1];
		float *x = alloc_f(nkv * hd);
		for (int rep = 0; rep < 20; rep++) {
			/* heads of very different magnitudes: each must get its own scale */
			for (size_t h = 0; h < nkv; h++) {
				double mag = pow(10.0, tu_rng_uniform(&r) * 12 - 6);
				for (size_t d = 0; d < hd; d++)
					x[h * hd + d] = (float)(tu_rng_normal(&r) * mag);
			}
			check_f8_row(x, nkv, hd);
		}
		free(x);
	}
	/* the largest element of a head is 448 × scale: code 0x7E, value amax up to rounding */
	float x[4] = {0.5f, -3.0f, 1.25f, 2.0f};
	uint8_t row[8];
	kn_kv_store_heads(row, KN_KV_F8, x, 1, 4);
	assert_int_equal(row[1], 0xFE);
	float back[4];
	kn_kv_load_heads(back, row, KN_KV_F8, 1, 4);
	assert_float_equal(back[1], -3.0, 3.0 * 0x1p-22);
}

/* kn_kv_store keeps its F32 / BF16 behaviour and is one head of len values for F8. */
static void test_store_single_head(void **state)
{
	(void)state;
	float x[6] = {1.5f, -2.25f, 0.1f, 7.0f, -0.003f, 3e4f};
	float f[6], back[6];
	kn_kv_store(f, KN_KV_F32, x, 6);
	assert_memory_equal(f, x, sizeof x);
	uint16_t b[6];
	kn_kv_store(b, KN_KV_BF16, x, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(b[i], fmt_f32_to_bf16(x[i]));
	kn_kv_load_heads(back, b, KN_KV_BF16, 2, 3);
	for (int i = 0; i < 6; i++)
		assert_true(back[i] == fmt_bf16_to_f32(b[i]));
	uint8_t r1[12], r2[12];
	kn_kv_store(r1, KN_KV_F8, x, 6);
	kn_kv_store_heads(r2, KN_KV_F8, x, 1, 6);
	assert_memory_equal(r1, r2, sizeof r1);
	check_f8_row(x, 1, 6);
}

static void test_store_f8_edges(void **state)
{
	(void)state;
	const float inf = INFINITY, nan = NAN, big = FLT_MAX;
	/* one row per case, 2 heads of 4: the second head is ordinary so the cases stay per head */
	static const float ord[4] = {0.25f, -1.0f, 0.5f, 0.125f};
	const float cases[][4] = {
		{0, 0, 0, 0},                  /* zero: scale 1, codes 0 */
		{-0.0f, 0, -0.0f, 0},          /* signed zeros */
		{big, -big, 1, 0},             /* the largest finite values */
		{3e38f, -2.9e38f, 1e38f, -1},  /* huge */
		{1e-30f, -2e-30f, 5e-31f, 0},  /* tiny normal: the scale follows it down */
		{1e-40f, -3e-41f, 0, 1e-44f},  /* subnormal amax: the scale stays a subnormal > 0 */
		{1e-44f, -1e-45f, 0, 0},       /* amax / 448 underflows: scale 1 (kn_kv_f8_scale) */
		{inf, -1, 2, 0},               /* inf: scale 1, inf saturates to 448 */
		{-inf, inf, 0, 0},
		{nan, 1, -2, 0},               /* NaN element: stays NaN, scale from the rest */
		{nan, nan, nan, nan},          /* all NaN: scale 1 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		float x[8], back[8];
		memcpy(x, cases[i], sizeof cases[i]);
		memcpy(x + 4, ord, sizeof ord);
		check_f8_row(x, 2, 4);
		uint8_t row[16];
		kn_kv_store_heads(row, KN_KV_F8, x, 2, 4);
		kn_kv_load_heads(back, row, KN_KV_F8, 2, 4);
		for (int d = 0; d < 8; d++) {
			assert_false(isinf(back[d]));
			assert_true(!!isnan(back[d]) == !!isnan(x[d]));
		}
		assert_true(scale_of(row, 2, 4, 1) == 1.0f / 448.0f);
		float s0 = scale_of(row, 2, 4, 0);
		assert_true(s0 > 0 && isfinite(s0));
	}
	/* zeros are exact and attention over zero keys and values is zero, not NaN */
	float z[8] = {0}, q[8], out[8], sc[3];
	uint8_t zk[3][16];
	for (int p = 0; p < 3; p++)
		kn_kv_store_heads(zk[p], KN_KV_F8, z, 2, 4);
	for (int d = 0; d < 8; d++)
		q[d] = (float)(d + 1);
	kn_attention(out, q, zk, zk, KN_KV_F8, sizeof zk[0], 3, 2, 2, 4, sc);
	for (int d = 0; d < 8; d++)
		assert_true(out[d] == 0.0f);
	/* huge values: softmax of equal scores is uniform, the output the mean of finite values */
	float hv[8] = {3e38f, -3e38f, 1e38f, 0, 2, 2, 2, 2};
	uint8_t hk[2][16];
	kn_kv_store_heads(hk[0], KN_KV_F8, z, 2, 4);
	kn_kv_store_heads(hk[1], KN_KV_F8, z, 2, 4);
	uint8_t hvr[2][16];
	kn_kv_store_heads(hvr[0], KN_KV_F8, hv, 2, 4);
	kn_kv_store_heads(hvr[1], KN_KV_F8, hv, 2, 4);
	kn_attention(out, q, hk, hvr, KN_KV_F8, sizeof hk[0], 2, 2, 2, 4, sc);
	for (int d = 0; d < 8; d++) {
		assert_true(isfinite(out[d]));
		assert_float_equal(out[d], hv[d], fabs(hv[d]) * 0x1p-4);
	}
}

/* Max over heads/dims of |a − b|, and max |v| of a reference for scaling. */
static double max_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs((double)a[i] - b[i]));
	return m;
}

static void test_attention_f8(void **state)
{
	(void)state;
	tu_rng r = {0xa77f8};
	/* {n_heads, n_kv_heads, head_dim, n_ctx, extra bytes between rows} */
	static const size_t shapes[][5] = {
		{1, 1, 1, 1, 0}, {2, 1, 2, 5, 0}, {6, 3, 5, 17, 4}, {8, 2, 64, 40, 0}, {32, 8, 128, 33, 12}, {4, 4, 7, 9, 8},
	};
	double worst_q = 0;
	for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
		size_t nh = shapes[si][0], nkv = shapes[si][1], hd = shapes[si][2], ctx = shapes[si][3];
		size_t rb8 = kn_kv_row_bytes(KN_KV_F8, nkv, hd) + shapes[si][4];
		size_t rb32 = kn_kv_row_bytes(KN_KV_F32, nkv, hd) + shapes[si][4];
		size_t nrow = nkv * hd;
		uint8_t *k8 = malloc(ctx * rb8), *v8 = malloc(ctx * rb8), *kd = malloc(ctx * rb32), *vd = malloc(ctx * rb32),
			*kx = malloc(ctx * rb32), *vx = malloc(ctx * rb32);
		float *q = alloc_f(nh * hd), *o8 = alloc_f(nh * hd), *od = alloc_f(nh * hd), *ox = alloc_f(nh * hd),
		      *src = alloc_f(nrow), *sc = alloc_f(ctx);
		assert_true(k8 && v8 && kd && vd && kx && vx);
		for (size_t i = 0; i < nh * hd; i++)
			q[i] = (float)tu_rng_normal(&r);
		double vmax = 0;
		for (size_t p = 0; p < ctx; p++) {
			for (int kv = 0; kv < 2; kv++) {
				uint8_t *c8 = (kv ? v8 : k8) + p * rb8, *cd = (kv ? vd : kd) + p * rb32,
					*cx = (kv ? vx : kx) + p * rb32;
				for (size_t i = 0; i < nrow; i++)
					src[i] = (float)(tu_rng_normal(&r) * (kv ? 2.0 : 1.0));
				kn_kv_store_heads(c8, KN_KV_F8, src, nkv, hd);
				kn_kv_load_heads((float *)cd, c8, KN_KV_F8, nkv, hd);
				kn_kv_store_heads(cx, KN_KV_F32, src, nkv, hd);
				for (size_t i = 0; kv && i < nrow; i++)
					vmax = fmax(vmax, fabs(src[i]));
			}
		}
		memset(o8, 0xFF, nh * hd * sizeof *o8);
		kn_attention(o8, q, k8, v8, KN_KV_F8, rb8, ctx, nh, nkv, hd, sc);
		kn_attention(od, q, kd, vd, KN_KV_F32, rb32, ctx, nh, nkv, hd, sc);
		kn_attention(ox, q, kx, vx, KN_KV_F32, rb32, ctx, nh, nkv, hd, sc);
		double e_deq = max_diff(o8, od, nh * hd) / vmax, e_q = max_diff(o8, ox, nh * hd) / vmax;
		print_message("attention f8 nh %zu nkv %zu hd %zu ctx %zu: vs dequantized %.3g, vs f32 input %.3g\n", nh, nkv,
			      hd, ctx, e_deq, e_q);
		assert_true(e_deq <= ATT_DEQUANT_REL);
		assert_true(e_q <= ATT_QUANT_REL);
		worst_q = fmax(worst_q, e_q);
		void *bufs[] = {k8, v8, kd, vd, kx, vx, q, o8, od, ox, src, sc};
		for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
			free(bufs[i]);
	}
	/* quantization must show: a kernel that read the f32 input could not pass as F8 */
	assert_true(worst_q > 1e-4);
}

/* The hand case of test_kn_cpu's attention (scores 0 and ln 3 → p = 1/4, 3/4) through F8 rows. */
static void test_attention_f8_hand(void **state)
{
	(void)state;
	float q[4] = {(float)(sqrt(2.0) * log(3.0) / 2), 0, (float)(sqrt(2.0) * log(3.0) / 2), 0};
	const float kx[2][2] = {{0, 0}, {2, 0}}, vx[2][2] = {{4, 0}, {0, 8}};
	uint8_t k[2][8], v[2][8];
	for (int p = 0; p < 2; p++) {
		kn_kv_store_heads(k[p], KN_KV_F8, kx[p], 1, 2);
		kn_kv_store_heads(v[p], KN_KV_F8, vx[p], 1, 2);
	}
	float out[4], sc[2];
	kn_attention(out, q, k, v, KN_KV_F8, sizeof k[0], 2, 2, 1, 2, sc);
	for (int h = 0; h < 2; h++) {
		assert_float_equal(out[2 * h], 1.0, 1e-5);
		assert_float_equal(out[2 * h + 1], 6.0, 1e-5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row_bytes),         cmocka_unit_test(test_store_f8_random),
		cmocka_unit_test(test_store_single_head), cmocka_unit_test(test_store_f8_edges),
		cmocka_unit_test(test_attention_f8),      cmocka_unit_test(test_attention_f8_hand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
