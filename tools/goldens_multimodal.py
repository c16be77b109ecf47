"""Vision and audio side of make_goldens.py: the synthetic sample image and waveform, tower runs for clip-bound
calibration, and the vision/audio golden traces.

The samples are generated (no downloads): a 160x120 RGB picture of gradients, a disc and a checkerboard, and a
1.5 s 16 kHz mono waveform (chirp, tone bursts, a little seeded noise) stored as 16-bit PCM; the goldens read
the files back, so the C++ side can start from the same bytes.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import torch

VISION_POINTS: list[str] = []   # filled in with the vision goldens
AUDIO_POINTS: list[str] = []

CALIBRATION_BUDGET = 70
SAMPLE_RATE = 16000


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


class Samples:
    """The sample files under assets/samples and their decoded contents."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.image_path = directory / "sample.png"
        self.wave_path = directory / "sample.wav"

    def write(self) -> None:
        from PIL import Image

        self.dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample_image_array(), mode="RGB").save(self.image_path, format="PNG", optimize=False)
        pcm = sample_waveform()
        with wave.open(str(self.wave_path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm.tobytes())

    def image(self):
        from PIL import Image

        with Image.open(self.image_path) as im:
            return im.convert("RGB").copy()

    def waveform(self) -> np.ndarray:
        """float32 samples in [-1, 1): int16 / 32768."""
        with wave.open(str(self.wave_path), "rb") as w:
            if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise RuntimeError(f"{self.wave_path}: expected 16 kHz mono 16-bit PCM")
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return (pcm.astype(np.float32) / 32768.0)

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


def multimodal_goldens(*args, **kwargs):
    raise NotImplementedError("vision/audio goldens: run with --no-multimodal")
