/* GPU presence and sanity (label gpu). Without a usable device it exits 77, which ctest reports
 * as SKIPPED with the reason printed, never as a pass. */
#include <stdio.h>

#include "kn_cuda.h"
#include "testutil.h"

int main(void)
{
	char why[512] = "";
	int n = kn_cuda_device_count(why, sizeof why);
	if (n <= 0) {
		printf("SKIP: %s\n", why[0] ? why : "no CUDA device");
		return BALE_SKIP;
	}
	int fails = 0;
	for (int d = 0; d < n; d++) {
		kn_cuda_device_info info;
		if (kn_cuda_device_info_get(d, &info, why, sizeof why) != 0) {
			printf("FAIL: device %d: %s\n", d, why);
			fails++;
			continue;
		}
		printf("device %d: %s, sm_%d%d, %d SMs, %.1f GiB total, %.1f GiB free, driver %d, runtime %d\n", d,
		       info.name, info.major, info.minor, info.n_sms, (double)info.total_bytes / (1 << 30),
		       (double)info.free_bytes / (1 << 30), info.driver_version, info.runtime_version);
		/* bale's kernels are built for sm_80 and newer */
		if (info.major < 8) {
			printf("FAIL: device %d has compute capability %d.%d; bale needs 8.0 or newer\n", d, info.major,
			       info.minor);
			fails++;
		}
		if (info.total_bytes == 0 || info.free_bytes > info.total_bytes) {
			printf("FAIL: device %d reports inconsistent memory sizes\n", d);
			fails++;
		}
	}
	printf("%d passed, %d failed\n", n - fails, fails);
	return fails ? 1 : 0;
}
