/* Reference dequantization and matmul: one element at a time, exactly as SPEC §6.2 reads. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kn_cpu.h"

float kn_e4m3_decode(uint8_t code)
{
	unsigned e = (code >> 3) & 15u, m = code & 7u;
	float mag;
	if (e == 15 && m == 7)
		return NAN;
	if (e == 0)
		mag = ldexpf((float)m, -9); /* subnormal: m/8 · 2^(1-7) */
	else
		mag = ldexpf((float)(8u + m), (int)e - 10); /* (1 + m/8) · 2^(e-7) */
	return (code & 0x80u) ? -mag : mag;
}

static float bf16_bits_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

int kn_weight_check(const kn_weight *w, char *msg, size_t msg_len)
{
	const char *why = NULL;
	size_t esz = fmt_dtype_size(w->dtype);
	if (esz == 0)
		why = "unknown dtype";
	else if (w->n == 0 || w->k == 0)
		why = "empty shape";
	else if (!w->data)
		why = "no data";
	else if ((uintptr_t)w->data % esz != 0)
		why = "data not aligned to its element size";
	else if (w->scheme == FMT_SCHEME_NONE) {
		if (w->dtype != FMT_F32 && w->dtype != FMT_F16 && w->dtype != FMT_BF16)
			why = "scheme none needs F32, F16 or BF16";
	} else if (w->scheme == FMT_SCHEME_ROW || w->scheme == FMT_SCHEME_GROUP) {
		if (w->dtype != FMT_I8 && (w->dtype != FMT_F8_E4M3 || w->scheme != FMT_SCHEME_ROW))
			why = "row scheme needs I8 or F8_E4M3, group scheme needs I8";
		else if (!w->scales)
			why = "no scales";
		else if ((uintptr_t)w->scales % 4 != 0)
			why = "scales not 4-byte aligned";
		else if (w->scheme == FMT_SCHEME_GROUP &&
			 ((w->group_size != 32 && w->group_size != 64 && w->group_size != 128) ||
			  w->k % w->group_size != 0))
			why = "group size must be 32, 64 or 128 and divide k";
	} else {
		why = "unknown scheme";
	}
	if (why && msg && msg_len)
		snprintf(msg, msg_len, "%s (dtype %s, scheme %s, [%zu][%zu])", why, fmt_dtype_name(w->dtype),
			 fmt_scheme_name(w->scheme), w->n, w->k);
	return why ? -1 : 0;
}

float kn_weight_at(const kn_weight *w, size_t r, size_t c)
{
	size_t i = r * w->k + c;
	switch (w->dtype) {
	case FMT_F32:
		return ((const float *)w->data)[i];
	case FMT_F16:
		return fmt_f16_to_f32(((const uint16_t *)w->data)[i]);
	case FMT_BF16:
		return bf16_bits_to_f32(((const uint16_t *)w->data)[i]);
	case FMT_I8:
	case FMT_F8_E4M3: {
		float code = w->dtype == FMT_I8 ? (float)((const int8_t *)w->data)[i]
						: kn_e4m3_decode(((const uint8_t *)w->data)[i]);
		float s = w->scheme == FMT_SCHEME_GROUP ? w->scales[r * (w->k / w->group_size) + c / w->group_size]
							: w->scales[r];
		return code * s; /* the one binary32 multiply of §6.2 */
	}
	default:
		return NAN;
	}
}

void kn_dequant_row(const kn_weight *w, size_t r, float *out)
{
	for (size_t c = 0; c < w->k; c++)
		out[c] = kn_weight_at(w, r, c);
}

void kn_matmul_ref(float *y, const float *x, size_t m, const kn_weight *w)
{
	for (size_t i = 0; i < m; i++) {
		const float *xi = x + i * w->k;
		for (size_t r = 0; r < w->n; r++) {
			double acc = 0.0;
			for (size_t c = 0; c < w->k; c++)
				acc += (double)xi[c] * (double)kn_weight_at(w, r, c);
			y[i * w->n + r] = (float)acc;
		}
	}
}

void kn_embed(float *out, const kn_weight *w, size_t id)
{
	kn_dequant_row(w, id, out);
}
