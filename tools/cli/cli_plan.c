/* --device / --vram / --dry-run and the memory tables built on runtime/plan. */
#include "cli_plan.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kn_cuda.h"
#include "plan.h"
#include "rt_model.h"

/* gen_session's defaults (runtime/gen/gen_session.c), which a run without --ctx would use. */
#define CLI_PLAN_DEFAULT_CTX 4096u
#define CLI_PLAN_DEFAULT_BATCH 64u
#define CLI_VRAM_MIN ((uint64_t)1 << 20)
#define CLI_VRAM_MAX ((uint64_t)1 << 50)

int cli_device_option(const char *cmd, const char *opt, const char *val, cli_device_opts *d)
{
	if (!strcmp(opt, "--device")) {
		if (!strcmp(val, "cpu"))
			d->cuda = false;
		else if (!strcmp(val, "cuda"))
			d->cuda = true;
		else {
			cli_error(cmd, "--device: '%s' is not cpu or cuda", val);
			return -1;
		}
		return 1;
	}
	if (!strcmp(opt, "--vram")) {
		uint64_t v;
		if (!cli_parse_size(val, &v) || v < CLI_VRAM_MIN || v > CLI_VRAM_MAX) {
			cli_error(cmd, "--vram: '%s' is not a size between 1M and 1024T (e.g. 40G, 24GiB, 512M)", val);
			return -1;
		}
		d->vram = v;
		return 1;
	}
	return 0;
}

int cli_device_check(const char *cmd, const cli_device_opts *d)
{
	if (d->cuda && d->kv_f32) {
		cli_error(cmd, "--kv f32 is CPU-only; the GPU KV cache is bf16 or fp8");
		return -1;
	}
	return 0;
}

void cli_device_help(FILE *out)
{
	fprintf(out,
		"  --device cpu|cuda    where to run (default cpu). cuda: the weights are uploaded to GPU 0\n"
		"                       after checking the memory plan against its free memory (docs/GPU.md)\n"
		"  --vram SIZE          GPU memory budget, e.g. 24G (default 40G; the device's free memory\n"
		"                       when smaller). --kv bf16|fp8 selects the GPU KV cache (default bf16)\n"
		"  --no-verify-load     with cuda: skip the checksum of each tensor during the upload\n"
		"  --embed-on-device    with cuda: upload the embedding table too (default: it stays in host\n"
		"                       memory, where each step's rows are dequantized; saves its VRAM)\n");
}

/* ---- inputs ------------------------------------------------------------------------------- */

typedef struct {
	fmt_reader *r;
	pl_tensor *tensors;
	size_t n_tensors;
	pl_dims dims;
} plan_src;

static void src_free(plan_src *s)
{
	free(s->tensors);
	fmt_reader_close(s->r);
	memset(s, 0, sizeof *s);
}

static int src_open(const char *cmd, const char *path, plan_src *s)
{
	memset(s, 0, sizeof *s);
	fmt_error fe;
	fmt_status fs = fmt_reader_open(path, &s->r, &fe);
	if (fs != FMT_OK) {
		cli_error(cmd, "%s: %s [%s]", path, fe.msg, fmt_status_name(fs));
		return CLI_FAIL;
	}
	char err[256];
	if (pl_tensors_from_reader(s->r, &s->tensors, &s->n_tensors, err, sizeof err) != PL_OK ||
	    pl_dims_from_meta(fmt_reader_kv(s->r, FMT_SEC_META), &s->dims, err, sizeof err) != PL_OK) {
		cli_error(cmd, "%s: %s", path, err);
		src_free(s);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static uint32_t resolve_ctx(const pl_dims *d, uint32_t ctx)
{
	if (ctx)
		return ctx;
	return d->max_ctx && d->max_ctx < CLI_PLAN_DEFAULT_CTX ? d->max_ctx : CLI_PLAN_DEFAULT_CTX;
}

static int check_ctx(const char *cmd, const pl_dims *d, uint32_t ctx)
{
	if (d->max_ctx && ctx > d->max_ctx) {
		cli_error(cmd, "context %u is larger than the model's maximum (model.max_ctx %u)", ctx, d->max_ctx);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The first device's free memory, or 0 with the reason in why. */
static uint64_t device_free(char *name, size_t name_len, char *why, size_t why_len)
{
	name[0] = why[0] = 0;
	if (kn_cuda_device_count(why, why_len) <= 0) {
		if (!why[0])
			snprintf(why, why_len, "no CUDA device");
		return 0;
	}
	kn_cuda_device_info info;
	if (kn_cuda_device_info_get(0, &info, why, why_len) != 0)
		return 0;
	snprintf(name, name_len, "%s", info.name);
	return info.free_bytes ? (uint64_t)info.free_bytes : 0;
}

static pl_request gpu_request(const plan_src *s, const cli_device_opts *d, uint32_t ctx, uint64_t dev_free)
{
	return (pl_request){.tensors = s->tensors,
			    .n_tensors = s->n_tensors,
			    .dims = s->dims,
			    .kv_type = d->kv_fp8 ? PL_KV_FP8 : PL_KV_BF16,
			    .ctx = ctx,
			    .n_seq = 1,
			    .embed_on_host = !d->embed_on_device,
			    .vram_bytes = d->vram,
			    .device_free = dev_free};
}

/* ---- printing ----------------------------------------------------------------------------- */

static const char *B(uint64_t n, char buf[32])
{
	cli_format_bytes(n, buf, 32);
	return buf;
}

static uint32_t cap_model(uint32_t max, const pl_dims *d) { return d->max_ctx && max > d->max_ctx ? d->max_ctx : max; }

static void print_gpu_plan(FILE *out, const pl_plan *p, const pl_dims *d)
{
	char a[32], b[32], c[32], e[32], f[32], g[32];
	fprintf(out, "  context          %u positions x %u sequence%s, %s KV in pages of %u tokens (%llu pages)\n", p->ctx,
		p->n_seq, p->n_seq == 1 ? "" : "s", pl_kv_name(p->kv_type), p->page_tokens,
		(unsigned long long)p->n_pages);
	fprintf(out, "  weights          %s on the GPU", B(p->weights, a));
	if (p->embed_host)
		fprintf(out, " (+ %s embedding table kept in host memory)", B(p->embed_host, b));
	else if (p->tied)
		fprintf(out, " (tied embeddings: the table is also the LM head)");
	fputc('\n', out);
	fprintf(out, "  KV cache         %s (%s per page", B(p->kv, a), B(p->page_bytes, b));
	if (p->kv_scales)
		fprintf(out, "; %s of FP8 scales", B(p->kv_scales, c));
	fprintf(out, ")\n");
	fprintf(out,
		"  workspace        %s (activations %s for %u-token steps, logits %s, attention partials %s, RoPE table "
		"%s, page table %s)\n",
		B(p->workspace, a), B(p->ws.act, b), p->ws.step_tokens, B(p->ws.logits, c), B(p->ws.attn_split, e),
		B(p->ws.rope, f), B(p->ws.page_table, g));
	fprintf(out, "  reserve          %s (CUDA context, kernels, allocator slack: an estimate)\n", B(p->reserve, a));
	fprintf(out, "  total            %s of %s budget: %s\n", B(p->total, a), B(p->budget, b),
		p->fits ? "fits" : "does NOT fit");
	fprintf(out, "  max context      %u (BF16 KV), %u (FP8 KV)", cap_model(p->max_ctx_bf16, d),
		cap_model(p->max_ctx_fp8, d));
	if (d->max_ctx && (p->max_ctx_bf16 >= d->max_ctx || p->max_ctx_fp8 >= d->max_ctx))
		fprintf(out, " — capped at the model's max_ctx %u", d->max_ctx);
	fprintf(out, "\n");
}

static int gpu_dry_run(const char *cmd, const char *model, const plan_src *s, const cli_device_opts *d, uint32_t ctx)
{
	char name[256], why[256], a[32], b[32];
	uint64_t dev_free = device_free(name, sizeof name, why, sizeof why);
	pl_request q = gpu_request(s, d, ctx, dev_free);
	pl_plan p;
	char err[640];
	pl_status st = pl_plan_compute(&q, &p, err, sizeof err);
	if (st != PL_OK && st != PL_E_NOFIT) {
		cli_error(cmd, "%s: %s", model, err);
		return CLI_FAIL;
	}
	printf("plan: %s on cuda (dry run: nothing is allocated or computed)\n", model);
	if (dev_free)
		printf("  device           %s, %s free\n", name, B(dev_free, a));
	else
		printf("  device           none usable here (%s); budget from --vram alone\n", why);
	printf("  budget           %s (--vram %s%s)\n", B(p.budget, a), B(p.vram_bytes, b),
	       d->vram ? "" : ", the default");
	print_gpu_plan(stdout, &p, &s->dims);
	if (st == PL_E_NOFIT) {
		cli_error(cmd, "%s", err);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return 0;
	char line[256];
	unsigned long long kb = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

static const char *kv_label(kn_kv_type t) { return t == KN_KV_BF16 ? "BF16" : t == KN_KV_F8 ? "FP8" : "F32"; }

static int cpu_dry_run(const char *cmd, const char *model, const plan_src *s, uint32_t ctx, kn_kv_type kv,
		       uint32_t max_batch)
{
	rt_model *m = NULL;
	rt_error re;
	if (rt_model_create(s->r, NULL, &m, &re) != RT_OK) {
		cli_error(cmd, "%s: %s", model, re.msg);
		return CLI_FAIL;
	}
	size_t state = 0;
	rt_state_opts so = {.max_ctx = ctx,
			    .max_batch = max_batch ? max_batch : CLI_PLAN_DEFAULT_BATCH,
			    .kv_type = kv};
	rt_status rs = rt_state_size(m, &so, &state, &re);
	rt_model_free(m);
	if (rs != RT_OK) {
		cli_error(cmd, "%s: %s", model, re.msg);
		return CLI_FAIL;
	}
	uint64_t weights = 0;
	for (size_t i = 0; i < s->n_tensors; i++)
		if (__builtin_add_overflow(weights, s->tensors[i].bytes, &weights))
			weights = UINT64_MAX; /* saturate: only printed */
	char a[32], b[32];
	printf("plan: %s on cpu (dry run: nothing is allocated or computed)\n", model);
	printf("  context          %u positions, %s KV, prefill steps of %u tokens\n", ctx, kv_label(kv), so.max_batch);
	printf("  weights          %s mapped from the file (page cache, not copied)\n", B(weights, a));
	printf("  KV + activations %s allocated by the session\n", B((uint64_t)state, a));
	uint64_t avail = mem_available();
	uint64_t total;
	if (__builtin_add_overflow(weights, (uint64_t)state, &total))
		total = UINT64_MAX;
	printf("  total            %s", B(total, a));
	if (avail)
		printf(" (available memory now: %s%s)", B(avail, b),
		       total > avail ? "; the weights will be re-read from disk as needed" : "");
	printf("\n");
	return CLI_OK;
}

int cli_plan_dry_run(const char *cmd, const char *model, const cli_device_opts *d, uint32_t ctx, kn_kv_type cpu_kv,
		     uint32_t max_batch)
{
	plan_src s;
	if (src_open(cmd, model, &s) != CLI_OK)
		return CLI_FAIL;
	ctx = resolve_ctx(&s.dims, ctx);
	int rc = check_ctx(cmd, &s.dims, ctx);
	if (rc == CLI_OK)
		rc = d->cuda ? gpu_dry_run(cmd, model, &s, d, ctx) : cpu_dry_run(cmd, model, &s, ctx, cpu_kv, max_batch);
	src_free(&s);
	if (fflush(stdout) != 0)
		rc = CLI_FAIL;
	return rc;
}

int cli_device_cuda_preflight(const char *cmd, const char *model, const cli_device_opts *d, uint32_t ctx, char *name,
			      size_t name_len)
{
	char why[256];
	uint64_t dev_free = device_free(name, name_len, why, sizeof why);
	if (!name[0]) {
		cli_error(cmd, "--device cuda: no usable GPU: %s", why);
		return -1;
	}
	if (!model)
		return 0;
	plan_src s;
	if (src_open(cmd, model, &s) != CLI_OK)
		return -1;
	ctx = resolve_ctx(&s.dims, ctx);
	if (check_ctx(cmd, &s.dims, ctx) != CLI_OK) {
		src_free(&s);
		return -1;
	}
	pl_request q = gpu_request(&s, d, ctx, dev_free);
	pl_plan p;
	char err[640];
	pl_status st = pl_plan_compute(&q, &p, err, sizeof err);
	src_free(&s);
	if (st != PL_OK) {
		cli_error(cmd, "%s: %s", model, err);
		return -1;
	}
	return 0;
}

/* ---- bale inspect ------------------------------------------------------------------------- */

/* 4K/32K/64K/128K up to the model's max_ctx, and max_ctx itself. */
static size_t inspect_contexts(const pl_dims *d, uint32_t out[5])
{
	static const uint32_t std_ctx[] = {4096, 32768, 65536, 131072};
	size_t n = 0;
	for (size_t i = 0; i < 4; i++)
		if (!d->max_ctx || std_ctx[i] <= d->max_ctx)
			out[n++] = std_ctx[i];
	if (d->max_ctx && (!n || out[n - 1] != d->max_ctx))
		out[n++] = d->max_ctx;
	return n;
}

typedef struct {
	bool ok;
	char err[256];
	pl_dims dims;
	uint64_t raw_weights, embd, kv1k_bf16, kv1k_fp8;
	pl_plan base;          /* BF16 at the first context: weights, maxima */
	uint32_t ctx[5];
	pl_plan bf16[5], fp8[5];
	size_t n_ctx;
} inspect_plan;

static void inspect_compute(const fmt_reader *r, inspect_plan *ip)
{
	memset(ip, 0, sizeof *ip);
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		if (__builtin_add_overflow(ip->raw_weights, t->data_bytes, &ip->raw_weights))
			ip->raw_weights = UINT64_MAX; /* saturate: only reported */
		if (!strcmp(t->name, "tok_embd"))
			ip->embd = t->data_bytes;
	}
	pl_tensor *tensors = NULL;
	size_t nt = 0;
	if (pl_dims_from_meta(fmt_reader_kv(r, FMT_SEC_META), &ip->dims, ip->err, sizeof ip->err) != PL_OK ||
	    pl_tensors_from_reader(r, &tensors, &nt, ip->err, sizeof ip->err) != PL_OK)
		return;
	if (pl_kv_bytes(&ip->dims, PL_KV_BF16, 0, 1024, &ip->kv1k_bf16, ip->err, sizeof ip->err) != PL_OK ||
	    pl_kv_bytes(&ip->dims, PL_KV_FP8, 0, 1024, &ip->kv1k_fp8, ip->err, sizeof ip->err) != PL_OK) {
		free(tensors);
		return;
	}
	ip->n_ctx = inspect_contexts(&ip->dims, ip->ctx);
	pl_request q = {.tensors = tensors, .n_tensors = nt, .dims = ip->dims, .n_seq = 1, .embed_on_host = true};
	for (size_t i = 0; i < ip->n_ctx; i++) {
		q.ctx = ip->ctx[i];
		q.kv_type = PL_KV_BF16;
		pl_status a = pl_plan_compute(&q, &ip->bf16[i], ip->err, sizeof ip->err);
		q.kv_type = PL_KV_FP8;
		pl_status b = pl_plan_compute(&q, &ip->fp8[i], ip->err, sizeof ip->err);
		if ((a != PL_OK && a != PL_E_NOFIT) || (b != PL_OK && b != PL_E_NOFIT)) {
			free(tensors);
			return;
		}
	}
	free(tensors);
	ip->base = ip->bf16[0];
	ip->err[0] = 0;
	ip->ok = true;
}

void cli_plan_print_inspect(FILE *out, const fmt_reader *r)
{
	inspect_plan *ip = malloc(sizeof *ip);
	if (!ip)
		return;
	inspect_compute(r, ip);
	char a[32], b[32], c[32], e[32];
	fprintf(out, "\nGPU memory plan (budget %s, embedding table in host memory; see bale run --dry-run --device cuda):\n",
		B(PL_DEFAULT_VRAM, a));
	if (!ip->ok) {
		fprintf(out, "  weights:                %s\n  (no plan: %s)\n", B(ip->raw_weights, a), ip->err);
		free(ip);
		return;
	}
	const pl_plan *p = &ip->base;
	fprintf(out, "  weights on the GPU:     %s", B(p->weights, a));
	if (p->embed_host)
		fprintf(out, " (+ %s embedding table in host memory)", B(p->embed_host, b));
	fprintf(out, "\n  KV cache per 1K tokens: %s (BF16), %s (FP8)\n", B(ip->kv1k_bf16, a), B(ip->kv1k_fp8, b));
	fprintf(out, "  reserve:                %s (CUDA context and allocator; an estimate)\n", B(p->reserve, a));
	fprintf(out, "  max context in %s: %u (BF16 KV), %u (FP8 KV)", B(p->budget, a), cap_model(p->max_ctx_bf16, &ip->dims),
		cap_model(p->max_ctx_fp8, &ip->dims));
	if (ip->dims.max_ctx && p->max_ctx_fp8 >= ip->dims.max_ctx)
		fprintf(out, " (model max_ctx %u; the budget allows %u / %u)", ip->dims.max_ctx, p->max_ctx_bf16,
			p->max_ctx_fp8);
	fprintf(out, "\n  %9s  %12s %12s %5s  %12s %12s %5s\n", "context", "KV BF16", "total", "fits", "KV FP8", "total",
		"fits");
	for (size_t i = 0; i < ip->n_ctx; i++)
		fprintf(out, "  %9u  %12s %12s %5s  %12s %12s %5s\n", ip->ctx[i], B(ip->bf16[i].kv, a),
			B(ip->bf16[i].total, b), ip->bf16[i].fits ? "yes" : "no", B(ip->fp8[i].kv, c),
			B(ip->fp8[i].total, e), ip->fp8[i].fits ? "yes" : "no");
	free(ip);
}

static json_t *plan_json(const pl_plan *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "kv_bytes", json_integer((json_int_t)p->kv));
	json_object_set_new(o, "workspace_bytes", json_integer((json_int_t)p->workspace));
	json_object_set_new(o, "total_bytes", json_integer((json_int_t)p->total));
	json_object_set_new(o, "fits", json_boolean(p->fits));
	return o;
}

void cli_plan_inspect_json(const fmt_reader *r, json_t *mem)
{
	inspect_plan *ip = malloc(sizeof *ip);
	if (!ip)
		return;
	inspect_compute(r, ip);
	json_object_set_new(mem, "weight_bytes", json_integer((json_int_t)ip->raw_weights));
	json_object_set_new(mem, "embedding_bytes", json_integer((json_int_t)ip->embd));
	if (!ip->ok) {
		if (ip->err[0])
			json_object_set_new(mem, "plan_error", json_string(ip->err));
		free(ip);
		return;
	}
	const pl_plan *p = &ip->base;
	json_object_set_new(mem, "kv_bf16_bytes_per_1k_tokens", json_integer((json_int_t)ip->kv1k_bf16));
	json_object_set_new(mem, "kv_fp8_bytes_per_1k_tokens", json_integer((json_int_t)ip->kv1k_fp8));
	json_t *pj = json_object();
	json_object_set_new(pj, "budget_bytes", json_integer((json_int_t)p->budget));
	json_object_set_new(pj, "reserve_bytes", json_integer((json_int_t)p->reserve));
	json_object_set_new(pj, "page_tokens", json_integer(p->page_tokens));
	json_object_set_new(pj, "embed_on_host", json_boolean(p->embed_on_host));
	json_object_set_new(pj, "device_weight_bytes", json_integer((json_int_t)p->weights));
	json_object_set_new(pj, "host_embedding_bytes", json_integer((json_int_t)p->embed_host));
	json_object_set_new(pj, "max_ctx_bf16", json_integer(cap_model(p->max_ctx_bf16, &ip->dims)));
	json_object_set_new(pj, "max_ctx_fp8", json_integer(cap_model(p->max_ctx_fp8, &ip->dims)));
	json_object_set_new(pj, "budget_max_ctx_bf16", json_integer(p->max_ctx_bf16));
	json_object_set_new(pj, "budget_max_ctx_fp8", json_integer(p->max_ctx_fp8));
	json_t *rows = json_array();
	for (size_t i = 0; i < ip->n_ctx; i++) {
		json_t *row = json_object();
		json_object_set_new(row, "ctx", json_integer(ip->ctx[i]));
		json_object_set_new(row, "bf16", plan_json(&ip->bf16[i]));
		json_object_set_new(row, "fp8", plan_json(&ip->fp8[i]));
		json_array_append_new(rows, row);
	}
	json_object_set_new(pj, "contexts", rows);
	json_object_set_new(mem, "gpu_plan", pj);
	free(ip);
}
