/* Normalisation, activation, residual and attention kernels (single-threaded; they are O(d) or
 * O(ctx·d) per token, small next to the O(d²) matmuls). */
#include <math.h>
#include <string.h>

#include "kn_cpu.h"

/* 1/sqrt(mean(x²) + eps) as transformers computes it in float32; the sum is taken in binary64
 * so the order of summation does not matter at this precision. */
static float rms_inv(const float *x, size_t n, float eps)
{
	double ss = 0.0;
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * (double)x[i];
	float var = (float)(ss / (double)n);
	return 1.0f / sqrtf(var + eps);
}

void kn_rmsnorm(float *y, const float *x, const float *w, size_t n, float eps)
{
	float inv = rms_inv(x, n, eps);
	for (size_t i = 0; i < n; i++)
		y[i] = w[i] * (x[i] * inv);
}

void kn_rmsnorm_heads(float *x, const float *w, size_t n_heads, size_t head_dim, float eps)
{
	for (size_t h = 0; h < n_heads; h++)
		kn_rmsnorm(x + h * head_dim, x + h * head_dim, w, head_dim, eps);
}

void kn_add(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

void kn_add_bias(float *y, const float *b, size_t rows, size_t cols)
{
	for (size_t r = 0; r < rows; r++)
		kn_add(y + r * cols, b, cols);
}

void kn_swiglu(float *out, const float *gate, const float *up, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float g = gate[i];
		out[i] = g / (1.0f + expf(-g)) * up[i];
	}
}

void kn_kv_store(void *cache_row, kn_kv_type t, const float *src, size_t len)
{
	if (t == KN_KV_F32) {
		memcpy(cache_row, src, len * sizeof *src);
	} else {
		uint16_t *d = cache_row;
		for (size_t i = 0; i < len; i++)
			d[i] = fmt_f32_to_bf16(src[i]);
	}
}

static float kv_at(const void *cache, kn_kv_type t, size_t i)
{
	return t == KN_KV_F32 ? ((const float *)cache)[i] : fmt_bf16_to_f32(((const uint16_t *)cache)[i]);
}

void kn_attention(float *out, const float *q, const void *k_cache, const void *v_cache, kn_kv_type t,
		  size_t row_stride, size_t n_ctx, size_t n_heads, size_t n_kv_heads, size_t head_dim,
		  float *scores)
{
	size_t group = n_heads / n_kv_heads;
	float scale = 1.0f / sqrtf((float)head_dim);
	for (size_t h = 0; h < n_heads; h++) {
		const float *qh = q + h * head_dim;
		size_t kv_off = (h / group) * head_dim;
		float mx = -INFINITY;
		for (size_t p = 0; p < n_ctx; p++) {
			size_t base = p * row_stride + kv_off;
			double acc = 0.0;
			for (size_t d = 0; d < head_dim; d++)
				acc += (double)qh[d] * (double)kv_at(k_cache, t, base + d);
			scores[p] = (float)acc * scale;
			if (scores[p] > mx)
				mx = scores[p];
		}
		float sum = 0.0f;
		for (size_t p = 0; p < n_ctx; p++) {
			scores[p] = expf(scores[p] - mx);
			sum += scores[p];
		}
		float *oh = out + h * head_dim;
		memset(oh, 0, head_dim * sizeof *oh);
		for (size_t p = 0; p < n_ctx; p++) {
			float pr = scores[p] / sum;
			size_t base = p * row_stride + kv_off;
			for (size_t d = 0; d < head_dim; d++)
				oh[d] += pr * kv_at(v_cache, t, base + d);
		}
	}
}
