/* Internal to kernels/cpu: the per-row kernels the matmul driver dispatches to. */
#ifndef BALE_KN_MATMUL_IMPL_H
#define BALE_KN_MATMUL_IMPL_H

#include "kn_cpu.h"

/* Σ_c x[c] · dequant(W[r][c]) for one row; `lut` is the 256-entry E4M3 table (F8 only). */
typedef float (*kn_rowdot_fn)(const kn_weight *w, size_t r, const float *x, const float *lut);
/* Σ a[i]·b[i] */
typedef float (*kn_dot_fn)(const float *a, const float *b, size_t n);
/* Row r dequantized into out[w->k], bit-identical to kn_dequant_row (one code × scale product). */
typedef void (*kn_dequant_fn)(const kn_weight *w, size_t r, const float *lut, float *out);

/* Each returns NULL when the type has no kernel for that ISA. */
kn_rowdot_fn kn_rowdot_scalar(const kn_weight *w);
kn_rowdot_fn kn_rowdot_avx2(const kn_weight *w);
kn_rowdot_fn kn_rowdot_avx512(const kn_weight *w);
kn_dequant_fn kn_dequant_avx2(const kn_weight *w);
kn_dequant_fn kn_dequant_avx512(const kn_weight *w);
/* The batch (m > 1) micro-kernel: out[i·t + j] = Σ_{c<k} w[i][c]·x[j][c] for i < r, j < t, where
 * r and t are the kernel's fixed tile sizes (the driver repeats the last valid row or token to
 * fill a partial tile and drops those outputs). Rows are dequantized f32 (scales already in). */
typedef void (*kn_tile_fn)(const float *const *w, const float *const *x, size_t k, float *out);
typedef struct {
	size_t r, t; /* each at most KN_TILE_MAX */
	kn_tile_fn fn;
} kn_tile_kernel;
#define KN_TILE_MAX 8
kn_tile_kernel kn_tile_avx2(void);
kn_tile_kernel kn_tile_avx512(void);

float kn_dot_scalar(const float *a, const float *b, size_t n);
float kn_dot_avx2(const float *a, const float *b, size_t n);
float kn_dot_avx512(const float *a, const float *b, size_t n);

#endif
