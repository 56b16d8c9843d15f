/* kn_gemm_plan — the host-side arithmetic of kn_cuda_matmul as pure functions (no CUDA calls), so
 * the CPU tests (tests/cuda/test_kn_gemm_plan.c, label unit) check the exact choices the GPU code
 * makes: which path AUTO takes on given device capabilities, how the CUBLAS and FP8 paths cut the
 * weight into chunks of rows that fit the scratch, and how many device bytes a context holds.
 */
#ifndef BALE_KN_GEMM_PLAN_H
#define BALE_KN_GEMM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "kn_cuda_gemm.h"

#define KN_GEMM_SCRATCH_DEFAULT ((size_t)64 << 20) /* scratch_bytes 0 */
#define KN_GEMM_WORKSPACE ((size_t)32 << 20)       /* cuBLAS + cuBLASLt workspace, shared (one stream) */
#define KN_GEMM_ALIGN ((size_t)256)                /* every sub-buffer starts 256-byte aligned */

static inline size_t kn_gemm_align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* AUTO for a weight kind, m and compute capability cc = 10·major + minor:
 *   m ≤ 16: GEMV. The weights are read once per 16 tokens; at this size every path is bound by
 *     the weight bytes and the GEMV streams them best.
 *   F8_E4M3/ROW, cc ≥ 89, m ≥ 64: FP8. The FP8 tensor cores run at twice the BF16 rate and
 *     cuBLASLt uses wgmma on sm_90; from 64 tokens the quantization of x is a small cost. It
 *     changes the numbers (x is quantized per token), which prefill tolerates.
 *   cc ≥ 90, m ≥ 256: CUBLAS. On Hopper cuBLAS's wgmma kernels beat a mma.sync kernel by far
 *     more than the extra pass over the weights (dequantize to BF16, then read BF16 again) costs
 *     once the GEMM is compute-bound.
 *   otherwise MMA (sm_80+): it reads the 8-bit weights once and dequantizes in registers, which
 *     wins while the product is still near the memory roof (m of a few dozen to a few hundred),
 *     and on sm_80/sm_89 mma.sync is what cuBLAS uses too.
 *   cc < 80 (no mma.sync BF16): CUBLAS.
 * fp8_ok: kn_gemm_fp8_weight_ok for this weight (AUTO never picks a path that would refuse). */
static inline kn_gemm_algo kn_gemm_pick_cc(int fp8_ok, int m, int cc)
{
	if (m <= KN_CUDA_GEMV_MAX_M)
		return KN_GEMM_GEMV;
	if (cc < 80)
		return KN_GEMM_CUBLAS;
	if (fp8_ok && cc >= 89 && m >= 64)
		return KN_GEMM_FP8;
	if (cc >= 90 && m >= 256)
		return KN_GEMM_CUBLAS;
	return KN_GEMM_MMA;
}

/* Whether the FP8 path takes this weight: F8_E4M3/ROW, and what cuBLASLt's FP8 kernels require
 * of the K-major operands: k a multiple of 16 and 16-byte aligned rows. */
static inline int kn_gemm_fp8_weight_ok(int dtype, int scheme, size_t k, uintptr_t data)
{
	return dtype == KN_CUDA_F8_E4M3 && scheme == KN_CUDA_SCHEME_ROW && k % 16 == 0 && data % 16 == 0;
}

/* Rows of W per chunk for the CUBLAS and FP8 paths. Each chunk needs, inside scratch_bytes:
 * the dequantized BF16 rows (dq: rows·k·2 bytes, CUBLAS with 8-bit weights) and, when the result
 * goes through the epilogue kernel (out), an f32 block of m columns of ld = rows rounded up to
 * 16 (16-byte aligned columns, as cuBLASLt's FP8 kernels want), starting 256-byte aligned.
 * A chunk smaller than n is a multiple of 16 rows (aligned weight pointers, even for SwiGLU pairs).
 * Returns 0 when not even 16 rows fit (or n is 0). */
static inline size_t kn_gemm_chunk_rows(size_t n, size_t k, size_t m, size_t scratch_bytes, int dq, int out)
{
	if (n == 0 || k == 0 || m == 0)
		return 0;
	if (!dq && !out)
		return n;
	/* rows = 16·q; bytes(q) = align256(16q·k·2)·dq + 16q·m·4·out ≤ scratch */
	const size_t per16 = (dq ? 16 * k * 2 : 0) + (out ? 16 * m * 4 : 0);
	if (scratch_bytes <= KN_GEMM_ALIGN || per16 == 0 || per16 > (scratch_bytes - KN_GEMM_ALIGN))
		return 0;
	size_t q = (scratch_bytes - KN_GEMM_ALIGN) / per16; /* the 256 covers the alignment gap */
	size_t need = (n + 15) / 16;
	if (q >= need)
		return n;
	return q * 16;
}

/* Leading dimension (elements) of a chunk's f32 result block: rows rounded up to 16. */
static inline size_t kn_gemm_chunk_ld(size_t rows)
{
	return kn_gemm_align_up(rows, 16);
}

/* Byte offset of the f32 result block inside the scratch, after the dequantized rows. */
static inline size_t kn_gemm_out_offset(size_t chunk_rows, size_t k, int dq)
{
	return dq ? kn_gemm_align_up(chunk_rows * k * 2, KN_GEMM_ALIGN) : 0;
}

/* Bytes of the FP8 path's quantized activations: codes [max_m][align16(max_k)], then f32 scales
 * [max_m], each 256-aligned. */
static inline size_t kn_gemm_f8_codes_bytes(int max_m, int max_k)
{
	return kn_gemm_align_up((size_t)max_m * kn_gemm_align_up((size_t)max_k, 16), KN_GEMM_ALIGN);
}

static inline size_t kn_gemm_blas_bytes_plan(int max_m, int max_k, size_t scratch_bytes)
{
	if (max_m < 1 || max_k < 1)
		return 0;
	if (!scratch_bytes)
		scratch_bytes = KN_GEMM_SCRATCH_DEFAULT;
	return kn_gemm_align_up(scratch_bytes, KN_GEMM_ALIGN) + KN_GEMM_WORKSPACE +
	       kn_gemm_f8_codes_bytes(max_m, max_k) + kn_gemm_align_up((size_t)max_m * 4, KN_GEMM_ALIGN);
}

#endif
