#!/usr/bin/env python3
"""Checks that bale reads the demo model: converts it, inspects it, and compares `bale tokenize`
with the Hugging Face tokenizer on a few prompts (chat-templated ones included).

Usage (from the repository root, after building the `bale` target):
    python3 tools/demo-model/check_bale.py --bale build/bale [--hf models/demo/hf]
Exit status 0 when everything matches.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bale", required=True, help="path to the bale executable")
    ap.add_argument("--hf", default="models/demo/hf")
    ap.add_argument("--test", default="models/demo/test.jsonl")
    args = ap.parse_args()

    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(args.hf)
    texts = [
        "What is 427 plus 385?",
        "Hello, world! How are you today?",
        "  leading spaces,\ttabs,\r\nwindows line ends; I'm sure they'll say it's fine.",
        "Café naïve Straße 中文 🙂 → ≤",
        "<think>\n427 + 385: units 7+5=12 write 2 carry 1.\n</think>\n\n\\boxed{812}",
    ]
    with open(args.test, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= 5:
                break
            p = json.loads(line)["prompt"]
            texts.append(tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                 add_generation_prompt=True))
    texts.append(tok.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 plus 2?"},
         {"role": "assistant", "content": "<think>\n2 + 2: units 2+2=4. So 4.\n</think>\n\n\\boxed{4}"},
         {"role": "user", "content": "And 3 times 3?"}], tokenize=False, add_generation_prompt=True))

    bad = 0
    for text in texts:
        want = tok(text, add_special_tokens=False).input_ids
        r = subprocess.run([args.bale, "tokenize", args.hf, "--json", "--text", text], capture_output=True,
                           text=True)
        got = json.loads(r.stdout) if r.returncode == 0 else None
        ok = got == want
        bad += not ok
        print(f"{'ok  ' if ok else 'DIFF'} {len(want):3d} tokens  {text[:60]!r}")
        if not ok:
            print(f"  hf:   {want}\n  bale: {got} {r.stderr.strip()}")

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "demo.bale")
        for cmd in ([args.bale, "convert", args.hf, "-o", out, "--weights", "int8"], [args.bale, "inspect", out]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            print(f"{'ok  ' if r.returncode == 0 else 'FAIL'} {' '.join(cmd[1:3])}: exit {r.returncode}")
            bad += r.returncode != 0
            if r.returncode:
                print(r.stderr)
    print("all match" if not bad else f"{bad} failures")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
