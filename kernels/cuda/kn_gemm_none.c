/* Stand-ins for kn_cuda_gemm.h when the build has no CUDA compiler: the launchers fail with the
 * reason; the pure queries (names, sizes, AUTO's choice for a device of capability 0) still answer,
 * so a planner can size a context without a GPU. */
#include "kn_cuda_gemm.h"

#include "kn_cuda_none.h"
#include "kn_gemm_plan.h"

const char *kn_gemm_algo_name(kn_gemm_algo a)
{
	switch (a) {
	case KN_GEMM_AUTO: return "auto";
	case KN_GEMM_GEMV: return "gemv";
	case KN_GEMM_MMA: return "mma";
	case KN_GEMM_CUBLAS: return "cublas";
	case KN_GEMM_FP8: return "fp8";
	}
	return "?";
}

int kn_cuda_blas_create(kn_cuda_blas **out, int max_m, int max_k, size_t scratch_bytes, char *err, size_t errlen)
{
	(void)max_m, (void)max_k, (void)scratch_bytes;
	if (out)
		*out = NULL;
	return kn_none(err, errlen);
}

void kn_cuda_blas_free(kn_cuda_blas *b)
{
	(void)b;
}

size_t kn_cuda_blas_bytes(int max_m, int max_k, size_t scratch_bytes)
{
	return kn_gemm_blas_bytes_plan(max_m, max_k, scratch_bytes);
}

kn_gemm_algo kn_cuda_matmul_pick(const kn_cuda_weight *w, int m)
{
	int f8 = w && kn_gemm_fp8_weight_ok(w->dtype, w->scheme, w->k, (uintptr_t)w->data);
	return kn_gemm_pick_cc(f8, m, 0);
}

int kn_cuda_matmul_supported(const kn_cuda_weight *w, int m, kn_gemm_algo algo, char *err, size_t errlen)
{
	(void)w, (void)m, (void)algo;
	return kn_none(err, errlen);
}

int kn_cuda_matmul(kn_cuda_blas *b, const kn_cuda_weight *w, const void *x_bf16, void *y, int m,
		   const kn_cuda_epilogue *ep, kn_gemm_algo algo, void *stream, char *err, size_t errlen)
{
	(void)b, (void)w, (void)x_bf16, (void)y, (void)m, (void)ep, (void)algo, (void)stream;
	return kn_none(err, errlen);
}

int kn_cuda_cublas_bf16(kn_cuda_blas *b, const void *w_bf16, const void *x_bf16, void *y_bf16, int m, int n, int k,
			void *stream, char *err, size_t errlen)
{
	(void)b, (void)w_bf16, (void)x_bf16, (void)y_bf16, (void)m, (void)n, (void)k, (void)stream;
	return kn_none(err, errlen);
}

int kn_cuda_dequant_rows_bf16(const kn_cuda_weight *w, size_t row0, size_t rows, void *out_bf16, void *stream,
			      char *err, size_t errlen)
{
	(void)w, (void)row0, (void)rows, (void)out_bf16, (void)stream;
	return kn_none(err, errlen);
}

int kn_cuda_quant_rows_f8(const void *x_bf16, int m, int k, void *codes, float *scales, void *stream, char *err,
			  size_t errlen)
{
	(void)x_bf16, (void)m, (void)k, (void)codes, (void)scales, (void)stream;
	return kn_none(err, errlen);
}
