#!/usr/bin/env bash
# Builds the parser libFuzzer targets (tests/fuzz/fuzz_<name>.c) with clang
# (-fsanitize=fuzzer,address,undefined) in build-fuzz2/ and runs each for SECONDS, printing the
# final stats line of each.
#   tools/fuzz-all.sh [SECONDS=120] [TARGET...]     targets: safetensors st_index hf_config
#                                                   hf_tokenizer tok_section chat (default: all, one
#                                                   after another)
#   tools/fuzz-all.sh --minimize [TARGET...]        merge build-fuzz2/corpus_<name> into a minimal
#                                                   tests/fuzz/corpus_<name> (edge coverage only)
# SECONDS=0 only builds. Each run works on a copy of the seeds (build-fuzz2/corpus_<name>); crashes
# land in tests/fuzz/findings/ (gitignored): fix them, then add the minimized input to the corpus.
# Objects are rebuilt only when their source is newer, so two runs on different targets may share
# the build once it exists. The .bale reader has its own script, tools/fuzz-reader.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
minimize=0
if [ "${1:-}" = "--minimize" ]; then
	minimize=1
	shift
	secs=0
else
	secs=${1:-120}
	shift || true
fi
all=(safetensors st_index hf_config hf_tokenizer tok_section chat)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
declare -A max_len=([safetensors]=8192 [st_index]=8192 [hf_config]=4096 [hf_tokenizer]=16384 [tok_section]=16384 [chat]=8192)

cc=${CC_FUZZ:-clang}
out=build-fuzz2
mkdir -p "$out" tests/fuzz/findings
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
pc=$(pkg-config --cflags libzstd libxxhash jansson libpcre2-8 libutf8proc)
libs=$(pkg-config --libs libzstd libxxhash jansson libpcre2-8 libutf8proc)
cflags="-std=c11 -O1 -g -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
	-Iformats/include -Iconvert -Iruntime/tokenizer -Iruntime/chat $pc"

# lib <name> <sources...>: an instrumented static archive (files are compiled per directory, so
# formats/src/tok.c and runtime/tokenizer/tok.c do not collide).
lib() {
	local name=$1 objs=() changed=0
	shift
	mkdir -p "$out/obj/$name"
	for src in "$@"; do
		local o="$out/obj/$name/$(basename "${src%.c}").o"
		if [ ! -f "$o" ] || [ "$src" -nt "$o" ]; then
			$cc $cflags $san -fsanitize=fuzzer-no-link -Iformats/src -c "$src" -o "$o.tmp.o"
			mv "$o.tmp.o" "$o"
			changed=1
		fi
		objs+=("$o")
	done
	if [ $changed = 1 ] || [ ! -f "$out/lib$name.a" ]; then
		rm -f "$out/lib$name.a.tmp"
		ar rcs "$out/lib$name.a.tmp" "${objs[@]}"
		mv "$out/lib$name.a.tmp" "$out/lib$name.a"
	fi
}
lib fmt formats/src/*.c
lib cv convert/safetensors.c convert/st_index.c convert/hf_model.c convert/hf_tokenizer.c
lib tok runtime/tokenizer/*.c
lib chat runtime/chat/*.c

for t in "${targets[@]}"; do
	[ -n "${max_len[$t]:-}" ] || { echo "fuzz-all: unknown target '$t' (${all[*]})" >&2; exit 2; }
	bin="$out/fuzz_$t"
	if [ ! -f "$bin" ] || [ -n "$(find tests/fuzz/fuzz_$t.c "$out"/lib*.a -newer "$bin" 2>/dev/null)" ]; then
		$cc $cflags $san -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" "$out/libcv.a" "$out/libtok.a" \
			"$out/libchat.a" "$out/libfmt.a" $libs -lpthread -lm -o "$bin.tmp"
		mv "$bin.tmp" "$bin"
	fi
done
[ "$secs" != 0 ] || [ $minimize = 1 ] || exit 0

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
common=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10)
if [ $minimize = 1 ]; then
	for t in "${targets[@]}"; do
		seeds=tests/fuzz/corpus_$t
		new=$(mktemp -d "$out/min_$t.XXXX")
		mkdir -p "$out/corpus_$t"
		# regress-* inputs (fixed crashes) stay as they are: files already in the first directory
		# are kept by -merge, the others only when they add coverage.
		cp "$seeds"/regress-* "$new"/ 2>/dev/null || true
		"$out/fuzz_$t" -merge=1 -use_counters=0 -max_len="${max_len[$t]}" "${common[@]}" "$new" "$seeds" \
			"$out/corpus_$t" >"$out/merge_$t.log" 2>&1
		rm -f "$seeds"/*
		for f in "$new"/*; do
			case "$(basename "$f")" in
			regress-*) cp "$f" "$seeds/" ;;
			*) cp "$f" "$seeds/$(basename "$f" | cut -c1-16)" ;;
			esac
		done
		rm -rf "$new"
		echo "fuzz-all: $t: $(ls "$seeds" | wc -l) inputs, $(du -sk "$seeds" | cut -f1) KiB in $seeds"
	done
	exit 0
fi
status=0
for t in "${targets[@]}"; do
	mkdir -p "$out/corpus_$t"
	cp -n tests/fuzz/corpus_$t/* "$out/corpus_$t/" 2>/dev/null || true
	echo "fuzz-all: running fuzz_$t for ${secs}s on $out/corpus_$t" >&2
	"$out/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -max_len="${max_len[$t]}" "${common[@]}" \
		-artifact_prefix="tests/fuzz/findings/$t-" "$out/corpus_$t" >"$out/fuzz_$t.log" 2>&1 || true
	echo "fuzz-all: $t: $(grep -E '^#[0-9]+' "$out/fuzz_$t.log" | tail -1)"
	grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" "$out/fuzz_$t.log" | tr '\n' ' ' || true
	echo
	if grep -q "ERROR: libFuzzer\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error\|ALARM: working on a slow unit\|==[0-9]*== ERROR" "$out/fuzz_$t.log"; then
		echo "fuzz-all: $t: CRASH found, see $out/fuzz_$t.log and tests/fuzz/findings/" >&2
		grep -E "SUMMARY|runtime error|Test unit written" "$out/fuzz_$t.log" | head -5 >&2
		status=1
	fi
done
exit $status
