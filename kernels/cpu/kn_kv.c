/* The CPU KV cache (F32, BF16 and the GPU's per-head FP8 encoding) and attention over it
 * (single-threaded; O(ctx·d) per token, small next to the matmuls). */
#include <math.h>
#include <string.h>

#include "kn_conv.cuh"
#include "kn_cpu.h"

/* Start of the F8 scales in a row of n codes: the codes padded to 4 bytes so the f32 scales, and
 * the next row, stay aligned. Callers have checked n + 3 for overflow (kn_kv_row_bytes). */
static size_t f8_scale_off(size_t n)
{
	return (n + 3u) & ~(size_t)3u;
}

size_t kn_kv_row_bytes(kn_kv_type t, size_t n_kv_heads, size_t head_dim)
{
	size_t n, b, s;
	if (__builtin_mul_overflow(n_kv_heads, head_dim, &n))
		return 0;
	switch (t) {
	case KN_KV_F32:
		return __builtin_mul_overflow(n, 4u, &b) ? 0 : b;
	case KN_KV_BF16:
		return __builtin_mul_overflow(n, 2u, &b) ? 0 : b;
	case KN_KV_F8:
		if (n > SIZE_MAX - 3u || __builtin_mul_overflow(n_kv_heads, 4u, &s) ||
		    __builtin_add_overflow(f8_scale_off(n), s, &b))
			return 0;
		return b;
	}
	return 0;
}

/* One kv head's vector in a row: where its elements start and its F8 scale (1 otherwise). */
typedef struct {
	const uint8_t *e;
	float scale;
} kv_vec;

static kv_vec kv_vec_at(const uint8_t *row, kn_kv_type t, size_t h, size_t n_kv_heads, size_t head_dim)
{
	kv_vec v = {row, 1.0f};
	switch (t) {
	case KN_KV_F32:
		v.e = row + h * head_dim * 4;
		break;
	case KN_KV_BF16:
		v.e = row + h * head_dim * 2;
		break;
	case KN_KV_F8:
		v.e = row + h * head_dim;
		memcpy(&v.scale, row + f8_scale_off(n_kv_heads * head_dim) + h * 4, sizeof v.scale);
		break;
	}
	return v;
}

static inline float kv_elem(kv_vec v, kn_kv_type t, size_t d)
{
	switch (t) {
	case KN_KV_F32: {
		float f;
		memcpy(&f, v.e + d * 4, sizeof f);
		return f;
	}
	case KN_KV_BF16: {
		uint16_t h;
		memcpy(&h, v.e + d * 2, sizeof h);
		return fmt_bf16_to_f32(h);
	}
	case KN_KV_F8:
		break;
	}
	return kn_e4m3_to_f32(v.e[d]) * v.scale;
}

/* The GPU store kernel computes the same amax (a max is exact in any order; NaN never wins a
 * comparison), so both sides pick the same scale. */
static void store_f8(uint8_t *row, const float *src, size_t n_kv_heads, size_t head_dim)
{
	size_t n = n_kv_heads * head_dim, off = f8_scale_off(n);
	for (size_t h = 0; h < n_kv_heads; h++) {
		const float *x = src + h * head_dim;
		float amax = 0.0f;
		for (size_t d = 0; d < head_dim; d++) {
			float a = fabsf(x[d]);
			if (a > amax)
				amax = a;
		}
		float s = kn_kv_f8_scale(amax);
		for (size_t d = 0; d < head_dim; d++)
			row[h * head_dim + d] = kn_kv_f8_encode(x[d], s);
		memcpy(row + off + h * 4, &s, sizeof s);
	}
	memset(row + n, 0, off - n);
}

void kn_kv_store_heads(void *row, kn_kv_type t, const float *src, size_t n_kv_heads, size_t head_dim)
{
	size_t n = n_kv_heads * head_dim;
	switch (t) {
	case KN_KV_F32:
		memcpy(row, src, n * sizeof *src);
		break;
	case KN_KV_BF16: {
		uint16_t *d = row;
		for (size_t i = 0; i < n; i++)
			d[i] = fmt_f32_to_bf16(src[i]);
		break;
	}
	case KN_KV_F8:
		store_f8(row, src, n_kv_heads, head_dim);
		break;
	}
}

void kn_kv_store(void *cache_row, kn_kv_type t, const float *src, size_t len)
{
	kn_kv_store_heads(cache_row, t, src, 1, len);
}

void kn_kv_load_heads(float *dst, const void *row, kn_kv_type t, size_t n_kv_heads, size_t head_dim)
{
	for (size_t h = 0; h < n_kv_heads; h++) {
		kv_vec v = kv_vec_at(row, t, h, n_kv_heads, head_dim);
		for (size_t d = 0; d < head_dim; d++)
			dst[h * head_dim + d] = kv_elem(v, t, d);
	}
}

void kn_attention(float *out, const float *q, const void *k_cache, const void *v_cache, kn_kv_type t,
		  size_t row_bytes, size_t n_ctx, size_t n_heads, size_t n_kv_heads, size_t head_dim,
		  float *scores)
{
	const uint8_t *kc = k_cache, *vc = v_cache;
	size_t group = n_heads / n_kv_heads;
	float scale = 1.0f / sqrtf((float)head_dim);
	for (size_t h = 0; h < n_heads; h++) {
		const float *qh = q + h * head_dim;
		size_t kvh = h / group;
		float mx = -INFINITY;
		for (size_t p = 0; p < n_ctx; p++) {
			kv_vec k = kv_vec_at(kc + p * row_bytes, t, kvh, n_kv_heads, head_dim);
			double acc = 0.0;
			for (size_t d = 0; d < head_dim; d++)
				acc += (double)qh[d] * (double)kv_elem(k, t, d);
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
			kv_vec v = kv_vec_at(vc + p * row_bytes, t, kvh, n_kv_heads, head_dim);
			for (size_t d = 0; d < head_dim; d++)
				oh[d] += pr * kv_elem(v, t, d);
		}
	}
}
