/* bale run — one prompt in, one streamed answer out. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "cli_gen.h"

void cmd_run_help(FILE *out)
{
	fprintf(out,
		"usage: bale run MODEL.bale [-p PROMPT] [options]\n\n"
		"Generates an answer to PROMPT (default: all of stdin) with the model's chat template and\n"
		"streams it to stdout. Reasoning (<think>...</think>) is dimmed on a terminal. One line of\n"
		"statistics goes to stderr. Ctrl-C stops the answer.\n\n"
		"options:\n"
		"  -p, --prompt TEXT    the user message\n"
		"  --raw                no chat template: the prompt is the model input as is (BOS added\n"
		"                       only if the tokenizer asks for it)\n"
		"  --force-think        append \"<think>\\n\" to the rendered prompt unless it already opens\n"
		"                       reasoning (what DeepSeek recommends for R1 models)\n"
		"  --hide-think         do not print the reasoning\n"
		"  --dry-run            print the memory plan (GPU with --device cuda, else RAM) and exit\n"
		"                       without reading the prompt or computing anything\n");
	cli_gen_help_sampling(out);
	cli_gen_help_model(out);
	fprintf(out,
		"                       default: vllm when the file stores rope.attn_factor (DeepSeek-R1-\n"
		"                       0528-Qwen3-8B: the scaling its authors run), else transformers.\n"
		"                       `bale logits` defaults to transformers for parity with HF.\n"
		"  -h, --help           show this help\n\n"
		"exit status: 0 ok, 1 failure, 2 usage error\n");
}

/* Builds the model input: rendered template (or the raw prompt) plus the optional think tag. */
static int build_prompt(const gen_model *m, const cli_gen_opts *o, const char *prompt, bool raw, bool force_think,
			char **out, size_t *out_len)
{
	gen_error ge;
	char *text = NULL;
	size_t len = 0;
	if (raw) {
		len = strlen(prompt);
		text = malloc(len + 1);
		if (text)
			memcpy(text, prompt, len + 1);
	} else {
		gen_message msgs[2];
		size_t n = 0;
		if (o->system)
			msgs[n++] = (gen_message){"system", o->system};
		msgs[n++] = (gen_message){"user", prompt};
		gen_render_opts ro = {.add_generation_prompt = true, .enable_thinking = o->enable_thinking};
		if (gen_render(m, msgs, n, &ro, &text, &len, &ge) != GEN_OK) {
			cli_error("run", "%s", ge.msg);
			return CLI_FAIL;
		}
	}
	if (!text) {
		cli_error("run", "out of memory");
		return CLI_FAIL;
	}
	if (force_think && !gen_text_opens_reasoning(text, len)) {
		char *t = realloc(text, len + sizeof "<think>\n");
		if (!t) {
			free(text);
			cli_error("run", "out of memory");
			return CLI_FAIL;
		}
		text = t;
		memcpy(text + len, "<think>\n", sizeof "<think>\n");
		len += strlen("<think>\n");
	}
	*out = text;
	*out_len = len;
	return CLI_OK;
}

int cmd_run(int argc, char **argv)
{
	cli_gen_opts o;
	cli_gen_opts_init(&o);
	const char *prompt = NULL;
	bool raw = false, force_think = false, hide_think = false, dry_run = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc = cli_gen_parse("run", argc, argv, &i, &o, true);
		if (rc < 0)
			return CLI_USAGE;
		if (rc > 0)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_run_help(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
			if (i + 1 >= argc) {
				cli_error("run", "%s needs a value", a);
				return CLI_USAGE;
			}
			prompt = argv[++i];
		} else if (!strcmp(a, "--raw")) {
			raw = true;
		} else if (!strcmp(a, "--force-think")) {
			force_think = true;
		} else if (!strcmp(a, "--hide-think")) {
			hide_think = true;
		} else if (!strcmp(a, "--dry-run")) {
			dry_run = true;
		} else if (a[0] == '-' && a[1]) {
			cli_error("run", "unknown option '%s' (see 'bale run --help')", a);
			return CLI_USAGE;
		} else if (!o.model) {
			o.model = a;
		} else {
			cli_error("run", "unexpected argument '%s'", a);
			return CLI_USAGE;
		}
	}
	if (!o.model) {
		cli_error("run", "no model given (usage: bale run MODEL.bale -p PROMPT)");
		return CLI_USAGE;
	}
	if (raw && o.system) {
		cli_error("run", "--system needs the chat template; it cannot be combined with --raw");
		return CLI_USAGE;
	}
	if (cli_device_check("run", &o.dev) < 0)
		return CLI_USAGE;
	if (dry_run)
		return cli_plan_dry_run("run", o.model, &o.dev, o.so.ctx, cli_gen_cpu_kv(&o), o.so.max_batch);
	int drc = cli_gen_device_setup("run", &o);
	if (drc != CLI_OK)
		return drc;

	char *stdin_prompt = NULL;
	if (!prompt) {
		size_t len;
		stdin_prompt = cli_gen_read_all(stdin, &len);
		if (!stdin_prompt) {
			cli_error("run", "cannot read the prompt from stdin");
			return CLI_FAIL;
		}
		if (len && stdin_prompt[len - 1] == '\n')
			stdin_prompt[--len] = 0;
		prompt = stdin_prompt;
	}

	int ret = CLI_FAIL;
	gen_model *m = NULL;
	gen_session *s = NULL;
	char *text = NULL;
	int32_t *ids = NULL;
	cli_gen_printer pr;
	cli_gen_printer_init(&pr, hide_think, false);
	gen_error ge;
	if (gen_model_open(o.model, &o.mo, &m, &ge) != GEN_OK) {
		cli_error("run", "%s", ge.msg);
		goto done;
	}
	cli_gen_print_load("run", &o, m);
	size_t len, n;
	if (build_prompt(m, &o, prompt, raw, force_think, &text, &len) != CLI_OK)
		goto done;
	if (gen_encode(m, text, len, raw, &ids, &n, &ge) != GEN_OK) {
		cli_error("run", "%s", ge.msg);
		goto done;
	}
	if (gen_session_create(m, &o.so, &s, &ge) != GEN_OK) {
		cli_error("run", "%s", ge.msg);
		goto done;
	}
	gen_params p;
	cli_gen_params(&o, m, &p);
	p.start_in_reasoning = gen_text_opens_reasoning(text, len);
	gen_stats st;
	cli_gen_install_sigint();
	cli_gen_set_generating(true);
	gen_status gs = gen_generate(s, ids, n, &p, cli_gen_print_piece, &pr, &st, &ge);
	cli_gen_set_generating(false);
	cli_gen_printer_end(&pr);
	if (gs != GEN_OK) {
		cli_error("run", "%s", ge.msg);
		goto done;
	}
	cli_gen_print_stats("run", &st);
	ret = CLI_OK;
done:
	cli_gen_printer_free(&pr);
	free(ids);
	free(text);
	free(stdin_prompt);
	gen_session_free(s);
	gen_model_free(m);
	return ret;
}
