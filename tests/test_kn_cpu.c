/* CPU kernels: the scalar references against hand-computed values, and every fast matmul path
 * (portable, AVX2 and AVX-512 where the CPU has them, 1 and 2 threads, m = 1 and m > 1) against
 * the reference on seeded random data over many shapes, including odd n and k. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_cpu.h"
#include "kn_matmul_impl.h" /* the per-ISA dequantizers, checked bit for bit below */
#include "testutil.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- hand-computed reference cases ---- */

static void test_e4m3_decode(void **state)
{
	assert_true(kn_e4m3_decode(0x38) == 1.0f);
	assert_true(kn_e4m3_decode(0x40) == 2.0f);
	assert_true(kn_e4m3_decode(0xC0) == -2.0f);
	assert_true(kn_e4m3_decode(0x7E) == 448.0f);
	assert_true(kn_e4m3_decode(0x01) == 0.001953125f); /* smallest subnormal 2^-9 */
	assert_true(isnan(kn_e4m3_decode(0x7F)) && isnan(kn_e4m3_decode(0xFF)));
	/* independent decoder agrees with formats/ on every code */
	for (int c = 0; c < 256; c++) {
		float a = kn_e4m3_decode((uint8_t)c), b = fmt_e4m3_to_f32((uint8_t)c);
		if (isnan(b))
			assert_true(isnan(a));
		else
			assert_memory_equal(&a, &b, sizeof a);
	}
}

/* Whether this CPU runs `isa` itself (kn_matmul would fall back otherwise); prints a note the
 * first time an ISA is missing so a skipped path is visible in the log. */
static bool isa_runs(int isa)
{
	static bool noted[KN_ISA_AVX512 + 1];
	if (kn_isa_resolve((kn_isa)isa) == (kn_isa)isa)
		return true;
	if (!noted[isa]) {
		print_message("note: this CPU lacks %s; its kernels are not tested here\n", kn_isa_name((kn_isa)isa));
		noted[isa] = true;
	}
	return false;
}

static void check_small(const kn_weight *w, const float *x, size_t m, const float *want)
{
	float y[8];
	kn_matmul_ref(y, x, m, w);
	for (size_t i = 0; i < m * w->n; i++)
		assert_float_equal(y[i], want[i], 1e-6);
	for (int isa = KN_ISA_SCALAR; isa <= KN_ISA_AVX512; isa++) {
		if (!isa_runs(isa))
			continue;
		kn_exec ex = {1, (kn_isa)isa};
		memset(y, 0, sizeof y);
		assert_int_equal(kn_matmul(y, x, m, w, &ex), 0);
		for (size_t i = 0; i < m * w->n; i++)
			assert_float_equal(y[i], want[i], 1e-5);
	}
}

static void test_matmul_hand(void **state)
{
	/* F32 [[1,2,3],[4,5,6]] · x = [1,-1,2] and [0.5,0,1] */
	static const float wf[6] = {1, 2, 3, 4, 5, 6};
	const float x3[6] = {1, -1, 2, 0.5f, 0, 1};
	kn_weight w = {FMT_F32, FMT_SCHEME_NONE, 0, 2, 3, wf, NULL};
	check_small(&w, x3, 2, (const float[]){5, 11, 3.5f, 8});

	/* BF16 1, 2, -3 / F16 1, 2, -3 */
	static const uint16_t bf[3] = {0x3F80, 0x4000, 0xC040}, hf[3] = {0x3C00, 0x4000, 0xC200};
	w = (kn_weight){FMT_BF16, FMT_SCHEME_NONE, 0, 1, 3, bf, NULL};
	check_small(&w, x3, 1, (const float[]){1 - 2 - 6});
	w = (kn_weight){FMT_F16, FMT_SCHEME_NONE, 0, 1, 3, hf, NULL};
	check_small(&w, x3, 1, (const float[]){1 - 2 - 6});

	/* I8 row: codes [[1,-2,3],[127,0,-127]], scales 0.5, 0.25, x = [2,1,1] */
	static const int8_t q8[6] = {1, -2, 3, 127, 0, -127};
	static const float s2[2] = {0.5f, 0.25f};
	const float x2[3] = {2, 1, 1};
	w = (kn_weight){FMT_I8, FMT_SCHEME_ROW, 0, 2, 3, q8, s2};
	check_small(&w, x2, 1, (const float[]){1.5f, 31.75f});

	/* F8 row: codes 1.0, 2.0, -2.0 with scale 0.5 and 0.25 */
	static const uint8_t f8[6] = {0x38, 0x40, 0xC0, 0x40, 0x40, 0x38};
	w = (kn_weight){FMT_F8_E4M3, FMT_SCHEME_ROW, 0, 2, 3, f8, s2};
	check_small(&w, x2, 1, (const float[]){(2 + 2 - 2) * 0.5f, (4 + 2 + 1) * 0.25f});

	/* I8 group 32 over k = 64: codes 1 then 3, group scales 1 and 0.5, x = 1 → 32 + 48 */
	static int8_t qg[64];
	for (int i = 0; i < 64; i++)
		qg[i] = (int8_t)(i < 32 ? 1 : 3);
	static const float sg[2] = {1.0f, 0.5f};
	float ones[64];
	for (int i = 0; i < 64; i++)
		ones[i] = 1.0f;
	w = (kn_weight){FMT_I8, FMT_SCHEME_GROUP, 32, 1, 64, qg, sg};
	check_small(&w, ones, 1, (const float[]){80});
	/* dequantization is the §6.2 product */
	assert_true(kn_weight_at(&w, 0, 40) == 1.5f);
}

static void test_weight_check(void **state)
{
	static const int8_t q[64] = {1};
	static const float s[4] = {1};
	char msg[160];
	kn_weight w = {FMT_I8, FMT_SCHEME_GROUP, 48, 1, 64, q, s};
	assert_int_equal(kn_weight_check(&w, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "group size"));
	w = (kn_weight){FMT_F8_E4M3, FMT_SCHEME_GROUP, 32, 1, 64, q, s};
	assert_int_equal(kn_weight_check(&w, msg, sizeof msg), -1);
	w = (kn_weight){FMT_I8, FMT_SCHEME_ROW, 0, 1, 64, q, NULL};
	assert_int_equal(kn_weight_check(&w, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "no scales"));
	w = (kn_weight){FMT_F32, FMT_SCHEME_NONE, 0, 1, 4, (const char *)s + 1, NULL};
	assert_int_equal(kn_weight_check(&w, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "aligned"));
	w = (kn_weight){FMT_I8, FMT_SCHEME_NONE, 0, 1, 64, q, NULL};
	assert_int_equal(kn_weight_check(&w, msg, sizeof msg), -1);
	float y;
	assert_int_equal(kn_matmul(&y, s, 1, &w, NULL), -1);
	w = (kn_weight){FMT_I8, FMT_SCHEME_GROUP, 32, 1, 64, q, s};
	assert_int_equal(kn_weight_check(&w, msg, sizeof msg), 0);
}

static void test_rmsnorm_swiglu_add(void **state)
{
	const float x[2] = {3, 4}, w[2] = {1, 2};
	float y[2];
	kn_rmsnorm(y, x, w, 2, 0.0f);
	double inv = 1.0 / sqrt(12.5);
	assert_float_equal(y[0], 3 * inv, 1e-6);
	assert_float_equal(y[1], 2 * 4 * inv, 1e-6);
	/* eps enters under the root */
	kn_rmsnorm(y, x, w, 2, 1.5f);
	assert_float_equal(y[0], 3 / sqrt(14.0), 1e-6);
	/* per head: two heads of 2 normalise independently */
	float xh[4] = {3, 4, -1, 1};
	kn_rmsnorm_heads(xh, w, 2, 2, 0.0f);
	assert_float_equal(xh[1], 8 * inv, 1e-6);
	assert_float_equal(xh[2], -1.0, 1e-6);
	assert_float_equal(xh[3], 2.0, 1e-6);

	const float g[3] = {0, 1, -2}, u[3] = {5, 2, 3};
	float o[3];
	kn_swiglu(o, g, u, 3);
	assert_float_equal(o[0], 0, 1e-7);
	assert_float_equal(o[1], 2 / (1 + exp(-1.0)), 1e-6);
	assert_float_equal(o[2], 3 * -2 / (1 + exp(2.0)), 1e-6);

	float b2[4] = {1, 2, 3, 4};
	kn_add_bias(b2, (const float[]){10, 20}, 2, 2);
	assert_float_equal(b2[3], 24, 0);
	assert_float_equal(b2[0], 11, 0);
}

static void test_rope_hand(void **state)
{
	kn_rope_params p = {.type = KN_ROPE_NONE, .theta = 10000, .dim = 4, .factor = 1};
	float inv[2], ms;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	assert_float_equal(inv[0], 1.0, 0);
	assert_float_equal(inv[1], 0.01, 1e-8);
	assert_true(ms == 1.0f);
	/* pos 1: pairs (0,2) and (1,3) rotate by 1 rad and 0.01 rad */
	float x[4] = {1, 2, 0, 0};
	kn_rope(x, 1, 4, 4, 1, inv, 1.0f);
	assert_float_equal(x[0], cos(1.0), 1e-6);
	assert_float_equal(x[2], sin(1.0), 1e-6);
	assert_float_equal(x[1], 2 * cos(0.01), 1e-6);
	assert_float_equal(x[3], 2 * sin(0.01), 1e-6);

	/* linear: every frequency divided by the factor */
	p.type = KN_ROPE_LINEAR, p.factor = 4;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	assert_float_equal(inv[1], 0.0025, 1e-9);
}

/* YaRN restated in binary64 from the paper's formulas (model-facts §3.5). */
static void test_rope_yarn(void **state)
{
	kn_rope_params p = {.type = KN_ROPE_YARN, .theta = 1e6, .dim = 16, .factor = 4, .orig_ctx = 32,
			    .beta_fast = 32, .beta_slow = 1, .has_attn_factor = true,
			    .attn_factor = 0.8782488562869419};
	float inv[8], ms;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	double cd_fast = 16 * log(32 / (32 * 2 * M_PI)) / (2 * log(1e6));
	double cd_slow = 16 * log(32 / (1 * 2 * M_PI)) / (2 * log(1e6));
	double low = fmax(floor(cd_fast), 0), high = fmin(ceil(cd_slow), 15);
	for (int i = 0; i < 8; i++) {
		double pf = pow(1e6, 2.0 * i / 16), ramp = fmin(fmax((i - low) / (high - low), 0), 1);
		double want = (1 / (4 * pf)) * ramp + (1 / pf) * (1 - ramp);
		assert_float_equal(inv[i], want, want * 1e-6);
	}
	assert_float_equal(ms, 0.1 * log(4.0) + 1, 1e-7); /* transformers ignores attn_factor */
	p.mscale_mode = KN_YARN_MSCALE_VLLM;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	assert_float_equal(ms, 1.0, 1e-7); /* DeepSeek's attn_factor cancels the correction */
	p.mscale_mode = KN_YARN_MSCALE_EXPLICIT;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	assert_float_equal(ms, 0.8782488562869419, 1e-7);
	p.has_attn_factor = false;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	assert_float_equal(ms, 0.1 * log(4.0) + 1, 1e-7);
	/* transformers' attention_factor is the scale itself, in every mode */
	p.has_attention_factor = true, p.attention_factor = 0.75;
	for (int mode = 0; mode < 3; mode++) {
		p.mscale_mode = (kn_yarn_mscale)mode;
		assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
		assert_float_equal(ms, 0.75, 1e-7);
	}
	p.has_attention_factor = false, p.mscale_mode = KN_YARN_MSCALE_EXPLICIT;

	char msg[128];
	p.orig_ctx = 0;
	assert_int_equal(kn_rope_init(&p, inv, &ms, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "orig_ctx"));
	p.orig_ctx = 32, p.factor = NAN;
	assert_int_equal(kn_rope_init(&p, inv, &ms, msg, sizeof msg), -1);
	p.factor = 4, p.dim = 15;
	assert_int_equal(kn_rope_init(&p, inv, &ms, msg, sizeof msg), -1);
}

static void test_rope_llama3(void **state)
{
	kn_rope_params p = {.type = KN_ROPE_LLAMA3, .theta = 10000, .dim = 16, .factor = 8, .orig_ctx = 32,
			    .low_freq_factor = 1, .high_freq_factor = 4};
	float inv[8], ms;
	assert_int_equal(kn_rope_init(&p, inv, &ms, NULL, 0), 0);
	for (int i = 0; i < 8; i++) {
		double f = 1 / pow(10000, 2.0 * i / 16), wl = 2 * M_PI / f, want = f;
		if (wl > 32)
			want = f / 8;
		else if (wl >= 8) {
			double sm = (32 / wl - 1) / 3;
			want = (1 - sm) * f / 8 + sm * f;
		}
		assert_float_equal(inv[i], want, want * 1e-5);
	}
}

static void test_attention_hand(void **state)
{
	/* 2 query heads share 1 kv head (GQA); head_dim 2; scores 0 and ln 3 → p = 1/4, 3/4 */
	float q[4] = {1, 0, 1, 0};
	float k[4] = {0, 0, (float)(sqrt(2.0) * log(3.0)), 0};
	float v[4] = {4, 0, 0, 8};
	float out[4], sc[2];
	kn_attention(out, q, k, v, KN_KV_F32, 2 * sizeof(float), 2, 2, 1, 2, sc);
	for (int h = 0; h < 2; h++) {
		assert_float_equal(out[2 * h], 1.0, 1e-6);
		assert_float_equal(out[2 * h + 1], 6.0, 1e-6);
	}
	/* one position: output is v whatever the score */
	kn_attention(out, q, k, v, KN_KV_F32, 2 * sizeof(float), 1, 2, 1, 2, sc);
	assert_float_equal(out[0], 4.0, 0);
	/* BF16 cache holds these values exactly */
	uint16_t kb[4], vb[4];
	kn_kv_store(kb, KN_KV_BF16, (const float[]){0, 0, 2, 0}, 4);
	kn_kv_store(vb, KN_KV_BF16, v, 4);
	q[0] = q[2] = (float)(sqrt(2.0) * log(3.0) / 2);
	kn_attention(out, q, kb, vb, KN_KV_BF16, 2 * sizeof(uint16_t), 2, 2, 1, 2, sc);
	assert_float_equal(out[1], 6.0, 1e-5);
}

/* ---- fast paths vs reference ---- */

typedef struct {
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t gs;
	/* bounds against the binary64-accumulating reference; NMSE = Σ(y−ref)² / Σref², max_rel =
	 * max|y−ref| / max|ref|. Fast paths accumulate k products in binary32 (1, 32 or 64 lanes), and
	 * the fused quantized kernels scale per segment instead of per element, so errors stay
	 * within a few ulps × sqrt(k). */
	double nmse, max_rel;
} type_case;

static const type_case TYPES[] = {
	{FMT_F32, FMT_SCHEME_NONE, 0, 1e-11, 2e-5},
	{FMT_F16, FMT_SCHEME_NONE, 0, 1e-11, 2e-5},
	{FMT_BF16, FMT_SCHEME_NONE, 0, 1e-11, 2e-5},
	{FMT_I8, FMT_SCHEME_ROW, 0, 1e-11, 2e-5},
	{FMT_I8, FMT_SCHEME_GROUP, 32, 1e-11, 2e-5},
	{FMT_I8, FMT_SCHEME_GROUP, 64, 1e-11, 2e-5},
	{FMT_I8, FMT_SCHEME_GROUP, 128, 1e-11, 2e-5},
	{FMT_F8_E4M3, FMT_SCHEME_ROW, 0, 1e-11, 2e-5},
};

/* Random weight with no zero codes (so a kernel that skips elements cannot pass). */
static void make_weight(tu_rng *rng, const type_case *tc, size_t n, size_t k, kn_weight *w, void **data,
			float **scales)
{
	size_t esz = fmt_dtype_size(tc->dtype);
	uint8_t *d = malloc(n * k * esz);
	assert_non_null(d);
	for (size_t i = 0; i < n * k; i++) {
		float v = (float)tu_rng_normal(rng) * 0.5f;
		if (v == 0.0f)
			v = 0.25f;
		switch (tc->dtype) {
		case FMT_F32:
			memcpy(d + 4 * i, &v, 4);
			break;
		case FMT_F16: {
			uint16_t h = fmt_f32_to_f16(v);
			memcpy(d + 2 * i, &h, 2);
			break;
		}
		case FMT_BF16: {
			uint16_t h = fmt_f32_to_bf16(v);
			memcpy(d + 2 * i, &h, 2);
			break;
		}
		case FMT_I8: {
			int c = 1 + (int)(tu_rng_u64(rng) % 127);
			((int8_t *)d)[i] = (int8_t)(tu_rng_u64(rng) & 1 ? c : -c);
			break;
		}
		default: {
			uint8_t c = (uint8_t)(tu_rng_u64(rng) % 256);
			if ((c & 0x7F) == 0x7F || (c & 0x7F) == 0)
				c ^= 0x11; /* no NaN codes and no zeros */
			d[i] = c;
			break;
		}
		}
	}
	size_t ng = tc->scheme == FMT_SCHEME_GROUP ? k / tc->gs : 1;
	float *s = NULL;
	if (tc->scheme != FMT_SCHEME_NONE) {
		s = malloc(n * ng * sizeof *s);
		assert_non_null(s);
		for (size_t i = 0; i < n * ng; i++)
			s[i] = (float)(0.001 + 0.02 * tu_rng_uniform(rng));
	}
	*w = (kn_weight){tc->dtype, tc->scheme, tc->gs, n, k, d, s};
	*data = d;
	*scales = s;
}

static void compare(const float *y, const float *ref, size_t len, const type_case *tc, const char *what)
{
	double se = 0, sr = 0, maxd = 0, maxr = 0;
	for (size_t i = 0; i < len; i++) {
		double d = (double)y[i] - ref[i];
		se += d * d;
		sr += (double)ref[i] * ref[i];
		maxd = fmax(maxd, fabs(d));
		maxr = fmax(maxr, fabs(ref[i]));
	}
	assert_true(sr > 0); /* the data is never all zero */
	double nmse = se / sr, rel = maxd / maxr;
	if (!(nmse <= tc->nmse && rel <= tc->max_rel))
		fail_msg("%s: nmse %.3g (bound %.3g), max_rel %.3g (bound %.3g)", what, nmse, tc->nmse, rel,
			 tc->max_rel);
}

static void test_fast_vs_ref(void **state)
{
	static const struct {
		size_t m, n, k;
	} shapes[] = {{1, 1, 1}, {1, 7, 13}, {3, 17, 33}, {1, 64, 256}, {2, 5, 31}, {5, 33, 320}, {1, 129, 1000},
		      {4, 9, 384}, {1, 3, 128}, {7, 31, 640},
		      /* the batch micro-kernels: partial row and token tiles and k tails of every size */
		      {2, 19, 77}, {2, 6, 256}, {3, 11, 128}, {3, 5, 15}, {5, 23, 385}, {5, 3, 64}, {8, 13, 256},
		      {8, 4, 17}, {17, 9, 97}, {17, 7, 640}, {64, 37, 129}, {64, 13, 384}};
	tu_rng rng = {0x5eed0001};
	for (size_t t = 0; t < NELEMS(TYPES); t++) {
		const type_case *tc = &TYPES[t];
		for (size_t s = 0; s < NELEMS(shapes); s++) {
			size_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
			if (tc->scheme == FMT_SCHEME_GROUP && k % tc->gs)
				continue;
			kn_weight w;
			void *d;
			float *sc;
			make_weight(&rng, tc, n, k, &w, &d, &sc);
			float *x = malloc(m * k * sizeof *x), *ref = malloc(m * n * sizeof *ref),
			      *y = malloc(m * n * sizeof *y);
			assert_true(x && ref && y);
			for (size_t i = 0; i < m * k; i++)
				x[i] = (float)tu_rng_normal(&rng);
			kn_matmul_ref(ref, x, m, &w);
			for (int isa = KN_ISA_SCALAR; isa <= KN_ISA_AVX512; isa++) {
				if (!isa_runs(isa))
					continue;
				for (int nt = 1; nt <= 2; nt++) {
					kn_exec ex = {nt, (kn_isa)isa};
					/* rows one by one (decode path) and all at once (batch path) */
					for (size_t i = 0; i < m; i++)
						assert_int_equal(kn_matmul(y + i * n, x + i * k, 1, &w, &ex), 0);
					char what[160];
					snprintf(what, sizeof what, "%s/%s g%u m%zu n%zu k%zu isa%d t%d m=1",
						 fmt_dtype_name(tc->dtype), fmt_scheme_name(tc->scheme), tc->gs, m, n,
						 k, isa, nt);
					compare(y, ref, m * n, tc, what);
					memset(y, 0, m * n * sizeof *y);
					assert_int_equal(kn_matmul(y, x, m, &w, &ex), 0);
					what[strlen(what) - 3] = 'M';
					compare(y, ref, m * n, tc, what);
				}
			}
			free(x), free(ref), free(y), free(d), free(sc);
		}
	}
}

/* Every E4M3 code, NaN and subnormals included, through every path: row r holds code r
 * everywhere and x is one-hot, so each output is exactly one code × scale (a single rounding,
 * like the reference). The hot position is once in the vector body and once in the tail. */
static void test_f8_every_code(void **state)
{
	enum { N = 256, K = 45 };
	static uint8_t q[N * K];
	static float sc[N];
	for (int r = 0; r < N; r++) {
		memset(q + r * K, r, K);
		sc[r] = 0.75f + (float)r / 1024.0f;
	}
	kn_weight w = {FMT_F8_E4M3, FMT_SCHEME_ROW, 0, N, K, q, sc};
	static const size_t hot[] = {3, K - 2};
	float x[2 * K], y[2 * N];
	for (size_t h = 0; h < NELEMS(hot); h++) {
		memset(x, 0, sizeof x);
		x[hot[h]] = 1.0f;
		x[K + hot[h]] = -2.0f;
		for (int isa = KN_ISA_SCALAR; isa <= KN_ISA_AVX512; isa++) {
			if (!isa_runs(isa))
				continue;
			kn_exec ex = {1, (kn_isa)isa};
			for (size_t m = 1; m <= 2; m++) { /* fused row kernel, then dequantize + dot */
				assert_int_equal(kn_matmul(y, x, m, &w, &ex), 0);
				for (size_t i = 0; i < m; i++)
					for (int r = 0; r < N; r++) {
						float want = kn_weight_at(&w, (size_t)r, 0) * (i ? -2.0f : 1.0f);
						float got = y[i * N + (size_t)r];
						if (isnan(want) ? !isnan(got) : got != want)
							fail_msg("%s m%zu code 0x%02x pos %zu: %a, want %a",
								 kn_isa_name((kn_isa)isa), m, r, hot[h], got, want);
					}
			}
		}
	}
}

/* The batch path's vector dequantizers promise kn_dequant_row's values exactly (one code × scale
 * product per element), including odd k with vector tails. */
static void test_dequant_exact(void **state)
{
	tu_rng rng = {0x5eed0002};
	static const size_t ks[] = {7, 45, 384};
	for (size_t t = 0; t < NELEMS(TYPES); t++) {
		const type_case *tc = &TYPES[t];
		for (size_t ki = 0; ki < NELEMS(ks); ki++) {
			size_t n = 3, k = ks[ki];
			if (tc->scheme == FMT_SCHEME_GROUP && k % tc->gs)
				continue;
			kn_weight w;
			void *d;
			float *sc;
			make_weight(&rng, tc, n, k, &w, &d, &sc);
			float *want = malloc(k * sizeof *want), *got = malloc(k * sizeof *got);
			assert_true(want && got);
			float lut[256];
			for (int c = 0; c < 256; c++)
				lut[c] = kn_e4m3_decode((uint8_t)c);
			kn_dequant_fn fns[2] = {NULL, NULL};
			if (isa_runs(KN_ISA_AVX2))
				fns[0] = kn_dequant_avx2(&w);
			if (isa_runs(KN_ISA_AVX512))
				fns[1] = kn_dequant_avx512(&w);
			for (int f = 0; f < 2; f++) {
				if (!fns[f])
					continue;
				for (size_t r = 0; r < n; r++) {
					kn_dequant_row(&w, r, want);
					memset(got, 0xA5, k * sizeof *got);
					fns[f](&w, r, lut, got);
					if (memcmp(got, want, k * sizeof *got))
						fail_msg("%s/%s g%u k%zu row %zu: dequantizer %d differs",
							 fmt_dtype_name(tc->dtype), fmt_scheme_name(tc->scheme), tc->gs,
							 k, r, f);
				}
			}
			free(want), free(got), free(d), free(sc);
		}
	}
}

static void test_isa_dispatch(void **state)
{
	assert_string_equal(kn_isa_name(KN_ISA_AVX512), "avx512");
	assert_string_equal(kn_isa_name(KN_ISA_SCALAR), "scalar");
	bool a2 = kn_cpu_has_avx2(), a512 = kn_cpu_has_avx512();
	assert_true(!a512 || a2); /* AVX-512 kernels also use FMA and F16C */
	kn_isa best = a512 ? KN_ISA_AVX512 : a2 ? KN_ISA_AVX2 : KN_ISA_SCALAR;
	assert_int_equal(kn_isa_resolve(KN_ISA_SCALAR), KN_ISA_SCALAR);
	assert_int_equal(kn_isa_resolve(KN_ISA_AVX2), a2 ? KN_ISA_AVX2 : KN_ISA_SCALAR);
	assert_int_equal(kn_isa_resolve(KN_ISA_AVX512), best);
	assert_int_equal(kn_isa_resolve((kn_isa)42), best);
	/* BALE_KN_ISA is read on the first AUTO resolution, which nothing before this test made */
	setenv("BALE_KN_ISA", "avx2", 1);
	assert_int_equal(kn_isa_resolve(KN_ISA_AUTO), a2 ? KN_ISA_AVX2 : KN_ISA_SCALAR);
	setenv("BALE_KN_ISA", "scalar", 1); /* cached: no effect now */
	assert_int_equal(kn_isa_resolve(KN_ISA_AUTO), a2 ? KN_ISA_AVX2 : KN_ISA_SCALAR);
	assert_int_equal(kn_isa_resolve(KN_ISA_AVX512), best); /* explicit requests ignore it */
	unsetenv("BALE_KN_ISA");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_isa_dispatch),     cmocka_unit_test(test_f8_every_code),
		cmocka_unit_test(test_e4m3_decode),      cmocka_unit_test(test_matmul_hand),
		cmocka_unit_test(test_weight_check),     cmocka_unit_test(test_rmsnorm_swiglu_add),
		cmocka_unit_test(test_rope_hand),        cmocka_unit_test(test_rope_yarn),
		cmocka_unit_test(test_rope_llama3),      cmocka_unit_test(test_attention_hand),
		cmocka_unit_test(test_fast_vs_ref),      cmocka_unit_test(test_dequant_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
