/* Tokenizer with jinja2's whitespace rules as transformers configures them:
 * trim_blocks (drop one newline after a block or comment tag), lstrip_blocks (drop
 * spaces/tabs before a block or comment tag that starts its line), the -/+ markers,
 * keep_trailing_newline=False and newline normalisation to "\n". */
#include <stdlib.h>
#include <string.h>

#include "chat_impl.h"

typedef struct {
	chat_arena *a;
	const char *s; /* normalised source */
	size_t n;
	chat_tokens *out;
	chat_error *err;
	/* position bookkeeping for line/column */
	size_t lpos;       /* position lline was computed for */
	int lline;
	size_t line_start; /* offset of the first byte of lline */
} lexer;

static void where(lexer *L, size_t pos, int *line, int *col)
{
	if (pos < L->lpos) {
		L->lpos = 0;
		L->lline = 1;
		L->line_start = 0;
	}
	for (size_t i = L->lpos; i < pos && i < L->n; i++)
		if (L->s[i] == '\n') {
			L->lline++;
			L->line_start = i + 1;
		}
	L->lpos = pos;
	*line = L->lline;
	*col = (int)(pos - L->line_start) + 1;
}

static bool push(lexer *L, tk_kind k, size_t pos, const char *p, size_t n, chat_token **tok)
{
	chat_tokens *t = L->out;
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		chat_token *nv = realloc(t->v, nc * sizeof(*nv));
		if (!nv) {
			chat_set_error(L->err, CHAT_ERR_NOMEM, 0, 0, "out of memory while tokenizing");
			return false;
		}
		t->v = nv;
		t->cap = nc;
	}
	chat_token *k0 = &t->v[t->n++];
	memset(k0, 0, sizeof(*k0));
	k0->k = k;
	k0->p = p;
	k0->n = n;
	where(L, pos, &k0->line, &k0->col);
	if (tok)
		*tok = k0;
	return true;
}

static bool fail(lexer *L, size_t pos, const char *msg, char c)
{
	int line, col;
	where(L, pos, &line, &col);
	if (c)
		chat_set_error(L->err, CHAT_ERR_SYNTAX, line, col, "%s '%c'", msg, c);
	else
		chat_set_error(L->err, CHAT_ERR_SYNTAX, line, col, "%s", msg);
	return false;
}

/* Python's \s for the ASCII range */
static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
	       (c >= 0x1c && c <= 0x1f);
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name(char c) { return is_name0(c) || is_digit(c); }

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a string literal body the way jinja2 does (Python unicode-escape). */
static bool unescape(lexer *L, size_t pos, const char *p, size_t n, chat_token *tok)
{
	char *d = chat_arena_alloc(L->a, n + 1);
	if (!d) {
		chat_set_error(L->err, CHAT_ERR_NOMEM, 0, 0, "out of memory while tokenizing");
		return false;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\\' || i + 1 >= n) {
			d[o++] = p[i];
			continue;
		}
		char c = p[++i];
		switch (c) {
		case '\n': break;
		case '\\': d[o++] = '\\'; break;
		case '\'': d[o++] = '\''; break;
		case '"': d[o++] = '"'; break;
		case 'a': d[o++] = '\a'; break;
		case 'b': d[o++] = '\b'; break;
		case 'f': d[o++] = '\f'; break;
		case 'n': d[o++] = '\n'; break;
		case 'r': d[o++] = '\r'; break;
		case 't': d[o++] = '\t'; break;
		case 'v': d[o++] = '\v'; break;
		case 'x':
		case 'u':
		case 'U': {
			int want = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			uint32_t cp = 0;
			for (int k = 0; k < want; k++) {
				int h = i + 1 + (size_t)k < n ? hexval(p[i + 1 + (size_t)k]) : -1;
				if (h < 0)
					return fail(L, pos, "invalid escape in string literal", 0);
				cp = cp * 16 + (uint32_t)h;
			}
			i += (size_t)want;
			if (cp > 0x10FFFF)
				return fail(L, pos, "invalid escape in string literal", 0);
			/* \xNN and \u/\U all name code points; a \u escape never grows past 6 source bytes */
			o += chat_utf8_put(d + o, cp);
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				uint32_t cp = (uint32_t)(c - '0');
				for (int k = 0; k < 2 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7'; k++)
					cp = cp * 8 + (uint32_t)(p[++i] - '0');
				o += chat_utf8_put(d + o, cp);
			} else {
				d[o++] = '\\';
				d[o++] = c;
			}
		}
	}
	d[o] = 0;
	tok->p = d;
	tok->n = o;
	return true;
}

static const char *const ops2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char ops1[] = "+-/*%~[](){}><=.:|,;";

/* Lexes the inside of {{ }} or {% %} starting at *pos; stops after the end marker. */
static bool lex_tag(lexer *L, size_t *pos, bool block, bool *line_starting, size_t open_pos)
{
	size_t i = *pos;
	int depth = 0;
	char closers[256]; /* expected closing brackets, innermost last */
	const char *S = L->s;
	size_t n = L->n;
	for (;;) {
		if (depth == 0) {
			size_t end = 0;
			bool strip = false, trim = false;
			if (block) {
				if (i + 2 < n + 0 && S[i] == '+' && S[i + 1] == '%' && S[i + 2] == '}')
					end = i + 3;
				else if (i + 2 < n && S[i] == '-' && S[i + 1] == '%' && S[i + 2] == '}') {
					end = i + 3;
					strip = true;
				} else if (i + 1 < n && S[i] == '%' && S[i + 1] == '}') {
					end = i + 2;
					trim = true;
				}
			} else {
				if (i + 2 < n && S[i] == '-' && S[i + 1] == '}' && S[i + 2] == '}') {
					end = i + 3;
					strip = true;
				} else if (i + 1 < n && S[i] == '}' && S[i + 1] == '}')
					end = i + 2;
			}
			if (end) {
				if (!push(L, block ? TK_BLOCK_END : TK_VAR_END, i, NULL, 0, NULL))
					return false;
				if (strip)
					while (end < n && is_ws(S[end]))
						end++;
				else if (trim && end < n && S[end] == '\n')
					end++;
				*line_starting = S[end - 1] == '\n';
				*pos = end;
				return true;
			}
		}
		if (i >= n) {
			/* like jinja2, blame the last token of the unfinished tag */
			chat_token *last = &L->out->v[L->out->n - 1];
			if (last->k != TK_VAR_BEGIN && last->k != TK_BLOCK_BEGIN) {
				chat_set_error(L->err, CHAT_ERR_SYNTAX, last->line, last->col, "%s",
					       block ? "unexpected end of template: block tag '{%' is never closed"
						     : "unexpected end of template: '{{' is never closed");
				return false;
			}
			return fail(L, open_pos, block ? "unexpected end of template: block tag '{%' is never closed"
						      : "unexpected end of template: '{{' is never closed",
				    0);
		}
		char c = S[i];
		if (is_ws(c)) {
			i++;
			continue;
		}
		chat_token *tok;
		if (is_digit(c)) {
			size_t j = i;
			while (j < n && (is_digit(S[j]) || (S[j] == '_' && j + 1 < n && is_digit(S[j + 1]))))
				j++;
			bool is_float = false;
			bool after_dot = i > 0 && S[i - 1] == '.';
			if (!after_dot && j + 1 < n && S[j] == '.' && is_digit(S[j + 1])) {
				is_float = true;
				j++;
				while (j < n && (is_digit(S[j]) || (S[j] == '_' && j + 1 < n && is_digit(S[j + 1]))))
					j++;
			}
			if (!after_dot && j < n && (S[j] == 'e' || S[j] == 'E')) {
				size_t k = j + 1;
				if (k < n && (S[k] == '+' || S[k] == '-'))
					k++;
				if (k < n && is_digit(S[k])) {
					is_float = true;
					j = k;
					while (j < n && is_digit(S[j]))
						j++;
				}
			}
			char buf[64];
			size_t bl = 0;
			for (size_t k = i; k < j && bl < sizeof buf - 1; k++)
				if (S[k] != '_')
					buf[bl++] = S[k];
			buf[bl] = 0;
			if (!push(L, is_float ? TK_FLOAT : TK_INT, i, S + i, j - i, &tok))
				return false;
			if (is_float)
				tok->f = strtod(buf, NULL);
			else {
				int64_t v = 0;
				for (size_t k = 0; k < bl; k++)
					if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, buf[k] - '0', &v))
						return fail(L, i, "integer literal too large", 0);
				tok->i = v;
			}
			i = j;
			continue;
		}
		if (is_name0(c)) {
			size_t j = i;
			while (j < n && is_name(S[j]))
				j++;
			if (!push(L, TK_NAME, i, S + i, j - i, NULL))
				return false;
			i = j;
			continue;
		}
		if (c == '\'' || c == '"') {
			size_t j = i + 1;
			while (j < n && S[j] != c) {
				if (S[j] == '\\' && j + 1 < n)
					j++;
				j++;
			}
			if (j >= n)
				return fail(L, i, "unexpected char", c);
			if (!push(L, TK_STRING, i, NULL, 0, &tok) || !unescape(L, i, S + i + 1, j - i - 1, tok))
				return false;
			i = j + 1;
			continue;
		}
		size_t ol = 0;
		for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
			if (i + 1 < n && S[i] == ops2[k][0] && S[i + 1] == ops2[k][1])
				ol = 2;
		if (!ol && strchr(ops1, c) && c)
			ol = 1;
		if (!ol)
			return fail(L, i, "unexpected char", c);
		if (c == '(' || c == '[' || c == '{') {
			if (depth >= (int)sizeof closers) {
				int line, col;
				where(L, i, &line, &col);
				chat_set_error(L->err, CHAT_ERR_LIMIT, line, col, "brackets nested too deeply (limit %d)",
					       (int)sizeof closers);
				return false;
			}
			closers[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
		} else if (ol == 1 && (c == ')' || c == ']' || c == '}')) {
			if (depth == 0 || closers[depth - 1] != c)
				return fail(L, i, "unexpected", c);
			depth--;
		}
		if (!push(L, TK_OP, i, S + i, ol, NULL))
			return false;
		i += ol;
	}
}

/* Finds the next "{{", "{%" or "{#" at or after pos; returns n when none. */
static size_t next_open(const char *s, size_t n, size_t pos)
{
	for (size_t i = pos; i + 1 < n; i++) {
		const char *q = memchr(s + i, '{', n - i - 1);
		if (!q)
			return n;
		i = (size_t)(q - s);
		char c = s[i + 1];
		if (c == '{' || c == '%' || c == '#')
			return i;
	}
	return n;
}

/* Matches "{%[-+]? raw [-]?%}" style tags: returns the end offset or 0. name is "raw" or "endraw". */
static size_t match_raw(const char *s, size_t n, size_t i, const char *name, bool *strip_after)
{
	if (i + 1 >= n || s[i] != '{' || s[i + 1] != '%')
		return 0;
	size_t j = i + 2;
	if (j < n && (s[j] == '-' || s[j] == '+'))
		j++;
	while (j < n && is_ws(s[j]))
		j++;
	size_t nl = strlen(name);
	if (j + nl > n || memcmp(s + j, name, nl) != 0)
		return 0;
	j += nl;
	while (j < n && is_ws(s[j]))
		j++;
	*strip_after = false;
	if (j + 2 < n && s[j] == '-' && s[j + 1] == '%' && s[j + 2] == '}') {
		*strip_after = true;
		return j + 3;
	}
	if (j + 1 < n && s[j] == '%' && s[j + 1] == '}')
		return j + 2;
	return 0;
}

/* Applies {%- / lstrip_blocks to the text before a tag. */
static size_t strip_text(const char *s, size_t start, size_t end, char sign, bool var, bool line_starting)
{
	if (sign == '-') {
		while (end > start && is_ws(s[end - 1]))
			end--;
		return end;
	}
	if (sign == '+' || var)
		return end;
	size_t l = end;
	while (l > start && s[l - 1] != '\n')
		l--;
	if (l == start && !line_starting)
		return end;
	if (l == end)
		return end;
	for (size_t k = l; k < end; k++)
		if (!is_ws(s[k]))
			return end;
	return l;
}

chat_status chat_lex(chat_arena *a, const char *src, size_t len, chat_tokens *out, chat_error *err)
{
	/* newline normalisation and keep_trailing_newline=False */
	char *s = chat_arena_alloc(a, len + 1);
	if (!s) {
		chat_set_error(err, CHAT_ERR_NOMEM, 0, 0, "out of memory");
		return CHAT_ERR_NOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\r') {
			s[n++] = '\n';
			if (i + 1 < len && src[i + 1] == '\n')
				i++;
		} else
			s[n++] = src[i];
	}
	if (n && s[n - 1] == '\n')
		n--;
	s[n] = 0;

	lexer L = {.a = a, .s = s, .n = n, .out = out, .err = err, .lline = 1};
	size_t pos = 0;
	bool line_starting = true;
	while (pos < n) {
		size_t o = next_open(s, n, pos);
		if (o >= n) {
			if (!push(&L, TK_TEXT, pos, s + pos, n - pos, NULL))
				return err ? err->status : CHAT_ERR_NOMEM;
			break;
		}
		char kind = s[o + 1];
		char sign = o + 2 < n && (s[o + 2] == '-' || s[o + 2] == '+') ? s[o + 2] : 0;
		size_t tend = strip_text(s, pos, o, sign, kind == '{', line_starting);
		if (tend > pos && !push(&L, TK_TEXT, pos, s + pos, tend - pos, NULL))
			return err ? err->status : CHAT_ERR_NOMEM;
		size_t after = o + 2 + (sign ? 1 : 0);
		bool strip_after = false;
		size_t rend = kind == '%' ? match_raw(s, n, o, "raw", &strip_after) : 0;
		if (rend) {
			/* raw block: text up to {% endraw %} is emitted verbatim */
			size_t j = rend;
			if (strip_after)
				while (j < n && is_ws(s[j]))
					j++;
			size_t e = j;
			size_t eend = 0;
			bool es = false;
			for (;; e++) {
				e = next_open(s, n, e);
				if (e >= n) {
					fail(&L, o, "Missing end of raw directive", 0);
					return CHAT_ERR_SYNTAX;
				}
				if ((eend = match_raw(s, n, e, "endraw", &es)) != 0)
					break;
			}
			char esign = e + 2 < n && (s[e + 2] == '-' || s[e + 2] == '+') ? s[e + 2] : 0;
			size_t te = strip_text(s, j, e, esign, false, false);
			if (te > j && !push(&L, TK_TEXT, j, s + j, te - j, NULL))
				return err ? err->status : CHAT_ERR_NOMEM;
			if (es)
				while (eend < n && is_ws(s[eend]))
					eend++;
			else if (eend < n && s[eend] == '\n')
				eend++;
			line_starting = s[eend - 1] == '\n';
			pos = eend;
			continue;
		}
		if (kind == '#') {
			size_t j = after;
			while (j + 1 < n && !(s[j] == '#' && s[j + 1] == '}'))
				j++;
			if (j + 1 >= n) {
				fail(&L, o, "Missing end of comment tag", 0);
				return CHAT_ERR_SYNTAX;
			}
			size_t e = j + 2;
			if (j > after && s[j - 1] == '-') {
				while (e < n && is_ws(s[e]))
					e++;
			} else if (!(j > after && s[j - 1] == '+') && e < n && s[e] == '\n')
				e++;
			line_starting = s[e - 1] == '\n';
			pos = e;
			continue;
		}
		if (!push(&L, kind == '{' ? TK_VAR_BEGIN : TK_BLOCK_BEGIN, o, s + o, 2, NULL))
			return err ? err->status : CHAT_ERR_NOMEM;
		pos = after;
		if (!lex_tag(&L, &pos, kind == '%', &line_starting, o))
			return err ? err->status : CHAT_ERR_SYNTAX;
	}
	chat_token *eof;
	if (!push(&L, TK_EOF, n, NULL, 0, &eof))
		return err ? err->status : CHAT_ERR_NOMEM;
	if (out->n > 1) {
		/* jinja2 reports end-of-template errors on the line of the last token */
		eof->line = out->v[out->n - 2].line;
		eof->col = out->v[out->n - 2].col;
	}
	return CHAT_OK;
}
