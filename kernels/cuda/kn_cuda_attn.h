/* kn_cuda_attn — the paged KV cache and attention on the GPU. C-callable, no CUDA types
 * (conventions of kn_cuda.h).
 *
 * Cache layout (docs/GPU.md "KV cache"): a pool of pages; page p holds page_tokens positions of
 * every layer:
 *   data   [n_pages][n_layers][2 (K, V)][n_kv_heads][page_tokens][head_dim]   BF16 or E4M3 codes
 *   scales [n_pages][n_layers][2][n_kv_heads][page_tokens]                     f32, FP8 only
 * so one (page, layer, K/V, head) block is page_tokens × head_dim contiguous elements. With FP8
 * every (token, layer, K/V, head) vector has its own scale (kn_kv_f8_scale / kn_kv_f8_encode in
 * kn_conv.cuh): value = e4m3(code) × scale. Position p of a sequence lives in page
 * page_table[p / page_tokens] at offset p % page_tokens; a "slot" is page · page_tokens + offset.
 *
 * Attention is causal GQA with scale 1/sqrt(head_dim), softmax in f32, query head h reading kv
 * head h / (n_heads / n_kv_heads), exactly the function of kn_attention (kernels/cpu). Queries are
 * BF16 rows of q_stride elements with the n_heads × head_dim query at the start of each row (the
 * fused qkv projection output); outputs are BF16 [rows][n_heads · head_dim].
 *
 * Device integer arrays (positions, slots, page tables, lengths) are int32. Launchers check
 * their scalar arguments; device arrays are read as given, and a slot or page id outside the
 * pool is skipped (store) or reads as NaN (attention) rather than touching memory out of bounds.
 * FP8 caveat: a NaN k or v (e.g. from a position outside the RoPE table) is stored as the E4M3 NaN
 * code, as kernels/cpu does, but the MMA prefill and the decode kernel convert codes without a NaN
 * check and read it as ±480 × scale (finite); only the SIMPLE prefill propagates NaN as kn_attention.
 * Nothing allocates or synchronizes, so calls can be captured into a CUDA graph.
 */
#ifndef BALE_KN_CUDA_ATTN_H
#define BALE_KN_CUDA_ATTN_H

#include "kn_cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { KN_CUDA_KV_BF16 = 0, KN_CUDA_KV_F8 = 1 };

typedef struct {
	int kv_type;                   /* KN_CUDA_KV_BF16 or KN_CUDA_KV_F8 */
	int n_layers, n_kv_heads, head_dim, page_tokens;
	int n_pages;
	void *data;                    /* device, n_pages × kn_cuda_kv_page_bytes */
	float *scales;                 /* device, FP8 only (NULL for BF16) */
} kn_cuda_kv;

/* Bytes of one page of data (without scales), and of one page's scales (0 for BF16). */
size_t kn_cuda_kv_page_bytes(const kn_cuda_kv *kv);
size_t kn_cuda_kv_page_scale_bytes(const kn_cuda_kv *kv);
/* Checks dims (head_dim even and ≤ 256, page_tokens ≥ 1, counts > 0), pointers and alignment. The
 * cache and kn_cuda_qkv_prep take any such head_dim; the attention kernels need a multiple of 16. */
int kn_cuda_kv_check(const kn_cuda_kv *kv, char *err, size_t errlen);

/* Fills every page with pseudo-random values (BF16 in [−1, 1), or FP8 codes over the finite
 * range with scales in [0.5, 1.5) / 448): benchmarks of long contexts without a prefill. */
int kn_cuda_kv_fill_random(const kn_cuda_kv *kv, uint64_t seed, void *stream, char *err, size_t errlen);

/* Per-layer attention input preparation, one kernel, for m tokens whose fused projection output
 * is qkv BF16 [m][(n_heads + 2·n_kv_heads)·head_dim] (q heads, then k heads, then v heads), in
 * place:
 *   1. bias (Qwen2): qkv += bias when bias is non-NULL (f32, the full row);
 *   2. per-head RMSNorm of q heads with q_norm and of k heads with k_norm (Qwen3; skipped when
 *      NULL), in f32 as kn_rmsnorm_heads;
 *   3. NeoX RoPE of q and k at position pos_i32[i] with the kn_cuda_rope_table (rope_dim first
 *      dims of each head rotate; positions outside 0..rope_max_pos−1 write NaN);
 *   4. k and v of token i stored to cache slot slot_i32[i] of `layer` (skipped when negative or
 *      outside the pool), converted from the f32 values of steps 1–3 (BF16 round-to-nearest-even,
 *      or FP8 with the per-vector scale).
 * q is left rotated in qkv (BF16) for the attention kernels. */
typedef struct {
	int n_heads;
	const float *bias;            /* f32 [(n_heads + 2·n_kv_heads)·head_dim] or NULL */
	const float *q_norm, *k_norm; /* f32 [head_dim] or NULL (both or neither) */
	float eps;
	const float *rope_table;      /* f32 [rope_max_pos][rope_dim] (kn_cuda_rope_table) */
	int rope_max_pos, rope_dim;
} kn_cuda_qkv_args;

int kn_cuda_qkv_prep(const kn_cuda_kv *kv, int layer, void *qkv_bf16, int m, const void *pos_i32,
		     const void *slot_i32, const kn_cuda_qkv_args *a, void *stream, char *err, size_t errlen);

/* Attention (prefill and decode) takes any head_dim that is a multiple of 16 in 16..256: 64 and 128
 * run kernels compiled for that dim, other dims kernels of the next power of two (32..256) whose
 * extra dims are zeros (slower by up to that ratio; kn_attn_index.cuh kn_attn_hd_cap).
 *
 * Prefill attention of one sequence: query tokens i = 0..T−1 at positions p0 + i, causal over
 * cache positions 0..p0 + i of the sequence whose pages are page_table_i32[0..ceil((p0 + T) /
 * page_tokens)) (their k/v already stored by kn_cuda_qkv_prep). Flash-attention tiling on tensor
 * cores (BF16 mma.sync; FP8 pages are dequantized to BF16 while being staged), no T × ctx
 * matrix in memory. out BF16 [T][n_heads·head_dim]. */
int kn_cuda_attn_prefill(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16, int T,
			 int p0, const void *page_table_i32, int n_heads, void *stream, char *err, size_t errlen);
/* The same with a chosen implementation: MMA is the tensor-core kernel above (what AUTO runs);
 * SIMPLE is one warp per (query row, head) on CUDA cores in f32, keys one at a time: slow, kept as
 * the device-side reference that tests compare the MMA kernel with. */
enum { KN_CUDA_PREFILL_AUTO = 0, KN_CUDA_PREFILL_MMA = 1, KN_CUDA_PREFILL_SIMPLE = 2 };
int kn_cuda_attn_prefill_impl(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16,
			      int T, int p0, const void *page_table_i32, int n_heads, int impl, void *stream, char *err,
			      size_t errlen);

/* Decode attention (flash-decoding): n_seq sequences, one query each (row s of q); sequence s
 * attends to its positions 0..seq_len_i32[s]−1 through page table row s (page_table_i32 is
 * [n_seq][max_pages]). Each (sequence, kv head) is split into n_splits pieces of the cached
 * length, computed in parallel into partials (unnormalized output, running max, sum) in `work`
 * and merged by a second kernel. Lengths are read on the device, so one captured graph serves
 * every length; n_splits is fixed per call (kn_cuda_attn_decode_splits suggests one). */
size_t kn_cuda_attn_decode_work_bytes(int n_seq, int n_heads, int head_dim, int n_splits);
/* Splits that keep the GPU busy for n_seq sequences of up to max_len positions: about four
 * blocks (of four warps) per SM in total, each covering at least 256 positions, between 1 and
 * 1024. Decode supports query groups (n_heads / n_kv_heads) up to 8; a
 * sequence of length 0 gets zeros, a length above max_pages · page_tokens is clamped to it. */
int kn_cuda_attn_decode_splits(int n_seq, int n_kv_heads, int max_len, int n_sms);
int kn_cuda_attn_decode(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16, int n_seq,
			const void *seq_len_i32, const void *page_table_i32, int max_pages, int n_heads, int n_splits,
			void *work, void *stream, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
