/* kn_cuda_gemm — y[m][n] = x[m][k] · dequant(W[n][k])ᵀ for any m: the decode GEMV for small m,
 * tensor-core GEMMs for prefill. C-callable, no CUDA types (conventions of kn_cuda.h).
 *
 * Paths (kn_gemm_algo):
 *   GEMV    kn_cuda_gemv, m ≤ 16 per pass (larger m in passes of 16: weights re-read per pass).
 *   MMA     hand-written BF16 tensor-core kernel (mma.sync, sm_80+): weight tiles are loaded as
 *           8-bit codes (or BF16), dequantized in registers (code × scale in binary32, rounded to
 *           BF16) and fed to the MMA; f32 accumulation; any weight kind of kn_cuda_weight.
 *   CUBLAS  baseline and fallback: W dequantized to BF16 in scratch chunks of rows (bf16 of the
 *           exact SPEC §6.2 value), then cublasGemmEx BF16 × BF16 → f32 accumulate.
 *   FP8     F8_E4M3/ROW weights on sm_89+: each row of x is quantized to E4M3 with a per-token
 *           scale (amax / 448), an FP8 × FP8 tensor-core GEMM (cuBLASLt, which uses wgmma on
 *           sm_90) accumulates in f32, and the epilogue multiplies by the per-row weight scale ×
 *           the per-token activation scale. Changes the numbers (x is quantized): it is the fast
 *           prefill path, never the decode path.
 *   AUTO    kn_cuda_matmul_pick: GEMV for m ≤ 16; else FP8 for F8 weights where supported;
 *           else MMA or CUBLAS by shape (documented at the function).
 *
 * Epilogues (kn_cuda_epilogue): out_f32, residual add, swiglu (fused gate/up, rows interleaved)
 * on every path. No path allocates or synchronizes inside kn_cuda_matmul (scratch lives in the
 * kn_cuda_blas context), so calls can be captured into a CUDA graph. A context is used by one
 * stream at a time.
 */
#ifndef BALE_KN_CUDA_GEMM_H
#define BALE_KN_CUDA_GEMM_H

#include "kn_cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	KN_GEMM_AUTO = 0,
	KN_GEMM_GEMV = 1,
	KN_GEMM_MMA = 2,
	KN_GEMM_CUBLAS = 3,
	KN_GEMM_FP8 = 4,
} kn_gemm_algo;

const char *kn_gemm_algo_name(kn_gemm_algo a); /* "auto", "gemv", "mma", "cublas", "fp8" */

/* cuBLAS and cuBLASLt handles, their workspace, and the scratch of the CUBLAS and FP8 paths
 * (dequantized weight chunk, quantized activations and their scales). max_m × max_k bounds the
 * activations the FP8 path can quantize; scratch_bytes (0 = 64 MiB) bounds the dequantized
 * chunk of the CUBLAS path (more rows than fit are done in several chunks). */
typedef struct kn_cuda_blas kn_cuda_blas;

int kn_cuda_blas_create(kn_cuda_blas **out, int max_m, int max_k, size_t scratch_bytes, char *err, size_t errlen);
void kn_cuda_blas_free(kn_cuda_blas *b); /* NULL is a no-op */
/* Device bytes a context with these limits allocates (for the memory planner). */
size_t kn_cuda_blas_bytes(int max_m, int max_k, size_t scratch_bytes);

/* The path AUTO takes for this weight and m on the current device. */
kn_gemm_algo kn_cuda_matmul_pick(const kn_cuda_weight *w, int m);
/* 0 when `algo` can run this weight and m here (FP8 needs F8_E4M3/ROW weights and sm_89+;
 * MMA needs sm_80+), else -1 with the reason. */
int kn_cuda_matmul_supported(const kn_cuda_weight *w, int m, kn_gemm_algo algo, char *err, size_t errlen);

/* y[m][n] = x[m][k] · dequant(W)ᵀ (with the epilogue; ep may be NULL), m ≥ 1. x is BF16
 * [m][k], y BF16 or f32 [m][n] (n = w->n / 2 with swiglu). b may be NULL for GEMV and MMA. */
int kn_cuda_matmul(kn_cuda_blas *b, const kn_cuda_weight *w, const void *x_bf16, void *y, int m,
		   const kn_cuda_epilogue *ep, kn_gemm_algo algo, void *stream, char *err, size_t errlen);

/* The benchmark anchor: y_bf16[m][n] = x_bf16[m][k] · w_bf16[n][k]ᵀ with cublasGemmEx (f32
 * accumulation, default math with tensor cores). */
int kn_cuda_cublas_bf16(kn_cuda_blas *b, const void *w_bf16, const void *x_bf16, void *y_bf16, int m, int n, int k,
			void *stream, char *err, size_t errlen);

/* out_bf16[rows][k] = bf16(dequant rows [row0, row0 + rows) of w), the exact SPEC §6.2 value
 * rounded to nearest even (what the CUBLAS path multiplies). */
int kn_cuda_dequant_rows_bf16(const kn_cuda_weight *w, size_t row0, size_t rows, void *out_bf16, void *stream,
			      char *err, size_t errlen);

/* Per-token E4M3 quantization of activations (the FP8 path's first step, exposed for tests):
 * scale[i] = amax(x[i][:]) / 448 (1 when the row is all zero), codes[i][j] = kn_f32_to_e4m3(
 * x[i][j] / scale[i]) — kn_kv_f8_scale / kn_kv_f8_encode of kn_conv.cuh. */
int kn_cuda_quant_rows_f8(const void *x_bf16, int m, int k, void *codes, float *scales, void *stream, char *err,
			  size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
