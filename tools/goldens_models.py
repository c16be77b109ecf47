"""Tiny Gemma 4 checkpoints for golden tests: configs, seeded random init, clip-bound calibration.

Used by tools/make_goldens.py (PyPI side, run by hand, never in CI). The four tiny text configs are those of
spec/gemma4-architecture.md §10; the vision/audio towers those of §10 C. Every parameter and every persistent
buffer is overwritten with seeded random values so that no path (norm weights, layer_scalar, router scales,
clip bounds, standardize, per_dim_scale, position tables) is silently the identity.
"""

from __future__ import annotations

import math

import torch
from transformers import (
    Gemma4AudioConfig,
    Gemma4Config,
    Gemma4ForConditionalGeneration,
    Gemma4TextConfig,
    Gemma4VisionConfig,
)

S, F = "sliding_attention", "full_attention"

# Multimodal token ids of the tiny vocabulary (512). Same relative order as the released ids
# (boi 255999 < boa 256000 < image 258880 < audio 258881 < eoi 258882 < eoa 258883 < video 258884).
TINY_TOKEN_IDS = {
    "boi_token_id": 505,      # "<|image>"
    "boa_token_id": 506,      # "<|audio>"
    "image_token_id": 507,    # "<|image|>"
    "audio_token_id": 508,    # "<|audio|>"
    "eoi_token_id": 509,      # "<image|>"
    "eoa_token_index": 510,   # "<audio|>"  (HF's field name really is eoa_token_index)
    "video_token_id": 511,    # "<|video|>"
}

MODEL_NAMES = ["tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"]

# One seed per model so that regenerating one model does not change the others.
MODEL_SEEDS = {"tiny-e2b": 2001, "tiny-e4b": 2002, "tiny-26b-a4b": 2003, "tiny-31b": 2004}

# Checkpoint dtype as saved (goldens are always computed in float32 from the saved weights).
MODEL_DTYPES = {"tiny-e2b": torch.float32, "tiny-e4b": torch.float32, "tiny-26b-a4b": torch.float32,
                "tiny-31b": torch.bfloat16}


def text_config(name: str) -> Gemma4TextConfig:
    common = dict(vocab_size=512, hidden_size=64, num_attention_heads=8, head_dim=16, global_head_dim=32,
                  sliding_window=8, final_logit_softcapping=30.0, rms_norm_eps=1e-6, pad_token_id=0,
                  eos_token_id=1, bos_token_id=2, tie_word_embeddings=True, vocab_size_per_layer_input=512)
    if name == "tiny-e2b":
        return Gemma4TextConfig(**common, intermediate_size=128, num_hidden_layers=10, layer_types=[S, S, S, S, F] * 2,
                                num_key_value_heads=1, hidden_size_per_layer_input=16, num_kv_shared_layers=4,
                                use_double_wide_mlp=True)
    if name == "tiny-e4b":
        return Gemma4TextConfig(**common, intermediate_size=128, num_hidden_layers=12,
                                layer_types=[S, S, S, S, S, F] * 2, num_key_value_heads=2,
                                hidden_size_per_layer_input=16, num_kv_shared_layers=4)
    if name == "tiny-26b-a4b":
        return Gemma4TextConfig(**common, intermediate_size=48, num_hidden_layers=12, layer_types=[S, S, S, S, S, F] * 2,
                                num_key_value_heads=4, num_global_key_value_heads=1, attention_k_eq_v=True,
                                hidden_size_per_layer_input=0, enable_moe_block=True, num_experts=16,
                                top_k_experts=4, moe_intermediate_size=16, use_bidirectional_attention="vision")
    if name == "tiny-31b":
        return Gemma4TextConfig(**common, intermediate_size=128, num_hidden_layers=12, layer_types=[S, S, S, S, S, F] * 2,
                                num_key_value_heads=4, num_global_key_value_heads=1, attention_k_eq_v=True,
                                hidden_size_per_layer_input=0, use_bidirectional_attention="vision")
    raise ValueError(f"unknown tiny model {name!r}; expected one of {MODEL_NAMES}")


def vision_config(name: str) -> Gemma4VisionConfig:
    # position_embedding_size 2048 instead of the released 10240 keeps the checkpoints small; it still exceeds every
    # patch coordinate the processor can produce at budgets up to 560 (at most 560·48/16 = 1680 for a panorama).
    # E2B/E4B towers clip their linears and do not standardize; 26B/31B towers standardize and do not clip.
    small = name in ("tiny-e2b", "tiny-e4b")
    return Gemma4VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              num_key_value_heads=2, head_dim=16, patch_size=16, pooling_kernel_size=3,
                              position_embedding_size=2048, use_clipped_linears=small, standardize=not small,
                              rms_norm_eps=1e-6)


def audio_config(name: str) -> Gemma4AudioConfig | None:
    if name not in ("tiny-e2b", "tiny-e4b"):
        return None
    return Gemma4AudioConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             subsampling_conv_channels=[128, 8], output_proj_dims=48)


def full_config(name: str) -> Gemma4Config:
    return Gemma4Config(text_config=text_config(name), vision_config=vision_config(name),
                        audio_config=audio_config(name), **TINY_TOKEN_IDS)


# ---------------------------------------------------------------------------------------------------------------------
# Seeded random initialisation


def _normal(gen, shape, std, mean=0.0):
    return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean


def _uniform(gen, shape, lo, hi):
    return torch.rand(shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo


CLIP_SUFFIXES = (".input_min", ".input_max", ".output_min", ".output_max")

# RMSNorm scales of q/k: the text and vision attention use scale 1.0 (no 1/sqrt(Dh)), so q·k of two unit-RMS
# vectors has a standard deviation of about sqrt(Dh). These weights keep the logits in a range where the softmax
# is neither uniform nor one-hot (see the entropy report of make_goldens.py).
QK_NORM_MEAN = 0.55


def init_value(name: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """The random value for one state-dict entry (parameter or persistent buffer), by its HF name."""
    base = name.rsplit(".", 1)[-1]
    if name.endswith(CLIP_SUFFIXES):
        return torch.zeros(shape)  # placeholder; calibrate_clip_bounds() sets the real values
    if name.endswith("layer_scalar"):
        return _uniform(gen, shape, 0.5, 1.5)
    if name.endswith("router.scale"):
        return _normal(gen, shape, 0.2, 1.0)
    if name.endswith("router.per_expert_scale"):
        return _uniform(gen, shape, 0.5, 1.5)
    if name == "model.language_model.norm.weight":
        # Final norm: logits of a few units to ~15, so that the soft-cap 30·tanh(x/30) visibly bends them.
        return _normal(gen, shape, 0.4, 4.0)
    if name.endswith(("self_attn.q_norm.weight", "self_attn.k_norm.weight")):
        return _normal(gen, shape, 0.05, QK_NORM_MEAN)
    if name.endswith("norm.weight") or name.endswith("layernorm.weight") or ".norm.weight" in name \
            or name.endswith(("_layernorm_1.weight", "_layernorm_2.weight")):
        return _normal(gen, shape, 0.1, 1.0)
    if name.endswith("std_bias"):
        return _normal(gen, shape, 0.5)
    if name.endswith("std_scale"):
        return _uniform(gen, shape, 0.5, 1.5)
    if name.endswith("per_dim_scale"):
        return _normal(gen, shape, 0.5)
    if name.endswith("position_embedding_table"):
        return _normal(gen, shape, 0.5)
    if name.endswith("experts.gate_up_proj"):  # [E, 2I, D]
        return _normal(gen, shape, 1.0 / math.sqrt(shape[2]))
    if name.endswith("experts.down_proj"):  # [E, D, I]
        return _normal(gen, shape, 1.0 / math.sqrt(shape[2]))
    if name.endswith("embed_tokens.weight"):  # looked up then x sqrt(D): rows of unit RMS after scaling
        return _normal(gen, shape, 1.0 / math.sqrt(shape[1]))
    if name.endswith("embed_tokens_per_layer.weight"):  # x sqrt(P) after lookup; P = 16
        return _normal(gen, shape, 0.25)
    if name.endswith("output_proj.bias"):
        return _normal(gen, shape, 0.1)
    if base == "weight" and len(shape) == 4:  # Conv2d [out, in, kh, kw]
        return _normal(gen, shape, 1.0 / math.sqrt(shape[1] * shape[2] * shape[3]))
    if base == "weight" and len(shape) == 3:  # depthwise Conv1d [C, 1, k]
        return _normal(gen, shape, 1.0 / math.sqrt(shape[1] * shape[2]))
    if base == "weight" and len(shape) == 2:  # Linear [out, in]
        return _normal(gen, shape, 1.0 / math.sqrt(shape[1]))
    if base == "weight" and len(shape) == 1:  # LayerNorm of the audio subsampler
        return _normal(gen, shape, 0.1, 1.0)
    raise ValueError(f"no init rule for state-dict entry {name} {tuple(shape)}")


@torch.no_grad()
def randomise(model: torch.nn.Module, seed: int) -> list[str]:
    """Overwrite every parameter and persistent buffer (walked in sorted name order) from one seeded generator.

    Returns the names it set. Tied weights (lm_head) are set through the embedding they share storage with.
    """
    gen = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    done = []
    seen_ptrs = set()
    for name in sorted(state):
        tensor = state[name]
        if name == "lm_head.weight":
            continue  # tied to model.language_model.embed_tokens.weight
        ptr = tensor.data_ptr()
        if ptr in seen_ptrs:
            continue
        seen_ptrs.add(ptr)
        tensor.copy_(init_value(name, tuple(tensor.shape), gen).to(tensor.dtype))
        done.append(name)
    return done


def persistent_buffer_names(model: torch.nn.Module) -> list[str]:
    params = {n for n, _ in model.named_parameters()}
    return [n for n in model.state_dict() if n not in params and n != "lm_head.weight"]


@torch.no_grad()
def calibrate_clip_bounds(model, seed: int, run_towers) -> dict[str, tuple[float, float, float, float]]:
    """Set every ClippableLinear's four bounds to finite values that clip a few percent of the activations.

    With all bounds at ±inf, `run_towers()` (which runs the vision and audio towers on the sample inputs) records
    the input and output of each clipped linear; the bounds become the 3rd / 97th percentiles scaled by a random
    factor in [0.9, 1.1], so input_min < 0 < input_max and output_min < 0 < output_max and some values clip.
    """
    from transformers.models.gemma4.modeling_gemma4 import Gemma4ClippableLinear

    gen = torch.Generator().manual_seed(seed + 7919)
    mods = [(n, m) for n, m in model.named_modules() if isinstance(m, Gemma4ClippableLinear) and m.use_clipped_linears]
    if not mods:
        return {}
    for _, m in mods:
        m.input_min.fill_(-math.inf); m.input_max.fill_(math.inf)
        m.output_min.fill_(-math.inf); m.output_max.fill_(math.inf)
    seen: dict[str, list[torch.Tensor]] = {}

    def hook(name):
        def fn(mod, args, out):
            seen.setdefault(name + ".in", []).append(args[0].detach().float().flatten())
            seen.setdefault(name + ".out", []).append(out.detach().float().flatten())
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in mods]
    run_towers()
    for h in handles:
        h.remove()
    bounds = {}
    for name, m in mods:
        vals = []
        for side in ("in", "out"):
            key = f"{name}.{side}"
            if key not in seen:
                raise RuntimeError(f"clip calibration did not reach {name}")
            x = torch.cat(seen[key])
            lo = float(torch.quantile(x, 0.03)) * float(_uniform(gen, (1,), 0.9, 1.1))
            hi = float(torch.quantile(x, 0.97)) * float(_uniform(gen, (1,), 0.9, 1.1))
            if not (lo < 0 < hi):
                raise RuntimeError(f"{name}: calibration gave bounds {lo}, {hi} that do not straddle 0")
            vals += [lo, hi]
        m.input_min.fill_(vals[0]); m.input_max.fill_(vals[1])
        m.output_min.fill_(vals[2]); m.output_max.fill_(vals[3])
        bounds[name] = tuple(vals)
    return bounds


def build_model(name: str) -> Gemma4ForConditionalGeneration:
    """Fresh (un-randomised) float32 model with eager attention and the eager (per-expert loop) MoE."""
    cfg = full_config(name)
    torch.manual_seed(0)  # HF's own init is overwritten anyway; keep it quiet and fixed
    model = Gemma4ForConditionalGeneration(cfg).to(torch.float32)
    model.set_attn_implementation("eager")
    model.set_experts_implementation("eager")
    model.eval()
    return model
