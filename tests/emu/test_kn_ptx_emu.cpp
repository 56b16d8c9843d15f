// The CPU emulator's PTX wrappers (kernels/cuda/kn_ptx.cuh under KN_EMU) against plain loops:
// one warp stages A [16][K] and W [16][K] (BF16, k contiguous) in shared memory through
// kn_cp_async_16, loads fragments with kn_ldmatrix_x4 and multiplies with kn_mma_bf16_16816
// (two n8 tiles, K/16 steps, accumulating onto a given C), and the 16×16 result must equal
// C + A·Wᵀ. The addresses and register roles below are derived here from the PTX ISA tables, not
// taken from kn_mma_frag.h. Small-integer inputs make every sum exact, so any layout slip shows
// as an exact mismatch; a random-float case checks the f32 accumulation within a bound.
// Built with -DKN_EMU -include kn_emu.h, only when BALE_CUDA_EMU is on.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_ptx.cuh"

extern "C" {
#include "testutil.h"
}

#define KMAX 64
#define LD (KMAX + 8) // padded row, 144 bytes: every 8-element row start stays 16-byte aligned

static uint16_t bf16_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16); // finite inputs only
}

static float bf16_val(uint16_t h)
{
	const uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

__global__ void mma_tile_kernel(const uint16_t *A, const uint16_t *W, const float *Cin, float *C, int K)
{
	__shared__ __align__(16) uint16_t as[16][LD];
	__shared__ __align__(16) uint16_t ws[16][LD];
	const unsigned lane = threadIdx.x;

	// 16-byte chunks: 16 rows × K/8 chunks per matrix.
	for (int c = (int)lane; c < 16 * (K / 8); c += 32) {
		const int r = c / (K / 8), k = (c % (K / 8)) * 8;
		kn_cp_async_16(&as[r][k], A + r * K + k, 16);
		kn_cp_async_16(&ws[r][k], W + r * K + k, 16);
	}
	kn_cp_async_commit();
	kn_cp_async_wait<0>();
	__syncthreads();

	const unsigned g = lane / 4, t = lane % 4;
	float acc[2][4];
	for (int j = 0; j < 2; j++)
		for (int i = 0; i < 4; i++)
			acc[j][i] = Cin[(g + 8 * (i / 2)) * 16 + 8 * j + 2 * t + (i & 1)];

	// ldmatrix.x4: lane l gives row l%8 of matrix l/8.
	const unsigned q = lane / 8, r = lane % 8;
	for (int ks = 0; ks < K / 16; ks++) {
		// A registers a0..a3 = (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
		uint32_t af[4];
		kn_ldmatrix_x4(af, &as[(q & 1) * 8 + r][ks * 16 + (q >> 1) * 8]);
		// B (col operand, W[n][k]): b0/b1 of n-tile 0 = (n 0-7, k 0-7), (n 0-7, k 8-15); n-tile 1 = n 8-15.
		uint32_t bf[4];
		kn_ldmatrix_x4(bf, &ws[(q >> 1) * 8 + r][ks * 16 + (q & 1) * 8]);
		kn_mma_bf16_16816(acc[0], af, bf[0], bf[1]);
		kn_mma_bf16_16816(acc[1], af, bf[2], bf[3]);
	}
	for (int j = 0; j < 2; j++)
		for (int i = 0; i < 4; i++)
			C[(g + 8 * (i / 2)) * 16 + 8 * j + 2 * t + (i & 1)] = acc[j][i];
}

// cp.async zero-fill: lane l copies 16 bytes with src_bytes = l % 17 into a garbage-filled slot.
__global__ void cp_async_kernel(const uint8_t *src, uint8_t *dst)
{
	__shared__ __align__(16) uint8_t buf[32][16];
	const unsigned lane = threadIdx.x;
	memset(buf[lane], 0xAB, 16);
	kn_cp_async_16(buf[lane], src + 16 * lane, (int)(lane % 17));
	kn_cp_async_commit();
	kn_cp_async_wait<0>();
	__syncwarp();
	memcpy(dst + 16 * lane, buf[lane], 16);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void *dev_copy(const void *h, size_t n)
{
	void *d = NULL;
	assert_int_equal(cudaMalloc(&d, n), cudaSuccess);
	if (h)
		assert_int_equal(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice), cudaSuccess);
	return d;
}

// Runs one tile product with K columns; ints: inputs are small integers (exact sums).
static void check_tile(int K, bool ints, uint64_t seed)
{
	uint16_t A[16 * KMAX], W[16 * KMAX];
	float Cin[256], C[256];
	for (int i = 0; i < 16 * K; i++) {
		const uint64_t a = rng_next(&seed), b = rng_next(&seed);
		float fa, fb;
		if (ints) {
			fa = (float)((int)(a % 17) - 8);
			fb = (float)((int)(b % 17) - 8);
		} else {
			fa = (float)((double)(a >> 11) / 9007199254740992.0 * 4.0 - 2.0);
			fb = (float)((double)(b >> 11) / 9007199254740992.0 * 4.0 - 2.0);
		}
		A[i] = bf16_bits(fa);
		W[i] = bf16_bits(fb);
	}
	for (int i = 0; i < 256; i++)
		Cin[i] = ints ? (float)(i % 7) - 3.0f : (float)i * 0.01f - 1.0f;

	uint16_t *dA = (uint16_t *)dev_copy(A, sizeof(uint16_t) * 16 * K);
	uint16_t *dW = (uint16_t *)dev_copy(W, sizeof(uint16_t) * 16 * K);
	float *dCin = (float *)dev_copy(Cin, sizeof Cin);
	float *dC = (float *)dev_copy(NULL, sizeof C);
	assert_int_equal(cudaMemset(dC, 0xFF, sizeof C), cudaSuccess);
	KN_LAUNCH(mma_tile_kernel, dim3(1), dim3(32), 0, (cudaStream_t)0, (const uint16_t *)dA, (const uint16_t *)dW,
		  (const float *)dCin, dC, K);
	assert_int_equal(cudaGetLastError(), cudaSuccess);
	assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);
	assert_int_equal(cudaMemcpy(C, dC, sizeof C, cudaMemcpyDeviceToHost), cudaSuccess);

	for (int m = 0; m < 16; m++)
		for (int n = 0; n < 16; n++) {
			double ref = Cin[m * 16 + n], mag = fabs(ref);
			for (int k = 0; k < K; k++) {
				const double p = (double)bf16_val(A[m * K + k]) * (double)bf16_val(W[n * K + k]);
				ref += p;
				mag += fabs(p);
			}
			const double got = C[m * 16 + n];
			// f32 accumulation of K + 1 terms: K·2^-24 relative to the magnitude, with margin.
			const double tol = ints ? 0.0 : 4.0 * (K + 1) * ldexp(mag, -24);
			if (!(fabs(got - ref) <= tol))
				fail_msg("K %d %s: C[%d][%d] = %.9g, want %.9g (tol %.3g)", K, ints ? "ints" : "floats", m, n,
					 got, ref, tol);
		}
	cudaFree(dA);
	cudaFree(dW);
	cudaFree(dCin);
	cudaFree(dC);
}

static void test_mma_16x16x16(void **state)
{
	(void)state;
	check_tile(16, true, 1);
	check_tile(16, false, 2);
}

static void test_mma_multi_step(void **state)
{
	(void)state;
	check_tile(32, true, 3);
	check_tile(KMAX, true, 4);
	check_tile(KMAX, false, 5);
}

static void test_cp_async_zero_fill(void **state)
{
	(void)state;
	uint8_t src[512], dst[512];
	for (int i = 0; i < 512; i++)
		src[i] = (uint8_t)(i * 7 + 1);
	uint8_t *dsrc = (uint8_t *)dev_copy(src, sizeof src);
	uint8_t *ddst = (uint8_t *)dev_copy(NULL, sizeof dst);
	KN_LAUNCH(cp_async_kernel, dim3(1), dim3(32), 0, (cudaStream_t)0, (const uint8_t *)dsrc, ddst);
	assert_int_equal(cudaGetLastError(), cudaSuccess);
	assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);
	assert_int_equal(cudaMemcpy(dst, ddst, sizeof dst, cudaMemcpyDeviceToHost), cudaSuccess);
	for (int l = 0; l < 32; l++)
		for (int b = 0; b < 16; b++) {
			const int want = b < l % 17 ? src[16 * l + b] : 0;
			if (dst[16 * l + b] != want)
				fail_msg("lane %d byte %d: %d, want %d", l, b, dst[16 * l + b], want);
		}
	cudaFree(dsrc);
	cudaFree(ddst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mma_16x16x16),
		cmocka_unit_test(test_mma_multi_step),
		cmocka_unit_test(test_cp_async_zero_fill),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
