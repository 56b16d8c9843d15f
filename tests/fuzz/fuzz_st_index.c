/* libFuzzer target for the sharded-checkpoint index (convert/st_index.c): the input is a
 * model.safetensors.index.json written into a fixed model directory, then opened with
 * cv_st_model_open. The index is tied to the file system (shard names are checked against it and
 * the shards are opened and cross-checked), so the directory is built once per process with the
 * three shards of tests/data/hf/qwen3-bf16-sharded (same names, same tensors, tiny data) and the
 * awkward neighbours a hostile index may name: a zero-tensor shard, a shard repeating a tensor, a
 * non-safetensors file, a subdirectory, symlinks inside, outside, dangling, to a directory and to
 * a FIFO. An accepted index must map exactly the tensors of its shards, each to the shard that
 * holds it. Also linked into the corpus replay driver. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

/* tensor -> shard (1-based) of the qwen3-bf16-sharded fixture */
static const struct {
	const char *name;
	int shard;
} fixture[] = {
	{"lm_head.weight", 3},
	{"model.embed_tokens.weight", 1},
	{"model.layers.0.input_layernorm.weight", 2},
	{"model.layers.0.mlp.down_proj.weight", 2},
	{"model.layers.0.mlp.gate_proj.weight", 1},
	{"model.layers.0.mlp.up_proj.weight", 1},
	{"model.layers.0.post_attention_layernorm.weight", 2},
	{"model.layers.0.self_attn.k_norm.weight", 1},
	{"model.layers.0.self_attn.k_proj.weight", 1},
	{"model.layers.0.self_attn.o_proj.weight", 1},
	{"model.layers.0.self_attn.q_norm.weight", 1},
	{"model.layers.0.self_attn.q_proj.weight", 1},
	{"model.layers.0.self_attn.v_proj.weight", 1},
	{"model.layers.1.input_layernorm.weight", 2},
	{"model.layers.1.mlp.down_proj.weight", 2},
	{"model.layers.1.mlp.gate_proj.weight", 2},
	{"model.layers.1.mlp.up_proj.weight", 2},
	{"model.layers.1.post_attention_layernorm.weight", 2},
	{"model.layers.1.self_attn.k_norm.weight", 2},
	{"model.layers.1.self_attn.k_proj.weight", 2},
	{"model.layers.1.self_attn.o_proj.weight", 2},
	{"model.layers.1.self_attn.q_norm.weight", 2},
	{"model.layers.1.self_attn.q_proj.weight", 2},
	{"model.layers.1.self_attn.v_proj.weight", 2},
	{"model.norm.weight", 2},
};
#define N_FIXTURE (sizeof fixture / sizeof *fixture)

static char root[256], dir[300], index_path[400];
static const char *const made[] = {
	"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
	"model.safetensors", "empty.safetensors", "dup.safetensors", "junk.safetensors", "in-link.safetensors",
	"out-link.safetensors", "dangling.safetensors", "dir-link", "fifo", "fifo-link.safetensors",
	"model.safetensors.index.json",
};

static void cleanup(void)
{
	char p[512];
	for (size_t i = 0; i < sizeof made / sizeof *made; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, made[i]);
		unlink(p);
	}
	snprintf(p, sizeof p, "%s/sub", dir);
	rmdir(p);
	rmdir(dir);
	snprintf(p, sizeof p, "%s/outside.safetensors", root);
	unlink(p);
	rmdir(root);
}

static void put(const char *path, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n || close(fd) != 0) {
		fprintf(stderr, "fuzz_st_index: cannot write %s: %s\n", path, strerror(errno));
		abort();
	}
}

/* Writes `in`/`name`: a safetensors file holding the tensors of `shard` in the fixture table plus
 * `extra` (either may be absent), F32, one element each. */
static void put_st(const char *in, const char *name, int shard, const char *extra)
{
	char hdr[8192], file[8192 + 8 + 4 * N_FIXTURE + 8], path[512];
	size_t h = 0, nt = 0;
	h += (size_t)snprintf(hdr + h, sizeof hdr - h, "{");
	for (size_t i = 0; i <= N_FIXTURE; i++) {
		const char *t = i < N_FIXTURE ? (fixture[i].shard == shard ? fixture[i].name : NULL) : extra;
		if (!t)
			continue;
		h += (size_t)snprintf(hdr + h, sizeof hdr - h,
				      "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [%zu, %zu]}",
				      nt ? ", " : "", t, 4 * nt, 4 * nt + 4);
		nt++;
	}
	h += (size_t)snprintf(hdr + h, sizeof hdr - h, "}");
	while (h % 8)
		hdr[h++] = ' ';
	for (int i = 0; i < 8; i++)
		file[i] = (char)((uint64_t)h >> (8 * i));
	memcpy(file + 8, hdr, h);
	memset(file + 8 + h, 0x3f, 4 * nt);
	snprintf(path, sizeof path, "%s/%s", in, name);
	put(path, file, 8 + h + 4 * nt);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/fuzz-st-index-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		fprintf(stderr, "fuzz_st_index: mkdtemp %s: %s\n", root, strerror(errno));
		abort();
	}
	atexit(cleanup);
	snprintf(dir, sizeof dir, "%s/m", root);
	snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", dir);
	char p[512], q[512];
	snprintf(p, sizeof p, "%s/sub", dir);
	if (mkdir(dir, 0700) || mkdir(p, 0700))
		abort();
	put_st(dir, "model-00001-of-00003.safetensors", 1, NULL);
	put_st(dir, "model-00002-of-00003.safetensors", 2, NULL);
	put_st(dir, "model-00003-of-00003.safetensors", 3, NULL);
	put_st(dir, "model.safetensors", 0, "x");
	put_st(dir, "empty.safetensors", 0, NULL);
	put_st(dir, "dup.safetensors", 0, "lm_head.weight");
	snprintf(p, sizeof p, "%s/junk.safetensors", dir);
	put(p, "not a safetensors file", 22);
	put_st(root, "outside.safetensors", 0, "outside");
	static const char *const links[][2] = {
		{"in-link.safetensors", "model-00003-of-00003.safetensors"},
		{"out-link.safetensors", "../outside.safetensors"},
		{"dangling.safetensors", "missing.safetensors"},
		{"dir-link", "sub"},
		{"fifo-link.safetensors", "fifo"},
	};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		snprintf(q, sizeof q, "%s/%s", dir, links[i][0]);
		if (symlink(links[i][1], q))
			abort();
	}
	snprintf(p, sizeof p, "%s/fifo", dir);
	if (mkfifo(p, 0600))
		abort();
}

/* An accepted model maps every tensor of every shard exactly once, as the index says. */
static void check_model(const cv_st_model *m, const uint8_t *data, size_t size)
{
	json_t *root_j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *wm = json_object_get(root_j, "weight_map");
	size_t ns = cv_st_model_n_shards(m), n = cv_st_model_n_tensors(m);
	if (!json_is_object(wm) || ns == 0 || ns > CV_ST_MAX_SHARDS || n != json_object_size(wm) ||
	    !cv_st_model_index_name(m))
		abort();
	size_t per_shard = 0;
	for (size_t i = 0; i < ns; i++) {
		const char *s = cv_st_model_shard_name(m, i);
		if (!s || strchr(s, '/') || (i && strcmp(cv_st_model_shard_name(m, i - 1), s) >= 0))
			abort();
		per_shard += cv_st_n_tensors(cv_st_model_shard(m, i));
	}
	if (per_shard != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const cv_st_ref *r = cv_st_model_tensor_at(m, i);
		if (!r || r->shard >= ns || cv_st_model_find(m, r->t->name) != r ||
		    cv_st_find(cv_st_model_shard(m, r->shard), r->t->name) != r->t)
			abort();
		if (i && strcmp(cv_st_model_tensor_at(m, i - 1)->t->name, r->t->name) >= 0)
			abort();
		const char *mapped = json_string_value(json_object_get(wm, r->t->name));
		if (!mapped || strcmp(mapped, cv_st_model_shard_name(m, r->shard)))
			abort();
		sink += r->t->data[0];
	}
	if (cv_st_model_tensor_at(m, n) || cv_st_model_find(m, ""))
		abort();
	json_decref(root_j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0])
		setup();
	put(index_path, data, size);
	cv_st_model *m = NULL;
	cv_err err = {{0}};
	if (cv_st_model_open(dir, &m, &err) != 0) {
		if (m || strlen(err.msg) == 0)
			abort(); /* every rejection must explain itself and leave nothing behind */
		return 0;
	}
	check_model(m, data, size);
	cv_st_model_close(m);
	return 0;
}
