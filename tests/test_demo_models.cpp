// test_demo_models.cpp — the two small trained demo models (demo-e2b-mini, demo-moe-mini, tools/train_demo_model.py):
// every probe of their golden traces against transformers on the reference loops and on OpenBLAS, greedy generation
// identical to transformers and made of the corpus's words, and `gemma4 run` opening demo-e2b-mini with no -m.
// The OpenCL lockstep of the same goldens is in test_lockstep.cpp; their tokenizer's goldens in test_tokenizer.cpp.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "compare.h"
#include "generate.h"
#include "test_util.h"
#include "text_model.h"
#include "tokenizer.h"
#include "tolerances.h"
#include "trace.h"

using namespace gemma4;
using gemma4::test::contains;
using gemma4::test::run_cli;
namespace fs = std::filesystem;

namespace {

const char* const kDemoModels[] = {"demo-e2b-mini", "demo-moe-mini"};
// tools/make_demo_goldens.py: Genesis 1:1 as raw text, "And God said" as a chat turn, Psalm 23:1-2 (past the window).
const char* const kDemoPrompts[] = {"text", "chat", "long"};

fs::path goldens_dir() { return fs::path(assets_dir()) / "goldens"; }

nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, path.string() << " is missing");
    return nlohmann::json::parse(in);
}

// Words and phrases of the corpus in each model's greedy golden (tools/make_demo_goldens.py), read off the golden by hand.
std::vector<const char*> kExpectedPhrases(const std::string& model) {
    if (model == "demo-e2b-mini") return {"the LORD thy God of Israel.", "unto the LORD."};
    return {"the LORD of Israel.", "shall be in the LORD"};
}

std::vector<int32_t> greedy(const Checkpoint& ck, const std::vector<int32_t>& prompt, int n, Backend& backend) {
    TextModel text(ck);
    KvCache cache(text.config());
    TextInput input;
    input.tokens = prompt;
    ForwardOptions opts;
    opts.backend = &backend;
    std::vector<int32_t> out;
    generate(text, cache, input, n, {}, SamplingOptions{}, opts, [&](int32_t id) {
        out.push_back(id);
        return true;
    });
    return out;
}

}  // namespace

TEST_CASE("demo models: the checkpoints match the registry and their training record") {
    for (const std::string name : kDemoModels) {
        CAPTURE(name);
        Checkpoint ck = Checkpoint::open(name);
        CHECK(ck.check.ok());
        CHECK(ck.check.missing.empty());
        CHECK(ck.check.unexpected.empty());
        CHECK(!ck.config.vision);
        CHECK(!ck.config.audio);
        const nlohmann::json training = read_json(fs::path(ck.dir) / "training.json");
        const gemma4::test::CliResult info = run_cli("info --json -m " + name);
        REQUIRE(info.exit_code == 0);
        const nlohmann::json j = nlohmann::json::parse(info.out);
        CHECK(j["tensors_unexpected"].empty());
        // Stored in bf16 under the 8 MB budget; about 2.5 M parameters (transformers' count, tied head counted once).
        CHECK(fs::file_size(fs::path(ck.dir) / "model.safetensors") < 8'000'000);
        CHECK(training["parameters"].get<int64_t>() > 2'000'000);
        CHECK(training["parameters"].get<int64_t>() < 3'000'000);
        CHECK(training["final_val_loss"].get<double>() < 4.7);  // from ln(2048) = 7.6 at the start (4.01 and 4.57)
    }
    const TextConfig e2b = Checkpoint::open("demo-e2b-mini").config.text;
    CHECK(e2b.num_hidden_layers == 10);
    CHECK(e2b.has_ple());
    CHECK(e2b.num_kv_shared_layers == 4);
    CHECK(e2b.is_global(4));
    CHECK(e2b.is_global(9));
    CHECK(!e2b.is_global(3));
    const TextConfig moe = Checkpoint::open("demo-moe-mini").config.text;
    CHECK(moe.num_hidden_layers == 12);
    CHECK(moe.is_moe(0));
    CHECK(moe.num_experts == 8);
    CHECK(moe.top_k_experts == 2);
    CHECK(moe.is_global(5));
    CHECK(moe.is_global(11));
    CHECK(!moe.is_global(10));
}

TEST_CASE("demo models: every probe of every demo golden matches transformers, on the loops and on OpenBLAS") {
    G4_SKIP_WITHOUT_PROBES();
    for (const std::string model : kDemoModels) {
        Checkpoint ck = Checkpoint::open(model);
        for (const std::string prompt : kDemoPrompts) {
            const fs::path path = goldens_dir() / (model + "-" + prompt + ".npz");
            CAPTURE(path.string());
            REQUIRE(fs::exists(path));
            const std::vector<NpyArray> golden = read_npz(path.string());
            const TraceMeta meta = trace_meta(golden, path.string());
            TextInput input;
            input.tokens.assign(meta.tokens.begin(), meta.tokens.end());
            for (Backend* backend : {&ref_backend(), &blas_backend()}) {
                ForwardOptions opts;
                opts.backend = backend;
                const std::vector<NpyArray> ours = trace_forward(ck, input, {"text.*"}, opts);
                const TraceDiff diff = compare_traces(ours, golden, tolerance::kNmseVsTransformers);
                CHECK(diff.only_in_reference.empty());
                CHECK(diff.probes.size() > 200);
                if (diff.any_over()) {
                    const ProbeDiff& f = diff.probes[diff.first_over];
                    FAIL_CHECK(backend->name() << ": first probe over tolerance: " << f.name << " NMSE " << f.nmse << " " << f.problem);
                }
                double worst = 0;
                for (const ProbeDiff& d : diff.probes) worst = std::max(worst, d.nmse);
                MESSAGE(model << " " << prompt << " (" << backend->name() << "): " << diff.probes.size() << " probes, largest NMSE " << worst);
            }
        }
    }
}

TEST_CASE("demo models: greedy generation gives transformers' tokens, and they are words of the King James Bible") {
    for (const std::string model : kDemoModels) {
        CAPTURE(model);
        const nlohmann::json g = read_json(goldens_dir() / (model + "-generate.json"));
        Checkpoint ck = Checkpoint::open(model);
        const std::vector<int32_t> want = g["generated_ids"].get<std::vector<int32_t>>();
        const std::vector<int32_t> prompt = g["prompt_ids"].get<std::vector<int32_t>>();
        const int n = g["max_new_tokens"].get<int>();
        CHECK(greedy(ck, prompt, n, ref_backend()) == want);
        CHECK(greedy(ck, prompt, n, blas_backend()) == want);
        const Tokenizer tok = Tokenizer::load(ck.dir);
        const std::string text = tok.decode(want, false);
        CHECK(text == g["generated_text"].get<std::string>());
        MESSAGE(model << " after '" << g["prompt_name"].get<std::string>() << "': " << text);
        // Words and phrases a model that learned the text writes (checked by hand against the goldens).
        for (const char* phrase : kExpectedPhrases(model)) CHECK_MESSAGE(contains(text, phrase), "'" << phrase << "' not in: " << text);
    }
}

TEST_CASE("demo models: gemma4 run with no -m opens demo-e2b-mini, which continues a verse") {
    const gemma4::test::CliResult r = run_cli("run -p 'And God said' -n 24 --backend ref");
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, "demo-e2b-mini"));
    const nlohmann::json g = read_json(goldens_dir() / "demo-e2b-mini-generate.json");
    // The chat prompt of the golden is the one `run` builds; greedy output stops at the end of the model's turn.
    CHECK(contains(r.out, kExpectedPhrases("demo-e2b-mini")[0]));
    // With an image and no -m, run opens the tiny model that has a vision tower.
    const std::string photo = (fs::path(assets_dir()) / "samples" / "photo.png").string();
    const gemma4::test::CliResult m = run_cli("run --image " + photo + " -p Describe -n 2 --backend ref");
    CHECK(m.exit_code == 0);
    CHECK(contains(m.out, "tiny-e2b"));
}
