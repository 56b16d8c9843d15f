/* bale tokenize — encode text to token ids or decode ids to text with a model's tokenizer. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/fmt.h"
#include "bale/fmt_tok.h"
#include "hf_tokenizer.h"
#include "tok.h"

void cmd_tokenize_help(FILE *out)
{
	fprintf(out,
		"usage: bale tokenize MODEL [--text TEXT] [options]\n\n"
		"MODEL is a .bale file, a Hugging Face model directory (tokenizer.json and\n"
		"tokenizer_config.json) or a tokenizer.json file. Text comes from --text or stdin.\n\n"
		"options:\n"
		"  --text TEXT        text to encode (default: read stdin)\n"
		"  --decode           read token ids (separated by spaces, commas or newlines) and\n"
		"                     write exactly the decoded bytes (no added newline)\n"
		"  --json             encode: print one JSON array of integers\n"
		"  --no-special       encode: do not add BOS/EOS; decode: drop special tokens\n"
		"  --split-special    encode: treat special-token text as plain text\n"
		"  --describe         encode: one line per token: id, then its escaped bytes\n"
		"  -h, --help         show this help\n");
}

typedef struct {
	fmt_reader *reader;
	cv_hf_tokenizer *hf;
	fmt_tok *tok_desc; /* decoded from a .bale section */
	tok_tokenizer *tok;
} tok_source;

static void source_free(tok_source *s)
{
	tok_free(s->tok);
	fmt_tok_free(s->tok_desc);
	cv_hf_tokenizer_free(s->hf);
	fmt_reader_close(s->reader);
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static int load_source(const char *model, tok_source *s)
{
	memset(s, 0, sizeof *s);
	char err[1024] = "";
	struct stat st;
	if (stat(model, &st) != 0) {
		cli_error("tokenize", "%s: %s", model, strerror(errno));
		return CLI_FAIL;
	}
	const fmt_tok *desc = NULL;
	if (S_ISDIR(st.st_mode) || ends_with(model, ".json")) {
		char tj[PATH_MAX], tc[PATH_MAX];
		const char *cfg = NULL;
		if (S_ISDIR(st.st_mode)) {
			snprintf(tj, sizeof tj, "%s/tokenizer.json", model);
			snprintf(tc, sizeof tc, "%s/tokenizer_config.json", model);
			if (stat(tc, &st) == 0)
				cfg = tc; /* a model directory behaves like AutoTokenizer: config flags apply */
		} else {
			snprintf(tj, sizeof tj, "%s", model);
		}
		if (cv_hf_tokenizer_load(tj, cfg, &s->hf, err, sizeof err) != 0) {
			cli_error("tokenize", "%s", err);
			return CLI_FAIL;
		}
		desc = cv_hf_tokenizer_tok(s->hf);
	} else {
		fmt_error fe;
		fmt_status fs = fmt_reader_open(model, &s->reader, &fe);
		if (fs != FMT_OK) {
			cli_error("tokenize", "%s: %s [%s]", model, fe.msg, fmt_status_name(fs));
			return CLI_FAIL;
		}
		const fmt_section *sec = fmt_reader_section(s->reader, FMT_SEC_TOKENIZER);
		if (!sec) {
			cli_error("tokenize", "%s: the file has no TOKENIZER section", model);
			return CLI_FAIL;
		}
		fs = fmt_tok_decode(sec->data, sec->bytes, sec->offset, &s->tok_desc, &fe);
		if (fs != FMT_OK) {
			cli_error("tokenize", "%s: %s [%s]", model, fe.msg, fmt_status_name(fs));
			return CLI_FAIL;
		}
		desc = s->tok_desc;
	}
	if (tok_create(desc, &s->tok, err, sizeof err) != TOK_OK) {
		cli_error("tokenize", "%s: %s", model, err);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			if (cap >= TOK_MAX_INPUT) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Parses ids separated by whitespace, commas, or JSON brackets. */
static int parse_ids(const char *s, size_t len, uint32_t n_vocab, int32_t **ids, size_t *n)
{
	size_t cap = 64, k = 0;
	int32_t *v = malloc(cap * sizeof *v);
	if (!v)
		return -1;
	size_t i = 0;
	while (i < len) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '[' || c == ']') {
			i++;
			continue;
		}
		if (c < '0' || c > '9') {
			cli_error("tokenize", "--decode: unexpected character '%c' at byte %zu (expected token ids)", c, i);
			free(v);
			return -2;
		}
		uint64_t x = 0;
		size_t start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			x = x * 10 + (uint64_t)(s[i] - '0');
			if (x >= n_vocab) {
				while (i < len && s[i] >= '0' && s[i] <= '9')
					i++;
				cli_error("tokenize", "--decode: token id '%.*s' at byte %zu is out of range (vocabulary has %u ids)",
					  (int)(i - start), s + start, start, n_vocab);
				free(v);
				return -2;
			}
			i++;
		}
		if (k == cap) {
			int32_t *nv = realloc(v, cap * 2 * sizeof *v);
			if (!nv) {
				free(v);
				return -1;
			}
			v = nv;
			cap *= 2;
		}
		v[k++] = (int32_t)x;
	}
	*ids = v;
	*n = k;
	return 0;
}

int cmd_tokenize(int argc, char **argv)
{
	const char *model = NULL, *text = NULL;
	bool decode = false, json = false, no_special = false, split_special = false, describe = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_tokenize_help(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--text")) {
			if (i + 1 >= argc) {
				cli_error("tokenize", "--text needs a value");
				return CLI_USAGE;
			}
			text = argv[++i];
		} else if (!strcmp(a, "--decode")) {
			decode = true;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--no-special")) {
			no_special = true;
		} else if (!strcmp(a, "--split-special")) {
			split_special = true;
		} else if (!strcmp(a, "--describe")) {
			describe = true;
		} else if (a[0] == '-' && a[1]) {
			cli_error("tokenize", "unknown option '%s' (see 'bale help tokenize')", a);
			return CLI_USAGE;
		} else if (!model) {
			model = a;
		} else {
			cli_error("tokenize", "unexpected argument '%s'", a);
			return CLI_USAGE;
		}
	}
	if (!model) {
		cli_error("tokenize", "missing MODEL (usage: bale tokenize MODEL [--text TEXT])");
		return CLI_USAGE;
	}
	if (decode && (json || describe || split_special)) {
		cli_error("tokenize", "--decode cannot be combined with --json, --describe or --split-special");
		return CLI_USAGE;
	}
	if (json && describe) {
		cli_error("tokenize", "--json and --describe are exclusive");
		return CLI_USAGE;
	}

	char *input = NULL;
	size_t len = 0;
	if (text) {
		len = strlen(text);
	} else {
		input = read_all(stdin, &len);
		if (!input) {
			cli_error("tokenize", "reading stdin: %s", strerror(errno));
			return CLI_FAIL;
		}
		text = input;
	}

	tok_source src;
	int rc = load_source(model, &src);
	if (rc != CLI_OK) {
		source_free(&src);
		free(input);
		return rc;
	}

	if (decode) {
		int32_t *ids = NULL;
		size_t n = 0;
		int pr = parse_ids(text, len, tok_n_tokens(src.tok), &ids, &n);
		if (pr == 0) {
			char *out = NULL;
			size_t olen = 0;
			tok_status ts = tok_decode(src.tok, ids, n, no_special ? TOK_DEC_SKIP_SPECIAL : 0, &out, &olen);
			if (ts != TOK_OK) {
				cli_error("tokenize", "decode: %s", tok_strerror(ts));
				rc = CLI_FAIL;
			} else if (olen && fwrite(out, 1, olen, stdout) != olen) {
				rc = CLI_FAIL;
			}
			free(out);
		} else {
			if (pr == -1)
				cli_error("tokenize", "out of memory");
			rc = CLI_FAIL;
		}
		free(ids);
	} else {
		unsigned flags = (no_special ? 0 : TOK_ENC_ADD_SPECIAL) | (split_special ? TOK_ENC_SPLIT_SPECIAL : 0);
		if (describe) {
			char *out = NULL;
			size_t olen = 0;
			tok_status ts = tok_describe(src.tok, text, len, flags, &out, &olen);
			if (ts != TOK_OK) {
				cli_error("tokenize", "encode: %s", tok_strerror(ts));
				rc = CLI_FAIL;
			} else if (olen && fwrite(out, 1, olen, stdout) != olen) {
				rc = CLI_FAIL;
			}
			free(out);
		} else {
			int32_t *ids = NULL;
			size_t n = 0;
			tok_status ts = tok_encode(src.tok, text, len, flags, &ids, &n);
			if (ts != TOK_OK) {
				cli_error("tokenize", "encode: %s", tok_strerror(ts));
				rc = CLI_FAIL;
			} else {
				if (json)
					fputc('[', stdout);
				for (size_t i = 0; i < n; i++)
					printf(i ? (json ? ",%d" : " %d") : "%d", ids[i]);
				fputs(json ? "]\n" : "\n", stdout);
			}
			free(ids);
		}
	}
	if (fflush(stdout) != 0) {
		cli_error("tokenize", "writing output: %s", strerror(errno));
		rc = CLI_FAIL;
	}
	source_free(&src);
	free(input);
	return rc;
}
