// test_config.cpp — the variant builders against the published values (spec §1.3, §2.6, §3, §8.1), the per-layer facts
// derived from them, parameter counts against the published sizes, and config.json parsing (both forms transformers
// writes, and the errors for bad files).
#include <doctest/doctest.h>

#include <string>

#include "config.h"
#include "error.h"
#include "registry.h"

using namespace gemma4;

namespace {

std::vector<int> full_layers(const TextConfig& t) {
    std::vector<int> out;
    for (int l = 0; l < t.num_hidden_layers; ++l)
        if (t.is_global(l)) out.push_back(l);
    return out;
}

std::vector<int> every(int first, int step, int last) {
    std::vector<int> out;
    for (int l = first; l <= last; l += step) out.push_back(l);
    return out;
}

// Shape of one registry tensor by name suffix within layer l.
std::vector<int64_t> shape_of(const ModelConfig& cfg, const std::string& name) {
    for (const TensorSpec& s : list_tensors(cfg))
        if (s.name == name) return s.shape;
    return {-1};
}

bool has_tensor(const ModelConfig& cfg, const std::string& name) { return shape_of(cfg, name) != std::vector<int64_t>{-1}; }

}  // namespace

TEST_CASE("E2B builder matches the published config") {
    ModelConfig c = config_e2b();
    const TextConfig& t = c.text;
    CHECK(t.hidden_size == 1536);
    CHECK(t.intermediate_size == 6144);
    CHECK(t.num_hidden_layers == 35);
    CHECK(full_layers(t) == every(4, 5, 34));
    CHECK(t.num_attention_heads == 8);
    for (int l = 0; l < 35; ++l) CHECK(t.kv_heads(l) == 1);
    CHECK(t.layer_head_dim(0) == 256);
    CHECK(t.layer_head_dim(4) == 512);
    CHECK_FALSE(t.attention_k_eq_v);
    CHECK(t.window(0) == 512);
    CHECK(t.window(4) == 0);
    CHECK(t.num_kv_shared_layers == 20);
    CHECK(t.first_kv_shared_layer() == 15);
    // Spec §2.6: sliding shared layers read layer 13, full shared layers (19, 24, 29, 34) read layer 14.
    CHECK(t.kv_source_layer(15) == 13);
    CHECK(t.kv_source_layer(33) == 13);
    for (int l : {19, 24, 29, 34}) CHECK(t.kv_source_layer(l) == 14);
    CHECK(t.kv_source_layer(14) == 14);
    CHECK(t.mlp_width(14) == 6144);
    CHECK(t.mlp_width(15) == 12288);
    CHECK(t.mlp_width(34) == 12288);
    CHECK(t.hidden_size_per_layer_input == 256);
    CHECK(t.vocab_size_per_layer_input == 262144);
    CHECK_FALSE(t.enable_moe_block);
    CHECK(t.final_logit_softcapping == 30.0);
    CHECK(t.use_bidirectional_attention.empty());
    CHECK(t.max_position_embeddings == 131072);
    CHECK(t.vocab_size == 262144);
    REQUIRE(c.vision);
    CHECK(c.vision->hidden_size == 768);
    CHECK(c.vision->num_hidden_layers == 16);
    CHECK(c.vision->use_clipped_linears);
    CHECK_FALSE(c.vision->standardize);
    REQUIRE(c.audio);
    CHECK(c.audio->hidden_size == 1024);
    CHECK(c.audio->num_hidden_layers == 12);
    CHECK(c.audio->output_proj_dims == 1536);
    // Spec §8.1 concrete attention shapes.
    const std::string p = "model.language_model.layers.";
    CHECK(shape_of(c, p + "0.self_attn.q_proj.weight") == std::vector<int64_t>{2048, 1536});
    CHECK(shape_of(c, p + "0.self_attn.k_proj.weight") == std::vector<int64_t>{256, 1536});
    CHECK(shape_of(c, p + "0.self_attn.v_proj.weight") == std::vector<int64_t>{256, 1536});
    CHECK(shape_of(c, p + "0.self_attn.o_proj.weight") == std::vector<int64_t>{1536, 2048});
    CHECK(shape_of(c, p + "4.self_attn.q_proj.weight") == std::vector<int64_t>{4096, 1536});
    CHECK(shape_of(c, p + "4.self_attn.k_proj.weight") == std::vector<int64_t>{512, 1536});
    CHECK(shape_of(c, p + "4.self_attn.v_proj.weight") == std::vector<int64_t>{512, 1536});
    CHECK(shape_of(c, "model.language_model.embed_tokens_per_layer.weight") == std::vector<int64_t>{262144, 8960});
    CHECK(shape_of(c, p + "20.mlp.gate_proj.weight") == std::vector<int64_t>{12288, 1536});
    // KV-shared layers have no k/v projections or norms (spec §2.6).
    CHECK_FALSE(has_tensor(c, p + "15.self_attn.k_proj.weight"));
    CHECK_FALSE(has_tensor(c, p + "15.self_attn.k_norm.weight"));
    CHECK(has_tensor(c, p + "15.self_attn.q_norm.weight"));
}

TEST_CASE("E4B builder matches the published config") {
    ModelConfig c = config_e4b();
    const TextConfig& t = c.text;
    CHECK(t.hidden_size == 2560);
    CHECK(t.intermediate_size == 10240);
    CHECK(t.num_hidden_layers == 42);
    CHECK(full_layers(t) == every(5, 6, 41));
    CHECK(t.num_attention_heads == 8);
    CHECK(t.kv_heads(0) == 2);
    CHECK(t.kv_heads(5) == 2);
    CHECK(t.num_kv_shared_layers == 18);
    CHECK(t.first_kv_shared_layer() == 24);
    CHECK(t.kv_source_layer(24) == 22);
    for (int l : {29, 35, 41}) CHECK(t.kv_source_layer(l) == 23);
    CHECK(t.mlp_width(30) == 10240);  // no double-wide MLP on E4B
    CHECK(t.hidden_size_per_layer_input == 256);
    CHECK(t.window(0) == 512);
    const std::string p = "model.language_model.layers.";
    CHECK(shape_of(c, p + "0.self_attn.q_proj.weight") == std::vector<int64_t>{2048, 2560});
    CHECK(shape_of(c, p + "0.self_attn.k_proj.weight") == std::vector<int64_t>{512, 2560});
    CHECK(shape_of(c, p + "5.self_attn.k_proj.weight") == std::vector<int64_t>{1024, 2560});
    CHECK(shape_of(c, p + "5.self_attn.o_proj.weight") == std::vector<int64_t>{2560, 4096});
    CHECK(shape_of(c, "model.language_model.embed_tokens_per_layer.weight") == std::vector<int64_t>{262144, 10752});
    CHECK(c.audio);
    CHECK(c.vision->hidden_size == 768);
}

TEST_CASE("26B-A4B builder matches the published config") {
    ModelConfig c = config_26b_a4b();
    const TextConfig& t = c.text;
    CHECK(t.hidden_size == 2816);
    CHECK(t.intermediate_size == 2112);
    CHECK(t.num_hidden_layers == 30);
    CHECK(full_layers(t) == std::vector<int>{5, 11, 17, 23, 29});
    CHECK(t.num_attention_heads == 16);
    CHECK(t.kv_heads(0) == 8);
    CHECK(t.kv_heads(5) == 2);
    CHECK(t.k_eq_v(5));
    CHECK_FALSE(t.k_eq_v(0));
    CHECK(t.window(0) == 1024);
    CHECK(t.num_kv_shared_layers == 0);
    CHECK_FALSE(t.has_ple());
    CHECK(t.enable_moe_block);
    CHECK(t.num_experts == 128);
    CHECK(t.top_k_experts == 8);
    CHECK(t.moe_intermediate_size == 704);
    CHECK(t.use_bidirectional_attention == "vision");
    CHECK(t.max_position_embeddings == 262144);
    CHECK_FALSE(c.audio);
    REQUIRE(c.vision);
    CHECK(c.vision->hidden_size == 1152);
    CHECK(c.vision->num_hidden_layers == 27);
    CHECK(c.vision->head_dim == 72);
    CHECK(c.vision->standardize);
    const std::string p = "model.language_model.layers.";
    CHECK(shape_of(c, p + "0.self_attn.q_proj.weight") == std::vector<int64_t>{4096, 2816});
    CHECK(shape_of(c, p + "0.self_attn.k_proj.weight") == std::vector<int64_t>{2048, 2816});
    CHECK(shape_of(c, p + "5.self_attn.q_proj.weight") == std::vector<int64_t>{8192, 2816});
    CHECK(shape_of(c, p + "5.self_attn.k_proj.weight") == std::vector<int64_t>{1024, 2816});
    CHECK_FALSE(has_tensor(c, p + "5.self_attn.v_proj.weight"));  // K=V
    CHECK(shape_of(c, p + "0.experts.gate_up_proj") == std::vector<int64_t>{128, 1408, 2816});
    CHECK(shape_of(c, p + "0.experts.down_proj") == std::vector<int64_t>{128, 2816, 704});
    CHECK(shape_of(c, p + "0.router.proj.weight") == std::vector<int64_t>{128, 2816});
}

TEST_CASE("31B builder matches the published config") {
    ModelConfig c = config_31b();
    const TextConfig& t = c.text;
    CHECK(t.hidden_size == 5376);
    CHECK(t.intermediate_size == 21504);
    CHECK(t.num_hidden_layers == 60);
    CHECK(full_layers(t) == every(5, 6, 59));
    CHECK(t.num_attention_heads == 32);
    CHECK(t.kv_heads(0) == 16);
    CHECK(t.kv_heads(59) == 4);
    CHECK(t.k_eq_v(59));
    CHECK(t.window(0) == 1024);
    CHECK_FALSE(t.enable_moe_block);
    CHECK_FALSE(t.has_ple());
    CHECK(c.vision->hidden_size == 1152);
    const std::string p = "model.language_model.layers.";
    CHECK(shape_of(c, p + "0.self_attn.q_proj.weight") == std::vector<int64_t>{8192, 5376});
    CHECK(shape_of(c, p + "0.self_attn.k_proj.weight") == std::vector<int64_t>{4096, 5376});
    CHECK(shape_of(c, p + "5.self_attn.q_proj.weight") == std::vector<int64_t>{16384, 5376});
    CHECK(shape_of(c, p + "5.self_attn.k_proj.weight") == std::vector<int64_t>{2048, 5376});
    CHECK(shape_of(c, p + "5.self_attn.o_proj.weight") == std::vector<int64_t>{5376, 16384});
    CHECK(shape_of(c, p + "0.mlp.down_proj.weight") == std::vector<int64_t>{5376, 21504});
}

TEST_CASE("p-RoPE: full layers rotate 64 of 256 pairs, sliding layers all 128") {
    for (auto build : {config_e2b, config_e4b, config_26b_a4b, config_31b}) {
        ModelConfig c = build();
        const int last = c.text.num_hidden_layers - 1;
        CHECK(c.text.rotated_pairs(0) == 128);
        CHECK(c.text.rotated_pairs(last) == 64);
        CHECK(c.text.rope(last).theta == 1000000.0);
        CHECK(c.text.rope(0).theta == 10000.0);
    }
}

TEST_CASE("parameter counts agree with the published sizes") {
    // Published: E2B 5.1 B with embeddings, E4B 8 B, 26B-A4B 25-26 B total and 3.8 B active, 31B 31 B.
    ParamCounts e2b = count_params(config_e2b());
    CHECK(e2b.total > 5.05e9);
    CHECK(e2b.total < 5.15e9);
    CHECK(e2b.ple_table == 262144LL * 35 * 256);
    ParamCounts e4b = count_params(config_e4b());
    CHECK(e4b.total > 7.9e9);
    CHECK(e4b.total < 8.1e9);
    ParamCounts moe = count_params(config_26b_a4b());
    CHECK(moe.total > 25.0e9);
    CHECK(moe.total < 26.0e9);
    CHECK(moe.active_per_token > 3.7e9);
    CHECK(moe.active_per_token < 3.9e9);
    CHECK(moe.moe_experts == 30LL * 128 * 3 * 704 * 2816);
    ParamCounts d31 = count_params(config_31b());
    CHECK(d31.total > 30.8e9);
    CHECK(d31.total < 31.5e9);
    CHECK(d31.active_per_token == d31.text_total());  // dense, no PLE: every text parameter is active
}

TEST_CASE("tiny configs keep each variant's structure (spec §10)") {
    ModelConfig e2b = config_tiny_e2b();
    CHECK(e2b.text.first_kv_shared_layer() == 6);
    for (int l : {6, 7, 8}) CHECK(e2b.text.kv_source_layer(l) == 5);
    CHECK(e2b.text.kv_source_layer(9) == 4);
    for (int l : {6, 7, 8, 9}) CHECK(e2b.text.mlp_width(l) == 256);
    CHECK(e2b.text.mlp_width(5) == 128);
    CHECK(full_layers(e2b.text) == std::vector<int>{4, 9});
    ModelConfig moe = config_tiny_26b_a4b();
    CHECK(full_layers(moe.text) == std::vector<int>{5, 11});
    CHECK(moe.text.kv_heads(0) == 4);
    CHECK(moe.text.kv_heads(5) == 1);
    CHECK(moe.text.rotated_pairs(5) == 4);  // int(0.25 * 32 // 2)
    CHECK(moe.text.num_experts == 16);
    CHECK(moe.text.top_k_experts == 4);
    CHECK_FALSE(moe.audio);
    CHECK(config_tiny_e4b().audio);
}

TEST_CASE("layer_types: generated 5:1 rhythm, last layer always full") {
    auto types = make_layer_types(8, 6);
    CHECK(types[5] == LayerKind::Full);
    CHECK(types[6] == LayerKind::Sliding);
    CHECK(types[7] == LayerKind::Full);
    const std::string json = R"({"model_type": "gemma4_text", "num_hidden_layers": 3, "hidden_size": 64,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 32, "vocab_size": 100,
        "hidden_size_per_layer_input": 0,
        "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention"]})";
    ModelConfig c = parse_config_json(json, "config.json");
    CHECK(c.text_only_layout);
    CHECK(c.text_prefix() == "model.");
    CHECK(c.text.is_global(2));  // forced, as transformers does
    CHECK_FALSE(c.text.is_global(1));
}

TEST_CASE("config.json: newest (per_layer_config) and older (global fields) forms agree") {
    const std::string base = R"("vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 6,
        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 16, "attention_k_eq_v": true,
        "hidden_size_per_layer_input": 0, "sliding_window": 8, "final_logit_softcapping": 30.0)";
    const std::string newest = R"({"model_type": "gemma4", "text_config": {)" + base +
                               R"(, "per_layer_config": {"5": {"head_dim": 32, "num_key_value_heads": 1}}}})";
    const std::string older = R"({"model_type": "gemma4", "text_config": {)" + base +
                              R"(, "global_head_dim": 32, "num_global_key_value_heads": 1}})";
    ModelConfig a = parse_config_json(newest, "a/config.json");
    ModelConfig b = parse_config_json(older, "b/config.json");
    for (const ModelConfig* c : {&a, &b}) {
        CHECK(c->text.layer_head_dim(5) == 32);
        CHECK(c->text.layer_head_dim(0) == 16);
        CHECK(c->text.kv_heads(5) == 1);
        CHECK(c->text.kv_heads(0) == 4);
        CHECK(c->text.final_logit_softcapping == 30.0);
        CHECK_FALSE(c->text_only_layout);
        CHECK_FALSE(c->vision);
    }
}

TEST_CASE("config.json errors name the file and the field") {
    auto error_of = [](const std::string& json) -> std::string {
        try {
            parse_config_json(json, "/models/x/config.json");
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    auto expect = [&](const std::string& json, const std::string& needle) {
        std::string msg = error_of(json);
        CAPTURE(json);
        CAPTURE(msg);
        CHECK(msg.find("/models/x/config.json") != std::string::npos);
        CHECK(msg.find(needle) != std::string::npos);
    };
    expect("{not json", "not valid JSON");
    expect("[1, 2]", "JSON object");
    expect(R"({"model_type": "llama"})", "model_type");
    expect(R"({"model_type": "gemma4"})", "text_config");
    expect(R"({"model_type": "gemma4", "text_config": 5})", "text_config");
    expect(R"({"model_type": "gemma4_text", "hidden_size": "big"})", "hidden_size");
    expect(R"({"model_type": "gemma4_text", "hidden_size": 1e30})", "hidden_size");
    expect(R"({"model_type": "gemma4_text", "hidden_size": -4})", "hidden_size");
    expect(R"({"model_type": "gemma4_text", "num_hidden_layers": 0})", "num_hidden_layers");
    expect(R"({"model_type": "gemma4_text", "num_hidden_layers": 2, "layer_types": ["sliding_attention"]})", "layer_types");
    expect(R"({"model_type": "gemma4_text", "layer_types": ["dense"]})", "layer_types");
    expect(R"({"model_type": "gemma4_text", "num_attention_heads": 6, "num_key_value_heads": 4})", "num_attention_heads");
    expect(R"({"model_type": "gemma4_text", "enable_moe_block": true})", "num_experts");
    expect(R"({"model_type": "gemma4_text", "enable_moe_block": true, "num_experts": 4, "top_k_experts": 8, "moe_intermediate_size": 4})",
           "top_k_experts");
    expect(R"({"model_type": "gemma4_text", "hidden_activation": "relu"})", "hidden_activation");
    expect(R"({"model_type": "gemma4_text", "rope_parameters": {"full_attention": {"rope_type": "yarn"}}})", "rope_type");
    expect(R"({"model_type": "gemma4_text", "num_kv_shared_layers": 30})", "num_kv_shared_layers");
    expect(R"({"model_type": "gemma4_text", "eos_token_id": "x"})", "eos_token_id");
    expect(R"({"model_type": "gemma4_text", "per_layer_config": {"99": {"head_dim": 32}}})", "per_layer_config.99");
    expect(R"({"model_type": "gemma4_text", "per_layer_config": {"5": {"sliding_window": 4}}})", "sliding_window");
    expect(R"({"model_type": "gemma4", "text_config": {}, "vision_config": {"head_dim": 18}})", "vision_config.head_dim");
    expect(R"({"model_type": "gemma4", "text_config": {}, "audio_config": {"subsampling_conv_channels": [1]}})",
           "subsampling_conv_channels");
}

TEST_CASE("config.json: a number beyond double range is an Error naming the file (fuzz finding)") {
    // fuzz_config: nlohmann throws out_of_range (not parse_error) for 1e400, which escaped parse_config_json.
    CHECK_THROWS_WITH_AS(parse_config_json(R"({"model_type": "gemma4_text", "rms_norm_eps": 100000000001e308})",
                                           "/models/x/config.json"),
                         doctest::Contains("/models/x/config.json: not valid JSON"), Error);
}

TEST_CASE("config_for_variant knows the released names and lists them otherwise") {
    CHECK(config_for_variant("E2B").text.hidden_size == 1536);
    CHECK(config_for_variant("gemma-4-31b").text.hidden_size == 5376);
    CHECK(config_for_variant("26b-a4b").text.enable_moe_block);
    try {
        config_for_variant("7b");
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("e2b, e4b, 26b-a4b, 31b") != std::string::npos);
    }
}
