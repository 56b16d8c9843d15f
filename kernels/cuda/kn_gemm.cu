// GEMM entry points (kn_cuda_gemm.h): the cuBLAS context, path choice, argument checks and the
// four paths. GEMV and MMA are our kernels; CUBLAS dequantizes chunks of rows to BF16 and calls
// cublasGemmEx; FP8 quantizes x per token and calls cuBLASLt's E4M3 × E4M3 GEMM with unit scales
// into an f32 block, then applies weight scale × token scale in the epilogue kernel. (cuBLASLt's
// OUTER_VEC_32F scale mode would fold that into the GEMM on sm_90; it is not used yet.)
#include <cublasLt.h>
#include <cublas_v2.h>
#include <limits.h>
#include <stdlib.h>

#include "kn_cuda_gemm.h"
#include "kn_gemm.cuh"
#include "kn_gemm_plan.h"
#include "kn_mma.cuh"

struct kn_cuda_blas {
	cublasHandle_t cb;
	cublasLtHandle_t lt;
	void *mem;            // the one device allocation, carved below
	void *scratch;        // dequantized BF16 rows, then the f32 result block
	size_t scratch_bytes;
	void *ws;             // cuBLAS and cuBLASLt workspace (one stream at a time)
	size_t ws_bytes;
	uint8_t *codes;       // FP8 path: E4M3 activations [max_m][k]
	float *xscales;       // [max_m]
	int max_m, max_k;
};

extern "C" const char *kn_gemm_algo_name(kn_gemm_algo a)
{
	switch (a) {
	case KN_GEMM_AUTO: return "auto";
	case KN_GEMM_GEMV: return "gemv";
	case KN_GEMM_MMA: return "mma";
	case KN_GEMM_CUBLAS: return "cublas";
	case KN_GEMM_FP8: return "fp8";
	}
	return "?";
}

static int cb_fail(cublasStatus_t st, const char *what, char *err, size_t errlen)
{
	return kn_fail(err, errlen, "%s: %s (%s)", what, cublasGetStatusString(st), cublasGetStatusName(st));
}

// cublasSetStream resets the handle to cuBLAS's default workspace pool (cuBLAS docs,
// cublasSetStream), which cuBLAS may then allocate from: that breaks graph capture and the "no
// allocation inside kn_cuda_matmul" contract. So the fixed workspace is set again after every
// stream change.
static int cb_set_stream(kn_cuda_blas *b, cudaStream_t s, const char *who, char *err, size_t errlen)
{
	cublasStatus_t st = cublasSetStream(b->cb, s);
	if (st != CUBLAS_STATUS_SUCCESS)
		return kn_fail(err, errlen, "%s: cublasSetStream: %s", who, cublasGetStatusString(st));
	st = cublasSetWorkspace(b->cb, b->ws, b->ws_bytes);
	if (st != CUBLAS_STATUS_SUCCESS)
		return kn_fail(err, errlen, "%s: cublasSetWorkspace: %s", who, cublasGetStatusString(st));
	return 0;
}

static int device_cc(int *cc, char *err, size_t errlen)
{
	int dev = 0, ma = 0, mi = 0;
	cudaError_t e = cudaGetDevice(&dev);
	if (e == cudaSuccess)
		e = cudaDeviceGetAttribute(&ma, cudaDevAttrComputeCapabilityMajor, dev);
	if (e == cudaSuccess)
		e = cudaDeviceGetAttribute(&mi, cudaDevAttrComputeCapabilityMinor, dev);
	if (e != cudaSuccess) {
		cudaGetLastError();
		return kn_cuda_status(e, "kn_cuda_matmul: device query", err, errlen);
	}
	*cc = ma * 10 + mi;
	return 0;
}

extern "C" size_t kn_cuda_blas_bytes(int max_m, int max_k, size_t scratch_bytes)
{
	return kn_gemm_blas_bytes_plan(max_m, max_k, scratch_bytes);
}

extern "C" void kn_cuda_blas_free(kn_cuda_blas *b)
{
	if (!b)
		return;
	if (b->cb)
		cublasDestroy(b->cb);
	if (b->lt)
		cublasLtDestroy(b->lt);
	cudaFree(b->mem);
	free(b);
}

extern "C" int kn_cuda_blas_create(kn_cuda_blas **out, int max_m, int max_k, size_t scratch_bytes, char *err,
				   size_t errlen)
{
	if (!out)
		return kn_fail(err, errlen, "kn_cuda_blas_create: NULL out");
	*out = NULL;
	if (max_m < 1 || max_k < 1)
		return kn_fail(err, errlen, "kn_cuda_blas_create: max_m = %d, max_k = %d must be >= 1", max_m, max_k);
	if (!scratch_bytes)
		scratch_bytes = KN_GEMM_SCRATCH_DEFAULT;
	kn_cuda_blas *b = (kn_cuda_blas *)calloc(1, sizeof *b);
	if (!b)
		return kn_fail(err, errlen, "kn_cuda_blas_create: out of host memory");
	b->max_m = max_m;
	b->max_k = max_k;
	b->scratch_bytes = kn_gemm_align_up(scratch_bytes, KN_GEMM_ALIGN);
	b->ws_bytes = KN_GEMM_WORKSPACE;
	const size_t total = kn_gemm_blas_bytes_plan(max_m, max_k, scratch_bytes);
	cudaError_t e = cudaMalloc(&b->mem, total);
	if (e != cudaSuccess) {
		b->mem = NULL;
		cudaGetLastError(); // not sticky: keep it from surfacing at the next launch check
		kn_cuda_blas_free(b);
		return kn_cuda_status(e, "kn_cuda_blas_create: cudaMalloc", err, errlen);
	}
	char *p = (char *)b->mem;
	b->scratch = p;
	p += b->scratch_bytes;
	b->ws = p;
	p += b->ws_bytes;
	b->codes = (uint8_t *)p;
	p += kn_gemm_f8_codes_bytes(max_m, max_k);
	b->xscales = (float *)p;
	cublasStatus_t st = cublasCreate(&b->cb);
	if (st != CUBLAS_STATUS_SUCCESS) {
		b->cb = NULL;
		kn_cuda_blas_free(b);
		return cb_fail(st, "kn_cuda_blas_create: cublasCreate", err, errlen);
	}
	// A fixed workspace: cuBLAS then never allocates, which graph capture needs.
	st = cublasSetWorkspace(b->cb, b->ws, b->ws_bytes);
	if (st != CUBLAS_STATUS_SUCCESS) {
		kn_cuda_blas_free(b);
		return cb_fail(st, "kn_cuda_blas_create: cublasSetWorkspace", err, errlen);
	}
	st = cublasLtCreate(&b->lt);
	if (st != CUBLAS_STATUS_SUCCESS) {
		b->lt = NULL;
		kn_cuda_blas_free(b);
		return cb_fail(st, "kn_cuda_blas_create: cublasLtCreate", err, errlen);
	}
	*out = b;
	return 0;
}

static int fp8_ok(const kn_cuda_weight *w)
{
	return kn_gemm_fp8_weight_ok(w->dtype, w->scheme, w->k, (uintptr_t)w->data);
}

extern "C" kn_gemm_algo kn_cuda_matmul_pick(const kn_cuda_weight *w, int m)
{
	int cc = 0;
	if (device_cc(&cc, NULL, 0))
		cc = 0;
	return kn_gemm_pick_cc(w && fp8_ok(w), m, cc);
}

extern "C" int kn_cuda_matmul_supported(const kn_cuda_weight *w, int m, kn_gemm_algo algo, char *err, size_t errlen)
{
	if (kn_cuda_weight_check(w, err, errlen))
		return -1;
	if (m < 1)
		return kn_fail(err, errlen, "kn_cuda_matmul: m = %d must be >= 1", m);
	int cc = 0;
	switch (algo) {
	case KN_GEMM_AUTO:
	case KN_GEMM_GEMV:
	case KN_GEMM_CUBLAS:
		return 0;
	case KN_GEMM_MMA:
		if (device_cc(&cc, err, errlen))
			return -1;
		if (cc < 80)
			return kn_fail(err, errlen, "kn_cuda_matmul: the MMA path needs sm_80+ (device is sm_%d)", cc);
		if ((w->n + KN_MMA_BN - 1) / KN_MMA_BN > KN_MMA_MAX_NTILES)
			return kn_fail(err, errlen, "kn_cuda_matmul: n = %zu too large for the MMA grid", w->n);
		return 0;
	case KN_GEMM_FP8:
		if (w->dtype != KN_CUDA_F8_E4M3 || w->scheme != KN_CUDA_SCHEME_ROW)
			return kn_fail(err, errlen, "kn_cuda_matmul: the FP8 path needs F8_E4M3/ROW weights");
		if (!fp8_ok(w))
			return kn_fail(err, errlen,
				       "kn_cuda_matmul: the FP8 path needs k %% 16 == 0 and 16-byte aligned weights (k = %zu)",
				       w->k);
		if (device_cc(&cc, err, errlen))
			return -1;
		if (cc < 89)
			return kn_fail(err, errlen, "kn_cuda_matmul: the FP8 path needs sm_89+ (device is sm_%d)", cc);
		return 0;
	}
	return kn_fail(err, errlen, "kn_cuda_matmul: unknown algorithm %d", (int)algo);
}

// ---- paths (arguments already checked) ----

struct mm_call {
	const kn_cuda_weight *w;
	const uint16_t *x;
	char *y;
	const char *resid;
	int m, out_f32, swiglu;
	size_t ysz, n_out;
	cudaStream_t s;
};

static int run_gemv(const mm_call *c, char *err, size_t errlen)
{
	for (int t0 = 0; t0 < c->m; t0 += KN_CUDA_GEMV_MAX_M) {
		const int mm = c->m - t0 < KN_CUDA_GEMV_MAX_M ? c->m - t0 : KN_CUDA_GEMV_MAX_M;
		const size_t yoff = (size_t)t0 * c->n_out * c->ysz;
		kn_cuda_epilogue ep = {c->out_f32, c->resid ? c->resid + yoff : NULL, c->swiglu};
		if (kn_cuda_gemv(c->w, c->x + (size_t)t0 * c->w->k, c->y + yoff, mm, &ep, c->s, err, errlen))
			return -1;
	}
	return 0;
}

static int run_mma(const mm_call *c, char *err, size_t errlen)
{
	const kn_cuda_weight *w = c->w;
	const size_t esz = w->dtype == KN_CUDA_BF16 ? 2 : 1;
	kn_mma_args a;
	a.w = (const uint8_t *)w->data;
	a.scales = w->scales;
	a.x = c->x;
	a.y = c->y;
	a.resid = c->resid;
	a.m = c->m;
	a.n = (int)w->n;
	a.k = (int)w->k;
	a.group = w->scheme == KN_CUDA_SCHEME_GROUP ? (int)w->group_size : 0;
	a.vec = !kn_misaligned(w->data, 16) && (w->k * esz) % 16 == 0;
	a.x_vec = !kn_misaligned(c->x, 16) && w->k % 8 == 0;
	a.out_f32 = c->out_f32;
	a.swiglu = c->swiglu;
	// 128-token tiles halve the weight traffic per token once there are enough tokens to fill them.
	const int mi = c->m >= 256 ? 4 : 2;
	switch (w->dtype) {
	case KN_CUDA_BF16:
		return kn_mma_launch_bf16(mi, &a, c->s, err, errlen);
	case KN_CUDA_I8:
		return kn_mma_launch_i8(mi, &a, c->s, err, errlen);
	default:
		return kn_mma_launch_f8(mi, &a, c->s, err, errlen);
	}
}

static int run_cublas(kn_cuda_blas *b, const mm_call *c, char *err, size_t errlen)
{
	const kn_cuda_weight *w = c->w;
	const size_t n = w->n, k = w->k;
	const int dq = w->dtype != KN_CUDA_BF16, out = c->swiglu;
	const size_t chunk = kn_gemm_chunk_rows(n, k, (size_t)c->m, b->scratch_bytes, dq, out);
	if (!chunk)
		return kn_fail(err, errlen, "kn_cuda_matmul (cublas): scratch of %zu bytes holds no 16-row chunk at m = %d, k = %zu",
			       b->scratch_bytes, c->m, k);
	if (cb_set_stream(b, c->s, "kn_cuda_matmul", err, errlen))
		return -1;
	cublasStatus_t st;
	// Residual (not with swiglu): y starts as the residual and cuBLAS adds with beta = 1, so the
	// sum is rounded once.
	if (!c->swiglu && c->resid && c->resid != c->y) {
		cudaError_t e = cudaMemcpyAsync(c->y, c->resid, (size_t)c->m * n * c->ysz, cudaMemcpyDeviceToDevice, c->s);
		if (e != cudaSuccess)
			return kn_cuda_status(e, "kn_cuda_matmul: residual copy", err, errlen);
	}
	const float one = 1.0f, zero = 0.0f;
	const float *beta = !c->swiglu && c->resid ? &one : &zero;
	uint16_t *dqbuf = (uint16_t *)b->scratch;
	float *cbuf = (float *)((char *)b->scratch + kn_gemm_out_offset(chunk, k, dq));
	for (size_t r0 = 0; r0 < n; r0 += chunk) {
		const size_t rows = n - r0 < chunk ? n - r0 : chunk;
		const void *A = (const uint16_t *)w->data + r0 * k;
		if (dq) {
			if (kn_cuda_dequant_rows_bf16(w, r0, rows, dqbuf, c->s, err, errlen))
				return -1;
			A = dqbuf;
		}
		if (c->swiglu) {
			const size_t ldc = kn_gemm_chunk_ld(rows);
			st = cublasGemmEx(b->cb, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, c->m, (int)k, &one, A, CUDA_R_16BF, (int)k,
					  c->x, CUDA_R_16BF, (int)k, &zero, cbuf, CUDA_R_32F, (int)ldc, CUBLAS_COMPUTE_32F,
					  CUBLAS_GEMM_DEFAULT);
			if (st != CUBLAS_STATUS_SUCCESS)
				return cb_fail(st, "kn_cuda_matmul: cublasGemmEx", err, errlen);
			kn_gemm_epi_args e = {cbuf, ldc, c->m, (int)rows, (int)r0, (int)n, NULL, NULL, c->y, NULL, c->out_f32, 1};
			if (kn_gemm_epi_launch(&e, c->s, err, errlen))
				return -1;
		} else {
			st = cublasGemmEx(b->cb, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, c->m, (int)k, &one, A, CUDA_R_16BF, (int)k,
					  c->x, CUDA_R_16BF, (int)k, beta, c->y + r0 * c->ysz,
					  c->out_f32 ? CUDA_R_32F : CUDA_R_16BF, (int)n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
			if (st != CUBLAS_STATUS_SUCCESS)
				return cb_fail(st, "kn_cuda_matmul: cublasGemmEx", err, errlen);
		}
	}
	return 0;
}

// C[mm][ldc] (column-major rows × mm) = W rows (E4M3, K-major) · x codes (E4M3, K-major), f32.
static int lt_fp8(kn_cuda_blas *b, const void *A, size_t rows, const void *B, int mm, size_t k, float *C, size_t ldc,
		  cudaStream_t s, char *err, size_t errlen)
{
	cublasLtMatmulDesc_t op = NULL;
	cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
	cublasLtMatmulPreference_t pref = NULL;
	const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
	const uint64_t wsb = b->ws_bytes;
	const char *what = "cublasLtMatmulDescCreate";
	cublasStatus_t st = cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
	if (st == CUBLAS_STATUS_SUCCESS) {
		what = "cublasLtMatrixLayoutCreate";
		st = cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, rows, (int64_t)k);
	}
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, (uint64_t)mm, (int64_t)k);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, rows, (uint64_t)mm, (int64_t)ldc);
	if (st == CUBLAS_STATUS_SUCCESS) {
		what = "cublasLtMatmulPreference";
		st = cublasLtMatmulPreferenceCreate(&pref);
	}
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb);
	cublasLtMatmulHeuristicResult_t res;
	int nres = 0;
	if (st == CUBLAS_STATUS_SUCCESS) {
		what = "cublasLtMatmulAlgoGetHeuristic";
		st = cublasLtMatmulAlgoGetHeuristic(b->lt, op, la, lb, lc, lc, pref, 1, &res, &nres);
	}
	int rc = 0;
	if (st == CUBLAS_STATUS_SUCCESS && nres < 1) {
		rc = kn_fail(err, errlen, "kn_cuda_matmul (fp8): cuBLASLt has no E4M3 algorithm for %zu x %d x %zu", rows, mm,
			     k);
	} else if (st == CUBLAS_STATUS_SUCCESS) {
		const float one = 1.0f, zero = 0.0f;
		what = "cublasLtMatmul";
		st = cublasLtMatmul(b->lt, op, &one, A, la, B, lb, &zero, C, lc, C, lc, &res.algo, b->ws, b->ws_bytes, s);
	}
	if (st != CUBLAS_STATUS_SUCCESS)
		rc = cb_fail(st, what, err, errlen);
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	if (lc)
		cublasLtMatrixLayoutDestroy(lc);
	if (lb)
		cublasLtMatrixLayoutDestroy(lb);
	if (la)
		cublasLtMatrixLayoutDestroy(la);
	if (op)
		cublasLtMatmulDescDestroy(op);
	return rc;
}

static int run_fp8(kn_cuda_blas *b, const mm_call *c, char *err, size_t errlen)
{
	const kn_cuda_weight *w = c->w;
	const size_t n = w->n, k = w->k;
	if (k > (size_t)b->max_k)
		return kn_fail(err, errlen, "kn_cuda_matmul (fp8): k = %zu above the context's max_k = %d", k, b->max_k);
	const int mstep = c->m < b->max_m ? c->m : b->max_m;
	const size_t chunk = kn_gemm_chunk_rows(n, k, (size_t)mstep, b->scratch_bytes, 0, 1);
	if (!chunk)
		return kn_fail(err, errlen, "kn_cuda_matmul (fp8): scratch of %zu bytes holds no 16-row chunk at m = %d",
			       b->scratch_bytes, mstep);
	float *cbuf = (float *)b->scratch;
	// Tokens in passes of max_m (the quantized activations' capacity), rows in chunks.
	for (int t0 = 0; t0 < c->m; t0 += mstep) {
		const int mm = c->m - t0 < mstep ? c->m - t0 : mstep;
		const size_t yoff = (size_t)t0 * c->n_out * c->ysz;
		if (kn_quant_f8_launch(c->x + (size_t)t0 * k, mm, (int)k, k, b->codes, b->xscales, c->s, err, errlen))
			return -1;
		for (size_t r0 = 0; r0 < n; r0 += chunk) {
			const size_t rows = n - r0 < chunk ? n - r0 : chunk, ldc = kn_gemm_chunk_ld(rows);
			if (lt_fp8(b, (const uint8_t *)w->data + r0 * k, rows, b->codes, mm, k, cbuf, ldc, c->s, err, errlen))
				return -1;
			kn_gemm_epi_args e = {cbuf,
					      ldc,
					      mm,
					      (int)rows,
					      (int)r0,
					      (int)n,
					      w->scales,
					      b->xscales,
					      c->y + yoff,
					      c->resid ? c->resid + yoff : NULL,
					      c->out_f32,
					      c->swiglu};
			if (kn_gemm_epi_launch(&e, c->s, err, errlen))
				return -1;
		}
	}
	return 0;
}

static bool overlaps(const void *a, size_t an, const void *b, size_t bn)
{
	const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
	return pa < pb + bn && pb < pa + an;
}

extern "C" int kn_cuda_matmul(kn_cuda_blas *b, const kn_cuda_weight *w, const void *x_bf16, void *y, int m,
			      const kn_cuda_epilogue *ep, kn_gemm_algo algo, void *stream, char *err, size_t errlen)
{
	if (kn_cuda_weight_check(w, err, errlen))
		return -1;
	if (m < 1)
		return kn_fail(err, errlen, "kn_cuda_matmul: m = %d must be >= 1", m);
	mm_call c;
	c.w = w;
	c.x = (const uint16_t *)x_bf16;
	c.y = (char *)y;
	c.resid = ep ? (const char *)ep->residual : NULL;
	c.m = m;
	c.out_f32 = ep && ep->out_f32;
	c.swiglu = ep && ep->swiglu;
	c.ysz = c.out_f32 ? 4 : 2;
	c.n_out = c.swiglu ? w->n / 2 : w->n;
	c.s = kn_stream(stream);
	if (!x_bf16 || !y)
		return kn_fail(err, errlen, "kn_cuda_matmul: NULL x or y");
	if (c.swiglu && c.resid)
		return kn_fail(err, errlen, "kn_cuda_matmul: the swiglu epilogue excludes a residual");
	if (c.swiglu && w->n % 2)
		return kn_fail(err, errlen, "kn_cuda_matmul: swiglu needs an even number of rows (n = %zu)", w->n);
	if (kn_misaligned(x_bf16, 2) || kn_misaligned(y, c.ysz) || (c.resid && kn_misaligned(c.resid, c.ysz)))
		return kn_fail(err, errlen, "kn_cuda_matmul: x, y or residual not aligned to its element size");
	const size_t xbytes = (size_t)m * w->k * 2, ybytes = (size_t)m * c.n_out * c.ysz;
	if (overlaps(x_bf16, xbytes, y, ybytes))
		return kn_fail(err, errlen, "kn_cuda_matmul: x overlaps y");
	if (c.resid && c.resid != c.y && overlaps(c.resid, ybytes, y, ybytes))
		return kn_fail(err, errlen, "kn_cuda_matmul: residual partly overlaps y (it may only equal y)");

	if (algo == KN_GEMM_AUTO) {
		algo = kn_cuda_matmul_pick(w, m);
		// Without a context AUTO stays on our own kernels.
		if (!b && (algo == KN_GEMM_CUBLAS || algo == KN_GEMM_FP8))
			algo = KN_GEMM_MMA;
	}
	if (kn_cuda_matmul_supported(w, m, algo, err, errlen))
		return -1;
	switch (algo) {
	case KN_GEMM_GEMV:
		return run_gemv(&c, err, errlen);
	case KN_GEMM_MMA:
		return run_mma(&c, err, errlen);
	case KN_GEMM_CUBLAS:
	case KN_GEMM_FP8:
		if (!b)
			return kn_fail(err, errlen, "kn_cuda_matmul: the %s path needs a kn_cuda_blas context",
				       kn_gemm_algo_name(algo));
		return algo == KN_GEMM_CUBLAS ? run_cublas(b, &c, err, errlen) : run_fp8(b, &c, err, errlen);
	default:
		return kn_fail(err, errlen, "kn_cuda_matmul: unknown algorithm %d", (int)algo);
	}
}

extern "C" int kn_cuda_cublas_bf16(kn_cuda_blas *b, const void *w_bf16, const void *x_bf16, void *y_bf16, int m, int n,
				   int k, void *stream, char *err, size_t errlen)
{
	if (!b || !w_bf16 || !x_bf16 || !y_bf16)
		return kn_fail(err, errlen, "kn_cuda_cublas_bf16: NULL context or pointer");
	if (m < 1 || n < 1 || k < 1)
		return kn_fail(err, errlen, "kn_cuda_cublas_bf16: bad shape m %d n %d k %d", m, n, k);
	if (kn_misaligned(w_bf16, 2) || kn_misaligned(x_bf16, 2) || kn_misaligned(y_bf16, 2))
		return kn_fail(err, errlen, "kn_cuda_cublas_bf16: pointer not 2-byte aligned");
	if (cb_set_stream(b, kn_stream(stream), "kn_cuda_cublas_bf16", err, errlen))
		return -1;
	const float one = 1.0f, zero = 0.0f;
	cublasStatus_t st = cublasGemmEx(b->cb, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w_bf16, CUDA_R_16BF, k, x_bf16,
					 CUDA_R_16BF, k, &zero, y_bf16, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
					 CUBLAS_GEMM_DEFAULT);
	if (st != CUBLAS_STATUS_SUCCESS)
		return cb_fail(st, "kn_cuda_cublas_bf16: cublasGemmEx", err, errlen);
	return 0;
}

extern "C" int kn_cuda_quant_rows_f8(const void *x_bf16, int m, int k, void *codes, float *scales, void *stream,
				     char *err, size_t errlen)
{
	if (m < 1 || k < 1)
		return kn_fail(err, errlen, "kn_cuda_quant_rows_f8: bad shape m %d k %d", m, k);
	if (!x_bf16 || !codes || !scales || kn_misaligned(x_bf16, 2) || kn_misaligned(scales, 4))
		return kn_fail(err, errlen, "kn_cuda_quant_rows_f8: NULL or misaligned pointer");
	return kn_quant_f8_launch((const uint16_t *)x_bf16, m, k, (size_t)k, (uint8_t *)codes, scales,
				  kn_stream(stream), err, errlen);
}
