// kn_emu scheduler: runs a grid's blocks on a pool of OS threads; a block's threads are fibers on one
// OS thread, switched only at barriers, round-robin. Barriers count arrivals; when no fiber can run and
// some are still waiting, the launch fails with a description of who waits where (an exited thread
// never arrives: CUDA calls that undefined, so the emulator calls it an error).
#include "kn_emu_internal.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

thread_local kn_emu_thread *kn_emu_cur;

namespace {

enum fstate { F_RUN, F_WAIT_BLOCK, F_WAIT_WARP, F_DONE };

struct fiber {
	kn_emu_thread t;
	void *sp;
	char *stack;
	int state;
	unsigned parity; // which shuffle buffer this lane uses next
#if !defined(__x86_64__)
	ucontext_t uc;
#endif
};

#define KN_EMU_WARP_SCRATCH 16384u
#define KN_EMU_MAX_THREADS 1024u

struct worker {
	std::vector<fiber> f;
	size_t stack_bytes = 0;
	void *sched_sp = nullptr;
#if !defined(__x86_64__)
	ucontext_t sched_uc;
#endif
	unsigned n = 0;                 // threads in the running block
	unsigned bar_arrived = 0;
	unsigned warp_arrived[32] = {};
	unsigned warp_count[32] = {};
	unsigned char *smem = nullptr;  // dynamic shared memory
	unsigned char *scratch = nullptr;
	unsigned char shfl[32][2][32][16];
	const kn_emu_kernel *k = nullptr;
	int fault = 0;
	std::string fault_msg;
	fiber *cur = nullptr;
};

thread_local worker *tl_worker;

size_t stack_size()
{
	static size_t sz = [] {
		const char *e = getenv("KN_EMU_STACK_KIB");
		long v = e ? atol(e) : 0;
		return (size_t)(v >= 64 ? v : 256) * 1024;
	}();
	return sz;
}

worker *get_worker()
{
	if (!tl_worker) {
		worker *w = new worker();
		w->smem = (unsigned char *)aligned_alloc(128, KN_EMU_SMEM_OPTIN + 128);
		w->scratch = (unsigned char *)aligned_alloc(128, 32 * KN_EMU_WARP_SCRATCH);
		w->stack_bytes = stack_size();
		tl_worker = w;
	}
	return tl_worker;
}

// Stacks are mapped lazily (untouched pages cost nothing) with a guard page below each, so an
// overflowing kernel faults instead of corrupting its neighbour.
bool ensure_fibers(worker *w, unsigned n)
{
	if (w->f.size() >= n)
		return true;
	const size_t old = w->f.size();
	w->f.resize(n);
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t i = old; i < n; i++) {
		void *m = mmap(nullptr, w->stack_bytes + page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (m == MAP_FAILED) {
			w->f.resize(i);
			return false;
		}
		mprotect(m, page, PROT_NONE);
		w->f[i].stack = (char *)m + page;
	}
	return true;
}

} // namespace

// ---- context switch ----
#if defined(__x86_64__)
extern "C" void kn_emu_switch(void **save_sp, void *to_sp);
extern "C" void kn_emu_fiber_start(void);
asm(R"(
	.text
	.globl kn_emu_switch
	.type kn_emu_switch,@function
kn_emu_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size kn_emu_switch, .-kn_emu_switch
	.globl kn_emu_fiber_start
	.type kn_emu_fiber_start,@function
kn_emu_fiber_start:
	callq *%r13
	ud2
	.size kn_emu_fiber_start, .-kn_emu_fiber_start
)");
#endif

extern "C" void kn_emu_fiber_main(void);

namespace {

void to_scheduler(worker *w, fiber *f)
{
#if defined(__x86_64__)
	kn_emu_switch(&f->sp, w->sched_sp);
#else
	swapcontext(&f->uc, &w->sched_uc);
#endif
}

void to_fiber(worker *w, fiber *f)
{
	w->cur = f;
	kn_emu_cur = &f->t;
#if defined(__x86_64__)
	kn_emu_switch(&w->sched_sp, f->sp);
#else
	swapcontext(&w->sched_uc, &f->uc);
#endif
	w->cur = nullptr;
	kn_emu_cur = nullptr;
}

void init_fiber(worker *w, fiber *f)
{
#if defined(__x86_64__)
	uintptr_t top = ((uintptr_t)f->stack + w->stack_bytes) & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)(top - 64);
	uint32_t csr = 0x1F80;
	uint16_t cw = 0x037F;
	memcpy((char *)sp, &csr, 4);
	memcpy((char *)sp + 4, &cw, 2);
	sp[1] = 0;                                  // r15
	sp[2] = 0;                                  // r14
	sp[3] = (uint64_t)(uintptr_t)&kn_emu_fiber_main; // r13: called by kn_emu_fiber_start
	sp[4] = 0;                                  // r12
	sp[5] = 0;                                  // rbx
	sp[6] = 0;                                  // rbp
	sp[7] = (uint64_t)(uintptr_t)&kn_emu_fiber_start;
	f->sp = sp;
#else
	getcontext(&f->uc);
	f->uc.uc_stack.ss_sp = f->stack;
	f->uc.uc_stack.ss_size = w->stack_bytes;
	f->uc.uc_link = nullptr;
	makecontext(&f->uc, kn_emu_fiber_main, 0);
#endif
	f->state = F_RUN;
	f->parity = 0;
}

fiber *need_fiber(const char *what)
{
	worker *w = tl_worker;
	if (!w || !w->cur) {
		fprintf(stderr, "kn_emu: %s called outside a kernel\n", what);
		abort();
	}
	return w->cur;
}

[[noreturn]] void fail(worker *w, fiber *f, const std::string &msg)
{
	if (!w->fault) {
		w->fault = 1;
		char where[96];
		snprintf(where, sizeof where, " (block %u,%u,%u thread %u,%u,%u)", f->t.bid.x, f->t.bid.y, f->t.bid.z,
			 f->t.tid.x, f->t.tid.y, f->t.tid.z);
		w->fault_msg = msg + where;
	}
	f->state = F_DONE;
	to_scheduler(w, f);
	abort(); // a faulted fiber is never resumed
}

void warp_barrier(worker *w, fiber *f, unsigned mask, const char *what)
{
	const unsigned wp = f->t.warp, cnt = w->warp_count[wp];
	const unsigned need = cnt == 32 ? 0xFFFFFFFFu : (1u << cnt) - 1u;
	if ((mask & need) != need) {
		char b[160];
		snprintf(b, sizeof b, "%s with mask 0x%08x: masks that leave out lanes of the warp are not emulated", what,
			 mask);
		fail(w, f, b);
	}
	if (++w->warp_arrived[wp] == cnt) {
		w->warp_arrived[wp] = 0;
		for (unsigned i = wp * 32; i < wp * 32 + cnt; i++)
			if (w->f[i].state == F_WAIT_WARP)
				w->f[i].state = F_RUN;
		return;
	}
	f->state = F_WAIT_WARP;
	to_scheduler(w, f);
}

} // namespace

extern "C" void kn_emu_fiber_main(void)
{
	worker *w = tl_worker;
	fiber *f = w->cur;
	w->k->run();
	f->state = F_DONE;
	to_scheduler(w, f);
	abort();
}

unsigned kn_emu_lane(void)
{
	return need_fiber("kn_emu_lane")->t.lane;
}

void kn_emu_block_sync(void)
{
	fiber *f = need_fiber("__syncthreads");
	worker *w = tl_worker;
	if (++w->bar_arrived == w->n) {
		w->bar_arrived = 0;
		for (unsigned i = 0; i < w->n; i++)
			if (w->f[i].state == F_WAIT_BLOCK)
				w->f[i].state = F_RUN;
		return;
	}
	f->state = F_WAIT_BLOCK;
	to_scheduler(w, f);
}

void kn_emu_warp_sync(void)
{
	warp_barrier(tl_worker, need_fiber("kn_emu_warp_sync"), 0xFFFFFFFFu, "kn_emu_warp_sync");
}

void kn_emu_warp_sync_mask(unsigned mask, const char *what)
{
	warp_barrier(tl_worker, need_fiber(what), mask, what);
}

void *kn_emu_warp_scratch(void)
{
	fiber *f = need_fiber("kn_emu_warp_scratch");
	return tl_worker->scratch + (size_t)f->t.warp * KN_EMU_WARP_SCRATCH;
}

void *kn_emu_dyn_smem(void)
{
	need_fiber("kn_emu_dyn_smem");
	return tl_worker->smem;
}

void kn_emu_shfl_bytes(unsigned mask, const void *mine, void *out, size_t size, int src, const char *what)
{
	fiber *f = need_fiber(what);
	worker *w = tl_worker;
	const unsigned wp = f->t.warp, p = f->parity;
	memcpy(w->shfl[wp][p][f->t.lane], mine, size);
	warp_barrier(w, f, mask, what);
	if (src < 0) {
		memcpy(out, mine, size);
	} else if ((unsigned)src >= w->warp_count[wp]) {
		char b[160];
		snprintf(b, sizeof b, "%s reads lane %d, which does not exist (warp of %u threads)", what, src,
			 w->warp_count[wp]);
		fail(w, f, b);
	} else {
		memcpy(out, w->shfl[wp][p][src], size);
	}
	f->parity = p ^ 1u;
}

void kn_emu_warp_gather(unsigned mask, uint32_t mine, uint32_t all[32], const char *what)
{
	fiber *f = need_fiber(what);
	worker *w = tl_worker;
	const unsigned wp = f->t.warp, p = f->parity;
	memcpy(w->shfl[wp][p][f->t.lane], &mine, 4);
	warp_barrier(w, f, mask, what);
	for (unsigned i = 0; i < 32; i++) {
		all[i] = 0;
		if (i < w->warp_count[wp])
			memcpy(&all[i], w->shfl[wp][p][i], 4);
	}
	f->parity = p ^ 1u;
}

void kn_emu_trap(const char *why)
{
	worker *w = tl_worker;
	if (!w || !w->cur) {
		fprintf(stderr, "kn_emu: %s outside a kernel\n", why);
		abort();
	}
	fail(w, w->cur, why);
}

std::string kn_emu_kernel_name(const void *fn)
{
	Dl_info di;
	if (dladdr(fn, &di) && di.dli_sname) {
		int st = 0;
		char *d = abi::__cxa_demangle(di.dli_sname, nullptr, nullptr, &st);
		std::string r = st == 0 && d ? d : di.dli_sname;
		free(d);
		return r;
	}
	char b[48];
	snprintf(b, sizeof b, "kernel at %p", fn);
	return b;
}

namespace {

// Runs one block on this OS thread; returns false with msg on a fault or deadlock.
bool run_block(worker *w, const kn_emu_kernel *k, dim3 grid, dim3 block, size_t smem, uint64_t b, std::string &msg)
{
	const unsigned n = block.x * block.y * block.z;
	if (!ensure_fibers(w, n)) {
		msg = "kn_emu: cannot map fiber stacks";
		return false;
	}
	w->k = k;
	w->n = n;
	w->bar_arrived = 0;
	w->fault = 0;
	for (unsigned i = 0; i < 32; i++) {
		w->warp_arrived[i] = 0;
		w->warp_count[i] = i * 32 < n ? (n - i * 32 < 32 ? n - i * 32 : 32) : 0;
	}
	if (smem)
		memset(w->smem, 0xFF, smem); // unwritten shared memory reads as NaN / -1, as garbage would
	uint3 bid;
	bid.x = (unsigned)(b % grid.x);
	bid.y = (unsigned)((b / grid.x) % grid.y);
	bid.z = (unsigned)(b / ((uint64_t)grid.x * grid.y));
	for (unsigned i = 0; i < n; i++) {
		fiber *f = &w->f[i];
		f->t.tid.x = i % block.x;
		f->t.tid.y = (i / block.x) % block.y;
		f->t.tid.z = i / (block.x * block.y);
		f->t.bid = bid;
		f->t.bdim = block;
		f->t.gdim = grid;
		f->t.lane = i & 31;
		f->t.warp = i >> 5;
		init_fiber(w, f);
	}
	unsigned live = n;
	while (live) {
		bool ran = false;
		for (unsigned i = 0; i < n; i++) {
			fiber *f = &w->f[i];
			if (f->state != F_RUN)
				continue;
			to_fiber(w, f);
			ran = true;
			if (w->fault) {
				msg = "kn_emu: " + kn_emu_kernel_name(k->fn) + ": " + w->fault_msg;
				return false;
			}
			if (f->state == F_DONE)
				live--;
		}
		if (!ran && live) {
			unsigned at_block = 0, at_warp = 0, done = 0;
			int first_done = -1, first_warp = -1;
			for (unsigned i = 0; i < n; i++) {
				const int st = w->f[i].state;
				at_block += st == F_WAIT_BLOCK;
				at_warp += st == F_WAIT_WARP;
				if (st == F_DONE && first_done < 0)
					first_done = (int)i;
				if (st == F_WAIT_WARP && first_warp < 0)
					first_warp = (int)i;
				done += st == F_DONE;
			}
			char b2[320];
			snprintf(b2, sizeof b2,
				 ": deadlock in block (%u,%u,%u) of %u threads: %u wait at __syncthreads, %u at a warp "
				 "barrier (first: thread %d), %u have exited (first: thread %d)",
				 bid.x, bid.y, bid.z, n, at_block, at_warp, first_warp, done, first_done);
			msg = "kn_emu: " + kn_emu_kernel_name(k->fn) + b2;
			return false;
		}
	}
	return true;
}

struct grid_job {
	const kn_emu_kernel *k;
	dim3 grid, block;
	size_t smem;
	uint64_t nblocks;
	std::atomic<uint64_t> next{0};
	std::atomic<int> failed{0};
	std::mutex m;
	std::string msg;
};

void work(grid_job *j)
{
	worker *w = get_worker();
	std::string msg;
	for (;;) {
		if (j->failed.load(std::memory_order_relaxed))
			return;
		const uint64_t b = j->next.fetch_add(1);
		if (b >= j->nblocks)
			return;
		if (!run_block(w, j->k, j->grid, j->block, j->smem, b, msg)) {
			std::lock_guard<std::mutex> g(j->m);
			if (!j->failed.exchange(1))
				j->msg = msg;
			return;
		}
	}
}

struct pool {
	std::mutex m;
	std::condition_variable cv, done_cv;
	grid_job *job = nullptr;
	uint64_t gen = 0;
	unsigned busy = 0;
	unsigned n = 0;
	std::mutex launch_m; // one grid at a time (several host threads may launch)

	pool()
	{
		const char *e = getenv("KN_EMU_THREADS");
		long t = e ? atol(e) : (long)std::thread::hardware_concurrency();
		if (t < 1)
			t = 1;
		if (t > 16)
			t = 16;
		n = (unsigned)t - 1;
		for (unsigned i = 0; i < n; i++)
			std::thread([this] { loop(); }).detach();
	}
	void loop()
	{
		uint64_t seen = 0;
		for (;;) {
			grid_job *j;
			{
				std::unique_lock<std::mutex> l(m);
				cv.wait(l, [&] { return gen != seen; });
				seen = gen;
				j = job;
			}
			work(j);
			std::lock_guard<std::mutex> l(m);
			if (--busy == 0)
				done_cv.notify_all();
		}
	}
	void run(grid_job *j)
	{
		if (n == 0 || j->nblocks < 2) {
			work(j);
			return;
		}
		{
			std::lock_guard<std::mutex> l(m);
			job = j;
			busy = n;
			gen++;
		}
		cv.notify_all();
		work(j);
		std::unique_lock<std::mutex> l(m);
		done_cv.wait(l, [&] { return busy == 0; });
	}
};

pool &get_pool()
{
	static pool *p = new pool(); // never destroyed: detached workers outlive static destruction
	return *p;
}

} // namespace

cudaError_t kn_emu_run_grid(const kn_emu_kernel *k, dim3 grid, dim3 block, size_t smem)
{
	if (tl_worker && tl_worker->cur)
		return kn_emu_set_error(cudaErrorNotSupported, "kn_emu: a kernel launched a kernel");
	grid_job j;
	j.k = k;
	j.grid = grid;
	j.block = block;
	j.smem = smem;
	j.nblocks = (uint64_t)grid.x * grid.y * grid.z;
	pool &p = get_pool();
	{
		std::lock_guard<std::mutex> g(p.launch_m);
		p.run(&j);
	}
	if (j.failed.load())
		return kn_emu_set_error(cudaErrorLaunchFailure, j.msg);
	return cudaSuccess;
}

cudaError_t kn_emu_launch_k(kn_emu_kernel *kp, dim3 grid, dim3 block, size_t smem, cudaStream_t s)
{
	std::shared_ptr<kn_emu_kernel> k(kp);
	const uint64_t threads = (uint64_t)block.x * block.y * block.z;
	if (!grid.x || !grid.y || !grid.z || !threads || threads > KN_EMU_MAX_THREADS || block.x > 1024 ||
	    block.y > 1024 || block.z > 64 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
		return kn_emu_set_error(cudaErrorInvalidConfiguration);
	if (smem > kn_emu_func_max_dyn_smem(k->fn))
		return kn_emu_set_error(cudaErrorInvalidValue);
	return kn_emu_enqueue(
		s, [k, grid, block, smem]() { return kn_emu_run_grid(k.get(), grid, block, smem); }, "kernel launch");
}
