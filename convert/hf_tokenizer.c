/* Hugging Face tokenizer files → fmt_tok. Strict: anything not understood is an error naming its
 * JSON path, because a silently ignored pipeline step would tokenize differently at run time. */
#include "hf_tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 192
#define MAX_SEQ_DEPTH 8 /* nested Sequence steps */

/* ---- string arena: every string of the fmt_tok lives here ---- */

typedef struct ablk {
	struct ablk *next;
	size_t used, cap;
	char data[];
} ablk;

struct cv_hf_tokenizer {
	fmt_tok *tok;
	ablk *arena;
	uint8_t *section;
	size_t section_len;
	uint32_t n_vocab;
	cv_chat_template *tpl;
	size_t n_tpl;
};

static char *arena_dup(cv_hf_tokenizer *h, const char *s, size_t len)
{
	ablk *b = h->arena;
	if (len >= SIZE_MAX / 2)
		return NULL;
	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > ((size_t)1 << 20) ? len + 1 : ((size_t)1 << 20);
		ablk *nb = malloc(sizeof *nb + cap);
		if (!nb)
			return NULL;
		nb->used = 0;
		nb->cap = cap;
		/* A big one-off string goes behind the current block so the block keeps filling. */
		if (b && cap > ((size_t)1 << 20)) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			h->arena = nb;
		}
		b = nb;
	}
	char *p = b->data + b->used;
	if (len)
		memcpy(p, s, len);
	p[len] = 0;
	b->used += len + 1;
	return p;
}

/* ---- errors ---- */

typedef struct {
	char *err;
	size_t errlen;
	const char *label;
} hctx;

static int fail(hctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(hctx *c, const char *fmt, ...)
{
	if (!c->err || !c->errlen)
		return -1;
	int k = snprintf(c->err, c->errlen, "%s: ", c->label);
	if (k < 0 || (size_t)k >= c->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
	va_end(ap);
	return -1;
}

/* Short printable excerpt of token text for messages. */
#define SHOW(len) ((int)((len) > 60 ? 60 : (len)))

static const char *jtype_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* ---- input ---- */

static int read_all(hctx *c, const char *path, uint8_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(c, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(c, "not a regular file");
	}
	if ((uint64_t)st.st_size > CV_HF_MAX_FILE) {
		close(fd);
		return fail(c, "%lld bytes exceed the cap of %zu", (long long)st.st_size, CV_HF_MAX_FILE);
	}
	size_t want = (size_t)st.st_size;
	uint8_t *buf = malloc(want + 1);
	if (!buf) {
		close(fd);
		return fail(c, "out of memory");
	}
	size_t got = 0;
	while (got < want) {
		ssize_t r = read(fd, buf + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = errno;
			free(buf);
			close(fd);
			return fail(c, "read failed: %s", r < 0 ? strerror(e) : "file shrank while reading");
		}
		got += (size_t)r;
	}
	close(fd);
	*out = buf;
	*n = want;
	return 0;
}

/* Bounds nesting before jansson recurses (its own limit is much higher than anything legitimate). */
static int check_depth(hctx *c, const uint8_t *p, size_t n)
{
	size_t depth = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > CV_HF_MAX_DEPTH)
				return fail(c, "nesting deeper than %d at byte %zu", CV_HF_MAX_DEPTH, i);
		} else if ((ch == ']' || ch == '}') && depth) {
			depth--;
		}
	}
	return 0;
}

static int parse_json(hctx *c, const void *data, size_t n, json_t **out)
{
	*out = NULL;
	if (check_depth(c, data, n))
		return -1;
	json_error_t je;
	json_t *j = json_loadb(data, n, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return fail(c, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return fail(c, "top level is not an object");
	}
	*out = j;
	return 0;
}

/* ---- typed field access: absent and null mean "default" ---- */

static int get_bool(hctx *c, json_t *obj, const char *key, const char *path, bool def, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return fail(c, "%s.%s must be a boolean, not %s", path, key, jtype_name(v));
	*out = json_is_true(v);
	return 0;
}

/* Required (when `req`) string; *s NULL when absent/null and not required. */
static int get_str(hctx *c, json_t *obj, const char *key, const char *path, bool req, const char **s, size_t *len)
{
	json_t *v = json_object_get(obj, key);
	*s = NULL;
	*len = 0;
	if (!v || json_is_null(v)) {
		if (req)
			return fail(c, "%s.%s is missing", path, key);
		return 0;
	}
	if (!json_is_string(v))
		return fail(c, "%s.%s must be a string, not %s", path, key, jtype_name(v));
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

static int get_u32(hctx *c, json_t *obj, const char *key, const char *path, uint32_t def, uint32_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (json_int_t)UINT32_MAX)
		return fail(c, "%s.%s must be an integer in [0, 2^32)", path, key);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int get_type(hctx *c, json_t *j, const char *path, const char **type)
{
	if (!json_is_object(j))
		return fail(c, "%s must be an object, not %s", path, jtype_name(j));
	json_t *t = json_object_get(j, "type");
	if (!json_is_string(t))
		return fail(c, "%s.type is missing or not a string", path);
	*type = json_string_value(t);
	return 0;
}

static int unsupported(hctx *c, const char *path, const char *type)
{
	return fail(c, "%s.type \"%s\" is not supported", path, type);
}

/* ---- parse state ---- */

typedef struct {
	hctx *c;
	cv_hf_tokenizer *h;
	fmt_tok *t;
	json_t *vocab;
	uint8_t *is_added; /* [n_tokens] */
} pstate;

static int dup_view(pstate *s, const char *src, size_t len, fmt_strview *v)
{
	if (len > UINT32_MAX)
		return fail(s->c, "string of %zu bytes is too long", len);
	char *p = arena_dup(s->h, src, len);
	if (!p)
		return fail(s->c, "out of memory");
	v->s = p;
	v->len = (uint32_t)len;
	return 0;
}

/* Reads a Split/Replace "pattern": {"String": ...} or {"Regex": ...}. */
static int get_pattern(pstate *s, json_t *j, const char *path, bool allow_regex, fmt_tok_step *st)
{
	json_t *p = json_object_get(j, "pattern");
	if (!json_is_object(p) || json_object_size(p) != 1)
		return fail(s->c, "%s.pattern must be an object with one key, String or Regex", path);
	json_t *v;
	bool regex;
	if ((v = json_object_get(p, "String")))
		regex = false;
	else if ((v = json_object_get(p, "Regex")))
		regex = true;
	else
		return fail(s->c, "%s.pattern must have a String or Regex key", path);
	if (regex && !allow_regex)
		return fail(s->c, "%s.pattern.Regex is not supported here (only String)", path);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return fail(s->c, "%s.pattern.%s must be a non-empty string", path, regex ? "Regex" : "String");
	st->is_regex = regex;
	return dup_view(s, json_string_value(v), json_string_length(v), &st->a);
}

static fmt_tok_step *new_step(pstate *s, uint32_t *n, fmt_tok_step *steps, const char *path)
{
	if (*n >= FMT_TOK_MAX_STEPS) {
		fail(s->c, "%s: more than %u steps", path, FMT_TOK_MAX_STEPS);
		return NULL;
	}
	fmt_tok_step *st = &steps[(*n)++];
	memset(st, 0, sizeof *st);
	return st;
}

typedef int (*step_parser)(pstate *s, json_t *j, const char *path, int depth);

/* A `Sequence` of normalizers, pre-tokenizers or decoders: each element parsed by `fn`. */
static int parse_sequence(pstate *s, json_t *j, const char *path, int depth, const char *key, step_parser fn)
{
	json_t *arr = json_object_get(j, key);
	if (!json_is_array(arr))
		return fail(s->c, "%s.%s must be an array", path, key);
	if (depth >= MAX_SEQ_DEPTH)
		return fail(s->c, "%s: Sequence nested too deeply", path);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char sub[PATH_CAP];
		snprintf(sub, sizeof sub, "%s.%s[%zu]", path, key, i);
		if (fn(s, json_array_get(arr, i), sub, depth + 1))
			return -1;
	}
	return 0;
}

static int parse_norm(pstate *s, json_t *j, const char *path, int depth)
{
	if (!j || json_is_null(j))
		return 0;
	const char *type;
	if (get_type(s->c, j, path, &type))
		return -1;
	if (!strcmp(type, "Sequence"))
		return parse_sequence(s, j, path, depth, "normalizers", parse_norm);
	static const struct {
		const char *name;
		uint8_t kind;
	} simple[] = {{"NFC", FMT_NORM_NFC}, {"NFD", FMT_NORM_NFD}, {"NFKC", FMT_NORM_NFKC}, {"NFKD", FMT_NORM_NFKD},
		      {"Lowercase", FMT_NORM_LOWERCASE}};
	for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
		if (!strcmp(type, simple[i].name)) {
			fmt_tok_step *st = new_step(s, &s->t->n_norm, s->t->norm, path);
			if (!st)
				return -1;
			st->kind = simple[i].kind;
			return 0;
		}
	}
	const char *str;
	size_t len;
	if (!strcmp(type, "Replace")) {
		fmt_tok_step *st = new_step(s, &s->t->n_norm, s->t->norm, path);
		if (!st)
			return -1;
		st->kind = FMT_NORM_REPLACE;
		if (get_pattern(s, j, path, false, st) || get_str(s->c, j, "content", path, true, &str, &len))
			return -1;
		st->is_regex = 0;
		return dup_view(s, str, len, &st->b);
	}
	if (!strcmp(type, "Prepend")) {
		fmt_tok_step *st = new_step(s, &s->t->n_norm, s->t->norm, path);
		if (!st)
			return -1;
		st->kind = FMT_NORM_PREPEND;
		if (get_str(s->c, j, "prepend", path, true, &str, &len))
			return -1;
		return dup_view(s, str, len, &st->a);
	}
	return unsupported(s->c, path, type);
}

static int parse_pre(pstate *s, json_t *j, const char *path, int depth)
{
	if (!j || json_is_null(j))
		return 0;
	const char *type;
	if (get_type(s->c, j, path, &type))
		return -1;
	if (!strcmp(type, "Sequence"))
		return parse_sequence(s, j, path, depth, "pretokenizers", parse_pre);
	bool b1 = false, b2 = false, b3 = false;
	if (!strcmp(type, "Split")) {
		fmt_tok_step *st = new_step(s, &s->t->n_pre, s->t->pre, path);
		if (!st)
			return -1;
		st->kind = FMT_PRE_SPLIT;
		if (get_pattern(s, j, path, true, st) || get_bool(s->c, j, "invert", path, false, &b1))
			return -1;
		st->invert = b1;
		static const char *const beh[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
						  "Contiguous"};
		json_t *bv = json_object_get(j, "behavior");
		if (!json_is_string(bv))
			return fail(s->c, "%s.behavior must be a string", path);
		for (uint8_t i = 0; i < 5; i++) {
			if (!strcmp(json_string_value(bv), beh[i])) {
				st->behavior = i;
				return 0;
			}
		}
		return fail(s->c, "%s.behavior \"%s\" is not supported", path, json_string_value(bv));
	}
	if (!strcmp(type, "ByteLevel")) {
		fmt_tok_step *st = new_step(s, &s->t->n_pre, s->t->pre, path);
		if (!st)
			return -1;
		/* Defaults are those of the tokenizers library. */
		if (get_bool(s->c, j, "add_prefix_space", path, true, &b1) ||
		    get_bool(s->c, j, "trim_offsets", path, true, &b2) || get_bool(s->c, j, "use_regex", path, true, &b3))
			return -1;
		st->kind = FMT_PRE_BYTE_LEVEL;
		st->add_prefix_space = b1;
		st->trim_offsets = b2;
		st->use_regex = b3;
		return 0;
	}
	if (!strcmp(type, "Digits")) {
		fmt_tok_step *st = new_step(s, &s->t->n_pre, s->t->pre, path);
		if (!st)
			return -1;
		if (get_bool(s->c, j, "individual_digits", path, false, &b1))
			return -1;
		st->kind = FMT_PRE_DIGITS;
		st->individual_digits = b1;
		return 0;
	}
	return unsupported(s->c, path, type);
}

static int parse_dec(pstate *s, json_t *j, const char *path, int depth)
{
	if (!j || json_is_null(j))
		return 0;
	const char *type;
	if (get_type(s->c, j, path, &type))
		return -1;
	if (!strcmp(type, "Sequence"))
		return parse_sequence(s, j, path, depth, "decoders", parse_dec);
	uint8_t kind = 0;
	if (!strcmp(type, "ByteLevel")) /* its options only matter for offsets, not for text */
		kind = FMT_DEC_BYTE_LEVEL;
	else if (!strcmp(type, "ByteFallback"))
		kind = FMT_DEC_BYTE_FALLBACK;
	else if (!strcmp(type, "Fuse"))
		kind = FMT_DEC_FUSE;
	else if (!strcmp(type, "Replace"))
		kind = FMT_DEC_REPLACE;
	else if (!strcmp(type, "Strip"))
		kind = FMT_DEC_STRIP;
	else
		return unsupported(s->c, path, type);
	fmt_tok_step *st = new_step(s, &s->t->n_dec, s->t->dec, path);
	if (!st)
		return -1;
	st->kind = kind;
	const char *str;
	size_t len;
	if (kind == FMT_DEC_REPLACE) {
		if (get_pattern(s, j, path, false, st) || get_str(s->c, j, "content", path, true, &str, &len))
			return -1;
		st->is_regex = 0;
		return dup_view(s, str, len, &st->b);
	}
	if (kind == FMT_DEC_STRIP) {
		if (get_str(s->c, j, "content", path, true, &str, &len) || get_u32(s->c, j, "start", path, 0, &st->start) ||
		    get_u32(s->c, j, "stop", path, 0, &st->stop))
			return -1;
		return dup_view(s, str, len, &st->a);
	}
	return 0;
}

/* ---- token lookup ---- */

static int32_t vocab_id(pstate *s, const char *text, size_t len)
{
	json_t *v = json_object_getn(s->vocab, text, len);
	return v ? (int32_t)json_integer_value(v) : -1; /* values were validated before any lookup */
}

static int32_t lookup(pstate *s, const char *text, size_t len)
{
	for (uint32_t i = 0; i < s->t->n_added; i++) {
		const fmt_strview *a = &s->t->added[i].content;
		if (a->len == len && !memcmp(a->s, text, len))
			return (int32_t)s->t->added[i].id;
	}
	return vocab_id(s, text, len);
}

/* ---- post processor ---- */

static int template_special(pstate *s, json_t *pp, json_t *item, const char *path, int32_t *id)
{
	json_t *tok = json_object_get(item, "SpecialToken");
	const char *name;
	size_t nlen;
	if (!json_is_object(tok) || get_str(s->c, tok, "id", path, true, &name, &nlen))
		return fail(s->c, "%s.SpecialToken.id must be a string", path);
	json_t *sp = json_object_get(json_object_get(pp, "special_tokens"), name);
	json_t *ids = json_object_get(sp, "ids");
	if (!json_is_array(ids) || json_array_size(ids) != 1)
		return fail(s->c, "%s: special_tokens[\"%.*s\"].ids must list exactly one id", path, SHOW(nlen), name);
	json_t *v = json_array_get(ids, 0);
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (json_int_t)s->t->n_tokens)
		return fail(s->c, "%s: special_tokens[\"%.*s\"].ids[0] is not a token id below %u", path, SHOW(nlen), name,
			    s->t->n_tokens);
	*id = (int32_t)json_integer_value(v);
	return 0;
}

static int parse_post(pstate *s, json_t *j, const char *path, int depth)
{
	if (!j || json_is_null(j))
		return 0;
	const char *type;
	if (get_type(s->c, j, path, &type))
		return -1;
	if (!strcmp(type, "ByteLevel"))
		return 0; /* only adjusts offsets */
	if (!strcmp(type, "Sequence"))
		return parse_sequence(s, j, path, depth, "processors", parse_post);
	if (strcmp(type, "TemplateProcessing"))
		return unsupported(s->c, path, type);
	json_t *single = json_object_get(j, "single");
	if (!json_is_array(single))
		return fail(s->c, "%s.single must be an array", path);
	size_t n = json_array_size(single), seq = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		json_t *it = json_array_get(single, i);
		json_t *sq = json_object_get(it, "Sequence");
		if (sq) {
			json_t *sid = json_object_get(sq, "id");
			if (seq != SIZE_MAX || !json_is_string(sid) || strcmp(json_string_value(sid), "A"))
				return fail(s->c, "%s.single[%zu]: only one Sequence \"A\" is supported", path, i);
			seq = i;
		}
	}
	if (seq == SIZE_MAX)
		return fail(s->c, "%s.single has no Sequence \"A\"", path);
	if (seq > 1 || n - seq > 2)
		return fail(s->c, "%s.single: only one special token before and one after $A are supported", path);
	char sub[PATH_CAP];
	int32_t id;
	if (seq == 1) {
		snprintf(sub, sizeof sub, "%s.single[0]", path);
		if (template_special(s, j, json_array_get(single, 0), sub, &id))
			return -1;
		s->t->flags |= FMT_TOKF_ADD_BOS;
		s->t->bos_id = id;
	}
	if (n - seq == 2) {
		snprintf(sub, sizeof sub, "%s.single[%zu]", path, seq + 1);
		if (template_special(s, j, json_array_get(single, seq + 1), sub, &id))
			return -1;
		s->t->flags |= FMT_TOKF_ADD_EOS;
		s->t->eos_id = id;
	}
	return 0;
}

/* ---- model, vocabulary, merges, added tokens ---- */

static int id_of(hctx *c, json_t *v, const char *what, size_t shown, const char *text, int64_t *id)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (json_int_t)FMT_TOK_MAX_TOKENS)
		return fail(c, "%s \"%.*s\": id must be an integer in [0, %u)", what, SHOW(shown), text, FMT_TOK_MAX_TOKENS);
	*id = (int64_t)json_integer_value(v);
	return 0;
}

static int parse_model(pstate *s, json_t *root)
{
	hctx *c = s->c;
	fmt_tok *t = s->t;
	json_t *m = json_object_get(root, "model");
	const char *type;
	if (!json_is_object(m))
		return fail(c, "model is missing or not an object");
	if (json_object_get(m, "type")) {
		if (get_type(c, m, "model", &type))
			return -1;
		if (strcmp(type, "BPE"))
			return unsupported(c, "model", type);
	}
	t->model = FMT_TOK_BPE;
	json_t *dr = json_object_get(m, "dropout");
	if (dr && !json_is_null(dr))
		return fail(c, "model.dropout must be null (BPE dropout is not supported)");
	static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
	for (int i = 0; i < 2; i++) {
		const char *str;
		size_t len;
		if (get_str(c, m, affix[i], "model", false, &str, &len))
			return -1;
		if (len)
			return fail(c, "model.%s \"%.*s\" is not supported (only empty)", affix[i], SHOW(len), str);
	}
	bool b = false;
	if (get_bool(c, m, "ignore_merges", "model", false, &b))
		return -1;
	t->flags |= b ? FMT_TOKF_IGNORE_MERGES : 0;
	if (get_bool(c, m, "byte_fallback", "model", false, &b))
		return -1;
	t->flags |= b ? FMT_TOKF_BYTE_FALLBACK : 0;
	if (get_bool(c, m, "fuse_unk", "model", false, &b))
		return -1;
	t->flags |= b ? FMT_TOKF_FUSE_UNK : 0;

	/* ---- ids: bound everything before allocating by the largest id ---- */
	s->vocab = json_object_get(m, "vocab");
	if (!json_is_object(s->vocab))
		return fail(c, "model.vocab is missing or not an object");
	size_t nv = json_object_size(s->vocab);
	if (nv > FMT_TOK_MAX_TOKENS)
		return fail(c, "model.vocab: %zu entries exceed the cap of %u", nv, FMT_TOK_MAX_TOKENS);
	int64_t max_id = -1, id = 0;
	for (void *it = json_object_iter(s->vocab); it; it = json_object_iter_next(s->vocab, it)) {
		const char *k = json_object_iter_key(it);
		size_t kl = json_object_iter_key_len(it);
		if (kl == 0)
			return fail(c, "model.vocab has an empty token text");
		if (id_of(c, json_object_iter_value(it), "model.vocab", kl, k, &id))
			return -1;
		max_id = id > max_id ? id : max_id;
	}
	json_t *added = json_object_get(root, "added_tokens");
	if (added && !json_is_null(added) && !json_is_array(added))
		return fail(c, "added_tokens must be an array");
	size_t na = json_array_size(added);
	if (na > FMT_TOK_MAX_ADDED)
		return fail(c, "added_tokens: %zu entries exceed the cap of %u", na, FMT_TOK_MAX_ADDED);
	for (size_t i = 0; i < na; i++) {
		json_t *a = json_array_get(added, i);
		char path[PATH_CAP];
		snprintf(path, sizeof path, "added_tokens[%zu]", i);
		if (!json_is_object(a))
			return fail(c, "%s must be an object", path);
		json_t *v = json_object_get(a, "id");
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (json_int_t)FMT_TOK_MAX_TOKENS)
			return fail(c, "%s.id must be an integer in [0, %u)", path, FMT_TOK_MAX_TOKENS);
		id = (int64_t)json_integer_value(v);
		max_id = id > max_id ? id : max_id;
	}
	uint64_t n_tokens = (uint64_t)(max_id + 1);
	uint64_t defined_max = (uint64_t)nv + na;
	if (n_tokens > 2 * defined_max + 1024)
		return fail(c, "largest token id %lld leaves too many unused ids (%llu ids for %llu tokens)",
			    (long long)max_id, (unsigned long long)n_tokens, (unsigned long long)defined_max);
	t->n_tokens = (uint32_t)n_tokens;
	t->tokens = calloc(n_tokens + 1, sizeof *t->tokens);
	t->added = calloc(na + 1, sizeof *t->added);
	s->is_added = calloc(n_tokens + 1, 1);
	if (!t->tokens || !t->added || !s->is_added)
		return fail(c, "out of memory for %llu token ids", (unsigned long long)n_tokens);

	/* ---- vocabulary ---- */
	for (void *it = json_object_iter(s->vocab); it; it = json_object_iter_next(s->vocab, it)) {
		const char *k = json_object_iter_key(it);
		size_t kl = json_object_iter_key_len(it);
		id = (int64_t)json_integer_value(json_object_iter_value(it));
		fmt_strview *v = &t->tokens[id];
		if (v->len)
			return fail(c, "model.vocab: id %lld used by both \"%.*s\" and \"%.*s\"", (long long)id, SHOW(v->len),
				    v->s, SHOW(kl), k);
		if (dup_view(s, k, kl, v))
			return -1;
	}
	s->h->n_vocab = (uint32_t)nv;

	/* ---- added tokens ---- */
	for (size_t i = 0; i < na; i++) {
		json_t *a = json_array_get(added, i);
		char path[PATH_CAP];
		snprintf(path, sizeof path, "added_tokens[%zu]", i);
		fmt_tok_added *ad = &t->added[i];
		ad->id = (uint32_t)json_integer_value(json_object_get(a, "id"));
		if (s->is_added[ad->id])
			return fail(c, "%s.id %u is used by an earlier added token", path, ad->id);
		s->is_added[ad->id] = 1;
		const char *str;
		size_t len;
		if (get_str(c, a, "content", path, true, &str, &len))
			return -1;
		if (!len)
			return fail(c, "%s.content is empty", path);
		static const struct {
			const char *key;
			uint8_t bit;
		} fl[] = {{"special", FMT_ADDED_SPECIAL}, {"lstrip", FMT_ADDED_LSTRIP}, {"rstrip", FMT_ADDED_RSTRIP},
			  {"single_word", FMT_ADDED_SINGLE_WORD}, {"normalized", FMT_ADDED_NORMALIZED}};
		for (size_t k = 0; k < sizeof fl / sizeof fl[0]; k++) {
			bool b2 = false;
			if (get_bool(c, a, fl[k].key, path, false, &b2))
				return -1;
			ad->flags |= b2 ? fl[k].bit : 0;
		}
		const fmt_strview *v = &t->tokens[ad->id];
		if (v->len && (v->len != len || memcmp(v->s, str, len)))
			return fail(c, "%s: id %u is \"%.*s\" in model.vocab but the content is \"%.*s\"", path, ad->id,
				    SHOW(v->len), v->s, SHOW(len), str);
		int32_t vid = vocab_id(s, str, len);
		if (vid >= 0 && (uint32_t)vid != ad->id)
			return fail(c, "%s: content \"%.*s\" has id %d in model.vocab, not %u", path, SHOW(len), str, vid,
				    ad->id);
		if (dup_view(s, str, len, &ad->content))
			return -1;
		t->n_added = (uint32_t)i + 1;
	}

	/* ---- merges ---- */
	json_t *merges = json_object_get(m, "merges");
	if (merges && !json_is_null(merges) && !json_is_array(merges))
		return fail(c, "model.merges must be an array");
	size_t nm = json_array_size(merges);
	if (nm > FMT_TOK_MAX_MERGES)
		return fail(c, "model.merges: %zu entries exceed the cap of %u", nm, FMT_TOK_MAX_MERGES);
	t->merges = calloc(nm + 1, sizeof *t->merges);
	if (!t->merges)
		return fail(c, "out of memory for %zu merges", nm);
	char *cat = NULL;
	size_t cat_cap = 0;
	int rc = 0;
	for (size_t i = 0; i < nm && !rc; i++) {
		json_t *e = json_array_get(merges, i);
		const char *part[2];
		size_t plen[2];
		if (json_is_string(e)) {
			const char *str = json_string_value(e);
			size_t len = json_string_length(e);
			const char *sp = memchr(str, ' ', len);
			if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp - str) - 1)) {
				rc = fail(c, "model.merges[%zu]: \"%.*s\" is not two tokens separated by one space", i, SHOW(len),
					  str);
				break;
			}
			part[0] = str, plen[0] = (size_t)(sp - str);
			part[1] = sp + 1, plen[1] = len - plen[0] - 1;
		} else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
			   json_is_string(json_array_get(e, 1))) {
			for (int k = 0; k < 2; k++) {
				part[k] = json_string_value(json_array_get(e, (size_t)k));
				plen[k] = json_string_length(json_array_get(e, (size_t)k));
			}
		} else {
			rc = fail(c, "model.merges[%zu] must be a \"a b\" string or a pair of strings", i);
			break;
		}
		int32_t ids[3];
		for (int k = 0; k < 2 && !rc; k++) {
			ids[k] = plen[k] ? vocab_id(s, part[k], plen[k]) : -1;
			if (ids[k] < 0)
				rc = fail(c, "model.merges[%zu]: \"%.*s\" is not in model.vocab", i, SHOW(plen[k]), part[k]);
		}
		if (rc)
			break;
		size_t need = plen[0] + plen[1];
		if (need > cat_cap) {
			size_t nc = need * 2 + 64;
			char *np = realloc(cat, nc);
			if (!np) {
				rc = fail(c, "out of memory");
				break;
			}
			cat = np;
			cat_cap = nc;
		}
		memcpy(cat, part[0], plen[0]);
		memcpy(cat + plen[0], part[1], plen[1]);
		ids[2] = vocab_id(s, cat, need);
		if (ids[2] < 0) {
			rc = fail(c, "model.merges[%zu]: the merged text \"%.*s\" is not in model.vocab", i, SHOW(need), cat);
			break;
		}
		t->merges[i] = (fmt_tok_merge){(uint32_t)ids[0], (uint32_t)ids[1], (uint32_t)ids[2]};
		t->n_merges = (uint32_t)i + 1;
	}
	free(cat);
	if (rc)
		return rc;

	/* ---- unknown token ---- */
	const char *unk;
	size_t ulen;
	if (get_str(c, m, "unk_token", "model", false, &unk, &ulen))
		return -1;
	if (unk) {
		t->unk_id = lookup(s, unk, ulen);
		if (t->unk_id < 0)
			return fail(c, "model.unk_token \"%.*s\" is not a token", SHOW(ulen), unk);
	}
	return 0;
}

/* ---- tokenizer_config.json ---- */

static bool key_ok(const char *s, size_t n)
{
	if (n == 0 || n > FMT_MAX_KEY)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

static int add_template(pstate *s, const char *name, size_t nlen, const char *text, size_t tlen, const char *path)
{
	cv_hf_tokenizer *h = s->h;
	if (!key_ok(name, nlen))
		return fail(s->c, "%s: template name \"%.*s\" must be 1..255 of [A-Za-z0-9_.-]", path, SHOW(nlen), name);
	for (size_t i = 0; i < h->n_tpl; i++)
		if (strlen(h->tpl[i].name) == nlen && !memcmp(h->tpl[i].name, name, nlen))
			return fail(s->c, "%s: template name \"%s\" appears twice", path, h->tpl[i].name);
	if (h->n_tpl >= CV_HF_MAX_TEMPLATES)
		return fail(s->c, "%s: more than %d templates", path, CV_HF_MAX_TEMPLATES);
	cv_chat_template *np = realloc(h->tpl, (h->n_tpl + 1) * sizeof *np);
	if (!np)
		return fail(s->c, "out of memory");
	h->tpl = np;
	cv_chat_template *ct = &h->tpl[h->n_tpl];
	ct->name = arena_dup(h, name, nlen);
	ct->text = arena_dup(h, text, tlen);
	ct->text_len = tlen;
	if (!ct->name || !ct->text)
		return fail(s->c, "out of memory");
	h->n_tpl++;
	return 0;
}

static int parse_templates(pstate *s, json_t *cfg)
{
	json_t *ct = json_object_get(cfg, "chat_template");
	if (!ct || json_is_null(ct))
		return 0;
	if (json_is_string(ct))
		return add_template(s, "default", 7, json_string_value(ct), json_string_length(ct), "chat_template");
	if (!json_is_array(ct))
		return fail(s->c, "chat_template must be a string or a list of {name, template}, not %s", jtype_name(ct));
	for (size_t i = 0; i < json_array_size(ct); i++) {
		char path[PATH_CAP];
		snprintf(path, sizeof path, "chat_template[%zu]", i);
		json_t *e = json_array_get(ct, i);
		if (!json_is_object(e))
			return fail(s->c, "%s must be an object with name and template", path);
		const char *name, *text;
		size_t nlen, tlen;
		if (get_str(s->c, e, "name", path, true, &name, &nlen) || get_str(s->c, e, "template", path, true, &text, &tlen) ||
		    add_template(s, name, nlen, text, tlen, path))
			return -1;
	}
	return 0;
}

/* A special token field: null/absent leaves *id alone. */
static int config_token(pstate *s, json_t *cfg, const char *key, int32_t *id)
{
	json_t *v = json_object_get(cfg, key);
	if (!v || json_is_null(v))
		return 0;
	char path[PATH_CAP];
	snprintf(path, sizeof path, "%s", key);
	if (json_is_object(v)) {
		v = json_object_get(v, "content");
		snprintf(path, sizeof path, "%s.content", key);
	}
	if (!json_is_string(v))
		return fail(s->c, "%s must be a string or an object with a content string", path);
	const char *text = json_string_value(v);
	size_t len = json_string_length(v);
	int32_t found = lookup(s, text, len);
	if (found < 0)
		return fail(s->c, "%s \"%.*s\" is not a token of the tokenizer", path, SHOW(len), text);
	*id = found;
	return 0;
}

static int parse_config(pstate *s, json_t *cfg)
{
	fmt_tok *t = s->t;
	if (parse_templates(s, cfg) || config_token(s, cfg, "bos_token", &t->bos_id) ||
	    config_token(s, cfg, "eos_token", &t->eos_id) || config_token(s, cfg, "pad_token", &t->pad_id) ||
	    config_token(s, cfg, "unk_token", &t->unk_id))
		return -1;
	static const struct {
		const char *key;
		uint32_t bit;
	} ov[] = {{"add_bos_token", FMT_TOKF_ADD_BOS}, {"add_eos_token", FMT_TOKF_ADD_EOS}};
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(cfg, ov[i].key);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_boolean(v))
			return fail(s->c, "%s must be a boolean, not %s", ov[i].key, jtype_name(v));
		t->flags = json_is_true(v) ? (t->flags | ov[i].bit) : (t->flags & ~ov[i].bit);
	}
	return 0;
}

/* ---- public ---- */

void cv_hf_tokenizer_free(cv_hf_tokenizer *h)
{
	if (!h)
		return;
	fmt_tok_free(h->tok);
	for (ablk *b = h->arena, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(h->section);
	free(h->tpl);
	free(h);
}

int cv_hf_tokenizer_load_mem(const void *tok_json, size_t tok_len, const char *tok_label, const void *config,
			     size_t config_len, const char *config_label, cv_hf_tokenizer **out, char *err,
			     size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	hctx c = {err, errlen, tok_label ? tok_label : "tokenizer.json"};
	hctx cc = {err, errlen, config_label ? config_label : "tokenizer_config.json"};
	if (tok_len > CV_HF_MAX_FILE)
		return fail(&c, "%zu bytes exceed the cap of %zu", tok_len, CV_HF_MAX_FILE);
	if (config && config_len > CV_HF_MAX_FILE)
		return fail(&cc, "%zu bytes exceed the cap of %zu", config_len, CV_HF_MAX_FILE);
	cv_hf_tokenizer *h = calloc(1, sizeof *h);
	fmt_tok *t = calloc(1, sizeof *t);
	if (!h || !t) {
		free(h);
		free(t);
		return fail(&c, "out of memory");
	}
	h->tok = t;
	t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
	pstate s = {.c = &c, .h = h, .t = t};
	json_t *root = NULL, *cfg = NULL;
	int rc = parse_json(&c, tok_json, tok_len, &root);
	if (!rc)
		rc = parse_model(&s, root);
	if (!rc)
		rc = parse_norm(&s, json_object_get(root, "normalizer"), "normalizer", 0);
	if (!rc)
		rc = parse_pre(&s, json_object_get(root, "pre_tokenizer"), "pre_tokenizer", 0);
	if (!rc)
		rc = parse_dec(&s, json_object_get(root, "decoder"), "decoder", 0);
	if (!rc)
		rc = parse_post(&s, json_object_get(root, "post_processor"), "post_processor", 0);
	if (!rc && config) {
		s.c = &cc;
		rc = parse_json(&cc, config, config_len, &cfg);
		if (!rc)
			rc = parse_config(&s, cfg);
		if (!rc && (t->flags & FMT_TOKF_ADD_BOS) && t->bos_id < 0)
			rc = fail(&cc, "add_bos_token is true but there is no bos_token");
		if (!rc && (t->flags & FMT_TOKF_ADD_EOS) && t->eos_id < 0)
			rc = fail(&cc, "add_eos_token is true but there is no eos_token");
		s.c = &c;
	}
	if (!rc) {
		fmt_error fe;
		if (fmt_tok_encode(t, &h->section, &h->section_len, &fe) != FMT_OK)
			rc = fail(&c, "not representable as a .bale TOKENIZER section: %s", fe.msg);
	}
	free(s.is_added);
	json_decref(root);
	json_decref(cfg);
	if (rc) {
		cv_hf_tokenizer_free(h);
		return -1;
	}
	*out = h;
	return 0;
}

int cv_hf_tokenizer_load(const char *tokenizer_json_path, const char *config_path, cv_hf_tokenizer **out, char *err,
			 size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	hctx c = {err, errlen, tokenizer_json_path};
	uint8_t *tj = NULL, *cj = NULL;
	size_t tn = 0, cn = 0;
	if (read_all(&c, tokenizer_json_path, &tj, &tn))
		return -1;
	if (config_path) {
		hctx cc = {err, errlen, config_path};
		if (read_all(&cc, config_path, &cj, &cn)) {
			free(tj);
			return -1;
		}
	}
	int rc = cv_hf_tokenizer_load_mem(tj, tn, tokenizer_json_path, cj, cn, config_path, out, err, errlen);
	free(tj);
	free(cj);
	return rc;
}

const fmt_tok *cv_hf_tokenizer_tok(const cv_hf_tokenizer *h)
{
	return h->tok;
}

const uint8_t *cv_hf_tokenizer_section(const cv_hf_tokenizer *h, size_t *len)
{
	*len = h->section_len;
	return h->section;
}

uint32_t cv_hf_tokenizer_n_vocab(const cv_hf_tokenizer *h)
{
	return h->n_vocab;
}

size_t cv_hf_tokenizer_n_templates(const cv_hf_tokenizer *h)
{
	return h->n_tpl;
}

const cv_chat_template *cv_hf_tokenizer_template_at(const cv_hf_tokenizer *h, size_t i)
{
	return i < h->n_tpl ? &h->tpl[i] : NULL;
}

int32_t cv_hf_tokenizer_find(const cv_hf_tokenizer *h, const char *text, size_t len)
{
	const fmt_tok *t = h->tok;
	for (uint32_t i = 0; i < t->n_added; i++)
		if (t->added[i].content.len == len && !memcmp(t->added[i].content.s, text, len))
			return (int32_t)t->added[i].id;
	for (uint32_t i = 0; i < t->n_tokens; i++)
		if (t->tokens[i].len == len && len && !memcmp(t->tokens[i].s, text, len))
			return (int32_t)i;
	return -1;
}
