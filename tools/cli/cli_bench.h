/* Shared by `bale bench` on the CPU (cmd_bench.c) and on the GPU (cmd_bench_cuda.c): the dummy
 * model shapes and weight recipes. */
#ifndef BALE_CLI_BENCH_H
#define BALE_CLI_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bale/fmt.h"

typedef struct {
	const char *name;
	uint32_t layers, d, heads, kv_heads, head_dim, ff, vocab, max_ctx;
	bool tied;
} bench_shape;

typedef struct {
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t group;
} bench_recipe;

#define BENCH_SHAPE_NAMES "tiny, qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b"

const bench_shape *bench_find_shape(const char *name); /* NULL when unknown */
bool bench_parse_recipe(const char *s, bench_recipe *r); /* int8, int8-g32|g64|g128, fp8, bf16, f16, f32 */

/* `bale bench --device cuda` (cmd_bench_cuda.c): its own options; argv as cmd_bench's. */
int cmd_bench_cuda(int argc, char **argv);
void cmd_bench_cuda_help(FILE *out);

#endif
