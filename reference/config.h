// config.h — a Gemma 4 model as data: the fields of config.json that matter, and per-layer facts *derived* from them
// (never stored per layer). One builder per released variant, plus the tiny test configs, sit in config_variants.cpp.
// Parsing config.json is in config.cpp; what the fields mean is in ../shared/spec/gemma4-architecture.md §1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gemma4 {

enum class LayerKind : uint8_t { Sliding, Full };  // "sliding_attention" / "full_attention" in config.json

// One rope_parameters entry (transformers' modeling_rope_utils): "default" rotates every pair; "proportional"
// (p-RoPE) rotates the first partial_rotary_factor·Dh/2 pairs with exponent denominator Dh and leaves the rest.
struct RopeParams {
    std::string type = "default";
    double theta = 10000.0;
    double partial_rotary_factor = 1.0;
    double factor = 1.0;  // divides inv_freq (1 in every released model)
};

// Gemma4TextConfig. Defaults are the transformers class defaults (not any released model).
struct TextConfig {
    int vocab_size = 262144;
    int hidden_size = 2304;        // D
    int intermediate_size = 9216;  // F (dense MLP; on MoE models the dense branch beside the experts)
    int num_hidden_layers = 30;    // L
    int num_attention_heads = 8;   // H
    int num_key_value_heads = 4;   // Hkv on sliding layers (and on full layers unless K=V)
    int head_dim = 256;            // Dh on sliding layers
    int global_head_dim = 512;     // Dh on full layers
    int num_global_key_value_heads = 0;  // Hkv on full layers when attention_k_eq_v (0 = not set)
    std::string hidden_activation = "gelu_pytorch_tanh";
    int max_position_embeddings = 131072;
    double rms_norm_eps = 1e-6;
    int pad_token_id = 0;
    std::vector<int> eos_token_ids = {1};
    int bos_token_id = 2;
    bool tie_word_embeddings = true;
    RopeParams rope_sliding = {"default", 10000.0, 1.0, 1.0};
    RopeParams rope_full = {"proportional", 1000000.0, 0.25, 1.0};
    bool attention_bias = false;
    int sliding_window = 512;
    std::vector<LayerKind> layer_types;     // size L; generated if config.json has none (make_layer_types)
    double final_logit_softcapping = 0.0;   // 0 = none
    std::string use_bidirectional_attention;  // "", "vision" or "all"
    int vocab_size_per_layer_input = 262144;
    int hidden_size_per_layer_input = 256;  // P; 0 disables PLE
    bool attention_k_eq_v = false;
    int num_kv_shared_layers = 0;
    bool enable_moe_block = false;
    bool use_double_wide_mlp = false;
    int num_experts = 0;            // E
    int top_k_experts = 0;          // K
    int moe_intermediate_size = 0;  // I

    // ---- derived per-layer facts (modeling_gemma4.py Gemma4TextAttention / Gemma4TextMLP / kv_sharing_modes) ----
    bool is_global(int l) const { return layer_types.at(l) == LayerKind::Full; }
    int window(int l) const { return is_global(l) ? 0 : sliding_window; }  // 0 = unlimited (causal)
    int layer_head_dim(int l) const { return is_global(l) ? global_head_dim : head_dim; }
    bool k_eq_v(int l) const { return attention_k_eq_v && is_global(l); }  // no v_proj: V from the raw k_proj output
    int kv_heads(int l) const {
        return k_eq_v(l) && num_global_key_value_heads > 0 ? num_global_key_value_heads : num_key_value_heads;
    }
    int first_kv_shared_layer() const { return num_hidden_layers - num_kv_shared_layers; }
    bool is_kv_shared(int l) const { return num_kv_shared_layers > 0 && l >= first_kv_shared_layer(); }
    // The layer whose K/V layer l attends over: itself, or for a KV-shared layer the last non-shared layer of the
    // same kind.
    int kv_source_layer(int l) const;
    bool is_moe(int /*l*/) const { return enable_moe_block; }  // every layer, when enabled
    int mlp_width(int l) const { return use_double_wide_mlp && is_kv_shared(l) ? 2 * intermediate_size : intermediate_size; }
    bool has_ple() const { return hidden_size_per_layer_input > 0; }
    const RopeParams& rope(int l) const { return is_global(l) ? rope_full : rope_sliding; }
    // How many frequency pairs of layer l rotate (the rest pass through): Dh/2 for default RoPE,
    // int(partial_rotary_factor·Dh // 2) for proportional (transformers' _compute_proportional_rope_parameters).
    int rotated_pairs(int l) const;
};

// Gemma4VisionConfig (defaults = the on-device tower of E2B/E4B, without clipping).
struct VisionConfig {
    int hidden_size = 768;  // Dv
    int intermediate_size = 3072;
    int num_hidden_layers = 16;
    int num_attention_heads = 12;
    int num_key_value_heads = 12;
    int head_dim = 64;
    std::string hidden_activation = "gelu_pytorch_tanh";
    double rms_norm_eps = 1e-6;
    double rope_theta = 100.0;  // 2-D ("axial") RoPE
    int pooling_kernel_size = 3;
    int patch_size = 16;
    int position_embedding_size = 10240;
    bool use_clipped_linears = false;
    bool standardize = false;
    int patch_dim() const { return 3 * patch_size * patch_size; }
};

// Gemma4AudioConfig (defaults = the released E2B/E4B audio tower).
struct AudioConfig {
    int hidden_size = 1024;  // Da
    int num_hidden_layers = 12;
    int num_attention_heads = 8;
    std::string hidden_act = "silu";
    int subsampling_conv_channels[2] = {128, 32};
    int conv_kernel_size = 5;
    double residual_weight = 0.5;
    int attention_chunk_size = 12;
    int attention_context_left = 13;
    int attention_context_right = 0;
    double attention_logit_cap = 50.0;
    double attention_invalid_logits_value = -1e9;
    bool use_clipped_linears = true;
    double rms_norm_eps = 1e-6;
    double gradient_clipping = 1e10;
    int output_proj_dims = 1536;
    int head_dim() const { return hidden_size / num_attention_heads; }
    int subsample_out_features() const { return subsampling_conv_channels[0] / 4 * subsampling_conv_channels[1]; }
};

// Gemma4Config: the text decoder plus optional towers and the multimodal token ids.
struct ModelConfig {
    std::string name;  // "gemma-4-e2b", "tiny-e2b", or the directory name for a loaded checkpoint
    TextConfig text;
    std::optional<VisionConfig> vision;
    std::optional<AudioConfig> audio;
    bool text_only_layout = false;  // Gemma4ForCausalLM checkpoint: text tensors under "model." (no towers)
    int boi_token_id = 255999;
    int eoi_token_id = 258882;
    int image_token_id = 258880;
    int video_token_id = 258884;
    int boa_token_id = 256000;
    int eoa_token_id = 258883;  // config.json spells it eoa_token_index
    int audio_token_id = 258881;

    // Tensor-name prefix of the text decoder: "model.language_model." or "model." (text-only layout).
    std::string text_prefix() const { return text_only_layout ? "model." : "model.language_model."; }
};

// transformers' default rhythm: layer i is full iff (i+1) % 6 == 0; the last layer is always full.
std::vector<LayerKind> make_layer_types(int num_layers, int full_every);
const char* layer_kind_name(LayerKind k);  // "sliding_attention" / "full_attention"

// Parses config.json as transformers writes it (model_type "gemma4" with nested configs, or "gemma4_text").
// Accepts both the newest form (per_layer_config) and the older one (global_head_dim /
// num_global_key_value_heads fields). Throws gemma4::Error naming the file and the field on anything wrong.
ModelConfig parse_config_json(const std::string& json_text, const std::string& file_for_errors);
ModelConfig load_config(const std::string& config_json_path);

// The inverse of parse_config_json: config.json as transformers 5 writes it for Gemma4ForConditionalGeneration
// (model_type "gemma4", nested configs, full-layer head dim / KV heads as per_layer_config). Used by `gemma4 synth`.
std::string config_to_json(const ModelConfig& cfg);

// Checks internal consistency (heads divide, layer_types length, MoE fields set when enabled, ...).
void validate_config(const ModelConfig& cfg, const std::string& where);

// ---- released variants (spec §1.3, from transformers' convert_gemma4_weights.py _VARIANTS) and tiny test configs ----
ModelConfig config_e2b();
ModelConfig config_e4b();
ModelConfig config_26b_a4b();
ModelConfig config_31b();
ModelConfig config_tiny_e2b();
ModelConfig config_tiny_e4b();
ModelConfig config_tiny_26b_a4b();
ModelConfig config_tiny_31b();

// "e2b", "e4b", "26b-a4b", "31b" (and "tiny-e2b" ...); throws with the list of names otherwise.
ModelConfig config_for_variant(const std::string& variant);
std::vector<std::string> variant_names();

}  // namespace gemma4
