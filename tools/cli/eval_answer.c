/* Answer extraction for `bale eval --tasks`: the \boxed{} argument, compared as a string after
 * whitespace normalization (no numeric or LaTeX equivalence: the demo tasks have integer answers
 * and a looser comparison would hide formatting regressions). */
#include "eval.h"

#include <stdlib.h>
#include <string.h>

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void eval_normalize(char *s)
{
	size_t w = 0;
	bool pending = false;
	for (size_t r = 0; s[r]; r++) {
		if (is_space(s[r])) {
			pending = w > 0;
			continue;
		}
		if (pending)
			s[w++] = ' ';
		pending = false;
		s[w++] = s[r];
	}
	s[w] = 0;
}

char *eval_extract_boxed(const char *text, size_t len, bool *nomem)
{
	static const char tag[] = "\\boxed{";
	const size_t tl = sizeof tag - 1;
	*nomem = false;
	/* Only the last tag counts: an answer cut off by --max-tokens is no answer, even when an
	 * earlier box closed (the demo model's transformers reference scores it the same way). */
	for (size_t i = len >= tl ? len - tl + 1 : 0; i-- > 0;) {
		if (memcmp(text + i, tag, tl) != 0)
			continue;
		size_t b = i + tl, depth = 1, e = b;
		for (; e < len; e++) {
			if (text[e] == '{')
				depth++;
			else if (text[e] == '}' && --depth == 0)
				break;
		}
		if (e >= len)
			return NULL;
		char *out = malloc(e - b + 1);
		if (!out) {
			*nomem = true;
			return NULL;
		}
		memcpy(out, text + b, e - b);
		out[e - b] = 0;
		eval_normalize(out);
		return out;
	}
	return NULL;
}
