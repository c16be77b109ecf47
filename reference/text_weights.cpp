// text_weights.cpp — binding the text decoder's tensors (text_weights.h). Names follow the registry
// (registry.cpp), which the checkpoint was validated against, so every lookup here succeeds.
#include "text_weights.h"

#include "error.h"

namespace gemma4 {

namespace {

struct Binder {
    const Checkpoint& ck;
    std::string prefix;
    WeightView matrix(const std::string& name) const { return weight_view(ck.tensor(prefix + name)); }
    std::vector<float> vector(const std::string& name) const { return load_f32(ck.tensor(prefix + name)); }
    const TensorRef* ref(const std::string& name) const { return &ck.tensor(prefix + name); }
};

}  // namespace

TextWeights bind_text_weights(const Checkpoint& ck) {
    const TextConfig& t = ck.config.text;
    if (t.attention_bias) throw Error(ck.dir + ": attention_bias is true; no released Gemma 4 has attention biases and the reference does not implement them");
    Binder b{ck, ck.config.text_prefix()};
    TextWeights w;
    w.embed_tokens = b.matrix("embed_tokens.weight");
    w.lm_head = t.tie_word_embeddings ? w.embed_tokens : weight_view(ck.tensor("lm_head.weight"));
    w.final_norm = b.vector("norm.weight");
    if (t.has_ple()) {
        w.embed_tokens_per_layer = b.matrix("embed_tokens_per_layer.weight");
        advise_sparse_reads(*b.ref("embed_tokens_per_layer.weight"));  // read one row a token
        w.per_layer_model_projection = b.matrix("per_layer_model_projection.weight");
        w.per_layer_projection_norm = b.vector("per_layer_projection_norm.weight");
    }
    // RoPE per layer kind: inv_freq depends only on the kind (head dim, θ, rotated pairs).
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        auto& inv = t.is_global(l) ? w.inv_freq_full : w.inv_freq_sliding;
        if (inv.empty()) inv = rope_inv_freq(t.layer_head_dim(l), t.rope(l).theta, t.rotated_pairs(l), t.rope(l).factor);
    }

    w.layers.resize(t.num_hidden_layers);
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        TextLayerWeights& lw = w.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        lw.input_layernorm = b.vector(p + "input_layernorm.weight");
        lw.post_attention_layernorm = b.vector(p + "post_attention_layernorm.weight");
        lw.pre_feedforward_layernorm = b.vector(p + "pre_feedforward_layernorm.weight");
        lw.post_feedforward_layernorm = b.vector(p + "post_feedforward_layernorm.weight");
        lw.layer_scalar = b.vector(p + "layer_scalar").at(0);
        lw.q_proj = b.matrix(p + "self_attn.q_proj.weight");
        lw.q_norm = b.vector(p + "self_attn.q_norm.weight");
        lw.o_proj = b.matrix(p + "self_attn.o_proj.weight");
        if (!t.is_kv_shared(l)) {
            lw.k_proj = b.matrix(p + "self_attn.k_proj.weight");
            lw.k_norm = b.vector(p + "self_attn.k_norm.weight");
            if (!t.k_eq_v(l)) lw.v_proj = b.matrix(p + "self_attn.v_proj.weight");
        }
        lw.gate_proj = b.matrix(p + "mlp.gate_proj.weight");
        lw.up_proj = b.matrix(p + "mlp.up_proj.weight");
        lw.down_proj = b.matrix(p + "mlp.down_proj.weight");
        if (t.has_ple()) {
            lw.per_layer_input_gate = b.matrix(p + "per_layer_input_gate.weight");
            lw.per_layer_projection = b.matrix(p + "per_layer_projection.weight");
            lw.post_per_layer_input_norm = b.vector(p + "post_per_layer_input_norm.weight");
        }
        if (t.is_moe(l)) {
            lw.router_proj = b.matrix(p + "router.proj.weight");
            lw.router_scale = b.vector(p + "router.scale");
            lw.router_per_expert_scale = b.vector(p + "router.per_expert_scale");
            lw.experts_gate_up = b.ref(p + "experts.gate_up_proj");
            lw.experts_down = b.ref(p + "experts.down_proj");
            lw.pre_feedforward_layernorm_2 = b.vector(p + "pre_feedforward_layernorm_2.weight");
            lw.post_feedforward_layernorm_1 = b.vector(p + "post_feedforward_layernorm_1.weight");
            lw.post_feedforward_layernorm_2 = b.vector(p + "post_feedforward_layernorm_2.weight");
        }
    }
    return w;
}

}  // namespace gemma4
