/* config.json → cv_hf_config, expected tensors and META keys (hf_model.h). */
#include "hf_model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integer field: a JSON integer, or a real with an integral value; in [lo, hi]. Absent (or null
 * when `null_ok`) leaves *out untouched and returns 1 so callers can apply a default. */
static int get_int(json_t *o, const char *key, bool required, int64_t lo, int64_t hi, int64_t *out,
		   const char *path, cv_err *err)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		if (required)
			return cv_fail(err, "%s: missing \"%s\"", path, key);
		return 1;
	}
	int64_t x;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!isfinite(d) || d != floor(d) || d < -9e18 || d > 9e18)
			return cv_fail(err, "%s: \"%s\" must be an integer, got %g", path, key, d);
		x = (int64_t)d;
	} else {
		return cv_fail(err, "%s: \"%s\" must be an integer", path, key);
	}
	if (x < lo || x > hi)
		return cv_fail(err, "%s: \"%s\" = %lld is out of range [%lld, %lld]", path, key, (long long)x,
			       (long long)lo, (long long)hi);
	*out = x;
	return 0;
}

static int get_u32(json_t *o, const char *key, bool required, uint32_t lo, uint32_t hi, uint32_t *out,
		   const char *path, cv_err *err)
{
	int64_t x;
	int rc = get_int(o, key, required, lo, hi, &x, path, err);
	if (rc == 0)
		*out = (uint32_t)x;
	return rc;
}

/* Finite number in [lo, hi] (exclusive of lo when `lo_open`). */
static int get_num(json_t *o, const char *key, bool required, double lo, bool lo_open, double hi, double *out,
		   const char *path, cv_err *err)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		if (required)
			return cv_fail(err, "%s: missing \"%s\"", path, key);
		return 1;
	}
	if (!json_is_number(v))
		return cv_fail(err, "%s: \"%s\" must be a number", path, key);
	double d = json_number_value(v);
	if (!isfinite(d) || d < lo || (lo_open && d == lo) || d > hi)
		return cv_fail(err, "%s: \"%s\" = %g is out of range %s%g, %g]", path, key, d, lo_open ? "(" : "[", lo, hi);
	*out = d;
	return 0;
}

static int get_bool(json_t *o, const char *key, bool *out, const char *path, cv_err *err)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 1;
	if (!json_is_boolean(v))
		return cv_fail(err, "%s: \"%s\" must be true or false", path, key);
	*out = json_is_true(v);
	return 0;
}

static int add_eos(cv_hf_config *c, json_t *v, const char *path, const char *key, cv_err *err)
{
	if (!v || json_is_null(v))
		return 0;
	size_t n = json_is_array(v) ? json_array_size(v) : 1;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= (json_int_t)c->vocab_size)
			return cv_fail(err, "%s: \"%s\" must be token ids in [0, %u)", path, key, c->vocab_size);
		int32_t id = (int32_t)json_integer_value(e);
		bool dup = false;
		for (uint32_t j = 0; j < c->n_eos; j++)
			dup |= c->eos_ids[j] == id;
		if (dup)
			continue;
		if (c->n_eos >= CV_HF_MAX_EOS)
			return cv_fail(err, "%s: more than %d end-of-sequence ids", path, CV_HF_MAX_EOS);
		c->eos_ids[c->n_eos++] = id;
	}
	return 0;
}

static int get_id(json_t *o, const char *key, const cv_hf_config *c, int32_t *out, const char *path, cv_err *err)
{
	int64_t x = -1;
	if (get_int(o, key, false, 0, (int64_t)c->vocab_size - 1, &x, path, err) < 0)
		return -1;
	*out = (int32_t)x;
	return 0;
}

static int parse_rope_scaling(json_t *rs, cv_hf_config *c, const char *path, cv_err *err)
{
	c->rope_type = CV_ROPE_NONE;
	c->rope_factor = 1.0;
	c->yarn_beta_fast = 32.0;
	c->yarn_beta_slow = 1.0;
	if (!rs || json_is_null(rs))
		return 0;
	if (!json_is_object(rs))
		return cv_fail(err, "%s: \"rope_scaling\" must be an object or null", path);
	json_t *ty = json_object_get(rs, "rope_type");
	if (!ty)
		ty = json_object_get(rs, "type");
	if (!json_is_string(ty))
		return cv_fail(err, "%s: \"rope_scaling\" has no \"rope_type\" string", path);
	const char *t = json_string_value(ty);
	if (!strcmp(t, "default"))
		return 0;
	if (!strcmp(t, "yarn"))
		c->rope_type = CV_ROPE_YARN;
	else if (!strcmp(t, "linear"))
		c->rope_type = CV_ROPE_LINEAR;
	else if (!strcmp(t, "llama3"))
		c->rope_type = CV_ROPE_LLAMA3;
	else
		return cv_fail(err, "%s: unsupported rope_scaling type '%.64s' (supported: default, yarn, linear, llama3)", path, t);
	if (get_num(rs, "factor", true, 0.0, true, 1e6, &c->rope_factor, path, err) < 0)
		return -1;
	bool need_orig = c->rope_type != CV_ROPE_LINEAR;
	if (get_u32(rs, "original_max_position_embeddings", need_orig, 1, 1u << 30, &c->rope_orig_ctx, path, err) < 0)
		return -1;
	if (c->rope_type == CV_ROPE_YARN) {
		if (get_num(rs, "beta_fast", false, 0.0, true, 1e6, &c->yarn_beta_fast, path, err) < 0 ||
		    get_num(rs, "beta_slow", false, 0.0, true, 1e6, &c->yarn_beta_slow, path, err) < 0)
			return -1;
		/* The two keys mean different things: `attention_factor` (transformers) IS the cos/sin
		 * scale; `attn_factor` (DeepSeek's config, vLLM) multiplies 0.1·ln(factor)+1 and is
		 * ignored by transformers. Both are stored verbatim under their own META keys. */
		double a = 0, b = 0;
		int ra = get_num(rs, "attn_factor", false, 0.0, true, 1e6, &a, path, err);
		int rb = get_num(rs, "attention_factor", false, 0.0, true, 1e6, &b, path, err);
		if (ra < 0 || rb < 0)
			return -1;
		if (ra == 0) {
			c->has_attn_factor = true;
			c->attn_factor = a;
		}
		if (rb == 0) {
			c->has_attention_factor = true;
			c->attention_factor = b;
		}
	}
	if (c->rope_type == CV_ROPE_LLAMA3) {
		if (get_num(rs, "low_freq_factor", true, 0.0, true, 1e6, &c->low_freq_factor, path, err) < 0 ||
		    get_num(rs, "high_freq_factor", true, 0.0, true, 1e6, &c->high_freq_factor, path, err) < 0)
			return -1;
		if (c->high_freq_factor <= c->low_freq_factor)
			return cv_fail(err, "%s: rope_scaling high_freq_factor must exceed low_freq_factor", path);
	}
	return 0;
}

static int parse_obj(json_t *o, cv_hf_config *c, const char *path, cv_err *err)
{
	memset(c, 0, sizeof *c);
	if (json_object_get(o, "quantization_config"))
		return cv_fail(err, "%s: the checkpoint is already quantized (config.json has quantization_config); "
				    "convert the original BF16/F16/F32 checkpoint instead", path);
	json_t *archs = json_object_get(o, "architectures");
	if (!json_is_array(archs) || json_array_size(archs) != 1 || !json_is_string(json_array_get(archs, 0)))
		return cv_fail(err, "%s: \"architectures\" must be a list of one name", path);
	const char *a = json_string_value(json_array_get(archs, 0));
	if (!strcmp(a, "Qwen3ForCausalLM")) {
		c->arch = CV_ARCH_QWEN3, c->arch_name = "qwen3", c->qk_norm = true;
	} else if (!strcmp(a, "Qwen2ForCausalLM")) {
		c->arch = CV_ARCH_QWEN2, c->arch_name = "qwen2", c->attn_bias = true;
	} else if (!strcmp(a, "LlamaForCausalLM")) {
		c->arch = CV_ARCH_LLAMA, c->arch_name = "llama";
	} else {
		return cv_fail(err, "%s: unsupported architecture '%.100s' (supported: Qwen3ForCausalLM, "
				    "Qwen2ForCausalLM, LlamaForCausalLM)", path, a);
	}
	if (get_u32(o, "num_hidden_layers", true, 1, CV_HF_MAX_LAYERS, &c->n_layers, path, err) < 0 ||
	    get_u32(o, "hidden_size", true, 1, 1u << 16, &c->d_model, path, err) < 0 ||
	    get_u32(o, "num_attention_heads", true, 1, 1024, &c->n_heads, path, err) < 0 ||
	    get_u32(o, "intermediate_size", true, 1, 1u << 20, &c->d_ff, path, err) < 0 ||
	    get_u32(o, "vocab_size", true, 1, 16777216, &c->vocab_size, path, err) < 0 ||
	    get_u32(o, "max_position_embeddings", true, 1, 1u << 30, &c->max_ctx, path, err) < 0)
		return -1;
	c->n_kv_heads = c->n_heads;
	if (get_u32(o, "num_key_value_heads", false, 1, c->n_heads, &c->n_kv_heads, path, err) < 0)
		return -1;
	if (c->n_heads % c->n_kv_heads)
		return cv_fail(err, "%s: num_attention_heads %u is not a multiple of num_key_value_heads %u", path,
			       c->n_heads, c->n_kv_heads);
	int rc = get_u32(o, "head_dim", false, 2, 1024, &c->head_dim, path, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (c->d_model % c->n_heads)
			return cv_fail(err, "%s: hidden_size %u is not a multiple of num_attention_heads %u", path,
				       c->d_model, c->n_heads);
		c->head_dim = c->d_model / c->n_heads;
	}
	if (c->head_dim % 2 || c->head_dim < 2 || c->head_dim > 1024)
		return cv_fail(err, "%s: head_dim %u must be even and in [2, 1024]", path, c->head_dim);
	/* Qwen2 has no head_dim of its own: its projections are sized by hidden_size. */
	if (c->arch == CV_ARCH_QWEN2 && c->head_dim * c->n_heads != c->d_model)
		return cv_fail(err, "%s: head_dim %u × num_attention_heads %u ≠ hidden_size %u", path, c->head_dim,
			       c->n_heads, c->d_model);
	if (get_num(o, "rms_norm_eps", true, 0.0, true, 1.0, &c->norm_eps, path, err) < 0)
		return -1;
	/* transformers ≥ 5 moves rope_theta and the scaling into "rope_parameters". */
	json_t *rp = json_object_get(o, "rope_parameters");
	if (rp && !json_is_null(rp) && !json_is_object(rp))
		return cv_fail(err, "%s: \"rope_parameters\" must be an object", path);
	c->rope_theta = 10000.0;
	int rt = get_num(o, "rope_theta", false, 0.0, true, 1e12, &c->rope_theta, path, err);
	if (rt < 0)
		return -1;
	if (rt == 1 && json_is_object(rp) && get_num(rp, "rope_theta", false, 0.0, true, 1e12, &c->rope_theta, path, err) < 0)
		return -1;
	json_t *lt = json_object_get(o, "layer_types");
	for (size_t i = 0; json_is_array(lt) && i < json_array_size(lt); i++) {
		json_t *x = json_array_get(lt, i);
		if (!json_is_string(x) || strcmp(json_string_value(x), "full_attention"))
			return cv_fail(err, "%s: layer_types[%zu] is not \"full_attention\" (sliding windows are not supported)",
				       path, i);
	}
	if (get_bool(o, "tie_word_embeddings", &c->tie_embeddings, path, err) < 0)
		return -1;
	if (c->arch == CV_ARCH_LLAMA) {
		if (get_bool(o, "attention_bias", &c->attn_bias, path, err) < 0)
			return -1;
		bool mlp_bias = false;
		if (get_bool(o, "mlp_bias", &mlp_bias, path, err) < 0)
			return -1;
		if (mlp_bias)
			return cv_fail(err, "%s: mlp_bias is not supported", path);
	}
	bool sliding = false;
	if (get_bool(o, "use_sliding_window", &sliding, path, err) < 0)
		return -1;
	if (sliding)
		return cv_fail(err, "%s: use_sliding_window is not supported", path);
	json_t *act = json_object_get(o, "hidden_act");
	if (act && (!json_is_string(act) || strcmp(json_string_value(act), "silu")))
		return cv_fail(err, "%s: hidden_act must be \"silu\"", path);
	json_t *rs = json_object_get(o, "rope_scaling");
	if ((!rs || json_is_null(rs)) && json_is_object(rp))
		rs = rp;
	if (parse_rope_scaling(rs, c, path, err))
		return -1;
	if (get_id(o, "bos_token_id", c, &c->bos_id, path, err) || get_id(o, "pad_token_id", c, &c->pad_id, path, err))
		return -1;
	return add_eos(c, json_object_get(o, "eos_token_id"), path, "eos_token_id", err);
}

int cv_hf_config_parse(const char *json, size_t len, const char *path, cv_hf_config *c, cv_err *err)
{
	json_error_t je;
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return cv_fail(err, "%s: invalid JSON at line %d column %d: %s", path, je.line, je.column, je.text);
	int rc = json_is_object(o) ? parse_obj(o, c, path, err) : cv_fail(err, "%s: not a JSON object", path);
	json_decref(o);
	return rc;
}

int cv_hf_config_add_generation_eos(cv_hf_config *c, const char *json, size_t len, const char *path, cv_err *err)
{
	json_error_t je;
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return cv_fail(err, "%s: invalid JSON at line %d column %d: %s", path, je.line, je.column, je.text);
	int rc = json_is_object(o) ? add_eos(c, json_object_get(o, "eos_token_id"), path, "eos_token_id", err)
				   : cv_fail(err, "%s: not a JSON object", path);
	json_decref(o);
	return rc;
}

static void add(cv_hf_tensor *t, size_t *n, const char *hf, const char *name, cv_role role, uint64_t d0, uint64_t d1)
{
	cv_hf_tensor *x = &t[(*n)++];
	snprintf(x->hf_name, sizeof x->hf_name, "%s", hf);
	snprintf(x->name, sizeof x->name, "%s", name);
	x->role = role;
	x->n_dims = d1 ? 2 : 1;
	x->dims[0] = d0;
	x->dims[1] = d1;
}

int cv_hf_expected(const cv_hf_config *c, cv_hf_tensor **out, size_t *n_out, cv_err *err)
{
	size_t cap = 3 + (size_t)c->n_layers * 14;
	cv_hf_tensor *t = calloc(cap, sizeof *t);
	if (!t)
		return cv_fail(err, "out of memory");
	size_t n = 0;
	uint64_t d = c->d_model, q = (uint64_t)c->n_heads * c->head_dim, kv = (uint64_t)c->n_kv_heads * c->head_dim;
	add(t, &n, "model.embed_tokens.weight", "tok_embd", CV_ROLE_EMBD, c->vocab_size, d);
	for (uint32_t l = 0; l < c->n_layers; l++) {
		char hf[96], nm[64];
#define L(hfs, cs, role, d0, d1)                                                   \
	do {                                                                       \
		snprintf(hf, sizeof hf, "model.layers.%u.%s", l, hfs);             \
		snprintf(nm, sizeof nm, "blk.%u.%s", l, cs);                       \
		add(t, &n, hf, nm, role, d0, d1);                                  \
	} while (0)
		L("input_layernorm.weight", "attn_norm", CV_ROLE_NORM, d, 0);
		L("self_attn.q_proj.weight", "attn_q", CV_ROLE_LINEAR, q, d);
		if (c->attn_bias)
			L("self_attn.q_proj.bias", "attn_q_bias", CV_ROLE_BIAS, q, 0);
		L("self_attn.k_proj.weight", "attn_k", CV_ROLE_LINEAR, kv, d);
		if (c->attn_bias)
			L("self_attn.k_proj.bias", "attn_k_bias", CV_ROLE_BIAS, kv, 0);
		L("self_attn.v_proj.weight", "attn_v", CV_ROLE_LINEAR, kv, d);
		if (c->attn_bias)
			L("self_attn.v_proj.bias", "attn_v_bias", CV_ROLE_BIAS, kv, 0);
		if (c->qk_norm) {
			L("self_attn.q_norm.weight", "attn_q_norm", CV_ROLE_NORM, c->head_dim, 0);
			L("self_attn.k_norm.weight", "attn_k_norm", CV_ROLE_NORM, c->head_dim, 0);
		}
		L("self_attn.o_proj.weight", "attn_output", CV_ROLE_LINEAR, d, q);
		L("post_attention_layernorm.weight", "ffn_norm", CV_ROLE_NORM, d, 0);
		L("mlp.gate_proj.weight", "ffn_gate", CV_ROLE_LINEAR, c->d_ff, d);
		L("mlp.up_proj.weight", "ffn_up", CV_ROLE_LINEAR, c->d_ff, d);
		L("mlp.down_proj.weight", "ffn_down", CV_ROLE_LINEAR, d, c->d_ff);
#undef L
	}
	add(t, &n, "model.norm.weight", "output_norm", CV_ROLE_NORM, d, 0);
	if (!c->tie_embeddings)
		add(t, &n, "lm_head.weight", "output", CV_ROLE_EMBD, c->vocab_size, d);
	*out = t;
	*n_out = n;
	return 0;
}

bool cv_hf_ignorable(const cv_hf_config *c, const char *hf_name)
{
	size_t n = strlen(hf_name), k = strlen("rotary_emb.inv_freq");
	if (n >= k && !strcmp(hf_name + n - k, "rotary_emb.inv_freq"))
		return true;
	return c->tie_embeddings && !strcmp(hf_name, "lm_head.weight");
}

#define KV(call)                                                                          \
	do {                                                                              \
		fmt_status st_ = (call);                                                  \
		if (st_ != FMT_OK)                                                        \
			return cv_fail(err, "META: cannot store a key: %s", fmt_strerror(st_)); \
	} while (0)

int cv_hf_write_meta(const cv_hf_config *c, const char *name, fmt_kvbuild *kv, cv_err *err)
{
	static const char *rope_names[] = {"none", "yarn", "linear", "llama3"};
	KV(fmt_kvbuild_str(kv, "general.architecture", c->arch_name, strlen(c->arch_name)));
	if (name && *name)
		KV(fmt_kvbuild_str(kv, "general.name", name, strlen(name)));
	KV(fmt_kvbuild_u32(kv, "model.n_layers", c->n_layers));
	KV(fmt_kvbuild_u32(kv, "model.d_model", c->d_model));
	KV(fmt_kvbuild_u32(kv, "model.n_heads", c->n_heads));
	KV(fmt_kvbuild_u32(kv, "model.n_kv_heads", c->n_kv_heads));
	KV(fmt_kvbuild_u32(kv, "model.head_dim", c->head_dim));
	KV(fmt_kvbuild_u32(kv, "model.d_ff", c->d_ff));
	KV(fmt_kvbuild_u32(kv, "model.vocab_size", c->vocab_size));
	KV(fmt_kvbuild_u32(kv, "model.max_ctx", c->max_ctx));
	KV(fmt_kvbuild_f32(kv, "model.norm_eps", (float)c->norm_eps));
	KV(fmt_kvbuild_bool(kv, "model.tie_embeddings", c->tie_embeddings));
	KV(fmt_kvbuild_bool(kv, "model.qk_norm", c->qk_norm));
	KV(fmt_kvbuild_bool(kv, "model.attn_bias", c->attn_bias));
	KV(fmt_kvbuild_str(kv, "model.act", "silu", 4));
	KV(fmt_kvbuild_f64(kv, "rope.theta", c->rope_theta));
	KV(fmt_kvbuild_u32(kv, "rope.dim", c->head_dim));
	KV(fmt_kvbuild_str(kv, "rope.type", rope_names[c->rope_type], strlen(rope_names[c->rope_type])));
	KV(fmt_kvbuild_f64(kv, "rope.factor", c->rope_factor));
	if (c->rope_orig_ctx)
		KV(fmt_kvbuild_u32(kv, "rope.orig_ctx", c->rope_orig_ctx));
	if (c->rope_type == CV_ROPE_YARN) {
		KV(fmt_kvbuild_f64(kv, "rope.yarn_beta_fast", c->yarn_beta_fast));
		KV(fmt_kvbuild_f64(kv, "rope.yarn_beta_slow", c->yarn_beta_slow));
	}
	if (c->has_attn_factor)
		KV(fmt_kvbuild_f64(kv, "rope.attn_factor", c->attn_factor));
	if (c->has_attention_factor)
		KV(fmt_kvbuild_f64(kv, "rope.attention_factor", c->attention_factor));
	if (c->rope_type == CV_ROPE_LLAMA3) {
		KV(fmt_kvbuild_f64(kv, "rope.low_freq_factor", c->low_freq_factor));
		KV(fmt_kvbuild_f64(kv, "rope.high_freq_factor", c->high_freq_factor));
	}
	KV(fmt_kvbuild_i32(kv, "token.bos_id", c->bos_id));
	KV(fmt_kvbuild_i32(kv, "token.eos_id", c->n_eos ? c->eos_ids[0] : -1));
	KV(fmt_kvbuild_i32(kv, "token.pad_id", c->pad_id));
	KV(fmt_kvbuild_array(kv, "token.eos_ids", FMT_V_I32, c->eos_ids, c->n_eos));
	return 0;
}

int cv_hf_write_generation(const char *json, size_t len, const char *path, fmt_kvbuild *kv, cv_err *err)
{
	json_error_t je;
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return cv_fail(err, "%s: invalid JSON at line %d column %d: %s", path, je.line, je.column, je.text);
	int rc = -1;
	if (!json_is_object(o)) {
		cv_fail(err, "%s: not a JSON object", path);
		goto out;
	}
	static const struct {
		const char *key;
		double lo, hi;
	} fl[] = {{"temperature", 0, 1e4}, {"top_p", 0, 1}, {"min_p", 0, 1}, {"repetition_penalty", 0, 1e4}};
	for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
		double d = 0;
		int r = get_num(o, fl[i].key, false, fl[i].lo, false, fl[i].hi, &d, path, err);
		if (r < 0)
			goto out;
		if (r == 0 && fmt_kvbuild_f32(kv, fl[i].key, (float)d) != FMT_OK) {
			cv_fail(err, "GENERATION: cannot store %s", fl[i].key);
			goto out;
		}
	}
	static const char *ints[] = {"top_k", "max_new_tokens"};
	for (size_t i = 0; i < 2; i++) {
		uint32_t u;
		int r = get_u32(o, ints[i], false, 0, UINT32_MAX, &u, path, err);
		if (r < 0)
			goto out;
		if (r == 0 && fmt_kvbuild_u32(kv, ints[i], u) != FMT_OK) {
			cv_fail(err, "GENERATION: cannot store %s", ints[i]);
			goto out;
		}
	}
	bool ds = false;
	int r = get_bool(o, "do_sample", &ds, path, err);
	if (r < 0)
		goto out;
	if (r == 0 && fmt_kvbuild_bool(kv, "do_sample", ds) != FMT_OK) {
		cv_fail(err, "GENERATION: cannot store do_sample");
		goto out;
	}
	json_t *eos = json_object_get(o, "eos_token_id");
	if (eos && !json_is_null(eos)) {
		int32_t ids[CV_HF_MAX_EOS];
		size_t n = json_is_array(eos) ? json_array_size(eos) : 1;
		if (n > CV_HF_MAX_EOS) {
			cv_fail(err, "%s: more than %d eos_token_id values", path, CV_HF_MAX_EOS);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_is_array(eos) ? json_array_get(eos, i) : eos;
			if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX) {
				cv_fail(err, "%s: eos_token_id must be non-negative integers", path);
				goto out;
			}
			ids[i] = (int32_t)json_integer_value(e);
		}
		if (fmt_kvbuild_array(kv, "eos_ids", FMT_V_I32, ids, n) != FMT_OK) {
			cv_fail(err, "GENERATION: cannot store eos_ids");
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}
