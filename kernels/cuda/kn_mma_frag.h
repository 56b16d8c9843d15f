/* kn_mma_frag — lane index math of the MMA GEMM (kn_mma.cuh), as KN_HD functions so the CPU tests
 * (tests/cuda/test_kn_gemm_plan.c) replay a warp's ldmatrix + mma.m16n8k16 on the host against
 * the fragment layouts of the PTX ISA and a plain product.
 *
 * Shared-memory tiles are row-major with k contiguous: x as [m][k], W as [n][k] (which is the
 * "col" operand layout of mma...row.col). ldmatrix.x4 takes 32 row addresses: lanes 8q..8q+7
 * give the 8 rows of matrix q, and lane l receives from matrix q the two 16-bit elements
 * (row l/4, columns 2(l%4), 2(l%4)+1) in register q.
 */
#ifndef BALE_KN_MMA_FRAG_H
#define BALE_KN_MMA_FRAG_H

#include "kn_conv.cuh" /* KN_HD */

/* A fragment of a 16×16 x tile: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15),
 * (rows 8-15, k 8-15) → registers a0..a3 of mma.m16n8k16. */
KN_HD static inline void kn_mma_a_addr(int lane, int *row, int *col)
{
	*row = lane % 16;
	*col = (lane / 16) * 8;
}

/* B fragments of two n8 tiles of a 16(n)×16(k) W tile: matrices (n 0-7, k 0-7), (n 0-7, k 8-15),
 * (n 8-15, k 0-7), (n 8-15, k 8-15) → b0, b1 of the first n8 tile, b0, b1 of the second. */
KN_HD static inline void kn_mma_b_addr(int lane, int *n, int *k)
{
	*n = (lane / 16) * 8 + lane % 8;
	*k = ((lane / 8) % 2) * 8;
}

/* Accumulator register r (0..3) of lane: row g or g + 8, columns 2t, 2t + 1 (g = lane/4,
 * t = lane%4). Columns come in even/odd pairs, so one lane holds gate and up of a SwiGLU pair. */
KN_HD static inline void kn_mma_c_pos(int lane, int r, int *row, int *col)
{
	*row = lane / 4 + (r / 2) * 8;
	*col = (lane % 4) * 2 + r % 2;
}

#endif
