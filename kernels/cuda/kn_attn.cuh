// Shared by the paged-KV kernels (kn_attn_kv.cu, kn_attn_decode.cu, kn_attn_prefill.cu): device
// helpers and the launchers' common argument checks.
#ifndef BALE_KN_ATTN_CUH
#define BALE_KN_ATTN_CUH

#include <cuda_fp16.h>
#include <limits.h>
#include <math.h>

#include "kn_attn_index.cuh"
#include "kn_conv.cuh"
#include "kn_cuda_attn.h"
#include "kn_cuda_internal.cuh"

#define KN_BF16_NAN_X2 0x7FC07FC0u

// A max that lets NaN through (fmaxf drops it): a NaN read from a bad page must reach the output.
__device__ __forceinline__ float kn_nanmax(float a, float b)
{
	return (a != a || b != b) ? __int_as_float(0x7FC00000) : fmaxf(a, b);
}

__device__ __forceinline__ uint32_t kn_pack_bf16x2(float lo, float hi)
{
	return (uint32_t)kn_f32_to_bf16(lo) | ((uint32_t)kn_f32_to_bf16(hi) << 16);
}

// Two E4M3 codes (bytes sel of w, see kn_conv.cuh) as f32 values × 2^-8, exactly.
__device__ __forceinline__ float2 kn_e4m3x2_scaled(uint32_t w, uint32_t sel)
{
	const uint32_t h = kn_e4m3x2_to_f16x2_scaled(w, sel);
	__half2 hh;
	memcpy(&hh, &h, sizeof hh);
	return __half22float2(hh);
}

// The page of position p of a sequence through its page table, or −1 when the table entry lies
// outside the pool (the caller then reads NaN).
__device__ __forceinline__ int kn_kv_page_checked(const int32_t *page_table, int p, int page_tokens, int n_pages)
{
	const int pg = page_table[kn_kv_page_of(p, page_tokens)];
	return (pg >= 0 && pg < n_pages) ? pg : -1;
}

// Checks shared by the attention launchers (kv, layer, head counts, query/output pointers).
static inline int kn_attn_check(const char *fn, const kn_cuda_kv *kv, int layer, const void *q, int q_stride,
				const void *out, int n_heads, char *err, size_t errlen)
{
	if (kn_cuda_kv_check(kv, err, errlen))
		return -1;
	if (layer < 0 || layer >= kv->n_layers)
		return kn_fail(err, errlen, "%s: layer %d outside 0..%d", fn, layer, kv->n_layers - 1);
	if (!kn_attn_hd_ok(kv->head_dim))
		return kn_fail(err, errlen, "%s: head_dim %d not supported (a multiple of %d in %d..%d)", fn, kv->head_dim,
			       KN_ATTN_HD_STEP, KN_ATTN_HD_STEP, KN_ATTN_MAX_HEAD_DIM);
	if (n_heads < kv->n_kv_heads || n_heads % kv->n_kv_heads || n_heads > 65535)
		return kn_fail(err, errlen, "%s: n_heads %d is not a multiple of n_kv_heads %d (at most 65535)", fn,
			       n_heads, kv->n_kv_heads);
	if (!q || !out || kn_misaligned(q, 4) || kn_misaligned(out, 4))
		return kn_fail(err, errlen, "%s: NULL or not 4-byte aligned q or out", fn);
	if (q_stride % 2 || (long long)q_stride < (long long)n_heads * kv->head_dim)
		return kn_fail(err, errlen, "%s: q_stride %d must be even and >= n_heads × head_dim = %lld", fn, q_stride,
			       (long long)n_heads * kv->head_dim);
	return 0;
}

// Runs F<HDC, F8, EXACT>::run(a...) for the kernels that serve head_dim hd (kn_attn_hd_cap): HDC is
// the compiled capacity, EXACT that hd == HDC is known at compile time (the 64 and 128 fast paths);
// the generic instantiations read hd from the cache at run time. hd must have passed kn_attn_check.
template <template <int, bool, bool> class F, bool F8, typename... A>
static inline cudaError_t kn_attn_dispatch_hd(int hd, A... a)
{
	if (hd == 64)
		return F<64, F8, true>::run(a...);
	if (hd == 128)
		return F<128, F8, true>::run(a...);
	switch (kn_attn_hd_cap(hd)) {
	case 32:
		return F<32, F8, false>::run(a...);
	case 64:
		return F<64, F8, false>::run(a...);
	case 128:
		return F<128, F8, false>::run(a...);
	case 256:
		return F<256, F8, false>::run(a...);
	default:
		return cudaErrorInvalidValue;
	}
}

template <template <int, bool, bool> class F, typename... A>
static inline cudaError_t kn_attn_dispatch(int hd, bool f8, A... a)
{
	return f8 ? kn_attn_dispatch_hd<F, true>(hd, a...) : kn_attn_dispatch_hd<F, false>(hd, a...);
}

#endif
