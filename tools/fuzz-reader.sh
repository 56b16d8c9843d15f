#!/usr/bin/env bash
# Builds the .bale reader libFuzzer target with clang (ASan+UBSan) in build-fuzz/ and runs it.
#   tools/fuzz-reader.sh [SECONDS=600] [extra libFuzzer flags...]
# Runs on a copy of tests/fuzz/corpus (build-fuzz/corpus); new crashes land in
# tests/fuzz/findings/ (gitignored). Add a minimized crasher to tests/fuzz/corpus/ once fixed.
# The target is compiled directly (not through CMake) so it builds even while other parts of the
# tree do not; `cmake -DBALE_FUZZ=ON -DCMAKE_C_COMPILER=clang` builds the same target `fuzz_reader`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
cc=${CC_FUZZ:-clang}
out=build-fuzz
mkdir -p "$out/obj" "$out/corpus" tests/fuzz/findings
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c11 -O1 -g -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iformats/include -Iformats/src $(pkg-config --cflags libzstd libxxhash)"
objs=()
for src in formats/src/*.c; do
	o="$out/obj/$(basename "${src%.c}").o"
	$cc $cflags $san -fsanitize=fuzzer-no-link -c "$src" -o "$o"
	objs+=("$o")
done
$cc $cflags $san -fsanitize=fuzzer tests/fuzz/fuzz_reader.c "${objs[@]}" \
	$(pkg-config --libs libzstd libxxhash) -lpthread -lm -o "$out/fuzz_reader"
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
echo "fuzz-reader: running $out/fuzz_reader for ${secs}s on $out/corpus" >&2
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
"$out/fuzz_reader" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 -rss_limit_mb=4096 \
	-artifact_prefix=tests/fuzz/findings/ "$@" "$out/corpus" 2>&1 | tee "$out/fuzz.log" | grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==|INFO: seed)|SUMMARY|Done [0-9]+ runs" || true
echo "--- final stats:" >&2
grep -E "^#[0-9]+" "$out/fuzz.log" | tail -1
grep -E "^stat::" "$out/fuzz.log" || true
if grep -q "ERROR: libFuzzer\|ERROR: AddressSanitizer\|runtime error" "$out/fuzz.log"; then
	echo "fuzz-reader: CRASH found, see $out/fuzz.log and tests/fuzz/findings/" >&2
	exit 1
fi
