// kn_emu — CPU emulation of the CUDA subset bale's kernels use (build option BALE_CUDA_EMU).
//
// Every kernels/cuda/*.cu is compiled as C++17 with `-x c++ -DKN_EMU -include kn_emu.h`, so the same
// kernel sources run on the CPU: a block's threads are cooperative fibers on one OS thread (a
// __shared__ variable is a function-static thread_local, so it is the block's shared memory), they
// switch only at barriers (__syncthreads, warp syncs, shuffles), and a barrier that can never complete
// (a thread exited or waits elsewhere) fails the launch instead of hanging. The CUDA headers are
// included for their types only; kn_emu.cpp implements the runtime API and the cuBLAS subset.
// Emulated device: "bale CPU emulator", compute capability 8.0 (__CUDA_ARCH__ 800), so sm_89+ paths
// are compiled out exactly as for an A100.
#ifndef BALE_KN_EMU_H
#define BALE_KN_EMU_H

#ifndef __cplusplus
#error "kn_emu.h is for the C++ (emulated CUDA) compilation of kernels/cuda only"
#endif

#include <cuda_runtime.h>
#include <vector_types.h>
#include <vector_functions.h>
#include <driver_types.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cublas_v2.h>
#include <cublasLt.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <atomic>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers: host code everywhere ----
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __noinline__
#undef __launch_bounds__
#undef __align__
#undef __shared__
#undef __constant__
#undef __managed__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Blocks of a launch never share an OS thread at the same time, and all threads of a block run on one.
#define __shared__ static thread_local
#define __constant__
#define __managed__

// The kernels' device sections are guarded by these; the CUDA headers were included above without them.
#ifndef __CUDACC__
#define __CUDACC__ 1
#endif
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 800
#endif

// ---- the current emulated thread ----
struct kn_emu_thread {
	uint3 tid;
	uint3 bid;
	dim3 bdim;
	dim3 gdim;
	unsigned lane, warp;
};
extern thread_local kn_emu_thread *kn_emu_cur;

#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim
#undef warpSize
#define threadIdx (kn_emu_cur->tid)
#define blockIdx (kn_emu_cur->bid)
#define blockDim (kn_emu_cur->bdim)
#define gridDim (kn_emu_cur->gdim)
static constexpr int warpSize = 32;

// ---- scheduler entry points (kn_emu.cpp) ----
unsigned kn_emu_lane(void);
void kn_emu_warp_sync(void);          // barrier of the calling thread's warp; every lane calls it
void *kn_emu_warp_scratch(void);      // ≥ 8 KiB per warp, valid for the block
void *kn_emu_dyn_smem(void);          // the launch's dynamic shared memory (0xFF-filled per block)
void kn_emu_block_sync(void);         // __syncthreads
void kn_emu_warp_sync_mask(unsigned mask, const char *what);
// Exchanges `size` bytes among the warp: every lane stores *mine, then reads lane src's value into
// *out (src outside the warp or a lane that does not exist: *out = *mine, flagged as an error for the latter).
void kn_emu_shfl_bytes(unsigned mask, const void *mine, void *out, size_t size, int src, const char *what);
// Every lane's 32-bit value, as an array indexed by lane (lanes that do not exist read 0).
void kn_emu_warp_gather(unsigned mask, uint32_t mine, uint32_t all[32], const char *what);
[[noreturn]] void kn_emu_trap(const char *why);

// ---- synchronisation and warp intrinsics ----
static inline void __syncthreads(void)
{
	kn_emu_block_sync();
}
static inline void __syncwarp(unsigned mask = 0xFFFFFFFFu)
{
	kn_emu_warp_sync_mask(mask, "__syncwarp");
}
static inline void __threadfence(void)
{
	std::atomic_thread_fence(std::memory_order_seq_cst);
}
static inline void __threadfence_block(void)
{
	std::atomic_thread_fence(std::memory_order_seq_cst);
}
[[noreturn]] static inline void __trap(void)
{
	kn_emu_trap("__trap()");
}

template <class T>
static inline T kn_emu_shfl(unsigned mask, T v, int src, const char *what)
{
	static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 16, "shuffle of a register-sized value");
	T out;
	kn_emu_shfl_bytes(mask, &v, &out, sizeof(T), src, what);
	return out;
}

// Source lane per the CUDA rules for a segment of `width` lanes; -1 means "keep my own value".
static inline int kn_emu_shfl_src_idx(int lane, int srcLane, int width)
{
	return (lane & ~(width - 1)) + (srcLane & (width - 1));
}

template <class T>
static inline T __shfl_sync(unsigned mask, T v, int srcLane, int width = 32)
{
	const int lane = (int)kn_emu_lane();
	return kn_emu_shfl(mask, v, kn_emu_shfl_src_idx(lane, srcLane, width), "__shfl_sync");
}
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32)
{
	const int lane = (int)kn_emu_lane();
	const int src = lane ^ laneMask;
	return kn_emu_shfl(mask, v, src >= ((lane / width) + 1) * width ? -1 : src, "__shfl_xor_sync");
}
template <class T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
	const int lane = (int)kn_emu_lane();
	const int src = lane + (int)delta;
	return kn_emu_shfl(mask, v, src >= ((lane / width) + 1) * width ? -1 : src, "__shfl_down_sync");
}
template <class T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
	const int lane = (int)kn_emu_lane();
	const int src = lane - (int)delta;
	return kn_emu_shfl(mask, v, src < (lane / width) * width ? -1 : src, "__shfl_up_sync");
}
static inline unsigned __ballot_sync(unsigned mask, int pred)
{
	uint32_t all[32];
	kn_emu_warp_gather(mask, pred ? 1u : 0u, all, "__ballot_sync");
	unsigned r = 0;
	for (int i = 0; i < 32; i++)
		if ((mask >> i & 1u) && all[i])
			r |= 1u << i;
	return r;
}
static inline int __any_sync(unsigned mask, int pred)
{
	return __ballot_sync(mask, pred) != 0;
}
static inline int __all_sync(unsigned mask, int pred)
{
	return __ballot_sync(mask, pred) == __ballot_sync(mask, 1);
}
static inline unsigned __activemask(void)
{
	return __ballot_sync(0xFFFFFFFFu, 1);
}

// ---- atomics (blocks of one launch run on several OS threads) ----
template <class T>
static inline T atomicAdd(T *p, T v)
{
	if constexpr (std::is_floating_point<T>::value) {
		T old = __atomic_load_n(p, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(p, &old, (T)(old + v), false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		}
		return old;
	} else {
		return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
	}
}
template <class T>
static inline T atomicMax(T *p, T v)
{
	T old = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
	}
	return old;
}
template <class T>
static inline T atomicMin(T *p, T v)
{
	T old = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (old > v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
	}
	return old;
}
template <class T>
static inline T atomicExch(T *p, T v)
{
	return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
template <class T>
static inline T atomicCAS(T *p, T cmp, T v)
{
	__atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return cmp;
}

// ---- arithmetic intrinsics (host arithmetic is IEEE round-to-nearest; no contraction: -ffp-contract=off) ----
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __frcp_rn(float a) { return 1.0f / a; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
static inline float __fdividef(float a, float b) { return a / b; }
// __expf, __logf, __sinf, ... are glibc's (declared by <math.h>): the accurate functions.
static inline float __saturatef(float a) { return a != a ? 0.0f : a < 0.0f ? 0.0f : a > 1.0f ? 1.0f : a; }
static inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
static inline double rsqrt(double a) { return 1.0 / sqrt(a); }
static inline int __float2int_rn(float a) { return (int)nearbyintf(a); }
static inline int __float2int_rz(float a) { return (int)a; }
static inline unsigned __float2uint_rn(float a) { return (unsigned)nearbyintf(a); }
static inline float __int2float_rn(int a) { return (float)a; }
static inline float __uint2float_rn(unsigned a) { return (float)a; }

static inline float __int_as_float(int a) { float f; memcpy(&f, &a, 4); return f; }
static inline int __float_as_int(float a) { int i; memcpy(&i, &a, 4); return i; }
static inline float __uint_as_float(unsigned a) { float f; memcpy(&f, &a, 4); return f; }
static inline unsigned __float_as_uint(float a) { unsigned u; memcpy(&u, &a, 4); return u; }
static inline double __longlong_as_double(long long a) { double d; memcpy(&d, &a, 8); return d; }
static inline long long __double_as_longlong(double a) { long long l; memcpy(&l, &a, 8); return l; }

static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline unsigned __brev(unsigned x)
{
	unsigned r = 0;
	for (int i = 0; i < 32; i++)
		r |= ((x >> i) & 1u) << (31 - i);
	return r;
}
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
static inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned s)
{
	s &= 31;
	return s ? (hi << s) | (lo >> (32 - s)) : hi;
}
static inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned s)
{
	s &= 31;
	return s ? (lo >> s) | (hi << (32 - s)) : lo;
}
// PRMT default mode, with the sign-replicate bit (bit 3 of a selector nibble).
static inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s)
{
	const uint64_t v = ((uint64_t)y << 32) | x;
	unsigned r = 0;
	for (int i = 0; i < 4; i++) {
		const unsigned sel = (s >> (4 * i)) & 0xFu;
		unsigned b = (unsigned)(v >> (8 * (sel & 7u))) & 0xFFu;
		if (sel & 8u)
			b = (b & 0x80u) ? 0xFFu : 0u;
		r |= b << (8 * i);
	}
	return r;
}

// CUDA's min/max overloads: usual arithmetic conversions, fminf/fmaxf for floating point.
template <class A, class B>
static inline typename std::common_type<A, B>::type min(A a, B b)
{
	typedef typename std::common_type<A, B>::type T;
	if constexpr (std::is_floating_point<T>::value)
		return fmin((T)a, (T)b);
	else
		return (T)a < (T)b ? (T)a : (T)b;
}
template <class A, class B>
static inline typename std::common_type<A, B>::type max(A a, B b)
{
	typedef typename std::common_type<A, B>::type T;
	if constexpr (std::is_floating_point<T>::value)
		return fmax((T)a, (T)b);
	else
		return (T)a > (T)b ? (T)a : (T)b;
}

// ---- memory access hints: plain loads and stores ----
template <class T> static inline T __ldg(const T *p) { return *p; }
template <class T> static inline T __ldcs(const T *p) { return *p; }
template <class T> static inline T __ldcg(const T *p) { return *p; }
template <class T> static inline T __ldca(const T *p) { return *p; }
template <class T> static inline T __ldlu(const T *p) { return *p; }
template <class T> static inline T __ldcv(const T *p) { return *p; }
template <class T> static inline void __stcs(T *p, T v) { *p = v; }
template <class T> static inline void __stcg(T *p, T v) { *p = v; }
template <class T> static inline void __stwb(T *p, T v) { *p = v; }
template <class T> static inline void __stwt(T *p, T v) { *p = v; }
static inline size_t __cvta_generic_to_shared(const void *p) { return (size_t)(uintptr_t)p; }
static inline long long clock64(void) { return (long long)__builtin_ia32_rdtsc(); }
static inline void __nanosleep(unsigned ns) { (void)ns; }

// ---- launch ----
struct kn_emu_kernel {
	const void *fn;
	virtual ~kn_emu_kernel() {}
	virtual void run() const = 0;
};

template <class... P>
struct kn_emu_kernel_t final : kn_emu_kernel {
	void (*k)(P...);
	std::tuple<typename std::decay<P>::type...> args;
	template <class... A>
	kn_emu_kernel_t(void (*kk)(P...), A &&...a) : k(kk), args(std::forward<A>(a)...)
	{
		fn = (const void *)kk;
	}
	void run() const override
	{
		std::apply(k, args); // by-value parameters: every thread gets its own copy, as on the device
	}
};

template <class... P, class... A>
static inline kn_emu_kernel *kn_emu_make_kernel(void (*k)(P...), A &&...a)
{
	static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
	return new kn_emu_kernel_t<P...>(k, std::forward<A>(a)...);
}

// Takes ownership of k. Validates the configuration as the device would, then runs the grid (or records
// it when `s` is capturing). Errors are also left for cudaGetLastError.
cudaError_t kn_emu_launch_k(kn_emu_kernel *k, dim3 grid, dim3 block, size_t smem, cudaStream_t s);

template <class K, class... A>
cudaError_t kn_emu_launch(K kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t s, A... args)
{
	return kn_emu_launch_k(kn_emu_make_kernel(kernel, std::move(args)...), grid, block, smem, s);
}

#endif
