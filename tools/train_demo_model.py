#!/usr/bin/env python3
"""Train the two small bundled demo models (demo-e2b-mini, demo-moe-mini) on the King James Bible.

PyPI side of gemma4-ref, run by hand on a developer machine (never in CI): torch + transformers + tokenizers. The
models are Hugging Face's own Gemma 4 classes with the structure of a released variant, scaled down to about 2 M
parameters, so that the inspector shows what a *trained* model does (heads that look back one token, experts that
specialise, PLE gates that differ by token) with no download and no GPU. Not a language model anyone should use.

  demo-e2b-mini   dense, Per-Layer Embeddings, KV sharing (last 4 layers), double-wide MLP on the shared layers,
                  4:1 sliding / global rhythm, last layer global           (E2B's structure)
  demo-moe-mini   MoE (8 experts, top-2) beside the dense shared MLP, K=V on global layers, 5:1 rhythm (26B-A4B's)

Text: the King James Version from the Debian package bible-kjv-text (public domain), read at training time with
the package's own `bible` program (its data file is compressed): `bible -l100000 Gen1:1-Rev22:21`, one verse per
line, verse numbers and chapter headings dropped. Nothing of it is stored in the repository; the sha256 of the
package's data file and of the extracted text are recorded in the model's training.json.

Tokenizer: a 2048-id byte-fallback BPE learned on that text with Hugging Face `tokenizers`, laid out like the tiny
models' (tools/goldens_tiny_tokenizer.py, which builds both): control tokens 0..6 (<pad> <eos> <bos> <unk> <mask>
<|turn> <turn|>), bytes 7..262, learned pieces, multimodal tokens 2041..2047.

Training samples (seeded per step, so a resumed run draws exactly what an uninterrupted one would):
  3 of 4  a window of 128 tokens of the running text, starting with <bos>
  1 of 4  a chat turn as `gemma4 run` formats it:  <bos><|turn>user\\n{first words of a verse}<turn|>\\n<|turn>model\\n
          {the rest of the verse}<turn|>\\n  — so `gemma4 run -p "And God said"` finishes the verse and stops.
Every 1/100th verse is held out for the validation loss.

Work directory (--work, default /work/demo-train): one checkpoint per model (model, optimizer, step, loss log,
elapsed time) written every --save-minutes, at the end, and on Ctrl-C / SIGTERM (after the step under way); `--resume`
continues from it with nothing lost (the data of step k is drawn from a generator seeded by (seed, k)).
At the end the model is written to assets/models/<name>/ in save_pretrained layout, weights in bfloat16 (both
models are over 2 M parameters: float32 would not fit the 8 MB budget; the goldens are computed in float32 from
the saved bf16 weights, as for tiny-31b), with training_log.csv (loss curve) and training.json (seeds, command,
threads, wall time, corpus hashes).

Examples:
  /work/venv/bin/python tools/train_demo_model.py --model both --threads 1            # the two in parallel
  /work/venv/bin/python tools/train_demo_model.py --model demo-e2b-mini --resume      # after a stop
  /work/venv/bin/python tools/train_demo_model.py --model demo-e2b-mini --smoke --out /tmp/smoke
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import goldens_tiny_tokenizer as tt  # noqa: E402

S, F = "sliding_attention", "full_attention"
MODEL_NAMES = ["demo-e2b-mini", "demo-moe-mini"]
MODEL_SEEDS = {"demo-e2b-mini": 4101, "demo-moe-mini": 4102}
TOKENIZER_SEED_NOTE = "BPE training in `tokenizers` is deterministic for a given text"

VOCAB_SIZE = 2048
DEMO_TOKEN_IDS = {  # same relative order as the released ids (and as the tiny models'), at the top of the vocabulary
    "boi_token_id": 2041, "boa_token_id": 2042, "image_token_id": 2043, "audio_token_id": 2044,
    "eoi_token_id": 2045, "eoa_token_index": 2046, "video_token_id": 2047,
}
DEMO_MULTIMODAL = {
    "<|image>": 2041, "<|audio>": 2042, "<|image|>": 2043, "<|audio|>": 2044, "<image|>": 2045, "<audio|>": 2046,
    "<|video|>": 2047,
}
PAD, EOS, BOS, TURN_OPEN, TURN_CLOSE = 0, 1, 2, 5, 6
LIMIT_ALPHABET = 100

BIBLE_DATA = Path("/usr/lib/bible.data")
BIBLE_CMD = ["bible", "-l100000", "Gen1:1-Rev22:21"]

SEQ_LEN = 128
BATCH = 16
CHAT_FRACTION = 0.25
LR, LR_MIN, WARMUP, WEIGHT_DECAY, CLIP = 2e-3, 2e-4, 100, 0.01, 1.0
DEFAULT_STEPS = {"demo-e2b-mini": 450, "demo-moe-mini": 450}  # about 30 min each, side by side on 2 busy cores
EVAL_EVERY = 50
EVAL_BATCHES = 4


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Corpus and tokenizer


def corpus() -> tuple[list[str], dict[str, str]]:
    """The verses of the KJV, in order, one string each; plus the sha256 of the data file and of the text."""
    if not BIBLE_DATA.exists():
        sys.exit(f"error: {BIBLE_DATA} is missing: apt-get install bible-kjv-text bible-kjv")
    try:
        raw = subprocess.run(BIBLE_CMD, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"error: `{' '.join(BIBLE_CMD)}` failed ({e}); apt-get install bible-kjv")
    verses = []
    for line in raw.splitlines():
        s = line.strip()
        if not line.startswith("  ") or not s:
            continue  # blank lines and chapter headings ("Genesis 1")
        number, _, text = s.partition(" ")
        if not number.isdigit() or not text:
            raise RuntimeError(f"unexpected line in the bible output: {line!r}")
        verses.append(text)
    if len(verses) != 31102:
        raise RuntimeError(f"expected the 31102 verses of the KJV, got {len(verses)}")
    text = "\n".join(verses) + "\n"
    hashes = {str(BIBLE_DATA): hashlib.sha256(BIBLE_DATA.read_bytes()).hexdigest(),
              "extracted_text": hashlib.sha256(text.encode()).hexdigest()}
    return verses, hashes


def build_tokenizer(verses: list[str]) -> dict:
    return tt.build_bpe_tokenizer_json([v + "\n" for v in verses], VOCAB_SIZE, DEMO_MULTIMODAL, LIMIT_ALPHABET)


# ---------------------------------------------------------------------------------------------------------------------
# Models


def text_config(name: str):
    from transformers import Gemma4TextConfig

    common = dict(vocab_size=VOCAB_SIZE, hidden_size=128, num_attention_heads=4, head_dim=32, global_head_dim=64,
                  sliding_window=32, final_logit_softcapping=30.0, rms_norm_eps=1e-6, pad_token_id=PAD,
                  eos_token_id=EOS, bos_token_id=BOS, tie_word_embeddings=True, vocab_size_per_layer_input=VOCAB_SIZE,
                  max_position_embeddings=4096, attention_dropout=0.0)
    if name == "demo-e2b-mini":
        return Gemma4TextConfig(**common, intermediate_size=256, num_hidden_layers=10, layer_types=[S, S, S, S, F] * 2,
                                num_key_value_heads=1, hidden_size_per_layer_input=16, num_kv_shared_layers=4,
                                use_double_wide_mlp=True)
    if name == "demo-moe-mini":
        return Gemma4TextConfig(**common, intermediate_size=96, num_hidden_layers=12,
                                layer_types=[S, S, S, S, S, F] * 2, num_key_value_heads=2,
                                num_global_key_value_heads=1, attention_k_eq_v=True, hidden_size_per_layer_input=0,
                                enable_moe_block=True, num_experts=8, top_k_experts=2, moe_intermediate_size=32)
    raise ValueError(f"unknown demo model {name!r}; expected one of {MODEL_NAMES}")


def full_config(name: str):
    from transformers import Gemma4Config

    return Gemma4Config(text_config=text_config(name), vision_config=None, audio_config=None, **DEMO_TOKEN_IDS)


def build_model(name: str, seed: int):
    from transformers import Gemma4ForConditionalGeneration

    torch.manual_seed(seed)
    model = Gemma4ForConditionalGeneration(full_config(name)).to(torch.float32)
    model.set_attn_implementation("eager")
    return model


# ---------------------------------------------------------------------------------------------------------------------
# Data


class Data:
    def __init__(self, verses: list[str], tok):
        ids = [e.ids for e in tok.encode_batch([v + "\n" for v in verses], add_special_tokens=False)]
        self.val_idx = set(range(50, len(verses), 100))
        train = [i for i in range(len(verses)) if i not in self.val_idx]
        val = sorted(self.val_idx)
        self.train_stream = np.array([t for i in train for t in ids[i]], dtype=np.int64)
        self.val_stream = np.array([t for i in val for t in ids[i]], dtype=np.int64)
        self.train_verses = [verses[i] for i in train]
        self.val_verses = [verses[i] for i in val]
        self.tok = tok
        self.tokens_per_verse = len(self.train_stream) / len(train)

    def _window(self, stream, rng):
        start = int(rng.integers(0, len(stream) - SEQ_LEN))
        return [BOS] + stream[start:start + SEQ_LEN - 1].tolist()

    def _chat(self, verses, rng):
        """A user turn holding a verse's first words and a model turn holding the rest, as `gemma4 run` formats it."""
        while True:
            words = verses[int(rng.integers(0, len(verses)))].split(" ")
            if len(words) >= 3:
                break
        k = int(rng.integers(1, min(6, len(words) - 1) + 1))
        prompt, answer = " ".join(words[:k]), " ".join(words[k:])
        enc = lambda s: self.tok.encode(s, add_special_tokens=False).ids  # noqa: E731
        ids = ([BOS, TURN_OPEN] + enc("user\n" + prompt) + [TURN_CLOSE] + enc("\n") + [TURN_OPEN] + enc("model\n")
               + enc(answer) + [TURN_CLOSE] + enc("\n"))
        return ids[:SEQ_LEN]

    def batch(self, seed: int, step: int, val: bool = False):
        rng = np.random.default_rng([seed, step, 1 if val else 0])
        stream, verses = (self.val_stream, self.val_verses) if val else (self.train_stream, self.train_verses)
        rows = []
        for _ in range(BATCH):
            rows.append(self._chat(verses, rng) if rng.random() < CHAT_FRACTION else self._window(stream, rng))
        x = torch.full((BATCH, SEQ_LEN), PAD, dtype=torch.long)
        labels = torch.full((BATCH, SEQ_LEN), -100, dtype=torch.long)
        mask = torch.zeros((BATCH, SEQ_LEN), dtype=torch.long)
        for b, r in enumerate(rows):
            x[b, :len(r)] = torch.tensor(r)
            labels[b, :len(r)] = torch.tensor(r)
            mask[b, :len(r)] = 1
        return x, labels, mask


# ---------------------------------------------------------------------------------------------------------------------
# Training


def lr_at(step: int, total: int) -> float:
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    p = min(1.0, (step - WARMUP) / max(1, total - WARMUP))
    return LR_MIN + 0.5 * (LR - LR_MIN) * (1 + math.cos(math.pi * p))


def loss_of(model, x, labels, mask):
    return model(input_ids=x, attention_mask=mask, labels=labels).loss


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def greedy(model, tok, prompt_ids: list[int], n: int, stop: set[int]) -> list[int]:
    seq = list(prompt_ids)
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
            seq.append(nxt)
            if nxt in stop:
                break
    return seq[len(prompt_ids):]


def chat_ids(tok, prompt: str) -> list[int]:
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids  # noqa: E731
    return [BOS, TURN_OPEN] + enc("user\n" + prompt) + [TURN_CLOSE] + enc("\n") + [TURN_OPEN] + enc("model\n")


def samples(model, tok) -> dict[str, str]:
    model.eval()
    out = {}
    for p in ["In the beginning", "And God said", "The LORD is my shepherd"]:
        out["chat: " + p] = tok.decode(greedy(model, tok, chat_ids(tok, p), 40, {EOS, TURN_CLOSE}),
                                       skip_special_tokens=False)
    raw = [BOS] + tok.encode("And the LORD spake unto Moses", add_special_tokens=False).ids
    out["raw: And the LORD spake unto Moses"] = tok.decode(greedy(model, tok, raw, 40, {EOS}), skip_special_tokens=False)
    model.train()
    return out


def train(name: str, args, verses, corpus_hashes, tok_json) -> None:
    from tokenizers import Tokenizer

    torch.set_num_threads(args.threads)
    seed = MODEL_SEEDS[name]
    total = args.steps or DEFAULT_STEPS[name]
    work = args.work / name
    work.mkdir(parents=True, exist_ok=True)
    ckpt_path = work / "checkpoint.pt"
    (work / "tokenizer.json").write_text(json.dumps(tok_json, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tok = Tokenizer.from_file(str(work / "tokenizer.json"))
    data = Data(verses, tok)
    model = build_model(name, seed)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.95), eps=1e-8)
    step, elapsed, rows, wall_sessions = 0, 0.0, [], []
    if args.resume and ckpt_path.exists():
        st = torch.load(ckpt_path, weights_only=False)
        if st["total_steps"] != total:
            # Within the warm-up the schedule does not depend on the total yet, so changing it there gives exactly
            # the run that was started with the new total; later it would not.
            if st["step"] > WARMUP:
                sys.exit(f"error: {ckpt_path} was started for {st['total_steps']} steps, not {total} (pass --steps "
                         f"{st['total_steps']})")
            log(f"[{name}] total steps {st['total_steps']} -> {total} (still in the warm-up: same schedule)")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        step, elapsed, rows, wall_sessions = st["step"], st["elapsed_s"], st["log"], st["sessions"]
        log(f"[{name}] resumed at step {step}/{total} ({elapsed / 60:.1f} min trained so far)")
    elif ckpt_path.exists() and not args.fresh:
        sys.exit(f"error: {ckpt_path} exists: pass --resume to continue it or --fresh to start over")
    log(f"[{name}] {n_params} parameters, {len(data.train_stream)} training tokens "
        f"({data.tokens_per_verse:.1f} per verse), {len(data.val_stream)} held out; {total} steps of "
        f"{BATCH}x{SEQ_LEN}, {args.threads} thread(s)")
    model.train()
    session_start, last_save, t0 = time.time(), time.time(), time.time()
    recent = []
    # Ctrl-C or a plain kill finishes the step under way, writes the checkpoint and exits: a stop loses nothing.
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    while step < total:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total)
        x, labels, mask = data.batch(seed, step)
        loss = loss_of(model, x, labels, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        step += 1
        now = time.time()
        elapsed += now - t0
        t0 = now
        recent.append(loss.item())
        if step % EVAL_EVERY == 0 or step == total:
            model.eval()
            with torch.no_grad():
                val = float(np.mean([float(loss_of(model, *data.batch(seed, k, val=True)))
                                     for k in range(EVAL_BATCHES)]))
            model.train()
            rows.append({"step": step, "train_loss": round(float(np.mean(recent)), 4), "val_loss": round(val, 4),
                         "lr": round(lr_at(step - 1, total), 6), "elapsed_s": round(elapsed, 1)})
            recent = []
            log(f"[{name}] step {step}/{total} train {rows[-1]['train_loss']:.3f} val {val:.3f} "
                f"lr {rows[-1]['lr']:.2e} {elapsed / 60:.1f} min ({elapsed / step:.2f} s/step)")
            t0 = time.time()  # the evaluation is not training time
        if now - last_save > args.save_minutes * 60 or step == total:
            sess = wall_sessions + [{"started": session_start, "seconds": round(time.time() - session_start, 1),
                                     "threads": args.threads}]
            save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                                        "total_steps": total, "elapsed_s": elapsed, "log": rows, "sessions": sess})
            last_save = time.time()
            t0 = time.time()
        if (stop or (args.max_minutes and time.time() - session_start > args.max_minutes * 60)) and step < total:
            sess = wall_sessions + [{"started": session_start, "seconds": round(time.time() - session_start, 1),
                                     "threads": args.threads}]
            save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                                        "total_steps": total, "elapsed_s": elapsed, "log": rows, "sessions": sess})
            log(f"[{name}] stopped at step {step} ({'signal' if stop else '--max-minutes'}); checkpoint written, "
                f"--resume continues")
            return
    sessions = wall_sessions + [{"started": session_start, "seconds": round(time.time() - session_start, 1),
                                 "threads": args.threads}]
    gen = samples(model, tok)
    for k, v in gen.items():
        log(f"[{name}] {k!r} -> {v!r}")
    export(name, model, tok_json, args, rows, sessions, elapsed, total, n_params, corpus_hashes, gen)


def export(name, model, tok_json, args, rows, sessions, elapsed, total, n_params, corpus_hashes, gen) -> None:
    import tokenizers
    import transformers
    from transformers import GenerationConfig

    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    for f in out.iterdir():
        if f.is_file():
            f.unlink()
    model.eval()
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    bf16.generation_config = GenerationConfig(bos_token_id=BOS, eos_token_id=[EOS, TURN_CLOSE], pad_token_id=PAD)
    bf16.save_pretrained(out)
    tt.write(out, tok_json, DEMO_MULTIMODAL)
    tt.check_tokenizer(out / "tokenizer.json", VOCAB_SIZE, DEMO_MULTIMODAL)
    with (out / "training_log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "train_loss", "val_loss", "lr", "elapsed_s"])
        w.writeheader()
        w.writerows(rows)
    meta = {
        "model": name, "seed": MODEL_SEEDS[name], "data_seed": f"numpy default_rng([{MODEL_SEEDS[name]}, step, 0])",
        "command": "tools/train_demo_model.py " + " ".join(sys.argv[1:]),
        "parameters": n_params, "stored_dtype": "bfloat16", "steps": total, "batch": BATCH, "seq_len": SEQ_LEN,
        "tokens_seen": total * BATCH * SEQ_LEN, "chat_fraction": CHAT_FRACTION,
        "optimizer": {"name": "AdamW", "lr": LR, "lr_min": LR_MIN, "warmup": WARMUP, "schedule": "cosine",
                      "betas": [0.9, 0.95], "weight_decay": WEIGHT_DECAY, "grad_clip": CLIP},
        "training_seconds": round(elapsed, 1), "sessions": sessions,
        "final_train_loss": rows[-1]["train_loss"] if rows else None,
        "final_val_loss": rows[-1]["val_loss"] if rows else None,
        "corpus": {"package": "bible-kjv-text (Debian)", "command": " ".join(BIBLE_CMD),
                   "sha256": corpus_hashes, "held_out": "every 100th verse from verse 50"},
        "tokenizer": {"vocab_size": VOCAB_SIZE, "limit_alphabet": LIMIT_ALPHABET, "note": TOKENIZER_SEED_NOTE},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": args.threads, "platform": platform.platform()},
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "tokenizers": tokenizers.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "greedy_samples": gen,
    }
    (out / "training.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    size = (out / "model.safetensors").stat().st_size
    log(f"[{name}] wrote {out}: {n_params} parameters, model.safetensors {size / 1e6:.2f} MB")


def plot_losses(models_dir: Path, out_png: Path) -> None:
    """The loss curves of both models (training_log.csv) as a small PNG, drawn with PIL (no matplotlib needed)."""
    from PIL import Image, ImageDraw, ImageFont

    W, H, left, right, top, bottom = 720, 400, 60, 180, 20, 50
    curves = []
    colours = {"demo-e2b-mini": ((31, 119, 180), (120, 180, 230)), "demo-moe-mini": ((214, 39, 40), (240, 150, 150))}
    for name in MODEL_NAMES:
        with (models_dir / name / "training_log.csv").open() as f:
            rows = list(csv.DictReader(f))
        steps = [int(r["step"]) for r in rows]
        for key, col in (("val_loss", colours[name][0]), ("train_loss", colours[name][1])):
            curves.append((f"{name} {key.split('_')[0]}", steps, [float(r[key]) for r in rows], col))
    max_step = max(max(c[1]) for c in curves)
    lo, hi = 0.0, math.ceil(max(max(c[2]) for c in curves))
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    px = lambda s: left + (W - left - right) * s / max_step  # noqa: E731
    py = lambda v: top + (H - top - bottom) * (hi - v) / (hi - lo)  # noqa: E731
    for v in range(int(lo), int(hi) + 1):
        d.line([(left, py(v)), (W - right, py(v))], fill=(225, 225, 225))
        d.text((left - 25, py(v) - 6), f"{v}", fill="black", font=font)
    for s in range(0, max_step + 1, 100):
        d.line([(px(s), top), (px(s), H - bottom)], fill=(235, 235, 235))
        d.text((px(s) - 10, H - bottom + 6), f"{s}", fill="black", font=font)
    d.rectangle([left, top, W - right, H - bottom], outline="black")
    d.text((left + (W - left - right) // 2 - 60, H - 22), "optimizer step (16 x 128 tokens)", fill="black", font=font)
    d.text((6, top), "loss", fill="black", font=font)
    for i, (label, xs, ys, col) in enumerate(curves):
        d.line([(px(x), py(y)) for x, y in zip(xs, ys)], fill=col, width=2)
        d.line([(W - right + 10, top + 14 + 18 * i), (W - right + 30, top + 14 + 18 * i)], fill=col, width=3)
        d.text((W - right + 36, top + 8 + 18 * i), label, fill="black", font=font)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    img.save(out_png, optimize=True)
    log(f"wrote {out_png}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="both", choices=MODEL_NAMES + ["both"])
    ap.add_argument("--work", type=Path, default=Path("/work/demo-train"),
                    help="checkpoints and logs while training (outside the repository)")
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "models", help="where the finished models go")
    ap.add_argument("--steps", type=int, default=None, help=f"optimizer steps (default {DEFAULT_STEPS})")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per model (default 1)")
    ap.add_argument("--save-minutes", type=float, default=3.0, help="checkpoint interval (default 3)")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="stop (resumably) after this long; 0: no limit")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint in --work")
    ap.add_argument("--fresh", action="store_true", help="start over even if a checkpoint exists")
    ap.add_argument("--smoke", action="store_true", help="20 steps into --work/smoke, for checking the pipeline")
    ap.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                    help="only draw the loss curves of the models in --out (training_log.csv) to OUT.png")
    args = ap.parse_args()
    if args.plot:
        plot_losses(args.out, args.plot)
        return
    if args.smoke:
        args.steps = args.steps or 20
        args.work = args.work / "smoke"
        args.fresh = True
    torch.use_deterministic_algorithms(True)

    verses, hashes = corpus()
    tok_json = build_tokenizer(verses)
    names = MODEL_NAMES if args.model == "both" else [args.model]
    if len(names) == 1:
        train(names[0], args, verses, hashes, tok_json)
        return
    # Both: one process per model (each with --threads threads), so they train side by side.
    procs = []
    for n in names:
        cmd = [sys.executable, __file__, "--model", n] + [a for a in sys.argv[1:] if a not in ("--model", "both")]
        procs.append(subprocess.Popen(cmd))
    # A SIGTERM to this process stops both children the same way (each writes its checkpoint); Ctrl-C reaches them
    # through the terminal's process group.
    signal.signal(signal.SIGTERM, lambda signum, frame: [p.send_signal(signal.SIGTERM) for p in procs])
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    rc = [p.wait() for p in procs]
    if any(rc):
        sys.exit(f"error: training exited with {rc}")


if __name__ == "__main__":
    main()
