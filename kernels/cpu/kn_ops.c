/* Normalisation, activation and residual kernels (single-threaded; they are O(d) per token, small
 * next to the O(d²) matmuls). The KV cache and attention are in kn_kv.c. */
#include <math.h>

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
