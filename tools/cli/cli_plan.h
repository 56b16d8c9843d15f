/* --device, --vram, --dry-run and the memory plan tables of `bale run/chat/logits/bench/inspect`
 * (runtime/plan, docs/GPU.md). */
#ifndef BALE_CLI_PLAN_H
#define BALE_CLI_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bale/fmt.h"
#include "kn_cpu.h"

typedef struct {
	bool cuda;       /* --device cuda */
	uint64_t vram;   /* --vram; 0 = PL_DEFAULT_VRAM */
	bool kv_given;   /* --kv was given */
	bool kv_fp8;     /* --kv fp8 */
	bool kv_f32;     /* --kv f32 (CPU only) */
	bool embed_on_device; /* --embed-on-device: upload tok_embd too (default: host memory) */
} cli_device_opts;

/* Handles "--device" and "--vram" with their value: 1 when consumed, 0 when opt is neither,
 * -1 on a bad value (reported; a usage error). */
int cli_device_option(const char *cmd, const char *opt, const char *val, cli_device_opts *d);

/* Checks --kv against --device (f32 is CPU-only): 0 or -1 (reported; a usage error). */
int cli_device_check(const char *cmd, const cli_device_opts *d);

/* Help lines of --device / --vram. */
void cli_device_help(FILE *out);

/* Before `--device cuda` loads anything: 0 when device 0 is usable and (when model is not NULL)
 * the plan of model at ctx (0 = the session default) with d's KV type fits its free memory and
 * --vram; the device's name goes to name. Otherwise -1 with the reason reported (no usable GPU,
 * or what would fit). */
int cli_device_cuda_preflight(const char *cmd, const char *model, const cli_device_opts *d, uint32_t ctx, char *name,
			      size_t name_len);

/* --dry-run: prints the plan for the model on stdout (GPU plan for --device cuda, RAM for cpu)
 * without computing anything. ctx 0 = the session default; max_batch 0 = the session default.
 * CLI_OK when it fits (the CPU plan always "fits": weights are mapped), CLI_FAIL otherwise. */
int cli_plan_dry_run(const char *cmd, const char *model, const cli_device_opts *d, uint32_t ctx, kn_kv_type cpu_kv,
		     uint32_t max_batch);

/* `bale inspect`: the planner's table at the default budget (text), or its JSON into mem. */
void cli_plan_print_inspect(FILE *out, const fmt_reader *r);
void cli_plan_inspect_json(const fmt_reader *r, json_t *mem);

#endif
