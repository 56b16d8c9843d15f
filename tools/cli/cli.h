/* The `bale` command line: each subcommand parses its arguments and calls the libraries.
 * Exit codes: 0 ok, 1 failure, 2 usage. Results on stdout, diagnostics on stderr. */
#ifndef BALE_CLI_H
#define BALE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	void (*help)(FILE *out);
	const char *summary;
} cli_command;

int cmd_inspect(int argc, char **argv);
void cmd_inspect_help(FILE *out);
int cmd_tokenize(int argc, char **argv);
void cmd_tokenize_help(FILE *out);
int cmd_run(int argc, char **argv);
void cmd_run_help(FILE *out);
int cmd_chat(int argc, char **argv);
void cmd_chat_help(FILE *out);
int cmd_logits(int argc, char **argv);
void cmd_logits_help(FILE *out);
int cmd_bench(int argc, char **argv);
void cmd_bench_help(FILE *out);
int cmd_eval(int argc, char **argv);
void cmd_eval_help(FILE *out);
int cmd_convert(int argc, char **argv);
void cmd_convert_help(FILE *out);

/* Diagnostics: "bale <cmd>: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress reporting: a redrawn bar on a TTY, a plain line every few seconds otherwise. */
typedef struct {
	bool enabled, tty;
	const char *label;
	double t0, last;
	uint64_t total;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label, uint64_t total, bool quiet);
void cli_progress_update(cli_progress *p, uint64_t done, const char *what);
void cli_progress_done(cli_progress *p, uint64_t done);

double cli_now(void);                    /* monotonic seconds */
/* Parses "123", "4K", "1.5G", "40GB", "512MiB" into bytes; false on bad input. */
bool cli_parse_size(const char *s, uint64_t *out);
/* Parses a non-negative integer in [lo, hi]; false on bad input. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);
void cli_format_bytes(uint64_t n, char *buf, size_t len); /* "7.63 GiB" */

#endif
