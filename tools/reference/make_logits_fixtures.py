#!/usr/bin/env python3
"""Writes tiny random transformers models and their reference logits under tests/data/logits.

Each model directory holds a float32 Hugging Face checkpoint (save_pretrained, safetensors), the
small byte-level BPE tokenizer of tests/data/hf/qwen3-f32 (`bale convert` requires one; logits do
not depend on it), and for each fixed token-id sequence the float32 logits of every position as
computed by transformers on the CPU: logits_<k>.f32 = [len(ids)][vocab] little-endian, listed with
the ids in logits.json. tests/test_model_logits.c converts each model with every weight recipe and
compares the runtime's logits against these.

Models (hidden 64, 2 layers, 4 query / 2 kv heads of 16, so GQA is exercised):
  qwen3-yarn    Qwen3 (q/k norm) with YaRN ×4 over an original context of 32 and DeepSeek's key
                spelling `attn_factor`, which transformers ignores (it only knows
                `attention_factor`); the runtime's default YaRN mode must match this. One sequence
                is 48 tokens, longer than the original context.
  qwen2-tied    Qwen2 (q/k/v biases) with tied embeddings (no lm_head tensor).
  llama-llama3  Llama with llama3 rope scaling.

Weights are re-drawn from a seeded generator with unit-scale fan-in init (norm weights around 1,
biases around 0.1) so logits are far from uniform and errors are visible.

Usage (from the repository root; output is deterministic for a given torch version):
    python3 tools/reference/make_logits_fixtures.py --out tests/data/logits
"""

import argparse
import json
import math
import os
import shutil

import numpy as np
import torch
import transformers

SEED = 20250601
VOCAB = 320
COMMON = dict(
    vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, hidden_act="silu", bos_token_id=300,
    eos_token_id=302, attention_dropout=0.0, use_cache=True)

MODELS = {
    "qwen3-yarn": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM, dict(
        max_position_embeddings=128, tie_word_embeddings=False, attention_bias=False, rope_theta=1000000.0,
        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32,
                      "attn_factor": 0.8782488562869419})),
    "qwen2-tied": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM, dict(
        max_position_embeddings=128, tie_word_embeddings=True, rope_theta=10000.0)),
    "llama-llama3": (transformers.LlamaConfig, transformers.LlamaForCausalLM, dict(
        max_position_embeddings=128, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
        rope_theta=10000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 32})),
}

SEQ_LENS = [48, 7]


def reinit(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default="tests/data/hf/qwen3-f32",
                    help="directory with tokenizer.json and tokenizer_config.json to copy")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    for name, (cfg_cls, model_cls, extra) in MODELS.items():
        gen = torch.Generator().manual_seed(SEED + len(name))
        cfg = cfg_cls(**COMMON, **extra)
        model = model_cls(cfg).to(torch.float32).eval()
        reinit(model, gen)
        if cfg.tie_word_embeddings:
            assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
        out = os.path.join(args.out, name)
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.makedirs(out)
        model.save_pretrained(out, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(args.tokenizer, f), os.path.join(out, f))

        # Reload from disk so the logits come from exactly what was saved (and the saved config).
        model = model_cls.from_pretrained(out, torch_dtype=torch.float32).eval()
        scaling = float(model.model.rotary_emb.attention_scaling)
        if name == "qwen3-yarn":
            # transformers must have ignored `attn_factor` (else this fixture tests nothing).
            assert abs(scaling - (0.1 * math.log(4.0) + 1.0)) < 1e-9, scaling
        seqs = []
        rng = np.random.default_rng(SEED + len(name))
        for k, n in enumerate(SEQ_LENS):
            ids = [int(v) for v in rng.integers(0, VOCAB, size=n)]
            with torch.no_grad():
                logits = model(torch.tensor([ids]), use_cache=False).logits[0].to(torch.float32).numpy()
            assert logits.shape == (n, VOCAB) and np.isfinite(logits).all() and np.abs(logits).max() > 1.0
            fname = f"logits_{k}.f32"
            logits.astype("<f4").tofile(os.path.join(out, fname))
            seqs.append({"file": fname, "ids": ids})
        manifest = {
            "model": name,
            "architecture": cfg.architectures[0] if cfg.architectures else model_cls.__name__,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "rope_attention_scaling": scaling,
            "vocab_size": VOCAB,
            "sequences": seqs,
        }
        with open(os.path.join(out, "logits.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
        print(f"{name}: attention_scaling {scaling:.6f}, {len(seqs)} sequences")


if __name__ == "__main__":
    main()
