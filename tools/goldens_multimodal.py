"""Vision and audio side of make_goldens.py: the synthetic sample image and waveform, tower runs for clip-bound
calibration, and the vision/audio golden traces.

The synthetic samples are generated (no downloads): a 160x120 RGB picture of gradients, a disc and a checkerboard
(also drawn at 240x96, 1000x40 and 12x1000), and 16 kHz mono waveforms (chirp, tone bursts, a little seeded noise;
1.5 s, 0.2 s and 12 s) stored as 16-bit PCM. Two recorded samples are committed files that the script only reads:
photo.png (a CC0 photograph from a Debian package, cropped and downscaled by make_photo) and speech.wav (espeak-ng
through sox, make_speech); --photo-jpg / --remake-speech rewrite them. The goldens read every file back, so the C++
side can start from the same bytes.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import torch

VISION_POINTS = ["patches", "patch_grid", "patch_embed", "attn_norm", "attn_q_rope", "attn_k_rope", "attn_v",
                 "attn_weights", "attn_o", "attn_residual", "mlp_out", "layer_out", "pooled", "soft_tokens"]
AUDIO_POINTS = ["mel", "subsample", "ffn1_out", "attn_weights", "attn_out", "conv_out", "layer_out", "encoder_out",
                "soft_tokens"]

CALIBRATION_BUDGET = 70
# The small picture is patchified as it is (do_resize=False): 240x96 pixels = a 6x15 patch grid = 2x5 pooled cells,
# 90 patches, so its traces can keep the full attention matrices; its 10 soft tokens outnumber the text window (8).
SMALL_IMAGE_SIZE = (240, 96)
SAMPLE_RATE = 16000

# Extra samples (issue [3/9] item 5). Synthetic ones are written by Samples.write; the recorded ones are committed.
WIDE_IMAGE_SIZE = (1000, 40)      # 25:1, the ordinary resize path at every budget
TALL_IMAGE_SIZE = (12, 1000)      # 1:83, narrower than one 48-pixel cell at budget 70: the zero-width branch
SHORT_SECONDS, LONG_SECONDS = 0.2, 12.0
EXTRA_IMAGES = {"photo": "photo.png", "wide": "wide.png", "tall": "tall.png"}
EXTRA_CLIPS = {"speech": "speech.wav", "short": "short.wav", "long": "long.wav"}
EXTRA_IMAGE_BUDGETS = [70, 280]                   # tower goldens <model>-<image><budget>.npz
PLAN_BUDGETS = [70, 140, 280, 560, 1120]          # goldens/image_plans.json (every budget transformers supports)
# Processor outputs (vision.patches, audio.mel) do not depend on the model (all four processor_config.json files
# are the same); the extra goldens store them once, in this model's files.
PROCESSOR_OUTPUT_MODEL = "tiny-e2b"
PHOTO_PROMPT_MODEL, PHOTO_PROMPT_BUDGET = "tiny-26b-a4b", 70
PHOTO_PROMPT = "Describe<|image|>briefly."
SPEECH_PROMPT_MODEL = "tiny-e2b"
SPEECH_PROMPT = "Transcribe:<|audio|>"

# The photograph: Debian package lomiri-wallpapers-16.04 (source lomiri-wallpapers 20.04.0-2, bookworm),
# /usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg, "Copyright: Clemens Engelhardt, 2018, License: CC0-1.0"
# (debian/copyright). 5312x2988 JPEG; a 4:3 crop around the dandelion, Lanczos-downscaled to 320x240.
PHOTO_SOURCE_SHA256 = "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f"
PHOTO_CROP = (240, 0, 4224, 2988)                 # left, top, right, bottom: 3984x2988 = 4:3
PHOTO_SIZE = (320, 240)
SPEECH_TEXT = "The quick brown fox jumps over the lazy dog."
SPEECH_VOICE = "en-us"


def make_photo(jpg: Path, png: Path) -> None:
    """photo.png from the Debian JPEG (Pillow: decode, crop, LANCZOS resize, PNG with optimize=True)."""
    import hashlib

    from PIL import Image

    digest = hashlib.sha256(jpg.read_bytes()).hexdigest()
    if digest != PHOTO_SOURCE_SHA256:
        raise RuntimeError(f"{jpg}: sha256 {digest}, expected {PHOTO_SOURCE_SHA256}")
    with Image.open(jpg) as im:
        im = im.convert("RGB").crop(PHOTO_CROP).resize(PHOTO_SIZE, Image.LANCZOS)
    im.save(png, format="PNG", optimize=True)


def speech_commands(raw: Path, wav: Path) -> list[list[str]]:
    return [["espeak-ng", "-v", SPEECH_VOICE, "-w", str(raw), SPEECH_TEXT],
            ["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", str(wav)]]


def make_speech(wav: Path) -> None:
    """speech.wav: espeak-ng (22050 Hz) resampled by sox to 16 kHz mono 16-bit, no dither (-D: repeatable)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for cmd in speech_commands(Path(tmp) / "speech22k.wav", wav):
            subprocess.run(cmd, check=True)


def captured_points(tower: str) -> list[str]:
    return {"vision": VISION_POINTS, "audio": AUDIO_POINTS}.get(tower, [])


def sample_image_array(width: int = 160, height: int = 120) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255.0 * x / (width - 1)
    g = 255.0 * y / (height - 1)
    b = 128.0 + 100.0 * np.sin(x / 7.0) * np.cos(y / 5.0)
    disc = (x - 0.62 * width) ** 2 + (y - 0.45 * height) ** 2 < (0.22 * height) ** 2
    r[disc], g[disc], b[disc] = 250.0, 240.0, 30.0
    checker = (x < 0.3 * width) & (y > 0.6 * height) & ((((x // 6) + (y // 6)) % 2) == 0)
    r[checker], g[checker], b[checker] = 10.0, 10.0, 10.0
    img = np.stack([r, g, b], axis=-1)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def sample_waveform(seconds: float = 1.5) -> np.ndarray:
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    f0, f1 = 200.0, 2400.0
    chirp = 0.3 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))
    bursts = 0.25 * np.sin(2 * np.pi * 440.0 * t) * ((t * 4).astype(int) % 2 == 0)
    noise = 0.02 * np.random.default_rng(1234).standard_normal(n)
    w = chirp + bursts + noise
    return np.clip(np.rint(w * 32767.0), -32768, 32767).astype(np.int16)


def _write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


def load_image(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB").copy()


def load_wave(path: Path) -> np.ndarray:
    """float32 samples in [-1, 1): int16 / 32768 (16 kHz mono 16-bit PCM only)."""
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise RuntimeError(f"{path}: expected 16 kHz mono 16-bit PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


class Samples:
    """The sample files under assets/samples and their decoded contents."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.image_path = directory / "sample.png"
        self.wave_path = directory / "sample.wav"
        self.small_image_path = directory / "sample_small.png"

    def write(self) -> None:
        from PIL import Image

        self.dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample_image_array(), mode="RGB").save(self.image_path, format="PNG", optimize=False)
        Image.fromarray(sample_image_array(*SMALL_IMAGE_SIZE), mode="RGB").save(self.small_image_path, format="PNG",
                                                                                optimize=False)
        _write_wav(self.wave_path, sample_waveform())
        for key, size in (("wide", WIDE_IMAGE_SIZE), ("tall", TALL_IMAGE_SIZE)):
            Image.fromarray(sample_image_array(*size), mode="RGB").save(self.dir / EXTRA_IMAGES[key], format="PNG",
                                                                        optimize=False)
        _write_wav(self.dir / EXTRA_CLIPS["short"], sample_waveform(SHORT_SECONDS))
        _write_wav(self.dir / EXTRA_CLIPS["long"], sample_waveform(LONG_SECONDS))

    def check_recorded(self) -> None:
        """The committed recorded samples are there and in the expected format."""
        from PIL import Image

        photo = self.dir / EXTRA_IMAGES["photo"]
        if not photo.exists():
            raise RuntimeError(f"{photo} missing: pass --photo-jpg (see assets/README.md)")
        with Image.open(photo) as im:
            if im.size != PHOTO_SIZE or im.mode != "RGB":
                raise RuntimeError(f"{photo}: {im.size} {im.mode}, expected {PHOTO_SIZE} RGB")
        speech = self.dir / EXTRA_CLIPS["speech"]
        if not speech.exists():
            raise RuntimeError(f"{speech} missing: pass --remake-speech (see assets/README.md)")
        load_wave(speech)

    def image(self, small: bool = False):
        return load_image(self.small_image_path if small else self.image_path)

    def waveform(self) -> np.ndarray:
        """float32 samples in [-1, 1): int16 / 32768."""
        return load_wave(self.wave_path)

    def image_inputs(self, budget: int):
        from transformers import Gemma4ImageProcessor

        return Gemma4ImageProcessor()(images=[self.image()], max_soft_tokens=budget, return_tensors="pt")

    def audio_inputs(self):
        from transformers import Gemma4AudioFeatureExtractor

        # A list (batch of one): transformers 5.23's extractor fails on a bare 1-D array (squeeze of a 2-D array).
        return Gemma4AudioFeatureExtractor()([self.waveform()], sampling_rate=SAMPLE_RATE, return_tensors="pt")

    @torch.no_grad()
    def run_towers(self, model) -> None:
        """Run the vision (and audio, if present) tower of `model` on the samples (used for clip calibration)."""
        px = self.image_inputs(CALIBRATION_BUDGET)
        model.model.get_image_features(px["pixel_values"], px["image_position_ids"])
        if model.model.audio_tower is not None:
            fe = self.audio_inputs()
            model.model.get_audio_features(fe["input_features"], fe["input_features_mask"])


# ---------------------------------------------------------------------------------------------------------------------
# Processor


def make_processor(model_dir: Path):
    """A Gemma4Processor around the tiny tokenizer (the processor config itself is not model-specific)."""
    from transformers import (AutoTokenizer, Gemma4AudioFeatureExtractor, Gemma4ImageProcessor, Gemma4Processor,
                              Gemma4VideoProcessor)

    tok = AutoTokenizer.from_pretrained(model_dir)
    return Gemma4Processor(feature_extractor=Gemma4AudioFeatureExtractor(), image_processor=Gemma4ImageProcessor(),
                           tokenizer=tok, video_processor=Gemma4VideoProcessor())


def write_processor_config(model_dir: Path, tmp_dir: Path) -> None:
    """processor_config.json as Gemma4Processor.save_pretrained writes it (tokenizer files are ours, not copied)."""
    import shutil

    make_processor(model_dir).save_pretrained(tmp_dir)
    shutil.copyfile(tmp_dir / "processor_config.json", model_dir / "processor_config.json")


# ---------------------------------------------------------------------------------------------------------------------
# Capture


def _close(name, a, b, atol=1e-5, rtol=1e-5, exact=False):
    from goldens_trace import _close as close
    close(name, a, b, atol=atol, rtol=rtol, exact=exact)


def _absmax(x: torch.Tensor) -> float:
    return float(x.abs().max()) if x.numel() else 0.0


def _rms(x, w=None, eps=1e-6):
    y = x * torch.pow(x.pow(2).mean(-1, keepdim=True) + eps, -0.5)
    return y if w is None else y * w


def _clin(mod, x):
    """Gemma4ClippableLinear, recomputed: clamp(W·clamp(x, in_min, in_max), out_min, out_max)."""
    import torch.nn.functional as F

    if mod.use_clipped_linears:
        x = torch.clamp(x, mod.input_min, mod.input_max)
    y = F.linear(x, mod.linear.weight)
    if mod.use_clipped_linears:
        y = torch.clamp(y, mod.output_min, mod.output_max)
    return y


class Hooks:
    def __init__(self):
        self.t: dict[str, torch.Tensor] = {}
        self.handles = []

    def put(self, name, x):
        if name in self.t:
            raise RuntimeError(f"{name} captured twice")
        self.t[name] = x.detach().clone()

    def fwd(self, mod, name, fn=lambda o: o):
        self.handles.append(mod.register_forward_hook(lambda m, a, o: self.put(name, fn(o))))

    def pre(self, mod, name, fn=lambda a: a[0]):
        self.handles.append(mod.register_forward_pre_hook(lambda m, a: self.put(name, fn(a))))

    def pre_kw(self, mod, fn):
        def hook(m, a, k):
            fn(a, k)
            return None  # a with_kwargs pre-hook that returns something replaces the arguments

        self.handles.append(mod.register_forward_pre_hook(hook, with_kwargs=True))

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []


class VisionCapture(Hooks):
    """Vision tower probes for one image (batch 1). Arrays are stripped to the N real patches."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        vt = model.model.vision_tower
        self.vt = vt
        self.pre_kw(vt, lambda a, k: (self.put("_pixel_values", k.get("pixel_values", a[0] if a else None)),
                                      self.put("_positions", k["pixel_position_ids"])))
        self.fwd(vt.patch_embedder, "_patch_embed")
        for l, layer in enumerate(vt.encoder.layers):
            p = f"_v.{l}."
            at = layer.self_attn

            def attn_pre(a, k, p=p):
                cos, sin = k["position_embeddings"]
                self.put(p + "cos", cos); self.put(p + "sin", sin)
                self.put(p + "pos", k["position_ids"])
                self.put(p + "mask", k["attention_mask"] if k.get("attention_mask") is not None else torch.zeros(0))

            self.pre(layer, p + "in")
            self.fwd(layer.input_layernorm, p + "attn_norm")
            self.pre_kw(at, attn_pre)
            self.fwd(at.q_norm, p + "q_normed")
            self.fwd(at.k_norm, p + "k_normed")
            self.fwd(at.v_norm, p + "attn_v")
            self.fwd(at, p + "attn_weights", lambda o: o[1])
            self.pre(at.o_proj, p + "o_in")
            self.fwd(at.o_proj, p + "attn_o")
            self.pre(layer.pre_feedforward_layernorm, p + "attn_residual")
            self.fwd(layer.mlp, p + "mlp_out")
            self.fwd(layer, p + "layer_out")
        self.fwd(vt.pooler, "_pooler", lambda o: o[0][o[1]])
        self.fwd(vt, "_tower_out", lambda o: o.last_hidden_state)
        self.fwd(model.model.embed_vision, "_soft_tokens")

    def probes(self) -> dict[str, torch.Tensor]:
        from transformers.models.gemma4 import modeling_gemma4 as hf

        t = self.t
        pos = t["_positions"][0]
        real = (pos != -1).all(-1)
        n = int(real.sum())
        if not bool(real[:n].all()):
            raise AssertionError("padding patches are not all at the end")
        rows, cols = int(pos[:n, 1].max()) + 1, int(pos[:n, 0].max()) + 1
        out = {"vision.patches": t["_pixel_values"][0, :n], "vision.patch_grid": torch.tensor([rows, cols],
                                                                                           dtype=torch.int32),
               "vision.patch_embed": t["_patch_embed"][0, :n]}
        for l in range(len(self.vt.encoder.layers)):
            p, q = f"_v.{l}.", f"vision.{l}."
            qr = hf.apply_multidimensional_rope(t[p + "q_normed"], t[p + "cos"], t[p + "sin"], t[p + "pos"])
            kr = hf.apply_multidimensional_rope(t[p + "k_normed"], t[p + "cos"], t[p + "sin"], t[p + "pos"])
            out[q + "attn_norm"] = t[p + "attn_norm"][0, :n]
            out[q + "attn_q_rope"] = qr[0, :n]
            out[q + "attn_k_rope"] = kr[0, :n]
            out[q + "attn_v"] = t[p + "attn_v"][0, :n]
            w = t[p + "attn_weights"][0]
            if _absmax(w[:, :n, n:]) != 0.0:
                raise AssertionError(f"vision layer {l}: real queries attend to padding patches")
            out[q + "attn_weights"] = w[:, :n, :n]
            out[q + "attn_o"] = t[p + "attn_o"][0, :n]
            out[q + "attn_residual"] = t[p + "attn_residual"][0, :n]
            out[q + "mlp_out"] = t[p + "mlp_out"][0, :n]
            out[q + "layer_out"] = t[p + "layer_out"][0, :n]
        out["vision.pooled"] = t["_pooler"]
        out["vision.soft_tokens"] = t["_soft_tokens"]
        return out

    @torch.no_grad()
    def self_check(self, probes, image_features: torch.Tensor) -> None:
        """Recompute the tower from the captured patches with the spec's formulas."""
        import torch.nn.functional as F

        vt, t = self.vt, self.t
        cfg = vt.config
        pos = t["_positions"][0]
        n = probes["vision.patches"].shape[0]
        x_pos, y_pos = pos[:n, 0], pos[:n, 1]
        pe = vt.patch_embedder
        h = F.linear(2 * (probes["vision.patches"] - 0.5), pe.input_proj.weight) \
            + pe.position_embedding_table[0][x_pos] + pe.position_embedding_table[1][y_pos]
        _close("vision.patch_embed", probes["vision.patch_embed"], h)
        hd = cfg.head_dim
        sd = hd // 2                                   # RoPE over hd/2 per axis: x on the first half, y on the second
        inv = 1.0 / (cfg.rope_parameters["rope_theta"] ** (torch.arange(0, sd, 2, dtype=torch.float32) / sd))

        def rope2d(x):                                 # x [n, H, hd]
            def rot(part, p):
                ang = p.float()[:, None] * inv[None, :]
                c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
                a, b = part[..., : sd // 2], part[..., sd // 2:]
                return torch.cat([a * c - b * s, b * c + a * s], dim=-1)
            return torch.cat([rot(x[..., :sd], x_pos), rot(x[..., sd:], y_pos)], dim=-1)

        for l, layer in enumerate(vt.encoder.layers):
            q_, at = f"vision.{l}.", layer.self_attn
            x_in = t[f"_v.{l}.in"][0, :n]
            if l == 0:
                _close("vision layer 0 input", x_in, probes["vision.patch_embed"], exact=True)
            else:
                _close(f"vision layer {l} input", x_in, probes[f"vision.{l - 1}.layer_out"], exact=True)
            a = _rms(x_in, layer.input_layernorm.weight)
            _close(q_ + "attn_norm", probes[q_ + "attn_norm"], a)
            H = cfg.num_attention_heads
            qv = _rms(_clin(at.q_proj, a).reshape(n, H, hd), at.q_norm.weight)
            kv = _rms(_clin(at.k_proj, a).reshape(n, -1, hd), at.k_norm.weight)
            vv = _rms(_clin(at.v_proj, a).reshape(n, -1, hd))
            _close(q_ + "attn_q_rope", probes[q_ + "attn_q_rope"], rope2d(qv))
            _close(q_ + "attn_k_rope", probes[q_ + "attn_k_rope"], rope2d(kv))
            _close(q_ + "attn_v", probes[q_ + "attn_v"], vv)
            qh, kh, vh = (probes[q_ + "attn_q_rope"].transpose(0, 1), probes[q_ + "attn_k_rope"].transpose(0, 1),
                          probes[q_ + "attn_v"].transpose(0, 1))
            pr = torch.softmax(qh @ kh.transpose(1, 2), dim=-1)          # scale 1.0, bidirectional over real patches
            _close(q_ + "attn_weights", probes[q_ + "attn_weights"], pr)
            o_in = (pr @ vh).transpose(0, 1).reshape(n, -1)
            _close(q_ + "o_proj input", t[f"_v.{l}.o_in"][0, :n], o_in)
            _close(q_ + "attn_o", probes[q_ + "attn_o"], _clin(at.o_proj, o_in))
            r = x_in + _rms(probes[q_ + "attn_o"], layer.post_attention_layernorm.weight)
            _close(q_ + "attn_residual", probes[q_ + "attn_residual"], r)
            m = _rms(r, layer.pre_feedforward_layernorm.weight)
            mo = _clin(layer.mlp.down_proj, F.gelu(_clin(layer.mlp.gate_proj, m), approximate="tanh")
                       * _clin(layer.mlp.up_proj, m))
            _close(q_ + "mlp_out", probes[q_ + "mlp_out"], mo)
            _close(q_ + "layer_out", probes[q_ + "layer_out"],
                   probes[q_ + "attn_residual"] + _rms(mo, layer.post_feedforward_layernorm.weight))
        # 3x3 average pooling by position, x sqrt(Dv), padding cells stripped.
        k = cfg.pooling_kernel_size
        last = probes[f"vision.{len(vt.encoder.layers) - 1}.layer_out"]
        pw = int(x_pos.max()) + 1
        cell = torch.div(x_pos, k, rounding_mode="floor") + (pw // k) * torch.div(y_pos, k, rounding_mode="floor")
        G = int(cell.max()) + 1
        pooled = torch.zeros(G, last.shape[1]).index_add_(0, cell, last) / (k * k) * cfg.hidden_size ** 0.5
        _close("vision.pooled", probes["vision.pooled"], pooled)
        z = probes["vision.pooled"]
        if cfg.standardize:
            z = (z - vt.std_bias) * vt.std_scale
        _close("vision tower output", t["_tower_out"], z)
        ev = self.model.model.embed_vision
        soft = F.linear(_rms(z), ev.embedding_projection.weight)
        _close("vision.soft_tokens", probes["vision.soft_tokens"], soft)
        _close("vision.soft_tokens(get_image_features)", probes["vision.soft_tokens"], image_features, exact=True)


class AudioCapture(Hooks):
    """Audio tower probes for one clip (batch 1)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        at = model.model.audio_tower
        self.at = at
        self.pre_kw(at, lambda a, k: (self.put("_features", a[0] if a else k["input_features"]),
                                      self.put("_features_mask", a[1] if len(a) > 1 else k["attention_mask"])))
        self.fwd(at.subsample_conv_projection, "_subsample", lambda o: o[0])
        self.fwd(at.subsample_conv_projection, "_sub_mask", lambda o: o[1])
        self.fwd(at.rel_pos_enc, "_rel_pos")
        for l, layer in enumerate(at.layers):
            p = f"_a.{l}."
            self.pre(layer, p + "in")
            self.fwd(layer.feed_forward1, p + "ffn1_out")
            self.fwd(layer.self_attn, p + "attn_weights", lambda o: o[1])
            self.pre_kw(layer.self_attn, lambda a, k, p=p: self.put(p + "mask", k["attention_mask"]))
            self.pre(layer.lconv1d, p + "attn_out")
            self.fwd(layer.lconv1d, p + "conv_out")
            self.fwd(layer, p + "layer_out")
        self.fwd(at.output_proj, "_encoder_out")
        self.fwd(model.model.embed_audio, "_embed_audio")

    def probes(self) -> dict[str, torch.Tensor]:
        t = self.t
        C = self.at.config.attention_chunk_size
        P = self.at.config.attention_context_left - 1
        out = {"audio.mel": t["_features"][0], "audio.subsample": t["_subsample"][0]}
        A = out["audio.subsample"].shape[0]
        mask = t["_sub_mask"][0]
        for l in range(len(self.at.layers)):
            p, q = f"_a.{l}.", f"audio.{l}."
            out[q + "ffn1_out"] = t[p + "ffn1_out"][0]
            w = t[p + "attn_weights"][0]                       # [H, blocks, C, C + P] context slots
            H = w.shape[0]
            # Query i (block b = i // C, row r = i % C) sees context slot j <-> key position C*b - P + j. Keep the
            # 12 slots of keys i - 11 ... i (chronological; the last one is the query itself).
            g = torch.zeros(H, A, P)
            for i in range(A):
                b, r = divmod(i, C)
                g[:, i, :] = w[:, b, r, r + 1: r + 1 + P]
                rest = torch.cat([w[:, b, r, : r + 1], w[:, b, r, r + 1 + P:]], dim=-1)
                if _absmax(rest) != 0.0:
                    raise AssertionError(f"audio layer {l}: query {i} attends outside self + {P - 1} previous keys")
            out[q + "attn_weights"] = g
            out[q + "attn_out"] = t[p + "attn_out"][0]
            out[q + "conv_out"] = t[p + "conv_out"][0]
            out[q + "layer_out"] = t[p + "layer_out"][0]
        out["audio.encoder_out"] = t["_encoder_out"][0]
        out["audio.soft_tokens"] = t["_embed_audio"][0][mask]
        return out

    @torch.no_grad()
    def self_check(self, probes, waveform: np.ndarray, fe) -> None:
        """Recompute mel features (numpy, spec §7.1), the subsampler, and every Conformer block from the probes."""
        import torch.nn.functional as F

        at, t, cfg = self.at, self.t, self.at.config
        # --- log-mel: pad to a multiple of 128, 160 zeros in front, frames of 321 (last dropped), periodic Hann.
        n = len(waveform)
        padded_len = -(-n // 128) * 128
        x = np.zeros(160 + padded_len, dtype=np.float64)
        x[160:160 + n] = waveform
        nf = (len(x) - 321) // 160 + 1
        win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(320) / 320)
        frames = np.stack([x[160 * i: 160 * i + 320] for i in range(nf)]) * win
        mag = np.abs(np.fft.rfft(frames, n=512, axis=-1))
        mel = np.log(mag @ fe.mel_filters + 1e-3)
        valid = (160 * np.arange(nf) + 320) < 160 + n
        mel = mel * valid[:, None]
        _close("audio.mel", probes["audio.mel"], torch.tensor(mel, dtype=torch.float32), atol=2e-4, rtol=1e-4)
        fmask = torch.tensor(valid)
        _close("audio mask", t["_features_mask"][0], fmask, exact=True)
        # --- subsampler: (mask, conv 3x3 s2 p1, LayerNorm over channels, ReLU) x2, flatten (freq, channel), Linear.
        ss = at.subsample_conv_projection
        h = probes["audio.mel"][None, None]
        m = fmask
        for lay in (ss.layer0, ss.layer1):
            h = h * m[None, None, :, None]
            h = F.conv2d(h, lay.conv.weight, stride=2, padding=1)
            h = h.permute(0, 2, 3, 1)
            h = (h - h.mean(-1, keepdim=True)) / torch.sqrt(h.var(-1, unbiased=False, keepdim=True) + lay.norm.eps)
            h = torch.relu(h * lay.norm.weight).permute(0, 3, 1, 2)
            m = m[::2]
        A = h.shape[2]
        flat = h[0].permute(1, 2, 0).reshape(A, -1)          # [time, freq * channels], index f * C + c
        sub = F.linear(flat, ss.input_proj_linear.weight)
        _close("audio.subsample", probes["audio.subsample"], sub, atol=1e-4)
        _close("audio subsampled mask", t["_sub_mask"][0], m, exact=True)

        def ffn(mod, x):
            y = _rms(x, mod.pre_layer_norm.weight)
            y = _clin(mod.ffw_layer_2, F.silu(_clin(mod.ffw_layer_1, y)))
            return x + cfg.residual_weight * _rms(y, mod.post_layer_norm.weight)

        D = cfg.hidden_size
        Hn = cfg.num_attention_heads
        hd = D // Hn
        C, P = cfg.attention_chunk_size, cfg.attention_context_left - 1
        # Sinusoid table for relative distance d = 0..P: [sin(d·τ), cos(d·τ)], τ_m = exp(-m ln(1e4) / (D/2 - 1)).
        nt = D // 2
        tau = torch.exp(torch.arange(nt, dtype=torch.float32) * -(np.log(10000.0) / max(nt - 1, 1)))
        x = probes["audio.subsample"]
        for l, layer in enumerate(at.layers):
            q_ = f"audio.{l}."
            _close(q_ + "input", t[f"_a.{l}.in"][0], x, exact=True)
            x = ffn(layer.feed_forward1, x)
            _close(q_ + "ffn1_out", probes[q_ + "ffn1_out"], x)
            x = probes[q_ + "ffn1_out"]
            sa = layer.self_attn
            y = _rms(x, layer.norm_pre_attn.weight)
            qv = _clin(sa.q_proj, y).reshape(A, Hn, hd) * (hd ** -0.5 / np.log(2)) * F.softplus(sa.per_dim_scale)
            kv = _clin(sa.k_proj, y).reshape(A, Hn, hd) * (np.log(1 + np.e) / np.log(2))
            vv = _clin(sa.v_proj, y).reshape(A, Hn, hd)
            # Distances d = P, ..., 0 give rows 0..P of HF's table; here index by d directly.
            d = torch.arange(P + 1, dtype=torch.float32)
            sin_cos = torch.cat([torch.sin(d[:, None] * tau[None]), torch.cos(d[:, None] * tau[None])], dim=-1)
            R = F.linear(sin_cos, sa.relative_k_proj.weight).reshape(P + 1, Hn, hd)     # R[d]
            _close(q_ + "rel_pos table", t["_rel_pos"][0].flip(0), sin_cos)
            g = torch.zeros(Hn, A, P)
            att = torch.zeros(A, Hn, hd)
            for i in range(A):
                keys = [i - P + 1 + j for j in range(P)]        # i-11 .. i
                logits = torch.full((Hn, P), -1e9)
                for j, kpos in enumerate(keys):
                    if kpos < 0 or not bool(m[kpos]):
                        continue
                    dist = i - kpos
                    z = (qv[i] * kv[kpos]).sum(-1) + (qv[i] * R[dist]).sum(-1)
                    logits[:, j] = cfg.attention_logit_cap * torch.tanh(z / cfg.attention_logit_cap)
                pr = torch.softmax(logits, dim=-1)
                g[:, i, :] = pr
                ks = [kp for kp in keys]
                vsel = torch.stack([vv[kp] if kp >= 0 else torch.zeros(Hn, hd) for kp in ks], dim=1)   # Hn, P, hd
                att[i] = (pr[:, :, None] * vsel).sum(1)
            _close(q_ + "attn_weights", probes[q_ + "attn_weights"], g)
            y = _clin(sa.post, att.reshape(A, D))
            x = x + _rms(y, layer.norm_post_attn.weight)
            _close(q_ + "attn_out", probes[q_ + "attn_out"], x)
            x = probes[q_ + "attn_out"]
            lc = layer.lconv1d
            y = _rms(x, lc.pre_layer_norm.weight)
            y = _clin(lc.linear_start, y)
            y = y[:, :D] * torch.sigmoid(y[:, D:])
            K = lc.depthwise_conv1d.weight.shape[-1]
            yp = F.pad(y.t()[None], (K - 1, 0))
            y = F.conv1d(yp, lc.depthwise_conv1d.weight, groups=D)[0].t()
            y = _clin(lc.linear_end, F.silu(_rms(y, lc.conv_norm.weight)))
            x = x + y
            _close(q_ + "conv_out", probes[q_ + "conv_out"], x)
            x = probes[q_ + "conv_out"]
            x = ffn(layer.feed_forward2, x)
            x = _rms(x, layer.norm_out.weight)
            _close(q_ + "layer_out", probes[q_ + "layer_out"], x)
            x = probes[q_ + "layer_out"]
        enc = F.linear(x, at.output_proj.weight, at.output_proj.bias)
        _close("audio.encoder_out", probes["audio.encoder_out"], enc)
        ea = self.model.model.embed_audio
        soft = F.linear(_rms(probes["audio.encoder_out"]), ea.embedding_projection.weight)[m]
        _close("audio.soft_tokens", probes["audio.soft_tokens"], soft)


# ---------------------------------------------------------------------------------------------------------------------
# Golden traces


def _arrays(probes: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().astype(np.int32 if v.dtype in (torch.int32, torch.int64) else np.float32)
            for k, v in probes.items()}


IMAGE_PROMPT = "Look<|image|>now"
AUDIO_PROMPT = "Hi<|audio|>ok"
RESIZED_BUDGETS = {"tiny-e2b": [70, 140, 280], "tiny-e4b": [70], "tiny-26b-a4b": [70, 140], "tiny-31b": [70]}
# Probes kept in the resized-image traces (the full vision probe set is in <model>-image.npz).
RESIZED_POINTS = {"vision.patches", "vision.patch_grid", "vision.patch_embed", "vision.pooled", "vision.soft_tokens"}
# Text probes kept in the audio-prompt trace (the merge and PLE are what it adds over the text traces).
AUDIO_TEXT_POINTS = {"embed", "ple_token", "ple_context", "ple_inputs", "layer_out", "final_norm", "logits"}


@torch.no_grad()
def multimodal_goldens(name, assets, table, samples, report, save_trace, verify_npz, load_f32, tool_version,
                       sha256_file):
    import goldens_trace as gt

    model_dir = assets / "models" / name
    model = load_f32(model_dir)
    proc = make_processor(model_dir)
    meta = {"model": name, "tool_version": tool_version(), "config_hash": sha256_file(model_dir / "config.json")}
    tcfg = model.config.text_config
    info = report.setdefault(name, {})

    # 1. Small image, patchified as is, inside a prompt: every vision probe and every text probe.
    enc = proc(text=[IMAGE_PROMPT], images=[[samples.image(small=True)]], return_tensors="pt",
               images_kwargs={"max_soft_tokens": 70, "do_resize": False})
    vc, tc = VisionCapture(model), gt.TextCapture(model)
    out = model(input_ids=enc["input_ids"], pixel_values=enc["pixel_values"],
                image_position_ids=enc["image_position_ids"], mm_token_type_ids=enc["mm_token_type_ids"],
                output_hidden_states=True, output_attentions=True)
    tc.t["text.logits"] = out.logits[0].detach().clone()
    tc.finish()
    vp = vc.probes()
    vc.remove()
    img_feats = torch.cat(model.model.get_image_features(enc["pixel_values"], enc["image_position_ids"],
                                                         return_dict=True).pooler_output)
    vc.self_check(vp, img_feats)
    ids = enc["input_ids"]
    ph = ids[0] == model.config.image_token_id
    mm = enc["mm_token_type_ids"][0]
    block = gt_block_ids(mm)
    gt.self_check_text(tc, out, ids, soft_mask=ph, soft_values=vp["vision.soft_tokens"], block_ids=block)
    tc.remove()
    arrays = _arrays(vp) | {k: v.numpy().astype(np.int32 if v.dtype == torch.int32 else np.float32)
                            for k, v in tc.t.items() if not k.startswith("_")}
    path = assets / "goldens" / f"{name}-image.npz"
    save_trace(path, arrays, table, meta | {"prompt": f"{IMAGE_PROMPT} with samples/sample_small.png (do_resize=False, "
                                                      f"max_soft_tokens 70)", "tokens": ids[0].tolist()})
    verify_npz(path)
    print(f"[{name}] {path.name}: {len(vp['vision.patches'])} patches, {int(ph.sum())} soft tokens, T={ids.shape[1]}, "
          f"{path.stat().st_size / 1e3:.0f} kB", flush=True)

    # 2. The 160x120 sample through the processor's resize at a few budgets: vision tower only.
    for budget in RESIZED_BUDGETS[name]:
        px = samples.image_inputs(budget)
        vc = VisionCapture(model)
        feats = torch.cat(model.model.get_image_features(px["pixel_values"], px["image_position_ids"],
                                                         return_dict=True).pooler_output)
        vp = vc.probes()
        vc.self_check(vp, feats)
        vc.remove()
        if int(px["num_soft_tokens_per_image"][0]) != len(vp["vision.soft_tokens"]):
            raise AssertionError("processor soft-token count != tower output")
        keep = {k: v for k, v in vp.items() if k in RESIZED_POINTS or k.endswith(".layer_out")}
        path = assets / "goldens" / f"{name}-image{budget}.npz"
        save_trace(path, _arrays(keep), table, meta | {"prompt": f"samples/sample.png max_soft_tokens {budget}",
                                                       "tokens": []})
        verify_npz(path)
        g = vp["vision.patch_grid"].tolist()
        print(f"[{name}] {path.name}: grid {g[0]}x{g[1]} patches -> {len(vp['vision.soft_tokens'])} soft tokens, "
              f"{path.stat().st_size / 1e3:.0f} kB", flush=True)
        info[f"image{budget}_grid"] = g

    # 3. Audio (E2B/E4B): the sample clip inside a prompt: every audio probe and a subset of text probes.
    if model.model.audio_tower is not None:
        enc = proc(text=[AUDIO_PROMPT], audio=[samples.waveform()], return_tensors="pt")
        ac, tc = AudioCapture(model), gt.TextCapture(model)
        out = model(input_ids=enc["input_ids"], input_features=enc["input_features"],
                    input_features_mask=enc["input_features_mask"], output_hidden_states=True,
                    output_attentions=True)
        tc.t["text.logits"] = out.logits[0].detach().clone()
        tc.finish()
        ap = ac.probes()
        ac.self_check(ap, samples.waveform(), proc.feature_extractor)
        ids = enc["input_ids"]
        ph = ids[0] == model.config.audio_token_id
        gt.self_check_text(tc, out, ids, soft_mask=ph, soft_values=ap["audio.soft_tokens"])
        ac.remove(); tc.remove()
        text = {k: v for k, v in tc.t.items() if not k.startswith("_") and k.split(".")[-1] in AUDIO_TEXT_POINTS}
        arrays = _arrays(ap) | _arrays(text)
        path = assets / "goldens" / f"{name}-audio.npz"
        save_trace(path, arrays, table, meta | {"prompt": f"{AUDIO_PROMPT} with samples/sample.wav",
                                                "tokens": ids[0].tolist()})
        verify_npz(path)
        print(f"[{name}] {path.name}: {ap['audio.mel'].shape[0]} mel frames -> {len(ap['audio.soft_tokens'])} soft "
              f"tokens, T={ids.shape[1]}, {path.stat().st_size / 1e3:.0f} kB", flush=True)


def gt_block_ids(mm_token_type_ids: torch.Tensor) -> torch.Tensor:
    """Image-block ids as the decoder mask uses them: runs of type 1 or 2 numbered 0, 1, ...; -1 elsewhere."""
    out = torch.full_like(mm_token_type_ids, -1)
    block, prev = -1, False
    for i, v in enumerate(mm_token_type_ids.tolist()):
        cur = v in (1, 2)
        if cur and not prev:
            block += 1
        if cur:
            out[i] = block
        prev = cur
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Extra samples: plans (sizes and counts as transformers computes them) and small tower goldens

IMAGE_PLAN_FILES = ["sample.png", "sample_small.png"] + list(EXTRA_IMAGES.values())
AUDIO_PLAN_FILES = ["sample.wav"] + list(EXTRA_CLIPS.values())
EXTRA_VISION_POINTS = {"vision.patch_grid", "vision.pooled", "vision.soft_tokens"}     # + vision.patches once
EXTRA_AUDIO_POINTS = {"audio.encoder_out", "audio.soft_tokens"}                       # + audio.mel once


def write_plans(assets: Path, samples: Samples) -> dict:
    """goldens/image_plans.json and goldens/audio_plans.json: every committed sample through the HF processors."""
    import json
    import math

    from transformers import Gemma4ImageProcessor
    from transformers.models.gemma4.image_processing_gemma4 import get_aspect_ratio_preserving_size

    ip = Gemma4ImageProcessor()
    side = ip.patch_size * ip.pooling_kernel_size
    images = []
    for fname in IMAGE_PLAN_FILES:
        img = load_image(samples.dir / fname)
        w0, h0 = img.size
        for budget in PLAN_BUDGETS:
            px = ip(images=[img], max_soft_tokens=budget, return_tensors="pt")
            pos = px["image_position_ids"][0]
            real = (pos != -1).all(-1)
            n = int(real.sum())
            rows, cols = int(pos[:n, 1].max()) + 1, int(pos[:n, 0].max()) + 1
            soft = int(px["num_soft_tokens_per_image"][0])
            max_patches = budget * ip.pooling_kernel_size ** 2
            rh, rw = get_aspect_ratio_preserving_size(h0, w0, ip.patch_size, max_patches, ip.pooling_kernel_size)
            if (rh, rw) != (rows * ip.patch_size, cols * ip.patch_size) or n != rows * cols \
                    or soft != n // ip.pooling_kernel_size ** 2 or px["pixel_values"].shape[1] != max_patches:
                raise AssertionError(f"{fname} budget {budget}: inconsistent plan")
            f = math.sqrt(max_patches * ip.patch_size ** 2 / (h0 * w0))
            zero = [s for s, v in (("height", h0), ("width", w0)) if math.floor(f * v / side) == 0]
            images.append({"file": f"samples/{fname}", "budget": budget, "original_height": h0, "original_width": w0,
                           "resized_height": rh, "resized_width": rw, "patch_grid": [rows, cols], "patches": n,
                           "padded_patches": max_patches, "soft_tokens": soft,
                           "pooled_grid": [rows // ip.pooling_kernel_size, cols // ip.pooling_kernel_size],
                           "zero_side_branch": zero[0] if zero else None})
    proc = make_processor(assets / "models" / PROCESSOR_OUTPUT_MODEL)
    fe = proc.feature_extractor
    clips = []
    for fname in AUDIO_PLAN_FILES:
        wav = load_wave(samples.dir / fname)
        feats = fe([wav], sampling_rate=SAMPLE_RATE, return_tensors="pt")
        enc = proc(text=["<|audio|>"], audio=[wav], return_tensors="pt")
        placeholders = int((enc["input_ids"][0] == proc.audio_token_id).sum())
        computed = int(proc._compute_audio_num_tokens(wav, SAMPLE_RATE))
        mask = feats["input_features_mask"][0]
        m = mask
        for _ in range(2):
            m = m[::2]
        if placeholders != int(m.sum()) or not torch.equal(enc["input_features"], feats["input_features"]):
            raise AssertionError(f"{fname}: processor and feature extractor disagree")
        clips.append({"file": f"samples/{fname}", "samples": len(wav), "seconds": len(wav) / SAMPLE_RATE,
                      "padded_samples": -(-len(wav) // 128) * 128,  # the extractor's pad_to_multiple_of
                      "frames": int(mask.shape[0]), "valid_frames": int(mask.sum()),
                      "subsampled_frames": int(m.shape[0]), "soft_tokens": placeholders,
                      "soft_tokens_compute_audio_num_tokens": computed,
                      "ceil_ms_over_40": math.ceil(len(wav) * 1000 / SAMPLE_RATE / proc.audio_ms_per_token)})
    note = "transformers Gemma4ImageProcessor defaults (patch 16, pooling 3), resize on; soft_tokens = " \
           "num_soft_tokens_per_image; zero_side_branch: the side whose ideal size rounded down to 0 cells"
    out = {"image_plans.json": {"note": note, "plans": images},
           "audio_plans.json": {"note": "Gemma4AudioFeatureExtractor / Gemma4Processor defaults; soft_tokens = "
                                        "placeholders the processor inserts for '<|audio|>' (subsampled mask sum); "
                                        "soft_tokens_compute_audio_num_tokens = Gemma4Processor._compute_audio_num_"
                                        "tokens (capped at audio_seq_length 750)", "clips": clips}}
    for fname, data in out.items():
        path = assets / "goldens" / fname
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path} ({path.stat().st_size / 1e3:.1f} kB)", flush=True)
    return out


@torch.no_grad()
def extra_goldens(name, assets, table, samples, report, save_trace, verify_npz, load_f32, tool_version,
                  sha256_file):
    """Photo / extreme aspect ratios through the vision tower at budgets 70 and 280; speech / short / long clips
    through the audio tower; one prompt trace (text.logits) with the photo (tiny-26b-a4b) or the speech (tiny-e2b)."""
    import goldens_trace as gt

    model_dir = assets / "models" / name
    model = load_f32(model_dir)
    proc = make_processor(model_dir)
    if (model_dir / "processor_config.json").read_bytes() != \
            (assets / "models" / PROCESSOR_OUTPUT_MODEL / "processor_config.json").read_bytes():
        raise AssertionError(f"{name}: processor_config.json differs from {PROCESSOR_OUTPUT_MODEL}'s")
    meta = {"model": name, "tool_version": tool_version(), "config_hash": sha256_file(model_dir / "config.json")}
    once = name == PROCESSOR_OUTPUT_MODEL
    info = report.setdefault(name, {}).setdefault("extra", {})

    def write(fname, arrays, prompt, tokens):
        path = assets / "goldens" / fname
        save_trace(path, _arrays(arrays), table, meta | {"prompt": prompt, "tokens": tokens})
        verify_npz(path)
        return path

    # Vision: budgets 70 and 280, tower outputs (patches only in PROCESSOR_OUTPUT_MODEL's files).
    soft70 = {}
    for key, fname in EXTRA_IMAGES.items():
        img = load_image(samples.dir / fname)
        for budget in EXTRA_IMAGE_BUDGETS:
            px = proc.image_processor(images=[img], max_soft_tokens=budget, return_tensors="pt")
            vc = VisionCapture(model)
            feats = torch.cat(model.model.get_image_features(px["pixel_values"], px["image_position_ids"],
                                                             return_dict=True).pooler_output)
            vp = vc.probes()
            vc.self_check(vp, feats)
            vc.remove()
            n_soft = len(vp["vision.soft_tokens"])
            if int(px["num_soft_tokens_per_image"][0]) != n_soft:
                raise AssertionError("processor soft-token count != tower output")
            keep = EXTRA_VISION_POINTS | ({"vision.patches"} if once else set())
            rows, cols = vp["vision.patch_grid"].tolist()
            prompt = (f"samples/{fname} ({img.size[0]}x{img.size[1]}) max_soft_tokens {budget}: resized to "
                      f"{cols * 16}x{rows * 16} (width x height), {rows}x{cols} patches, {n_soft} soft tokens"
                      + ("" if once else f"; vision.patches in {PROCESSOR_OUTPUT_MODEL}-{key}{budget}.npz"))
            path = write(f"{name}-{key}{budget}.npz", {k: v for k, v in vp.items() if k in keep}, prompt, [])
            print(f"[{name}] {path.name}: grid {rows}x{cols} -> {n_soft} soft tokens, {path.stat().st_size / 1e3:.0f} kB",
                  flush=True)
            info[f"{key}{budget}"] = {"patch_grid": [rows, cols], "soft_tokens": n_soft}
            if budget == PHOTO_PROMPT_BUDGET:
                soft70[key] = vp["vision.soft_tokens"]

    # The photo inside a prompt, bidirectional image mask (mm_token_type_ids passed): text.logits.
    if name == PHOTO_PROMPT_MODEL:
        img = load_image(samples.dir / EXTRA_IMAGES["photo"])
        enc = proc(text=[PHOTO_PROMPT], images=[[img]], return_tensors="pt",
                   images_kwargs={"max_soft_tokens": PHOTO_PROMPT_BUDGET})
        vc, tc = VisionCapture(model), gt.TextCapture(model)
        out = model(input_ids=enc["input_ids"], pixel_values=enc["pixel_values"],
                    image_position_ids=enc["image_position_ids"], mm_token_type_ids=enc["mm_token_type_ids"],
                    output_hidden_states=True, output_attentions=True)
        tc.t["text.logits"] = out.logits[0].detach().clone()
        tc.finish()
        vp = vc.probes()
        vc.remove()
        _close("photo prompt vision.soft_tokens", vp["vision.soft_tokens"], soft70["photo"], exact=True)
        ids = enc["input_ids"]
        ph = ids[0] == model.config.image_token_id
        gt.self_check_text(tc, out, ids, soft_mask=ph, soft_values=vp["vision.soft_tokens"],
                           block_ids=gt_block_ids(enc["mm_token_type_ids"][0]))
        tc.remove()
        path = write(f"{name}-photo-prompt.npz", {"text.logits": tc.t["text.logits"],
                                                   "vision.soft_tokens": vp["vision.soft_tokens"]},
                     f"{PHOTO_PROMPT} with samples/photo.png, max_soft_tokens {PHOTO_PROMPT_BUDGET} "
                     f"({int(ph.sum())} soft tokens), mm_token_type_ids passed", ids[0].tolist())
        print(f"[{name}] {path.name}: T={ids.shape[1]}, {int(ph.sum())} image soft tokens, "
              f"{path.stat().st_size / 1e3:.0f} kB", flush=True)
        info["photo_prompt_T"] = ids.shape[1]

    if model.model.audio_tower is None:
        return
    # Audio: encoder output and soft tokens (mel only in PROCESSOR_OUTPUT_MODEL's files).
    soft = {}
    for key, fname in EXTRA_CLIPS.items():
        wav = load_wave(samples.dir / fname)
        fe = proc.feature_extractor([wav], sampling_rate=SAMPLE_RATE, return_tensors="pt")
        ac = AudioCapture(model)
        model.model.get_audio_features(fe["input_features"], fe["input_features_mask"])
        ap = ac.probes()
        ac.self_check(ap, wav, proc.feature_extractor)
        ac.remove()
        keep = EXTRA_AUDIO_POINTS | ({"audio.mel"} if once else set())
        n_soft = len(ap["audio.soft_tokens"])
        prompt = (f"samples/{fname} ({len(wav)} samples, {len(wav) / SAMPLE_RATE:.3f} s): "
                  f"{ap['audio.mel'].shape[0]} mel frames -> {n_soft} soft tokens"
                  + ("" if once else f"; audio.mel in {PROCESSOR_OUTPUT_MODEL}-{key}.npz"))
        path = write(f"{name}-{key}.npz", {k: v for k, v in ap.items() if k in keep}, prompt, [])
        print(f"[{name}] {path.name}: {ap['audio.mel'].shape[0]} mel frames -> {n_soft} soft tokens, "
              f"{path.stat().st_size / 1e3:.0f} kB", flush=True)
        info[key] = {"mel_frames": ap["audio.mel"].shape[0], "soft_tokens": n_soft}
        soft[key] = ap["audio.soft_tokens"]

    # The speech inside a prompt: text.logits.
    if name == SPEECH_PROMPT_MODEL:
        wav = load_wave(samples.dir / EXTRA_CLIPS["speech"])
        enc = proc(text=[SPEECH_PROMPT], audio=[wav], return_tensors="pt")
        ac, tc = AudioCapture(model), gt.TextCapture(model)
        out = model(input_ids=enc["input_ids"], input_features=enc["input_features"],
                    input_features_mask=enc["input_features_mask"], output_hidden_states=True,
                    output_attentions=True)
        tc.t["text.logits"] = out.logits[0].detach().clone()
        tc.finish()
        ap = ac.probes()
        ac.remove()
        _close("speech prompt audio.soft_tokens", ap["audio.soft_tokens"], soft["speech"], exact=True)
        ids = enc["input_ids"]
        ph = ids[0] == model.config.audio_token_id
        gt.self_check_text(tc, out, ids, soft_mask=ph, soft_values=ap["audio.soft_tokens"])
        tc.remove()
        path = write(f"{name}-speech-prompt.npz", {"text.logits": tc.t["text.logits"],
                                                    "audio.soft_tokens": ap["audio.soft_tokens"]},
                     f"{SPEECH_PROMPT} with samples/speech.wav ({int(ph.sum())} soft tokens)", ids[0].tolist())
        print(f"[{name}] {path.name}: T={ids.shape[1]}, {int(ph.sum())} audio soft tokens, "
              f"{path.stat().st_size / 1e3:.0f} kB", flush=True)
        info["speech_prompt_T"] = ids.shape[1]
