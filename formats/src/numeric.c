/* Exact conversions between binary32 and BF16/F16/E4M3, and row dequantization (SPEC §6.2).
 * Everything is done on bit patterns so results do not depend on the FPU rounding mode. */
#include "fmt_internal.h"

#include <assert.h>
#include <math.h>

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

float fmt_bf16_to_f32(uint16_t h)
{
	return u2f((uint32_t)h << 16);
}

uint16_t fmt_f32_to_bf16(float f)
{
	uint32_t u = f2u(f);
	if ((u & 0x7FFFFFFFu) > 0x7F800000u)
		return (uint16_t)((u >> 16) | 0x0040u); /* keep NaN a (quiet) NaN */
	u += 0x7FFFu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

float fmt_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
	if (exp == 0x1F)
		return u2f(sign | 0x7F800000u | (man << 13));
	if (exp == 0) {
		/* subnormal: man × 2^-24, exact in binary32 */
		float v = (float)man * 0x1p-24f;
		return sign ? -v : v;
	}
	return u2f(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t fmt_f32_to_f16(float f)
{
	uint32_t u = f2u(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
	uint32_t a = u & 0x7FFFFFFFu;
	if (a > 0x7F800000u)
		return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
	if (a >= 0x47800000u) /* ≥ 65536: inf (also catches inf) */
		return (uint16_t)(sign | 0x7C00u);
	int32_t e = (int32_t)(a >> 23) - 127;
	uint32_t m = (a & 0x7FFFFFu) | 0x800000u; /* 24-bit significand with the implicit one */
	uint32_t shift;
	uint32_t base_exp;
	if (e >= -14) {
		shift = 13;
		base_exp = (uint32_t)(e + 15);
	} else {
		if (e < -25)
			return sign; /* below half the smallest subnormal: rounds to zero */
		shift = (uint32_t)(13 + (-14 - e));
		base_exp = 0;
	}
	uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
	if (rem > half || (rem == half && (q & 1u)))
		q++;
	/* For normals q has the implicit bit at 2^10; adding the exponent field lets a mantissa carry
	 * roll into the exponent (and into inf at the top). For subnormals q ≤ 2^10 lands on the
	 * smallest normal naturally. */
	uint32_t r = base_exp ? ((base_exp - 1u) << 10) + q : q;
	if (r >= 0x7C00u)
		return (uint16_t)(sign | 0x7C00u);
	return (uint16_t)(sign | r);
}

float fmt_e4m3_to_f32(uint8_t code)
{
	uint32_t sign = (uint32_t)(code & 0x80u) << 24;
	uint32_t exp = (code >> 3) & 0xFu, man = code & 7u;
	if (exp == 15 && man == 7)
		return u2f(sign | 0x7FC00000u);
	if (exp == 0) {
		float v = (float)man * 0x1p-9f;
		return sign ? -v : v;
	}
	return u2f(sign | ((exp + 120u) << 23) | (man << 20));
}

uint8_t fmt_f32_to_e4m3(float f)
{
	uint32_t u = f2u(f);
	uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
	uint32_t a = u & 0x7FFFFFFFu;
	if (a > 0x7F800000u)
		return 0x7F;
	if (a >= 0x43E00000u) /* ≥ 448 (incl. inf): saturate */
		return (uint8_t)(sign | 0x7E);
	if (a < 0x3C800000u) { /* < 2^-6: subnormal range, step 2^-9 */
		float q = u2f(a) * 512.0f; /* exact: scaling by a power of two */
		uint32_t t = (uint32_t)q;
		float frac = q - (float)t;
		if (frac > 0.5f || (frac == 0.5f && (t & 1u)))
			t++;
		return (uint8_t)(sign | t); /* t == 8 is exactly the smallest normal code */
	}
	uint32_t e = (a >> 23) - 120u; /* biased E4M3 exponent, 1..15 */
	uint32_t m = a & 0x7FFFFFu;
	uint32_t q = m >> 20, rem = m & 0xFFFFFu;
	if (rem > 0x80000u || (rem == 0x80000u && (q & 1u)))
		q++;
	uint32_t code = (e << 3) + q; /* mantissa carry rolls into the exponent */
	if (code > 0x7E)
		code = 0x7E;
	return (uint8_t)(sign | code);
}

void fmt_tensor_dequant_row(const fmt_tensor *t, uint64_t row, float *out)
{
	assert(t && out && row < t->rows);
	uint64_t cols = t->cols;
	if (t->scheme == FMT_SCHEME_NONE) {
		size_t es = fmt_dtype_size(t->dtype);
		const uint8_t *p = t->data + row * cols * es;
		for (uint64_t c = 0; c < cols; c++) {
			switch (t->dtype) {
			case FMT_F32: out[c] = fmt_ldf32(p + 4 * c); break;
			case FMT_F16: out[c] = fmt_f16_to_f32(fmt_ld16(p + 2 * c)); break;
			case FMT_BF16: out[c] = fmt_bf16_to_f32(fmt_ld16(p + 2 * c)); break;
			default: out[c] = NAN; break;
			}
		}
		return;
	}
	const uint8_t *q = t->data + row * cols;
	uint64_t groups = t->groups ? t->groups : 1;
	uint64_t gs = t->scheme == FMT_SCHEME_GROUP ? t->group_size : cols;
	const uint8_t *s = t->scales + row * groups * 4;
	for (uint64_t g = 0; g < groups; g++) {
		float sc = fmt_ldf32(s + 4 * g);
		uint64_t c0 = g * gs, c1 = c0 + gs;
		if (t->dtype == FMT_I8) {
			for (uint64_t c = c0; c < c1; c++)
				out[c] = (float)(int8_t)q[c] * sc;
		} else {
			for (uint64_t c = c0; c < c1; c++)
				out[c] = fmt_e4m3_to_f32(q[c]) * sc;
		}
	}
}
