#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

uint64_t tu_rng_u64(tu_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double tu_rng_uniform(tu_rng *r)
{
	return (double)(tu_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double tu_rng_normal(tu_rng *r)
{
	double u1 = tu_rng_uniform(r), u2 = tu_rng_uniform(r);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

char *tu_mkdtemp(const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	size_t n = strlen(base) + strlen(tag) + 32;
	char *p = malloc(n);
	if (!p)
		return NULL;
	snprintf(p, n, "%s/bale-%s-XXXXXX", base, tag);
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

void tu_rmtree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char *c = tu_path_join(path, e->d_name);
			struct stat st;
			if (c && lstat(c, &st) == 0 && S_ISDIR(st.st_mode))
				tu_rmtree(c);
			else if (c)
				unlink(c);
			free(c);
		}
		closedir(d);
	}
	rmdir(path);
}

char *tu_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int tu_write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = n ? fwrite(data, 1, n, f) : 0;
	int rc = fclose(f);
	return (w == n && rc == 0) ? 0 : -1;
}

uint8_t *tu_read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + len, 1, cap - len, f);
		len += r;
		if (len < cap)
			break;
		uint8_t *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	if (buf && n)
		*n = len;
	return buf;
}

int tu_file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static char *slurp_fd(FILE *f)
{
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	for (;;) {
		size_t r = fread(s + len, 1, cap - len - 1, f);
		len += r;
		if (r == 0)
			break;
		if (len + 1 >= cap) {
			char *ns = realloc(s, cap * 2);
			if (!ns)
				break;
			s = ns;
			cap *= 2;
		}
	}
	s[len] = 0;
	return s;
}

int tu_run(const char *cmd, char **out, char **errout)
{
	char errpath[] = "/tmp/bale-tu-err-XXXXXX";
	int efd = mkstemp(errpath);
	if (efd < 0)
		return -1;
	close(efd);
	size_t n = strlen(cmd) + strlen(errpath) + 16;
	char *full = malloc(n);
	if (!full)
		return -1;
	snprintf(full, n, "(%s) 2>%s", cmd, errpath);
	FILE *p = popen(full, "r");
	free(full);
	if (!p) {
		unlink(errpath);
		return -1;
	}
	char *o = slurp_fd(p);
	int st = pclose(p);
	if (out)
		*out = o;
	else
		free(o);
	if (errout) {
		FILE *ef = fopen(errpath, "r");
		*errout = ef ? slurp_fd(ef) : NULL;
		if (ef)
			fclose(ef);
	}
	unlink(errpath);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

const char *tu_shared_dir(void)
{
	static char buf[4096];
	const char *d = getenv("BALE_SHARED_DIR");
	if (!d)
		return NULL;
	snprintf(buf, sizeof buf, "%s/fixtures", d);
	struct stat st;
	if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	snprintf(buf, sizeof buf, "%s", d);
	return buf;
}

int tu_bale_convert(const char *bin, const char *src, const char *dst, const char *weights)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' convert '%s' -o '%s' --weights %s --quiet", bin, src, dst, weights);
	char *so = NULL, *se = NULL;
	int rc = tu_run(cmd, &so, &se);
	if (rc != 0)
		fprintf(stderr, "%s failed (%d): %s\n", cmd, rc, se ? se : "");
	free(so);
	free(se);
	return rc;
}
