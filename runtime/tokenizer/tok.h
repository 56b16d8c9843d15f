/* tok — the runtime tokenizer: byte-level BPE driven entirely by an fmt_tok (formats/SPEC.md §9).
 *
 * Encoding follows Hugging Face `tokenizers` (0.2x) step by step:
 *   1. added tokens with normalized=false are cut out of the raw text (leftmost, then longest
 *      match; single_word / lstrip / rstrip as HF's AddedVocabulary applies them);
 *   2. every remaining piece is normalized (NFC/NFD/NFKC/NFKD via utf8proc, LOWERCASE, REPLACE,
 *      PREPEND) and the added tokens with normalized=true are cut out of it;
 *   3. pre-tokenizer steps split the pieces: SPLIT runs the pattern stored in the data with PCRE2
 *      (UTF + UCP, JIT when available), DIGITS, BYTE_LEVEL (prefix space, GPT-2 regex when
 *      use_regex, byte→unicode mapping);
 *   4. each piece is merged by BPE rank; with ignore_merges a piece that is itself in the
 *      vocabulary is emitted whole.
 * Decoding maps ids to their text through the decoder steps; bytes that do not form valid UTF-8
 * become U+FFFD, one per maximal invalid subpart (as Rust's String::from_utf8_lossy, which HF uses).
 *
 * Input text must be valid UTF-8 (TOK_E_UTF8 otherwise; HF only accepts valid strings).
 * Libraries never print: failures return a tok_status and, where a buffer is given, a message.
 * Thread-safety: a tok_tokenizer keeps scratch space and a word cache, so one handle must not be
 * used by two threads at once (tok_decode, tok_token_* and streams only read it and may run
 * concurrently with each other, not with tok_encode). */
#ifndef BALE_TOK_H
#define BALE_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/fmt_tok.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	TOK_OK = 0,
	TOK_E_NOMEM = 1,
	TOK_E_ARG = 2,         /* NULL where forbidden, id out of range, unknown flag */
	TOK_E_UNSUPPORTED = 3, /* model or step layout this runtime does not implement */
	TOK_E_DATA = 4,        /* inconsistent fmt_tok (bad id, merge, step argument) */
	TOK_E_REGEX = 5,       /* a SPLIT pattern PCRE2 rejects, or a match-time failure */
	TOK_E_UTF8 = 6,        /* input text is not valid UTF-8 */
	TOK_E_LIMIT = 7,       /* input larger than TOK_MAX_INPUT */
	TOK_E_SPACE = 8,       /* caller buffer too small; the needed size is reported */
	TOK_E_NOTFOUND = 9,
} tok_status;

#define TOK_MAX_INPUT ((size_t)1 << 30)

const char *tok_strerror(tok_status st); /* static text, never NULL */

typedef struct tok_tokenizer tok_tokenizer;
typedef struct tok_stream tok_stream;

enum {
	TOK_ENC_ADD_SPECIAL = 1u << 0,   /* add BOS/EOS when the data says so (FMT_TOKF_ADD_BOS/_EOS) */
	TOK_ENC_SPLIT_SPECIAL = 1u << 1, /* special added tokens are plain text (HF split_special_tokens) */
};
enum {
	TOK_DEC_SKIP_SPECIAL = 1u << 0, /* drop added tokens marked special */
};

/* Builds a tokenizer from `t`. The tokenizer keeps pointers into `t` and the strings it borrows
 * (e.g. the .bale mapping): both must outlive the tokenizer. On failure *out is NULL and `err`
 * (errlen bytes; may be NULL/0) says which step, pattern or id is wrong. */
tok_status tok_create(const fmt_tok *t, tok_tokenizer **out, char *err, size_t errlen);
void tok_free(tok_tokenizer *tok); /* accepts NULL */

/* Encodes `len` bytes of UTF-8 into a malloc'ed id array (*ids is NULL when *n is 0; free it
 * with free()). `flags` is TOK_ENC_*. */
tok_status tok_encode(tok_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t **ids, size_t *n);
/* Same into caller memory: writes at most `cap` ids; on TOK_E_SPACE *n is the count needed. */
tok_status tok_encode_to(tok_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t *ids, size_t cap,
			 size_t *n);

/* Decodes ids into malloc'ed, NUL-terminated UTF-8 (*len excludes the NUL). Ids outside
 * [0, tok_n_tokens) are TOK_E_ARG; ids with no text decode to nothing. */
tok_status tok_decode(const tok_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char **text,
		      size_t *len);

/* Streaming decoder: push ids one at a time and get back only complete UTF-8; an incomplete tail
 * (at most 3 bytes) is held until the next push completes it. Invalid bytes are emitted as U+FFFD
 * as soon as they are known invalid; flush turns a held tail into one U+FFFD. The concatenation of
 * all outputs equals tok_decode of the same ids. The returned text (not NUL-terminated) stays valid
 * until the next call on the stream. The stream borrows `tok`. */
tok_status tok_stream_create(const tok_tokenizer *tok, unsigned flags, tok_stream **out);
tok_status tok_stream_push(tok_stream *s, int32_t id, const char **text, size_t *len);
tok_status tok_stream_flush(tok_stream *s, const char **text, size_t *len); /* stream is then reset */
void tok_stream_free(tok_stream *s); /* accepts NULL */

uint32_t tok_n_tokens(const tok_tokenizer *tok);
int32_t tok_bos_id(const tok_tokenizer *tok); /* −1 when absent */
int32_t tok_eos_id(const tok_tokenizer *tok);
bool tok_is_special(const tok_tokenizer *tok, int32_t id);
/* The stored text of a token: an added token's content, else its vocabulary string (ByteLevel-
 * mapped, e.g. "Ġhello"). Borrowed from the fmt_tok. TOK_E_ARG when out of range; TOK_E_NOTFOUND
 * for an id with no text. */
tok_status tok_token_text(const tok_tokenizer *tok, int32_t id, const char **text, size_t *len);
/* The bytes a token decodes to on its own (may be partial UTF-8); borrowed from the tokenizer. */
tok_status tok_token_bytes(const tok_tokenizer *tok, int32_t id, const char **bytes, size_t *len);
/* Id of a stored text: added tokens first, then the vocabulary; −1 when absent. */
int32_t tok_token_id(const tok_tokenizer *tok, const char *text, size_t len);

/* For `bale tokenize`: encodes `text` and renders one line per token, "<id>\t<bytes>\n", where the
 * token's decoded bytes are escaped (\n, \t, \r, \\, \xNN for control and non-UTF-8 bytes) so a
 * partial UTF-8 token stays visible. *out is malloc'ed and NUL-terminated. */
tok_status tok_describe(tok_tokenizer *tok, const char *text, size_t len, unsigned flags, char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
