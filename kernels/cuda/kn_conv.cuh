/* kn_conv — number conversions and index math shared by the CUDA kernels and the host.
 *
 * Every function is `KN_HD static inline`: __host__ __device__ under nvcc, plain C otherwise, so
 * tests/cuda/test_kn_conv.c checks the exact code the kernels run against the CPU reference on a
 * machine without a GPU. The only device-specific parts are __byte_perm and the bit casts, which
 * have portable host equivalents below (kn_byte_perm emulates PRMT's default mode).
 */
#ifndef BALE_KN_CONV_CUH
#define BALE_KN_CONV_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define KN_HD __host__ __device__
#else
#define KN_HD
#endif

KN_HD static inline float kn_u2f(uint32_t u)
{
#ifdef __CUDA_ARCH__
	return __uint_as_float(u);
#else
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
#endif
}

KN_HD static inline uint32_t kn_f2u(float f)
{
#ifdef __CUDA_ARCH__
	return __float_as_uint(f);
#else
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
#endif
}

/* PRMT in default mode: result byte i is byte sel_i (nibble i of s) of the 8-byte value {y:x}.
 * Only selectors with bit 3 of every nibble clear are used (that bit asks PRMT for sign
 * replication, which the host copy does not model). The device uses the instruction; the host copy exists so the tricks below can be
 * tested bit for bit on the CPU. */
KN_HD static inline uint32_t kn_byte_perm(uint32_t x, uint32_t y, uint32_t s)
{
#ifdef __CUDA_ARCH__
	return __byte_perm(x, y, s);
#else
	uint64_t v = ((uint64_t)y << 32) | x;
	uint32_t r = 0;
	for (int i = 0; i < 4; i++) {
		uint32_t sel = (s >> (4 * i)) & 7u;
		r |= (uint32_t)((v >> (8 * sel)) & 0xFFu) << (8 * i);
	}
	return r;
#endif
}

/* ---- BF16 ---- */

KN_HD static inline float kn_bf16_to_f32(uint16_t h)
{
	return kn_u2f((uint32_t)h << 16);
}

/* Round to nearest even; NaN stays a quiet NaN (same bits as fmt_f32_to_bf16). */
KN_HD static inline uint16_t kn_f32_to_bf16(float f)
{
	uint32_t u = kn_f2u(f);
	if ((u & 0x7FFFFFFFu) > 0x7F800000u)
		return (uint16_t)((u >> 16) | 0x0040u);
	u += 0x7FFFu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

/* The two BF16 halves of a 32-bit word as f32: a shift and a mask, no conversion instruction. */
KN_HD static inline float kn_bf16_lo(uint32_t w)
{
	return kn_u2f(w << 16);
}

KN_HD static inline float kn_bf16_hi(uint32_t w)
{
	return kn_u2f(w & 0xFFFF0000u);
}

/* ---- INT8 ---- */

KN_HD static inline float kn_i8_to_f32(int8_t c)
{
	return (float)c;
}

/* Byte j (0..3) of a word of four int8 codes as f32 without I2F: flipping the sign bit biases the
 * code to c + 128 in 0..255, PRMT places that byte under the exponent of 2^23, and subtracting
 * 2^23 + 128 leaves c exactly (every step is exact in binary32). */
#define KN_I8_MAGIC 0x4B000000u
#define KN_I8_BIAS 8388736.0f /* 2^23 + 128 */

KN_HD static inline float kn_i8x4_get(uint32_t biased, uint32_t j)
{
	return kn_u2f(kn_byte_perm(biased, KN_I8_MAGIC, 0x7440u | j)) - KN_I8_BIAS;
}

KN_HD static inline void kn_i8x4_to_f32(uint32_t w, float out[4])
{
	uint32_t b = w ^ 0x80808080u;
	out[0] = kn_i8x4_get(b, 0);
	out[1] = kn_i8x4_get(b, 1);
	out[2] = kn_i8x4_get(b, 2);
	out[3] = kn_i8x4_get(b, 3);
}

/* ---- FP8 E4M3 (OCP "fn": bias 7, no infinities, S.1111.111 = NaN) ---- */

/* Exact decode, bit-identical to fmt_e4m3_to_f32 (including the NaN payload). */
KN_HD static inline float kn_e4m3_to_f32(uint8_t code)
{
	uint32_t sign = (uint32_t)(code & 0x80u) << 24;
	uint32_t exp = (code >> 3) & 0xFu, man = code & 7u;
	if (exp == 15 && man == 7)
		return kn_u2f(sign | 0x7FC00000u);
	if (exp == 0) {
		float v = (float)man * 0x1p-9f; /* subnormal: exact */
		return sign ? -v : v;
	}
	return kn_u2f(sign | ((exp + 120u) << 23) | (man << 20));
}

/* Bytes 0 and 1 (sel = 0x1404) or 2 and 3 (sel = 0x3424) of a word of E4M3 codes as two binary16
 * bit patterns (low half = lower byte) whose values are the codes' values times 2^-8: the E4M3
 * exponent and mantissa bits drop into the binary16 fields one bit lower, and the bias differs by
 * 15 − 7 = 8. Every E4M3 value times 2^-8 is exact in binary16 (subnormals included); the NaN
 * codes come out as the finite ±1.875·2^-8·2^8 = ±480 and must not occur (SPEC §6.1: never
 * written). Used where there is no hardware E4M3 conversion (sm_80). */
#define KN_F8_LO_SEL 0x1404u
#define KN_F8_HI_SEL 0x3424u
#define KN_F8_TRICK_SCALE 256.0f

KN_HD static inline uint32_t kn_e4m3x2_to_f16x2_scaled(uint32_t w, uint32_t sel)
{
	uint32_t h = kn_byte_perm(w, 0u, sel);
	return (h & 0x80008000u) | ((h & 0x7F007F00u) >> 1);
}

/* Encode: nearest, ties to even, saturating at ±448, NaN → 0x7F: the same steps as
 * fmt_f32_to_e4m3 (formats/src/numeric.c), so host and device encode bit-identically. */
KN_HD static inline uint8_t kn_f32_to_e4m3(float f)
{
	uint32_t u = kn_f2u(f);
	uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
	uint32_t a = u & 0x7FFFFFFFu;
	if (a > 0x7F800000u)
		return 0x7F;
	if (a >= 0x43E00000u) /* ≥ 448 (incl. inf) */
		return (uint8_t)(sign | 0x7E);
	if (a < 0x3C800000u) { /* < 2^-6: subnormal range, step 2^-9 */
		float q = kn_u2f(a) * 512.0f; /* exact */
		uint32_t t = (uint32_t)q;
		float frac = q - (float)t;
		if (frac > 0.5f || (frac == 0.5f && (t & 1u)))
			t++;
		return (uint8_t)(sign | t); /* t == 8 is the smallest normal code */
	}
	uint32_t e = (a >> 23) - 120u;
	uint32_t m = a & 0x7FFFFFu;
	uint32_t q = m >> 20, rem = m & 0xFFFFFu;
	if (rem > 0x80000u || (rem == 0x80000u && (q & 1u)))
		q++;
	uint32_t code = (e << 3) + q; /* a mantissa carry rolls into the exponent */
	if (code > 0x7E)
		code = 0x7E;
	return (uint8_t)(sign | code);
}

/* ---- FP8 KV cache (docs/GPU.md "KV cache") ----
 * Each (token, layer, K or V, kv head) vector of head_dim values is stored as E4M3 codes with one
 * f32 scale: scale = amax / 448 (1 when amax is 0 or not finite), code = e4m3(x / scale), value =
 * e4m3_value(code) × scale. A per-token scale never needs revisiting when later tokens arrive,
 * unlike a per-page one, and costs 4 bytes per head_dim bytes (3 % at head_dim 128). The CPU
 * reference (kernels/cpu) and the CUDA store kernel both call these, so their codes agree bit for
 * bit on equal f32 input. */
#define KN_KV_F8_MAX 448.0f

/* A subnormal amax below ~3e-43 makes amax / 448 underflow to 0, and x / 0 would turn zeros into
 * NaN codes; such vectors take scale 1 (they encode to ±0). */
KN_HD static inline float kn_kv_f8_scale(float amax)
{
	float s = amax / KN_KV_F8_MAX;
	return (amax <= 3.4028234663852886e38f && s > 0.0f) ? s : 1.0f;
}

KN_HD static inline uint8_t kn_kv_f8_encode(float x, float scale)
{
	return kn_f32_to_e4m3(x / scale);
}

/* ---- index math (SPEC §6.3) ---- */

/* Scales per row: 1 for ROW (group_size 0 here), k / group_size for GROUP. */
KN_HD static inline size_t kn_groups_per_row(size_t k, uint32_t group_size)
{
	return group_size ? k / group_size : 1;
}

/* Index of the scale of element (r, c). */
KN_HD static inline size_t kn_scale_index(size_t r, size_t c, size_t k, uint32_t group_size)
{
	return group_size ? r * (k / group_size) + c / group_size : r;
}

/* Byte offset of the scales in a ROW/GROUP blob: align_up(n_elems, 256). Returns 0 on overflow
 * (n_elems ≥ 1 always gives ≥ 256). */
KN_HD static inline uint64_t kn_scale_offset(uint64_t n_elems)
{
	if (n_elems > UINT64_MAX - 255u)
		return 0;
	return (n_elems + 255u) & ~(uint64_t)255u;
}

/* ---- RoPE table (host only) ---- */

/* table[pos][j] = cos(pos·inv_freq[j])·mscale and table[pos][dim/2 + j] = sin(…)·mscale, computed
 * exactly as kn_rope (kernels/cpu/kn_rope.c) does, so the GPU rotation uses the reference's c, s. */
static inline void kn_rope_table_host(float *table, size_t max_pos, uint32_t dim, const float *inv_freq, float mscale)
{
	size_t half = dim / 2;
	for (size_t p = 0; p < max_pos; p++) {
		for (size_t j = 0; j < half; j++) {
			float ang = (float)p * inv_freq[j];
			table[p * dim + j] = (float)cos((double)ang) * mscale;
			table[p * dim + half + j] = (float)sin((double)ang) * mscale;
		}
	}
}

#endif
