/* kn_attn_index — the paged KV cache's address math and the attention kernels' work split, shared
 * by the CUDA kernels and the host (C-compatible like kn_conv.cuh), so tests/cuda/
 * test_kn_attn_index.c checks on the CPU the exact code the kernels run.
 *
 * Layout (kn_cuda_attn.h): data [n_pages][n_layers][2][n_kv_heads][page_tokens][head_dim],
 * scales [n_pages][n_layers][2][n_kv_heads][page_tokens]. A "block" is one (page, layer, K/V, head)
 * run of page_tokens × head_dim elements; blocks are numbered in storage order, so element
 * (block, offset, d) is at (block · page_tokens + offset) · head_dim + d and its FP8 scale at
 * block · page_tokens + offset. All products are taken in size_t (64-bit): a 40K-token cache of
 * the 8B model already has 5.9e9 elements.
 */
#ifndef BALE_KN_ATTN_INDEX_CUH
#define BALE_KN_ATTN_INDEX_CUH

#include <stddef.h>
#include <stdint.h>

#include "kn_conv.cuh"

/* Largest head_dim of the cache (kn_cuda_kv_check) and of the store kernel's per-warp buffer. */
#define KN_ATTN_MAX_HEAD_DIM 256
/* The attention kernels (prefill, decode) take any head_dim that is a multiple of KN_ATTN_HD_STEP
 * (the tensor cores' k-step of 16 BF16 elements) in KN_ATTN_HD_STEP..KN_ATTN_MAX_HEAD_DIM. */
#define KN_ATTN_HD_STEP 16
/* Keys per tile of the MMA prefill (its K and V staging buffers in shared memory). */
#define KN_ATTN_PF_BN 64
/* Static shared memory a kernel may declare; more needs dynamic shared memory and an opt-in. */
#define KN_ATTN_STATIC_SMEM (48 * 1024)

KN_HD static inline int kn_attn_hd_ok(int hd)
{
	return hd >= KN_ATTN_HD_STEP && hd <= KN_ATTN_MAX_HEAD_DIM && hd % KN_ATTN_HD_STEP == 0;
}

/* The compiled head_dim capacity whose kernels serve hd (0 when hd is not supported): 64 and 128
 * run kernels built for exactly that dim (kn_attn_hd_exact); every other dim runs the generic
 * kernels of the next power of two in 32..256, whose dims past hd read as zeros and are not
 * written. A capacity cap gives decode lane groups of cap / 8 lanes (a power of two dividing 32). */
KN_HD static inline int kn_attn_hd_cap(int hd)
{
	if (!kn_attn_hd_ok(hd))
		return 0;
	int cap = 32;
	while (cap < hd)
		cap *= 2;
	return cap;
}

KN_HD static inline int kn_attn_hd_exact(int hd)
{
	return hd == 64 || hd == 128;
}

/* Bytes of the MMA prefill's staging buffers for capacity cap: K [BN][cap + 8] and V transposed
 * [cap][BN + 8], BF16. Above KN_ATTN_STATIC_SMEM the kernel takes them as dynamic shared memory. */
KN_HD static inline size_t kn_attn_pf_smem_bytes(int cap)
{
	return ((size_t)KN_ATTN_PF_BN * (size_t)(cap + 8) + (size_t)cap * (KN_ATTN_PF_BN + 8)) * 2u;
}

/* Decode splits cover whole multiples of this many positions (a page boundary for pages of 16, 32
 * or 64 tokens, and the keys one block reads per iteration). */
#define KN_ATTN_SPLIT_ALIGN 64

KN_HD static inline size_t kn_kv_block(size_t page, int layer, int kv, int head, int n_layers, int n_kv_heads)
{
	return ((page * (size_t)n_layers + (size_t)layer) * 2u + (size_t)kv) * (size_t)n_kv_heads + (size_t)head;
}

KN_HD static inline size_t kn_kv_elem(size_t block, int offset, int page_tokens, int head_dim)
{
	return (block * (size_t)page_tokens + (size_t)offset) * (size_t)head_dim;
}

KN_HD static inline size_t kn_kv_scale_at(size_t block, int offset, int page_tokens)
{
	return block * (size_t)page_tokens + (size_t)offset;
}

/* A position p of a sequence (or a slot) in page p / page_tokens at offset p % page_tokens;
 * p ≥ 0. */
KN_HD static inline int kn_kv_page_of(int p, int page_tokens)
{
	return p / page_tokens;
}

KN_HD static inline int kn_kv_offset_of(int p, int page_tokens)
{
	return p % page_tokens;
}

/* 1 when slot s addresses a position of the pool (n_pages · page_tokens positions). */
KN_HD static inline int kn_kv_slot_ok(int s, int n_pages, int page_tokens)
{
	return s >= 0 && (long long)s < (long long)n_pages * (long long)page_tokens;
}

/* Elements of one page (both K and V of every layer and head), or 0 on overflow. */
KN_HD static inline size_t kn_kv_page_elems(int n_layers, int n_kv_heads, int page_tokens, int head_dim)
{
	if (n_layers < 1 || n_kv_heads < 1 || page_tokens < 1 || head_dim < 1)
		return 0;
	uint64_t a = (uint64_t)n_layers * 2u * (uint64_t)n_kv_heads; /* < 2^63: each factor < 2^31 */
	uint64_t b = (uint64_t)page_tokens * (uint64_t)head_dim;
	if (a > UINT64_MAX / b || a * b > (uint64_t)SIZE_MAX / 4u)
		return 0;
	return (size_t)(a * b);
}

/* Scales of one page (one per token, layer, K/V and head), or 0 on overflow. */
KN_HD static inline size_t kn_kv_page_scales(int n_layers, int n_kv_heads, int page_tokens)
{
	return kn_kv_page_elems(n_layers, n_kv_heads, page_tokens, 1);
}

/* Split s of n_splits over len positions: [*begin, *end), empty when begin == end. Every split but
 * the last non-empty one covers a multiple of KN_ATTN_SPLIT_ALIGN positions; together they cover
 * 0..len−1 exactly once. len ≥ 0, n_splits ≥ 1, 0 ≤ s < n_splits. Computed on the device from the
 * length read there, so one captured graph serves every length. */
KN_HD static inline void kn_attn_split_range(int len, int n_splits, int s, int *begin, int *end)
{
	long long chunk = ((long long)len + n_splits - 1) / n_splits;
	chunk = (chunk + KN_ATTN_SPLIT_ALIGN - 1) / KN_ATTN_SPLIT_ALIGN * KN_ATTN_SPLIT_ALIGN;
	long long b = (long long)s * chunk, e = b + chunk;
	*begin = (int)(b < len ? b : len);
	*end = (int)(e < len ? e : len);
}

/* Prefill: the keys a query tile [q0, q0 + rows) of a chunk of T tokens starting at position p0
 * needs are 0 .. p0 + min(q0 + rows, T) − 1 (causal). Returns that count. */
KN_HD static inline int kn_attn_tile_keys(int T, int p0, int q0, int rows)
{
	int last = q0 + rows < T ? q0 + rows : T;
	return p0 + last;
}

/* Per-(seq, head, split) partials of decode attention in `work`: first the unnormalized outputs
 * o [n_seq][n_heads][n_splits][head_dim] f32, then (max, sum) pairs [n_seq][n_heads][n_splits][2]
 * (max in log2 units of the scaled score). */
KN_HD static inline size_t kn_attn_part_index(int seq, int head, int split, int n_heads, int n_splits)
{
	return ((size_t)seq * (size_t)n_heads + (size_t)head) * (size_t)n_splits + (size_t)split;
}

/* Decode splits for n_seq sequences of up to max_len positions on n_sms multiprocessors: about
 * four blocks (of four warps) per SM in total, each split covering at least 256 positions, between
 * 1 and 1024. */
KN_HD static inline int kn_attn_splits_suggest(int n_seq, int n_kv_heads, int max_len, int n_sms)
{
	long long blocks = (long long)(n_seq > 0 ? n_seq : 1) * (n_kv_heads > 0 ? n_kv_heads : 1);
	long long want = (4LL * (n_sms > 0 ? n_sms : 1) + blocks - 1) / blocks;
	long long cap = (long long)(max_len > 0 ? max_len : 0) / 256;
	long long s = want < cap ? want : cap;
	return (int)(s < 1 ? 1 : (s > 1024 ? 1024 : s));
}

/* Stateless hash for kn_cuda_kv_fill_random (splitmix64 of seed and index). */
KN_HD static inline uint64_t kn_attn_hash(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1u);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* The random cache contents: BF16 in [−1, 1) (truncated toward 0, so never +1), finite E4M3 codes, and
 * scales in [0.5, 1.5) / 448. */
KN_HD static inline uint16_t kn_attn_rand_bf16(uint64_t h)
{
	float f = (float)(int32_t)(h >> 40) * 0x1p-23f - 1.0f; /* [−1, 1) in steps of 2^-23 */
	return (uint16_t)(kn_f2u(f) >> 16);
}

KN_HD static inline uint8_t kn_attn_rand_e4m3(uint64_t h)
{
	uint8_t c = (uint8_t)(h >> 56);
	return (c & 0x7Fu) == 0x7Fu ? (uint8_t)(c ^ 0x08u) : c;
}

KN_HD static inline float kn_attn_rand_scale(uint64_t h)
{
	return (0.5f + (float)(uint32_t)(h >> 40) * 0x1p-24f) / KN_KV_F8_MAX;
}

#endif
