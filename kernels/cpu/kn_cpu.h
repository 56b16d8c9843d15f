/* kn_cpu — CPU kernels for the transformer forward pass.
 *
 * Two tiers:
 *   *_ref   plain scalar reference implementations, written to be obviously correct. They are the
 *           oracle for every faster path (the OpenMP/AVX2 path here, CUDA later). They accumulate
 *           dot products in binary64, so their own rounding error is far below any fast path's.
 *   others  the fast path used by the runtime: matmul is OpenMP-parallel over output rows with
 *           AVX-512 or AVX2/FMA inner loops picked at run time (falls back to portable scalar
 *           loops that accumulate in binary32). Every other op is cheap next to matmul and has
 *           one version.
 *
 * Dequantization is exactly formats/SPEC.md §6.2: element (r, c) = float(code) × scale as one
 * binary32 multiplication. The fused fast kernels instead compute scale × Σ x·code per row or
 * group (one multiply per segment), which differs from dequantize-then-dot only by rounding;
 * tests/test_kn_cpu.c bounds that difference against the reference.
 *
 * Shapes follow PyTorch: a weight is [n][k] (out × in), activations are row-major [m][k].
 * No function here allocates except kn_matmul (a few k-float scratch rows per thread when m > 1),
 * prints or exits. Callers validate shapes (runtime/model does, with messages naming tensors);
 * kn_weight_check() is the one validator offered here.
 */
#ifndef BALE_KN_CPU_H
#define BALE_KN_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A weight matrix [n][k] as stored in a .bale blob (SPEC §6.3): codes row-major, and for ROW /
 * GROUP schemes `scales` = [n][k / group] f32 (group = k for ROW). Pointers are borrowed. */
typedef struct {
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t group_size; /* GROUP only: 32, 64 or 128 dividing k */
	size_t n, k;
	const void *data;    /* F32: float, F16/BF16: uint16_t, I8: int8_t, F8_E4M3: uint8_t */
	const float *scales; /* NULL for scheme NONE */
} kn_weight;

/* Checks the dtype/scheme combination, group size, non-NULL pointers and the alignment of
 * `data` (element size) and `scales` (4). Returns 0, or -1 with a reason in msg (may be NULL). */
int kn_weight_check(const kn_weight *w, char *msg, size_t msg_len);

/* Element (r, c) of a weight, dequantized per SPEC §6.2. */
float kn_weight_at(const kn_weight *w, size_t r, size_t c);
/* Row r dequantized into out[w->k]. */
void kn_dequant_row(const kn_weight *w, size_t r, float *out);
/* OCP E4M3 "fn" decode, written independently of formats/ (0x7F/0xFF give NaN). */
float kn_e4m3_decode(uint8_t code);

/* ---- matmul: y[m][n] = x[m][k] · dequant(W[n][k])ᵀ ---- */

void kn_matmul_ref(float *y, const float *x, size_t m, const kn_weight *w);

/* Instruction sets for kn_matmul. AUTO takes BALE_KN_ISA from the environment when set
 * ("scalar", "avx2" or "avx512", read once per process; for testing and benchmarks), else the
 * best the CPU and OS support. An explicit ISA the CPU lacks falls back to the best one below it.
 * All of them accumulate in binary32 and scale once per row or group; they differ only in the
 * order of the additions. One token (m == 1): scalar sequential; AVX2 32 lanes; AVX-512 64
 * lanes, with masked tails summed in lane order. A batch (m > 1) multiplies x by rows already
 * dequantized to binary32 (code × scale, group scales included) in blocks of rows × tokens, each
 * output one chain over k: scalar sequential; AVX2 8 lanes plus a sequential tail; AVX-512
 * 16 lanes with a masked tail. */
typedef enum { KN_ISA_AUTO = 0, KN_ISA_SCALAR = 1, KN_ISA_AVX2 = 2, KN_ISA_AVX512 = 3 } kn_isa;
typedef struct {
	int n_threads; /* 0 = OpenMP default (OMP_NUM_THREADS or all cores) */
	kn_isa isa;
} kn_exec;

bool kn_cpu_has_avx2(void);   /* AVX2, FMA and F16C */
bool kn_cpu_has_avx512(void); /* the above plus AVX-512 F, BW and VL with OS-enabled ZMM state */
/* The ISA kn_matmul runs for `want` (AUTO resolved as above): never AUTO. */
kn_isa kn_isa_resolve(kn_isa want);
const char *kn_isa_name(kn_isa isa); /* "auto", "scalar", "avx2", "avx512" or "?" */
/* ex may be NULL (defaults). Returns 0, or -1 if a scratch row could not be allocated or the
 * weight fails kn_weight_check (nothing useful is written to y then). */
int kn_matmul(float *y, const float *x, size_t m, const kn_weight *w, const kn_exec *ex);

/* ---- elementwise and normalisation ---- */

/* Hugging Face RMSNorm in binary32: y = w ⊙ (x · 1/sqrt(mean(x²) + eps)); mean(x²) is summed in
 * binary64 and rounded once. y may equal x. */
void kn_rmsnorm(float *y, const float *x, const float *w, size_t n, float eps);
/* Per-head RMSNorm (Qwen3 q_norm / k_norm): x is [n_heads][head_dim], w is [head_dim]; in place. */
void kn_rmsnorm_heads(float *x, const float *w, size_t n_heads, size_t head_dim, float eps);
/* y[i] += x[i] */
void kn_add(float *y, const float *x, size_t n);
/* y[r][c] += b[c] for r < rows, c < cols */
void kn_add_bias(float *y, const float *b, size_t rows, size_t cols);
/* out[i] = silu(gate[i]) · up[i]; out may equal gate or up. */
void kn_swiglu(float *out, const float *gate, const float *up, size_t n);
/* Embedding lookup: out[d] = dequant(row `id` of w). id must be < w->n. */
void kn_embed(float *out, const kn_weight *w, size_t id);

/* ---- rotary position embedding ---- */

typedef enum { KN_ROPE_NONE = 0, KN_ROPE_LINEAR = 1, KN_ROPE_YARN = 2, KN_ROPE_LLAMA3 = 3 } kn_rope_type;

/* How YaRN's cos/sin magnitude ("mscale") is chosen. The base value is m0 = 0.1·ln(factor) + 1
 * (1 when factor ≤ 1). Configs carry one of two keys with different meanings, kept apart in META:
 * `attention_factor` (transformers: the scale itself) and `attn_factor` (DeepSeek/vLLM: a
 * multiplier of m0, unknown to transformers). Whether DeepSeek's model was meant to run with
 * attn_factor honoured is a choice, so the caller picks:
 *   TRANSFORMERS  exactly what transformers computes: attention_factor if present, else m0
 *                 (attn_factor ignored; 1.1386 for DeepSeek-R1-0528-Qwen3-8B). Default.
 *   VLLM          attention_factor if present, else m0 × attn_factor (attn_factor defaults to 1),
 *                 as vLLM / SGLang do: exactly 1.0 for DeepSeek's 0.8782488562869419.
 *   EXPLICIT      attention_factor, else attn_factor, else m0: either key taken as the scale. */
typedef enum {
	KN_YARN_MSCALE_TRANSFORMERS = 0,
	KN_YARN_MSCALE_VLLM = 1,
	KN_YARN_MSCALE_EXPLICIT = 2,
} kn_yarn_mscale;

typedef struct {
	kn_rope_type type;
	double theta;           /* base */
	uint32_t dim;           /* rotary dims (even); rotated pairs are (i, i + dim/2) */
	double factor;          /* LINEAR, YARN, LLAMA3 */
	uint32_t orig_ctx;      /* YARN, LLAMA3: original_max_position_embeddings */
	double beta_fast, beta_slow;           /* YARN (32, 1 by default) */
	bool has_attn_factor;
	double attn_factor;                    /* YARN, see kn_yarn_mscale */
	bool has_attention_factor;
	double attention_factor;               /* YARN, see kn_yarn_mscale */
	double low_freq_factor, high_freq_factor; /* LLAMA3 */
	kn_yarn_mscale mscale_mode;
} kn_rope_params;

/* inv_freq[dim/2] and the cos/sin multiplier, computed as transformers' rope init functions do
 * (binary32 where they use float32). Returns 0, or -1 with msg for parameters out of range. */
int kn_rope_init(const kn_rope_params *p, float *inv_freq, float *mscale, char *msg, size_t msg_len);
/* NeoX / rotate_half RoPE at position pos on x[n_heads][head_dim] (only the first dim entries of
 * each head rotate): x1' = x1·c − x2·s, x2' = x2·c + x1·s with c = cos(pos·f)·mscale, s likewise. */
void kn_rope(float *x, size_t n_heads, size_t head_dim, uint32_t dim, size_t pos, const float *inv_freq,
	     float mscale);

/* ---- attention ---- */

typedef enum { KN_KV_F32 = 0, KN_KV_BF16 = 1, KN_KV_F8 = 2 } kn_kv_type;

/* A cache row holds one position's K (or V) for every kv head:
 *   F32   [n_kv_heads][head_dim] f32
 *   BF16  [n_kv_heads][head_dim] BF16 (round to nearest even)
 *   F8    [n_kv_heads][head_dim] E4M3 codes, zero bytes up to a multiple of 4, then
 *         [n_kv_heads] f32 scales
 * FP8 is the GPU cache's encoding (docs/GPU.md "KV cache", kn_conv.cuh): per head, amax = the
 * largest |x| (NaN elements ignored), scale = kn_kv_f8_scale(amax), code = kn_kv_f8_encode(x,
 * scale), value = e4m3(code) × scale as one binary32 multiply. Equal f32 input gives the GPU's
 * codes and scales bit for bit. A NaN element stays NaN; ±inf saturates to ±448 × scale. */

/* Bytes of one row (a multiple of 4 for F32 and F8); 0 for an unknown type or on overflow. */
size_t kn_kv_row_bytes(kn_kv_type t, size_t n_kv_heads, size_t head_dim);
/* Stores src [n_kv_heads][head_dim] into a row of kn_kv_row_bytes bytes (F8 rows 4-byte aligned;
 * the padding is written as zeros). */
void kn_kv_store_heads(void *row, kn_kv_type t, const float *src, size_t n_kv_heads, size_t head_dim);
/* The row's values as f32: dst [n_kv_heads][head_dim] (what kn_attention reads). */
void kn_kv_load_heads(float *dst, const void *row, kn_kv_type t, size_t n_kv_heads, size_t head_dim);
/* kn_kv_store_heads with one head of len values (F8: one scale for the whole row). */
void kn_kv_store(void *cache_row, kn_kv_type t, const float *src, size_t len);

/* Causal GQA attention of one query position over cache positions 0..n_ctx-1:
 *   q   [n_heads][head_dim]
 *   k,v caches of n_ctx rows (layout above), `row_bytes` bytes apart (≥ kn_kv_row_bytes; F32 and
 *       F8 rows 4-byte aligned)
 *   out [n_heads][head_dim]
 *   scores: scratch of n_ctx floats.
 * Query head h reads kv head h / (n_heads / n_kv_heads). Scores are scaled by 1/sqrt(head_dim),
 * softmax in binary32 with the max subtracted. */
void kn_attention(float *out, const float *q, const void *k_cache, const void *v_cache, kn_kv_type t,
		  size_t row_bytes, size_t n_ctx, size_t n_heads, size_t n_kv_heads, size_t head_dim,
		  float *scores);

#ifdef __cplusplus
}
#endif
#endif
