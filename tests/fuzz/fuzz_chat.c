/* libFuzzer target for the chat template engine: the input is compiled as a template and, when
 * it parses, rendered with a small fixed context under tight limits (so loops and string growth
 * stop quickly instead of timing the fuzzer out). Also linked into the corpus replay driver. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A conversation with a system prompt, a tool call and a tool result, plus the usual kwargs. */
static const char ctx_json[] =
	"{\"messages\": ["
	"{\"role\": \"system\", \"content\": \"You are terse.\"},"
	"{\"role\": \"user\", \"content\": \"Weather in Zürich? 2+2=\"},"
	"{\"role\": \"assistant\", \"content\": \"<think>\\nlook up\\n</think>\\nok\", \"tool_calls\": [{\"type\": "
	"\"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"days\": 2}}}]},"
	"{\"role\": \"tool\", \"content\": \"{\\\"t\\\": 21.5}\"},"
	"{\"role\": \"assistant\", \"content\": \"Sunny, 21.5 °C.\", \"reasoning_content\": null}],"
	"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"forecast\","
	"\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}],"
	"\"add_generation_prompt\": true, \"enable_thinking\": false, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
	"\"n\": 3, \"x\": -1.5, \"l\": [3, 1, 2], \"d\": {\"b\": 1, \"a\": [true, null]}}";

static json_t *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx) { /* kept for the whole run; it is reachable, so the leak checker ignores it */
		ctx = json_loads(ctx_json, 0, NULL);
		if (!ctx)
			abort();
	}
	chat_template *t = NULL;
	chat_error err;
	memset(&err, 0, sizeof err);
	chat_status st = chat_template_create((const char *)data, size, &t, &err);
	if (st != CHAT_OK) {
		if (t || err.status != st || strlen(err.message) == 0)
			abort();
		return 0;
	}
	chat_limits lim = {
		.max_output = 1 << 16,
		.max_iterations = 1 << 12,
		.max_memory = 8 << 20,
		.max_depth = 64,
	};
	char *out = NULL;
	size_t n = 0;
	st = chat_template_render(t, ctx, &lim, &out, &n, &err);
	if (st == CHAT_OK) {
		if (!out || out[n] != 0 || n > lim.max_output)
			abort();
		chat_string_free(out);
	} else if (out || err.status != st || (st != CHAT_ERR_RAISED && strlen(err.message) == 0)) {
		abort(); /* raise_exception('') may legitimately carry an empty message */
	}
	chat_template_free(t);
	return 0;
}
