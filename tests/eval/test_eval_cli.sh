#!/usr/bin/env bash
# `bale eval` on the tiny fixture models: perplexity against exp(mean NLL) computed here from
# `bale logits` (one window, and the sliding windows re-derived from the documented rule), KL
# divergence against itself and f32 vs int8 (checked against numpy), tokenizer mismatch, the
# \boxed{} task scoring on a crafted model whose greedy answer is known, and usage errors.
set -uo pipefail
TEST_TAG=evalcli
. "${BALE_SOURCE_DIR:?}/tests/cli/lib.sh"

D=$SRC/tests/data/logits/qwen3-yarn
"$BALE" convert "$D" -o "$T/f32.bale" --weights f32 --quiet || { echo "FAIL: convert f32" >&2; exit 1; }
"$BALE" convert "$D" -o "$T/i8.bale" --weights int8 --quiet || { echo "FAIL: convert int8" >&2; exit 1; }
printf 'The quick brown fox jumps over the lazy dog. Then 12 + 7 = 19 and 100 - 3 = 97.\nThat is all there is to say.\n' >"$T/t.txt"

# ---- perplexity = exp(mean NLL) of the logits, one window and sliding windows ----
python3 - "$BALE" "$T" <<'PY' && ok || bad "perplexity vs bale logits"
import json, subprocess, sys
import numpy as np
bale, t = sys.argv[1:3]
text = open(f"{t}/t.txt").read()
V = 320
def run(*a):
    return subprocess.run([bale, *a], check=True, capture_output=True, text=True).stdout
subprocess.run([bale, "logits", f"{t}/f32.bale", "--text", text, "--all", "--out", f"{t}/all.f32"], check=True,
               capture_output=True)
lg = np.fromfile(f"{t}/all.f32", dtype="<f4").reshape(-1, V).astype(np.float64)
n = lg.shape[0]
assert n > 40, n
def nll_rows(rows, targets):
    m = rows.max(axis=1, keepdims=True)
    lse = np.log(np.exp(rows - m).sum(axis=1)) + m[:, 0]
    return lse - rows[np.arange(len(targets)), targets]
# `bale logits` defaults to transformers' YaRN scaling, `bale eval` (like `bale run`) to the
# file's: the fixture stores rope.attn_factor, so eval would use vllm's
yarn = ("--yarn-mode", "transformers")
def ev(*a):
    return json.loads(run("eval", f"{t}/f32.bale", "--text", f"{t}/t.txt", "--json", "-q", *a, *yarn))
# raw text, nothing added: what `bale logits --text` and `bale eval --text` both use
ids = json.loads(run("tokenize", f"{t}/f32.bale", "--json", "--no-special", "--text", text))
assert len(ids) == n, (len(ids), n)
r = ev("--ctx", str(n))
want = float(np.exp(nll_rows(lg[:-1], ids[1:]).mean()))
assert r["windows"] == 1 and r["scored"] == n - 1, r
assert abs(r["ppl"] - want) / want < 1e-6, (r["ppl"], want)
# sliding windows: ctx 16, stride 8 / 5 / 16 (disjoint: a window's first token is unscored)
for ctx, stride in ((16, 8), (16, 5), (16, 16)):
    nll, scored_to, b, nw = [], 1, 0, 0
    while scored_to < n:
        e = min(b + ctx, n)
        w = ids[b:e]
        subprocess.run([bale, "logits", f"{t}/f32.bale", "--ids", ",".join(map(str, w)), "--all", "--out",
                        f"{t}/w.f32"], check=True, capture_output=True)
        rows = np.fromfile(f"{t}/w.f32", dtype="<f4").reshape(-1, V).astype(np.float64)
        first = max(scored_to, b + 1)
        tg = list(range(first, e))
        nll += list(nll_rows(rows[[x - 1 - b for x in tg]], [ids[x] for x in tg]))
        scored_to, b, nw = e, b + stride, nw + 1
    r = ev("--ctx", str(ctx), "--stride", str(stride))
    want = float(np.exp(np.mean(nll)))
    assert r["windows"] == nw and r["scored"] == len(nll), (r, nw, len(nll))
    assert abs(r["ppl"] - want) / want < 1e-6, (ctx, stride, r["ppl"], want)
    p2 = ev("--ctx", str(ctx), "--stride", str(stride), "--parallel", "3")
    assert p2 == r, (p2, r)
PY

# ---- KL: a model against itself, int8 against f32 (and numpy on the same logits) ----
"$BALE" eval "$T/f32.bale" --text "$T/t.txt" --ref "$T/f32.bale" --ctx 16 --json -q >"$T/self.json" || bad "eval self"
python3 - "$T/self.json" <<'PY' && ok || bad "KL of a model against itself: $(cat "$T/self.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["kl"]["mean"] == 0 and r["kl"]["max"] == 0 and r["top1_pct"] == 100 and r["rms_dp_pct"] == 0, r
assert r["ppl"] == r["ppl_ref"], r
PY
python3 - "$BALE" "$T" <<'PY' && ok || bad "KL int8 vs f32"
import json, subprocess, sys
import numpy as np
bale, t = sys.argv[1:3]
text = open(f"{t}/t.txt").read()
r = json.loads(subprocess.run([bale, "eval", f"{t}/i8.bale", "--text", f"{t}/t.txt", "--ref", f"{t}/f32.bale",
                               "--ctx", "128", "--json", "-q", "--yarn-mode", "transformers"], check=True, capture_output=True, text=True).stdout)
assert 0 < r["kl"]["mean"] < 1e-2 and r["kl"]["mean"] <= r["kl"]["p99"] <= r["kl"]["max"], r
assert r["top1_pct"] > 80 and 0 < r["rms_dp_pct"] < 5, r
def logits(m):
    subprocess.run([bale, "logits", m, "--text", text, "--all", "--out", f"{t}/l.f32"], check=True, capture_output=True)
    x = np.fromfile(f"{t}/l.f32", dtype="<f4").reshape(-1, 320).astype(np.float64)[:-1]
    x -= x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))
q, p = logits(f"{t}/i8.bale"), logits(f"{t}/f32.bale")
kl = (np.exp(p) * (p - q)).sum(axis=1)
top = p.argmax(axis=1)
same = 100 * np.mean(q.argmax(axis=1) == top)
dp = np.exp(q[np.arange(len(top)), top]) - np.exp(p[np.arange(len(top)), top])
assert r["windows"] == 1 and r["scored"] == len(kl)
assert abs(r["kl"]["mean"] - kl.mean()) < 1e-9 + 1e-6 * kl.mean(), (r["kl"], kl.mean())
assert abs(r["kl"]["max"] - kl.max()) < 1e-9 + 1e-6 * kl.max()
assert abs(r["top1_pct"] - same) < 1e-9, (r["top1_pct"], same)
assert abs(r["rms_dp_pct"] - 100 * np.sqrt(np.mean(dp ** 2))) < 1e-6
PY
"$BALE" eval "$T/i8.bale" --text "$T/t.txt" --ref "$T/f32.bale" -q >"$T/kl.txt" || bad "eval --ref text output"
grep -q '^KL mean ' "$T/kl.txt" && grep -q '^top-1 agreement ' "$T/kl.txt" && grep -q '^PPL ref ' "$T/kl.txt" && ok ||
	bad "text report: $(cat "$T/kl.txt")"

# mismatched tokenizers: the same model with two vocabulary entries swapped
mkdir -p "$T/swap"
cp "$D"/*.json "$D/model.safetensors" "$T/swap/"
python3 - "$T/swap/tokenizer.json" <<'PY' || bad "swap tokenizer"
import json, sys
p = sys.argv[1]
j = json.load(open(p))
v = j["model"]["vocab"]
a, b = [k for k, i in v.items() if i in (256, 259)]
v[a], v[b] = v[b], v[a]
json.dump(j, open(p, "w"))
PY
"$BALE" convert "$T/swap" -o "$T/swap.bale" --weights f32 --quiet || bad "convert swapped"
"$BALE" eval "$T/f32.bale" --text "$T/t.txt" --ref "$T/swap.bale" -q >/dev/null 2>"$T/e"; rc=$?
[ $rc -eq 1 ] && grep -q "do not share a tokenizer: token 256 differs" "$T/e" && ok || bad "tokenizer mismatch: rc $rc $(cat "$T/e")"

# ---- tasks: a crafted model whose greedy answer is "</think>\boxed{42}" after any prompt ----
# (attention and MLP outputs zeroed, so the next token depends only on the current one)
mkdir -p "$T/box"
python3 - "$D" "$T/box" <<'PY' || bad "crafted model"
import json, os, shutil, sys
import numpy as np
from safetensors.numpy import load_file, save_file
src, dst = sys.argv[1:3]
for f in os.listdir(src):
    if f.endswith(".json"):
        shutil.copy(os.path.join(src, f), dst)
tj = json.load(open(os.path.join(src, "tokenizer.json")))
vocab = dict(tj["model"]["vocab"])
vocab.update({a["content"]: a["id"] for a in tj["added_tokens"]})
chain = [vocab[s] for s in ["Ċ", "</think>", "\\", "b", "o", "x", "e", "d", "{", "4", "2", "}", "<|im_end|>"]]
w = load_file(os.path.join(src, "model.safetensors"))
V, H = w["model.embed_tokens.weight"].shape
emb = np.zeros((V, H), np.float32)
emb[:, len(chain) - 1] = 1
head = np.zeros((V, H), np.float32)
for k, tok in enumerate(chain[:-1]):
    emb[tok] = 0
    emb[tok, k] = 1
    head[chain[k + 1], k] = 1.5  # after the final norm: logit 12 for the successor, 0 for the rest
head[chain[-1], len(chain) - 1] = 1.5
w["model.embed_tokens.weight"], w["lm_head.weight"] = emb, head
for k in w:
    if k.endswith(("o_proj.weight", "down_proj.weight")):
        w[k] = np.zeros_like(w[k])
w["model.norm.weight"] = np.ones_like(w["model.norm.weight"])
save_file(w, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
PY
"$BALE" convert "$T/box" -o "$T/box.bale" --weights f32 --quiet || bad "convert crafted"
printf '{"prompt": "What is 6 times 7?", "answer": "0"}\n{"prompt": "Add 40 and 2.", "answer": "0", "id": "b"}\n\n{"prompt": "Take 1 from 43.", "answer": "0"}\n' >"$T/probe.jsonl"
"$BALE" eval "$T/box.bale" --tasks "$T/probe.jsonl" --json -q >"$T/probe.json" || bad "eval probe"
# expected answers from the greedy run: right as is, right with extra spaces / as a JSON number,
# and deliberately wrong
python3 - "$T/probe.json" "$T/tasks.jsonl" <<'PY' || bad "derive tasks"
import json, sys
r = json.load(open(sys.argv[1]))
got = [x["got"] for x in r["results"]]
assert r["results"][1]["id"] == "b" and r["results"][2]["id"] == 2, r
assert all(g is not None for g in got), got
with open(sys.argv[2], "w") as f:
    f.write(json.dumps({"prompt": "What is 6 times 7?", "answer": "  " + got[0] + " "}) + "\n")
    f.write(json.dumps({"prompt": "Add 40 and 2.", "answer": int(got[1]) if got[1].isdigit() else got[1]}) + "\n")
    f.write(json.dumps({"prompt": "Take 1 from 43.", "answer": got[2] + "1"}) + "\n")
PY
"$BALE" eval "$T/box.bale" --tasks "$T/tasks.jsonl" --json -q >"$T/g.json" || bad "eval tasks greedy"
python3 - "$T/g.json" <<'PY' && ok || bad "greedy task scoring: $(cat "$T/g.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["decoding"] == "greedy" and r["tasks"] == 3 and r["correct"] == 2, r
assert abs(r["accuracy"] - 200 / 3) < 1e-6, r
res = r["results"]
assert [x["got"] for x in res] == ["42"] * 3, res
assert [x["correct"] for x in res] == [True, True, False], res
assert [x["expected"] for x in res] == ["42", "42", "421"], res
PY
"$BALE" eval "$T/box.bale" --tasks "$T/tasks.jsonl" -q >"$T/g.txt" || bad "eval tasks text"
grep -q "^accuracy 66.67 % (2/3)$" "$T/g.txt" && grep -q "^wrong: task 2 expected '421' got '42'$" "$T/g.txt" && ok ||
	bad "text report: $(cat "$T/g.txt")"
"$BALE" eval "$T/box.bale" --tasks "$T/tasks.jsonl" --limit 2 --json -q >"$T/l.json" || bad "--limit"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['tasks']==2 and r['correct']==2" "$T/l.json" && ok ||
	bad "--limit 2: $(cat "$T/l.json")"
# sampled: seeded and independent of --parallel; never above what the greedy answers allow
"$BALE" eval "$T/box.bale" --tasks "$T/tasks.jsonl" --samples 4 --seed 3 --json -q >"$T/s1.json" || bad "samples"
"$BALE" eval "$T/box.bale" --tasks "$T/tasks.jsonl" --samples 4 --seed 3 --parallel 2 --json -q >"$T/s2.json" ||
	bad "samples parallel"
python3 - "$T/s1.json" "$T/s2.json" <<'PY' && ok || bad "sampled scoring"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for r in (a, b):
    r.pop("seconds")
assert a == b, "sampled results depend on --parallel"
assert a["decoding"] == "sampled" and a["samples"] == 4
res = a["results"]
assert all(len(x["got"]) == 4 and len(x["correct"]) == 4 for x in res), res
assert not any(res[2]["correct"]) and a["correct"] == sum(sum(x["correct"]) for x in res)
assert a["correct"] >= 4, a  # the successor has p ~ 0.998 per token: most samples give 42
for x in res:
    assert all(c == (g == x["expected"]) for g, c in zip(x["got"], x["correct"])), x
PY
# a random model writes no \boxed{}: every answer is wrong, reported as null
"$BALE" eval "$T/f32.bale" --tasks "$T/tasks.jsonl" --max-tokens 8 --json -q >"$T/r.json" || bad "random model tasks"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['correct']==0 and all(x['got'] is None for x in r['results'])" \
	"$T/r.json" && ok || bad "no boxed answers: $(cat "$T/r.json")"

# ---- errors ----
usage() {
	"$BALE" eval "$@" >/dev/null 2>"$T/eu"; local rc=$?
	[ $rc -eq 2 ] && ok || bad "expected exit 2 for: $* (rc $rc: $(cat "$T/eu"))"
}
usage
usage "$T/f32.bale"
usage "$T/f32.bale" --text "$T/t.txt" --tasks "$T/tasks.jsonl"
usage "$T/f32.bale" --tasks "$T/tasks.jsonl" --ref "$T/f32.bale"
usage "$T/f32.bale" --text "$T/t.txt" --samples 2
usage "$T/f32.bale" --tasks "$T/tasks.jsonl" --samples 0
usage "$T/f32.bale" --tasks "$T/tasks.jsonl" --samples 2 --greedy
usage "$T/f32.bale" --tasks "$T/tasks.jsonl" --bogus
usage "$T/f32.bale" --tasks
usage "$T/f32.bale" --text "$T/t.txt" --ctx 8 --stride 9
usage "$T/f32.bale" --text "$T/t.txt" --ctx 1000
usage "$T/i8.bale" --tasks "$T/tasks.jsonl" --device cuda --parallel 2
usage "$T/i8.bale" --tasks "$T/tasks.jsonl" --device cuda --kv f32
failing() {
	local want=$1; shift
	"$BALE" eval "$@" >/dev/null 2>"$T/ef"; local rc=$?
	[ $rc -eq 1 ] && grep -q -- "$want" "$T/ef" && ok || bad "expected exit 1 '$want' for: $* (rc $rc: $(cat "$T/ef"))"
}
failing "No such file" "$T/f32.bale" --text "$T/none.txt"
failing "No such file" "$T/none.bale" --text "$T/t.txt"
printf '{"prompt": "x", "answer": "1"}\n{"prompt": 3, "answer": "1"}\n' >"$T/bad1.jsonl"
failing "bad1.jsonl:2: needs a string" "$T/f32.bale" --tasks "$T/bad1.jsonl"
printf '{"prompt": "x", "answer": "1"}\n{not json\n' >"$T/bad2.jsonl"
failing "bad2.jsonl:2:" "$T/f32.bale" --tasks "$T/bad2.jsonl"
printf '\n\n' >"$T/empty.jsonl"
failing "no tasks" "$T/f32.bale" --tasks "$T/empty.jsonl"
# --device cuda: without a GPU, exit 1 with the reason (on a GPU machine test_demo_gpu covers it)
if ! "$BALE" bench --device cuda --dummy tiny >/dev/null 2>&1; then
	failing "no usable GPU" "$T/i8.bale" --tasks "$T/tasks.jsonl" --device cuda
fi
printf 'a' >"$T/one.txt"
failing "needs at least 2" "$T/f32.bale" --text "$T/one.txt"

echo "test_eval_cli: $pass passed, $fails failed"
[ $fails -eq 0 ]
