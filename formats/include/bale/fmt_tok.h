/* fmt_tok — the TOKENIZER section (formats/SPEC.md §9): a decoded, validated view and an encoder.
 * Decoding borrows strings from the section bytes; encoding produces a malloc'ed section. */
#ifndef BALE_FMT_TOK_H
#define BALE_FMT_TOK_H

#include "bale/fmt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FMT_TOK_MAX_TOKENS 16777216u
#define FMT_TOK_MAX_MERGES 16777216u
#define FMT_TOK_MAX_ADDED 65536u
#define FMT_TOK_MAX_STEPS 16u

enum { FMT_TOK_BPE = 1 };
enum {
	FMT_TOKF_IGNORE_MERGES = 1u << 0,
	FMT_TOKF_BYTE_FALLBACK = 1u << 1,
	FMT_TOKF_FUSE_UNK = 1u << 2,
	FMT_TOKF_ADD_BOS = 1u << 3,
	FMT_TOKF_ADD_EOS = 1u << 4,
};
enum { /* added token flags */
	FMT_ADDED_SPECIAL = 1u << 0,
	FMT_ADDED_LSTRIP = 1u << 1,
	FMT_ADDED_RSTRIP = 1u << 2,
	FMT_ADDED_SINGLE_WORD = 1u << 3,
	FMT_ADDED_NORMALIZED = 1u << 4,
};
typedef enum { FMT_NORM_NFC = 1, FMT_NORM_NFD, FMT_NORM_NFKC, FMT_NORM_NFKD, FMT_NORM_LOWERCASE, FMT_NORM_REPLACE, FMT_NORM_PREPEND } fmt_norm_kind;
typedef enum { FMT_PRE_SPLIT = 1, FMT_PRE_BYTE_LEVEL, FMT_PRE_DIGITS } fmt_pre_kind;
typedef enum { FMT_SPLIT_REMOVED = 0, FMT_SPLIT_ISOLATED, FMT_SPLIT_MERGED_PREV, FMT_SPLIT_MERGED_NEXT, FMT_SPLIT_CONTIGUOUS } fmt_split_behavior;
typedef enum { FMT_DEC_BYTE_LEVEL = 1, FMT_DEC_REPLACE, FMT_DEC_BYTE_FALLBACK, FMT_DEC_FUSE, FMT_DEC_STRIP } fmt_dec_kind;

typedef struct {
	const char *s; /* not NUL-terminated */
	uint32_t len;
} fmt_strview;

/* One pipeline step. Which fields matter depends on the stage and kind (SPEC §9). */
typedef struct {
	uint8_t kind;
	uint8_t is_regex, behavior, invert;          /* SPLIT */
	uint8_t add_prefix_space, trim_offsets, use_regex; /* BYTE_LEVEL (pre) */
	uint8_t individual_digits;                   /* DIGITS */
	fmt_strview a, b;                            /* SPLIT pattern in a; REPLACE pattern/content; PREPEND/STRIP content in a */
	uint32_t start, stop;                        /* STRIP */
} fmt_tok_step;

typedef struct {
	uint32_t id;
	uint8_t flags;
	fmt_strview content;
} fmt_tok_added;

typedef struct {
	uint32_t left, right, result;
} fmt_tok_merge;

typedef struct {
	uint32_t model;   /* FMT_TOK_BPE */
	uint32_t flags;   /* FMT_TOKF_* */
	int32_t unk_id, bos_id, eos_id, pad_id; /* -1 when absent */
	uint32_t n_tokens, n_merges, n_added;
	fmt_strview *tokens;     /* [n_tokens]; len 0 = no vocab entry */
	fmt_tok_merge *merges;   /* [n_merges], rank = index */
	fmt_tok_added *added;    /* [n_added] */
	uint32_t n_norm, n_pre, n_dec;
	fmt_tok_step norm[FMT_TOK_MAX_STEPS], pre[FMT_TOK_MAX_STEPS], dec[FMT_TOK_MAX_STEPS];
} fmt_tok;

/* Decodes and validates a section (ids in range, merge result text = left ‖ right, step kinds,
 * exact end). `base_offset` is the section's file offset, used in error messages. On success
 * *out owns its arrays (free with fmt_tok_free) and borrows strings from `data`. */
fmt_status fmt_tok_decode(const void *data, size_t n, uint64_t base_offset, fmt_tok **out, fmt_error *err);
/* Frees `tokens`, `merges`, `added` (malloc'ed) and `t` itself, never the strings; accepts NULL. */
void fmt_tok_free(fmt_tok *t);

/* Encodes a description into a malloc'ed section (caller frees). Validates the same rules by
 * decoding its own output (messages start "encode: "; err->offset is UINT64_MAX). Only the fields
 * a step kind uses are written; the others are ignored. Deterministic. */
fmt_status fmt_tok_encode(const fmt_tok *t, uint8_t **out, size_t *out_len, fmt_error *err);

#ifdef __cplusplus
}
#endif
#endif
