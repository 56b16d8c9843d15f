/* Host-side arithmetic of the CUDA GEMM paths (kernels/cuda/kn_gemm_plan.h, kn_mma_frag.h), on the
 * CPU (label unit): AUTO's choice per device capability, the chunking of the CUBLAS and FP8
 * paths within the scratch, the context size, and a replay of one warp's ldmatrix + mma.m16n8k16
 * fragments against the PTX ISA layouts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cuda_gemm.h"
#include "kn_gemm_plan.h"
#include "kn_mma_frag.h"
#include "testutil.h"

static void test_pick(void **state)
{
	(void)state;
	static const struct {
		int fp8_ok, m, cc;
		kn_gemm_algo want;
	} cases[] = {
		{0, 1, 90, KN_GEMM_GEMV},    {1, 16, 90, KN_GEMM_GEMV},   {0, 17, 90, KN_GEMM_MMA},
		{1, 17, 90, KN_GEMM_MMA},    {1, 63, 89, KN_GEMM_MMA},    {1, 64, 89, KN_GEMM_FP8},
		{1, 64, 90, KN_GEMM_FP8},    {1, 4096, 90, KN_GEMM_FP8},  {1, 64, 80, KN_GEMM_MMA},
		{1, 4096, 80, KN_GEMM_MMA},  {0, 255, 90, KN_GEMM_MMA},   {0, 256, 90, KN_GEMM_CUBLAS},
		{0, 256, 89, KN_GEMM_MMA},   {0, 2048, 80, KN_GEMM_MMA},  {0, 2048, 100, KN_GEMM_CUBLAS},
		{0, 17, 75, KN_GEMM_CUBLAS}, {1, 1000, 0, KN_GEMM_CUBLAS}, {0, 3, 0, KN_GEMM_GEMV},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		kn_gemm_algo got = kn_gemm_pick_cc(cases[i].fp8_ok, cases[i].m, cases[i].cc);
		if (got != cases[i].want)
			fail_msg("pick fp8_ok %d m %d cc %d: %s, want %s", cases[i].fp8_ok, cases[i].m, cases[i].cc,
				 kn_gemm_algo_name(got), kn_gemm_algo_name(cases[i].want));
	}
	assert_true(kn_gemm_fp8_weight_ok(KN_CUDA_F8_E4M3, KN_CUDA_SCHEME_ROW, 4096, 256));
	assert_false(kn_gemm_fp8_weight_ok(KN_CUDA_F8_E4M3, KN_CUDA_SCHEME_ROW, 40, 256));
	assert_false(kn_gemm_fp8_weight_ok(KN_CUDA_F8_E4M3, KN_CUDA_SCHEME_ROW, 4096, 8));
	assert_false(kn_gemm_fp8_weight_ok(KN_CUDA_I8, KN_CUDA_SCHEME_ROW, 4096, 256));
	assert_string_equal(kn_gemm_algo_name(KN_GEMM_FP8), "fp8");
	assert_string_equal(kn_gemm_algo_name((kn_gemm_algo)42), "?");
}

/* Every chunk fits the scratch with its alignment, covers n in multiples of 16 rows (or all of
 * n at once), and is as large as the scratch allows. */
static void test_chunks(void **state)
{
	(void)state;
	tu_rng rng = {12345};
	for (int it = 0; it < 20000; it++) {
		size_t n = 1 + tu_rng_u64(&rng) % 200000, k = 1 + tu_rng_u64(&rng) % 20000, m = 1 + tu_rng_u64(&rng) % 4096;
		size_t scratch = (size_t)(tu_rng_u64(&rng) % ((size_t)256 << 20));
		int dq = (int)(tu_rng_u64(&rng) & 1), out = (int)(tu_rng_u64(&rng) & 1);
		size_t rows = kn_gemm_chunk_rows(n, k, m, scratch, dq, out);
		if (!dq && !out) {
			assert_int_equal(rows, n);
			continue;
		}
		size_t per16 = (dq ? 16 * k * 2 : 0) + (out ? 16 * m * 4 : 0);
		if (rows == 0) {
			assert_true(scratch <= KN_GEMM_ALIGN || per16 > scratch - KN_GEMM_ALIGN);
			continue;
		}
		assert_true(rows <= n);
		if (rows < n)
			assert_int_equal(rows % 16, 0);
		size_t used = kn_gemm_out_offset(rows, k, dq) + (out ? kn_gemm_chunk_ld(rows) * m * 4 : 0);
		if (used > scratch)
			fail_msg("chunk n %zu k %zu m %zu scratch %zu dq %d out %d: rows %zu use %zu bytes", n, k, m, scratch,
				 dq, out, rows, used);
		if (rows < n) { /* 16 more rows would not fit */
			size_t more = rows + 16;
			size_t used2 = (dq ? kn_gemm_align_up(more * k * 2, KN_GEMM_ALIGN) : 0) + (out ? more * m * 4 : 0);
			assert_true(used2 + KN_GEMM_ALIGN > scratch);
		}
		assert_int_equal(kn_gemm_out_offset(rows, k, dq) % KN_GEMM_ALIGN, 0);
		assert_int_equal(kn_gemm_chunk_ld(rows) % 16, 0);
	}
	assert_int_equal(kn_gemm_chunk_rows(0, 10, 10, 1 << 20, 1, 1), 0);
	assert_int_equal(kn_gemm_chunk_rows(151936, 4096, 512, 64u << 20, 1, 0), 8176);
}

static void test_blas_bytes(void **state)
{
	(void)state;
	size_t a = kn_cuda_blas_bytes(512, 12288, 0);
	assert_int_equal(a, KN_GEMM_SCRATCH_DEFAULT + KN_GEMM_WORKSPACE + 512 * 12288 + 2048);
	assert_int_equal(kn_cuda_blas_bytes(3, 40, 1000), 1024 + KN_GEMM_WORKSPACE + 256 + 256);
	assert_int_equal(kn_cuda_blas_bytes(0, 40, 1000), 0);
}

/* ldmatrix.x4 as the PTX ISA defines it: lanes 8q..8q+7 give the row addresses of matrix q;
 * lane l gets (row l/4, elements 2(l%4), 2(l%4)+1) of matrix q in register q. */
static void ldmatrix_x4(const uint16_t tile[16][16], int addr_row[32], int addr_col[32], uint32_t out[32][4])
{
	for (int l = 0; l < 32; l++)
		for (int q = 0; q < 4; q++) {
			int src = 8 * q + l / 4;
			int r = addr_row[src], c = addr_col[src] + 2 * (l % 4);
			out[l][q] = (uint32_t)tile[r][c] | (uint32_t)tile[r][c + 1] << 16;
		}
}

static void test_fragments(void **state)
{
	(void)state;
	uint16_t x[16][16], w[16][16]; /* x [m][k], w [n][k] */
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++) {
			x[i][j] = (uint16_t)(i * 16 + j);
			w[i][j] = (uint16_t)(1000 + i * 16 + j);
		}
	int ar[32], ac[32], bn[32], bk[32];
	for (int l = 0; l < 32; l++) {
		kn_mma_a_addr(l, &ar[l], &ac[l]);
		kn_mma_b_addr(l, &bn[l], &bk[l]);
		assert_true(ar[l] >= 0 && ar[l] < 16 && ac[l] % 8 == 0 && ac[l] < 16);
		assert_true(bn[l] >= 0 && bn[l] < 16 && bk[l] % 8 == 0 && bk[l] < 16);
	}
	uint32_t a[32][4], b[32][4];
	ldmatrix_x4(x, ar, ac, a);
	ldmatrix_x4(w, bn, bk, b);
	for (int l = 0; l < 32; l++) {
		const int g = l / 4, t = l % 4;
		/* mma.m16n8k16 .bf16 A: a0,a1 (g, 2t..), a2,a3 (g+8, 2t..), a4,a5 (g, 2t+8..), a6,a7 (g+8, 2t+8..) */
		const int arow[4] = {g, g + 8, g, g + 8}, acol[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
		for (int r = 0; r < 4; r++) {
			uint32_t want = (uint32_t)x[arow[r]][acol[r]] | (uint32_t)x[arow[r]][acol[r] + 1] << 16;
			if (a[l][r] != want)
				fail_msg("A lane %d reg %d: %08x want %08x", l, r, a[l][r], want);
		}
		/* B: b0,b1 (k 2t.., n g), b2,b3 (k 2t+8.., n g); registers 0,1 for n 0-7, 2,3 for n 8-15 */
		for (int nt = 0; nt < 2; nt++)
			for (int r = 0; r < 2; r++) {
				int n = nt * 8 + g, k = 2 * t + 8 * r;
				uint32_t want = (uint32_t)w[n][k] | (uint32_t)w[n][k + 1] << 16;
				if (b[l][2 * nt + r] != want)
					fail_msg("B lane %d tile %d reg %d: %08x want %08x", l, nt, r, b[l][2 * nt + r], want);
			}
	}
	/* C: the 32 lanes × 4 registers cover the 16×8 tile once, columns in even/odd pairs. */
	int seen[16][8];
	memset(seen, 0, sizeof seen);
	for (int l = 0; l < 32; l++)
		for (int r = 0; r < 4; r++) {
			int row, col;
			kn_mma_c_pos(l, r, &row, &col);
			assert_true(row >= 0 && row < 16 && col >= 0 && col < 8);
			assert_int_equal(col % 2, r % 2);
			seen[row][col]++;
			if (r % 2 == 0) {
				int row1, col1;
				kn_mma_c_pos(l, r + 1, &row1, &col1);
				assert_int_equal(row1, row);
				assert_int_equal(col1, col + 1);
			}
		}
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 8; j++)
			assert_int_equal(seen[i][j], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_blas_bytes),
		cmocka_unit_test(test_fragments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
