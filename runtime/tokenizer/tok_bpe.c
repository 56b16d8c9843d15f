/* BPE merging: a hash from (left, right) to (rank, result), a min-heap of candidate merges keyed
 * by (rank, position) over a linked list of symbols — the same order of merges as HF's
 * Word::merge_all — and a cache of short words. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct tok_sym {
	int32_t id;
	int32_t prev, next; /* −1 at the ends */
	uint32_t alive;
};

struct tok_heap_ent {
	uint64_t key; /* rank << 32 | position */
	uint32_t result;
};

#define CACHE_MAX_WORD 48u
#define CACHE_MAX_SLOTS (1u << 16)

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static const tok_merge_slot *merge_find(const tok_tokenizer *tok, uint32_t l, uint32_t r)
{
	uint64_t key = (((uint64_t)l << 32) | r) + 1;
	size_t i = mix(key) & tok->merge_mask;
	while (tok->merges[i].key) {
		if (tok->merges[i].key == key)
			return &tok->merges[i];
		i = (i + 1) & tok->merge_mask;
	}
	return NULL;
}

tok_status tok_bpe_build(tok_tokenizer *tok, char *err, size_t errlen)
{
	const fmt_tok *t = tok->t;
	size_t cap = 16;
	while (cap < (size_t)t->n_merges * 2)
		cap *= 2;
	tok->merges = calloc(cap, sizeof *tok->merges);
	if (!tok->merges)
		return TOK_E_NOMEM;
	tok->merge_mask = cap - 1;
	for (uint32_t k = 0; k < t->n_merges; k++) {
		const fmt_tok_merge *m = &t->merges[k];
		if (m->left >= t->n_tokens || m->right >= t->n_tokens || m->result >= t->n_tokens) {
			tok_set_err(err, errlen, "merge %u: id out of range", k);
			return TOK_E_DATA;
		}
		uint64_t key = (((uint64_t)m->left << 32) | m->right) + 1;
		size_t i = mix(key) & tok->merge_mask;
		while (tok->merges[i].key && tok->merges[i].key != key)
			i = (i + 1) & tok->merge_mask;
		/* A repeated pair keeps its last rank, as HF's map built from the merge list does. */
		tok->merges[i] = (tok_merge_slot){key, k, m->result};
	}
	for (int b = 0; b < 256; b++) {
		int32_t cp = tok->byte_level ? tok_byte_to_cp((uint8_t)b) : b;
		char enc[4];
		size_t k = tok_utf8_put(enc, cp);
		tok->byte_utf8_len[b] = (uint8_t)k;
		memcpy(tok->byte_utf8[b], enc, k > 2 ? 2 : k);
		tok->byte_id[b] = k <= 2 ? tok_strmap_get(&tok->vocab, enc, k) : -1;
	}
	return TOK_OK;
}

/* ---- heap ---- */

static void heap_push(struct tok_heap_ent *h, size_t *n, struct tok_heap_ent e)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h[p].key <= e.key)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = e;
}

static struct tok_heap_ent heap_pop(struct tok_heap_ent *h, size_t *n)
{
	struct tok_heap_ent top = h[0], last = h[--*n];
	size_t i = 0, m = *n;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= m)
			break;
		if (c + 1 < m && h[c + 1].key < h[c].key)
			c++;
		if (last.key <= h[c].key)
			break;
		h[i] = h[c];
		i = c;
	}
	if (m)
		h[i] = last;
	return top;
}

/* ---- cache ---- */

static uint64_t word_hash(const char *w, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)w[i]) * 0x100000001b3ull;
	return mix(h) | 1;
}

static tok_cache_slot *cache_find(tok_tokenizer *tok, uint64_t h, const char *w, size_t n, bool *hit)
{
	*hit = false;
	if (!tok->cache)
		return NULL;
	size_t i = h & tok->cache_mask;
	while (tok->cache[i].hash) {
		tok_cache_slot *c = &tok->cache[i];
		if (c->hash == h && c->wlen == n && !memcmp(tok->cache_data.p + c->off, w, n)) {
			*hit = true;
			return c;
		}
		i = (i + 1) & tok->cache_mask;
	}
	return &tok->cache[i];
}

static void cache_store(tok_tokenizer *tok, tok_cache_slot *slot, uint64_t h, const char *w, size_t n,
			const int32_t *ids, size_t nids)
{
	if (!slot || tok->cache_used * 2 >= tok->cache_mask || tok->cache_data.n > ((size_t)64 << 20))
		return; /* full: the cache simply stops growing */
	size_t need = n + nids * sizeof(int32_t);
	if (tok_buf_reserve(&tok->cache_data, need + 4))
		return;
	size_t off = (tok->cache_data.n + 3) & ~(size_t)3;
	if (nids) /* a word may map to no ids at all (unknown bytes, no unk token): ids is NULL then */
		memcpy(tok->cache_data.p + off, ids, nids * sizeof(int32_t));
	if (n)
		memcpy(tok->cache_data.p + off + nids * sizeof(int32_t), w, n);
	tok->cache_data.n = off + need;
	*slot = (tok_cache_slot){h, (uint32_t)(off + nids * sizeof(int32_t)), (uint16_t)n, (uint16_t)nids};
	tok->cache_used++;
}

/* ---- one word ---- */

static tok_status init_symbols(tok_tokenizer *tok, const char *w, size_t n, size_t *nsym)
{
	const fmt_tok *t = tok->t;
	size_t cnt = 0;
	int32_t last_unk = -2;
	for (size_t i = 0; i < n;) {
		int32_t id;
		size_t k = 1;
		if (tok->byte_level) {
			id = tok->byte_id[(uint8_t)w[i]];
		} else {
			int32_t cp;
			k = tok_utf8_next(w + i, n - i, &cp);
			id = tok_strmap_get(&tok->vocab, w + i, k);
		}
		if (id >= 0) {
			tok->syms[cnt++] = (struct tok_sym){id, 0, 0, 1};
			last_unk = -2;
		} else if (!tok->byte_level && (t->flags & FMT_TOKF_BYTE_FALLBACK)) {
			bool ok = true;
			for (size_t j = 0; j < k; j++) {
				char hex[8];
				static const char digits[] = "0123456789ABCDEF";
				hex[0] = '<', hex[1] = '0', hex[2] = 'x';
				hex[3] = digits[(uint8_t)w[i + j] >> 4], hex[4] = digits[(uint8_t)w[i + j] & 15], hex[5] = '>';
				if (tok_strmap_get(&tok->vocab, hex, 6) < 0)
					ok = false;
			}
			for (size_t j = 0; ok && j < k; j++) {
				char hex[8];
				static const char digits[] = "0123456789ABCDEF";
				hex[0] = '<', hex[1] = '0', hex[2] = 'x';
				hex[3] = digits[(uint8_t)w[i + j] >> 4], hex[4] = digits[(uint8_t)w[i + j] & 15], hex[5] = '>';
				tok->syms[cnt++] = (struct tok_sym){tok_strmap_get(&tok->vocab, hex, 6), 0, 0, 1};
			}
			if (!ok && t->unk_id >= 0)
				tok->syms[cnt++] = (struct tok_sym){t->unk_id, 0, 0, 1};
		} else if (t->unk_id >= 0) {
			/* fuse_unk: consecutive unknowns become one unk symbol */
			if (!((t->flags & FMT_TOKF_FUSE_UNK) && last_unk == t->unk_id))
				tok->syms[cnt++] = (struct tok_sym){t->unk_id, 0, 0, 1};
			last_unk = t->unk_id;
		}
		/* no vocab entry and no unk: HF drops the character */
		i += k;
	}
	for (size_t i = 0; i < cnt; i++) {
		tok->syms[i].prev = (int32_t)i - 1;
		tok->syms[i].next = i + 1 < cnt ? (int32_t)i + 1 : -1;
	}
	*nsym = cnt;
	return TOK_OK;
}

tok_status tok_bpe_word(tok_tokenizer *tok, const char *w, size_t n, tok_ids *out)
{
	const fmt_tok *t = tok->t;
	if (!n)
		return TOK_OK;
	if (n > INT32_MAX / 8)
		return TOK_E_LIMIT;
	/* fast path: one byte that is a token */
	if (n == 1 && tok->byte_level && tok->byte_id[(uint8_t)w[0]] >= 0)
		return tok_ids_push(out, tok->byte_id[(uint8_t)w[0]]);
	if (t->flags & FMT_TOKF_IGNORE_MERGES) {
		int32_t id;
		if (tok->byte_level) {
			tok->wordmap.n = 0;
			tok_status st = tok_buf_reserve(&tok->wordmap, 2 * n);
			if (st)
				return st;
			for (size_t i = 0; i < n; i++) {
				uint8_t b = (uint8_t)w[i];
				memcpy(tok->wordmap.p + tok->wordmap.n, tok->byte_utf8[b], tok->byte_utf8_len[b]);
				tok->wordmap.n += tok->byte_utf8_len[b];
			}
			id = tok_strmap_get(&tok->vocab, tok->wordmap.p, tok->wordmap.n);
		} else {
			id = tok_strmap_get(&tok->vocab, w, n);
		}
		if (id >= 0)
			return tok_ids_push(out, id);
	}
	bool hit = false;
	uint64_t h = 0;
	tok_cache_slot *slot = NULL;
	if (n <= CACHE_MAX_WORD) {
		h = word_hash(w, n);
		slot = cache_find(tok, h, w, n, &hit);
		if (hit) {
			const int32_t *ids = (const int32_t *)(void *)(tok->cache_data.p + slot->off - slot->nids * sizeof(int32_t));
			for (size_t i = 0; i < slot->nids; i++) {
				tok_status st = tok_ids_push(out, ids[i]);
				if (st)
					return st;
			}
			return TOK_OK;
		}
	}
	/* at most 2n symbols (byte fallback in non-byte-level mode emits one per byte; unk ≤ chars) */
	size_t need = 2 * n;
	if (need > tok->syms_cap) {
		void *p = realloc(tok->syms, need * sizeof *tok->syms);
		if (!p)
			return TOK_E_NOMEM;
		tok->syms = p;
		tok->syms_cap = need;
	}
	size_t nsym;
	tok_status st = init_symbols(tok, w, n, &nsym);
	if (st)
		return st;
	/* Each merge pushes at most two entries; the initial pairs are nsym − 1. */
	size_t hcap = 3 * nsym + 4;
	if (hcap > tok->heap_cap) {
		void *p = realloc(tok->heap, hcap * sizeof *tok->heap);
		if (!p)
			return TOK_E_NOMEM;
		tok->heap = p;
		tok->heap_cap = hcap;
	}
	struct tok_sym *s = tok->syms;
	struct tok_heap_ent *hp = tok->heap;
	size_t hn = 0;
	for (size_t i = 0; i + 1 < nsym; i++) {
		const tok_merge_slot *m = merge_find(tok, (uint32_t)s[i].id, (uint32_t)s[i + 1].id);
		if (m)
			heap_push(hp, &hn, (struct tok_heap_ent){((uint64_t)m->rank << 32) | i, m->result});
	}
	while (hn) {
		struct tok_heap_ent top = heap_pop(hp, &hn);
		uint32_t pos = (uint32_t)top.key;
		if (!s[pos].alive || s[pos].next < 0)
			continue;
		int32_t nx = s[pos].next;
		const tok_merge_slot *m = merge_find(tok, (uint32_t)s[pos].id, (uint32_t)s[nx].id);
		if (!m || m->result != top.result)
			continue; /* stale entry */
		s[pos].id = (int32_t)top.result;
		s[nx].alive = 0;
		s[pos].next = s[nx].next;
		if (s[nx].next >= 0)
			s[s[nx].next].prev = (int32_t)pos;
		if (s[pos].prev >= 0) {
			int32_t pv = s[pos].prev;
			m = merge_find(tok, (uint32_t)s[pv].id, (uint32_t)s[pos].id);
			if (m)
				heap_push(hp, &hn, (struct tok_heap_ent){((uint64_t)m->rank << 32) | (uint32_t)pv, m->result});
		}
		if (s[pos].next >= 0) {
			m = merge_find(tok, (uint32_t)s[pos].id, (uint32_t)s[s[pos].next].id);
			if (m)
				heap_push(hp, &hn, (struct tok_heap_ent){((uint64_t)m->rank << 32) | pos, m->result});
		}
	}
	size_t first = out->n;
	for (int32_t i = nsym ? 0 : -1; i >= 0; i = s[i].next) {
		if ((st = tok_ids_push(out, s[i].id)))
			return st;
	}
	if (n <= CACHE_MAX_WORD && out->n - first <= UINT16_MAX)
		cache_store(tok, slot, h, w, n, out->v ? out->v + first : NULL, out->n - first); /* v is NULL while empty */
	return TOK_OK;
}
