#!/usr/bin/env bash
# Quick start: install dependencies, build, convert a small bundled Qwen3 model to INT8 and FP8,
# inspect and verify the results, and tokenize a prompt with the embedded tokenizer.
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

# A tiny random Qwen3 checkpoint made with transformers' save_pretrained (tools/reference/make_hf_fixtures.py).
# The trained demo model (models/demo) replaces it once it exists.
MODEL=tests/data/hf/qwen3-bf16
OUT=build/quickstart
mkdir -p "$OUT"

step "converting $MODEL to INT8 and FP8"
$BALE convert "$MODEL" -o "$OUT/model-int8.bale" --weights int8 --force
$BALE convert "$MODEL" -o "$OUT/model-fp8.bale" --weights fp8 --force

step "inspecting $OUT/model-int8.bale"
$BALE inspect "$OUT/model-int8.bale" --verify

step "one tensor in detail"
$BALE inspect "$OUT/model-fp8.bale" --tensor blk.0.attn_q --stats

step "tokenizing with the embedded tokenizer"
$BALE tokenize "$OUT/model-int8.bale" --text "Hello from bale!"

step "done: build/bale is ready (see README.md)"
