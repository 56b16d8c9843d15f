// The CUDA emulator (kernels/cuda/emu): each case is a small kernel whose result is known exactly,
// or a misuse the emulator must refuse the way a device would (or, for barrier divergence, instead
// of hanging).
#include "kn_emu.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include <cmocka.h>
}

#include <string>
#include <vector>

// ---- kernels ----

__global__ void k_rotate(int *out)
{
	__shared__ int s[256];
	const int t = (int)threadIdx.x, n = (int)blockDim.x;
	s[t] = t + 1000 * (int)blockIdx.x;
	__syncthreads();
	const int v = s[(t + 1) % n];
	__syncthreads();
	s[t] = -1; // a thread that raced ahead would corrupt its neighbours' reads above
	out[blockIdx.x * n + t] = v;
}

__global__ void k_warp(int *out, int width)
{
	const int lane = (int)(threadIdx.x & 31);
	int sum = lane;
	for (int o = 16; o > 0; o >>= 1)
		sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
	double d = (double)lane;
	d = __shfl_down_sync(0xFFFFFFFFu, d, 1);
	const int up = __shfl_up_sync(0xFFFFFFFFu, lane, 2, width);
	const int bc = __shfl_sync(0xFFFFFFFFu, lane * 10, 3, width);
	const unsigned bal = __ballot_sync(0xFFFFFFFFu, lane & 1);
	int *o = out + threadIdx.x * 5;
	o[0] = sum;
	o[1] = (int)d;
	o[2] = up;
	o[3] = bc;
	o[4] = (int)bal;
}

__global__ void k_early_exit(int *out)
{
	if (threadIdx.x == 5)
		return;
	__syncthreads();
	out[threadIdx.x] = 1;
}

__global__ void k_partial_warp(float *out)
{
	float v = (float)threadIdx.x;
	v += __shfl_xor_sync(0xFFFFFFFFu, v, 16); // lanes 16..31 of the second warp do not exist
	out[threadIdx.x] = v;
}

__global__ void k_add(float *x, float v, int n)
{
	const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
	if (i < n)
		x[i] += v;
}

__global__ void k_dyn(unsigned *out)
{
	const unsigned *d = (const unsigned *)kn_emu_dyn_smem();
	out[threadIdx.x] = d[threadIdx.x];
}

__global__ void k_scratch(int *out)
{
	int *s = (int *)kn_emu_warp_scratch();
	const unsigned lane = kn_emu_lane();
	s[lane] = (int)(lane * lane + threadIdx.x / 32);
	kn_emu_warp_sync();
	out[threadIdx.x] = s[31 - lane];
	kn_emu_warp_sync();
}

__global__ void k_trap(int *out)
{
	if (threadIdx.x == 3 && blockIdx.x == 1)
		__trap();
	out[threadIdx.x] = 1;
}

// ---- helpers ----

static void *dalloc(size_t n)
{
	void *p = nullptr;
	assert_int_equal(cudaMalloc(&p, n), cudaSuccess);
	return p;
}

// ---- cases ----

static void test_block_barrier(void **state)
{
	(void)state;
	const int blocks = 9, n = 256;
	int *d = (int *)dalloc(blocks * n * sizeof(int));
	assert_int_equal(kn_emu_launch(k_rotate, dim3(blocks), dim3(n), 0, (cudaStream_t)0, d), cudaSuccess);
	std::vector<int> h(blocks * n);
	assert_int_equal(cudaMemcpy(h.data(), d, h.size() * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
	for (int b = 0; b < blocks; b++)
		for (int t = 0; t < n; t++)
			assert_int_equal(h[b * n + t], (t + 1) % n + 1000 * b);
	cudaFree(d);
}

static void test_warp_ops(void **state)
{
	(void)state;
	const int n = 64, width = 8;
	int *d = (int *)dalloc(n * 5 * sizeof(int));
	assert_int_equal(kn_emu_launch(k_warp, dim3(1), dim3(n), 0, (cudaStream_t)0, d, width), cudaSuccess);
	std::vector<int> h(n * 5);
	assert_int_equal(cudaMemcpy(h.data(), d, h.size() * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
	for (int t = 0; t < n; t++) {
		const int lane = t & 31;
		assert_int_equal(h[t * 5 + 0], 496);
		assert_int_equal(h[t * 5 + 1], lane + 1 < 32 ? lane + 1 : lane); // down past the warp: own value
		assert_int_equal(h[t * 5 + 2], lane % width >= 2 ? lane - 2 : lane);
		assert_int_equal(h[t * 5 + 3], ((lane / width) * width + 3) * 10);
		assert_int_equal((unsigned)h[t * 5 + 4], 0xAAAAAAAAu);
	}
	cudaFree(d);
}

static void test_scratch_and_warp_sync(void **state)
{
	(void)state;
	const int n = 96;
	int *d = (int *)dalloc(n * sizeof(int));
	assert_int_equal(kn_emu_launch(k_scratch, dim3(3), dim3(n), 0, (cudaStream_t)0, d), cudaSuccess);
	std::vector<int> h(n);
	assert_int_equal(cudaMemcpy(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
	for (int t = 0; t < n; t++) {
		const int src = 31 - (t & 31);
		assert_int_equal(h[t], src * src + t / 32);
	}
	cudaFree(d);
}

static void test_early_exit_deadlock(void **state)
{
	(void)state;
	int *d = (int *)dalloc(64 * sizeof(int));
	cudaGetLastError();
	cudaError_t e = kn_emu_launch(k_early_exit, dim3(2), dim3(64), 0, (cudaStream_t)0, d);
	assert_int_equal(e, cudaErrorLaunchFailure);
	assert_int_equal(cudaGetLastError(), cudaErrorLaunchFailure);
	assert_int_equal(cudaGetLastError(), cudaSuccess); // not sticky
	const std::string msg = cudaGetErrorString(e);
	assert_true(msg.find("deadlock") != std::string::npos);
	assert_true(msg.find("k_early_exit") != std::string::npos); // names the kernel
	assert_true(msg.find("63 wait at __syncthreads") != std::string::npos);
	// the emulator recovers: the next launch runs normally
	assert_int_equal(kn_emu_launch(k_rotate, dim3(1), dim3(32), 0, (cudaStream_t)0, d), cudaSuccess);
	cudaFree(d);
}

static void test_partial_warp_and_trap(void **state)
{
	(void)state;
	float *d = (float *)dalloc(64 * sizeof(float));
	cudaError_t e = kn_emu_launch(k_partial_warp, dim3(1), dim3(48), 0, (cudaStream_t)0, d);
	assert_int_equal(e, cudaErrorLaunchFailure);
	assert_true(strstr(cudaGetErrorString(e), "does not exist") != nullptr);
	e = kn_emu_launch(k_trap, dim3(4), dim3(32), 0, (cudaStream_t)0, (int *)d);
	assert_int_equal(e, cudaErrorLaunchFailure);
	assert_true(strstr(cudaGetErrorString(e), "__trap") != nullptr);
	cudaGetLastError();
	cudaFree(d);
}

static void test_launch_config(void **state)
{
	(void)state;
	unsigned *d = (unsigned *)dalloc(1024 * sizeof(unsigned));
	cudaGetLastError();
	assert_int_equal(kn_emu_launch(k_dyn, dim3(1), dim3(1025), 0, (cudaStream_t)0, d), cudaErrorInvalidConfiguration);
	assert_int_equal(cudaGetLastError(), cudaErrorInvalidConfiguration);
	assert_int_equal(kn_emu_launch(k_dyn, dim3(0), dim3(32), 0, (cudaStream_t)0, d), cudaErrorInvalidConfiguration);
	assert_int_equal(kn_emu_launch(k_dyn, dim3(1, 65536), dim3(32), 0, (cudaStream_t)0, d),
			 cudaErrorInvalidConfiguration);
	assert_int_equal(kn_emu_launch(k_dyn, dim3(1), dim3(32), 65536, (cudaStream_t)0, d), cudaErrorInvalidValue);
	assert_int_equal(cudaFuncSetAttribute((const void *)k_dyn, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536),
			 cudaSuccess);
	assert_int_equal(cudaFuncSetAttribute((const void *)k_dyn, cudaFuncAttributeMaxDynamicSharedMemorySize, 200000),
			 cudaErrorInvalidValue);
	cudaGetLastError();
	assert_int_equal(kn_emu_launch(k_dyn, dim3(1), dim3(32), 65536, (cudaStream_t)0, d), cudaSuccess);
	unsigned h[32];
	assert_int_equal(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
	for (int i = 0; i < 32; i++)
		assert_int_equal(h[i], 0xFFFFFFFFu); // unwritten shared memory is garbage, not zeros
	cudaFree(d);
}

static void test_graph_capture_replay(void **state)
{
	(void)state;
	const int n = 300;
	float *x = (float *)dalloc(n * sizeof(float)), *y = (float *)dalloc(n * sizeof(float));
	std::vector<float> h(n, 1.0f), back(n, -7.0f);
	cudaStream_t s = nullptr;
	assert_int_equal(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
	assert_int_equal(cudaMemcpy(x, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);

	assert_int_equal(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
	assert_int_equal(kn_emu_launch(k_add, dim3((n + 127) / 128), dim3(128), 0, s, x, 2.0f, n), cudaSuccess);
	assert_int_equal(cudaMemsetAsync(y, 0, n * sizeof(float), s), cudaSuccess);
	assert_int_equal(kn_emu_launch(k_add, dim3((n + 127) / 128), dim3(128), 0, s, y, 0.5f, n), cudaSuccess);
	assert_int_equal(cudaMemcpyAsync(back.data(), x, n * sizeof(float), cudaMemcpyDeviceToHost, s), cudaSuccess);
	// nothing ran yet
	assert_int_equal(cudaStreamEndCapture(s, nullptr), cudaErrorInvalidValue);
	cudaGetLastError();
	assert_true(back[0] == -7.0f);
	cudaGraph_t g = nullptr;
	assert_int_equal(cudaStreamEndCapture(s, &g), cudaSuccess);
	cudaGraphExec_t ge = nullptr;
	assert_int_equal(cudaGraphInstantiate(&ge, g, 0), cudaSuccess);
	cudaGraphDestroy(g);
	std::vector<float> hx(n);
	assert_int_equal(cudaMemcpy(hx.data(), x, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_true(hx[0] == 1.0f && hx[n - 1] == 1.0f);
	for (int r = 1; r <= 3; r++) {
		assert_int_equal(cudaGraphLaunch(ge, s), cudaSuccess);
		assert_int_equal(cudaStreamSynchronize(s), cudaSuccess);
		for (int i = 0; i < n; i++)
			assert_true(back[i] == 1.0f + 2.0f * r);
		assert_int_equal(cudaMemcpy(hx.data(), y, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
		for (int i = 0; i < n; i++)
			assert_true(hx[i] == 0.5f);
	}
	cudaGraphExecDestroy(ge);

	// a synchronising call inside the capture is refused and invalidates it
	assert_int_equal(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
	assert_int_equal(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
	assert_int_equal(kn_emu_launch(k_add, dim3(1), dim3(32), 0, s, x, 1.0f, n), cudaErrorStreamCaptureInvalidated);
	assert_int_equal(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
	assert_null(g);
	// so is work on the legacy stream while this thread captures
	assert_int_equal(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
	assert_int_equal(kn_emu_launch(k_add, dim3(1), dim3(32), 0, (cudaStream_t)0, x, 1.0f, n),
			 cudaErrorStreamCaptureImplicit);
	assert_int_equal(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
	cudaGetLastError();
	assert_int_equal(cudaStreamDestroy(s), cudaSuccess);
	assert_int_equal(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
	cudaGetLastError();
	cudaFree(x);
	cudaFree(y);
}

static void test_memory_checks(void **state)
{
	(void)state;
	char host[64];
	char *d = (char *)dalloc(64);
	assert_int_equal(((uintptr_t)d) % 256, 0);
	assert_int_equal((unsigned char)0xFF, (unsigned char)[&] {
		char c;
		cudaMemcpy(&c, d + 5, 1, cudaMemcpyDeviceToHost);
		return c;
	}()); // fresh device memory is poisoned
	assert_int_equal(cudaMemcpy(host, host + 1, 8, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
	assert_int_equal(cudaMemcpy(host, d, 65, cudaMemcpyDeviceToHost), cudaErrorInvalidValue); // past the end
	assert_int_equal(cudaMemsetAsync(host, 0, 8, (cudaStream_t)0), cudaErrorInvalidValue);
	assert_int_equal(cudaFree(host), cudaErrorInvalidValue);
	assert_int_equal(cudaFree(d + 1), cudaErrorInvalidValue);
	cudaGetLastError();
	size_t fr = 0, tot = 0;
	assert_int_equal(cudaMemGetInfo(&fr, &tot), cudaSuccess);
	assert_true(tot == (16ull << 30) && fr <= tot - 256);
	assert_int_equal(cudaFree(d), cudaSuccess);
	cudaDeviceProp p;
	assert_int_equal(cudaGetDeviceProperties(&p, 0), cudaSuccess);
	assert_string_equal(p.name, "bale CPU emulator");
	assert_int_equal(p.major * 10 + p.minor, 80);
}

static uint16_t bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return (uint16_t)(u >> 16); // the test values are exact in BF16
}

static void test_cublas_gemm(void **state)
{
	(void)state;
	// y[m][n] = x[m][k] · W[n][k]ᵀ as kn_gemm calls it: op T on W (k × n column-major), op N on x.
	const int m = 3, n = 5, k = 7;
	std::vector<uint16_t> w(n * k), x(m * k);
	for (int i = 0; i < n * k; i++)
		w[i] = bf16((float)(i % 5) - 2.0f);
	for (int i = 0; i < m * k; i++)
		x[i] = bf16((float)(i % 3) * 0.5f);
	uint16_t *dw = (uint16_t *)dalloc(w.size() * 2), *dx = (uint16_t *)dalloc(x.size() * 2);
	float *dy = (float *)dalloc(m * n * 4);
	cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice);
	cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice);
	std::vector<float> y0(m * n, 1.0f);
	cudaMemcpy(dy, y0.data(), y0.size() * 4, cudaMemcpyHostToDevice);
	cublasHandle_t h;
	assert_int_equal(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
	const float one = 1.0f;
	assert_int_equal(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, dw, CUDA_R_16BF, k, dx, CUDA_R_16BF,
				      k, &one, dy, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
			 CUBLAS_STATUS_SUCCESS);
	std::vector<float> y(m * n);
	cudaMemcpy(y.data(), dy, y.size() * 4, cudaMemcpyDeviceToHost);
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			float r = 1.0f;
			for (int p = 0; p < k; p++)
				r += ((float)(p + j * k) * 0 + (float)((j * k + p) % 5) - 2.0f) * ((float)((i * k + p) % 3) * 0.5f);
			assert_true(y[i * n + j] == r);
		}
	assert_int_equal(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, dw, CUDA_R_16BF, k - 1, dx,
				      CUDA_R_16BF, k, &one, dy, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
			 CUBLAS_STATUS_INVALID_VALUE);
	cublasDestroy(h);
	cudaFree(dw);
	cudaFree(dx);
	cudaFree(dy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_barrier),      cmocka_unit_test(test_warp_ops),
		cmocka_unit_test(test_scratch_and_warp_sync), cmocka_unit_test(test_early_exit_deadlock),
		cmocka_unit_test(test_partial_warp_and_trap), cmocka_unit_test(test_launch_config),
		cmocka_unit_test(test_graph_capture_replay), cmocka_unit_test(test_memory_checks),
		cmocka_unit_test(test_cublas_gemm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
