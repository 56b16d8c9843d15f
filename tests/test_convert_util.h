/* Helpers for the converter tests: hand-built safetensors files and tiny model directories. */
#ifndef BALE_TEST_CONVERT_UTIL_H
#define BALE_TEST_CONVERT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes a safetensors file: 8-byte length, `json` padded with spaces to a multiple of 8, then
 * `data`. Returns 0 on success. */
int tcu_write_raw_st(const char *path, const char *json, const void *data, size_t data_len);

typedef struct {
	const char *arch;      /* "qwen3", "qwen2", "llama" */
	const char *dtype;     /* "BF16", "F16", "F32" */
	uint32_t n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff, vocab;
	bool tie;
	int n_shards;          /* 0 or 1: model.safetensors; more: index + shards */
	uint64_t seed;
	const char *extra_config; /* JSON members appended to config.json (e.g. "\"foo\": 1"), or NULL */
	int nan_tensor;        /* index (in write order) of a tensor that gets a NaN, or -1 */
} tcu_model;

void tcu_model_default(tcu_model *m); /* qwen3, BF16, 2 layers, d_model 64, 1 shard */
/* Creates config.json, generation_config.json, tokenizer.json, tokenizer_config.json and the
 * safetensors file(s) in `dir` (which must exist). */
int tcu_make_model(const char *dir, const tcu_model *m);

#endif
