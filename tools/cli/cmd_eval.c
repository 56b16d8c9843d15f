/* bale eval — perplexity, KL divergence against a reference .bale, and task accuracy. */
#include "cli.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval_run.h"

void cmd_eval_help(FILE *out)
{
	fprintf(out,
		"usage: bale eval MODEL.bale --text FILE [--ref OTHER.bale] [options]\n"
		"       bale eval MODEL.bale --tasks FILE.jsonl [--samples K] [options]\n\n"
		"--text: perplexity of the raw text (no template, no BOS/EOS added). The tokens are\n"
		"scored in windows of --ctx positions that start every --stride tokens: the first\n"
		"window scores all its predictions, each later one only the tokens after the previous\n"
		"window's end, so every token is scored once with at least ctx - stride tokens of\n"
		"context (with the default stride ctx/2, the second half of each window). PPL =\n"
		"exp(mean negative log-likelihood).\n\n"
		"--ref: the same windows through OTHER.bale too (same tokenizer required); reports\n"
		"KL(ref || model) per scored position (mean, median, 99th percentile, max), how often\n"
		"both pick the same top token, RMS dp (change of the probability of the reference's top\n"
		"token; rms_dp_token in --json is llama.cpp's dp of the actual next token) and both PPLs.\n\n"
		"--tasks: JSON lines with \"prompt\" and \"answer\" (string or number; optional \"id\").\n"
		"Each prompt goes through the chat template as a user message; the answer is the\n"
		"argument of the last \\boxed{...} in the output (reasoning included), compared with\n"
		"the expected answer as strings after collapsing whitespace. Greedy by default; with\n"
		"--samples K, K samples per task at the model's default sampling settings (seeded:\n"
		"sample k of task i uses seed + i*K + k) and the mean accuracy (pass@1) is reported.\n\n"
		"options:\n"
		"  --text FILE          text for perplexity / KL\n"
		"  --ref OTHER.bale     reference model for KL divergence (with --text)\n"
		"  --stride N           window start step (default ctx/2)\n"
		"  --tasks FILE.jsonl   exact-match task file\n"
		"  --samples K          K sampled answers per task instead of one greedy answer\n"
		"  --limit N            only the first N tasks\n"
		"  --parallel P         windows / generations run at once, one session each\n"
		"                       (default 1; --threads is split between them)\n"
		"  --json               results as one JSON object (per-task results with --tasks)\n"
		"  -q, --quiet          no progress on stderr\n");
	cli_gen_help_sampling(out);
	fprintf(out, "  --ctx N              --text: window (default min(model max_ctx, 512));\n"
		     "                       --tasks: KV cache (default min(model max_ctx, 4096))\n"
		     "  --kv f32|bf16|fp8    KV cache type (default f32 on the CPU, bf16 on the GPU)\n"
		     "  --threads N          matmul threads in all (default: all cores)\n"
		     "  --yarn-mode M        transformers|vllm|explicit (see 'bale run --help')\n");
	cli_device_help(out);
	fprintf(out, "                       (with cuda, --parallel must be 1; --ref is loaded on the GPU too)\n"
		     "  -h, --help           show this help\n\n"
		     "Progress goes to stderr, results to stdout.\n"
		     "exit status: 0 ok, 1 failure (bad file, mismatched tokenizers), 2 usage error\n");
}

void eval_progress_init(eval_progress *p, const char *unit, size_t total, bool quiet)
{
	memset(p, 0, sizeof *p);
	p->on = !quiet;
	p->tty = isatty(STDERR_FILENO) != 0;
	p->unit = unit;
	p->total = total;
	p->t0 = p->last = cli_now();
}

void eval_progress_update(eval_progress *p, size_t done)
{
	double now = cli_now();
	if (!p->on || now - p->last < (p->tty ? 0.2 : 5.0))
		return;
	p->last = now;
	double el = now - p->t0, eta = done ? el / (double)done * (double)(p->total - done) : 0;
	fprintf(stderr, "%sbale eval: %zu/%zu %s, %.0f s elapsed, ~%.0f s left%s", p->tty ? "\r\033[K" : "", done,
		p->total, p->unit, el, eta, p->tty ? "" : "\n");
	fflush(stderr);
}

void eval_progress_done(eval_progress *p, size_t done)
{
	if (!p->on)
		return;
	fprintf(stderr, "%sbale eval: %zu/%zu %s in %.1f s\n", p->tty ? "\r\033[K" : "", done, p->total, p->unit,
		cli_now() - p->t0);
}

int eval_run_workers(size_t n, void *(*fn)(void *), void *arg)
{
	pthread_t *th = calloc(n ? n : 1, sizeof *th);
	if (!th) {
		cli_error("eval", "out of memory");
		return CLI_FAIL;
	}
	size_t started = 0;
	for (; started < n; started++)
		if (pthread_create(&th[started], NULL, fn, arg) != 0)
			break;
	if (started == 0)
		fn(arg);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	return CLI_OK;
}

int eval_open(const char *path, const eval_opts *o, gen_model **m)
{
	gen_model_opts mo = o->g.mo;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long total = o->threads_set ? mo.exec.n_threads : cores > 0 ? cores : 1;
	long per = total / o->parallel;
	mo.exec.n_threads = per > 0 ? (int)per : 1;
	gen_error ge;
	if (gen_model_open(path, &mo, m, &ge) != GEN_OK) {
		cli_error("eval", "%s", ge.msg);
		return CLI_FAIL;
	}
	if (!o->quiet)
		cli_gen_print_load("eval", &o->g, *m);
	if (!gen_model_tokenizer(*m)) {
		cli_error("eval", "%s: the file has no TOKENIZER section", path);
		gen_model_free(*m);
		*m = NULL;
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int value_opt(int argc, char **argv, int *i, const char **v)
{
	if (*i + 1 >= argc) {
		cli_error("eval", "%s needs a value", argv[*i]);
		return -1;
	}
	*v = argv[++*i];
	return 0;
}

static int long_opt(int argc, char **argv, int *i, long lo, long hi, long *out)
{
	const char *v;
	if (value_opt(argc, argv, i, &v) < 0)
		return -1;
	if (!cli_parse_int(v, lo, hi, out)) {
		cli_error("eval", "%s: '%s' is not an integer in [%ld, %ld]", argv[*i - 1], v, lo, hi);
		return -1;
	}
	return 0;
}

int cmd_eval(int argc, char **argv)
{
	eval_opts o;
	memset(&o, 0, sizeof o);
	cli_gen_opts_init(&o.g);
	o.parallel = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--threads"))
			o.threads_set = true;
		int rc = cli_gen_parse("eval", argc, argv, &i, &o.g, true);
		if (rc < 0)
			return CLI_USAGE;
		if (rc > 0)
			continue;
		int bad = 0;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_eval_help(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--text")) {
			bad = value_opt(argc, argv, &i, &o.text);
		} else if (!strcmp(a, "--ref")) {
			bad = value_opt(argc, argv, &i, &o.ref);
		} else if (!strcmp(a, "--tasks")) {
			bad = value_opt(argc, argv, &i, &o.tasks);
		} else if (!strcmp(a, "--stride")) {
			bad = long_opt(argc, argv, &i, 1, 1L << 24, &o.stride);
		} else if (!strcmp(a, "--samples")) {
			bad = long_opt(argc, argv, &i, 1, 1 << 20, &o.samples);
		} else if (!strcmp(a, "--limit")) {
			bad = long_opt(argc, argv, &i, 1, 1L << 30, &o.limit);
		} else if (!strcmp(a, "--parallel")) {
			bad = long_opt(argc, argv, &i, 1, 256, &o.parallel);
		} else if (!strcmp(a, "--json")) {
			o.json = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			o.quiet = true;
		} else if (a[0] == '-' && a[1]) {
			cli_error("eval", "unknown option '%s' (see 'bale eval --help')", a);
			return CLI_USAGE;
		} else if (!o.g.model) {
			o.g.model = a;
		} else {
			cli_error("eval", "unexpected argument '%s'", a);
			return CLI_USAGE;
		}
		if (bad)
			return CLI_USAGE;
	}
	if (!o.g.model) {
		cli_error("eval", "no model given (usage: bale eval MODEL.bale --text FILE | --tasks FILE.jsonl)");
		return CLI_USAGE;
	}
	if (!o.text == !o.tasks) {
		cli_error("eval", "give exactly one of --text FILE or --tasks FILE.jsonl");
		return CLI_USAGE;
	}
	if (o.ref && !o.text) {
		cli_error("eval", "--ref needs --text (KL divergence is measured on text)");
		return CLI_USAGE;
	}
	if (o.text && (o.samples || o.limit || o.g.greedy || o.g.has_temp || o.g.has_top_k || o.g.has_top_p ||
		       o.g.has_min_p || o.g.max_tokens > 0 || o.g.n_stop || o.g.system)) {
		cli_error("eval", "--samples, --limit and sampling/template options only apply to --tasks");
		return CLI_USAGE;
	}
	if (o.tasks && o.stride) {
		cli_error("eval", "--stride only applies to --text");
		return CLI_USAGE;
	}
	if (o.samples && o.g.greedy) {
		cli_error("eval", "--samples and --greedy exclude each other");
		return CLI_USAGE;
	}
	if (o.stride && o.g.so.ctx && o.stride > (long)o.g.so.ctx) {
		cli_error("eval", "--stride %ld is larger than --ctx %u", o.stride, o.g.so.ctx);
		return CLI_USAGE;
	}
	/* A GPU model serves one session at a time (runtime/cuda), so GPU evals run one window or
	 * generation after another; the GPU is that much faster anyway. */
	if (o.g.dev.cuda && o.parallel > 1) {
		cli_error("eval", "--parallel %ld needs --device cpu (one GPU session at a time)", o.parallel);
		return CLI_USAGE;
	}
	int drc = cli_gen_device_setup("eval", &o.g);
	if (drc != CLI_OK)
		return drc;
	return o.text ? eval_perplexity(&o) : eval_tasks(&o);
}
