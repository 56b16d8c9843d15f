#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite with ctest.
#   tools/test.sh              plain build (CUDA when nvcc is found) in build/
#   tools/test.sh --sanitize   ASan+UBSan build (CPU-only) in build-asan/
#   tools/test.sh --emu        CUDA code on the CPU emulator (BALE_CUDA_EMU) in build-emu/: the gpu tests (and the emulator's own)
# Extra arguments after -- go to ctest (e.g. -- -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
emu=0
ctest_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--sanitize) sanitize=1 ;;
	--emu) emu=1 ;;
	-h|--help) sed -n '2,6p' "$0"; exit 0 ;;
	--) shift; ctest_args=("$@"); break ;;
	*) echo "test.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

tools/setup-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON

if [ $sanitize -eq 1 ] && [ $emu -eq 1 ]; then
	echo "test.sh: --sanitize and --emu are separate builds; pick one" >&2
	exit 2
fi

if [ $emu -eq 1 ]; then
	dir=build-emu
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBALE_CUDA_EMU=ON -DBALE_WERROR=$werror >/dev/null
	# the emulator is ~1000x slower than a GPU: the gpu tests and the emulator's own unit test only
	[ ${#ctest_args[@]} -eq 0 ] && ctest_args=(-L gpu)
	cmake --build "$dir" -j "$jobs"
	cd "$dir"
	ctest --output-on-failure --timeout 3600 -R test_kn_emu
	ctest --output-on-failure --timeout 3600 "${ctest_args[@]}"
	exit 0
elif [ $sanitize -eq 1 ]; then
	dir=build-asan
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DBALE_SANITIZE=ON -DBALE_CUDA=OFF -DBALE_WERROR=$werror >/dev/null
	export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
else
	dir=build
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBALE_WERROR=$werror >/dev/null
fi
cmake --build "$dir" -j "$jobs"
cd "$dir"
ctest --output-on-failure -j "$jobs" "${ctest_args[@]}"
