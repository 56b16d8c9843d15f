/* `bale eval`: perplexity, KL divergence against a reference model, and exact-match accuracy on
 * \boxed{} answers. Internal to the CLI; eval_answer.c has no dependencies so tests link it alone. */
#ifndef BALE_EVAL_H
#define BALE_EVAL_H

#include <stdbool.h>
#include <stddef.h>

/* The argument of the last "\boxed{...}" in text (braces nested inside it are kept), with its
 * whitespace normalized (eval_normalize). NULL when there is none or the last one never closes, or
 * when out of memory (*nomem is then set). The result is malloc'ed. */
char *eval_extract_boxed(const char *text, size_t len, bool *nomem);

/* In place: runs of ASCII whitespace become one space; leading and trailing ones are removed. */
void eval_normalize(char *s);

#endif
