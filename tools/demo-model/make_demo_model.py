#!/usr/bin/env python3
"""Builds bale's demo model: a miniature of DeepSeek-R1-0528-Qwen3-8B trained on synthetic arithmetic.

The model reasons inside <think>…</think> and answers with \\boxed{N}, uses the DeepSeek-R1 chat
tokens on a Qwen2-style byte-level BPE, and is a Qwen3ForCausalLM (q/k norms, GQA, SwiGLU,
YaRN ×4 rope, untied lm_head) saved in BF16 like the real checkpoint. Everything comes from the
official packages (tokenizers, transformers, torch) so bale is checked against files it did not
write itself.

Usage (from the repository root; see tools/demo-model/README.md):
    python3 tools/demo-model/make_demo_model.py --out models/demo --threads 2
    python3 tools/demo-model/make_demo_model.py --check-determinism   # data + tokenizer only
"""

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SEED = 20250528
N_TEST = 200
N_TOKENIZER_CORPUS = 4000

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# The template can emit these for tool turns; as single tokens they keep such prompts short.
TOOL_TOKENS = ["<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>",
               "<｜tool▁sep｜>", "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>",
               "<｜tool▁output▁end｜>"]

BPE_VOCAB = 600
VOCAB_PADDED = 640  # embedding rows, padded past the tokenizer like the real checkpoint

# Qwen2's pre-tokenizer split pattern (digits split one by one: good for column arithmetic).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

MODEL = dict(hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, head_dim=48, rms_norm_eps=1e-6, max_position_embeddings=1024,
             tie_word_embeddings=False, hidden_act="silu", attention_bias=False)
ROPE = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256,
        "attention_factor": 0.8782488562869419, "rope_theta": 1000000.0}

COLUMNS = ["units", "tens", "hundreds", "thousands", "ten-thousands"]
NAMES = ["Tom", "Anna", "Sam", "Mia", "Leo", "Ava"]
THINGS = ["apples", "books", "coins", "cards", "stamps", "shells"]

# ---------------------------------------------------------------------------------------------
# Synthetic data


def rand_num(rng, lo_digits, hi_digits):
    """A number whose digit count is uniform in [lo_digits, hi_digits] (so small ones are common)."""
    d = rng.randint(lo_digits, hi_digits)
    return rng.randint(1 if d == 1 else 10 ** (d - 1), 10 ** d - 1)


def digits(n):
    return [int(c) for c in reversed(str(n))]


def think_add(a, b):
    da, db = digits(a), digits(b)
    n = max(len(da), len(db))
    steps, out, carry = [], [], 0
    for i in range(n):
        x = da[i] if i < len(da) else 0
        y = db[i] if i < len(db) else 0
        s = x + y + carry
        expr = f"{COLUMNS[i]} {x}+{y}" + ("+1" if carry else "") + f"={s}"
        if i == n - 1:
            steps.append(expr)
            out.append(str(s)[::-1])
        else:
            carry = s // 10
            steps.append(expr + f" write {s % 10}" + (" carry 1" if carry else ""))
            out.append(str(s % 10))
    return f"{a} + {b}: " + "; ".join(steps) + f". So {a + b}."


def think_sub(a, b):
    da, db = digits(a), digits(b)
    steps, borrow = [], 0
    for i in range(len(da)):
        x, y = da[i], (db[i] if i < len(db) else 0)
        last = i == len(da) - 1
        need = x - borrow < y
        top = x + 10 if need else x
        r = top - borrow - y
        expr = f"{COLUMNS[i]} {top}" + ("-1" if borrow else "") + f"-{y}={r}"
        if need and not last:
            expr += " borrow 1"
        steps.append(expr)
        borrow = 1 if need else 0
    return f"{a} - {b}: " + "; ".join(steps) + f". So {a - b}."


def think_mul(a, b):
    da = digits(a)
    steps, carry = [], 0
    for i, x in enumerate(da):
        p = x * b + carry
        expr = f"{COLUMNS[i]} {x}*{b}" + (f"+{carry}" if carry else "") + f"={p}"
        if i == len(da) - 1:
            steps.append(expr)
        else:
            carry = p // 10
            steps.append(expr + f" write {p % 10}" + (f" carry {carry}" if carry else ""))
    return f"{a} * {b}: " + "; ".join(steps) + f". So {a * b}."


def think_cmp(a, b, want_larger):
    big, small = max(a, b), min(a, b)
    la, lb = len(str(a)), len(str(b))
    head = f"{a} vs {b}: {la} digits vs {lb} digits"
    if la != lb:
        body = f"; {big} has more digits"
    else:
        sa, sb = str(a), str(b)
        parts = []
        for i in range(la):
            col = COLUMNS[la - 1 - i]
            if sa[i] == sb[i]:
                parts.append(f"{col} {sa[i]}={sb[i]}")
            else:
                parts.append(f"{col} {sa[i]}{'>' if sa[i] > sb[i] else '<'}{sb[i]}")
                break
        body = "; " + "; ".join(parts)
    ans = big if want_larger else small
    return head + body + f". {big} > {small}, so the {'larger' if want_larger else 'smaller'} is {ans}.", ans


ADD_T = ["What is {a} plus {b}?", "Add {a} and {b}.",
         "{n} has {a} {t} and gets {b} more. How many {t} does {n} have now?",
         "A shop sold {a} {t} on Monday and {b} on Tuesday. How many {t} did it sell in total?"]
SUB_T = ["What is {a} minus {b}?", "Subtract {b} from {a}.",
         "{n} had {a} {t} and gave away {b}. How many {t} are left?",
         "A box holds {a} {t}. {b} are taken out. How many remain?"]
MUL_T = ["What is {a} times {b}?", "Multiply {a} by {b}.",
         "Each bag holds {a} {t}. How many {t} are in {b} bags?",
         "{n} reads {a} pages a week. How many pages in {b} weeks?"]
CMP_T = [("Which is larger, {a} or {b}?", True), ("Which is smaller, {a} or {b}?", False),
         ("{n} has {a} {t} and Max has {b}. What is the bigger amount?", True),
         ("Which number is less: {a} or {b}?", False)]


def make_problem(rng, op):
    """Returns (key, prompt, reasoning, answer); key identifies the arithmetic, not the wording."""
    n, t = rng.choice(NAMES), rng.choice(THINGS)
    if op == "add":
        a, b = rand_num(rng, 1, 3), rand_num(rng, 1, 3)
        return (op, a, b), rng.choice(ADD_T).format(a=a, b=b, n=n, t=t), think_add(a, b), a + b
    if op == "sub":
        a = rand_num(rng, 1, 3)
        b = rng.randint(0, a)
        return (op, a, b), rng.choice(SUB_T).format(a=a, b=b, n=n, t=t), think_sub(a, b), a - b
    if op == "mul":
        a, b = rand_num(rng, 1, 3), rng.randint(2, 9)
        return (op, a, b), rng.choice(MUL_T).format(a=a, b=b, n=n, t=t), think_mul(a, b), a * b
    a = rand_num(rng, 2, 4)
    if rng.random() < 0.6:
        # Same length with a shared prefix, so the comparison has to walk the columns.
        s = list(str(a))
        k = rng.randint(0, len(s) - 1)
        s[k:] = [str(rng.randint(0 if k else 1, 9))] + [str(rng.randint(0, 9)) for _ in s[k + 1:]]
        b = int("".join(s))
    else:
        b = rand_num(rng, 2, 4)
    if a == b:
        b = a + 1
    tpl, larger = rng.choice(CMP_T)
    think, ans = think_cmp(a, b, larger)
    return ("cmp", a, b, larger), tpl.format(a=a, b=b, n=n, t=t), think, ans


OPS = ["add", "sub", "mul", "cmp"]


def response_text(think, answer):
    return f"{THINK_OPEN}\n{think}\n{THINK_CLOSE}\n\n\\boxed{{{answer}}}"


def test_split():
    rng = random.Random(SEED)
    seen, out = set(), []
    while len(out) < N_TEST:
        key, prompt, _, ans = make_problem(rng, OPS[len(out) % len(OPS)])
        if key in seen:
            continue
        seen.add(key)
        out.append({"prompt": prompt, "answer": str(ans), "key": list(key)})
    return out


def train_stream(seed, test_keys):
    rng = random.Random(seed)
    while True:
        key, prompt, think, ans = make_problem(rng, rng.choice(OPS))
        if key in test_keys:
            continue
        yield prompt, response_text(think, ans)


def prompt_text(prompt):
    """What the chat template renders for one user turn with add_generation_prompt."""
    return f"{BOS}{USER}{prompt}{ASSISTANT}"


# ---------------------------------------------------------------------------------------------
# Tokenizer


def train_tokenizer(test_keys):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    stream = train_stream(SEED + 1, test_keys)
    texts = []
    for _ in range(N_TOKENIZER_CORPUS):
        p, r = next(stream)
        texts.append(p + "\n" + r)
    # A little general text so common English words and punctuation get merges too.
    texts += ["The quick brown fox jumps over the lazy dog.", "Hello, world! How are you today?",
              "Please reason step by step, and put your final answer within \\boxed{}."] * 20
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (BOS, EOS, USER, ASSISTANT)])
    # Qwen3 keeps the think tags non-special: they survive skip_special_tokens decoding.
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in (THINK_OPEN, THINK_CLOSE)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in TOOL_TOKENS])
    return tok


def chat_template():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "tests", "data", "chat", "deepseek_r1_0528.jinja")
    with open(path, encoding="utf-8") as f:
        return f.read()


def save_tokenizer(tok, d):
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=EOS,
                                 clean_up_tokenization_spaces=False, model_max_length=MODEL["max_position_embeddings"])
    hf.chat_template = chat_template()
    hf.save_pretrained(d)
    # The real checkpoint keeps the template inside tokenizer_config.json; do the same.
    cfg_path = os.path.join(d, "tokenizer_config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    cfg["chat_template"] = hf.chat_template
    cfg["add_bos_token"] = False
    cfg["add_eos_token"] = False
    # transformers 5 writes "TokenizersBackend", which 4.x cannot load; this name works in both.
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    jinja = os.path.join(d, "chat_template.jinja")
    if os.path.exists(jinja):
        os.remove(jinja)


# ---------------------------------------------------------------------------------------------
# Model


def build_config(tok):
    from transformers import Qwen3Config
    bos, eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
    assert tok.get_vocab_size() <= VOCAB_PADDED
    return Qwen3Config(vocab_size=VOCAB_PADDED, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos,
                       rope_parameters=dict(ROPE), **MODEL)


def encode_example(tok, prompt, response, eos_id):
    p = tok.encode(prompt_text(prompt), add_special_tokens=False).ids
    r = tok.encode(response, add_special_tokens=False).ids + [eos_id]
    return p, r


def train(tok, test_keys, args):
    import torch
    from transformers import Qwen3ForCausalLM
    torch.manual_seed(SEED)
    cfg = build_config(tok)
    model = Qwen3ForCausalLM(cfg)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params: {n_params:,}", flush=True)
    eos = cfg.eos_token_id
    stream = train_stream(SEED + 2, test_keys)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    warm = min(200, args.steps // 10)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        t = (step - warm) / max(1, args.steps - warm)
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

    t0 = time.time()
    ema = None
    for step in range(args.steps):
        batch = [encode_example(tok, *next(stream), eos) for _ in range(args.batch)]
        L = max(len(p) + len(r) for p, r in batch)
        ids = torch.full((len(batch), L), eos, dtype=torch.long)
        labels = torch.full((len(batch), L), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), L), dtype=torch.long)
        for i, (p, r) in enumerate(batch):
            seq = p + r
            ids[i, :len(seq)] = torch.tensor(seq)
            labels[i, len(p):len(seq)] = torch.tensor(r)  # loss on the answer only
            mask[i, :len(seq)] = 1
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = out.loss.item() if ema is None else 0.98 * ema + 0.02 * out.loss.item()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {ema:.4f}  lr {lr_at(step):.2e}  {time.time() - t0:6.0f}s", flush=True)
    return model, n_params, time.time() - t0


# ---------------------------------------------------------------------------------------------
# Reference fixtures (computed from the saved BF16 weights, run in float32)


def extract_boxed(text):
    i = text.rfind("\\boxed{")
    if i < 0:
        return None
    j = text.find("}", i)
    return text[i + 7:j] if j >= 0 else None


def greedy(model, tokenizer, prompt, max_new):
    import torch
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=max_new,
                             temperature=None, top_p=None, top_k=None)
    new = out[0, ids.shape[1]:].tolist()
    return text, ids[0].tolist(), new, tokenizer.decode(new, skip_special_tokens=False)


def write_reference(hf_dir, ref_dir, tests, max_new):
    import numpy as np
    import torch
    from transformers import AutoTokenizer, Qwen3ForCausalLM
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = Qwen3ForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    model.eval()
    os.makedirs(ref_dir, exist_ok=True)

    # Logits at every position for a few fixed prompts (chat-templated, plus one raw string).
    logit_prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": "What is 427 plus 385?"}], tokenize=False,
                                      add_generation_prompt=True),
        tokenizer.apply_chat_template([{"role": "user", "content": "Which is smaller, 4271 or 4217?"}],
                                      tokenize=False, add_generation_prompt=True) + "<think>\n4271 vs",
        "The quick brown fox jumps over the lazy dog. 12 + 34 = 46",
    ]
    logit_meta = []
    for i, text in enumerate(logit_prompts):
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float().numpy()
        name = f"logits_{i}.npy"
        np.save(os.path.join(ref_dir, name), logits.astype("<f4"))
        logit_meta.append({"text": text, "ids": ids[0].tolist(), "file": name, "shape": list(logits.shape),
                           "argmax": logits.argmax(-1).tolist()})
    with open(os.path.join(ref_dir, "logits.json"), "w", encoding="utf-8") as f:
        json.dump({"dtype": "float32", "layout": "[n_tokens, vocab_size] row-major, .npy",
                   "weights": "hf/model.safetensors (BF16) upcast to float32", "prompts": logit_meta}, f,
                  indent=1, ensure_ascii=False)
        f.write("\n")

    t0 = time.time()
    results, correct = [], 0
    by_op = {}
    for k, ex in enumerate(tests):
        text, pids, new, out_text = greedy(model, tokenizer, ex["prompt"], max_new)
        got = extract_boxed(out_text)
        ok = got == ex["answer"]
        correct += ok
        op = ex["key"][0]
        c, n = by_op.get(op, (0, 0))
        by_op[op] = (c + ok, n + 1)
        results.append({"prompt": ex["prompt"], "answer": ex["answer"], "chat_text": text, "prompt_ids": pids,
                        "output_ids": new, "output_text": out_text, "boxed": got, "correct": ok})
    acc = correct / len(tests)
    with open(os.path.join(ref_dir, "greedy.jsonl"), "w", encoding="utf-8") as f:
        for r in results[:10]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(ref_dir, "accuracy.json"), "w", encoding="utf-8") as f:
        json.dump({"split": "models/demo/test.jsonl", "n": len(tests), "correct": correct, "exact_match": acc,
                   "by_op": {k: {"correct": c, "n": n} for k, (c, n) in sorted(by_op.items())},
                   "decoding": f"transformers generate(do_sample=False, max_new_tokens={max_new}), float32 "
                               "compute on the BF16 weights, one prompt at a time",
                   "failures": [{"prompt": r["prompt"], "answer": r["answer"], "boxed": r["boxed"]}
                                for r in results if not r["correct"]]}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"greedy exact match: {correct}/{len(tests)} = {acc:.3f} "
          f"({', '.join(f'{k} {c}/{n}' for k, (c, n) in sorted(by_op.items()))}) in {time.time() - t0:.0f}s",
          flush=True)
    return acc


# ---------------------------------------------------------------------------------------------


def sha(b):
    return hashlib.sha256(b).hexdigest()


def data_and_tokenizer_digest():
    tests = test_split()
    keys = {tuple(t["key"]) for t in tests}
    stream = train_stream(SEED + 2, keys)
    sample = "\n".join(p + "|" + r for p, r in (next(stream) for _ in range(2000)))
    tok = train_tokenizer(keys)
    return sha(json.dumps(tests).encode()), sha(sample.encode()), sha(tok.to_str().encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/demo", help="output directory (default models/demo)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; on a busy machine 2 can be slower)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-new", type=int, default=120, help="max new tokens in the greedy references")
    ap.add_argument("--eval-limit", type=int, default=0, help="evaluate only the first N test problems")
    ap.add_argument("--check-determinism", action="store_true",
                    help="build the data and tokenizer twice and compare digests, then exit")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    if args.check_determinism:
        a, b = data_and_tokenizer_digest(), data_and_tokenizer_digest()
        for name, x, y in zip(("test split", "train sample", "tokenizer.json"), a, b):
            print(f"{name}: {x[:16]} {'==' if x == y else '!='} {y[:16]}")
        sys.exit(0 if a == b else 1)

    tests = test_split()
    keys = {tuple(t["key"]) for t in tests}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "test.jsonl"), "w", encoding="utf-8") as f:
        for t in tests:
            f.write(json.dumps({"prompt": t["prompt"], "answer": t["answer"]}, ensure_ascii=False) + "\n")

    tok = train_tokenizer(keys)
    print(f"tokenizer: {tok.get_vocab_size()} tokens", flush=True)
    model, n_params, secs = train(tok, keys, args)

    hf_dir = os.path.join(args.out, "hf")
    if os.path.isdir(hf_dir):
        shutil.rmtree(hf_dir)
    model = model.to(torch.bfloat16)
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.6
    model.generation_config.top_p = 0.95
    model.generation_config.top_k = None
    model.generation_config.bos_token_id = model.config.bos_token_id
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.generation_config.pad_token_id = None
    model.save_pretrained(hf_dir, safe_serialization=True)
    save_tokenizer(tok, hf_dir)

    tests_eval = tests[:args.eval_limit] if args.eval_limit else tests
    acc = write_reference(hf_dir, os.path.join(args.out, "reference"), tests_eval, args.max_new)
    with open(os.path.join(args.out, "reference", "training.json"), "w", encoding="utf-8") as f:
        json.dump({"seed": SEED, "steps": args.steps, "batch": args.batch, "lr": args.lr, "threads": args.threads,
                   "params": n_params, "train_seconds": round(secs, 1), "torch": torch.__version__,
                   "command": " ".join(sys.argv)}, f, indent=1)
        f.write("\n")
    print(f"done: {n_params:,} params, trained {secs:.0f}s, accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
