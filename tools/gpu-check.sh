#!/usr/bin/env bash
# The one script for a GPU session: build Release with CUDA for the local GPU, print versions, run
# the gpu-labelled tests and the kernel benchmarks, then bale itself on the GPU: the demo model
# converted to INT8 and FP8 answering held-out questions (compared with the CPU's answers), and
# `bale bench --device cuda` on the 8B shapes. A markdown table of every step comes last.
#
#   tools/gpu-check.sh [build-dir]      (default build-gpu; BALE_GPU_ARCH overrides "native")
#
# When build-gpu-bundle/ (made by tools/gpu-bundle.sh, carried to the device machine) is present,
# its build is unpacked and used as it is: no configure, no compile, the bundled libraries on
# LD_LIBRARY_PATH.
#
# Exits 77 with the reason when no GPU is usable, 1 when any step fails. A failing step does not
# stop the others. Logs go to the build directory (and to $OUT when set, so a device session gets
# them back), one file per step.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-gpu}
arch=${BALE_GPU_ARCH:-native}
jobs=$(nproc 2>/dev/null || echo 4)
logdir=${OUT:-$build}
start=$(date +%s)

say() { printf '== %s (%ds)\n' "$*" $(($(date +%s) - start)); }
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

mkdir -p "$build" "$logdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/bale-gpu-check-XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- step bookkeeping: every step is logged and gets a row in the final table ----
# The device tool allows 600 s per command: steps that would start after BALE_GPU_CHECK_BUDGET
# seconds (default 480) are skipped with a row that says so, so the table always comes back.
budget=${BALE_GPU_CHECK_BUDGET:-480}
late() {
	if [ $(($(date +%s) - start)) -ge "$budget" ]; then
		rows+=("| $1 | SKIPPED | time budget of ${budget} s spent |")
		return 0
	fi
	return 1
}
rows=()
failed=0
# row NAME RESULT NOTE
row() { rows+=("| $1 | $2 | $3 |"); [ "$2" = FAIL ] && failed=1; return 0; }
# step NAME COMMAND...: runs with output to $logdir/NAME.log (and the terminal); 0/1
step() {
	local name=$1
	shift
	say "$name"
	"$@" 2>&1 | tee "$logdir/$name.log"
	return "${PIPESTATUS[0]}"
}

say "versions"
{
	echo "GPU: $gpus"
	"$nvcc" --version | tail -n 2
	nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv || true
} | tee "$logdir/gpu-versions.log"

# A bundle made by tools/gpu-bundle.sh and carried here: unpack it first (into the tree, where it
# was built).
if [ -f "$src/build-gpu-bundle/build.tar.xz" ] && [ $# -eq 0 ]; then
	say "unpacking build-gpu-bundle"
	rel=$(cat "$src/build-gpu-bundle/dir")
	rm -rf "${src:?}/$rel"
	xz -dc "$src/build-gpu-bundle/build.tar.xz" | tar -C "$src" -xf - || die "cannot unpack build-gpu-bundle"
	build=$src/$rel
fi
if [ -f "$build/.bale-prebuilt" ]; then
	# Built by tools/gpu-bundle.sh on the development machine and carried here: CMake and CTest
	# recorded that machine's absolute paths, so make them resolve to this tree.
	say "prebuilt: $(tr '\n' ' ' <"$build/.bale-prebuilt")"
	home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
	if [ -n "$home" ] && [ "$home" != "$src" ] && [ ! -e "$home" ]; then
		mkdir -p "$(dirname "$home")" && ln -s "$src" "$home" || die "cannot link $home to $src"
	fi
	cublas_dir=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), "lib"))' 2>/dev/null || true)
	export LD_LIBRARY_PATH="$build/lib:/usr/local/cuda/lib64${cublas_dir:+:$cublas_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	if "$build/bale" --version >"$logdir/gpu-build.log" 2>&1; then
		row build ok "prebuilt ($(sed -n 's/^commit //p' "$build/.bale-prebuilt"), $(sed -n 's/^arch //p' "$build/.bale-prebuilt"))"
	else
		ldd "$build/bale" >>"$logdir/gpu-build.log" 2>&1 || true
		tail -n 20 "$logdir/gpu-build.log"
		row build FAIL "prebuilt bale does not start; see gpu-build.log"
		die "the prebuilt bale does not run here"
	fi
else
say "configure (CUDA archs: $arch)"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBALE_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
	-DCMAKE_CUDA_ARCHITECTURES="$arch" >"$logdir/gpu-configure.log" 2>&1 ||
	{ tail -n 30 "$logdir/gpu-configure.log"; die "configure failed"; }

say "build"
# Only what runs here: bale, the gpu tests, the kernel benchmarks that exist.
all_targets=$(cmake --build "$build" --target help 2>/dev/null | sed -n 's/^\.\.\. \([A-Za-z0-9_]*\).*/\1/p')
has_target() { printf '%s\n' "$all_targets" | grep -qx "$1"; }
targets="bale bale_kn_cuda $(cd "$build" && ctest -N -L gpu | sed -n 's/^ *Test *#[0-9]*: *//p')"
for b in bale_bench_kn_cuda bale_bench_kn_attn; do has_target "$b" && targets="$targets $b"; done
# shellcheck disable=SC2086
if cmake --build "$build" -j"$jobs" --target $targets >"$logdir/gpu-build.log" 2>&1; then
	row build ok "targets: $(echo $targets | wc -w)"
else
	tail -n 40 "$logdir/gpu-build.log"
	row build FAIL "see gpu-build.log"
	die "build failed (nothing else can run)"
fi
fi
bale=$build/bale

# ---- tests and kernel benchmarks ----
if step gpu-ctest bash -c "cd '$build' && ctest -L gpu --output-on-failure --timeout 150"; then
	row "ctest -L gpu" ok "$(grep -Eo '[0-9]+% tests passed.*' "$logdir/gpu-ctest.log" | head -n 1)"
else
	row "ctest -L gpu" FAIL "$(grep -Eo '[0-9]+ tests failed.*' "$logdir/gpu-ctest.log" | head -n 1)"
fi
# A gpu test that skips on a machine with a GPU found no usable device: that is a failure here.
if grep -q "(Skipped)" "$logdir/gpu-ctest.log"; then
	row "gpu tests skipped" FAIL "$(grep -c '(Skipped)' "$logdir/gpu-ctest.log") skipped: $(grep -m1 -o 'SKIP: .*' "$logdir/gpu-ctest.log" | head -c 120)"
fi
for b in bale_bench_kn_cuda bale_bench_kn_attn; do
	[ -x "$build/tests/$b" ] || continue
	late "$b" && continue
	if step "gpu-$b" timeout -k 10 240 "$build/tests/$b"; then row "$b" ok "tables in gpu-$b.log"; else row "$b" FAIL "see gpu-$b.log"; fi
done

# ---- bale on the GPU: the demo model, answers compared with the CPU's ----
demo_ok=1
for w in int8 fp8; do
	step "gpu-convert-$w" "$bale" convert "$src/models/demo/hf" -o "$work/demo-$w.bale" --weights "$w" --quiet --force ||
		{ row "convert demo $w" FAIL "see gpu-convert-$w.log"; demo_ok=0; }
done
# held-out questions: the last three of models/demo/test.jsonl
mapfile -t questions < <(tail -n 3 "$src/models/demo/test.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line)["prompt"])')
boxed() { grep -o '\\boxed{[^}]*}' "$1" | tail -n 1; }
if [ $demo_ok -eq 1 ]; then
	for w in int8 fp8; do
		late "run demo $w" && continue
		kv=bf16
		[ "$w" = fp8 ] && kv=fp8
		same=0 total=0 notes="" bad_run=0
		for q in "${questions[@]}"; do
			total=$((total + 1))
			timeout -k 5 60 "$bale" run "$work/demo-$w.bale" -p "$q" --greedy --max-tokens 200 >"$work/cpu.txt" 2>>"$logdir/gpu-demo-$w.log" ||
				bad_run=1
			timeout -k 5 60 "$bale" run "$work/demo-$w.bale" -p "$q" --greedy --max-tokens 200 --device cuda --kv "$kv" \
				>"$work/gpu.txt" 2>"$work/gpu.err" || bad_run=1
			cat "$work/gpu.err" >>"$logdir/gpu-demo-$w.log"
			{ echo "Q: $q"; echo "CPU: $(cat "$work/cpu.txt")"; echo "GPU: $(cat "$work/gpu.txt")"; } >>"$logdir/gpu-demo-$w.log"
			a=$(boxed "$work/cpu.txt") g=$(boxed "$work/gpu.txt")
			[ -n "$g" ] && [ "$a" = "$g" ] && same=$((same + 1))
			notes="$(grep -Eo 'loaded [0-9.]+ GB .* GB/s\)' "$work/gpu.err" | head -n 1); $(grep -Eo 'decode [0-9.]+ tok/s' "$work/gpu.err")"
		done
		say "demo $w: $same of $total GPU answers equal the CPU's"
		if [ $bad_run -eq 0 ] && [ $same -eq $total ]; then
			row "run demo $w (--kv $kv)" ok "$same/$total answers = CPU; $notes"
		else
			row "run demo $w (--kv $kv)" FAIL "$same/$total answers = CPU (runs ok: $((1 - bad_run))); see gpu-demo-$w.log"
		fi
	done
fi

# ---- bale bench --device cuda on the 8B shapes ----
bench_row() {
	local name=$1
	shift
	late "bench $*" && return 0
	if step "$name" timeout -k 10 180 "$bale" bench --device cuda --dummy qwen3-8b "$@" --batch 8,32 --json; then
		row "bench $*" ok "$(python3 - "$logdir/$name.log" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):t.rindex("}") + 1])
d = {(r["batch"], r["context"]): r for r in j["decode"] if r["status"] == "ok"}
p = {r["tokens"]: r for r in j["prefill"] if r["status"] == "ok"}
out = [f"copy {j['copy_gb_s']:.0f} GB/s"]
if (1, 0) in d:
    out.append(f"decode b1 {d[1, 0]['tok_s']:.0f} tok/s ({d[1, 0]['pct_copy']:.0f}% of copy)")
if (1, 32768) in d:
    out.append(f"b1@32K {d[1, 32768]['tok_s']:.0f}")
for b in (8, 32):
    k = (b, 1024)
    if k in d:
        out.append(f"b{b} {d[k]['tok_s']:.0f}")
if 2048 in p:
    out.append(f"prefill 2K {p[2048]['tok_s']:.0f} tok/s")
print("; ".join(out))
PY
)"
	else
		row "bench $*" FAIL "see $name.log"
	fi
}
bench_row gpu-bench-int8 --weights int8
bench_row gpu-bench-fp8 --weights fp8 --kv fp8
# the human table too, for the log
late "bench table" || timeout -k 10 180 "$bale" bench --device cuda --dummy qwen3-8b --weights int8 --batch 8,32 \
	>"$logdir/gpu-bench-int8-table.log" 2>&1 || true

say "done"
{
	echo
	echo "## gpu-check ($(echo "$gpus" | head -n 1), $(($(date +%s) - start)) s)"
	echo
	echo "| step | result | numbers |"
	echo "| --- | --- | --- |"
	printf '%s\n' "${rows[@]}"
} | tee "$logdir/gpu-summary.md"
exit $failed
