// test_lockstep.cpp — the whole tiny model on the OpenCL backend (with --strict-device semantics: no op may fall back to
// the host) against the reference backend, probe by probe: the text decoder of every tiny variant (prefill, then a
// decode step on the cache, image blocks on the 26B / 31B photo prompts), the vision tower and the audio tower, each
// probe within NMSE kNmseOpenClVsRef, the first divergence named; and greedy generation giving the reference's (and
// transformers') tokens. Skipped, with a message, when there is no OpenCL device.
#include <doctest/doctest.h>

#ifdef GEMMA4_HAVE_OPENCL

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio.h"
#include "audio_tower.h"
#include "cl_backend.h"
#include "cl_devices.h"
#include "compare.h"
#include "error.h"
#include "generate.h"
#include "image.h"
#include "npz.h"
#include "test_util.h"
#include "tolerances.h"
#include "trace.h"
#include "vision.h"

using namespace gemma4;
using gemma4::tolerance::kNmseOpenClVsRef;

namespace {

// The tiny models (every structural feature, random weights) and the trained demo models (tools/train_demo_model.py).
const char* const kModels[] = {"tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b", "demo-e2b-mini", "demo-moe-mini"};

std::filesystem::path goldens_dir() { return std::filesystem::path(GEMMA4_ASSETS_DIR) / "goldens"; }

// One strict OpenCL backend for the whole file (building the programs takes seconds on PoCL); nullptr without a device.
cl::ClBackend* device_backend() {
    static std::unique_ptr<cl::ClBackend> backend;
    static bool tried = false;
    if (!tried) {
        tried = true;
        try {
            if (!cl::list_devices().empty()) backend = std::make_unique<cl::ClBackend>(cl::ClBackendOptions{0, /*strict=*/true});
        } catch (const Error& e) {
            MESSAGE("OpenCL backend unavailable: " << e.what());
        }
    }
    return backend.get();
}

// Compares two probe lists; prints the summary and names the first probe over tolerance.
void check_lockstep(const std::string& what, const std::vector<NpyArray>& cl_probes, const std::vector<NpyArray>& ref_probes) {
    const TraceDiff diff = compare_traces(cl_probes, ref_probes, kNmseOpenClVsRef);
    REQUIRE_MESSAGE(!diff.probes.empty(), what << ": no probes compared");
    double worst = 0;
    std::string worst_name;
    for (const ProbeDiff& d : diff.probes)
        if (d.nmse >= worst) {
            worst = d.nmse;
            worst_name = d.name;
        }
    MESSAGE(what << ": " << diff.probes.size() << " probes, worst NMSE " << worst << " (" << worst_name << ")");
    CHECK_MESSAGE(diff.first_over < 0, what << ": first divergence at probe "
                                              << (diff.first_over >= 0 ? diff.probes[diff.first_over].name : std::string()));
    CHECK(ref_probes.size() == cl_probes.size());
}

// Records every probe matching `globs` while `body` runs.
template <typename Body>
std::vector<NpyArray> record(const std::vector<std::string>& globs, Body body) {
    RecordingSink sink(globs);
    body(&sink);
    return to_arrays(sink.entries());
}

}  // namespace

TEST_CASE("lockstep: text decoder of every tiny and demo model, OpenCL (strict) vs reference, every probe, prefill and decode") {
    G4_SKIP_WITHOUT_PROBES();
    cl::ClBackend* cl = device_backend();
    if (!cl) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    for (const std::string model : kModels) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        const std::vector<NpyArray> golden = read_npz((goldens_dir() / (model + "-text.npz")).string());
        const TextInput prompt = golden_text_input(ck.config, golden, model + "-text.npz");
        // Prefill, then one decode step on the cache, each recorded on its own (the probe names repeat).
        auto run = [&](Backend& be) {
            TextModel text(ck);
            KvCache cache(text.config());
            ForwardOptions opts;
            opts.backend = &be;
            std::vector<float> logits;
            auto prefill = record({"text.*"}, [&](ProbeSink* sink) {
                opts.probes = sink;
                text.forward(prompt, cache, logits, opts);
            });
            TextInput next;
            next.tokens = {static_cast<int32_t>(prompt.tokens.size() % 7 + 3)};
            auto decode = record({"text.*"}, [&](ProbeSink* sink) {
                opts.probes = sink;
                text.forward(next, cache, logits, opts);
            });
            return std::make_pair(prefill, decode);
        };
        const auto got = run(*cl), want = run(ref_backend());
        check_lockstep(model + " text prefill", got.first, want.first);
        check_lockstep(model + " text decode step", got.second, want.second);
    }
    CHECK(cl->fallbacks().empty());
}

TEST_CASE("lockstep: image blocks (26B / 31B photo prompts, every ImageMask rule) and audio soft tokens in the decoder") {
    G4_SKIP_WITHOUT_PROBES();
    cl::ClBackend* cl = device_backend();
    if (!cl) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    const std::pair<const char*, const char*> cases[] = {{"tiny-26b-a4b", "photo-prompt"}, {"tiny-31b", "image"}, {"tiny-e2b", "speech-prompt"}};
    for (const auto& [model_name, golden_name] : cases) {
        const std::string model = model_name;
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        const std::string file = std::string(model) + "-" + golden_name + ".npz";
        const std::vector<NpyArray> golden = read_npz((goldens_dir() / file).string());
        const TextInput input = golden_text_input(ck.config, golden, file);
        for (ImageMask rule : {ImageMask::transformers, ImageMask::transformers_0246b4f, ImageMask::transformers_c308a309, ImageMask::jax}) {
            if (rule != ImageMask::transformers && input.image_blocks.empty()) continue;
            ForwardOptions opts;
            opts.image_mask = rule;
            opts.backend = cl;
            const std::vector<NpyArray> got = trace_forward(ck, input, {"text.*"}, opts);
            opts.backend = &ref_backend();
            const std::vector<NpyArray> want = trace_forward(ck, input, {"text.*"}, opts);
            check_lockstep(file + " mask rule " + std::to_string(static_cast<int>(rule)), got, want);
        }
    }
    CHECK(cl->fallbacks().empty());
}

TEST_CASE("lockstep: vision tower (E2B and 26B, standardize) and audio tower, OpenCL (strict) vs reference, every probe") {
    G4_SKIP_WITHOUT_PROBES();
    cl::ClBackend* cl = device_backend();
    if (!cl) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    const Image photo = load_image((std::filesystem::path(GEMMA4_ASSETS_DIR) / "samples" / "photo.png").string());
    for (const std::string model : {"tiny-e2b", "tiny-26b-a4b"}) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        VisionTower tower(ck);
        const PatchedImage img = preprocess_image(photo, 70, *ck.config.vision);
        const auto got = record({"vision.*"}, [&](ProbeSink* sink) { tower.encode(img, sink, *cl); });
        const auto want = record({"vision.*"}, [&](ProbeSink* sink) { tower.encode(img, sink, ref_backend()); });
        check_lockstep(model + " vision (photo, 70 soft tokens)", got, want);
    }
    {
        Checkpoint ck = Checkpoint::open("tiny-e2b");
        AudioTower tower(ck);
        const Waveform wave = load_audio((std::filesystem::path(GEMMA4_ASSETS_DIR) / "samples" / "speech.wav").string());
        const MelFeatures mel = log_mel_features(wave.samples);
        const auto got = record({"audio.*"}, [&](ProbeSink* sink) { tower.encode(mel, sink, *cl); });
        const auto want = record({"audio.*"}, [&](ProbeSink* sink) { tower.encode(mel, sink, ref_backend()); });
        check_lockstep("tiny-e2b audio (speech.wav)", got, want);
    }
    CHECK(cl->fallbacks().empty());
}

TEST_CASE("lockstep: greedy generation on OpenCL gives the reference's and transformers' tokens, every tiny and demo model") {
    cl::ClBackend* cl = device_backend();
    if (!cl) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    for (const std::string model : kModels) {
        CAPTURE(model);
        std::ifstream in(goldens_dir() / (model + "-generate.json"));
        REQUIRE(in);
        const nlohmann::json g = nlohmann::json::parse(in);
        Checkpoint ck = Checkpoint::open(model);
        TextModel text(ck);
        KvCache cache(text.config());
        TextInput prompt;
        prompt.tokens = g["prompt_ids"].get<std::vector<int32_t>>();
        ForwardOptions opts;
        opts.backend = cl;
        std::vector<int32_t> generated;
        generate(text, cache, prompt, g["max_new_tokens"].get<int>(), {}, SamplingOptions{}, opts, [&](int32_t id) {
            generated.push_back(id);
            return true;
        });
        CHECK(generated == g["generated_ids"].get<std::vector<int32_t>>());
        MESSAGE(model << ": " << generated.size() << " greedy tokens on " << cl->context().info().name << " equal transformers' ids");
    }
    CHECK(cl->fallbacks().empty());
}

TEST_CASE("opencl backend: a host fallback is logged once, or refused with --strict-device") {
    if (cl::list_devices().empty()) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    // Attention whose score buffer [H, T, S] is over the device's largest allocation: the lenient backend runs the
    // reference on the host (and records it once), the strict one refuses naming --strict-device.
    const AttentionShape shape{4, 4, 2, 1, 8, 0};  // T, S, H, Hkv, Dh, window: scores 2·4·4 floats = 128 bytes
    std::vector<float> q(4 * 2 * 8), k(4 * 8), v(4 * 8);
    for (size_t i = 0; i < q.size(); ++i) q[i] = 0.1f * float(i % 7) - 0.3f;
    for (size_t i = 0; i < k.size(); ++i) k[i] = 0.05f * float(i % 5) - 0.1f, v[i] = 0.2f * float(i % 3);
    const int64_t pos[4] = {0, 1, 2, 3};
    std::vector<float> want(4 * 2 * 8), got(want.size(), -1.0f);
    attention(want.data(), nullptr, q.data(), k.data(), v.data(), pos, pos, nullptr, nullptr, ImageMask::transformers, shape);

    cl::ClBackend lenient(cl::ClBackendOptions{0, false});
    lenient.context().limit_alloc(16);
    lenient.attention(got.data(), nullptr, q.data(), k.data(), v.data(), pos, pos, nullptr, nullptr, ImageMask::transformers, shape);
    CHECK(got == want);
    CHECK(lenient.fallbacks().count("attention") == 1);

    cl::ClBackend strict(cl::ClBackendOptions{0, true});
    strict.context().limit_alloc(16);
    CHECK_THROWS_WITH_AS(strict.attention(got.data(), nullptr, q.data(), k.data(), v.data(), pos, pos, nullptr, nullptr,
                                          ImageMask::transformers, shape),
                         doctest::Contains("--strict-device"), Error);
    CHECK(strict.fallbacks().empty());
}

#else

TEST_CASE("lockstep: skipped (built without GEMMA4_OPENCL)") { MESSAGE("skipped: no OpenCL device (built without OpenCL)"); }

#endif
