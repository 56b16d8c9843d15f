/* Small helpers shared by the chat template tests. */
#ifndef BALE_CHAT_TESTLIB_H
#define BALE_CHAT_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat.h"
#include "testutil.h"

/* Reads tests/data/chat/<name> into a malloc'ed NUL-terminated buffer. */
static inline char *ct_read_data(const char *name, size_t *n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/chat/%s", BALE_TEST_DATA, name);
	uint8_t *p = tu_read_file(path, n);
	return (char *)p;
}

/* Loads a .jsonl file as a JSON array of objects. */
static inline json_t *ct_load_jsonl(const char *name)
{
	size_t n;
	char *text = ct_read_data(name, &n);
	if (!text)
		return NULL;
	json_t *arr = json_array();
	char *line = text, *end = text + n;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
		if (len) {
			json_error_t je;
			json_t *o = json_loadb(line, len, 0, &je);
			if (!o) {
				fprintf(stderr, "%s: bad JSON line: %s\n", name, je.text);
				json_decref(arr);
				free(text);
				return NULL;
			}
			json_array_append_new(arr, o);
		}
		line += len + 1;
	}
	free(text);
	return arr;
}

/* Renders src with ctx; returns status, *out malloc'ed on success. */
static inline chat_status ct_render(const char *src, size_t len, const json_t *ctx, const chat_limits *lim,
				    char **out, size_t *out_len, chat_error *err)
{
	chat_template *t = NULL;
	chat_status st = chat_template_create(src, len, &t, err);
	if (st != CHAT_OK)
		return st;
	st = chat_template_render(t, ctx, lim, out, out_len, err);
	chat_template_free(t);
	return st;
}

/* Prints the first difference between two strings. */
static inline void ct_show_diff(const char *id, const char *want, size_t wn, const char *got, size_t gn)
{
	size_t i = 0;
	while (i < wn && i < gn && want[i] == got[i])
		i++;
	size_t from = i > 40 ? i - 40 : 0;
	fprintf(stderr, "[%s] differs at byte %zu (want %zu bytes, got %zu)\n  want: ...%.*s\n  got:  ...%.*s\n", id, i,
		wn, gn, (int)((wn - from) > 100 ? 100 : wn - from), want + from,
		(int)((gn - from) > 100 ? 100 : gn - from), got + from);
}

#endif
