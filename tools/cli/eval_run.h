/* The two halves of `bale eval` (eval_ppl.c, eval_tasks.c) and the options they share. */
#ifndef BALE_EVAL_RUN_H
#define BALE_EVAL_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "cli_gen.h"

typedef struct {
	cli_gen_opts g;      /* model, --ctx, --threads, sampling flags, template */
	const char *text;    /* --text FILE */
	const char *ref;     /* --ref OTHER.bale */
	const char *tasks;   /* --tasks FILE.jsonl */
	long stride;         /* 0 = ctx / 2 */
	long samples;        /* 0 = greedy */
	long limit;          /* 0 = all tasks */
	long parallel;       /* windows / generations in flight, each with its own session */
	bool json, quiet, threads_set;
} eval_opts;

/* Both return a CLI exit status and print their own diagnostics. */
int eval_perplexity(eval_opts *o);
int eval_tasks(eval_opts *o);

/* Progress of counted work on stderr: redrawn on a TTY, a line every 5 s otherwise. Not
 * thread-safe: callers hold their job lock. */
typedef struct {
	bool on, tty;
	const char *unit;
	double t0, last;
	size_t total;
} eval_progress;
void eval_progress_init(eval_progress *p, const char *unit, size_t total, bool quiet);
void eval_progress_update(eval_progress *p, size_t done);
void eval_progress_done(eval_progress *p, size_t done);

/* Runs fn(arg) on n threads (at least once on the caller's thread if none can start) and waits
 * for them. Returns CLI_OK, or CLI_FAIL after printing an out-of-memory error. */
int eval_run_workers(size_t n, void *(*fn)(void *), void *arg);

/* A model opened for eval: `--threads` split over the parallel sessions. */
int eval_open(const char *path, const eval_opts *o, gen_model **m);

#endif
