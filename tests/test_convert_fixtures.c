/* End-to-end check of `bale convert` against checkpoints written by the official Python packages
 * (tests/data/hf, made by tools/reference/make_hf_fixtures.py).
 *
 * For every fixture directory and recipe in tests/data/hf/manifest.json, converts with the real
 * binary and compares the .bale against values computed independently in numpy: quantized codes
 * and scales bit for bit, 1-D tensors as exact F32, the tensor set and shapes, META against
 * config.json, GENERATION, CHAT_TEMPLATES, PROVENANCE and the embedded config.json. Checkpoints
 * holding the same weights in other containers (sharded, another writer) must give the same
 * tensor blobs and META. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt.h"

#define MAX_FIXTURES 32
#define MAX_RECIPES 8

static json_t *g_manifest;
static char *g_tmp;
static char g_hf[4096];

static const char *bale_bin(void)
{
	const char *b = getenv("BALE_BIN");
	return (b && *b) ? b : BALE_BIN;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		fail_msg("manifest: missing string '%s'", key);
	return s;
}

static uint8_t *load_expected(const json_t *ref, size_t *n)
{
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", g_hf, jstr(ref, "file"));
	uint8_t *b = tu_read_file(path, n);
	if (!b)
		fail_msg("cannot read %s", path);
	json_int_t want = json_integer_value(json_object_get(ref, "bytes"));
	if ((json_int_t)*n != want)
		fail_msg("%s: %zu bytes, manifest says %lld", path, *n, (long long)want);
	return b;
}

/* Converts once per (fixture, recipe) and returns the .bale path (owned by a static cache). */
static const char *converted(const char *dir, const char *recipe)
{
	static char cache[MAX_FIXTURES * MAX_RECIPES][512];
	static size_t n_cache;
	char out[512];
	snprintf(out, sizeof out, "%s/%s.%s.bale", g_tmp, dir, recipe);
	for (size_t i = 0; i < n_cache; i++)
		if (!strcmp(cache[i], out))
			return cache[i];
	char cmd[16384];
	snprintf(cmd, sizeof cmd, "'%s' convert '%s/%s' -o '%s' --weights %s --quiet", bale_bin(), g_hf,
		 dir, out, recipe);
	char *so = NULL, *se = NULL;
	int rc = tu_run(cmd, &so, &se);
	if (rc != 0) {
		print_error("$ %s\nexit %d\nstdout: %s\nstderr: %s\n", cmd, rc, so ? so : "", se ? se : "");
		free(so);
		free(se);
		fail_msg("bale convert failed for %s --weights %s", dir, recipe);
	}
	free(so);
	free(se);
	assert_true(n_cache < MAX_FIXTURES * MAX_RECIPES);
	snprintf(cache[n_cache], sizeof cache[n_cache], "%s", out);
	return cache[n_cache++];
}

static fmt_reader *open_bale(const char *path)
{
	fmt_reader *r = NULL;
	fmt_error err;
	fmt_status st = fmt_reader_open(path, &r, &err);
	if (st != FMT_OK)
		fail_msg("%s: %s: %s", path, fmt_status_name(st), err.msg);
	return r;
}

/* ------------------------------------------------------------------------------------------- */

typedef struct {
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t group;
} recipe_kind;

static recipe_kind parse_recipe(const char *r)
{
	if (!strcmp(r, "int8"))
		return (recipe_kind){FMT_I8, FMT_SCHEME_ROW, 0};
	if (!strncmp(r, "int8-g", 6))
		return (recipe_kind){FMT_I8, FMT_SCHEME_GROUP, (uint32_t)atoi(r + 6)};
	if (!strcmp(r, "fp8"))
		return (recipe_kind){FMT_F8_E4M3, FMT_SCHEME_ROW, 0};
	if (!strcmp(r, "bf16"))
		return (recipe_kind){FMT_BF16, FMT_SCHEME_NONE, 0};
	fail_msg("manifest: unknown recipe %s", r);
	return (recipe_kind){FMT_F32, FMT_SCHEME_NONE, 0};
}

static void check_shape(const char *ctx, const fmt_tensor *t, const json_t *shape)
{
	size_t nd = json_array_size(shape);
	if (t->n_dims != nd)
		fail_msg("%s: %s has %u dims, HF shape has %zu", ctx, t->name, t->n_dims, nd);
	for (size_t d = 0; d < nd; d++) {
		uint64_t want = (uint64_t)json_integer_value(json_array_get(shape, d));
		if (t->dims[d] != want)
			fail_msg("%s: %s dim %zu is %llu, HF says %llu", ctx, t->name, d,
				 (unsigned long long)t->dims[d], (unsigned long long)want);
	}
}

static void check_bytes(const char *ctx, const char *what, const uint8_t *got, const uint8_t *want,
			size_t n, size_t elem)
{
	if (!memcmp(got, want, n))
		return;
	size_t i = 0;
	while (i < n && got[i] == want[i])
		i++;
	size_t e = i / elem;
	char g[64] = "", w[64] = "";
	for (size_t k = 0; k < elem && e * elem + k < n; k++) {
		snprintf(g + strlen(g), sizeof g - strlen(g), "%02x", got[e * elem + k]);
		snprintf(w + strlen(w), sizeof w - strlen(w), "%02x", want[e * elem + k]);
	}
	fail_msg("%s: %s differ first at element %zu: got %s, expected %s (bytes, little-endian)", ctx,
		 what, e, g, w);
}

/* Every canonical tensor exists with the HF shape and the recipe's storage; 1-D ones are F32
 * holding exactly the source values; nothing else is in the file. */
static void check_tensor_set(const char *ctx, const fmt_reader *r, const json_t *fx, recipe_kind rk)
{
	const json_t *tensors = json_object_get(fx, "tensors");
	size_t n = json_array_size(tensors);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		const json_t *tj = json_array_get(tensors, i);
		const char *name = jstr(tj, "name");
		const fmt_tensor *t = fmt_reader_find_tensor(r, name);
		if (!t)
			fail_msg("%s: tensor %s (from %s) missing", ctx, name, jstr(tj, "hf"));
		const json_t *shape = json_object_get(tj, "shape");
		check_shape(ctx, t, shape);
		if (json_array_size(shape) == 1) {
			if (t->dtype != FMT_F32 || t->scheme != FMT_SCHEME_NONE)
				fail_msg("%s: 1-D %s stored as %s/%s, want F32/none", ctx, name,
					 fmt_dtype_name(t->dtype), fmt_scheme_name(t->scheme));
			size_t nb;
			uint8_t *want = load_expected(json_object_get(tj, "values"), &nb);
			assert_int_equal(t->data_bytes, nb);
			check_bytes(ctx, name, t->data, want, nb, 4);
			free(want);
		} else if (t->dtype != rk.dtype || t->scheme != rk.scheme || t->group_size != rk.group) {
			fail_msg("%s: %s stored as %s/%s/g%u, recipe wants %s/%s/g%u", ctx, name,
				 fmt_dtype_name(t->dtype), fmt_scheme_name(t->scheme), t->group_size,
				 fmt_dtype_name(rk.dtype), fmt_scheme_name(rk.scheme), rk.group);
		}
	}
	if (fmt_reader_n_tensors(r) != n) {
		for (size_t i = 0; i < fmt_reader_n_tensors(r); i++)
			print_error("  in file: %s\n", fmt_reader_tensor_at(r, i)->name);
		fail_msg("%s: file has %zu tensors, the checkpoint maps to %zu", ctx,
			 fmt_reader_n_tensors(r), n);
	}
}

static void check_stat(const char *ctx, const char *name, const char *what, float got, double want)
{
	double tol = 1e-5 * fabs(want) + 1e-12;
	if (!(fabs((double)got - want) <= tol))
		fail_msg("%s: %s %s = %.9g, reference %.9g", ctx, name, what, (double)got, want);
}

/* The numpy reference's codes and scales, bit for bit. */
static void check_reference(const char *ctx, const fmt_reader *r, const json_t *fx, const char *recipe)
{
	const json_t *exp = json_object_get(fx, "expected");
	size_t n_checked = 0;
	for (size_t i = 0; i < json_array_size(exp); i++) {
		const json_t *e = json_array_get(exp, i);
		if (strcmp(jstr(e, "recipe"), recipe))
			continue;
		const char *name = jstr(e, "name");
		const fmt_tensor *t = fmt_reader_find_tensor(r, name);
		if (!t)
			fail_msg("%s: tensor %s missing", ctx, name);
		check_shape(ctx, t, json_object_get(e, "shape"));
		size_t esz = fmt_dtype_size(t->dtype);
		size_t nb;
		uint8_t *codes = load_expected(json_object_get(e, "codes"), &nb);
		assert_int_equal(t->n_elems * esz, nb);
		check_bytes(ctx, "codes", t->data, codes, nb, esz);
		free(codes);
		const json_t *sj = json_object_get(e, "scales");
		if (sj) {
			assert_non_null(t->scales);
			uint8_t *sc = load_expected(sj, &nb);
			assert_int_equal(t->rows * t->groups * 4, nb);
			check_bytes(ctx, "scales", t->scales, sc, nb, 4);
			free(sc);
			check_stat(ctx, name, "err_rmse", t->err_rmse, json_real_value(json_object_get(e, "err_rmse")));
			check_stat(ctx, name, "err_max_abs", t->err_max_abs,
				   json_real_value(json_object_get(e, "err_max_abs")));
		}
		check_stat(ctx, name, "src_rms", t->src_rms, json_real_value(json_object_get(e, "src_rms")));
		n_checked++;
	}
	if (n_checked == 0)
		fail_msg("%s: manifest has no expectations for %s", ctx, recipe);
}

static bool array_has(const fmt_kv *kv, int64_t v)
{
	for (uint64_t i = 0; i < kv->count; i++)
		if (fmt_kv_array_i64(kv, i) == v)
			return true;
	return false;
}

/* One expected KV value against the file; JSON type picks the comparison. */
static void check_kv(const char *ctx, const fmt_kvlist *l, const char *key, const json_t *want)
{
	const fmt_kv *kv = fmt_kv_find(l, key);
	if (!kv)
		fail_msg("%s: key %s missing", ctx, key);
	bool ok = false;
	switch (json_typeof(want)) {
	case JSON_STRING:
		ok = kv->type == FMT_V_STR && kv->str_len == strlen(json_string_value(want)) &&
		     !memcmp(kv->str, json_string_value(want), kv->str_len);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		ok = kv->type == FMT_V_BOOL && kv->v.u == (uint64_t)json_is_true(want);
		break;
	case JSON_INTEGER: {
		json_int_t w = json_integer_value(want);
		if (kv->type == FMT_V_U32 || kv->type == FMT_V_U64)
			ok = w >= 0 && kv->v.u == (uint64_t)w;
		else if (kv->type == FMT_V_I32 || kv->type == FMT_V_I64)
			ok = kv->v.i == (int64_t)w;
		break;
	}
	case JSON_REAL: {
		double w = json_real_value(want);
		if (kv->type == FMT_V_F32)
			ok = (float)kv->v.f == (float)w;
		else if (kv->type == FMT_V_F64)
			ok = kv->v.f == w;
		break;
	}
	case JSON_ARRAY: {
		/* A set of ids: order is not specified. */
		ok = kv->type == FMT_V_ARRAY && kv->count == json_array_size(want);
		for (size_t i = 0; ok && i < json_array_size(want); i++)
			ok = array_has(kv, (int64_t)json_integer_value(json_array_get(want, i)));
		break;
	}
	default:
		fail_msg("manifest: unsupported value for %s", key);
	}
	if (!ok) {
		char *s = json_dumps(want, JSON_ENCODE_ANY);
		print_error("%s: %s: stored type %s u=%llu i=%lld f=%.17g str=%.*s\n", ctx, key,
			    fmt_vtype_name(kv->type), (unsigned long long)kv->v.u, (long long)kv->v.i, kv->v.f,
			    (int)(kv->type == FMT_V_STR ? kv->str_len : 0), kv->str ? kv->str : "");
		fail_msg("%s: %s does not match %s", ctx, key, s ? s : "?");
	}
}

static void check_sections(const char *ctx, const fmt_reader *r, const json_t *fx, const char *recipe)
{
	const fmt_kvlist *meta = fmt_reader_kv(r, FMT_SEC_META);
	assert_non_null(meta);
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(fx, "meta"), key, v) check_kv(ctx, meta, key, v);
	if (json_is_true(json_object_get(json_object_get(fx, "meta"), "model.tie_embeddings")) &&
	    fmt_reader_find_tensor(r, "output"))
		fail_msg("%s: tied model must not store `output`", ctx);

	const fmt_kvlist *gen = fmt_reader_kv(r, FMT_SEC_GENERATION);
	if (!gen)
		fail_msg("%s: no GENERATION section although generation_config.json exists", ctx);
	json_object_foreach(json_object_get(fx, "generation"), key, v) check_kv(ctx, gen, key, v);

	const fmt_kvlist *tpl = fmt_reader_kv(r, FMT_SEC_CHAT_TEMPLATES);
	if (!tpl)
		fail_msg("%s: no CHAT_TEMPLATES section", ctx);
	check_kv(ctx, tpl, "default", json_object_get(fx, "chat_template"));

	const fmt_kvlist *prov = fmt_reader_kv(r, FMT_SEC_PROVENANCE);
	if (!prov)
		fail_msg("%s: no PROVENANCE section", ctx);
	json_t *rj = json_string(recipe);
	check_kv(ctx, prov, "quant.recipe", rj);
	json_decref(rj);

	if (!fmt_reader_section(r, FMT_SEC_TOKENIZER))
		fail_msg("%s: no TOKENIZER section", ctx);
	const fmt_file *f = fmt_reader_find_file(r, "config.json");
	if (!f)
		fail_msg("%s: config.json not embedded", ctx);
	uint8_t *got = NULL;
	size_t got_n = 0, want_n = 0;
	fmt_error err;
	fmt_status st = fmt_file_extract(f, &got, &got_n, &err);
	if (st != FMT_OK)
		fail_msg("%s: extracting config.json: %s", ctx, err.msg);
	char path[8192];
	snprintf(path, sizeof path, "%s/%s/config.json", g_hf, jstr(fx, "dir"));
	uint8_t *want = tu_read_file(path, &want_n);
	assert_non_null(want);
	assert_int_equal(got_n, want_n);
	assert_memory_equal(got, want, want_n);
	free(got);
	free(want);
}

/* ------------------------------------------------------------------------------------------- */

static bool kv_equal(const fmt_kv *a, const fmt_kv *b)
{
	if (strcmp(a->key, b->key) || a->type != b->type)
		return false;
	switch (a->type) {
	case FMT_V_STR:
		return a->str_len == b->str_len && !memcmp(a->str, b->str, a->str_len);
	case FMT_V_ARRAY:
		return a->elem_type == b->elem_type && a->count == b->count &&
		       a->raw_bytes == b->raw_bytes && !memcmp(a->raw, b->raw, a->raw_bytes);
	case FMT_V_F32:
	case FMT_V_F64:
		return !memcmp(&a->v.f, &b->v.f, sizeof a->v.f);
	default:
		return a->v.u == b->v.u;
	}
}

/* Same weights in another container: every blob and every META entry but the display name. */
static void check_same_blobs(const char *ctx, const char *a_path, const char *b_path)
{
	fmt_reader *a = open_bale(a_path), *b = open_bale(b_path);
	assert_int_equal(fmt_reader_n_tensors(a), fmt_reader_n_tensors(b));
	for (size_t i = 0; i < fmt_reader_n_tensors(a); i++) {
		const fmt_tensor *ta = fmt_reader_tensor_at(a, i);
		const fmt_tensor *tb = fmt_reader_find_tensor(b, ta->name);
		if (!tb)
			fail_msg("%s: %s missing", ctx, ta->name);
		if (ta->dtype != tb->dtype || ta->scheme != tb->scheme || ta->data_bytes != tb->data_bytes ||
		    memcmp(ta->dims, tb->dims, sizeof ta->dims) || ta->checksum != tb->checksum ||
		    memcmp(ta->data, tb->data, ta->data_bytes))
			fail_msg("%s: tensor %s differs from the reference checkpoint's", ctx, ta->name);
		if (memcmp(&ta->err_rmse, &tb->err_rmse, 4) || memcmp(&ta->src_rms, &tb->src_rms, 4) ||
		    memcmp(&ta->err_max_abs, &tb->err_max_abs, 4))
			fail_msg("%s: statistics of %s differ", ctx, ta->name);
	}
	const fmt_kvlist *ma = fmt_reader_kv(a, FMT_SEC_META), *mb = fmt_reader_kv(b, FMT_SEC_META);
	assert_non_null(ma);
	assert_non_null(mb);
	for (size_t i = 0; i < fmt_kv_count(ma); i++) {
		const fmt_kv *ka = fmt_kv_at(ma, i);
		if (!strcmp(ka->key, "general.name"))
			continue;
		const fmt_kv *kb = fmt_kv_find(mb, ka->key);
		if (!kb || !kv_equal(ka, kb))
			fail_msg("%s: META %s differs", ctx, ka->key);
	}
	for (size_t i = 0; i < fmt_kv_count(mb); i++)
		if (!fmt_kv_find(ma, fmt_kv_at(mb, i)->key))
			fail_msg("%s: META %s only in %s", ctx, fmt_kv_at(mb, i)->key, b_path);
	fmt_reader_close(a);
	fmt_reader_close(b);
}

static void test_fixture(void **state)
{
	const json_t *fx = *state;
	const char *dir = jstr(fx, "dir");
	const json_t *recipes = json_object_get(g_manifest, "recipes");
	assert_true(json_array_size(recipes) > 0);
	for (size_t i = 0; i < json_array_size(recipes); i++) {
		const char *recipe = json_string_value(json_array_get(recipes, i));
		assert_non_null(recipe);
		char ctx[256];
		snprintf(ctx, sizeof ctx, "%s --weights %s", dir, recipe);
		const char *path = converted(dir, recipe);
		fmt_reader *r = open_bale(path);
		fmt_verify_result vr;
		fmt_error err;
		fmt_status st = fmt_verify(r, 1, NULL, NULL, &vr, &err);
		if (st != FMT_OK)
			fail_msg("%s: verify: %s", ctx, err.msg);
		check_tensor_set(ctx, r, fx, parse_recipe(recipe));
		check_reference(ctx, r, fx, recipe);
		check_sections(ctx, r, fx, recipe);
		fmt_reader_close(r);
		const char *ref = json_string_value(json_object_get(fx, "same_blobs_as"));
		if (ref)
			check_same_blobs(ctx, converted(ref, recipe), path);
	}
}

/* Existing output must be refused without --force and replaced with it. */
static void test_force(void **state)
{
	(void)state;
	const char *path = converted("qwen3-bf16", "int8");
	char cmd[16384];
	snprintf(cmd, sizeof cmd, "'%s' convert '%s/qwen3-bf16' -o '%s' --weights fp8 --quiet", bale_bin(),
		 g_hf, path);
	int rc = tu_run(cmd, NULL, NULL);
	assert_int_not_equal(rc, 0);
	fmt_reader *r = open_bale(path);
	assert_int_equal(fmt_reader_find_tensor(r, "blk.0.attn_q")->dtype, FMT_I8);
	fmt_reader_close(r);
}

static int setup(void **state)
{
	(void)state;
	const char *data = getenv("BALE_TEST_DATA");
	snprintf(g_hf, sizeof g_hf, "%s/hf", (data && *data) ? data : BALE_TEST_DATA);
	char path[8192];
	snprintf(path, sizeof path, "%s/manifest.json", g_hf);
	json_error_t jerr;
	g_manifest = json_load_file(path, 0, &jerr);
	if (!g_manifest) {
		fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
		return -1;
	}
	g_tmp = tu_mkdtemp("convfix");
	return g_tmp ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (g_tmp)
		tu_rmtree(g_tmp);
	free(g_tmp);
	json_decref(g_manifest);
	return 0;
}

int main(void)
{
	if (setup(NULL) != 0)
		return 1;
	static struct CMUnitTest tests[MAX_FIXTURES + 1];
	static char names[MAX_FIXTURES][128];
	const json_t *fxs = json_object_get(g_manifest, "fixtures");
	size_t n = json_array_size(fxs);
	if (n == 0 || n > MAX_FIXTURES || json_array_size(json_object_get(g_manifest, "recipes")) > MAX_RECIPES) {
		fprintf(stderr, "manifest: bad fixture or recipe count\n");
		teardown(NULL);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *fx = json_array_get(fxs, i);
		snprintf(names[i], sizeof names[i], "convert_%s",
			 json_string_value(json_object_get(fx, "dir")) ? json_string_value(json_object_get(fx, "dir")) : "?");
		tests[i] = (struct CMUnitTest){names[i], test_fixture, NULL, NULL, (void *)fx};
	}
	tests[n] = (struct CMUnitTest){"convert_refuses_existing_output", test_force, NULL, NULL, NULL};
	int rc = _cmocka_run_group_tests("convert_fixtures", tests, n + 1, NULL, NULL);
	teardown(NULL);
	return rc;
}
