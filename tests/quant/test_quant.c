/* Quantizer tests: hand-computed vectors, exhaustive code round trips, reference searches and a
 * bit-exact comparison with the numpy implementation of SPEC §6.4 (tools/reference/). The
 * source is included so the element encoders can be checked directly, beyond what a row
 * with a computed scale can reach (e.g. inputs above 448). */
#include "../../convert/quant.c"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

static uint32_t bits(float f)
{
	return f2u(f);
}

static float fbits(uint32_t u)
{
	return u2f(u);
}

/* OCP E4M3fn, from the definition: value of a code, NaN for S.1111.111. */
static double ref_e4m3(uint8_t c)
{
	int e = (c >> 3) & 15, m = c & 7;
	double sgn = (c & 0x80) ? -1.0 : 1.0;
	if (e == 15 && m == 7)
		return NAN;
	if (e == 0)
		return sgn * ldexp(m, -9);
	return sgn * ldexp(8 + m, e - 10);
}

/* IEEE binary16 value of a code, from the definition. */
static double ref_f16(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	double sgn = (h & 0x8000) ? -1.0 : 1.0;
	if (e == 31)
		return m ? NAN : sgn * INFINITY;
	if (e == 0)
		return sgn * ldexp(m, -24);
	return sgn * ldexp(1024 + m, e - 25);
}

/* Nearest magnitude code in [0, top] of a monotone table, ties to the even code, by binary
 * search: independent of the bit tricks under test. */
static unsigned ref_nearest(double ax, unsigned top, double (*val)(unsigned))
{
	unsigned lo = 0, hi = top;
	if (ax >= val(top))
		return top;
	while (hi - lo > 1) { /* invariant: val(lo) <= ax < val(hi) */
		unsigned mid = (lo + hi) / 2;
		if (val(mid) <= ax)
			lo = mid;
		else
			hi = mid;
	}
	double dl = ax - val(lo), dh = val(hi) - ax;
	if (dl < dh)
		return lo;
	if (dh < dl)
		return hi;
	return (lo % 2 == 0) ? lo : hi;
}

static double e4m3_mag(unsigned c)
{
	return ref_e4m3((uint8_t)c);
}

static double f16_mag(unsigned c)
{
	return ref_f16((uint16_t)c);
}

static int8_t q8(float w, float s)
{
	float x = rintf(w / s);
	return (int8_t)(x > 127 ? 127 : x < -127 ? -127 : x);
}

/* ---- int8 ------------------------------------------------------------------------------ */

static void test_int8_ties_and_signs(void **state)
{
	(void)state;
	/* amax 127 → s = 1 exactly, so w/s = w and only the rounding rule decides. */
	const float w[] = {127, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 3.5f, -2.5f, -0.0f, 126.5f, -126.5f, 0.49999997f};
	const int8_t want[] = {127, 0, 2, 2, 0, -2, 4, -2, 0, 126, -126, 0};
	enum { N = sizeof w / sizeof w[0] };
	int8_t q[N];
	float s = -1;
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, w, 1, N, q, &s, &st), 0);
	assert_true(s == 1.0f);
	assert_memory_equal(q, want, N);
	/* Stats by hand: errors 0, .5, .5, .5, .5, .5, .5, .5, 0, .5, .5, 0.49999997. */
	double e = 0.49999997f;
	assert_true(st.sum_sq_err == 9 * 0.25 + e * e);
	assert_true(st.max_abs_err == 0.5);
	assert_int_equal(st.n, N);
}

static void test_int8_subnormal_and_clamp(void **state)
{
	(void)state;
	/* amax = 190·2^-149: s = 190/127 ulps rounds to 1 ulp (2^-149), so w/s = 190 and the clamp
	 * is what keeps the code at 127. */
	float w[4] = {fbits(190), fbits(0x80000000u | 190), fbits(3), fbits(0x80000000u | 64)};
	int8_t q[4];
	float s;
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, w, 1, 4, q, &s, NULL), 0);
	assert_int_equal(bits(s), 1);
	const int8_t want[4] = {127, -127, 3, -64};
	assert_memory_equal(q, want, 4);

	/* amax = 2^-149: s underflows to 0 → the zero-scale rule, error = the value itself. */
	float t[3] = {fbits(1), 0.0f, fbits(0x80000001u)};
	int8_t q3[3] = {9, 9, 9};
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, t, 1, 3, q3, &s, &st), 0);
	assert_true(s == 0.0f);
	assert_int_equal(q3[0] | q3[1] | q3[2], 0);
	assert_true(st.sum_sq_err == 2 * ldexp(1, -298));
	assert_true(st.max_abs_err == ldexp(1, -149));
}

static void test_int8_zero_rows(void **state)
{
	(void)state;
	float w[2][32];
	for (int i = 0; i < 32; i++) {
		w[0][i] = (i & 1) ? -0.0f : 0.0f;
		w[1][i] = (float)(i - 16) / 8.0f;
	}
	int8_t q[64];
	memset(q, 0x55, sizeof q);
	float s[2] = {-1, -1};
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, &w[0][0], 2, 32, q, s, &st), 0);
	assert_int_equal(bits(s[0]), 0); /* +0, not -0 */
	for (int i = 0; i < 32; i++)
		assert_int_equal(q[i], 0);
	assert_true(s[1] == 2.0f / 127.0f);
	for (int i = 0; i < 32; i++)
		assert_int_equal(q[32 + i], q8(w[1][i], s[1]));
	assert_true(isfinite(st.sum_sq_err) && isfinite(st.max_abs_err));
	fmt_tensor_stats f = cv_qstats_finish(&st);
	assert_true(isfinite(f.err_rmse) && f.err_rmse > 0 && f.src_rms > 0);

	uint8_t c8[32];
	float s8 = -1;
	assert_int_equal(cv_quantize_rows(CV_Q_FP8_ROW, 0, &w[0][0], 1, 32, c8, &s8, &st), 0);
	assert_int_equal(bits(s8), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(c8[i], 0); /* zero rows write 0x00 even for -0.0 */
	assert_true(st.sum_sq_err == 0 && st.sum_sq_src == 0 && st.max_abs_err == 0);
	f = cv_qstats_finish(&st);
	assert_true(f.err_rmse == 0 && f.src_rms == 0 && f.err_max_abs == 0);
}

static void test_int8_groups(void **state)
{
	(void)state;
	enum { R = 3, C = 96, G = 32 };
	float w[R * C];
	tu_rng rng = {7};
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) /* every group of every row gets its own range */
			w[r * C + c] = (float)(tu_rng_normal(&rng) * ldexp(1, (r * 3 + c / G) * 3 - 12));
	w[1 * C + 95] = 0; /* last element of a row, at a group end */
	for (int c = 32; c < 64; c++)
		w[2 * C + c] = 0; /* a zero group between two non-zero ones */
	int8_t q[R * C];
	float s[R * 3];
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_GROUP, G, w, R, C, q, s, NULL), 0);
	for (int r = 0; r < R; r++) {
		for (int g = 0; g < 3; g++) {
			float amax = 0;
			for (int i = 0; i < G; i++)
				amax = fmaxf(amax, fabsf(w[r * C + g * G + i]));
			assert_true(s[r * 3 + g] == amax / 127.0f);
			for (int i = 0; i < G; i++) {
				int j = r * C + g * G + i;
				assert_int_equal(q[j], amax ? q8(w[j], s[r * 3 + g]) : 0);
			}
		}
	}
	assert_true(s[2 * 3 + 1] == 0);
	/* Group validation: 96 is a multiple of 32 only. */
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_GROUP, 64, w, R, C, q, s, NULL), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_GROUP, 128, w, R, 128 - 32, q, s, NULL), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_GROUP, 48, w, R, C, q, s, NULL), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_GROUP, 0, w, R, C, q, s, NULL), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_GROUP, 32, w, R, 100, q, s, NULL), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_GROUP, 32, w, 1, 64, q, s, NULL), 0);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	float w[4] = {1, 2, 3, 4};
	int8_t q[4];
	float s[4];
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, w, 1, 0, q, s, &st), -1);
	assert_int_equal(cv_quantize_rows((cv_qkind)99, 0, w, 1, 4, q, s, &st), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, w, 1, 4, q, NULL, &st), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, NULL, 1, 4, q, s, &st), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_FP8_ROW, 0, w, UINT64_MAX, 4, q, s, &st), -1);
	assert_int_equal(cv_quantize_rows(CV_Q_INT8_ROW, 0, w, 0, 4, q, s, &st), 0);
	assert_int_equal(st.n, 0);
	/* NaN/Inf reaching the quantizer directly are refused too, for every kind. */
	for (int k = CV_Q_F32; k <= CV_Q_FP8_ROW; k++) {
		float bad[2][32];
		uint8_t out[256];
		for (int i = 0; i < 64; i++)
			bad[i / 32][i % 32] = (float)i;
		assert_int_equal(cv_quantize_rows((cv_qkind)k, 32, &bad[0][0], 2, 32, out, s, &st), 0);
		assert_int_equal(st.n, 64);
		bad[1][2] = NAN;
		assert_int_equal(cv_quantize_rows((cv_qkind)k, 32, &bad[0][0], 2, 32, out, s, &st), -1);
		assert_int_equal(st.n, 0);
		bad[1][2] = -INFINITY;
		assert_int_equal(cv_quantize_rows((cv_qkind)k, 32, &bad[0][0], 2, 32, out, s, NULL), -1);
	}
}

static void test_int8_encoder_vs_rintf(void **state)
{
	(void)state;
	tu_rng rng = {11};
	for (int i = 0; i < 200000; i++) {
		float s = (float)ldexp(1.0 + tu_rng_uniform(&rng), (int)(tu_rng_u64(&rng) % 200) - 140);
		float w = (float)((tu_rng_uniform(&rng) * 2 - 1) * 130.0) * s;
		if (i % 4 == 0) /* exact halves */
			w = (float)((double)((int)(tu_rng_u64(&rng) % 301) - 150) + 0.5) * s;
		if (s > 0 && isfinite(w))
			assert_int_equal(i8_encode(w, s), q8(w, s));
	}
}

/* ---- fp8 ------------------------------------------------------------------------------- */

static void test_fp8_saturation(void **state)
{
	(void)state;
	const float x[] = {448, 449, 463.99997f, 464, 465, 480, 500, 1e30f, FLT_MAX};
	for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
		assert_int_equal(e4m3_encode(x[i]), 0x7E);
		assert_int_equal(e4m3_encode(-x[i]), 0xFE);
	}
	assert_int_equal(e4m3_encode(432), 0x7E); /* tie 416|448 → 448 (mantissa 6 even) */
	assert_int_equal(e4m3_encode(431.99997f), 0x7D);
	/* No input whatsoever yields a NaN code: sweep the exponent range. */
	for (uint32_t u = 0; u < 0x7F800000u; u += 0x1235u) {
		uint8_t c = e4m3_encode(fbits(u));
		assert_int_not_equal(c & 0x7F, 0x7F);
	}
}

static void test_fp8_ties(void **state)
{
	(void)state;
	/* A row whose amax is 448 has s = 1, so each value is encoded as itself. */
	const float w[] = {
		448,
		1.0625f, 1.1875f, 1.06f, 1.07f,        /* [1,2): spacing 1/8 */
		272, 304, 400,                         /* [256,448]: spacing 32 */
		15.5f, 7.75f,                          /* binade top: 1.875·2^k | 2^(k+1) */
		0.5f * 0x1p-9f, 1.5f * 0x1p-9f, 2.5f * 0x1p-9f, 7.5f * 0x1p-9f, /* subnormal: 2^-9 */
		0x1p-10f * 1.0000001f, 0x1p-10f * 0.99999994f,
		0.015625f, 0.0166015625f,              /* 2^-6 min normal; tie 2^-6|2^-6·1.125 */
		-1.0625f, -0.25f * 0x1p-9f, -0.0f, 0.0f, 1e-30f,
	};
	const uint8_t want[] = {
		0x7E,
		0x38, 0x3A, 0x38, 0x39,
		0x78, 0x7A, 0x7C,
		0x58, 0x50,
		0x00, 0x02, 0x02, 0x08,
		0x01, 0x00,
		0x08, 0x08,
		0xB8, 0x80, 0x80, 0x00, 0x00,
	};
	enum { N = sizeof w / sizeof w[0] };
	_Static_assert(sizeof want == N, "table sizes");
	uint8_t q[N];
	float s;
	assert_int_equal(cv_quantize_rows(CV_Q_FP8_ROW, 0, w, 1, N, q, &s, NULL), 0);
	assert_true(s == 1.0f);
	for (int i = 0; i < N; i++) {
		if (q[i] != want[i])
			fail_msg("w[%d] = %a: code 0x%02X, want 0x%02X", i, (double)w[i], q[i], want[i]);
	}
}

static void test_fp8_all_codes(void **state)
{
	(void)state;
	/* Every finite code decoded by the reference, re-encoded with s = 1 (0x7E = 448 is in the
	 * row), must come back unchanged; -0 (0x80) keeps its sign. */
	float w[254];
	uint8_t want[254], q[254];
	int n = 0;
	for (int c = 0; c < 256; c++) {
		double v = ref_e4m3((uint8_t)c);
		if (isnan(v)) {
			assert_true(c == 0x7F || c == 0xFF);
			continue;
		}
		assert_true((double)e4m3_decode((uint8_t)c) == v);
		assert_int_equal(signbit(e4m3_decode((uint8_t)c)) != 0, (c & 0x80) != 0);
		w[n] = (float)v;
		want[n++] = (uint8_t)c;
	}
	assert_int_equal(n, 254);
	float s;
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_FP8_ROW, 0, w, 1, 254, q, &s, &st), 0);
	assert_true(s == 1.0f);
	assert_memory_equal(q, want, 254);
	assert_true(st.sum_sq_err == 0 && st.max_abs_err == 0);
}

static void test_fp8_encoder_vs_search(void **state)
{
	(void)state;
	tu_rng rng = {13};
	for (int i = 0; i < 100000; i++) {
		/* log-uniform over [2^-14, 2^10): below the subnormals to beyond the saturation */
		float x = (float)ldexp(1.0 + tu_rng_uniform(&rng), (int)(tu_rng_u64(&rng) % 24) - 14);
		if (i % 3 == 0) /* exact midpoints between neighbouring codes */
		{
			unsigned c = (unsigned)(tu_rng_u64(&rng) % 126);
			x = (float)((ref_e4m3((uint8_t)c) + ref_e4m3((uint8_t)(c + 1))) / 2);
		}
		unsigned want = ref_nearest(fmin((double)x, 448.0), 126, e4m3_mag);
		assert_int_equal(e4m3_encode(x), want);
		assert_int_equal(e4m3_encode(-x), want | 0x80);
	}
}

/* ---- float kinds ----------------------------------------------------------------------- */

static void test_src_widen(void **state)
{
	(void)state;
	uint8_t buf[2 * 65536 + 1];
	float out[1];
	size_t bad = 0;
	/* Unaligned source on purpose: safetensors offsets need not be aligned. */
	for (uint32_t h = 0; h < 65536; h++)
		store_u16le(buf + 1 + 2 * h, (uint16_t)h);
	for (uint32_t h = 0; h < 65536; h += 1) {
		uint16_t v = (uint16_t)h;
		int fin = ((h >> 10) & 31) != 31;
		int rc = cv_src_to_f32(CV_SRC_F16, buf + 1 + 2 * h, 1, out, &bad);
		assert_int_equal(rc, fin ? 0 : -1);
		if (fin) {
			assert_true((double)out[0] == ref_f16(v));
			assert_int_equal(signbit(out[0]) != 0, (h & 0x8000) != 0);
		}
		int bfin = ((h >> 7) & 255) != 255;
		rc = cv_src_to_f32(CV_SRC_BF16, buf + 1 + 2 * h, 1, out, &bad);
		assert_int_equal(rc, bfin ? 0 : -1);
		if (bfin)
			assert_int_equal(bits(out[0]), h << 16);
	}
}

static void test_src_bad_index(void **state)
{
	(void)state;
	float f[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	float out[9];
	size_t bad = 99;
	assert_int_equal(cv_src_to_f32(CV_SRC_F32, f, 9, out, &bad), 0);
	assert_memory_equal(out, f, sizeof f);
	f[7] = NAN;
	assert_int_equal(cv_src_to_f32(CV_SRC_F32, f, 9, out, &bad), -1);
	assert_int_equal(bad, 7);
	f[3] = -INFINITY;
	assert_int_equal(cv_src_to_f32(CV_SRC_F32, f, 9, out, &bad), -1);
	assert_int_equal(bad, 3);

	uint16_t h[6] = {0x3C00, 0x0001, 0x8000, 0x7BFF, 0x3C00, 0x3C00};
	assert_int_equal(cv_src_to_f32(CV_SRC_F16, h, 6, out, &bad), 0);
	h[5] = 0xFE00; /* NaN */
	assert_int_equal(cv_src_to_f32(CV_SRC_F16, h, 6, out, &bad), -1);
	assert_int_equal(bad, 5);
	h[2] = 0x7C00; /* +Inf */
	assert_int_equal(cv_src_to_f32(CV_SRC_F16, h, 6, out, &bad), -1);
	assert_int_equal(bad, 2);

	uint16_t b[5] = {0x3F80, 0x0001, 0x7F7F, 0xFF7F, 0x8000};
	assert_int_equal(cv_src_to_f32(CV_SRC_BF16, b, 5, out, &bad), 0);
	assert_int_equal(bits(out[3]), 0xFF7F0000u);
	b[4] = 0xFFC1;
	assert_int_equal(cv_src_to_f32(CV_SRC_BF16, b, 5, out, &bad), -1);
	assert_int_equal(bad, 4);
	b[1] = 0xFF80; /* -Inf */
	assert_int_equal(cv_src_to_f32(CV_SRC_BF16, b, 5, out, &bad), -1);
	assert_int_equal(bad, 1);
	assert_int_equal(cv_src_to_f32((cv_src_dtype)7, b, 5, out, &bad), -1);
	assert_int_equal(cv_src_to_f32(CV_SRC_F32, NULL, 0, out, &bad), 0);
}

static void test_f16_rounding(void **state)
{
	(void)state;
	const float w[] = {
		1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-11f + 0x1p-23f,
		65504, 65519.996f, -65504,
		0x1p-24f, 0x1p-25f, 3 * 0x1p-25f, -0x1p-25f, 1023.5f * 0x1p-24f, 0x1p-26f, -0.0f,
	};
	const uint16_t want[] = {
		0x3C00, 0x3C02, 0x3C01,
		0x7BFF, 0x7BFF, 0xFBFF,
		0x0001, 0x0000, 0x0002, 0x8000, 0x0400, 0x0000, 0x8000,
	};
	enum { N = sizeof w / sizeof w[0] };
	uint8_t out[2 * N];
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_F16, 0, w, 1, N, out, NULL, &st), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(load_u16le(out + 2 * i), want[i]);
	float over[2] = {1, 65520};
	assert_int_equal(cv_quantize_rows(CV_Q_F16, 0, over, 1, 2, out, NULL, &st), -1);
	assert_int_equal(st.n, 0);
	over[1] = -1e10f;
	assert_int_equal(cv_quantize_rows(CV_Q_F16, 0, over, 1, 2, out, NULL, NULL), -1);

	/* Every finite f16 round-trips, and random floats match a nearest-value search. */
	for (uint32_t h = 0; h < 65536; h++) {
		if (((h >> 10) & 31) == 31)
			continue;
		uint32_t ovf = 0;
		assert_int_equal(f16_encode(f16_widen((uint16_t)h), &ovf), h);
		assert_int_equal(ovf, 0);
	}
	tu_rng rng = {17};
	for (int i = 0; i < 100000; i++) {
		float x = (float)ldexp(1.0 + tu_rng_uniform(&rng), (int)(tu_rng_u64(&rng) % 42) - 26);
		if (x >= 65520)
			continue;
		uint32_t ovf = 0;
		assert_int_equal(f16_encode(x, &ovf), ref_nearest(x, 0x7BFF, f16_mag));
	}
}

static void test_bf16_rounding(void **state)
{
	(void)state;
	const uint32_t in[] = {0x3F808000u, 0x3F818000u, 0x3F808001u, 0x3F807FFFu, 0x7F7F7FFFu,
			       0x80000001u, 0x00008000u, 0x00018000u, 0xBF80C000u};
	const uint16_t want[] = {0x3F80, 0x3F82, 0x3F81, 0x3F80, 0x7F7F, 0x8000, 0x0000, 0x0002, 0xBF81};
	enum { N = sizeof in / sizeof in[0] };
	float w[N];
	for (int i = 0; i < N; i++)
		w[i] = fbits(in[i]);
	uint8_t out[2 * N];
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_BF16, 0, w, 1, N, out, NULL, &st), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(load_u16le(out + 2 * i), want[i]);
	float over[1] = {fbits(0x7F7F8000u)}; /* tie, odd → rounds up to infinity */
	assert_int_equal(cv_quantize_rows(CV_Q_BF16, 0, over, 1, 1, out, NULL, &st), -1);
	over[0] = -FLT_MAX;
	assert_int_equal(cv_quantize_rows(CV_Q_BF16, 0, over, 1, 1, out, NULL, &st), -1);
}

static void test_f32_copy(void **state)
{
	(void)state;
	float w[5] = {1.5f, -0.0f, fbits(1), FLT_MAX, -3};
	float out[5];
	cv_qstats st;
	assert_int_equal(cv_quantize_rows(CV_Q_F32, 0, w, 1, 5, out, NULL, &st), 0);
	assert_memory_equal(out, w, sizeof w);
	assert_true(st.sum_sq_err == 0 && st.max_abs_err == 0);
	fmt_tensor_stats f = cv_qstats_finish(&st);
	assert_true(f.err_rmse == 0);
	assert_true(f.src_rms == (float)sqrt(((double)FLT_MAX * FLT_MAX + 11.25) / 5));
}

/* ---- statistics ------------------------------------------------------------------------ */

static void test_stats_direct(void **state)
{
	(void)state;
	enum { R = 5, C = 64 };
	float w[R * C];
	tu_rng rng = {23};
	for (int i = 0; i < R * C; i++)
		w[i] = (float)(tu_rng_normal(&rng) * 0.05);
	uint8_t q[R * C];
	float s[R * 2];
	for (int kind = 0; kind < 2; kind++) {
		cv_qstats st;
		cv_qkind k = kind ? CV_Q_FP8_ROW : CV_Q_INT8_GROUP;
		assert_int_equal(cv_quantize_rows(k, 32, w, R, C, q, s, &st), 0);
		double se = 0, sw = 0, mx = 0;
		for (int r = 0; r < R; r++) {
			for (int c = 0; c < C; c++) {
				int j = r * C + c;
				float v = kind ? (float)ref_e4m3(q[j]) : (float)(int8_t)q[j];
				float dq = v * (kind ? s[r] : s[r * 2 + c / 32]);
				double e = (double)dq - (double)w[j];
				se += e * e;
				sw += (double)w[j] * w[j];
				mx = fmax(mx, fabs(e));
			}
		}
		assert_true(fabs(st.sum_sq_err - se) <= 1e-14 * se);
		assert_true(fabs(st.sum_sq_src - sw) <= 1e-14 * sw);
		assert_true(st.max_abs_err == mx);
		assert_true(st.n == R * C);
		assert_true(se > 0 && mx > 0);
		fmt_tensor_stats f = cv_qstats_finish(&st);
		assert_true(fabsf(f.err_rmse - (float)sqrt(se / (R * C))) <= 1e-6f * f.err_rmse);
		assert_true(f.err_max_abs == (float)mx);
		assert_true(fabsf(f.src_rms - (float)sqrt(sw / (R * C))) <= 1e-6f * f.src_rms);
		assert_true(f.err_rmse < 0.1f * f.src_rms);
	}
	cv_qstats z;
	cv_qstats_init(&z);
	fmt_tensor_stats f = cv_qstats_finish(&z);
	assert_true(f.err_rmse == 0 && f.err_max_abs == 0 && f.src_rms == 0);
}

static void test_stats_exact_sum(void **state)
{
	(void)state;
	/* Row sums 2^120, 2^66, 2^66, 2^-20: the exact total 2^120 + 2^67 + 2^-20 is just above the
	 * midpoint to 2^120 + 2^68, so one rounding goes up; naive double addition in any order stays
	 * at 2^120. */
	float w[4] = {0x1p60f, 0x1p33f, 0x1p33f, 0x1p-10f};
	float out[4];
	cv_qstats all, part, acc;
	assert_int_equal(cv_quantize_rows(CV_Q_F32, 0, w, 4, 1, out, NULL, &all), 0);
	assert_true(all.sum_sq_src == ldexp(1, 120) + ldexp(1, 68));
	/* Any split, merged in any order, gives the same bits. */
	const int order[4] = {3, 1, 0, 2};
	cv_qstats_init(&acc);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cv_quantize_rows(CV_Q_F32, 0, w + order[i], 1, 1, out, NULL, &part), 0);
		cv_qstats_merge(&acc, &part);
	}
	assert_true(acc.sum_sq_src == all.sum_sq_src);
	assert_int_equal(acc.n, 4);
	/* Subnormal-range row sums (2^-298) must survive next to large ones. */
	float t[2] = {fbits(1), 0x1p-100f};
	assert_int_equal(cv_quantize_rows(CV_Q_F32, 0, t, 2, 1, out, NULL, &all), 0);
	assert_true(all.sum_sq_src == ldexp(1, -200));
	assert_int_equal(cv_quantize_rows(CV_Q_F32, 0, t, 1, 1, out, NULL, &all), 0);
	assert_true(all.sum_sq_src == ldexp(1, -298));
}

static void test_split_independence(void **state)
{
	(void)state;
	enum { R = 9, C = 128 };
	float *w = malloc(sizeof(float) * R * C);
	assert_non_null(w);
	tu_rng rng = {29};
	for (int i = 0; i < R * C; i++)
		w[i] = (float)(tu_rng_normal(&rng) * ldexp(1, (i / C) * 4 - 20));
	const cv_qkind kinds[] = {CV_Q_INT8_ROW, CV_Q_INT8_GROUP, CV_Q_FP8_ROW, CV_Q_BF16, CV_Q_F16, CV_Q_F32};
	for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++) {
		cv_qkind k = kinds[ki];
		size_t es = k == CV_Q_F32 ? 4 : (k == CV_Q_F16 || k == CV_Q_BF16) ? 2 : 1;
		uint8_t *c1 = calloc(R * C, es), *c2 = calloc(R * C, es);
		float s1[R * 4] = {0}, s2[R * 4] = {0};
		assert_non_null(c1);
		assert_non_null(c2);
		cv_qstats one, acc, part, chunks, chunk;
		assert_int_equal(cv_quantize_rows(k, 32, w, R, C, c1, s1, &one), 0);
		cv_qstats_init(&acc);
		uint64_t g = k == CV_Q_INT8_GROUP ? 4 : 1;
		for (int r = 0; r < R; r++) {
			assert_int_equal(cv_quantize_rows(k, 32, w + r * C, 1, C, c2 + r * C * es, s2 + r * g, &part), 0);
			cv_qstats_merge(&acc, &part);
		}
		assert_memory_equal(c1, c2, R * C * es);
		assert_memory_equal(s1, s2, sizeof s1);
		assert_memory_equal(&one, &acc, sizeof one);
		/* Uneven chunks merged back to front. */
		cv_qstats_init(&chunks);
		assert_int_equal(cv_quantize_rows(k, 32, w + 4 * C, 5, C, c2, s2, &chunk), 0);
		cv_qstats_merge(&chunks, &chunk);
		assert_int_equal(cv_quantize_rows(k, 32, w, 4, C, c2, s2, &chunk), 0);
		cv_qstats_merge(&chunks, &chunk);
		assert_memory_equal(&one, &chunks, sizeof one);
		if (k != CV_Q_F32)
			assert_true(one.sum_sq_err > 0);
		free(c1);
		free(c2);
	}
	free(w);
}

/* ---- numpy reference ------------------------------------------------------------------- */

static uint8_t *load(const char *name, size_t want)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/quant/%s", BALE_TEST_DATA, name);
	size_t n = 0;
	uint8_t *p = tu_read_file(path, &n);
	if (!p)
		fail_msg("cannot read %s", path);
	if (n != want)
		fail_msg("%s: %zu bytes, want %zu", path, n, want);
	return p;
}

static void test_numpy_reference(void **state)
{
	(void)state;
	enum { R = 8, C = 96 };
	float *in = (float *)load("input.f32", sizeof(float) * R * C);
	static const struct {
		const char *name;
		cv_qkind k;
		uint32_t group, rows, esize;
		int skip_row;
	} cases[] = {
		{"int8", CV_Q_INT8_ROW, 0, R, 1, -1},
		{"int8-g32", CV_Q_INT8_GROUP, 32, R, 1, -1},
		{"fp8", CV_Q_FP8_ROW, 0, R, 1, -1},
		{"bf16", CV_Q_BF16, 0, R, 2, -1},
		{"f16", CV_Q_F16, 0, R - 1, 2, 6}, /* row 6 overflows binary16 */
	};
	/* Sanity of the data itself: never all zero, holds a zero row and subnormals. */
	int sub = 0;
	for (int i = 0; i < R * C; i++)
		sub += in[i] != 0 && fabsf(in[i]) < FLT_MIN;
	assert_true(sub > 10);
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		char nm[64];
		uint32_t rows = cases[ci].rows, groups = cases[ci].group ? C / cases[ci].group : 1;
		float src[R * C];
		for (uint32_t r = 0, o = 0; r < R; r++)
			if ((int)r != cases[ci].skip_row)
				memcpy(src + C * o++, in + C * r, sizeof(float) * C);
		snprintf(nm, sizeof nm, "%s.codes", cases[ci].name);
		uint8_t *codes = load(nm, (size_t)rows * C * cases[ci].esize);
		float *scales = NULL;
		if (cv_qkind_scheme(cases[ci].k) != FMT_SCHEME_NONE) {
			snprintf(nm, sizeof nm, "%s.scales", cases[ci].name);
			scales = (float *)load(nm, sizeof(float) * rows * groups);
		}
		snprintf(nm, sizeof nm, "%s.stats", cases[ci].name);
		uint8_t *stats = load(nm, 36);
		uint8_t out[R * C * 2];
		float sc[R * 3];
		cv_qstats st;
		assert_int_equal(cv_quantize_rows(cases[ci].k, cases[ci].group, src, rows, C, out, sc, &st), 0);
		for (size_t i = 0; i < (size_t)rows * C * cases[ci].esize; i++)
			if (out[i] != codes[i])
				fail_msg("%s: byte %zu is 0x%02X, numpy 0x%02X", cases[ci].name, i, out[i], codes[i]);
		if (scales)
			for (size_t i = 0; i < (size_t)rows * groups; i++)
				if (bits(sc[i]) != bits(scales[i]))
					fail_msg("%s: scale %zu %a, numpy %a", cases[ci].name, i, (double)sc[i], (double)scales[i]);
		double d[3];
		float f[3];
		memcpy(d, stats, sizeof d);
		memcpy(f, stats + 24, sizeof f);
		fmt_tensor_stats fs = cv_qstats_finish(&st);
		if (st.sum_sq_err != d[0] || st.sum_sq_src != d[1] || st.max_abs_err != d[2])
			fail_msg("%s: stats %a %a %a, numpy %a %a %a", cases[ci].name, st.sum_sq_err,
				 st.sum_sq_src, st.max_abs_err, d[0], d[1], d[2]);
		assert_true(bits(fs.err_rmse) == bits(f[0]) && bits(fs.err_max_abs) == bits(f[1]) &&
			    bits(fs.src_rms) == bits(f[2]));
		free(codes);
		free(scales);
		free(stats);
	}
	free(in);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(cv_qkind_name(CV_Q_INT8_GROUP, 128), "int8-g128");
	assert_string_equal(cv_qkind_name(CV_Q_INT8_ROW, 0), "int8");
	assert_string_equal(cv_qkind_name(CV_Q_FP8_ROW, 0), "fp8");
	assert_string_equal(cv_qkind_name(CV_Q_BF16, 0), "bf16");
	assert_null(cv_qkind_name(CV_Q_INT8_GROUP, 48));
	assert_null(cv_qkind_name((cv_qkind)42, 0));
	assert_int_equal(cv_qkind_dtype(CV_Q_FP8_ROW), FMT_F8_E4M3);
	assert_int_equal(cv_qkind_dtype(CV_Q_INT8_GROUP), FMT_I8);
	assert_int_equal(cv_qkind_dtype(CV_Q_F16), FMT_F16);
	assert_int_equal(cv_qkind_scheme(CV_Q_INT8_GROUP), FMT_SCHEME_GROUP);
	assert_int_equal(cv_qkind_scheme(CV_Q_FP8_ROW), FMT_SCHEME_ROW);
	assert_int_equal(cv_qkind_scheme(CV_Q_BF16), FMT_SCHEME_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int8_ties_and_signs),
		cmocka_unit_test(test_int8_subnormal_and_clamp),
		cmocka_unit_test(test_int8_zero_rows),
		cmocka_unit_test(test_int8_groups),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_int8_encoder_vs_rintf),
		cmocka_unit_test(test_fp8_saturation),
		cmocka_unit_test(test_fp8_ties),
		cmocka_unit_test(test_fp8_all_codes),
		cmocka_unit_test(test_fp8_encoder_vs_search),
		cmocka_unit_test(test_src_widen),
		cmocka_unit_test(test_src_bad_index),
		cmocka_unit_test(test_f16_rounding),
		cmocka_unit_test(test_bf16_rounding),
		cmocka_unit_test(test_f32_copy),
		cmocka_unit_test(test_stats_direct),
		cmocka_unit_test(test_stats_exact_sum),
		cmocka_unit_test(test_split_independence),
		cmocka_unit_test(test_numpy_reference),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
