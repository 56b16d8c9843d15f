/* bf16 / f16 / E4M3 conversions and row dequantization against hand-computed values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt.h"
#include "testutil.h"

static uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void test_bf16(void **state)
{
	(void)state;
	assert_int_equal(fmt_f32_to_bf16(1.0f), 0x3F80);
	assert_int_equal(fmt_f32_to_bf16(-2.0f), 0xC000);
	/* ties: 0x3F808000 is exactly halfway between 0x3F80 (even) and 0x3F81 -> 0x3F80 */
	assert_int_equal(fmt_f32_to_bf16(u2f(0x3F808000u)), 0x3F80);
	/* 0x3F818000 halfway between 0x3F81 (odd) and 0x3F82 -> 0x3F82 */
	assert_int_equal(fmt_f32_to_bf16(u2f(0x3F818000u)), 0x3F82);
	assert_int_equal(fmt_f32_to_bf16(u2f(0x3F808001u)), 0x3F81);
	assert_int_equal(fmt_f32_to_bf16(u2f(0x3F807FFFu)), 0x3F80);
	/* subnormal binary32 input keeps its top bits */
	assert_int_equal(fmt_f32_to_bf16(u2f(0x00010000u)), 0x0001);
	assert_int_equal(fmt_f32_to_bf16(INFINITY), 0x7F80);
	assert_int_equal(fmt_f32_to_bf16(-INFINITY), 0xFF80);
	/* the largest finite rounds up to inf */
	assert_int_equal(fmt_f32_to_bf16(u2f(0x7F7FFFFFu)), 0x7F80);
	uint16_t n = fmt_f32_to_bf16(NAN);
	assert_true((n & 0x7F80) == 0x7F80 && (n & 0x7F) != 0);
	/* a NaN whose payload is only in the low bits must stay NaN */
	n = fmt_f32_to_bf16(u2f(0x7F800001u));
	assert_true((n & 0x7F80) == 0x7F80 && (n & 0x7F) != 0);
	for (uint32_t h = 0; h < 65536; h++) {
		float f = fmt_bf16_to_f32((uint16_t)h);
		assert_int_equal(f2u(f), h << 16);
		if (!isnan(f))
			assert_int_equal(fmt_f32_to_bf16(f), h);
	}
}

static void test_f16(void **state)
{
	(void)state;
	assert_true(fmt_f16_to_f32(0x3C00) == 1.0f);
	assert_true(fmt_f16_to_f32(0xC000) == -2.0f);
	assert_true(fmt_f16_to_f32(0x7BFF) == 65504.0f);
	assert_true(fmt_f16_to_f32(0x0001) == 0x1p-24f);
	assert_true(fmt_f16_to_f32(0x03FF) == 1023 * 0x1p-24f);
	assert_true(fmt_f16_to_f32(0x0400) == 0x1p-14f);
	assert_true(isinf(fmt_f16_to_f32(0x7C00)) && fmt_f16_to_f32(0xFC00) < 0);
	assert_true(isnan(fmt_f16_to_f32(0x7E00)));
	assert_int_equal(f2u(fmt_f16_to_f32(0x8000)), 0x80000000u);
	assert_int_equal(fmt_f32_to_f16(1.0f), 0x3C00);
	assert_int_equal(fmt_f32_to_f16(65504.0f), 0x7BFF);
	/* 65520 is the tie between 65504 (odd mantissa) and 65536 -> inf; just below stays finite */
	assert_int_equal(fmt_f32_to_f16(65520.0f), 0x7C00);
	assert_int_equal(fmt_f32_to_f16(65519.996f), 0x7BFF);
	assert_int_equal(fmt_f32_to_f16(1e10f), 0x7C00);
	assert_int_equal(fmt_f32_to_f16(-1e10f), 0xFC00);
	/* ties to even: 1 + 2^-11 is halfway between 1 and 1+2^-10 -> 1 */
	assert_int_equal(fmt_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);
	/* 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 -> 1+2^-9 */
	assert_int_equal(fmt_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);
	/* subnormals: 2^-25 is half the smallest subnormal -> 0 (tie to even); a bit more -> 1 */
	assert_int_equal(fmt_f32_to_f16(0x1p-25f), 0x0000);
	assert_int_equal(fmt_f32_to_f16(0x1p-25f * 1.0001f), 0x0001);
	assert_int_equal(fmt_f32_to_f16(3 * 0x1p-25f), 0x0002); /* 1.5 ulp tie -> 2 */
	assert_int_equal(fmt_f32_to_f16(-0x1p-24f), 0x8001);
	/* largest subnormal rounding up into the smallest normal */
	assert_int_equal(fmt_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400);
	assert_int_equal(fmt_f32_to_f16(-0.0f), 0x8000);
	assert_int_equal(fmt_f32_to_f16(0x1p-30f), 0x0000);
	uint16_t n = fmt_f32_to_f16(NAN);
	assert_true((n & 0x7C00) == 0x7C00 && (n & 0x3FF));
	for (uint32_t h = 0; h < 65536; h++) {
		float f = fmt_f16_to_f32((uint16_t)h);
		if (isnan(f))
			continue;
		assert_int_equal(fmt_f32_to_f16(f), h);
	}
}

/* Independent reference: OCP E4M3FN decode from the definition with ldexp. */
static double e4m3_ref(uint8_t c)
{
	int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
	if (e == 15 && m == 7)
		return NAN;
	double v = e == 0 ? ldexp(m, -9) : ldexp(8 + m, e - 10);
	return s ? -v : v;
}

static void test_e4m3_decode(void **state)
{
	(void)state;
	assert_true(fmt_e4m3_to_f32(0x7E) == 448.0f);
	assert_true(fmt_e4m3_to_f32(0xFE) == -448.0f);
	assert_true(fmt_e4m3_to_f32(0x01) == 0x1p-9f);
	assert_true(fmt_e4m3_to_f32(0x07) == 7 * 0x1p-9f);
	assert_true(fmt_e4m3_to_f32(0x08) == 0x1p-6f);
	assert_true(fmt_e4m3_to_f32(0x38) == 1.0f);
	assert_true(fmt_e4m3_to_f32(0x39) == 1.125f);
	assert_true(fmt_e4m3_to_f32(0x40) == 2.0f);
	assert_true(fmt_e4m3_to_f32(0x77) == 240.0f);
	assert_int_equal(f2u(fmt_e4m3_to_f32(0x80)), 0x80000000u);
	assert_int_equal(f2u(fmt_e4m3_to_f32(0x00)), 0u);
	assert_true(isnan(fmt_e4m3_to_f32(0x7F)) && isnan(fmt_e4m3_to_f32(0xFF)));
	for (int c = 0; c < 256; c++) {
		float f = fmt_e4m3_to_f32((uint8_t)c);
		double r = e4m3_ref((uint8_t)c);
		if (isnan(r)) {
			assert_true(isnan(f));
			assert_int_equal(fmt_f32_to_e4m3(f), 0x7F);
			continue;
		}
		assert_true((double)f == r);
		assert_int_equal(signbit(f) != 0, (c & 0x80) != 0);
		assert_int_equal(fmt_f32_to_e4m3(f), c); /* -0 included: the sign is kept */
	}
}

static void test_e4m3_encode(void **state)
{
	(void)state;
	/* saturation */
	assert_int_equal(fmt_f32_to_e4m3(448.0f), 0x7E);
	assert_int_equal(fmt_f32_to_e4m3(449.0f), 0x7E);
	assert_int_equal(fmt_f32_to_e4m3(480.0f), 0x7E);
	assert_int_equal(fmt_f32_to_e4m3(1e30f), 0x7E);
	assert_int_equal(fmt_f32_to_e4m3(INFINITY), 0x7E);
	assert_int_equal(fmt_f32_to_e4m3(-INFINITY), 0xFE);
	assert_int_equal(fmt_f32_to_e4m3(-1000.0f), 0xFE);
	/* ties to even: 1.0625 is halfway between 1.0 (m=0) and 1.125 (m=1) -> 1.0 */
	assert_int_equal(fmt_f32_to_e4m3(1.0625f), 0x38);
	/* 1.1875 halfway between 1.125 (odd) and 1.25 -> 1.25 (0x3A) */
	assert_int_equal(fmt_f32_to_e4m3(1.1875f), 0x3A);
	assert_int_equal(fmt_f32_to_e4m3(1.07f), 0x39);
	/* 1.9375 halfway between 1.875 (m=7, odd) and 2.0 -> 2.0 (carry into the exponent) */
	assert_int_equal(fmt_f32_to_e4m3(1.9375f), 0x40);
	/* 432 halfway between 416 (m=5) and 448 (m=6) -> 448 */
	assert_int_equal(fmt_f32_to_e4m3(432.0f), 0x7E);
	/* 400 halfway between 384 (m=4) and 416 (m=5) -> 384 */
	assert_int_equal(fmt_f32_to_e4m3(400.0f), 0x7C);
	/* subnormals: half of 2^-9 ties to 0; 1.5 * 2^-9 ties to 2 * 2^-9 */
	assert_int_equal(fmt_f32_to_e4m3(0x1p-10f), 0x00);
	assert_int_equal(fmt_f32_to_e4m3(-0x1p-10f), 0x80);
	assert_int_equal(fmt_f32_to_e4m3(0x1p-10f * 1.01f), 0x01);
	assert_int_equal(fmt_f32_to_e4m3(1.5f * 0x1p-9f), 0x02);
	assert_int_equal(fmt_f32_to_e4m3(2.5f * 0x1p-9f), 0x02);
	/* 7.5 * 2^-9 ties between 7 (odd) and the smallest normal 8 * 2^-9 */
	assert_int_equal(fmt_f32_to_e4m3(7.5f * 0x1p-9f), 0x08);
	assert_int_equal(fmt_f32_to_e4m3(1e-30f), 0x00);
	assert_int_equal(fmt_f32_to_e4m3(0x1p-149f), 0x00);
	/* never the NaN code for finite input; nearest by brute force over a sweep */
	tu_rng r = {42};
	for (int i = 0; i < 200000; i++) {
		float x = (float)((tu_rng_uniform(&r) * 2 - 1) * 500.0 * pow(2.0, -12 * tu_rng_uniform(&r)));
		uint8_t c = fmt_f32_to_e4m3(x);
		assert_true((c & 0x7F) != 0x7F);
		double best = INFINITY;
		for (int k = 0; k < 256; k++) {
			double v = e4m3_ref((uint8_t)k);
			if (!isnan(v) && fabs(v - x) < best)
				best = fabs(v - x);
		}
		double got = fabs(e4m3_ref(c) - x);
		if (fabs((double)x) <= 448.0)
			assert_true(got == best);
		else
			assert_int_equal(c & 0x7F, 0x7E);
	}
}

static void test_dequant_row(void **state)
{
	(void)state;
	/* I8 group 32 over 2 rows of 64: hand-computed values at a few positions */
	fmt_tensor t = {.name = "g", .dtype = FMT_I8, .scheme = FMT_SCHEME_GROUP, .n_dims = 2, .dims = {2, 64, 1, 1},
			.group_size = 32};
	assert_int_equal(fmt_tensor_layout(&t, NULL), FMT_OK);
	assert_int_equal(t.scale_offset, 256);
	assert_int_equal(t.data_bytes, 256 + 2 * 2 * 4);
	uint8_t *blob = calloc(1, t.data_bytes + 1);
	uint8_t *b = blob + 1; /* deliberately misaligned: loads must not assume alignment */
	for (int i = 0; i < 128; i++)
		b[i] = (uint8_t)(int8_t)(i % 2 ? -(i % 100) : i % 100);
	float sc[4] = {0.5f, 0.25f, 2.0f, 0.1f};
	memcpy(b + 256, sc, sizeof sc);
	t.data = b;
	t.scales = b + 256;
	float out[64];
	fmt_tensor_dequant_row(&t, 1, out);
	/* row 1, col 0 -> element 64: +64 * 2.0; col 33 -> element 97: -97 * 0.1f */
	assert_true(out[0] == 128.0f);
	assert_true(out[33] == -97.0f * 0.1f);
	fmt_tensor_dequant_row(&t, 0, out);
	assert_true(out[3] == -3 * 0.5f && out[40] == 40 * 0.25f);
	free(blob);

	/* F8 row */
	fmt_tensor f = {.name = "f", .dtype = FMT_F8_E4M3, .scheme = FMT_SCHEME_ROW, .n_dims = 2, .dims = {2, 3, 1, 1}};
	assert_int_equal(fmt_tensor_layout(&f, NULL), FMT_OK);
	uint8_t fb[256 + 8] = {0x38, 0x7E, 0xB9, 0x01, 0x40, 0x80};
	float fs[2] = {3.0f, 0.5f};
	memcpy(fb + 256, fs, 8);
	f.data = fb;
	f.scales = fb + 256;
	fmt_tensor_dequant_row(&f, 0, out);
	assert_true(out[0] == 3.0f && out[1] == 1344.0f && out[2] == -3.375f);
	fmt_tensor_dequant_row(&f, 1, out);
	assert_true(out[0] == 0x1p-10f && out[1] == 1.0f && out[2] == 0.0f && signbit(out[2]));

	/* F16 / BF16 / F32 none */
	fmt_tensor h = {.name = "h", .dtype = FMT_F16, .scheme = FMT_SCHEME_NONE, .n_dims = 1, .dims = {3, 1, 1, 1}};
	assert_int_equal(fmt_tensor_layout(&h, NULL), FMT_OK);
	uint8_t hb[6] = {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00};
	h.data = hb;
	fmt_tensor_dequant_row(&h, 0, out);
	assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0x1p-24f);
	h.dtype = FMT_BF16;
	fmt_tensor_dequant_row(&h, 0, out);
	assert_true(out[0] == 0x1p-7f && out[1] == -2.0f);
	fmt_tensor s = {.name = "s", .dtype = FMT_F32, .scheme = FMT_SCHEME_NONE, .n_dims = 2, .dims = {2, 2, 1, 1}};
	assert_int_equal(fmt_tensor_layout(&s, NULL), FMT_OK);
	float sv[4] = {1.5f, -2.5f, 3.25f, 1e-3f};
	s.data = (const uint8_t *)sv;
	fmt_tensor_dequant_row(&s, 1, out);
	assert_true(out[0] == 3.25f && out[1] == 1e-3f);
}

static void test_layout(void **state)
{
	(void)state;
	fmt_tensor t = {.name = "x", .dtype = FMT_I8, .scheme = FMT_SCHEME_ROW, .n_dims = 3, .dims = {3, 5, 7, 1}};
	assert_int_equal(fmt_tensor_layout(&t, NULL), FMT_OK);
	assert_int_equal(t.n_elems, 105);
	assert_int_equal(t.rows, 15);
	assert_int_equal(t.cols, 7);
	assert_int_equal(t.scale_offset, 256);
	assert_int_equal(t.data_bytes, 256 + 15 * 4);
	t.dims[0] = 1ull << 40, t.dims[1] = 1ull << 40;
	fmt_error e;
	assert_int_equal(fmt_tensor_layout(&t, &e), FMT_E_OVERFLOW);
	assert_true(strstr(e.msg, "'x'") != NULL);
	t.dims[0] = (1ull << 40) + 1;
	assert_int_equal(fmt_tensor_layout(&t, &e), FMT_E_SHAPE);
	fmt_tensor u = {.name = "u", .dtype = FMT_I8, .scheme = FMT_SCHEME_NONE, .n_dims = 1, .dims = {4, 1, 1, 1}};
	assert_int_equal(fmt_tensor_layout(&u, &e), FMT_E_DTYPE);
	assert_string_equal(fmt_status_name(FMT_E_CHECKSUM), "FMT_E_CHECKSUM");
	assert_string_equal(fmt_dtype_name(FMT_F8_E4M3), "F8_E4M3");
	assert_int_equal(fmt_dtype_size(FMT_BF16), 2);
	assert_string_equal(fmt_section_name(FMT_SEC_FILES), "FILES");
	assert_string_equal(fmt_section_name(99), "UNKNOWN");
	assert_true(strlen(fmt_strerror(FMT_E_MAGIC)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bf16),        cmocka_unit_test(test_f16),         cmocka_unit_test(test_e4m3_decode),
		cmocka_unit_test(test_e4m3_encode), cmocka_unit_test(test_dequant_row), cmocka_unit_test(test_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
