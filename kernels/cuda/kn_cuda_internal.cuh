// Host-side helpers shared by the CUDA launchers: error messages and launch checks.
#ifndef BALE_KN_CUDA_INTERNAL_CUH
#define BALE_KN_CUDA_INTERNAL_CUH

#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "kn_cuda.h"
#include "kn_ptx.cuh" // KN_LAUNCH, KN_DYN_SMEM

// Formats a reason into err (when given) and returns -1, so launchers `return kn_fail(...)`.
static inline int __attribute__((format(printf, 3, 4))) kn_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static inline int kn_cuda_status(cudaError_t e, const char *what, char *err, size_t errlen)
{
	if (e == cudaSuccess)
		return 0;
	return kn_fail(err, errlen, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

// After a launch: configuration errors (bad grid, too much shared memory, no kernel image for
// this GPU) surface here; faults inside the kernel surface at the next synchronize.
static inline int kn_launch_status(const char *kernel, char *err, size_t errlen)
{
	return kn_cuda_status(cudaGetLastError(), kernel, err, errlen);
}

static inline int kn_misaligned(const void *p, size_t a)
{
	return ((uintptr_t)p % a) != 0;
}

static inline cudaStream_t kn_stream(void *s)
{
	return (cudaStream_t)s;
}

#endif
