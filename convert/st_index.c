/* A checkpoint directory: one model.safetensors, or an index plus shards (safetensors.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define MAX_INDEX_BYTES (64u << 20)

struct cv_st_model {
	size_t n_shards;
	char **shard_names;
	cv_st_file **shards;
	size_t n;
	cv_st_ref *refs; /* sorted by name */
	bool sharded;
};

int cv_read_file(const char *path, uint64_t max, char **out, size_t *len, cv_err *err)
{
	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, before the
	 * regular-file check below can refuse it (no effect on regular files) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return cv_fail(err, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cv_fail(err, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return cv_fail(err, "%s: %llu bytes, larger than the %llu byte limit", path,
			       (unsigned long long)st.st_size, (unsigned long long)max);
	}
	size_t n = (size_t)st.st_size;
	char *buf = malloc(n + 1);
	if (!buf) {
		close(fd);
		return cv_fail(err, "%s: out of memory", path);
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(buf);
			close(fd);
			return cv_fail(err, "%s: read failed: %s", path, r < 0 ? strerror(e) : "file shrank while reading");
		}
		got += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* A shard name must be a plain basename naming a regular file that stays inside `dir`. */
static int check_shard_name(const char *dir, const char *idx, const char *name, cv_err *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > 255 || strchr(name, '/') || strchr(name, '\\') || !strcmp(name, ".") || !strcmp(name, ".."))
		return cv_fail(err, "%s: shard file name '%.300s' is not a plain file name inside the model directory", idx, name);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20)
			return cv_fail(err, "%s: shard file name '%.300s' contains a control character", idx, name);
	char *p = join(dir, name);
	if (!p)
		return cv_fail(err, "%s: out of memory", idx);
	struct stat st;
	int rc = 0;
	if (lstat(p, &st) != 0) {
		rc = cv_fail(err, "%s: shard '%s' cannot be opened: %s", idx, name, strerror(errno));
	} else if (S_ISLNK(st.st_mode)) {
		char *rd = realpath(dir, NULL), *rp = realpath(p, NULL);
		size_t dl = rd ? strlen(rd) : 0;
		struct stat ts;
		if (!rp)
			rc = cv_fail(err, "%s: shard '%s' is a symlink that cannot be resolved: %s", idx, name, strerror(errno));
		else if (!rd || strncmp(rp, rd, dl) != 0 || rp[dl] != '/')
			rc = cv_fail(err, "%s: shard '%s' is a symlink that leaves the model directory", idx, name);
		else if (stat(rp, &ts) != 0 || !S_ISREG(ts.st_mode)) /* a FIFO would block the open */
			rc = cv_fail(err, "%s: shard '%s' is a symlink to something other than a regular file", idx, name);
		free(rd);
		free(rp);
	} else if (!S_ISREG(st.st_mode)) {
		rc = cv_fail(err, "%s: shard '%s' is not a regular file", idx, name);
	}
	free(p);
	return rc;
}

static int cmp_ref(const void *a, const void *b)
{
	const cv_st_ref *x = a, *y = b;
	return strcmp(x->t->name, y->t->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int open_shards(cv_st_model *m, const char *dir, cv_err *err)
{
	m->shards = calloc(m->n_shards, sizeof *m->shards);
	if (!m->shards)
		return cv_fail(err, "out of memory");
	for (size_t i = 0; i < m->n_shards; i++) {
		char *p = join(dir, m->shard_names[i]);
		if (!p)
			return cv_fail(err, "out of memory");
		int rc = cv_st_open(p, &m->shards[i], err);
		free(p);
		if (rc)
			return -1;
	}
	return 0;
}

static int load_index(cv_st_model *m, const char *dir, cv_err *err)
{
	char *idx = join(dir, INDEX_NAME), *buf = NULL;
	size_t len;
	json_t *root = NULL;
	int rc = -1;
	if (!idx)
		return cv_fail(err, "out of memory");
	if (cv_read_file(idx, MAX_INDEX_BYTES, &buf, &len, err))
		goto out;
	json_error_t je;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		cv_fail(err, "%s: invalid JSON at line %d column %d: %s", idx, je.line, je.column, je.text);
		goto out;
	}
	json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
	if (!json_is_object(wm) || json_object_size(wm) == 0) {
		cv_fail(err, "%s: missing or empty \"weight_map\" object", idx);
		goto out;
	}
	size_t nmap = json_object_size(wm);
	m->shard_names = calloc(nmap, sizeof *m->shard_names);
	if (!m->shard_names) {
		cv_fail(err, "out of memory");
		goto out;
	}
	const char *k;
	json_t *v;
	/* Distinct shard names, sorted so the shard order never depends on JSON key order. */
	json_object_foreach(wm, k, v) {
		if (!json_is_string(v)) {
			cv_fail(err, "%s: weight_map entry '%.300s' is not a string", idx, k);
			goto out;
		}
		const char *s = json_string_value(v);
		bool seen = false;
		for (size_t i = 0; i < m->n_shards && !seen; i++)
			seen = !strcmp(m->shard_names[i], s);
		if (seen)
			continue;
		if (m->n_shards >= CV_ST_MAX_SHARDS) {
			cv_fail(err, "%s: more than %d shard files", idx, CV_ST_MAX_SHARDS);
			goto out;
		}
		if (check_shard_name(dir, idx, s, err))
			goto out;
		if (!(m->shard_names[m->n_shards] = strdup(s))) {
			cv_fail(err, "out of memory");
			goto out;
		}
		m->n_shards++;
	}
	qsort(m->shard_names, m->n_shards, sizeof *m->shard_names, cmp_str);
	if (open_shards(m, dir, err))
		goto out;
	size_t total = 0;
	for (size_t i = 0; i < m->n_shards; i++)
		total += cv_st_n_tensors(m->shards[i]);
	m->refs = calloc(total ? total : 1, sizeof *m->refs);
	if (!m->refs) {
		cv_fail(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->n_shards; i++) {
		cv_st_file *f = m->shards[i];
		for (size_t j = 0; j < cv_st_n_tensors(f); j++) {
			const cv_st_tensor *t = cv_st_tensor_at(f, j);
			json_t *e = json_object_get(wm, t->name);
			if (!e) {
				cv_fail(err, "%s: tensor '%s' of shard '%s' is not listed in the index", idx, t->name,
					m->shard_names[i]);
				goto out;
			}
			if (strcmp(json_string_value(e), m->shard_names[i])) {
				cv_fail(err, "%s: tensor '%s' is mapped to '%s' but stored in '%s'", idx, t->name,
					json_string_value(e), m->shard_names[i]);
				goto out;
			}
			m->refs[m->n++] = (cv_st_ref){t, (uint32_t)i};
		}
	}
	json_object_foreach(wm, k, v) {
		const char *s = json_string_value(v);
		size_t i = 0;
		while (strcmp(m->shard_names[i], s))
			i++;
		if (!cv_st_find(m->shards[i], k)) {
			cv_fail(err, "%s: tensor '%.300s' is mapped to '%s' but that shard does not contain it", idx, k, s);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	free(buf);
	free(idx);
	return rc;
}

static int load_single(cv_st_model *m, const char *dir, cv_err *err)
{
	m->shard_names = calloc(1, sizeof *m->shard_names);
	if (!m->shard_names || !(m->shard_names[0] = strdup(SINGLE_NAME)))
		return cv_fail(err, "out of memory");
	m->n_shards = 1;
	if (check_shard_name(dir, dir, SINGLE_NAME, err))
		return -1;
	if (open_shards(m, dir, err))
		return -1;
	size_t n = cv_st_n_tensors(m->shards[0]);
	m->refs = calloc(n ? n : 1, sizeof *m->refs);
	if (!m->refs)
		return cv_fail(err, "out of memory");
	for (size_t j = 0; j < n; j++)
		m->refs[m->n++] = (cv_st_ref){cv_st_tensor_at(m->shards[0], j), 0};
	return 0;
}

int cv_st_model_open(const char *dir, cv_st_model **out, cv_err *err)
{
	*out = NULL;
	cv_st_model *m = calloc(1, sizeof *m);
	if (!m)
		return cv_fail(err, "out of memory");
	char *idx = join(dir, INDEX_NAME), *single = join(dir, SINGLE_NAME);
	struct stat st;
	int rc;
	if (!idx || !single) {
		rc = cv_fail(err, "out of memory");
	} else if (lstat(idx, &st) == 0) {
		m->sharded = true;
		rc = load_index(m, dir, err);
	} else if (lstat(single, &st) == 0) {
		rc = load_single(m, dir, err);
	} else {
		rc = cv_fail(err, "%s: neither %s nor %s found", dir, SINGLE_NAME, INDEX_NAME);
	}
	free(idx);
	free(single);
	if (rc) {
		cv_st_model_close(m);
		return -1;
	}
	qsort(m->refs, m->n, sizeof *m->refs, cmp_ref);
	for (size_t i = 1; i < m->n; i++)
		if (!strcmp(m->refs[i].t->name, m->refs[i - 1].t->name)) {
			cv_fail(err, "%s: tensor '%s' appears in more than one shard", dir, m->refs[i].t->name);
			cv_st_model_close(m);
			return -1;
		}
	*out = m;
	return 0;
}

void cv_st_model_close(cv_st_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_shards; i++) {
		if (m->shards)
			cv_st_close(m->shards[i]);
		free(m->shard_names[i]);
	}
	free(m->shards);
	free(m->shard_names);
	free(m->refs);
	free(m);
}

size_t cv_st_model_n_shards(const cv_st_model *m) { return m->n_shards; }
cv_st_file *cv_st_model_shard(const cv_st_model *m, size_t i) { return m->shards[i]; }
const char *cv_st_model_shard_name(const cv_st_model *m, size_t i) { return m->shard_names[i]; }
size_t cv_st_model_n_tensors(const cv_st_model *m) { return m->n; }
const cv_st_ref *cv_st_model_tensor_at(const cv_st_model *m, size_t i) { return i < m->n ? &m->refs[i] : NULL; }
const char *cv_st_model_index_name(const cv_st_model *m) { return m->sharded ? INDEX_NAME : NULL; }

const cv_st_ref *cv_st_model_find(const cv_st_model *m, const char *name)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, m->refs[mid].t->name);
		if (!c)
			return &m->refs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
