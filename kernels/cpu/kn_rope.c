/* Rotary embedding frequencies (default, linear, YaRN, llama3) and the NeoX-style rotation.
 * Frequencies follow transformers' modeling_rope_utils step by step, in binary32 where it uses
 * float32 tensors, so that logits match it to ~1e-6 rather than to the 1e-4 a binary64 rewrite
 * of the same formulas would give at long positions. */
#include <math.h>
#include <stdio.h>

#include "kn_cpu.h"

static int bad(char *msg, size_t len, const char *what)
{
	if (msg && len)
		snprintf(msg, len, "rope: %s", what);
	return -1;
}

static bool pos_finite(double v)
{
	return isfinite(v) && v > 0.0;
}

/* 0.1·ln(s) + 1, the YaRN magnitude correction (1 for s ≤ 1). */
static double yarn_mscale(double s)
{
	return s <= 1.0 ? 1.0 : 0.1 * log(s) + 1.0;
}

/* dim · ln(ctx / (2π·rotations)) / (2·ln(base)): the dimension that turns `rotations` times
 * over the original context. */
static double yarn_corr_dim(double rotations, double dim, double base, double ctx)
{
	return dim * log(ctx / (rotations * 2.0 * M_PI)) / (2.0 * log(base));
}

int kn_rope_init(const kn_rope_params *p, float *inv_freq, float *mscale, char *msg, size_t msg_len)
{
	if (p->dim < 2 || p->dim % 2 != 0 || p->dim > 65536)
		return bad(msg, msg_len, "rope.dim must be even and in 2..65536");
	if (!pos_finite(p->theta) || p->theta == 1.0)
		return bad(msg, msg_len, "rope.theta must be finite, > 0 and not 1");
	if (p->type != KN_ROPE_NONE && (!pos_finite(p->factor) || p->factor > 1e6))
		return bad(msg, msg_len, "rope.factor must be finite and in (0, 1e6]");
	if ((p->type == KN_ROPE_YARN || p->type == KN_ROPE_LLAMA3) && p->orig_ctx == 0)
		return bad(msg, msg_len, "rope.orig_ctx must be >= 1 for yarn and llama3");
	if (p->type == KN_ROPE_YARN && (!pos_finite(p->beta_fast) || !pos_finite(p->beta_slow)))
		return bad(msg, msg_len, "rope.yarn_beta_fast / rope.yarn_beta_slow must be finite and > 0");
	if (p->type == KN_ROPE_YARN && p->has_attn_factor && !pos_finite(p->attn_factor))
		return bad(msg, msg_len, "rope.attn_factor must be finite and > 0");
	if (p->type == KN_ROPE_YARN && p->has_attention_factor && !pos_finite(p->attention_factor))
		return bad(msg, msg_len, "rope.attention_factor must be finite and > 0");
	if (p->type == KN_ROPE_LLAMA3 && (!pos_finite(p->low_freq_factor) || !pos_finite(p->high_freq_factor) ||
					  p->high_freq_factor <= p->low_freq_factor))
		return bad(msg, msg_len, "rope.low_freq_factor / rope.high_freq_factor must be > 0 with high > low");
	if (p->type > KN_ROPE_LLAMA3)
		return bad(msg, msg_len, "unknown rope type");
	if (p->mscale_mode > KN_YARN_MSCALE_EXPLICIT)
		return bad(msg, msg_len, "unknown YaRN mscale mode");

	size_t half = p->dim / 2;
	float base = (float)p->theta;
	float factor = (float)p->factor;
	*mscale = 1.0f;
	/* pos_freqs_i = base^(2i/dim) in float32, as `base ** (arange(0, dim, 2).float() / dim)` */
	for (size_t i = 0; i < half; i++) {
		float e = (float)(2 * i) / (float)p->dim;
		float pf = (float)pow((double)base, (double)e);
		inv_freq[i] = 1.0f / pf;
		if (p->type == KN_ROPE_LINEAR)
			inv_freq[i] /= factor;
	}
	if (p->type == KN_ROPE_YARN) {
		double dim = p->dim;
		double low = floor(yarn_corr_dim(p->beta_fast, dim, p->theta, p->orig_ctx));
		double high = ceil(yarn_corr_dim(p->beta_slow, dim, p->theta, p->orig_ctx));
		if (low < 0)
			low = 0;
		if (high > dim - 1)
			high = dim - 1;
		if (low == high)
			high += 0.001; /* transformers' guard against a zero-width ramp */
		float lo = (float)low, span = (float)(high - low);
		for (size_t i = 0; i < half; i++) {
			float pf = 1.0f / inv_freq[i];
			float extra = inv_freq[i];
			float inter = 1.0f / (factor * pf);
			float ramp = ((float)i - lo) / span;
			ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
			float keep = 1.0f - ramp; /* weight of the original (extrapolated) frequency */
			inv_freq[i] = inter * (1.0f - keep) + extra * keep;
		}
		double m0 = yarn_mscale(p->factor);
		double af = p->has_attn_factor ? p->attn_factor : 1.0;
		switch (p->mscale_mode) {
		case KN_YARN_MSCALE_TRANSFORMERS:
			*mscale = (float)(p->has_attention_factor ? p->attention_factor : m0);
			break;
		case KN_YARN_MSCALE_VLLM:
			*mscale = (float)(p->has_attention_factor ? p->attention_factor : m0 * af);
			break;
		case KN_YARN_MSCALE_EXPLICIT:
			*mscale = (float)(p->has_attention_factor ? p->attention_factor : p->has_attn_factor ? af : m0);
			break;
		}
	} else if (p->type == KN_ROPE_LLAMA3) {
		float old_ctx = (float)p->orig_ctx;
		float lf = (float)p->low_freq_factor, hf = (float)p->high_freq_factor;
		float low_wl = old_ctx / lf, high_wl = old_ctx / hf;
		for (size_t i = 0; i < half; i++) {
			float f = inv_freq[i];
			float wl = (float)(2.0 * M_PI) / f;
			if (wl > low_wl) {
				inv_freq[i] = f / factor;
			} else if (wl >= high_wl) {
				float smooth = (old_ctx / wl - lf) / (hf - lf);
				inv_freq[i] = (1.0f - smooth) * f / factor + smooth * f;
			}
		}
	}
	return 0;
}

void kn_rope(float *x, size_t n_heads, size_t head_dim, uint32_t dim, size_t pos, const float *inv_freq,
	     float mscale)
{
	size_t half = dim / 2;
	for (size_t i = 0; i < half; i++) {
		float ang = (float)pos * inv_freq[i];
		float c = (float)cos((double)ang) * mscale;
		float s = (float)sin((double)ang) * mscale;
		for (size_t h = 0; h < n_heads; h++) {
			float *xh = x + h * head_dim;
			float x1 = xh[i], x2 = xh[i + half];
			xh[i] = x1 * c - x2 * s;
			xh[i + half] = x2 * c + x1 * s;
		}
	}
}
