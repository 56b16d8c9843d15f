// Internal interface between the GEMM entry points (kn_gemm.cu) and their helper kernels
// (kn_gemm_ops.cu): the per-token FP8 quantization and the epilogue applied to an f32 block.
#ifndef BALE_KN_GEMM_CUH
#define BALE_KN_GEMM_CUH

#include "kn_cuda_internal.cuh"

// y (BF16 or f32) from an f32 block c of `rows` weight rows × m tokens, column-major with
// leading dimension ldc (element (i, r) at c[i·ldc + r]) holding rows [r0, r0 + rows) of the
// full n: v = c · sw[r0 + r] (when sw) · sx[i] (when sx), then the residual add, or with swiglu
// silu(v_gate)·v_up of the pairs (r, r + 1) into column (r0 + r) / 2 of y [m][n/2] (r0 and rows
// even there).
struct kn_gemm_epi_args {
	const float *c;
	size_t ldc;
	int m, rows, r0, n;
	const float *sw, *sx;
	void *y;
	const void *resid;
	int out_f32, swiglu;
};

int kn_gemm_epi_launch(const kn_gemm_epi_args *a, cudaStream_t s, char *err, size_t errlen);

// codes[i][0..ld) with scales[i] for rows i < m of x BF16 [m][k]: kn_kv_f8_scale of the row's
// amax, kn_kv_f8_encode of each element; columns k..ld−1 are zero (padding for cuBLASLt).
int kn_quant_f8_launch(const uint16_t *x, int m, int k, size_t ld, uint8_t *codes, float *scales, cudaStream_t s,
		       char *err, size_t errlen);

#endif
