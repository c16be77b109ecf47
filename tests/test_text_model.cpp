// test_text_model.cpp — the float32 text decoder against Hugging Face transformers: every probe of every tiny golden
// trace within tolerance, greedy generation identical, decoding with the KV cache equal to one full forward, and the
// OpenBLAS path equal to the plain loops.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "compare.h"
#include "generate.h"
#include "test_util.h"
#include "text_model.h"
#include "tolerances.h"
#include "trace.h"

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

const char* kModels[] = {"tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"};
const char* kPrompts[] = {"t7", "t8", "t9", "t20", "text"};

fs::path goldens_dir() { return fs::path(assets_dir()) / "goldens"; }

// Runs a model on token ids with every text probe recorded.
std::vector<NpyArray> run_all_probes(const Checkpoint& ck, const std::vector<int32_t>& tokens, Backend& backend) {
    ForwardOptions opts;
    opts.backend = &backend;
    TextInput input;
    input.tokens = tokens;
    return trace_forward(ck, input, {"text.*"}, opts);
}

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> ids = {2};
    while (static_cast<int>(ids.size()) < n) ids.push_back(static_cast<int32_t>(7 + rng() % (vocab - 7)));
    return ids;
}

}  // namespace

TEST_CASE("text decoder: every probe of every tiny golden matches transformers") {
    G4_SKIP_WITHOUT_PROBES();
    for (const std::string model : kModels) {
        Checkpoint ck = Checkpoint::open(model);
        for (const std::string prompt : kPrompts) {
            const fs::path path = goldens_dir() / (model + "-" + prompt + ".npz");
            CAPTURE(path.string());
            REQUIRE(fs::exists(path));
            std::vector<NpyArray> golden = read_npz(path.string());
            TraceMeta meta = trace_meta(golden, path.string());
            std::vector<int32_t> tokens(meta.tokens.begin(), meta.tokens.end());
            std::vector<NpyArray> ours = run_all_probes(ck, tokens, ref_backend());
            TraceDiff diff = compare_traces(ours, golden, tolerance::kNmseVsTransformers);
            CHECK(diff.only_in_reference.empty());
            CHECK(diff.probes.size() > 100);
            double worst = 0;
            std::string worst_name;
            for (const ProbeDiff& d : diff.probes)
                if (d.nmse > worst) worst = d.nmse, worst_name = d.name;
            if (diff.any_over()) {
                const ProbeDiff& f = diff.probes[diff.first_over];
                FAIL_CHECK("first probe over tolerance: " << f.name << " NMSE " << f.nmse << " " << f.problem);
            }
            MESSAGE(model << " " << prompt << ": " << diff.probes.size() << " probes, largest NMSE " << worst << " (" << worst_name << ")");
        }
    }
}

TEST_CASE("text decoder: greedy generation gives transformers' tokens") {
    for (const std::string model : kModels) {
        CAPTURE(model);
        std::ifstream in(goldens_dir() / (model + "-generate.json"));
        REQUIRE(in);
        nlohmann::json g = nlohmann::json::parse(in);
        Checkpoint ck = Checkpoint::open(model);
        TextModel text(ck);
        KvCache cache(text.config());
        TextInput prompt;
        prompt.tokens = g["prompt_ids"].get<std::vector<int32_t>>();
        std::vector<int32_t> generated;
        generate(text, cache, prompt, g["max_new_tokens"].get<int>(), {}, SamplingOptions{}, ForwardOptions{}, [&](int32_t id) {
            generated.push_back(id);
            return true;
        });
        CHECK(generated == g["generated_ids"].get<std::vector<int32_t>>());
    }
}

TEST_CASE("text decoder: decoding token by token with the KV cache equals one full forward") {
    for (const std::string model : kModels) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        TextModel text(ck);
        const int V = text.config().vocab_size;
        const std::vector<int32_t> tokens = random_tokens(21, V, 7);  // crosses the window of 8 twice
        std::vector<float> full;
        {
            KvCache cache(text.config());
            TextInput all;
            all.tokens = tokens;
            text.forward(all, cache, full, ForwardOptions{});
        }
        KvCache cache(text.config());
        TextInput head;
        head.tokens.assign(tokens.begin(), tokens.begin() + 5);
        std::vector<float> step_logits;
        text.forward(head, cache, step_logits, ForwardOptions{});
        for (int t = 0; t < 5; ++t) {
            ProbeDiff d = compare_arrays("prefill", std::vector<float>(step_logits.begin() + t * V, step_logits.begin() + (t + 1) * V), {V},
                                         std::vector<float>(full.begin() + t * V, full.begin() + (t + 1) * V), {V}, tolerance::kNmseDecodeVsPrefill);
            CHECK_MESSAGE(!d.over, "prefill row " << t << " NMSE " << d.nmse);
        }
        for (size_t t = 5; t < tokens.size(); ++t) {
            TextInput one;
            one.tokens = {tokens[t]};
            text.forward(one, cache, step_logits, ForwardOptions{});
            ProbeDiff d = compare_arrays("decode", step_logits, {V}, std::vector<float>(full.begin() + t * V, full.begin() + (t + 1) * V), {V},
                                         tolerance::kNmseDecodeVsPrefill);
            CHECK_MESSAGE(!d.over, "decode position " << t << " NMSE " << d.nmse);
        }
        CHECK(cache.length == static_cast<int64_t>(tokens.size()));
        for (int l = 0; l < text.config().num_hidden_layers; ++l) {
            if (text.config().is_kv_shared(l)) CHECK(cache.layers[l].rows() == 0);
            else if (text.config().is_global(l)) CHECK(cache.layers[l].rows() == static_cast<int64_t>(tokens.size()));
            else CHECK(cache.layers[l].rows() == text.config().sliding_window);  // local layers keep only their window
        }
    }
}

TEST_CASE("text decoder: the OpenBLAS path agrees with the plain loops") {
    for (const std::string model : kModels) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        const std::vector<int32_t> tokens = random_tokens(40, ck.config.text.vocab_size, 11);  // T >= 32: sgemm runs
        std::vector<NpyArray> ref = run_all_probes(ck, tokens, ref_backend());
        std::vector<NpyArray> blas = run_all_probes(ck, tokens, blas_backend());
        TraceDiff diff = compare_traces(blas, ref, tolerance::kNmseBlasVsRef);
        CHECK(diff.probes.size() == ref.size());
        if (diff.any_over()) FAIL_CHECK("first probe over: " << diff.probes[diff.first_over].name << " NMSE " << diff.probes[diff.first_over].nmse);
    }
}
