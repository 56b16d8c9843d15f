// Element-wise kernels around the GEMVs: residual add + RMSNorm, q/k norm + RoPE, SwiGLU, and
// the BF16 → f32 widening of logits. Each mirrors its kernels/cpu reference operation by
// operation (explicit _rn intrinsics where the compiler would otherwise contract into FMAs), so
// the results differ from the CPU only by the order of the squared-sum reduction.
#include <limits.h>

#include "kn_conv.cuh"
#include "kn_cuda_internal.cuh"

#define KN_NORM_THREADS 256

// Sum over the block, in binary64 as the reference does (so the mean rounds the same way).
__device__ double kn_block_sum(double v)
{
	__shared__ double part[KN_NORM_THREADS / 32];
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
	const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	__syncthreads(); // part[] may still be read by a previous call
	if (lane == 0)
		part[warp] = v;
	__syncthreads();
	double t = 0.0;
	for (int i = 0; i < (int)(blockDim.x >> 5); i++)
		t += part[i];
	return t;
}

__global__ void __launch_bounds__(KN_NORM_THREADS) kn_rmsnorm_kernel(float *h, const uint16_t *add, const float *w,
								    uint16_t *y, int n, float eps)
{
	float *hr = h + (size_t)blockIdx.x * n;
	uint16_t *yr = y + (size_t)blockIdx.x * n;
	double ss = 0.0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float v = hr[i];
		if (add) {
			v = __fadd_rn(v, kn_bf16_to_f32(add[(size_t)blockIdx.x * n + i]));
			hr[i] = v;
		}
		ss += (double)v * (double)v;
	}
	ss = kn_block_sum(ss);
	const float var = (float)(ss / (double)n);
	const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(var, eps)));
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		yr[i] = kn_f32_to_bf16(__fmul_rn(w[i], __fmul_rn(hr[i], inv)));
}

extern "C" int kn_cuda_rmsnorm(void *h_f32, const void *add_bf16, const void *w_f32, void *y_bf16, int m, int n,
			       float eps, void *stream, char *err, size_t errlen)
{
	if (m < 1 || m > INT_MAX / 2 || n < 1)
		return kn_fail(err, errlen, "kn_cuda_rmsnorm: bad shape m = %d, n = %d", m, n);
	if (!h_f32 || !w_f32 || !y_bf16)
		return kn_fail(err, errlen, "kn_cuda_rmsnorm: NULL h, w or y");
	if (kn_misaligned(h_f32, 4) || kn_misaligned(w_f32, 4) || kn_misaligned(y_bf16, 2) ||
	    (add_bf16 && kn_misaligned(add_bf16, 2)))
		return kn_fail(err, errlen, "kn_cuda_rmsnorm: pointer not aligned to its element size");
	if (!(eps >= 0.0f))
		return kn_fail(err, errlen, "kn_cuda_rmsnorm: eps must be >= 0");
	KN_LAUNCH(kn_rmsnorm_kernel, (unsigned)m, KN_NORM_THREADS, 0, kn_stream(stream), (float *)h_f32,
			(const uint16_t *)add_bf16, (const float *)w_f32, (uint16_t *)y_bf16, n, eps);
	return kn_launch_status("kn_rmsnorm_kernel", err, errlen);
}

// One warp per (token, head): optional RMSNorm over head_dim, then rotate pairs (j, j + dim/2)
// for j < dim/2; entries at dim and above are only normalised.
__global__ void kn_qk_norm_rope_kernel(uint16_t *x, const float *nw, const int32_t *pos, const float *cs, int max_pos,
				       int m, int n_heads, int head_dim, int dim, float eps)
{
	const size_t gw = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	const int lane = threadIdx.x & 31;
	if (gw >= (size_t)m * n_heads)
		return;
	const int tok = (int)(gw / n_heads);
	uint16_t *xh = x + gw * head_dim;
	const int p = pos[tok];
	if (p < 0 || p >= max_pos) {
		for (int j = lane; j < head_dim; j += 32)
			xh[j] = 0x7FC0u;
		return;
	}
	float inv = 1.0f;
	if (nw) {
		double dss = 0.0;
		for (int j = lane; j < head_dim; j += 32) {
			const float v = kn_bf16_to_f32(xh[j]);
			dss += (double)v * (double)v;
		}
		for (int o = 16; o > 0; o >>= 1)
			dss += __shfl_xor_sync(0xFFFFFFFFu, dss, o);
		const float var = (float)(dss / (double)head_dim);
		inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(var, eps)));
	}
	const int half = dim / 2;
	const float *c_row = cs + (size_t)p * dim, *s_row = c_row + half;
	for (int j = lane; j < half; j += 32) {
		float x1 = kn_bf16_to_f32(xh[j]), x2 = kn_bf16_to_f32(xh[j + half]);
		if (nw) {
			x1 = __fmul_rn(nw[j], __fmul_rn(x1, inv));
			x2 = __fmul_rn(nw[j + half], __fmul_rn(x2, inv));
		}
		const float c = c_row[j], s = s_row[j];
		xh[j] = kn_f32_to_bf16(__fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s)));
		xh[j + half] = kn_f32_to_bf16(__fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s)));
	}
	if (nw)
		for (int j = dim + lane; j < head_dim; j += 32)
			xh[j] = kn_f32_to_bf16(__fmul_rn(nw[j], __fmul_rn(kn_bf16_to_f32(xh[j]), inv)));
}

extern "C" int kn_cuda_qk_norm_rope(void *x_bf16, const void *norm_w_f32, const void *pos_i32,
				    const void *cos_sin_f32, int max_pos, int m, int n_heads, int head_dim, int dim,
				    float eps, void *stream, char *err, size_t errlen)
{
	if (m < 1 || n_heads < 1 || head_dim < 2 || max_pos < 1 || dim < 2 || dim % 2 || dim > head_dim)
		return kn_fail(err, errlen,
			       "kn_cuda_qk_norm_rope: bad shape m %d, heads %d, head_dim %d, rotary dim %d, max_pos %d", m,
			       n_heads, head_dim, dim, max_pos);
	const size_t threads = (size_t)m * (size_t)n_heads * 32;
	if (threads / 32 / (size_t)n_heads != (size_t)m || threads > (size_t)INT_MAX * 64)
		return kn_fail(err, errlen, "kn_cuda_qk_norm_rope: m × n_heads too large");
	if (!x_bf16 || !pos_i32 || !cos_sin_f32)
		return kn_fail(err, errlen, "kn_cuda_qk_norm_rope: NULL x, positions or table");
	if (kn_misaligned(x_bf16, 2) || kn_misaligned(pos_i32, 4) || kn_misaligned(cos_sin_f32, 4) ||
	    (norm_w_f32 && kn_misaligned(norm_w_f32, 4)))
		return kn_fail(err, errlen, "kn_cuda_qk_norm_rope: pointer not aligned to its element size");
	if (!(eps >= 0.0f))
		return kn_fail(err, errlen, "kn_cuda_qk_norm_rope: eps must be >= 0");
	const unsigned blocks = (unsigned)((threads + 255) / 256);
	KN_LAUNCH(kn_qk_norm_rope_kernel, blocks, 256, 0, kn_stream(stream), (uint16_t *)x_bf16,
			(const float *)norm_w_f32, (const int32_t *)pos_i32, (const float *)cos_sin_f32, max_pos, m,
			n_heads, head_dim, dim, eps);
	return kn_launch_status("kn_qk_norm_rope_kernel", err, errlen);
}

extern "C" void kn_cuda_rope_table(float *table, size_t max_pos, uint32_t dim, const float *inv_freq, float mscale)
{
	kn_rope_table_host(table, max_pos, dim, inv_freq, mscale);
}

__global__ void kn_swiglu_kernel(const uint16_t *gu, uint16_t *out, int n, size_t total)
{
	for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
		const size_t i = t / n, j = t - i * n;
		const float g = kn_bf16_to_f32(gu[i * 2 * n + j]), u = kn_bf16_to_f32(gu[i * 2 * n + n + j]);
		out[t] = kn_f32_to_bf16(__fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), u));
	}
}

static unsigned grid_for(size_t total)
{
	size_t b = (total + 255) / 256;
	return (unsigned)(b < 65535u * 16 ? b : 65535u * 16);
}

extern "C" int kn_cuda_swiglu(const void *gate_up_bf16, void *out_bf16, int m, int n, void *stream, char *err,
			      size_t errlen)
{
	if (m < 1 || n < 1)
		return kn_fail(err, errlen, "kn_cuda_swiglu: bad shape m = %d, n = %d", m, n);
	if (!gate_up_bf16 || !out_bf16 || kn_misaligned(gate_up_bf16, 2) || kn_misaligned(out_bf16, 2))
		return kn_fail(err, errlen, "kn_cuda_swiglu: NULL or misaligned pointer");
	const size_t total = (size_t)m * (size_t)n;
	const uintptr_t a = (uintptr_t)gate_up_bf16, b = (uintptr_t)out_bf16;
	if (a < b + total * 2 && b < a + total * 4)
		return kn_fail(err, errlen, "kn_cuda_swiglu: output overlaps input");
	KN_LAUNCH(kn_swiglu_kernel, grid_for(total), 256, 0, kn_stream(stream), (const uint16_t *)gate_up_bf16,
			(uint16_t *)out_bf16, n, total);
	return kn_launch_status("kn_swiglu_kernel", err, errlen);
}

__global__ void kn_bf16_to_f32_kernel(const uint16_t *in, float *out, size_t count)
{
	for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < count; t += (size_t)gridDim.x * blockDim.x)
		out[t] = kn_bf16_to_f32(in[t]);
}

extern "C" int kn_cuda_bf16_to_f32(const void *in_bf16, void *out_f32, size_t count, void *stream, char *err,
				   size_t errlen)
{
	if (count == 0)
		return 0;
	if (!in_bf16 || !out_f32 || kn_misaligned(in_bf16, 2) || kn_misaligned(out_f32, 4))
		return kn_fail(err, errlen, "kn_cuda_bf16_to_f32: NULL or misaligned pointer");
	KN_LAUNCH(kn_bf16_to_f32_kernel, grid_for(count), 256, 0, kn_stream(stream), (const uint16_t *)in_bf16,
			(float *)out_f32, count);
	return kn_launch_status("kn_bf16_to_f32_kernel", err, errlen);
}
