"""The 512-id byte-fallback BPE tokenizer of the tiny models (tokenizer.json + tokenizer_config.json).

Same structure as the Gemma tokenizer (normalizer Replace " "->"▁", pre-tokenizer Split " " MergedWithPrevious,
decoder Replace/ByteFallback/Fuse, post-processor prepending <bos>), with ids laid out by hand:

    0..4      <pad> <eos> <bos> <unk> <mask>          (Gemma ids)
    5, 6      <|turn> <turn|>                          (Gemma 4: 105, 106)
    7..262    <0x00> ... <0xFF>                        byte fallback
    263..504  characters, then merges learned with Hugging Face `tokenizers` on English licence texts
    505..511  <|image> <|audio> <|image|> <|audio|> <image|> <audio|> <|video|>   (= goldens_models.TINY_TOKEN_IDS)

Not the real Gemma 4 vocabulary: it only has to exercise a tokenizer.json loader on the same format.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import goldens_models

CONTROL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<|turn>", "<turn|>"]
# Gemma 3's tokenizer.json marks <mask> as not special; keep that.
NOT_SPECIAL = {"<mask>"}
MULTIMODAL_TOKENS = {  # text -> id, from the tiny configs
    "<|image>": goldens_models.TINY_TOKEN_IDS["boi_token_id"],
    "<|audio>": goldens_models.TINY_TOKEN_IDS["boa_token_id"],
    "<|image|>": goldens_models.TINY_TOKEN_IDS["image_token_id"],
    "<|audio|>": goldens_models.TINY_TOKEN_IDS["audio_token_id"],
    "<image|>": goldens_models.TINY_TOKEN_IDS["eoi_token_id"],
    "<audio|>": goldens_models.TINY_TOKEN_IDS["eoa_token_index"],
    "<|video|>": goldens_models.TINY_TOKEN_IDS["video_token_id"],
}
VOCAB_SIZE = 512
FIRST_BYTE_ID = len(CONTROL_TOKENS)              # 7
FIRST_LEARNED_ID = FIRST_BYTE_ID + 256           # 263
FIRST_MULTIMODAL_ID = min(MULTIMODAL_TOKENS.values())  # 505

# English training text: Debian's licence texts (present on every Debian/Ubuntu machine, stable for decades).
CORPUS_DIR = Path("/usr/share/common-licenses")
CORPUS_FILES = ["Apache-2.0", "GPL-3", "LGPL-3", "MPL-2.0", "Artistic", "BSD"]
LIMIT_ALPHABET = 72  # the most frequent characters get their own id; the rest fall back to bytes


def corpus() -> tuple[list[str], dict[str, str]]:
    texts, hashes = [], {}
    for name in CORPUS_FILES:
        path = CORPUS_DIR / name
        if not path.exists():
            raise FileNotFoundError(f"tokenizer training text {path} is missing (apt-get install base-files)")
        data = path.read_bytes()
        hashes[str(path)] = hashlib.sha256(data).hexdigest()
        texts.extend(line for line in data.decode("utf-8").splitlines(keepends=True))
    return texts, hashes


def _learn_pieces(texts: list[str], n_learned: int = FIRST_MULTIMODAL_ID - FIRST_LEARNED_ID,
                  limit_alphabet: int = LIMIT_ALPHABET) -> tuple[list[str], list[tuple[str, str]]]:
    """Characters and merges (in rank order) learned on the texts, at most n_learned pieces (242 for the tiny one)."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.Replace(" ", "▁")
    # Training only: split before each "▁" so that learned pieces look like SentencePiece's ("▁the"); at run time
    # the Gemma pre-tokenizer (Split " " after the normalizer removed every " ") leaves the text whole, and these
    # merges, never crossing a word start, apply the same way.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("▁"), behavior="merged_with_next")
    trainer = trainers.BpeTrainer(vocab_size=n_learned, limit_alphabet=limit_alphabet, special_tokens=[],
                                  initial_alphabet=[], show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    pieces = [piece for piece, _ in vocab]
    if len(pieces) > n_learned:
        raise RuntimeError(f"trainer returned {len(pieces)} pieces, room for {n_learned}")
    return pieces, merges


def build_tokenizer_json() -> tuple[dict, dict[str, str]]:
    texts, hashes = corpus()
    return build_bpe_tokenizer_json(texts, VOCAB_SIZE, MULTIMODAL_TOKENS, LIMIT_ALPHABET), hashes


def build_bpe_tokenizer_json(texts: list[str], vocab_size: int, multimodal: dict[str, int],
                             limit_alphabet: int) -> dict:
    """A Gemma-shaped tokenizer.json learned on `texts`: control tokens 0..6, bytes 7..262, learned pieces, then the
    multimodal tokens at the ids `multimodal` gives (they must be the last ids, up to vocab_size - 1).

    The tiny models' tokenizer (512 ids, licence texts) and the demo models' (tools/train_demo_model.py) both come
    from here.
    """
    first_multimodal = min(multimodal.values())
    if sorted(multimodal.values()) != list(range(first_multimodal, vocab_size)):
        raise ValueError(f"multimodal ids {sorted(multimodal.values())} are not the last ids below {vocab_size}")
    pieces, merges = _learn_pieces(texts, first_multimodal - FIRST_LEARNED_ID, limit_alphabet)
    vocab: dict[str, int] = {}
    for i, t in enumerate(CONTROL_TOKENS):
        vocab[t] = i
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = FIRST_BYTE_ID + b
    next_id = FIRST_LEARNED_ID
    for p in pieces:
        if p in vocab:
            raise RuntimeError(f"learned piece {p!r} collides with a reserved token")
        vocab[p] = next_id
        next_id += 1
    # Unused slots (if the trainer stopped early) get placeholder pieces so that ids stay dense.
    k = 0
    while next_id < first_multimodal:
        vocab[f"<unused{k}>"] = next_id
        next_id += 1
        k += 1
    for t, i in multimodal.items():
        vocab[t] = i
    if sorted(vocab.values()) != list(range(vocab_size)):
        raise RuntimeError(f"tokenizer ids are not exactly 0..{vocab_size - 1}")
    kept_merges = [[a, b] for a, b in merges if a + b in vocab and a in vocab and b in vocab]

    added = []
    special_ids = list(range(len(CONTROL_TOKENS))) + sorted(multimodal.values())
    inv = {i: t for t, i in vocab.items()}
    for i in special_ids:
        t = inv[i]
        added.append({"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": t not in NOT_SPECIAL})
    bos = CONTROL_TOKENS.index("<bos>")
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                          "invert": False},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<bos>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [bos], "tokens": ["<bos>"]}},
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
        ]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])), "merges": kept_merges},
    }
    return tj


def tokenizer_config_json(multimodal: dict[str, int] = MULTIMODAL_TOKENS) -> dict:
    added_decoder = {}
    for i, t in enumerate(CONTROL_TOKENS):
        added_decoder[str(i)] = {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                 "single_word": False, "special": t not in NOT_SPECIAL}
    for t, i in sorted(multimodal.items(), key=lambda kv: kv[1]):
        added_decoder[str(i)] = {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                 "single_word": False, "special": True}
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": added_decoder,
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
        "boi_token": "<|image>",
        "eoi_token": "<image|>",
        "image_token": "<|image|>",
        "boa_token": "<|audio>",
        "eoa_token": "<audio|>",
        "audio_token": "<|audio|>",
        "video_token": "<|video|>",
        "extra_special_tokens": {"boi_token": "<|image>", "eoi_token": "<image|>", "image_token": "<|image|>",
                                 "boa_token": "<|audio>", "eoa_token": "<audio|>", "audio_token": "<|audio|>",
                                 "video_token": "<|video|>"},
        "clean_up_tokenization_spaces": False,
        "spaces_between_special_tokens": False,
        "model_max_length": 4096,
        "padding_side": "left",
        "tokenizer_class": "GemmaTokenizer",
    }


def check_tokenizer(path: Path, vocab_size: int = VOCAB_SIZE, multimodal: dict[str, int] = MULTIMODAL_TOKENS) -> dict:
    """Round-trip and special-token checks on a saved tokenizer.json; returns a few facts for the report."""
    tok = Tokenizer.from_file(str(path))
    if tok.get_vocab_size(with_added_tokens=True) != vocab_size:
        raise RuntimeError(f"{path}: vocab size {tok.get_vocab_size(with_added_tokens=True)} != {vocab_size}")
    facts = {}
    for text in ["Hello world", "The quick brown fox jumps over the lazy dog.", "naïve café — 日本",
                 "  two  spaces\nand a newline"]:
        enc = tok.encode(text)
        if enc.ids[0] != 2:
            raise RuntimeError(f"{path}: {text!r} does not start with <bos>: {enc.ids}")
        back = tok.decode(enc.ids, skip_special_tokens=True)
        if back != text:
            raise RuntimeError(f"{path}: round trip of {text!r} gave {back!r}")
        facts[text] = enc.ids
    for t, i in multimodal.items():
        ids = tok.encode(f"a{t}b", add_special_tokens=False).ids
        if i not in ids or ids.count(i) != 1:
            raise RuntimeError(f"{path}: {t} is not tokenized as the single id {i}: {ids}")
        if tok.encode(t, add_special_tokens=False).ids != [i]:
            raise RuntimeError(f"{path}: {t} alone is not [{i}]")
    for i, t in enumerate(CONTROL_TOKENS):
        if tok.encode(t, add_special_tokens=False).ids != [i]:
            raise RuntimeError(f"{path}: {t} is not [{i}]")
    return facts


def write(out_dir: Path, tj: dict, multimodal: dict[str, int] = MULTIMODAL_TOKENS) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config_json(multimodal), ensure_ascii=False, indent=2)
                                                   + "\n", encoding="utf-8")
