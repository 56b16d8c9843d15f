/* kernels/cuda/kn_attn_index.cuh on the CPU (label unit): the paged KV cache's address math, the
 * decode split ranges and the prefill tile limits the CUDA kernels use, plus the size helpers of
 * kn_cuda_attn.h (plain arithmetic in both builds). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kn_attn_index.cuh"
#include "kn_cuda_attn.h"
#include "testutil.h"

/* Walking the storage order [page][layer][K/V][head][offset][dim] with a counter must give the
 * address the kernels compute for every element and scale. */
static void test_block_layout(void **state)
{
	(void)state;
	const int geo[][5] = {{3, 2, 5, 4, 4}, {1, 1, 1, 2, 3}, {2, 8, 16, 128, 2}, {36, 8, 16, 64, 1}};
	for (size_t gi = 0; gi < sizeof geo / sizeof *geo; gi++) {
		const int nl = geo[gi][0], nkv = geo[gi][1], pt = geo[gi][2], hd = geo[gi][3], np = geo[gi][4];
		size_t elem = 0, sc = 0;
		for (int pg = 0; pg < np; pg++)
			for (int l = 0; l < nl; l++)
				for (int kv = 0; kv < 2; kv++)
					for (int h = 0; h < nkv; h++) {
						size_t blk = kn_kv_block((size_t)pg, l, kv, h, nl, nkv);
						for (int off = 0; off < pt; off++) {
							if (kn_kv_scale_at(blk, off, pt) != sc++)
								fail_msg("geo %zu: scale of page %d layer %d kv %d head %d off %d", gi, pg, l, kv,
									 h, off);
							size_t e0 = kn_kv_elem(blk, off, pt, hd);
							if (e0 != elem)
								fail_msg("geo %zu: element of page %d layer %d kv %d head %d off %d: %zu != %zu",
									 gi, pg, l, kv, h, off, e0, elem);
							elem += (size_t)hd;
						}
					}
		assert_int_equal(elem, kn_kv_page_elems(nl, nkv, pt, hd) * (size_t)np);
		assert_int_equal(sc, kn_kv_page_scales(nl, nkv, pt) * (size_t)np);
		/* the V block of a head is n_kv_heads blocks after its K block (the kernels rely on it) */
		assert_int_equal(kn_kv_block(1, nl - 1, 1, 0, nl, nkv), kn_kv_block(1, nl - 1, 0, 0, nl, nkv) + (size_t)nkv);
	}
	/* 64-bit products: the last element of a 40K-token, 36-layer cache of the 8B model */
	size_t blk = kn_kv_block(2499, 35, 1, 7, 36, 8);
	assert_true(kn_kv_elem(blk, 15, 16, 128) + 127 == 2500ull * 36 * 2 * 8 * 16 * 128 - 1);
}

static void test_sizes(void **state)
{
	(void)state;
	kn_cuda_kv kv = {.kv_type = KN_CUDA_KV_BF16, .n_layers = 36, .n_kv_heads = 8, .head_dim = 128, .page_tokens = 16,
			 .n_pages = 1};
	assert_int_equal(kn_cuda_kv_page_bytes(&kv), 36u * 2 * 8 * 16 * 128 * 2);
	assert_int_equal(kn_cuda_kv_page_scale_bytes(&kv), 0);
	kv.kv_type = KN_CUDA_KV_F8;
	assert_int_equal(kn_cuda_kv_page_bytes(&kv), 36u * 2 * 8 * 16 * 128);
	assert_int_equal(kn_cuda_kv_page_scale_bytes(&kv), 36u * 2 * 8 * 16 * 4); /* docs/GPU.md: 144 B per token */
	kv.kv_type = 7;
	assert_int_equal(kn_cuda_kv_page_bytes(&kv), 0);
	assert_int_equal(kn_cuda_kv_page_bytes(NULL), 0);
	kv.kv_type = KN_CUDA_KV_BF16;
	kv.n_layers = INT_MAX, kv.n_kv_heads = INT_MAX, kv.page_tokens = INT_MAX, kv.head_dim = 256;
	assert_int_equal(kn_cuda_kv_page_bytes(&kv), 0); /* overflow, not a wrapped size */
	kv.n_layers = 0;
	assert_int_equal(kn_cuda_kv_page_bytes(&kv), 0);

	assert_int_equal(kn_cuda_attn_decode_work_bytes(3, 32, 128, 7), 3u * 32 * 7 * 130 * 4);
	assert_int_equal(kn_cuda_attn_decode_work_bytes(0, 32, 128, 7), 0);
}

static void test_slots(void **state)
{
	(void)state;
	const int pts[] = {1, 7, 16, 64};
	for (size_t i = 0; i < sizeof pts / sizeof *pts; i++) {
		const int pt = pts[i];
		for (int s = 0; s < 5000; s++) {
			int pg = kn_kv_page_of(s, pt), off = kn_kv_offset_of(s, pt);
			assert_true(off >= 0 && off < pt);
			assert_int_equal(pg * pt + off, s);
		}
		assert_true(kn_kv_slot_ok(0, 3, pt));
		assert_true(kn_kv_slot_ok(3 * pt - 1, 3, pt));
		assert_false(kn_kv_slot_ok(3 * pt, 3, pt));
		assert_false(kn_kv_slot_ok(-1, 3, pt));
	}
	/* n_pages · page_tokens above INT_MAX must not wrap */
	assert_true(kn_kv_slot_ok(INT_MAX, INT_MAX, 2));
}

/* Splits cover 0..len−1 once, in order, starting at multiples of KN_ATTN_SPLIT_ALIGN. */
static void test_split_ranges(void **state)
{
	(void)state;
	const int lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1000, 4097, 40000, 131072, INT_MAX};
	const int splits[] = {1, 2, 3, 7, 16, 33, 128, 1024};
	for (size_t a = 0; a < sizeof lens / sizeof *lens; a++)
		for (size_t c = 0; c < sizeof splits / sizeof *splits; c++) {
			const int len = lens[a], ns = splits[c];
			int next = 0, nonempty = 0;
			for (int s = 0; s < ns; s++) {
				int b, e;
				kn_attn_split_range(len, ns, s, &b, &e);
				assert_true(b <= e);
				if (b == e) {
					assert_int_equal(b, len); /* empty splits only after the end */
					continue;
				}
				nonempty++;
				if (b != next)
					fail_msg("len %d splits %d: split %d starts at %d, expected %d", len, ns, s, b, next);
				assert_int_equal(b % KN_ATTN_SPLIT_ALIGN, 0);
				next = e;
			}
			if (next != len)
				fail_msg("len %d splits %d: covered up to %d", len, ns, next);
			assert_true(nonempty <= ns);
		}
}

static void test_tile_keys(void **state)
{
	(void)state;
	/* a tile needs keys up to its last query row's position, never past the chunk */
	assert_int_equal(kn_attn_tile_keys(200, 0, 0, 64), 64);
	assert_int_equal(kn_attn_tile_keys(200, 0, 192, 64), 200);
	assert_int_equal(kn_attn_tile_keys(17, 300, 0, 64), 317);
	assert_int_equal(kn_attn_tile_keys(1, 5, 0, 64), 6);
	for (int T = 1; T < 300; T += 13)
		for (int q0 = 0; q0 < T; q0 += 64) {
			int k = kn_attn_tile_keys(T, 7, q0, 64);
			int last_row = q0 + 63 < T - 1 ? q0 + 63 : T - 1;
			assert_int_equal(k, 7 + last_row + 1);
		}
}

static void test_splits_suggest(void **state)
{
	(void)state;
	assert_int_equal(kn_cuda_attn_decode_splits(1, 8, 100, 132), 1);    /* short: one split */
	assert_int_equal(kn_cuda_attn_decode_splits(1, 8, 8192, 132), 32);  /* ≥ 256 positions each */
	assert_int_equal(kn_cuda_attn_decode_splits(1, 8, 65536, 132), 66); /* ~4 blocks per SM */
	assert_int_equal(kn_cuda_attn_decode_splits(64, 8, 65536, 132), 2);
	assert_int_equal(kn_cuda_attn_decode_splits(1, 1, INT_MAX, 100000), 1024);
	assert_int_equal(kn_cuda_attn_decode_splits(0, 0, 0, 0), 1);
	for (int len = 1; len < 200000; len = len * 3 + 1) {
		int s = kn_cuda_attn_decode_splits(1, 8, len, 132);
		assert_true(s >= 1 && s <= 1024);
		assert_true(s == 1 || len / s >= 256);
	}
}

static void test_random_values(void **state)
{
	(void)state;
	for (uint64_t i = 0; i < 200000; i++) {
		uint64_t h = kn_attn_hash(42, i);
		float v = kn_bf16_to_f32(kn_attn_rand_bf16(h));
		assert_true(v > -1.0f - 1e-6f && v < 1.0f);
		assert_true(v >= -1.0f);
		uint8_t c = kn_attn_rand_e4m3(h);
		assert_true((c & 0x7F) != 0x7F);
		float s = kn_attn_rand_scale(h);
		assert_true(s >= 0.5f / 448 && s < 1.5f / 448);
	}
	assert_true(kn_attn_hash(1, 0) != kn_attn_hash(2, 0));
	assert_true(kn_attn_hash(1, 0) != kn_attn_hash(1, 1));
}

/* Which head dims the attention kernels take, and the compiled capacity that serves each: every
 * multiple of 16 in 16..256 (the MMA prefill's k-step; 16-byte FP8 and BF16 staging chunks divide
 * it) gets the smallest power of two in 32..256 at or above it, whose decode lane groups (cap / 8
 * lanes) divide a warp and hold the hd / 8 active lanes; 64 and 128 run exact kernels. */
static void test_head_dims(void **state)
{
	(void)state;
	int n_ok = 0;
	for (int hd = -16; hd <= 300; hd++) {
		const int ok = kn_attn_hd_ok(hd), cap = kn_attn_hd_cap(hd);
		if (ok != (hd >= 16 && hd <= 256 && hd % 16 == 0))
			fail_msg("hd %d: kn_attn_hd_ok %d", hd, ok);
		if (!ok) {
			if (cap != 0 || kn_attn_hd_exact(hd))
				fail_msg("hd %d unsupported but cap %d / exact %d", hd, cap, kn_attn_hd_exact(hd));
			continue;
		}
		n_ok++;
		if (cap < 32 || cap > 256 || (cap & (cap - 1)) || cap < hd || (cap > 32 && cap / 2 >= hd))
			fail_msg("hd %d: cap %d is not the next power of two in 32..256", hd, cap);
		const int lanes = cap / 8, active = hd / 8;
		if (32 % lanes || active > lanes || active < 1 || hd % 8 || hd % 16)
			fail_msg("hd %d: decode lane groups of %d lanes, %d active", hd, lanes, active);
		if (kn_attn_hd_exact(hd) != (hd == 64 || hd == 128) || (kn_attn_hd_exact(hd) && cap != hd))
			fail_msg("hd %d: exact %d with cap %d", hd, kn_attn_hd_exact(hd), cap);
	}
	assert_int_equal(n_ok, 16);
	/* prefill staging: static up to capacity 128 (as before: 18,432 and 35,840 bytes), dynamic for
	 * 256 within the smallest opt-in limit of sm_80/89/90 (99 KiB on sm_86/89) */
	assert_int_equal(kn_attn_pf_smem_bytes(64), (64 * 72 + 64 * 72) * 2);
	assert_int_equal(kn_attn_pf_smem_bytes(128), (64 * 136 + 128 * 72) * 2);
	for (int cap = 32; cap <= 128; cap *= 2)
		assert_true(kn_attn_pf_smem_bytes(cap) <= KN_ATTN_STATIC_SMEM);
	assert_true(kn_attn_pf_smem_bytes(256) > KN_ATTN_STATIC_SMEM);
	assert_true(kn_attn_pf_smem_bytes(256) <= 99 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_layout),   cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_slots),          cmocka_unit_test(test_split_ranges),
		cmocka_unit_test(test_tile_keys),      cmocka_unit_test(test_splits_suggest),
		cmocka_unit_test(test_random_values),  cmocka_unit_test(test_head_dims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
