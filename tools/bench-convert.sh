#!/usr/bin/env bash
# Benchmarks `bale convert` on a synthetic checkpoint against a plain copy of the same bytes.
#
#   tools/bench-convert.sh [--preset qwen3-8b|medium|small|tiny] [--weights RECIPE] [--dir DIR]
#                          [--bale PATH] [--threads N] [--keep-output]
#
# Steps, all in one run so the numbers are comparable:
#   1. creates DIR/synth-PRESET with tools/synth-checkpoint when missing (checks free disk first);
#   2. warm-up: reads every input byte once (cat > /dev/null), so each measured run starts from
#      a warm page cache (nothing is dropped; if the input does not fit in RAM both runs read
#      from disk, and the script says so);
#   3. (b) `bale convert` under /usr/bin/time -v: wall time and peak RSS;
#   4. warm-up again, then (a) the copy baseline: one sequential pass that reads all input bytes
#      (16 MiB reads) and writes the first OUT_BYTES of them to a file, then fsyncs it, OUT_BYTES
#      being the size of the .bale just written. That is the I/O a converter cannot avoid, done
#      with no computation; convert/copy is the overhead of everything else.
# Prints input/output GB, wall s, input GB/s, peak RSS MiB and convert/copy, then a markdown row
# for docs/PERF.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
preset=qwen3-8b
weights=int8
dir=${TMPDIR:-/tmp}/bale-bench
bale=${BALE_BIN:-}
threads=
keep_output=0

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "bench-convert: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--preset) preset=${2:?}; shift 2 ;;
	--weights) weights=${2:?}; shift 2 ;;
	--dir) dir=${2:?}; shift 2 ;;
	--bale) bale=${2:?}; shift 2 ;;
	--threads) threads=${2:?}; shift 2 ;;
	--keep-output) keep_output=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

if [ -z "$bale" ]; then
	for c in "$repo/build/bale" "$repo"/build-*/bale; do
		if [ -x "$c" ]; then bale=$c; break; fi
	done
fi
[ -n "$bale" ] && [ -x "$bale" ] || die "no bale binary (build it, or pass --bale PATH / set BALE_BIN)"
[ -x /usr/bin/time ] || die "/usr/bin/time is needed for peak RSS (apt-get install time)"

# Sizes in bytes: BF16 input; output for the recipe (codes + scales, or the float size).
case $preset in
qwen3-8b) in_est=16381470720 ;;
medium) in_est=1073815552 ;;
small) in_est=104349184 ;;
tiny) in_est=4459520 ;;
*) die "unknown preset $preset" ;;
esac
case $weights in
int8* | fp8) out_est=$((in_est * 53 / 100)) ;;
bf16 | f16) out_est=$((in_est + in_est / 50)) ;;
f32) out_est=$((in_est * 2 + in_est / 50)) ;;
*) die "unknown recipe $weights" ;;
esac

mkdir -p "$dir"
src=$dir/synth-$preset
out=$dir/synth-$preset.$weights.bale
copy=$dir/copy-baseline.out
rm -f "$out" "$copy"

need=$out_est
[ -d "$src" ] || need=$((need + in_est))
avail=$(($(df -Pk "$dir" | awk 'NR==2 {print $4}') * 1024))
if [ "$avail" -lt $((need + need / 20)) ]; then
	die "$(df -h "$dir" | awk 'NR==2 {print $6}') has $((avail / 1000000)) MB free; this run needs about $((need / 1000000)) MB (input $((in_est / 1000000)) MB$([ -d "$src" ] && echo ' present') + output $((out_est / 1000000)) MB). Use --dir on a bigger disk."
fi

if [ ! -d "$src" ]; then
	echo "== creating $src" >&2
	"$here/synth-checkpoint" --preset "$preset" --out "$src"
fi
shopt -s nullglob
shards=("$src"/*.safetensors)
[ ${#shards[@]} -gt 0 ] || die "$src has no .safetensors files"
in_bytes=$(stat -c %s "${shards[@]}" | awk '{ s += $1 } END { printf "%.0f", s }')

mem_avail=$(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) * 1024))
if [ "$in_bytes" -gt "$mem_avail" ]; then
	cache_note="input ($((in_bytes / 1000000)) MB) exceeds available RAM: both runs read from disk"
else
	cache_note="warm page cache (input read once before each run)"
fi
warm() { cat "${shards[@]}" >/dev/null; }

echo "== $($bale --version 2>/dev/null || echo bale), preset $preset, --weights $weights, $(nproc) cores; $cache_note" >&2

# (b) bale convert
warm
tflags=()
[ -n "$threads" ] && tflags=(--threads "$threads")
log=$dir/time.log
/usr/bin/time -v -o "$log" "$bale" convert "$src" -o "$out" --weights "$weights" --force --quiet "${tflags[@]}"
wall_conv=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" |
	awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
out_bytes=$(stat -c %s "$out")
[ "$keep_output" = 1 ] || rm -f "$out"

# (a) copy baseline with the same input and output byte counts
warm
wall_copy=$(python3 - "$copy" "$out_bytes" "${shards[@]}" <<'EOF'
import os, sys, time
dst, want, srcs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
buf = bytearray(16 << 20)
mv = memoryview(buf)
t0 = time.monotonic()
left = want
with open(dst, "wb", buffering=0) as out:
    for s in srcs:
        with open(s, "rb", buffering=0) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                if left > 0:
                    k = min(n, left)
                    out.write(mv[:k])
                    left -= k
    while left > 0:  # output larger than input (f32 recipe): keep writing
        k = min(len(buf), left)
        out.write(mv[:k])
        left -= k
    os.fsync(out.fileno())
print(f"{time.monotonic() - t0:.3f}")
EOF
)
rm -f "$copy"

awk -v ib="$in_bytes" -v ob="$out_bytes" -v wc="$wall_conv" -v wp="$wall_copy" -v rss="$rss_kb" \
	-v preset="$preset" -v w="$weights" -v cores="$(nproc)" -v thr="${threads:-all}" '
BEGIN {
	printf "input            %.3f GB (%.0f bytes)\n", ib / 1e9, ib
	printf "output           %.3f GB (%.0f bytes)\n", ob / 1e9, ob
	printf "copy baseline    %.2f s  (%.2f GB/s of input)\n", wp, ib / 1e9 / wp
	printf "bale convert     %.2f s  (%.2f GB/s of input)\n", wc, ib / 1e9 / wc
	printf "peak RSS         %.0f MiB\n", rss / 1024
	printf "convert / copy   %.2f\n\n", wc / wp
	print "| preset | recipe | cores (threads) | input GB | output GB | copy s | convert s | GB/s in | peak RSS MiB | convert/copy |"
	print "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
	printf "| %s | %s | %d (%s) | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.2f |\n",
		preset, w, cores, thr, ib / 1e9, ob / 1e9, wp, wc, ib / 1e9 / wc, rss / 1024, wc / wp
}'
