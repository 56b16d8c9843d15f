#!/usr/bin/env python3
"""Independent numpy implementation of the quantization recipes of formats/SPEC.md §6.4.

Writes a small seeded test matrix and the exact codes, scales and statistics every recipe must
produce for it, for the bit-exact comparison in tests/test_quant.c:

    python3 tools/reference/quant_reference.py tests/data/quant

This is deliberately written differently from convert/quant.c: numpy's own binary32 division,
rint, float16 cast; E4M3 by nearest-value search over the table of finite codes; statistics
with np.cumsum (sequential) and math.fsum (exact). When torch is installed its float8_e4m3fn and
bfloat16 casts are used as a third opinion.
"""
import math
import os
import sys

import numpy as np

ROWS, COLS, GROUP = 8, 96, 32
F16_ROWS = [0, 1, 2, 3, 4, 5, 7]
F32 = np.float32


def make_input():
    rng = np.random.default_rng(20240607)
    m = np.zeros((ROWS, COLS), dtype=F32)
    m[0] = rng.normal(0, 0.02, COLS)
    # tiny values, many of them binary32 subnormals: scales become subnormal too
    m[1] = rng.normal(0, 1, COLS) * F32(1e-39)
    # m[2] stays all zero
    m[3] = rng.normal(0, 0.01, COLS)
    m[3, 17] = F32(1.0e4)  # one huge outlier
    # amax 127 → s = 1: half-integers test ties to even of the int8 rounding
    m[4] = (rng.integers(-254, 255, COLS) / 2.0).astype(F32)
    m[4, 5] = F32(127.0)
    m[4, 6] = F32(-0.0)
    m[5] = (rng.normal(0, 1, COLS) * 10.0 ** rng.uniform(-6, 2, COLS)).astype(F32)
    m[6] = (rng.normal(0, 1, COLS) * F32(3e30)).astype(F32)
    m[6, 0] = F32(-0.0)
    m[6, 1] = F32(1e-30)
    m[6, 2] = F32(-1e-30)
    # three groups with very different ranges
    g = rng.uniform(-1, 1, COLS).astype(F32)
    g[0:32] *= F32(1e-3)
    g[64:96] *= F32(100.0)
    m[7] = g
    assert np.all(np.isfinite(m))
    return m


# ---- int8 -------------------------------------------------------------------------------------

def int8_seg(w):
    amax = np.max(np.abs(w))
    s = F32(amax / F32(127.0))
    if s == 0:
        return np.zeros(w.shape, np.int8), s
    x = (w / s).astype(F32)  # numpy f32/f32 is one binary32 division
    q = np.clip(np.rint(x), -127, 127)  # rint: nearest, ties to even
    return q.astype(np.int8), s


def int8(m, group):
    seg = group or m.shape[1]
    codes = np.zeros(m.shape, np.int8)
    scales = np.zeros((m.shape[0], m.shape[1] // seg), F32)
    for r in range(m.shape[0]):
        for g in range(m.shape[1] // seg):
            c, s = int8_seg(m[r, g * seg:(g + 1) * seg])
            codes[r, g * seg:(g + 1) * seg] = c
            scales[r, g] = s
    deq = codes.astype(F32) * np.repeat(scales, seg, axis=1)
    return codes.view(np.uint8), scales, deq


# ---- fp8 E4M3fn ---------------------------------------------------------------------------

def e4m3_value(code):
    """Exact value of an E4M3fn code from the OCP definition (None for NaN)."""
    s = -1.0 if code & 0x80 else 1.0
    e = (code >> 3) & 0xF
    m = code & 7
    if e == 15 and m == 7:
        return None
    if e == 0:
        return s * m * 2.0 ** -9
    return s * (1 + m / 8.0) * 2.0 ** (e - 7)


POS_VALUES = np.array([e4m3_value(c) for c in range(0x7F)])  # codes 0..126, increasing


def e4m3_encode(x):
    """Nearest finite E4M3 code, ties to the even code, saturating; sign kept."""
    ax = np.minimum(np.abs(x).astype(np.float64), 448.0)
    hi = np.clip(np.searchsorted(POS_VALUES, ax, side="left"), 0, 126)
    lo = np.clip(hi - 1, 0, 126)
    dlo = ax - POS_VALUES[lo]  # exact in binary64
    dhi = POS_VALUES[hi] - ax
    pick = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    return (pick | np.where(np.signbit(x), 0x80, 0)).astype(np.uint8)


def fp8(m):
    codes = np.zeros(m.shape, np.uint8)
    scales = np.zeros((m.shape[0], 1), F32)
    for r in range(m.shape[0]):
        w = m[r]
        s = F32(np.max(np.abs(w)) / F32(448.0))
        scales[r, 0] = s
        if s != 0:
            codes[r] = e4m3_encode((w / s).astype(F32))
    vals = np.array([e4m3_value(c) if e4m3_value(c) is not None else np.nan for c in range(256)],
                    dtype=F32)
    deq = vals[codes] * scales
    return codes, scales, deq


# ---- float kinds --------------------------------------------------------------------------

def f16(m):
    h = m.astype(np.float16)  # IEEE round to nearest even, with subnormals
    assert np.all(np.isfinite(h))
    return h.view(np.uint16).astype("<u2"), h.astype(F32)


def bf16(m):
    u = m.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r.astype("<u2"), (r.astype(np.uint32) << 16).view(F32)


# ---- statistics ---------------------------------------------------------------------------

def stats(m, deq):
    """SPEC §6.4: per row sequential binary64 sums, exact sum over rows, one rounding."""
    w = m.astype(np.float64)
    e = deq.astype(np.float64) - w
    row_err = [np.cumsum(e[r] * e[r])[-1] for r in range(m.shape[0])]
    row_src = [np.cumsum(w[r] * w[r])[-1] for r in range(m.shape[0])]
    sse = math.fsum(row_err)
    ssw = math.fsum(row_src)
    mx = float(np.max(np.abs(e)))
    n = m.size
    f = np.array([np.sqrt(sse / n), mx, np.sqrt(ssw / n)], np.float64).astype(F32)
    return np.array([sse, ssw, mx], "<f8"), f.astype("<f4")


def cross_check_torch(m, fp8_codes, fp8_scales, bf16_codes):
    try:
        import torch
    except ImportError:
        return
    if not hasattr(torch, "float8_e4m3fn"):
        return
    t = torch.from_numpy(m)
    for r in range(m.shape[0]):
        s = float(fp8_scales[r, 0])
        if s == 0:
            continue
        x = torch.clamp(t[r] / torch.tensor(s, dtype=torch.float32), -448.0, 448.0)
        tc = x.to(torch.float8_e4m3fn).view(torch.uint8).numpy()
        assert np.array_equal(tc, fp8_codes[r]), f"torch disagrees on fp8 row {r}"
    tb = t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(tb, bf16_codes), "torch disagrees on bf16"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/quant"
    os.makedirs(out, exist_ok=True)
    m = make_input()

    def put(name, arr):
        with open(os.path.join(out, name), "wb") as f:
            f.write(np.ascontiguousarray(arr).tobytes())

    put("input.f32", m.astype("<f4"))
    results = {}
    c, s, d = int8(m, 0)
    results["int8"] = (c, s, d)
    c, s, d = int8(m, GROUP)
    results["int8-g32"] = (c, s, d)
    c, s, d = fp8(m)
    results["fp8"] = (c, s, d)
    c, d = f16(m[F16_ROWS])  # row 6 overflows f16 (that error is tested in C)
    results["f16"] = (c, None, d)
    c, d = bf16(m)
    results["bf16"] = (c, None, d)
    cross_check_torch(m, results["fp8"][0], results["fp8"][1], results["bf16"][0])
    for name, (c, s, d) in results.items():
        src = m[F16_ROWS] if name == "f16" else m
        put(name + ".codes", c)
        if s is not None:
            put(name + ".scales", s.astype("<f4"))
        d64, f32 = stats(src, d)
        put(name + ".stats", np.concatenate([d64.view(np.uint8), f32.view(np.uint8)]))


if __name__ == "__main__":
    main()
