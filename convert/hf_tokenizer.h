/* cv_hf_tokenizer — Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) → fmt_tok
 * (formats/SPEC.md §9), chat templates (§8.2) and special token ids (§8.1 token.*).
 *
 * Supported (everything else is rejected with a message naming the JSON path, e.g.
 * `tokenizer.json: pre_tokenizer.pretokenizers[1].type "Metaspace" is not supported`):
 *   model         BPE: vocab {text: id}, merges as ["a","b"] pairs or "a b" strings, unk_token,
 *                 fuse_unk, byte_fallback, ignore_merges; dropout null; no subword prefix/suffix
 *   added_tokens  id, content, special, lstrip, rstrip, single_word, normalized
 *   normalizer    null, NFC, NFD, NFKC, NFKD, Lowercase, Replace (String pattern), Prepend, Sequence
 *   pre_tokenizer null, Split (Regex or String pattern, behavior, invert), ByteLevel, Digits, Sequence
 *   decoder       null, ByteLevel, Replace (String pattern), ByteFallback, Fuse, Strip, Sequence
 *   post_processor null, ByteLevel (no-op), TemplateProcessing whose `single` is
 *                 [SpecialToken]? $A [SpecialToken]? (→ add_bos / add_eos and their ids), Sequence
 *   `truncation` and `padding` are ignored (they are call options, not tokenization rules).
 * tokenizer_config.json: chat_template (string → "default", or a list of {name, template}),
 * bos/eos/pad/unk_token (null, a string, or {"content": ...}) resolved through the added tokens
 * then the vocabulary, add_bos_token / add_eos_token (override the post-processor when present).
 *
 * Ids: n_tokens = 1 + the largest id of vocab and added tokens; ids without a vocab entry are
 * empty strings (at most as many holes as defined ids, so a hostile id cannot force a huge
 * allocation). Files above CV_HF_MAX_FILE bytes or nested deeper than CV_HF_MAX_DEPTH are rejected
 * before parsing. Nothing is printed; not thread-safe per object, independent objects are fine. */
#ifndef BALE_CV_HF_TOKENIZER_H
#define BALE_CV_HF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "bale/fmt_tok.h"

#define CV_HF_MAX_FILE ((size_t)256 << 20)
#define CV_HF_MAX_DEPTH 64
#define CV_HF_MAX_TEMPLATES 64

typedef struct cv_hf_tokenizer cv_hf_tokenizer;

typedef struct {
	const char *name; /* NUL-terminated key: "default" for a plain string; [A-Za-z0-9_.-]{1,255} */
	const char *text; /* NUL-terminated template text, byte-exact from the JSON */
	size_t text_len;
} cv_chat_template;

/* Loads tokenizer.json and, when `config_path` is non-NULL, tokenizer_config.json. On success
 * returns 0 and *out owns everything (free with cv_hf_tokenizer_free). On failure returns -1,
 * *out is NULL and `err` (errlen bytes, may be NULL/0) holds "<path>: <json path>: <problem>". */
int cv_hf_tokenizer_load(const char *tokenizer_json_path, const char *config_path, cv_hf_tokenizer **out,
			 char *err, size_t errlen);
/* Same over caller memory (borrowed for the call only); labels name the inputs in messages.
 * `config` may be NULL. */
int cv_hf_tokenizer_load_mem(const void *tok_json, size_t tok_len, const char *tok_label, const void *config,
			     size_t config_len, const char *config_label, cv_hf_tokenizer **out, char *err,
			     size_t errlen);
void cv_hf_tokenizer_free(cv_hf_tokenizer *t); /* accepts NULL */

/* The tokenizer, strings owned by `t`. unk/bos/eos/pad ids are −1 when absent. */
const fmt_tok *cv_hf_tokenizer_tok(const cv_hf_tokenizer *t);
/* The encoded TOKENIZER section (fmt_tok_encode of the above, already validated). */
const uint8_t *cv_hf_tokenizer_section(const cv_hf_tokenizer *t, size_t *len);
/* Number of vocabulary entries (ids with text, excluding added-only ids). */
uint32_t cv_hf_tokenizer_n_vocab(const cv_hf_tokenizer *t);

size_t cv_hf_tokenizer_n_templates(const cv_hf_tokenizer *t);
const cv_chat_template *cv_hf_tokenizer_template_at(const cv_hf_tokenizer *t, size_t i); /* file order */

/* Id of a token text: added tokens first, then the (ByteLevel-mapped) vocabulary; −1 when absent.
 * Linear scan: for tests and occasional lookups. */
int32_t cv_hf_tokenizer_find(const cv_hf_tokenizer *t, const char *text, size_t len);

#endif
