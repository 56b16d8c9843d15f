#!/usr/bin/env python3
"""Prints the HF tokenizers reference ids used by tests/tokenizer/test_tok_unit.c (split behaviors,
digits, added tokens with lstrip/rstrip/single_word/normalized, normalizer sequence). Paste the
output into the tables of that test when the cases change."""
import json, itertools
from tokenizers import Tokenizer
bs = list(range(ord("!"), ord("~")+1))+list(range(ord("¡"), ord("¬")+1))+list(range(ord("®"), ord("ÿ")+1))
cs = bs[:]; n=0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256+n); n+=1
b2u = {b: chr(c) for b, c in zip(bs, cs)}
def mapped(s): return "".join(b2u[b] for b in s.encode())
words = ["ab-cd--ef", "x12y345z", " hello", "hello", "a1b", "ﬁx", "FIX", "é"]
extra = set()
for w in words:
    for i in range(len(w)):
        for j in range(i+2, len(w)+1): extra.add(w[i:j])
extra = sorted(extra)
vocab = {b2u[b]: b for b in range(256)}
for e in extra:
    m = mapped(e)
    if m not in vocab: vocab[m] = len(vocab)
EXTRA = [mapped(e) for e in extra]
def tk(pre, norm=None, added=[]):
    j = {"version":"1.0","truncation":None,"padding":None,"added_tokens":added,"normalizer":norm,
         "pre_tokenizer":{"type":"Sequence","pretokenizers":pre+[{"type":"ByteLevel","add_prefix_space":False,"trim_offsets":False,"use_regex":False}]},
         "post_processor":None,"decoder":{"type":"ByteLevel","add_prefix_space":False,"trim_offsets":False,"use_regex":False},
         "model":{"type":"BPE","dropout":None,"unk_token":None,"continuing_subword_prefix":None,"end_of_word_suffix":None,"fuse_unk":False,"byte_fallback":False,"ignore_merges":True,"vocab":vocab,"merges":[]}}
    return Tokenizer.from_str(json.dumps(j))
cases = []
beh = ["Removed","Isolated","MergedWithPrevious","MergedWithNext","Contiguous"]
for bi, b in enumerate(beh):
    for inv in (False, True):
        t = tk([{"type":"Split","pattern":{"String":"-"},"behavior":b,"invert":inv}])
        cases.append(("split %s inv %d"%(b,inv), "SPLIT", bi, int(inv), "ab-cd--ef", t.encode("ab-cd--ef").ids))
for ind in (False, True):
    t = tk([{"type":"Digits","individual_digits":ind}])
    cases.append(("digits %d"%ind, "DIGITS", int(ind), 0, "x12y345z", t.encode("x12y345z").ids))
out = []
out.append("static const char *const extra_vocab[] = {%s};" % ", ".join(json.dumps(e, ensure_ascii=True).replace("\\u", "\\u") for e in EXTRA))
for name, kind, a, inv, text, ids in cases:
    out.append('{"%s", %s, %d, %d, "%s", {%s}, %d},' % (name, "FMT_PRE_"+kind, a, inv, text, ", ".join(map(str, ids)), len(ids)))
# added tokens: lstrip / rstrip / single_word, normalized, with NFKC+Lowercase+Replace+Prepend
def added(flags, content, id_):
    return {"id": id_, "content": content, "single_word": "w" in flags, "lstrip": "l" in flags, "rstrip": "r" in flags, "normalized": "n" in flags, "special": "s" in flags}
NV = len(vocab)
adds = [added("ls", "<z>", NV), added("rs", "[R]", NV+1), added("w", "tok", NV+2), added("n", "fix", NV+3)]
norm = {"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"},{"type":"Replace","pattern":{"String":"é"},"content":"e"},{"type":"Prepend","prepend":"^"}]}
t = tk([{"type":"Split","pattern":{"Regex":"\\s+|\\p{L}+|\\p{N}+"},"behavior":"Isolated","invert":False}], norm, adds)
atexts = ["a  <z>  b", "[R]   x", "tok token atok tok", "ﬁx FIX É  x", "<z>[R]<z>", "x[R]\t\n<z>", ""]
for s in atexts:
    e = t.encode(s)
    out.append('{%s, {%s}, %d, {%s}, %d},' % (json.dumps(s), ", ".join(map(str, e.ids)), len(e.ids),
        ", ".join(map(str, t.encode(s, add_special_tokens=False).ids)), len(e.ids)))
    t2 = tk([{"type":"Split","pattern":{"Regex":"\\s+|\\p{L}+|\\p{N}+"},"behavior":"Isolated","invert":False}], norm, adds)
t.encode_special_tokens = True
for s in atexts[:2]:
    out.append('/* split special */ {%s, {%s}, %d},' % (json.dumps(s), ", ".join(map(str, t.encode(s).ids)), len(t.encode(s).ids)))
print(NV)
print("\n".join(out))
