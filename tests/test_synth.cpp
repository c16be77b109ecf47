// test_synth.cpp — config_to_json round-trips every variant through the parser, and `gemma4 synth` writes a sharded
// checkpoint in the Hugging Face layout that validates against the registry, runs with finite logits, and is the same
// bytes for the same seed.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "error.h"
#include "synth.h"
#include "test_util.h"
#include "text_model.h"
#include "trace.h"

using namespace gemma4;
namespace fs = std::filesystem;

TEST_CASE("config_to_json round-trips every variant through parse_config_json") {
    for (const std::string& v : variant_names()) {
        CAPTURE(v);
        ModelConfig a = config_for_variant(v);
        ModelConfig b = parse_config_json(config_to_json(a), v + "/config.json");
        std::vector<TensorSpec> ta = list_tensors(a), tb = list_tensors(b);
        REQUIRE(ta.size() == tb.size());
        for (size_t i = 0; i < ta.size(); ++i) {
            CHECK(ta[i].name == tb[i].name);
            CHECK(ta[i].shape == tb[i].shape);
        }
        for (int l = 0; l < a.text.num_hidden_layers; ++l) {
            CHECK(a.text.window(l) == b.text.window(l));
            CHECK(a.text.kv_heads(l) == b.text.kv_heads(l));
            CHECK(a.text.kv_source_layer(l) == b.text.kv_source_layer(l));
            CHECK(a.text.rotated_pairs(l) == b.text.rotated_pairs(l));
        }
        CHECK(a.text.final_logit_softcapping == b.text.final_logit_softcapping);
        CHECK(a.text.use_bidirectional_attention == b.text.use_bidirectional_attention);
        CHECK(a.image_token_id == b.image_token_id);
        CHECK(a.eoa_token_id == b.eoa_token_id);
    }
}

TEST_CASE("gemma4 synth writes a sharded HF checkpoint that loads and runs") {
    test::TempDir dir("gemma4_synth");
    const std::string out = dir.file("e4b");
    test::CliResult r = test::run_cli("synth --variant tiny-e4b -o " + out + " --shard-gb 0.0015");
    REQUIRE(r.exit_code == 0);
    CHECK(test::contains(r.out, "wrote " + out));
    REQUIRE(fs::exists(fs::path(out) / "model.safetensors.index.json"));
    std::ifstream index_in(fs::path(out) / "model.safetensors.index.json");
    nlohmann::json index = nlohmann::json::parse(index_in);
    CHECK(index["metadata"]["total_size"].get<uint64_t>() > 0);
    std::set<std::string> shard_files;
    for (const auto& [name, file] : index["weight_map"].items()) shard_files.insert(file.get<std::string>());
    REQUIRE(shard_files.size() >= 2);
    CHECK(shard_files.count("model-00001-of-0000" + std::to_string(shard_files.size()) + ".safetensors") == 1);

    Checkpoint ck = Checkpoint::open(out);  // validates every tensor against the registry
    CHECK(ck.check.unexpected.empty());
    CHECK(ck.weights.files().size() == shard_files.size());
    for (const TensorRef* t : ck.weights.tensors()) CHECK(t->dtype == DType::BF16);
    TextModel model(ck);
    KvCache cache(model.config());
    TextInput input;
    input.tokens = {2, 100, 200, 300, 400, 50, 60, 70, 80, 90, 10, 20};
    std::vector<float> logits;
    model.forward(input, cache, logits, ForwardOptions{});
    bool finite = true;
    for (float x : logits) finite = finite && std::isfinite(x);
    CHECK(finite);

    // Same seed, same bytes; a used directory is refused.
    const std::string again = dir.file("again");
    REQUIRE(test::run_cli("synth --variant tiny-e4b -o " + again + " --shard-gb 0.0015").exit_code == 0);
    shard_files.insert("config.json");
    for (const std::string& f : shard_files)
        CHECK(sha256_file_hex((fs::path(out) / f).string()) == sha256_file_hex((fs::path(again) / f).string()));
    r = test::run_cli("synth --variant tiny-e4b -o " + out);
    CHECK(r.exit_code == 2);
    CHECK(test::contains(r.out, "already holds a config.json"));
}

TEST_CASE("synthetic values: clip bounds constant, scales near 1, weights scaled by fan-in") {
    CHECK(synth_rule("model.audio_tower.layers.0.self_attn.q_proj.input_min", {}, 1).value(0) == -8.0f);
    const SynthRule norm = synth_rule("model.language_model.norm.weight", {64}, 1);
    for (uint64_t i = 0; i < 64; ++i) {
        CHECK(norm.value(i) >= 0.95f);
        CHECK(norm.value(i) < 1.05f);
    }
    const SynthRule w = synth_rule("model.language_model.layers.0.mlp.down_proj.weight", {64, 4096}, 1);
    double sum_sq = 0;
    for (uint64_t i = 0; i < 100000; ++i) sum_sq += double(w.value(i)) * w.value(i);
    CHECK(std::sqrt(sum_sq / 100000) == doctest::Approx(1.0 / 64).epsilon(0.02));
}
