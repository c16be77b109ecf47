#!/usr/bin/env python3
"""make_bad_inputs.py OUTDIR — writes the malformed-input corpus that tests/test_bad_inputs.cpp runs the gemma4 CLI on.

Every case starts from a valid bundled file (a tiny checkpoint, a sample image or sound, a golden trace) and breaks one
thing: a truncation, a length or offset that lies, a wrong dtype or shape, bad UTF-8, a huge dimension, an empty file,
a directory where a file is expected, a missing file. OUTDIR/manifest.jsonl has one JSON object per case:

    {"name": "safetensors/truncated-data", "format": "safetensors",
     "args": ["info", "-m", "{corpus}/safetensors/truncated-data"],
     "exit": 2, "expect": ["model.safetensors", "beyond the data section"], "probes": false}

  args    the gemma4 command line; "{corpus}" stands for OUTDIR, "{tmp}" for an empty directory the test makes for the
          run (where a case may try to write); an argument written as {"hex": "..."} is those raw bytes (bad UTF-8
          cannot sit in a JSON string)
  exit    the exit status expected: 2 = refused with an error (the CLI's code for bad input), 1 = `check` found a
          difference, 0 = a control case (the valid file the others break, which must be accepted) or a
          leniency kept on purpose ("accepted-...", each with its reason beside it)
  expect  substrings the output must contain (case-insensitive): the file's name and a word for the problem
  probes  the case needs the probe hooks compiled in (trace, check -m); skipped with -DGEMMA4_PROBES=OFF

Python standard library only (CI has no pip packages). Deterministic: the same assets give the same bytes.
Leaves out: fuzzing (tests/fuzz/ does that); here every case is one readable, named mistake.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import shutil
import struct
import sys
import wave
import zipfile
import zlib
from pathlib import Path

DIRECTORY = object()  # replace a file by an (empty) directory of the same name

# A 16x16 baseline JPEG, written once with stb_image_write (stbi_write_jpg, quality 80): the bundled samples are PNG
# and the standard library has no JPEG encoder.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wCEAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYn"
    "KSopGR8tMC0oMCUoKSgBBwcHCggKEwoKEygaFhooKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo"
    "KCgoKP/AABEIABAAEAMBIgACEQEDEQH/xAGiAAABBQEBAQEBAQAAAAAAAAAAAQIDBAUGBwgJCgsQAAIBAwMCBAMFBQQEAAABfQEC"
    "AwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm"
    "Z2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq"
    "8fLz9PX29/j5+gEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoLEQACAQIEBAMEBwUEBAABAncAAQIDEQQFITEGEkFRB2FxEyIy"
    "gQgUQpGhscEJIzNS8BVictEKFiQ04SXxFxgZGiYnKCkqNTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqCg4SF"
    "hoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2dri4+Tl5ufo6ery8/T19vf4+fr/2gAMAwEA"
    "AhEDEQA/ANg6hEwwCi+42/1NMbUNmSGUqPdc/kAa5RtRD85YHGBgkD8gKYb+VcYZn+m7j8zQssVr0184/wDyP+X3hS8M+8D/2Q==")


class Corpus:
    """The output directory and its manifest; one method call per case."""

    def __init__(self, root: Path, assets: Path):
        self.root = root
        self.assets = assets
        self.models = assets / "models"
        self.cases: list[dict] = []

    # ---- bookkeeping --------------------------------------------------------------------------------------------

    def case(self, fmt: str, name: str, args: list, expect: list[str], exit_code: int = 2, probes: bool = False):
        full = f"{fmt}/{name}"
        if any(c["name"] == full for c in self.cases):
            raise SystemExit(f"make_bad_inputs.py: case {full} defined twice")
        self.cases.append({"name": full, "format": fmt, "args": args, "exit": exit_code, "expect": expect, "probes": probes})

    def control(self, fmt: str, name: str, args: list, probes: bool = False):
        """A valid input the cases of `fmt` break: it must be accepted, or the broken cases prove nothing."""
        self.case(fmt, "control-" + name, args, [], exit_code=0, probes=probes)

    def path(self, rel: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def file(self, rel: str, content) -> str:
        """Writes one file (bytes, or DIRECTORY for a directory in its place); returns its "{corpus}/..." name."""
        p = self.path(rel)
        if content is DIRECTORY:
            p.mkdir()
        else:
            p.write_bytes(content)
        return "{corpus}/" + rel

    def model(self, rel: str, base: str, replace: dict | None = None, remove: tuple = ()) -> str:
        """A checkpoint directory: every file of the bundled model `base` linked in, except those replaced (bytes or
        DIRECTORY) or removed. Links keep the corpus small; only the broken file is a real file."""
        replace = replace or {}
        d = self.path(rel)
        d.mkdir()
        for f in sorted((self.models / base).iterdir()):
            if f.name not in replace and f.name not in remove:
                (d / f.name).symlink_to(f.resolve())
        for name, content in replace.items():
            if content is DIRECTORY:
                (d / name).mkdir()
            else:
                (d / name).write_bytes(content)
        return "{corpus}/" + rel

    def asset(self, rel: str) -> bytes:
        return (self.assets / rel).read_bytes()

    def write_manifest(self):
        # Written last (and whole), so a half-finished run never looks like a corpus.
        text = "".join(json.dumps(c, ensure_ascii=True) + "\n" for c in self.cases)
        tmp = self.root / "manifest.jsonl.tmp"
        tmp.write_text(text)
        tmp.rename(self.root / "manifest.jsonl")


def hexarg(raw: bytes) -> dict:
    return {"hex": raw.hex()}


def dump(obj) -> bytes:
    return json.dumps(obj, indent=1).encode()


# ---- safetensors ---------------------------------------------------------------------------------------------------

def split_safetensors(blob: bytes):
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def join_safetensors(header, data: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def tensor_names(header) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def safetensors_cases(c: Corpus):
    base = "tiny-31b"
    good = c.asset(f"models/{base}/model.safetensors")
    header, data = split_safetensors(good)
    names = tensor_names(header)
    first, second = names[0], names[1]
    n_header = struct.unpack("<Q", good[:8])[0]

    def st(name, blob, expect):
        args = ["info", "-m", c.model(f"safetensors/{name}", base, {"model.safetensors": blob})]
        c.case("safetensors", name, args, ["model.safetensors"] + expect)

    def edit(name, change, expect):
        h = json.loads(json.dumps(header))
        change(h)
        st(name, join_safetensors(h, data), expect)

    c.control("safetensors", "tiny-31b", ["info", "-m", c.model("safetensors/control", base)])
    st("empty", b"", ["0 bytes"])
    st("four-bytes", good[:4], ["shorter than 8 bytes"])
    st("truncated-in-header", good[:8 + n_header // 2], ["runs past the end"])
    st("truncated-in-data", good[:len(good) - 1000], ["beyond the data section"])
    st("truncated-to-header", good[:8 + n_header], ["beyond the data section"])
    st("header-length-lies-long", struct.pack("<Q", n_header + 64) + good[8:], ["not valid JSON"])
    st("header-length-past-end", struct.pack("<Q", len(good)) + good[8:], ["runs past the end"])
    st("header-length-huge", struct.pack("<Q", 1 << 63) + good[8:], ["bound"])
    st("header-length-zero", struct.pack("<Q", 0) + good[8:], ["not valid JSON"])
    st("header-not-json", join_safetensors(b"this is not json", data), ["not valid JSON"])
    st("header-array", join_safetensors(b"[1, 2, 3]", data), ["not a JSON object"])
    st("header-nul-byte", join_safetensors(json.dumps(header).encode().replace(b'"shape"', b'"sh\x00pe"', 1), data),
       ["NUL byte"])
    st("header-bad-utf8", join_safetensors(json.dumps(header).encode().replace(first.encode(), first.encode() + b"\xff", 1), data),
       ["UTF-8"])
    st("header-not-utf8-latin1", join_safetensors(json.dumps(header).encode().replace(b'"format"', b'"f\xe9rmat"', 1), data),
       ["UTF-8"])
    edit("dtype-unknown", lambda h: h[first].update(dtype="F33"), [first, "unknown dtype"])
    edit("dtype-not-string", lambda h: h[first].update(dtype=16), [first, "dtype"])
    edit("dtype-lowercase", lambda h: h[first].update(dtype="bf16"), [first, "unknown dtype"])
    edit("dtype-integer", lambda h: h[first].update(dtype="I16"), [first, "unsupported dtype"])
    edit("dtype-wider-than-bytes", lambda h: h[first].update(dtype="F32"), [first, "size mismatch"])
    edit("dtype-missing", lambda h: h[first].pop("dtype"), [first, "missing \"dtype\""])
    edit("shape-times-dtype-not-bytes", lambda h: h[first].update(shape=[64, 33]), [first, "size mismatch"])
    edit("shape-huge-overflow", lambda h: h[first].update(shape=[1 << 62, 1 << 62]), [first, "overflows"])
    edit("shape-huge-dims", lambda h: h[first].update(shape=[1 << 40, 1]), [first, "size mismatch"])
    edit("shape-negative", lambda h: h[first].update(shape=[-64, -32]), [first, "negative"])
    edit("shape-float", lambda h: h[first].update(shape=[64.0, 32]), [first, "not an integer"])
    edit("shape-not-array", lambda h: h[first].update(shape="64x32"), [first, "not an array"])
    edit("shape-transposed", lambda h: h[first].update(shape=list(reversed(h[first]["shape"]))), [first, "wrong shape"])
    edit("offsets-past-data", lambda h: h[first].update(data_offsets=[len(data) - 10, len(data) + 4086]),
         [first, "beyond the data section"])
    edit("offsets-reversed", lambda h: h[first].update(data_offsets=list(reversed(h[first]["data_offsets"]))),
         [first, "after end"])
    edit("offsets-overlap", lambda h: h[second].update(data_offsets=[0, h[second]["data_offsets"][1] - h[second]["data_offsets"][0]]),
         ["overlap"])
    edit("offsets-missing", lambda h: h[first].pop("data_offsets"), [first, "missing \"data_offsets\""])
    edit("offsets-three", lambda h: h[first].update(data_offsets=[0, 2048, 4096]), [first, "two integers"])
    edit("offsets-beyond-u64", lambda h: h[first].update(data_offsets=[0, 1 << 64]), [first, "data_offsets"])
    edit("offsets-negative", lambda h: h[first].update(data_offsets=[-4096, 0]), [first, "negative"])
    edit("entry-not-object", lambda h: h.update({first: [1, 2]}), [first, "not a JSON object"])
    edit("metadata-not-strings", lambda h: h["__metadata__"].update(format=3), ["__metadata__", "not a string"])
    edit("metadata-not-object", lambda h: h.update(__metadata__="pt"), ["__metadata__", "not an object"])
    edit("tensor-missing", lambda h: h.pop(first), [first, "missing"])
    # A duplicate key cannot be made with a dict: splice a second copy of the first entry into the text.
    text = json.dumps(header, separators=(",", ":"))
    entry = json.dumps({first: header[first]}, separators=(",", ":"))[1:-1]
    st("tensor-duplicate", join_safetensors(text.replace(entry, entry + "," + entry, 1).encode(), data),
       [first, "duplicate"])
    st("is-a-directory", DIRECTORY, ["is a directory"])
    c.case("safetensors", "no-weights", ["info", "-m", c.model("safetensors/no-weights", base, remove=("model.safetensors",))],
           ["model.safetensors", "neither"])


def shard_index_cases(c: Corpus):
    """A two-shard copy of tiny-31b (model-0000k-of-00002.safetensors + model.safetensors.index.json), then one
    mistake in the index or a shard."""
    base = "tiny-31b"
    header, data = split_safetensors(c.asset(f"models/{base}/model.safetensors"))
    names = tensor_names(header)
    shard_names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    halves = [names[:len(names) // 2], names[len(names) // 2:]]

    def shard(tensors, extra=()):
        h, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
        for name in list(tensors) + list(extra):
            begin, end = header[name]["data_offsets"]
            h[name] = {"dtype": header[name]["dtype"], "shape": header[name]["shape"], "data_offsets": [offset, offset + end - begin]}
            chunks.append(data[begin:end])
            offset += end - begin
        return join_safetensors(h, b"".join(chunks))

    shards = [shard(halves[0]), shard(halves[1])]
    weight_map = {name: shard_names[k] for k in (0, 1) for name in halves[k]}
    index = {"metadata": {"total_size": len(data)}, "weight_map": weight_map}
    victim = halves[1][0]

    def sharded(name, index_bytes=None, replace_shards=None, remove=()):
        files = {"model.safetensors.index.json": dump(index) if index_bytes is None else index_bytes}
        for k in (0, 1):
            files[shard_names[k]] = (replace_shards or {}).get(k, shards[k])
        for r in remove:
            files.pop(r)
        return ["info", "-m", c.model(f"shard-index/{name}", base, files, remove=("model.safetensors",))]

    def index_case(name, index_bytes, expect):
        c.case("shard-index", name, sharded(name, index_bytes), ["model.safetensors.index.json"] + expect)

    def edited(change):
        i = json.loads(json.dumps(index))
        change(i)
        return dump(i)

    c.control("shard-index", "two-shards", sharded("control"))
    index_case("empty", b"", ["not valid JSON"])
    index_case("truncated", dump(index)[:200], ["not valid JSON"])
    index_case("not-json", b"weight_map = everything", ["not valid JSON"])
    index_case("array", b"[]", ["not a JSON object"])
    index_case("bad-utf8", dump(index).replace(b"model-00001", b"model-\xc3\x28001", 1), ["UTF-8"])
    index_case("no-weight-map", edited(lambda i: i.pop("weight_map")), ["missing \"weight_map\""])
    index_case("weight-map-list", edited(lambda i: i.update(weight_map=list(weight_map))), ["\"weight_map\" is not an object"])
    index_case("weight-map-number", edited(lambda i: i["weight_map"].update({victim: 2})), [victim, "not a file name string"])
    index_case("shard-name-escapes", edited(lambda i: i["weight_map"].update({victim: "../model.safetensors"})),
               [victim, "not a plain file name"])
    index_case("shard-name-absolute", edited(lambda i: i["weight_map"].update({victim: "/etc/passwd"})),
               [victim, "not a plain file name"])
    index_case("tensor-to-missing-file", edited(lambda i: i["weight_map"].update({victim: "model-00003-of-00002.safetensors"})),
               ["model-00003-of-00002.safetensors", "does not exist"])
    index_case("tensor-to-wrong-shard", edited(lambda i: i["weight_map"].update({victim: shard_names[0]})),
               [victim, "found only in"])
    index_case("tensor-not-listed", edited(lambda i: i["weight_map"].pop(victim)), [victim, "not listed"])
    dup_text = dump(index).replace(f'"{victim}"'.encode(), f'"{victim}": "{shard_names[1]}",\n  "{victim}"'.encode(), 1)
    index_case("tensor-listed-twice", dup_text, [victim, "twice"])
    index_case("is-a-directory", DIRECTORY, ["is a directory"])
    c.case("shard-index", "shard-missing", sharded("shard-missing", remove=(shard_names[1],)), [shard_names[1], "does not exist"])
    c.case("shard-index", "shard-is-directory", sharded("shard-is-directory", replace_shards={1: DIRECTORY}),
           [shard_names[1], "is a directory"])
    c.case("shard-index", "shard-truncated", sharded("shard-truncated", replace_shards={1: shards[1][:len(shards[1]) // 2]}),
           [shard_names[1], "beyond the data section"])
    c.case("shard-index", "shard-empty", sharded("shard-empty", replace_shards={0: b""}), [shard_names[0], "0 bytes"])
    c.case("shard-index", "tensor-in-two-shards", sharded("tensor-in-two-shards", replace_shards={0: shard(halves[0], [victim])}),
           [victim, "two shards"])


# ---- config.json ---------------------------------------------------------------------------------------------------

def config_cases(c: Corpus):
    base = "tiny-e2b"  # has vision and audio towers, so their sub-configs are read too
    good = c.asset(f"models/{base}/config.json")
    cfg = json.loads(good)

    def conf(name, blob, expect):
        c.case("config", name, ["info", "-m", c.model(f"config/{name}", base, {"config.json": blob})], ["config.json"] + expect)

    def edit(name, change, expect):
        d = json.loads(good)
        change(d)
        conf(name, dump(d), expect)

    def text(**fields):
        return lambda d: d["text_config"].update(fields)

    c.control("config", "tiny-e2b", ["info", "-m", c.model("config/control", base)])
    conf("empty", b"", ["not valid JSON"])
    conf("truncated", good[:len(good) // 2], ["not valid JSON"])
    conf("not-json", b"model_type: gemma4\n", ["not valid JSON"])
    conf("array", b"[" + good + b"]", ["JSON object"])
    conf("bad-utf8", good.replace(b"gelu_pytorch_tanh", b"gelu_\xfe_tanh", 1), ["UTF-8"])
    conf("utf16", good.decode().encode("utf-16"), ["not valid JSON"])
    conf("is-a-directory", DIRECTORY, ["is a directory"])
    c.case("config", "missing", ["info", "-m", c.model("config/missing", base, remove=("config.json",))],
           ["config/missing", "no config.json"])
    edit("model-type-missing", lambda d: d.pop("model_type"), ["model_type"])
    edit("model-type-unknown", lambda d: d.update(model_type="llama"), ["model_type", "llama"])
    edit("model-type-number", lambda d: d.update(model_type=4), ["model_type", "a string"])
    edit("text-config-missing", lambda d: d.pop("text_config"), ["text_config"])
    edit("text-config-string", lambda d: d.update(text_config="gemma4_text"), ["text_config", "an object"])
    edit("vision-config-list", lambda d: d.update(vision_config=[]), ["vision_config", "object"])
    edit("audio-config-number", lambda d: d.update(audio_config=1), ["audio_config", "object"])
    edit("hidden-size-string", text(hidden_size="64"), ["hidden_size", "an integer"])
    edit("hidden-size-float", text(hidden_size=64.5), ["hidden_size", "an integer"])
    edit("hidden-size-huge", text(hidden_size=1 << 30), ["hidden_size", "between 1 and"])
    edit("hidden-size-beyond-int64", text(hidden_size=1 << 70), ["hidden_size", "an integer"])
    edit("vocab-size-beyond-int32", text(vocab_size=1 << 31), ["vocab_size", "32 bits"])
    edit("vocab-size-zero", text(vocab_size=0), ["vocab_size", "between 1 and"])
    edit("layers-negative", text(num_hidden_layers=-10), ["num_hidden_layers"])
    edit("layers-zero", text(num_hidden_layers=0), ["num_hidden_layers"])
    edit("layers-huge", text(num_hidden_layers=1000000000), ["num_hidden_layers"])
    edit("heads-zero", text(num_attention_heads=0), ["num_attention_heads", "between 1 and"])
    edit("kv-heads-not-divisor", text(num_key_value_heads=3), ["num_attention_heads", "multiple"])
    edit("head-dim-odd", text(head_dim=15), ["head_dim", "even"])
    edit("head-dim-null-huge", text(head_dim=1 << 20), ["head_dim", "between 1 and"])
    edit("layer-types-short", lambda d: d["text_config"]["layer_types"].pop(), ["layer_types"])
    edit("layer-types-unknown", lambda d: d["text_config"]["layer_types"].__setitem__(0, "local_attention"), ["layer_types"])
    edit("layer-types-string", text(layer_types="sliding_attention"), ["layer_types"])
    edit("sliding-window-negative", text(sliding_window=-8), ["sliding_window", "between 1 and"])
    edit("context-zero", text(max_position_embeddings=0), ["max_position_embeddings", "between 1 and"])
    edit("context-negative", text(max_position_embeddings=-131072), ["max_position_embeddings", "between 1 and"])
    edit("rope-type-unknown", lambda d: d["text_config"]["rope_parameters"]["sliding_attention"].update(rope_type="yarn"),
         ["rope_type", "yarn"])
    edit("rope-theta-negative", lambda d: d["text_config"]["rope_parameters"]["sliding_attention"].update(rope_theta=-1.0),
         ["rope_theta", "> 0"])
    edit("rope-parameters-list", text(rope_parameters=[1, 2]), ["rope_parameters"])
    edit("partial-rotary-above-one", lambda d: d["text_config"]["rope_parameters"]["full_attention"].update(partial_rotary_factor=2.0),
         ["partial_rotary_factor"])
    edit("kv-shared-all-layers", text(num_kv_shared_layers=10), ["num_kv_shared_layers"])
    edit("per-layer-config-out-of-range", lambda d: d["text_config"]["per_layer_config"].update({"99": {"head_dim": 32}}),
         ["per_layer_config", "layer index"])
    edit("eos-token-string", text(eos_token_id="<eos>"), ["eos_token_id", "integer"])
    edit("activation-unknown", text(hidden_activation="relu"), ["hidden_activation", "relu"])
    edit("softcap-negative", text(final_logit_softcapping=-30.0), ["final_logit_softcapping"])
    edit("tie-embeddings-string", lambda d: d.update(tie_word_embeddings="yes"), ["tie_word_embeddings", "true or false"])
    edit("vision-patch-size-zero", lambda d: d["vision_config"].update(patch_size=0), ["vision_config.patch_size"])
    edit("vision-head-dim-not-4", lambda d: d["vision_config"].update(head_dim=18), ["vision_config.head_dim"])
    edit("audio-hidden-negative", lambda d: d["audio_config"].update(hidden_size=-32), ["audio_config.hidden_size"])
    edit("audio-conv-channels-one", lambda d: d["audio_config"].update(subsampling_conv_channels=[128]),
         ["subsampling_conv_channels"])


# ---- tokenizer.json, tokenizer_config.json, the chat format ---------------------------------------------------------

def tokenizer_cases(c: Corpus):
    base = "tiny-31b"
    good = c.asset(f"models/{base}/tokenizer.json")
    tok = json.loads(good)

    def tk(name, blob, expect):
        args = ["tokenize", "-m", c.model(f"tokenizer/{name}", base, {"tokenizer.json": blob}), "-p", "Hello world"]
        c.case("tokenizer", name, args, ["tokenizer.json"] + expect)

    def edit(name, change, expect):
        d = json.loads(good)
        change(d)
        tk(name, json.dumps(d, ensure_ascii=False).encode(), expect)

    some_token = "▁the" if "▁the" in tok["model"]["vocab"] else next(iter(tok["model"]["vocab"]))
    c.control("tokenizer", "tiny", ["tokenize", "-m", c.model("tokenizer/control", base), "-p", "Hello world"])
    tk("empty", b"", ["not valid JSON"])
    tk("truncated", good[:len(good) // 2], ["not valid JSON"])
    tk("array", b"[]", ["not a JSON object"])
    tk("bad-utf8-in-vocab", good.replace(some_token.encode(), some_token.encode()[:-1] + b"\xff", 1), ["UTF-8"])
    tk("overlong-utf8", good.replace(b'"<pad>"', b'"<p\xc1\xa1d>"', 1), ["UTF-8"])
    tk("is-a-directory", DIRECTORY, ["is a directory"])
    c.case("tokenizer", "missing", ["tokenize", "-m", c.model("tokenizer/missing", base, remove=("tokenizer.json",)), "-p", "x"],
           ["tokenizer/missing", "no tokenizer.json"])
    edit("model-missing", lambda d: d.pop("model"), ["\"model\""])
    edit("model-string", lambda d: d.update(model="BPE"), ["\"model\""])
    edit("model-type-unigram", lambda d: d["model"].update(type="Unigram"), ["Unigram"])
    edit("model-type-number", lambda d: d["model"].update(type=1), ["type"])
    edit("vocab-missing", lambda d: d["model"].pop("vocab"), ["vocab"])
    edit("vocab-list", lambda d: d["model"].update(vocab=list(d["model"]["vocab"])), ["vocab"])
    edit("vocab-id-string", lambda d: d["model"]["vocab"].update({some_token: "7"}), ["vocab", some_token])
    edit("vocab-id-negative", lambda d: d["model"]["vocab"].update({some_token: -7}), ["vocab", some_token])
    edit("vocab-id-huge", lambda d: d["model"]["vocab"].update({some_token: 1 << 40}), ["vocab", some_token])
    edit("vocab-id-duplicate", lambda d: d["model"]["vocab"].update({some_token: 2}), ["vocab", some_token])
    edit("merges-string", lambda d: d["model"].update(merges="▁ t"), ["merges"])
    edit("merges-unknown-token", lambda d: d["model"]["merges"].insert(0, ["▁", "zzzz-not-a-token"]), ["merges", "zzzz-not-a-token"])
    edit("merges-entry-number", lambda d: d["model"]["merges"].insert(0, 17), ["merges"])
    edit("merges-entry-three", lambda d: d["model"]["merges"].insert(0, ["▁", "t", "h"]), ["merges"])
    edit("added-tokens-object", lambda d: d.update(added_tokens={"<pad>": 0}), ["added_tokens"])
    edit("added-token-id-string", lambda d: d["added_tokens"][0].update(id="0"), ["added_tokens"])
    edit("added-token-id-huge", lambda d: d["added_tokens"][0].update(id=1 << 40), ["added_tokens"])
    edit("added-token-no-content", lambda d: d["added_tokens"][0].pop("content"), ["added_tokens"])
    edit("normalizer-unknown", lambda d: d.update(normalizer={"type": "NFKC"}), ["normalizer", "NFKC"])
    edit("pre-tokenizer-regex", lambda d: d.update(pre_tokenizer={"type": "Split", "pattern": {"Regex": "\\s+"},
                                                                 "behavior": "Isolated", "invert": False}), ["Regex"])
    edit("unk-token-unknown", lambda d: d["model"].update(unk_token="<nope>"), ["<nope>"])

    # tokenizer_config.json: read beside tokenizer.json.
    good_cfg = c.asset(f"models/{base}/tokenizer_config.json")

    def tc(name, blob, expect):
        args = ["tokenize", "-m", c.model(f"tokenizer-config/{name}", base, {"tokenizer_config.json": blob}), "-p", "Hello"]
        c.case("tokenizer-config", name, args, ["tokenizer_config.json"] + expect)

    def edit_cfg(name, change, expect):
        d = json.loads(good_cfg)
        change(d)
        tc(name, dump(d), expect)

    tc("empty", b"", ["not valid JSON"])
    tc("truncated", good_cfg[:100], ["not valid JSON"])
    tc("array", b"[\"<bos>\"]", ["not a JSON object"])
    tc("bad-utf8", good_cfg.replace(b"<bos>", b"<b\x80s>", 1), ["UTF-8"])
    tc("is-a-directory", DIRECTORY, ["is a directory"])
    edit_cfg("bos-not-in-vocab", lambda d: d.update(bos_token="<start>"), ["bos_token", "<start>"])
    edit_cfg("bos-token-number", lambda d: d.update(bos_token=2), ["bos_token"])
    edit_cfg("eos-token-object-no-content", lambda d: d.update(eos_token={"text": "<eos>"}), ["eos_token"])
    edit_cfg("add-bos-string", lambda d: d.update(add_bos_token="yes"), ["add_bos_token"])
    edit_cfg("chat-template-number", lambda d: d.update(chat_template=5), ["chat_template"])
    edit_cfg("chat-template-list-no-template", lambda d: d.update(chat_template=[{"name": "default"}]), ["chat_template"])


def chat_cases(c: Corpus):
    """The chat format as `run -p` uses it: the template's source, its special tokens, the prompt text."""
    base = "tiny-31b"
    tok = json.loads(c.asset(f"models/{base}/tokenizer.json"))

    def run_args(rel, replace=None, prompt="Hello"):
        return ["run", "-m", c.model(f"chat/{rel}", base, replace), "-p", prompt, "-n", "1"]

    c.control("chat", "tiny", run_args("control"))
    c.case("chat", "template-file-is-directory", run_args("template-dir", {"chat_template.jinja": DIRECTORY}),
           ["chat_template.jinja", "is a directory"])
    c.case("chat", "template-file-bad-utf8", run_args("template-utf8", {"chat_template.jinja": b"{{ bos_token }}\xff\xfe"}),
           ["chat_template.jinja", "UTF-8"])
    no_turn = json.loads(json.dumps(tok))
    no_turn["added_tokens"] = [t for t in no_turn["added_tokens"] if t["content"] != "<|turn>"]
    no_turn["model"]["vocab"].pop("<|turn>", None)
    c.case("chat", "no-turn-token", run_args("no-turn-token", {"tokenizer.json": json.dumps(no_turn).encode()}),
           ["tokenizer.json", "<|turn>"])
    c.case("chat", "prompt-bad-utf8", ["run", "-m", "tiny-31b", "-p", hexarg(b"caf\xe9 au lait"), "-n", "1"],
           ["-p", "UTF-8"])
    c.case("chat", "prompt-bad-utf8-raw", ["run", "-m", "tiny-31b", "--raw", "-p", hexarg(b"\xff\xfe"), "-n", "1"],
           ["-p", "UTF-8"])
    c.case("chat", "prompt-empty-raw", ["run", "-m", "tiny-31b", "--raw", "--no-bos", "-p", "", "-n", "1"],
           ["prompt", "empty"])
    c.case("chat", "tokenize-jsonl-bad-utf8", ["tokenize", "-m", "tiny-31b", "--jsonl", c.file("chat/bad.jsonl", b'"ok"\n"caf\xe9"\n')],
           ["bad.jsonl:2", "UTF-8"])
    c.case("chat", "tokenize-jsonl-not-string", ["tokenize", "-m", "tiny-31b", "--jsonl", c.file("chat/number.jsonl", b'"ok"\n42\n')],
           ["number.jsonl:2", "JSON string"])
    c.case("chat", "tokenize-jsonl-missing", ["tokenize", "-m", "tiny-31b", "--jsonl", "{corpus}/chat/no-such.jsonl"],
           ["no-such.jsonl", "no such file"])
    c.case("chat", "tokenize-jsonl-directory", ["tokenize", "-m", "tiny-31b", "--jsonl", c.file("chat/a-directory.jsonl", DIRECTORY)],
           ["a-directory.jsonl", "is a directory"])
    c.case("chat", "decode-id-out-of-range", ["tokenize", "-m", "tiny-31b", "--decode", c.file("chat/ids.txt", b"2 3 4\n2 99999\n")],
           ["ids.txt:2", "99999"])
    c.case("chat", "decode-not-ids", ["tokenize", "-m", "tiny-31b", "--decode", c.file("chat/words.txt", b"2 three 4\n")],
           ["words.txt:1", "three"])


# ---- images --------------------------------------------------------------------------------------------------------

def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_with_size(good: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR width and height replaced (CRC fixed, so only the size lies)."""
    ihdr = good[16:29]
    return good[:8] + png_chunk(b"IHDR", struct.pack(">II", width, height) + ihdr[8:]) + good[33:]


# The classic 1x1 GIF89a: global colour table, graphic control extension, one image, trailer.
TINY_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
            b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def bmp(width: int, height: int, pixels: bytes | None = None) -> bytes:
    row = (width * 3 + 3) // 4 * 4 if width > 0 else 0
    body = pixels if pixels is not None else bytes(row * abs(height))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(body), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(body), 2835, 2835, 0, 0)
    return header + info + body


def image_cases(c: Corpus):
    png = c.asset("samples/sample_small.png")
    assert png[12:16] == b"IHDR"

    def img(name, blob, expect, ext=".png"):
        c.case("image", name, ["image-info", "--image", c.file(f"image/{name}{ext}", blob)], [f"{name}{ext}"] + expect)

    c.control("image", "png", ["image-info", "--image", c.file("image/control.png", png)])
    c.control("image", "jpeg", ["image-info", "--image", c.file("image/control.jpg", TINY_JPEG)])
    c.control("image", "bmp", ["image-info", "--image", c.file("image/control.bmp", bmp(20, 20))])
    img("empty", b"", ["empty"])
    img("is-a-directory", DIRECTORY, ["is a directory"])
    c.case("image", "missing", ["image-info", "--image", "{corpus}/image/no-such.png"], ["no-such.png", "no such"])
    img("text-named-png", b"This is a text file, not a picture.\n", ["not a readable image"])
    img("png-magic-only", png[:8], ["not a readable image"])
    img("png-truncated-header", png[:20], ["not a readable image"])
    img("png-truncated-half", png[:len(png) // 2], ["corrupt or truncated"])
    img("png-no-end", png[:-12], ["corrupt or truncated"])
    img("png-bad-zlib", png[:41] + bytes(b ^ 0x5A for b in png[41:400]) + png[400:], ["corrupt or truncated"])
    img("png-huge-dimensions", png_with_size(png, 100000, 100000), ["megapixels"])
    img("png-beyond-32-bits", png_with_size(png, 0x7FFFFFFF, 0x7FFFFFFF), ["image"])
    img("png-zero-width", png_with_size(png, 0, 64), ["image"])
    img("png-one-pixel-tall-strip", png_with_size(png, 200000000, 1), ["image"])
    img("jpeg-truncated-half", TINY_JPEG[:len(TINY_JPEG) // 2], ["corrupt or truncated"], ".jpg")
    img("jpeg-truncated-header", TINY_JPEG[:40], ["image"], ".jpg")
    sof = TINY_JPEG.index(b"\xff\xc0")
    img("jpeg-huge-dimensions", TINY_JPEG[:sof + 5] + struct.pack(">HH", 65000, 65000) + TINY_JPEG[sof + 9:], ["megapixels"], ".jpg")
    img("jpeg-zero-height", TINY_JPEG[:sof + 5] + struct.pack(">HH", 0, 16) + TINY_JPEG[sof + 9:], ["image"], ".jpg")
    img("jpeg-no-magic", TINY_JPEG[2:], ["not a readable image"], ".jpg")
    img("bmp-huge-dimensions", bmp(50000, 50000, b""), ["megapixels"], ".bmp")
    img("bmp-negative-width", bmp(-20, 20, bytes(1200)), ["image"], ".bmp")
    img("pnm-huge-dimensions", b"P6\n20000 20000\n255\n" + bytes(12), ["megapixels"], ".ppm")
    # Truncated BMP, PNM and GIF pixel data: stb_image would fill the missing part with black; load_image refuses it.
    img("bmp-truncated-pixels", bmp(20, 20)[:54 + 700], ["truncated BMP"], ".bmp")
    img("pnm-truncated-samples", b"P6\n20 20\n255\n" + bytes(1000), ["truncated PNM"], ".ppm")
    img("gif-truncated-data", TINY_GIF[:-4], ["truncated GIF"], ".gif")
    c.control("image", "gif", ["image-info", "--image", c.file("image/control.gif", TINY_GIF)])
    tga = struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, 3, 2, 24, 0)  # uncompressed 3x2, 24 bits
    c.control("image", "tga", ["image-info", "--image", c.file("image/control.tga", tga + bytes(18))])
    img("tga-truncated-pixels", tga + bytes(17), ["truncated TGA"], ".tga")
    img("tga-rle-declares-55-megapixels", bytes.fromhex("02000a000000c289504e4f0d0a1a0a200803" "25d53842505" "35b0bbf6f5f"),
        ["truncated TGA"], ".tga")  # fuzz_image: stb decoded 55 megapixels of nothing from these 29 bytes
    # Through `run`: the same checks before the vision tower sees anything.
    c.case("image", "run-huge-dimensions", ["run", "-m", "tiny-e2b", "-p", "Describe", "-n", "1", "--image",
                                            c.file("image/run-huge.png", png_with_size(png, 12000, 10000))],
           ["run-huge.png", "megapixels"])
    c.case("image", "run-directory", ["run", "-m", "tiny-e2b", "-p", "Describe", "-n", "1", "--image", c.file("image/run-dir.png", DIRECTORY)],
           ["run-dir.png", "is a directory"])
    # processor_config.json, where the default soft-token budget comes from.
    good_proc = c.asset("models/tiny-e2b/processor_config.json")
    bad_budget = json.loads(good_proc)
    bad_budget["image_processor"]["max_soft_tokens"] = 100
    for name, blob, expect in [("processor-config-bad-json", good_proc[:50], ["not valid JSON"]),
                               ("processor-config-directory", DIRECTORY, ["is a directory"]),
                               ("processor-config-budget", dump(bad_budget), ["max_soft_tokens"])]:
        d = c.model(f"image/{name}", "tiny-e2b", {"processor_config.json": blob})
        c.case("image", name, ["image-info", "-m", d, "--image", "{corpus}/image/control.png"], ["processor_config.json"] + expect)


# ---- audio ---------------------------------------------------------------------------------------------------------

def wav(frames: bytes = b"", *, fmt_tag=1, channels=1, rate=16000, bits=16, data_size=None, riff_size=None,
        riff=b"RIFF", wave_id=b"WAVE", fmt_size=16) -> bytes:
    """A WAV file byte by byte, so any header field can lie."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)[:fmt_size].ljust(fmt_size, b"\0")
    body = wave_id + b"fmt " + struct.pack("<I", fmt_size) + fmt
    body += b"data" + struct.pack("<I", len(frames) if data_size is None else data_size) + frames
    return riff + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def tone(seconds: float, rate: int = 16000) -> bytes:
    """A quiet 440 Hz tone as 16-bit mono PCM (the standard library's wave module writes it)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        period = [int(3000 * ((i % 36) / 18 - 1)) for i in range(36)]  # a triangle wave, no math import needed
        w.writeframes(b"".join(struct.pack("<h", period[i % 36]) for i in range(n)))
    return out.getvalue()


def audio_cases(c: Corpus):
    good = c.asset("samples/short.wav")
    frames = good[44:]

    def snd(name, blob, expect, ext=".wav"):
        c.case("audio", name, ["audio-info", "--audio", c.file(f"audio/{name}{ext}", blob)], [f"{name}{ext}"] + expect)

    c.control("audio", "wav", ["audio-info", "--audio", c.file("audio/control.wav", wav(frames))])
    snd("empty", b"", ["empty"])
    snd("is-a-directory", DIRECTORY, ["is a directory"])
    c.case("audio", "missing", ["audio-info", "--audio", "{corpus}/audio/no-such.wav"], ["no-such.wav", "not found"])
    snd("text-named-wav", b"RIFF? no, just text pretending to be a sound file\n", ["not an audio file"])
    snd("truncated-header", good[:20], ["not an audio file"])
    snd("truncated-fmt", good[:30], ["not an audio file"])
    snd("no-data-chunk", good[:36], ["no 'data' chunk"])
    snd("data-size-zero", wav(b"", data_size=0), ["no samples"])
    # Accepted on purpose, as libsndfile and every player do: a data chunk cut short (a copy that stopped) and the
    # placeholder size a streaming writer leaves (ffmpeg -f wav - writes 0xFFFFFFFF). The samples present are used.
    c.case("audio", "accepted-truncated-data", ["audio-info", "--audio", c.file("audio/truncated-data.wav", good[:len(good) // 2])],
           ["0.099 s"], exit_code=0)
    c.case("audio", "accepted-streamed-size", ["audio-info", "--audio", c.file("audio/streamed.wav", wav(frames, data_size=0xFFFFFFFF))],
           ["0.200 s"], exit_code=0)
    snd("riff-not-wave", wav(frames, wave_id=b"AVI "), ["not an audio file"])
    snd("channels-zero", wav(frames, channels=0), ["not an audio file"])
    snd("rate-zero", wav(frames, rate=0), ["not an audio file"])
    snd("format-unsupported", wav(frames, fmt_tag=0x1234), ["not an audio file"])
    snd("channels-huge", wav(frames, channels=4000), ["not an audio file"])
    snd("rate-one-hertz", wav(frames, rate=1), ["600 s"])
    snd("too-long", tone(10 * 60 + 1, rate=1000), ["600 s"])
    # Through `run`: the model takes 30 s of audio; a longer clip is refused, not silently cut.
    c.case("audio", "run-longer-than-30-s", ["run", "-m", "tiny-e2b", "-p", "Listen", "-n", "1", "--audio",
                                             c.file("audio/thirty-one-seconds.wav", tone(31, rate=8000))],
           ["thirty-one-seconds.wav", "30 s"])
    c.case("audio", "run-empty", ["run", "-m", "tiny-e2b", "-p", "Listen", "-n", "1", "--audio", "{corpus}/audio/empty.wav"],
           ["empty.wav", "empty"])
    c.case("audio", "run-no-audio-tower", ["run", "-m", "tiny-31b", "-p", "Listen", "-n", "1", "--audio", "{corpus}/audio/control.wav"],
           ["tiny-31b", "no audio tower"])


# ---- .npz traces ---------------------------------------------------------------------------------------------------

def npy(descr: str, shape: tuple, data: bytes, *, fortran=False, version=1, header_text: str | None = None) -> bytes:
    text = header_text if header_text is not None else \
        "{'descr': %r, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))
    size_bytes = 2 if version == 1 else 4
    pad = (64 - (6 + 2 + size_bytes + len(text) + 1) % 64) % 64
    text = text + " " * pad + "\n"
    length = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text.encode("latin-1") + data


def npz(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, blob in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            z.writestr(info, blob)
    return out.getvalue()


def npz_cases(c: Corpus, probes_needed: bool = True):
    golden = zipfile.ZipFile(io.BytesIO(c.asset("goldens/tiny-31b-t7.npz")))
    keep = ["text.0.attn_q.npy", "text.logits.npy", "meta.model.npy", "meta.config_hash.npy", "meta.prompt.npy",
            "meta.tokens.npy", "meta.backend.npy", "meta.tool_version.npy"]
    entries = [(name, golden.read(name)) for name in keep]
    good = npz(entries)
    reference = c.file("npz/reference.npz", good)
    logits = dict(entries)["text.logits.npy"]
    logits_data = logits[128:]  # 7 x 512 float32 after the 128-byte v1.0 header
    assert len(logits_data) == 7 * 512 * 4

    def replaced(name, blob):
        return npz([(n, blob if n == name else b) for n, b in entries])

    def cand(name, blob, expect, exit_code=2):
        c.case("npz", name, ["check", c.file(f"npz/{name}.npz", blob), reference], [f"{name}.npz"] + expect, exit_code)

    c.control("npz", "same-trace", ["check", c.file("npz/control.npz", good), reference])
    c.control("npz", "rerun-model", ["check", "-m", "tiny-31b", "--golden", reference], probes=True)
    cand("empty", b"", ["empty"])
    c.case("npz", "is-a-directory", ["check", c.file("npz/a-directory.npz", DIRECTORY), reference], ["a-directory.npz", "is a directory"])
    c.case("npz", "missing", ["check", "{corpus}/npz/no-such.npz", reference], ["no-such.npz", "no such file"])
    c.case("npz", "reference-missing", ["check", reference, "{corpus}/npz/no-such-reference.npz"],
           ["no-such-reference.npz", "no such file"])
    cand("not-a-zip", b"PK? no. Just text.\n" * 10, ["not a zip"])
    cand("truncated-half", good[:len(good) // 2], ["zip"])
    cand("truncated-end", good[:-10], ["zip"])
    cand("no-central-directory", good[:good.rindex(b"PK\x01\x02")], ["zip"])
    # Central directory entry sizes that lie (the local header still says the truth).
    cd = good.index(b"PK\x01\x02")
    lying = bytearray(good)
    struct.pack_into("<II", lying, cd + 20, 0x7FFFFFF0, 0x7FFFFFF0)
    cand("sizes-lie", bytes(lying), ["text.0.attn_q"])
    # The same lie with an .npy header that agrees with it: refused before 2 GB are allocated for a 300-byte file.
    huge = npz([("text.logits.npy", npy("<f4", ((0x7FFFFFF0 - 128) // 4,), logits_data[:16])), entries[2]])
    lying = bytearray(huge)
    struct.pack_into("<II", lying, huge.index(b"PK\x01\x02") + 20, 0x7FFFFFF0, 0x7FFFFFF0)
    cand("sizes-lie-consistently", bytes(lying), ["text.logits", "larger than the whole file"])
    crc = bytearray(good)
    crc[good.index(b"\x93NUMPY", good.index(b"text.logits.npy")) + 200] ^= 0xFF
    cand("crc-mismatch", bytes(crc), ["text.logits", "CRC"])
    cand("npy-bad-magic", replaced("text.logits.npy", b"\x93NUMPX" + logits[6:]), ["text.logits", "magic"])
    cand("npy-version-9", replaced("text.logits.npy", logits[:6] + b"\x09\x00" + logits[8:]), ["text.logits", "version"])
    cand("npy-header-length-lies", replaced("text.logits.npy", logits[:8] + struct.pack("<H", 60000) + logits[10:]),
         ["text.logits", "header"])
    cand("npy-truncated-header", replaced("text.logits.npy", logits[:40]), ["text.logits", "header"])
    cand("npy-header-not-dict", replaced("text.logits.npy", npy("", (), logits_data, header_text="['<f4', False, (7, 512)]")),
         ["text.logits", "dict"])
    cand("npy-header-no-shape", replaced("text.logits.npy", npy("", (), logits_data, header_text="{'descr': '<f4', 'fortran_order': False}")),
         ["text.logits", "shape"])
    cand("npy-fortran-order", replaced("text.logits.npy", npy("<f4", (7, 512), logits_data, fortran=True)), ["text.logits", "fortran"])
    cand("npy-object-dtype", replaced("text.logits.npy", npy("|O", (7, 512), logits_data)), ["text.logits", "|O"])
    cand("npy-big-endian", replaced("text.logits.npy", npy(">f4", (7, 512), logits_data)), ["text.logits", "big-endian"])
    cand("npy-unknown-dtype", replaced("text.logits.npy", npy("<q7", (7, 512), logits_data)), ["text.logits", "<q7"])
    cand("npy-shape-too-big-for-data", replaced("text.logits.npy", npy("<f4", (7, 513), logits_data)), ["text.logits"])
    cand("npy-shape-huge", replaced("text.logits.npy", npy("<f4", (1 << 40, 1 << 40), logits_data)), ["text.logits"])
    cand("npy-shape-negative", replaced("text.logits.npy", npy("<f4", (-7, 512), logits_data)), ["text.logits"])
    cand("npy-data-truncated", replaced("text.logits.npy", logits[:len(logits) - 4]), ["text.logits"])
    cand("npy-string-dtype", replaced("text.logits.npy", npy("<U4", (7, 128), logits_data)), ["text.logits", "string"])
    cand("npy-version-2", replaced("text.logits.npy", npy("<f4", (7, 512), logits_data, version=2)), [], exit_code=0)
    cand("probe-shape-differs", replaced("text.logits.npy", npy("<f4", (512, 7), logits_data)), ["text.logits", "shape"], exit_code=1)
    nan = bytearray(logits_data)
    nan[0:4] = struct.pack("<f", float("nan"))
    cand("probe-has-nan", replaced("text.logits.npy", npy("<f4", (7, 512), bytes(nan))), ["text.logits", "NaN"], exit_code=1)
    cand("no-common-probe", npz([(n, b) for n, b in entries if not n.startswith("text.")]), ["no probe in common"])

    # check -m reruns the model on the golden's meta.tokens.
    def golden_case(name, blob, expect, model="tiny-31b"):
        c.case("npz", name, ["check", "-m", model, "--golden", c.file(f"npz/{name}.npz", blob)], [f"{name}.npz"] + expect, probes=True)

    tokens = dict(entries)["meta.tokens.npy"][128:]
    golden_case("golden-tokens-float", replaced("meta.tokens.npy", npy("<f8", (7,), tokens)), ["meta.tokens", "<f8"])
    golden_case("golden-tokens-out-of-vocabulary",
                replaced("meta.tokens.npy", npy("<i8", (7,), struct.pack("<7q", 2, 9, 99999, 1, 1, 1, 1))), ["99999", "vocabulary"])
    golden_case("golden-tokens-negative", replaced("meta.tokens.npy", npy("<i8", (7,), struct.pack("<7q", 2, -5, 3, 1, 1, 1, 1))),
                ["-5"])
    golden_case("golden-tokens-missing", npz([(n, b) for n, b in entries if n != "meta.tokens.npy"]), ["meta.tokens"])
    golden_case("golden-tokens-2d", replaced("meta.tokens.npy", npy("<i8", (7, 1), tokens)), ["meta.tokens"])
    golden_case("golden-beyond-context", good, ["context"], model=c.model("npz/context-4", "tiny-31b", {
        "config.json": dump(with_context(json.loads(c.asset("models/tiny-31b/config.json")), 4))}))


def with_context(cfg: dict, n: int) -> dict:
    cfg.setdefault("text_config", cfg)["max_position_embeddings"] = n
    return cfg


# ---- limits, missing files, directories where files are expected ---------------------------------------------------

def limit_cases(c: Corpus):
    small = c.model("limits/context-16", "tiny-e2b", {
        "config.json": dump(with_context(json.loads(c.asset("models/tiny-e2b/config.json")), 16))})
    long_prompt = "the quick brown fox jumps over the lazy dog " * 4
    c.control("limits", "fits-in-context", ["run", "-m", small, "--tokens", "2,10,11,12", "-n", "4"])
    c.case("limits", "prompt-beyond-context", ["run", "-m", small, "-p", long_prompt, "-n", "1"], ["prompt", "context of 16"])
    c.case("limits", "tokens-beyond-context", ["run", "-m", small, "--tokens", ",".join(["2"] + ["20"] * 16), "-n", "0"],
           ["prompt", "context of 16"])
    c.case("limits", "n-beyond-context", ["run", "-m", small, "--tokens", "2,10,11", "-n", "14"], ["-n 14", "context of 16"])
    c.case("limits", "n-huge", ["run", "-m", "tiny-e2b", "-p", "hi", "-n", "999999999"], ["-n", "context"])
    c.case("limits", "n-negative", ["run", "-m", "tiny-e2b", "-p", "hi", "-n", "-3"], ["-n", ">= 0"])
    c.case("limits", "n-beyond-int64", ["run", "-m", "tiny-e2b", "-p", "hi", "-n", "99999999999999999999999"], ["-n", "integer"])
    c.case("limits", "trace-beyond-context", ["trace", "-m", small, "-p", long_prompt, "-o", "{tmp}/t.npz"], ["prompt", "context of 16"],
           probes=True)
    c.case("limits", "info-context-beyond-model", ["info", "-m", small, "--context", "17"], ["--context", "context of 16"])
    c.case("limits", "random-tokens-beyond-context", ["run", "-m", small, "--random-tokens", "17", "-n", "0"], ["prompt", "context of 16"])

    # Missing files and directories where files (or a directory where a file) are expected.
    c.case("missing", "model-dir", ["info", "-m", "{corpus}/missing/no-such-model"], ["no-such-model", "no such directory"])
    c.case("missing", "model-name", ["run", "-m", "tiny-nothing", "-p", "hi"], ["tiny-nothing", "no bundled model"])
    c.case("missing", "model-is-a-file", ["info", "-m", c.file("missing/model-file", b"{}")], ["model-file", "is a file"])
    c.case("missing", "model-dir-empty", ["info", "-m", c.file("missing/empty-model", DIRECTORY)], ["empty-model", "no config.json"])
    c.case("missing", "trace-output-is-directory", ["trace", "-m", "tiny-31b", "--tokens", "2,3", "-o", "{tmp}"], ["{tmp}", "is a directory"],
           probes=True)
    c.case("missing", "trace-output-dir-missing", ["trace", "-m", "tiny-31b", "--tokens", "2,3", "-o", "{tmp}/no/such/dir/t.npz"],
           ["{tmp}/no/such/dir", "does not exist"], probes=True)
    c.case("missing", "synth-output-is-file", ["synth", "--variant", "tiny-e2b", "-o", c.file("missing/synth-file", b"x")],
           ["synth-file", "cannot create directory"])
    c.case("missing", "check-directory-as-golden", ["check", "-m", "tiny-31b", "--golden", "{corpus}/missing"],
           ["missing", "is a directory"], probes=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--assets", type=Path, default=Path(__file__).resolve().parent.parent / "assets",
                        help="the repository's assets/ (tiny models, samples, goldens)")
    args = parser.parse_args()
    out: Path = args.outdir
    if out.exists():
        # Only ever delete a directory this script wrote.
        if any(out.iterdir()) and not (out / "manifest.jsonl").exists() and not (out / ".bad-inputs").exists():
            print(f"make_bad_inputs.py: {out} exists and is not a corpus this script wrote; not touching it", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / ".bad-inputs").write_text("written by tools/make_bad_inputs.py\n")
    c = Corpus(out.resolve(), args.assets.resolve())
    for make in (safetensors_cases, shard_index_cases, config_cases, tokenizer_cases, chat_cases, image_cases, audio_cases,
                 npz_cases, limit_cases):
        make(c)
    c.write_manifest()
    counts: dict[str, int] = {}
    for case in c.cases:
        counts[case["format"]] = counts.get(case["format"], 0) + 1
    print(f"make_bad_inputs.py: {len(c.cases)} cases in {out} (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
