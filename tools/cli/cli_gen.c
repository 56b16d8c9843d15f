/* Shared options of the generation commands (run, chat, logits). */
#include "cli_gen.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void cli_gen_opts_init(cli_gen_opts *o)
{
	memset(o, 0, sizeof *o);
	o->max_tokens = -1;
	o->enable_thinking = -1;
}

void cli_gen_help_model(FILE *out)
{
	cli_device_help(out);
	fprintf(out,
		"  --ctx N              context positions (KV cache) (default: min(model max_ctx, 4096))\n"
		"  --kv f32|bf16|fp8    KV cache type (default f32 on the CPU, bf16 on the GPU; f32 is CPU-only;\n"
		"                       fp8 is E4M3 with one scale per head and position block, docs/GPU.md)\n"
		"  --threads N          matmul threads (default: all cores)\n"
		"  --yarn-mode M        transformers|vllm|explicit: how a YaRN config's attn_factor is read\n"
		"                       (DeepSeek's key; transformers' attention_factor is always the scale):\n"
		"                       transformers ignores it, as HF transformers does; vllm multiplies\n"
		"                       0.1*ln(factor)+1 by it, as vLLM/SGLang do; explicit uses it as the scale\n");
}

void cli_gen_help_sampling(FILE *out)
{
	fprintf(out,
		"  --chat-template FILE use this Jinja template instead of the stored one\n"
		"  --template-name NAME use the stored template NAME (default: 'default')\n"
		"  --system TEXT        system message\n"
		"  --think / --no-think pass enable_thinking=true/false to the template\n"
		"  --max-tokens N       stop after N generated tokens (default: GENERATION max_new_tokens,\n"
		"                       else 2048)\n"
		"  --greedy             always take the most likely token (same as --temp 0)\n"
		"  --temp F             temperature (default: the file's GENERATION section, else 1)\n"
		"  --top-k N            keep the N most likely tokens, 0 = off (default: file, else 50)\n"
		"  --top-p F            nucleus sampling mass (default: file, else 1 = off)\n"
		"  --min-p F            drop tokens below F x the top probability (default: file, else 0)\n"
		"  --repeat-penalty F   HF repetition penalty over prompt and output (default: file, else 1)\n"
		"  --presence-penalty F / --frequency-penalty F   OpenAI-style penalties (default 0)\n"
		"  --seed N             random seed (default: from the clock)\n"
		"  --stop STR           stop when STR appears in the output (repeatable)\n");
}

static int need_value(const char *cmd, int argc, char **argv, int i)
{
	if (i + 1 >= argc) {
		cli_error(cmd, "%s needs a value", argv[i]);
		return -1;
	}
	return 0;
}

static int parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		cli_error(cmd, "%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 1;
}

static int parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
	if (!cli_parse_int(s, lo, hi, out)) {
		cli_error(cmd, "%s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
		return -1;
	}
	return 1;
}

int cli_gen_parse(const char *cmd, int argc, char **argv, int *i, cli_gen_opts *o, bool sampling)
{
	const char *a = argv[*i];
	long v;
	int rc;
	/* flags without a value */
	if (sampling && !strcmp(a, "--greedy"))
		return o->greedy = true, 1;
	if (sampling && !strcmp(a, "--think"))
		return o->enable_thinking = 1, 1;
	if (sampling && !strcmp(a, "--no-think"))
		return o->enable_thinking = 0, 1;
	if (!strcmp(a, "--no-verify-load"))
		return o->no_verify_load = true, 1;
	if (!strcmp(a, "--embed-on-device"))
		return o->dev.embed_on_device = true, 1;

	static const char *const with_value[] = {"--ctx", "--kv", "--threads", "--yarn-mode", "--device", "--vram"};
	static const char *const sampling_value[] = {"--chat-template", "--template-name", "--system", "--max-tokens",
						     "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
						     "--presence-penalty", "--frequency-penalty", "--seed", "--stop"};
	bool known = false;
	for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
		known |= !strcmp(a, with_value[k]);
	for (size_t k = 0; sampling && k < sizeof sampling_value / sizeof *sampling_value; k++)
		known |= !strcmp(a, sampling_value[k]);
	if (!known)
		return 0;
	if (need_value(cmd, argc, argv, *i) < 0)
		return -1;
	const char *s = argv[++*i];

	if (!strcmp(a, "--ctx")) {
		if ((rc = parse_long(cmd, a, s, 1, 1L << 24, &v)) > 0)
			o->so.ctx = (uint32_t)v;
		return rc;
	}
	if (!strcmp(a, "--kv")) {
		o->dev.kv_given = true;
		o->dev.kv_f32 = !strcmp(s, "f32");
		o->dev.kv_fp8 = !strcmp(s, "fp8");
		if (!strcmp(s, "f32"))
			o->so.kv_type = GEN_KV_F32; /* CPU-only (cli_device_check) */
		else if (!strcmp(s, "bf16"))
			o->so.kv_type = GEN_KV_BF16;
		else if (!strcmp(s, "fp8"))
			o->so.kv_type = GEN_KV_FP8;
		else {
			cli_error(cmd, "--kv: '%s' is not f32, bf16 or fp8", s);
			return -1;
		}
		return 1;
	}
	if ((rc = cli_device_option(cmd, a, s, &o->dev)) != 0)
		return rc;
	if (!strcmp(a, "--threads")) {
		if ((rc = parse_long(cmd, a, s, 1, 1024, &v)) > 0)
			o->mo.exec.n_threads = (int)v;
		return rc;
	}
	if (!strcmp(a, "--yarn-mode")) {
		if (!strcmp(s, "transformers"))
			o->mo.yarn = GEN_YARN_TRANSFORMERS;
		else if (!strcmp(s, "vllm"))
			o->mo.yarn = GEN_YARN_VLLM;
		else if (!strcmp(s, "explicit"))
			o->mo.yarn = GEN_YARN_EXPLICIT;
		else {
			cli_error(cmd, "--yarn-mode: '%s' is not transformers, vllm or explicit", s);
			return -1;
		}
		o->yarn_set = true;
		return 1;
	}
	if (!strcmp(a, "--chat-template"))
		return o->mo.chat_template_file = s, 1;
	if (!strcmp(a, "--template-name"))
		return o->mo.chat_template_name = s, 1;
	if (!strcmp(a, "--system"))
		return o->system = s, 1;
	if (!strcmp(a, "--max-tokens"))
		return parse_long(cmd, a, s, 1, 1L << 30, &o->max_tokens);
	if (!strcmp(a, "--temp"))
		return o->has_temp = true, parse_float(cmd, a, s, 0, 100, &o->temp);
	if (!strcmp(a, "--top-k"))
		return o->has_top_k = true, parse_long(cmd, a, s, 0, INT32_MAX, &o->top_k);
	if (!strcmp(a, "--top-p")) {
		o->has_top_p = true;
		if ((rc = parse_float(cmd, a, s, 0, 1, &o->top_p)) > 0 && o->top_p <= 0) {
			cli_error(cmd, "--top-p must be > 0");
			return -1;
		}
		return rc;
	}
	if (!strcmp(a, "--min-p")) {
		o->has_min_p = true;
		if ((rc = parse_float(cmd, a, s, 0, 1, &o->min_p)) > 0 && o->min_p >= 1) {
			cli_error(cmd, "--min-p must be < 1");
			return -1;
		}
		return rc;
	}
	if (!strcmp(a, "--repeat-penalty")) {
		o->has_rep = true;
		if ((rc = parse_float(cmd, a, s, 0, 1e6, &o->rep)) > 0 && o->rep <= 0) {
			cli_error(cmd, "--repeat-penalty must be > 0");
			return -1;
		}
		return rc;
	}
	if (!strcmp(a, "--presence-penalty"))
		return o->has_pres = true, parse_float(cmd, a, s, -1e6, 1e6, &o->pres);
	if (!strcmp(a, "--frequency-penalty"))
		return o->has_freq = true, parse_float(cmd, a, s, -1e6, 1e6, &o->freq);
	if (!strcmp(a, "--seed")) {
		char *end;
		errno = 0;
		o->seed = strtoull(s, &end, 10);
		if (errno || end == s || *end || *s == '-') {
			cli_error(cmd, "--seed: '%s' is not a non-negative integer", s);
			return -1;
		}
		o->has_seed = true;
		return 1;
	}
	/* --stop */
	if (!*s) {
		cli_error(cmd, "--stop: the string is empty");
		return -1;
	}
	if (o->n_stop >= CLI_GEN_MAX_STOP) {
		cli_error(cmd, "--stop: at most %d strings", CLI_GEN_MAX_STOP);
		return -1;
	}
	o->stop[o->n_stop++] = s;
	return 1;
}

int cli_gen_device_setup(const char *cmd, cli_gen_opts *o)
{
	if (cli_device_check(cmd, &o->dev) < 0)
		return CLI_USAGE;
	if (!o->dev.cuda)
		return CLI_OK;
	if (cli_device_cuda_preflight(cmd, o->model, &o->dev, o->so.ctx, o->device_name, sizeof o->device_name) < 0)
		return CLI_FAIL;
	o->mo.device = GEN_DEVICE_CUDA;
	o->mo.verify_load = !o->no_verify_load;
	o->mo.embed_on_device = o->dev.embed_on_device;
	return CLI_OK;
}

void cli_gen_print_load(const char *cmd, const cli_gen_opts *o, const gen_model *m)
{
	const gen_load_stats *l = gen_model_load_stats(m);
	if (!l)
		return;
	fprintf(stderr, "bale %s: loaded %.2f GB onto %s in %.2f s (%.2f GB/s), %s", cmd, (double)l->bytes / 1e9,
		o->device_name[0] ? o->device_name : "the GPU", l->seconds, l->gb_per_s,
		l->verified ? "verified" : "not verified");
	if (l->host_bytes)
		fprintf(stderr, "; embedding table (%.2f GB) in host memory", (double)l->host_bytes / 1e9);
	fputc('\n', stderr);
}

kn_kv_type cli_gen_cpu_kv(const cli_gen_opts *o)
{
	return o->so.kv_type == GEN_KV_BF16 ? KN_KV_BF16 : o->so.kv_type == GEN_KV_FP8 ? KN_KV_F8 : KN_KV_F32;
}

void cli_gen_params(const cli_gen_opts *o, const gen_model *m, gen_params *p)
{
	memset(p, 0, sizeof *p);
	const gen_defaults *d = gen_model_defaults(m);
	smp_params *s = &p->sampling;
	*s = d->sampling;
	if (o->has_temp)
		s->temperature = (float)o->temp;
	if (o->greedy)
		s->temperature = 0;
	if (o->has_top_k)
		s->top_k = (int32_t)o->top_k;
	if (o->has_top_p)
		s->top_p = (float)o->top_p;
	if (o->has_min_p)
		s->min_p = (float)o->min_p;
	if (o->has_rep)
		s->repetition_penalty = (float)o->rep;
	if (o->has_pres)
		s->presence_penalty = (float)o->pres;
	if (o->has_freq)
		s->frequency_penalty = (float)o->freq;
	s->seed = o->has_seed ? o->seed : (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid();
	p->max_tokens = o->max_tokens > 0 ? (uint64_t)o->max_tokens : d->max_new_tokens ? d->max_new_tokens : 2048;
	p->stop = o->stop;
	p->n_stop = o->n_stop;
	p->penalize_prompt = true;
}

/* cancel_asked repeats gen_cancel() through the piece callback: gen_generate clears its own flag
 * when it starts, which would lose a Ctrl-C landing between cli_gen_set_generating(true) and then. */
static volatile sig_atomic_t generating, cancel_asked;

static void on_sigint(int sig)
{
	(void)sig;
	if (generating) {
		cancel_asked = 1;
		gen_cancel();
		return;
	}
	static const char nl[] = "\n";
	ssize_t w = write(STDERR_FILENO, nl, 1);
	(void)w;
	_exit(130);
}

void cli_gen_install_sigint(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	/* the answer goes on after a cancel: a write to stdout interrupted by the signal must be
	 * restarted, not fail with EINTR (stdio would drop the piece and set the error flag) */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

void cli_gen_set_generating(bool on)
{
	if (on)
		cancel_asked = 0;
	generating = on;
}

void cli_gen_print_stats(const char *cmd, const gen_stats *st)
{
	fprintf(stderr,
		"bale %s: prompt %zu tokens (%zu cached), generated %zu tokens, prefill %.1f tok/s, decode %.1f tok/s, "
		"stop: %s\n",
		cmd, st->prompt_tokens, st->reused_tokens, st->generated_tokens, st->prefill_tps, st->decode_tps,
		gen_stop_reason_name(st->reason));
}

void cli_gen_printer_init(cli_gen_printer *p, bool hide_think, bool keep)
{
	memset(p, 0, sizeof *p);
	p->tty = isatty(STDOUT_FILENO) != 0;
	p->hide_think = hide_think;
	p->keep = keep;
	p->last_nl = true;
}

static void keep_text(cli_gen_printer *p, const char *t, size_t len)
{
	if (!p->keep || p->nomem)
		return;
	if (p->acc_len + len + 1 > p->acc_cap) {
		size_t cap = (p->acc_len + len + 1) * 2;
		char *n = realloc(p->acc, cap);
		if (!n) {
			p->nomem = true;
			return;
		}
		p->acc = n;
		p->acc_cap = cap;
	}
	memcpy(p->acc + p->acc_len, t, len);
	p->acc_len += len;
	p->acc[p->acc_len] = 0;
}

bool cli_gen_print_piece(void *user, const char *t, size_t len, bool reasoning)
{
	cli_gen_printer *p = user;
	keep_text(p, t, len);
	if (reasoning && p->hide_think)
		return !cancel_asked;
	if (!reasoning && p->hide_think && !p->shown_any) {
		/* the answer after a hidden </think> starts with blank lines */
		while (len && (*t == '\n' || *t == ' ' || *t == '\r' || *t == '\t'))
			t++, len--;
		if (!len)
			return !cancel_asked;
	}
	if (p->tty && reasoning != p->dim_on) {
		fputs(reasoning ? "\033[2m" : "\033[0m", stdout);
		p->dim_on = reasoning;
	}
	fwrite(t, 1, len, stdout);
	fflush(stdout);
	p->shown_any = true;
	p->last_nl = t[len - 1] == '\n';
	return !cancel_asked;
}

void cli_gen_printer_end(cli_gen_printer *p)
{
	if (p->dim_on)
		fputs("\033[0m", stdout);
	p->dim_on = false;
	if (p->shown_any && !p->last_nl)
		fputc('\n', stdout);
	fflush(stdout);
}

void cli_gen_printer_free(cli_gen_printer *p)
{
	free(p->acc);
	p->acc = NULL;
}

char *cli_gen_read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		if (cap >= ((size_t)1 << 30)) {
			free(buf);
			return NULL;
		}
		char *nb = realloc(buf, cap * 2);
		if (!nb)
			free(buf);
		buf = nb;
		cap *= 2;
	}
	if (!buf || ferror(f)) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}
