// text_model.cpp — the decoder's top level and one layer (text_model.h). Each step names the transformers line it
// mirrors (modeling_gemma4.py, Gemma4TextModel.forward and Gemma4TextDecoderLayer.forward).
#include "text_model.h"

#include <cmath>

#include "attention.h"
#include "error.h"
#include "moe.h"
#include "ple.h"

namespace gemma4 {

TensorView probe_view(const std::vector<float>& buf, std::vector<int64_t> shape) { return TensorView{buf.data(), std::move(shape)}; }

void TextActivations::resize(const TextConfig& cfg, int new_T, Backend& be) {
    T = new_T;
    const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, L = cfg.num_hidden_layers;
    int64_t max_q = 0, max_kv = 0, max_f = 0;
    for (int l = 0; l < L; ++l) {
        max_q = std::max<int64_t>(max_q, H * cfg.layer_head_dim(l));
        max_kv = std::max<int64_t>(max_kv, int64_t(cfg.kv_heads(l)) * cfg.layer_head_dim(l));
        max_f = std::max<int64_t>(max_f, cfg.mlp_width(l));
    }
    const int64_t E = cfg.num_experts, K = cfg.top_k_experts, P = cfg.hidden_size_per_layer_input;
    for (auto* buf : {&x, &attn_norm, &attn_o, &attn_post_norm, &mlp_norm, &mlp_out, &mlp_post_norm, &final_norm})
        buf->assign(T * D, 0.0f);
    attn_q.assign(T * max_q, 0.0f);
    attn_out.assign(T * max_q, 0.0f);
    attn_k.assign(T * max_kv, 0.0f);
    attn_v.assign(T * max_kv, 0.0f);
    mlp_gate.assign(T * max_f, 0.0f);
    mlp_up.assign(T * max_f, 0.0f);
    if (cfg.enable_moe_block) {
        for (auto* buf : {&moe_router_in, &moe_experts_in, &moe_experts_out, &moe_dense_post, &moe_experts_post, &moe_combined})
            buf->assign(T * D, 0.0f);
        moe_router_logits.assign(T * E, 0.0f);
        moe_router_probs.assign(T * E, 0.0f);
        moe_topk_ids.assign(T * K, 0);
        moe_topk_ids_f32.assign(T * K, 0.0f);
        moe_topk_weights.assign(T * K, 0.0f);
        const int64_t I = cfg.moe_intermediate_size;
        moe_u.assign(T * D, 0.0f);
        moe_gate_up.assign(T * 2 * I, 0.0f);
        moe_hidden.assign(T * I, 0.0f);
        moe_y.assign(T * D, 0.0f);
    }
    if (cfg.has_ple()) {
        ple_inputs.assign(T * L * P, 0.0f);
        ple_token.assign(T * L * P, 0.0f);
        ple_context.assign(T * L * P, 0.0f);
        ple_gate.assign(T * P, 0.0f);
        ple_gated.assign(T * P, 0.0f);
        ple_out.assign(T * D, 0.0f);
    }
    for (auto* buf : {&x, &ple_inputs, &attn_norm, &attn_q, &attn_k, &attn_v, &attn_out, &attn_o, &attn_post_norm, &mlp_norm, &mlp_gate,
                      &mlp_up, &mlp_out, &mlp_post_norm, &moe_router_in, &moe_router_logits, &moe_router_probs, &moe_topk_weights,
                      &moe_experts_in, &moe_u, &moe_gate_up, &moe_hidden, &moe_y, &moe_experts_out, &moe_dense_post, &moe_experts_post,
                      &moe_combined, &ple_token, &ple_context, &ple_gate, &ple_gated, &ple_out, &final_norm})
        be.on_alloc(*buf);
    be.on_alloc(moe_topk_ids);
}

ImageMask parse_image_mask(const std::string& name) {
    if (name == "transformers") return ImageMask::transformers;
    if (name == "0246b4f") return ImageMask::transformers_0246b4f;
    if (name == "c308a309") return ImageMask::transformers_c308a309;
    if (name == "jax") return ImageMask::jax;
    if (name == "causal") return ImageMask::causal;
    throw Error("image mask must be transformers, 0246b4f, c308a309, jax or causal; got '" + name + "'");
}

TextModel::TextModel(const Checkpoint& ck) : ck_(ck), cfg_(ck.config.text), w_(bind_text_weights(ck)) {}

void mlp_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts) {
    const int T = a.T;
    const int64_t F = cfg.mlp_width(l);
    Backend& be = *opts.backend;
    const MatmulOut gate_up[] = {{a.mlp_gate.data(), &lw.gate_proj}, {a.mlp_up.data(), &lw.up_proj}};
    be.matmul_group(a.mlp_norm.data(), T, gate_up);  // both from the normed input, in one pass where the backend can
    G4_PROBE_BE(be, opts.probes, Probe::text_mlp_gate, l, probe_view(a.mlp_gate, {T, F}));
    G4_PROBE_BE(be, opts.probes, Probe::text_mlp_up, l, probe_view(a.mlp_up, {T, F}));
    // gelu_tanh(gate) ⊙ up, written over the gate buffer (the down projection's input)
    be.gelu_mul(a.mlp_gate.data(), a.mlp_gate.data(), a.mlp_up.data(), T * F);
    G4_PROBE_BE(be, opts.probes, Probe::text_mlp_act, l, probe_view(a.mlp_gate, {T, F}));
    be.matmul(a.mlp_out.data(), a.mlp_gate.data(), lw.down_proj, T);
    G4_PROBE_BE(be, opts.probes, Probe::text_mlp_out, l, probe_view(a.mlp_out, {T, cfg.hidden_size}));
}

void text_forward_layer(const TextConfig& cfg, const TextWeights& w, int l, TextActivations& a, KvCache& cache,
                        const int64_t* positions, const ForwardOptions& opts) {
    const TextLayerWeights& lw = w.layers[l];
    const int T = a.T, D = cfg.hidden_size;
    const int64_t TD = int64_t(T) * D;
    const float eps = static_cast<float>(cfg.rms_norm_eps);
    ProbeSink* probes = opts.probes;
    Backend& be = *opts.backend;

    // Attention block: x = x + post_attention_layernorm(self_attn(input_layernorm(x)))
    be.rms_norm(a.attn_norm.data(), a.x.data(), lw.input_layernorm.data(), T, D, eps);
    G4_PROBE_BE(be, probes, Probe::text_attn_norm, l, probe_view(a.attn_norm, {T, D}));
    attention_forward(cfg, w, l, a, cache, positions, opts);  // → a.attn_o
    be.rms_norm(a.attn_post_norm.data(), a.attn_o.data(), lw.post_attention_layernorm.data(), T, D, eps);
    G4_PROBE_BE(be, probes, Probe::text_attn_post_norm, l, probe_view(a.attn_post_norm, {T, D}));
    be.add(a.x.data(), a.x.data(), a.attn_post_norm.data(), TD);
    G4_PROBE_BE(be, probes, Probe::text_attn_residual, l, probe_view(a.x, {T, D}));

    // Feed-forward block: the dense MLP reads pre_feedforward_layernorm(x); on MoE layers the experts run beside it
    // and the two branches are summed (each with its own post-norm) before the common post-norm.
    be.rms_norm(a.mlp_norm.data(), a.x.data(), lw.pre_feedforward_layernorm.data(), T, D, eps);
    G4_PROBE_BE(be, probes, Probe::text_mlp_norm, l, probe_view(a.mlp_norm, {T, D}));
    mlp_forward(cfg, lw, l, a, opts);  // → a.mlp_out
    const float* ffn_out = a.mlp_out.data();
    if (cfg.is_moe(l)) {
        moe_forward(cfg, lw, l, a, opts);  // router and experts read the residual a.x → a.moe_combined
        ffn_out = a.moe_combined.data();
    }
    be.rms_norm(a.mlp_post_norm.data(), ffn_out, lw.post_feedforward_layernorm.data(), T, D, eps);
    G4_PROBE_BE(be, probes, Probe::text_mlp_post_norm, l, probe_view(a.mlp_post_norm, {T, D}));
    be.add(a.x.data(), a.x.data(), a.mlp_post_norm.data(), TD);
    G4_PROBE_BE(be, probes, Probe::text_ffn_residual, l, probe_view(a.x, {T, D}));

    // Per-layer embedding: x = x + post_per_layer_input_norm(projection(gelu(gate(x)) ⊙ ple_input_l))
    const bool ablated = l < static_cast<int>(opts.ple_ablated.size()) && opts.ple_ablated[l];
    if (cfg.has_ple() && !ablated) ple_layer_forward(cfg, lw, l, a, opts);

    // x = x · layer_scalar (the whole stream, residual included)
    be.scale(a.x.data(), TD, lw.layer_scalar);
    G4_PROBE_BE(be, probes, Probe::text_layer_out, l, probe_view(a.x, {T, D}));
}

void TextModel::forward(const TextInput& input, KvCache& cache, std::vector<float>& logits, const ForwardOptions& opts) {
    const int T = static_cast<int>(input.tokens.size());
    if (T == 0) throw Error("forward: no tokens to run");
    const int D = cfg_.hidden_size, V = cfg_.vocab_size;
    for (int t = 0; t < T; ++t)
        if (input.tokens[t] < 0 || input.tokens[t] >= V)
            throw Error("token id " + std::to_string(input.tokens[t]) + " at position " + std::to_string(t) + " is outside the vocabulary (" +
                        std::to_string(V) + ")");
    ProbeSink* probes = opts.probes;
    Backend& be = *opts.backend;
    a_.resize(cfg_, T, be);

    std::vector<int64_t> positions(T);
    for (int t = 0; t < T; ++t) positions[t] = cache.length + t;
    if (!input.image_blocks.empty() && static_cast<int>(input.image_blocks.size()) != T)
        throw Error("forward: image_blocks has " + std::to_string(input.image_blocks.size()) + " entries for " + std::to_string(T) + " tokens");
    for (int t = 0; t < T; ++t) {
        const int32_t block = input.image_blocks.empty() ? -1 : input.image_blocks[t];
        cache.image_block_of_position.push_back(block);
        cache.has_image_blocks = cache.has_image_blocks || block >= 0;
    }

    // Token embeddings × sqrt(D) (Gemma4TextScaledWordEmbedding); soft tokens (images, audio) replace their rows
    // unscaled (Gemma4Model.forward's masked_scatter).
    const float embed_scale = static_cast<float>(std::sqrt(static_cast<double>(D)));
    be.embed_rows(a_.x.data(), w_.embed_tokens, input.tokens.data(), T, embed_scale);
    for (size_t i = 0; i < input.soft_positions.size(); ++i) {
        float* row = a_.x.data() + int64_t(input.soft_positions[i]) * D;
        std::copy_n(input.soft_embeddings.data() + i * D, D, row);
        be.from_host(row, D);  // the other rows stay where embed_rows wrote them
    }
    G4_PROBE_BE(be, probes, Probe::text_embed, -1, probe_view(a_.x, {T, D}));

    // Per-layer inputs, computed once before the layers (get_per_layer_inputs + project_per_layer_inputs).
    if (cfg_.has_ple()) ple_compute_inputs(cfg_, w_, input, a_, opts);

    for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
        G4_PROBE(probes, Probe::text_rope_inv_freq, l,
                 (TensorView{(cfg_.is_global(l) ? w_.inv_freq_full : w_.inv_freq_sliding).data(), {cfg_.layer_head_dim(l) / 2}}));
        text_forward_layer(cfg_, w_, l, a_, cache, positions.data(), opts);
    }
    cache.length += T;
    cache.trim(cfg_, be);

    // Final norm, tied LM head, soft-cap: logits = c·tanh((norm(x)·Eᵀ)/c).
    be.rms_norm(a_.final_norm.data(), a_.x.data(), w_.final_norm.data(), T, D, static_cast<float>(cfg_.rms_norm_eps));
    G4_PROBE_BE(be, probes, Probe::text_final_norm, -1, probe_view(a_.final_norm, {T, D}));
    const int rows = opts.all_logits ? T : 1;
    const float* head_in = a_.final_norm.data() + int64_t(T - rows) * D;
    logits.assign(int64_t(rows) * V, 0.0f);
    be.on_alloc(logits);
    be.matmul(logits.data(), head_in, w_.lm_head, rows);
    if (cfg_.final_logit_softcapping > 0) be.soft_cap(logits.data(), int64_t(rows) * V, static_cast<float>(cfg_.final_logit_softcapping));
    G4_PROBE_BE(be, probes, Probe::text_logits, -1, (TensorView{logits.data(), {rows, V}}));
    be.to_host(logits);  // the caller reads them
}

}  // namespace gemma4
