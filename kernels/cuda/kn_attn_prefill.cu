// Prefill attention over the paged cache, two implementations of one contract:
//   MMA     flash-attention-2 on tensor cores (mma.sync m16n8k16 BF16 → f32): a block of 4 warps
//           owns 64 query rows of one head, each warp 16 rows; K and V tiles of 64 keys are staged
//           in shared memory as BF16 (FP8 dequantized while staging; V transposed so its B
//           fragments are single 32-bit loads); online softmax in registers.
//   SIMPLE  one warp per (query row, head) on CUDA cores, keys one at a time, f32 throughout: the
//           reference-of-record on the device, slow for long chunks.
// Both are templates over the head_dim capacity HDC and EXACT (kn_attn_dispatch): head_dim 64 and
// 128 compile with hd known; other multiples of 16 run the next capacity with hd read at run time,
// their dims hd..HDC−1 zero in Q and the staged K (so scores are unchanged) and never written out.
#include "kn_attn.cuh"

#define KN_PF_BM 64            // query rows per block
#define KN_PF_BN KN_ATTN_PF_BN // keys per tile
#define KN_PF_THREADS 128

// Stages keys k0 .. k0 + BN − 1 of kv head kvh into Ks [key][HDC + 8] and Vt [dim][BN + 8] as BF16.
// Keys at or past kend and dims at or past hd are zeros; keys on a page outside the pool are NaN.
// hd is a multiple of 16, so a chunk lies wholly below or wholly at/after it.
template <int HDC, bool F8, bool EXACT>
__device__ __forceinline__ void kn_pf_stage(const kn_cuda_kv &kv, int layer, int kvh, const int32_t *ptab, int k0,
					    int kend, int hd, uint16_t *Ks, uint16_t *Vt)
{
	constexpr int KST = HDC + 8, VST = KN_PF_BN + 8;
	constexpr int EPC = F8 ? 16 : 8;       // elements per 16-byte chunk
	constexpr int CPR = HDC / EPC;         // chunks per row
	constexpr int NCH = KN_PF_BN * CPR;    // chunks per tile (per K or V)
	const int pt_ = kv.page_tokens;
	// K: consecutive threads read consecutive chunks of a row (coalesced) and write them as-is.
	// V: consecutive threads take consecutive keys of one chunk column, so the transposed 2-byte
	// stores of a warp fall in distinct banks.
	for (int c = threadIdx.x; c < 2 * NCH; c += KN_PF_THREADS) {
		const bool is_v = c >= NCH;
		const int cc = is_v ? c - NCH : c;
		const int row = is_v ? cc % KN_PF_BN : cc / CPR, part = is_v ? cc / KN_PF_BN : cc % CPR;
		const int key = k0 + row;
		uint32_t w[EPC / 2];
		if (key >= kend || (!EXACT && part * EPC >= hd)) {
#pragma unroll
			for (int i = 0; i < EPC / 2; i++)
				w[i] = 0u;
		} else {
			const int pg = kn_kv_page_checked(ptab, key, pt_, kv.n_pages);
			if (pg < 0) {
#pragma unroll
				for (int i = 0; i < EPC / 2; i++)
					w[i] = KN_BF16_NAN_X2;
			} else {
				const int off = kn_kv_offset_of(key, pt_);
				const size_t blk = kn_kv_block((size_t)pg, layer, is_v ? 1 : 0, kvh, kv.n_layers, kv.n_kv_heads);
				const size_t e0 = kn_kv_elem(blk, off, pt_, hd) + (size_t)part * EPC;
				if (F8) {
					const uint4 raw = *(const uint4 *)((const uint8_t *)kv.data + e0);
					const float sc = kv.scales[kn_kv_scale_at(blk, off, pt_)] * KN_F8_TRICK_SCALE;
					const uint32_t rw[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
					for (int i = 0; i < 4; i++) {
						// (value × 2^-8) × (scale × 256): one rounding, = e4m3 × scale as on the CPU
						const float2 lo = kn_e4m3x2_scaled(rw[i], KN_F8_LO_SEL);
						const float2 hi = kn_e4m3x2_scaled(rw[i], KN_F8_HI_SEL);
						w[2 * i] = kn_pack_bf16x2(lo.x * sc, lo.y * sc);
						w[2 * i + 1] = kn_pack_bf16x2(hi.x * sc, hi.y * sc);
					}
				} else {
					const uint4 raw = *(const uint4 *)((const uint16_t *)kv.data + e0);
					w[0] = raw.x, w[1] = raw.y, w[2] = raw.z, w[3] = raw.w;
				}
			}
		}
		if (!is_v) {
			uint4 *dst = (uint4 *)(Ks + row * KST + part * EPC);
#pragma unroll
			for (int i = 0; i < EPC / 8; i++)
				dst[i] = make_uint4(w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]);
		} else {
#pragma unroll
			for (int i = 0; i < EPC / 2; i++) {
				const int d = part * EPC + 2 * i;
				Vt[d * VST + row] = (uint16_t)(w[i] & 0xFFFFu);
				Vt[(d + 1) * VST + row] = (uint16_t)(w[i] >> 16);
			}
		}
	}
}

// Staging buffers above 48 KiB (capacity 256) are dynamic shared memory (kn_attn_pf_smem_bytes,
// opted into by the launcher); the smaller ones stay static.
template <int HDC>
struct kn_pf_smem {
	static constexpr int KS_ELEMS = KN_PF_BN * (HDC + 8), VT_ELEMS = HDC * (KN_PF_BN + 8);
	static constexpr bool DYN = (KS_ELEMS + VT_ELEMS) * 2 > KN_ATTN_STATIC_SMEM;
};

template <int HDC, bool F8, bool EXACT>
__global__ void __launch_bounds__(KN_PF_THREADS)
	kn_attn_prefill_mma_kernel(kn_cuda_kv kv, int layer, const uint16_t *q, int q_stride, uint16_t *out, int T,
				   int p0, const int32_t *ptab, int n_heads, float scale_log2)
{
	constexpr int BN = KN_PF_BN, KS = HDC / 16, NT = BN / 8, DT = HDC / 8;
	constexpr int KST = HDC + 8, VST = BN + 8;
	using SM = kn_pf_smem<HDC>;
	__shared__ __align__(16) uint16_t Ks_s[SM::DYN ? 8 : SM::KS_ELEMS];
	__shared__ __align__(16) uint16_t Vt_s[SM::DYN ? 8 : SM::VT_ELEMS];
	KN_DYN_SMEM(uint16_t, kn_pf_dyn);
	uint16_t *const Ks = SM::DYN ? kn_pf_dyn : Ks_s;
	uint16_t *const Vt = SM::DYN ? kn_pf_dyn + SM::KS_ELEMS : Vt_s;
	const int hd = EXACT ? HDC : kv.head_dim;

	const int n_qt = (T + KN_PF_BM - 1) / KN_PF_BM;
	const int qt = n_qt - 1 - (int)blockIdx.x; // the longest tiles first
	const int h = blockIdx.y, kvh = h / (n_heads / kv.n_kv_heads);
	const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
	const int r0 = qt * KN_PF_BM + warp * 16; // this warp's first row (token index in the chunk)

	// Q as A fragments, loaded once: rows r0 + g and r0 + g + 8, column pairs t4·2 (+8).
	uint32_t qf[KS][4];
#pragma unroll
	for (int kk = 0; kk < KS; kk++) {
#pragma unroll
		for (int i = 0; i < 4; i++) {
			const int row = r0 + g + (i & 1) * 8, col = kk * 16 + t4 * 2 + (i >> 1) * 8;
			qf[kk][i] = row < T && (EXACT || kk * 16 < hd)
					    ? *(const uint32_t *)(q + (size_t)row * q_stride + (size_t)h * hd + col)
					    : 0u;
		}
	}
	float o[DT][4];
#pragma unroll
	for (int d = 0; d < DT; d++)
		o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
	float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}; // rows g and g + 8

	const int kend = kn_attn_tile_keys(T, p0, qt * KN_PF_BM, KN_PF_BM);
	const int qpos0 = p0 + r0; // smallest query position of the warp
	for (int k0 = 0; k0 < kend; k0 += BN) {
		__syncthreads(); // every warp is done with the previous tile
		kn_pf_stage<HDC, F8, EXACT>(kv, layer, kvh, ptab, k0, kend, hd, Ks, Vt);
		__syncthreads();

		float s[NT][4];
#pragma unroll
		for (int j = 0; j < NT; j++) {
			s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
			for (int kk = 0; kk < KS; kk++) {
				const uint16_t *kr = Ks + (j * 8 + g) * KST + kk * 16 + t4 * 2;
				kn_mma_bf16_16816(s[j], qf[kk], *(const uint32_t *)kr, *(const uint32_t *)(kr + 8));
			}
		}
		// scale to log2 units; causal mask where the tile reaches past the warp's first query
		const bool mask = k0 + BN - 1 > qpos0;
#pragma unroll
		for (int j = 0; j < NT; j++)
#pragma unroll
			for (int e = 0; e < 4; e++) {
				const int key = k0 + j * 8 + t4 * 2 + (e & 1);
				const int qp = qpos0 + g + (e >> 1) * 8;
				s[j][e] = (mask && key > qp) ? -INFINITY : s[j][e] * scale_log2;
			}
#pragma unroll
		for (int rr = 0; rr < 2; rr++) {
			float mx = -INFINITY;
#pragma unroll
			for (int j = 0; j < NT; j++)
				mx = kn_nanmax(mx, kn_nanmax(s[j][2 * rr], s[j][2 * rr + 1]));
			mx = kn_nanmax(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 1));
			mx = kn_nanmax(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 2));
			const float mn = kn_nanmax(m[rr], mx);
			const float base = mn == -INFINITY ? 0.0f : mn; // a fully masked row stays at p = 0
			const float alpha = exp2f(m[rr] - base);
			float rs = 0.0f;
#pragma unroll
			for (int j = 0; j < NT; j++) {
				s[j][2 * rr] = exp2f(s[j][2 * rr] - base);
				s[j][2 * rr + 1] = exp2f(s[j][2 * rr + 1] - base);
				rs += s[j][2 * rr] + s[j][2 * rr + 1];
			}
			l[rr] = l[rr] * alpha + rs; // this thread's columns only; the quad is summed at the end
			m[rr] = mn;
#pragma unroll
			for (int d = 0; d < DT; d++) {
				o[d][2 * rr] *= alpha;
				o[d][2 * rr + 1] *= alpha;
			}
		}
		// O += P·V: the accumulators of n-tiles 2t and 2t + 1 are the A fragment of k-step t
#pragma unroll
		for (int t = 0; t < BN / 16; t++) {
			const uint32_t a[4] = {kn_pack_bf16x2(s[2 * t][0], s[2 * t][1]), kn_pack_bf16x2(s[2 * t][2], s[2 * t][3]),
					       kn_pack_bf16x2(s[2 * t + 1][0], s[2 * t + 1][1]),
					       kn_pack_bf16x2(s[2 * t + 1][2], s[2 * t + 1][3])};
#pragma unroll
			for (int d = 0; d < DT; d++) {
				const uint16_t *vr = Vt + (d * 8 + g) * VST + t * 16 + t4 * 2;
				kn_mma_bf16_16816(o[d], a, *(const uint32_t *)vr, *(const uint32_t *)(vr + 8));
			}
		}
	}
	const size_t ostride = (size_t)n_heads * hd;
#pragma unroll
	for (int rr = 0; rr < 2; rr++) {
		float lsum = l[rr];
		lsum += __shfl_xor_sync(0xFFFFFFFFu, lsum, 1);
		lsum += __shfl_xor_sync(0xFFFFFFFFu, lsum, 2);
		const float inv = 1.0f / lsum;
		const int row = r0 + g + rr * 8;
		if (row < T) {
			uint16_t *orow = out + (size_t)row * ostride + (size_t)h * hd + t4 * 2;
#pragma unroll
			for (int d = 0; d < DT; d++)
				if (EXACT || d * 8 < hd)
					*(uint32_t *)(orow + d * 8) =
						kn_pack_bf16x2(o[d][2 * rr] * inv, o[d][2 * rr + 1] * inv);
		}
	}
}

// One warp per (query row, head); lane owns HDC/32 consecutive dims, those at or past hd held at 0.
template <int HDC, bool F8, bool EXACT>
__global__ void __launch_bounds__(128)
	kn_attn_prefill_simple_kernel(kn_cuda_kv kv, int layer, const uint16_t *q, int q_stride, uint16_t *out, int T,
				      int p0, const int32_t *ptab, int n_heads, float scale_log2)
{
	constexpr int DPL = HDC / 32;
	const int hd = EXACT ? HDC : kv.head_dim;
	const size_t gw = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	const int lane = threadIdx.x & 31;
	if (gw >= (size_t)T * n_heads)
		return;
	const int row = (int)(gw / n_heads), h = (int)(gw % n_heads);
	const int kvh = h / (n_heads / kv.n_kv_heads), pt_ = kv.page_tokens;
	float qv[DPL], o[DPL];
#pragma unroll
	for (int i = 0; i < DPL; i++) {
		const bool in = EXACT || lane * DPL + i < hd;
		qv[i] = in ? kn_bf16_to_f32(q[(size_t)row * q_stride + (size_t)h * hd + lane * DPL + i]) : 0.0f;
		o[i] = 0.0f;
	}
	float m = -INFINITY, l = 0.0f;
	const int n_keys = p0 + row + 1;
	for (int key = 0; key < n_keys; key++) {
		const int pg = kn_kv_page_checked(ptab, key, pt_, kv.n_pages);
		float kf[DPL], vf[DPL];
		if (pg < 0) {
#pragma unroll
			for (int i = 0; i < DPL; i++)
				kf[i] = vf[i] = __int_as_float(0x7FC00000);
		} else {
			const int off = kn_kv_offset_of(key, pt_);
			const size_t bk = kn_kv_block((size_t)pg, layer, 0, kvh, kv.n_layers, kv.n_kv_heads);
			const size_t bv = bk + (size_t)kv.n_kv_heads;
			const size_t ek = kn_kv_elem(bk, off, pt_, hd) + lane * DPL, ev = kn_kv_elem(bv, off, pt_, hd) + lane * DPL;
			if (F8) {
				const float sk = kv.scales[kn_kv_scale_at(bk, off, pt_)];
				const float sv = kv.scales[kn_kv_scale_at(bv, off, pt_)];
#pragma unroll
				for (int i = 0; i < DPL; i++) {
					const bool in = EXACT || lane * DPL + i < hd;
					kf[i] = in ? kn_e4m3_to_f32(((const uint8_t *)kv.data)[ek + i]) * sk : 0.0f;
					vf[i] = in ? kn_e4m3_to_f32(((const uint8_t *)kv.data)[ev + i]) * sv : 0.0f;
				}
			} else {
#pragma unroll
				for (int i = 0; i < DPL; i++) {
					const bool in = EXACT || lane * DPL + i < hd;
					kf[i] = in ? kn_bf16_to_f32(((const uint16_t *)kv.data)[ek + i]) : 0.0f;
					vf[i] = in ? kn_bf16_to_f32(((const uint16_t *)kv.data)[ev + i]) : 0.0f;
				}
			}
		}
		float acc = 0.0f;
#pragma unroll
		for (int i = 0; i < DPL; i++)
			acc = fmaf(qv[i], kf[i], acc);
		for (int off = 16; off > 0; off >>= 1)
			acc += __shfl_xor_sync(0xFFFFFFFFu, acc, off);
		const float s = acc * scale_log2;
		const float mn = kn_nanmax(m, s);
		const float alpha = exp2f(m - mn), p = exp2f(s - mn);
		l = l * alpha + p;
#pragma unroll
		for (int i = 0; i < DPL; i++)
			o[i] = fmaf(p, vf[i], o[i] * alpha);
		m = mn;
	}
	const float inv = 1.0f / l;
#pragma unroll
	for (int i = 0; i < DPL; i++)
		if (EXACT || lane * DPL + i < hd)
			out[(size_t)row * n_heads * hd + (size_t)h * hd + lane * DPL + i] = kn_f32_to_bf16(o[i] * inv);
}

template <int HDC, bool F8, bool EXACT>
struct kn_pf_launch {
	static cudaError_t run(int impl, cudaStream_t st, const kn_cuda_kv *kv, int layer, const uint16_t *q,
			       int q_stride, uint16_t *out, int T, int p0, const int32_t *pt, int n_heads, float sl2)
	{
		if (impl == KN_CUDA_PREFILL_SIMPLE) {
			const size_t blocks = ((size_t)T * n_heads + 3) / 4;
			auto k = kn_attn_prefill_simple_kernel<HDC, F8, EXACT>;
			KN_LAUNCH(k, (unsigned)blocks, 128, 0, st, *kv, layer, q, q_stride, out, T, p0, pt, n_heads, sl2);
			return cudaSuccess;
		}
		// One pointer for the attribute and the launch (the emulator keys the opt-in on it).
		auto k = kn_attn_prefill_mma_kernel<HDC, F8, EXACT>;
		size_t dyn = 0;
		if (kn_pf_smem<HDC>::DYN) {
			// The opt-in is per function and cheap; setting it at every launch keeps no host state.
			// It is not a stream operation, so it is also legal inside a graph capture (FlashAttention
			// does the same per launch under captured graphs); the runtime does not capture prefill.
			dyn = kn_attn_pf_smem_bytes(HDC);
			const cudaError_t e = cudaFuncSetAttribute((const void *)k, cudaFuncAttributeMaxDynamicSharedMemorySize,
								   (int)dyn);
			if (e != cudaSuccess)
				return e;
		}
		const dim3 grid((unsigned)((T + KN_PF_BM - 1) / KN_PF_BM), (unsigned)n_heads);
		KN_LAUNCH(k, grid, KN_PF_THREADS, dyn, st, *kv, layer, q, q_stride, out, T, p0, pt, n_heads, sl2);
		return cudaSuccess;
	}
};

extern "C" int kn_cuda_attn_prefill_impl(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride,
					 void *out_bf16, int T, int p0, const void *page_table_i32, int n_heads,
					 int impl, void *stream, char *err, size_t errlen)
{
	if (kn_attn_check("kn_cuda_attn_prefill", kv, layer, q_bf16, q_stride, out_bf16, n_heads, err, errlen))
		return -1;
	if (impl != KN_CUDA_PREFILL_AUTO && impl != KN_CUDA_PREFILL_MMA && impl != KN_CUDA_PREFILL_SIMPLE)
		return kn_fail(err, errlen, "kn_cuda_attn_prefill: unknown implementation %d", impl);
	if (T < 1 || p0 < 0 || (long long)p0 + T > (long long)kv->n_pages * kv->page_tokens ||
	    (size_t)T * (size_t)n_heads > (size_t)INT_MAX)
		return kn_fail(err, errlen, "kn_cuda_attn_prefill: bad T %d or p0 %d (pool of %lld positions)", T, p0,
			       (long long)kv->n_pages * kv->page_tokens);
	if (!page_table_i32 || kn_misaligned(page_table_i32, 4))
		return kn_fail(err, errlen, "kn_cuda_attn_prefill: NULL or misaligned page table");
	const float sl2 = 1.4426950408889634f / sqrtf((float)kv->head_dim);
	const cudaStream_t st = kn_stream(stream);
	const uint16_t *q = (const uint16_t *)q_bf16;
	uint16_t *out = (uint16_t *)out_bf16;
	const int32_t *pt = (const int32_t *)page_table_i32;
	const cudaError_t e = kn_attn_dispatch<kn_pf_launch>(kv->head_dim, kv->kv_type == KN_CUDA_KV_F8, impl, st, kv,
							      layer, q, q_stride, out, T, p0, pt, n_heads, sl2);
	if (e != cudaSuccess)
		return kn_cuda_status(e, "kn_cuda_attn_prefill: shared memory opt-in", err, errlen);
	return kn_launch_status(impl == KN_CUDA_PREFILL_SIMPLE ? "kn_attn_prefill_simple_kernel"
							       : "kn_attn_prefill_mma_kernel",
				err, errlen);
}

extern "C" int kn_cuda_attn_prefill(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16,
				    int T, int p0, const void *page_table_i32, int n_heads, void *stream, char *err,
				    size_t errlen)
{
	return kn_cuda_attn_prefill_impl(kv, layer, q_bf16, q_stride, out_bf16, T, p0, page_table_i32, n_heads,
					 KN_CUDA_PREFILL_AUTO, stream, err, errlen);
}
