#!/usr/bin/env bash
# Quick start: install dependencies, build, convert the bundled demo model to INT8 and FP8,
# inspect and verify the results, and ask it questions with `bale run`.
# Works offline (only Debian packages are fetched by tools/setup-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "installing dependencies"
tools/setup-deps.sh

step "building (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
BALE=build/bale
$BALE --version

# The bundled demo model: a 1.9M-parameter Qwen3 trained like a miniature DeepSeek-R1 to reason in
# <think>...</think> and answer arithmetic questions in \boxed{} (made by tools/demo-model/).
MODEL=models/demo/hf
OUT=build/quickstart
mkdir -p "$OUT"

step "converting $MODEL to INT8 and FP8"
$BALE convert "$MODEL" -o "$OUT/demo-int8.bale" --weights int8 --force
$BALE convert "$MODEL" -o "$OUT/demo-fp8.bale" --weights fp8 --force --quiet

step "inspecting $OUT/demo-int8.bale"
$BALE inspect "$OUT/demo-int8.bale" --verify

step "one tensor in detail"
$BALE inspect "$OUT/demo-fp8.bale" --tensor blk.0.ffn_down --stats

step "asking the INT8 model a question (reasoning is dimmed on a terminal)"
$BALE run "$OUT/demo-int8.bale" -p "What is 347 plus 589?" --greedy

step "the same with FP8 weights, sampled with the model's defaults (temperature 0.6, top-p 0.95)"
$BALE run "$OUT/demo-fp8.bale" -p "Multiply 382 by 7." --seed 1

step "done: build/bale is ready. Try: build/bale chat $OUT/demo-int8.bale"
