/* fmt — the .bale file format library (reader, streaming writer, verifier).
 *
 * Layout summary (normative text: formats/SPEC.md):
 *   [0,256)        fixed header: magic "BALE\r\n\x1a\n", u16 major=1, u16 minor, endian tag,
 *                  alignment, file size, section table offset/count, XXH3 header checksum
 *   aligned blobs  tensor data, each on a multiple of `alignment` (4096); quantized blobs hold
 *                  codes, padding to 256, then f32 scales
 *   sections       META, TENSORS, TOKENIZER, CHAT_TEMPLATES, GENERATION, PROVENANCE, FILES
 *   section table  n × {kind, flags, offset, bytes, XXH3}
 *
 * This library never prints, never exits and never trusts its input: every failure is an
 * fmt_status plus an fmt_error message naming the field, tensor and file offset.
 * Caller misuse (NULL where forbidden, index out of range) is an assert.
 */
#ifndef BALE_FMT_H
#define BALE_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FMT_VERSION_MAJOR 1
#define FMT_VERSION_MINOR 0
#define FMT_HEADER_BYTES 256u
#define FMT_DEFAULT_ALIGNMENT 4096u
#define FMT_SCALE_ALIGN 256u
#define FMT_MAX_DIMS 4
#define FMT_MAX_SECTIONS 64u
#define FMT_MAX_TENSORS 1048576u
#define FMT_MAX_NAME 512u
#define FMT_MAX_KEY 255u
#define FMT_MAX_KV 65536u
#define FMT_MAX_DIM ((uint64_t)1 << 40)
#define FMT_MAX_SECTION_BYTES ((uint64_t)1 << 30)
#define FMT_MAX_FILES 64u
#define FMT_MAX_FILE_BYTES ((uint64_t)1 << 30)

/* Codes are spaced in groups and never renumbered. */
typedef enum {
	FMT_OK = 0,
	FMT_E_IO = 10,          /* open/read/write/mmap/fsync/rename failed (message has strerror) */
	FMT_E_NOMEM = 11,
	FMT_E_INTERRUPTED = 12, /* caller asked to stop (progress callback returned false) */
	FMT_E_MAGIC = 20,       /* not a .bale file */
	FMT_E_VERSION = 21,     /* major version 0 or newer than this library */
	FMT_E_ENDIAN = 22,      /* byte-swapped file */
	FMT_E_TRUNCATED = 30,   /* file shorter than its header says */
	FMT_E_CORRUPT = 31,     /* structural violation (trailing bytes, nonzero reserved, ...) */
	FMT_E_ALIGN = 32,
	FMT_E_OVERFLOW = 33,    /* a size computation overflows 64 bits */
	FMT_E_OVERLAP = 34,     /* two regions (tensors/sections/header/table) overlap */
	FMT_E_BOUNDS = 35,      /* offset or length outside the file or section */
	FMT_E_CHECKSUM = 36,
	FMT_E_DTYPE = 40,       /* unknown dtype/scheme/scale type or bad combination */
	FMT_E_SHAPE = 41,       /* bad dims, group size, or byte size not matching shape */
	FMT_E_NAME = 42,        /* empty/invalid/non-UTF-8 name or key */
	FMT_E_DUPLICATE = 43,
	FMT_E_LIMIT = 44,       /* a count or length above its documented cap */
	FMT_E_UNSUPPORTED = 45, /* valid but unknown to this version (flags, layout, step kind) */
	FMT_E_METADATA = 46,    /* bad KV entry type or value */
	FMT_E_NOTFOUND = 50,    /* key/tensor/section absent */
	FMT_E_TYPE = 51,        /* key present with another type, or value out of range */
	FMT_E_ARG = 60,         /* bad argument (e.g. writer given an invalid tensor description) */
	FMT_E_STATE = 61,       /* call out of order (e.g. writer after finish) */
} fmt_status;

/* Filled on failure when the caller passes one; `offset` is the file offset of the bad field
 * (or UINT64_MAX when not applicable). */
typedef struct {
	fmt_status status;
	uint64_t offset;
	char msg[512];
} fmt_error;

const char *fmt_status_name(fmt_status st); /* "FMT_E_MAGIC" */
const char *fmt_strerror(fmt_status st);     /* "not a .bale file" */

/* ---------------------------------------------------------------------------------------------
 * Types */

typedef enum { FMT_F32 = 0, FMT_F16 = 1, FMT_BF16 = 2, FMT_I8 = 3, FMT_F8_E4M3 = 4, FMT_DTYPE_COUNT } fmt_dtype;
typedef enum { FMT_SCHEME_NONE = 0, FMT_SCHEME_ROW = 1, FMT_SCHEME_GROUP = 2, FMT_SCHEME_COUNT } fmt_scheme;
typedef enum { FMT_SCALE_NONE = 0, FMT_SCALE_F32 = 1 } fmt_scale_type;

typedef enum {
	FMT_SEC_META = 1,
	FMT_SEC_TENSORS = 2,
	FMT_SEC_TOKENIZER = 3,
	FMT_SEC_CHAT_TEMPLATES = 4,
	FMT_SEC_GENERATION = 5,
	FMT_SEC_PROVENANCE = 6,
	FMT_SEC_FILES = 7,
} fmt_section_kind;

typedef enum {
	FMT_V_U32 = 1, FMT_V_I32 = 2, FMT_V_U64 = 3, FMT_V_I64 = 4, FMT_V_F32 = 5, FMT_V_F64 = 6,
	FMT_V_BOOL = 7, FMT_V_STR = 8, FMT_V_ARRAY = 9,
} fmt_vtype;

const char *fmt_dtype_name(fmt_dtype t);       /* "F32", "I8", "F8_E4M3"; "?" when unknown */
size_t fmt_dtype_size(fmt_dtype t);            /* bytes per element; 0 when unknown */
const char *fmt_scheme_name(fmt_scheme s);     /* "none", "row", "group" */
const char *fmt_section_name(uint32_t kind);   /* "META", ...; "UNKNOWN" */
const char *fmt_vtype_name(uint32_t t);

/* A tensor as described by the table. Pointers borrow from the reader's mapping and die with
 * fmt_reader_close(). `scales` is NULL for scheme NONE. */
typedef struct {
	const char *name;      /* NUL-terminated copy owned by the reader */
	size_t name_len;
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t layout;
	uint32_t n_dims;
	uint64_t dims[FMT_MAX_DIMS]; /* outermost first; unused = 1 */
	uint32_t group_size;         /* GROUP only */
	fmt_scale_type scale_type;
	uint64_t n_elems, rows, cols;
	uint64_t groups;             /* scales per row: 1 (ROW), cols/group_size (GROUP), 0 (NONE) */
	uint64_t data_offset;        /* absolute file offset */
	uint64_t data_bytes;
	uint64_t scale_offset;       /* relative to data; 0 for NONE */
	uint64_t checksum;
	float err_rmse, err_max_abs, src_rms;
	const uint8_t *data;         /* data_bytes bytes */
	const uint8_t *scales;       /* rows*groups little-endian f32, 4-byte aligned in a mapped file */
} fmt_tensor;

/* Size of a blob for a given description (§6.3). Returns FMT_E_OVERFLOW/SHAPE/DTYPE on bad input. */
fmt_status fmt_tensor_layout(fmt_tensor *t, fmt_error *err); /* fills n_elems/rows/cols/groups/scale_offset/data_bytes from dtype, scheme, n_dims, dims, group_size */

/* ---------------------------------------------------------------------------------------------
 * Numeric conversions shared by converter, runtime and tools (exact, branch-light). */

float fmt_bf16_to_f32(uint16_t h);
uint16_t fmt_f32_to_bf16(float f);          /* round to nearest even; NaN stays NaN */
float fmt_f16_to_f32(uint16_t h);
uint16_t fmt_f32_to_f16(float f);           /* round to nearest even; overflow -> inf */
float fmt_e4m3_to_f32(uint8_t code);        /* 0x7F/0xFF decode to NaN */
uint8_t fmt_f32_to_e4m3(float f);           /* nearest, ties to even, saturating at ±448, NaN -> 0x7F */

/* Dequantize row `row` of t into out[t->cols] (§6.2). */
void fmt_tensor_dequant_row(const fmt_tensor *t, uint64_t row, float *out);

/* ---------------------------------------------------------------------------------------------
 * KV lists */

typedef struct {
	const char *key;  /* NUL-terminated copy owned by the reader */
	fmt_vtype type;
	union {
		uint64_t u;   /* U32, U64, BOOL */
		int64_t i;    /* I32, I64 */
		double f;     /* F32, F64 */
	} v;
	const char *str;  /* STR: bytes in the mapping (not NUL-terminated) */
	size_t str_len;
	fmt_vtype elem_type; /* ARRAY */
	uint64_t count;      /* ARRAY */
	const uint8_t *raw;  /* ARRAY: packed payload in the mapping (read with fmt_kv_array_*) */
	uint64_t raw_bytes;
	uint64_t offset;     /* file offset of the entry */
} fmt_kv;

typedef struct fmt_kvlist fmt_kvlist;

size_t fmt_kv_count(const fmt_kvlist *l);
const fmt_kv *fmt_kv_at(const fmt_kvlist *l, size_t i);
const fmt_kv *fmt_kv_find(const fmt_kvlist *l, const char *key); /* NULL when absent or l NULL */
/* Typed getters: FMT_E_NOTFOUND when absent, FMT_E_TYPE when the type does not convert exactly
 * (integers convert between widths when in range; F32/F64 convert to double). */
fmt_status fmt_kv_u32(const fmt_kvlist *l, const char *key, uint32_t *out, fmt_error *err);
fmt_status fmt_kv_i32(const fmt_kvlist *l, const char *key, int32_t *out, fmt_error *err);
fmt_status fmt_kv_u64(const fmt_kvlist *l, const char *key, uint64_t *out, fmt_error *err);
fmt_status fmt_kv_f64(const fmt_kvlist *l, const char *key, double *out, fmt_error *err);
fmt_status fmt_kv_bool(const fmt_kvlist *l, const char *key, bool *out, fmt_error *err);
fmt_status fmt_kv_str(const fmt_kvlist *l, const char *key, const char **s, size_t *len, fmt_error *err);
/* Array element i: integers/floats widened as above; strings as views. Index must be < count. */
uint64_t fmt_kv_array_u64(const fmt_kv *kv, uint64_t i);
int64_t fmt_kv_array_i64(const fmt_kv *kv, uint64_t i);
double fmt_kv_array_f64(const fmt_kv *kv, uint64_t i);
void fmt_kv_array_str(const fmt_kv *kv, uint64_t i, const char **s, size_t *len); /* O(i) */

/* ---------------------------------------------------------------------------------------------
 * Reader */

typedef struct fmt_reader fmt_reader;

typedef struct {
	uint32_t kind;
	uint32_t flags;
	uint64_t offset, bytes, checksum;
	const uint8_t *data;
} fmt_section;

typedef struct {
	uint16_t major, minor;
	uint32_t alignment;
	uint64_t file_bytes;
	uint64_t section_table_offset;
	uint32_t n_sections;
	uint64_t header_checksum;
} fmt_header;

/* Opens, maps read-only and validates everything except tensor data checksums (use fmt_verify).
 * On failure *out is NULL and err says what and where. */
fmt_status fmt_reader_open(const char *path, fmt_reader **out, fmt_error *err);
/* Same over caller memory (borrowed; must outlive the reader). For tests and fuzzing. */
fmt_status fmt_reader_open_mem(const void *data, size_t n, fmt_reader **out, fmt_error *err);
void fmt_reader_close(fmt_reader *r); /* accepts NULL; invalidates every view */

const fmt_header *fmt_reader_header(const fmt_reader *r);
const uint8_t *fmt_reader_base(const fmt_reader *r);
size_t fmt_reader_n_sections(const fmt_reader *r);
const fmt_section *fmt_reader_section_at(const fmt_reader *r, size_t i);
const fmt_section *fmt_reader_section(const fmt_reader *r, uint32_t kind); /* NULL when absent */

size_t fmt_reader_n_tensors(const fmt_reader *r);
const fmt_tensor *fmt_reader_tensor_at(const fmt_reader *r, size_t i);   /* table order */
const fmt_tensor *fmt_reader_find_tensor(const fmt_reader *r, const char *name); /* NULL when absent */

/* KV sections (META, CHAT_TEMPLATES, GENERATION, PROVENANCE); NULL when the section is absent. */
const fmt_kvlist *fmt_reader_kv(const fmt_reader *r, fmt_section_kind kind);

/* Embedded files (section FILES). */
size_t fmt_reader_n_files(const fmt_reader *r);
typedef struct {
	const char *name; /* NUL-terminated, owned by the reader */
	uint64_t raw_bytes, raw_xxh3, z_bytes;
	const uint8_t *z_data;
} fmt_file;
const fmt_file *fmt_reader_file_at(const fmt_reader *r, size_t i);
const fmt_file *fmt_reader_find_file(const fmt_reader *r, const char *name);
/* Decompresses into a malloc'ed buffer (caller frees) and checks size and XXH3. */
fmt_status fmt_file_extract(const fmt_file *f, uint8_t **out, size_t *out_len, fmt_error *err);

/* Recomputes every tensor checksum (and checks every scale is finite and >= 0) with n_threads
 * threads (0 = all cores). Reports the first failure; `progress` may be NULL and returns false
 * to stop. */
typedef bool (*fmt_progress_fn)(void *user, uint64_t done_bytes, uint64_t total_bytes);
typedef struct {
	uint64_t bytes;       /* tensor bytes hashed */
	uint64_t n_tensors;
	uint64_t n_bad;       /* tensors that failed */
	double seconds;
	double gb_per_s;
} fmt_verify_result;
fmt_status fmt_verify(const fmt_reader *r, int n_threads, fmt_progress_fn progress, void *user,
		      fmt_verify_result *res, fmt_error *err);

/* ---------------------------------------------------------------------------------------------
 * KV builder (used by the writer; also usable alone to encode a KV section) */

typedef struct fmt_kvbuild fmt_kvbuild;
fmt_kvbuild *fmt_kvbuild_create(void);
void fmt_kvbuild_free(fmt_kvbuild *b);
/* Setters fail with FMT_E_NAME/FMT_E_DUPLICATE/FMT_E_NOMEM/FMT_E_METADATA (string not UTF-8). */
fmt_status fmt_kvbuild_u32(fmt_kvbuild *b, const char *key, uint32_t v);
fmt_status fmt_kvbuild_i32(fmt_kvbuild *b, const char *key, int32_t v);
fmt_status fmt_kvbuild_u64(fmt_kvbuild *b, const char *key, uint64_t v);
fmt_status fmt_kvbuild_i64(fmt_kvbuild *b, const char *key, int64_t v);
fmt_status fmt_kvbuild_f32(fmt_kvbuild *b, const char *key, float v);
fmt_status fmt_kvbuild_f64(fmt_kvbuild *b, const char *key, double v);
fmt_status fmt_kvbuild_bool(fmt_kvbuild *b, const char *key, bool v);
fmt_status fmt_kvbuild_str(fmt_kvbuild *b, const char *key, const char *s, size_t len);
fmt_status fmt_kvbuild_array(fmt_kvbuild *b, const char *key, fmt_vtype elem, const void *elems, uint64_t count);
/* elems: uint32_t/int32_t/uint64_t/int64_t/float/double/uint8_t(bool) arrays, or for STR an array of
 * `const char *` (NUL-terminated). */
const uint8_t *fmt_kvbuild_bytes(const fmt_kvbuild *b, size_t *len); /* encoded section */

/* ---------------------------------------------------------------------------------------------
 * Streaming writer
 *
 * Writes <path>.tmp.<pid>.<n> in the target directory; fmt_writer_finish() writes the tables and
 * header, fsyncs, renames onto `path` and fsyncs the directory. fmt_writer_free() without a
 * successful finish removes the temporary file, so nothing ever appears under `path` unless the
 * whole file is complete. Output is a pure function of the calls made (deterministic). */

typedef struct fmt_writer fmt_writer;

typedef struct {
	uint32_t alignment; /* 0 = FMT_DEFAULT_ALIGNMENT */
	bool overwrite;     /* false: FMT_E_IO if `path` exists (checked at open and again before rename) */
} fmt_writer_opts;

fmt_status fmt_writer_open(const char *path, const fmt_writer_opts *opts, fmt_writer **out, fmt_error *err);
void fmt_writer_free(fmt_writer *w); /* accepts NULL; removes the temp file unless finished */
/* Path of the temporary file, for a signal handler to unlink() (async-signal-safe). */
const char *fmt_writer_temp_path(const fmt_writer *w);

/* Tensor description for the writer: name, dtype, scheme, n_dims, dims, group_size are read;
 * other fields are computed. */
typedef struct {
	const char *name;
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t n_dims;
	uint64_t dims[FMT_MAX_DIMS];
	uint32_t group_size;
} fmt_tensor_desc;

typedef struct {
	float err_rmse, err_max_abs, src_rms;
} fmt_tensor_stats;

/* Streaming form: begin, then any number of write calls that together deliver exactly the codes
 * (n_elems × dtype size bytes, FMT_PART_DATA) and then, for quantized tensors, the scales
 * (rows × groups f32 little-endian, FMT_PART_SCALES), then end. */
typedef enum { FMT_PART_DATA = 0, FMT_PART_SCALES = 1 } fmt_part;
fmt_status fmt_writer_begin_tensor(fmt_writer *w, const fmt_tensor_desc *d, fmt_error *err);
fmt_status fmt_writer_write(fmt_writer *w, fmt_part part, const void *bytes, size_t n, fmt_error *err);
fmt_status fmt_writer_end_tensor(fmt_writer *w, const fmt_tensor_stats *stats, fmt_error *err);
/* One-shot form. scales may be NULL for scheme NONE; stats may be NULL (zeros). */
fmt_status fmt_writer_add_tensor(fmt_writer *w, const fmt_tensor_desc *d, const void *data,
				 const void *scales, const fmt_tensor_stats *stats, fmt_error *err);

/* KV sections: the writer owns these builders; fill them any time before finish. */
fmt_kvbuild *fmt_writer_kv(fmt_writer *w, fmt_section_kind kind); /* META, CHAT_TEMPLATES, GENERATION, PROVENANCE */
/* Raw section (e.g. TOKENIZER from fmt_tok_encode); copies the bytes. */
fmt_status fmt_writer_set_section(fmt_writer *w, uint32_t kind, const void *bytes, size_t n, fmt_error *err);
/* Embedded file, compressed with zstd level 9. */
fmt_status fmt_writer_add_file(fmt_writer *w, const char *name, const void *bytes, size_t n, fmt_error *err);

fmt_status fmt_writer_finish(fmt_writer *w, fmt_error *err);
uint64_t fmt_writer_bytes_written(const fmt_writer *w);

#ifdef __cplusplus
}
#endif
#endif
