#!/usr/bin/env python3
"""Write the tiny Gemma 4 checkpoints, their tokenizer and the golden traces from Hugging Face transformers.

PyPI side of gemma4-ref: run by hand on a developer machine (never in CI), with transformers + torch (CPU is
enough), tokenizers, numpy and pillow installed. Everything is seeded, so a rerun with the same package versions
rewrites the same bytes. Writes, under --assets (default: the repository's assets/):

  models/tiny-{e2b,e4b,26b-a4b,31b}/   config.json, model.safetensors, generation_config.json, tokenizer.json,
                                       tokenizer_config.json  (HF save_pretrained layout; tiny-31b in bfloat16)
  goldens/<model>-<prompt>.npz         one array per probe of `gemma4 probes --json`, plus meta.* entries
  goldens/<model>-generate.json        greedy generation golden
  goldens/VERSIONS.json                package versions, seeds, config hashes, corpus hashes
  goldens/{image,audio}_plans.json     resize / soft-token plans of every sample image and clip
  samples/                             the synthetic images and waveforms the vision/audio goldens use (the
                                       recorded photo.png and speech.wav are read, not written, unless
                                       --photo-jpg / --remake-speech)

Probe names come from the C++ table (`gemma4 probes --json`, see --gemma4): only names in that table are
written, and the script stops if a probe it knows how to capture is missing from the table. Every captured
tensor is checked against the model's own outputs or an independent recomputation before it is written.

Example:  /work/venv/bin/python tools/make_goldens.py --gemma4 build/gemma4
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

# Text probes this script captures (tower "text"); each must be in the C++ table.
TEXT_GLOBAL_POINTS = ["embed", "ple_token", "ple_context", "ple_inputs", "final_norm", "logits"]
TEXT_LAYER_POINTS = [
    "rope_inv_freq", "attn_norm", "attn_q", "attn_q_normed", "attn_q_rope", "attn_k", "attn_k_normed", "attn_k_rope",
    "attn_v", "attn_weights", "attn_out", "attn_o", "attn_post_norm", "attn_residual", "mlp_norm", "mlp_gate",
    "mlp_up", "mlp_act", "mlp_out", "moe_router_logits", "moe_router_probs", "moe_topk_ids", "moe_topk_weights",
    "moe_experts_in", "moe_experts_out", "moe_dense_post", "moe_experts_post", "mlp_post_norm", "ffn_residual",
    "ple_gate", "ple_gated", "ple_out", "layer_out",
]

PROMPT_LENGTHS = [7, 8, 9, 20]  # around the tiny sliding window (8), and one that crosses it twice
TEXT_PROMPT = "Hello world!"  # "!" is not in the tiny vocabulary: byte fallback
GENERATE_NEW_TOKENS = 32


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Probe table


def read_probe_table(gemma4: Path) -> list[dict]:
    if not gemma4.exists():
        sys.exit(f"error: {gemma4} not found; build it first (cmake --build build -j2 --target gemma4) or pass --gemma4")
    res = subprocess.run([str(gemma4), "probes", "--json"], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"error: `{gemma4} probes --json` failed ({res.returncode}): {res.stderr.strip()}")
    table = json.loads(res.stdout)
    for row in table:
        for key in ("name", "tower", "point", "per_layer", "shape"):
            if key not in row:
                sys.exit(f"error: probe table row {row} lacks '{key}'")
    return table


class ProbeTable:
    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.by_tp = {(r["tower"], r["point"]): r for r in rows}

    def has(self, tower: str, point: str) -> bool:
        return (tower, point) in self.by_tp

    def require(self, tower: str, points: list[str]) -> None:
        missing = [f"{tower}.{p}" for p in points if not self.has(tower, p)]
        if missing:
            sys.exit("error: probes this script captures are missing from `gemma4 probes --json`: "
                     + ", ".join(missing) + "\n(update reference/probes.h or this script so they agree)")

    def not_captured(self, tower: str, captured: set[str]) -> list[str]:
        return [r["name"] for r in self.rows if r["tower"] == tower and r["point"] not in captured]

    def allowed(self, name: str) -> bool:
        """True if `name` (e.g. text.3.attn_q) is a table entry with L expanded."""
        parts = name.split(".")
        if len(parts) == 2:
            row = self.by_tp.get((parts[0], parts[1]))
            return row is not None and not row["per_layer"]
        if len(parts) == 3 and parts[1].isdigit():
            row = self.by_tp.get((parts[0], parts[2]))
            return row is not None and row["per_layer"]
        return False


# ---------------------------------------------------------------------------------------------------------------------
# Traces


def save_trace(path: Path, arrays: dict[str, np.ndarray], table: ProbeTable, meta: dict) -> int:
    out = {}
    for name in sorted(arrays):
        if name.startswith("_"):
            continue
        if not table.allowed(name):
            raise RuntimeError(f"{path.name}: {name} is not in the probe table")
        a = arrays[name]
        if a.dtype not in (np.float32, np.int32):
            raise RuntimeError(f"{path.name}: {name} has dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise RuntimeError(f"{path.name}: {name} has NaN/Inf")
        out[name] = a
    out["meta.model"] = np.array(meta["model"])
    out["meta.prompt"] = np.array(meta["prompt"])
    out["meta.tokens"] = np.asarray(meta["tokens"], dtype=np.int64)
    out["meta.backend"] = np.array("transformers")
    out["meta.tool_version"] = np.array(meta["tool_version"])
    out["meta.config_hash"] = np.array(meta["config_hash"])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    return len(out)


def verify_npz(path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        for k in z.files:
            _ = z[k]
        for k in ("meta.model", "meta.prompt", "meta.tokens", "meta.backend", "meta.tool_version",
                  "meta.config_hash"):
            if k not in z.files:
                raise RuntimeError(f"{path}: missing {k}")


# ---------------------------------------------------------------------------------------------------------------------
# Models


def tool_version() -> str:
    import transformers
    return f"transformers {transformers.__version__} torch {torch.__version__}"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prompt_ids(T: int) -> list[int]:
    """<bos> then T-1 ids drawn (seeded by T) from the ordinary part of the tiny vocabulary (7..504)."""
    g = torch.Generator().manual_seed(1000 + T)
    return [2] + torch.randint(7, 505, (T - 1,), generator=g).tolist()


def load_f32(model_dir: Path):
    from transformers import Gemma4ForConditionalGeneration
    model, info = Gemma4ForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager", experts_implementation="eager",
        output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k != "error_msgs"} | ({"error_msgs": info["error_msgs"]}
                                                                          if info.get("error_msgs") else {})
    if bad:
        raise RuntimeError(f"{model_dir}: from_pretrained reported {bad}")
    model.eval()
    return model


@torch.no_grad()
def write_model(name: str, assets: Path, tok_json: dict, samples, report: dict) -> None:
    import safetensors
    import goldens_models as gm
    import goldens_multimodal as gmm
    import goldens_tiny_tokenizer as tt

    out_dir = assets / "models" / name
    log(f"[{name}] building, seed {gm.MODEL_SEEDS[name]}")
    model = gm.build_model(name)
    set_names = gm.randomise(model, gm.MODEL_SEEDS[name])
    bounds = gm.calibrate_clip_bounds(model, gm.MODEL_SEEDS[name], lambda: samples.run_towers(model))
    dtype = gm.MODEL_DTYPES[name]
    if out_dir.exists():
        for f in out_dir.iterdir():
            if f.is_file():
                f.unlink()
    if dtype != torch.float32:
        # Round the float32 weights to the checkpoint dtype in place (the reference for the reload check), and save
        # a converted copy. Converting the model itself would also round the non-persistent RoPE inv_freq buffers.
        for t in model.state_dict().values():
            t.copy_(t.to(dtype).to(torch.float32))
        copy.deepcopy(model).to(dtype).save_pretrained(out_dir)
    else:
        model.save_pretrained(out_dir)
    tt.write(out_dir, tok_json)
    tt.check_tokenizer(out_dir / "tokenizer.json")
    with tempfile.TemporaryDirectory() as tmp:
        gmm.write_processor_config(out_dir, Path(tmp))

    # The saved file: which tensors, which dtype; KV-shared layers' k/v.
    with safetensors.safe_open(out_dir / "model.safetensors", "pt") as f:
        keys = sorted(f.keys())
        dtypes = sorted({str(f.get_slice(k).get_dtype()) for k in keys})
    cfg = model.config.text_config
    first_shared = cfg.num_hidden_layers - cfg.num_kv_shared_layers
    shared_kv = [k for k in keys for l in range(first_shared, cfg.num_hidden_layers)
                 if f"language_model.layers.{l}.self_attn." in k and any(s in k for s in ("k_proj", "v_proj", "k_norm"))]
    n_params = sum(p.numel() for p in model.parameters())

    # Reload in float32 and compare with the in-memory model (bf16 weights upcast for tiny-31b).
    ref = model
    reloaded = load_f32(out_dir)
    sd_a, sd_b = ref.state_dict(), reloaded.state_dict()
    if set(sd_a) != set(sd_b):
        raise RuntimeError(f"{name}: state-dict keys differ after reload: {set(sd_a) ^ set(sd_b)}")
    for k in sd_a:
        if not torch.equal(sd_a[k], sd_b[k]):
            raise RuntimeError(f"{name}: {k} differs after reload")
    ids = torch.tensor([prompt_ids(20)])
    la = ref(input_ids=ids).logits
    lb = reloaded(input_ids=ids).logits
    reload_diff = float((la - lb).abs().max())
    # Equal weights, but the MoE expert matmuls may round differently on differently aligned storage (~1e-7).
    if not torch.allclose(la, lb, rtol=1e-5, atol=1e-4):
        raise RuntimeError(f"{name}: reloaded logits differ (max {reload_diff})")
    size = (out_dir / "model.safetensors").stat().st_size
    log(f"[{name}] saved {len(keys)} tensors ({', '.join(dtypes)}), {size / 1e6:.2f} MB, {n_params} parameters; "
        f"reload reproduces the logits (max diff {reload_diff:.1e}); KV-shared layers' k/v tensors in file: {shared_kv or 'none'}")
    report[name] = {
        "seed": gm.MODEL_SEEDS[name], "dtype": str(dtype).replace("torch.", ""), "tensors": len(keys),
        "parameters": n_params, "safetensors_bytes": size, "set_by_init": len(set_names),
        "clip_bounds_set": len(bounds), "reload_logits_max_abs_diff": reload_diff, "kv_shared_kv_tensors_in_file": shared_kv,
        "config_sha256": sha256_file(out_dir / "config.json"),
        "files": sorted(f.name for f in out_dir.iterdir()),
    }


@torch.no_grad()
def text_goldens(name: str, assets: Path, table: ProbeTable, tok, report: dict,
                 prompts: dict[str, tuple[str, list[int]]] | None = None,
                 candidates: list[tuple[str, list[int]]] | None = None) -> None:
    """The text traces (one per prompt: name -> (text, ids); default: the tiny models' t7, t8, t9, t20 and text) and
    the greedy generation golden (from the first of `candidates` that passes, see below)."""
    import goldens_trace as gt

    model_dir = assets / "models" / name
    model = load_f32(model_dir)
    config_hash = sha256_file(model_dir / "config.json")
    cap = gt.TextCapture(model)
    if prompts is None:
        prompts = {f"t{T}": ("", prompt_ids(T)) for T in PROMPT_LENGTHS}
        prompts["text"] = (TEXT_PROMPT, tok.encode(TEXT_PROMPT).ids)
    entropies = {}
    for pname, (text, ids_list) in prompts.items():
        ids = torch.tensor([ids_list])
        cap.reset()
        out = model(input_ids=ids, output_hidden_states=True, output_attentions=True)
        cap.t["text.logits"] = out.logits[0].detach().clone()
        cap.finish()
        gt.self_check_text(cap, out, ids)
        entropies[pname] = [round(e, 3) for e in gt.attention_entropy(cap)]
        arrays = {}
        for k, v in cap.t.items():
            if k.startswith("_"):
                continue
            arrays[k] = v.numpy().astype(np.int32 if v.dtype == torch.int32 else np.float32)
        path = assets / "goldens" / f"{name}-{pname}.npz"
        n = save_trace(path, arrays, table, {"model": name, "prompt": text, "tokens": ids_list,
                                              "tool_version": tool_version(), "config_hash": config_hash})
        verify_npz(path)
        log(f"[{name}] {path.name}: T={len(ids_list)}, {n} arrays, {path.stat().st_size / 1e3:.0f} kB")
    cap.remove()
    longest = max(prompts, key=lambda p: len(prompts[p][1]))
    report[name][f"attention_entropy_{longest}"] = entropies[longest]
    report[name]["captured_text_points"] = sorted({k.split(".")[-1] for k in cap.t if not k.startswith("_")})

    # Greedy generation golden: HF generate (KV cache, sliding-window cache, shared KV) against a no-cache loop.
    # Random tiny models with tied embeddings often fall into a one-token loop; take the first candidate prompt whose
    # continuation has at least 5 distinct tokens and no near-tie (top-1 / top-2 logit margin >= 1e-3 at every step, so
    # float32 rounding cannot flip a token), else the most varied one, so the golden says something.
    if candidates is None:
        candidates = [("text", prompts["text"][1]), ("t20", prompts["t20"][1])]
        g = torch.Generator().manual_seed(77)
        candidates += [(f"random{i}", [2] + torch.randint(7, 505, (15,), generator=g).tolist()) for i in range(8)]
    best = None
    for cname, ids_list in candidates:
        seq, margins = list(ids_list), []
        for _ in range(GENERATE_NEW_TOKENS):
            logits = model(input_ids=torch.tensor([seq])).logits[0, -1]
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            seq.append(int(top.indices[0]))
        new = seq[len(ids_list):]
        if best is None or len(set(new)) > len(set(best[2])):
            best = (cname, ids_list, new, margins)
        if len(set(new)) >= 5 and min(margins) >= 1e-3:
            best = (cname, ids_list, new, margins)
            break
    cname, ids_list, greedy, margins = best
    ids = torch.tensor([ids_list])
    gen = model.generate(input_ids=ids, max_new_tokens=GENERATE_NEW_TOKENS, do_sample=False, eos_token_id=None,
                         pad_token_id=0)[0, len(ids_list):].tolist()
    if greedy != gen:
        raise RuntimeError(f"{name}: generate() {gen} != no-cache greedy {greedy}")
    golden = {
        "model": name, "prompt_name": cname, "prompt": tok.decode(ids_list, skip_special_tokens=False),
        "prompt_ids": ids_list, "generated_ids": gen,
        "generated_text": tok.decode(gen, skip_special_tokens=False),
        "decoding": "greedy (argmax), no stop at <eos>: exactly max_new_tokens tokens",
        "max_new_tokens": GENERATE_NEW_TOKENS, "top1_top2_logit_margins": [round(m, 6) for m in margins],
        "contains_eos": 1 in gen, "backend": "transformers", "tool_version": tool_version(),
        "config_hash": config_hash,
    }
    path = assets / "goldens" / f"{name}-generate.json"
    path.write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"[{name}] {path.name}: {gen} (min margin {min(margins):.4f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gemma4", type=Path, default=ROOT / "build" / "gemma4",
                    help="the gemma4 CLI whose `probes --json` names the arrays (default: build/gemma4)")
    ap.add_argument("--assets", type=Path, default=ROOT / "assets", help="output root (default: assets/)")
    ap.add_argument("--models", nargs="*", default=None, help="subset of tiny-e2b tiny-e4b tiny-26b-a4b tiny-31b")
    ap.add_argument("--skip-checkpoints", action="store_true",
                    help="reuse the checkpoints already in assets/models (only rewrite goldens)")
    ap.add_argument("--no-multimodal", action="store_true", help="skip the vision and audio goldens")
    ap.add_argument("--no-extra-samples", action="store_true",
                    help="skip the photo / speech / extreme-aspect / short / long clip goldens and the plans")
    ap.add_argument("--only-extra-samples", action="store_true",
                    help="only the extra-sample goldens and plans (implies --skip-checkpoints; no text goldens, "
                         "no earlier multimodal goldens, no tokenizer goldens, VERSIONS.json untouched)")
    ap.add_argument("--photo-jpg", type=Path, default=None,
                    help="rewrite samples/photo.png from seeding_by_Clements_Engelhardt.jpg (Debian package "
                         "lomiri-wallpapers-16.04, see assets/README.md)")
    ap.add_argument("--remake-speech", action="store_true",
                    help="rewrite samples/speech.wav with espeak-ng and sox (see assets/README.md)")
    ap.add_argument("--no-tokenizer-goldens", action="store_true",
                    help="skip (d): the tokenizer corpus, its id goldens and the chat goldens (tools/goldens_tokenizer.py)")
    args = ap.parse_args()

    torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.use_deterministic_algorithms(True)

    import goldens_models as gm
    import goldens_multimodal as gmm
    import goldens_tiny_tokenizer as tt
    import tokenizers
    import transformers
    from tokenizers import Tokenizer

    names = args.models or gm.MODEL_NAMES
    for n in names:
        if n not in gm.MODEL_NAMES:
            sys.exit(f"error: unknown model {n}; expected some of {gm.MODEL_NAMES}")
    assets = args.assets.resolve()
    rows = read_probe_table(args.gemma4)
    table = ProbeTable(rows)
    table.require("text", TEXT_GLOBAL_POINTS + TEXT_LAYER_POINTS)
    if not args.no_multimodal:
        table.require("vision", gmm.VISION_POINTS)
        table.require("audio", gmm.AUDIO_POINTS)
    log(f"probe table: {len(rows)} rows from {args.gemma4}")

    samples = gmm.Samples(assets / "samples")
    samples.write()
    if args.photo_jpg:
        gmm.make_photo(args.photo_jpg, samples.dir / gmm.EXTRA_IMAGES["photo"])
    if args.remake_speech:
        gmm.make_speech(samples.dir / gmm.EXTRA_CLIPS["speech"])
    extra = not args.no_multimodal and not args.no_extra_samples
    if extra:
        samples.check_recorded()
    if args.only_extra_samples:
        if not extra:
            sys.exit("error: --only-extra-samples with --no-multimodal / --no-extra-samples")
        report = {}
        gmm.write_plans(assets, samples)
        for name in names:
            gmm.extra_goldens(name, assets, table, samples, report, save_trace, verify_npz, load_f32, tool_version,
                              sha256_file)
        log(json.dumps(report))
        return
    tok_json, corpus_hashes = tt.build_tokenizer_json()
    report: dict = {}
    versions_path = assets / "goldens" / "VERSIONS.json"
    if versions_path.exists():
        report = json.loads(versions_path.read_text()).get("models", {})
    for name in names:
        if args.skip_checkpoints:
            d = assets / "models" / name
            report.setdefault(name, {})["config_sha256"] = sha256_file(d / "config.json")
        else:
            write_model(name, assets, tok_json, samples, report)
    tok = Tokenizer.from_file(str(assets / "models" / names[0] / "tokenizer.json"))
    for name in names:
        text_goldens(name, assets, table, tok, report)
        if not args.no_multimodal:
            gmm.multimodal_goldens(name, assets, table, samples, report, save_trace, verify_npz, load_f32,
                                   tool_version, sha256_file)
        if extra:
            gmm.extra_goldens(name, assets, table, samples, report, save_trace, verify_npz, load_f32, tool_version,
                              sha256_file)
    if extra:
        gmm.write_plans(assets, samples)

    versions = {
        "transformers": transformers.__version__, "torch": torch.__version__, "tokenizers": tokenizers.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "command": " ".join(["tools/make_goldens.py"] + sys.argv[1:]),
        "probe_table_sha256": hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest(),
        "tokenizer_corpus_sha256": corpus_hashes,
        "samples_sha256": {f.name: sha256_file(f) for f in sorted((assets / "samples").iterdir()) if f.is_file()},
        "tiny_token_ids": gm.TINY_TOKEN_IDS,
        "prompt_lengths": PROMPT_LENGTHS, "text_prompt": TEXT_PROMPT,
        "not_captured": {tw: table.not_captured(tw, set(gmm.captured_points(tw) if tw != "text" else
                                                         TEXT_GLOBAL_POINTS + TEXT_LAYER_POINTS))
                         for tw in ("text", "vision", "audio")} if not args.no_multimodal else {},
        "models": report,
    }
    if versions_path.exists():  # the demo models' entries (tools/make_demo_goldens.py) are not this script's to drop
        old = json.loads(versions_path.read_text())
        versions.update({k: old[k] for k in ("demo_models", "demo_versions") if k in old})
    versions_path.parent.mkdir(parents=True, exist_ok=True)
    versions_path.write_text(json.dumps(versions, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {versions_path}")

    if not args.no_tokenizer_goldens:  # (d) after (b), so the tiny tokenizer's goldens use the file just written
        import goldens_tokenizer
        goldens_tokenizer.main()


if __name__ == "__main__":
    main()
