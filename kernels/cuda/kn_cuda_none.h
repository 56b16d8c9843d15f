/* Shared by the *_none.c stand-ins built when there is no CUDA compiler. */
#ifndef BALE_KN_CUDA_NONE_H
#define BALE_KN_CUDA_NONE_H

#include <stddef.h>
#include <stdio.h>

static inline int kn_none(char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "bale was built without CUDA (BALE_CUDA=OFF or no nvcc)");
	return -1;
}

#endif
