/* bale convert — command line over convert/convert.h: flags, progress, signals, summary.
 *
 * Output: progress and the human summary go to stderr (stdout stays free for --json, which
 * prints one JSON summary object on stdout). --quiet silences progress and the human summary.
 * SIGINT/SIGTERM remove the temporary output file and exit with 128 + signal (130 for SIGINT). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "convert.h"

static const char *CMD = "convert";

static char g_temp[4096];
static volatile sig_atomic_t g_temp_ready;

static void on_signal(int sig)
{
	if (g_temp_ready)
		unlink(g_temp); /* async-signal-safe */
	_exit(128 + sig);
}

/* Signals stay blocked from the start of the conversion until the temporary path is known, so a
 * signal can never land between the file's creation and its registration here. */
static sigset_t g_sigs;

static void on_temp(void *user, const char *path)
{
	(void)user;
	g_temp_ready = 0;
	if (path && strlen(path) < sizeof g_temp) {
		memcpy(g_temp, path, strlen(path) + 1);
		g_temp_ready = 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &g_sigs, NULL);
}

static bool on_progress(void *user, uint64_t done, uint64_t total, const char *tensor)
{
	cli_progress *p = user;
	p->total = total;
	cli_progress_update(p, done, tensor);
	return true;
}

void cmd_convert_help(FILE *out)
{
	fprintf(out,
		"usage: bale convert MODEL_DIR -o OUT.bale [options]\n\n"
		"Convert a Hugging Face model directory (config.json, tokenizer.json, model.safetensors or\n"
		"model.safetensors.index.json + shards; Qwen3, Qwen2 or Llama; BF16/F16/F32) to .bale.\n\n"
		"options:\n"
		"  -o, --output FILE    output .bale file (required)\n"
		"  --weights RECIPE     storage of linear weights, tok_embd and output (default int8):\n"
		"                       int8 (per row), int8-g128, int8-g64, int8-g32 (per group),\n"
		"                       fp8 (E4M3 per row), bf16, f16, f32; norms and biases stay f32\n"
		"  --keep PATTERN=TYPE  store tensors matching the glob PATTERN (canonical or Hugging Face\n"
		"                       name) as TYPE, e.g. --keep output=bf16 --keep 'blk.*.ffn_down=int8-g128';\n"
		"                       repeatable, the last matching rule wins\n"
		"  --threads N          worker threads (default: all cores); output is identical for any N\n"
		"  -f, --force          replace an existing output file\n"
		"  -q, --quiet          no progress and no summary\n"
		"  --report FILE.json   write per-tensor errors (rel_rmse, max_abs_err, sqnr_db)\n"
		"  --json               print the summary as JSON on stdout\n"
		"  -h, --help           show this help\n\n"
		"A lm_head.weight stored next to tied embeddings (tie_word_embeddings true) is skipped, as\n"
		"transformers ignores it too. Progress and the summary go to stderr.\n"
		"Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted.\n");
}

typedef struct {
	const char *dir, *out, *report;
	bool quiet, json;
	cv_options o;
} args;

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bale %s: ", CMD);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see 'bale convert --help')\n");
	va_end(ap);
	return CLI_USAGE;
}

/* "--name value" or "--name=value". */
static const char *opt_value(const char *a, const char *name, int *i, int argc, char **argv, bool *matched)
{
	size_t n = strlen(name);
	*matched = false;
	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=') {
		*matched = true;
		return a + n + 1;
	}
	if (a[n])
		return NULL;
	*matched = true;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int parse_args(int argc, char **argv, args *a)
{
	memset(a, 0, sizeof *a);
	cv_options_init(&a->o);
	bool opts_done = false;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *v;
		bool m;
		if (opts_done || s[0] != '-' || !strcmp(s, "-")) {
			if (a->dir)
				return usage_err("unexpected argument '%s'", s);
			a->dir = s;
		} else if (!strcmp(s, "--")) {
			opts_done = true;
		} else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			cmd_convert_help(stdout);
			return -1;
		} else if (!strcmp(s, "-o")) {
			if (i + 1 >= argc)
				return usage_err("%s needs a file name", s);
			a->out = argv[++i];
		} else if ((v = opt_value(s, "--output", &i, argc, argv, &m)), m) {
			if (!v || !*v)
				return usage_err("%s needs a file name", "--output");
			a->out = v;
		} else if ((v = opt_value(s, "--weights", &i, argc, argv, &m)), m) {
			if (!v || !cv_recipe_parse(v, &a->o.recipe))
				return usage_err("--weights: unknown recipe '%s' (int8, int8-g128, int8-g64, int8-g32, fp8, bf16, f16, f32)",
						 v ? v : "");
		} else if ((v = opt_value(s, "--keep", &i, argc, argv, &m)), m) {
			if (a->o.n_keep >= CV_MAX_KEEP)
				return usage_err("too many --keep rules (at most %s)", "64");
			if (!v || !cv_keep_parse(v, &a->o.keep[a->o.n_keep]))
				return usage_err("--keep: expected PATTERN=TYPE with a known TYPE, got '%s'", v ? v : "");
			a->o.n_keep++;
		} else if ((v = opt_value(s, "--threads", &i, argc, argv, &m)), m) {
			long n;
			if (!v || !cli_parse_int(v, 1, 256, &n))
				return usage_err("--threads: expected an integer in 1..256, got '%s'", v ? v : "");
			a->o.n_threads = (int)n;
		} else if ((v = opt_value(s, "--report", &i, argc, argv, &m)), m) {
			if (!v || !*v)
				return usage_err("%s needs a file name", "--report");
			a->report = v;
		} else if (!strcmp(s, "-f") || !strcmp(s, "--force")) {
			a->o.force = true;
		} else if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) {
			a->quiet = true;
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else {
			return usage_err("unknown option '%s'", s);
		}
	}
	if (!a->dir)
		return usage_err("%s", "missing MODEL_DIR");
	if (!a->out)
		return usage_err("%s", "missing -o OUT.bale");
	return 0;
}

static int cmp_rel(const void *x, const void *y)
{
	double a = cv_rel_rmse(*(const cv_tensor_info *const *)x), b = cv_rel_rmse(*(const cv_tensor_info *const *)y);
	return a < b ? 1 : a > b ? -1 : 0;
}

/* Up to 10 tensors with the largest relative error, worst first. */
static size_t worst(const cv_result *r, const cv_tensor_info **w)
{
	const cv_tensor_info **all = malloc((r->n_tensors + 1) * sizeof *all);
	if (!all)
		return 0;
	for (size_t i = 0; i < r->n_tensors; i++)
		all[i] = &r->tensors[i];
	qsort(all, r->n_tensors, sizeof *all, cmp_rel);
	size_t n = r->n_tensors < 10 ? r->n_tensors : 10;
	memcpy(w, all, n * sizeof *w);
	free(all);
	return n;
}

static void print_summary(const args *a, const cv_result *r)
{
	char b[32], s[32];
	cli_format_bytes(r->out_bytes, b, sizeof b);
	cli_format_bytes(r->src_bytes, s, sizeof s);
	fprintf(stderr, "wrote %s: %s from %s of tensors in %.2f s (tensors %.2f s, %.2f GB/s, %d threads)\n", a->out, b,
		s, r->seconds, r->tensor_seconds, r->tensor_seconds > 0 ? (double)r->src_bytes / r->tensor_seconds / 1e9 : 0.0,
		r->n_threads);
	for (size_t i = 0; i < r->n_totals; i++) {
		cli_format_bytes(r->totals[i].bytes, b, sizeof b);
		fprintf(stderr, "  %-10s %5llu tensors %14llu params %12s\n", r->totals[i].type,
			(unsigned long long)r->totals[i].n_tensors, (unsigned long long)r->totals[i].n_params, b);
	}
	if (r->n_skipped)
		fprintf(stderr, "  skipped %zu unused source tensor%s (%s%s)\n", r->n_skipped, r->n_skipped > 1 ? "s" : "",
			r->skipped_first, r->n_skipped > 1 ? ", ..." : "");
	const cv_tensor_info *w[10];
	size_t n = worst(r, w);
	fprintf(stderr, "largest relative errors (rmse / source rms):\n");
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "  %-28s %-10s rel %.3e  max_abs %.3e  sqnr %.1f dB\n", w[i]->name, w[i]->type,
			cv_rel_rmse(w[i]), w[i]->max_abs, cv_sqnr_db(w[i]));
}

static void print_json(const args *a, const cv_result *r)
{
	printf("{\"output\": \"");
	for (const char *p = a->out; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", (unsigned char)*p);
		else
			putchar(*p);
	}
	printf("\", \"out_bytes\": %llu, \"src_bytes\": %llu, \"seconds\": %.3f, \"tensor_seconds\": %.3f, \"threads\": %d, "
	       "\"skipped\": %zu,\n", (unsigned long long)r->out_bytes, (unsigned long long)r->src_bytes, r->seconds,
	       r->tensor_seconds, r->n_threads, r->n_skipped);
	printf(" \"types\": [");
	for (size_t i = 0; i < r->n_totals; i++)
		printf("%s{\"type\": \"%s\", \"tensors\": %llu, \"params\": %llu, \"bytes\": %llu}", i ? ", " : "",
		       r->totals[i].type, (unsigned long long)r->totals[i].n_tensors,
		       (unsigned long long)r->totals[i].n_params, (unsigned long long)r->totals[i].bytes);
	printf("],\n \"worst\": [");
	const cv_tensor_info *w[10];
	size_t n = worst(r, w);
	for (size_t i = 0; i < n; i++)
		printf("%s{\"name\": \"%s\", \"type\": \"%s\", \"rel_rmse\": %.6e, \"max_abs_err\": %.6e, \"sqnr_db\": %.3f}",
		       i ? ", " : "", w[i]->name, w[i]->type, cv_rel_rmse(w[i]), w[i]->max_abs, cv_sqnr_db(w[i]));
	printf("]}\n");
}

int cmd_convert(int argc, char **argv)
{
	args a;
	int prc = parse_args(argc, argv, &a);
	if (prc < 0)
		return CLI_OK;
	if (prc)
		return prc;
	cv_err err = {{0}};
	if (cv_check_output(a.dir, a.out, a.o.force, &err)) {
		cli_error(CMD, "%s", err.msg);
		return CLI_FAIL;
	}
	cli_progress prog;
	cli_progress_init(&prog, "convert", 0, a.quiet);
	a.o.progress = on_progress;
	a.o.on_temp = on_temp;
	a.o.user = &prog;
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigemptyset(&g_sigs);
	sigaddset(&g_sigs, SIGINT);
	sigaddset(&g_sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &g_sigs, NULL);
	cv_result r = {0};
	/* The progress total is only known inside; every callback passes it. */
	int rc = cv_convert(a.dir, a.out, &a.o, &r, &err);
	pthread_sigmask(SIG_UNBLOCK, &g_sigs, NULL); /* a signal held back until now is handled here */
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (rc) {
		if (prog.enabled && prog.tty)
			fprintf(stderr, "\n");
		cli_error(CMD, "%s", err.msg);
		return CLI_FAIL;
	}
	cli_progress_done(&prog, r.src_bytes);
	int ret = CLI_OK;
	if (a.report && cv_write_report(&r, a.report, &err)) {
		cli_error(CMD, "report: %s", err.msg);
		ret = CLI_FAIL;
	}
	if (a.json)
		print_json(&a, &r);
	if (!a.quiet)
		print_summary(&a, &r);
	cv_result_free(&r);
	return ret;
}
