/* bale — entry point and subcommand dispatch. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_command commands[] = {
	{"convert", cmd_convert, cmd_convert_help, "convert a Hugging Face safetensors model to .bale (INT8/FP8)"},
	{"inspect", cmd_inspect, cmd_inspect_help, "show and verify the contents of a .bale file"},
	{"tokenize", cmd_tokenize, cmd_tokenize_help, "encode text to token ids, or decode ids to text"},
	{"run", cmd_run, cmd_run_help, "generate an answer to one prompt"},
	{"chat", cmd_chat, cmd_chat_help, "interactive multi-turn chat"},
	{"logits", cmd_logits, cmd_logits_help, "write the raw logits of a token sequence (parity checks)"},
	{"bench", cmd_bench, cmd_bench_help, "measure prefill/decode speed and memory bandwidth"},
	{"eval", cmd_eval, cmd_eval_help, "perplexity, KL divergence vs a reference, task accuracy"},
};
static const size_t n_commands = sizeof commands / sizeof commands[0];

static void usage(FILE *out)
{
	fprintf(out, "usage: bale <command> [options]\n\n"
		     "Run 8-bit LLMs on one GPU.\n\ncommands:\n");
	for (size_t i = 0; i < n_commands; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "  %-10s %s\n", "help", "show help for a command (bale help CMD)");
	fprintf(out, "\noptions:\n  -h, --help     show this help\n  -V, --version  show the version\n");
}

static const cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < n_commands; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bale %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* libgomp reads OMP_WAIT_POLICY once, when it is loaded, and by default spin-waits at every
 * barrier. As soon as another process holds a core, each of the hundreds of parallel regions in a
 * decode step then waits out a scheduler time slice: measured 7x slower decode on a busy 2-core
 * machine. Passive waiting costs microseconds per region, so bale defaults to it by re-executing
 * itself once with the variable set (a user's own setting is left alone). */
static void default_passive_openmp(char **argv)
{
	if (getenv("OMP_WAIT_POLICY"))
		return;
	if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0)
		return;
	execv("/proc/self/exe", argv);
	/* exec failed (no /proc): carry on with the default policy */
}

int main(int argc, char **argv)
{
	default_passive_openmp(argv);
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	const char *c = argv[1];
	if (!strcmp(c, "-h") || !strcmp(c, "--help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(c, "-V") || !strcmp(c, "--version") || !strcmp(c, "version")) {
		printf("bale %s (format %d.%d)\n", BALE_VERSION, 1, 0);
		return CLI_OK;
	}
	if (!strcmp(c, "help")) {
		if (argc < 3) {
			usage(stdout);
			return CLI_OK;
		}
		const cli_command *h = find_command(argv[2]);
		if (!h) {
			fprintf(stderr, "bale: unknown command '%s' (see 'bale --help')\n", argv[2]);
			return CLI_USAGE;
		}
		h->help(stdout);
		return CLI_OK;
	}
	const cli_command *cmd = find_command(c);
	if (!cmd) {
		fprintf(stderr, "bale: unknown command '%s' (see 'bale --help')\n", c);
		return CLI_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
