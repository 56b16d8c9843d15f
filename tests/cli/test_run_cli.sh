#!/usr/bin/env bash
# `bale run`, `bale chat`, `bale logits`, `bale bench` on the tiny Qwen3 (YaRN) fixture:
# deterministic greedy output and the stats line, --hide-think, CLI-level logits parity with
# transformers (tests/data/logits/qwen3-yarn), a scripted chat, the dummy benchmark, --kv fp8 on
# the CPU, --device cuda (no GPU: exit 1 with the reason; a GPU: it runs), and errors.
set -uo pipefail
TEST_TAG=runcli
. "${BALE_SOURCE_DIR:?}/tests/cli/lib.sh"

D=$SRC/tests/data/logits/qwen3-yarn
M=$T/m.bale
"$BALE" convert "$D" -o "$M" --weights f32 --quiet || { echo "FAIL: convert" >&2; exit 1; }

# ---- run: deterministic greedy text, stats on stderr, stdin prompt ----
"$BALE" run "$M" -p "Hello there" --greedy --max-tokens 16 >"$T/a" 2>"$T/ea" || bad "run a"
"$BALE" run "$M" -p "Hello there" --greedy --max-tokens 16 >"$T/b" 2>"$T/eb" || bad "run b"
[ -s "$T/a" ] && cmp -s "$T/a" "$T/b" && ok || bad "greedy output differs or is empty"
grep -Eq '^bale run: prompt [0-9]+ tokens .*generated 16 tokens, prefill [0-9.]+ tok/s, decode [0-9.]+ tok/s' "$T/ea" &&
	ok || bad "stats line: $(cat "$T/ea")"
[ "$(grep -c . "$T/ea")" -eq 1 ] && ok || bad "stderr should be one line: $(cat "$T/ea")"
printf 'Hello there\n' | "$BALE" run "$M" --greedy --max-tokens 16 >"$T/c" 2>/dev/null || bad "run from stdin"
cmp -s "$T/a" "$T/c" && ok || bad "stdin prompt differs from -p"
"$BALE" run "$M" -p "Hello there" --temp 0.9 --seed 7 --max-tokens 12 >"$T/s1" 2>/dev/null || bad "seeded run"
"$BALE" run "$M" -p "Hello there" --temp 0.9 --seed 7 --max-tokens 12 >"$T/s2" 2>/dev/null || bad "seeded run 2"
cmp -s "$T/s1" "$T/s2" && ok || bad "seeded output differs"

# --hide-think: the tiny template ends its prompt with <think>, so only text after </think> shows
"$BALE" run "$M" -p "Hello there" --greedy --max-tokens 16 --hide-think >"$T/h" 2>/dev/null || bad "run --hide-think"
python3 - "$T/a" "$T/h" <<'PY' && ok || bad "--hide-think output"
import sys
full = open(sys.argv[1], encoding="utf-8", errors="replace").read()
hidden = open(sys.argv[2], encoding="utf-8", errors="replace").read()
exp = full.split("</think>")[-1].lstrip() if "</think>" in full else ""
sys.exit(0 if hidden.rstrip("\n") == exp.rstrip("\n") else 1)
PY
# --force-think adds nothing when the prompt already opens reasoning; --raw skips the template
"$BALE" run "$M" -p "Hello there" --greedy --max-tokens 2 --force-think >/dev/null 2>"$T/ef" || bad "--force-think"
p1=$(sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p' "$T/ea"); p2=$(sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p' "$T/ef")
[ -n "$p1" ] && [ "$p1" = "$p2" ] && ok || bad "--force-think changed the prompt: $p1 vs $p2"
"$BALE" run "$M" -p "Hello there" --raw --greedy --max-tokens 2 >/dev/null 2>"$T/er" || bad "--raw"
p3=$(sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p' "$T/er")
[ -n "$p3" ] && [ "$p3" -lt "$p1" ] && ok || bad "--raw prompt should be shorter: $p3 vs $p1"
"$BALE" run "$M" -p "Hello there" --greedy --ctx 8 >/dev/null 2>"$T/eo"; rc=$?
[ $rc -eq 1 ] && grep -q "context holds 8" "$T/eo" && ok || bad "context overflow: rc $rc $(cat "$T/eo")"

# ---- logits: CLI-level parity with transformers ----
python3 - "$BALE" "$M" "$D" "$T" <<'PY' && ok || bad "logits parity"
import json, subprocess, sys
import numpy as np
bale, m, d, t = sys.argv[1:5]
man = json.load(open(f"{d}/logits.json"))
V = man["vocab_size"]
for s in man["sequences"]:
    ids = s["ids"]
    out = f"{t}/l.f32"
    subprocess.run([bale, "logits", m, "--ids", ",".join(map(str, ids)), "--all", "--out", out],
                   check=True, capture_output=True)
    got = np.fromfile(out, dtype="<f4")
    ref = np.fromfile(f"{d}/{s['file']}", dtype="<f4")
    assert got.size == len(ids) * V, (got.size, len(ids) * V)
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    assert err < 1e-4, err
    subprocess.run([bale, "logits", m, "--ids", ",".join(map(str, ids)), "--out", out], check=True, capture_output=True)
    last = np.fromfile(out, dtype="<f4")
    assert last.size == V and float(np.abs(last - ref[-V:]).max()) < 1e-4 * float(np.abs(ref).max())
PY
"$BALE" logits "$M" --text "Hello there" --out "$T/t.f32" 2>/dev/null || bad "logits --text"
[ "$(stat -c %s "$T/t.f32")" -eq $((320 * 4)) ] && ok || bad "logits --text size"
"$BALE" logits "$M" --ids 1,2,3,4,5 --ctx 4 --out "$T/x.f32" 2>"$T/el"; rc=$?
[ $rc -eq 1 ] && grep -q "5 tokens but the context holds 4" "$T/el" && ok || bad "logits overflow: rc $rc $(cat "$T/el")"

# ---- chat: two turns, /reset, another turn, /exit ----
"$BALE" chat "$M" --greedy --max-tokens 6 >"$T/chat" 2>"$T/echat" <<'IN'
hello
how are \
you
/help
/reset
again
/exit
never sent
IN
rc=$?
[ $rc -eq 0 ] && ok || bad "chat rc $rc: $(cat "$T/echat")"
[ "$(grep -c '^bale chat: prompt' "$T/echat")" -eq 3 ] && ok || bad "chat turns: $(cat "$T/echat")"
grep -q "conversation reset" "$T/echat" && grep -q "/reset" "$T/chat" && ok || bad "chat /reset or /help"
sed -n 2p "$T/echat" | grep -Eq '\(([1-9][0-9]*) cached\)' && ok || bad "second turn reuses the cache: $(sed -n 2p "$T/echat")"
sed -n 4p "$T/echat" | grep -q '(0 cached)' && ok || bad "turn after /reset starts fresh: $(cat "$T/echat")"
printf 'hi\n' | "$BALE" chat "$M" --max-tokens 2 >/dev/null 2>&1 && ok || bad "chat ending at EOF"

# ---- bench ----
"$BALE" bench --dummy tiny -p 8 -n 4 --threads 1 --copy-size 8M >"$T/bench" 2>/dev/null || bad "bench --dummy tiny"
grep -Eq 'decode +4 tokens: [0-9.]+ tok/s' "$T/bench" && grep -q 'ratio' "$T/bench" && ok || bad "bench output: $(cat "$T/bench")"
"$BALE" bench --dummy tiny --weights int8-g64 -p 4 -n 2 --threads 1 --copy-size 8M --json >"$T/bj" 2>/dev/null || bad "bench --json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['decode_tok_s'] > 0 and j['copy_gb_s'] > 0" "$T/bj" &&
	ok || bad "bench json: $(cat "$T/bj")"
"$BALE" bench "$M" -p 4 -n 2 --threads 1 --copy-size 8M >/dev/null 2>&1 && ok || bad "bench on a file"

usage() { "$@" >/dev/null 2>&1 </dev/null; [ $? -eq 2 ] && ok || bad "usage error expected: $*"; }

# ---- --kv fp8 on the CPU (E4M3 KV cache, kn_cpu.h) ----
"$BALE" run "$M" -p "Hello there" --greedy --max-tokens 8 --kv fp8 >"$T/f8" 2>"$T/ef8" || bad "run --kv fp8: $(cat "$T/ef8")"
[ -s "$T/f8" ] && grep -Eq '^bale run: prompt [0-9]+ tokens .*generated 8 tokens' "$T/ef8" && ok || bad "run --kv fp8 output"
"$BALE" logits "$M" --ids 1,2,3,4,5 --kv fp8 --out "$T/f8.f32" 2>/dev/null || bad "logits --kv fp8"
"$BALE" logits "$M" --ids 1,2,3,4,5 --out "$T/f32.f32" 2>/dev/null || bad "logits --kv f32"
python3 - "$T/f8.f32" "$T/f32.f32" <<'PY' && ok || bad "fp8 KV logits far from f32 KV"
import sys
import numpy as np
a, b = (np.fromfile(f, dtype="<f4") for f in sys.argv[1:3])
assert a.size == b.size == 320 and np.isfinite(a).all()
assert 0 < np.linalg.norm(a - b) / np.linalg.norm(b) < 0.15
PY

# ---- --device cuda: runs on a usable GPU; without one exit 1 with the reason, usage errors stay 2 ----
"$BALE" run "$M" --dry-run --device cuda >"$T/probe" 2>&1
if grep -q 'none usable here' "$T/probe"; then
	for c in "run $M -p hi" "chat $M" "logits $M --ids 1,2 --out $T/x" "bench --dummy tiny" "bench $M --kv fp8"; do
		# shellcheck disable=SC2086
		"$BALE" $c --device cuda </dev/null >"$T/out" 2>"$T/err"; rc=$?
		[ $rc -eq 1 ] && grep -Eq 'device cuda: no usable GPU: .{8,}' "$T/err" && ok ||
			bad "$c --device cuda: rc $rc $(cat "$T/err")"
		[ -s "$T/out" ] && bad "$c --device cuda wrote to stdout: $(head -c 300 "$T/out")" || ok
	done
else
	"$BALE" run "$M" -p "Hello there" --greedy --max-tokens 8 --device cuda >"$T/g" 2>"$T/eg" || bad "run on the GPU: $(cat "$T/eg")"
	grep -Eq '^bale run: loaded [0-9.]+ GB onto .* in [0-9.]+ s \([0-9.]+ GB/s\), verified' "$T/eg" && ok || bad "load line: $(cat "$T/eg")"
	grep -Eq 'generated 8 tokens' "$T/eg" && ok || bad "GPU stats line: $(cat "$T/eg")"
fi
usage "$BALE" run "$M" -p hi --device cuda --kv f32
usage "$BALE" logits "$M" --ids 1,x --out "$T/x" --device cuda
usage "$BALE" bench --dummy tiny --device cuda --kv f32
usage "$BALE" bench --dummy tiny --device cuda --batch 0
usage "$BALE" bench --dummy tiny --device cuda --batch 8,x
usage "$BALE" bench --dummy tiny --device cuda --contexts -1
usage "$BALE" bench --dummy tiny --device cuda --prefill 0
usage "$BALE" bench --dummy tiny --device cuda -n 0
usage "$BALE" bench --dummy nope --device cuda
usage "$BALE" bench --dummy tiny --weights int4 --device cuda
usage "$BALE" bench "$M" --weights int8 --device cuda
usage "$BALE" bench --dummy tiny --device cuda --copy-size 1K
"$BALE" bench --help | grep -q -- '--contexts LIST' && ok || bad "bench --help lists the GPU options"
grep -rq 'not implemented' <("$BALE" run --help; "$BALE" bench --help; "$BALE" chat --help) && bad "stale 'not implemented' in --help" || ok

# ---- errors ----
usage "$BALE" run
usage "$BALE" run "$M" --bogus
usage "$BALE" run "$M" -p hi --temp abc
usage "$BALE" run "$M" -p hi --kv f8
usage "$BALE" run "$M" -p hi --yarn-mode nope
usage "$BALE" chat
usage "$BALE" logits "$M" --out "$T/x"
usage "$BALE" logits "$M" --ids 1,x --out "$T/x"
usage "$BALE" bench
usage "$BALE" bench --dummy nope
usage "$BALE" bench --dummy tiny --weights int4
printf 'not a bale file' >"$T/bad.bale"
for c in "run $T/bad.bale -p hi" "chat $T/bad.bale" "logits $T/bad.bale --ids 1 --out $T/x" "bench $T/bad.bale"; do
	# shellcheck disable=SC2086
	"$BALE" $c </dev/null >/dev/null 2>"$T/err"; rc=$?
	[ $rc -eq 1 ] && grep -q "bad.bale" "$T/err" && ok || bad "bad model ($c): rc $rc $(cat "$T/err")"
done

echo "test_run_cli: $pass passed, $fails failed"
[ $fails -eq 0 ]
