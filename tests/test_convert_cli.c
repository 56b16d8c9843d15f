/* `bale convert` as a program: usage errors (exit 2), path checks (exit 1), --report/--json,
 * determinism across --threads, and SIGINT (exit 130, nothing left behind). */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_convert_util.h"
#include "testutil.h"

static char *g_dir, *g_model;

static const char *bin(void)
{
	return getenv("BALE_BIN") ? getenv("BALE_BIN") : BALE_BIN;
}

static int run(const char *args, char **out, char **err)
{
	size_t n = strlen(bin()) + strlen(args) + 16;
	char *cmd = malloc(n);
	snprintf(cmd, n, "'%s' convert %s", bin(), args);
	int rc = tu_run(cmd, out, err);
	free(cmd);
	return rc;
}

static void expect_usage(const char *args)
{
	char *err = NULL;
	int rc = run(args, NULL, &err);
	if (rc != 2 || !err || !strstr(err, "bale convert"))
		fail_msg("'%s': expected exit 2, got %d (%s)", args, rc, err ? err : "");
	free(err);
}

static void usage_errors(void **state)
{
	(void)state;
	static const char *tails[] = {"", " -o", " -o x.bale --weights int4", " -o x.bale --keep output",
				      " -o x.bale --keep output=q3", " -o x.bale --threads 0", " -o x.bale --threads abc",
				      " -o x.bale extra-arg", " -o x.bale --bogus"};
	char a[2048];
	expect_usage("");
	expect_usage("--bogus");
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		snprintf(a, sizeof a, "'%s'%s", g_model, tails[i]);
		expect_usage(a);
	}
	char *out = NULL;
	assert_int_equal(run("--help", &out, NULL), 0);
	assert_non_null(strstr(out, "--weights"));
	free(out);
}

static void path_errors(void **state)
{
	(void)state;
	char a[2048], *err = NULL;
	snprintf(a, sizeof a, "'%s' -o '%s'", g_model, g_dir); /* output is a directory */
	assert_int_equal(run(a, NULL, &err), 1);
	assert_non_null(strstr(err, "directory"));
	free(err);
	snprintf(a, sizeof a, "'%s' -o '%s/model.safetensors' --force", g_model, g_model);
	assert_int_equal(run(a, NULL, &err), 1);
	assert_non_null(strstr(err, "input file"));
	free(err);
	snprintf(a, sizeof a, "'%s' -o '%s/nonexistent/x.bale'", g_model, g_dir);
	assert_int_equal(run(a, NULL, &err), 1);
	assert_non_null(strstr(err, "nonexistent"));
	free(err);
	char *exist = tu_path_join(g_dir, "exists.bale");
	assert_int_equal(tu_write_file(exist, "keep me", 7), 0);
	snprintf(a, sizeof a, "'%s' -o '%s'", g_model, exist);
	assert_int_equal(run(a, NULL, &err), 1);
	assert_non_null(strstr(err, "--force"));
	free(err);
	size_t n;
	uint8_t *d = tu_read_file(exist, &n);
	assert_true(n == 7 && !memcmp(d, "keep me", 7));
	free(d);
	free(exist);
}

static void report_json_threads(void **state)
{
	(void)state;
	char a[4096], *out = NULL, *err = NULL;
	char *o1 = tu_path_join(g_dir, "t1.bale"), *o2 = tu_path_join(g_dir, "t2.bale"), *rep = tu_path_join(g_dir, "r.json");
	snprintf(a, sizeof a, "'%s' -o '%s' --threads 1 --report '%s' --json --keep output=bf16", g_model, o1, rep);
	int rc = run(a, &out, &err);
	if (rc != 0)
		fail_msg("exit %d: %s", rc, err ? err : "");
	assert_non_null(strstr(out, "\"out_bytes\""));
	assert_non_null(strstr(err, "largest relative errors"));
	free(out);
	free(err);
	size_t n;
	char *r = (char *)tu_read_file(rep, &n);
	assert_non_null(r);
	assert_non_null(strstr(r, "\"blk.1.ffn_down\""));
	assert_non_null(strstr(r, "\"sqnr_db\""));
	assert_non_null(strstr(r, "\"bf16\""));
	free(r);
	snprintf(a, sizeof a, "'%s' --output='%s' --threads=2 -q --keep output=bf16", g_model, o2);
	assert_int_equal(run(a, &out, &err), 0);
	assert_true(!out || !*out); /* quiet: nothing on stdout */
	free(out);
	free(err);
	size_t n1, n2;
	uint8_t *d1 = tu_read_file(o1, &n1), *d2 = tu_read_file(o2, &n2);
	assert_true(n1 == n2 && !memcmp(d1, d2, n1));
	free(d1);
	free(d2);
	free(o1);
	free(o2);
	free(rep);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void sigint(void **state)
{
	(void)state;
	tcu_model m;
	tcu_model_default(&m);
	m.d_model = 512;
	m.head_dim = 128;
	m.d_ff = 2048;
	m.vocab = 16384;
	char *md = tu_path_join(g_dir, "big");
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", md);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(tcu_make_model(md, &m), 0);
	char *od = tu_path_join(g_dir, "sigout");
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", od);
	assert_int_equal(system(cmd), 0);
	char *out = tu_path_join(od, "big.bale");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(bin(), bin(), "convert", md, "-o", out, "-q", "--threads", "1", "--weights", "f32", (char *)NULL);
		_exit(127);
	}
	/* wait for the temporary file: conversion is then under way */
	struct timespec ms = {0, 1000000};
	int waited = 0;
	while (count_entries(od) == 0 && waited < 20000) {
		nanosleep(&ms, NULL);
		waited++;
	}
	assert_true(count_entries(od) > 0);
	kill(pid, SIGINT);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 130);
	assert_int_equal(count_entries(od), 0); /* neither the output nor the temp file */
	free(out);
	free(od);
	free(md);
}

int main(void)
{
	g_dir = tu_mkdtemp("conv-cli");
	g_model = tu_path_join(g_dir, "model");
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_model);
	if (system(cmd) != 0)
		return 1;
	tcu_model m;
	tcu_model_default(&m);
	if (tcu_make_model(g_model, &m) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(usage_errors),
		cmocka_unit_test(path_errors),
		cmocka_unit_test(report_json_threads),
		cmocka_unit_test(sigint),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmtree(g_dir);
	free(g_dir);
	free(g_model);
	return rc;
}
