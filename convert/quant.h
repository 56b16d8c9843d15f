/* cv quantizers — the arithmetic of formats/SPEC.md §6.4, exactly, on f32 rows.
 * Pure functions: no allocation, no I/O, thread-safe. Results are bit-identical for any
 * split of the rows across threads (statistics are per call; merge them in row order). */
#ifndef BALE_CV_QUANT_H
#define BALE_CV_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"

typedef enum {
	CV_Q_F32 = 0,
	CV_Q_F16,
	CV_Q_BF16,
	CV_Q_INT8_ROW,   /* I8, scheme ROW */
	CV_Q_INT8_GROUP, /* I8, scheme GROUP (group 32/64/128) */
	CV_Q_FP8_ROW,    /* F8_E4M3, scheme ROW */
} cv_qkind;

/* Exact accumulator width: bit b weighs 2^(b−1074), enough for any sum of 2^64 row sums of
 * finite-f32 data (each < 2^362). */
#define CV_XACC_LIMBS 33

/* Error statistics of dequant(quant(w)) − w (SPEC §6.4): per row, binary64 sums in element
 * order; the row sums are then added exactly, so merging per-call statistics gives the same
 * bits for any split of the rows and any merge order. */
typedef struct {
	double sum_sq_err;  /* Σ (dq − w)², exact sum of the row sums rounded to binary64 */
	double sum_sq_src;  /* Σ w², likewise */
	double max_abs_err; /* max |dq − w| */
	uint64_t n;
	uint64_t xacc_err[CV_XACC_LIMBS]; /* private: the exact sums behind the two doubles */
	uint64_t xacc_src[CV_XACC_LIMBS];
} cv_qstats;

/* Source element types of safetensors we accept. */
typedef enum { CV_SRC_F32 = 0, CV_SRC_F16, CV_SRC_BF16 } cv_src_dtype;

/* Widens n source values to f32 exactly. Returns 0, or -1 when a NaN/Inf is found, with its
 * element index in *bad_index. */
int cv_src_to_f32(cv_src_dtype t, const void *src, size_t n, float *dst, size_t *bad_index);

/* Storage dtype/scheme of a recipe. */
fmt_dtype cv_qkind_dtype(cv_qkind k);
fmt_scheme cv_qkind_scheme(cv_qkind k);
const char *cv_qkind_name(cv_qkind k, uint32_t group); /* "int8", "int8-g128", "fp8", "bf16" ... */

/* Quantizes `rows` rows of `cols` values (row-major src). `codes` receives rows*cols elements of
 * cv_qkind_dtype(k) (little-endian for F16/BF16/F32); `scales` receives rows*groups f32
 * (groups = 1 for ROW, cols/group for GROUP; unused for float kinds, may be NULL). `group` is
 * read only for CV_Q_INT8_GROUP. `st` is reset, then filled; NULL skips the statistics (about
 * twice as fast). Returns 0, or -1 on bad arguments (cols 0 or not a multiple of group, group
 * not 32/64/128, NaN/Inf in src, F16/BF16 overflow to inf); after -1 the outputs are partial
 * and `st` is reset. */
int cv_quantize_rows(cv_qkind k, uint32_t group, const float *src, uint64_t rows, uint64_t cols,
		     void *codes, float *scales, cv_qstats *st);

void cv_qstats_init(cv_qstats *s);
void cv_qstats_merge(cv_qstats *into, const cv_qstats *from);
/* rmse, max abs, rms of source, as stored in the tensor table. */
fmt_tensor_stats cv_qstats_finish(const cv_qstats *s);

#endif
