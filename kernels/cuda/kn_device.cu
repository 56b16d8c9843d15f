// Device discovery: the only CUDA calls the CPU-only build path needs, so GPU tests and
// `bale` can tell "no GPU here" from a real failure.
#include "kn_cuda.h"

#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

extern "C" int kn_cuda_device_count(char *why, size_t why_len)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess) {
		if (why && why_len)
			snprintf(why, why_len, "no CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
		cudaGetLastError(); // clear the sticky error so later queries start clean
		return 0;
	}
	if (n == 0 && why && why_len)
		snprintf(why, why_len, "no CUDA device found");
	return n;
}

extern "C" int kn_cuda_device_info_get(int device, kn_cuda_device_info *info, char *why, size_t why_len)
{
	cudaDeviceProp p;
	cudaError_t e = cudaGetDeviceProperties(&p, device);
	if (e == cudaSuccess)
		e = cudaSetDevice(device);
	size_t fr = 0, tot = 0;
	if (e == cudaSuccess)
		e = cudaMemGetInfo(&fr, &tot);
	if (e != cudaSuccess) {
		if (why && why_len)
			snprintf(why, why_len, "CUDA device %d: %s (%s)", device, cudaGetErrorString(e), cudaGetErrorName(e));
		cudaGetLastError(); // e.g. an invalid device id: not sticky, so keep it out of the next launch check
		return -1;
	}
	memset(info, 0, sizeof *info);
	snprintf(info->name, sizeof info->name, "%s", p.name);
	info->major = p.major;
	info->minor = p.minor;
	info->total_bytes = tot;
	info->free_bytes = fr;
	info->n_sms = p.multiProcessorCount;
	cudaDriverGetVersion(&info->driver_version);
	cudaRuntimeGetVersion(&info->runtime_version);
	return 0;
}
