/* cv — Hugging Face model directory (safetensors) → .bale.
 *
 * The pipeline: validate config.json and every safetensors file, check the output path, then
 * stream each tensor in output order (tok_embd, layers 0..n-1, output_norm, output) through a
 * pool of threads in row blocks of about 4 MiB of source data, writing blocks strictly in order.
 * Error statistics are merged in row-block order and block boundaries do not depend on the
 * thread count, so the output is byte-identical for any --threads. Memory stays bounded: source
 * pages are released (madvise/fadvise DONTNEED) once hashed and consumed, and only a fixed number
 * of blocks is in flight. Source files are hashed (XXH3) as they are consumed, not in a second
 * pass; bytes that are consumed out of file order wait for the hash cursor to reach them.
 *
 * Nothing is printed; every failure fills cv_err with the file, tensor and problem. */
#ifndef BALE_CV_CONVERT_H
#define BALE_CV_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"
#include "quant.h"
#include "safetensors.h"

#define CV_MAX_KEEP 64

/* A storage recipe: --weights value, or the TYPE of a --keep rule. */
typedef struct {
	cv_qkind kind;
	uint32_t group; /* INT8_GROUP only: 32, 64 or 128 */
} cv_recipe;

/* Parses "int8", "int8-g128", "int8-g64", "int8-g32", "fp8", "bf16", "f16", "f32". */
bool cv_recipe_parse(const char *s, cv_recipe *out);
void cv_recipe_name(cv_recipe r, char *buf, size_t len);

typedef struct {
	char pattern[256]; /* fnmatch glob over canonical and Hugging Face names */
	cv_recipe recipe;
} cv_keep_rule;

/* Parses "PATTERN=TYPE". */
bool cv_keep_parse(const char *s, cv_keep_rule *out);

/* Progress: called from the writing thread after each block; return false to stop (the
 * conversion then fails with "interrupted" and removes its temporary file). */
typedef bool (*cv_progress_fn)(void *user, uint64_t done_bytes, uint64_t total_bytes, const char *tensor);
/* Called with the writer's temporary path once it exists, and with NULL once it is gone, so a
 * signal handler can unlink it. */
typedef void (*cv_temp_fn)(void *user, const char *temp_path);

typedef struct {
	cv_recipe recipe;               /* for every linear weight, tok_embd and output */
	cv_keep_rule keep[CV_MAX_KEEP]; /* later rules win over earlier ones */
	size_t n_keep;
	int n_threads;                  /* 0 = all online cores */
	bool force;                     /* replace an existing output */
	uint64_t block_elems;           /* source elements per row block; 0 = default (2^21). The
					 * output depends on it (statistics merge order), never on
					 * n_threads; tests lower it to get many blocks cheaply. */
	cv_progress_fn progress;
	cv_temp_fn on_temp;
	void *user;
} cv_options;

void cv_options_init(cv_options *o); /* int8 per row, all cores, no overwrite */

typedef struct {
	char name[FMT_MAX_NAME];
	char hf_name[128];
	char type[16];    /* recipe name, e.g. "int8", "f32" */
	uint32_t n_dims;
	uint64_t dims[2];
	uint64_t src_bytes, out_bytes;
	double rmse, max_abs, src_rms;
} cv_tensor_info;

typedef struct {
	char type[16];
	uint64_t n_tensors, n_params, bytes;
} cv_type_total;

typedef struct {
	cv_tensor_info *tensors; /* output order */
	size_t n_tensors;
	cv_type_total totals[8];
	size_t n_totals;
	uint64_t src_bytes;      /* tensor bytes read */
	uint64_t out_bytes;      /* size of the .bale */
	size_t n_skipped;        /* ignorable source tensors (inv_freq, tied lm_head) */
	char skipped_first[128];
	double seconds;          /* whole conversion */
	double tensor_seconds;   /* streaming the tensors only (the rest is parsing and zstd of FILES) */
	int n_threads;
} cv_result;

void cv_result_free(cv_result *r); /* frees the arrays, keeps the struct */

/* rmse / src_rms (0 when the source is all zeros), and 10·log10(src_rms² / rmse²) (capped at
 * 999 for exact tensors). */
double cv_rel_rmse(const cv_tensor_info *t);
double cv_sqnr_db(const cv_tensor_info *t);

/* Checks the output path before any work: not a directory, not one of the input files, its
 * directory writable, and absent unless `force`. */
int cv_check_output(const char *model_dir, const char *out_path, bool force, cv_err *err);

/* Converts `model_dir` into `out_path`. `res` may be NULL. */
int cv_convert(const char *model_dir, const char *out_path, const cv_options *opt, cv_result *res, cv_err *err);

/* Writes the per-tensor report as JSON, atomically (temp file + rename). */
int cv_write_report(const cv_result *r, const char *path, cv_err *err);

#endif
