#!/usr/bin/env bash
# Ctrl-C in the middle of a `bale chat` answer: the answer stops, the program stays, the next
# message is answered and /exit ends it with status 0.
#
# The model is a random Qwen3 built here (the tokenizer and template of the qwen3-yarn fixture,
# whose 128-position context is too short for a long answer): 4096 positions, and the rows of the
# special ids in lm_head are zero, so their logit is exactly 0 and never in the top 20 of 300
# random logits — the answer cannot end before --max-tokens. A python driver talks to the process
# through pipes with select() and a deadline for every step, so a hang fails instead of blocking.
set -uo pipefail
TEST_TAG=chatsigint
. "${BALE_SOURCE_DIR:?}/tests/cli/lib.sh"

python3 -c 'import numpy' 2>/dev/null || { echo "SKIP: python3 with numpy is needed to build the model" >&2; exit 77; }

D=$SRC/tests/data/logits/qwen3-yarn
python3 - "$D" "$T/hf" <<'PY' || { echo "FAIL: building the model" >&2; exit 1; }
import json, os, shutil, struct, sys
import numpy as np
src, out = sys.argv[1], sys.argv[2]
hidden, layers, ff, heads, kv = 256, 4, 768, 4, 2
os.makedirs(out)
for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
    shutil.copy(os.path.join(src, f), out)
cfg = json.load(open(os.path.join(src, "config.json")))
hd, vocab = hidden // heads, cfg["vocab_size"]
cfg.update(hidden_size=hidden, num_hidden_layers=layers, intermediate_size=ff, num_attention_heads=heads,
           num_key_value_heads=kv, head_dim=hd, max_position_embeddings=4096,
           layer_types=["full_attention"] * layers, rope_parameters={"rope_theta": 10000.0, "rope_type": "default"})
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
rng = np.random.default_rng(5)
def w(r, c):
    return (rng.standard_normal((r, c)) / np.sqrt(c)).astype(np.float32)
ones = lambda n: np.ones(n, np.float32)
lm = w(vocab, hidden) * 4
lm[300:] = 0  # <|endoftext|>, <|im_end|>, <think>, </think> and padding
t = {"model.embed_tokens.weight": rng.standard_normal((vocab, hidden)).astype(np.float32),
     "model.norm.weight": ones(hidden), "lm_head.weight": lm}
for l in range(layers):
    p = f"model.layers.{l}."
    t.update({p + "input_layernorm.weight": ones(hidden), p + "post_attention_layernorm.weight": ones(hidden),
              p + "self_attn.q_norm.weight": ones(hd), p + "self_attn.k_norm.weight": ones(hd),
              p + "self_attn.q_proj.weight": w(heads * hd, hidden), p + "self_attn.k_proj.weight": w(kv * hd, hidden),
              p + "self_attn.v_proj.weight": w(kv * hd, hidden), p + "self_attn.o_proj.weight": w(hidden, heads * hd),
              p + "mlp.gate_proj.weight": w(ff, hidden), p + "mlp.up_proj.weight": w(ff, hidden),
              p + "mlp.down_proj.weight": w(hidden, ff)})
hdr, off = {}, 0
for k in sorted(t):
    hdr[k] = {"dtype": "F32", "shape": list(t[k].shape), "data_offsets": [off, off + t[k].nbytes]}
    off += t[k].nbytes
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for k in sorted(t):
        f.write(t[k].tobytes())
PY
M=$T/long.bale
"$BALE" convert "$T/hf" -o "$M" --weights int8 --quiet || { echo "FAIL: convert" >&2; exit 1; }

# MAX tokens take seconds here (about 2 s for 800 on one core): long enough that the SIGINT sent
# when the first text shows lands mid-answer even on a loaded machine, short enough for the second
# turn to run to its end (also in an ASan build, several times slower).
MAX=800
python3 - "$BALE" "$M" "$MAX" <<'PY' && ok || bad "chat SIGINT"
import os, re, select, signal, subprocess, sys, time

bale, model, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 60
proc = subprocess.Popen([bale, "chat", model, "--temp", "1", "--top-k", "20", "--seed", "3", "--threads", "1",
                         "--max-tokens", str(max_tokens)],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
out, err = bytearray(), bytearray()
open_fds = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}


def fail(msg):
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    sys.stderr.write(f"FAIL: {msg}\n  exit {proc.returncode}; {len(out)} bytes on stdout; stderr:\n"
                     f"{err.decode(errors='replace')[-2000:]}\n")
    sys.exit(1)


def pump(until, limit, what):
    """Reads both pipes until until() is true; fails after `limit` seconds (or the deadline)."""
    end = min(time.monotonic() + limit, deadline)
    while not until():
        left = end - time.monotonic()
        if left <= 0:
            fail(f"timed out waiting for {what}")
        if not open_fds:
            fail(f"bale closed its output while waiting for {what}")
        r, _, _ = select.select(list(open_fds), [], [], min(left, 0.2))
        for fd in r:
            b = os.read(fd, 65536)
            if b:
                open_fds[fd].extend(b)
            else:
                del open_fds[fd]


def stats():
    return [l for l in err.decode(errors="replace").splitlines() if l.startswith("bale chat: prompt ")]


proc.stdin.write(b"Tell me a very long story.\n")
proc.stdin.flush()
pump(lambda: len(out) > 0, 40, "the first answer text")
os.kill(proc.pid, signal.SIGINT)
pump(lambda: len(stats()) >= 1, 20, "the stats line of the cancelled answer")
if proc.poll() is not None:
    fail("bale exited after the SIGINT")
s1 = stats()[0]
m = re.search(r"generated (\d+) tokens.*stop: (.*)$", s1)
if not m or m.group(2) != "cancelled" or int(m.group(1)) >= max_tokens:
    fail(f"the first answer was not cancelled: {s1}")
n_first = int(m.group(1))
# the cancelled turn writes nothing more (its final newline comes before the stats line)
n_cut = len(out)
quiet_end = time.monotonic() + 1.0
pump(lambda: time.monotonic() >= quiet_end, 5, "a second of silence")
if len(out) != n_cut:
    fail(f"{len(out) - n_cut} more bytes on stdout after the cancelled answer ended")
if proc.poll() is not None:
    fail("bale exited after the cancelled answer")

proc.stdin.write(b"And another one?\n/exit\n")
proc.stdin.flush()
proc.stdin.close()
pump(lambda: len(stats()) >= 2, 50, "the second answer")
s2 = stats()[1]
m = re.search(r"\((\d+) cached\), generated (\d+) tokens.*stop: (.*)$", s2)
if not m or int(m.group(1)) == 0 or int(m.group(2)) != max_tokens or m.group(3) != "max tokens":
    fail(f"the second answer should reuse the cache and run to --max-tokens: {s2}")
if len(out) <= n_cut:
    fail("the second answer printed nothing")
pump(lambda: not open_fds, 10, "the end of output after /exit")
try:
    rc = proc.wait(timeout=max(1.0, min(10.0, deadline - time.monotonic())))
except subprocess.TimeoutExpired:
    fail("bale did not exit after /exit")
if rc != 0:
    fail(f"exit status {rc}, wanted 0")
extra = [l for l in err.decode(errors="replace").splitlines() if l.strip() and not l.startswith("bale chat: prompt ")]
if extra or len(stats()) != 2:
    fail(f"unexpected stderr: {extra}")
print(f"chat SIGINT: cancelled after {n_first} tokens, second answer "
      f"{max_tokens} tokens, {len(out)} bytes of answers")
PY

echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
