/* Recipes, --keep rules, output-path checks and the JSON error report (convert.h). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"

bool cv_recipe_parse(const char *s, cv_recipe *out)
{
	static const struct {
		const char *name;
		cv_qkind kind;
		uint32_t group;
	} tab[] = {
		{"int8", CV_Q_INT8_ROW, 0},       {"int8-g128", CV_Q_INT8_GROUP, 128}, {"int8-g64", CV_Q_INT8_GROUP, 64},
		{"int8-g32", CV_Q_INT8_GROUP, 32}, {"fp8", CV_Q_FP8_ROW, 0},           {"bf16", CV_Q_BF16, 0},
		{"f16", CV_Q_F16, 0},              {"f32", CV_Q_F32, 0},
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (!strcmp(s, tab[i].name)) {
			out->kind = tab[i].kind;
			out->group = tab[i].group;
			return true;
		}
	return false;
}

void cv_recipe_name(cv_recipe r, char *buf, size_t len)
{
	switch (r.kind) {
	case CV_Q_INT8_ROW: snprintf(buf, len, "int8"); break;
	case CV_Q_INT8_GROUP: snprintf(buf, len, "int8-g%u", r.group); break;
	case CV_Q_FP8_ROW: snprintf(buf, len, "fp8"); break;
	case CV_Q_BF16: snprintf(buf, len, "bf16"); break;
	case CV_Q_F16: snprintf(buf, len, "f16"); break;
	default: snprintf(buf, len, "f32"); break;
	}
}

bool cv_keep_parse(const char *s, cv_keep_rule *out)
{
	const char *eq = strrchr(s, '=');
	if (!eq || eq == s || (size_t)(eq - s) >= sizeof out->pattern)
		return false;
	memcpy(out->pattern, s, (size_t)(eq - s));
	out->pattern[eq - s] = 0;
	return cv_recipe_parse(eq + 1, &out->recipe);
}

void cv_options_init(cv_options *o)
{
	memset(o, 0, sizeof *o);
	o->recipe.kind = CV_Q_INT8_ROW;
}

void cv_result_free(cv_result *r)
{
	if (!r)
		return;
	free(r->tensors);
	r->tensors = NULL;
	r->n_tensors = 0;
}

double cv_rel_rmse(const cv_tensor_info *t)
{
	return t->src_rms > 0 ? t->rmse / t->src_rms : 0.0;
}

double cv_sqnr_db(const cv_tensor_info *t)
{
	if (t->rmse <= 0 || t->src_rms <= 0)
		return 999.0;
	double v = 20.0 * log10(t->src_rms / t->rmse);
	return v > 999.0 ? 999.0 : v;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int cv_check_output(const char *model_dir, const char *out_path, bool force, cv_err *err)
{
	struct stat so, sd;
	if (!*out_path)
		return cv_fail(err, "output path is empty");
	if (stat(model_dir, &sd) != 0)
		return cv_fail(err, "%s: %s", model_dir, strerror(errno));
	if (!S_ISDIR(sd.st_mode))
		return cv_fail(err, "%s: not a directory (expected a Hugging Face model directory)", model_dir);
	bool exists = stat(out_path, &so) == 0;
	if (exists && S_ISDIR(so.st_mode))
		return cv_fail(err, "%s: output is a directory", out_path);
	if (exists) {
		DIR *d = opendir(model_dir);
		if (!d)
			return cv_fail(err, "%s: %s", model_dir, strerror(errno));
		struct dirent *e;
		int rc = 0;
		while ((e = readdir(d)) && !rc) {
			size_t n = strlen(model_dir) + strlen(e->d_name) + 2;
			char *p = malloc(n);
			if (!p) {
				rc = cv_fail(err, "out of memory");
				break;
			}
			snprintf(p, n, "%s/%s", model_dir, e->d_name);
			struct stat si;
			if (stat(p, &si) == 0 && S_ISREG(si.st_mode) && same_file(&si, &so))
				rc = cv_fail(err, "%s: output is the input file %s", out_path, p);
			free(p);
		}
		closedir(d);
		if (rc)
			return rc;
		if (!force)
			return cv_fail(err, "%s: output exists (use --force to replace it)", out_path);
	}
	char *dir = strdup(out_path);
	if (!dir)
		return cv_fail(err, "out of memory");
	char *slash = strrchr(dir, '/');
	const char *dname = dir;
	if (!slash)
		dname = ".";
	else if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	int rc = 0;
	struct stat st;
	if (stat(dname, &st) != 0)
		rc = cv_fail(err, "%s: output directory %s: %s", out_path, dname, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		rc = cv_fail(err, "%s: %s is not a directory", out_path, dname);
	else if (access(dname, W_OK | X_OK) != 0)
		rc = cv_fail(err, "%s: output directory %s is not writable: %s", out_path, dname, strerror(errno));
	free(dir);
	return rc;
}

int cv_write_report(const cv_result *r, const char *path, cv_err *err)
{
	json_t *root = json_object(), *arr = json_array();
	if (!root || !arr) {
		json_decref(root);
		json_decref(arr);
		return cv_fail(err, "out of memory");
	}
	json_object_set_new(root, "tensors", arr);
	json_object_set_new(root, "out_bytes", json_integer((json_int_t)r->out_bytes));
	json_object_set_new(root, "src_bytes", json_integer((json_int_t)r->src_bytes));
	for (size_t i = 0; i < r->n_tensors; i++) {
		const cv_tensor_info *t = &r->tensors[i];
		json_t *o = json_object(), *shape = json_array();
		for (uint32_t d = 0; d < t->n_dims; d++)
			json_array_append_new(shape, json_integer((json_int_t)t->dims[d]));
		json_object_set_new(o, "name", json_string(t->name));
		json_object_set_new(o, "hf_name", json_string(t->hf_name));
		json_object_set_new(o, "type", json_string(t->type));
		json_object_set_new(o, "shape", shape);
		json_object_set_new(o, "rel_rmse", json_real(cv_rel_rmse(t)));
		json_object_set_new(o, "max_abs_err", json_real(t->max_abs));
		json_object_set_new(o, "sqnr_db", json_real(cv_sqnr_db(t)));
		json_object_set_new(o, "rmse", json_real(t->rmse));
		json_object_set_new(o, "src_rms", json_real(t->src_rms));
		json_object_set_new(o, "bytes", json_integer((json_int_t)t->out_bytes));
		json_array_append_new(arr, o);
	}
	size_t n = strlen(path) + 32;
	char *tmp = malloc(n);
	if (!tmp) {
		json_decref(root);
		return cv_fail(err, "out of memory");
	}
	snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "wx");
	int rc = 0;
	if (!f) {
		rc = cv_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
	} else {
		int w = json_dumpf(root, f, JSON_INDENT(1) | JSON_REAL_PRECISION(9));
		fputc('\n', f);
		if (w != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0)
			rc = cv_fail(err, "%s: write failed: %s", tmp, strerror(errno));
		if (fclose(f) != 0 && !rc)
			rc = cv_fail(err, "%s: close failed: %s", tmp, strerror(errno));
		if (!rc && rename(tmp, path) != 0)
			rc = cv_fail(err, "%s: rename failed: %s", path, strerror(errno));
		if (rc)
			unlink(tmp);
	}
	free(tmp);
	json_decref(root);
	return rc;
}
