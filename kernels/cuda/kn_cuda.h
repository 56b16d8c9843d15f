/* kn_cuda — C-callable CUDA launchers. No CUDA types appear here, so plain C code includes it. */
#ifndef BALE_KN_CUDA_H
#define BALE_KN_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	char name[256];
	int major, minor;          /* compute capability */
	size_t total_bytes, free_bytes;
	int driver_version, runtime_version; /* e.g. 13000 */
	int n_sms;
} kn_cuda_device_info;

/* Number of usable CUDA devices; 0 with a reason in `why` (no driver, no device, built without
 * CUDA). Never aborts. */
int kn_cuda_device_count(char *why, size_t why_len);
/* 0 on success, -1 with a reason in `why`. */
int kn_cuda_device_info_get(int device, kn_cuda_device_info *info, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
