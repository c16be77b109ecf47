// fuzz_config.cpp — libFuzzer target for config.json (parse_config_json + validate_config), then everything derived
// from an accepted config: the per-layer facts, the tensor registry, parameter counts, the KV-cache footprint at the
// full context, and config_to_json, whose output must parse again to the same JSON (a fixed point after one round).
// Input: the file's text. Seeds: tests/fuzz/corpus/config/. Run with tools/fuzz.sh config.
#include "config.h"
#include "footprint.h"
#include "fuzz_util.h"
#include "registry.h"

using namespace gemma4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(fuzz::as_text(data, size));
    ModelConfig cfg;
    try {
        cfg = parse_config_json(text, "config.json");
    } catch (const Error& e) {
        fuzz::check_message(e);
        return 0;
    }
    // An accepted config must never make the code that uses it fail.
    const TextConfig& t = cfg.text;
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        (void)t.window(l);
        (void)t.kv_heads(l);
        (void)t.rotated_pairs(l);
        (void)t.mlp_width(l);
        const int src = t.kv_source_layer(l);
        if (src < 0 || src > l) fuzz::violated("kv_source_layer(" + std::to_string(l) + ") = " + std::to_string(src));
    }
    size_t tensors = 0;
    for_each_tensor(cfg, [&](const TensorSpec&) { ++tensors; });
    (void)count_params(cfg);
    (void)kv_footprint(t, t.max_position_embeddings);
    const std::string written = config_to_json(cfg);
    try {
        const std::string rewritten = config_to_json(parse_config_json(written, "config_to_json output"));
        if (rewritten != written) fuzz::violated("config_to_json is not a fixed point:\n" + written + "\n" + rewritten);
    } catch (const Error& e) {
        fuzz::violated(std::string("config_to_json wrote a config that does not parse: ") + e.what() + "\n" + written);
    }
    return 0;
}
