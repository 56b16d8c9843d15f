/* bale chat — interactive multi-turn conversation through the model's chat template. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_gen.h"

void cmd_chat_help(FILE *out)
{
	fprintf(out,
		"usage: bale chat MODEL.bale [options]\n\n"
		"Talks with the model, one message per line on stdin (end a line with \\ to continue it on\n"
		"the next). The KV cache is kept between turns, so only the new part of the conversation\n"
		"is computed. Ctrl-C stops the current answer; at the prompt it quits.\n\n"
		"commands: /reset (forget the conversation), /exit (or end of input), /help\n\n"
		"options:\n"
		"  --hide-think         do not print the reasoning\n");
	cli_gen_help_sampling(out);
	cli_gen_help_model(out);
	fprintf(out,
		"                       default: vllm when the file stores rope.attn_factor, else transformers\n"
		"  -h, --help           show this help\n\n"
		"exit status: 0 ok, 1 failure, 2 usage error\n");
}

typedef struct {
	gen_message *msgs;
	char **owned; /* content copies, parallel to msgs */
	size_t n, cap;
} history;

static void history_clear(history *h, size_t keep)
{
	while (h->n > keep)
		free(h->owned[--h->n]);
}

static bool history_add(history *h, const char *role, const char *content)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		gen_message *m = realloc(h->msgs, cap * sizeof *m);
		if (!m)
			return false;
		h->msgs = m;
		char **o = realloc(h->owned, cap * sizeof *o);
		if (!o)
			return false;
		h->owned = o;
		h->cap = cap;
	}
	char *c = strdup(content);
	if (!c)
		return false;
	h->owned[h->n] = c;
	h->msgs[h->n++] = (gen_message){role, c};
	return true;
}

/* Reads one message: lines ending in a backslash continue. NULL at end of input. */
static char *read_message(bool tty)
{
	char *msg = NULL, *line = NULL;
	size_t mlen = 0, cap = 0;
	for (;;) {
		if (tty) {
			fputs(msg ? "... " : ">>> ", stdout);
			fflush(stdout);
		}
		ssize_t r = getline(&line, &cap, stdin);
		if (r < 0)
			break;
		size_t l = (size_t)r;
		if (l && line[l - 1] == '\n')
			line[--l] = 0;
		bool cont = l && line[l - 1] == '\\';
		if (cont)
			line[l - 1] = '\n';
		char *nm = realloc(msg, mlen + l + 1);
		if (!nm)
			break;
		msg = nm;
		memcpy(msg + mlen, line, l);
		mlen += l;
		msg[mlen] = 0;
		if (!cont) {
			free(line);
			return msg;
		}
	}
	free(line);
	return msg; /* a continued message cut by end of input still counts */
}

static void chat_commands(FILE *out)
{
	fprintf(out, "/reset  forget the conversation\n/exit   quit (also Ctrl-D)\n/help   this list\n");
}

/* One turn: render, encode, generate; appends the answer to the history. */
static int turn(gen_model *m, gen_session *s, const cli_gen_opts *o, history *h, bool hide_think)
{
	gen_error ge;
	char *text = NULL;
	size_t len, n;
	int32_t *ids = NULL;
	gen_render_opts ro = {.add_generation_prompt = true, .enable_thinking = o->enable_thinking};
	if (gen_render(m, h->msgs, h->n, &ro, &text, &len, &ge) != GEN_OK) {
		cli_error("chat", "%s", ge.msg);
		return CLI_FAIL;
	}
	if (gen_encode(m, text, len, false, &ids, &n, &ge) != GEN_OK) {
		free(text);
		cli_error("chat", "%s", ge.msg);
		return CLI_FAIL;
	}
	gen_params p;
	cli_gen_params(o, m, &p);
	p.start_in_reasoning = gen_text_opens_reasoning(text, len);
	free(text);
	cli_gen_printer pr;
	cli_gen_printer_init(&pr, hide_think, true);
	gen_stats st;
	cli_gen_set_generating(true);
	gen_status gs = gen_generate(s, ids, n, &p, cli_gen_print_piece, &pr, &st, &ge);
	cli_gen_set_generating(false);
	cli_gen_printer_end(&pr);
	free(ids);
	int ret = CLI_OK;
	if (gs == GEN_E_CONTEXT) {
		/* the conversation outgrew the context: keep the program, drop the question */
		cli_error("chat", "%s; use /reset to start over", ge.msg);
		history_clear(h, h->n - 1);
	} else if (gs != GEN_OK) {
		cli_error("chat", "%s", ge.msg);
		ret = CLI_FAIL;
	} else if (pr.nomem || !history_add(h, "assistant", pr.acc ? pr.acc : "")) {
		cli_error("chat", "out of memory");
		ret = CLI_FAIL;
	} else {
		cli_gen_print_stats("chat", &st);
	}
	cli_gen_printer_free(&pr);
	return ret;
}

int cmd_chat(int argc, char **argv)
{
	cli_gen_opts o;
	cli_gen_opts_init(&o);
	bool hide_think = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc = cli_gen_parse("chat", argc, argv, &i, &o, true);
		if (rc < 0)
			return CLI_USAGE;
		if (rc > 0)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_chat_help(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--hide-think")) {
			hide_think = true;
		} else if (a[0] == '-' && a[1]) {
			cli_error("chat", "unknown option '%s' (see 'bale chat --help')", a);
			return CLI_USAGE;
		} else if (!o.model) {
			o.model = a;
		} else {
			cli_error("chat", "unexpected argument '%s'", a);
			return CLI_USAGE;
		}
	}
	if (!o.model) {
		cli_error("chat", "no model given (usage: bale chat MODEL.bale)");
		return CLI_USAGE;
	}
	if (cli_device_check("chat", &o.dev) < 0)
		return CLI_USAGE;
	int drc = cli_gen_device_setup("chat", &o);
	if (drc != CLI_OK)
		return drc;
	gen_error ge;
	gen_model *m = NULL;
	gen_session *s = NULL;
	history h = {0};
	int ret = CLI_FAIL;
	if (gen_model_open(o.model, &o.mo, &m, &ge) != GEN_OK) {
		cli_error("chat", "%s", ge.msg);
		goto done;
	}
	cli_gen_print_load("chat", &o, m);
	if (!gen_model_has_template(m)) {
		cli_error("chat", "%s has no chat template (give one with --chat-template FILE)", o.model);
		goto done;
	}
	if (gen_session_create(m, &o.so, &s, &ge) != GEN_OK) {
		cli_error("chat", "%s", ge.msg);
		goto done;
	}
	if (o.system && !history_add(&h, "system", o.system)) {
		cli_error("chat", "out of memory");
		goto done;
	}
	size_t base = h.n;
	bool tty = isatty(STDIN_FILENO) != 0;
	if (tty)
		fprintf(stderr, "bale chat: %s — /help for commands, Ctrl-D to quit\n", o.model);
	cli_gen_install_sigint();
	ret = CLI_OK;
	for (;;) {
		char *msg = read_message(tty);
		if (!msg)
			break;
		if (!strcmp(msg, "/exit") || !strcmp(msg, "/quit")) {
			free(msg);
			break;
		}
		if (!strcmp(msg, "/reset")) {
			history_clear(&h, base);
			gen_session_reset(s);
			fprintf(stderr, "(conversation reset)\n");
		} else if (!strcmp(msg, "/help")) {
			chat_commands(stdout);
		} else if (msg[0] == '/' && msg[1] && !strchr(msg, ' ') && !strchr(msg, '\n')) {
			fprintf(stderr, "unknown command %s (/help lists them)\n", msg);
		} else if (*msg) {
			if (!history_add(&h, "user", msg)) {
				cli_error("chat", "out of memory");
				ret = CLI_FAIL;
			} else {
				ret = turn(m, s, &o, &h, hide_think);
			}
		}
		free(msg);
		if (ret != CLI_OK)
			break;
	}
done:
	history_clear(&h, 0);
	free(h.msgs);
	free(h.owned);
	gen_session_free(s);
	gen_model_free(m);
	return ret;
}
