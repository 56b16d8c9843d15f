// Decode GEMV / skinny GEMM kernel template: y[m][n] = x[m][k] · dequant(W[n][k])ᵀ, m ≤ 16.
//
// Memory-bound design (decode reads every weight byte once per token):
//   - a block is KN_GEMV_WARPS warps; each warp owns R consecutive rows of W and streams them
//     with 16-byte loads (ld.global.cs: read once, evict first), U vectors per lane in flight;
//     each weight vector is converted once and used for all m activation rows;
//   - x is staged in shared memory as BF16 in K tiles (all m rows of a tile fit in 48 KiB); for
//     8-bit weights a 16-element chunk's x is split into two 8-element slots stored in separate
//     planes, so a warp's 16-byte shared loads are unit-stride (no bank conflicts);
//   - f32 accumulation; GROUP scales multiply each 16-element partial dot (16 divides every
//     group size), ROW scales multiply the final sum, as the CPU fast path does;
//   - rows that are not 16-byte aligned (k·size % 16 ≠ 0 or an unaligned base) and the K tail
//     take an element-wise path with the exact decoders, so any n and k are correct;
//   - SwiGLU epilogue: R is even (2 when the m tile alone would pick 1) and row0 is a multiple
//     of R, so a warp holds gate row 2j and up row 2j + 1 together and writes silu(g)·u from the
//     two f32 sums (each scaled first) without a round trip through memory.
// Instantiated per weight kind in kn_gemv_{bf16,i8,f8}.cu (5 m-tiles each) to keep compile
// units small and parallel.
#ifndef BALE_KN_GEMV_CUH
#define BALE_KN_GEMV_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "kn_conv.cuh"
#include "kn_cuda_internal.cuh"
#include "kn_ptx.cuh"

enum { KN_WK_BF16 = 0, KN_WK_I8 = 1, KN_WK_F8 = 2 };

#define KN_GEMV_WARPS 8
#define KN_GEMV_SMEM_MAX 49152

struct kn_gemv_args {
	const uint8_t *w;     // codes (or BF16 bits), row-major [n][k]
	const float *scales;  // [n][k/group] or [n]; NULL for BF16
	const uint16_t *x;    // BF16 [m][k]
	void *y;              // BF16 or f32 [m][n]
	const void *resid;    // y's type [m][n] or NULL
	int m, n, k;
	int group;            // GROUP size, 0 for ROW / NONE
	int kt;               // x tile length in elements (multiple of 16)
	int vec;              // every row starts 16-byte aligned
	int x_vec;            // x rows are 16-byte aligned (x aligned and k % 8 == 0)
	int out_f32;
	int swiglu;           // rows interleaved gate/up; y is [m][n/2] (n even, no resid)
};

int kn_gemv_launch_bf16(int mt, const kn_gemv_args *a, cudaStream_t s, char *err, size_t errlen);
int kn_gemv_launch_i8(int mt, const kn_gemv_args *a, cudaStream_t s, char *err, size_t errlen);
int kn_gemv_launch_f8(int mt, const kn_gemv_args *a, cudaStream_t s, char *err, size_t errlen);

#if defined(__CUDACC__) || defined(KN_EMU)

// The hot loop's E4M3 values are scaled by this factor: 1 with the hardware conversion (sm_89+),
// 2^-8 with the bit trick of kn_conv.cuh (sm_80); the sum is multiplied back once per row.
__device__ __forceinline__ float kn_f8_unscale()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
	return 1.0f;
#else
	return KN_F8_TRICK_SCALE;
#endif
}

__device__ __forceinline__ float2 kn_f8x2_to_float2(uint32_t w, bool hi)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
	__half2_raw r = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(hi ? w >> 16 : w & 0xFFFFu), __NV_E4M3);
	return __half22float2(__half2(r));
#else
	uint32_t h = kn_e4m3x2_to_f16x2_scaled(w, hi ? KN_F8_HI_SEL : KN_F8_LO_SEL);
	__half2_raw r;
	r.x = (unsigned short)(h & 0xFFFFu);
	r.y = (unsigned short)(h >> 16);
	return __half22float2(__half2(r));
#endif
}

// One 16-byte weight vector as floats (VW of them), in element order.
template <int KIND>
__device__ __forceinline__ void kn_unpack_w(const uint4 &v, float *f)
{
	const uint32_t wd[4] = {v.x, v.y, v.z, v.w};
	if (KIND == KN_WK_BF16) {
#pragma unroll
		for (int q = 0; q < 4; q++) {
			f[2 * q] = kn_bf16_lo(wd[q]);
			f[2 * q + 1] = kn_bf16_hi(wd[q]);
		}
	} else if (KIND == KN_WK_I8) {
#pragma unroll
		for (int q = 0; q < 4; q++)
			kn_i8x4_to_f32(wd[q], f + 4 * q);
	} else {
#pragma unroll
		for (int q = 0; q < 4; q++) {
			float2 a = kn_f8x2_to_float2(wd[q], false), b = kn_f8x2_to_float2(wd[q], true);
			f[4 * q] = a.x;
			f[4 * q + 1] = a.y;
			f[4 * q + 2] = b.x;
			f[4 * q + 3] = b.y;
		}
	}
}

// silu(g)·u with the operations of kn_swiglu / kn_swiglu_kernel (no contraction into FMAs).
__device__ __forceinline__ float kn_silu_mul(float g, float u)
{
	return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), u);
}

// Element c of a row, decoded exactly, in the hot loop's units (E4M3 times 2^-8 on sm_80).
template <int KIND>
__device__ __forceinline__ float kn_w_elem(const uint8_t *row, int c)
{
	if (KIND == KN_WK_BF16)
		return kn_bf16_to_f32(((const uint16_t *)row)[c]);
	if (KIND == KN_WK_I8)
		return (float)(int8_t)row[c];
	return kn_e4m3_to_f32(row[c]) * (1.0f / kn_f8_unscale());
}

// x tile slot of element j (see the header comment): slot index × 8 + j % 8, in uint16 units.
template <int VW>
__device__ __forceinline__ int kn_xs_index(int i, int j, int cpl)
{
	constexpr int H = VW / 8;
	return ((i * H + (j % VW) / 8) * cpl + j / VW) * 8 + (j & 7);
}

template <int KIND, int MT, int R, int U>
__global__ void __launch_bounds__(KN_GEMV_WARPS * 32) kn_gemv_kernel(const kn_gemv_args a)
{
	constexpr int VW = KIND == KN_WK_BF16 ? 8 : 16;
	constexpr int ESZ = KIND == KN_WK_BF16 ? 2 : 1;
	constexpr int H = VW / 8;
	KN_DYN_SMEM(uint4, xs);
	uint16_t *xs16 = reinterpret_cast<uint16_t *>(xs);

	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const int row0 = (blockIdx.x * KN_GEMV_WARPS + warp) * R;
	const int m = a.m, k = a.k, cpl = a.kt / VW;
	const bool active = row0 < a.n;
	const bool grp = a.group != 0;
	const size_t gpr = grp ? (size_t)(k / a.group) : 1;

	// Rows past n (the last warp's) alias row n-1 so loads need no guard; their sums are dropped.
	const uint8_t *rowp[R];
#pragma unroll
	for (int r = 0; r < R; r++)
		rowp[r] = a.w + (size_t)min(row0 + r, a.n - 1) * (size_t)k * ESZ;

	float acc[R][MT];
#pragma unroll
	for (int r = 0; r < R; r++)
#pragma unroll
		for (int i = 0; i < MT; i++)
			acc[r][i] = 0.0f;

	for (int k0 = 0; k0 < k; k0 += a.kt) {
		const int len = min(a.kt, k - k0);
		const int slots = (len + 7) / 8;
		__syncthreads(); // the previous tile is no longer read
		for (int t = threadIdx.x; t < m * slots; t += blockDim.x) {
			const int i = t / slots, j = (t - i * slots) * 8;
			const uint16_t *src = a.x + (size_t)i * k + k0 + j;
			uint4 *dst = reinterpret_cast<uint4 *>(xs16 + kn_xs_index<VW>(i, j, cpl));
			if (a.x_vec && j + 8 <= len) {
				*dst = __ldg(reinterpret_cast<const uint4 *>(src));
			} else {
				uint16_t e[8];
#pragma unroll
				for (int q = 0; q < 8; q++)
					e[q] = j + q < len ? src[q] : 0;
				*dst = make_uint4(e[0] | (uint32_t)e[1] << 16, e[2] | (uint32_t)e[3] << 16,
						  e[4] | (uint32_t)e[5] << 16, e[6] | (uint32_t)e[7] << 16);
			}
		}
		__syncthreads();
		if (!active)
			continue;

		const int nvec = a.vec ? len / VW : 0;
		for (int c = lane; c < nvec; c += 32 * U) {
			uint4 wv[U][R];
#pragma unroll
			for (int u = 0; u < U; u++)
#pragma unroll
				for (int r = 0; r < R; r++) {
					const int cc = min(c + u * 32, nvec - 1);
					wv[u][r] = __ldcs(reinterpret_cast<const uint4 *>(rowp[r] + (size_t)(k0 + cc * VW) * ESZ));
				}
#pragma unroll
			for (int u = 0; u < U; u++) {
				const int cc = c + u * 32;
				if (cc >= nvec)
					break;
				float wf[R][VW], gs[R];
#pragma unroll
				for (int r = 0; r < R; r++) {
					kn_unpack_w<KIND>(wv[u][r], wf[r]);
					gs[r] = grp ? __ldg(a.scales + (size_t)min(row0 + r, a.n - 1) * gpr +
								(k0 + cc * VW) / a.group)
						    : 1.0f;
				}
#pragma unroll
				for (int i = 0; i < MT; i++) {
					if (i >= m)
						break;
					float xf[VW];
#pragma unroll
					for (int h = 0; h < H; h++) {
						const uint4 xv = xs[(i * H + h) * cpl + cc];
						const uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
						for (int q = 0; q < 4; q++) {
							xf[h * 8 + 2 * q] = kn_bf16_lo(xw[q]);
							xf[h * 8 + 2 * q + 1] = kn_bf16_hi(xw[q]);
						}
					}
#pragma unroll
					for (int r = 0; r < R; r++) {
						float p0 = 0.0f, p1 = 0.0f;
#pragma unroll
						for (int e = 0; e < VW; e += 2) {
							p0 = fmaf(xf[e], wf[r][e], p0);
							p1 = fmaf(xf[e + 1], wf[r][e + 1], p1);
						}
						acc[r][i] = grp ? fmaf(p0 + p1, gs[r], acc[r][i]) : acc[r][i] + (p0 + p1);
					}
				}
			}
		}
		// Element-wise remainder: the K tail, or the whole tile when rows are unaligned.
		for (int j = nvec * VW + lane; j < len; j += 32) {
#pragma unroll
			for (int r = 0; r < R; r++) {
				float wv1 = kn_w_elem<KIND>(rowp[r], k0 + j);
				if (grp)
					wv1 *= __ldg(a.scales + (size_t)min(row0 + r, a.n - 1) * gpr + (k0 + j) / a.group);
#pragma unroll
				for (int i = 0; i < MT; i++) {
					if (i >= m)
						break;
					acc[r][i] = fmaf(kn_bf16_to_f32(xs16[kn_xs_index<VW>(i, j, cpl)]), wv1, acc[r][i]);
				}
			}
		}
	}
	if (!active)
		return;

#pragma unroll
	for (int r = 0; r < R; r++)
#pragma unroll
		for (int i = 0; i < MT; i++)
#pragma unroll
			for (int o = 16; o > 0; o >>= 1)
				acc[r][i] += __shfl_xor_sync(0xFFFFFFFFu, acc[r][i], o);

	// Every lane holds every sum after the butterfly; scale them in the hot loop's units first.
#pragma unroll
	for (int r = 0; r < R; r++) {
		const int row = min(row0 + r, a.n - 1);
		float f = KIND == KN_WK_F8 ? kn_f8_unscale() : 1.0f;
		if (!grp && KIND != KN_WK_BF16)
			f *= __ldg(a.scales + row);
#pragma unroll
		for (int i = 0; i < MT; i++)
			acc[r][i] *= f;
	}
	if (a.swiglu) {
		// Lane p·MT + i writes output (i, row0/2 + p) from rows row0 + 2p (gate), + 2p + 1 (up).
		static_assert(R % 2 == 0 || R == 1, "swiglu pairs rows within a warp");
		if (R % 2 != 0)
			return; // never launched: the host picks an even R for swiglu
		float v = 0.0f;
		int p_out = -1, i_out = -1;
#pragma unroll
		for (int p = 0; p < R / 2; p++)
#pragma unroll
			for (int i = 0; i < MT; i++)
				if (lane == p * MT + i) {
					v = kn_silu_mul(acc[(2 * p) % R][i], acc[(2 * p + 1) % R][i]);
					p_out = p;
					i_out = i;
				}
		if (p_out < 0 || i_out >= m || row0 + 2 * p_out + 1 >= a.n)
			return;
		const size_t n_out = (size_t)(a.n / 2);
		const size_t o = (size_t)i_out * n_out + (size_t)(row0 / 2 + p_out);
		if (a.out_f32)
			((float *)a.y)[o] = v;
		else
			((uint16_t *)a.y)[o] = kn_f32_to_bf16(v);
		return;
	}

	// Lane r·MT + i writes output (i, row0 + r); R·MT ≤ 32.
	float v = 0.0f;
	int r_out = -1, i_out = -1;
#pragma unroll
	for (int r = 0; r < R; r++)
#pragma unroll
		for (int i = 0; i < MT; i++)
			if (lane == r * MT + i) {
				v = acc[r][i];
				r_out = r;
				i_out = i;
			}
	if (r_out < 0 || i_out >= m || row0 + r_out >= a.n)
		return;
	const int row = row0 + r_out;
	const size_t o = (size_t)i_out * a.n + row;
	if (a.out_f32) {
		if (a.resid)
			v += ((const float *)a.resid)[o];
		((float *)a.y)[o] = v;
	} else {
		if (a.resid)
			v += kn_bf16_to_f32(((const uint16_t *)a.resid)[o]);
		((uint16_t *)a.y)[o] = kn_f32_to_bf16(v);
	}
}

// Rows per warp and vectors in flight per lane for each m tile: more rows share each x read at
// large m (the kernel turns compute-bound there), fewer keep the grid wide at small m.
template <int MT>
struct kn_gemv_cfg {
	static constexpr int R = MT >= 4 ? 2 : 1;
	static constexpr int U = MT >= 8 ? 2 : 4;
};

template <int KIND, int MT, int R, int U>
static int kn_gemv_launch_r(const kn_gemv_args *a, cudaStream_t s, char *err, size_t errlen)
{
	const unsigned rows_per_block = KN_GEMV_WARPS * R;
	const unsigned grid = (unsigned)(((size_t)a->n + rows_per_block - 1) / rows_per_block);
	const size_t smem = (size_t)a->m * (size_t)a->kt * 2;
	auto k = kn_gemv_kernel<KIND, MT, R, U>;
	KN_LAUNCH(k, grid, KN_GEMV_WARPS * 32, smem, s, *a);
	return kn_launch_status("kn_gemv_kernel", err, errlen);
}

// SwiGLU needs an even R (gate and up rows in one warp); the small m tiles get a second
// instantiation with R = 2 rather than changing the tuned decode configuration.
template <int KIND, int MT>
static int kn_gemv_launch_mt(const kn_gemv_args *a, cudaStream_t s, char *err, size_t errlen)
{
	constexpr int R = kn_gemv_cfg<MT>::R, U = kn_gemv_cfg<MT>::U;
	if (a->swiglu && R % 2 != 0)
		return kn_gemv_launch_r<KIND, MT, 2, U>(a, s, err, errlen);
	return kn_gemv_launch_r<KIND, MT, R, U>(a, s, err, errlen);
}

#define KN_GEMV_DEFINE_LAUNCH(name, KIND)                                                       \
	int name(int mt, const kn_gemv_args *a, cudaStream_t s, char *err, size_t errlen)        \
	{                                                                                        \
		switch (mt) {                                                                    \
		case 1: return kn_gemv_launch_mt<KIND, 1>(a, s, err, errlen);                    \
		case 2: return kn_gemv_launch_mt<KIND, 2>(a, s, err, errlen);                    \
		case 4: return kn_gemv_launch_mt<KIND, 4>(a, s, err, errlen);                    \
		case 8: return kn_gemv_launch_mt<KIND, 8>(a, s, err, errlen);                    \
		case 16: return kn_gemv_launch_mt<KIND, 16>(a, s, err, errlen);                  \
		default: return kn_fail(err, errlen, "kn_cuda_gemv: internal: bad m tile %d", mt); \
		}                                                                                \
	}

#endif // __CUDACC__ || KN_EMU
#endif
