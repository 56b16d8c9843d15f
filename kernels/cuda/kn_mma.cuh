// Prefill GEMM on the BF16 tensor cores (mma.sync.m16n8k16, sm_80+) with weights dequantized in
// registers: y[m][n] = x[m][k] · dequant(W[n][k])ᵀ for any m, n, k.
//
// Block tile BM × 128 × 32 (BM = 64 or 128: 32·MI), 8 warps as 2 (m) × 4 (n), warp tile
// 16·MI × 32; f32 accumulators in registers. Double-buffered K loop: while the tensor cores work
// on tile t, the x tile t+1 arrives by cp.async and the weight tile t+1 is in flight in
// registers (16-byte loads of codes); after the MMAs the codes are decoded (kn_unpack_w, shared
// with the GEMV), multiplied by the GROUP scale when there is one (code × scale in binary32, then
// rounded to BF16), and stored to shared memory as BF16. Fragments come from ldmatrix; rows are
// padded to 40 elements (80 bytes), so the 8 row addresses of each 8×8 matrix hit distinct banks.
//
// Scales: GROUP scales are applied per element before the MMA (the tile's 32 columns lie in one
// group); ROW scales (and BF16's none) multiply the f32 accumulator in the epilogue, so for ROW
// weights the MMA sees the exact codes (int8 and E4M3 values are exact in BF16) and the result
// is scale · Σ x·code. On sm_80 E4M3 codes are decoded ×2^-8 (kn_conv.cuh) and the epilogue
// multiplies 2^8 back.
//
// Out-of-range rows of x or W and the K tail are zero in shared memory; unaligned rows (x: k % 8
// or base; W: k·size % 16 or base) are loaded element by element. Epilogue: row scale, then
// residual / out_f32 / SwiGLU (accumulator columns 2t, 2t+1 of a lane are a gate/up pair).
// Instantiated per weight kind in kn_mma_{bf16,i8,f8}.cu.
#ifndef BALE_KN_MMA_CUH
#define BALE_KN_MMA_CUH

#include "kn_gemv.cuh"

#define KN_MMA_BN 128
#define KN_MMA_BK 32
#define KN_MMA_LDS (KN_MMA_BK + 8)
#define KN_MMA_THREADS 256
#define KN_MMA_MAX_NTILES 65535 // grid y

struct kn_mma_args {
	const uint8_t *w;    // codes (or BF16 bits), row-major [n][k]
	const float *scales; // [n][k/group] or [n]; NULL for BF16
	const uint16_t *x;   // BF16 [m][k]
	void *y;             // BF16 or f32 [m][n] ([m][n/2] with swiglu)
	const void *resid;   // y's type and shape, or NULL
	int m, n, k;
	int group;           // GROUP size, 0 for ROW / NONE
	int vec;             // W rows 16-byte aligned (base aligned and k·size % 16 == 0)
	int x_vec;           // x rows 16-byte aligned (base aligned and k % 8 == 0)
	int out_f32, swiglu;
};

// mi: m16 tiles per warp, 2 (BM 64) or 4 (BM 128).
int kn_mma_launch_bf16(int mi, const kn_mma_args *a, cudaStream_t s, char *err, size_t errlen);
int kn_mma_launch_i8(int mi, const kn_mma_args *a, cudaStream_t s, char *err, size_t errlen);
int kn_mma_launch_f8(int mi, const kn_mma_args *a, cudaStream_t s, char *err, size_t errlen);

#if defined(__CUDACC__) || defined(KN_EMU)

#include "kn_mma_frag.h"
#include "kn_ptx.cuh"

// Two floats as a BF16 pair (round to nearest even; lo in the low half, the lower address).
__device__ __forceinline__ uint32_t kn_pack_bf16x2(float lo, float hi)
{
	return (uint32_t)kn_f32_to_bf16(lo) | ((uint32_t)kn_f32_to_bf16(hi) << 16);
}

template <int KIND, int MI>
__global__ void __launch_bounds__(KN_MMA_THREADS) kn_mma_kernel(const kn_mma_args a)
{
	constexpr int BM = 32 * MI, BN = KN_MMA_BN, BK = KN_MMA_BK, LDS = KN_MMA_LDS;
	constexpr int NI = 4;                                    // n8 tiles per warp (32 columns)
	constexpr int VW = KIND == KN_WK_BF16 ? 8 : 16;          // weight elements per 16-byte vector
	constexpr int ESZ = KIND == KN_WK_BF16 ? 2 : 1;
	constexpr int WVR = BK / VW;                             // weight vectors per tile row
	constexpr int WV = BN * WVR / KN_MMA_THREADS;            // weight vectors per thread
	constexpr int XV = BM * (BK / 8) / KN_MMA_THREADS;       // x 8-element chunks per thread
	static_assert(WV >= 1 && BN * WVR == WV * KN_MMA_THREADS, "weight tile split");
	static_assert(XV >= 1 && BM * (BK / 8) == XV * KN_MMA_THREADS, "x tile split");

	__shared__ __align__(16) uint16_t xs[2][BM][LDS];
	__shared__ __align__(16) uint16_t ws[2][BN][LDS];

	const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
	const int warp_m = warp >> 2, warp_n = warp & 3;
	const int m = a.m, n = a.n, k = a.k;
	const size_t m0 = (size_t)blockIdx.x * BM, n0 = (size_t)blockIdx.y * BN;
	const int ktiles = (k + BK - 1) / BK;
	const size_t gpr = a.group ? (size_t)(k / a.group) : 1;

	float acc[MI][NI][4];
#pragma unroll
	for (int i = 0; i < MI; i++)
#pragma unroll
		for (int j = 0; j < NI; j++)
#pragma unroll
			for (int r = 0; r < 4; r++)
				acc[i][j][r] = 0.0f;

	uint4 wreg[WV];

	// x tile kt → xs[buf]: cp.async when rows are aligned (an 8-element chunk is then wholly in
	// or out of [0, k)), else element by element.
	auto load_x = [&](int kt, int buf) {
#pragma unroll
		for (int v = 0; v < XV; v++) {
			const int idx = tid + v * KN_MMA_THREADS;
			const int row = idx / (BK / 8), col = (idx % (BK / 8)) * 8;
			const size_t gm = m0 + (size_t)row;
			const int gk = kt * BK + col;
			uint16_t *dst = &xs[buf][row][col];
			if (a.x_vec) {
				const bool ok = gm < (size_t)m && gk < k;
				const uint16_t *src = ok ? a.x + gm * (size_t)k + gk : a.x;
				kn_cp_async_16(dst, src, ok ? 16 : 0);
			} else {
				uint32_t e[8];
#pragma unroll
				for (int q = 0; q < 8; q++)
					e[q] = gm < (size_t)m && gk + q < k ? a.x[gm * (size_t)k + gk + q] : 0u;
				*reinterpret_cast<uint4 *>(dst) =
					make_uint4(e[0] | e[1] << 16, e[2] | e[3] << 16, e[4] | e[5] << 16, e[6] | e[7] << 16);
			}
		}
	};

	// Weight vectors of tile kt into registers (aligned rows only; the element path loads in
	// store_w). A vector is wholly in or out of [0, k) since k % VW == 0 there.
	auto load_w = [&](int kt) {
		if (!a.vec)
			return;
#pragma unroll
		for (int v = 0; v < WV; v++) {
			const int idx = tid + v * KN_MMA_THREADS;
			const int row = idx / WVR, col = (idx % WVR) * VW;
			const size_t gn = n0 + (size_t)row;
			const int gk = kt * BK + col;
			if (gn < (size_t)n && gk < k)
				wreg[v] = __ldg(reinterpret_cast<const uint4 *>(a.w + (gn * (size_t)k + gk) * ESZ));
			else
				wreg[v] = make_uint4(0u, 0u, 0u, 0u);
		}
	};

	// Decode (and group-scale) tile kt into ws[buf] as BF16.
	auto store_w = [&](int kt, int buf) {
#pragma unroll
		for (int v = 0; v < WV; v++) {
			const int idx = tid + v * KN_MMA_THREADS;
			const int row = idx / WVR, col = (idx % WVR) * VW;
			const size_t gn = n0 + (size_t)row;
			const int gk = kt * BK + col;
			const bool row_ok = gn < (size_t)n;
			float f[VW];
			if (a.vec) {
				kn_unpack_w<KIND>(wreg[v], f);
			} else {
				const uint8_t *rp = a.w + (row_ok ? gn : 0) * (size_t)k * ESZ;
#pragma unroll
				for (int e = 0; e < VW; e++)
					f[e] = row_ok && gk + e < k ? kn_w_elem<KIND>(rp, gk + e) : 0.0f;
			}
			if (a.group) {
				// gk is a multiple of 16 and the group of 32, 64 or 128: one group per vector.
				const float s = row_ok && gk < k ? __ldg(a.scales + gn * gpr + (size_t)(gk / a.group)) : 0.0f;
#pragma unroll
				for (int e = 0; e < VW; e++)
					f[e] = __fmul_rn(f[e], s);
			}
#pragma unroll
			for (int h = 0; h < VW / 8; h++)
				*reinterpret_cast<uint4 *>(&ws[buf][row][col + 8 * h]) =
					make_uint4(kn_pack_bf16x2(f[8 * h], f[8 * h + 1]), kn_pack_bf16x2(f[8 * h + 2], f[8 * h + 3]),
						   kn_pack_bf16x2(f[8 * h + 4], f[8 * h + 5]),
						   kn_pack_bf16x2(f[8 * h + 6], f[8 * h + 7]));
		}
	};

	auto compute = [&](int buf) {
#pragma unroll
		for (int ks = 0; ks < BK / 16; ks++) {
			uint32_t af[MI][4], bfr[NI][2];
			int ar, ac, bn, bk;
			kn_mma_a_addr(lane, &ar, &ac);
			kn_mma_b_addr(lane, &bn, &bk);
#pragma unroll
			for (int i = 0; i < MI; i++)
				kn_ldmatrix_x4(af[i], &xs[buf][warp_m * 16 * MI + i * 16 + ar][ks * 16 + ac]);
#pragma unroll
			for (int j = 0; j < NI / 2; j++) {
				uint32_t r[4];
				kn_ldmatrix_x4(r, &ws[buf][warp_n * 32 + j * 16 + bn][ks * 16 + bk]);
				bfr[2 * j][0] = r[0];
				bfr[2 * j][1] = r[1];
				bfr[2 * j + 1][0] = r[2];
				bfr[2 * j + 1][1] = r[3];
			}
#pragma unroll
			for (int i = 0; i < MI; i++)
#pragma unroll
				for (int j = 0; j < NI; j++)
					kn_mma_bf16_16816(acc[i][j], af[i], bfr[j][0], bfr[j][1]);
		}
	};

	load_x(0, 0);
	kn_cp_async_commit();
	load_w(0);
	store_w(0, 0);
	kn_cp_async_wait<0>();
	__syncthreads();
	for (int kt = 0; kt < ktiles; kt++) {
		const int cur = kt & 1, nxt = cur ^ 1;
		const bool more = kt + 1 < ktiles;
		// Buffer nxt was last read in iteration kt − 1, which ended with a barrier.
		if (more) {
			load_x(kt + 1, nxt);
			kn_cp_async_commit();
			load_w(kt + 1);
		}
		compute(cur);
		if (more)
			store_w(kt + 1, nxt);
		kn_cp_async_wait<0>();
		__syncthreads();
	}

	// ---- epilogue ----
	const bool row_scale = a.group == 0 && KIND != KN_WK_BF16;
	const float unscale = KIND == KN_WK_F8 ? kn_f8_unscale() : 1.0f;
	const size_t n_out = a.swiglu ? (size_t)(n / 2) : (size_t)n;
#pragma unroll
	for (int i = 0; i < MI; i++)
#pragma unroll
		for (int j = 0; j < NI; j++)
#pragma unroll
			for (int h = 0; h < 2; h++) {
				int rr, cc;
				kn_mma_c_pos(lane, 2 * h, &rr, &cc);
				const size_t gm = m0 + (size_t)(warp_m * 16 * MI + i * 16 + rr);
				const size_t gn = n0 + (size_t)(warp_n * 32 + j * 8 + cc); // even
				if (gm >= (size_t)m || gn >= (size_t)n)
					continue;
				float v[2] = {acc[i][j][2 * h], acc[i][j][2 * h + 1]};
#pragma unroll
				for (int c = 0; c < 2; c++)
					if (gn + c < (size_t)n) {
						v[c] *= unscale;
						if (row_scale)
							v[c] *= __ldg(a.scales + gn + c);
					}
				if (a.swiglu) {
					// n is even, so gn + 1 < n: gate row gn, up row gn + 1.
					const float o = kn_silu_mul(v[0], v[1]);
					const size_t idx = gm * n_out + gn / 2;
					if (a.out_f32)
						((float *)a.y)[idx] = o;
					else
						((uint16_t *)a.y)[idx] = kn_f32_to_bf16(o);
					continue;
				}
#pragma unroll
				for (int c = 0; c < 2; c++) {
					if (gn + c >= (size_t)n)
						break;
					const size_t idx = gm * n_out + gn + c;
					float o = v[c];
					if (a.out_f32) {
						if (a.resid)
							o += ((const float *)a.resid)[idx];
						((float *)a.y)[idx] = o;
					} else {
						if (a.resid)
							o += kn_bf16_to_f32(((const uint16_t *)a.resid)[idx]);
						((uint16_t *)a.y)[idx] = kn_f32_to_bf16(o);
					}
				}
			}
}

template <int KIND, int MI>
static int kn_mma_launch_mi(const kn_mma_args *a, cudaStream_t s, char *err, size_t errlen)
{
	const size_t bm = 32 * MI;
	const dim3 grid((unsigned)(((size_t)a->m + bm - 1) / bm), (unsigned)(((size_t)a->n + KN_MMA_BN - 1) / KN_MMA_BN));
	auto k = kn_mma_kernel<KIND, MI>;
	KN_LAUNCH(k, grid, KN_MMA_THREADS, 0, s, *a);
	return kn_launch_status("kn_mma_kernel", err, errlen);
}

#define KN_MMA_DEFINE_LAUNCH(name, KIND)                                                         \
	int name(int mi, const kn_mma_args *a, cudaStream_t s, char *err, size_t errlen)          \
	{                                                                                         \
		switch (mi) {                                                                     \
		case 2: return kn_mma_launch_mi<KIND, 2>(a, s, err, errlen);                      \
		case 4: return kn_mma_launch_mi<KIND, 4>(a, s, err, errlen);                      \
		default: return kn_fail(err, errlen, "kn_cuda_matmul: internal: bad MMA tile %d", mi); \
		}                                                                                 \
	}

#endif // __CUDACC__ || KN_EMU
#endif
