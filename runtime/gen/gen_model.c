/* gen_model: everything generation needs from one .bale, loaded and checked once. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt_tok.h"
#include "gen_internal.h"
#include "kn_cuda.h"

#define GEN_MAX_TEMPLATE_FILE ((size_t)16 << 20)

gen_status gen_fail(gen_error *err, gen_status st, const char *fmt, ...)
{
	if (err) {
		err->status = st;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return st;
}

const char *gen_status_name(gen_status st)
{
	switch (st) {
	case GEN_OK: return "GEN_OK";
	case GEN_E_FORMAT: return "GEN_E_FORMAT";
	case GEN_E_MODEL: return "GEN_E_MODEL";
	case GEN_E_TOKENIZER: return "GEN_E_TOKENIZER";
	case GEN_E_TEMPLATE: return "GEN_E_TEMPLATE";
	case GEN_E_CONTEXT: return "GEN_E_CONTEXT";
	case GEN_E_SAMPLE: return "GEN_E_SAMPLE";
	case GEN_E_ARG: return "GEN_E_ARG";
	case GEN_E_NOMEM: return "GEN_E_NOMEM";
	case GEN_E_IO: return "GEN_E_IO";
	case GEN_E_DEVICE: return "GEN_E_DEVICE";
	}
	return "GEN_E_?";
}

gen_status gen_status_from_rc(rc_status st)
{
	switch (st) {
	case RC_OK: return GEN_OK;
	case RC_E_DEVICE: return GEN_E_DEVICE;
	case RC_E_NOMEM: return GEN_E_NOMEM;
	case RC_E_TENSOR: return GEN_E_MODEL;
	case RC_E_ARG: return GEN_E_ARG;
	case RC_E_IO: return GEN_E_IO;
	}
	return GEN_E_DEVICE;
}

const char *gen_device_name(gen_device d) { return d == GEN_DEVICE_CUDA ? "cuda" : "cpu"; }

const char *gen_kv_name(gen_kv_type t)
{
	switch (t) {
	case GEN_KV_DEFAULT: return "default";
	case GEN_KV_F32: return "f32";
	case GEN_KV_BF16: return "bf16";
	case GEN_KV_FP8: return "fp8";
	}
	return "?";
}

const char *gen_yarn_name(gen_yarn y)
{
	switch (y) {
	case GEN_YARN_AUTO: return "auto";
	case GEN_YARN_TRANSFORMERS: return "transformers";
	case GEN_YARN_VLLM: return "vllm";
	case GEN_YARN_EXPLICIT: return "explicit";
	}
	return "?";
}

void gen_model_free(gen_model *m)
{
	if (!m)
		return;
	chat_template_free(m->tmpl);
	tok_free(m->tok);
	fmt_tok_free(m->tok_desc);
	rc_model_free(m->gpu); /* before the reader: with the embedding on the host it reads the mapping */
	rt_model_free(m->rt);
	fmt_reader_close(m->reader);
	free(m->bos_text);
	free(m->eos_text);
	free(m->eos_ids);
	free(m);
}

const rt_config *gen_model_config(const gen_model *m) { return rt_model_config(m->rt); }
const rt_model *gen_model_rt(const gen_model *m) { return m->rt; }
const fmt_reader *gen_model_reader(const gen_model *m) { return m->reader; }
tok_tokenizer *gen_model_tokenizer(const gen_model *m) { return m->tok; }
const gen_defaults *gen_model_defaults(const gen_model *m) { return &m->defaults; }
gen_yarn gen_model_yarn(const gen_model *m) { return m->yarn; }
gen_device gen_model_device(const gen_model *m) { return m->device; }
const gen_load_stats *gen_model_load_stats(const gen_model *m) { return m->gpu ? &m->load : NULL; }
bool gen_model_has_template(const gen_model *m) { return m->tmpl != NULL; }

const int32_t *gen_model_eos_ids(const gen_model *m, size_t *n)
{
	*n = m->n_eos;
	return m->eos_ids;
}

static gen_status add_eos(gen_model *m, int64_t id, uint32_t vocab, gen_error *err)
{
	if (id < 0 || id >= (int64_t)vocab)
		return GEN_OK; /* −1 means absent; ids past the vocabulary can never be sampled */
	for (size_t i = 0; i < m->n_eos; i++)
		if (m->eos_ids[i] == id)
			return GEN_OK;
	if (m->n_eos >= SMP_STOP_MAX_EOS)
		return gen_fail(err, GEN_E_FORMAT, "more than %u end-of-generation ids", SMP_STOP_MAX_EOS);
	int32_t *n = realloc(m->eos_ids, (m->n_eos + 1) * sizeof *n);
	if (!n)
		return gen_fail(err, GEN_E_NOMEM, "out of memory");
	m->eos_ids = n;
	m->eos_ids[m->n_eos++] = (int32_t)id;
	return GEN_OK;
}

static gen_status add_eos_array(gen_model *m, const fmt_kvlist *l, const char *key, const char *sec, uint32_t vocab,
				gen_error *err)
{
	const fmt_kv *kv = fmt_kv_find(l, key);
	if (!kv)
		return GEN_OK;
	if (kv->type != FMT_V_ARRAY || (kv->elem_type != FMT_V_I32 && kv->elem_type != FMT_V_U32 &&
					 kv->elem_type != FMT_V_I64 && kv->elem_type != FMT_V_U64))
		return gen_fail(err, GEN_E_FORMAT, "%s %s: expected an integer array (file offset %llu)", sec, key,
				(unsigned long long)kv->offset);
	for (uint64_t i = 0; i < kv->count; i++) {
		gen_status st = add_eos(m, fmt_kv_array_i64(kv, i), vocab, err);
		if (st != GEN_OK)
			return st;
	}
	return GEN_OK;
}

/* Reads one optional float key into *dst; an absent key leaves it. */
static gen_status opt_float(const fmt_kvlist *l, const char *key, float *dst, gen_error *err)
{
	double v;
	fmt_error fe;
	fmt_status fs = fmt_kv_f64(l, key, &v, &fe);
	if (fs == FMT_E_NOTFOUND)
		return GEN_OK;
	if (fs != FMT_OK)
		return gen_fail(err, GEN_E_FORMAT, "GENERATION: %s", fe.msg);
	*dst = (float)v;
	return GEN_OK;
}

static gen_status load_defaults(gen_model *m, uint32_t vocab, gen_error *err)
{
	smp_params *p = &m->defaults.sampling;
	*p = smp_params_default();
	p->top_k = 50;
	const fmt_kvlist *g = fmt_reader_kv(m->reader, FMT_SEC_GENERATION);
	if (!g)
		return GEN_OK;
	gen_status st;
	if ((st = opt_float(g, "temperature", &p->temperature, err)) != GEN_OK ||
	    (st = opt_float(g, "top_p", &p->top_p, err)) != GEN_OK ||
	    (st = opt_float(g, "min_p", &p->min_p, err)) != GEN_OK ||
	    (st = opt_float(g, "repetition_penalty", &p->repetition_penalty, err)) != GEN_OK)
		return st;
	fmt_error fe;
	uint32_t u;
	fmt_status fs = fmt_kv_u32(g, "top_k", &u, &fe);
	if (fs == FMT_OK)
		p->top_k = u > INT32_MAX ? INT32_MAX : (int32_t)u;
	else if (fs != FMT_E_NOTFOUND)
		return gen_fail(err, GEN_E_FORMAT, "GENERATION: %s", fe.msg);
	fs = fmt_kv_u32(g, "max_new_tokens", &m->defaults.max_new_tokens, &fe);
	if (fs != FMT_OK && fs != FMT_E_NOTFOUND)
		return gen_fail(err, GEN_E_FORMAT, "GENERATION: %s", fe.msg);
	bool do_sample;
	fs = fmt_kv_bool(g, "do_sample", &do_sample, &fe);
	if (fs == FMT_OK && !do_sample)
		p->temperature = 0;
	else if (fs != FMT_OK && fs != FMT_E_NOTFOUND)
		return gen_fail(err, GEN_E_FORMAT, "GENERATION: %s", fe.msg);
	char msg[256];
	if (smp_params_check(p, msg, sizeof msg) != SMP_OK)
		return gen_fail(err, GEN_E_FORMAT, "GENERATION: %s", msg);
	return add_eos_array(m, g, "eos_ids", "GENERATION", vocab, err);
}

static char *read_file(const char *path, size_t *len, gen_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		gen_fail(err, GEN_E_IO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		if (cap >= GEN_MAX_TEMPLATE_FILE) {
			gen_fail(err, GEN_E_IO, "%s: larger than %zu bytes", path, GEN_MAX_TEMPLATE_FILE);
			free(buf);
			fclose(f);
			return NULL;
		}
		char *nb = realloc(buf, cap * 2);
		if (!nb)
			free(buf);
		buf = nb;
		cap *= 2;
	}
	if (!buf)
		gen_fail(err, GEN_E_NOMEM, "%s: out of memory", path);
	else if (ferror(f)) {
		gen_fail(err, GEN_E_IO, "%s: read error", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

static gen_status compile_template(gen_model *m, const char *src, size_t len, const char *what, gen_error *err)
{
	chat_error ce;
	if (chat_template_create(src, len, &m->tmpl, &ce) != CHAT_OK)
		return gen_fail(err, GEN_E_TEMPLATE, "%s: line %d column %d: %s", what, ce.line, ce.column, ce.message);
	return GEN_OK;
}

static gen_status load_template(gen_model *m, const gen_model_opts *o, gen_error *err)
{
	if (o->chat_template_file) {
		size_t len;
		char *src = read_file(o->chat_template_file, &len, err);
		if (!src)
			return err ? err->status : GEN_E_IO;
		gen_status st = compile_template(m, src, len, o->chat_template_file, err);
		free(src);
		return st;
	}
	const fmt_kvlist *l = fmt_reader_kv(m->reader, FMT_SEC_CHAT_TEMPLATES);
	const char *want = o->chat_template_name;
	const fmt_kv *kv = NULL;
	if (l)
		kv = fmt_kv_find(l, want ? want : "default");
	if (!kv && !want && l && fmt_kv_count(l) > 0)
		kv = fmt_kv_at(l, 0);
	if (!kv) {
		if (want)
			return gen_fail(err, GEN_E_TEMPLATE, "no chat template named '%s' in the file", want);
		return GEN_OK; /* a model without a template can still run raw prompts */
	}
	if (kv->type != FMT_V_STR)
		return gen_fail(err, GEN_E_FORMAT, "CHAT_TEMPLATES %s: not a string (file offset %llu)", kv->key,
				(unsigned long long)kv->offset);
	char what[300];
	snprintf(what, sizeof what, "chat template '%s'", kv->key);
	return compile_template(m, kv->str, kv->str_len, what, err);
}

static char *token_text_copy(const tok_tokenizer *t, int32_t id)
{
	const char *s;
	size_t len;
	if (id < 0 || tok_token_text(t, id, &s, &len) != TOK_OK)
		return NULL;
	char *c = malloc(len + 1);
	if (c) {
		memcpy(c, s, len);
		c[len] = 0;
	}
	return c;
}

static gen_status load_tokenizer(gen_model *m, gen_error *err)
{
	const fmt_section *sec = fmt_reader_section(m->reader, FMT_SEC_TOKENIZER);
	if (!sec)
		return GEN_OK;
	fmt_error fe;
	if (fmt_tok_decode(sec->data, sec->bytes, sec->offset, &m->tok_desc, &fe) != FMT_OK)
		return gen_fail(err, GEN_E_FORMAT, "TOKENIZER: %s", fe.msg);
	char msg[512];
	if (tok_create(m->tok_desc, &m->tok, msg, sizeof msg) != TOK_OK)
		return gen_fail(err, GEN_E_TOKENIZER, "tokenizer: %s", msg);
	if (tok_n_tokens(m->tok) > rt_model_config(m->rt)->vocab_size)
		return gen_fail(err, GEN_E_TOKENIZER, "tokenizer has %u tokens but model.vocab_size is %u",
				tok_n_tokens(m->tok), rt_model_config(m->rt)->vocab_size);
	m->bos_text = token_text_copy(m->tok, tok_bos_id(m->tok));
	m->eos_text = token_text_copy(m->tok, tok_eos_id(m->tok));
	return GEN_OK;
}

/* The weights onto device 0. The device is asked first so that "no GPU" is reported as such,
 * with kn_cuda's reason, before any upload starts. */
static gen_status load_gpu(gen_model *m, const gen_model_opts *o, gen_error *err)
{
	char why[256] = "";
	if (kn_cuda_device_count(why, sizeof why) <= 0)
		return gen_fail(err, GEN_E_DEVICE, "no usable GPU: %s", why[0] ? why : "no CUDA device");
	rc_model_opts go = {.device = 0, .verify = o->verify_load, .embed_on_host = !o->embed_on_device};
	rc_load_stats ls = {0};
	rc_error re = {0};
	rc_status rs = rc_model_load(m->rt, m->reader, &go, &m->gpu, &ls, &re);
	if (rs != RC_OK)
		return gen_fail(err, gen_status_from_rc(rs), "loading onto the GPU: %s [%s]", re.msg, rc_status_name(rs));
	m->load = (gen_load_stats){.seconds = ls.seconds, .bytes = ls.bytes, .gb_per_s = ls.gb_per_s,
				   .device_bytes = ls.device_bytes, .host_bytes = ls.host_bytes, .verified = ls.verified};
	return GEN_OK;
}

gen_status gen_model_open(const char *path, const gen_model_opts *opts, gen_model **out, gen_error *err)
{
	*out = NULL;
	gen_model_opts o0 = {0};
	const gen_model_opts *o = opts ? opts : &o0;
	if (o->device != GEN_DEVICE_CPU && o->device != GEN_DEVICE_CUDA)
		return gen_fail(err, GEN_E_ARG, "unknown device %d", (int)o->device);
	gen_model *m = calloc(1, sizeof *m);
	if (!m)
		return gen_fail(err, GEN_E_NOMEM, "out of memory");
	gen_status st = GEN_OK;
	fmt_error fe;
	fmt_status fs = fmt_reader_open(path, &m->reader, &fe);
	if (fs != FMT_OK) {
		st = gen_fail(err, GEN_E_FORMAT, "%s: %s [%s]", path, fe.msg, fmt_status_name(fs));
		goto fail;
	}
	const fmt_kvlist *meta = fmt_reader_kv(m->reader, FMT_SEC_META);
	m->yarn = o->yarn;
	if (m->yarn == GEN_YARN_AUTO)
		m->yarn = fmt_kv_find(meta, "rope.attn_factor") ? GEN_YARN_VLLM : GEN_YARN_TRANSFORMERS;
	rt_model_opts ro = {.exec = o->exec};
	ro.yarn_mscale = m->yarn == GEN_YARN_VLLM       ? KN_YARN_MSCALE_VLLM
			 : m->yarn == GEN_YARN_EXPLICIT ? KN_YARN_MSCALE_EXPLICIT
							: KN_YARN_MSCALE_TRANSFORMERS;
	rt_error re;
	if (rt_model_create(m->reader, &ro, &m->rt, &re) != RT_OK) {
		st = gen_fail(err, GEN_E_MODEL, "%s: %s", path, re.msg);
		goto fail;
	}
	uint32_t vocab = rt_model_config(m->rt)->vocab_size;
	/* the small sections first: a bad template should not cost a multi-GB upload */
	if ((st = load_tokenizer(m, err)) != GEN_OK || (st = load_template(m, o, err)) != GEN_OK ||
	    (st = load_defaults(m, vocab, err)) != GEN_OK)
		goto fail;
	int32_t id;
	if (fmt_kv_i32(meta, "token.eos_id", &id, &fe) == FMT_OK && (st = add_eos(m, id, vocab, err)) != GEN_OK)
		goto fail;
	if ((st = add_eos_array(m, meta, "token.eos_ids", "META", vocab, err)) != GEN_OK)
		goto fail;
	if (m->tok && (st = add_eos(m, tok_eos_id(m->tok), vocab, err)) != GEN_OK)
		goto fail;
	m->device = o->device;
	if (m->device == GEN_DEVICE_CUDA && (st = load_gpu(m, o, err)) != GEN_OK)
		goto fail;
	*out = m;
	return GEN_OK;
fail:
	if (err && st != GEN_OK && strncmp(err->msg, path, strlen(path)) != 0) {
		char tmp[sizeof err->msg];
		memcpy(tmp, err->msg, sizeof tmp);
		size_t pl = strlen(path) + 2 < sizeof tmp ? strlen(path) : 0;
		if (pl) {
			memcpy(err->msg, path, pl);
			memcpy(err->msg + pl, ": ", 2);
			memcpy(err->msg + pl + 2, tmp, sizeof tmp - pl - 2);
			err->msg[sizeof err->msg - 1] = 0;
		}
	}
	gen_model_free(m);
	return st;
}

/* ---- prompts ---- */

gen_status gen_render(const gen_model *m, const gen_message *msgs, size_t n, const gen_render_opts *ro, char **out,
		      size_t *out_len, gen_error *err)
{
	*out = NULL;
	if (!m->tmpl)
		return gen_fail(err, GEN_E_TEMPLATE, "the model has no chat template (use --raw or --chat-template FILE)");
	json_t *ctx = json_object(), *arr = json_array();
	gen_status st = GEN_OK;
	if (!ctx || !arr) {
		json_decref(arr);
		st = gen_fail(err, GEN_E_NOMEM, "out of memory");
		goto done;
	}
	json_object_set_new(ctx, "messages", arr);
	for (size_t i = 0; i < n; i++) {
		json_t *msg = json_object();
		json_t *role = json_string(msgs[i].role), *content = json_string(msgs[i].content);
		if (!msg || !role || !content || json_object_set_new(msg, "role", role) != 0 ||
		    json_object_set_new(msg, "content", content) != 0 || json_array_append_new(arr, msg) != 0) {
			st = gen_fail(err, GEN_E_TEMPLATE, "message %zu: not valid UTF-8 or out of memory", i);
			goto done;
		}
	}
	json_object_set_new(ctx, "add_generation_prompt", json_boolean(ro && ro->add_generation_prompt));
	if (ro && ro->enable_thinking >= 0)
		json_object_set_new(ctx, "enable_thinking", json_boolean(ro->enable_thinking));
	if (m->bos_text)
		json_object_set_new(ctx, "bos_token", json_string(m->bos_text));
	if (m->eos_text)
		json_object_set_new(ctx, "eos_token", json_string(m->eos_text));
	chat_error ce;
	size_t len = 0;
	if (chat_template_render(m->tmpl, ctx, NULL, out, &len, &ce) != CHAT_OK) {
		st = gen_fail(err, GEN_E_TEMPLATE, "chat template: %s%s", ce.status == CHAT_ERR_RAISED ? "raised: " : "",
			      ce.message);
		goto done;
	}
	if (out_len)
		*out_len = len;
done:
	json_decref(ctx);
	return st;
}

gen_status gen_encode(const gen_model *m, const char *text, size_t len, bool add_special, int32_t **ids, size_t *n,
		      gen_error *err)
{
	*ids = NULL;
	*n = 0;
	if (!m->tok)
		return gen_fail(err, GEN_E_TOKENIZER, "the model file has no TOKENIZER section");
	tok_status ts = tok_encode(m->tok, text, len, add_special ? TOK_ENC_ADD_SPECIAL : 0, ids, n);
	if (ts != TOK_OK)
		return gen_fail(err, GEN_E_TOKENIZER, "tokenizer: %s", tok_strerror(ts));
	return GEN_OK;
}

static const char *find_last(const char *s, size_t len, const char *pat)
{
	size_t pl = strlen(pat);
	if (len < pl)
		return NULL;
	for (size_t i = len - pl + 1; i-- > 0;)
		if (memcmp(s + i, pat, pl) == 0)
			return s + i;
	return NULL;
}

bool gen_text_opens_reasoning(const char *text, size_t len)
{
	const char *open = find_last(text, len, "<think>");
	const char *close = find_last(text, len, "</think>");
	return open && (!close || close < open);
}
