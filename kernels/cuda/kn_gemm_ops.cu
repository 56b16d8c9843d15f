// Helper kernels of the CUBLAS and FP8 GEMM paths: per-token E4M3 quantization of activations
// and the epilogue over an f32 result block (scales, residual, SwiGLU, output type).
#include "kn_conv.cuh"
#include "kn_gemm.cuh"
#include "kn_gemv.cuh" // kn_silu_mul

#define KN_Q8_THREADS 256

// One block per token row: amax over the row (a max is exact in any order), then encode.
__global__ void __launch_bounds__(KN_Q8_THREADS) kn_quant_f8_kernel(const uint16_t *x, int k, size_t ld,
								   uint8_t *codes, float *scales)
{
	__shared__ float part[KN_Q8_THREADS / 32];
	const uint16_t *xr = x + (size_t)blockIdx.x * k;
	uint8_t *cr = codes + (size_t)blockIdx.x * ld;
	float amax = 0.0f;
	for (int j = threadIdx.x; j < k; j += blockDim.x)
		amax = fmaxf(amax, fabsf(kn_bf16_to_f32(xr[j])));
	for (int o = 16; o > 0; o >>= 1)
		amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
	if ((threadIdx.x & 31) == 0)
		part[threadIdx.x >> 5] = amax;
	__syncthreads();
	amax = 0.0f;
	for (int w = 0; w < (int)(blockDim.x >> 5); w++)
		amax = fmaxf(amax, part[w]);
	const float scale = kn_kv_f8_scale(amax);
	for (size_t j = threadIdx.x; j < ld; j += blockDim.x)
		cr[j] = j < (size_t)k ? kn_kv_f8_encode(kn_bf16_to_f32(xr[j]), scale) : (uint8_t)0;
	if (threadIdx.x == 0)
		scales[blockIdx.x] = scale;
}

int kn_quant_f8_launch(const uint16_t *x, int m, int k, size_t ld, uint8_t *codes, float *scales, cudaStream_t s,
		       char *err, size_t errlen)
{
	KN_LAUNCH(kn_quant_f8_kernel, (unsigned)m, KN_Q8_THREADS, 0, s, x, k, ld, codes, scales);
	return kn_launch_status("kn_quant_f8_kernel", err, errlen);
}

__global__ void kn_gemm_epi_kernel(const kn_gemm_epi_args a)
{
	const size_t cols = a.swiglu ? (size_t)(a.rows / 2) : (size_t)a.rows;
	const size_t total = (size_t)a.m * cols;
	const size_t n_out = a.swiglu ? (size_t)(a.n / 2) : (size_t)a.n;
	for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
		const size_t i = t / cols, j = t - i * cols;
		const size_t r = a.swiglu ? 2 * j : j;
		const float sx = a.sx ? a.sx[i] : 1.0f;
		float v = a.c[i * a.ldc + r];
		if (a.sw)
			v *= a.sw[a.r0 + r];
		v *= sx;
		size_t o;
		if (a.swiglu) {
			float u = a.c[i * a.ldc + r + 1];
			if (a.sw)
				u *= a.sw[a.r0 + r + 1];
			u *= sx;
			v = kn_silu_mul(v, u);
			o = i * n_out + (size_t)a.r0 / 2 + j;
		} else {
			o = i * n_out + (size_t)a.r0 + j;
		}
		if (a.out_f32) {
			if (a.resid)
				v += ((const float *)a.resid)[o];
			((float *)a.y)[o] = v;
		} else {
			if (a.resid)
				v += kn_bf16_to_f32(((const uint16_t *)a.resid)[o]);
			((uint16_t *)a.y)[o] = kn_f32_to_bf16(v);
		}
	}
}

int kn_gemm_epi_launch(const kn_gemm_epi_args *a, cudaStream_t s, char *err, size_t errlen)
{
	const size_t cols = a->swiglu ? (size_t)(a->rows / 2) : (size_t)a->rows;
	size_t blocks = ((size_t)a->m * cols + 255) / 256;
	if (blocks > 65535u * 8)
		blocks = 65535u * 8;
	if (blocks == 0)
		return 0;
	KN_LAUNCH(kn_gemm_epi_kernel, (unsigned)blocks, 256, 0, s, *a);
	return kn_launch_status("kn_gemm_epi_kernel", err, errlen);
}
