// test_multimodal.cpp — the text decoder with soft tokens merged in, against transformers: every text probe of the
// image and audio goldens, fed the goldens' own tower outputs (so this isolates the merge, PLE at placeholder
// positions and the bidirectional image mask of 26B / 31B); prompt expansion; the image-mask variants.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include "attention.h"
#include "checkpoint.h"
#include "compare.h"
#include "error.h"
#include "multimodal.h"
#include "test_util.h"
#include "text_model.h"
#include "tolerances.h"
#include "trace.h"

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

std::vector<NpyArray> text_probes_with_soft_tokens(const Checkpoint& ck, const std::vector<NpyArray>& golden, const std::string& path,
                                                   ImageMask mask) {
    ForwardOptions opts;
    opts.image_mask = mask;
    return trace_forward(ck, golden_text_input(ck.config, golden, path), {"text.*"}, opts);
}

}  // namespace

TEST_CASE("multimodal: decoder probes with image and audio soft tokens match transformers") {
    G4_SKIP_WITHOUT_PROBES();
    const std::pair<const char*, const char*> cases[] = {{"tiny-e2b", "image"},     {"tiny-e4b", "image"}, {"tiny-26b-a4b", "image"},
                                                         {"tiny-31b", "image"},     {"tiny-e2b", "audio"}, {"tiny-e4b", "audio"},
                                                         {"tiny-26b-a4b", "photo-prompt"}, {"tiny-e2b", "speech-prompt"}};
    for (const auto& [model, kind] : cases) {
        const fs::path path = fs::path(assets_dir()) / "goldens" / (std::string(model) + "-" + kind + ".npz");
        CAPTURE(path.string());
        REQUIRE(fs::exists(path));
        std::vector<NpyArray> golden = read_npz(path.string());
        std::vector<NpyArray> text_golden;
        for (const NpyArray& a : golden)
            if (a.name.rfind("text.", 0) == 0 || a.name.rfind("meta.", 0) == 0) text_golden.push_back(a);
        Checkpoint ck = Checkpoint::open(model);
        TraceDiff diff = compare_traces(text_probes_with_soft_tokens(ck, golden, path.string(), ImageMask::transformers), text_golden,
                                        tolerance::kNmseVsTransformers);
        CHECK(diff.only_in_reference.empty());
        CHECK(diff.probes.size() >= 1);  // the prompt goldens keep only text.logits
        double worst = 0;
        for (const ProbeDiff& d : diff.probes) worst = std::max(worst, d.nmse);
        if (diff.any_over()) FAIL_CHECK("first probe over: " << diff.probes[diff.first_over].name << " NMSE " << diff.probes[diff.first_over].nmse);
        MESSAGE(std::string(model) << " " << std::string(kind) << ": " << diff.probes.size() << " text probes, largest NMSE " << worst);
    }
}

TEST_CASE("multimodal: the image mask matters on 26B/31B and the variants differ where the spec says") {
    G4_SKIP_WITHOUT_PROBES();
    // The golden's image run (10 tokens) is longer than the window (8): the 5.23 rule and plain causal differ.
    const fs::path path = fs::path(assets_dir()) / "goldens" / "tiny-26b-a4b-image.npz";
    std::vector<NpyArray> golden = read_npz(path.string());
    std::vector<NpyArray> logits_only = {*find_array(golden, "text.logits")};
    Checkpoint ck = Checkpoint::open("tiny-26b-a4b");
    auto logits_nmse = [&](ImageMask m) {
        TraceDiff d = compare_traces(text_probes_with_soft_tokens(ck, golden, path.string(), m), logits_only, 1e-10);
        REQUIRE(d.probes.size() == 1);
        return d.probes[0].nmse;
    };
    CHECK(logits_nmse(ImageMask::transformers) < 1e-10);
    CHECK(logits_nmse(ImageMask::causal) > 1e-6);
    CHECK(logits_nmse(ImageMask::transformers_0246b4f) > 1e-6);
    // Rules themselves, on a sliding layer with window 8 and on a full layer (window 0).
    CHECK(attention_allowed(3, 9, 8, true, ImageMask::transformers));         // later token of the same image: seen
    CHECK_FALSE(attention_allowed(3, 9, 0, true, ImageMask::transformers));   // but not on full layers
    CHECK(attention_allowed(3, 9, 0, true, ImageMask::transformers_0246b4f));
    CHECK(attention_allowed(20, 5, 8, true, ImageMask::transformers_c308a309));  // window not applied to the block
    CHECK_FALSE(attention_allowed(20, 5, 8, true, ImageMask::transformers));
    CHECK_FALSE(attention_allowed(3, 12, 8, true, ImageMask::jax));          // two-sided window
    CHECK(attention_allowed(3, 9, 8, true, ImageMask::jax));
    CHECK_FALSE(attention_allowed(3, 9, 8, false, ImageMask::transformers_0246b4f));  // text keys stay causal
}

TEST_CASE("multimodal: expand_multimodal widens placeholders and counts must match") {
    ModelConfig cfg = config_tiny_e2b();
    const int D = cfg.text.hidden_size;
    MediaSoftTokens img{MediaSoftTokens::Kind::Image, 3, std::vector<float>(3 * D, 0.5f)};
    MediaSoftTokens aud{MediaSoftTokens::Kind::Audio, 2, std::vector<float>(2 * D, -1.0f)};
    TextInput in = expand_multimodal(cfg, {2, 100, cfg.image_token_id, 101, cfg.audio_token_id, 102}, {img, aud});
    const std::vector<int32_t> expected = {2,   100, cfg.boi_token_id, cfg.image_token_id, cfg.image_token_id, cfg.image_token_id, cfg.eoi_token_id,
                                           101, cfg.boa_token_id, cfg.audio_token_id, cfg.audio_token_id, cfg.eoa_token_id, 102};
    CHECK(in.tokens == expected);
    CHECK(in.soft_positions == std::vector<int>{3, 4, 5, 9, 10});
    CHECK(in.soft_embeddings.size() == size_t(5 * D));
    CHECK(in.soft_embeddings[4 * D] == -1.0f);
    CHECK(in.image_blocks[3] == 0);
    CHECK(in.image_blocks[2] == -1);  // boi is not part of the block
    CHECK(in.image_blocks[9] == -1);  // audio never is
    CHECK_THROWS_AS(expand_multimodal(cfg, {2, cfg.image_token_id, cfg.image_token_id}, {img}), Error);
    CHECK_THROWS_AS(expand_multimodal(cfg, {2, cfg.audio_token_id}, {img}), Error);
    CHECK_THROWS_AS(attach_soft_tokens(cfg, {2, cfg.image_token_id}, {}, {}), Error);
}
