/* smp — token sampling and stop conditions for the bale runtime.
 *
 * Sampler. One smp_sample call turns a float32 logits row (n_vocab entries) into a token id. The
 * steps run in this fixed order, which is the order Hugging Face transformers (5.x,
 * GenerationMixin._get_logits_processor) applies the processors we share with it:
 *
 *   1. repetition penalty   over the distinct ids in the penalty window, once per id (HF
 *                           RepetitionPenaltyLogitsProcessor): x < 0 ? x * rp : x / rp;
 *   2. frequency/presence   OpenAI style, not in HF: x -= count * frequency + (count > 0) * presence;
 *   3. greedy               temperature 0: argmax of the penalized logits, ties to the lowest id
 *                           (HF greedy search runs the processors of step 1 and no warpers);
 *   4. temperature          x / T (HF TemperatureLogitsWarper);
 *   5. top-k                keep every id whose logit is >= the k-th largest, so ties with the k-th
 *                           are all kept, as HF TopKLogitsWarper does;
 *   6. top-p                sort descending; keep an id while the probability mass of the ids
 *                           strictly before it is < top_p (HF TopPLogitsWarper: drop the ascending
 *                           cumulative sum <= 1 - top_p); the most likely id is always kept;
 *                           equal logits sort by id (HF's order among them is unspecified);
 *   7. min-p                keep ids with p >= min_p * p_max (HF MinPLogitsWarper);
 *   8. draw                 one uniform double from the sampler's own xoshiro256** stream (seeded
 *                           through splitmix64) against the renormalized kept probabilities.
 *
 * Probabilities of steps 6 and 7 are taken over the ids that survived the previous step. Logits
 * equal to -inf are masked ids; a NaN or +inf logit (also one produced by the penalties) is
 * SMP_E_LOGITS, as is a row with no finite logit. Penalties count only the ids given to
 * smp_accept: to penalize the prompt as HF does, accept the prompt ids too.
 *
 * Speed: one vectorized pass over the row finds its maximum and each 256-id block's maximum;
 * top-k (bounded heap), min-p (a logit threshold) and the top-p candidate set (ids within
 * g * T of the maximum, g doubling until they hold top_p of the mass) visit only blocks whose
 * maximum can contribute, so only the kept ids are sorted. Without top-k, top-p and plain
 * sampling need one more vectorized pass of weights (own exp, within 1.2e-7 relative of expf).
 * About 0.1-0.2 ms per token for 152K ids with top-k, 0.6 ms for top-p without top-k
 * (bale_bench_sample, one 2.1 GHz core, SSE2 build).
 *
 * Stop conditions. smp_stop tracks end-of-generation ids, stop strings matched over the decoded
 * text stream (a match may span any number of tokens) and a token budget; it holds back text
 * that could still turn into a stop string, and an incomplete UTF-8 tail, so what it releases is
 * final.
 *
 * Libraries never print: failures return an smp_status; create functions fill `err`, and
 * smp_last_error gives details for the sampler. A handle must not be used by two threads at once.
 */
#ifndef BALE_SMP_H
#define BALE_SMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	SMP_OK = 0,
	SMP_E_NOMEM = 1,
	SMP_E_ARG = 2,    /* NULL where forbidden, id out of range, call in the wrong state */
	SMP_E_PARAM = 3,  /* an smp_params / smp_stop_params value out of range */
	SMP_E_LOGITS = 4, /* NaN or +inf logit, or no finite logit at all */
	SMP_E_SPACE = 5,  /* caller buffer too small; the needed count is reported */
} smp_status;

const char *smp_strerror(smp_status st); /* static text, never NULL */

#define SMP_MAX_VOCAB (1u << 26)
#define SMP_MAX_WINDOW (1 << 24) /* largest penalty_last_n */

typedef struct {
	float temperature;        /* >= 0, finite; 0 = greedy */
	int32_t top_k;            /* >= 0; 0 = off */
	float top_p;              /* (0, 1]; 1 = off */
	float min_p;              /* [0, 1); 0 = off */
	float repetition_penalty; /* > 0, finite; 1 = off */
	float presence_penalty;   /* finite; 0 = off */
	float frequency_penalty;  /* finite; 0 = off */
	int32_t penalty_last_n;   /* ids the penalties look back on: -1 = all since reset, 0 = none */
	uint64_t seed;            /* same seed, params, logits and accepts = same ids */
} smp_params;

/* Plain multinomial sampling: temperature 1, top_k 0, top_p 1, min_p 0, no penalties,
 * penalty_last_n -1, seed 0. (HF's generation defaults differ: top_k 50.) */
smp_params smp_params_default(void);

/* Checks every field; on failure fills `err` (may be NULL/0) naming the field and value. */
smp_status smp_params_check(const smp_params *p, char *err, size_t errlen);

typedef struct smp_sampler smp_sampler;

/* n_vocab in [1, SMP_MAX_VOCAB]. On failure *out is NULL and `err` says why. */
smp_status smp_sampler_create(const smp_params *p, uint32_t n_vocab, smp_sampler **out, char *err, size_t errlen);
void smp_free(smp_sampler *s); /* accepts NULL */

/* Picks the next id from `logits` (n_vocab floats, left untouched). Does not record the id:
 * call smp_accept with the id actually used. */
smp_status smp_sample(smp_sampler *s, const float *logits, int32_t *out_id);

/* The distribution smp_sample draws from for `logits`: the kept ids sorted by probability
 * (descending, ties to the lowest id) and their probabilities, summing to 1. Writes at most
 * `cap` entries; *n is the count (on SMP_E_SPACE, the count needed). Uses no randomness. */
smp_status smp_probs(smp_sampler *s, const float *logits, int32_t *ids, float *probs, size_t cap, size_t *n);

/* Records `id` in the penalty history (SMP_E_ARG when outside [0, n_vocab)). */
smp_status smp_accept(smp_sampler *s, int32_t id);

/* Forgets the history and restarts the random stream from params.seed. */
void smp_reset(smp_sampler *s);

/* Detail of the last failure of smp_sample/smp_probs/smp_accept ("" if none). */
const char *smp_last_error(const smp_sampler *s);

/* ---- stop conditions ---- */

typedef enum {
	SMP_STOP_NONE = 0,
	SMP_STOP_EOS = 1,        /* an end-of-generation id was fed; its text is dropped */
	SMP_STOP_STRING = 2,     /* a stop string completed; it and anything after it are dropped */
	SMP_STOP_MAX_TOKENS = 3, /* the token budget is used up (this token's text is kept) */
} smp_stop_reason;

#define SMP_STOP_MAX_STRINGS 256
#define SMP_STOP_MAX_LEN 4096 /* bytes per stop string */
#define SMP_STOP_MAX_EOS 4096

typedef struct {
	const int32_t *eos_ids; /* ids >= 0; duplicates allowed */
	size_t n_eos;
	const char *const *strings; /* non-empty, valid UTF-8 */
	const size_t *string_lens;  /* NULL = NUL-terminated strings */
	size_t n_strings;
	uint64_t max_tokens; /* 0 = no limit */
} smp_stop_params;

typedef struct {
	const char *text;       /* bytes now safe to show; valid until the next call on the handle */
	size_t len;
	smp_stop_reason reason; /* NONE while generation goes on */
	int32_t which;          /* index of the stop string hit, else -1 */
} smp_stop_result;

typedef struct smp_stop smp_stop;

/* Copies everything it needs from `p`. */
smp_status smp_stop_create(const smp_stop_params *p, smp_stop **out, char *err, size_t errlen);
void smp_stop_free(smp_stop *st); /* accepts NULL */
void smp_stop_reset(smp_stop *st); /* new generation: no held text, token count 0 */

bool smp_stop_is_eos(const smp_stop *st, int32_t id);

/* One generated token and the text the streaming decoder produced for it (may be empty or end
 * inside a UTF-8 sequence). Stop-string matching is bytewise over the concatenated stream; the
 * earliest-ending match wins, the longest one among those ending at the same byte. On a final
 * reason every still-held byte that is not dropped is released. After a final reason further
 * feeds are SMP_E_ARG until smp_stop_reset. */
smp_status smp_stop_feed(smp_stop *st, int32_t id, const char *text, size_t len, smp_stop_result *res);

/* Same for text not tied to a counted token (e.g. a prefix forced by the caller). */
smp_status smp_stop_feed_text(smp_stop *st, const char *text, size_t len, smp_stop_result *res);

/* Generation ended for another reason: releases the held bytes (res->reason is NONE). */
smp_status smp_stop_flush(smp_stop *st, smp_stop_result *res);

#ifdef __cplusplus
}
#endif

#endif
