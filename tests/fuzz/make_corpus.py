#!/usr/bin/env python3
# make_corpus.py — writes the committed seed corpora (tests/fuzz/corpus/<target>/) and libFuzzer dictionaries
# (tests/fuzz/<target>.dict) of the fuzz targets. Small valid inputs of every kind each parser accepts, some taken
# from assets/ and cut down, the rest built here. Needs python3 and, for the image and audio seeds, a C compiler with
# libstb-dev (stb_image_write for JPEG / BMP / TGA) and libsndfile (FLAC, OGG, AIFF, AU) — both in
# tools/debian-packages.txt. Running it again rewrites the same bytes, except the float WAV's PEAK timestamp and the
# Ogg stream serial number, which libsndfile picks.
#
#   python3 tests/fuzz/make_corpus.py          (from the repository root)
import ctypes
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "tests", "fuzz")
ASSETS = os.path.join(ROOT, "assets")


def corpus(target):
    d = os.path.join(FUZZ, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def dictionary(target, entries):
    def quote(s):
        b = s if isinstance(s, bytes) else s.encode()
        return '"' + "".join(chr(c) if 32 <= c < 127 and chr(c) not in '"\\' else "\\x%02X" % c for c in b) + '"'
    write(os.path.join(FUZZ, target + ".dict"),
          "# libFuzzer dictionary for fuzz_%s, written by make_corpus.py\n" % target +
          "".join(quote(e) + "\n" for e in dict.fromkeys(entries)))


def json_keys(*sources):
    """The string literals of the given reference/ files that look like JSON keys or values."""
    keys = []
    for src in sources:
        with open(os.path.join(ROOT, "reference", src)) as f:
            keys += re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', f.read())
    return keys


JSON_TOKENS = ["{", "}", "[", "]", ":", ",", "\"", "true", "false", "null", "-1", "0", "1e308", "1e400",
               "2147483647", "2147483648", "9223372036854775808", "1.5", "\\u0000", "\\ud800"]

# ---------------------------------------------------------------------------------------------------- safetensors


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def make_safetensors():
    d = corpus("safetensors")
    with open(os.path.join(ASSETS, "models", "tiny-e2b", "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        start = 8 + n
        picked = []
        for name, e in header.items():
            if name == "__metadata__" or e["data_offsets"][1] - e["data_offsets"][0] > 2048:
                continue
            f.seek(start + e["data_offsets"][0])
            picked.append((name, e["dtype"], e["shape"], f.read(e["data_offsets"][1] - e["data_offsets"][0])))
            if len(picked) == 6:
                break
    write(os.path.join(d, "tiny_e2b_excerpt.safetensors"), safetensors(picked, {"format": "pt"}))
    write(os.path.join(d, "dtypes.safetensors"), safetensors([
        ("f32", "F32", [2], struct.pack("<2f", 1.5, -2.0)),
        ("f16", "F16", [2, 1], struct.pack("<2H", 0x3c00, 0x7c00)),
        ("bf16", "BF16", [3], struct.pack("<3H", 0x3f80, 0xff80, 0x7fc0)),
        ("i64", "I64", [1], struct.pack("<q", -7)),
        ("u8", "U8", [4], b"\x00\x01\xfe\xff"),
        ("bool", "BOOL", [2], b"\x00\x01"),
        ("f64", "F64", [1], struct.pack("<d", 0.25)),
        ("f8", "F8_E4M3", [2], b"\x38\xb8"),
        ("scalar", "I32", [], struct.pack("<i", 3)),
        ("empty", "F32", [0, 3], b""),
    ]))
    write(os.path.join(d, "empty.safetensors"), safetensors([]))
    dictionary("safetensors", ["dtype", "shape", "data_offsets", "__metadata__", "format", "pt"] +
               ["BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F16", "BF16", "F32", "F64",
                "F8_E4M3", "F8_E5M2", "model.language_model.embed_tokens.weight", "\x00\x00\x00\x00\x00\x00\x00"] +
               JSON_TOKENS)


def make_safetensors_index():
    d = corpus("safetensors_index")
    s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    write(os.path.join(d, "both_shards.json"), json.dumps(
        {"metadata": {"total_size": 18}, "weight_map": {"a": s1, "b": s1, "c": s2}}, indent=2))
    write(os.path.join(d, "first_shard.json"), json.dumps({"weight_map": {"a": s1, "b": s1}}))
    write(os.path.join(d, "wrong_shard.json"), json.dumps({"weight_map": {"a": s2, "b": s1, "c": s2}}))
    dictionary("safetensors_index", ["weight_map", "metadata", "total_size", s1, s2, "a", "b", "c", "..", "/",
                                     "\\", ".", "model.safetensors"] + JSON_TOKENS)

# ---------------------------------------------------------------------------------------------------- JSON configs


def make_config():
    d = corpus("config")
    for model in sorted(os.listdir(os.path.join(ASSETS, "models"))):
        shutil.copy(os.path.join(ASSETS, "models", model, "config.json"), os.path.join(d, model + ".json"))
    with open(os.path.join(ASSETS, "models", "tiny-e2b", "config.json")) as f:
        text_only = json.load(f)["text_config"]
    text_only["model_type"] = "gemma4_text"
    write(os.path.join(d, "tiny-e2b-text-only.json"), json.dumps(text_only, indent=2))
    dictionary("config", json_keys("config.cpp") + JSON_TOKENS)


def make_tokenizer():
    d = corpus("tokenizer")
    shutil.copy(os.path.join(ASSETS, "models", "tiny-e2b", "tokenizer.json"), os.path.join(d, "tiny.json"))
    for name in ("synthetic-a", "synthetic-b"):
        shutil.copy(os.path.join(ASSETS, "tokenizer", name, "tokenizer.json"), os.path.join(d, name + ".json"))
    dictionary("tokenizer", json_keys("tokenizer.cpp") + [
        "BPE", "Replace", "Prepend", "Sequence", "Split", "ByteFallback", "Fuse", "Strip", "TemplateProcessing",
        "Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous", "String", "Regex",
        "SpecialToken", "<0x41>", "<0xFF>", "<unk>", "<bos>", "\xe2\x96\x81"] + JSON_TOKENS)


def make_tokenizer_config():
    d = corpus("tokenizer_config")
    shutil.copy(os.path.join(ASSETS, "models", "tiny-e2b", "tokenizer_config.json"), os.path.join(d, "tiny.json"))
    shutil.copy(os.path.join(ASSETS, "tokenizer", "synthetic-a", "tokenizer_config.json"),
                os.path.join(d, "synthetic-a.json"))
    write(os.path.join(d, "objects.json"), json.dumps({
        "add_bos_token": True, "add_eos_token": False,
        "bos_token": {"content": "<bos>", "lstrip": False}, "eos_token": "<eos>", "pad_token": None,
        "chat_template": [{"name": "tool_use", "template": "x"},
                          {"name": "default", "template": "{{ '<|think|>\\n' }}{{ '<|channel>thought\\n<channel|>' }}"}],
    }))
    dictionary("tokenizer_config", json_keys("tokenizer.cpp") + [
        "add_bos_token", "add_eos_token", "bos_token", "eos_token", "pad_token", "unk_token", "chat_template",
        "content", "name", "template", "default", "<bos>", "<eos>", "<pad>", "'<|think|>\\n'",
        "'<|channel>thought\\n<channel|>'"] + JSON_TOKENS)


def make_chat():
    d = corpus("chat")
    RS, US = b"\x1e", b"\x1f"
    system, developer, user, assistant, model, tool = (bytes([i]) for i in range(6))
    write(os.path.join(d, "conversation"), b"\x05" + system + b"  You are helpful.\n" + RS + user + b"Hello" + US +
          b"I" + US + b" what is this? " + RS + assistant + b"<|channel>thought\nhmm<channel|>A cat." + RS + user +
          b"A" + US + b"and this?")
    write(os.path.join(d, "thinking"), b"\x0b" + developer + "\u3000 sys \u2028".encode() + RS + model +
          b"a<|channel>x<channel|>b<channel|>c" + RS + user + b"V" + US + "\xa0ünï\x85".encode())
    write(os.path.join(d, "invalid"), b"\x01" + user + b"\xff\xfe \xc3" + RS + tool + b"x")
    dictionary("chat", ["<|channel>", "<channel|>", "<|turn>", "<turn|>", "<bos>", "<|image|>", "<|audio|>",
                        "<|think|>", "thought\n", "\x1e", "\x1f", "\xe3\x80\x80", "\xe2\x80\xa8", "\xc2\x85",
                        "\xc2\xa0", "\xf0\x9f\x99\x82", "\xed\xa0\x80"])

# ---------------------------------------------------------------------------------------------------- images


def png(width, height, color_type, bit_depth, rows, extra_chunks=()):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)) +
            b"".join(chunk(k, v) for k, v in extra_chunks) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def gradient(width, height, channels):
    return [bytes((x * 37 + y * 11 + c * 80) % 256 for x in range(width) for c in range(channels))
            for y in range(height)]


def stb_write(kind, path, width, height, channels, pixels):
    """JPEG / BMP / TGA through stb_image_write, compiled into a throwaway shared library."""
    if not hasattr(stb_write, "lib"):
        tmp = tempfile.mkdtemp()
        so = os.path.join(tmp, "libstbiw.so")
        subprocess.check_call(["cc", "-shared", "-fPIC", "-O1", "-DSTB_IMAGE_WRITE_IMPLEMENTATION", "-x", "c",
                               "/usr/include/stb/stb_image_write.h", "-o", so, "-lm"])
        stb_write.lib = ctypes.CDLL(so)
    buf = ctypes.create_string_buffer(b"".join(pixels))
    lib = stb_write.lib
    p = path.encode()
    ok = {"jpg": lambda: lib.stbi_write_jpg(p, width, height, channels, buf, 75),
          "bmp": lambda: lib.stbi_write_bmp(p, width, height, channels, buf),
          "tga": lambda: lib.stbi_write_tga(p, width, height, channels, buf)}[kind]()
    assert ok, path


def make_image():
    d = corpus("image")
    shutil.copy(os.path.join(ASSETS, "samples", "tall.png"), os.path.join(d, "tall.png"))
    write(os.path.join(d, "rgba.png"), png(5, 3, 6, 8, gradient(5, 3, 4)))
    write(os.path.join(d, "grey16.png"), png(4, 4, 0, 16, gradient(4, 4, 2)))
    write(os.path.join(d, "palette_trns.png"), png(6, 2, 3, 4, [b"\x01\x23\x45", b"\x67\x01\x23"],
                                                   [(b"PLTE", bytes(range(24))), (b"tRNS", b"\x00\x80")]))
    write(os.path.join(d, "square48.png"), png(48, 48, 2, 8, gradient(48, 48, 3)))
    stb_write("jpg", os.path.join(d, "wide.jpg"), 96, 48, 3, gradient(96, 48, 3))
    stb_write("bmp", os.path.join(d, "small.bmp"), 7, 5, 3, gradient(7, 5, 3))
    stb_write("tga", os.path.join(d, "alpha.tga"), 4, 6, 4, gradient(4, 6, 4))
    write(os.path.join(d, "one.gif"), bytes.fromhex(  # the classic 1x1 GIF89a
        "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b"))
    write(os.path.join(d, "colour.ppm"), b"P6\n3 2\n255\n" + b"".join(gradient(3, 2, 3)))
    write(os.path.join(d, "grey.pgm"), b"P5 4 2 255\n" + b"".join(gradient(4, 2, 1)))
    psd = (b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 2, 3, 8, 3) + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) +
           bytes(range(18)))  # 3x2 RGB, raw planar data
    write(os.path.join(d, "tiny.psd"), psd)
    dictionary("image", ["\x89PNG\r\n\x1a\n", "IHDR", "IDAT", "IEND", "PLTE", "tRNS", "BM", "GIF89a", "GIF87a",
                         "8BPS", "\xff\xd8\xff\xe0", "\xff\xc0", "\xff\xc2", "\xff\xda", "\xff\xd9", "\xff\xdb",
                         "\xff\xc4", "P6\n", "P5\n", "255\n", "\x00\x00\x00\x7f", "\xff\xff\xff\x7f"])

# ---------------------------------------------------------------------------------------------------- audio


class SfInfo(ctypes.Structure):
    _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]


def sound(path, fmt, rate, channels, seconds):
    sf = ctypes.CDLL("libsndfile.so.1")
    sf.sf_open.restype = ctypes.c_void_p
    sf.sf_writef_float.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
    sf.sf_close.argtypes = [ctypes.c_void_p]
    info = SfInfo(0, rate, channels, fmt, 0, 0)
    handle = sf.sf_open(path.encode(), 0x20, ctypes.byref(info))  # SFM_WRITE
    assert handle, path
    n = int(rate * seconds)
    values = [0.5 * math.sin(2 * math.pi * 440 * (i // channels) / rate + (i % channels)) for i in range(n * channels)]
    sf.sf_writef_float(handle, (ctypes.c_float * len(values))(*values), n)
    sf.sf_close(handle)


def make_audio():
    d = corpus("audio")
    WAV, AIFF, AU, FLAC, OGG = 0x010000, 0x020000, 0x030000, 0x170000, 0x200000
    PCM_16, PCM_24, PCM_U8, FLOAT, ULAW, VORBIS = 0x02, 0x03, 0x05, 0x06, 0x10, 0x60
    sound(os.path.join(d, "mono16k.wav"), WAV | PCM_16, 16000, 1, 0.1)
    sound(os.path.join(d, "stereo8k_u8.wav"), WAV | PCM_U8, 8000, 2, 0.1)
    sound(os.path.join(d, "float44k.wav"), WAV | FLOAT, 44100, 1, 0.03)
    sound(os.path.join(d, "tiny.wav"), WAV | PCM_16, 16000, 1, 0.005)  # 80 samples: no valid mel frame
    sound(os.path.join(d, "pcm24.aiff"), AIFF | PCM_24, 22050, 1, 0.05)
    sound(os.path.join(d, "ulaw.au"), AU | ULAW, 8000, 1, 0.1)
    sound(os.path.join(d, "mono16k.flac"), FLAC | PCM_16, 16000, 1, 0.2)
    sound(os.path.join(d, "stereo.ogg"), OGG | VORBIS, 16000, 2, 0.2)
    dictionary("audio", ["RIFF", "WAVE", "fmt ", "data", "fact", "LIST", "RF64", "FORM", "AIFF", "AIFC", "COMM",
                         "SSND", ".snd", "fLaC", "OggS", "\x01vorbis", "\x80\xbb\x00\x00", "\x00\x7d\x00\x00",
                         "\xff\xff\xff\x7f", "\x01\x00", "\x03\x00", "\xfe\xff"])

# ---------------------------------------------------------------------------------------------------- npz


def npy(descr, shape, raw, version=(1, 0)):
    shape_text = "(" + "".join("%d," % s for s in shape) + ")" if len(shape) != 1 else "(%d,)" % shape[0]
    if not shape:
        shape_text = "()"
    header = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)).encode()
    prefix = 10 if version[0] == 1 else 12
    header += b" " * ((64 - (prefix + len(header) + 1) % 64) % 64) + b"\n"
    length = struct.pack("<H", len(header)) if version[0] == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes(version) + length + header + raw


def zip_bytes(entries, method):
    path = tempfile.mktemp(suffix=".npz")
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def make_npz():
    d = corpus("npz")
    trace = [
        ("text.logits.npy", npy("<f4", [2, 3], struct.pack("<6f", *range(6)))),
        ("meta.tokens.npy", npy("<i8", [4], struct.pack("<4q", 2, 9, -1, 7))),
        ("meta.prompt.npy", npy("<U5", [], "héllo".encode("utf-32-le"))),
        ("meta.model.npy", npy("|S4", [], b"tiny")),
        ("mask.npy", npy("|b1", [3], b"\x00\x01\x01")),
        ("ids.npy", npy("<i4", [2, 0], b"")),
        ("bytes.npy", npy("|u1", [2], b"\x00\xff")),
        ("scalar.npy", npy("<f8", [], struct.pack("<d", 0.5), version=(2, 0))),
        ("half.npy", npy("<f2", [1], b"\x00\x3c", version=(3, 0))),
    ]
    write(os.path.join(d, "stored.npz"), zip_bytes(trace, zipfile.ZIP_STORED))
    write(os.path.join(d, "deflated.npz"), zip_bytes(trace[:3], zipfile.ZIP_DEFLATED))
    write(os.path.join(d, "empty.npz"), b"PK\x05\x06" + bytes(18))
    dictionary("npz", ["PK\x03\x04", "PK\x01\x02", "PK\x05\x06", "PK\x06\x06", "PK\x06\x07", "\x93NUMPY",
                       "\x01\x00", "\x02\x00", "\x03\x00", "'descr'", "'fortran_order'", "'shape'", "True", "False",
                       "<f4", "<f8", "<f2", "<i4", "<i8", "|u1", "|b1", "<U", "|S", ">f4", "|O", "()", "(0,)",
                       ".npy", "\xff\xff\xff\xff", "\x00\x00\x00\x00"])


if __name__ == "__main__":
    for make in (make_safetensors, make_safetensors_index, make_config, make_tokenizer, make_tokenizer_config,
                 make_chat, make_image, make_audio, make_npz):
        make()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(os.path.join(FUZZ, "corpus")) for f in fs)
    print("make_corpus.py: seed corpora in %s (%d bytes)" % (os.path.join(FUZZ, "corpus"), total), file=sys.stderr)
