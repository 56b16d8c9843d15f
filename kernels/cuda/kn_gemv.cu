// GEMV entry point (argument checks, tile sizing, dispatch) and the exact dequantization kernels.
#include <limits.h>

#include "kn_cuda_gemm.h"
#include "kn_gemv.cuh"

extern "C" int kn_cuda_weight_check(const kn_cuda_weight *w, char *err, size_t errlen)
{
	if (!w)
		return kn_fail(err, errlen, "weight: NULL");
	const char *why = NULL;
	if (w->n == 0 || w->k == 0)
		why = "empty shape";
	else if (w->n > INT_MAX || w->k > INT_MAX)
		why = "n or k above INT_MAX";
	else if (!w->data)
		why = "no data";
	else if (w->dtype == KN_CUDA_BF16 && w->scheme == KN_CUDA_SCHEME_NONE) {
		if (kn_misaligned(w->data, 2))
			why = "BF16 data not 2-byte aligned";
	} else if ((w->dtype == KN_CUDA_I8 && (w->scheme == KN_CUDA_SCHEME_ROW || w->scheme == KN_CUDA_SCHEME_GROUP)) ||
		   (w->dtype == KN_CUDA_F8_E4M3 && w->scheme == KN_CUDA_SCHEME_ROW)) {
		if (!w->scales)
			why = "no scales";
		else if (kn_misaligned(w->scales, 4))
			why = "scales not 4-byte aligned";
		else if (w->scheme == KN_CUDA_SCHEME_GROUP &&
			 ((w->group_size != 32 && w->group_size != 64 && w->group_size != 128) || w->k % w->group_size))
			why = "group size must be 32, 64 or 128 and divide k";
	} else {
		why = "unsupported dtype/scheme (BF16/NONE, I8/ROW, I8/GROUP, F8_E4M3/ROW)";
	}
	if (why)
		return kn_fail(err, errlen, "weight [%zu][%zu] dtype %d scheme %d: %s", w->n, w->k, w->dtype, w->scheme,
			       why);
	return 0;
}

static size_t elem_size(const kn_cuda_weight *w)
{
	return w->dtype == KN_CUDA_BF16 ? 2 : 1;
}

static bool overlap(const void *a, size_t an, const void *b, size_t bn)
{
	uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
	return pa < pb + bn && pb < pa + an;
}

extern "C" int kn_cuda_gemv(const kn_cuda_weight *w, const void *x_bf16, void *y, int m, const kn_cuda_epilogue *ep,
			    void *stream, char *err, size_t errlen)
{
	if (kn_cuda_weight_check(w, err, errlen))
		return -1;
	if (m < 1 || m > KN_CUDA_GEMV_MAX_M)
		return kn_fail(err, errlen, "kn_cuda_gemv: m = %d outside 1..%d", m, KN_CUDA_GEMV_MAX_M);
	const int out_f32 = ep && ep->out_f32;
	const int swiglu = ep && ep->swiglu;
	const void *resid = ep ? ep->residual : NULL;
	const size_t ysz = out_f32 ? 4 : 2;
	if (swiglu && resid)
		return kn_fail(err, errlen, "kn_cuda_gemv: the swiglu epilogue excludes a residual");
	if (swiglu && w->n % 2)
		return kn_fail(err, errlen, "kn_cuda_gemv: swiglu needs an even number of rows (n = %zu)", w->n);
	if (!x_bf16 || !y)
		return kn_fail(err, errlen, "kn_cuda_gemv: NULL x or y");
	if (kn_misaligned(x_bf16, 2) || kn_misaligned(y, ysz) || (resid && kn_misaligned(resid, ysz)))
		return kn_fail(err, errlen, "kn_cuda_gemv: x, y or residual not aligned to its element size");
	// m ≤ 16 and n, k ≤ INT_MAX: these products fit in size_t on a 64-bit host.
	const size_t xbytes = (size_t)m * w->k * 2, ybytes = (size_t)m * (swiglu ? w->n / 2 : w->n) * ysz;
	if (overlap(x_bf16, xbytes, y, ybytes))
		return kn_fail(err, errlen, "kn_cuda_gemv: x overlaps y");
	if (resid && resid != y && overlap(resid, ybytes, y, ybytes))
		return kn_fail(err, errlen, "kn_cuda_gemv: residual partly overlaps y (it may only equal y)");

	kn_gemv_args a;
	a.w = (const uint8_t *)w->data;
	a.scales = w->scales;
	a.x = (const uint16_t *)x_bf16;
	a.y = y;
	a.resid = resid;
	a.m = m;
	a.n = (int)w->n;
	a.k = (int)w->k;
	a.group = w->scheme == KN_CUDA_SCHEME_GROUP ? (int)w->group_size : 0;
	// Tile: all of K when it fits, else the largest multiple of 256 elements within the budget.
	const size_t kpad = (w->k + 15) / 16 * 16;
	size_t kt_max = (size_t)KN_GEMV_SMEM_MAX / ((size_t)m * 2) / 256 * 256;
	a.kt = (int)(kpad < kt_max ? kpad : kt_max);
	a.vec = !kn_misaligned(w->data, 16) && (w->k * elem_size(w)) % 16 == 0;
	a.x_vec = !kn_misaligned(x_bf16, 16) && w->k % 8 == 0;
	a.out_f32 = out_f32;
	a.swiglu = swiglu;

	const int mt = m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : m <= 8 ? 8 : 16;
	cudaStream_t s = kn_stream(stream);
	switch (w->dtype) {
	case KN_CUDA_BF16:
		return kn_gemv_launch_bf16(mt, &a, s, err, errlen);
	case KN_CUDA_I8:
		return kn_gemv_launch_i8(mt, &a, s, err, errlen);
	default:
		return kn_gemv_launch_f8(mt, &a, s, err, errlen);
	}
}

// ---- exact dequantization (SPEC §6.2): one binary32 multiply, never fused ----

struct kn_dq_args {
	const uint8_t *w;
	const float *scales;
	int dtype;
	uint32_t group; // 0 for ROW
	size_t n, k;
};

__device__ __forceinline__ float kn_dq_elem(const kn_dq_args &a, size_t r, size_t c)
{
	const size_t i = r * a.k + c;
	if (a.dtype == KN_CUDA_BF16)
		return kn_bf16_to_f32(((const uint16_t *)a.w)[i]);
	const float code = a.dtype == KN_CUDA_I8 ? kn_i8_to_f32((int8_t)a.w[i]) : kn_e4m3_to_f32(a.w[i]);
	return __fmul_rn(code, a.scales[kn_scale_index(r, c, a.k, a.group)]);
}

__global__ void kn_dequant_kernel(const kn_dq_args a, size_t row0, size_t rows, float *out)
{
	const size_t total = rows * a.k;
	for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
		const size_t r = t / a.k, c = t - r * a.k;
		out[t] = kn_dq_elem(a, row0 + r, c);
	}
}

// One block per token; an id outside the table writes NaN (the host cannot see device ids).
__global__ void kn_embed_kernel(const kn_dq_args a, const int32_t *ids, float *out)
{
	const int32_t id = ids[blockIdx.x];
	float *o = out + (size_t)blockIdx.x * a.k;
	const bool ok = id >= 0 && (size_t)id < a.n;
	for (size_t c = threadIdx.x; c < a.k; c += blockDim.x)
		o[c] = ok ? kn_dq_elem(a, (size_t)id, c) : __uint_as_float(0x7FC00000u);
}

static kn_dq_args dq_args(const kn_cuda_weight *w)
{
	kn_dq_args a;
	a.w = (const uint8_t *)w->data;
	a.scales = w->scales;
	a.dtype = w->dtype;
	a.group = w->scheme == KN_CUDA_SCHEME_GROUP ? w->group_size : 0;
	a.n = w->n;
	a.k = w->k;
	return a;
}

extern "C" int kn_cuda_dequant_rows(const kn_cuda_weight *w, size_t row0, size_t rows, void *out_f32, void *stream,
				    char *err, size_t errlen)
{
	if (kn_cuda_weight_check(w, err, errlen))
		return -1;
	if (rows == 0 || row0 > w->n || rows > w->n - row0)
		return kn_fail(err, errlen, "kn_cuda_dequant_rows: rows [%zu, +%zu) outside [0, %zu)", row0, rows, w->n);
	if (!out_f32 || kn_misaligned(out_f32, 4))
		return kn_fail(err, errlen, "kn_cuda_dequant_rows: output NULL or not 4-byte aligned");
	const size_t total = rows * w->k; // ≤ n·k, which the weight's allocation already holds
	size_t blocks = (total + 255) / 256;
	if (blocks > 65535u * 8)
		blocks = 65535u * 8;
	KN_LAUNCH(kn_dequant_kernel, (unsigned)blocks, 256, 0, kn_stream(stream), dq_args(w), row0, rows,
			(float *)out_f32);
	return kn_launch_status("kn_dequant_kernel", err, errlen);
}

// One block per row (no division per element); the BF16 of the exact SPEC value, rounded to
// nearest even as kn_f32_to_bf16 does on the host.
__global__ void kn_dequant_bf16_kernel(const kn_dq_args a, size_t row0, uint16_t *out)
{
	const size_t r = blockIdx.x;
	uint16_t *o = out + r * a.k;
	for (size_t c = threadIdx.x; c < a.k; c += blockDim.x)
		o[c] = kn_f32_to_bf16(kn_dq_elem(a, row0 + r, c));
}

extern "C" int kn_cuda_dequant_rows_bf16(const kn_cuda_weight *w, size_t row0, size_t rows, void *out_bf16,
					 void *stream, char *err, size_t errlen)
{
	if (kn_cuda_weight_check(w, err, errlen))
		return -1;
	if (rows == 0 || row0 > w->n || rows > w->n - row0)
		return kn_fail(err, errlen, "kn_cuda_dequant_rows_bf16: rows [%zu, +%zu) outside [0, %zu)", row0, rows,
			       w->n);
	if (!out_bf16 || kn_misaligned(out_bf16, 2))
		return kn_fail(err, errlen, "kn_cuda_dequant_rows_bf16: output NULL or not 2-byte aligned");
	// rows ≤ n ≤ INT_MAX (kn_cuda_weight_check), within the grid's x limit.
	KN_LAUNCH(kn_dequant_bf16_kernel, (unsigned)rows, 256, 0, kn_stream(stream), dq_args(w), row0,
			(uint16_t *)out_bf16);
	return kn_launch_status("kn_dequant_bf16_kernel", err, errlen);
}

extern "C" int kn_cuda_embed(const kn_cuda_weight *w, const void *ids_i32, int m, void *out_f32, void *stream,
			     char *err, size_t errlen)
{
	if (kn_cuda_weight_check(w, err, errlen))
		return -1;
	if (m < 1 || m > 65535)
		return kn_fail(err, errlen, "kn_cuda_embed: m = %d outside 1..65535", m);
	if (!ids_i32 || kn_misaligned(ids_i32, 4) || !out_f32 || kn_misaligned(out_f32, 4))
		return kn_fail(err, errlen, "kn_cuda_embed: ids or output NULL or not 4-byte aligned");
	KN_LAUNCH(kn_embed_kernel, (unsigned)m, 256, 0, kn_stream(stream), dq_args(w), (const int32_t *)ids_i32,
			(float *)out_f32);
	return kn_launch_status("kn_embed_kernel", err, errlen);
}
