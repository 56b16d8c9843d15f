#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite with ctest.
#   tools/test.sh              plain build (CUDA when nvcc is found) in build/
#   tools/test.sh --sanitize   ASan+UBSan build (CPU-only) in build-asan/
# Extra arguments after -- go to ctest (e.g. -- -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
ctest_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--sanitize) sanitize=1 ;;
	-h|--help) sed -n '2,5p' "$0"; exit 0 ;;
	--) shift; ctest_args=("$@"); break ;;
	*) echo "test.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

tools/setup-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON

if [ $sanitize -eq 1 ]; then
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
