// Allocation and copies for callers that must not see CUDA types (tests, the runtime's loader).
#include "kn_conv.cuh"
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

// ---- streams, events, pinned memory, graphs (kn_cuda.h) ----

extern "C" int kn_cuda_stream_create(void **stream, char *err, size_t errlen)
{
	cudaStream_t s = NULL;
	if (!stream)
		return kn_fail(err, errlen, "kn_cuda_stream_create: NULL result pointer");
	*stream = NULL;
	if (kn_cuda_status(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate", err, errlen))
		return -1;
	*stream = s;
	return 0;
}

extern "C" void kn_cuda_stream_destroy(void *stream)
{
	if (stream)
		cudaStreamDestroy(kn_stream(stream));
}

extern "C" int kn_cuda_host_alloc(void **p, size_t bytes, char *err, size_t errlen)
{
	if (!p)
		return kn_fail(err, errlen, "kn_cuda_host_alloc: NULL result pointer");
	*p = NULL;
	if (bytes == 0)
		return kn_fail(err, errlen, "kn_cuda_host_alloc: zero bytes");
	cudaError_t e = cudaHostAlloc(p, bytes, cudaHostAllocDefault);
	if (e != cudaSuccess) {
		*p = NULL;
		cudaGetLastError();
		return kn_fail(err, errlen, "cudaHostAlloc(%zu bytes): %s", bytes, cudaGetErrorString(e));
	}
	return 0;
}

extern "C" void kn_cuda_host_free(void *p)
{
	if (p)
		cudaFreeHost(p);
}

static int copy_async(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, void *stream, const char *what,
		      char *err, size_t errlen)
{
	if (bytes == 0)
		return 0;
	if (!dst || !src)
		return kn_fail(err, errlen, "%s: NULL pointer", what);
	return kn_cuda_status(cudaMemcpyAsync(dst, src, bytes, kind, kn_stream(stream)), what, err, errlen);
}

extern "C" int kn_cuda_memcpy_h2d_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen)
{
	return copy_async(dst, src, bytes, cudaMemcpyHostToDevice, stream, "cudaMemcpyAsync host to device", err, errlen);
}

extern "C" int kn_cuda_memcpy_d2h_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen)
{
	return copy_async(dst, src, bytes, cudaMemcpyDeviceToHost, stream, "cudaMemcpyAsync device to host", err, errlen);
}

extern "C" int kn_cuda_memcpy_d2d_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen)
{
	return copy_async(dst, src, bytes, cudaMemcpyDeviceToDevice, stream, "cudaMemcpyAsync device to device", err,
			  errlen);
}

extern "C" int kn_cuda_event_create(void **ev, char *err, size_t errlen)
{
	cudaEvent_t e = NULL;
	if (!ev)
		return kn_fail(err, errlen, "kn_cuda_event_create: NULL result pointer");
	*ev = NULL;
	if (kn_cuda_status(cudaEventCreate(&e), "cudaEventCreate", err, errlen))
		return -1;
	*ev = e;
	return 0;
}

extern "C" void kn_cuda_event_destroy(void *ev)
{
	if (ev)
		cudaEventDestroy((cudaEvent_t)ev);
}

extern "C" int kn_cuda_event_record(void *ev, void *stream, char *err, size_t errlen)
{
	if (!ev)
		return kn_fail(err, errlen, "kn_cuda_event_record: NULL event");
	return kn_cuda_status(cudaEventRecord((cudaEvent_t)ev, kn_stream(stream)), "cudaEventRecord", err, errlen);
}

extern "C" int kn_cuda_event_sync(void *ev, char *err, size_t errlen)
{
	if (!ev)
		return kn_fail(err, errlen, "kn_cuda_event_sync: NULL event");
	return kn_cuda_status(cudaEventSynchronize((cudaEvent_t)ev), "cudaEventSynchronize", err, errlen);
}

extern "C" int kn_cuda_event_done(void *ev, char *err, size_t errlen)
{
	if (!ev)
		return kn_fail(err, errlen, "kn_cuda_event_done: NULL event");
	cudaError_t e = cudaEventQuery((cudaEvent_t)ev);
	if (e == cudaSuccess)
		return 1;
	if (e == cudaErrorNotReady) {
		cudaGetLastError();
		return 0;
	}
	return kn_cuda_status(e, "cudaEventQuery", err, errlen);
}

extern "C" int kn_cuda_event_elapsed_ms(float *ms, void *start, void *end, char *err, size_t errlen)
{
	if (!ms || !start || !end)
		return kn_fail(err, errlen, "kn_cuda_event_elapsed_ms: NULL argument");
	return kn_cuda_status(cudaEventElapsedTime(ms, (cudaEvent_t)start, (cudaEvent_t)end), "cudaEventElapsedTime",
			      err, errlen);
}

extern "C" int kn_cuda_graph_begin(void *stream, char *err, size_t errlen)
{
	if (!stream)
		return kn_fail(err, errlen, "kn_cuda_graph_begin: the legacy default stream cannot be captured");
	return kn_cuda_status(cudaStreamBeginCapture(kn_stream(stream), cudaStreamCaptureModeThreadLocal),
			      "cudaStreamBeginCapture", err, errlen);
}

extern "C" int kn_cuda_graph_end(void *stream, void **exec, char *err, size_t errlen)
{
	if (!exec)
		return kn_fail(err, errlen, "kn_cuda_graph_end: NULL result pointer");
	*exec = NULL;
	cudaGraph_t g = NULL;
	if (kn_cuda_status(cudaStreamEndCapture(kn_stream(stream), &g), "cudaStreamEndCapture", err, errlen))
		return -1;
	cudaGraphExec_t x = NULL;
	int rc = kn_cuda_status(cudaGraphInstantiate(&x, g, 0), "cudaGraphInstantiate", err, errlen);
	cudaGraphDestroy(g);
	if (rc)
		return -1;
	*exec = x;
	return 0;
}

extern "C" int kn_cuda_graph_launch(void *exec, void *stream, char *err, size_t errlen)
{
	if (!exec)
		return kn_fail(err, errlen, "kn_cuda_graph_launch: NULL graph");
	return kn_cuda_status(cudaGraphLaunch((cudaGraphExec_t)exec, kn_stream(stream)), "cudaGraphLaunch", err, errlen);
}

extern "C" void kn_cuda_graph_destroy(void *exec)
{
	if (exec)
		cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

extern "C" int kn_cuda_mem_used(size_t *used, size_t *total, char *err, size_t errlen)
{
	size_t f = 0, t = 0;
	if (kn_cuda_status(cudaMemGetInfo(&f, &t), "cudaMemGetInfo", err, errlen))
		return -1;
	if (used)
		*used = t - f;
	if (total)
		*total = t;
	return 0;
}

// ---- deterministic random fill ----

__device__ __forceinline__ uint64_t kn_mix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

__global__ void kn_fill_random_kernel(uint8_t *dst, int dtype, size_t count, uint64_t seed, float lo, float hi,
				      uint8_t f8_max_code)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
		uint64_t h = kn_mix64(seed ^ kn_mix64(i));
		float u = (float)(h >> 40) * 0x1p-24f; // [0, 1)
		switch (dtype) {
		case KN_CUDA_F32: ((float *)dst)[i] = lo + (hi - lo) * u; break;
		case KN_CUDA_BF16: ((uint16_t *)dst)[i] = kn_f32_to_bf16(lo + (hi - lo) * u); break;
		case KN_CUDA_I8: ((int8_t *)dst)[i] = (int8_t)((int)(h % 255u) - 127); break;
		default: { // F8_E4M3: magnitude code 0..f8_max_code, random sign
			uint8_t mag = (uint8_t)((h >> 8) % (uint64_t)(f8_max_code + 1u));
			dst[i] = (uint8_t)(mag | ((h & 1u) ? 0x80u : 0u));
		}
		}
	}
}

extern "C" int kn_cuda_fill_random(void *dst, int dtype, size_t count, uint64_t seed, float lo, float hi,
				   void *stream, char *err, size_t errlen)
{
	if (count == 0)
		return 0;
	if (!dst)
		return kn_fail(err, errlen, "kn_cuda_fill_random: NULL pointer");
	if (dtype != KN_CUDA_F32 && dtype != KN_CUDA_BF16 && dtype != KN_CUDA_I8 && dtype != KN_CUDA_F8_E4M3)
		return kn_fail(err, errlen, "kn_cuda_fill_random: unsupported dtype %d", dtype);
	if (!(lo <= hi))
		return kn_fail(err, errlen, "kn_cuda_fill_random: empty range [%g, %g)", (double)lo, (double)hi);
	uint8_t f8_max = 0x7E; // largest finite magnitude code whose value is ≤ hi
	if (dtype == KN_CUDA_F8_E4M3) {
		while (f8_max > 0 && kn_e4m3_to_f32(f8_max) > hi)
			f8_max--;
	}
	size_t blocks = (count + 255) / 256;
	if (blocks > 65535)
		blocks = 65535;
	KN_LAUNCH(kn_fill_random_kernel, (unsigned)blocks, 256, 0, kn_stream(stream), (uint8_t *)dst, dtype, count,
			seed, lo, hi, f8_max);
	return kn_launch_status("kn_fill_random_kernel", err, errlen);
}
