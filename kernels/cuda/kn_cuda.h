/* kn_cuda — C-callable CUDA launchers. No CUDA types appear here, so plain C code includes it.
 *
 * Conventions:
 *   - Device pointers and streams are void *. A NULL stream is the legacy default stream.
 *   - Every function returns 0 on success or -1 with a reason in err (err may be NULL). Argument
 *     checks happen before anything is launched; a launch failure is reported from
 *     cudaGetLastError. Kernels run asynchronously: errors raised while a kernel runs show up at
 *     the next kn_cuda_synchronize.
 *   - Without a device (or in a build without CUDA) every call fails cleanly with a reason.
 *   - Activations are BF16 (raw uint16 bit patterns) unless a name says f32; arithmetic is f32.
 *   - Shapes follow kn_cpu.h: a weight is [n][k] (out × in), activations are row-major [m][k].
 */
#ifndef BALE_KN_CUDA_H
#define BALE_KN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	char name[256];
	int major, minor;          /* compute capability */
	size_t total_bytes, free_bytes;
	int driver_version, runtime_version; /* e.g. 13000 */
	int n_sms;
} kn_cuda_device_info;

/* Number of usable CUDA devices; 0 with a reason in `why` (no driver, no device, built without
 * CUDA). Never aborts. */
int kn_cuda_device_count(char *why, size_t why_len);
/* 0 on success, -1 with a reason in `why`. */
int kn_cuda_device_info_get(int device, kn_cuda_device_info *info, char *why, size_t why_len);

/* ---- memory helpers (used by tests and the runtime's upload path) ---- */

int kn_cuda_malloc(void **dptr, size_t bytes, char *err, size_t errlen);
void kn_cuda_free(void *dptr); /* NULL is a no-op */
int kn_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes, char *err, size_t errlen);
int kn_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes, char *err, size_t errlen);
/* Fills bytes with `value` (tests poison outputs with 0xFF: NaN in both BF16 and F32). */
int kn_cuda_memset(void *dst, int value, size_t bytes, void *stream, char *err, size_t errlen);
/* Waits for the stream (NULL: the whole device) and reports any error a kernel raised. */
int kn_cuda_synchronize(void *stream, char *err, size_t errlen);

/* ---- streams, events, pinned host memory, graphs ----
 * Thin wrappers so plain C (the runtime's loader and decode loop) can overlap copies and capture
 * the decode step without CUDA headers. Handles are opaque void *. */

int kn_cuda_stream_create(void **stream, char *err, size_t errlen); /* non-blocking stream */
void kn_cuda_stream_destroy(void *stream);                           /* NULL is a no-op */
/* Page-locked host memory (cudaHostAlloc): H2D copies from it run asynchronously at full speed. */
int kn_cuda_host_alloc(void **p, size_t bytes, char *err, size_t errlen);
void kn_cuda_host_free(void *p);
int kn_cuda_memcpy_h2d_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen);
int kn_cuda_memcpy_d2h_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen);
int kn_cuda_memcpy_d2d_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen);
int kn_cuda_event_create(void **ev, char *err, size_t errlen); /* with timing */
void kn_cuda_event_destroy(void *ev);
int kn_cuda_event_record(void *ev, void *stream, char *err, size_t errlen);
int kn_cuda_event_sync(void *ev, char *err, size_t errlen);
/* 1 when the work before the event has finished, 0 when not yet, -1 on error. */
int kn_cuda_event_done(void *ev, char *err, size_t errlen);
int kn_cuda_event_elapsed_ms(float *ms, void *start, void *end, char *err, size_t errlen);
/* Stream capture: everything launched on `stream` between begin and end becomes one graph,
 * instantiated into *exec (launch it with kn_cuda_graph_launch). Launchers that allocate or
 * synchronize must not run inside; the kernels here do neither. */
int kn_cuda_graph_begin(void *stream, char *err, size_t errlen);
int kn_cuda_graph_end(void *stream, void **exec, char *err, size_t errlen);
int kn_cuda_graph_launch(void *exec, void *stream, char *err, size_t errlen);
void kn_cuda_graph_destroy(void *exec);
/* Device memory in use now (total − free of the current device), for reports. */
int kn_cuda_mem_used(size_t *used, size_t *total, char *err, size_t errlen);

/* Deterministic pseudo-random fill (a hash of seed and index, no state), for benchmarks on
 * synthetic weights generated on the device: F32 and BF16 uniform in [lo, hi); I8 codes uniform
 * in −127..127; F8_E4M3 codes uniform over the finite codes with |value| ≤ hi (NaN never
 * written). count is in elements. */
int kn_cuda_fill_random(void *dst, int dtype, size_t count, uint64_t seed, float lo, float hi, void *stream,
			char *err, size_t errlen);

/* ---- weights ---- */

/* Element types, numerically equal to fmt_dtype (formats/include/bale/fmt.h) so callers can
 * assign one to the other; tests check the equality. */
enum { KN_CUDA_F32 = 0, KN_CUDA_F16 = 1, KN_CUDA_BF16 = 2, KN_CUDA_I8 = 3, KN_CUDA_F8_E4M3 = 4 };
/* Schemes, numerically equal to fmt_scheme. */
enum { KN_CUDA_SCHEME_NONE = 0, KN_CUDA_SCHEME_ROW = 1, KN_CUDA_SCHEME_GROUP = 2 };

/* A device-resident weight [n][k] laid out as SPEC §6.3: codes row-major, and for ROW/GROUP f32
 * scales [n][k/group] (group = k for ROW). Supported: BF16/NONE, I8/ROW, I8/GROUP (32, 64, 128
 * dividing k), F8_E4M3/ROW. Rows start 16-byte aligned when data is and k·size is a multiple of
 * 16; otherwise the kernels take a slower element-wise path (still correct). */
typedef struct {
	int dtype, scheme;
	uint32_t group_size; /* GROUP only */
	size_t n, k;
	const void *data;    /* device */
	const float *scales; /* device; NULL for scheme NONE */
} kn_cuda_weight;

/* Checks a weight as the launchers do; 0 or -1 with the reason. */
int kn_cuda_weight_check(const kn_cuda_weight *w, char *err, size_t errlen);

/* Optional GEMV / GEMM epilogue. out_f32: y is float instead of BF16. residual: when non-NULL,
 * y = x·Wᵀ + residual, with residual of y's type and shape [m][n]; it may equal y (in place).
 * swiglu: W is a fused gate/up weight of 2n rows interleaved as gate row j = W row 2j, up row j =
 * W row 2j + 1 (the runtime interleaves them at upload), and y[m][n] = silu(g)·u with g, u the
 * f32 dot products (no rounding in between); y has n = w->n / 2 columns. swiglu excludes
 * residual. */
typedef struct {
	int out_f32;
	const void *residual;
	int swiglu;
} kn_cuda_epilogue;

#define KN_CUDA_GEMV_MAX_M 16

/* Decode GEMV / skinny GEMM y[m][n] = x[m][k] · dequant(W[n][k])ᵀ for 1 ≤ m ≤ 16, f32
 * accumulation, one rounding of the result to y's type. x is BF16 [m][k]; ep may be NULL
 * (BF16 output, no residual). x must not overlap y. */
int kn_cuda_gemv(const kn_cuda_weight *w, const void *x_bf16, void *y, int m, const kn_cuda_epilogue *ep,
		 void *stream, char *err, size_t errlen);

/* Dequantizes rows [row0, row0 + rows) into out_f32[rows][k] exactly as SPEC §6.2 (one binary32
 * multiply per element), so the result equals kn_dequant_row bit for bit. */
int kn_cuda_dequant_rows(const kn_cuda_weight *w, size_t row0, size_t rows, void *out_f32, void *stream, char *err,
			 size_t errlen);

/* ---- element-wise kernels ---- */

/* Residual add + RMSNorm over rows of n: if add_bf16 is non-NULL, h += add first (h written
 * back); then y = bf16(w ⊙ (h · 1/sqrt(mean(h²) + eps))). h is f32 [m][n] (the residual stream),
 * w is f32 [n], y is BF16 [m][n]. */
int kn_cuda_rmsnorm(void *h_f32, const void *add_bf16, const void *w_f32, void *y_bf16, int m, int n, float eps,
		    void *stream, char *err, size_t errlen);

/* Per-head RMSNorm (Qwen3 q_norm/k_norm; skipped when norm_w_f32 is NULL) and NeoX RoPE, in place
 * on x BF16 [m][n_heads][head_dim]. Token i is at position pos_i32[i] (device, int32). The
 * rotation of pair (j, j + dim/2) uses cos_sin_f32[pos][j] and [pos][dim/2 + j], a table of
 * max_pos rows × dim floats built by kn_cuda_rope_table (YaRN/linear scaling live in the table).
 * Positions ≥ max_pos or < 0 write NaN to that token's heads rather than read out of bounds. */
int kn_cuda_qk_norm_rope(void *x_bf16, const void *norm_w_f32, const void *pos_i32, const void *cos_sin_f32,
			 int max_pos, int m, int n_heads, int head_dim, int dim, float eps, void *stream, char *err,
			 size_t errlen);

/* Host helper: table[pos][j] = cos(pos·inv_freq[j])·mscale, table[pos][dim/2 + j] = sin(…)·mscale
 * for pos < max_pos, j < dim/2, computed as kn_rope does. table has max_pos × dim floats. */
void kn_cuda_rope_table(float *table, size_t max_pos, uint32_t dim, const float *inv_freq, float mscale);

/* out[i][j] = bf16(silu(g)·u) with g = gate_up[i][j], u = gate_up[i][n + j] (the fused gate+up
 * GEMV output [m][2n]); out is BF16 [m][n] and must not overlap gate_up. */
int kn_cuda_swiglu(const void *gate_up_bf16, void *out_bf16, int m, int n, void *stream, char *err, size_t errlen);

/* out_f32[i][:] = dequant(row ids[i] of w) for i < m (ids: device int32). Bit-identical to
 * kn_embed. An id outside [0, n) writes a row of NaN instead of reading out of bounds. */
int kn_cuda_embed(const kn_cuda_weight *w, const void *ids_i32, int m, void *out_f32, void *stream, char *err,
		  size_t errlen);

/* out_f32[i] = in_bf16[i] widened exactly (logits for the CPU sampler). */
int kn_cuda_bf16_to_f32(const void *in_bf16, void *out_f32, size_t count, void *stream, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
