/* Single-core encode speed: bale_bench_tok [MB]. Encodes the parity corpus repeated and a few MB of
 * generated English-like text with the Qwen3 and DeepSeek-V3 tokenizers; prints MB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "testutil.h"
#include "tok_fixture.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The corpus strings joined by newlines. */
static char *corpus_text(size_t *n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/tokenizer/corpus.jsonl", BALE_TEST_DATA);
	size_t fn;
	char *d = (char *)tu_read_file(path, &fn);
	if (!d)
		return NULL;
	char *out = malloc(fn + 1);
	size_t o = 0;
	for (char *s = d, *end = d + fn; out && s < end;) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, NULL);
		json_t *t = j ? json_object_get(j, "text") : NULL;
		if (t) {
			memcpy(out + o, json_string_value(t), json_string_length(t));
			o += json_string_length(t);
			out[o++] = '\n';
		}
		json_decref(j);
		s += len + 1;
	}
	free(d);
	*n = o;
	return out;
}

static char *english(size_t bytes)
{
	static const char *const words[] = {"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was",
		"with", "be", "by", "on", "not", "he", "I", "this", "are", "or", "his", "from", "at", "which", "but",
		"have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
		"been", "if", "more", "when", "will", "would", "who", "so", "no", "tokenizer", "performance", "model",
		"language", "2024", "3.14", "Hello,", "world.", "don't", "it's", "(see", "below)", "—", "\"quoted\""};
	char *t = malloc(bytes + 64);
	tu_rng r = {42};
	size_t o = 0;
	while (t && o < bytes) {
		const char *w = words[tu_rng_u64(&r) % (sizeof words / sizeof *words)];
		size_t k = strlen(w);
		memcpy(t + o, w, k);
		o += k;
		t[o++] = tu_rng_u64(&r) % 14 ? ' ' : '\n';
	}
	return t;
}

static void bench(const char *name, tok_tokenizer *tok, const char *text, size_t n, int reps)
{
	double best = 1e30;
	size_t nid = 0;
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		int32_t *ids;
		if (tok_encode(tok, text, n, 0, &ids, &nid) != TOK_OK) {
			printf("%s: encode failed\n", name);
			return;
		}
		double dt = now() - t0;
		free(ids);
		if (dt < best)
			best = dt;
	}
	printf("%-40s %8.2f MB  %9zu ids  %7.2f MB/s  (%.2f bytes/token)\n", name, n / 1e6, nid, n / 1e6 / best,
	       (double)n / (double)(nid ? nid : 1));
}

int main(int argc, char **argv)
{
	double mb = argc > 1 ? atof(argv[1]) : 4.0;
	size_t cn;
	char *corpus = corpus_text(&cn);
	if (!corpus) {
		fprintf(stderr, "cannot read the corpus\n");
		return 1;
	}
	size_t reps = (size_t)(mb * 1e6 / (double)cn) + 1, rn = cn * reps;
	char *rep = malloc(rn);
	for (size_t i = 0; rep && i < reps; i++)
		memcpy(rep + i * cn, corpus, cn);
	size_t en = (size_t)(mb * 1e6);
	char *eng = english(en);
	static const char *const fx[2] = {"qwen3-tokenizer", "deepseek-v3-tokenizer"};
	for (int k = 0; k < 2 && rep && eng; k++) {
		tf_tok f;
		double t0 = now();
		int rc = tf_load(&f, fx[k], 0);
		if (rc) {
			fprintf(stderr, "%s: not available\n", fx[k]);
			continue;
		}
		printf("%s (import+create %.2f s)\n", fx[k], now() - t0);
		char label[128];
		snprintf(label, sizeof label, "  corpus x%zu (cold cache first)", reps);
		bench(label, f.tok, rep, rn, 3);
		bench("  English-like text", f.tok, eng, en, 3);
		tf_free(&f);
	}
	free(rep);
	free(eng);
	free(corpus);
	return 0;
}
