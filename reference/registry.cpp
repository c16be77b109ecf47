// registry.cpp — every Gemma 4 parameter with its Hugging Face name and shape (see registry.h). The order of the
// entries follows the modules in modeling_gemma4.py so a reader can hold the two side by side.
#include "registry.h"

#include <regex>

namespace gemma4 {

const char* role_name(Role r) {
    switch (r) {
        case Role::TokenEmbedding: return "token embedding";
        case Role::LmHead: return "lm head";
        case Role::PleTable: return "PLE table";
        case Role::Ple: return "PLE";
        case Role::Attention: return "attention";
        case Role::Mlp: return "MLP";
        case Role::MoeRouter: return "MoE router";
        case Role::MoeExperts: return "MoE experts";
        case Role::Norm: return "norm";
        case Role::VisionTower: return "vision tower";
        case Role::AudioTower: return "audio tower";
        case Role::Projector: return "projector";
    }
    return "?";
}

int64_t TensorSpec::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

namespace {

// Small helper so each module below reads like its __init__ in modeling_gemma4.py.
struct Emitter {
    const std::function<void(const TensorSpec&)>& fn;
    Tower tower;
    int layer;
    void operator()(const std::string& name, std::vector<int64_t> shape, Role role) const {
        fn(TensorSpec{name, std::move(shape), tower, role, layer});
    }
};

// Gemma4ClippableLinear: the weight under ".linear", plus four 0-d clamp bounds when clipping is on.
void clippable_linear(const Emitter& emit, const std::string& base, int64_t out, int64_t in, bool clipped, Role role) {
    emit(base + ".linear.weight", {out, in}, role);
    if (clipped)
        for (const char* b : {".input_min", ".input_max", ".output_min", ".output_max"}) emit(base + b, {}, role);
}

void text_tensors(const ModelConfig& cfg, const std::function<void(const TensorSpec&)>& fn) {
    const TextConfig& t = cfg.text;
    const std::string p = cfg.text_prefix();
    const int64_t D = t.hidden_size, L = t.num_hidden_layers, P = t.hidden_size_per_layer_input;
    Emitter top{fn, Tower::Text, -1};

    top(p + "embed_tokens.weight", {t.vocab_size, D}, Role::TokenEmbedding);
    if (t.has_ple()) {
        top(p + "embed_tokens_per_layer.weight", {t.vocab_size_per_layer_input, L * P}, Role::PleTable);
        top(p + "per_layer_model_projection.weight", {L * P, D}, Role::Ple);
        top(p + "per_layer_projection_norm.weight", {P}, Role::Ple);
    }

    for (int l = 0; l < L; ++l) {
        Emitter emit{fn, Tower::Text, l};
        const std::string lp = p + "layers." + std::to_string(l) + ".";
        const int64_t H = t.num_attention_heads, Hkv = t.kv_heads(l), Dh = t.layer_head_dim(l);

        emit(lp + "input_layernorm.weight", {D}, Role::Norm);
        emit(lp + "post_attention_layernorm.weight", {D}, Role::Norm);
        emit(lp + "pre_feedforward_layernorm.weight", {D}, Role::Norm);
        emit(lp + "post_feedforward_layernorm.weight", {D}, Role::Norm);
        emit(lp + "layer_scalar", {1}, Role::Norm);

        // Gemma4TextAttention: KV-shared layers have only q_proj, q_norm and o_proj; K=V layers have no v_proj.
        emit(lp + "self_attn.q_proj.weight", {H * Dh, D}, Role::Attention);
        if (t.attention_bias) emit(lp + "self_attn.q_proj.bias", {H * Dh}, Role::Attention);
        emit(lp + "self_attn.q_norm.weight", {Dh}, Role::Norm);
        if (!t.is_kv_shared(l)) {
            emit(lp + "self_attn.k_norm.weight", {Dh}, Role::Norm);
            emit(lp + "self_attn.k_proj.weight", {Hkv * Dh, D}, Role::Attention);
            if (t.attention_bias) emit(lp + "self_attn.k_proj.bias", {Hkv * Dh}, Role::Attention);
            if (!t.k_eq_v(l)) {
                emit(lp + "self_attn.v_proj.weight", {Hkv * Dh, D}, Role::Attention);
                if (t.attention_bias) emit(lp + "self_attn.v_proj.bias", {Hkv * Dh}, Role::Attention);
            }
        }
        emit(lp + "self_attn.o_proj.weight", {D, H * Dh}, Role::Attention);
        if (t.attention_bias) emit(lp + "self_attn.o_proj.bias", {D}, Role::Attention);

        // Gemma4TextMLP (double width on KV-shared layers when use_double_wide_mlp).
        const int64_t F = t.mlp_width(l);
        emit(lp + "mlp.gate_proj.weight", {F, D}, Role::Mlp);
        emit(lp + "mlp.up_proj.weight", {F, D}, Role::Mlp);
        emit(lp + "mlp.down_proj.weight", {D, F}, Role::Mlp);

        if (t.has_ple()) {
            emit(lp + "per_layer_input_gate.weight", {P, D}, Role::Ple);
            emit(lp + "per_layer_projection.weight", {D, P}, Role::Ple);
            emit(lp + "post_per_layer_input_norm.weight", {D}, Role::Ple);
        }

        if (t.is_moe(l)) {
            const int64_t E = t.num_experts, I = t.moe_intermediate_size;
            emit(lp + "router.proj.weight", {E, D}, Role::MoeRouter);
            emit(lp + "router.scale", {D}, Role::MoeRouter);
            emit(lp + "router.per_expert_scale", {E}, Role::MoeRouter);
            emit(lp + "experts.gate_up_proj", {E, 2 * I, D}, Role::MoeExperts);
            emit(lp + "experts.down_proj", {E, D, I}, Role::MoeExperts);
            emit(lp + "post_feedforward_layernorm_1.weight", {D}, Role::Norm);
            emit(lp + "post_feedforward_layernorm_2.weight", {D}, Role::Norm);
            emit(lp + "pre_feedforward_layernorm_2.weight", {D}, Role::Norm);
        }
    }
    top(p + "norm.weight", {D}, Role::Norm);
    if (!t.tie_word_embeddings) top("lm_head.weight", {t.vocab_size, D}, Role::LmHead);
}

void vision_tensors(const ModelConfig& cfg, const std::function<void(const TensorSpec&)>& fn) {
    const VisionConfig& v = *cfg.vision;
    const std::string p = "model.vision_tower.";
    const int64_t Dv = v.hidden_size, hd = v.head_dim, I = v.intermediate_size;
    const Role R = Role::VisionTower;
    Emitter top{fn, Tower::Vision, -1};
    top(p + "patch_embedder.input_proj.weight", {Dv, v.patch_dim()}, R);
    top(p + "patch_embedder.position_embedding_table", {2, v.position_embedding_size, Dv}, R);
    for (int l = 0; l < v.num_hidden_layers; ++l) {
        Emitter emit{fn, Tower::Vision, l};
        const std::string lp = p + "encoder.layers." + std::to_string(l) + ".";
        emit(lp + "input_layernorm.weight", {Dv}, R);
        emit(lp + "post_attention_layernorm.weight", {Dv}, R);
        emit(lp + "pre_feedforward_layernorm.weight", {Dv}, R);
        emit(lp + "post_feedforward_layernorm.weight", {Dv}, R);
        clippable_linear(emit, lp + "self_attn.q_proj", v.num_attention_heads * hd, Dv, v.use_clipped_linears, R);
        clippable_linear(emit, lp + "self_attn.k_proj", v.num_key_value_heads * hd, Dv, v.use_clipped_linears, R);
        clippable_linear(emit, lp + "self_attn.v_proj", v.num_key_value_heads * hd, Dv, v.use_clipped_linears, R);
        clippable_linear(emit, lp + "self_attn.o_proj", Dv, v.num_attention_heads * hd, v.use_clipped_linears, R);
        emit(lp + "self_attn.q_norm.weight", {hd}, R);
        emit(lp + "self_attn.k_norm.weight", {hd}, R);
        clippable_linear(emit, lp + "mlp.gate_proj", I, Dv, v.use_clipped_linears, R);
        clippable_linear(emit, lp + "mlp.up_proj", I, Dv, v.use_clipped_linears, R);
        clippable_linear(emit, lp + "mlp.down_proj", Dv, I, v.use_clipped_linears, R);
    }
    if (v.standardize) {
        top(p + "std_bias", {Dv}, R);
        top(p + "std_scale", {Dv}, R);
    }
    top("model.embed_vision.embedding_projection.weight", {cfg.text.hidden_size, Dv}, Role::Projector);
}

void audio_tensors(const ModelConfig& cfg, const std::function<void(const TensorSpec&)>& fn) {
    const AudioConfig& a = *cfg.audio;
    const std::string p = "model.audio_tower.";
    const int64_t Da = a.hidden_size, c0 = a.subsampling_conv_channels[0], c1 = a.subsampling_conv_channels[1];
    const bool clip = a.use_clipped_linears;
    const Role R = Role::AudioTower;
    Emitter top{fn, Tower::Audio, -1};
    top(p + "subsample_conv_projection.layer0.conv.weight", {c0, 1, 3, 3}, R);
    top(p + "subsample_conv_projection.layer0.norm.weight", {c0}, R);
    top(p + "subsample_conv_projection.layer1.conv.weight", {c1, c0, 3, 3}, R);
    top(p + "subsample_conv_projection.layer1.norm.weight", {c1}, R);
    top(p + "subsample_conv_projection.input_proj_linear.weight", {Da, a.subsample_out_features()}, R);
    for (int l = 0; l < a.num_hidden_layers; ++l) {
        Emitter emit{fn, Tower::Audio, l};
        const std::string lp = p + "layers." + std::to_string(l) + ".";
        for (const char* ff : {"feed_forward1", "feed_forward2"}) {
            const std::string fp = lp + ff + ".";
            clippable_linear(emit, fp + "ffw_layer_1", 4 * Da, Da, clip, R);
            clippable_linear(emit, fp + "ffw_layer_2", Da, 4 * Da, clip, R);
            emit(fp + "pre_layer_norm.weight", {Da}, R);
            emit(fp + "post_layer_norm.weight", {Da}, R);
        }
        clippable_linear(emit, lp + "self_attn.q_proj", Da, Da, clip, R);
        clippable_linear(emit, lp + "self_attn.k_proj", Da, Da, clip, R);
        clippable_linear(emit, lp + "self_attn.v_proj", Da, Da, clip, R);
        clippable_linear(emit, lp + "self_attn.post", Da, Da, clip, R);
        emit(lp + "self_attn.relative_k_proj.weight", {Da, Da}, R);
        emit(lp + "self_attn.per_dim_scale", {a.head_dim()}, R);
        clippable_linear(emit, lp + "lconv1d.linear_start", 2 * Da, Da, clip, R);
        clippable_linear(emit, lp + "lconv1d.linear_end", Da, Da, clip, R);
        emit(lp + "lconv1d.depthwise_conv1d.weight", {Da, 1, a.conv_kernel_size}, R);
        emit(lp + "lconv1d.pre_layer_norm.weight", {Da}, R);
        emit(lp + "lconv1d.conv_norm.weight", {Da}, R);
        emit(lp + "norm_pre_attn.weight", {Da}, R);
        emit(lp + "norm_post_attn.weight", {Da}, R);
        emit(lp + "norm_out.weight", {Da}, R);
    }
    top(p + "output_proj.weight", {a.output_proj_dims, Da}, R);
    top(p + "output_proj.bias", {a.output_proj_dims}, R);
    top("model.embed_audio.embedding_projection.weight", {cfg.text.hidden_size, a.output_proj_dims}, Role::Projector);
}

}  // namespace

void for_each_tensor(const ModelConfig& cfg, const std::function<void(const TensorSpec&)>& fn) {
    text_tensors(cfg, fn);
    if (cfg.vision && !cfg.text_only_layout) vision_tensors(cfg, fn);
    if (cfg.audio && !cfg.text_only_layout) audio_tensors(cfg, fn);
}

std::vector<TensorSpec> list_tensors(const ModelConfig& cfg) {
    std::vector<TensorSpec> out;
    for_each_tensor(cfg, [&](const TensorSpec& s) { out.push_back(s); });
    return out;
}

bool is_ignored_on_load(const ModelConfig& cfg, const std::string& name) {
    // Gemma4TextModel.__init__: layers.{i}.self_attn.{k_proj,v_proj,k_norm,v_norm} of every KV-shared layer.
    static const std::regex kSharedKv(R"(layers\.(\d+)\.self_attn\.(k_proj|v_proj|k_norm|v_norm)(\.|$))");
    const std::string prefix = cfg.text_prefix();
    if (name.rfind(prefix, 0) != 0) return false;
    std::smatch m;
    const std::string rest = name.substr(prefix.size());
    if (!std::regex_search(rest, m, kSharedKv) || m.position(0) != 0) return false;
    const int layer = std::stoi(m[1].str());
    return layer < cfg.text.num_hidden_layers && cfg.text.is_kv_shared(layer);
}

ParamCounts count_params(const ModelConfig& cfg) {
    ParamCounts c;
    const TextConfig& t = cfg.text;
    for_each_tensor(cfg, [&](const TensorSpec& s) {
        const int64_t n = s.numel();
        c.total += n;
        switch (s.role) {
            case Role::TokenEmbedding: c.token_embedding += n; break;
            case Role::PleTable: c.ple_table += n; break;
            case Role::Ple: c.ple_other += n; break;
            case Role::MoeExperts: c.moe_experts += n; c.text_layers += n; break;
            case Role::VisionTower: c.vision += n; break;
            case Role::AudioTower: c.audio += n; break;
            case Role::Projector: (s.name.find("embed_vision") != std::string::npos ? c.vision : c.audio) += n; break;
            case Role::LmHead: break;
            default: c.text_layers += n; break;
        }
    });
    // Active per token: the whole text decoder, but only top_k of num_experts experts and one row of the PLE table.
    int64_t experts_active = t.enable_moe_block ? c.moe_experts / t.num_experts * t.top_k_experts : 0;
    int64_t ple_row = t.has_ple() ? int64_t(t.num_hidden_layers) * t.hidden_size_per_layer_input : 0;
    int64_t lm_head = t.tie_word_embeddings ? 0 : int64_t(t.vocab_size) * t.hidden_size;
    c.active_per_token = c.token_embedding + lm_head + c.ple_other + ple_row + (c.text_layers - c.moe_experts) + experts_active;
    return c;
}

}  // namespace gemma4
