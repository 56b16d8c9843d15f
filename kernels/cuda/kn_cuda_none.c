/* Stand-in used when the build has no CUDA compiler: every query says why there is no GPU. */
#include "kn_cuda.h"

#include <stdio.h>

int kn_cuda_device_count(char *why, size_t why_len)
{
	if (why && why_len)
		snprintf(why, why_len, "bale was built without CUDA (BALE_CUDA=OFF or no nvcc)");
	return 0;
}

int kn_cuda_device_info_get(int device, kn_cuda_device_info *info, char *why, size_t why_len)
{
	(void)device;
	(void)info;
	kn_cuda_device_count(why, why_len);
	return -1;
}
