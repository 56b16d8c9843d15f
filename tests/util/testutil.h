/* Shared helpers for bale's cmocka tests. */
#ifndef BALE_TESTUTIL_H
#define BALE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the three headers above first. */
#include <cmocka.h>

#define BALE_SKIP 77

/* Deterministic PRNG (splitmix64) so failures reproduce. */
typedef struct {
	uint64_t s;
} tu_rng;
uint64_t tu_rng_u64(tu_rng *r);
double tu_rng_uniform(tu_rng *r);  /* [0,1) */
double tu_rng_normal(tu_rng *r);   /* N(0,1) */

/* Creates a fresh empty directory under $TMPDIR (or /tmp); returns a malloc'ed path. */
char *tu_mkdtemp(const char *tag);
/* rm -rf of a directory made by tu_mkdtemp. */
void tu_rmtree(const char *path);
char *tu_path_join(const char *dir, const char *name); /* malloc'ed */
int tu_write_file(const char *path, const void *data, size_t n);
/* Reads a whole file into a malloc'ed buffer; NULL on error. */
uint8_t *tu_read_file(const char *path, size_t *n);
int tu_file_exists(const char *path);
/* Runs a shell command, capturing stdout and stderr into malloc'ed strings (may be NULL).
 * Returns the exit status, or -1 if it did not exit normally. */
int tu_run(const char *cmd, char **out, char **errout);
/* `bale convert SRC -o DST --weights W --quiet` with the binary BIN; 0 on success, else the
 * exit status (the command and its stderr are printed). */
int tu_bale_convert(const char *bin, const char *src, const char *dst, const char *weights);
/* Directory with ../shared/fixtures, or NULL when absent (tests then skip). */
const char *tu_shared_dir(void);

#endif
