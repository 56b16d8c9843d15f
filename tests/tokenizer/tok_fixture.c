#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_tokenizer.h"
#include "testutil.h"
#include "tok_fixture.h"

int tf_load(tf_tok *f, const char *name, int with_config)
{
	memset(f, 0, sizeof *f);
	const char *sh = tu_shared_dir();
	if (!sh)
		return BALE_SKIP;
	char tj[4096], tc[4096], err[512];
	snprintf(tj, sizeof tj, "%s/fixtures/%s/tokenizer.json", sh, name);
	snprintf(tc, sizeof tc, "%s/fixtures/%s/tokenizer_config.json", sh, name);
	if (!tu_file_exists(tj))
		return BALE_SKIP;
	cv_hf_tokenizer *hf;
	if (cv_hf_tokenizer_load(tj, with_config ? tc : NULL, &hf, err, sizeof err)) {
		fprintf(stderr, "import %s: %s\n", tj, err);
		return -1;
	}
	size_t n;
	const uint8_t *sec = cv_hf_tokenizer_section(hf, &n);
	f->section = malloc(n ? n : 1);
	if (f->section)
		memcpy(f->section, sec, n);
	cv_hf_tokenizer_free(hf);
	if (!f->section)
		return -1;
	fmt_error fe;
	if (fmt_tok_decode(f->section, n, 0, &f->ft, &fe) != FMT_OK) {
		fprintf(stderr, "fmt_tok_decode %s: %s\n", name, fe.msg);
		tf_free(f);
		return -1;
	}
	tok_status st = tok_create(f->ft, &f->tok, err, sizeof err);
	if (st) {
		fprintf(stderr, "tok_create %s: %s: %s\n", name, tok_strerror(st), err);
		tf_free(f);
		return -1;
	}
	return 0;
}

void tf_free(tf_tok *f)
{
	tok_free(f->tok);
	fmt_tok_free(f->ft);
	free(f->section);
	memset(f, 0, sizeof *f);
}
