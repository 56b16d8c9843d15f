// kn_emu cuBLAS subset: cublasGemmEx as a plain CPU GEMM (f32 accumulation, host-pointer alpha/beta,
// beta = 0 never reads C), queued on the handle's stream like any kernel so graph capture records it.
// cuBLASLt: descriptors can be made, but no algorithm is offered (the E4M3 GEMM needs sm_89; the
// emulated device is sm_80), so cublasLtMatmul is never reached and refuses if it is.
#include "kn_emu_internal.h"

#include <stdlib.h>

namespace {

struct blas_handle {
	cudaStream_t s = nullptr;
	void *ws = nullptr;
	size_t ws_bytes = 0;
	cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

bool load(const void *p, cudaDataType t, size_t i, float *v)
{
	switch (t) {
	case CUDA_R_32F: *v = ((const float *)p)[i]; return true;
	case CUDA_R_16BF: {
		uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
		memcpy(v, &u, 4);
		return true;
	}
	case CUDA_R_16F: *v = __half2float(((const __half *)p)[i]); return true;
	default: return false;
	}
}

void store(void *p, cudaDataType t, size_t i, float v)
{
	switch (t) {
	case CUDA_R_32F: ((float *)p)[i] = v; break;
	case CUDA_R_16BF: {
		uint32_t u;
		memcpy(&u, &v, 4);
		uint16_t h = (u & 0x7FFFFFFFu) > 0x7F800000u ? (uint16_t)((u >> 16) | 0x40u)
							     : (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
		((uint16_t *)p)[i] = h;
		break;
	}
	case CUDA_R_16F: ((__half *)p)[i] = __float2half_rn(v); break;
	default: break;
	}
}

bool type_ok(cudaDataType t)
{
	return t == CUDA_R_32F || t == CUDA_R_16BF || t == CUDA_R_16F;
}

struct lt_obj {
	int dummy;
};

} // namespace

extern "C" {

const char *cublasGetStatusName(cublasStatus_t s)
{
	switch (s) {
	case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
	case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
	case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
	case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
	case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
	case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
	default: return "CUBLAS_STATUS_UNKNOWN";
	}
}

const char *cublasGetStatusString(cublasStatus_t s)
{
	switch (s) {
	case CUBLAS_STATUS_SUCCESS: return "success";
	case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
	case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
	case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
	case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
	case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported (kn_emu)";
	default: return "unknown error";
	}
}

cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
	if (!h)
		return CUBLAS_STATUS_INVALID_VALUE;
	*h = (cublasHandle_t) new blas_handle();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t h)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	delete (blas_handle *)h;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	blas_handle *b = (blas_handle *)h;
	b->s = s;
	b->ws = nullptr; // as documented: back to the default workspace pool
	b->ws_bytes = 0;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *ws, size_t bytes)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (bytes && !ws)
		return CUBLAS_STATUS_INVALID_VALUE;
	((blas_handle *)h)->ws = ws;
	((blas_handle *)h)->ws_bytes = bytes;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	((blas_handle *)h)->math = mode;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (!mode)
		return CUBLAS_STATUS_INVALID_VALUE;
	*mode = ((blas_handle *)h)->math;
	return CUBLAS_STATUS_SUCCESS;
}

// C[m×n] = alpha·op(A)·op(B) + beta·C, column-major, as cuBLAS defines it.
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
			    const void *alpha, const void *A, cudaDataType At, int lda, const void *B, cudaDataType Bt,
			    int ldb, const void *beta, void *C, cudaDataType Ct, int ldc, cublasComputeType_t ct,
			    cublasGemmAlgo_t algo)
{
	(void)algo;
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (m < 0 || n < 0 || k < 0 || !alpha || !beta)
		return CUBLAS_STATUS_INVALID_VALUE;
	if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
		return CUBLAS_STATUS_NOT_SUPPORTED;
	if (lda < (ta == CUBLAS_OP_N ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) ||
	    ldb < (tb == CUBLAS_OP_N ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) || ldc < (m > 1 ? m : 1))
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!type_ok(At) || !type_ok(Bt) || !type_ok(Ct))
		return CUBLAS_STATUS_NOT_SUPPORTED;
	if (ct != CUBLAS_COMPUTE_32F && ct != CUBLAS_COMPUTE_32F_FAST_16BF && ct != CUBLAS_COMPUTE_32F_FAST_TF32 &&
	    ct != CUBLAS_COMPUTE_32F_FAST_16F && ct != CUBLAS_COMPUTE_32F_PEDANTIC)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	if (m == 0 || n == 0)
		return CUBLAS_STATUS_SUCCESS;
	if (!A || !B || !C)
		return CUBLAS_STATUS_INVALID_VALUE;
	const float al = *(const float *)alpha, be = *(const float *)beta;
	blas_handle *bh = (blas_handle *)h;
	cudaError_t e = kn_emu_enqueue(
		bh->s, [=]() {
			for (int j = 0; j < n; j++) {
				for (int i = 0; i < m; i++) {
					float acc = 0.0f, a = 0.0f, b = 0.0f;
					for (int p = 0; p < k; p++) {
						load(A, At, ta == CUBLAS_OP_N ? (size_t)p * lda + i : (size_t)i * lda + p, &a);
						load(B, Bt, tb == CUBLAS_OP_N ? (size_t)j * ldb + p : (size_t)p * ldb + j, &b);
						acc += a * b;
					}
					const size_t o = (size_t)j * ldc + i;
					float r = al * acc;
					if (be != 0.0f) {
						float c = 0.0f;
						load(C, Ct, o, &c);
						r += be * c;
					}
					store(C, Ct, o, r);
				}
			}
			return cudaSuccess;
		},
		"cublasGemmEx");
	return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

// ---- cuBLASLt ----

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h)
{
	if (!h)
		return CUBLAS_STATUS_INVALID_VALUE;
	*h = (cublasLtHandle_t) new lt_obj();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t h)
{
	delete (lt_obj *)h;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t ct, cudaDataType_t st)
{
	(void)ct;
	(void)st;
	if (!d)
		return CUBLAS_STATUS_INVALID_VALUE;
	*d = (cublasLtMatmulDesc_t) new lt_obj();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d)
{
	delete (lt_obj *)d;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a,
					      const void *buf, size_t n)
{
	(void)a;
	return d && buf && n ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType t, uint64_t rows, uint64_t cols,
					  int64_t ld)
{
	(void)t;
	(void)rows;
	(void)cols;
	(void)ld;
	if (!l)
		return CUBLAS_STATUS_INVALID_VALUE;
	*l = (cublasLtMatrixLayout_t) new lt_obj();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l)
{
	delete (lt_obj *)l;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p)
{
	if (!p)
		return CUBLAS_STATUS_INVALID_VALUE;
	*p = (cublasLtMatmulPreference_t) new lt_obj();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p)
{
	delete (lt_obj *)p;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
						    cublasLtMatmulPreferenceAttributes_t a, const void *buf, size_t n)
{
	(void)a;
	return p && buf && n ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
					      cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
					      cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t pref, int req,
					      cublasLtMatmulHeuristicResult_t res[], int *count)
{
	(void)h, (void)op, (void)a, (void)b, (void)c, (void)d, (void)pref, (void)req, (void)res;
	if (count)
		*count = 0;
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t op, const void *alpha, const void *A,
			      cublasLtMatrixLayout_t Ad, const void *B, cublasLtMatrixLayout_t Bd, const void *beta,
			      const void *C, cublasLtMatrixLayout_t Cd, void *D, cublasLtMatrixLayout_t Dd,
			      const cublasLtMatmulAlgo_t *algo, void *ws, size_t wsb, cudaStream_t s)
{
	(void)h, (void)op, (void)alpha, (void)A, (void)Ad, (void)B, (void)Bd, (void)beta, (void)C, (void)Cd, (void)D,
		(void)Dd, (void)algo, (void)ws, (void)wsb, (void)s;
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

} // extern "C"
