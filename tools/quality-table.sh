#!/usr/bin/env bash
# Quantization quality table of the demo model (models/demo, tools/demo-model/README.md):
# converts models/demo/hf to each weight recipe, then per recipe
#   - perplexity of a held-out text (test-split prompts + reference solutions, raw, no template)
#     and KL divergence / top-1 agreement against the BF16 file (`bale eval --text --ref`),
#   - exact-match accuracy on models/demo/test.jsonl, greedy and 4 samples per task at the
#     model's default sampling settings (`bale eval --tasks [--samples 4]`),
#   - decode speed (`bale bench`),
# and prints a markdown table on stdout. Per-run JSON stays in $WORK.
#
# usage: tools/quality-table.sh [BALE]          (default build/bale; run from the repository root)
# env:   RECIPES="bf16 int8 ..." (bf16 first: the KL reference), WORK=dir (default ${TMPDIR:-/tmp}/bale-quality), PARALLEL=N (default: all cores),
#        MAX_TOKENS=N (default 120, the transformers reference's max_new_tokens),
#        YARN=transformers|vllm|explicit (default explicit, see below), LIMIT=N tasks
set -euo pipefail
BALE=${1:-build/bale}
DEMO=models/demo
WORK=${WORK:-${TMPDIR:-/tmp}/bale-quality}
PARALLEL=${PARALLEL:-$(nproc)}
MAX_TOKENS=${MAX_TOKENS:-120}
# int8-g128 does not apply to the demo model: its d_model 192 is not a multiple of 128 (only
# ffn_down rows would divide), so the group-wise row uses groups of 64 (override: RECIPES="...").
read -r -a RECIPES <<<"${RECIPES:-bf16 int8 int8-g64 fp8}"
[ -x "$BALE" ] || { echo "quality-table: $BALE is not executable (build the bale target first)" >&2; exit 1; }
[ -d "$DEMO/hf" ] && [ -f "$DEMO/test.jsonl" ] ||
	{ echo "quality-table: $DEMO/hf or $DEMO/test.jsonl missing (tools/demo-model/README.md)" >&2; exit 1; }
mkdir -p "$WORK"
# YARN=transformers|vllm|explicit overrides bale's YaRN mode; the default follows the file (the
# demo config's `attention_factor` is the scale itself in every mode, as in transformers).
extra=()
[ -n "${YARN:-}" ] && extra+=(--yarn-mode "$YARN")
limit=()
[ -n "${LIMIT:-}" ] && limit+=(--limit "$LIMIT")
run=(--parallel "$PARALLEL" --threads "$PARALLEL" -q --json "${extra[@]}")

# The held-out text: each test problem as the conversation the model was trained on (BOS, user
# turn, assistant turn with the generator's column-by-column reasoning and \boxed{} answer, EOS;
# special tokens written as text, which the tokenizer parses), so perplexity and KL measure the
# task distribution on problems the model never saw. The prompts were never a training target,
# so they dominate the perplexity.
TEXT=$DEMO/heldout.txt
if [ ! -f "$TEXT" ]; then
	python3 - "$TEXT" <<'PY'
import json, sys
sys.path.insert(0, "tools/demo-model")
import make_demo_model as d
parts = []
for ex in d.test_split():
    op, a, b = ex["key"][:3]
    if op == "cmp":
        think, ans = d.think_cmp(a, b, ex["key"][3])
    else:
        think = {"add": d.think_add, "sub": d.think_sub, "mul": d.think_mul}[op](a, b)
        ans = {"add": a + b, "sub": a - b, "mul": a * b}[op]
    assert str(ans) == ex["answer"], ex
    parts.append(d.prompt_text(ex["prompt"]) + d.response_text(think, ans) + d.EOS)
open(sys.argv[1], "w", encoding="utf-8").write("".join(parts))
PY
fi

for r in "${RECIPES[@]}"; do
	echo "quality-table: $r" >&2
	"$BALE" convert "$DEMO/hf" -o "$WORK/$r.bale" --weights "$r" -f -q
	"$BALE" eval "$WORK/$r.bale" --text "$TEXT" --ref "$WORK/bf16.bale" "${run[@]}" >"$WORK/$r.text.json"
	"$BALE" eval "$WORK/$r.bale" --tasks "$DEMO/test.jsonl" --max-tokens "$MAX_TOKENS" "${limit[@]}" "${run[@]}" \
		>"$WORK/$r.greedy.json"
	"$BALE" eval "$WORK/$r.bale" --tasks "$DEMO/test.jsonl" --samples 4 --seed 0 --max-tokens "$MAX_TOKENS" \
		"${limit[@]}" "${run[@]}" >"$WORK/$r.sampled.json"
	"$BALE" bench "$WORK/$r.bale" -p 128 -n 128 --json --copy-size 256M 2>/dev/null >"$WORK/$r.bench.json"
done

python3 - "$WORK" "${RECIPES[@]}" <<'PY'
import json, os, sys
work, recipes = sys.argv[1], sys.argv[2:]
def load(r, k):
    return json.load(open(os.path.join(work, f"{r}.{k}.json")))
print("| recipe | file size | PPL | KL vs BF16 (mean / p99 / max) | top-1 % | accuracy greedy | accuracy sampled (4) | decode tok/s |")
print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
for r in recipes:
    t, g, s, b = load(r, "text"), load(r, "greedy"), load(r, "sampled"), load(r, "bench")
    size = os.path.getsize(os.path.join(work, f"{r}.bale")) / 2**20
    kl = t["kl"]
    kls = "0 (reference)" if r == "bf16" else f"{kl['mean']:.2e} / {kl['p99']:.2e} / {kl['max']:.2e}"
    print(f"| {r} | {size:.2f} MiB | {t['ppl']:.4f} | {kls} | {t['top1_pct']:.2f} | "
          f"{g['accuracy']:.1f} % ({g['correct']}/{g['tasks']}) | {s['accuracy']:.1f} % | {b['decode_tok_s']:.0f} |")
t = load(recipes[0], "text")
print(f"\nText: {t['tokens']} tokens, {t['windows']} windows of {t['ctx']} (stride {t['stride']}).")
PY
