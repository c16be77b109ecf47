// config_variants.cpp — the four released Gemma 4 variants and their tiny test twins, each a few lines on top of a
// shared base. Released values: ../shared/spec/gemma4-architecture.md §1.3 (transformers' convert_gemma4_weights.py
// _VARIANTS, cross-checked with google-deepmind/gemma _gemma4.py). Tiny configs: spec §10, as written by
// tools/make_goldens.py into assets/models/tiny-*/config.json (a test checks both agree).
#include <algorithm>

#include "config.h"
#include "error.h"

namespace gemma4 {

namespace {

// What every released text decoder shares: vocabulary, RoPE, soft-cap, head dims, norms.
TextConfig released_text_base() {
    TextConfig t;
    t.vocab_size = 262144;
    t.head_dim = 256;
    t.global_head_dim = 512;
    t.final_logit_softcapping = 30.0;
    t.rms_norm_eps = 1e-6;
    t.rope_sliding = {"default", 10000.0, 1.0, 1.0};
    t.rope_full = {"proportional", 1000000.0, 0.25, 1.0};
    t.tie_word_embeddings = true;
    t.vocab_size_per_layer_input = 262144;
    return t;
}

// The 768-wide, 16-layer tower of E2B/E4B (with clipped linears) and the 1152-wide, 27-layer tower of 26B/31B
// (with standardize).
VisionConfig on_device_vision() {
    VisionConfig v;  // class defaults are the on-device tower
    v.use_clipped_linears = true;
    return v;
}

VisionConfig large_vision() {
    VisionConfig v;
    v.hidden_size = 1152;
    v.intermediate_size = 4304;
    v.num_hidden_layers = 27;
    v.num_attention_heads = 16;
    v.num_key_value_heads = 16;
    v.head_dim = 72;
    v.standardize = true;
    return v;
}

ModelConfig finish(ModelConfig cfg) {
    validate_config(cfg, "builder " + cfg.name);
    return cfg;
}

}  // namespace

ModelConfig config_e2b() {
    ModelConfig c;
    c.name = "gemma-4-e2b";
    c.text = released_text_base();
    c.text.hidden_size = 1536;
    c.text.intermediate_size = 6144;
    c.text.num_hidden_layers = 35;
    c.text.layer_types = make_layer_types(35, 5);  // [4 sliding, 1 full] x 7
    c.text.num_attention_heads = 8;
    c.text.num_key_value_heads = 1;
    c.text.sliding_window = 512;
    c.text.num_kv_shared_layers = 20;
    c.text.use_double_wide_mlp = true;
    c.text.hidden_size_per_layer_input = 256;
    c.text.max_position_embeddings = 131072;
    c.vision = on_device_vision();
    c.audio = AudioConfig{};
    return finish(c);
}

ModelConfig config_e4b() {
    ModelConfig c;
    c.name = "gemma-4-e4b";
    c.text = released_text_base();
    c.text.hidden_size = 2560;
    c.text.intermediate_size = 10240;
    c.text.num_hidden_layers = 42;
    c.text.layer_types = make_layer_types(42, 6);  // [5 sliding, 1 full] x 7
    c.text.num_attention_heads = 8;
    c.text.num_key_value_heads = 2;
    c.text.sliding_window = 512;
    c.text.num_kv_shared_layers = 18;
    c.text.hidden_size_per_layer_input = 256;
    c.text.max_position_embeddings = 131072;
    c.vision = on_device_vision();
    c.audio = AudioConfig{};
    return finish(c);
}

ModelConfig config_26b_a4b() {
    ModelConfig c;
    c.name = "gemma-4-26b-a4b";
    c.text = released_text_base();
    c.text.hidden_size = 2816;
    c.text.intermediate_size = 2112;  // the dense branch ("shared expert") = 3 x expert width
    c.text.num_hidden_layers = 30;
    c.text.layer_types = make_layer_types(30, 6);
    c.text.num_attention_heads = 16;
    c.text.num_key_value_heads = 8;
    c.text.num_global_key_value_heads = 2;
    c.text.attention_k_eq_v = true;
    c.text.sliding_window = 1024;
    c.text.hidden_size_per_layer_input = 0;  // no PLE
    c.text.enable_moe_block = true;
    c.text.num_experts = 128;
    c.text.top_k_experts = 8;
    c.text.moe_intermediate_size = 704;
    c.text.use_bidirectional_attention = "vision";
    c.text.max_position_embeddings = 262144;
    c.vision = large_vision();
    return finish(c);
}

ModelConfig config_31b() {
    ModelConfig c;
    c.name = "gemma-4-31b";
    c.text = released_text_base();
    c.text.hidden_size = 5376;
    c.text.intermediate_size = 21504;
    c.text.num_hidden_layers = 60;
    c.text.layer_types = make_layer_types(60, 6);
    c.text.num_attention_heads = 32;
    c.text.num_key_value_heads = 16;
    c.text.num_global_key_value_heads = 4;
    c.text.attention_k_eq_v = true;
    c.text.sliding_window = 1024;
    c.text.hidden_size_per_layer_input = 0;
    c.text.use_bidirectional_attention = "vision";
    c.text.max_position_embeddings = 262144;
    c.vision = large_vision();
    return finish(c);
}

// ---- tiny twins (spec §10): every structural feature of the variant at width 64 and vocabulary 512 -------------

namespace {

ModelConfig tiny_base(const ModelConfig& released, const std::string& name, int layers, int full_every) {
    ModelConfig c = released;
    c.name = name;
    TextConfig& t = c.text;
    t.vocab_size = 512;
    t.vocab_size_per_layer_input = 512;
    t.hidden_size = 64;
    t.intermediate_size = 128;
    t.num_hidden_layers = layers;
    t.layer_types = make_layer_types(layers, full_every);
    t.num_attention_heads = 8;
    t.head_dim = 16;
    t.global_head_dim = 32;
    t.sliding_window = 8;
    if (t.has_ple()) t.hidden_size_per_layer_input = 16;
    if (t.num_kv_shared_layers > 0) t.num_kv_shared_layers = 4;
    // Tiny towers (spec §10 C); the multimodal ids are remapped into the 512-token vocabulary.
    if (c.vision) {
        VisionConfig& v = *c.vision;
        v.hidden_size = 32;
        v.intermediate_size = 64;
        v.num_hidden_layers = 2;
        v.num_attention_heads = 2;
        v.num_key_value_heads = 2;
        v.head_dim = 16;
        v.position_embedding_size = 2048;  // still covers every patch position up to the 560 budget; saves 7 MB
    }
    if (c.audio) {
        AudioConfig& a = *c.audio;
        a.hidden_size = 32;
        a.num_hidden_layers = 2;
        a.num_attention_heads = 2;
        a.subsampling_conv_channels[0] = 128;
        a.subsampling_conv_channels[1] = 8;
        a.output_proj_dims = 48;
    }
    return c;
}

}  // namespace

// Token ids of the tiny tokenizer's multimodal tokens, mirrored from tools/goldens_models.py (TINY_TOKEN_IDS); they keep
// the released order (boi < boa < image < audio < eoi < eoa < video) at the top of the 512-token vocabulary.
static void set_tiny_multimodal_ids(ModelConfig& c) {
    c.boi_token_id = 505;
    c.boa_token_id = 506;
    c.image_token_id = 507;
    c.audio_token_id = 508;
    c.eoi_token_id = 509;
    c.eoa_token_id = 510;
    c.video_token_id = 511;
}

ModelConfig config_tiny_e2b() {
    ModelConfig c = tiny_base(config_e2b(), "tiny-e2b", 10, 5);
    c.text.num_key_value_heads = 1;
    set_tiny_multimodal_ids(c);
    return finish(c);
}

ModelConfig config_tiny_e4b() {
    ModelConfig c = tiny_base(config_e4b(), "tiny-e4b", 12, 6);
    c.text.num_key_value_heads = 2;
    set_tiny_multimodal_ids(c);
    return finish(c);
}

ModelConfig config_tiny_26b_a4b() {
    ModelConfig c = tiny_base(config_26b_a4b(), "tiny-26b-a4b", 12, 6);
    c.text.intermediate_size = 48;
    c.text.num_key_value_heads = 4;
    c.text.num_global_key_value_heads = 1;
    c.text.num_experts = 16;
    c.text.top_k_experts = 4;
    c.text.moe_intermediate_size = 16;
    set_tiny_multimodal_ids(c);
    return finish(c);
}

ModelConfig config_tiny_31b() {
    ModelConfig c = tiny_base(config_31b(), "tiny-31b", 12, 6);
    c.text.num_key_value_heads = 4;
    c.text.num_global_key_value_heads = 1;
    set_tiny_multimodal_ids(c);
    return finish(c);
}

std::vector<std::string> variant_names() {
    return {"e2b", "e4b", "26b-a4b", "31b", "tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"};
}

ModelConfig config_for_variant(const std::string& variant_in) {
    std::string v = variant_in;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (v.rfind("gemma-4-", 0) == 0) v = v.substr(8);
    if (v == "e2b") return config_e2b();
    if (v == "e4b") return config_e4b();
    if (v == "26b-a4b" || v == "26b") return config_26b_a4b();
    if (v == "31b") return config_31b();
    if (v == "tiny-e2b") return config_tiny_e2b();
    if (v == "tiny-e4b") return config_tiny_e4b();
    if (v == "tiny-26b-a4b") return config_tiny_26b_a4b();
    if (v == "tiny-31b") return config_tiny_31b();
    std::string list;
    for (const std::string& n : variant_names()) list += (list.empty() ? "" : ", ") + n;
    throw Error("unknown variant '" + variant_in + "' (known: " + list + ")");
}

}  // namespace gemma4
