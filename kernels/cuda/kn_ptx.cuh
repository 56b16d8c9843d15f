// kn_ptx — every inline PTX statement of the kernels, and the launch / dynamic shared memory
// spellings, in one place so the CPU emulator (KN_EMU, kernels/cuda/emu) can stand in for them.
//
// Without KN_EMU each wrapper is the asm statement the kernels used before, unchanged (nvcc emits
// the same code). With KN_EMU each is an emulation written from the PTX ISA's own description
// (ISA §9.7.14.5.8 fragment tables for mma.m16n8k16 .bf16, §9.7.14.5.15 for ldmatrix, cp.async's
// zero-fill rule), deliberately NOT from the kernels' index helpers (kn_mma_frag.h), so the
// emulator checks the kernels' reading of the ISA instead of repeating it.
//
// Warp-wide instructions are emulated through kn_emu_warp_scratch(): every lane publishes its
// operands, kn_emu_warp_sync(), every lane computes its own results, kn_emu_warp_sync() again so
// the scratch can be reused by the next instruction. Like the hardware, they need all 32 lanes.
#ifndef BALE_KN_PTX_CUH
#define BALE_KN_PTX_CUH

#include <stdint.h>

// KN_LAUNCH(kernel, grid, block, smem, stream, args...): `kernel` must be one token, so a template
// kernel is first taken into a local pointer (`auto k = kn_x_kernel<A, B>;`).
// KN_DYN_SMEM(type, name): the launch's dynamic shared memory as `type name[]`, 16-byte aligned.
#ifdef KN_EMU
#define KN_LAUNCH(kernel, grid, block, smem, stream, ...) \
	kn_emu_launch(kernel, grid, block, smem, stream, __VA_ARGS__)
#define KN_DYN_SMEM(type, name) type *name = (type *)kn_emu_dyn_smem()
#else
#define KN_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#define KN_DYN_SMEM(type, name) extern __shared__ __align__(16) type name[]
#endif

#if defined(__CUDACC__) || defined(KN_EMU)

#ifdef KN_EMU
#include <string.h>

// BF16 bits → f32 (exact).
static inline float kn_ptx_bf16(uint16_t h)
{
	const uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

// The hardware faults on a misaligned shared/global operand; so does the emulator.
static inline void kn_ptx_check_align(const void *p, uintptr_t a)
{
	if ((uintptr_t)p % a != 0)
		__trap();
}
#else
__device__ __forceinline__ unsigned kn_smem_addr(const void *p)
{
	return (unsigned)__cvta_generic_to_shared(p);
}
#endif

// D = A·B + C for one warp: A 16×16 BF16 (row), B 16×8 BF16 (col), C/D 16×8 f32.
// Lane fragments (g = lane/4, t = lane%4; each 32-bit register holds two BF16, the lower
// index in the low half):
//   A  a_i, i = 0..7 in a[i/2]: row g (i ∈ {0,1,4,5}) or g+8, column 2t + (i&1) (+8 for i ≥ 4);
//   B  b_i, i = 0..3 in b0 (i < 2) / b1: row (k) 2t + (i&1) (+8 for i ≥ 2), column (n) g;
//   C  c_i, i = 0..3: row g (i < 2) or g+8, column 2t + (i&1).
__device__ __forceinline__ void kn_mma_bf16_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
#ifndef KN_EMU
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
		     "{%8, %9}, {%0, %1, %2, %3};\n"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
	// Every lane scatters its own fragment elements into whole matrices (the ISA's forward
	// tables; together the lanes cover each element exactly once), then reads what it needs.
	struct mats {
		uint16_t A[16][16]; // [row m][k]
		uint16_t B[16][8];  // [k][n]
	};
	mats *s = (mats *)kn_emu_warp_scratch();
	const unsigned lane = kn_emu_lane();
	const unsigned g = lane >> 2, t = lane & 3;
	for (unsigned i = 0; i < 8; i++) {
		const unsigned row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
		const unsigned col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
		s->A[row][col] = (uint16_t)(a[i / 2] >> (16 * (i & 1)));
	}
	const uint32_t b[2] = {b0, b1};
	for (unsigned i = 0; i < 4; i++) {
		const unsigned k = t * 2 + (i & 1) + (i >= 2 ? 8 : 0);
		s->B[k][g] = (uint16_t)(b[i / 2] >> (16 * (i & 1)));
	}
	kn_emu_warp_sync();
	float d[4];
	for (unsigned i = 0; i < 4; i++) {
		const unsigned row = i < 2 ? g : g + 8;
		const unsigned col = t * 2 + (i & 1);
		// BF16 × BF16 is exact in f32; f32 accumulation in k order.
		float sum = 0.0f;
		for (unsigned k = 0; k < 16; k++)
			sum += kn_ptx_bf16(s->A[row][k]) * kn_ptx_bf16(s->B[k][col]);
		d[i] = c[i] + sum;
	}
	kn_emu_warp_sync();
	for (unsigned i = 0; i < 4; i++)
		c[i] = d[i];
#endif
}

// ldmatrix .m8n8 .x4 .b16 (no .trans): lanes 8q..8q+7 give the addresses of rows 0..7 of matrix q
// (16 contiguous, 16-byte aligned bytes each, in shared memory); lane l receives in r[q] the
// 32-bit word l%4 of row l/4 of matrix q, i.e. elements (l/4, 2(l%4)) and (l/4, 2(l%4)+1).
__device__ __forceinline__ void kn_ldmatrix_x4(uint32_t r[4], const void *row_addr)
{
#ifndef KN_EMU
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(kn_smem_addr(row_addr))
		     : "memory");
#else
	const void **rows = (const void **)kn_emu_warp_scratch();
	const unsigned lane = kn_emu_lane();
	kn_ptx_check_align(row_addr, 16);
	rows[lane] = row_addr;
	kn_emu_warp_sync();
	uint32_t v[4];
	for (unsigned q = 0; q < 4; q++)
		memcpy(&v[q], (const char *)rows[8 * q + lane / 4] + 4 * (lane % 4), 4);
	kn_emu_warp_sync();
	for (unsigned q = 0; q < 4; q++)
		r[q] = v[q];
#endif
}

// cp.async.cg.shared.global, cp-size 16: copies src_bytes (0..16) bytes global → shared and
// zero-fills the rest of the 16; src_bytes 0 reads nothing. Both addresses 16-byte aligned.
// The emulator copies at once, so commit/wait only order what is already done.
__device__ __forceinline__ void kn_cp_async_16(void *smem, const void *gmem, int src_bytes)
{
#ifndef KN_EMU
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(kn_smem_addr(smem)), "l"(gmem),
		     "r"(src_bytes)
		     : "memory");
#else
	kn_ptx_check_align(smem, 16);
	kn_ptx_check_align(gmem, 16);
	if (src_bytes < 0 || src_bytes > 16)
		__trap();
	unsigned char tmp[16] = {0};
	if (src_bytes > 0)
		memcpy(tmp, gmem, (size_t)src_bytes);
	memcpy(smem, tmp, 16);
#endif
}

__device__ __forceinline__ void kn_cp_async_commit()
{
#ifndef KN_EMU
	asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most N committed groups are still pending.
template <int N>
__device__ __forceinline__ void kn_cp_async_wait()
{
	static_assert(N >= 0 && N < 8, "cp.async.wait_group takes a small immediate");
#ifndef KN_EMU
	asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

#endif // __CUDACC__ || KN_EMU
#endif
