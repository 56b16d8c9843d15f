/* bale bench --device cuda — the GPU runtime (runtime/cuda) against the device's own copy
 * bandwidth: prefill speed at several prompt lengths, decode speed at several contexts, batched
 * decode throughput, and for every decode row how much of the copy bandwidth the step's weight and
 * KV reads achieve. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_bench.h"
#include "cli_plan.h"
#include "kn_cuda.h"
#include "plan.h"
#include "rc.h"

#define CB_MAX_LIST 16
#define CB_BATCH_CONTEXT 1024u                 /* positions each sequence holds in batched rows */
#define CB_DUMMY_MAX_CTX 131072u                /* dummy shapes allow what DeepSeek-R1-0528-Qwen3-8B does */
#define CB_SLACK ((uint64_t)256 << 20)          /* allocator and graph slack kept free */
#define CB_WARMUP 3                             /* untimed decode steps (graph capture, clocks) */
#define CB_COPY_REPS 10
#define CB_PREFILL_REPS 3

void cmd_bench_cuda_help(FILE *out)
{
	fprintf(out,
		"with --device cuda (docs/GPU.md \"bale bench\"):\n"
		"  bale bench --device cuda (MODEL.bale | --dummy NAME [--weights TYPE]) [options]\n"
		"Measures the device copy bandwidth (a device-to-device copy of --copy-size, bytes read +\n"
		"written, median of 10), prefill tok/s, batch-1 decode tok/s at several contexts, batched\n"
		"decode tok/s (summed over sequences, each holding 1024 positions), and for each decode row\n"
		"the bytes a step reads (weights + KV) x steps/s as %% of the copy bandwidth, with the\n"
		"roofline tok/s that bandwidth would allow. --dummy weights are generated on the device.\n"
		"  --prefill LIST       prompt lengths (default 512,2048,8192; -p N = one length)\n"
		"  --contexts LIST      batch-1 decode contexts (default 0,8K,32K,64K)\n"
		"  --batch LIST         batched decode sizes (default 8,32); 'none' skips a list\n"
		"  -n N                 timed decode steps per row (default 64)\n"
		"  --kv bf16|fp8        KV cache type (default bf16)\n"
		"  --vram SIZE          budget for weights + states (default 40G); rows that do not fit are\n"
		"                       skipped, saying so\n"
		"  --copy-size SIZE     buffer of the copy measurement (default 1G)\n"
		"  --no-verify-load     MODEL.bale: skip the checksums during the upload\n"
		"  --json               one JSON object on stdout\n"
		"Without a usable GPU: exit 1 with the reason.\n");
}

typedef struct {
	uint32_t v[CB_MAX_LIST];
	size_t n;
} cb_list;

typedef struct {
	const char *model, *dummy, *weights;
	cli_device_opts dev;
	rc_kv_type kv;
	cb_list prefill, contexts, batch;
	long n_decode;
	uint64_t copy_bytes;
	bool json, no_verify;
} cb_opts;

typedef struct {
	bool decode;
	uint32_t tokens;  /* prefill: prompt length */
	uint32_t batch, context;
	int state;        /* 0 ok, 1 skipped, 2 failed */
	char note[640];
	double tok_s, ms; /* ms per prompt (prefill) or per step (decode) */
	double step_bytes, gb_s, pct_copy, roofline_tok_s;
} cb_row;

typedef struct {
	rc_model *g;
	const rt_config *c;
	uint64_t vram;        /* budget for what this run allocates */
	size_t used0;         /* device memory in use before the model */
	size_t peak;          /* the most seen in use */
	double copy_bw;       /* bytes/s */
	double kv_token;      /* KV bytes per position (all layers, K and V) */
	uint64_t weight_step; /* bytes a decode step reads from the weights */
	uint64_t rng;
} cb_env;

/* ---- options ---- */

/* Comma-separated integers with optional K/M suffixes (binary: 8K = 8192), or "none". */
static int parse_list(const char *opt, const char *s, uint64_t lo, uint64_t hi, cb_list *l)
{
	l->n = 0;
	if (!strcmp(s, "none"))
		return 0;
	char buf[512];
	if (strlen(s) >= sizeof buf || !*s) {
		cli_error("bench", "%s: '%s' is not a list like 512,2K", opt, s);
		return -1;
	}
	strcpy(buf, s);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (!cli_parse_size(t, &v) || v < lo || v > hi || l->n == CB_MAX_LIST) {
			cli_error("bench", "%s: '%s' is not a list of at most %d integers in [%llu, %llu]", opt, s,
				  CB_MAX_LIST, (unsigned long long)lo, (unsigned long long)hi);
			return -1;
		}
		l->v[l->n++] = (uint32_t)v;
	}
	if (!l->n) {
		cli_error("bench", "%s: '%s' has no values", opt, s);
		return -1;
	}
	return 0;
}

static int parse(int argc, char **argv, cb_opts *o)
{
	*o = (cb_opts){.kv = RC_KV_BF16, .n_decode = 64, .copy_bytes = (uint64_t)1 << 30,
		       .prefill = {{512, 2048, 8192}, 3}, .contexts = {{0, 8192, 32768, 65536}, 4},
		       .batch = {{8, 32}, 2}};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool val = !strcmp(a, "-p") || !strcmp(a, "-n") || !strcmp(a, "--kv") || !strcmp(a, "--dummy") ||
			   !strcmp(a, "--weights") || !strcmp(a, "--copy-size") || !strcmp(a, "--device") ||
			   !strcmp(a, "--vram") || !strcmp(a, "--prefill") || !strcmp(a, "--contexts") ||
			   !strcmp(a, "--batch");
		if (val && i + 1 >= argc) {
			cli_error("bench", "%s needs a value", a);
			return -1;
		}
		const char *v = val ? argv[++i] : NULL;
		long n;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_bench_cuda_help(stdout);
			return 1;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--no-verify-load")) {
			o->no_verify = true;
		} else if (!strcmp(a, "-n")) {
			if (!cli_parse_int(v, 1, 100000, &n)) {
				cli_error("bench", "-n: '%s' is not an integer in [1, 100000]", v);
				return -1;
			}
			o->n_decode = n;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--prefill")) {
			if (parse_list(a, v, 1, (uint64_t)1 << 20, &o->prefill) < 0)
				return -1;
		} else if (!strcmp(a, "--contexts")) {
			if (parse_list(a, v, 0, (uint64_t)1 << 24, &o->contexts) < 0)
				return -1;
		} else if (!strcmp(a, "--batch")) {
			if (parse_list(a, v, 1, 1024, &o->batch) < 0)
				return -1;
		} else if (!strcmp(a, "--kv")) {
			if (!strcmp(v, "bf16"))
				o->kv = RC_KV_BF16;
			else if (!strcmp(v, "fp8"))
				o->kv = RC_KV_FP8;
			else {
				cli_error("bench", "--kv: '%s' is not bf16 or fp8 (f32 is CPU-only)", v);
				return -1;
			}
		} else if (!strcmp(a, "--copy-size")) {
			if (!cli_parse_size(v, &o->copy_bytes) || o->copy_bytes < ((uint64_t)1 << 20) ||
			    o->copy_bytes > ((uint64_t)64 << 30)) {
				cli_error("bench", "--copy-size: '%s' is not a size between 1M and 64G", v);
				return -1;
			}
		} else if (!strcmp(a, "--device") || !strcmp(a, "--vram")) {
			if (cli_device_option("bench", a, v, &o->dev) < 0)
				return -1;
		} else if (!strcmp(a, "--dummy")) {
			o->dummy = v;
		} else if (!strcmp(a, "--weights")) {
			o->weights = v;
		} else if (a[0] == '-' && a[1]) {
			cli_error("bench", "unknown option '%s' with --device cuda (see 'bale bench --help')", a);
			return -1;
		} else if (!o->model) {
			o->model = a;
		} else {
			cli_error("bench", "unexpected argument '%s'", a);
			return -1;
		}
	}
	if (!o->model == !o->dummy) {
		cli_error("bench", "give a MODEL.bale or --dummy NAME (not both)");
		return -1;
	}
	if (o->weights && !o->dummy) {
		cli_error("bench", "--weights only applies to --dummy");
		return -1;
	}
	if (o->dummy && !bench_find_shape(o->dummy)) {
		cli_error("bench", "--dummy: unknown model '%s' (" BENCH_SHAPE_NAMES ")", o->dummy);
		return -1;
	}
	bench_recipe r;
	if (o->dummy && !bench_parse_recipe(o->weights ? o->weights : "int8", &r)) {
		cli_error("bench", "--weights: unknown type '%s'", o->weights);
		return -1;
	}
	if (o->dummy && !o->weights)
		o->weights = "int8";
	return 0;
}

/* ---- measurements ---- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static size_t mem_used(void)
{
	size_t used = 0, total = 0;
	if (kn_cuda_mem_used(&used, &total, NULL, 0) != 0)
		return 0;
	return used;
}

/* Median bytes/s of CB_COPY_REPS device-to-device copies of `bytes` (read + written), timed with
 * events; the source holds random bytes. */
static int copy_bandwidth(uint64_t bytes, double *bw, char *err, size_t errlen)
{
	void *a = NULL, *b = NULL, *st = NULL, *e0 = NULL, *e1 = NULL;
	double ms[CB_COPY_REPS];
	int rc = -1;
	if (kn_cuda_malloc(&a, bytes, err, errlen) != 0 || kn_cuda_malloc(&b, bytes, err, errlen) != 0 ||
	    kn_cuda_stream_create(&st, err, errlen) != 0 || kn_cuda_event_create(&e0, err, errlen) != 0 ||
	    kn_cuda_event_create(&e1, err, errlen) != 0 ||
	    kn_cuda_fill_random(a, KN_CUDA_I8, bytes, 7, 0, 0, st, err, errlen) != 0 ||
	    kn_cuda_memcpy_d2d_async(b, a, bytes, st, err, errlen) != 0 || kn_cuda_synchronize(st, err, errlen) != 0)
		goto done;
	for (int r = 0; r < CB_COPY_REPS; r++) {
		float t;
		if (kn_cuda_event_record(e0, st, err, errlen) != 0 ||
		    kn_cuda_memcpy_d2d_async(b, a, bytes, st, err, errlen) != 0 ||
		    kn_cuda_event_record(e1, st, err, errlen) != 0 || kn_cuda_event_sync(e1, err, errlen) != 0 ||
		    kn_cuda_event_elapsed_ms(&t, e0, e1, err, errlen) != 0)
			goto done;
		ms[r] = t;
	}
	qsort(ms, CB_COPY_REPS, sizeof *ms, cmp_double);
	double med = (ms[CB_COPY_REPS / 2 - 1] + ms[CB_COPY_REPS / 2]) / 2;
	if (!(med > 0)) {
		snprintf(err, errlen, "the copy took no measurable time");
		goto done;
	}
	*bw = 2.0 * (double)bytes / (med * 1e-3);
	rc = 0;
done:
	kn_cuda_event_destroy(e0);
	kn_cuda_event_destroy(e1);
	kn_cuda_stream_destroy(st);
	kn_cuda_free(a);
	kn_cuda_free(b);
	return rc;
}

/* Device bytes a new state may take: within --vram (counting what this run holds) and within
 * the device's free memory, less some slack. */
static uint64_t avail_bytes(const cb_env *e)
{
	size_t used = 0, total = 0;
	if (kn_cuda_mem_used(&used, &total, NULL, 0) != 0 || total < used)
		return 0;
	uint64_t free_now = total - used;
	uint64_t ours = used > e->used0 ? used - e->used0 : 0;
	uint64_t left = e->vram > ours ? e->vram - ours : 0;
	uint64_t a = free_now < left ? free_now : left;
	return a > CB_SLACK ? a - CB_SLACK : 0;
}

static void note_peak(cb_env *e)
{
	size_t u = mem_used();
	if (u > e->peak)
		e->peak = u;
}

/* Creates a state when it fits; otherwise marks the row skipped (1) or failed (2). */
static int state_for(cb_env *e, const rc_state_opts *so, cb_row *row, rc_state **out)
{
	*out = NULL;
	if (so->ctx > e->c->max_ctx) {
		snprintf(row->note, sizeof row->note, "skipped: %u positions exceed the model's max_ctx %u", so->ctx,
			 e->c->max_ctx);
		return row->state = 1;
	}
	rc_error re;
	uint64_t need = 0;
	if (rc_state_bytes(e->g, so, &need, &re) != RC_OK) {
		snprintf(row->note, sizeof row->note, "failed: %s", re.msg);
		return row->state = 2;
	}
	uint64_t have = avail_bytes(e);
	if (need > have) {
		char a[32], b[32];
		cli_format_bytes(need, a, sizeof a);
		cli_format_bytes(have, b, sizeof b);
		snprintf(row->note, sizeof row->note, "skipped: the state needs %s, %s left within --vram and free memory",
			 a, b);
		return row->state = 1;
	}
	if (rc_state_create(e->g, so, out, &re) != RC_OK) {
		snprintf(row->note, sizeof row->note, "failed: %s [%s]", re.msg, rc_status_name(re.status));
		return row->state = 2;
	}
	note_peak(e);
	return 0;
}

static int row_fail(cb_row *row, const char *what, const rc_error *re)
{
	snprintf(row->note, sizeof row->note, "failed: %s: %s [%s]", what, re->msg, rc_status_name(re->status));
	return row->state = 2;
}

static bool all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

static void random_ids(cb_env *e, int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ids[i] = (int32_t)(rng_next(&e->rng) % e->c->vocab_size);
}

static void run_prefill(cb_env *e, const cb_opts *o, cb_row *row)
{
	rc_state_opts so = {.ctx = row->tokens, .n_seq = 1, .kv_type = o->kv};
	rc_state *s;
	if (state_for(e, &so, row, &s) != 0)
		return;
	int32_t *ids = malloc((size_t)row->tokens * sizeof *ids);
	float *logits = malloc((size_t)e->c->vocab_size * sizeof *logits);
	rc_error re;
	double ms[CB_PREFILL_REPS];
	if (!ids || !logits) {
		snprintf(row->note, sizeof row->note, "failed: out of host memory");
		row->state = 2;
		goto done;
	}
	random_ids(e, ids, row->tokens);
	/* warm-up: kernels loaded, GEMM handles and workspaces set up */
	size_t warm = row->tokens < 64 ? row->tokens : 64;
	if (rc_forward(e->g, s, 0, ids, warm, 0, RT_LOGITS_LAST, logits, &re) != RC_OK) {
		row_fail(row, "warm-up prefill", &re);
		goto done;
	}
	for (int r = 0; r < CB_PREFILL_REPS; r++) {
		double t0 = cli_now();
		if (rc_forward(e->g, s, 0, ids, row->tokens, 0, RT_LOGITS_LAST, logits, &re) != RC_OK) {
			row_fail(row, "prefill", &re);
			goto done;
		}
		ms[r] = (cli_now() - t0) * 1e3;
	}
	if (!all_finite(logits, e->c->vocab_size)) {
		snprintf(row->note, sizeof row->note, "failed: the logits are not finite");
		row->state = 2;
		goto done;
	}
	qsort(ms, CB_PREFILL_REPS, sizeof *ms, cmp_double);
	row->ms = ms[CB_PREFILL_REPS / 2];
	row->tok_s = row->ms > 0 ? (double)row->tokens / (row->ms * 1e-3) : 0;
done:
	free(ids);
	free(logits);
	rc_state_free(s);
}

/* Batch 1 runs the single-sequence decode path (rc_forward, n = 1); larger batches
 * rc_decode_batch. Every sequence first holds row->context positions of random K/V. */
static void run_decode(cb_env *e, const cb_opts *o, cb_row *row)
{
	uint32_t B = row->batch, steps = (uint32_t)o->n_decode;
	uint64_t ctx = (uint64_t)row->context + CB_WARMUP + steps + 1;
	if (ctx > UINT32_MAX) {
		snprintf(row->note, sizeof row->note, "skipped: context too large");
		row->state = 1;
		return;
	}
	rc_state_opts so = {.ctx = (uint32_t)ctx, .n_seq = B, .kv_type = o->kv};
	rc_state *s;
	if (state_for(e, &so, row, &s) != 0)
		return;
	uint32_t *seqs = malloc((size_t)B * sizeof *seqs);
	int32_t *toks = malloc((size_t)B * (CB_WARMUP + steps) * sizeof *toks);
	float *logits = malloc((size_t)B * e->c->vocab_size * sizeof *logits);
	rc_error re;
	if (!seqs || !toks || !logits) {
		snprintf(row->note, sizeof row->note, "failed: out of host memory");
		row->state = 2;
		goto done;
	}
	for (uint32_t b = 0; b < B; b++) {
		seqs[b] = b;
		if (row->context && rc_state_fake_context(s, b, row->context, 1000 + b, &re) != RC_OK) {
			row_fail(row, "filling the context", &re);
			goto done;
		}
	}
	/* fixed random tokens: an argmax over the vocabulary per step would time the host */
	random_ids(e, toks, (size_t)B * (CB_WARMUP + steps));
	double t0 = 0;
	for (uint32_t i = 0; i < CB_WARMUP + steps; i++) {
		if (i == CB_WARMUP)
			t0 = cli_now();
		const int32_t *t = toks + (size_t)i * B;
		rc_status rs = B == 1 ? rc_forward(e->g, s, 0, t, 1, row->context + i, RT_LOGITS_LAST, logits, &re)
				      : rc_decode_batch(e->g, s, seqs, t, B, logits, &re);
		if (rs != RC_OK) {
			row_fail(row, "decode step", &re);
			goto done;
		}
	}
	double dt = cli_now() - t0;
	if (!all_finite(logits, (size_t)B * e->c->vocab_size)) {
		snprintf(row->note, sizeof row->note, "failed: the logits are not finite");
		row->state = 2;
		goto done;
	}
	/* bytes of one timed step: the weights once, and each sequence's KV at its mean length */
	double mean_len = (double)row->context + CB_WARMUP + (double)(steps + 1) / 2;
	row->step_bytes = (double)e->weight_step + (double)B * e->kv_token * mean_len;
	row->ms = dt * 1e3 / steps;
	row->tok_s = dt > 0 ? (double)B * steps / dt : 0;
	row->gb_s = dt > 0 ? row->step_bytes * steps / dt / 1e9 : 0;
	row->pct_copy = e->copy_bw > 0 ? 100.0 * row->gb_s * 1e9 / e->copy_bw : 0;
	row->roofline_tok_s = row->step_bytes > 0 ? (double)B * e->copy_bw / row->step_bytes : 0;
done:
	free(seqs);
	free(toks);
	free(logits);
	rc_state_free(s);
}

/* KV bytes per position of one sequence: K and V of every layer and kv head (docs/GPU.md), plus
 * for FP8 the f32 scale of each (token, layer, K/V, head) vector (kn_cuda_attn.h: scales
 * [n_pages][n_layers][2][n_kv_heads][page_tokens]). */
static double kv_bytes_per_token(const rt_config *c, rc_kv_type kv)
{
	double elems = 2.0 * c->n_layers * c->n_kv_heads * c->head_dim;
	if (kv == RC_KV_BF16)
		return elems * 2;
	return elems + 2.0 * c->n_layers * c->n_kv_heads * 4;
}

/* ---- report ---- */

static void print_table(const cb_opts *o, const char *dev_desc, const char *model_desc, const char *load_desc,
			const cb_env *e, const cb_row *rows, size_t n_rows)
{
	char a[32], b[32];
	printf("device     %s\n", dev_desc);
	printf("model      %s\n", model_desc);
	if (load_desc[0])
		printf("load       %s\n", load_desc);
	printf("copy       %.1f GB/s device-to-device (read + write, %s buffer, median of %d)\n", e->copy_bw / 1e9,
	       (cli_format_bytes(o->copy_bytes, a, sizeof a), a), CB_COPY_REPS);
	printf("KV cache   %s, %.0f bytes per position\n", o->kv == RC_KV_FP8 ? "fp8" : "bf16", e->kv_token);
	cli_format_bytes(e->peak > e->used0 ? e->peak - e->used0 : 0, a, sizeof a);
	cli_format_bytes(e->peak, b, sizeof b);
	printf("VRAM       %s used by this run at most (%s on the device in all)\n\n", a, b);
	printf("%-8s %6s %8s %10s %9s %9s %7s %10s\n", "", "batch", "tokens", "tok/s", "ms", "GB/s", "%copy",
	       "roofline");
	for (size_t i = 0; i < n_rows; i++) {
		const cb_row *r = &rows[i];
		const char *kind = r->decode ? "decode" : "prefill";
		if (r->decode)
			printf("%-8s %6u %8u ", kind, r->batch, r->context);
		else
			printf("%-8s %6u %8u ", kind, 1u, r->tokens);
		if (r->state)
			printf("%s\n", r->note);
		else if (r->decode)
			printf("%10.1f %9.3f %9.1f %6.1f%% %10.1f\n", r->tok_s, r->ms, r->gb_s, r->pct_copy,
			       r->roofline_tok_s);
		else
			printf("%10.1f %9.2f %9s %7s %10s\n", r->tok_s, r->ms, "", "", "");
	}
	printf("\ntokens: prompt length (prefill) or context per sequence (decode); decode tok/s is summed over\n"
	       "the batch; GB/s = (weights + KV) read per step x steps/s; roofline = tok/s at the copy bandwidth\n");
}

static json_t *rows_json(const cb_row *rows, size_t n_rows, bool decode)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n_rows; i++) {
		const cb_row *r = &rows[i];
		if (r->decode != decode)
			continue;
		json_t *j = json_object();
		if (decode) {
			json_object_set_new(j, "batch", json_integer(r->batch));
			json_object_set_new(j, "context", json_integer(r->context));
		} else {
			json_object_set_new(j, "tokens", json_integer(r->tokens));
		}
		json_object_set_new(j, "status", json_string(r->state == 0 ? "ok" : r->state == 1 ? "skipped" : "failed"));
		if (r->state) {
			json_object_set_new(j, "note", json_string(r->note));
		} else {
			json_object_set_new(j, "tok_s", json_real(r->tok_s));
			json_object_set_new(j, decode ? "step_ms" : "ms", json_real(r->ms));
			if (decode) {
				json_object_set_new(j, "bytes_per_step", json_real(r->step_bytes));
				json_object_set_new(j, "gb_s", json_real(r->gb_s));
				json_object_set_new(j, "pct_copy", json_real(r->pct_copy));
				json_object_set_new(j, "roofline_tok_s", json_real(r->roofline_tok_s));
			}
		}
		json_array_append_new(arr, j);
	}
	return arr;
}

static void print_json(const cb_opts *o, const kn_cuda_device_info *info, const char *label,
		       const rc_load_stats *ls, const cb_env *e, const cb_row *rows, size_t n_rows)
{
	json_t *j = json_object();
	json_t *d = json_object();
	json_object_set_new(d, "name", json_string(info->name));
	json_object_set_new(d, "total_bytes", json_integer((json_int_t)info->total_bytes));
	json_object_set_new(d, "sms", json_integer(info->n_sms));
	json_object_set_new(d, "driver_version", json_integer(info->driver_version));
	json_object_set_new(j, "device", d);
	json_object_set_new(j, "model", json_string(label));
	if (o->dummy)
		json_object_set_new(j, "weights", json_string(o->weights));
	json_object_set_new(j, "kv", json_string(o->kv == RC_KV_FP8 ? "fp8" : "bf16"));
	json_object_set_new(j, "weight_bytes_per_step", json_integer((json_int_t)e->weight_step));
	json_object_set_new(j, "kv_bytes_per_token", json_real(e->kv_token));
	if (ls) {
		json_t *l = json_object();
		json_object_set_new(l, "seconds", json_real(ls->seconds));
		json_object_set_new(l, "bytes", json_integer((json_int_t)ls->bytes));
		json_object_set_new(l, "gb_s", json_real(ls->gb_per_s));
		json_object_set_new(l, "verified", json_boolean(ls->verified));
		json_object_set_new(j, "load", l);
	}
	json_object_set_new(j, "copy_gb_s", json_real(e->copy_bw / 1e9));
	json_object_set_new(j, "copy_bytes", json_integer((json_int_t)o->copy_bytes));
	json_object_set_new(j, "vram_used_bytes", json_integer((json_int_t)(e->peak > e->used0 ? e->peak - e->used0 : 0)));
	json_object_set_new(j, "prefill", rows_json(rows, n_rows, false));
	json_object_set_new(j, "decode", rows_json(rows, n_rows, true));
	json_dumpf(j, stdout, JSON_INDENT(1));
	fputc('\n', stdout);
	json_decref(j);
}

/* ---- the command ---- */

static void dummy_config(const bench_shape *sh, rt_config *c)
{
	*c = (rt_config){.arch = RT_ARCH_QWEN3,
			 .n_layers = sh->layers,
			 .d_model = sh->d,
			 .n_heads = sh->heads,
			 .n_kv_heads = sh->kv_heads,
			 .head_dim = sh->head_dim,
			 .d_ff = sh->ff,
			 .vocab_size = sh->vocab,
			 .max_ctx = sh->max_ctx > CB_DUMMY_MAX_CTX ? sh->max_ctx : CB_DUMMY_MAX_CTX,
			 .norm_eps = 1e-6f,
			 .tie_embeddings = sh->tied,
			 .qk_norm = true,
			 .attn_bias = false,
			 .rope = {.type = KN_ROPE_NONE, .theta = 1e6, .dim = sh->head_dim, .factor = 1.0}};
}

int cmd_bench_cuda(int argc, char **argv)
{
	cb_opts o;
	int prc = parse(argc, argv, &o);
	if (prc != 0)
		return prc > 0 ? CLI_OK : CLI_USAGE;
	char name[256];
	if (cli_device_cuda_preflight("bench", NULL, &o.dev, 0, name, sizeof name) < 0)
		return CLI_FAIL;
	kn_cuda_device_info info;
	char err[512];
	if (kn_cuda_device_info_get(0, &info, err, sizeof err) != 0) {
		cli_error("bench", "--device cuda: %s", err);
		return CLI_FAIL;
	}
	int ret = CLI_FAIL;
	cb_env e = {.vram = o.dev.vram ? o.dev.vram : PL_DEFAULT_VRAM, .rng = 0x2545F4914F6CDD1Dull};
	fmt_reader *r = NULL;
	rt_model *cpu = NULL;
	rc_load_stats ls = {0};
	rc_error re;
	cb_row rows[3 * CB_MAX_LIST];
	size_t n_rows = 0;
	char dev_desc[400], model_desc[400], load_desc[300] = "", a[32], b[32];

	e.used0 = mem_used();
	e.peak = e.used0;
	/* the anchor first, while the device is otherwise idle */
	if (copy_bandwidth(o.copy_bytes, &e.copy_bw, err, sizeof err) != 0) {
		cli_error("bench", "copy bandwidth: %s", err);
		return CLI_FAIL;
	}

	rc_model_opts mo = {.verify = !o.no_verify, .embed_on_host = true};
	const char *label = o.dummy ? o.dummy : o.model;
	if (o.dummy) {
		rt_config cfg;
		bench_recipe rec;
		dummy_config(bench_find_shape(o.dummy), &cfg);
		bench_parse_recipe(o.weights, &rec);
		if (!o.json)
			fprintf(stderr, "bale bench: generating %s with random %s weights on the device...\n", o.dummy,
				o.weights);
		if (rc_model_create_dummy(&cfg, rec.dtype, rec.scheme, rec.group, 42, &mo, &e.g, &re) != RC_OK) {
			cli_error("bench", "--dummy %s --weights %s: %s [%s]", o.dummy, o.weights, re.msg,
				  rc_status_name(re.status));
			goto done;
		}
	} else {
		fmt_error fe;
		rt_error rte;
		if (fmt_reader_open(o.model, &r, &fe) != FMT_OK) {
			cli_error("bench", "%s: %s", o.model, fe.msg);
			goto done;
		}
		if (rt_model_create(r, NULL, &cpu, &rte) != RT_OK) {
			cli_error("bench", "%s: %s", o.model, rte.msg);
			goto done;
		}
		if (rc_model_load(cpu, r, &mo, &e.g, &ls, &re) != RC_OK) {
			cli_error("bench", "%s: loading onto the GPU: %s [%s]", o.model, re.msg, rc_status_name(re.status));
			goto done;
		}
		snprintf(load_desc, sizeof load_desc, "%.2f GB in %.2f s (%.2f GB/s), %s", (double)ls.bytes / 1e9, ls.seconds,
			 ls.gb_per_s, ls.verified ? "verified" : "not verified");
	}
	note_peak(&e);
	e.c = rc_model_config(e.g);
	e.weight_step = rc_model_weight_bytes(e.g);
	e.kv_token = kv_bytes_per_token(e.c, o.kv);

	for (size_t i = 0; i < o.prefill.n; i++)
		rows[n_rows++] = (cb_row){.tokens = o.prefill.v[i]};
	for (size_t i = 0; i < o.contexts.n; i++)
		rows[n_rows++] = (cb_row){.decode = true, .batch = 1, .context = o.contexts.v[i]};
	for (size_t i = 0; i < o.batch.n; i++)
		rows[n_rows++] = (cb_row){.decode = true, .batch = o.batch.v[i], .context = CB_BATCH_CONTEXT};
	bool failed = false;
	for (size_t i = 0; i < n_rows; i++) {
		if (rows[i].decode)
			run_decode(&e, &o, &rows[i]);
		else
			run_prefill(&e, &o, &rows[i]);
		if (rows[i].state == 2) {
			failed = true;
			cli_error("bench", "%s row %zu: %s", rows[i].decode ? "decode" : "prefill", i, rows[i].note);
		} else if (rows[i].state == 1 && !o.json) {
			fprintf(stderr, "bale bench: %s %u: %s\n", rows[i].decode ? "decode at context" : "prefill of",
				rows[i].decode ? rows[i].context : rows[i].tokens, rows[i].note);
		}
	}

	cli_format_bytes(info.total_bytes, a, sizeof a);
	snprintf(dev_desc, sizeof dev_desc, "%s, %s, compute %d.%d, %d SMs, driver %d", info.name, a, info.major,
		 info.minor, info.n_sms, info.driver_version);
	cli_format_bytes(e.weight_step, b, sizeof b);
	snprintf(model_desc, sizeof model_desc, "%s%s%s%s: %s of weights read per decode step", label,
		 o.dummy ? " " : "", o.dummy ? o.weights : "", o.dummy ? " (dummy, generated on the device)" : "", b);
	if (o.json)
		print_json(&o, &info, label, o.dummy ? NULL : &ls, &e, rows, n_rows);
	else
		print_table(&o, dev_desc, model_desc, load_desc, &e, rows, n_rows);
	ret = fflush(stdout) == 0 && !failed ? CLI_OK : CLI_FAIL;
done:
	rc_model_free(e.g);
	rt_model_free(cpu);
	fmt_reader_close(r);
	return ret;
}
