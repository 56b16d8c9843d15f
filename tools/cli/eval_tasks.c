/* bale eval --tasks: exact-match accuracy of \boxed{} answers, greedy or K samples per task. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "eval_run.h"

typedef struct {
	json_t *id;       /* the task's "id", else its 0-based index among the tasks */
	char *expected;   /* normalized */
	int32_t *ids;     /* rendered prompt */
	size_t n_ids;
	bool in_reasoning;
} task;

typedef struct {
	char *got;     /* NULL = no \boxed{} in the output */
	bool correct;
	size_t tokens; /* generated */
	gen_stop_reason reason;
} answer;

typedef struct {
	gen_model *m;
	const task *tasks;
	size_t n_tasks, k; /* k answers per task */
	answer *ans;       /* [n_tasks][k] */
	gen_params base;
	uint64_t seed;
	uint32_t ctx;
	gen_kv_type kv;
	pthread_mutex_t mu;
	size_t next, done;
	bool failed;
	char err[700];
	eval_progress prog;
} task_job;

typedef struct {
	char *buf;
	size_t n, cap;
	bool nomem;
} text_acc;

static bool acc_piece(void *user, const char *t, size_t len, bool reasoning)
{
	(void)reasoning; /* a \boxed{} answer counts wherever it is; the last one wins */
	text_acc *a = user;
	if (a->n + len + 1 > a->cap) {
		size_t cap = (a->n + len + 1) * 2;
		char *nb = realloc(a->buf, cap);
		if (!nb) {
			a->nomem = true;
			return false;
		}
		a->buf = nb;
		a->cap = cap;
	}
	memcpy(a->buf + a->n, t, len);
	a->n += len;
	a->buf[a->n] = 0;
	return true;
}

static void task_fail(task_job *j, const char *msg)
{
	pthread_mutex_lock(&j->mu);
	if (!j->failed)
		snprintf(j->err, sizeof j->err, "%s", msg);
	j->failed = true;
	pthread_mutex_unlock(&j->mu);
}

static void *task_worker(void *arg)
{
	task_job *j = arg;
	gen_session *s = NULL;
	gen_error ge;
	gen_session_opts so = {.ctx = j->ctx, .kv_type = j->kv};
	if (gen_session_create(j->m, &so, &s, &ge) != GEN_OK) {
		task_fail(j, ge.msg);
		return NULL;
	}
	size_t total = j->n_tasks * j->k;
	text_acc acc = {0};
	for (;;) {
		pthread_mutex_lock(&j->mu);
		size_t q = j->failed ? total : j->next++;
		pthread_mutex_unlock(&j->mu);
		if (q >= total)
			break;
		const task *t = &j->tasks[q / j->k];
		gen_params p = j->base;
		p.sampling.seed = j->seed + q; /* = seed + task * K + sample: independent of scheduling */
		p.start_in_reasoning = t->in_reasoning;
		acc.n = 0;
		gen_stats st;
		if (gen_generate(s, t->ids, t->n_ids, &p, acc_piece, &acc, &st, &ge) != GEN_OK) {
			task_fail(j, ge.msg);
			break;
		}
		bool nomem = acc.nomem;
		answer *a = &j->ans[q];
		a->got = nomem ? NULL : eval_extract_boxed(acc.buf ? acc.buf : "", acc.n, &nomem);
		if (nomem) {
			task_fail(j, "out of memory");
			break;
		}
		a->correct = a->got && !strcmp(a->got, t->expected);
		a->tokens = st.generated_tokens;
		a->reason = st.reason;
		pthread_mutex_lock(&j->mu);
		j->done++;
		eval_progress_update(&j->prog, j->done);
		pthread_mutex_unlock(&j->mu);
	}
	free(acc.buf);
	gen_session_free(s);
	return NULL;
}

/* A JSON number or string as answer text. */
static char *answer_text(json_t *v)
{
	char buf[64];
	const char *s = NULL;
	if (json_is_string(v))
		s = json_string_value(v);
	else if (json_is_integer(v))
		snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), s = buf;
	else if (json_is_real(v))
		snprintf(buf, sizeof buf, "%.17g", json_real_value(v)), s = buf;
	if (!s)
		return NULL;
	char *out = strdup(s);
	if (out)
		eval_normalize(out);
	return out;
}

static void free_tasks(task *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		json_decref(t[i].id);
		free(t[i].expected);
		free(t[i].ids);
	}
	free(t);
}

/* Parses the JSONL file and renders + encodes each prompt (the tokenizer is not shared between
 * threads, so this happens before the workers start). */
static int load_tasks(const eval_opts *o, gen_model *m, task **out, size_t *n_out)
{
	FILE *f = fopen(o->tasks, "rb");
	if (!f) {
		cli_error("eval", "%s: %s", o->tasks, strerror(errno));
		return CLI_FAIL;
	}
	size_t len;
	char *data = cli_gen_read_all(f, &len);
	fclose(f);
	if (!data) {
		cli_error("eval", "%s: cannot read the file (or larger than 1 GiB)", o->tasks);
		return CLI_FAIL;
	}
	task *t = NULL;
	size_t n = 0, cap = 0, line = 0;
	int ret = CLI_FAIL;
	char *text = NULL;
	for (char *p = data; *p && (!o->limit || n < (size_t)o->limit);) {
		char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		char *next = nl ? nl + 1 : p + ll;
		line++;
		size_t k = 0;
		while (k < ll && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
			k++;
		if (k == ll) {
			p = next;
			continue;
		}
		json_error_t je;
		json_t *v = json_loadb(p, ll, 0, &je);
		p = next;
		if (!v || !json_is_object(v)) {
			cli_error("eval", "%s:%zu: %s", o->tasks, line, v ? "not a JSON object" : je.text);
			json_decref(v);
			goto done;
		}
		json_t *pr = json_object_get(v, "prompt"), *an = json_object_get(v, "answer"), *id = json_object_get(v, "id");
		char *exp = answer_text(an);
		if (!json_is_string(pr) || !exp) {
			cli_error("eval", "%s:%zu: needs a string \"prompt\" and a string or number \"answer\"", o->tasks, line);
			free(exp);
			json_decref(v);
			goto done;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			task *nt = realloc(t, nc * sizeof *t);
			if (!nt) {
				free(exp);
				json_decref(v);
				cli_error("eval", "out of memory");
				goto done;
			}
			t = nt;
			cap = nc;
		}
		task *tk = &t[n++];
		memset(tk, 0, sizeof *tk);
		tk->expected = exp;
		tk->id = id ? json_incref(id) : json_integer((json_int_t)(n - 1));
		gen_message msgs[2];
		size_t nm = 0;
		if (o->g.system)
			msgs[nm++] = (gen_message){"system", o->g.system};
		msgs[nm++] = (gen_message){"user", json_string_value(pr)};
		gen_render_opts ro = {.add_generation_prompt = true, .enable_thinking = o->g.enable_thinking};
		size_t tl;
		gen_error ge;
		gen_status gs = gen_render(m, msgs, nm, &ro, &text, &tl, &ge);
		if (gs == GEN_OK) {
			tk->in_reasoning = gen_text_opens_reasoning(text, tl);
			gs = gen_encode(m, text, tl, false, &tk->ids, &tk->n_ids, &ge);
		}
		free(text);
		text = NULL;
		json_decref(v);
		if (gs != GEN_OK) {
			cli_error("eval", "%s:%zu: %s", o->tasks, line, ge.msg);
			goto done;
		}
	}
	if (n == 0) {
		cli_error("eval", "%s: no tasks", o->tasks);
		goto done;
	}
	ret = CLI_OK;
done:
	free(data);
	if (ret != CLI_OK) {
		free_tasks(t, n);
		t = NULL;
		n = 0;
	}
	*out = t;
	*n_out = n;
	return ret;
}

static void report(const eval_opts *o, const task_job *j, double secs)
{
	size_t correct = 0, tokens = 0, no_box = 0;
	for (size_t q = 0; q < j->n_tasks * j->k; q++) {
		correct += j->ans[q].correct;
		tokens += j->ans[q].tokens;
		no_box += !j->ans[q].got;
	}
	double acc = 100.0 * (double)correct / (double)(j->n_tasks * j->k);
	const char *mode = o->samples ? "sampled" : "greedy";
	if (!o->json) {
		for (size_t i = 0; i < j->n_tasks; i++) {
			const answer *a = &j->ans[i * j->k];
			if (j->k == 1 && !a->correct) {
				char *id = json_dumps(j->tasks[i].id, JSON_ENCODE_ANY);
				printf("wrong: task %s expected '%s' got %s%s%s\n", id ? id : "?", j->tasks[i].expected,
				       a->got ? "'" : "", a->got ? a->got : "no \\boxed{} answer", a->got ? "'" : "");
				free(id);
			}
		}
		printf("tasks %zu, %s, %zu answer%s per task, %zu without \\boxed{}, %zu generated tokens in %.1f s\n",
		       j->n_tasks, mode, j->k, j->k == 1 ? "" : "s", no_box, tokens, secs);
		printf("accuracy %.2f %% (%zu/%zu)\n", acc, correct, j->n_tasks * j->k);
		return;
	}
	json_t *r = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:f}", "mode", "tasks", "model", o->g.model,
			      "decoding", mode, "tasks", (json_int_t)j->n_tasks, "samples", (json_int_t)j->k, "accuracy",
			      acc, "correct", (json_int_t)correct, "no_boxed", (json_int_t)no_box, "generated_tokens",
			      (json_int_t)tokens, "seconds", secs);
	json_t *arr = json_array();
	for (size_t i = 0; r && arr && i < j->n_tasks; i++) {
		const answer *a = &j->ans[i * j->k];
		json_t *e = json_pack("{s:O, s:s}", "id", j->tasks[i].id, "expected", j->tasks[i].expected);
		if (!e)
			break;
		if (j->k == 1 && !o->samples) {
			json_object_set_new(e, "got", a->got ? json_string(a->got) : json_null());
			json_object_set_new(e, "correct", json_boolean(a->correct));
			json_object_set_new(e, "tokens", json_integer((json_int_t)a->tokens));
			json_object_set_new(e, "stop", json_string(gen_stop_reason_name(a->reason)));
		} else {
			json_t *g = json_array(), *c = json_array();
			size_t nc = 0;
			for (size_t k = 0; k < j->k; k++) {
				json_array_append_new(g, a[k].got ? json_string(a[k].got) : json_null());
				json_array_append_new(c, json_boolean(a[k].correct));
				nc += a[k].correct;
			}
			json_object_set_new(e, "got", g);
			json_object_set_new(e, "correct", c);
			json_object_set_new(e, "accuracy", json_real((double)nc / (double)j->k));
		}
		json_array_append_new(arr, e);
	}
	if (r && arr)
		json_object_set(r, "results", arr);
	json_decref(arr);
	char *txt = r ? json_dumps(r, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) : NULL;
	if (txt)
		puts(txt);
	else
		cli_error("eval", "out of memory");
	free(txt);
	json_decref(r);
}

int eval_tasks(eval_opts *o)
{
	int ret = CLI_FAIL;
	task *tasks = NULL;
	size_t nt = 0;
	task_job j;
	memset(&j, 0, sizeof j);
	pthread_mutex_init(&j.mu, NULL);
	if (eval_open(o->g.model, o, &j.m) != CLI_OK)
		goto done;
	if (load_tasks(o, j.m, &tasks, &nt) != CLI_OK)
		goto done;
	j.tasks = tasks;
	j.n_tasks = nt;
	j.k = o->samples ? (size_t)o->samples : 1;
	if (nt > SIZE_MAX / j.k / sizeof *j.ans || !(j.ans = calloc(nt * j.k, sizeof *j.ans))) {
		cli_error("eval", "out of memory");
		goto done;
	}
	if (!o->samples)
		o->g.greedy = true;
	cli_gen_params(&o->g, j.m, &j.base);
	j.seed = o->g.has_seed ? o->g.seed : 0; /* reproducible by default, unlike `bale run` */
	if (o->samples && j.base.sampling.temperature == 0)
		fprintf(stderr, "bale eval: note: the model's default sampling is greedy; all %ld samples are equal\n",
			o->samples);
	j.ctx = o->g.so.ctx;
	j.kv = o->g.so.kv_type;
	size_t total = nt * j.k;
	eval_progress_init(&j.prog, "answers", total, o->quiet);
	size_t np = (size_t)o->parallel < total ? (size_t)o->parallel : total;
	double t0 = cli_now();
	if (eval_run_workers(np, task_worker, &j) != CLI_OK)
		goto done;
	eval_progress_done(&j.prog, j.done);
	if (j.failed) {
		cli_error("eval", "%s", j.err);
		goto done;
	}
	report(o, &j, cli_now() - t0);
	ret = CLI_OK;
done:
	pthread_mutex_destroy(&j.mu);
	for (size_t q = 0; j.ans && q < nt * j.k; q++)
		free(j.ans[q].got);
	free(j.ans);
	free_tasks(tasks, nt);
	gen_model_free(j.m);
	return ret;
}
