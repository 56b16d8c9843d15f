/* Quantizers of formats/SPEC.md §6.4. Every rounding step is written out as bit arithmetic or a
 * binary32 operation whose result IEEE fixes, so the output does not depend on libm, the
 * compiler's choice of vector width or the host's rounding helpers. Build without -ffast-math
 * and without -ffp-contract=fast: the magic-constant roundings and the binary64 sums rely on
 * strict evaluation (products that feed a magic add are exact, so contracting those is
 * harmless). tools/reference/quant_reference.py is an independent numpy implementation. */
#include "quant.h"

#include <math.h>
#include <string.h>

/* 1.5·2^23: adding it to |x| ≤ 2^22 leaves x rounded to an integer (nearest, ties to even) in
 * the low mantissa bits. */
#define MAGIC_RNE 12582912.0f
#define MAGIC_RNE_BITS 0x4B400000u

/* The hot loops are compiled twice, for baseline x86-64 and for AVX2 (picked at load time):
 * baseline SSE2 has no packed 32-bit max or float→int conversions with the widths we need, so
 * -O2 code for it stays mostly scalar. Lanes never interact and FMA is not enabled, so both
 * versions compute bit-identical results. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CV_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CV_HOT
#endif

#define F32_EXP_MASK 0x7F800000u
#define F32_ABS_MASK 0x7FFFFFFFu

static inline uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline uint16_t load_u16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void store_u16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* ---- exact widenings ---------------------------------------------------------------------- */

static inline float bf16_widen(uint16_t h)
{
	return u2f((uint32_t)h << 16);
}

/* Caller has excluded exponent 31 (Inf/NaN). */
static inline float f16_widen(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t e = h & 0x7C00u;
	uint32_t m = h & 0x03FFu;
	/* Normal: rebias 15 → 127 (add 112 to the exponent). Subnormal: m·2^-24 is exact in f32. */
	float normal = u2f(sign | (((uint32_t)(h & 0x7FFFu) << 13) + (112u << 23)));
	float sub = u2f(sign | f2u((float)m * 0x1p-24f));
	return e ? normal : sub;
}

CV_HOT int cv_src_to_f32(cv_src_dtype t, const void *src, size_t n, float *dst, size_t *bad_index)
{
	if (n == 0)
		return 0;
	if (!src || !dst)
		return -1;
	const uint8_t *p = src;
	uint32_t bad = 0;
	switch (t) {
	case CV_SRC_F32: {
		size_t bytes;
		if (__builtin_mul_overflow(n, sizeof(float), &bytes))
			return -1;
		memcpy(dst, p, bytes);
		for (size_t i = 0; i < n; i++)
			bad |= (f2u(dst[i]) & F32_EXP_MASK) == F32_EXP_MASK;
		break;
	}
	case CV_SRC_BF16: {
		size_t i = 0;
		for (; i + 16 <= n; i += 16)
			for (unsigned j = 0; j < 16; j++) {
				uint16_t h = load_u16le(p + 2 * (i + j));
				bad |= (h & 0x7F80u) == 0x7F80u;
				dst[i + j] = bf16_widen(h);
			}
		for (; i < n; i++) {
			uint16_t h = load_u16le(p + 2 * i);
			bad |= (h & 0x7F80u) == 0x7F80u;
			dst[i] = bf16_widen(h);
		}
		break;
	}
	case CV_SRC_F16:
		for (size_t i = 0; i < n; i++) {
			uint16_t h = load_u16le(p + 2 * i);
			bad |= (h & 0x7C00u) == 0x7C00u;
			dst[i] = f16_widen(h);
		}
		break;
	default:
		return -1;
	}
	if (!bad)
		return 0;
	/* Rare path: find the first offender in the source. */
	size_t i = 0;
	for (; i < n; i++) {
		if (t == CV_SRC_F32 && (f2u(dst[i]) & F32_EXP_MASK) == F32_EXP_MASK)
			break;
		if (t == CV_SRC_BF16 && (load_u16le(p + 2 * i) & 0x7F80u) == 0x7F80u)
			break;
		if (t == CV_SRC_F16 && (load_u16le(p + 2 * i) & 0x7C00u) == 0x7C00u)
			break;
	}
	if (bad_index)
		*bad_index = i;
	return -1;
}

/* ---- kinds ------------------------------------------------------------------------------- */

fmt_dtype cv_qkind_dtype(cv_qkind k)
{
	switch (k) {
	case CV_Q_F32: return FMT_F32;
	case CV_Q_F16: return FMT_F16;
	case CV_Q_BF16: return FMT_BF16;
	case CV_Q_INT8_ROW:
	case CV_Q_INT8_GROUP: return FMT_I8;
	case CV_Q_FP8_ROW: return FMT_F8_E4M3;
	}
	return FMT_DTYPE_COUNT;
}

fmt_scheme cv_qkind_scheme(cv_qkind k)
{
	switch (k) {
	case CV_Q_F32:
	case CV_Q_F16:
	case CV_Q_BF16: return FMT_SCHEME_NONE;
	case CV_Q_INT8_ROW:
	case CV_Q_FP8_ROW: return FMT_SCHEME_ROW;
	case CV_Q_INT8_GROUP: return FMT_SCHEME_GROUP;
	}
	return FMT_SCHEME_COUNT;
}

const char *cv_qkind_name(cv_qkind k, uint32_t group)
{
	switch (k) {
	case CV_Q_F32: return "f32";
	case CV_Q_F16: return "f16";
	case CV_Q_BF16: return "bf16";
	case CV_Q_INT8_ROW: return "int8";
	case CV_Q_FP8_ROW: return "fp8";
	case CV_Q_INT8_GROUP:
		switch (group) {
		case 32: return "int8-g32";
		case 64: return "int8-g64";
		case 128: return "int8-g128";
		}
		return NULL;
	}
	return NULL;
}

/* ---- exact accumulator ------------------------------------------------------------------- */

/* The row sums are added exactly (as real numbers) so that any split of the rows into calls,
 * merged in any order, gives the same total; SPEC §6.4 defines the total as that exact sum
 * rounded once to binary64. Every finite non-negative double is an integer multiple of 2^-1074
 * below 2^1024, so bit b of the accumulator weighs 2^(b-1074). */

static void xacc_add(uint64_t *acc, double v)
{
	/* v is a finite non-negative row sum (checked by the caller's construction). */
	if (!(v > 0))
		return;
	int e;
	double fr = frexp(v, &e);                       /* v = fr·2^e, fr in [0.5,1) */
	uint64_t m = (uint64_t)ldexp(fr, 53);           /* exact: 53 bits */
	int pos = e - 53 + 1074;                        /* weight of m's lowest bit */
	if (pos < 0) {                                  /* subnormal v: m has trailing zeros */
		m >>= -pos;
		pos = 0;
	}
	unsigned limb = (unsigned)pos / 64, sh = (unsigned)pos % 64;
	uint64_t lo = m << sh;
	uint64_t hi = sh ? m >> (64 - sh) : 0;
	uint64_t c = __builtin_add_overflow(acc[limb], lo, &acc[limb]);
	for (unsigned i = limb + 1; i < CV_XACC_LIMBS && (hi || c); i++) {
		uint64_t t;
		uint64_t c1 = __builtin_add_overflow(acc[i], hi, &t);
		uint64_t c2 = __builtin_add_overflow(t, c, &acc[i]);
		c = c1 | c2;
		hi = 0;
	}
}

static void xacc_merge(uint64_t *into, const uint64_t *from)
{
	uint64_t c = 0;
	for (unsigned i = 0; i < CV_XACC_LIMBS; i++) {
		uint64_t t;
		uint64_t c1 = __builtin_add_overflow(into[i], from[i], &t);
		uint64_t c2 = __builtin_add_overflow(t, c, &into[i]);
		c = c1 | c2;
	}
}

/* 64 accumulator bits starting at bit `lo` (bits below 0 read as zero). */
static uint64_t xacc_bits(const uint64_t *acc, int lo)
{
	uint64_t r = 0;
	for (int k = 0; k < 64; k++) {
		int b = lo + k;
		if (b >= 0 && b < CV_XACC_LIMBS * 64 && ((acc[b / 64] >> (b % 64)) & 1))
			r |= (uint64_t)1 << k;
	}
	return r;
}

static int xacc_any_below(const uint64_t *acc, int pos)
{
	for (int b = 0; b < pos; b++)
		if ((acc[b / 64] >> (b % 64)) & 1)
			return 1;
	return 0;
}

/* The accumulated value rounded to nearest binary64, ties to even. Called once per tensor, so
 * bit-by-bit extraction is fast enough and easy to check. */
static double xacc_value(const uint64_t *acc)
{
	int top = -1;
	for (int i = CV_XACC_LIMBS - 1; i >= 0; i--) {
		if (acc[i]) {
			top = i * 64 + 63 - __builtin_clzll(acc[i]);
			break;
		}
	}
	if (top < 0)
		return 0.0;
	if (top < 53)
		return ldexp((double)xacc_bits(acc, 0), -1074);
	int lo = top - 52;
	uint64_t m = xacc_bits(acc, lo) & (((uint64_t)1 << 53) - 1);
	int round = (int)((xacc_bits(acc, lo - 1)) & 1);
	if (round && (xacc_any_below(acc, lo - 1) || (m & 1)))
		m++; /* may reach 2^53: still exact as a double */
	return ldexp((double)m, lo - 1074);
}

void cv_qstats_init(cv_qstats *s)
{
	memset(s, 0, sizeof *s);
}

void cv_qstats_merge(cv_qstats *into, const cv_qstats *from)
{
	xacc_merge(into->xacc_err, from->xacc_err);
	xacc_merge(into->xacc_src, from->xacc_src);
	into->sum_sq_err = xacc_value(into->xacc_err);
	into->sum_sq_src = xacc_value(into->xacc_src);
	if (from->max_abs_err > into->max_abs_err)
		into->max_abs_err = from->max_abs_err;
	into->n += from->n;
}

fmt_tensor_stats cv_qstats_finish(const cv_qstats *s)
{
	fmt_tensor_stats r = {0, 0, 0};
	if (s->n == 0)
		return r;
	double n = (double)s->n;
	r.err_rmse = (float)sqrt(s->sum_sq_err / n);
	r.err_max_abs = (float)s->max_abs_err;
	r.src_rms = (float)sqrt(s->sum_sq_src / n);
	return r;
}

/* ---- element encoders (exact; inputs finite) --------------------------------------------- */

/* int8 code of w/s, s > 0: clamp(rint(w/s), ±127). |w/s| ≤ 190.5 even when s is subnormal (s ≥
 * max(amax/127 − 2^-150, 2^-149)), so the magic add rounds it exactly; the rounded integer is
 * read from the low mantissa bits and clamped as an integer, which keeps the loop free of
 * float selects the vectorizer would refuse. */
static inline int8_t i8_encode(float w, float s)
{
	int32_t k = (int32_t)(f2u(w / s + MAGIC_RNE) - MAGIC_RNE_BITS);
	k = k > 127 ? 127 : k;
	k = k < -127 ? -127 : k;
	return (int8_t)k;
}

/* OCP E4M3fn code nearest to x, ties to even mantissa, saturating at ±448; sign kept (so -0 and
 * negative values that round to zero give 0x80). */
static inline uint8_t e4m3_encode(float x)
{
	uint32_t u = f2u(x);
	uint32_t sign = (u >> 24) & 0x80u;
	uint32_t a = u & F32_ABS_MASK;
	a = a < 0x43E00000u ? a : 0x43E00000u; /* min(|x|, 448): integer order = float order */
	float ax = u2f(a);
	/* Normal (|x| ≥ 2^-6): rebias 127 → 7 and round the 23-bit mantissa to 3 bits. A carry
	 * into the exponent is the correct next binade; 448 is the largest input, so 0x7F never
	 * appears. */
	uint32_t cn = (a - (120u << 23) + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
	/* Subnormal: multiples of 2^-9; ax·2^9 < 8 is exact and the magic add rounds it. */
	uint32_t cs = f2u(ax * 512.0f + MAGIC_RNE) - MAGIC_RNE_BITS;
	uint32_t sub = 0u - (uint32_t)(a < 0x3C800000u); /* mask, not a select: keeps it vectorizable */
	return (uint8_t)((cs & sub) | (cn & ~sub) | sign);
}

static inline float e4m3_decode(uint8_t c)
{
	uint32_t sign = (uint32_t)(c & 0x80u) << 24;
	uint32_t mag = c & 0x7Fu;
	uint32_t normal = (mag << 20) + (120u << 23);
	uint32_t sub = f2u((float)(mag & 7u) * 0x1p-9f);
	uint32_t is_sub = 0u - (uint32_t)(mag < 8u);
	return u2f(sign | (sub & is_sub) | (normal & ~is_sub));
}

/* binary16 bits, round to nearest even; *ovf set when |w| rounds beyond 65504. */
static inline uint16_t f16_encode(float w, uint32_t *ovf)
{
	uint32_t u = f2u(w);
	uint32_t sign = (u >> 16) & 0x8000u;
	uint32_t a = u & F32_ABS_MASK;
	/* 65520 is halfway between 65504 (odd mantissa) and 2^16: ties go up, to infinity. */
	*ovf |= a >= 0x477FF000u;
	uint32_t hn = (a - (112u << 23) + 0x0FFFu + ((a >> 13) & 1u)) >> 13;
	uint32_t hs = f2u(u2f(a) * 0x1p24f + MAGIC_RNE) - MAGIC_RNE_BITS;
	uint32_t sub = 0u - (uint32_t)(a < 0x38800000u);
	return (uint16_t)((hs & sub) | (hn & ~sub) | sign);
}

static inline uint16_t bf16_encode(float w, uint32_t *ovf)
{
	uint32_t u = f2u(w);
	uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
	*ovf |= (r & 0x7F80u) == 0x7F80u;
	return (uint16_t)r;
}

/* ---- per-row drivers --------------------------------------------------------------------- */

/* The element loops run in blocks of a constant BLK: with a fixed trip count and restrict
 * pointers GCC's -O2 cost model vectorizes them (an open-ended loop would need an epilogue,
 * which -O2 refuses); the tail is the same scalar code. Lanes never interact, so the results
 * are those of the scalar code. */
#define BLK 16

/* Largest |w| of n values as f32 bits; ≥ 0x7F800000 means a NaN or Inf is present. Integer max
 * on the magnitude bits orders finite floats exactly. */
CV_HOT static int32_t amax_bits(const float *restrict w, uint64_t n)
{
	int32_t m[BLK] = {0};
	uint64_t i = 0;
	for (; i + BLK <= n; i += BLK) {
		for (unsigned j = 0; j < BLK; j++) {
			int32_t a = (int32_t)(f2u(w[i + j]) & F32_ABS_MASK);
			m[j] = a > m[j] ? a : m[j];
		}
	}
	for (; i < n; i++) {
		int32_t a = (int32_t)(f2u(w[i]) & F32_ABS_MASK);
		m[0] = a > m[0] ? a : m[0];
	}
	int32_t r = 0;
	for (unsigned j = 0; j < BLK; j++)
		r = m[j] > r ? m[j] : r;
	return r;
}

CV_HOT static void i8_encode_n(const float *restrict w, uint64_t n, float s, int8_t *restrict q)
{
	uint64_t i = 0;
	for (; i + BLK <= n; i += BLK)
		for (unsigned j = 0; j < BLK; j++)
			q[i + j] = i8_encode(w[i + j], s);
	for (; i < n; i++)
		q[i] = i8_encode(w[i], s);
}

CV_HOT static void e4m3_encode_n(const float *restrict w, uint64_t n, float s, uint8_t *restrict q)
{
	uint64_t i = 0;
	for (; i + BLK <= n; i += BLK)
		for (unsigned j = 0; j < BLK; j++)
			q[i + j] = e4m3_encode(w[i + j] / s);
	for (; i < n; i++)
		q[i] = e4m3_encode(w[i] / s);
}

/* Returns nonzero when some value overflows to infinity. */
CV_HOT static uint32_t f16_encode_n(const float *restrict w, uint64_t n, uint8_t *restrict out)
{
	uint32_t ovf = 0;
	uint64_t i = 0;
	for (; i + BLK <= n; i += BLK)
		for (unsigned j = 0; j < BLK; j++)
			store_u16le(out + 2 * (i + j), f16_encode(w[i + j], &ovf));
	for (; i < n; i++)
		store_u16le(out + 2 * i, f16_encode(w[i], &ovf));
	return ovf;
}

CV_HOT static uint32_t bf16_encode_n(const float *restrict w, uint64_t n, uint8_t *restrict out)
{
	uint32_t ovf = 0;
	uint64_t i = 0;
	for (; i + BLK <= n; i += BLK)
		for (unsigned j = 0; j < BLK; j++)
			store_u16le(out + 2 * (i + j), bf16_encode(w[i + j], &ovf));
	for (; i < n; i++)
		store_u16le(out + 2 * i, bf16_encode(w[i], &ovf));
	return ovf;
}

/* Per-row error statistics: sequential binary64 sums in element order (SPEC §6.4). The two
 * chains of dependent additions are the speed limit when statistics are requested, so
 * everything else (dequantization, differences, squares, the max) is done a block at a time
 * where it vectorizes. */
typedef struct {
	double err, src, maxe;
} row_acc;

static inline void acc_elem(row_acc *r, float w, float dq)
{
	/* Products in their own statements: a compiler allowed to contract within an expression
	 * (clang's default) must not fuse them into the sums. */
	double e = (double)dq - (double)w;
	double e2 = e * e, w2 = (double)w * (double)w;
	double ae = fabs(e);
	r->err += e2;
	r->src += w2;
	r->maxe = ae > r->maxe ? ae : r->maxe;
}

static inline void acc_block(row_acc *r, const float *restrict w, const float *restrict dq)
{
	double e2[BLK], w2[BLK], ae[BLK];
	for (unsigned j = 0; j < BLK; j++) {
		double e = (double)dq[j] - (double)w[j];
		e2[j] = e * e;
		w2[j] = (double)w[j] * (double)w[j];
		ae[j] = fabs(e);
	}
	double err = r->err, src = r->src, m = r->maxe;
	for (unsigned j = 0; j < BLK; j++) {
		err += e2[j];
		src += w2[j];
		m = ae[j] > m ? ae[j] : m;
	}
	r->err = err;
	r->src = src;
	r->maxe = m;
}

/* The dequantized value of element i as the reader computes it (SPEC §6.2). */
#define DQ_I8(i) ((float)((const int8_t *)codes)[i] * s)
#define DQ_E4M3(i) (e4m3_decode(((const uint8_t *)codes)[i]) * s)
#define DQ_F16(i) f16_widen(load_u16le((const uint8_t *)codes + 2 * (i)))
#define DQ_BF16(i) bf16_widen(load_u16le((const uint8_t *)codes + 2 * (i)))
#define DQ_F32(i) (w[i])

#define DEFINE_STATS(name, DQ)                                                                    \
	static void name(row_acc *r, const float *restrict w, const void *restrict codes,         \
			 uint64_t n, float s)                                                     \
	{                                                                                         \
		(void)s;                                                                          \
		uint64_t i = 0;                                                                   \
		for (; i + BLK <= n; i += BLK) {                                                  \
			float dq[BLK];                                                            \
			for (unsigned j = 0; j < BLK; j++)                                        \
				dq[j] = DQ(i + j);                                                \
			acc_block(r, w + i, dq);                                                  \
		}                                                                                 \
		for (; i < n; i++)                                                                \
			acc_elem(r, w[i], DQ(i));                                                 \
	}

DEFINE_STATS(stats_i8, DQ_I8)
DEFINE_STATS(stats_e4m3, DQ_E4M3)
DEFINE_STATS(stats_f16, DQ_F16)
DEFINE_STATS(stats_bf16, DQ_BF16)
DEFINE_STATS(stats_f32, DQ_F32)

CV_HOT static void i8_row(const float *w, uint64_t cols, uint64_t seg, int8_t *q, float *scales,
		   row_acc *ra)
{
	for (uint64_t g = 0; g < cols; g += seg) {
		const float *wg = w + g;
		int8_t *qg = q + g;
		float amax = u2f((uint32_t)amax_bits(wg, seg));
		float s = amax / 127.0f;
		scales[g / seg] = s;
		if (s == 0.0f)
			memset(qg, 0, seg);
		else
			i8_encode_n(wg, seg, s, qg);
		if (ra)
			stats_i8(ra, wg, qg, seg, s);
	}
}

CV_HOT static void fp8_row(const float *w, uint64_t cols, uint8_t *q, float *scale, row_acc *ra)
{
	float amax = u2f((uint32_t)amax_bits(w, cols));
	float s = amax / 448.0f;
	*scale = s;
	if (s == 0.0f)
		memset(q, 0, cols);
	else
		e4m3_encode_n(w, cols, s, q);
	if (ra)
		stats_e4m3(ra, w, q, cols, s);
}

static int f16_row(const float *w, uint64_t cols, uint8_t *out, row_acc *ra)
{
	if (f16_encode_n(w, cols, out))
		return -1;
	if (ra)
		stats_f16(ra, w, out, cols, 0);
	return 0;
}

static int bf16_row(const float *w, uint64_t cols, uint8_t *out, row_acc *ra)
{
	if (bf16_encode_n(w, cols, out))
		return -1;
	if (ra)
		stats_bf16(ra, w, out, cols, 0);
	return 0;
}

static void f32_row(const float *w, uint64_t cols, uint8_t *out, row_acc *ra)
{
	memcpy(out, w, cols * sizeof(float));
	if (ra)
		stats_f32(ra, w, out, cols, 0);
}

CV_HOT int cv_quantize_rows(cv_qkind k, uint32_t group, const float *src, uint64_t rows, uint64_t cols,
		     void *codes, float *scales, cv_qstats *st)
{
	if (st)
		cv_qstats_init(st);
	uint64_t seg = cols;
	if (k == CV_Q_INT8_GROUP) {
		if (group != 32 && group != 64 && group != 128)
			return -1;
		seg = group;
	}
	if (cv_qkind_dtype(k) == FMT_DTYPE_COUNT || cols == 0 || cols % seg != 0)
		return -1;
	uint64_t n, bytes;
	if (__builtin_mul_overflow(rows, cols, &n) || __builtin_mul_overflow(n, (uint64_t)4, &bytes) ||
	    bytes > SIZE_MAX)
		return -1;
	if (n == 0)
		return 0;
	if (!src || !codes || (cv_qkind_scheme(k) != FMT_SCHEME_NONE && !scales))
		return -1;
	uint64_t groups = cols / seg;
	for (uint64_t r = 0; r < rows; r++) {
		const float *w = src + r * cols;
		if (amax_bits(w, cols) >= (int32_t)F32_EXP_MASK) {
			if (st)
				cv_qstats_init(st);
			return -1;
		}
		row_acc ra = {0, 0, 0};
		row_acc *pra = st ? &ra : NULL;
		int rc = 0;
		switch (k) {
		case CV_Q_INT8_ROW:
		case CV_Q_INT8_GROUP:
			i8_row(w, cols, seg, (int8_t *)codes + r * cols, scales + r * groups, pra);
			break;
		case CV_Q_FP8_ROW:
			fp8_row(w, cols, (uint8_t *)codes + r * cols, scales + r, pra);
			break;
		case CV_Q_F16:
			rc = f16_row(w, cols, (uint8_t *)codes + r * cols * 2, pra);
			break;
		case CV_Q_BF16:
			rc = bf16_row(w, cols, (uint8_t *)codes + r * cols * 2, pra);
			break;
		case CV_Q_F32:
			f32_row(w, cols, (uint8_t *)codes + r * cols * 4, pra);
			break;
		}
		if (rc) {
			if (st)
				cv_qstats_init(st);
			return -1;
		}
		if (st) {
			xacc_add(st->xacc_err, ra.err);
			xacc_add(st->xacc_src, ra.src);
			if (ra.maxe > st->max_abs_err)
				st->max_abs_err = ra.maxe;
		}
	}
	if (st) {
		st->sum_sq_err = xacc_value(st->xacc_err);
		st->sum_sq_src = xacc_value(st->xacc_src);
		st->n = n;
	}
	return 0;
}
