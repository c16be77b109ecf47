"""Tokenizer and chat-template goldens for tests/test_tokenizer.cpp and tests/test_chat.cpp (PyPI side).

Run by hand, never in CI: `/path/to/venv/bin/python tools/goldens_tokenizer.py`. Needs Hugging Face `tokenizers`
(ids), `transformers` + jinja2 (chat renders). The outputs are committed files under assets/tokenizer/:

    corpus.jsonl              one JSON string per line: the strings every tokenizer is checked on
    gemma3.ids.txt            HF ids for each corpus line (no BOS), space-separated, one line per corpus line
    gemma3.decoded.jsonl      HF decode(ids) of those ids, one JSON string per line
    gemma3.random_decode.jsonl  {"ids": [...], "text": "..."}: decode of random id runs (invalid UTF-8 included)
    synthetic*/               two small hand-built tokenizer.json files exercising the features Gemma's own
                              file does not use (lstrip/rstrip/single_word/normalized added tokens, Prepend, Strip,
                              Split pre-tokenizer, "a b" string merges, unk without byte fallback), with the same
                              three golden files beside them
    tiny.*                    the same for assets/models/tiny-e2b/tokenizer.json when it exists
    demo.*                    the same for assets/models/demo-e2b-mini/tokenizer.json (the 2048-id BPE learned on
                              the King James Bible by tools/train_demo_model.py; both demo models share it)
    chat_goldens.jsonl        {"messages", "add_generation_prompt", "enable_thinking", "rendered"} rendered by
                              transformers' own chat-template renderer from gemma4_chat_template.jinja

`write_tokenizer_goldens(tokenizer_json, corpus_path, out_path)` is the reusable entry point (tools/make_goldens.py
calls it for other tokenizer files). What it leaves out: pair encodings, offsets, truncation and padding.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets" / "tokenizer"
SHARED = REPO.parent / "shared"
GEMMA3_JSON = SHARED / "assets" / "tokenizer-gemma3" / "tokenizer.json"
TINY_JSON = REPO / "assets" / "models" / "tiny-e2b" / "tokenizer.json"
DEMO_JSON = REPO / "assets" / "models" / "demo-e2b-mini" / "tokenizer.json"
CHAT_TEMPLATE = ASSETS / "gemma4_chat_template.jinja"
SEED = 20260423

# ---------------------------------------------------------------------------------------------------------------
# Corpus

PROSE = [
    "gemma4-ref is a readable float32 C++ reference of Google's Gemma 4 models. It loads a Hugging Face "
    "checkpoint directory as downloaded, runs the text, vision and audio towers with one free function per "
    "operation, and lets you look inside every step with named probes.",
    "The tokenizer is a byte-fallback BPE with a 262,144-entry vocabulary. Spaces become the visible character "
    "U+2581 before the merges run, so a word and its leading space form one token, and any character the "
    "vocabulary lacks falls back to its UTF-8 bytes.",
    "To build it, install the Debian packages listed in tools/setup.sh, configure with CMake and run the tests "
    "with ctest. Nothing is downloaded at build time; the tiny test models are generated from a fixed seed and "
    "committed beside their golden traces.",
    "When the reference and transformers disagree, `gemma4 check` prints a table of every probe with its error "
    "and stops at the first one over tolerance, so you can open the inspector on exactly that layer.",
    "Sliding-window layers only attend to the last few hundred positions, while the global layers see the whole "
    "context; the key-value cache of the small models is shared between the last layers of each kind.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light.",
]

HAND_WRITTEN = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "Hello",
    "Hello world",
    "Hello, world!",
    " Hello world",
    "Hello world ",
    "   leading spaces",
    "trailing spaces   ",
    "  both  sides  ",
    "multiple    spaces   between     words",
    "tabs\tbetween\t\twords",
    "line one\nline two\n\nline four",
    "windows\r\nline\r\nendings\r\n",
    "mixed \t \n \r\n whitespace \u00a0 runs \u3000 here",
    "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
    "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
    " " * 40,
    "\u2581",
    "\u2581\u2581",
    "\u2581\u2581\u2581 literal lower-one-eighth blocks \u2581x\u2581",
    "a\u2581b c\u2581\u2581d",
    # Latin with accents
    "Café crème brûlée, naïve façade, coöperate, Ångström, São Paulo, Łódź, Dvořák, İstanbul, Æsir, Øresund.",
    "Ça va très bien, merci ! Où est la bibliothèque ?",
    "Der Weißwurstäquator trennt Süddeutschland; Straße, Größe, Übermaß.",
    "¿Dónde está el baño? ¡Qué día tan bonito! Mañana, pingüino, corazón.",
    "Vietnamese: Tiếng Việt có nhiều dấu: ả, ạ, ẫ, ặ, ế, ở, ự.",
    "decomposed e\u0301 vs composed \u00e9, A\u030a vs \u00c5, n\u0303 vs \u00f1",
    # Cyrillic, Greek
    "Привет, мир! Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Україна, Беларусь, Қазақстан, Српски језик, македонски, Монгол хэл.",
    "Γειά σου Κόσμε! Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. αβγδεζηθικλμνξοπρστυφχψω",
    # Arabic, Hebrew (right to left)
    "مرحبا بالعالم! هذه جملة عربية مع أرقام ١٢٣٤٥ وعلامات ترقيم؟",
    "السَّلَامُ عَلَيْكُمْ وَرَحْمَةُ اللهِ",
    "שלום עולם! זה משפט בעברית עם ניקוד: שָׁלוֹם.",
    "mixed directions: English עברית عربي English",
    # Indic, Thai, other scripts
    "नमस्ते दुनिया! हिन्दी में एक वाक्य। क्षत्रिय, ज्ञान, श्री",
    "বাংলা ভাষা, ਪੰਜਾਬੀ, ગુજરાતી, தமிழ், తెలుగు, ಕನ್ನಡ, മലയാളം, සිංහල",
    "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "ພາສາລາວ, ភាសាខ្មែរ, မြန်မာဘာသာ, ქართული ენა, Հայերեն, አማርኛ, ᏣᎳᎩ",
    # CJK, Korean
    "你好，世界！这是一个中文句子，包含标点符号。",
    "繁體中文：臺灣、香港、澳門。龍龜鬱",
    "こんにちは世界！ひらがな、カタカナ、漢字が混ざった日本語の文です。ｶﾀｶﾅ",
    "안녕하세요 세계! 한국어 문장입니다. 가나다라마바사",
    "CJK extension B: 𠀀𠀁𠀂 𪚥 𩸽",
    "全角ＡＢＣ１２３　全角スペース",
    # emoji
    "Emoji: 😀😃😄😁😆😅🤣😂🙂🙃",
    "ZWJ family: 👨‍👩‍👧‍👦 and 👩‍❤️‍💋‍👨 and 🏳️‍🌈 and 🧑‍💻",
    "Skin tones: 👋🏻 👋🏼 👋🏽 👋🏾 👋🏿",
    "Flags: 🇺🇸 🇬🇧 🇯🇵 🇩🇪 🇫🇷 🇧🇷 🇮🇳 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "Keycaps and variation selectors: 1️⃣ #️⃣ ❤️ ❤︎ ☺️",
    "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂",
    # symbols and maths
    "Math: ∀x∈ℝ, ∃y: x² + y² ≤ 1 ⇒ |x| ≤ 1; ∑ᵢ aᵢ = ∫₀¹ f(t) dt ≈ π/4 ± ε",
    "Currency: $100, €50, £30, ¥1000, ₹500, ₿0.001, ¢99",
    "Arrows and boxes: ← → ↑ ↓ ⇐ ⇒ ┌─┐ │ │ └─┘ ░▒▓█",
    "Quotes: “double” ‘single’ «guillemets» „German“ 「Japanese」 — en – dash … ellipsis",
    "Music ♩♪♫♬ chess ♔♕♖♗♘♙ cards ♠♥♦♣ misc ☃☂☄★☆",
    # numbers
    "0",
    "1234567890",
    "3.14159265358979323846264338327950288419716939937510",
    "-42 +42 1e-9 6.022e23 0x1F 0b1010 0o777 1_000_000",
    "Phone: +1 (555) 123-4567, ext. 89",
    "Dates: 2026-04-23, 23/04/2026, April 23rd, 2026 at 14:05:09.123Z",
    "Version 1.2.3-rc.4+build.567",
    "99 bottles of beer on the wall, 99 bottles of beer.",
    # URLs, e-mail, paths
    "https://www.example.com/path/to/page?query=value&other=123#section",
    "http://localhost:8080/api/v1/users/42",
    "ftp://files.example.org/pub/file-1.0.tar.gz",
    "mailto:someone@example.com and user.name+tag@sub.domain.co.uk",
    "C:\\Users\\Name\\Documents\\file.txt",
    "/usr/local/lib/python3.11/site-packages/tokenizers/__init__.py",
    "https://例え.jp/パス?キー=値",
    # code
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "class Foo:\n\tdef __init__(self):\n\t\tself.x = {'a': [1, 2, 3]}\n",
    "#include <cstdio>\n\nint main(int argc, char** argv) {\n    std::printf(\"%d\\n\", argc);\n    return 0;\n}\n",
    "template <typename T>\nstd::vector<T> f(const std::vector<T>& v) { return {v.rbegin(), v.rend()}; }",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}",
    "function add(a, b) { return a + b; }\nconst arrow = (x) => x ** 2;\nconsole.log(`sum=${add(1, 2)}`);",
    "SELECT name, COUNT(*) AS n FROM users WHERE age >= 18 GROUP BY name ORDER BY n DESC LIMIT 10;",
    "<html>\n  <body>\n    <div class=\"main\"><p>Hello &amp; welcome</p></div>\n  </body>\n</html>",
    "<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>",
    "{\"key\": \"value\", \"list\": [1, 2.5, true, null], \"nested\": {\"a\": \"\\u00e9\"}}",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\"; done\n",
    "    indented with four spaces\n        and eight\n            and twelve",
    "x=1;y=2;z=x+y*3-(4/5)%6^7&8|9~0",
    "// comment\n/* block\n   comment */\n# python comment\n-- sql comment",
    "$$\\frac{a}{b} = \\sqrt{c^2 + d^2}$$",
    "regex: ^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
    "a\\nb\\tc\\\\d",
    # special tokens written in the text
    "<bos>",
    "<eos>",
    "<pad>",
    "<unk>",
    "<mask>",
    "<bos>Hello<eos>",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<image_soft_token>",
    "[multimodal]",
    "<unused0><unused1> <unused99>",
    "<|turn>user\nHello<turn|>\n<|turn>model\n",
    "<|turn>",
    "<turn|>",
    "<|image|>",
    "<|audio|>",
    "<|image><|image|><image|>",
    "<|think|>",
    "<|channel>thought\n<channel|>",
    "<|\"|>quoted<|\"|>",
    "<start_of_turn",
    "start_of_turn>",
    "<<bos>>",
    "<bos><bos><bos>",
    " <bos> ",
    "text<eos>more text",
    "<bos> <eos>\n<pad>\t<unk>",
    "<BOS> <Eos> < bos >",
    "<0x41><0xFF><0x00>",
    "<0x41>",
    # HTML-like added tokens of the Gemma vocabulary
    "<table>",
    "</table>",
    "<tr><td>cell</td></tr>",
    # unusual control characters
    "\x00",
    "null\x00byte",
    "\x01\x02\x03\x04\x05\x06\x07\x08",
    "bell\x07 backspace\x08 vt\x0b ff\x0c esc\x1b del\x7f",
    "\x1c\x1d\x1e\x1f unit separators",
    "\u0085 next line, \u2028 line separator, \u2029 paragraph separator",
    "zero\u200bwidth\u200cnon\u200djoiner",
    "\ufeffBOM at start",
    "soft\u00adhyphen",
    "bidi \u202e override \u202c pop \u2066 isolate \u2069",
    "\u00a0non-breaking\u00a0spaces\u00a0",
    "private use: \ue000\uf8ff \U000f0000",
    "noncharacters: \ufffe\uffff \U0010fffe",
    "replacement char \ufffd and U+FFFC \ufffc",
    "variation: 葛\U000e0100 葛",
    "combining: a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308",
    "Zalgo: H\u0335\u0321\u032a\u0311e\u0338\u0322l\u0337\u0331l\u0336o\u0334",
    # long words and repetitions
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "supercalifragilisticexpialidocious " * 5,
    "a" * 1000,
    "ab" * 300,
    "the " * 200,
    "=" * 120,
    "-" * 80 + "\n" + "*" * 80,
    "." * 50,
    "!?" * 40,
    "ThisIsACamelCaseIdentifierWithManyWordsInIt and snake_case_identifier_with_many_words",
    "ALL CAPS SENTENCE SHOUTING LOUDLY",
    "hyphenated-compound-word state-of-the-art well-known",
    "contractions: don't won't can't it's we're they've I'd",
    "abbreviations: e.g. i.e. etc. Dr. Mr. Mrs. U.S.A. a.m.",
    "#hashtag @mention $TICKER %percent ^caret &ampersand *star",
    "([{<>}])",
    "'single' \"double\" `backtick`",
    "wait... what?! really?!?!",
]


def _random_strings(rng: random.Random) -> list[str]:
    """Strings drawn from character pools with a fixed seed: the cases nobody thinks of writing by hand."""
    pools = {
        "ascii": [chr(c) for c in range(0x20, 0x7F)],
        "ascii_ws": [chr(c) for c in range(0x20, 0x7F)] + [" "] * 20 + ["\n", "\t", "\r\n"],
        "latin1": [chr(c) for c in range(0xA0, 0x180)],
        "cyrillic": [chr(c) for c in range(0x400, 0x460)] + [" "] * 10,
        "greek": [chr(c) for c in range(0x391, 0x3CA) if c != 0x3A2] + [" "] * 8,
        "cjk": [chr(c) for c in range(0x4E00, 0x4E00 + 400)] + ["，", "。"],
        "hangul": [chr(c) for c in range(0xAC00, 0xAC00 + 300)] + [" "] * 6,
        "devanagari": [chr(c) for c in range(0x900, 0x97F)] + [" "] * 6,
        "thai": [chr(c) for c in range(0xE01, 0xE5B)],
        "arabic": [chr(c) for c in range(0x621, 0x64B)] + [" "] * 6,
        "emoji": [chr(c) for c in range(0x1F600, 0x1F650)] + ["\u200d", "\ufe0f", "\U0001F3FD", " "],
        "symbols": [chr(c) for c in range(0x2190, 0x2300)],
        "controls": [chr(c) for c in range(0x00, 0x20)] + ["\x7f", "\u0085", "\u200b", "\u2028", " "],
        "whitespace": [" ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u2003", "\u2581"],
        "rare": [chr(rng.randrange(0x10000, 0x2FFFF)) for _ in range(200)],
        "special": ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<|turn>", "<turn|>", "<mask>", "<",
                    ">", "|", "bos", " ", "\n", "<unused3>", "<0x20>", "\u2581", "[multimodal]"],
    }
    words = ("the of and to in is was for on that with as by at from it this be are have not or an but which "
             "model token vocabulary merge byte layer attention window cache image audio gemma").split()
    out: list[str] = []
    for name, pool in pools.items():
        for _ in range(10):
            n = rng.choice([1, 2, 3, 5, 8, 13, 21, 40, 80])
            out.append("".join(rng.choice(pool) for _ in range(n)))
    for _ in range(25):  # pseudo-English with random punctuation and whitespace
        n = rng.randrange(3, 40)
        parts = []
        for _ in range(n):
            w = rng.choice(words)
            if rng.random() < 0.15:
                w = w.capitalize()
            if rng.random() < 0.1:
                w += rng.choice([",", ".", ";", ":", "!", "?", "'s", "-"])
            parts.append(w)
            parts.append(rng.choice([" "] * 12 + ["  ", "\n", "\t", " \n", ""]))
        out.append("".join(parts))
    for _ in range(25):  # mixtures of every pool
        n = rng.randrange(1, 30)
        keys = list(pools)
        out.append("".join(rng.choice(pools[rng.choice(keys)]) for _ in range(n)))
    for _ in range(10):  # numbers of many shapes
        out.append(" ".join(str(rng.randrange(10 ** rng.randrange(1, 15))) for _ in range(rng.randrange(1, 8))))
    return out


def make_corpus() -> list[str]:
    rng = random.Random(SEED)
    corpus = list(PROSE) + ["\n\n".join(PROSE)] + HAND_WRITTEN + _random_strings(rng)
    seen, unique = set(), []
    for s in corpus:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


def write_corpus(path: Path) -> list[str]:
    corpus = make_corpus()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for s in corpus:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    return corpus


def read_corpus(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------------------------------------------
# Token-id goldens


def write_tokenizer_goldens(tokenizer_json, corpus_path, out_path) -> None:
    """Writes HF ids (no BOS) for every corpus line to out_path (`<name>.ids.txt`), and beside it
    `<name>.decoded.jsonl` (HF decode of those ids, special tokens kept) and `<name>.random_decode.jsonl`
    (decode of seeded random id runs, including byte tokens that form invalid UTF-8)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    corpus = read_corpus(Path(corpus_path))
    out_path = Path(out_path)
    stem = out_path.name[: -len(".ids.txt")] if out_path.name.endswith(".ids.txt") else out_path.stem
    all_ids = []
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for s in corpus:
            ids = tok.encode(s, add_special_tokens=False).ids
            all_ids.append(ids)
            f.write(" ".join(str(i) for i in ids) + "\n")
    with open(out_path.with_name(stem + ".decoded.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for ids in all_ids:
            f.write(json.dumps(tok.decode(ids, skip_special_tokens=False), ensure_ascii=False) + "\n")

    rng = random.Random(SEED + 1)
    vocab = tok.get_vocab(with_added_tokens=True)
    byte_ids = sorted(i for t, i in vocab.items() if len(t) == 6 and t.startswith("<0x") and t.endswith(">"))
    special_ids = sorted(i for i, t in tok.get_added_tokens_decoder().items() if t.special)
    size = tok.get_vocab_size(with_added_tokens=True)
    with open(out_path.with_name(stem + ".random_decode.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for case in range(200):
            n = rng.randrange(0, 24)
            ids = []
            for _ in range(n):
                r = rng.random()
                if r < 0.4 and byte_ids:
                    ids.append(rng.choice(byte_ids))
                elif r < 0.5 and special_ids:
                    ids.append(rng.choice(special_ids))
                else:
                    ids.append(rng.randrange(size))
            skip = case % 2 == 1
            text = tok.decode(ids, skip_special_tokens=skip)
            f.write(json.dumps({"ids": ids, "skip_special": skip, "text": text}, ensure_ascii=False) + "\n")
    print(f"wrote {out_path} ({len(corpus)} lines) and its decode goldens")


# ---------------------------------------------------------------------------------------------------------------
# Synthetic tokenizers: small, hand-built, covering the tokenizer.json features Gemma's file does not use


def _train_small_bpe(corpus: list[str], n_merges: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A small deterministic BPE trainer (the `tokenizers` trainer breaks ties by hash order, so its output changes
    from run to run): spaces become "▁", words start at each "▁", the 90 most frequent characters form the alphabet,
    and each step merges the most frequent neighbouring pair (ties: the smallest pair)."""
    from collections import Counter

    words: Counter = Counter()
    for s in corpus[:200]:
        for w in re.split("(?=\u2581)", s.replace(" ", "\u2581")):
            if w:
                words[w] += 1
    chars: Counter = Counter()
    for w, n in words.items():
        for ch in w:
            chars[ch] += n
    alphabet = sorted(sorted(chars, key=lambda c: (-chars[c], c))[:90])
    known = set(alphabet)
    symbols = {w: list(w) for w in words}
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter = Counter()
        for w, n in words.items():
            seq = symbols[w]
            for a, b in zip(seq, seq[1:]):
                if a in known and b in known:
                    pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        known.add(best[0] + best[1])
        for w, seq in symbols.items():
            i, out = 0, []
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(seq[i] + seq[i + 1])
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            symbols[w] = out
    vocab: dict[str, int] = {}
    for t in alphabet + [a + b for a, b in merges]:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def write_synthetic_tokenizers(corpus: list[str]) -> list[Path]:
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers

    learned, merges = _train_small_bpe(corpus, 600)
    written = []

    # A: byte fallback, Prepend + Replace normalizer, Split on "▁" (merged with next), Strip decoder, every flag of
    # added tokens, merges stored as "a b" strings.
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for t in sorted(learned, key=learned.get):
        if t not in vocab:
            vocab[t] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = pre_tokenizers.Split("\u2581", "merged_with_next")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([
        AddedToken("<bos>", normalized=False), AddedToken("<eos>", normalized=False),
        AddedToken("<start_of_turn>", lstrip=True, normalized=False),
        AddedToken("<end_of_turn>", rstrip=True, normalized=False),
        AddedToken("<eos_lr>", lstrip=True, rstrip=True, normalized=False),
        AddedToken("<mask>", single_word=True, normalized=False),
        AddedToken("<unused0>", single_word=True, lstrip=True, normalized=False),
    ])
    tok.add_tokens([
        AddedToken("the model", normalized=True),
        AddedToken("<|turn>", normalized=True),
        AddedToken("<turn|>", normalized=False, special=False),
        AddedToken("[multimodal]", normalized=True, lstrip=True, rstrip=True),
        AddedToken("Hello", normalized=True, single_word=True),
    ])
    data = json.loads(tok.to_str())
    data["model"]["merges"] = [f"{a} {b}" for a, b in data["model"]["merges"]]
    path_a = ASSETS / "synthetic-a" / "tokenizer.json"
    path_a.parent.mkdir(parents=True, exist_ok=True)
    path_a.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (path_a.parent / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<bos>",
        "eos_token": {"content": "<end_of_turn>", "lstrip": False, "normalized": False, "rstrip": True,
                      "single_word": False, "special": True},
        "pad_token": "<pad>", "unk_token": "<unk>",
        "chat_template": [{"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m }}{% endfor %}"}],
    }, indent=1) + "\n", encoding="utf-8")
    written.append(path_a)

    # B: no byte fallback (unknown characters become <unk>, fused), no normalizer (spaces stay spaces), Split on " "
    # isolated, no decoder (HF then joins tokens with spaces), merges as [a, b] pairs.
    vocab_b = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for t in sorted(learned, key=learned.get):
        t = t.replace("\u2581", " ")
        if t not in vocab_b:
            vocab_b[t] = len(vocab_b)
    merges_b = [(a.replace("\u2581", " "), b.replace("\u2581", " ")) for a, b in merges]
    tok_b = Tokenizer(models.BPE(vocab=vocab_b, merges=merges_b, unk_token="<unk>", fuse_unk=True,
                                 byte_fallback=False))
    tok_b.pre_tokenizer = pre_tokenizers.Split(" ", "isolated")
    tok_b.add_special_tokens([AddedToken("<s>", normalized=False), AddedToken("</s>", normalized=False)])
    path_b = ASSETS / "synthetic-b" / "tokenizer.json"
    path_b.parent.mkdir(parents=True, exist_ok=True)
    path_b.write_text(json.dumps(json.loads(tok_b.to_str()), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    written.append(path_b)
    return written


# ---------------------------------------------------------------------------------------------------------------
# Chat-template goldens


def chat_cases() -> list[dict]:
    """Conversations for the chat goldens. Content is a string or a list of {"type": ...} items, as transformers
    accepts them; the first system message always has string content (the template prints it with `| trim`)."""
    img, aud, vid = {"type": "image"}, {"type": "audio"}, {"type": "video"}

    def txt(s):
        return {"type": "text", "text": s}

    cases = [
        ([{"role": "user", "content": "Hello!"}], True, False),
        ([{"role": "user", "content": "Hello!"}], False, False),
        ([{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": "What is 2+2?"}], True, False),
        ([{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}], True, False),
        ([{"role": "system", "content": "  padded system  \n"},
          {"role": "user", "content": "\n\n  padded user \t"}], True, False),
        ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
          {"role": "user", "content": "Tell me a joke."}], True, False),
        ([{"role": "user", "content": "Hi"}, {"role": "model", "content": "Hello."},
          {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye!"}], False, False),
        ([{"role": "user", "content": [img, txt("Describe this image.")]}], True, False),
        ([{"role": "user", "content": [txt("Compare"), img, txt("and"), img, txt(" please ")]}], True, False),
        ([{"role": "user", "content": [aud, txt("Transcribe this audio.")]}], True, False),
        ([{"role": "user", "content": [txt("What happens in this clip?"), vid]}], True, False),
        ([{"role": "system", "content": "You describe media."},
          {"role": "user", "content": [img, aud, txt("  What do you see and hear?  ")]}], True, False),
        ([{"role": "user", "content": "Solve x^2 = 4."}], True, True),
        ([{"role": "system", "content": "Think step by step."}, {"role": "user", "content": "Why is the sky blue?"}],
         True, True),
        ([{"role": "user", "content": "Hi"},
          {"role": "assistant", "content": "<|channel>thought\nThe user greets me.<channel|>Hello there!"},
          {"role": "user", "content": "How are you?"}], True, True),
        ([{"role": "user", "content": "Hi"},
          {"role": "assistant", "content": [txt("  first part <|channel>hidden<channel|> second  "), txt("third")]},
          {"role": "user", "content": "ok"}], True, False),
        ([{"role": "developer", "content": "Developer instructions."}, {"role": "user", "content": "Go"}], True,
         False),
        ([{"role": "user", "content": "first"}, {"role": "user", "content": "second in a row"}], True, False),
        ([{"role": "user", "content": "Hi"}, {"role": "system", "content": "late system message"},
          {"role": "user", "content": "again"}], True, False),
        ([{"role": "user", "content": "Unicode: héllo 你好 👋🏽\n\tnew line inside"}], True, False),
        ([{"role": "user", "content": [txt("")]}], True, False),
        ([{"role": "user", "content": []}], True, False),
        ([{"role": "user", "content": "Special tokens in text: <bos> <|turn> <turn|>"}], True, False),
        ([{"role": "assistant", "content": "Model speaks first."}], True, False),
        ([{"role": "system", "content": "Only a system prompt."}], False, False),
        ([{"role": "user", "content": "\u00a0\u3000 unicode whitespace is trimmed too \u2003\u00a0"}], True, False),
    ]
    return [{"messages": m, "add_generation_prompt": g, "enable_thinking": t} for m, g, t in cases]


def write_chat_goldens(template_path: Path, out_path: Path) -> None:
    from transformers.utils.chat_template_utils import render_jinja_template

    template = template_path.read_text(encoding="utf-8")
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for case in chat_cases():
            rendered, _ = render_jinja_template(
                conversations=[case["messages"]], chat_template=template,
                add_generation_prompt=case["add_generation_prompt"], bos_token="<bos>",
                enable_thinking=case["enable_thinking"])
            f.write(json.dumps({**case, "rendered": rendered[0]}, ensure_ascii=False) + "\n")
    print(f"wrote {out_path} ({len(chat_cases())} conversations)")


def main() -> None:
    """Writes the corpus, the id goldens of every tokenizer we test, and the chat goldens (d of make_goldens.py)."""
    import tokenizers
    import transformers

    print(f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}", file=sys.stderr)
    corpus_path = ASSETS / "corpus.jsonl"
    corpus = write_corpus(corpus_path)
    print(f"wrote {corpus_path} ({len(corpus)} strings)")
    if GEMMA3_JSON.exists():
        write_tokenizer_goldens(GEMMA3_JSON, corpus_path, ASSETS / "gemma3.ids.txt")
    for path in write_synthetic_tokenizers(corpus):
        write_tokenizer_goldens(path, corpus_path, ASSETS / f"{path.parent.name}.ids.txt")
    if TINY_JSON.exists():
        write_tokenizer_goldens(TINY_JSON, corpus_path, ASSETS / "tiny.ids.txt")
    if DEMO_JSON.exists():
        write_tokenizer_goldens(DEMO_JSON, corpus_path, ASSETS / "demo.ids.txt")
    write_chat_goldens(CHAT_TEMPLATE, ASSETS / "chat_goldens.jsonl")


if __name__ == "__main__":
    main()
