// The paged KV cache: sizes, checks, random fill, and the per-layer input preparation that stores
// k and v (kn_cuda_qkv_prep). Layout and address math: kn_cuda_attn.h, kn_attn_index.cuh.
#include "kn_attn.cuh"

extern "C" size_t kn_cuda_kv_page_bytes(const kn_cuda_kv *kv)
{
	if (!kv || (kv->kv_type != KN_CUDA_KV_BF16 && kv->kv_type != KN_CUDA_KV_F8))
		return 0;
	const size_t n = kn_kv_page_elems(kv->n_layers, kv->n_kv_heads, kv->page_tokens, kv->head_dim);
	return kv->kv_type == KN_CUDA_KV_BF16 ? n * 2 : n;
}

extern "C" size_t kn_cuda_kv_page_scale_bytes(const kn_cuda_kv *kv)
{
	if (!kv || kv->kv_type != KN_CUDA_KV_F8)
		return 0;
	return kn_kv_page_scales(kv->n_layers, kv->n_kv_heads, kv->page_tokens) * 4;
}

extern "C" int kn_cuda_kv_check(const kn_cuda_kv *kv, char *err, size_t errlen)
{
	if (!kv)
		return kn_fail(err, errlen, "kn_cuda_kv_check: NULL cache");
	if (kv->kv_type != KN_CUDA_KV_BF16 && kv->kv_type != KN_CUDA_KV_F8)
		return kn_fail(err, errlen, "kn_cuda_kv_check: unknown kv_type %d", kv->kv_type);
	if (kv->n_layers < 1 || kv->n_kv_heads < 1 || kv->page_tokens < 1 || kv->n_pages < 1 || kv->head_dim < 2 ||
	    kv->head_dim % 2 || kv->head_dim > KN_ATTN_MAX_HEAD_DIM)
		return kn_fail(err, errlen,
			       "kn_cuda_kv_check: bad dims (layers %d, kv heads %d, head_dim %d, page_tokens %d, pages %d)",
			       kv->n_layers, kv->n_kv_heads, kv->head_dim, kv->page_tokens, kv->n_pages);
	const size_t pb = kn_cuda_kv_page_bytes(kv);
	if (pb == 0 || (size_t)kv->n_pages > SIZE_MAX / pb ||
	    (long long)kv->n_pages * kv->page_tokens > (long long)INT_MAX)
		return kn_fail(err, errlen, "kn_cuda_kv_check: cache size overflows (pages %d × %zu bytes)", kv->n_pages,
			       pb);
	// 16-byte loads of rows: each row of head_dim elements starts 16-byte aligned when data does
	// and head_dim × element size is a multiple of 16 (all the attention kernels' head dims).
	if (!kv->data || kn_misaligned(kv->data, 16))
		return kn_fail(err, errlen, "kn_cuda_kv_check: data NULL or not 16-byte aligned");
	if (kv->kv_type == KN_CUDA_KV_F8 && (!kv->scales || kn_misaligned(kv->scales, 4)))
		return kn_fail(err, errlen, "kn_cuda_kv_check: FP8 cache needs 4-byte aligned scales");
	return 0;
}

// ---- random fill ----

__global__ void kn_kv_fill_kernel(kn_cuda_kv kv, size_t n_elems, size_t n_scales, uint64_t seed)
{
	const size_t step = (size_t)gridDim.x * blockDim.x;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_elems; i += step) {
		const uint64_t h = kn_attn_hash(seed, i);
		if (kv.kv_type == KN_CUDA_KV_BF16)
			((uint16_t *)kv.data)[i] = kn_attn_rand_bf16(h);
		else
			((uint8_t *)kv.data)[i] = kn_attn_rand_e4m3(h);
	}
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_scales; i += step)
		kv.scales[i] = kn_attn_rand_scale(kn_attn_hash(~seed, i));
}

extern "C" int kn_cuda_kv_fill_random(const kn_cuda_kv *kv, uint64_t seed, void *stream, char *err, size_t errlen)
{
	if (kn_cuda_kv_check(kv, err, errlen))
		return -1;
	const size_t n_elems = kn_kv_page_elems(kv->n_layers, kv->n_kv_heads, kv->page_tokens, kv->head_dim) *
			       (size_t)kv->n_pages;
	const size_t n_scales =
		kv->kv_type == KN_CUDA_KV_F8 ? kn_kv_page_scales(kv->n_layers, kv->n_kv_heads, kv->page_tokens) *
						       (size_t)kv->n_pages
					     : 0;
	const size_t blocks = (n_elems + 255) / 256;
	KN_LAUNCH(kn_kv_fill_kernel, (unsigned)(blocks < 65535u * 8 ? blocks : 65535u * 8), 256, 0, kn_stream(stream),
			*kv, n_elems, n_scales, seed);
	return kn_launch_status("kn_kv_fill_kernel", err, errlen);
}

// ---- qkv preparation ----

#define KN_PREP_WARPS 4

// One warp per (token, head) over the q, k and v heads of a token. The head's f32 values live in
// a per-warp shared buffer between the steps (bias → norm + RoPE → store), so each lane's
// rotation pair (j, j + rope_dim/2) and any head_dim ≤ 256 need no register indexing. Every step
// mirrors kernels/cpu operation for operation (explicit _rn: no contraction into FMAs).
__global__ void __launch_bounds__(KN_PREP_WARPS * 32)
	kn_qkv_prep_kernel(kn_cuda_kv kv, int layer, uint16_t *qkv, int m, const int32_t *pos, const int32_t *slot,
			   int n_heads, const float *bias, const float *q_norm, const float *k_norm, float eps,
			   const float *tab, int max_pos, int rope_dim)
{
	__shared__ float buf[KN_PREP_WARPS][KN_ATTN_MAX_HEAD_DIM];
	const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	const int hd = kv.head_dim, nkv = kv.n_kv_heads, nh_all = n_heads + 2 * nkv;
	const size_t gw = (size_t)blockIdx.x * KN_PREP_WARPS + warp;
	if (gw >= (size_t)m * (size_t)nh_all)
		return; // whole warps leave; the kernel has no block-wide barrier
	const int tok = (int)(gw / (size_t)nh_all), head = (int)(gw % (size_t)nh_all);
	const int kind = head < n_heads ? 0 : (head < n_heads + nkv ? 1 : 2); // q, k, v
	uint16_t *x = qkv + gw * (size_t)hd;
	const float *b = bias ? bias + (size_t)head * hd : NULL;
	float *v = buf[warp];

	double ss = 0.0;
	for (int j = lane; j < hd; j += 32) {
		float f = kn_bf16_to_f32(x[j]);
		if (b)
			f = __fadd_rn(f, b[j]);
		v[j] = f;
		ss += (double)f * (double)f;
	}
	__syncwarp();
	if (kind != 2) {
		const float *nw = kind == 0 ? q_norm : k_norm;
		const int p = pos[tok];
		if (p < 0 || p >= max_pos) {
			for (int j = lane; j < hd; j += 32)
				v[j] = __int_as_float(0x7FC00000);
		} else {
			float inv = 1.0f;
			if (nw) {
				for (int o = 16; o > 0; o >>= 1)
					ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
				const float var = (float)(ss / (double)hd);
				inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(var, eps)));
			}
			const int half = rope_dim / 2;
			const float *c_row = tab + (size_t)p * rope_dim, *s_row = c_row + half;
			for (int j = lane; j < half; j += 32) {
				float x1 = v[j], x2 = v[j + half];
				if (nw) {
					x1 = __fmul_rn(nw[j], __fmul_rn(x1, inv));
					x2 = __fmul_rn(nw[j + half], __fmul_rn(x2, inv));
				}
				const float c = c_row[j], s = s_row[j];
				v[j] = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
				v[j + half] = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
			}
			if (nw)
				for (int j = rope_dim + lane; j < hd; j += 32)
					v[j] = __fmul_rn(nw[j], __fmul_rn(v[j], inv));
		}
		__syncwarp();
	}
	if (kind == 0) {
		for (int j = lane; j < hd; j += 32)
			x[j] = kn_f32_to_bf16(v[j]);
		return;
	}
	const int s = slot[tok];
	if (!kn_kv_slot_ok(s, kv.n_pages, kv.page_tokens))
		return;
	const int kvh = head - n_heads - (kind - 1) * nkv;
	const size_t blk = kn_kv_block((size_t)kn_kv_page_of(s, kv.page_tokens), layer, kind - 1, kvh, kv.n_layers, nkv);
	const int off = kn_kv_offset_of(s, kv.page_tokens);
	const size_t e0 = kn_kv_elem(blk, off, kv.page_tokens, hd);
	if (kv.kv_type == KN_CUDA_KV_BF16) {
		uint16_t *d = (uint16_t *)kv.data + e0;
		for (int j = lane; j < hd; j += 32)
			d[j] = kn_f32_to_bf16(v[j]);
		return;
	}
	// FP8: amax over the head as kernels/cpu computes it (fmaxf ignores NaN as its `a > amax` does;
	// a max is exact in any order), then the shared scale and encoder.
	float amax = 0.0f;
	for (int j = lane; j < hd; j += 32)
		amax = fmaxf(amax, fabsf(v[j]));
	for (int o = 16; o > 0; o >>= 1)
		amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
	const float sc = kn_kv_f8_scale(amax);
	uint8_t *d = (uint8_t *)kv.data + e0;
	for (int j = lane; j < hd; j += 32)
		d[j] = kn_kv_f8_encode(v[j], sc);
	if (lane == 0)
		kv.scales[kn_kv_scale_at(blk, off, kv.page_tokens)] = sc;
}

extern "C" int kn_cuda_qkv_prep(const kn_cuda_kv *kv, int layer, void *qkv_bf16, int m, const void *pos_i32,
				const void *slot_i32, const kn_cuda_qkv_args *a, void *stream, char *err, size_t errlen)
{
	if (kn_cuda_kv_check(kv, err, errlen))
		return -1;
	if (!a)
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: NULL args");
	if (layer < 0 || layer >= kv->n_layers)
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: layer %d outside 0..%d", layer, kv->n_layers - 1);
	if (m < 1 || a->n_heads < 1 || a->n_heads > 65535)
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: bad m %d or n_heads %d", m, a->n_heads);
	if (a->rope_dim < 2 || a->rope_dim % 2 || a->rope_dim > kv->head_dim || a->rope_max_pos < 1)
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: bad rope_dim %d (head_dim %d) or rope_max_pos %d",
			       a->rope_dim, kv->head_dim, a->rope_max_pos);
	if (!qkv_bf16 || !pos_i32 || !slot_i32 || !a->rope_table)
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: NULL qkv, positions, slots or RoPE table");
	if (!a->q_norm != !a->k_norm)
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: q_norm and k_norm must be given together");
	if (kn_misaligned(qkv_bf16, 2) || kn_misaligned(pos_i32, 4) || kn_misaligned(slot_i32, 4) ||
	    kn_misaligned(a->rope_table, 4) || (a->bias && kn_misaligned(a->bias, 4)) ||
	    (a->q_norm && (kn_misaligned(a->q_norm, 4) || kn_misaligned(a->k_norm, 4))))
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: pointer not aligned to its element size");
	if (!(a->eps >= 0.0f))
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: eps must be >= 0");
	const size_t warps = (size_t)m * (size_t)(a->n_heads + 2 * kv->n_kv_heads);
	const size_t blocks = (warps + KN_PREP_WARPS - 1) / KN_PREP_WARPS;
	if (blocks > (size_t)INT_MAX)
		return kn_fail(err, errlen, "kn_cuda_qkv_prep: m × heads too large");
	KN_LAUNCH(kn_qkv_prep_kernel, (unsigned)blocks, KN_PREP_WARPS * 32, 0, kn_stream(stream), *kv, layer,
			(uint16_t *)qkv_bf16, m, (const int32_t *)pos_i32, (const int32_t *)slot_i32, a->n_heads,
			a->bias, a->q_norm, a->k_norm, a->eps, a->rope_table, a->rope_max_pos, a->rope_dim);
	return kn_launch_status("kn_qkv_prep_kernel", err, errlen);
}
