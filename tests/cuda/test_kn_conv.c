/* kernels/cuda/kn_conv.cuh on the CPU: the conversions the CUDA kernels run, compared bit for bit
 * with the formats/ and kernels/cpu references (label unit, no GPU needed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kn_conv.cuh"
#include "kn_cpu.h"
#include "kn_cuda.h"
#include "testutil.h"

static uint32_t bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

/* The public enums promise the fmt numbering. */
static void test_enum_values(void **state)
{
	(void)state;
	assert_int_equal(KN_CUDA_F32, FMT_F32);
	assert_int_equal(KN_CUDA_F16, FMT_F16);
	assert_int_equal(KN_CUDA_BF16, FMT_BF16);
	assert_int_equal(KN_CUDA_I8, FMT_I8);
	assert_int_equal(KN_CUDA_F8_E4M3, FMT_F8_E4M3);
	assert_int_equal(KN_CUDA_SCHEME_NONE, FMT_SCHEME_NONE);
	assert_int_equal(KN_CUDA_SCHEME_ROW, FMT_SCHEME_ROW);
	assert_int_equal(KN_CUDA_SCHEME_GROUP, FMT_SCHEME_GROUP);
}

/* PRMT cases worked out from the PTX manual's definition (bytes of {b:a} = 0x7766554433221100). */
static void test_byte_perm(void **state)
{
	(void)state;
	uint32_t a = 0x33221100u, b = 0x77665544u;
	assert_int_equal(kn_byte_perm(a, b, 0x3210u), 0x33221100u);
	assert_int_equal(kn_byte_perm(a, b, 0x7654u), 0x77665544u);
	assert_int_equal(kn_byte_perm(a, b, 0x0123u), 0x00112233u);
	assert_int_equal(kn_byte_perm(a, b, 0x4747u), 0x44774477u);
	assert_int_equal(kn_byte_perm(a, b, 0x5140u), 0x55114400u);
}

/* All 256 E4M3 codes: exact decode vs formats (same bits, NaN payload included) and vs the
 * independent kernels/cpu decoder (same value, or both NaN). */
static void test_e4m3_exact(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		float g = kn_e4m3_to_f32((uint8_t)c), f = fmt_e4m3_to_f32((uint8_t)c), k = kn_e4m3_decode((uint8_t)c);
		if (bits(g) != bits(f))
			fail_msg("code 0x%02x: kn_conv %a, formats %a", c, (double)g, (double)f);
		if (isnan(k) ? !isnan(g) : bits(g) != bits(k))
			fail_msg("code 0x%02x: kn_conv %a, kn_cpu %a", c, (double)g, (double)k);
	}
	assert_true(isnan(kn_e4m3_to_f32(0x7F)) && isnan(kn_e4m3_to_f32(0xFF)));
	assert_true(kn_e4m3_to_f32(0x7E) == 448.0f && kn_e4m3_to_f32(0x01) == 0x1p-9f);
}

/* The sm_80 bit trick: every finite code, in each byte position, comes out as binary16 of the
 * value times 2^-8 (multiplied back by 256 exactly here). */
static void test_e4m3_trick(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		if ((c & 0x7F) == 0x7F)
			continue;
		uint32_t other = (c * 37u + 11u) & 0xFFu;
		if ((other & 0x7F) == 0x7F)
			other = 0x3A;
		float want = fmt_e4m3_to_f32((uint8_t)c);
		for (unsigned pos = 0; pos < 4; pos++) {
			uint32_t w = 0;
			for (unsigned q = 0; q < 4; q++)
				w |= (q == pos ? c : other) << (8 * q);
			uint32_t h = kn_e4m3x2_to_f16x2_scaled(w, pos < 2 ? KN_F8_LO_SEL : KN_F8_HI_SEL);
			uint16_t half = (uint16_t)(pos % 2 ? h >> 16 : h & 0xFFFFu);
			float got = fmt_f16_to_f32(half) * KN_F8_TRICK_SCALE;
			if (bits(got) != bits(want))
				fail_msg("code 0x%02x at byte %u: trick %a, want %a", c, pos, (double)got, (double)want);
		}
	}
}

/* INT8 via PRMT + subtract: every code in every byte position equals (float)code. */
static void test_i8_trick(void **state)
{
	(void)state;
	tu_rng rng = {42};
	for (unsigned c = 0; c < 256; c++) {
		for (unsigned pos = 0; pos < 4; pos++) {
			uint32_t w = (uint32_t)tu_rng_u64(&rng);
			w = (w & ~(0xFFu << (8 * pos))) | (c << (8 * pos));
			float out[4];
			kn_i8x4_to_f32(w, out);
			for (unsigned q = 0; q < 4; q++) {
				int8_t code = (int8_t)(uint8_t)(w >> (8 * q));
				if (bits(out[q]) != bits(kn_i8_to_f32(code)) || out[q] != (float)code)
					fail_msg("word 0x%08x byte %u: got %a, want %d", w, q, (double)out[q], code);
			}
		}
	}
}

static void test_bf16(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 65536; h++) {
		uint16_t hh = (uint16_t)h;
		assert_int_equal(bits(kn_bf16_to_f32(hh)), bits(fmt_bf16_to_f32(hh)));
		uint32_t w = (0x1234u << 16) | h; /* halves of a packed word */
		assert_int_equal(bits(kn_bf16_lo(w)), bits(fmt_bf16_to_f32(hh)));
		assert_int_equal(bits(kn_bf16_hi(h << 16 | 0xBEEFu)), bits(fmt_bf16_to_f32(hh)));
	}
	/* rounding: random bit patterns (all classes) and the ties around each bf16 */
	tu_rng rng = {7};
	for (int i = 0; i < 200000; i++) {
		uint32_t u = (uint32_t)tu_rng_u64(&rng);
		if (i % 4 == 1)
			u = (u & 0xFFFF0000u) | 0x8000u; /* exact tie */
		if (i % 4 == 2)
			u = (u & 0xFFFF0000u) | 0x7FFFu;
		float f;
		memcpy(&f, &u, sizeof f);
		assert_int_equal(kn_f32_to_bf16(f), fmt_f32_to_bf16(f));
	}
	const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 0x1p-149f, 3.3895314e38f, 1.0f, -1.5f};
	for (size_t i = 0; i < sizeof special / sizeof *special; i++)
		assert_int_equal(kn_f32_to_bf16(special[i]), fmt_f32_to_bf16(special[i]));
}

/* Scale indexing matches kn_weight_at (codes all 1, scales numbered) for ROW and each group size;
 * the blob scale offset matches fmt_tensor_layout. */
static void test_index_math(void **state)
{
	(void)state;
	const size_t n = 5, k = 384;
	int8_t *codes = malloc(n * k);
	float *scales = malloc(n * k * sizeof *scales);
	assert_non_null(codes);
	assert_non_null(scales);
	memset(codes, 1, n * k);
	for (size_t i = 0; i < n * k; i++)
		scales[i] = (float)(i + 1);
	const uint32_t groups[] = {0, 32, 64, 128};
	for (size_t g = 0; g < 4; g++) {
		kn_weight w = {.dtype = FMT_I8, .scheme = groups[g] ? FMT_SCHEME_GROUP : FMT_SCHEME_ROW,
			       .group_size = groups[g], .n = n, .k = k, .data = codes, .scales = scales};
		assert_int_equal(kn_weight_check(&w, NULL, 0), 0);
		assert_int_equal(kn_groups_per_row(k, groups[g]), groups[g] ? k / groups[g] : 1);
		for (size_t r = 0; r < n; r++)
			for (size_t c = 0; c < k; c++)
				assert_true(kn_weight_at(&w, r, c) == scales[kn_scale_index(r, c, k, groups[g])]);
	}
	free(codes);
	free(scales);

	const uint64_t dims[][2] = {{1, 1}, {1, 256}, {3, 100}, {4096, 4096}, {151936, 4096}, {7, 37}};
	for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
		fmt_tensor t;
		memset(&t, 0, sizeof t);
		t.dtype = FMT_I8;
		t.scheme = FMT_SCHEME_ROW;
		t.scale_type = FMT_SCALE_F32;
		t.n_dims = 2;
		t.dims[0] = dims[i][0];
		t.dims[1] = dims[i][1];
		t.dims[2] = t.dims[3] = 1;
		fmt_error e;
		assert_int_equal(fmt_tensor_layout(&t, &e), FMT_OK);
		assert_int_equal(kn_scale_offset(t.n_elems), t.scale_offset);
	}
	assert_int_equal(kn_scale_offset(UINT64_MAX - 3), 0);
}

/* The RoPE table holds exactly the c, s that kn_rope applies: rotating (1, 0) pairs gives (c, s). */
static void test_rope_table(void **state)
{
	(void)state;
	kn_rope_params p = {.type = KN_ROPE_YARN, .theta = 1e6, .dim = 128, .factor = 4, .orig_ctx = 32768,
			    .beta_fast = 32, .beta_slow = 1};
	float inv[64], ms;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	const size_t max_pos = 300;
	float *tab = malloc(max_pos * 128 * sizeof *tab);
	assert_non_null(tab);
	kn_cuda_rope_table(tab, max_pos, 128, inv, ms);
	for (size_t pos = 0; pos < max_pos; pos += 7) {
		float x[128];
		for (int j = 0; j < 128; j++)
			x[j] = j < 64 ? 1.0f : 0.0f;
		kn_rope(x, 1, 128, 128, pos, inv, ms);
		for (int j = 0; j < 64; j++) {
			assert_int_equal(bits(tab[pos * 128 + j]), bits(x[j]));
			assert_int_equal(bits(tab[pos * 128 + 64 + j]), bits(x[64 + j]));
		}
	}
	free(tab);
}

/* kn_f32_to_e4m3 against formats' fmt_f32_to_e4m3, bit for bit: every sign and exponent with
 * 2048 leading-mantissa patterns × the low bits that make ties and near-ties (exact ties of
 * normals and subnormals, one ulp either side), then random patterns and the special values. */
static void test_e4m3_encode_sweep(void **state)
{
	(void)state;
	const uint32_t lows[] = {0x000u, 0x001u, 0x7FFu, 0x800u, 0x801u, 0xFFFu};
	size_t n = 0;
	for (uint32_t sign = 0; sign < 2; sign++)
		for (uint32_t e = 0; e < 256; e++)
			for (uint32_t hi = 0; hi < 2048; hi++)
				for (size_t k = 0; k < sizeof lows / sizeof *lows; k++) {
					uint32_t u = sign << 31 | e << 23 | hi << 12 | lows[k];
					float f;
					memcpy(&f, &u, sizeof f);
					uint8_t got = kn_f32_to_e4m3(f), want = fmt_f32_to_e4m3(f);
					if (got != want)
						fail_msg("bits 0x%08x (%a): kn_conv 0x%02x, formats 0x%02x", u, (double)f, got, want);
					n++;
				}
	tu_rng rng = {99};
	for (int i = 0; i < 4000000; i++) {
		uint32_t u = (uint32_t)tu_rng_u64(&rng);
		float f;
		memcpy(&f, &u, sizeof f);
		if (kn_f32_to_e4m3(f) != fmt_f32_to_e4m3(f))
			fail_msg("bits 0x%08x: kn_conv 0x%02x, formats 0x%02x", u, kn_f32_to_e4m3(f), fmt_f32_to_e4m3(f));
	}
	const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 448.0f, -448.0f, 464.0f, 463.99f, 480.0f,
				 0x1p-9f, 0x1p-10f, 0x1.8p-10f, 0x1p-6f, 0x1.ep-7f, 3.4e38f, 0x1p-149f};
	for (size_t i = 0; i < sizeof special / sizeof *special; i++)
		assert_int_equal(kn_f32_to_e4m3(special[i]), fmt_f32_to_e4m3(special[i]));
	assert_int_equal(kn_f32_to_e4m3(-0.0f), 0x80);
	assert_int_equal(kn_f32_to_e4m3(1e9f), 0x7E);
	assert_int_equal(kn_f32_to_e4m3(NAN), 0x7F);
	assert_true(n == 2u * 256 * 2048 * 6);
}

/* Half an E4M3 step at |y| (y in code units, |y| ≤ 448): 2^-10 in the subnormal range, else
 * 2^(e − 4) for |y| in [2^e, 2^(e+1)). */
static double e4m3_half_step(double y)
{
	y = fabs(y);
	if (y < 0x1p-6)
		return 0x1p-10;
	int e;
	frexp(y, &e); /* y = m · 2^e, m in [0.5, 1) */
	return ldexp(1.0, e - 1 - 4);
}

/* The FP8 KV encoding: scale = amax / 448, every decoded value within half a step × scale of the
 * input (plus the f32 rounding of the division and product), the largest element at ±448. */
static void test_kv_f8_roundtrip(void **state)
{
	(void)state;
	tu_rng rng = {123};
	float x[128];
	for (int t = 0; t < 20000; t++) {
		const double mag = ldexp(1.0, (int)(tu_rng_u64(&rng) % 60) - 30);
		float amax = 0.0f;
		for (int d = 0; d < 128; d++) {
			x[d] = (float)(tu_rng_normal(&rng) * mag);
			if (t % 7 == 0 && d % 3 == 0)
				x[d] = 0.0f;
			if (fabsf(x[d]) > amax)
				amax = fabsf(x[d]);
		}
		const float sc = kn_kv_f8_scale(amax);
		assert_true(sc > 0.0f);
		if (amax > 0.0f)
			assert_true(sc == amax / 448.0f);
		for (int d = 0; d < 128; d++) {
			const uint8_t c = kn_kv_f8_encode(x[d], sc);
			assert_true((c & 0x7F) != 0x7F);
			const double dec = (double)(kn_e4m3_to_f32(c) * sc);
			const double y = (double)x[d] / sc;
			const double bound = e4m3_half_step(y) * sc * (1 + 0x1p-20) + fabs((double)x[d]) * 0x1p-22;
			if (fabs(dec - x[d]) > bound)
				fail_msg("t %d d %d: x %a scale %a code 0x%02x decodes to %a (bound %g)", t, d, (double)x[d],
					 (double)sc, c, dec, bound);
			if (fabsf(x[d]) == amax && amax > 0.0f)
				assert_int_equal(c & 0x7F, 0x7E);
		}
	}
	/* zero or non-finite amax: scale 1 (zeros stay zeros, no NaN codes) */
	assert_true(kn_kv_f8_scale(0.0f) == 1.0f);
	assert_true(kn_kv_f8_scale(INFINITY) == 1.0f);
	assert_true(kn_kv_f8_scale(NAN) == 1.0f);
	assert_int_equal(kn_kv_f8_encode(0.0f, kn_kv_f8_scale(0.0f)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enum_values), cmocka_unit_test(test_byte_perm), cmocka_unit_test(test_e4m3_exact),
		cmocka_unit_test(test_e4m3_trick),  cmocka_unit_test(test_i8_trick),  cmocka_unit_test(test_bf16),
		cmocka_unit_test(test_index_math),  cmocka_unit_test(test_rope_table),
		cmocka_unit_test(test_e4m3_encode_sweep), cmocka_unit_test(test_kv_f8_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
