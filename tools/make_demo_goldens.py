#!/usr/bin/env python3
"""Golden traces and greedy generation goldens of the two trained demo models, from Hugging Face transformers.

The same machinery as the tiny models' goldens (tools/make_goldens.py: probe table from `gemma4 probes --json`, the
forward hooks of tools/goldens_trace.py and their self-checks, float32 from the saved bf16 weights), on prompts that
mean something to a model trained on the King James Bible. Run by hand after tools/train_demo_model.py, never in CI.
Writes, for each model in assets/models/demo-*:

  goldens/<model>-text.npz      raw text (no chat format): Genesis 1:1
  goldens/<model>-chat.npz      "And God said" as one user turn of the chat format (what `gemma4 run` and the
                                inspector send by default)
  goldens/<model>-long.npz      Psalm 23:1-2 (44 tokens), longer than the sliding window (32), so sliding and global layers differ
  goldens/<model>-generate.json greedy generation: 32 tokens after the chat prompt
  goldens/VERSIONS.json         "demo_models": seeds, sizes, config hashes, package versions (other keys kept)

Example:  /work/venv/bin/python tools/make_demo_goldens.py --gemma4 build/gemma4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))

import torch  # noqa: E402

import make_goldens as mg  # noqa: E402
import train_demo_model as tdm  # noqa: E402

PROMPTS = {
    "text": ("In the beginning God created the heaven and the earth.", False),
    "chat": ("And God said", True),
    "long": ("The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures: he leadeth me "
             "beside the still waters.", False),
}
# Greedy generation prompts, first that passes make_goldens' margin test wins (chat prompts, as `gemma4 run` sends).
GENERATE_PROMPTS = ["And God said", "In the beginning", "And the LORD spake unto Moses, saying"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gemma4", type=Path, default=ROOT / "build" / "gemma4")
    ap.add_argument("--assets", type=Path, default=ROOT / "assets")
    ap.add_argument("--models", nargs="*", default=tdm.MODEL_NAMES)
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.use_deterministic_algorithms(True)

    import tokenizers
    import transformers
    from tokenizers import Tokenizer

    assets = args.assets.resolve()
    table = mg.ProbeTable(mg.read_probe_table(args.gemma4))
    table.require("text", mg.TEXT_GLOBAL_POINTS + mg.TEXT_LAYER_POINTS)
    versions_path = assets / "goldens" / "VERSIONS.json"
    versions = json.loads(versions_path.read_text()) if versions_path.exists() else {}
    report = versions.get("demo_models", {})
    for name in args.models:
        model_dir = assets / "models" / name
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        training = json.loads((model_dir / "training.json").read_text())
        prompts = {}
        for pname, (text, chat) in PROMPTS.items():
            ids = tdm.chat_ids(tok, text) if chat else tok.encode(text).ids
            prompts[pname] = (text, ids)
        if len(prompts["long"][1]) <= training_window(model_dir):
            raise RuntimeError(f"{name}: the long prompt ({len(prompts['long'][1])} tokens) does not cross the window")
        candidates = [(f"chat: {p}", tdm.chat_ids(tok, p)) for p in GENERATE_PROMPTS]
        report[name] = {
            "seed": training["seed"], "dtype": training["stored_dtype"], "parameters": training["parameters"],
            "safetensors_bytes": (model_dir / "model.safetensors").stat().st_size,
            "config_sha256": mg.sha256_file(model_dir / "config.json"),
            "prompts": {p: {"text": t, "tokens": len(ids)} for p, (t, ids) in prompts.items()},
        }
        mg.text_goldens(name, assets, table, tok, report, prompts=prompts, candidates=candidates)
        gen = json.loads((assets / "goldens" / f"{name}-generate.json").read_text())
        mg.log(f"[{name}] greedy after {gen['prompt_name']!r}: {gen['generated_text']!r}")
    versions["demo_models"] = report
    versions["demo_versions"] = {"transformers": transformers.__version__, "torch": torch.__version__,
                                 "tokenizers": tokenizers.__version__,
                                 "command": " ".join(["tools/make_demo_goldens.py"] + sys.argv[1:])}
    versions_path.write_text(json.dumps(versions, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    mg.log(f"wrote {versions_path}")


def training_window(model_dir: Path) -> int:
    return json.loads((model_dir / "config.json").read_text())["text_config"]["sliding_window"]


if __name__ == "__main__":
    main()
