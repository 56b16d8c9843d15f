#!/usr/bin/env bash
# The one script for a GPU session: build Release with CUDA for the local GPU, print versions,
# run the gpu-labelled tests, then the GEMV benchmark (markdown table last).
#
#   tools/gpu-check.sh [build-dir]      (default build-gpu; BALE_GPU_ARCH overrides "native")
#
# Exits 77 with the reason when no GPU is usable, 1 when a step fails. Logs go to the build
# directory (and to $OUT when set, so a device session gets them back).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-gpu}
arch=${BALE_GPU_ARCH:-native}
jobs=$(nproc 2>/dev/null || echo 4)
logdir=${OUT:-$build}
start=$(date +%s)

say() { printf '== %s (%ds)\n' "$*" $(( $(date +%s) - start )); }
die() { printf 'gpu-check: %s\n' "$*" >&2; exit 1; }

# Fail fast, before any build, when there is no GPU to check.
if ! command -v nvidia-smi >/dev/null 2>&1; then
	echo "SKIP: nvidia-smi not found: no NVIDIA driver on this machine"
	exit 77
fi
if ! gpus=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1) ||
	[ -z "$gpus" ]; then
	echo "SKIP: nvidia-smi sees no usable GPU: ${gpus:-no output}"
	exit 77
fi
nvcc=${CUDACXX:-}
[ -n "$nvcc" ] || nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; }
[ -n "$nvcc" ] || die "no nvcc (set CUDACXX or install the CUDA toolkit)"

say "versions"
echo "GPU: $gpus"
"$nvcc" --version | tail -n 2
nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv || true

mkdir -p "$build" "$logdir"
say "configure (CUDA archs: $arch)"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBALE_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
	-DCMAKE_CUDA_ARCHITECTURES="$arch" >"$logdir/gpu-configure.log" 2>&1 ||
	{ tail -n 30 "$logdir/gpu-configure.log"; die "configure failed"; }

say "build"
# The kernel library, the gpu tests and the benchmark only: other areas do not matter here.
targets=$(cd "$build" && ctest -N -L gpu | sed -n 's/^ *Test *#[0-9]*: *//p')
cmake --build "$build" -j"$jobs" --target bale_kn_cuda $targets bale_bench_kn_cuda \
	>"$logdir/gpu-build.log" 2>&1 || { tail -n 40 "$logdir/gpu-build.log"; die "build failed"; }

say "ctest -L gpu"
test_rc=0
(cd "$build" && ctest -L gpu --output-on-failure --timeout 300) 2>&1 | tee "$logdir/gpu-ctest.log" ||
	test_rc=$?
grep -q "Skipped" "$logdir/gpu-ctest.log" && echo "note: a gpu test was SKIPPED on a machine with a GPU"

say "benchmark"
bench_rc=0
"$build/tests/bale_bench_kn_cuda" 2>&1 | tee "$logdir/gpu-bench.log" || bench_rc=$?

say "done: tests rc $test_rc, bench rc $bench_rc"
# The table last, so the tail of the output carries it.
sed -n '/^## kn_cuda_gemv/,$p' "$logdir/gpu-bench.log"
[ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] || exit 1
