/* bale chat templates: a Jinja2 subset that renders Hugging Face chat templates.
 *
 * The engine mirrors how transformers renders templates (apply_chat_template):
 * ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
 * loopcontrols extension, a tojson filter that behaves like
 * json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...),
 * and the globals raise_exception, strftime_now, namespace and dict.
 * Undefined values follow jinja2's default Undefined: printing gives "",
 * testing gives false, but attribute access, arithmetic or calls on them fail. */
#ifndef BALE_CHAT_H
#define BALE_CHAT_H

#include <stddef.h>

#include <jansson.h>

typedef enum {
	CHAT_OK = 0,
	CHAT_ERR_ARG,     /* NULL pointer or bad argument to the API */
	CHAT_ERR_NOMEM,   /* allocation failed */
	CHAT_ERR_SYNTAX,  /* the template does not parse (line/column point at it) */
	CHAT_ERR_RUNTIME, /* type error, undefined access, bad filter use while rendering */
	CHAT_ERR_RAISED,  /* the template called raise_exception(msg); message holds msg */
	CHAT_ERR_LIMIT,   /* a resource limit (depth, output, iterations, memory) was hit */
} chat_status;

typedef struct {
	chat_status status;
	int line;   /* 1-based; 0 when not tied to a template position */
	int column; /* 1-based, in bytes */
	char message[512];
} chat_error;

/* Bounds that keep hostile templates from exhausting the machine. */
typedef struct {
	size_t max_output;     /* bytes of rendered text (also of any captured block) */
	size_t max_iterations; /* loop iterations summed over the whole render */
	size_t max_memory;     /* bytes of values allocated during one render */
	int max_depth;         /* nesting of expressions/statements/macro calls */
} chat_limits;

typedef struct chat_template chat_template;

/* Fills in the defaults: 64 MiB output, 10M iterations, 512 MiB memory, depth 200. */
void chat_limits_default(chat_limits *lim);

/* Parses src (UTF-8, need not be NUL-terminated). On failure *out is NULL and err
 * (may be NULL) tells what and where. */
chat_status chat_template_create(const char *src, size_t len, chat_template **out, chat_error *err);
void chat_template_free(chat_template *t);

/* Renders with the JSON object ctx as the template's variables (messages, tools,
 * add_generation_prompt, bos_token, eos_token, enable_thinking, any extra kwargs).
 * JSON null becomes None. lim may be NULL (defaults). *out receives a malloc'ed
 * NUL-terminated UTF-8 string (free with chat_string_free or free), *out_len its
 * length when out_len is not NULL. The template may be rendered concurrently from
 * several threads. */
chat_status chat_template_render(const chat_template *t, const json_t *ctx, const chat_limits *lim,
				 char **out, size_t *out_len, chat_error *err);
void chat_string_free(char *s);

const char *chat_status_str(chat_status s);

#endif
