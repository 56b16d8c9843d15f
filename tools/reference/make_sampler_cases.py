#!/usr/bin/env python3
"""Writes tests/data/sample/cases.jsonl: logits rows filtered by Hugging Face transformers' own
logits processors, the reference for tests/test_sample.c (runtime/sample, smp_probs).

Each case applies, in the order GenerationMixin._get_logits_processor builds them and only when
generate() would add them: RepetitionPenaltyLogitsProcessor (penalty != 1, over `history`),
TemperatureLogitsWarper (!= 1), TopKLogitsWarper (!= 0), TopPLogitsWarper (< 1), MinPLogitsWarper
(given). It records the ids whose logits stay finite and their softmax probabilities.

A case is only kept when the same processors run in float64 keep the same ids, so no case sits
on a boundary that float rounding could move (except the hand-made near-boundary cases, which
are checked to be 1e-4 away from it). Ties at the top-k boundary are deliberate (HF keeps all
ties); top-p cases have no ties among logits, where HF's unstable sort would be ambiguous.

    python3 tools/reference/make_sampler_cases.py --out tests/data/sample/cases.jsonl
"""
import argparse, json, math, os
import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (MinPLogitsWarper, RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)


def processors(c):
    out = []
    if c["repetition_penalty"] != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(float(c["repetition_penalty"])))
    if c["temperature"] != 1.0:
        out.append(TemperatureLogitsWarper(float(c["temperature"])))
    if c["top_k"] != 0:
        out.append(TopKLogitsWarper(top_k=int(c["top_k"])))
    if c["top_p"] < 1.0:
        out.append(TopPLogitsWarper(top_p=float(c["top_p"])))
    if c["min_p"] > 0.0:
        out.append(MinPLogitsWarper(min_p=float(c["min_p"])))
    return out


def run(c, dtype):
    scores = torch.tensor([c["logits"]], dtype=dtype)
    hist = c["history"] if c["history"] else [0]
    ids = torch.tensor([hist], dtype=torch.long)
    for p in processors(c):
        if isinstance(p, RepetitionPenaltyLogitsProcessor) and not c["history"]:
            continue
        scores = p(ids, scores)
    kept = torch.isfinite(scores[0]).nonzero().flatten().tolist()
    probs = torch.softmax(scores[0], dim=-1)
    return kept, probs


def f32(v):
    return float(np.float32(v))


def case(name, logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.0, history=()):
    return {"name": name, "logits": [f32(v) for v in logits], "history": list(history),
            "temperature": f32(temperature), "top_k": top_k, "top_p": f32(top_p), "min_p": f32(min_p),
            "repetition_penalty": f32(repetition_penalty)}


def finish(c):
    kept, probs = run(c, torch.float32)
    kept64, _ = run(c, torch.float64)
    if kept != kept64:
        return None
    c["ids"] = kept
    c["probs"] = [float(probs[i]) for i in kept]
    return c


def num(v):
    """Shortest float32 text; the C test reads it with strtod and rounds to float, as checked here."""
    if math.isinf(v):
        return "null"
    t = repr(np.float32(v))
    t = t[len("np.float32("):-1] if t.startswith("np.float32(") else t
    assert np.float32(float(t)) == np.float32(v), (t, v)
    return t


def dumps(c):
    rest = {k: v for k, v in c.items() if k not in ("logits", "probs")}
    return (json.dumps(rest, separators=(",", ":"))[:-1] + ',"logits":[' + ",".join(num(v) for v in c["logits"]) +
            '],"probs":[' + ",".join(num(v) for v in c["probs"]) + "]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/sample/cases.jsonl")
    a = ap.parse_args()
    rng = np.random.default_rng(20250601)
    cases = []

    def add(make, tries=20):
        for _ in range(tries):
            c = finish(make())
            if c is not None:
                cases.append(c)
                return
        raise SystemExit("no stable case for " + make().get("name"))

    def row(n, scale=3.0, masked=0):
        x = rng.normal(0.0, scale, n)
        for i in rng.choice(n, masked, replace=False):
            x[i] = -math.inf
        return x

    add(lambda: case("temp_only", row(40), temperature=0.7))
    add(lambda: case("top_k5", row(50), top_k=5))
    add(lambda: case("top_k5_temp", row(50), temperature=1.7, top_k=5))
    add(lambda: case("top_p09", row(60), top_p=0.9))
    add(lambda: case("top_p05_cold", row(60), temperature=0.6, top_p=0.5))
    add(lambda: case("min_p01", row(60), min_p=0.1))
    add(lambda: case("min_p_hot", row(60), temperature=2.5, min_p=0.05))
    add(lambda: case("k_p_min", row(64), temperature=1.3, top_k=12, top_p=0.8, min_p=0.05))
    add(lambda: case("all_masked", row(64, masked=20), temperature=0.9, top_k=30, top_p=0.95, min_p=0.02))
    add(lambda: case("k_bigger_than_finite", row(16, masked=12), top_k=8))
    add(lambda: case("rep_penalty", row(48), repetition_penalty=1.3, history=[1, 5, 5, 7, 20, 33, 47, 0]))
    add(lambda: case("rep_reward", row(48), repetition_penalty=0.7, history=[2, 3, 30], top_k=10))
    add(lambda: case("rep_all", row(64), repetition_penalty=1.15, history=list(range(0, 64, 3)), temperature=0.8,
                     top_k=20, top_p=0.9, min_p=0.03))
    # Ties at the top-k boundary: logits on a 0.5 grid, HF keeps every id equal to the k-th value.
    add(lambda: case("topk_ties", np.round(row(80, 1.0) * 2) / 2, top_k=7, temperature=0.8))
    # Larger rows: top-p over thousands of ids (the histogram path), min-p threshold pass.
    add(lambda: case("big_top_p", row(1500, 2.0), top_p=0.95, temperature=0.9))
    add(lambda: case("big_min_p", row(1500, 2.0), min_p=0.2))
    add(lambda: case("big_k_p", row(1500, 2.0), top_k=40, top_p=0.7, temperature=0.6))
    # Near the top-p boundary: probs 0.5, 0.3, 0.15, 0.05 (+ tail); mass before id 2 is 0.8.
    base = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    for p, want in ((0.8001, 3), (0.7999, 2)):
        c = finish(case("top_p_boundary_%s" % p, base, top_p=p))
        assert c is not None and len(c["ids"]) == want, c
        cases.append(c)

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        for c in cases:
            f.write(dumps(c) + "\n")
    print("%d cases, transformers %s, torch %s" % (len(cases), transformers.__version__, torch.__version__))


if __name__ == "__main__":
    main()
