/* bale inspect — explain a .bale file: header, metadata, tensors, GPU memory plan, checksums. */
#include "cli.h"
#include "cli_plan.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bale/fmt.h"

void cmd_inspect_help(FILE *out)
{
	fprintf(out,
		"usage: bale inspect FILE.bale [options]\n\n"
		"Shows the header, metadata, tensor table, totals by type and the GPU memory plan\n(40 GiB budget, BF16 and FP8 KV; docs/GPU.md).\n\n"
		"options:\n"
		"  --verify             recompute every tensor checksum (multi-threaded) and report speed\n"
		"  --threads N          threads for --verify (default: all cores)\n"
		"  --tensor NAME        show one tensor's record\n"
		"  --stats              with --tensor: dequantized min/max/mean/std, histogram, stored error\n"
		"  --extract NAME       write an embedded original file (e.g. config.json) to stdout\n"
		"  -o, --output FILE    with --extract: write to FILE instead of stdout\n"
		"  --json               machine-readable output on stdout\n"
		"  -q, --quiet          no progress output\n"
		"  -h, --help           show this help\n\n"
		"exit status: 0 ok, 1 invalid file or failed check, 2 usage error\n");
}

typedef struct {
	const char *path;
	const char *tensor;
	const char *extract;
	const char *output;
	bool verify, stats, json, quiet;
	long threads;
} inspect_opts;

/* ---- small helpers ---------------------------------------------------------------------- */

static void shape_str(const fmt_tensor *t, char *buf, size_t len)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, len - o, "[");
	for (uint32_t d = 0; d < t->n_dims && o < len; d++)
		o += (size_t)snprintf(buf + o, len - o, "%s%llu", d ? ", " : "", (unsigned long long)t->dims[d]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static void type_str(const fmt_tensor *t, char *buf, size_t len)
{
	if (t->scheme == FMT_SCHEME_GROUP)
		snprintf(buf, len, "%s/g%u", fmt_dtype_name(t->dtype), t->group_size);
	else if (t->scheme == FMT_SCHEME_ROW)
		snprintf(buf, len, "%s/row", fmt_dtype_name(t->dtype));
	else
		snprintf(buf, len, "%s", fmt_dtype_name(t->dtype));
}

/* Prints a string value with control characters escaped, cut at `max` bytes. */
static void print_escaped(FILE *out, const char *s, size_t n, size_t max)
{
	fputc('"', out);
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
	if (n > max)
		fprintf(out, "... (%zu bytes)", n);
}

static void print_scalar(FILE *out, fmt_vtype t, const fmt_kv *kv)
{
	switch (t) {
	case FMT_V_U32:
	case FMT_V_U64: fprintf(out, "%llu", (unsigned long long)kv->v.u); break;
	case FMT_V_I32:
	case FMT_V_I64: fprintf(out, "%lld", (long long)kv->v.i); break;
	case FMT_V_F32: fprintf(out, "%.9g", kv->v.f); break;
	case FMT_V_F64: fprintf(out, "%.17g", kv->v.f); break;
	case FMT_V_BOOL: fputs(kv->v.u ? "true" : "false", out); break;
	case FMT_V_STR: print_escaped(out, kv->str, kv->str_len, 96); break;
	default: fputs("?", out); break;
	}
}

static void print_kv(FILE *out, const fmt_kv *kv)
{
	fprintf(out, "  %-28s %-5s ", kv->key, fmt_vtype_name(kv->type));
	if (kv->type != FMT_V_ARRAY) {
		print_scalar(out, kv->type, kv);
		fputc('\n', out);
		return;
	}
	fprintf(out, "%s[%llu] ", fmt_vtype_name(kv->elem_type), (unsigned long long)kv->count);
	fputc('[', out);
	uint64_t show = kv->count < 8 ? kv->count : 8;
	for (uint64_t i = 0; i < show; i++) {
		if (i)
			fputs(", ", out);
		switch (kv->elem_type) {
		case FMT_V_U32:
		case FMT_V_U64:
		case FMT_V_BOOL: fprintf(out, "%llu", (unsigned long long)fmt_kv_array_u64(kv, i)); break;
		case FMT_V_I32:
		case FMT_V_I64: fprintf(out, "%lld", (long long)fmt_kv_array_i64(kv, i)); break;
		case FMT_V_F32:
		case FMT_V_F64: fprintf(out, "%.9g", fmt_kv_array_f64(kv, i)); break;
		case FMT_V_STR: {
			const char *s;
			size_t n;
			fmt_kv_array_str(kv, i, &s, &n);
			print_escaped(out, s, n, 48);
			break;
		}
		default: fputs("?", out);
		}
	}
	if (kv->count > show)
		fputs(", ...", out);
	fputs("]\n", out);
}

static json_t *kv_json_scalar(fmt_vtype t, const fmt_kv *kv)
{
	switch (t) {
	case FMT_V_U32:
	case FMT_V_U64: return json_integer((json_int_t)kv->v.u);
	case FMT_V_I32:
	case FMT_V_I64: return json_integer((json_int_t)kv->v.i);
	case FMT_V_F32:
	case FMT_V_F64: return isfinite(kv->v.f) ? json_real(kv->v.f) : json_null();
	case FMT_V_BOOL: return json_boolean(kv->v.u);
	case FMT_V_STR: return json_stringn_nocheck(kv->str, kv->str_len);
	default: return json_null();
	}
}

static json_t *kv_json(const fmt_kv *kv)
{
	if (kv->type != FMT_V_ARRAY)
		return kv_json_scalar(kv->type, kv);
	json_t *a = json_array();
	for (uint64_t i = 0; i < kv->count; i++) {
		json_t *v;
		switch (kv->elem_type) {
		case FMT_V_U32:
		case FMT_V_U64: v = json_integer((json_int_t)fmt_kv_array_u64(kv, i)); break;
		case FMT_V_BOOL: v = json_boolean(fmt_kv_array_u64(kv, i)); break;
		case FMT_V_I32:
		case FMT_V_I64: v = json_integer((json_int_t)fmt_kv_array_i64(kv, i)); break;
		case FMT_V_F32:
		case FMT_V_F64: {
			double d = fmt_kv_array_f64(kv, i);
			v = isfinite(d) ? json_real(d) : json_null();
			break;
		}
		case FMT_V_STR: {
			const char *s;
			size_t n;
			fmt_kv_array_str(kv, i, &s, &n);
			v = json_stringn_nocheck(s, n);
			break;
		}
		default: v = json_null();
		}
		json_array_append_new(a, v);
	}
	return a;
}

static json_t *kvlist_json(const fmt_kvlist *l)
{
	json_t *o = json_object();
	for (size_t i = 0; l && i < fmt_kv_count(l); i++) {
		const fmt_kv *kv = fmt_kv_at(l, i);
		json_object_set_new(o, kv->key, kv_json(kv));
	}
	return o;
}

/* ---- stats of one tensor ---------------------------------------------------------------- */

typedef struct {
	double min, max, mean, std;
	uint64_t n, n_nonfinite;
	uint64_t hist[20];
} tensor_stats;

static int compute_stats(const fmt_tensor *t, tensor_stats *s)
{
	memset(s, 0, sizeof *s);
	float *row = malloc(t->cols * sizeof(float));
	if (!row)
		return -1;
	double sum = 0, sum2 = 0, mn = DBL_MAX, mx = -DBL_MAX;
	for (uint64_t r = 0; r < t->rows; r++) {
		fmt_tensor_dequant_row(t, r, row);
		for (uint64_t c = 0; c < t->cols; c++) {
			double v = row[c];
			if (!isfinite(v)) {
				s->n_nonfinite++;
				continue;
			}
			sum += v;
			sum2 += v * v;
			if (v < mn)
				mn = v;
			if (v > mx)
				mx = v;
			s->n++;
		}
	}
	if (s->n) {
		s->min = mn;
		s->max = mx;
		s->mean = sum / (double)s->n;
		double var = sum2 / (double)s->n - s->mean * s->mean;
		s->std = var > 0 ? sqrt(var) : 0;
		double w = (mx - mn) / 20.0;
		for (uint64_t r = 0; r < t->rows; r++) {
			fmt_tensor_dequant_row(t, r, row);
			for (uint64_t c = 0; c < t->cols; c++) {
				double v = row[c];
				if (!isfinite(v))
					continue;
				int b = w > 0 ? (int)((v - mn) / w) : 0;
				if (b > 19)
					b = 19;
				if (b < 0)
					b = 0;
				s->hist[b]++;
			}
		}
	}
	free(row);
	return 0;
}

static json_t *tensor_json(const fmt_tensor *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(t->name));
	json_object_set_new(o, "dtype", json_string(fmt_dtype_name(t->dtype)));
	json_object_set_new(o, "scheme", json_string(fmt_scheme_name(t->scheme)));
	if (t->scheme == FMT_SCHEME_GROUP)
		json_object_set_new(o, "group_size", json_integer(t->group_size));
	json_t *sh = json_array();
	for (uint32_t d = 0; d < t->n_dims; d++)
		json_array_append_new(sh, json_integer((json_int_t)t->dims[d]));
	json_object_set_new(o, "shape", sh);
	json_object_set_new(o, "offset", json_integer((json_int_t)t->data_offset));
	json_object_set_new(o, "bytes", json_integer((json_int_t)t->data_bytes));
	char ck[24];
	snprintf(ck, sizeof ck, "%016llx", (unsigned long long)t->checksum);
	json_object_set_new(o, "xxh3", json_string(ck));
	if (t->scheme != FMT_SCHEME_NONE || t->err_rmse > 0) {
		json_object_set_new(o, "err_rmse", json_real(t->err_rmse));
		json_object_set_new(o, "err_max_abs", json_real(t->err_max_abs));
		json_object_set_new(o, "src_rms", json_real(t->src_rms));
		if (t->src_rms > 0)
			json_object_set_new(o, "rel_rmse", json_real(t->err_rmse / t->src_rms));
	}
	return o;
}

/* ---- type totals ------------------------------------------------------------------------ */

typedef struct {
	char type[24];
	uint64_t n, bytes, elems;
} type_total;

static size_t type_totals(const fmt_reader *r, type_total *tt, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		char ty[24];
		type_str(t, ty, sizeof ty);
		size_t k = 0;
		while (k < n && strcmp(tt[k].type, ty))
			k++;
		if (k == n) {
			if (n == cap)
				continue;
			memset(&tt[n], 0, sizeof tt[n]);
			snprintf(tt[n].type, sizeof tt[n].type, "%s", ty);
			n++;
		}
		tt[k].n++;
		tt[k].bytes += t->data_bytes;
		tt[k].elems += t->n_elems;
	}
	return n;
}

/* ---- modes ------------------------------------------------------------------------------ */

static bool verify_progress(void *user, uint64_t done, uint64_t total)
{
	cli_progress *p = user;
	(void)total;
	cli_progress_update(p, done, "");
	return true;
}

static int do_verify(const fmt_reader *r, const inspect_opts *o, json_t *root)
{
	uint64_t total = 0;
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++)
		total += fmt_reader_tensor_at(r, i)->data_bytes;
	cli_progress p;
	cli_progress_init(&p, "verify", total, o->quiet || o->json);
	fmt_verify_result res;
	fmt_error err;
	fmt_status st = fmt_verify(r, (int)o->threads, verify_progress, &p, &res, &err);
	if (p.enabled && p.tty)
		fprintf(stderr, "\r\033[K");
	if (root) {
		json_t *v = json_object();
		json_object_set_new(v, "ok", json_boolean(st == FMT_OK));
		json_object_set_new(v, "bytes", json_integer((json_int_t)res.bytes));
		json_object_set_new(v, "tensors", json_integer((json_int_t)res.n_tensors));
		json_object_set_new(v, "bad", json_integer((json_int_t)res.n_bad));
		json_object_set_new(v, "seconds", json_real(res.seconds));
		json_object_set_new(v, "gb_per_s", json_real(res.gb_per_s));
		if (st != FMT_OK) {
			json_object_set_new(v, "status", json_string(fmt_status_name(st)));
			json_object_set_new(v, "error", json_string(err.msg));
		}
		json_object_set_new(root, "verify", v);
	} else if (st == FMT_OK) {
		char b[32];
		cli_format_bytes(res.bytes, b, sizeof b);
		printf("\nverify: OK — %llu tensors, %s checked in %.3f s (%.2f GB/s)\n",
		       (unsigned long long)res.n_tensors, b, res.seconds, res.gb_per_s);
	}
	if (st != FMT_OK) {
		cli_error("inspect", "%s: verification failed: %s [%s]", o->path, err.msg, fmt_status_name(st));
		if (!root)
			printf("\nverify: FAILED — %s\n", err.msg);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int do_tensor(const fmt_reader *r, const inspect_opts *o, json_t *root)
{
	const fmt_tensor *t = fmt_reader_find_tensor(r, o->tensor);
	if (!t) {
		cli_error("inspect", "%s: no tensor named '%s' (%zu tensors; run 'bale inspect %s' to list them)", o->path,
			  o->tensor, fmt_reader_n_tensors(r), o->path);
		return CLI_FAIL;
	}
	tensor_stats s;
	if (o->stats && compute_stats(t, &s) != 0) {
		cli_error("inspect", "out of memory");
		return CLI_FAIL;
	}
	if (root) {
		json_t *tj = tensor_json(t);
		if (o->stats) {
			json_t *sj = json_object();
			json_object_set_new(sj, "min", json_real(s.min));
			json_object_set_new(sj, "max", json_real(s.max));
			json_object_set_new(sj, "mean", json_real(s.mean));
			json_object_set_new(sj, "std", json_real(s.std));
			json_object_set_new(sj, "count", json_integer((json_int_t)s.n));
			json_object_set_new(sj, "nonfinite", json_integer((json_int_t)s.n_nonfinite));
			json_t *h = json_array();
			for (int i = 0; i < 20; i++)
				json_array_append_new(h, json_integer((json_int_t)s.hist[i]));
			json_object_set_new(sj, "histogram", h);
			json_object_set_new(tj, "stats", sj);
		}
		json_object_set_new(root, "tensor", tj);
		return CLI_OK;
	}
	char sh[128], ty[24];
	shape_str(t, sh, sizeof sh);
	type_str(t, ty, sizeof ty);
	printf("tensor:   %s\ntype:     %s (%s)\nshape:    %s  (%llu rows × %llu cols, %llu elements)\n", t->name, ty,
	       fmt_scheme_name(t->scheme), sh, (unsigned long long)t->rows, (unsigned long long)t->cols,
	       (unsigned long long)t->n_elems);
	printf("data:     offset %llu, %llu bytes", (unsigned long long)t->data_offset, (unsigned long long)t->data_bytes);
	if (t->scheme != FMT_SCHEME_NONE)
		printf(" (scales at +%llu, %llu per row)", (unsigned long long)t->scale_offset, (unsigned long long)t->groups);
	printf("\nxxh3:     %016llx\n", (unsigned long long)t->checksum);
	if (t->src_rms > 0 || t->err_rmse > 0) {
		double rel = t->src_rms > 0 ? t->err_rmse / t->src_rms : 0;
		printf("quantization error (stored): rmse %.4g, max abs %.4g, source rms %.4g, relative %.4g%%, SQNR %.2f dB\n",
		       t->err_rmse, t->err_max_abs, t->src_rms, rel * 100, rel > 0 ? -20 * log10(rel) : INFINITY);
	}
	if (o->stats) {
		printf("dequantized: min %.6g  max %.6g  mean %.6g  std %.6g  (%llu values", s.min, s.max, s.mean, s.std,
		       (unsigned long long)s.n);
		if (s.n_nonfinite)
			printf(", %llu NaN/Inf!", (unsigned long long)s.n_nonfinite);
		printf(")\nhistogram:\n");
		uint64_t hmax = 1;
		for (int i = 0; i < 20; i++)
			if (s.hist[i] > hmax)
				hmax = s.hist[i];
		double w = (s.max - s.min) / 20.0;
		for (int i = 0; i < 20; i++) {
			int len = (int)((double)s.hist[i] * 50.0 / (double)hmax + 0.5);
			printf("  %+11.4g .. %+11.4g | %-50.*s %llu\n", s.min + w * i, s.min + w * (i + 1), len,
			       "##################################################", (unsigned long long)s.hist[i]);
		}
	}
	return CLI_OK;
}

static int do_extract(const fmt_reader *r, const inspect_opts *o)
{
	const fmt_file *f = fmt_reader_find_file(r, o->extract);
	if (!f) {
		cli_error("inspect", "%s: no embedded file named '%s'", o->path, o->extract);
		size_t n = fmt_reader_n_files(r);
		if (n) {
			fprintf(stderr, "embedded files:");
			for (size_t i = 0; i < n; i++)
				fprintf(stderr, " %s", fmt_reader_file_at(r, i)->name);
			fputc('\n', stderr);
		} else {
			fprintf(stderr, "this file has no embedded files\n");
		}
		return CLI_FAIL;
	}
	uint8_t *buf;
	size_t len;
	fmt_error err;
	fmt_status st = fmt_file_extract(f, &buf, &len, &err);
	if (st != FMT_OK) {
		cli_error("inspect", "%s: %s [%s]", o->path, err.msg, fmt_status_name(st));
		return CLI_FAIL;
	}
	FILE *out = stdout;
	if (o->output) {
		out = fopen(o->output, "wb");
		if (!out) {
			cli_error("inspect", "cannot write %s: %s", o->output, strerror(errno));
			free(buf);
			return CLI_FAIL;
		}
	}
	size_t w = len ? fwrite(buf, 1, len, out) : 0;
	int rc = (out == stdout) ? fflush(out) : fclose(out);
	free(buf);
	if (w != len || rc != 0) {
		cli_error("inspect", "write failed: %s", strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

static void print_summary(const fmt_reader *r, const inspect_opts *o)
{
	const fmt_header *h = fmt_reader_header(r);
	char fb[32];
	cli_format_bytes(h->file_bytes, fb, sizeof fb);
	printf("file:     %s (%s, %llu bytes)\n", o->path, fb, (unsigned long long)h->file_bytes);
	printf("format:   bale %u.%u, alignment %u, %u sections, header xxh3 %016llx\n", h->major, h->minor, h->alignment,
	       h->n_sections, (unsigned long long)h->header_checksum);

	const fmt_kvlist *meta = fmt_reader_kv(r, FMT_SEC_META);
	const char *arch = NULL;
	size_t arch_len = 0;
	uint32_t nl = 0, dm = 0, nh = 0, nkv = 0, hd = 0, ff = 0, voc = 0, ctx = 0;
	if (fmt_kv_str(meta, "general.architecture", &arch, &arch_len, NULL) == FMT_OK) {
		fmt_kv_u32(meta, "model.n_layers", &nl, NULL);
		fmt_kv_u32(meta, "model.d_model", &dm, NULL);
		fmt_kv_u32(meta, "model.n_heads", &nh, NULL);
		fmt_kv_u32(meta, "model.n_kv_heads", &nkv, NULL);
		fmt_kv_u32(meta, "model.head_dim", &hd, NULL);
		fmt_kv_u32(meta, "model.d_ff", &ff, NULL);
		fmt_kv_u32(meta, "model.vocab_size", &voc, NULL);
		fmt_kv_u32(meta, "model.max_ctx", &ctx, NULL);
		printf("model:    %.*s, %u layers, d_model %u, %u heads (%u kv, head_dim %u), d_ff %u, vocab %u, ctx %u\n",
		       (int)arch_len, arch, nl, dm, nh, nkv, hd, ff, voc, ctx);
	}

	printf("\nsections:\n  %-15s %12s %12s  %s\n", "kind", "offset", "bytes", "xxh3");
	for (size_t i = 0; i < fmt_reader_n_sections(r); i++) {
		const fmt_section *s = fmt_reader_section_at(r, i);
		printf("  %-15s %12llu %12llu  %016llx\n", fmt_section_name(s->kind), (unsigned long long)s->offset,
		       (unsigned long long)s->bytes, (unsigned long long)s->checksum);
	}

	static const struct {
		fmt_section_kind kind;
		const char *title;
	} kvs[] = {{FMT_SEC_META, "metadata"},
		   {FMT_SEC_GENERATION, "generation defaults"},
		   {FMT_SEC_PROVENANCE, "provenance"},
		   {FMT_SEC_CHAT_TEMPLATES, "chat templates"}};
	for (size_t k = 0; k < sizeof kvs / sizeof kvs[0]; k++) {
		const fmt_kvlist *l = fmt_reader_kv(r, kvs[k].kind);
		if (!l)
			continue;
		printf("\n%s (%zu):\n", kvs[k].title, fmt_kv_count(l));
		for (size_t i = 0; i < fmt_kv_count(l); i++)
			print_kv(stdout, fmt_kv_at(l, i));
	}

	size_t nf = fmt_reader_n_files(r);
	if (nf) {
		printf("\nembedded files (%zu; extract with --extract NAME):\n", nf);
		for (size_t i = 0; i < nf; i++) {
			const fmt_file *f = fmt_reader_file_at(r, i);
			printf("  %-28s %10llu bytes (zstd %llu)\n", f->name, (unsigned long long)f->raw_bytes,
			       (unsigned long long)f->z_bytes);
		}
	}

	size_t nt = fmt_reader_n_tensors(r);
	printf("\ntensors (%zu):\n  %-4s %-28s %-11s %-20s %12s %12s %9s\n", nt, "#", "name", "type", "shape", "bytes",
	       "offset", "rel.err");
	for (size_t i = 0; i < nt; i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		char sh[96], ty[24], er[16] = "-";
		shape_str(t, sh, sizeof sh);
		type_str(t, ty, sizeof ty);
		if (t->src_rms > 0 && t->err_rmse > 0)
			snprintf(er, sizeof er, "%.3g%%", 100.0 * t->err_rmse / t->src_rms);
		printf("  %-4zu %-28s %-11s %-20s %12llu %12llu %9s\n", i, t->name, ty, sh, (unsigned long long)t->data_bytes,
		       (unsigned long long)t->data_offset, er);
	}

	type_total tt[32];
	size_t ntt = type_totals(r, tt, 32);
	printf("\ntotals by type:\n");
	for (size_t i = 0; i < ntt; i++) {
		char b[32];
		cli_format_bytes(tt[i].bytes, b, sizeof b);
		printf("  %-11s %5llu tensors %14llu params %12s\n", tt[i].type, (unsigned long long)tt[i].n,
		       (unsigned long long)tt[i].elems, b);
	}

	cli_plan_print_inspect(stdout, r);
}

static json_t *summary_json(const fmt_reader *r, const inspect_opts *o)
{
	const fmt_header *h = fmt_reader_header(r);
	json_t *root = json_object();
	json_object_set_new(root, "file", json_string(o->path));
	json_t *hj = json_object();
	json_object_set_new(hj, "version", json_sprintf("%u.%u", h->major, h->minor));
	json_object_set_new(hj, "alignment", json_integer(h->alignment));
	json_object_set_new(hj, "file_bytes", json_integer((json_int_t)h->file_bytes));
	json_object_set_new(hj, "n_sections", json_integer(h->n_sections));
	json_object_set_new(hj, "header_xxh3", json_sprintf("%016llx", (unsigned long long)h->header_checksum));
	json_object_set_new(root, "header", hj);
	json_t *sj = json_array();
	for (size_t i = 0; i < fmt_reader_n_sections(r); i++) {
		const fmt_section *s = fmt_reader_section_at(r, i);
		json_t *e = json_object();
		json_object_set_new(e, "kind", json_string(fmt_section_name(s->kind)));
		json_object_set_new(e, "offset", json_integer((json_int_t)s->offset));
		json_object_set_new(e, "bytes", json_integer((json_int_t)s->bytes));
		json_array_append_new(sj, e);
	}
	json_object_set_new(root, "sections", sj);
	json_object_set_new(root, "metadata", kvlist_json(fmt_reader_kv(r, FMT_SEC_META)));
	json_object_set_new(root, "generation", kvlist_json(fmt_reader_kv(r, FMT_SEC_GENERATION)));
	json_object_set_new(root, "provenance", kvlist_json(fmt_reader_kv(r, FMT_SEC_PROVENANCE)));
	json_t *ct = json_object();
	const fmt_kvlist *cl = fmt_reader_kv(r, FMT_SEC_CHAT_TEMPLATES);
	for (size_t i = 0; cl && i < fmt_kv_count(cl); i++)
		json_object_set_new(ct, fmt_kv_at(cl, i)->key, json_integer((json_int_t)fmt_kv_at(cl, i)->str_len));
	json_object_set_new(root, "chat_template_bytes", ct);
	json_t *fj = json_array();
	for (size_t i = 0; i < fmt_reader_n_files(r); i++) {
		const fmt_file *f = fmt_reader_file_at(r, i);
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(f->name));
		json_object_set_new(e, "bytes", json_integer((json_int_t)f->raw_bytes));
		json_object_set_new(e, "zstd_bytes", json_integer((json_int_t)f->z_bytes));
		json_array_append_new(fj, e);
	}
	json_object_set_new(root, "files", fj);
	json_t *tj = json_array();
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++)
		json_array_append_new(tj, tensor_json(fmt_reader_tensor_at(r, i)));
	json_object_set_new(root, "tensors", tj);
	type_total tt[32];
	size_t ntt = type_totals(r, tt, 32);
	json_t *tot = json_array();
	for (size_t i = 0; i < ntt; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "type", json_string(tt[i].type));
		json_object_set_new(e, "tensors", json_integer((json_int_t)tt[i].n));
		json_object_set_new(e, "params", json_integer((json_int_t)tt[i].elems));
		json_object_set_new(e, "bytes", json_integer((json_int_t)tt[i].bytes));
		json_array_append_new(tot, e);
	}
	json_object_set_new(root, "totals", tot);
	json_t *mj = json_object();
	cli_plan_inspect_json(r, mj);
	json_object_set_new(root, "memory", mj);
	return root;
}

static int parse_args(int argc, char **argv, inspect_opts *o)
{
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_inspect_help(stdout);
			return -1;
		} else if (!strcmp(a, "--verify")) {
			o->verify = true;
		} else if (!strcmp(a, "--stats")) {
			o->stats = true;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			o->quiet = true;
		} else if (!strcmp(a, "--tensor") || !strcmp(a, "--extract") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
			   !strcmp(a, "--threads")) {
			if (!next) {
				cli_error("inspect", "option %s needs a value", a);
				return CLI_USAGE;
			}
			i++;
			if (!strcmp(a, "--tensor"))
				o->tensor = next;
			else if (!strcmp(a, "--extract"))
				o->extract = next;
			else if (!strcmp(a, "--threads")) {
				if (!cli_parse_int(next, 0, 1024, &o->threads)) {
					cli_error("inspect", "--threads: expected an integer 0..1024, got '%s'", next);
					return CLI_USAGE;
				}
			} else
				o->output = next;
		} else if (a[0] == '-' && a[1]) {
			cli_error("inspect", "unknown option '%s' (see 'bale help inspect')", a);
			return CLI_USAGE;
		} else if (!o->path) {
			o->path = a;
		} else {
			cli_error("inspect", "unexpected argument '%s' (one file at a time)", a);
			return CLI_USAGE;
		}
	}
	if (!o->path) {
		cli_error("inspect", "missing FILE (usage: bale inspect FILE.bale [options])");
		return CLI_USAGE;
	}
	if (o->stats && !o->tensor) {
		cli_error("inspect", "--stats needs --tensor NAME");
		return CLI_USAGE;
	}
	if (o->output && !o->extract) {
		cli_error("inspect", "--output is only used with --extract");
		return CLI_USAGE;
	}
	if (o->extract && (o->tensor || o->verify || o->json)) {
		cli_error("inspect", "--extract cannot be combined with --tensor, --verify or --json");
		return CLI_USAGE;
	}
	return 0;
}

int cmd_inspect(int argc, char **argv)
{
	inspect_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc < 0)
		return CLI_OK;
	if (rc)
		return rc;

	fmt_reader *r = NULL;
	fmt_error err;
	fmt_status st = fmt_reader_open(o.path, &r, &err);
	if (st != FMT_OK) {
		cli_error("inspect", "%s: %s [%s]", o.path, err.msg, fmt_status_name(st));
		if (o.json) {
			json_t *j = json_pack("{s:s, s:b, s:s, s:s, s:I}", "file", o.path, "valid", 0, "status",
					      fmt_status_name(st), "error", err.msg, "offset",
					      (json_int_t)(err.offset == UINT64_MAX ? -1 : (long long)err.offset));
			if (j) {
				json_dumpf(j, stdout, JSON_INDENT(2));
				fputc('\n', stdout);
				json_decref(j);
			}
		}
		return CLI_FAIL;
	}

	if (o.extract) {
		rc = do_extract(r, &o);
		fmt_reader_close(r);
		return rc;
	}

	json_t *root = NULL;
	if (o.json) {
		root = o.tensor ? json_object() : summary_json(r, &o);
		json_object_set_new(root, "valid", json_true());
	}
	rc = CLI_OK;
	if (o.tensor)
		rc = do_tensor(r, &o, root);
	else if (!o.json)
		print_summary(r, &o);
	if (rc == CLI_OK && o.verify)
		rc = do_verify(r, &o, root);
	if (root) {
		if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0)
			rc = CLI_FAIL;
		fputc('\n', stdout);
		json_decref(root);
	}
	fmt_reader_close(r);
	if (fflush(stdout) != 0)
		rc = CLI_FAIL;
	return rc;
}
