// Shared between the emulator's scheduler (kn_emu.cpp) and its runtime API (kn_emu_api.cpp).
#ifndef BALE_KN_EMU_INTERNAL_H
#define BALE_KN_EMU_INTERNAL_H

#include "kn_emu.h"

#include <functional>
#include <string>

// A stream operation: runs now, or is recorded when its stream captures (a graph replays it).
typedef std::function<cudaError_t()> kn_emu_op;

// Runs or records op on s; validates s; returns the error (also left for cudaGetLastError).
cudaError_t kn_emu_enqueue(cudaStream_t s, kn_emu_op op, const char *what);

// Executes a grid now on the calling thread (and the worker pool).
cudaError_t kn_emu_run_grid(const kn_emu_kernel *k, dim3 grid, dim3 block, size_t smem);

// Leaves e for cudaGetLastError/PeekAtLastError; detail (optional) is what cudaGetErrorString(e) says.
cudaError_t kn_emu_set_error(cudaError_t e, const std::string &detail = std::string());

// The dynamic shared memory limit set for fn with cudaFuncSetAttribute (48 KiB by default).
size_t kn_emu_func_max_dyn_smem(const void *fn);

// Human-readable kernel name for messages (symbol name, demangled, or the address).
std::string kn_emu_kernel_name(const void *fn);

#define KN_EMU_SMEM_DEFAULT 49152u
#define KN_EMU_SMEM_OPTIN 101376u

#endif
