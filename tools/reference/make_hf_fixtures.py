#!/usr/bin/env python3
"""Writes the tiny Hugging Face checkpoints under tests/data/hf and the expected .bale contents.

Everything here comes from the official Python packages (transformers, tokenizers, safetensors)
so that the C converter is tested against files it did not write itself, and the expected codes
and scales are recomputed in numpy from formats/SPEC.md §6.4 without any code shared with the
converter (the E4M3 encoder enumerates the 127 finite non-negative values and picks the nearest).

Usage (from the repository root; output is deterministic):
    python3 tools/reference/make_hf_fixtures.py --out tests/data/hf
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SEED = 20250528
N_LAYERS = 2
D_MODEL = 64
N_HEADS = 4
N_KV_HEADS = 2
HEAD_DIM = 16
D_FF = 128
NORM_EPS = 1e-6
ROPE_THETA = 1000000.0
YARN_FACTOR = 4.0
YARN_ORIG_CTX = 64
# DeepSeek-R1-0528-Qwen3-8B spells it `attn_factor` (vLLM's key), not transformers' `attention_factor`.
YARN_ATTN_FACTOR = 0.8782488562869419
TRANSFORMERS_4_VERSION = "4.51.0"

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# Qwen2's pre-tokenizer split pattern (the same string Qwen's tokenizer.json carries).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}")

RECIPES = ["int8", "int8-g32", "fp8", "bf16"]
# Tensors whose quantized blobs are stored; the vocabulary-sized ones only for some recipes, to
# keep the committed data small.
EXPECT_TENSORS = {
    "blk.0.attn_q": RECIPES,
    "blk.1.ffn_down": RECIPES,
    "tok_embd": ["int8", "fp8", "bf16"],
    "output": ["int8"],
}


def corpus():
    """A few KB of mixed text: prose, code, numbers, accents, CJK, emoji, whitespace runs."""
    lines = [
        "The quick brown fox jumps over the lazy dog.",
        "A model converts weights from safetensors into a packed file with int8 and fp8 codes.",
        "Quantization stores one scale per row, or one scale per group of thirty-two values.",
        "Reasoning models think first, then answer: <think> steps </think> final answer.",
        "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
        "for (int i = 0; i < n; i++) {\n\tsum += x[i] * w[i];\n}\n",
        "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 127 448 1024 3.14159 2.71828 -0.5e-3",
        "Café, naïve, façade, jalapeño, Ångström, Straße, œuvre, Øresund.",
        "中文分词测试：模型、量化、推理。日本語のテキストも少し。한국어 문장도 있습니다.",
        "Emoji and symbols: 🙂 🚀 ✓ → ≤ ≥ ∑ π µ € £ ¥",
        "  leading spaces,\ttabs,\r\nwindows line ends, and    runs of   spaces.  ",
        "I'm sure they'll say it's what we've done; you'd think we're right.",
        "<|im_start|>user\nWhat is 17 times 23?<|im_end|>\n<|im_start|>assistant\n391<|im_end|>",
        "Attention uses queries, keys and values; grouped-query attention shares key heads.",
        "The rotary embedding rotates pairs of dimensions by an angle that grows with position.",
        "Layer norm, RMS norm, SwiGLU feed-forward, residual connections, and a final projection.",
    ]
    return [(line + " ") * 3 for line in lines] * 4


def build_tokenizer(work):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers import AddedToken

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=300, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(corpus(), trainer=trainer)
    # Like Qwen: the special tokens are added tokens after the BPE vocabulary.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    path = os.path.join(work, "tokenizer.json")
    tok.save(path)
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    added = {}
    for t in SPECIAL_TOKENS:
        added[str(ids[t])] = {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                              "single_word": False, "special": True}
    tcfg = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 256,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    with open(os.path.join(work, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    return ids, n_tokens


# ---------------------------------------------------------------------------------------------
# Weights


def name_seed(arch, name):
    return (SEED * 1000003 + zlib.crc32(f"{arch}:{name}".encode())) & 0xFFFFFFFF


def master_value(arch, name, shape, n_tokens):
    """fp32 master weights: normal(0, 0.02) with rare outliers; norms 1 + noise; biases small."""
    rng = np.random.default_rng(name_seed(arch, name))
    if name.endswith("norm.weight"):
        return (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    if name.endswith(".bias"):
        return (0.05 * rng.standard_normal(shape)).astype(np.float32)
    w = 0.02 * rng.standard_normal(shape)
    mask = rng.random(shape) < 0.002
    w[mask] *= rng.uniform(8.0, 25.0, size=int(mask.sum()))
    w = w.astype(np.float32)
    if name in ("model.embed_tokens.weight", "lm_head.weight"):
        # Padding rows past the tokenizer: two are exactly zero (scale-0 path of §6.4).
        w[n_tokens] = 0.0
        w[-1] = 0.0
    if name == "model.layers.0.self_attn.q_proj.weight":
        craft_tie_rows(w)
    return w


def craft_tie_rows(w):
    """Rows whose quantization hits exact ties, so rounding direction is tested bit-exactly.

    Row 5: amax = 127/128 gives an int8 scale of exactly 2^-7, so w = k.5/128 divides to k.5.
    Row 6: amax = 0.875 gives an fp8 scale of exactly 2^-9, so w = x·2^-9 with x at E4M3
    midpoints (also in the subnormal range) and at the saturation end."""
    cols = w.shape[1]
    r = np.zeros(cols, dtype=np.float64)
    r[0] = 127.0 / 128.0
    r[32 % cols] = -127.0 / 128.0
    halves = [0.5, 1.5, 2.5, 3.5, 4.5, 63.5, 64.5, 125.5, 126.5, 100.0, 7.0]
    j = 1
    for h in halves:
        for sgn in (1.0, -1.0):
            while j % 32 == 0:
                j += 1
            r[j] = sgn * h / 128.0
            j += 1
    w[5] = r.astype(np.float32)
    x = np.zeros(cols, dtype=np.float64)
    x[0] = 448.0
    # Ties: 1.0625→1, 1.1875→1.25, 17→16, 19→20, 232→224, 248→256, 432→448, 2^-10→0,
    # 3·2^-10→2^-8, 5·2^-10→2^-8; plus near-ties and plain values.
    mids = [1.0625, 1.1875, 17.0, 19.0, 232.0, 248.0, 432.0, 440.0, 2.0 ** -10, 3 * 2.0 ** -10,
            5 * 2.0 ** -10, 2.0 ** -11, 300.0, 0.5, 2.5, 1.0]
    j = 1
    for m in mids:
        for sgn in (1.0, -1.0):
            x[j] = sgn * m
            j += 1
    w[6] = (x * 2.0 ** -9).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Reading back what the writers produced (our own parser, so the reference sees the exact bytes)


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = buf[base + b:base + e]
        shape = tuple(info["shape"])
        dt = info["dtype"]
        if dt == "F32":
            v = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            v = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            v = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: unexpected dtype {dt}")
        out[name] = (dt, v.reshape(shape).copy())
    return out


def read_checkpoint(d):
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    tensors = {}
    for f in files:
        for k, v in read_safetensors(os.path.join(d, f)).items():
            assert k not in tensors, k
            tensors[k] = v
    return tensors


# ---------------------------------------------------------------------------------------------
# SPEC §6.4 in numpy (binary32 throughout)


def e4m3_table():
    vals = []
    for code in range(0x7F):  # 0x7F is NaN
        e, m = code >> 3, code & 7
        vals.append(m * 2.0 ** -9 if e == 0 else (1.0 + m / 8.0) * 2.0 ** (e - 7))
    t = np.array(vals, dtype=np.float64)
    assert np.all(np.diff(t) > 0) and t[-1] == 448.0
    return t


E4M3 = e4m3_table()


def e4m3_encode(x):
    """Nearest E4M3 code to each float32 x; ties to the even code; saturates at ±448."""
    a = np.abs(x.astype(np.float64))
    hi = np.clip(np.searchsorted(E4M3, a), 0, len(E4M3) - 1)
    lo = np.clip(hi - 1, 0, len(E4M3) - 1)
    dlo = np.abs(a - E4M3[lo])
    dhi = np.abs(E4M3[hi] - a)
    code = np.where(dlo < dhi, lo, hi)
    tie = (dlo == dhi) & (lo != hi)
    code = np.where(tie, np.where(lo % 2 == 0, lo, hi), code)
    code = np.where(a >= 448.0, 126, code).astype(np.uint8)
    neg = np.signbit(x)
    return np.where(neg, code | 0x80, code).astype(np.uint8)


def e4m3_decode(codes):
    mag = E4M3[codes & 0x7F].astype(np.float32)
    return np.where(codes & 0x80, -mag, mag).astype(np.float32)


def quant_int8(w, group):
    rows, cols = w.shape
    g = cols if group == 0 else group
    wg = w.reshape(rows, cols // g, g)
    amax = np.max(np.abs(wg), axis=2).astype(np.float32)
    s = (amax / np.float32(127.0)).astype(np.float32)
    safe = np.where(s == 0, np.float32(1.0), s).astype(np.float32)
    q = np.rint((wg / safe[:, :, None]).astype(np.float32))
    q = np.clip(q, -127, 127)
    q = np.where(s[:, :, None] == 0, 0, q).astype(np.int8)
    dq = (q.astype(np.float32) * s[:, :, None]).astype(np.float32)
    return q.reshape(rows, cols), s.reshape(rows, cols // g), dq.reshape(rows, cols)


def quant_fp8(w):
    amax = np.max(np.abs(w), axis=1).astype(np.float32)
    s = (amax / np.float32(448.0)).astype(np.float32)
    safe = np.where(s == 0, np.float32(1.0), s).astype(np.float32)
    x = (w / safe[:, None]).astype(np.float32)
    codes = e4m3_encode(x)
    codes = np.where(s[:, None] == 0, 0, codes).astype(np.uint8)
    dq = (e4m3_decode(codes) * s[:, None]).astype(np.float32)
    return codes, s, dq


def to_bf16_bits(w):
    bits = w.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + r) >> 16).astype(np.uint16)


def selftest():
    """Hand-derived E4M3 and int8 roundings (ties), so the reference itself is checked."""
    x = np.array([1.0625, 1.1875, 17, 19, 232, 248, 432, 440, 2.0 ** -10, 3 * 2.0 ** -10,
                  5 * 2.0 ** -10, 2.0 ** -11, 448, 500, -1.0625, -0.0, 0.0, 2.0 ** -9], dtype=np.float32)
    want = [56, 58, 88, 90, 118, 120, 126, 126, 0, 2, 2, 0, 126, 126, 0x80 | 56, 0x80, 0, 1]
    got = e4m3_encode(x).tolist()
    assert got == want, (got, want)
    assert np.array_equal(e4m3_decode(np.array(want[:8], dtype=np.uint8)),
                          np.array([1, 1.25, 16, 20, 224, 256, 448, 448], dtype=np.float32))
    w = np.zeros((1, 32), dtype=np.float32)
    w[0, :6] = [127 / 128, 2.5 / 128, -2.5 / 128, 3.5 / 128, 126.5 / 128, -0.5 / 128]
    q, s, _ = quant_int8(w, 0)
    assert s[0, 0] == np.float32(2.0 ** -7) and q[0, :6].tolist() == [127, 2, -2, 4, 126, 0], q
    assert to_bf16_bits(np.array([1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8], dtype=np.float32)).tolist() == \
        [0x3F80, 0x3F82]


def verify_loads(d, arch, src):
    """The fixture must load with transformers and hold exactly the values we read back."""
    import torch
    import transformers as tf
    m = tf.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    sd = m.state_dict()
    for k, (_, v) in src.items():
        assert np.array_equal(sd[k].numpy(), v), f"{d}: {k} differs after from_pretrained"
    if arch == "qwen3":
        rp = getattr(m.config, "rope_parameters", None) or m.config.rope_scaling
        assert rp["rope_type"] == "yarn" and rp["factor"] == YARN_FACTOR, rp


def err_stats(w, dq):
    d = dq.astype(np.float64) - w.astype(np.float64)
    return {
        "err_rmse": float(np.sqrt(np.mean(d * d))),
        "err_max_abs": float(np.max(np.abs(d))),
        "src_rms": float(np.sqrt(np.mean(w.astype(np.float64) ** 2))),
    }


# ---------------------------------------------------------------------------------------------
# Canonical names (SPEC §7), derived here independently of the converter


def canonical(hf):
    if hf == "model.embed_tokens.weight":
        return "tok_embd"
    if hf == "model.norm.weight":
        return "output_norm"
    if hf == "lm_head.weight":
        return "output"
    p = hf.split(".")
    assert p[0] == "model" and p[1] == "layers", hf
    n, rest = p[2], ".".join(p[3:])
    table = {
        "input_layernorm.weight": "attn_norm",
        "post_attention_layernorm.weight": "ffn_norm",
        "self_attn.q_proj.weight": "attn_q",
        "self_attn.k_proj.weight": "attn_k",
        "self_attn.v_proj.weight": "attn_v",
        "self_attn.o_proj.weight": "attn_output",
        "self_attn.q_proj.bias": "attn_q_bias",
        "self_attn.k_proj.bias": "attn_k_bias",
        "self_attn.v_proj.bias": "attn_v_bias",
        "self_attn.q_norm.weight": "attn_q_norm",
        "self_attn.k_norm.weight": "attn_k_norm",
        "mlp.gate_proj.weight": "ffn_gate",
        "mlp.up_proj.weight": "ffn_up",
        "mlp.down_proj.weight": "ffn_down",
    }
    return f"blk.{n}.{table[rest]}"


# ---------------------------------------------------------------------------------------------
# Models


def make_config(arch, ids, vocab):
    import transformers as tf
    common = dict(vocab_size=vocab, hidden_size=D_MODEL, intermediate_size=D_FF,
                  num_hidden_layers=N_LAYERS, num_attention_heads=N_HEADS,
                  num_key_value_heads=N_KV_HEADS, rms_norm_eps=NORM_EPS,
                  bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    if arch == "qwen3":
        rope = {"rope_type": "yarn", "factor": YARN_FACTOR,
                "original_max_position_embeddings": YARN_ORIG_CTX, "attn_factor": YARN_ATTN_FACTOR,
                "rope_theta": ROPE_THETA}
        return tf.Qwen3Config(head_dim=HEAD_DIM, max_position_embeddings=int(YARN_ORIG_CTX * YARN_FACTOR),
                              rope_parameters=rope, tie_word_embeddings=False, **common)
    if arch == "qwen2":
        return tf.Qwen2Config(max_position_embeddings=512, tie_word_embeddings=True,
                              rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA}, **common)
    if arch == "llama":
        rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64, "rope_theta": 500000.0}
        return tf.LlamaConfig(head_dim=HEAD_DIM, max_position_embeddings=512, tie_word_embeddings=False,
                              rope_parameters=rope, mlp_bias=False, attention_bias=False, **common)
    raise ValueError(arch)


def make_model(arch, ids, vocab, n_tokens):
    import logging
    import torch
    import transformers as tf
    tf.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    cfg = make_config(arch, ids, vocab)
    cls = {"qwen3": tf.Qwen3ForCausalLM, "qwen2": tf.Qwen2ForCausalLM, "llama": tf.LlamaForCausalLM}[arch]
    torch.manual_seed(SEED)
    model = cls(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(master_value(arch, name, tuple(p.shape), n_tokens)))
    if cfg.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


def legacy_config(path):
    """Rewrites a transformers-5 config.json into the transformers-4.51 layout that real
    checkpoints (DeepSeek-R1-0528-Qwen3-8B, Qwen3-8B) carry: top-level rope_theta, rope_scaling
    (null for default RoPE), torch_dtype."""
    with open(path, encoding="utf-8") as f:
        c = json.load(f)
    rp = c.pop("rope_parameters", None)
    if rp is not None:
        rp = dict(rp)
        c["rope_theta"] = rp.pop("rope_theta")
        c["rope_scaling"] = None if rp.get("rope_type") == "default" else rp
    if "dtype" in c:
        c["torch_dtype"] = c.pop("dtype")
    c.pop("layer_types", None)
    c["transformers_version"] = TRANSFORMERS_4_VERSION
    with open(path, "w", encoding="utf-8") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")


def write_generation_config(d, ids):
    g = {"bos_token_id": ids["<|endoftext|>"], "do_sample": True,
         "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
         "temperature": 0.6, "top_p": 0.95, "transformers_version": TRANSFORMERS_4_VERSION}
    with open(os.path.join(d, "generation_config.json"), "w", encoding="utf-8") as f:
        json.dump(g, f, indent=2, sort_keys=True)
        f.write("\n")


FIXTURES = [
    # dir, arch, dtype, writer, config layout
    ("qwen3-bf16", "qwen3", "bfloat16", "save_pretrained", "4.51"),
    ("qwen3-bf16-sharded", "qwen3", "bfloat16", "save_pretrained-sharded", "4.51"),
    ("qwen3-bf16-st", "qwen3", "bfloat16", "safetensors.torch.save_file", "4.51"),
    ("qwen3-f16", "qwen3", "float16", "save_pretrained", "4.51"),
    ("qwen3-f32", "qwen3", "float32", "save_pretrained", "5"),
    ("qwen2-bf16-tied", "qwen2", "bfloat16", "save_pretrained", "4.51"),
    ("llama-f32", "llama", "float32", "safetensors.numpy.save_file", "4.51"),
]


def save_fixture(model, d, dtype, writer):
    import torch
    tdt = getattr(torch, dtype)
    m = model.to(tdt)
    if writer == "save_pretrained":
        m.save_pretrained(d, safe_serialization=True)
    elif writer == "save_pretrained-sharded":
        m.save_pretrained(d, safe_serialization=True, max_shard_size="100KB")
    elif writer == "safetensors.torch.save_file":
        from safetensors.torch import save_file
        m.save_pretrained(d, safe_serialization=True)
        os.remove(os.path.join(d, "model.safetensors"))
        sd = {k: v.contiguous() for k, v in m.state_dict().items()}
        if m.config.tie_word_embeddings:
            sd.pop("lm_head.weight", None)
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    elif writer == "safetensors.numpy.save_file":
        from safetensors.numpy import save_file
        m.save_pretrained(d, safe_serialization=True)
        os.remove(os.path.join(d, "model.safetensors"))
        npdt = {"float32": np.float32, "float16": np.float16}[dtype]
        sd = {k: v.detach().cpu().numpy().astype(npdt) for k, v in m.state_dict().items()}
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    else:
        raise ValueError(writer)
    for extra in os.listdir(d):
        if extra not in ("config.json", "generation_config.json") and not extra.startswith("model"):
            raise RuntimeError(f"{d}: unexpected file {extra} from the writer")


class BlobStore:
    """Content-addressed expected files, so identical expectations are stored once."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)

    def put(self, arr):
        raw = np.ascontiguousarray(arr).tobytes()
        h = hashlib.sha256(raw).hexdigest()
        name = f"{h[:20]}.bin"
        p = os.path.join(self.root, name)
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(raw)
        return {"file": f"expected/{name}", "sha256": h, "bytes": len(raw)}


def expected_meta(arch, cfg_json, gen_json, vocab):
    with open(cfg_json, encoding="utf-8") as f:
        c = json.load(f)
    with open(gen_json, encoding="utf-8") as f:
        g = json.load(f)
    rope = c.get("rope_scaling")
    theta = c.get("rope_theta")
    if "rope_parameters" in c:
        rp = dict(c["rope_parameters"])
        theta = rp.pop("rope_theta")
        rope = None if rp.get("rope_type") == "default" else rp
    m = {
        "general.architecture": arch,
        "model.n_layers": c["num_hidden_layers"],
        "model.d_model": c["hidden_size"],
        "model.n_heads": c["num_attention_heads"],
        "model.n_kv_heads": c["num_key_value_heads"],
        "model.head_dim": c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"],
        "model.d_ff": c["intermediate_size"],
        "model.vocab_size": vocab,
        "model.max_ctx": c["max_position_embeddings"],
        "model.norm_eps": c["rms_norm_eps"],
        "model.tie_embeddings": bool(c["tie_word_embeddings"]),
        "model.qk_norm": arch == "qwen3",
        "model.attn_bias": arch == "qwen2",
        "rope.theta": float(theta),
        "rope.dim": c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"],
        "token.bos_id": c["bos_token_id"],
        "token.eos_id": c["eos_token_id"],
    }
    eos = set([c["eos_token_id"]]) | set(g["eos_token_id"])
    m["token.eos_ids"] = sorted(eos)
    if rope is None:
        m["rope.type"] = "none"
        m["rope.factor"] = 1.0
    else:
        m["rope.type"] = rope["rope_type"]
        m["rope.factor"] = float(rope["factor"])
        m["rope.orig_ctx"] = rope["original_max_position_embeddings"]
        if "attn_factor" in rope:
            m["rope.attn_factor"] = float(rope["attn_factor"])
        if rope["rope_type"] == "llama3":
            m["rope.low_freq_factor"] = float(rope["low_freq_factor"])
            m["rope.high_freq_factor"] = float(rope["high_freq_factor"])
    gen = {"temperature": g["temperature"], "top_p": g["top_p"]}
    return m, gen


def recipe_entry(store, w, recipe):
    e = {"recipe": recipe}
    if recipe == "bf16":
        bits = to_bf16_bits(w)
        dq = (bits.astype(np.uint32) << 16).view(np.float32)
        e.update(dtype="BF16", scheme="none", group_size=0, codes=store.put(bits.astype("<u2")))
    elif recipe == "fp8":
        codes, s, dq = quant_fp8(w)
        e.update(dtype="F8_E4M3", scheme="row", group_size=0, codes=store.put(codes),
                 scales=store.put(s.astype("<f4")))
    else:
        group = 0 if recipe == "int8" else int(recipe.split("-g")[1])
        q, s, dq = quant_int8(w, group)
        e.update(dtype="I8", scheme="group" if group else "row", group_size=group,
                 codes=store.put(q), scales=store.put(s.astype("<f4")))
    if recipe == "bf16":
        # Stored unquantized: the statistics are defined as 0 (SPEC §6), not the rounding error.
        e.update(err_rmse=0.0, err_max_abs=0.0, src_rms=err_stats(w, dq)["src_rms"])
    else:
        e.update(err_stats(w, dq))
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data/hf", help="output directory (replaced)")
    ap.add_argument("--selftest", action="store_true", help="only check the numpy reference, write nothing")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        print("selftest ok")
        return

    import torch
    torch.use_deterministic_algorithms(True)
    selftest()

    out = os.path.abspath(args.out)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    store = BlobStore(os.path.join(out, "expected"))
    work = tempfile.mkdtemp(prefix="bale-hf-tok-")
    try:
        ids, n_tokens = build_tokenizer(work)
        vocab = (n_tokens + 15) // 16 * 16  # padded past the tokenizer like real checkpoints
        assert vocab > n_tokens + 1
        manifest = {"version": 1, "generator": "tools/reference/make_hf_fixtures.py", "seed": SEED,
                    "recipes": RECIPES, "tokenizer_tokens": n_tokens, "fixtures": []}
        for dname, arch, dtype, writer, layout in FIXTURES:
            # A fresh model each time: casting one to bf16 and back would lose the fp32 values.
            model = make_model(arch, ids, vocab, n_tokens)
            d = os.path.join(out, dname)
            save_fixture(model, d, dtype, writer)
            if layout == "4.51":
                legacy_config(os.path.join(d, "config.json"))
            write_generation_config(d, ids)
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(work, f), os.path.join(d, f))
            if writer == "save_pretrained-sharded":
                shards = [f for f in os.listdir(d) if f.endswith(".safetensors")]
                assert len(shards) >= 2 and os.path.exists(os.path.join(d, "model.safetensors.index.json"))

            for f in os.listdir(d):
                os.chmod(os.path.join(d, f), 0o644)
            src = read_checkpoint(d)
            verify_loads(d, arch, src)
            meta, gen = expected_meta(arch, os.path.join(d, "config.json"),
                                      os.path.join(d, "generation_config.json"), vocab)
            fx = {"dir": dname, "arch": arch, "source_dtype": {"bfloat16": "BF16", "float16": "F16",
                                                                "float32": "F32"}[dtype],
                  "writer": writer, "config_layout": layout, "meta": meta, "generation": gen,
                  "chat_template": CHAT_TEMPLATE, "tensors": [], "expected": []}
            if dname != "qwen3-bf16" and arch == "qwen3" and dtype == "bfloat16":
                fx["same_blobs_as"] = "qwen3-bf16"
            for hf in sorted(src):
                dt, w = src[hf]
                t = {"name": canonical(hf), "hf": hf, "shape": list(w.shape)}
                if w.ndim == 1:
                    t["values"] = store.put(w.astype("<f4"))
                fx["tensors"].append(t)
            by_name = {canonical(k): (k, v[1]) for k, v in src.items()}
            for cname, recipes in EXPECT_TENSORS.items():
                if cname not in by_name:
                    continue
                hf, w = by_name[cname]
                for r in recipes:
                    e = recipe_entry(store, w, r)
                    e.update(name=cname, hf=hf, shape=list(w.shape))
                    fx["expected"].append(e)
            manifest["fixtures"].append(fx)
            print(f"{dname}: {len(src)} tensors, {len(fx['expected'])} expectations", file=sys.stderr)
        with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
