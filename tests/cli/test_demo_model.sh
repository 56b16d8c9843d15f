#!/usr/bin/env bash
# The bundled demo model (models/demo) against what transformers computed for it
# (models/demo/reference, made by tools/demo-model/make_demo_model.py): all-position logits of
# three prompts, and the greedy answers of ten held-out problems, through `bale convert`,
# `bale logits` and `bale run`.
set -uo pipefail
BALE=${BALE_BIN:?}
SRC=${BALE_SOURCE_DIR:?}
D=$SRC/models/demo
T=$(mktemp -d "${TMPDIR:-/tmp}/bale-demo-XXXXXX")
trap 'rm -rf "$T"' EXIT
python3 -c 'import numpy' 2>/dev/null || { echo "SKIP: numpy missing (tools/setup-deps.sh installs it)"; exit 77; }

# The checkpoint is BF16, so --weights bf16 stores exactly the weights transformers ran (in f32).
"$BALE" convert "$D/hf" -o "$T/demo.bale" --weights bf16 --quiet || { echo "FAIL: convert"; exit 1; }
"$BALE" convert "$D/hf" -o "$T/demo-int8.bale" --weights int8 --quiet || { echo "FAIL: convert int8"; exit 1; }

python3 - "$BALE" "$T" "$D" <<'PY'
import json, subprocess, sys
import numpy as np
bale, t, d = sys.argv[1:4]
ref = json.load(open(f"{d}/reference/logits.json"))
fails = passes = 0
def check(ok, what):
    global fails, passes
    if ok:
        passes += 1
    else:
        fails += 1
        print("FAIL:", what)
for p in ref["prompts"]:
    want = np.load(f"{d}/reference/{p['file']}")
    ids = ",".join(map(str, p["ids"]))
    for f, tol, top1 in (("demo.bale", 2e-5, 1.0), ("demo-int8.bale", 0.05, 0.95)):
        out = f"{t}/{p['file']}.{f}.f32"
        subprocess.run([bale, "logits", f"{t}/{f}", "--ids", ids, "--all", "--out", out], check=True)
        got = np.fromfile(out, dtype="<f4").reshape(want.shape)
        rel = float(np.abs(got - want).max() / np.abs(want).max())
        agree = float((got.argmax(1) == want.argmax(1)).mean())
        print(f"{p['file']} {f}: max|d|/max|ref| = {rel:.2e}, top-1 agreement {agree:.2f}")
        check(rel <= tol, f"{p['file']} {f}: relative error {rel:.3e} > {tol}")
        check(agree >= top1, f"{p['file']} {f}: top-1 agreement {agree:.2f} < {top1}")

# Greedy answers: the same text transformers generated (BF16 weights run in float32).
for line in open(f"{d}/reference/greedy.jsonl"):
    g = json.loads(line)
    prompt = g.get("prompt") or g.get("question")
    r = subprocess.run([bale, "run", f"{t}/demo.bale", "-p", prompt, "--greedy", "--max-tokens",
                        str(len(g["output_ids"]) + 8)], capture_output=True, text=True, check=True)
    want = g["output_text"]
    eos = "<\uff5cend\u2581of\u2581sentence\uff5c>"
    if want.endswith(eos):  # bale stops at EOS and does not print it
        want = want[: -len(eos)]
    check(r.stdout.rstrip("\n") == want.rstrip("\n"),
          f"greedy answer to {prompt!r}: got {r.stdout[-80:]!r}, transformers {want[-80:]!r}")
print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
PY
