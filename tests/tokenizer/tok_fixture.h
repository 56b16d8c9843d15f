/* Loads a real tokenizer.json the way a .bale gets it: convert/hf_tokenizer → TOKENIZER section →
 * fmt_tok_decode → tok_create. */
#ifndef BALE_TEST_TOK_FIXTURE_H
#define BALE_TEST_TOK_FIXTURE_H

#include "bale/fmt_tok.h"
#include "tok.h"

typedef struct {
	uint8_t *section;
	fmt_tok *ft;
	tok_tokenizer *tok;
} tf_tok;

/* `name` is a folder under fixtures/; with_config also reads tokenizer_config.json. Returns 0 on
 * success, 77 when the shared fixtures are absent, −1 on failure (message printed). */
int tf_load(tf_tok *f, const char *name, int with_config);
void tf_free(tf_tok *f);

#endif
