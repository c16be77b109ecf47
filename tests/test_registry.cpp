// test_registry.cpp — the tensor registry against every bundled tiny checkpoint (nothing missing, nothing unexpected,
// shapes equal), the builders against the tiny config.json files, and the errors a broken checkpoint produces.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "checkpoint.h"
#include "error.h"
#include "registry.h"
#include "safetensors.h"

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

const char* kTiny[] = {"tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"};

bool bundled_present() { return fs::exists(fs::path(assets_dir()) / "models" / "tiny-e2b" / "config.json"); }

// A scratch copy of a bundled model whose model.safetensors is rewritten by `edit`.
fs::path edited_copy(const std::string& model, const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    std::mt19937 rng(std::random_device{}());
    fs::path dir = fs::temp_directory_path() / ("gemma4-registry-" + std::to_string(rng()));
    fs::create_directories(dir);
    const fs::path src = resolve_model_dir(model);
    fs::copy_file(src / "config.json", dir / "config.json");
    WeightStore store = WeightStore::open_dir(src.string());
    std::vector<TensorToWrite> tensors;
    for (const TensorRef* t : store.tensors()) {
        TensorToWrite w;
        w.name = t->name;
        w.dtype = t->dtype;
        w.shape = t->shape;
        w.bytes.assign(t->data, t->data + t->nbytes);
        tensors.push_back(std::move(w));
    }
    edit(tensors);
    write_safetensors((dir / "model.safetensors").string(), tensors);
    return dir;
}

std::string open_error(const fs::path& dir) {
    try {
        Checkpoint::open(dir.string());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("registry matches every bundled tiny checkpoint exactly") {
    if (!bundled_present()) {
        MESSAGE("assets/models/tiny-* not found; skipped");
        return;
    }
    for (const std::string name : kTiny) {
        CAPTURE(name);
        Checkpoint ck = Checkpoint::open(name);
        CHECK(ck.check.ok());
        CHECK(ck.check.missing.empty());
        CHECK(ck.check.unexpected.empty());
        CHECK(ck.check.checked == static_cast<int>(list_tensors(ck.config).size()));
        // Every tensor in the file is either in the registry or one transformers ignores.
        CHECK(ck.weights.tensors().size() == ck.check.checked + ck.check.ignored.size());
    }
}

TEST_CASE("the tiny builders describe the bundled config.json files") {
    if (!bundled_present()) {
        MESSAGE("assets/models/tiny-* not found; skipped");
        return;
    }
    for (const std::string name : kTiny) {
        CAPTURE(name);
        ModelConfig from_file = load_config((fs::path(resolve_model_dir(name)) / "config.json").string());
        ModelConfig built = config_for_variant(name);
        std::vector<TensorSpec> a = list_tensors(from_file), b = list_tensors(built);
        REQUIRE(a.size() == b.size());
        for (size_t i = 0; i < a.size(); ++i) {
            CHECK(a[i].name == b[i].name);
            CHECK(a[i].shape == b[i].shape);
        }
        const TextConfig &f = from_file.text, &g = built.text;
        for (int l = 0; l < f.num_hidden_layers; ++l) {
            CHECK(f.is_global(l) == g.is_global(l));
            CHECK(f.window(l) == g.window(l));
            CHECK(f.kv_source_layer(l) == g.kv_source_layer(l));
            CHECK(f.rotated_pairs(l) == g.rotated_pairs(l));
        }
        CHECK(f.final_logit_softcapping == g.final_logit_softcapping);
        CHECK(f.use_bidirectional_attention == g.use_bidirectional_attention);
        CHECK(f.rope_full.theta == g.rope_full.theta);
        CHECK(from_file.image_token_id == built.image_token_id);
        CHECK(from_file.audio_token_id == built.audio_token_id);
        CHECK(from_file.boi_token_id == built.boi_token_id);
        CHECK(from_file.eoa_token_id == built.eoa_token_id);
    }
}

TEST_CASE("a checkpoint with missing and wrong-shape tensors is refused, naming all of them") {
    if (!bundled_present()) {
        MESSAGE("assets/models/tiny-* not found; skipped");
        return;
    }
    const std::string q0 = "model.language_model.layers.0.self_attn.q_proj.weight";
    const std::string norm = "model.language_model.norm.weight";
    const std::string o3 = "model.language_model.layers.3.self_attn.o_proj.weight";
    fs::path dir = edited_copy("tiny-e4b", [&](std::vector<TensorToWrite>& ts) {
        std::erase_if(ts, [&](const TensorToWrite& t) { return t.name == q0 || t.name == norm; });
        for (TensorToWrite& t : ts)
            if (t.name == o3) std::swap(t.shape[0], t.shape[1]);
    });
    std::string msg = open_error(dir);
    CAPTURE(msg);
    CHECK(msg.find(dir.string()) != std::string::npos);
    CHECK(msg.find("2 missing") != std::string::npos);
    CHECK(msg.find("missing: " + q0) != std::string::npos);
    CHECK(msg.find("missing: " + norm) != std::string::npos);
    CHECK(msg.find("wrong shape: " + o3) != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("k/v tensors of KV-shared layers are ignored as transformers does; other extras are reported") {
    if (!bundled_present()) {
        MESSAGE("assets/models/tiny-* not found; skipped");
        return;
    }
    // tiny-e2b: layers 6..9 share KV, so a k_proj there is ignored; "model.extra.weight" is unexpected.
    fs::path dir = edited_copy("tiny-e2b", [](std::vector<TensorToWrite>& ts) {
        TensorToWrite k{"model.language_model.layers.7.self_attn.k_proj.weight", DType::F32, {16, 64},
                        std::vector<std::byte>(16 * 64 * 4)};
        TensorToWrite extra{"model.extra.weight", DType::F32, {2}, std::vector<std::byte>(8)};
        ts.push_back(k);
        ts.push_back(extra);
    });
    Checkpoint ck = Checkpoint::open(dir.string());
    CHECK(ck.check.ok());
    REQUIRE(ck.check.ignored.size() == 1);
    CHECK(ck.check.ignored[0] == "model.language_model.layers.7.self_attn.k_proj.weight");
    REQUIRE(ck.check.unexpected.size() == 1);
    CHECK(ck.check.unexpected[0].find("model.extra.weight") == 0);
    fs::remove_all(dir);
}

TEST_CASE("is_ignored_on_load only covers the k/v of KV-shared layers") {
    ModelConfig c = config_e2b();
    CHECK(is_ignored_on_load(c, "model.language_model.layers.20.self_attn.v_proj.weight"));
    CHECK(is_ignored_on_load(c, "model.language_model.layers.15.self_attn.k_norm.weight"));
    CHECK_FALSE(is_ignored_on_load(c, "model.language_model.layers.14.self_attn.k_proj.weight"));
    CHECK_FALSE(is_ignored_on_load(c, "model.language_model.layers.20.self_attn.q_proj.weight"));
    CHECK_FALSE(is_ignored_on_load(c, "model.language_model.layers.99.self_attn.k_proj.weight"));
    CHECK_FALSE(is_ignored_on_load(config_31b(), "model.language_model.layers.20.self_attn.k_proj.weight"));
}

TEST_CASE("resolve_model_dir explains what it looked for") {
    try {
        resolve_model_dir("tiny-e9b");
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("tiny-e9b") != std::string::npos);
        CHECK(std::string(e.what()).find("bundled") != std::string::npos);
    }
    CHECK_THROWS_AS(resolve_model_dir(""), Error);
}
