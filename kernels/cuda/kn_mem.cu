// Allocation and copies for callers that must not see CUDA types (tests, the runtime's loader).
#include "kn_cuda_internal.cuh"

extern "C" int kn_cuda_malloc(void **dptr, size_t bytes, char *err, size_t errlen)
{
	if (!dptr)
		return kn_fail(err, errlen, "kn_cuda_malloc: NULL result pointer");
	*dptr = NULL;
	if (bytes == 0)
		return kn_fail(err, errlen, "kn_cuda_malloc: zero bytes");
	cudaError_t e = cudaMalloc(dptr, bytes);
	if (e != cudaSuccess) {
		*dptr = NULL;
		cudaGetLastError(); // an allocation failure is not sticky; do not let it leak into the next check
		return kn_fail(err, errlen, "cudaMalloc(%zu bytes): %s", bytes, cudaGetErrorString(e));
	}
	return 0;
}

extern "C" void kn_cuda_free(void *dptr)
{
	if (dptr)
		cudaFree(dptr);
}

static int copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what, char *err,
		size_t errlen)
{
	if (bytes == 0)
		return 0;
	if (!dst || !src)
		return kn_fail(err, errlen, "%s: NULL pointer", what);
	return kn_cuda_status(cudaMemcpy(dst, src, bytes, kind), what, err, errlen);
}

extern "C" int kn_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes, char *err, size_t errlen)
{
	return copy(dst, src, bytes, cudaMemcpyHostToDevice, "cudaMemcpy host to device", err, errlen);
}

extern "C" int kn_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes, char *err, size_t errlen)
{
	return copy(dst, src, bytes, cudaMemcpyDeviceToHost, "cudaMemcpy device to host", err, errlen);
}

extern "C" int kn_cuda_memset(void *dst, int value, size_t bytes, void *stream, char *err, size_t errlen)
{
	if (bytes == 0)
		return 0;
	if (!dst)
		return kn_fail(err, errlen, "kn_cuda_memset: NULL pointer");
	return kn_cuda_status(cudaMemsetAsync(dst, value, bytes, kn_stream(stream)), "cudaMemsetAsync", err, errlen);
}

extern "C" int kn_cuda_synchronize(void *stream, char *err, size_t errlen)
{
	cudaError_t e = stream ? cudaStreamSynchronize(kn_stream(stream)) : cudaDeviceSynchronize();
	return kn_cuda_status(e, "synchronize", err, errlen);
}
