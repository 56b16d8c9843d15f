/* Options and helpers shared by `bale run`, `bale chat` and `bale logits`. */
#ifndef BALE_CLI_GEN_H
#define BALE_CLI_GEN_H

#include <stdbool.h>
#include <stdio.h>

#include "cli_plan.h"
#include "gen.h"

#define CLI_GEN_MAX_STOP 64

typedef struct {
	const char *model;
	gen_model_opts mo;
	gen_session_opts so;
	bool yarn_set;
	/* sampling overrides (has_* says the flag was given) */
	bool greedy, has_temp, has_top_k, has_top_p, has_min_p, has_rep, has_pres, has_freq, has_seed;
	double temp, top_p, min_p, rep, pres, freq;
	long top_k;
	unsigned long long seed;
	long max_tokens; /* -1 = model default */
	const char *stop[CLI_GEN_MAX_STOP];
	size_t n_stop;
	const char *system;
	int enable_thinking; /* -1 = template default */
	cli_device_opts dev; /* --device, --vram, and which --kv was asked */
	bool no_verify_load; /* --no-verify-load */
	char device_name[256]; /* filled by cli_gen_device_setup for --device cuda */
} cli_gen_opts;

void cli_gen_opts_init(cli_gen_opts *o);

/* Tries argv[*i] as a shared option (consuming its value). Returns 1 when consumed, 0 when not a
 * shared option, -1 on a usage error (already reported). `sampling` enables the sampling flags. */
int cli_gen_parse(const char *cmd, int argc, char **argv, int *i, cli_gen_opts *o, bool sampling);

/* After parsing: checks --kv against --device (-1: usage error, reported). For --device cuda it
 * then runs the preflight (a usable GPU; the plan at --ctx fits; CLI_FAIL reported otherwise) and
 * points o->mo at the GPU. Returns CLI_OK, CLI_FAIL or CLI_USAGE. */
int cli_gen_device_setup(const char *cmd, cli_gen_opts *o);

/* For a GPU model: "bale CMD: loaded 8.10 GB onto NAME in 1.60 s (5.06 GB/s), verified" on stderr. */
void cli_gen_print_load(const char *cmd, const cli_gen_opts *o, const gen_model *m);

/* The CPU kernel KV type of --kv (for the CPU dry-run plan). */
kn_kv_type cli_gen_cpu_kv(const cli_gen_opts *o);

/* Help text of the shared options. */
void cli_gen_help_model(FILE *out);
void cli_gen_help_sampling(FILE *out);

/* Model defaults with the overrides applied. */
void cli_gen_params(const cli_gen_opts *o, const gen_model *m, gen_params *p);

/* Ctrl-C: while `generating` is set, SIGINT cancels the answer; otherwise it ends the program. */
void cli_gen_install_sigint(void);
void cli_gen_set_generating(bool on);

/* Prints "prompt N tokens, generated M tokens, prefill X tok/s, decode Y tok/s" on stderr. */
void cli_gen_print_stats(const char *cmd, const gen_stats *st);

#endif

/* Streams generated pieces to stdout: reasoning dimmed on a TTY, or hidden; optionally keeps
 * everything generated (reasoning included) in `acc` for chat history. */
typedef struct {
	bool tty, hide_think, keep;
	bool dim_on, shown_any, last_nl, nomem;
	char *acc;
	size_t acc_len, acc_cap;
} cli_gen_printer;

void cli_gen_printer_init(cli_gen_printer *p, bool hide_think, bool keep);
/* A gen_piece_fn; false (stop) once Ctrl-C has asked to cancel the answer. */
bool cli_gen_print_piece(void *user, const char *text, size_t len, bool reasoning);
void cli_gen_printer_end(cli_gen_printer *p); /* resets the colour and ends the line */
void cli_gen_printer_free(cli_gen_printer *p);
/* Reads all of f (at most 1 GiB) into a NUL-terminated malloc'ed buffer; NULL on error. */
char *cli_gen_read_all(FILE *f, size_t *len);
