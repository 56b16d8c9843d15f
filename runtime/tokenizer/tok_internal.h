/* Internal state of the tokenizer; not part of the API. */
#ifndef BALE_TOK_INTERNAL_H
#define BALE_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tok.h"

/* ---- growable byte buffer and span list (checked growth) ---- */
typedef struct {
	char *p;
	size_t n, cap;
} tok_buf;
tok_status tok_buf_reserve(tok_buf *b, size_t extra);
tok_status tok_buf_put(tok_buf *b, const void *src, size_t k);

typedef struct {
	size_t off, len;
	int32_t id; /* ≥ 0: an added token already resolved; −1: text still to process */
} tok_span;
typedef struct {
	tok_span *v;
	size_t n, cap;
} tok_spans;
tok_status tok_spans_push(tok_spans *s, size_t off, size_t len, int32_t id);

typedef struct {
	int32_t *v;
	size_t n, cap;
} tok_ids;
tok_status tok_ids_push(tok_ids *s, int32_t id);

/* ---- UTF-8 and Unicode helpers ---- */
bool tok_utf8_valid(const char *s, size_t n);
/* Decodes one code point of valid UTF-8 at s[0..n); returns its length. */
size_t tok_utf8_next(const char *s, size_t n, int32_t *cp);
/* Length of the code point ending at s[n-1] (valid UTF-8). */
size_t tok_utf8_prev_len(const char *s, size_t n);
size_t tok_utf8_put(char *dst, int32_t cp);
bool tok_is_white_space(int32_t cp); /* Unicode White_Space, as Rust's char::is_whitespace */
bool tok_is_word_char(int32_t cp);   /* regex \w */
bool tok_is_numeric(int32_t cp);     /* Rust char::is_numeric: Nd, Nl, No */
/* Appends `n` bytes to `out` replacing invalid UTF-8 by U+FFFD per maximal subpart. When `hold` is
 * true an incomplete but so-far-valid sequence at the end is not consumed: its length is returned
 * in *held (≤ 3). */
tok_status tok_utf8_lossy(tok_buf *out, const char *s, size_t n, bool hold, size_t *held);

/* ---- string → id hash (open addressing) ---- */
typedef struct {
	uint32_t *slot; /* id + 1, 0 = empty */
	size_t mask;
	const fmt_strview *keys; /* keys[id] */
} tok_strmap;
tok_status tok_strmap_build(tok_strmap *m, const fmt_strview *keys, uint32_t n);
int32_t tok_strmap_get(const tok_strmap *m, const char *s, size_t len);
void tok_strmap_free(tok_strmap *m);

/* ---- (left,right) → (rank,result) merge table ---- */
typedef struct {
	uint64_t key; /* (left << 32 | right) + 1, 0 = empty */
	uint32_t rank, result;
} tok_merge_slot;

/* ---- added-token matcher ---- */
typedef struct {
	int32_t id;
	uint8_t flags;
	const char *s;
	size_t len;
} tok_added_pat;
typedef struct {
	tok_added_pat *pats; /* sorted by first byte, then length descending */
	size_t n;
	uint32_t first[257]; /* pats[first[b] .. first[b+1]) start with byte b */
	char *owned;         /* normalized contents, when the normalizer changed them */
} tok_added_set;

/* ---- compiled pre-tokenizer step ---- */
typedef struct {
	const fmt_tok_step *step;
	pcre2_code *re; /* SPLIT, or BYTE_LEVEL with use_regex */
	bool jit;
} tok_pre;

/* ---- word cache: word bytes → ids, for short words ---- */
typedef struct {
	uint64_t hash; /* 0 = empty */
	uint32_t off;  /* into cache_data: word bytes then ids */
	uint16_t wlen, nids;
} tok_cache_slot;

struct tok_tokenizer {
	const fmt_tok *t;
	bool byte_level; /* a BYTE_LEVEL pre-tokenizer step exists: BPE runs over raw bytes */
	int32_t byte_id[256]; /* id of the mapped character of each byte, −1 if not in vocab */
	char byte_utf8[256][2]; /* the mapped character of each byte, UTF-8 (1 or 2 bytes) */
	uint8_t byte_utf8_len[256];
	tok_strmap vocab;
	tok_merge_slot *merges;
	size_t merge_mask;
	tok_added_set raw_added, norm_added;
	uint8_t *special; /* [n_tokens] bit0 special, bit1 added */
	const fmt_strview **added_text; /* [n_tokens] content of added tokens, NULL otherwise */
	tok_pre pre[FMT_TOK_MAX_STEPS];
	uint32_t n_pre;
	pcre2_match_data *md;
	/* decoded bytes of every id (decoder steps applied per token) */
	uint32_t *dec_off; /* [n_tokens + 1] */
	char *dec_data;
	bool strip_fused; /* a STRIP step after FUSE: applied to the whole text */
	uint32_t strip_start, strip_stop;
	fmt_strview strip_content;
	/* scratch, reused between calls */
	tok_buf norm, tmp, wordmap;
	tok_spans segs, subs, pieces, pieces2, mseg;
	struct tok_sym *syms;
	size_t syms_cap;
	struct tok_heap_ent *heap;
	size_t heap_cap;
	tok_cache_slot *cache;
	size_t cache_mask, cache_used;
	tok_buf cache_data;
};

/* tok_norm.c */
tok_status tok_normalize(const fmt_tok *t, const char *s, size_t n, tok_buf *out, tok_buf *tmp);
/* tok_split.c */
tok_status tok_added_build(tok_added_set *set, const fmt_tok *t, bool normalized, tok_buf *scratch, tok_buf *scratch2);
void tok_added_free(tok_added_set *set);
/* Splits text[off..off+len) around added tokens, appending spans (id −1 for plain text). */
tok_status tok_added_split(const tok_added_set *set, const char *text, size_t off, size_t len, bool split_special,
			   tok_spans *out);
tok_status tok_pre_compile(tok_tokenizer *tok, char *err, size_t errlen);
void tok_pre_free(tok_tokenizer *tok);
/* Runs all pre-tokenizer steps over the text spans in `pieces`, text in `buf` (which may grow). */
tok_status tok_pretokenize(tok_tokenizer *tok, tok_buf *buf, tok_spans *pieces, tok_spans *tmp);
/* tok_bpe.c */
tok_status tok_bpe_build(tok_tokenizer *tok, char *err, size_t errlen);
tok_status tok_bpe_word(tok_tokenizer *tok, const char *w, size_t n, tok_ids *out);
/* tok_decode.c */
tok_status tok_decoder_build(tok_tokenizer *tok, char *err, size_t errlen);

void tok_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* GPT-2 byte ↔ unicode mapping */
int32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(int32_t cp); /* −1 when cp is not a mapped character */

#endif
