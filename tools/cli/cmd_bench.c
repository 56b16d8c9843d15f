/* bale bench — prefill and decode speed on the CPU, and how close decode comes to the memory
 * bandwidth the machine can deliver. */
#include "cli.h"
#include "cli_bench.h"
#include "cli_plan.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bale/fmt.h"
#include "rt_model.h"

void cmd_bench_help(FILE *out)
{
	fprintf(out,
		"usage: bale bench MODEL.bale [options]\n"
		"       bale bench --dummy NAME --weights TYPE [options]\n\n"
		"Times a prefill of -p random tokens and -n decode steps, and compares the decode memory\n"
		"traffic (weight bytes read per token x tokens/s) with the machine's copy bandwidth,\n"
		"measured in the same run (best of 3 multi-threaded copies of --copy-size bytes, counting\n"
		"bytes read + written).\n\n"
		"options:\n"
		"  --dummy NAME         random weights of a real shape, built in memory (no model file):\n"
		"                       tiny, qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b\n"
		"  --weights TYPE       with --dummy: int8 (default), int8-g32|g64|g128, fp8, bf16, f16, f32\n"
		"  -p N                 prompt tokens for the prefill (default 128)\n"
		"  -n N                 decode tokens (default 32)\n"
		"  --threads N          matmul and copy threads (default: all cores)\n"
		"  --kv f32|bf16        KV cache type (default f32)\n"
		"  --copy-size SIZE     buffer of the copy-bandwidth measurement (default 1G)\n"
		"  --device cpu|cuda    where to run (default cpu); cuda has its own options, below\n"
		"  --json               one JSON object on stdout\n"
		"  -h, --help           show this help\n\n"
		"exit status: 0 ok, 1 failure (including not enough memory for --dummy), 2 usage error\n\n");
	cmd_bench_cuda_help(out);
}

static const bench_shape SHAPES[] = {
	{"tiny", 4, 256, 4, 2, 64, 768, 4096, 2048, false},
	{"qwen3-0.6b", 28, 1024, 16, 8, 128, 3072, 151936, 40960, true},
	{"qwen3-1.7b", 28, 2048, 16, 8, 128, 6144, 151936, 40960, true},
	{"qwen3-4b", 36, 2560, 32, 8, 128, 9728, 151936, 40960, true},
	{"qwen3-8b", 36, 4096, 32, 8, 128, 12288, 151936, 40960, false},
};

const bench_shape *bench_find_shape(const char *name)
{
	for (size_t k = 0; k < sizeof SHAPES / sizeof *SHAPES; k++)
		if (!strcmp(SHAPES[k].name, name))
			return &SHAPES[k];
	return NULL;
}

bool bench_parse_recipe(const char *s, bench_recipe *r)
{
	*r = (bench_recipe){FMT_I8, FMT_SCHEME_ROW, 0};
	if (!strcmp(s, "int8"))
		return true;
	if (!strcmp(s, "int8-g32") || !strcmp(s, "int8-g64") || !strcmp(s, "int8-g128")) {
		r->scheme = FMT_SCHEME_GROUP;
		r->group = (uint32_t)atoi(s + 6);
		return true;
	}
	if (!strcmp(s, "fp8"))
		return *r = (bench_recipe){FMT_F8_E4M3, FMT_SCHEME_ROW, 0}, true;
	if (!strcmp(s, "bf16"))
		return *r = (bench_recipe){FMT_BF16, FMT_SCHEME_NONE, 0}, true;
	if (!strcmp(s, "f16"))
		return *r = (bench_recipe){FMT_F16, FMT_SCHEME_NONE, 0}, true;
	if (!strcmp(s, "f32"))
		return *r = (bench_recipe){FMT_F32, FMT_SCHEME_NONE, 0}, true;
	return false;
}

/* ---- memory ---- */

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

typedef struct {
	char *dst;
	const char *src;
	size_t n;
} copy_job;

static void *copy_worker(void *arg)
{
	copy_job *j = arg;
	memcpy(j->dst, j->src, j->n);
	return NULL;
}

/* Best of 3 copies of `bytes` split over `threads` threads; bytes read + written per second. */
static double copy_bandwidth(size_t bytes, int threads)
{
	char *a = malloc(bytes), *b = malloc(bytes);
	if (!a || !b) {
		free(a);
		free(b);
		return 0;
	}
	memset(a, 1, bytes);
	memset(b, 2, bytes);
	if (threads < 1)
		threads = 1;
	if (threads > 256)
		threads = 256;
	copy_job jobs[256];
	pthread_t th[256];
	double best = 0;
	size_t per = (bytes / (size_t)threads) & ~(size_t)4095;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = cli_now();
		int started = 0;
		for (int t = 0; t < threads; t++) {
			size_t off = (size_t)t * per, n = t == threads - 1 ? bytes - off : per;
			jobs[t] = (copy_job){b + off, a + off, n};
			if (t == threads - 1 || pthread_create(&th[t], NULL, copy_worker, &jobs[t]) != 0)
				copy_worker(&jobs[t]);
			else
				started = t + 1;
		}
		for (int t = 0; t < started; t++)
			pthread_join(th[t], NULL);
		double dt = cli_now() - t0;
		if (dt > 0 && 2.0 * (double)bytes / dt > best)
			best = 2.0 * (double)bytes / dt;
	}
	free(a);
	free(b);
	return best;
}

/* ---- dummy model ---- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t elem_bytes(const bench_recipe *r) { return fmt_dtype_size(r->dtype); }

/* Bytes of one [n][k] matrix stored with recipe r (codes, padding, scales). */
static uint64_t matrix_bytes(const bench_recipe *r, uint64_t n, uint64_t k)
{
	fmt_tensor t = {.dtype = r->dtype, .scheme = r->scheme, .n_dims = 2, .dims = {n, k, 1, 1}, .group_size = r->group};
	fmt_error fe;
	if (fmt_tensor_layout(&t, &fe) != FMT_OK)
		return UINT64_MAX;
	return t.data_bytes;
}

static uint64_t dummy_bytes(const bench_shape *s, const bench_recipe *r)
{
	uint64_t q = (uint64_t)s->heads * s->head_dim, kv = (uint64_t)s->kv_heads * s->head_dim;
	uint64_t layer = matrix_bytes(r, q, s->d) + 2 * matrix_bytes(r, kv, s->d) + matrix_bytes(r, s->d, q) +
			 3 * matrix_bytes(r, s->ff, s->d) + 4096 * 4;
	return layer * s->layers + matrix_bytes(r, s->vocab, s->d) * (s->tied ? 1 : 2) + 4096 * 2;
}

/* Random codes whose rows have unit fan-in gain, so activations stay finite through the layers. */
static int write_matrix(fmt_writer *w, const char *name, const bench_recipe *r, uint64_t n, uint64_t k, uint64_t *rng,
			fmt_error *fe)
{
	fmt_tensor_desc d = {name, r->dtype, r->scheme, 2, {n, k, 1, 1}, r->group};
	if (fmt_writer_begin_tensor(w, &d, fe) != FMT_OK)
		return -1;
	size_t es = elem_bytes(r), chunk = 1 << 20;
	uint64_t total = n * k * es;
	uint8_t *buf = malloc(chunk);
	if (!buf)
		return -1;
	double amp = sqrt(3.0 / (double)k); /* uniform(-amp, amp) has variance 1/k */
	for (uint64_t done = 0; done < total;) {
		size_t len = total - done < chunk ? (size_t)(total - done) : chunk;
		if (r->dtype == FMT_I8 || r->dtype == FMT_F8_E4M3) {
			for (size_t i = 0; i < len; i += 8) {
				uint64_t x = rng_next(rng);
				for (size_t b = 0; b < 8 && i + b < len; b++, x >>= 8) {
					uint8_t c = (uint8_t)x;
					/* I8: avoid -128; E4M3: exponent ≤ 6 keeps |x| < 1 and never the NaN code */
					buf[i + b] = r->dtype == FMT_I8 ? (c == 0x80 ? 0x81 : c) : (uint8_t)(c & 0xB7);
				}
			}
		} else {
			for (size_t i = 0; i < len; i += es) {
				double u = ((double)(rng_next(rng) >> 11) * 0x1p-53 * 2 - 1) * amp;
				if (r->dtype == FMT_F32) {
					float f = (float)u;
					memcpy(buf + i, &f, 4);
				} else {
					uint16_t h = r->dtype == FMT_BF16 ? fmt_f32_to_bf16((float)u) : fmt_f32_to_f16((float)u);
					memcpy(buf + i, &h, 2);
				}
			}
		}
		if (fmt_writer_write(w, FMT_PART_DATA, buf, len, fe) != FMT_OK) {
			free(buf);
			return -1;
		}
		done += len;
	}
	free(buf);
	if (r->scheme != FMT_SCHEME_NONE) {
		uint64_t groups = r->scheme == FMT_SCHEME_GROUP ? k / r->group : 1;
		/* int8 codes have rms ~73.6, the E4M3 codes above ~0.36 */
		float sc = (float)(1.0 / (sqrt((double)k) * (r->dtype == FMT_I8 ? 73.6 : 0.36)));
		float *s = malloc(groups * sizeof *s);
		if (!s)
			return -1;
		for (uint64_t g = 0; g < groups; g++)
			s[g] = sc;
		for (uint64_t row = 0; row < n; row++)
			if (fmt_writer_write(w, FMT_PART_SCALES, s, groups * sizeof *s, fe) != FMT_OK) {
				free(s);
				return -1;
			}
		free(s);
	}
	return fmt_writer_end_tensor(w, NULL, fe) == FMT_OK ? 0 : -1;
}

static int write_vector(fmt_writer *w, const char *name, uint64_t n, uint64_t *rng, fmt_error *fe)
{
	float *v = malloc(n * sizeof *v);
	if (!v)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		v[i] = 1.0f + (float)((double)(rng_next(rng) >> 11) * 0x1p-53 - 0.5) * 0.2f;
	fmt_tensor_desc d = {name, FMT_F32, FMT_SCHEME_NONE, 1, {n, 1, 1, 1}, 0};
	int rc = fmt_writer_add_tensor(w, &d, v, NULL, NULL, fe) == FMT_OK ? 0 : -1;
	free(v);
	return rc;
}

static int write_meta(fmt_writer *w, const bench_shape *s)
{
	fmt_kvbuild *b = fmt_writer_kv(w, FMT_SEC_META);
	int bad = 0;
	bad |= fmt_kvbuild_str(b, "general.architecture", "qwen3", 5) != FMT_OK;
	bad |= fmt_kvbuild_str(b, "general.name", s->name, strlen(s->name)) != FMT_OK;
	bad |= fmt_kvbuild_str(b, "model.act", "silu", 4) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.n_layers", s->layers) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.d_model", s->d) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.n_heads", s->heads) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.n_kv_heads", s->kv_heads) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.head_dim", s->head_dim) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.d_ff", s->ff) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.vocab_size", s->vocab) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "model.max_ctx", s->max_ctx) != FMT_OK;
	bad |= fmt_kvbuild_f32(b, "model.norm_eps", 1e-6f) != FMT_OK;
	bad |= fmt_kvbuild_bool(b, "model.tie_embeddings", s->tied) != FMT_OK;
	bad |= fmt_kvbuild_bool(b, "model.qk_norm", true) != FMT_OK;
	bad |= fmt_kvbuild_bool(b, "model.attn_bias", false) != FMT_OK;
	bad |= fmt_kvbuild_str(b, "rope.type", "none", 4) != FMT_OK;
	bad |= fmt_kvbuild_f64(b, "rope.theta", 1e6) != FMT_OK;
	bad |= fmt_kvbuild_u32(b, "rope.dim", s->head_dim) != FMT_OK;
	bad |= fmt_kvbuild_f64(b, "rope.factor", 1.0) != FMT_OK;
	return bad ? -1 : 0;
}

/* An interrupted build must not leave gigabytes behind in /dev/shm. */
static const char *volatile building_path;

static void on_signal(int sig)
{
	const char *p = building_path;
	if (p)
		unlink(p);
	_exit(128 + sig);
}

/* Writes the dummy model to `path` (a tmpfs file when /dev/shm has room). */
static int build_dummy(const char *path, const bench_shape *s, const bench_recipe *r, fmt_error *fe)
{
	fmt_writer *w;
	if (fmt_writer_open(path, &(fmt_writer_opts){.overwrite = true}, &w, fe) != FMT_OK)
		return -1;
	building_path = fmt_writer_temp_path(w);
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	uint64_t q = (uint64_t)s->heads * s->head_dim, kv = (uint64_t)s->kv_heads * s->head_dim;
	int rc = write_meta(w, s);
	if (rc == 0)
		rc = write_matrix(w, "tok_embd", r, s->vocab, s->d, &rng, fe);
	if (rc == 0 && !s->tied)
		rc = write_matrix(w, "output", r, s->vocab, s->d, &rng, fe);
	if (rc == 0)
		rc = write_vector(w, "output_norm", s->d, &rng, fe);
	char name[64];
	for (uint32_t l = 0; rc == 0 && l < s->layers; l++) {
#define NM(x) (snprintf(name, sizeof name, "blk.%u.%s", l, x), name)
		rc = write_vector(w, NM("attn_norm"), s->d, &rng, fe);
		rc = rc ? rc : write_vector(w, NM("ffn_norm"), s->d, &rng, fe);
		rc = rc ? rc : write_vector(w, NM("attn_q_norm"), s->head_dim, &rng, fe);
		rc = rc ? rc : write_vector(w, NM("attn_k_norm"), s->head_dim, &rng, fe);
		rc = rc ? rc : write_matrix(w, NM("attn_q"), r, q, s->d, &rng, fe);
		rc = rc ? rc : write_matrix(w, NM("attn_k"), r, kv, s->d, &rng, fe);
		rc = rc ? rc : write_matrix(w, NM("attn_v"), r, kv, s->d, &rng, fe);
		rc = rc ? rc : write_matrix(w, NM("attn_output"), r, s->d, q, &rng, fe);
		rc = rc ? rc : write_matrix(w, NM("ffn_gate"), r, s->ff, s->d, &rng, fe);
		rc = rc ? rc : write_matrix(w, NM("ffn_up"), r, s->ff, s->d, &rng, fe);
		rc = rc ? rc : write_matrix(w, NM("ffn_down"), r, s->d, s->ff, &rng, fe);
#undef NM
	}
	/* from here the file has its final name, which the caller unlinks after opening it */
	static char final_path[4096];
	snprintf(final_path, sizeof final_path, "%s", path);
	building_path = final_path;
	if (rc == 0 && fmt_writer_finish(w, fe) != FMT_OK)
		rc = -1;
	fmt_writer_free(w);
	return rc;
}

/* ---- measurement ---- */

/* Bytes a decode step reads: every tensor except the embedding table (one row is read),
 * unless it doubles as the output matrix. */
static uint64_t decode_bytes(const fmt_reader *r, bool tied)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++) {
		const fmt_tensor *t = fmt_reader_tensor_at(r, i);
		if (!tied && !strcmp(t->name, "tok_embd"))
			continue;
		sum += t->data_bytes;
	}
	return sum;
}

typedef struct {
	long p, n;
	int threads;
	kn_kv_type kv;
	bool json;
	uint64_t copy_bytes;
	const char *model, *dummy, *weights;
} bench_opts;

typedef struct {
	double prefill_tps, decode_tps, copy_bw, decode_bw;
	uint64_t weight_bytes, step_bytes;
} bench_result;

static int run_bench(const char *label, const fmt_reader *r, const bench_opts *o, double copy_bw, bench_result *res)
{
	rt_model *m = NULL;
	rt_state *s = NULL;
	rt_error re;
	int ret = CLI_FAIL;
	int32_t *ids = NULL;
	float *logits = NULL;
	rt_model_opts mo = {.exec = {.n_threads = o->threads}};
	if (rt_model_create(r, &mo, &m, &re) != RT_OK) {
		cli_error("bench", "%s: %s", label, re.msg);
		return CLI_FAIL;
	}
	const rt_config *c = rt_model_config(m);
	uint64_t need = (uint64_t)o->p + (uint64_t)o->n + 1;
	if (need > c->max_ctx) {
		cli_error("bench", "-p %ld + -n %ld exceed the model's context of %u", o->p, o->n, c->max_ctx);
		goto done;
	}
	rt_state_opts so = {.max_ctx = (uint32_t)need, .max_batch = 64, .kv_type = o->kv};
	if (rt_state_create(m, &so, &s, &re) != RT_OK) {
		cli_error("bench", "%s: %s", label, re.msg);
		goto done;
	}
	ids = malloc((size_t)o->p * sizeof *ids);
	logits = malloc((size_t)c->vocab_size * sizeof *logits);
	if (!ids || !logits) {
		cli_error("bench", "out of memory");
		goto done;
	}
	uint64_t rng = 12345;
	for (long i = 0; i < o->p; i++)
		ids[i] = (int32_t)(rng_next(&rng) % c->vocab_size);
	/* warm-up: one token touches every weight page once */
	if (rt_forward(m, s, ids, 1, 0, RT_LOGITS_LAST, logits, &re) != RT_OK)
		goto fwd_fail;
	double t0 = cli_now();
	if (rt_forward(m, s, ids, (size_t)o->p, 0, RT_LOGITS_LAST, logits, &re) != RT_OK)
		goto fwd_fail;
	double t1 = cli_now();
	for (long i = 0; i < o->n; i++) {
		int32_t next = 0;
		for (uint32_t v = 1; v < c->vocab_size; v++)
			if (logits[v] > logits[next])
				next = (int32_t)v;
		if (rt_forward(m, s, &next, 1, (size_t)(o->p + i), RT_LOGITS_LAST, logits, &re) != RT_OK)
			goto fwd_fail;
	}
	double t2 = cli_now();
	if (!isfinite(logits[0])) {
		cli_error("bench", "%s: the logits are not finite", label);
		goto done;
	}
	res->prefill_tps = (double)o->p / (t1 - t0);
	res->decode_tps = (double)o->n / (t2 - t1);
	res->weight_bytes = 0;
	for (size_t i = 0; i < fmt_reader_n_tensors(r); i++)
		res->weight_bytes += fmt_reader_tensor_at(r, i)->data_bytes;
	res->step_bytes = decode_bytes(r, c->tie_embeddings);
	res->copy_bw = copy_bw;
	res->decode_bw = (double)res->step_bytes * res->decode_tps;
	ret = CLI_OK;
	goto done;
fwd_fail:
	cli_error("bench", "%s: %s", label, re.msg);
done:
	free(ids);
	free(logits);
	rt_state_free(s);
	rt_model_free(m);
	return ret;
}

static void report(const char *label, const char *weights, const bench_opts *o, const bench_result *r)
{
	if (o->json) {
		json_t *j = json_pack("{s:s, s:s?, s:i, s:i, s:i, s:f, s:f, s:I, s:I, s:f, s:f, s:f}", "model", label,
				      "weights", weights, "threads", o->threads, "prompt_tokens", (int)o->p, "decode_tokens",
				      (int)o->n, "prefill_tok_s", r->prefill_tps, "decode_tok_s", r->decode_tps,
				      "weight_bytes", (json_int_t)r->weight_bytes, "decode_bytes_per_token",
				      (json_int_t)r->step_bytes, "decode_gb_s", r->decode_bw / 1e9, "copy_gb_s",
				      r->copy_bw / 1e9, "bandwidth_ratio", r->copy_bw > 0 ? r->decode_bw / r->copy_bw : 0.0);
		if (j) {
			json_dumpf(j, stdout, JSON_INDENT(1));
			fputc('\n', stdout);
			json_decref(j);
		}
		return;
	}
	char wb[32], sb[32];
	cli_format_bytes(r->weight_bytes, wb, sizeof wb);
	cli_format_bytes(r->step_bytes, sb, sizeof sb);
	printf("model      %s%s%s (%s of weights)\n", label, weights ? " " : "", weights ? weights : "", wb);
	printf("prefill    %ld tokens: %.1f tok/s\n", o->p, r->prefill_tps);
	printf("decode     %ld tokens: %.2f tok/s (%.1f ms/token)\n", o->n, r->decode_tps, 1e3 / r->decode_tps);
	printf("bandwidth  decode reads %s/token = %.2f GB/s; copy bandwidth %.2f GB/s; ratio %.2f\n", sb,
	       r->decode_bw / 1e9, r->copy_bw / 1e9, r->copy_bw > 0 ? r->decode_bw / r->copy_bw : 0.0);
}

static const char *tmp_dir_for(uint64_t bytes)
{
	struct statvfs sv;
	if (statvfs("/dev/shm", &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize > bytes + ((uint64_t)256 << 20))
		return "/dev/shm";
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

/* The last --device decides; a bad value is reported by the CPU parser. */
static bool wants_cuda(int argc, char **argv)
{
	bool cuda = false;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--device"))
			cuda = !strcmp(argv[++i], "cuda");
	return cuda;
}

int cmd_bench(int argc, char **argv)
{
	if (wants_cuda(argc, argv))
		return cmd_bench_cuda(argc, argv);
	bench_opts o = {.p = 128, .n = 32, .copy_bytes = (uint64_t)1 << 30};
	cli_device_opts dev = {0};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool val = !strcmp(a, "-p") || !strcmp(a, "-n") || !strcmp(a, "--threads") || !strcmp(a, "--kv") ||
			   !strcmp(a, "--dummy") || !strcmp(a, "--weights") || !strcmp(a, "--copy-size") ||
			   !strcmp(a, "--device") || !strcmp(a, "--vram");
		if (val && i + 1 >= argc) {
			cli_error("bench", "%s needs a value", a);
			return CLI_USAGE;
		}
		long v;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_bench_help(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--json")) {
			o.json = true;
		} else if (!strcmp(a, "-p") || !strcmp(a, "-n")) {
			if (!cli_parse_int(argv[++i], 1, 1 << 20, &v)) {
				cli_error("bench", "%s: '%s' is not an integer in [1, 1048576]", a, argv[i]);
				return CLI_USAGE;
			}
			*(a[1] == 'p' ? &o.p : &o.n) = v;
		} else if (!strcmp(a, "--threads")) {
			if (!cli_parse_int(argv[++i], 1, 256, &v)) {
				cli_error("bench", "--threads: '%s' is not an integer in [1, 256]", argv[i]);
				return CLI_USAGE;
			}
			o.threads = (int)v;
		} else if (!strcmp(a, "--kv")) {
			const char *k = argv[++i];
			if (strcmp(k, "f32") && strcmp(k, "bf16")) {
				cli_error("bench", "--kv: '%s' is not f32 or bf16", k);
				return CLI_USAGE;
			}
			o.kv = strcmp(k, "f32") ? KN_KV_BF16 : KN_KV_F32;
		} else if (!strcmp(a, "--copy-size")) {
			if (!cli_parse_size(argv[++i], &o.copy_bytes) || o.copy_bytes < ((uint64_t)1 << 20) ||
			    o.copy_bytes > ((uint64_t)64 << 30)) {
				cli_error("bench", "--copy-size: '%s' is not a size between 1M and 64G", argv[i]);
				return CLI_USAGE;
			}
		} else if (!strcmp(a, "--device") || !strcmp(a, "--vram")) {
			if (cli_device_option("bench", a, argv[++i], &dev) < 0)
				return CLI_USAGE;
		} else if (!strcmp(a, "--dummy")) {
			o.dummy = argv[++i];
		} else if (!strcmp(a, "--weights")) {
			o.weights = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			cli_error("bench", "unknown option '%s' (see 'bale bench --help')", a);
			return CLI_USAGE;
		} else if (!o.model) {
			o.model = a;
		} else {
			cli_error("bench", "unexpected argument '%s'", a);
			return CLI_USAGE;
		}
	}
	if (!o.model == !o.dummy) {
		cli_error("bench", "give a MODEL.bale or --dummy NAME (not both)");
		return CLI_USAGE;
	}
	if (o.weights && !o.dummy) {
		cli_error("bench", "--weights only applies to --dummy");
		return CLI_USAGE;
	}
	const bench_shape *shape = NULL;
	bench_recipe recipe;
	if (o.dummy) {
		shape = bench_find_shape(o.dummy);
		if (!shape) {
			cli_error("bench", "--dummy: unknown model '%s' (" BENCH_SHAPE_NAMES ")", o.dummy);
			return CLI_USAGE;
		}
		if (!o.weights)
			o.weights = "int8";
		if (!bench_parse_recipe(o.weights, &recipe)) {
			cli_error("bench", "--weights: unknown type '%s'", o.weights);
			return CLI_USAGE;
		}
	}
	int threads = o.threads ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;

	fmt_reader *r = NULL;
	fmt_error fe;
	char path[4096] = "";
	uint64_t bytes = 0;
	if (o.dummy) {
		bytes = dummy_bytes(shape, &recipe);
		uint64_t state = (uint64_t)shape->layers * 2 * (uint64_t)(o.p + o.n + 1) * shape->kv_heads *
					 shape->head_dim * 4 +
				 ((uint64_t)64 << 20);
		uint64_t avail = mem_available();
		if (avail && bytes + state + ((uint64_t)512 << 20) > avail) {
			char need[32], have[32];
			cli_format_bytes(bytes + state + ((uint64_t)512 << 20), need, sizeof need);
			cli_format_bytes(avail, have, sizeof have);
			cli_error("bench", "--dummy %s --weights %s needs about %s of memory, but only %s is available",
				  o.dummy, o.weights, need, have);
			return CLI_FAIL;
		}
	}
	if (o.model && fmt_reader_open(o.model, &r, &fe) != FMT_OK) {
		cli_error("bench", "%s: %s", o.model, fe.msg);
		return CLI_FAIL;
	}
	/* copy bandwidth first, while the memory is free */
	size_t cbytes = (size_t)o.copy_bytes;
	uint64_t avail = mem_available();
	while (avail && cbytes > ((size_t)1 << 20) && (uint64_t)cbytes * 4 > avail)
		cbytes /= 2;
	double copy_bw = copy_bandwidth(cbytes, threads);

	if (o.dummy) {
		snprintf(path, sizeof path, "%s/bale-bench-%ld.bale", tmp_dir_for(bytes), (long)getpid());
		if (!o.json)
			fprintf(stderr, "bale bench: building %s with random %s weights in %s...\n", o.dummy, o.weights, path);
		int rc = build_dummy(path, shape, &recipe, &fe);
		if (rc == 0 && fmt_reader_open(path, &r, &fe) != FMT_OK)
			rc = -1;
		unlink(path); /* the mapping keeps the pages; nothing is left behind */
		building_path = NULL;
		if (rc != 0) {
			cli_error("bench", "building the dummy model: %s", fe.msg);
			return CLI_FAIL;
		}
	}
	o.threads = threads;
	bench_result res;
	const char *label = o.dummy ? o.dummy : o.model;
	int ret = run_bench(label, r, &o, copy_bw, &res);
	if (ret == CLI_OK)
		report(label, o.dummy ? o.weights : NULL, &o, &res);
	fmt_reader_close(r);
	return ret;
}
