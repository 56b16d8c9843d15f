#!/usr/bin/env bash
# `bale inspect` as a user runs it: output content, JSON, --verify on good and corrupted files,
# --tensor --stats, --extract, and exit codes 0/1/2 with messages that name the problem.
set -uo pipefail
TEST_TAG=inspect
. "${BALE_SOURCE_DIR:?}/tests/cli/lib.sh"

M=$T/m.bale
expect_rc 0 "convert fixture" "$BALE" convert "$SRC/tests/data/hf/qwen3-bf16" -o "$M" --weights int8 --quiet

# Human-readable summary
expect_rc 0 "inspect summary" "$BALE" inspect "$M"
contains "$T/out" '^format: +bale 1\.0, alignment 4096' "header line"
contains "$T/out" '^model: +qwen3, 2 layers, d_model 64, 4 heads \(2 kv, head_dim 16\)' "model line"
contains "$T/out" 'rope\.type +STR +"yarn"' "rope metadata"
contains "$T/out" 'blk\.0\.attn_q +I8/row +\[64, 64\]' "tensor row"
contains "$T/out" 'tok_embd +I8/row +\[320, 64\]' "embedding row"
contains "$T/out" '^  I8/row +16 tensors' "totals by type"
contains "$T/out" 'KV cache per 1K tokens: 256.00 KiB \(BF16\), 160.00 KiB \(FP8\)' "KV estimate (2 layers x 2 kv x 16 x 2 x 1024; FP8 half + f32 scale per token, layer, K/V, kv head)"
contains "$T/out" 'tokenizer\.json +8772 bytes' "embedded files"

# JSON is valid and consistent with the file
expect_rc 0 "inspect --json" "$BALE" inspect "$M" --json
if python3 - "$T/out" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["valid"] is True
assert j["header"]["version"] == "1.0"
assert j["metadata"]["model.n_layers"] == 2
names = [t["name"] for t in j["tensors"]]
assert "blk.1.ffn_down" in names and len(names) == len(set(names)) == 25
assert j["memory"]["kv_bf16_bytes_per_1k_tokens"] == 2 * 2 * 2 * 16 * 2 * 1024
assert sum(t["bytes"] for t in j["tensors"]) == j["memory"]["weight_bytes"]
assert {f["name"] for f in j["files"]} >= {"config.json", "tokenizer.json"}
PY
then ok; else bad "inspect --json content"; fi

# --verify passes, then fails on one flipped byte in a tensor, naming that tensor
expect_rc 0 "verify good file" "$BALE" inspect "$M" --verify --quiet
contains "$T/out" '^verify: OK' "verify OK line"
off=$("$BALE" inspect "$M" --json | python3 -c 'import json,sys; t=[t for t in json.load(sys.stdin)["tensors"] if t["name"]=="blk.1.ffn_up"][0]; print(t["offset"]+7)')
cp "$M" "$T/flip.bale"
printf '\x55' | dd of="$T/flip.bale" bs=1 seek="$off" conv=notrunc status=none
expect_rc 1 "verify flipped byte" "$BALE" inspect "$T/flip.bale" --verify --quiet
contains "$T/err" "blk\.1\.ffn_up" "verify names the bad tensor"
contains "$T/err" "FMT_E_CHECKSUM" "verify status"
expect_rc 1 "verify --json flipped" "$BALE" inspect "$T/flip.bale" --verify --json --quiet
if python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["verify"]; assert v["ok"] is False and v["bad"]>=1' "$T/out"; then ok; else bad "verify json"; fi

# One tensor with statistics
expect_rc 0 "tensor stats" "$BALE" inspect "$M" --tensor blk.0.ffn_gate --stats
contains "$T/out" '^type: +I8/row' "tensor type"
contains "$T/out" 'quantization error \(stored\): rmse' "stored error"
contains "$T/out" '^dequantized: min -?[0-9.e-]+ +max [0-9.e-]+' "stats line"
[ "$(grep -c ' | ' "$T/out")" -eq 20 ] && ok || bad "histogram has 20 bins"
expect_rc 0 "tensor stats json" "$BALE" inspect "$M" --tensor blk.0.ffn_gate --stats --json
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["tensor"]["stats"]; assert s["count"]==128*64 and sum(s["histogram"])==s["count"] and s["min"]<0<s["max"]' "$T/out" && ok || bad "stats json"
expect_rc 1 "unknown tensor" "$BALE" inspect "$M" --tensor nope
contains "$T/err" "no tensor named 'nope'" "unknown tensor message"

# Extract embedded originals byte-exactly
expect_rc 0 "extract config" "$BALE" inspect "$M" --extract config.json -o "$T/config.json"
cmp -s "$T/config.json" "$SRC/tests/data/hf/qwen3-bf16/config.json" && ok || bad "extracted config.json differs"
"$BALE" inspect "$M" --extract tokenizer.json | cmp -s - "$SRC/tests/data/hf/qwen3-bf16/tokenizer.json" && ok || bad "extract to stdout"
expect_rc 1 "extract missing" "$BALE" inspect "$M" --extract passwd
contains "$T/err" "no embedded file named 'passwd'" "extract message"

# Bad files: clear message, exit 1, never a crash
printf 'not a bale file at all, just text...' >"$T/text.bale"
expect_rc 1 "text file" "$BALE" inspect "$T/text.bale"
contains "$T/err" "FMT_E_(MAGIC|TRUNCATED)" "text file status"
head -c 100 "$M" >"$T/trunc.bale"
expect_rc 1 "truncated file" "$BALE" inspect "$T/trunc.bale"
contains "$T/err" "FMT_E_TRUNCATED" "truncated status"
head -c 150000 "$M" >"$T/trunc2.bale"
expect_rc 1 "file cut in the data" "$BALE" inspect "$T/trunc2.bale"
cp "$M" "$T/hdr.bale"
printf '\x01' | dd of="$T/hdr.bale" bs=1 seek=100 conv=notrunc status=none
expect_rc 1 "header bit flip" "$BALE" inspect "$T/hdr.bale"
contains "$T/err" "FMT_E_(CHECKSUM|CORRUPT)" "header flip status"
expect_rc 1 "missing file" "$BALE" inspect "$T/does-not-exist.bale"
contains "$T/err" "does-not-exist.bale" "missing file named"
expect_rc 1 "directory" "$BALE" inspect "$T"
expect_rc 1 "bad file --json" "$BALE" inspect "$T/trunc.bale" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["valid"] is False and j["status"]=="FMT_E_TRUNCATED"' "$T/out" && ok || bad "bad file json"

# Usage errors: exit 2
expect_rc 2 "no file" "$BALE" inspect
expect_rc 2 "unknown option" "$BALE" inspect "$M" --frobnicate
expect_rc 2 "stats without tensor" "$BALE" inspect "$M" --stats
expect_rc 2 "bad threads" "$BALE" inspect "$M" --verify --threads many
expect_rc 0 "help" "$BALE" inspect --help
contains "$T/out" "usage: bale inspect" "help text"
expect_rc 0 "bale help inspect" "$BALE" help inspect
expect_rc 2 "unknown command" "$BALE" frobnicate
expect_rc 2 "no command" "$BALE"
expect_rc 0 "version" "$BALE" --version
contains "$T/out" '^bale [0-9]+\.[0-9]+\.[0-9]+' "version text"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
