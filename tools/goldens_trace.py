"""Text-decoder probe capture for the golden traces: forward hooks on the HF modules plus what hooks cannot see.

Every captured array is checked against an independent recomputation or against the model's own outputs
(`self_check_text`) before make_goldens.py writes it. Probe names follow the table printed by
`gemma4 probes --json`; a layer probe is stored as `text.<l>.<point>`, a global one as `text.<point>`.
Layer-less shapes drop the batch dimension: (T, ...).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from transformers.models.gemma4 import modeling_gemma4 as hf


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy().copy()


class TextCapture:
    """Hooks on the language model of a Gemma4ForConditionalGeneration (batch 1, eager attention)."""

    def __init__(self, model):
        self.model = model
        self.lm = model.model.language_model
        self.cfg = self.lm.config
        self.t: dict[str, torch.Tensor] = {}      # probe name -> tensor (batch dim dropped)
        self.aux: dict[str, object] = {}          # things needed for self-checks (masks, cos/sin)
        self.handles = []
        self._install()

    # -- helpers -------------------------------------------------------------------------------------------------
    def _put(self, name, tensor):
        if name in self.t:
            raise RuntimeError(f"probe {name} captured twice in one forward")
        self.t[name] = tensor.detach().clone()

    def _fwd(self, module, name, fn=lambda o: o):
        self.handles.append(module.register_forward_hook(lambda m, a, o: self._put(name, fn(o))))

    def _pre(self, module, name, fn=lambda a: a[0]):
        self.handles.append(module.register_forward_pre_hook(lambda m, a: self._put(name, fn(a))))

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []

    def reset(self):
        self.t = {}
        self.aux = {}

    # -- hooks ---------------------------------------------------------------------------------------------------
    def _install(self):
        lm, cfg = self.lm, self.cfg
        H = cfg.num_attention_heads

        def lm_pre(mod, args, kwargs):
            self._put("text.embed", kwargs["inputs_embeds"][0])
            return None

        self.handles.append(lm.register_forward_pre_hook(lm_pre, with_kwargs=True))
        self._fwd(lm.norm, "text.final_norm", lambda o: o[0])
        if cfg.hidden_size_per_layer_input:
            L, P = cfg.num_hidden_layers, cfg.hidden_size_per_layer_input
            self._fwd(lm.embed_tokens_per_layer, "text.ple_token", lambda o: o[0].reshape(o.shape[1], L, P))
            self._fwd(lm.per_layer_projection_norm, "text.ple_context", lambda o: o[0])

        for l, layer in enumerate(lm.layers):
            p = f"text.{l}."
            attn = layer.self_attn
            dh = attn.head_dim

            def layer_pre(mod, args, kwargs, l=l):
                self.aux[f"layer_in.{l}"] = args[0][0].detach().clone()
                if args[1] is not None:
                    self.aux[f"ple_input.{l}"] = args[1][0].detach().clone()
                return None

            def attn_pre(mod, args, kwargs, l=l):
                cos, sin = kwargs["position_embeddings"]
                self.aux[f"cos.{l}"], self.aux[f"sin.{l}"] = cos.detach().clone(), sin.detach().clone()
                mask = kwargs.get("attention_mask")
                self.aux[f"mask.{l}"] = None if mask is None else mask.detach().clone()
                return None

            self.handles.append(layer.register_forward_pre_hook(layer_pre, with_kwargs=True))
            self.handles.append(attn.register_forward_pre_hook(attn_pre, with_kwargs=True))
            self._fwd(layer.input_layernorm, p + "attn_norm", lambda o: o[0])
            self._fwd(attn.q_proj, p + "attn_q", lambda o, dh=dh: o[0].reshape(o.shape[1], -1, dh))
            self._fwd(attn.q_norm, p + "attn_q_normed", lambda o: o[0])
            if not attn.is_kv_shared_layer:
                self._fwd(attn.k_proj, p + "attn_k", lambda o, dh=dh: o[0].reshape(o.shape[1], -1, dh))
                self._fwd(attn.k_norm, p + "attn_k_normed", lambda o: o[0])
                self._fwd(attn.v_norm, p + "attn_v", lambda o: o[0])
                if attn.v_proj is not None:
                    self._fwd(attn.v_proj, f"_v_proj.{l}", lambda o, dh=dh: o[0].reshape(o.shape[1], -1, dh))
            self._fwd(attn, p + "attn_weights", lambda o: o[1][0])
            self._pre(attn.o_proj, p + "attn_out", lambda a: a[0][0])
            self._fwd(attn.o_proj, p + "attn_o", lambda o: o[0])
            self._fwd(layer.post_attention_layernorm, p + "attn_post_norm", lambda o: o[0])
            self._pre(layer.pre_feedforward_layernorm, p + "attn_residual", lambda a: a[0][0])
            self._fwd(layer.pre_feedforward_layernorm, p + "mlp_norm", lambda o: o[0])
            self._fwd(layer.mlp.gate_proj, p + "mlp_gate", lambda o: o[0])
            self._fwd(layer.mlp.up_proj, p + "mlp_up", lambda o: o[0])
            self._pre(layer.mlp.down_proj, p + "mlp_act", lambda a: a[0][0])
            self._fwd(layer.mlp.down_proj, p + "mlp_out", lambda o: o[0])
            if layer.enable_moe_block:
                self._fwd(layer.router.proj, p + "moe_router_logits", lambda o: o)
                self._pre(layer.router, f"_router_in.{l}", lambda a: a[0])

                def router_post(mod, args, out, p=p):
                    probs, weights, idx = out
                    self._put(p + "moe_router_probs", probs)
                    self._put(p + "moe_topk_weights", weights)
                    self._put(p + "moe_topk_ids", idx.to(torch.int32))

                self.handles.append(layer.router.register_forward_hook(router_post))
                self._fwd(layer.pre_feedforward_layernorm_2, p + "moe_experts_in", lambda o: o)
                self._fwd(layer.experts, p + "moe_experts_out", lambda o: o)
                self._fwd(layer.post_feedforward_layernorm_1, p + "moe_dense_post", lambda o: o[0])
                self._fwd(layer.post_feedforward_layernorm_2, p + "moe_experts_post", lambda o: o[0])
            self._fwd(layer.post_feedforward_layernorm, p + "mlp_post_norm", lambda o: o[0])
            if layer.hidden_size_per_layer_input:
                self._pre(layer.per_layer_input_gate, f"_ple_gate_in.{l}", lambda a: a[0][0])
                self._fwd(layer.act_fn, p + "ple_gate", lambda o: o[0])
                self._pre(layer.per_layer_projection, p + "ple_gated", lambda a: a[0][0])
                self._fwd(layer.post_per_layer_input_norm, p + "ple_out", lambda o: o[0])
            self._fwd(layer, p + "layer_out", lambda o: o[0])

    # -- after the forward: derived probes -----------------------------------------------------------------------
    def finish(self):
        """Add the probes hooks cannot see directly (RoPE outputs, residual sums, stacked PLE inputs, inv_freq)."""
        lm, cfg = self.lm, self.cfg
        for l, layer in enumerate(lm.layers):
            p = f"text.{l}."
            attn = layer.self_attn
            cos, sin = self.aux[f"cos.{l}"], self.aux[f"sin.{l}"]
            # RoPE exactly as Gemma4TextAttention.forward applies it: same function, same cos/sin, [1, T, H, Dh].
            q = hf.apply_rotary_pos_emb(self.t[p + "attn_q_normed"][None], cos, sin, unsqueeze_dim=2)[0]
            self.t[p + "attn_q_rope"] = q
            if not attn.is_kv_shared_layer:
                k = hf.apply_rotary_pos_emb(self.t[p + "attn_k_normed"][None], cos, sin, unsqueeze_dim=2)[0]
                self.t[p + "attn_k_rope"] = k
            # The residual sum after the MLP: the same float op as the layer's `residual + hidden_states`.
            self.t[p + "ffn_residual"] = self.t[p + "attn_residual"] + self.t[p + "mlp_post_norm"]
            inv = getattr(lm.rotary_emb, f"{cfg.layer_types[l]}_inv_freq")
            self.t[p + "rope_inv_freq"] = inv.detach().clone().float()
        if cfg.hidden_size_per_layer_input:
            self.t["text.ple_inputs"] = torch.stack(
                [self.aux[f"ple_input.{l}"] for l in range(cfg.num_hidden_layers)], dim=1)


def kv_source_layer(cfg, l: int) -> int:
    """The layer whose K/V layer l attends with (itself unless KV-shared): last non-shared layer of its type."""
    first_shared = cfg.num_hidden_layers - cfg.num_kv_shared_layers
    if cfg.num_kv_shared_layers == 0 or l < first_shared:
        return l
    kind = cfg.layer_types[l]
    return max(i for i in range(first_shared) if cfg.layer_types[i] == kind)


def _close(name, a, b, atol=1e-5, rtol=1e-5, exact=False):
    a = a.detach().float(); b = b.detach().float()
    if a.shape != b.shape:
        raise AssertionError(f"self-check {name}: shape {tuple(a.shape)} vs {tuple(b.shape)}")
    if exact:
        if not torch.equal(a, b):
            raise AssertionError(f"self-check {name}: not bit-identical (max diff {float((a - b).abs().max())})")
        return
    if not torch.allclose(a, b, atol=atol, rtol=rtol):
        raise AssertionError(f"self-check {name}: max abs diff {float((a - b).abs().max())}")


@torch.no_grad()
def self_check_text(cap: TextCapture, out, ids: torch.Tensor, soft_mask: torch.Tensor | None = None,
                    soft_values: torch.Tensor | None = None, block_ids: torch.Tensor | None = None) -> list[str]:
    """Check every captured text probe against the model's own outputs or an independent recomputation.

    soft_mask [T] marks the image/audio placeholder positions and soft_values [n, D] the soft tokens merged there;
    block_ids [T] (>= 0 on image placeholder runs, -1 elsewhere) turns on the bidirectional image mask of
    `use_bidirectional_attention == "vision"` as transformers 5.23 builds it: full layers causal; sliding layers
    (causal OR same image block) AND k > q - window.
    Raises AssertionError on the first mismatch; returns a list of human-readable notes."""
    t, lm, cfg = cap.t, cap.lm, cap.cfg
    T = ids.shape[1]
    if soft_mask is None:
        soft_mask = torch.zeros(T, dtype=torch.bool)
    # Placeholder positions are looked up as <pad> (id 0) for the embedding and the PLE token part.
    lookup_ids = torch.where(soft_mask, torch.tensor(cfg.pad_token_id), ids[0])
    L = cfg.num_hidden_layers
    notes = []
    # Model-level outputs.
    _close("text.logits", t["text.logits"], out.logits[0], exact=True)
    hs = out.hidden_states  # 5.23: [embeddings, layer 0 .. layer L-2 outputs, final-norm output]
    if len(hs) != L + 1:
        raise AssertionError(f"expected {L + 1} hidden states, got {len(hs)}")
    _close("text.embed", t["text.embed"], hs[0][0], exact=True)
    for l in range(L - 1):
        _close(f"text.{l}.layer_out", t[f"text.{l}.layer_out"], hs[l + 1][0], exact=True)
    _close("text.final_norm", t["text.final_norm"], hs[L][0], exact=True)
    cap_ = cfg.final_logit_softcapping
    ref_logits = F.linear(t["text.final_norm"], lm.embed_tokens.weight)
    ref_logits = torch.tanh(ref_logits / cap_) * cap_
    _close("text.logits(recomputed)", t["text.logits"], ref_logits)
    emb = lm.embed_tokens.weight[lookup_ids] * (cfg.hidden_size ** 0.5)
    if soft_values is not None:
        _close("text.embed(soft tokens)", t["text.embed"][soft_mask], soft_values, exact=True)
        emb[soft_mask] = soft_values
    _close("text.embed(recomputed)", t["text.embed"], emb)
    for l in range(L):
        _close(f"attentions[{l}]", t[f"text.{l}.attn_weights"], out.attentions[l][0], exact=True)

    if cfg.hidden_size_per_layer_input:
        P = cfg.hidden_size_per_layer_input
        tok = lm.embed_tokens_per_layer.weight[lookup_ids].reshape(T, L, P) * (P ** 0.5)
        _close("text.ple_token", t["text.ple_token"], tok)
        ctx = F.linear(t["text.embed"], lm.per_layer_model_projection.weight) * cfg.hidden_size ** -0.5
        ctx = ctx.reshape(T, L, P)
        ctx = ctx * torch.pow(ctx.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps, -0.5) \
            * lm.per_layer_projection_norm.weight
        _close("text.ple_context", t["text.ple_context"], ctx)
        _close("text.ple_inputs", t["text.ple_inputs"], (t["text.ple_context"] + t["text.ple_token"]) * 2 ** -0.5,
               exact=True)

    def rms(x, w=None):
        y = x * torch.pow(x.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps, -0.5)
        return y if w is None else y * w

    gelu = lambda x: F.gelu(x, approximate="tanh")
    _close("text.final_norm(recomputed)", t["text.final_norm"], rms(t[f"text.{L - 1}.layer_out"], lm.norm.weight))
    for l, layer in enumerate(lm.layers):
        p = f"text.{l}."
        attn = layer.self_attn
        x_in = cap.aux[f"layer_in.{l}"]
        if l > 0:
            _close(p + "layer_in", x_in, t[f"text.{l - 1}.layer_out"], exact=True)
        _close(p + "attn_norm", t[p + "attn_norm"], rms(x_in, layer.input_layernorm.weight))
        _close(p + "attn_q", t[p + "attn_q"].reshape(T, -1), F.linear(t[p + "attn_norm"], attn.q_proj.weight))
        _close(p + "attn_q_normed", t[p + "attn_q_normed"], rms(t[p + "attn_q"], attn.q_norm.weight))
        # RoPE: independent rotate-half formula with the layer's inv_freq.
        inv = t[p + "rope_inv_freq"]
        ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
        c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]

        def rope(x):
            h = x.shape[-1] // 2
            x1, x2 = x[..., :h], x[..., h:]
            return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)

        _close(p + "attn_q_rope", t[p + "attn_q_rope"], rope(t[p + "attn_q_normed"]))
        if not attn.is_kv_shared_layer:
            _close(p + "attn_k", t[p + "attn_k"].reshape(T, -1), F.linear(t[p + "attn_norm"], attn.k_proj.weight))
            _close(p + "attn_k_normed", t[p + "attn_k_normed"], rms(t[p + "attn_k"], attn.k_norm.weight))
            _close(p + "attn_k_rope", t[p + "attn_k_rope"], rope(t[p + "attn_k_normed"]))
            raw_v = t[p + "attn_k"] if attn.v_proj is None else t[f"_v_proj.{l}"]
            _close(p + "attn_v", t[p + "attn_v"], rms(raw_v))
        # Attention from the captured q/k/v (k/v of the source layer when shared) with the spec's mask.
        src = kv_source_layer(cfg, l)
        if attn.is_kv_shared_layer != (src != l):
            raise AssertionError(f"layer {l}: HF says shared={attn.is_kv_shared_layer}, spec source {src}")
        q = t[p + "attn_q_rope"].transpose(0, 1)                 # H, T, Dh
        k = t[f"text.{src}.attn_k_rope"].transpose(0, 1)         # Hkv, T, Dh
        v = t[f"text.{src}.attn_v"].transpose(0, 1)
        rep = q.shape[0] // k.shape[0]
        k = k.repeat_interleave(rep, 0); v = v.repeat_interleave(rep, 0)
        qi = torch.arange(T)[:, None]; ki = torch.arange(T)[None, :]
        allowed = ki <= qi
        if cfg.layer_types[l] == "sliding_attention":
            if block_ids is not None and cfg.use_bidirectional_attention == "vision":
                same_block = (block_ids[:, None] == block_ids[None, :]) & (block_ids[:, None] >= 0)
                allowed = allowed | same_block
            allowed = allowed & (ki > qi - cfg.sliding_window)
        scores = (q @ k.transpose(1, 2)).masked_fill(~allowed, float("-inf"))   # scale 1.0
        probs = torch.softmax(scores, dim=-1)
        _close(p + "attn_weights", t[p + "attn_weights"], probs)
        if not torch.all(t[p + "attn_weights"][:, ~allowed] == 0):
            raise AssertionError(f"{p}attn_weights: nonzero probability outside the spec's mask")
        _close(p + "attn_out", t[p + "attn_out"], (probs @ v).transpose(0, 1).reshape(T, -1))
        _close(p + "attn_o", t[p + "attn_o"], F.linear(t[p + "attn_out"], attn.o_proj.weight))
        _close(p + "attn_post_norm", t[p + "attn_post_norm"], rms(t[p + "attn_o"], layer.post_attention_layernorm.weight))
        _close(p + "attn_residual", t[p + "attn_residual"], x_in + t[p + "attn_post_norm"], exact=True)
        r = t[p + "attn_residual"]
        _close(p + "mlp_norm", t[p + "mlp_norm"], rms(r, layer.pre_feedforward_layernorm.weight))
        _close(p + "mlp_gate", t[p + "mlp_gate"], F.linear(t[p + "mlp_norm"], layer.mlp.gate_proj.weight))
        _close(p + "mlp_up", t[p + "mlp_up"], F.linear(t[p + "mlp_norm"], layer.mlp.up_proj.weight))
        _close(p + "mlp_act", t[p + "mlp_act"], gelu(t[p + "mlp_gate"]) * t[p + "mlp_up"])
        _close(p + "mlp_out", t[p + "mlp_out"], F.linear(t[p + "mlp_act"], layer.mlp.down_proj.weight))
        if layer.enable_moe_block:
            _close(p + "router_in", cap.t[f"_router_in.{l}"], r.reshape(T, -1), exact=True)
            D = cfg.hidden_size
            z = rms(r) * layer.router.scale * D ** -0.5
            _close(p + "moe_router_logits", t[p + "moe_router_logits"], F.linear(z, layer.router.proj.weight))
            pr = torch.softmax(t[p + "moe_router_logits"], dim=-1)
            _close(p + "moe_router_probs", t[p + "moe_router_probs"], pr)
            w, idx = torch.topk(pr, cfg.top_k_experts, dim=-1)
            if not torch.equal(idx.to(torch.int32), t[p + "moe_topk_ids"]):
                raise AssertionError(f"{p}moe_topk_ids differ from top-k of the probabilities")
            w = w / w.sum(-1, keepdim=True) * layer.router.per_expert_scale[idx]
            _close(p + "moe_topk_weights", t[p + "moe_topk_weights"], w)
            u = t[p + "moe_experts_in"]
            _close(p + "moe_experts_in", u, rms(r, layer.pre_feedforward_layernorm_2.weight))
            I = cfg.moe_intermediate_size
            y = torch.zeros_like(u)
            for ti in range(T):
                for j in range(cfg.top_k_experts):
                    e = int(idx[ti, j])
                    gu = layer.experts.gate_up_proj[e] @ u[ti]
                    h = gelu(gu[:I]) * gu[I:]
                    y[ti] += t[p + "moe_topk_weights"][ti, j] * (layer.experts.down_proj[e] @ h)
            _close(p + "moe_experts_out", t[p + "moe_experts_out"], y)
            _close(p + "moe_dense_post", t[p + "moe_dense_post"], rms(t[p + "mlp_out"], layer.post_feedforward_layernorm_1.weight))
            _close(p + "moe_experts_post", t[p + "moe_experts_post"], rms(y, layer.post_feedforward_layernorm_2.weight))
            m_in = t[p + "moe_dense_post"] + t[p + "moe_experts_post"]
        else:
            m_in = t[p + "mlp_out"]
        _close(p + "mlp_post_norm", t[p + "mlp_post_norm"], rms(m_in, layer.post_feedforward_layernorm.weight))
        x = t[p + "ffn_residual"]
        if layer.hidden_size_per_layer_input:
            _close(p + "ffn_residual(hook)", x, cap.t[f"_ple_gate_in.{l}"], exact=True)
            g = gelu(F.linear(x, layer.per_layer_input_gate.weight))
            _close(p + "ple_gate", t[p + "ple_gate"], g)
            _close(p + "ple_gated", t[p + "ple_gated"], t[p + "ple_gate"] * t["text.ple_inputs"][:, l, :], exact=True)
            po = rms(F.linear(t[p + "ple_gated"], layer.per_layer_projection.weight), layer.post_per_layer_input_norm.weight)
            _close(p + "ple_out", t[p + "ple_out"], po)
            x = x + t[p + "ple_out"]
        _close(p + "layer_out", t[p + "layer_out"], x * layer.layer_scalar, exact=True)
    notes.append(f"text self-check passed for {L} layers, T={T}")
    return notes


def attention_entropy(cap: TextCapture) -> list[float]:
    """Mean softmax entropy per layer, normalised by log(number of visible keys) (rows with >1 key)."""
    res = []
    for l in range(cap.cfg.num_hidden_layers):
        p = cap.t[f"text.{l}.attn_weights"]
        n = (p > 0).sum(-1).float()
        e = -(p.clamp_min(1e-30).log() * p).sum(-1)
        ok = n > 1
        res.append(float((e[ok] / n[ok].log()).mean()))
    return res
