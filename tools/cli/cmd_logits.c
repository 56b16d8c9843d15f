/* bale logits — raw next-token logits of a token sequence, for parity checks against other
 * implementations. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_gen.h"

void cmd_logits_help(FILE *out)
{
	fprintf(out,
		"usage: bale logits MODEL.bale (--ids 1,2,3 | --text T) --out FILE [options]\n\n"
		"Writes the float32 logits (little-endian, row-major [positions][vocab]) of the last\n"
		"position, or of every position with --all. No chat template is applied.\n\n"
		"options:\n"
		"  --ids LIST           token ids separated by commas or spaces\n"
		"  --text T             tokenize T (no BOS/EOS added, special-token text recognized)\n"
		"  --all                logits of every position\n"
		"  -o, --out FILE       output file ('-' = stdout)\n");
	cli_gen_help_model(out);
	fprintf(out,
		"                       default: transformers (matches HF transformers' logits)\n"
		"  -h, --help           show this help\n\n"
		"exit status: 0 ok, 1 failure, 2 usage error\n");
}

static int parse_ids(const char *s, int32_t **out, size_t *n)
{
	size_t cap = 16, k = 0;
	int32_t *ids = malloc(cap * sizeof *ids);
	if (!ids)
		return -1;
	while (*s) {
		if (*s == ',' || *s == ' ' || *s == '\n' || *s == '\t') {
			s++;
			continue;
		}
		if (*s < '0' || *s > '9') {
			free(ids);
			return -2;
		}
		char *end;
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (errno || v > INT32_MAX) {
			free(ids);
			return -2;
		}
		if (k == cap) {
			int32_t *n2 = realloc(ids, cap * 2 * sizeof *ids);
			if (!n2) {
				free(ids);
				return -1;
			}
			ids = n2;
			cap *= 2;
		}
		ids[k++] = (int32_t)v;
		s = end;
	}
	*out = ids;
	*n = k;
	return 0;
}

static int write_floats(const char *path, const float *v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bale logits writes the host's float layout; add a byte swap for big-endian hosts"
#endif
	FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!f)
		return -1;
	size_t w = fwrite(v, sizeof *v, n, f);
	int rc = w == n ? 0 : -1;
	if (f != stdout) {
		if (fclose(f) != 0)
			rc = -1;
	} else if (fflush(f) != 0) {
		rc = -1;
	}
	return rc;
}

int cmd_logits(int argc, char **argv)
{
	cli_gen_opts o;
	cli_gen_opts_init(&o);
	const char *ids_s = NULL, *text = NULL, *out = NULL;
	bool all = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc = cli_gen_parse("logits", argc, argv, &i, &o, false);
		if (rc < 0)
			return CLI_USAGE;
		if (rc > 0)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_logits_help(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--all")) {
			all = true;
		} else if (!strcmp(a, "--ids") || !strcmp(a, "--text") || !strcmp(a, "--out") || !strcmp(a, "-o")) {
			if (i + 1 >= argc) {
				cli_error("logits", "%s needs a value", a);
				return CLI_USAGE;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--ids"))
				ids_s = v;
			else if (!strcmp(a, "--text"))
				text = v;
			else
				out = v;
		} else if (a[0] == '-' && a[1]) {
			cli_error("logits", "unknown option '%s' (see 'bale logits --help')", a);
			return CLI_USAGE;
		} else if (!o.model) {
			o.model = a;
		} else {
			cli_error("logits", "unexpected argument '%s'", a);
			return CLI_USAGE;
		}
	}
	if (!o.model || !out || (!ids_s == !text)) {
		cli_error("logits", "need MODEL, --out FILE and exactly one of --ids or --text");
		return CLI_USAGE;
	}
	if (cli_device_check("logits", &o.dev) < 0)
		return CLI_USAGE;
	if (!o.yarn_set)
		o.mo.yarn = GEN_YARN_TRANSFORMERS;
	int32_t *ids = NULL;
	size_t n = 0;
	if (ids_s) {
		int rc = parse_ids(ids_s, &ids, &n);
		if (rc == -2 || (rc == 0 && n == 0)) {
			free(ids);
			cli_error("logits", "--ids: expected non-negative integers separated by commas, got '%s'", ids_s);
			return CLI_USAGE;
		}
		if (rc < 0) {
			cli_error("logits", "out of memory");
			return CLI_FAIL;
		}
	}
	int drc = cli_gen_device_setup("logits", &o);
	if (drc != CLI_OK) {
		free(ids);
		return drc;
	}
	int ret = CLI_FAIL;
	gen_model *m = NULL;
	gen_session *s = NULL;
	float *lg = NULL;
	gen_error ge;
	if (gen_model_open(o.model, &o.mo, &m, &ge) != GEN_OK) {
		cli_error("logits", "%s", ge.msg);
		goto done;
	}
	cli_gen_print_load("logits", &o, m);
	if (text && gen_encode(m, text, strlen(text), false, &ids, &n, &ge) != GEN_OK) {
		cli_error("logits", "%s", ge.msg);
		goto done;
	}
	const rt_config *c = gen_model_config(m);
	if (n == 0) {
		cli_error("logits", "the text encodes to no tokens");
		goto done;
	}
	if (!o.so.ctx) /* just what the sequence needs; longer than the model's maximum is an error */
		o.so.ctx = n <= c->max_ctx ? (uint32_t)n : c->max_ctx;
	if (gen_session_create(m, &o.so, &s, &ge) != GEN_OK) {
		cli_error("logits", "%s", ge.msg);
		goto done;
	}
	size_t rows = all ? n : 1;
	lg = malloc(rows * c->vocab_size * sizeof *lg);
	if (!lg) {
		cli_error("logits", "out of memory for %zu x %u logits", rows, c->vocab_size);
		goto done;
	}
	if (gen_logits(s, ids, n, all, lg, &ge) != GEN_OK) {
		cli_error("logits", "%s", ge.msg);
		goto done;
	}
	if (write_floats(out, lg, rows * c->vocab_size) != 0) {
		cli_error("logits", "%s: %s", out, strerror(errno));
		goto done;
	}
	fprintf(stderr, "bale logits: %zu tokens, wrote %zu x %u float32 to %s (yarn mode %s)\n", n, rows, c->vocab_size,
		out, gen_yarn_name(gen_model_yarn(m)));
	ret = CLI_OK;
done:
	free(lg);
	free(ids);
	gen_session_free(s);
	gen_model_free(m);
	return ret;
}
