// kn_emu runtime API: the CUDA runtime calls bale makes, on host memory. Streams execute in order on
// the calling thread; a capturing stream records its operations (launches, async copies and memsets,
// event records, cuBLAS calls) and a graph launch replays them. Device and pinned allocations are
// tracked so copies, memsets and frees of pointers that are not what they claim fail as on a device.
#include "kn_emu_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include <map>
#include <mutex>
#include <set>
#include <vector>

#define KN_EMU_TOTAL_MEM (16ull << 30)

namespace {

thread_local cudaError_t tl_last = cudaSuccess;
thread_local cudaError_t tl_detail_code = cudaSuccess;
thread_local std::string tl_detail;

std::mutex g_m;
std::map<uintptr_t, size_t> g_dev;  // device allocations: base → bytes
std::map<uintptr_t, size_t> g_host; // pinned host allocations
size_t g_dev_used;
std::map<const void *, size_t> g_smem_attr;

struct kn_graph {
	std::vector<kn_emu_op> ops;
};

struct kn_stream {
	kn_graph *capture = nullptr;
	bool invalidated = false;
};
std::set<kn_stream *> g_streams;
thread_local int tl_capturing; // captures begun by this thread (ThreadLocal and Global modes)

struct kn_event {
	bool recorded = false;
	double ms = 0;
};
std::set<kn_event *> g_events;

double now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

bool poison_enabled()
{
	static bool on = [] {
		const char *e = getenv("KN_EMU_POISON");
		return !(e && e[0] == '0');
	}();
	return on;
}

// The allocation of map m containing [p, p + n), if any (caller holds g_m).
bool in_map(const std::map<uintptr_t, size_t> &m, const void *p, size_t n)
{
	const uintptr_t a = (uintptr_t)p;
	auto it = m.upper_bound(a);
	if (it == m.begin())
		return false;
	--it;
	return a >= it->first && n <= it->second && a - it->first <= it->second - n;
}

bool is_dev(const void *p, size_t n)
{
	std::lock_guard<std::mutex> g(g_m);
	return in_map(g_dev, p, n);
}

bool is_dev_any(const void *p)
{
	return is_dev(p, 1);
}

// Sync calls and allocations while this thread captures: prohibited as on a device, and the capture
// is invalidated.
cudaError_t capture_violation(void)
{
	if (!tl_capturing)
		return cudaSuccess;
	std::lock_guard<std::mutex> g(g_m);
	for (kn_stream *s : g_streams)
		if (s->capture)
			s->invalidated = true;
	return cudaErrorStreamCaptureUnsupported;
}

kn_stream *real_stream(cudaStream_t s)
{
	if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread)
		return nullptr;
	return (kn_stream *)s;
}

cudaError_t copy_check(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
	if (n == 0)
		return cudaSuccess;
	if (!dst || !src)
		return cudaErrorInvalidValue;
	bool dd = is_dev(dst, n), sd = is_dev(src, n);
	switch (kind) {
	case cudaMemcpyHostToDevice: return dd && !is_dev_any(src) ? cudaSuccess : cudaErrorInvalidValue;
	case cudaMemcpyDeviceToHost: return sd && !is_dev_any(dst) ? cudaSuccess : cudaErrorInvalidValue;
	case cudaMemcpyDeviceToDevice: return dd && sd ? cudaSuccess : cudaErrorInvalidValue;
	case cudaMemcpyHostToHost: return !is_dev_any(dst) && !is_dev_any(src) ? cudaSuccess : cudaErrorInvalidValue;
	case cudaMemcpyDefault:
		if ((is_dev_any(dst) && !dd) || (is_dev_any(src) && !sd))
			return cudaErrorInvalidValue; // runs past the end of an allocation
		return cudaSuccess;
	}
	return cudaErrorInvalidMemcpyDirection;
}

} // namespace

cudaError_t kn_emu_set_error(cudaError_t e, const std::string &detail)
{
	if (e != cudaSuccess) {
		tl_last = e;
		tl_detail_code = detail.empty() ? cudaSuccess : e;
		tl_detail = detail;
	}
	return e;
}

size_t kn_emu_func_max_dyn_smem(const void *fn)
{
	std::lock_guard<std::mutex> g(g_m);
	auto it = g_smem_attr.find(fn);
	return it == g_smem_attr.end() ? KN_EMU_SMEM_DEFAULT : it->second;
}

cudaError_t kn_emu_enqueue(cudaStream_t s, kn_emu_op op, const char *what)
{
	(void)what;
	kn_stream *st = real_stream(s);
	{
		std::lock_guard<std::mutex> g(g_m);
		if (st && !g_streams.count(st))
			return kn_emu_set_error(cudaErrorInvalidResourceHandle);
		if (st && st->capture) {
			if (st->invalidated)
				return kn_emu_set_error(cudaErrorStreamCaptureInvalidated);
			st->capture->ops.push_back(std::move(op));
			return cudaSuccess;
		}
		if (!st && tl_capturing && s != cudaStreamPerThread) {
			// the legacy stream synchronises with every stream, including a capturing one
			for (kn_stream *x : g_streams)
				if (x->capture)
					x->invalidated = true;
			return kn_emu_set_error(cudaErrorStreamCaptureImplicit);
		}
	}
	return op(); // an op that fails has left its error (with its detail) already
}

// ---- errors ----

extern "C" {

cudaError_t cudaGetLastError(void)
{
	cudaError_t e = tl_last;
	tl_last = cudaSuccess;
	return e;
}

cudaError_t cudaPeekAtLastError(void)
{
	return tl_last;
}

const char *cudaGetErrorName(cudaError_t e)
{
	switch (e) {
#define N(x) \
	case x: return #x;
		N(cudaSuccess) N(cudaErrorInvalidValue) N(cudaErrorMemoryAllocation) N(cudaErrorInitializationError)
		N(cudaErrorInvalidConfiguration) N(cudaErrorInvalidMemcpyDirection) N(cudaErrorInvalidDevice)
		N(cudaErrorInvalidResourceHandle) N(cudaErrorNotReady) N(cudaErrorLaunchFailure) N(cudaErrorNotSupported)
		N(cudaErrorStreamCaptureUnsupported) N(cudaErrorStreamCaptureInvalidated) N(cudaErrorStreamCaptureImplicit)
		N(cudaErrorIllegalState) N(cudaErrorNoDevice) N(cudaErrorInvalidDevicePointer) N(cudaErrorUnknown)
#undef N
	default: return "cudaErrorUnknown";
	}
}

const char *cudaGetErrorString(cudaError_t e)
{
	if (e != cudaSuccess && e == tl_detail_code && !tl_detail.empty())
		return tl_detail.c_str();
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorInvalidValue: return "invalid argument";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidConfiguration: return "invalid configuration argument";
	case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
	case cudaErrorInvalidDevice: return "invalid device ordinal";
	case cudaErrorInvalidResourceHandle: return "invalid resource handle";
	case cudaErrorNotReady: return "device not ready";
	case cudaErrorLaunchFailure: return "unspecified launch failure";
	case cudaErrorNotSupported: return "operation not supported";
	case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
	case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
	case cudaErrorStreamCaptureImplicit:
		return "operation would make the legacy stream depend on a capturing blocking stream";
	case cudaErrorIllegalState: return "the operation is not permitted in the current state";
	default: return "unknown error (kn_emu)";
	}
}

// ---- device ----

cudaError_t cudaGetDeviceCount(int *n)
{
	if (!n)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*n = 1;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int d)
{
	return d == 0 ? cudaSuccess : kn_emu_set_error(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int *d)
{
	if (!d)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*d = 0;
	return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d)
{
	if (!p)
		return kn_emu_set_error(cudaErrorInvalidValue);
	if (d != 0)
		return kn_emu_set_error(cudaErrorInvalidDevice);
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "bale CPU emulator");
	p->totalGlobalMem = KN_EMU_TOTAL_MEM;
	p->sharedMemPerBlock = KN_EMU_SMEM_DEFAULT;
	p->sharedMemPerBlockOptin = KN_EMU_SMEM_OPTIN;
	p->sharedMemPerMultiprocessor = 102400;
	p->regsPerBlock = 65536;
	p->regsPerMultiprocessor = 65536;
	p->warpSize = 32;
	p->maxThreadsPerBlock = 1024;
	p->maxThreadsDim[0] = 1024;
	p->maxThreadsDim[1] = 1024;
	p->maxThreadsDim[2] = 64;
	p->maxGridSize[0] = 2147483647;
	p->maxGridSize[1] = 65535;
	p->maxGridSize[2] = 65535;
	p->totalConstMem = 65536;
	p->major = 8;
	p->minor = 0;
	p->multiProcessorCount = 8;
	p->l2CacheSize = 40 << 20;
	p->maxThreadsPerMultiProcessor = 2048;
	p->maxBlocksPerMultiProcessor = 32;
	p->memoryBusWidth = 5120;
	p->concurrentKernels = 1;
	p->unifiedAddressing = 1;
	p->asyncEngineCount = 2;
	p->canMapHostMemory = 1;
	return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d)
{
	if (!v)
		return kn_emu_set_error(cudaErrorInvalidValue);
	if (d != 0)
		return kn_emu_set_error(cudaErrorInvalidDevice);
	switch (a) {
	case cudaDevAttrComputeCapabilityMajor: *v = 8; return cudaSuccess;
	case cudaDevAttrComputeCapabilityMinor: *v = 0; return cudaSuccess;
	case cudaDevAttrMultiProcessorCount: *v = 8; return cudaSuccess;
	case cudaDevAttrMaxSharedMemoryPerBlock: *v = (int)KN_EMU_SMEM_DEFAULT; return cudaSuccess;
	case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = (int)KN_EMU_SMEM_OPTIN; return cudaSuccess;
	case cudaDevAttrMaxThreadsPerBlock: *v = 1024; return cudaSuccess;
	case cudaDevAttrWarpSize: *v = 32; return cudaSuccess;
	case cudaDevAttrL2CacheSize: *v = 40 << 20; return cudaSuccess;
	default: return kn_emu_set_error(cudaErrorInvalidValue, "kn_emu: cudaDeviceGetAttribute: attribute not emulated");
	}
}

cudaError_t cudaDriverGetVersion(int *v)
{
	if (!v)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*v = CUDART_VERSION;
	return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v)
{
	if (!v)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*v = CUDART_VERSION;
	return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
	return kn_emu_set_error(capture_violation());
}

cudaError_t cudaFuncSetAttribute(const void *fn, cudaFuncAttribute attr, int value)
{
	if (!fn)
		return kn_emu_set_error(cudaErrorInvalidDeviceFunction);
	if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
		if (value < 0 || (unsigned)value > KN_EMU_SMEM_OPTIN)
			return kn_emu_set_error(cudaErrorInvalidValue);
		std::lock_guard<std::mutex> g(g_m);
		g_smem_attr[fn] = (size_t)value;
		return cudaSuccess;
	}
	if (attr == cudaFuncAttributePreferredSharedMemoryCarveout)
		return cudaSuccess;
	return kn_emu_set_error(cudaErrorInvalidValue, "kn_emu: cudaFuncSetAttribute: attribute not emulated");
}

// ---- memory ----

cudaError_t cudaMalloc(void **p, size_t n)
{
	if (!p)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*p = nullptr;
	if (cudaError_t e = capture_violation())
		return kn_emu_set_error(e);
	if (n == 0)
		return cudaSuccess;
	{
		std::lock_guard<std::mutex> g(g_m);
		if (n > KN_EMU_TOTAL_MEM - g_dev_used)
			return kn_emu_set_error(cudaErrorMemoryAllocation);
	}
	const size_t sz = (n + 255) & ~(size_t)255;
	// mmap: large buffers that are never touched (planned KV capacity) cost no host memory
	void *m = mmap(nullptr, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return kn_emu_set_error(cudaErrorMemoryAllocation);
	// fresh device memory is garbage, not zeros: 0xFF reads as NaN (f32, BF16, E4M3) or -1
	if (poison_enabled() && sz <= (256u << 20))
		memset(m, 0xFF, sz);
	std::lock_guard<std::mutex> g(g_m);
	g_dev[(uintptr_t)m] = n; // copies and memsets are checked against what was asked for, not the rounding
	g_dev_used += sz;
	*p = m;
	return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
	if (!p)
		return cudaSuccess;
	if (cudaError_t e = capture_violation())
		return kn_emu_set_error(e);
	size_t sz;
	{
		std::lock_guard<std::mutex> g(g_m);
		auto it = g_dev.find((uintptr_t)p);
		if (it == g_dev.end())
			return kn_emu_set_error(cudaErrorInvalidValue, "kn_emu: cudaFree of a pointer cudaMalloc did not return");
		sz = (it->second + 255) & ~(size_t)255;
		g_dev_used -= sz;
		g_dev.erase(it);
	}
	munmap(p, sz);
	return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *fr, size_t *tot)
{
	std::lock_guard<std::mutex> g(g_m);
	if (fr)
		*fr = KN_EMU_TOTAL_MEM - g_dev_used;
	if (tot)
		*tot = KN_EMU_TOTAL_MEM;
	return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags)
{
	(void)flags;
	if (!p)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*p = nullptr;
	if (cudaError_t e = capture_violation())
		return kn_emu_set_error(e);
	void *m = aligned_alloc(256, (n + 255) & ~(size_t)255);
	if (!m)
		return kn_emu_set_error(cudaErrorMemoryAllocation);
	std::lock_guard<std::mutex> g(g_m);
	g_host[(uintptr_t)m] = n;
	*p = m;
	return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t n)
{
	return cudaHostAlloc(p, n, 0);
}

cudaError_t cudaFreeHost(void *p)
{
	if (!p)
		return cudaSuccess;
	if (cudaError_t e = capture_violation())
		return kn_emu_set_error(e);
	{
		std::lock_guard<std::mutex> g(g_m);
		auto it = g_host.find((uintptr_t)p);
		if (it == g_host.end())
			return kn_emu_set_error(cudaErrorInvalidValue, "kn_emu: cudaFreeHost of a pointer cudaHostAlloc did not return");
		g_host.erase(it);
	}
	free(p);
	return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
	if (cudaError_t e = capture_violation())
		return kn_emu_set_error(e);
	if (cudaError_t e = copy_check(dst, src, n, kind))
		return kn_emu_set_error(e);
	if (n)
		memmove(dst, src, n);
	return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s)
{
	if (cudaError_t e = copy_check(dst, src, n, kind))
		return kn_emu_set_error(e);
	return kn_emu_enqueue(
		s, [=]() {
			if (n)
				memmove(dst, src, n);
			return cudaSuccess;
		},
		"cudaMemcpyAsync");
}

cudaError_t cudaMemset(void *dst, int v, size_t n)
{
	if (cudaError_t e = capture_violation())
		return kn_emu_set_error(e);
	if (n && !is_dev(dst, n))
		return kn_emu_set_error(cudaErrorInvalidValue);
	if (n)
		memset(dst, v, n);
	return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int v, size_t n, cudaStream_t s)
{
	if (n && !is_dev(dst, n))
		return kn_emu_set_error(cudaErrorInvalidValue);
	return kn_emu_enqueue(
		s, [=]() {
			if (n)
				memset(dst, v, n);
			return cudaSuccess;
		},
		"cudaMemsetAsync");
}

// ---- streams ----

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
	(void)flags;
	if (!s)
		return kn_emu_set_error(cudaErrorInvalidValue);
	kn_stream *x = new kn_stream();
	std::lock_guard<std::mutex> g(g_m);
	g_streams.insert(x);
	*s = (cudaStream_t)x;
	return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s)
{
	return cudaStreamCreateWithFlags(s, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	kn_stream *x = real_stream(s);
	std::lock_guard<std::mutex> g(g_m);
	if (!x || !g_streams.count(x))
		return kn_emu_set_error(cudaErrorInvalidResourceHandle);
	if (x->capture)
		return kn_emu_set_error(cudaErrorIllegalState, "kn_emu: cudaStreamDestroy of a capturing stream");
	g_streams.erase(x);
	delete x;
	return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
	kn_stream *x = real_stream(s);
	std::lock_guard<std::mutex> g(g_m);
	if (x && !g_streams.count(x))
		return kn_emu_set_error(cudaErrorInvalidResourceHandle);
	if ((x && x->capture) || (!x && tl_capturing)) {
		for (kn_stream *y : g_streams)
			if (y->capture)
				y->invalidated = true;
		return kn_emu_set_error(cudaErrorStreamCaptureUnsupported);
	}
	return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t s)
{
	(void)s;
	return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode)
{
	kn_stream *x = real_stream(s);
	std::lock_guard<std::mutex> g(g_m);
	if (!x)
		return kn_emu_set_error(cudaErrorStreamCaptureUnsupported);
	if (!g_streams.count(x))
		return kn_emu_set_error(cudaErrorInvalidResourceHandle);
	if (x->capture)
		return kn_emu_set_error(cudaErrorIllegalState);
	x->capture = new kn_graph();
	x->invalidated = false;
	if (mode != cudaStreamCaptureModeRelaxed)
		tl_capturing++;
	return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *out)
{
	kn_stream *x = real_stream(s);
	std::lock_guard<std::mutex> g(g_m);
	if (!out)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*out = nullptr;
	if (!x || !g_streams.count(x) || !x->capture)
		return kn_emu_set_error(cudaErrorIllegalState);
	kn_graph *gr = x->capture;
	x->capture = nullptr;
	if (tl_capturing > 0)
		tl_capturing--;
	if (x->invalidated) {
		x->invalidated = false;
		delete gr;
		return kn_emu_set_error(cudaErrorStreamCaptureInvalidated);
	}
	*out = (cudaGraph_t)gr;
	return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *st)
{
	kn_stream *x = real_stream(s);
	std::lock_guard<std::mutex> g(g_m);
	if (!st)
		return kn_emu_set_error(cudaErrorInvalidValue);
	*st = x && g_streams.count(x) && x->capture
		      ? (x->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive)
		      : cudaStreamCaptureStatusNone;
	return cudaSuccess;
}

// ---- graphs ----

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *x, cudaGraph_t g, unsigned long long flags)
{
	(void)flags;
	if (!x || !g)
		return kn_emu_set_error(cudaErrorInvalidValue);
	kn_graph *e = new kn_graph(*(kn_graph *)g);
	*x = (cudaGraphExec_t)e;
	return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s)
{
	if (!x)
		return kn_emu_set_error(cudaErrorInvalidValue);
	kn_graph *gr = (kn_graph *)x;
	return kn_emu_enqueue(
		s, [gr]() {
			for (auto &op : gr->ops)
				if (cudaError_t e = op())
					return e;
			return cudaSuccess;
		},
		"cudaGraphLaunch");
}

cudaError_t cudaGraphDestroy(cudaGraph_t g)
{
	delete (kn_graph *)g;
	return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x)
{
	delete (kn_graph *)x;
	return cudaSuccess;
}

// ---- events ----

cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	if (!e)
		return kn_emu_set_error(cudaErrorInvalidValue);
	kn_event *v = new kn_event();
	std::lock_guard<std::mutex> g(g_m);
	g_events.insert(v);
	*e = (cudaEvent_t)v;
	return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
	(void)flags;
	return cudaEventCreate(e);
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	std::lock_guard<std::mutex> g(g_m);
	if (!g_events.erase((kn_event *)e))
		return kn_emu_set_error(cudaErrorInvalidResourceHandle);
	delete (kn_event *)e;
	return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
	kn_event *v = (kn_event *)e;
	{
		std::lock_guard<std::mutex> g(g_m);
		if (!g_events.count(v))
			return kn_emu_set_error(cudaErrorInvalidResourceHandle);
	}
	return kn_emu_enqueue(
		s, [v]() {
			v->ms = now_ms();
			v->recorded = true;
			return cudaSuccess;
		},
		"cudaEventRecord");
}

cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
	std::lock_guard<std::mutex> g(g_m);
	return g_events.count((kn_event *)e) ? cudaSuccess : kn_emu_set_error(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventQuery(cudaEvent_t e)
{
	return cudaEventSynchronize(e);
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	std::lock_guard<std::mutex> g(g_m);
	kn_event *x = (kn_event *)a, *y = (kn_event *)b;
	if (!ms)
		return kn_emu_set_error(cudaErrorInvalidValue);
	if (!g_events.count(x) || !g_events.count(y) || !x->recorded || !y->recorded)
		return kn_emu_set_error(cudaErrorInvalidResourceHandle);
	*ms = (float)(y->ms - x->ms);
	return cudaSuccess;
}

} // extern "C"
