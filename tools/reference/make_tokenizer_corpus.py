#!/usr/bin/env python3
"""Builds the tokenizer differential corpus and the Hugging Face reference ids.

Writes tests/data/tokenizer/corpus.jsonl ({"i": n, "text": s}) and, per tokenizer,
expected_<name>.jsonl ({"i": n, "ids": [...], "ids_special": [...], "decode": str}) where
  ids          = tokenizers.Tokenizer.from_file(tokenizer.json).encode(s, add_special_tokens=False).ids
  ids_special  = the same with add_special_tokens=True (the tokenizer.json post-processor decides;
                 for both fixtures it is ByteLevel, which adds no BOS)
  decode       = decode(ids, skip_special_tokens=False)
Run from anywhere:  python3 tools/reference/make_tokenizer_corpus.py [--shared DIR] [--out DIR]
The output is committed so that CI needs no Python; rerun it only when the corpus changes.
"""
import argparse
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

FIXED = [
    "", " ", "  ", "    ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "\t\t  \t",
    "Hello world", "Hello, world!", "hello  world", "Hello world   ", "  leading spaces",
    "The quick brown fox jumps over the lazy dog.",
    "It's a dog's life; they're sure we've done it, I'm told you'll see he'd go.",
    "IT'S LOUD, THEY'RE HERE, WE'VE SEEN, I'M OK, YOU'LL SEE, HE'D GO",
    "it'S mixed'Ll case'Ve", "don't won't can't shan't", "'s 're 've 'm 'll 'd",
    "line one\nline two\r\nline three\rline four",
    "trailing newline\n", "a\n\n\nb", "a \n \n b", "tabs\tbetween\twords", "space before tab \tx",
    "mixed \r\n\r\n endings \n\r",
    "0", "7", "42", "123", "1234", "12345", "123456", "1234567", "12345678901234567890",
    "3.14159265358979", "-273.15", "1,000,000", "1e-9", "0x1F2E3D", "v1.2.3-rc4", "2024-05-17T12:34:56Z",
    "Phone: +1 (555) 123-4567", "١٢٣٤٥ Arabic-Indic digits", "१२३४ Devanagari digits", "①②③ circled", "Ⅻ roman numeral",
    "안녕하세요, 세계! 오늘 날씨가 좋네요.", "한국어 토크나이저 테스트입니다.",
    "你好，世界！今天天气很好。", "机器学习和深度学习是人工智能的重要分支。", "繁體中文測試：臺灣、香港。",
    "こんにちは世界。カタカナとひらがなと漢字。", "東京タワーは333メートルです。", "ｶﾀｶﾅ half-width katakana",
    "مرحبا بالعالم! كيف حالك اليوم؟", "العربية مع أرقام 2024 وكلمات English",
    "नमस्ते दुनिया! आप कैसे हैं?", "हिन्दी में परीक्षण।",
    "Привет, мир! Как дела?", "Γειά σου Κόσμε· ΣΊΣΥΦΟΣ", "שלום עולם", "สวัสดีชาวโลก", "Xin chào thế giới",
    "Ünïcödé àccénts: café, naïve, façade, résumé, Straße", "ŁÓDŹ żółć", "Ǆǅǆ title-case digraphs",
    "😀", "😀😃😄😁", "👍🏽 thumbs up medium skin", "👨‍👩‍👧‍👦 family ZWJ", "🏳️‍🌈 rainbow flag", "👩🏿‍💻 technologist",
    "🇰🇷🇯🇵🇨🇳 flags", "❤️ heart with VS16", "emoji😀inside😀words", "🧑‍🤝‍🧑", "1️⃣ keycap",
    "def foo(x):\n    return x * 2\n", "    indented four\n        eight\n",
    "int main(void) {\n\tprintf(\"hi\\n\");\n\treturn 0;\n}\n",
    "for (let i = 0; i < n; i++) { console.log(`i=${i}`); }",
    "fn main() -> Result<(), Box<dyn Error>> { let v: Vec<u8> = vec![]; Ok(()) }",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
    "<div class=\"a\">&nbsp;<br/></div>", "{\"key\": [1, 2.5, null, true], \"nested\": {\"x\": \"y\"}}",
    "#include <stdio.h>\n#define MAX(a,b) ((a)>(b)?(a):(b))", "$ ls -la | grep '^d' && echo done",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b**=6;c//=7", "a==b!=c<=d>=e&&f||g", "path/to/file.txt C:\\Windows\\System32",
    "https://example.com/path?query=1&b=2#frag", "user@example.com", "@mention #hashtag $dollar %percent",
    "...", "!!!???", "---", "___init___", "***bold***", "\"quoted\" 'single' «guillemets» „low“",
    "<|im_start|>user\nhi<|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "text<|endoftext|>more", "<|im_start|><|im_end|>", "<|im_start", "|im_end|>", "<|im_end|x",
    "<think>\nLet me reason.\n</think>\n\nAnswer: 4", "<think></think>", " <think> spaced </think> ",
    "<tool_call>{\"name\": \"f\"}</tool_call>", "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
    "<｜begin▁of▁sentence｜>hello<｜end▁of▁sentence｜>", "<｜User｜>hi<｜Assistant｜>", "<｜tool▁calls▁begin｜>",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtsgesellschaftskapitän", "antidisestablishmentarianism" * 3,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ababababababababababababab",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "          ", "\n\n\n\n\n\n\n\n", "哈哈哈哈哈哈哈哈哈哈哈哈哈哈", "ㅋㅋㅋㅋㅋㅋㅋㅋ",
    "e\u0301", "cafe\u0301 (combining acute, non-NFC)", "A\u030a ring", "\u1100\u1161\u11a8 conjoining jamo",
    "n\u0303o\u0308\u0301 stacked marks", "ﬁ ligature ﬂ", "\u212b angstrom sign", "\u2126 ohm sign", "x\u0308\u0323",
    "\ufffd replacement char", "a\ufffdb\ufffd", "\ue000\uf8ff private use", "\U000F0000 plane 15 PUA",
    "\u0000 nul inside", "bell\u0007 and esc\u001b[0m", "\u0085 NEL \u2028 LSEP \u2029 PSEP",
    "nbsp\u00a0here", "ideographic\u3000space", "em\u2003space thin\u2009space", "zero\u200bwidth\u200cnon\u200djoiner",
    "\ufeffBOM at start", "mongolian\u180evs", "soft\u00adhyphen", "\u000b vertical tab \u000c form feed",
    "\u001c\u001d\u001e\u001f info separators", "it\u017f long s", "'S 'K kelvin \u212a",
    "RTL \u202e override \u202c", "tab\t\tnewline\n\nspace  ", "end with space ", "end with tab\t", "end with CR\r",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math fraktur", "𝟘𝟙𝟚 math digits", "\U0001F600\U0001F64F\U0001F680", "𠀀𠀁 CJK ext B", "〇一二三",
    "日本語とEnglishのmix123テスト", "中文English混合123测试", "한국어English혼합123", "カタカナーー長音",
    "全角１２３ＡＢＣ", "¡¿Qué?!", "naïve coöperate", "½ ¼ ¾ fractions", "x² y³ superscripts", "H₂O subscripts",
    "$100.00 €50 £20 ¥1000 ₩5000", "© ® ™ § ¶", "→ ← ↑ ↓ ⇒ ∀ ∃ ∑ ∫ √ ∞", "αβγδ ΑΒΓΔ", "∑_{i=1}^{n} x_i^2",
]


def generated(rng):
    pieces = ["the", " ", "  ", "\n", "\t", "123", "4567", "你好", "세계", "😀", "👍🏽", "-", "...", "'s", "é",
              "e\u0301", "<|im_end|>", "<think>", "Ω", "٣", "\r\n", "ab", "_", "x=1;", "ｶ"]
    out = []
    for _ in range(40):
        n = rng.randint(1, 25)
        out.append("".join(rng.choice(pieces) for _ in range(n)))
    for _ in range(10):  # random code points from assorted blocks
        blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x600, 0x6ff), (0x900, 0x97f),
                  (0x3040, 0x30ff), (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0x1f300, 0x1f6ff)]
        s = []
        for _ in range(rng.randint(5, 60)):
            lo, hi = rng.choice(blocks)
            s.append(chr(rng.randint(lo, hi)))
        out.append("".join(s))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.normpath(os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "tokenizer"))
    args = ap.parse_args()
    from tokenizers import Tokenizer

    corpus = FIXED + generated(random.Random(20240517))
    corpus.append("word " * 400)
    corpus.append("x" * 3000)
    corpus.append("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for i, s in enumerate(corpus):
            f.write(json.dumps({"i": i, "text": s}, ensure_ascii=False) + "\n")
    for name, folder in (("qwen3", "qwen3-tokenizer"), ("deepseek_v3", "deepseek-v3-tokenizer")):
        tk = Tokenizer.from_file(os.path.join(args.shared, "fixtures", folder, "tokenizer.json"))
        with open(os.path.join(args.out, "expected_%s.jsonl" % name), "w", encoding="utf-8") as f:
            for i, s in enumerate(corpus):
                ids = tk.encode(s, add_special_tokens=False).ids
                ids_sp = tk.encode(s, add_special_tokens=True).ids
                dec = tk.decode(ids, skip_special_tokens=False)
                f.write(json.dumps({"i": i, "ids": ids, "ids_special": ids_sp, "decode": dec},
                                   ensure_ascii=False) + "\n")
    print("wrote %d strings to %s" % (len(corpus), args.out))


if __name__ == "__main__":
    main()
