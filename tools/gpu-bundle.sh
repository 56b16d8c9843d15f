#!/usr/bin/env bash
# Builds, on this machine, everything tools/gpu-check.sh runs, so a lent GPU machine spends its
# minutes testing instead of compiling — and so the check works on a device image that lacks
# bale's build dependencies (zstd, xxHash, jansson, PCRE2, utf8proc, cmocka come from Debian here).
#
#   tools/gpu-bundle.sh [build-dir]     (default build-gpu; BALE_GPU_ARCH overrides 90a-real)
#
# Release build of bale, the gpu-labelled tests and the kernel benchmarks for one GPU architecture
# (sm_90a: H100/H200), the shared libraries they need beyond glibc and the CUDA libraries copied
# into <build-dir>/lib, object files removed, and a marker that tells gpu-check.sh to use the
# build as it is, packed into build-gpu-bundle/build.tar.xz (the device tool carries at most 64 MiB).
# Then, with the device tool:
#
#   run(command="tools/gpu-check.sh", carry=["build-gpu-bundle"])
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-gpu}
arch=${BALE_GPU_ARCH:-90a-real}
jobs=$(nproc 2>/dev/null || echo 2)
case "$build" in
"$src"/*) ;;
*) echo "gpu-bundle: the build directory must be inside the source tree (it travels with it)" >&2; exit 2 ;;
esac

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBALE_CUDA=ON -DBALE_WERROR=ON \
	-DCMAKE_CUDA_ARCHITECTURES="$arch" >/dev/null
targets="bale $(cd "$build" && ctest -N -L gpu | sed -n 's/^ *Test *#[0-9]*: *//p') bale_bench_kn_cuda bale_bench_kn_attn"
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $targets

# Libraries the device image may not have: everything outside glibc, the compiler runtime and CUDA
# (the device has its own driver and toolkit; cuBLAS comes from there).
mkdir -p "$build/lib"
exes=("$build/bale")
for t in $targets; do
	f=$(find "$build" -type f -name "$t" -perm -u+x | head -n 1)
	[ -n "$f" ] && exes+=("$f")
done
ldd "${exes[@]}" 2>/dev/null | awk '/=> \// {print $3}' | sort -u |
	grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libgcc_s|libstdc\+\+|libcuda|libcublas[^/]*|libcudart|libnvidia[^/]*)\.so' |
	while read -r lib; do cp -L "$lib" "$build/lib/"; done || true

# Objects and static libraries are not needed to run; the carry limit is 64 MiB.
find "$build" \( -name '*.o' -o -name '*.a' \) -delete
printf 'source %s\ncommit %s\narch %s\nbuilt %s\n' "$src" "$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo ?)" \
	"$arch" "$(date -u +%FT%TZ)" >"$build/.bale-prebuilt"
# The device tool carries at most 64 MiB, and every executable embeds the kernels' machine code:
# ship the build as one xz archive (about a tenth of its size) that gpu-check.sh unpacks.
bundle=$src/build-gpu-bundle
mkdir -p "$bundle"
rel=${build#"$src"/}
tar -C "$src" -cf - "$rel" | xz -T"$jobs" -6 >"$bundle/build.tar.xz.tmp"
mv "$bundle/build.tar.xz.tmp" "$bundle/build.tar.xz"
printf '%s\n' "$rel" >"$bundle/dir"
echo "gpu-bundle: $(du -sh "$build" | cut -f1) in $build, $(du -h "$bundle/build.tar.xz" | cut -f1) archive in $bundle;" \
	"libraries: $(ls "$build/lib" | tr '\n' ' ')"
echo "gpu-bundle: next: run(command=\"tools/gpu-check.sh\", carry=[\"build-gpu-bundle\"])"
