#!/usr/bin/env bash
# The GPU memory plan from the command line: `bale run --dry-run` (GPU and CPU plans), requests
# that cannot fit and their suggestion, `--device cuda` without a usable GPU (or running on one),
# bad --device/--vram values, and the plan table of `bale inspect`. Runs on machines without a GPU.
set -uo pipefail
TEST_TAG=plancli
. "${BALE_SOURCE_DIR:?}/tests/cli/lib.sh"

# tiny Qwen3: 2 layers, 2 kv heads, head_dim 16, d_model 64, d_ff 128, vocab 320, max_ctx 256
M=$T/m.bale
expect_rc 0 "convert fixture" "$BALE" convert "$SRC/tests/data/hf/qwen3-bf16" -o "$M" --weights int8 --quiet

# ---- GPU plan, dry run: prints the plan, exits 0, reads no prompt ----
expect_rc 0 "dry-run cuda" "$BALE" run "$M" --dry-run --device cuda --vram 1G --ctx 200
contains "$T/out" '^plan: .*m\.bale on cuda' "plan header"
contains "$T/out" 'budget +1\.00 GiB' "budget from --vram"
# 200 positions → 13 pages of 16 tokens; BF16 page = 16 × 2 layers × 2 (K,V) × 2 kv × 16 × 2 B = 4 KiB
contains "$T/out" 'context +200 positions x 1 sequence, BF16 KV in pages of 16 tokens \(13 pages\)' "context line"
contains "$T/out" 'KV cache +52\.00 KiB \(4\.00 KiB per page\)' "KV size"
contains "$T/out" 'embedding table kept in host memory' "embedding on host"
contains "$T/out" 'reserve +512\.00 MiB' "reserve"
contains "$T/out" 'total .* of 1\.00 GiB budget: fits' "fits"
contains "$T/out" 'max context +256 \(BF16 KV\), 256 \(FP8 KV\)' "max context capped at the model"
[ -s "$T/err" ] && bad "dry-run wrote to stderr: $(cat "$T/err")" || ok

# --embed-on-device: the table is planned on the GPU instead
expect_rc 0 "dry-run cuda embed on device" "$BALE" run "$M" --dry-run --device cuda --vram 1G --ctx 200 --embed-on-device
grep -q 'kept in host memory' "$T/out" && bad "--embed-on-device still plans the table in host memory" || ok
contains "$T/out" 'weights ' "weights line with the table on the device"

# FP8 KV: half the bytes plus one f32 scale per (token, layer, K/V, kv head): 2 × 2 × 2 × (16 + 4) =
# 160 B per token; 16 pages of 2 KiB codes + 512 B scales
expect_rc 0 "dry-run cuda fp8" "$BALE" run "$M" --dry-run --device cuda --vram 1G --ctx 256 --kv fp8
contains "$T/out" 'KV cache +40\.00 KiB \(2\.50 KiB per page; 8\.00 KiB of FP8 scales\)' "FP8 KV size"

# impossible: the reserve alone is 512 MiB
expect_rc 1 "impossible request" "$BALE" run "$M" --dry-run --device cuda --vram 512M
contains "$T/out" 'does NOT fit' "plan still printed"
contains "$T/err" 'ctx 256 with BF16 KV needs 512\.[0-9]+ MiB > budget 512\.00 MiB \(--vram\)' "what it needs"
contains "$T/err" 'fits with --vram 1G' "the suggestion"

# the context the model allows
expect_rc 1 "ctx over the model" "$BALE" run "$M" --dry-run --device cuda --ctx 300
contains "$T/err" 'larger than the model.s maximum \(model\.max_ctx 256\)' "ctx message"

# ---- CPU plan ----
expect_rc 0 "dry-run cpu" "$BALE" run "$M" --dry-run --ctx 128 --kv bf16
contains "$T/out" 'on cpu' "cpu header"
contains "$T/out" 'context +128 positions, BF16 KV' "cpu context"
contains "$T/out" 'weights +[0-9.]+ KiB mapped from the file' "cpu weights"

# ---- --device cuda without --dry-run: runs on a usable GPU, else exit 1 with kn_cuda's reason ----
"$BALE" run "$M" --dry-run --device cuda >"$T/probe" 2>&1
if grep -q 'none usable here' "$T/probe"; then
	expect_rc 1 "run --device cuda" "$BALE" run "$M" --device cuda -p hi
	contains "$T/err" 'device cuda: no usable GPU: .{8,}' "run: the reason"
	expect_rc 1 "chat --device cuda" "$BALE" chat "$M" --device cuda
	contains "$T/err" 'device cuda: no usable GPU: .{8,}' "chat: the reason"
	expect_rc 1 "bench --device cuda" "$BALE" bench --dummy tiny --device cuda --vram 24GiB
	contains "$T/err" 'device cuda: no usable GPU: .{8,}' "bench: the reason"
	grep -q 'not implemented' "$T/err" && bad "stale 'not implemented' message" || ok
else
	expect_rc 0 "run --device cuda on this GPU" "$BALE" run "$M" --device cuda -p hi --max-tokens 2
	contains "$T/err" 'loaded .* GB onto .* GB/s\), verified' "the load line"
fi
# a plan that cannot fit stops before anything is loaded (the reserve alone is 512 MiB)
expect_rc 1 "run --device cuda that cannot fit" "$BALE" run "$M" --device cuda --vram 512M -p hi
contains "$T/err" '(no usable GPU|fits with --vram 1G)' "no GPU, or the suggestion"

# ---- usage errors: exit 2 ----
for v in 0 abc -1 12X 1.5.G '' 10Q 2000T; do
	expect_rc 2 "--vram '$v'" "$BALE" run "$M" --dry-run --device cuda --vram "$v"
	contains "$T/err" '--vram: ' "--vram '$v' message"
done
for v in 24GiB 600M 1.5G 40GB 1T; do
	expect_rc 0 "--vram $v" "$BALE" run "$M" --dry-run --device cuda --vram "$v"
done
expect_rc 2 "--device gpu" "$BALE" run "$M" --dry-run --device gpu
contains "$T/err" "'gpu' is not cpu or cuda" "--device message"
expect_rc 2 "--vram without value" "$BALE" run "$M" --dry-run --vram
expect_rc 0 "--kv fp8 on cpu" "$BALE" run "$M" --dry-run --kv fp8
contains "$T/out" 'context +[0-9]+ positions, FP8 KV' "cpu plan with an FP8 KV cache"
expect_rc 2 "--kv f32 on cuda" "$BALE" run "$M" --dry-run --device cuda --kv f32
expect_rc 2 "bench --vram bad" "$BALE" bench --dummy tiny --vram lots

# ---- inspect: the planner's table ----
expect_rc 0 "inspect" "$BALE" inspect "$M"
contains "$T/out" '^GPU memory plan \(budget 40\.00 GiB' "inspect plan title"
contains "$T/out" 'KV cache per 1K tokens: 256\.00 KiB \(BF16\), 160\.00 KiB \(FP8\)' "inspect KV per 1K"
contains "$T/out" '^ +256 +64\.00 KiB .* yes +40\.00 KiB .* yes$' "inspect row at the model's max_ctx"
expect_rc 0 "inspect --json" "$BALE" inspect "$M" --json
python3 - "$T/out" <<'PY' && ok || bad "inspect json plan"
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
assert m["kv_bf16_bytes_per_1k_tokens"] == 2 * 2 * 2 * 16 * 2 * 1024
assert m["kv_fp8_bytes_per_1k_tokens"] == 2 * 2 * 2 * (16 + 4) * 1024
g = m["gpu_plan"]
assert g["budget_bytes"] == 40 << 30 and g["embed_on_host"] is True
assert g["device_weight_bytes"] + g["host_embedding_bytes"] < m["weight_bytes"] + 256 * 25
assert g["host_embedding_bytes"] == m["embedding_bytes"] > 0
assert g["max_ctx_bf16"] == g["max_ctx_fp8"] == 256 and g["budget_max_ctx_fp8"] > g["budget_max_ctx_bf16"] > 256
assert [r["ctx"] for r in g["contexts"]] == [256]
r = g["contexts"][0]
assert r["bf16"]["kv_bytes"] == 256 * 256 and r["fp8"]["kv_bytes"] == 256 * (128 + 32)
assert r["bf16"]["fits"] and r["bf16"]["total_bytes"] > r["fp8"]["total_bytes"]
PY

echo "test_plan_cli: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
