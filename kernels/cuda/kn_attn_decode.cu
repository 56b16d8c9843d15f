// Decode attention over the paged cache (flash-decoding): kn_attn_decode_kernel computes, for one
// (split, kv head, sequence), the partial softmax of the kv head's query group over the split's
// positions; kn_attn_merge_kernel combines the splits. Memory-bound: each K/V row is read once per
// step by one lane group with 16-byte (BF16) or 8-byte (FP8) loads, U keys per group in flight.
// Templates over the head_dim capacity HDC and EXACT as in kn_attn_prefill.cu: a generic dim hd
// runs lane groups of HDC / 8 lanes of which the first hd / 8 load and write; the others hold zeros
// and only take part in the group's shuffles.
#include "kn_attn.cuh"

#define KN_DEC_THREADS 128
#define KN_DEC_U 4      // keys per lane group per iteration (loads issued before any use)
#define KN_DEC_GMAX 8   // largest query group (n_heads / n_kv_heads) supported

// Lane groups of L = HDC / 8 lanes each own one key at a time, 8 dims per lane; every group keeps
// its own running (max, sum, output) for the G query heads, merged across groups and warps at the
// end. Scores are in log2 units (scale · log2 e folded in) so exp2f replaces expf.
template <int HDC, bool F8, bool EXACT, int GM>
__global__ void __launch_bounds__(KN_DEC_THREADS)
	kn_attn_decode_kernel(kn_cuda_kv kv, int layer, const uint16_t *q, int q_stride, int G, const int32_t *seq_len,
			      const int32_t *page_table, int max_pages, int n_heads, int n_splits, float scale_log2,
			      float *work_o, float *work_ml)
{
	constexpr int L = HDC / 8, KPW = 32 / L, NW = KN_DEC_THREADS / 32, NG = NW * KPW, U = KN_DEC_U;
	static_assert(L >= 1 && L <= 32 && (L & (L - 1)) == 0, "lane groups are a power of two dividing a warp");
	__shared__ float sm_o[NW][GM][HDC];
	__shared__ float sm_m[NW][GM], sm_l[NW][GM];
	const int hd = EXACT ? HDC : kv.head_dim;

	const int split = blockIdx.x, kvh = blockIdx.y, seq = blockIdx.z;
	const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gl = lane % L;
	const int grp = warp * KPW + lane / L;
	const bool act = EXACT || gl * 8 < hd; // this lane's 8 dims lie inside the head
	const int pt_ = kv.page_tokens;
	int len = seq_len[seq];
	const long long cap = (long long)max_pages * pt_;
	len = len < 0 ? 0 : ((long long)len > cap ? (int)cap : len);
	int b, e;
	kn_attn_split_range(len, n_splits, split, &b, &e);
	const int32_t *ptab = page_table + (size_t)seq * (size_t)max_pages;

	uint32_t qr[GM][4];
#pragma unroll
	for (int g = 0; g < GM; g++) {
		const uint32_t *qp =
			(const uint32_t *)(q + (size_t)seq * q_stride + (size_t)(kvh * G + (g < G ? g : 0)) * hd + gl * 8);
#pragma unroll
		for (int i = 0; i < 4; i++)
			qr[g][i] = g < G && act ? qp[i] : 0u;
	}
	float m[GM], l[GM], o[GM][8];
#pragma unroll
	for (int g = 0; g < GM; g++) {
		m[g] = -INFINITY;
		l[g] = 0.0f;
#pragma unroll
		for (int i = 0; i < 8; i++)
			o[g][i] = 0.0f;
	}

	for (int base = b; base < e; base += NG * U) {
		// ---- issue all loads of this iteration ----
		uint4 kraw[U], vraw[U];
		float ksc[U], vsc[U];
		int state[U]; // 0 outside the split, 1 valid, 2 bad page (NaN)
#pragma unroll
		for (int u = 0; u < U; u++) {
			const int key = base + u * NG + grp;
			kraw[u] = vraw[u] = make_uint4(0, 0, 0, 0);
			ksc[u] = vsc[u] = 1.0f;
			state[u] = 0;
			if (key < e) {
				const int pg = kn_kv_page_checked(ptab, key, pt_, kv.n_pages);
				state[u] = pg < 0 ? 2 : 1;
				if (pg >= 0) {
					const int off = kn_kv_offset_of(key, pt_);
					const size_t bk = kn_kv_block((size_t)pg, layer, 0, kvh, kv.n_layers, kv.n_kv_heads);
					const size_t bv = bk + (size_t)kv.n_kv_heads; // the V block follows the K blocks
					const size_t ek = kn_kv_elem(bk, off, pt_, hd) + gl * 8;
					const size_t ev = kn_kv_elem(bv, off, pt_, hd) + gl * 8;
					// inactive lanes keep zero data but take the scales, so every lane of a
					// group computes the same scores
					if (F8) {
						if (act) {
							const uint2 k2 = *(const uint2 *)((const uint8_t *)kv.data + ek);
							const uint2 v2 = *(const uint2 *)((const uint8_t *)kv.data + ev);
							kraw[u] = make_uint4(k2.x, k2.y, 0, 0);
							vraw[u] = make_uint4(v2.x, v2.y, 0, 0);
						}
						ksc[u] = kv.scales[kn_kv_scale_at(bk, off, pt_)] * KN_F8_TRICK_SCALE;
						vsc[u] = kv.scales[kn_kv_scale_at(bv, off, pt_)] * KN_F8_TRICK_SCALE;
					} else if (act) {
						kraw[u] = *(const uint4 *)((const uint16_t *)kv.data + ek);
						vraw[u] = *(const uint4 *)((const uint16_t *)kv.data + ev);
					}
				}
			}
		}
		// ---- K as f32 (FP8: values × 2^-8, the 256 is in ksc) ----
		float s[U][GM];
#pragma unroll
		for (int u = 0; u < U; u++) {
			float kf[8];
			if (F8) {
				const float2 a = kn_e4m3x2_scaled(kraw[u].x, KN_F8_LO_SEL), bb = kn_e4m3x2_scaled(kraw[u].x, KN_F8_HI_SEL);
				const float2 c = kn_e4m3x2_scaled(kraw[u].y, KN_F8_LO_SEL), d = kn_e4m3x2_scaled(kraw[u].y, KN_F8_HI_SEL);
				kf[0] = a.x, kf[1] = a.y, kf[2] = bb.x, kf[3] = bb.y, kf[4] = c.x, kf[5] = c.y, kf[6] = d.x,
				kf[7] = d.y;
			} else {
				const uint32_t w[4] = {kraw[u].x, kraw[u].y, kraw[u].z, kraw[u].w};
#pragma unroll
				for (int i = 0; i < 4; i++) {
					kf[2 * i] = kn_bf16_lo(w[i]);
					kf[2 * i + 1] = kn_bf16_hi(w[i]);
				}
			}
#pragma unroll
			for (int g = 0; g < GM; g++) {
				float acc = 0.0f;
#pragma unroll
				for (int i = 0; i < 4; i++) {
					acc = fmaf(kn_bf16_lo(qr[g][i]), kf[2 * i], acc);
					acc = fmaf(kn_bf16_hi(qr[g][i]), kf[2 * i + 1], acc);
				}
				// the lane group's dot: butterfly inside the aligned group of L lanes
#pragma unroll
				for (int off = L / 2; off > 0; off >>= 1)
					acc += __shfl_xor_sync(0xFFFFFFFFu, acc, off);
				const float sv = acc * ksc[u] * scale_log2;
				s[u][g] = state[u] == 1 ? sv : (state[u] == 0 ? -INFINITY : __int_as_float(0x7FC00000));
			}
		}
		// ---- V as f32 once per key (FP8: × 2^-8, vsc has the 256) ----
		float vf[U][8];
#pragma unroll
		for (int u = 0; u < U; u++) {
			if (F8) {
				const float2 a = kn_e4m3x2_scaled(vraw[u].x, KN_F8_LO_SEL), bb = kn_e4m3x2_scaled(vraw[u].x, KN_F8_HI_SEL);
				const float2 c = kn_e4m3x2_scaled(vraw[u].y, KN_F8_LO_SEL), d = kn_e4m3x2_scaled(vraw[u].y, KN_F8_HI_SEL);
				vf[u][0] = a.x, vf[u][1] = a.y, vf[u][2] = bb.x, vf[u][3] = bb.y, vf[u][4] = c.x, vf[u][5] = c.y,
				vf[u][6] = d.x, vf[u][7] = d.y;
			} else {
				const uint32_t w[4] = {vraw[u].x, vraw[u].y, vraw[u].z, vraw[u].w};
#pragma unroll
				for (int i = 0; i < 4; i++) {
					vf[u][2 * i] = kn_bf16_lo(w[i]);
					vf[u][2 * i + 1] = kn_bf16_hi(w[i]);
				}
			}
		}
		// ---- online softmax, one rescale per iteration ----
#pragma unroll
		for (int g = 0; g < GM; g++) {
			float cm = s[0][g];
#pragma unroll
			for (int u = 1; u < U; u++)
				cm = kn_nanmax(cm, s[u][g]);
			const float mn = kn_nanmax(m[g], cm);
			if (mn == -INFINITY)
				continue; // nothing valid yet in this group
			const float alpha = exp2f(m[g] - mn);
			float p[U], ps = 0.0f;
#pragma unroll
			for (int u = 0; u < U; u++) {
				p[u] = exp2f(s[u][g] - mn);
				ps += p[u];
			}
			l[g] = l[g] * alpha + ps;
#pragma unroll
			for (int i = 0; i < 8; i++) {
				float acc = o[g][i] * alpha;
#pragma unroll
				for (int u = 0; u < U; u++)
					acc = fmaf(p[u] * vsc[u], vf[u][i], acc);
				o[g][i] = acc;
			}
			m[g] = mn;
		}
	}

	// ---- merge the lane groups of the warp (butterfly over group offsets) ----
#pragma unroll
	for (int off = L; off < 32; off <<= 1) {
#pragma unroll
		for (int g = 0; g < GM; g++) {
			const float mo = __shfl_xor_sync(0xFFFFFFFFu, m[g], off);
			const float lo = __shfl_xor_sync(0xFFFFFFFFu, l[g], off);
			float oo[8];
#pragma unroll
			for (int i = 0; i < 8; i++)
				oo[i] = __shfl_xor_sync(0xFFFFFFFFu, o[g][i], off);
			const float M = kn_nanmax(m[g], mo);
			if (M == -INFINITY)
				continue; // both empty: symmetric, both stay empty
			const float wa = exp2f(m[g] - M), wb = exp2f(mo - M);
			l[g] = l[g] * wa + lo * wb;
#pragma unroll
			for (int i = 0; i < 8; i++)
				o[g][i] = o[g][i] * wa + oo[i] * wb;
			m[g] = M;
		}
	}
	// ---- merge the warps through shared memory and write the split's partial ----
	if (lane < L && act) {
#pragma unroll
		for (int g = 0; g < GM; g++)
#pragma unroll
			for (int i = 0; i < 8; i++)
				sm_o[warp][g][gl * 8 + i] = o[g][i];
	}
	if (lane == 0) {
#pragma unroll
		for (int g = 0; g < GM; g++) {
			sm_m[warp][g] = m[g];
			sm_l[warp][g] = l[g];
		}
	}
	__syncthreads();
	for (int t = threadIdx.x; t < G * hd; t += KN_DEC_THREADS) {
		const int g = t / hd, d = t % hd;
		float M = -INFINITY;
		for (int w = 0; w < NW; w++)
			M = kn_nanmax(M, sm_m[w][g]);
		float Lsum = 0.0f, O = 0.0f;
		if (M != -INFINITY) {
			for (int w = 0; w < NW; w++) {
				const float wt = exp2f(sm_m[w][g] - M);
				Lsum += sm_l[w][g] * wt;
				O += sm_o[w][g][d] * wt;
			}
		}
		const size_t pi = kn_attn_part_index(seq, kvh * G + g, split, n_heads, n_splits);
		work_o[pi * hd + d] = O;
		if (d == 0) {
			work_ml[pi * 2] = M;
			work_ml[pi * 2 + 1] = Lsum;
		}
	}
}

// One block per (head, sequence), one thread per dim: out = Σ o_i 2^(m_i − M) / Σ l_i 2^(m_i − M).
// A sequence with no positions (all splits empty) gets zeros. HD 0: head_dim hd_rt threads, any dim.
template <int HD>
__global__ void __launch_bounds__(HD > 0 ? HD : KN_ATTN_MAX_HEAD_DIM)
	kn_attn_merge_kernel(const float *work_o, const float *work_ml, uint16_t *out, int n_heads, int n_splits, int hd_rt)
{
	const int HDv = HD > 0 ? HD : hd_rt;
	const int h = blockIdx.x, seq = blockIdx.y, d = threadIdx.x;
	const size_t p0 = kn_attn_part_index(seq, h, 0, n_heads, n_splits);
	float M = -INFINITY;
	for (int s = 0; s < n_splits; s++)
		M = kn_nanmax(M, work_ml[(p0 + s) * 2]);
	float Lsum = 0.0f, O = 0.0f;
	if (M != -INFINITY) {
		for (int s = 0; s < n_splits; s++) {
			const float wt = exp2f(work_ml[(p0 + s) * 2] - M);
			Lsum += work_ml[(p0 + s) * 2 + 1] * wt;
			O += work_o[(p0 + s) * HDv + d] * wt;
		}
	}
	const float r = M == -INFINITY ? 0.0f : O / Lsum;
	out[((size_t)seq * n_heads + h) * HDv + d] = kn_f32_to_bf16(r);
}

extern "C" size_t kn_cuda_attn_decode_work_bytes(int n_seq, int n_heads, int head_dim, int n_splits)
{
	if (n_seq < 1 || n_heads < 1 || head_dim < 1 || n_splits < 1)
		return 0;
	return (size_t)n_seq * (size_t)n_heads * (size_t)n_splits * ((size_t)head_dim + 2) * 4;
}

extern "C" int kn_cuda_attn_decode_splits(int n_seq, int n_kv_heads, int max_len, int n_sms)
{
	return kn_attn_splits_suggest(n_seq, n_kv_heads, max_len, n_sms);
}

template <int HDC, bool F8, bool EXACT>
struct kn_dec_launch {
	static cudaError_t run(dim3 grid, cudaStream_t st, const kn_cuda_kv *kv, int layer, const uint16_t *q,
			       int q_stride, int G, const int32_t *len, const int32_t *pt, int max_pages, int n_heads,
			       int n_splits, float sl2, float *wo, float *wml)
	{
#define KN_DEC_LAUNCH(GMV)                                                                                          \
	do {                                                                                                        \
		auto k = kn_attn_decode_kernel<HDC, F8, EXACT, GMV>;                                                \
		KN_LAUNCH(k, grid, KN_DEC_THREADS, 0, st, *kv, layer, q, q_stride, G, len, pt, max_pages, n_heads,  \
			  n_splits, sl2, wo, wml);                                                                  \
	} while (0)
		if (G == 1)
			KN_DEC_LAUNCH(1);
		else if (G == 2)
			KN_DEC_LAUNCH(2);
		else if (G <= 4)
			KN_DEC_LAUNCH(4);
		else
			KN_DEC_LAUNCH(8);
#undef KN_DEC_LAUNCH
		return cudaSuccess;
	}
};

extern "C" int kn_cuda_attn_decode(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16,
				   int n_seq, const void *seq_len_i32, const void *page_table_i32, int max_pages,
				   int n_heads, int n_splits, void *work, void *stream, char *err, size_t errlen)
{
	if (kn_attn_check("kn_cuda_attn_decode", kv, layer, q_bf16, q_stride, out_bf16, n_heads, err, errlen))
		return -1;
	const int G = n_heads / kv->n_kv_heads;
	if (G > KN_DEC_GMAX)
		return kn_fail(err, errlen, "kn_cuda_attn_decode: query group %d > %d not supported", G, KN_DEC_GMAX);
	if (n_seq < 1 || n_seq > 65535 || max_pages < 1 || n_splits < 1 || n_splits > 1024 || kv->n_kv_heads > 65535)
		return kn_fail(err, errlen, "kn_cuda_attn_decode: bad n_seq %d, max_pages %d or n_splits %d (1..1024)",
			       n_seq, max_pages, n_splits);
	if (!seq_len_i32 || !page_table_i32 || !work || kn_misaligned(seq_len_i32, 4) ||
	    kn_misaligned(page_table_i32, 4) || kn_misaligned(work, 4))
		return kn_fail(err, errlen, "kn_cuda_attn_decode: NULL or misaligned lengths, page table or work");
	const int hd = kv->head_dim;
	float *wo = (float *)work;
	float *wml = wo + (size_t)n_seq * n_heads * n_splits * hd;
	const float sl2 = 1.4426950408889634f / sqrtf((float)hd);
	const dim3 grid((unsigned)n_splits, (unsigned)kv->n_kv_heads, (unsigned)n_seq);
	const cudaStream_t st = kn_stream(stream);
	const uint16_t *q = (const uint16_t *)q_bf16;
	const int32_t *len = (const int32_t *)seq_len_i32, *pt = (const int32_t *)page_table_i32;
	const cudaError_t e = kn_attn_dispatch<kn_dec_launch>(hd, kv->kv_type == KN_CUDA_KV_F8, grid, st, kv, layer, q,
							       q_stride, G, len, pt, max_pages, n_heads, n_splits, sl2, wo,
							       wml);
	if (e != cudaSuccess)
		return kn_cuda_status(e, "kn_cuda_attn_decode", err, errlen);
	if (kn_launch_status("kn_attn_decode_kernel", err, errlen))
		return -1;
	const dim3 mgrid((unsigned)n_heads, (unsigned)n_seq);
	// One thread per dim (hd) for every instantiation.
	auto merge = kn_attn_merge_kernel<64>;
	if (hd == 128)
		merge = kn_attn_merge_kernel<128>;
	else if (hd != 64)
		merge = kn_attn_merge_kernel<0>;
	KN_LAUNCH(merge, mgrid, (unsigned)hd, 0, st, wo, wml, (uint16_t *)out_bf16, n_heads, n_splits, hd);
	return kn_launch_status("kn_attn_merge_kernel", err, errlen);
}
