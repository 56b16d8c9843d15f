/* Planner inputs from a .bale: per-tensor blob sizes and the model dims from META. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>

pl_status pl_tensors_from_reader(const fmt_reader *r, pl_tensor **out, size_t *n, char *err, size_t len)
{
	if (!r || !out || !n) {
		if (err && len)
			snprintf(err, len, "plan: NULL argument");
		return PL_E_ARG;
	}
	*out = NULL;
	*n = 0;
	size_t nt = fmt_reader_n_tensors(r);
	pl_tensor *t = calloc(nt ? nt : 1, sizeof *t);
	if (!t) {
		if (err && len)
			snprintf(err, len, "plan: out of memory for %zu tensors", nt);
		return PL_E_NOMEM;
	}
	for (size_t i = 0; i < nt; i++) {
		const fmt_tensor *ft = fmt_reader_tensor_at(r, i);
		t[i].name = ft->name;
		t[i].bytes = ft->data_bytes;
	}
	*out = t;
	*n = nt;
	return PL_OK;
}

pl_status pl_dims_from_meta(const fmt_kvlist *meta, pl_dims *d, char *err, size_t len)
{
	if (!d) {
		if (err && len)
			snprintf(err, len, "plan: NULL argument");
		return PL_E_ARG;
	}
	*d = (pl_dims){0};
	const struct {
		const char *key;
		uint32_t *dst;
	} keys[] = {{"model.n_layers", &d->n_layers}, {"model.n_heads", &d->n_heads},
		    {"model.n_kv_heads", &d->n_kv_heads}, {"model.head_dim", &d->head_dim},
		    {"model.d_model", &d->d_model},    {"model.d_ff", &d->d_ff},
		    {"model.vocab_size", &d->vocab}};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		fmt_error fe;
		if (!meta || fmt_kv_u32(meta, keys[i].key, keys[i].dst, &fe) != FMT_OK || !*keys[i].dst) {
			if (err && len)
				snprintf(err, len, "plan: META %s is missing, not a U32 or 0", keys[i].key);
			*d = (pl_dims){0};
			return PL_E_ARG;
		}
	}
	if (fmt_kv_u32(meta, "model.max_ctx", &d->max_ctx, NULL) != FMT_OK)
		d->max_ctx = 0;
	return PL_OK;
}
