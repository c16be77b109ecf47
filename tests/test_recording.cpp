// test_recording.cpp — the inspector's data model (viz/recording.h) with exact values: layer facts of the tiny and the
// released configs, masks, GQA, p-RoPE tables against the decoder's own, MoE routing and PLE maps of live tiny runs,
// the vision grid and audio windows of the goldens, attention tiles, record / replay and divergence. No ImGui here.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <numeric>

#include "checkpoint.h"
#include "error.h"
#include "ops.h"
#include "recording.h"
#include "test_util.h"
#include "text_model.h"

using namespace gemma4;
using namespace gemma4::viz;
namespace fs = std::filesystem;

namespace {

std::string golden(const std::string& name) { return (fs::path(assets_dir()) / "goldens" / name).string(); }

const std::vector<int32_t> kTokens = {2, 17, 40, 111, 250, 33, 7};

// One prefill of a bundled tiny model over kTokens with every text probe recorded, as the inspector's live mode does.
Recording live_run(const std::string& model) {
    const Checkpoint ck = Checkpoint::open(model);
    RecordingSink sink({"text.*"});
    ForwardOptions opts;
    opts.probes = &sink;
    TextModel text(ck);
    KvCache cache(text.config());
    std::vector<float> logits;
    text.forward(TextInput{kTokens, {}, {}, {}}, cache, logits, opts);
    TraceMeta meta;
    meta.model = model;
    meta.tokens.assign(kTokens.begin(), kTokens.end());
    meta.backend = "ref";
    meta.prompt = "live";
    return Recording::from_probes(ck.config, sink.entries(), meta);
}

std::vector<RecordingSink::Entry> entries_of(const Recording& r) {
    std::vector<RecordingSink::Entry> out;
    for (const Tensor& t : r.tensors()) out.push_back({t.name, t.shape, t.data});
    return out;
}

int count_global(const std::vector<LayerInfo>& layers) {
    int n = 0;
    for (const LayerInfo& l : layers) n += l.global;
    return n;
}

}  // namespace

TEST_CASE("recording: layer_infos of the released variants") {
    SUBCASE("E2B") {
        const std::vector<LayerInfo> L = layer_infos(config_e2b().text);
        REQUIRE(L.size() == 35);
        CHECK(count_global(L) == 7);
        for (const LayerInfo& l : L) {
            CHECK(l.global == ((l.index + 1) % 5 == 0));
            CHECK(l.window == (l.global ? 0 : 512));
            CHECK(l.q_heads == 8);
            CHECK(l.kv_heads == 1);
            CHECK(l.head_dim == (l.global ? 512 : 256));
            CHECK(l.rope_pairs == l.head_dim / 2);
            CHECK(l.rotated_pairs == (l.global ? 64 : 128));  // p-RoPE: 25% of the 256 pairs of a global layer
            CHECK(l.rope_theta == (l.global ? 1e6 : 1e4));
            CHECK(l.kv_shared == (l.index >= 15));
            CHECK(l.kv_source == (l.index < 15 ? l.index : l.global ? 14 : 13));
            CHECK_FALSE(l.k_eq_v);
            CHECK_FALSE(l.moe);
            CHECK(l.ple);
            CHECK(l.mlp_width == (l.index >= 15 ? 12288 : 6144));  // double-wide MLP on the KV-shared layers
        }
    }
    SUBCASE("E4B") {
        const std::vector<LayerInfo> L = layer_infos(config_e4b().text);
        REQUIRE(L.size() == 42);
        CHECK(count_global(L) == 7);
        for (const LayerInfo& l : L) {
            CHECK(l.global == ((l.index + 1) % 6 == 0));
            CHECK(l.kv_heads == 2);
            CHECK(l.kv_shared == (l.index >= 24));
            CHECK(l.kv_source == (l.index < 24 ? l.index : l.global ? 23 : 22));
            CHECK(l.mlp_width == 10240);
            CHECK(l.ple);
        }
    }
    SUBCASE("26B-A4B") {
        const std::vector<LayerInfo> L = layer_infos(config_26b_a4b().text);
        REQUIRE(L.size() == 30);
        CHECK(count_global(L) == 5);
        for (const LayerInfo& l : L) {
            CHECK(l.k_eq_v == l.global);  // K = V on the global layers only
            CHECK(l.kv_heads == (l.global ? 2 : 8));
            CHECK(l.q_heads == 16);
            CHECK(l.window == (l.global ? 0 : 1024));
            CHECK(l.moe);  // MoE on every layer
            CHECK_FALSE(l.ple);
            CHECK_FALSE(l.kv_shared);
            CHECK(l.kv_source == l.index);
            CHECK(l.mlp_width == 2112);
        }
    }
    SUBCASE("31B") {
        const std::vector<LayerInfo> L = layer_infos(config_31b().text);
        REQUIRE(L.size() == 60);
        CHECK(count_global(L) == 10);
        for (const LayerInfo& l : L) {
            CHECK(l.k_eq_v == l.global);
            CHECK(l.kv_heads == (l.global ? 4 : 16));
            CHECK(l.q_heads == 32);
            CHECK_FALSE(l.moe);
            CHECK_FALSE(l.ple);
        }
    }
}

TEST_CASE("recording: layer_infos of the four tiny configs, from the builders and from the bundled config.json") {
    SUBCASE("tiny-e2b") {
        const std::vector<LayerInfo> L = layer_infos(config_tiny_e2b().text);
        REQUIRE(L.size() == 10);
        CHECK(count_global(L) == 2);
        CHECK(L[4].global);
        CHECK(L[9].global);
        for (const LayerInfo& l : L) {
            CHECK(l.window == (l.global ? 0 : 8));
            CHECK(l.q_heads == 8);
            CHECK(l.kv_heads == 1);
            CHECK(l.head_dim == (l.global ? 32 : 16));
            CHECK(l.rotated_pairs == (l.global ? 4 : 8));
            CHECK(l.kv_shared == (l.index >= 6));
            CHECK(l.kv_source == (l.index < 6 ? l.index : l.global ? 4 : 5));
            CHECK(l.mlp_width == (l.index >= 6 ? 256 : 128));
            CHECK(l.ple);
        }
    }
    SUBCASE("tiny-e4b") {
        const std::vector<LayerInfo> L = layer_infos(config_tiny_e4b().text);
        REQUIRE(L.size() == 12);
        CHECK(count_global(L) == 2);
        for (const LayerInfo& l : L) {
            CHECK(l.global == (l.index == 5 || l.index == 11));
            CHECK(l.kv_heads == 2);
            CHECK(l.kv_source == (l.index < 8 ? l.index : l.global ? 5 : 7));
            CHECK(l.mlp_width == 128);
        }
    }
    SUBCASE("tiny-26b-a4b") {
        const std::vector<LayerInfo> L = layer_infos(config_tiny_26b_a4b().text);
        REQUIRE(L.size() == 12);
        for (const LayerInfo& l : L) {
            CHECK(l.k_eq_v == l.global);
            CHECK(l.kv_heads == (l.global ? 1 : 4));
            CHECK(l.moe);
            CHECK_FALSE(l.ple);
            CHECK(l.mlp_width == 48);
        }
    }
    SUBCASE("tiny-31b") {
        const std::vector<LayerInfo> L = layer_infos(config_tiny_31b().text);
        REQUIRE(L.size() == 12);
        for (const LayerInfo& l : L) {
            CHECK(l.k_eq_v == l.global);
            CHECK(l.kv_heads == (l.global ? 1 : 4));
            CHECK_FALSE(l.moe);
        }
    }
    // The bundled checkpoints' config.json describe the same layers (what from_trace loads).
    for (const char* name : {"tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"}) {
        CAPTURE(name);
        const std::vector<LayerInfo> bundled = layer_infos(Checkpoint::open(name).config.text);
        const std::vector<LayerInfo> built = layer_infos(config_for_variant(name).text);
        REQUIRE(bundled.size() == built.size());
        for (size_t i = 0; i < built.size(); ++i) {
            CHECK(bundled[i].global == built[i].global);
            CHECK(bundled[i].kv_heads == built[i].kv_heads);
            CHECK(bundled[i].rotated_pairs == built[i].rotated_pairs);
            CHECK(bundled[i].kv_source == built[i].kv_source);
            CHECK(bundled[i].mlp_width == built[i].mlp_width);
        }
    }
}

TEST_CASE("recording: the mask of a sliding layer and GQA head groups") {
    LayerInfo sliding;
    sliding.window = 4;
    const int want[6][6] = {
        {1, 0, 0, 0, 0, 0},
        {1, 1, 0, 0, 0, 0},
        {1, 1, 1, 0, 0, 0},
        {1, 1, 1, 1, 0, 0},
        {0, 1, 1, 1, 1, 0},
        {0, 0, 1, 1, 1, 1},
    };
    for (int q = 0; q < 6; ++q)
        for (int k = 0; k < 6; ++k) {
            CAPTURE(q);
            CAPTURE(k);
            CHECK(int(mask_allows(sliding, q, k)) == want[q][k]);
        }
    LayerInfo global;  // window 0: causal only
    CHECK(mask_allows(global, 100000, 0));
    CHECK_FALSE(mask_allows(global, 3, 4));

    const std::vector<LayerInfo> tiny26 = layer_infos(config_tiny_26b_a4b().text);
    CHECK(kv_head_of_query_heads(tiny26[0]) == std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3});
    CHECK(kv_head_of_query_heads(tiny26[5]) == std::vector<int>(8, 0));  // global, K = V, one KV head
    CHECK(kv_head_of_query_heads(layer_infos(config_e2b().text)[0]) == std::vector<int>(8, 0));
    const std::vector<int> big = kv_head_of_query_heads(layer_infos(config_31b().text)[0]);  // 32 : 16
    REQUIRE(big.size() == 32);
    for (int h = 0; h < 32; ++h) CHECK(big[h] == h / 2);
    LayerInfo bad;
    bad.q_heads = 6;
    bad.kv_heads = 4;
    CHECK_THROWS_AS(kv_head_of_query_heads(bad), Error);
}

TEST_CASE("recording: p-RoPE pairs equal the decoder's table and the wrong conventions change the scores") {
    const std::vector<LayerInfo> e2b = layer_infos(config_e2b().text);
    const LayerInfo& global = e2b[4];
    const LayerInfo& sliding = e2b[0];
    const std::vector<RopePair> g = rope_pairs(global);
    REQUIRE(g.size() == 256);
    int rotated = 0;
    for (const RopePair& p : g) rotated += p.rotated;
    CHECK(rotated == 64);  // 25% of the pairs
    const std::vector<float> ref_full = rope_inv_freq(512, 1e6, 64, 1.0);
    for (int i = 0; i < 256; ++i) {
        CHECK(g[i].pair == i);
        CHECK(g[i].inv_freq == ref_full[i]);
        CHECK(g[i].rotated == (i < 64));
        if (i >= 64) CHECK(std::isinf(g[i].wavelength));
    }
    CHECK(g[0].inv_freq == 1.0f);
    CHECK(g[0].wavelength == doctest::Approx(2 * std::numbers::pi));
    const std::vector<RopePair> s = rope_pairs(sliding);
    REQUIRE(s.size() == 128);
    const std::vector<float> ref_sliding = rope_inv_freq(256, 1e4, 128, 1.0);
    for (int i = 0; i < 128; ++i) {
        CHECK(s[i].rotated);
        CHECK(s[i].inv_freq == ref_sliding[i]);
    }
    // Wrong conventions: rotary_denominator spreads θ over the 64 rotated pairs; all_pairs turns every pair.
    const std::vector<RopePair> wrong_den = rope_pairs(global, RopeConvention::rotary_denominator);
    CHECK(wrong_den[63].inv_freq == doctest::Approx(std::pow(1e6, -126.0 / 128.0)).epsilon(1e-6));
    CHECK(wrong_den[64].inv_freq == 0.0f);
    const std::vector<RopePair> wrong_all = rope_pairs(global, RopeConvention::all_pairs);
    for (const RopePair& p : wrong_all) CHECK(p.rotated);

    CHECK(rope_score_error(global, RopeConvention::gemma4, 4096) == 0.0);
    const double err_den = rope_score_error(global, RopeConvention::rotary_denominator, 4096);
    const double err_all = rope_score_error(global, RopeConvention::all_pairs, 4096);
    CHECK(err_den > 0.01);
    CHECK(err_all > 0.01);
    CHECK(rope_score_error(global, RopeConvention::all_pairs, 4096) == err_all);  // fixed seed
    CHECK(rope_score_error(global, RopeConvention::all_pairs, 0) == 0.0);         // distance 0: no rotation at all
    // On sliding layers every pair rotates with denominator Dh, so the three conventions coincide.
    CHECK(rope_score_error(sliding, RopeConvention::rotary_denominator, 1024) == 0.0);
    CHECK(rope_score_error(sliding, RopeConvention::all_pairs, 1024) == 0.0);
}

TEST_CASE("recording: a live tiny-26b-a4b run: MoE routing, rope table, attention maps, tokens") {
    G4_SKIP_WITHOUT_PROBES();
    const Recording r = live_run("tiny-26b-a4b");
    const int T = static_cast<int>(kTokens.size());
    CHECK(r.tokens() == T);
    CHECK(r.token_labels == std::vector<std::string>{"2", "17", "40", "111", "250", "33", "7"});
    CHECK(r.layers().size() == 12);
    CHECK(r.find("text.logits") != nullptr);
    CHECK(r.find("text.99.attn_q") == nullptr);
    CHECK(r.probe(Probe::text_attn_q, 3) == r.find("text.3.attn_q"));
    CHECK(r.probe(Probe::text_logits) == r.find("text.logits"));

    const Checkpoint ck = Checkpoint::open("tiny-26b-a4b");
    const int E = 16, K = 4;
    int total = 0;
    for (int l = 0; l < 12; ++l) {
        CAPTURE(l);
        const std::optional<MoeLayerStats> s = moe_stats(r, l);
        REQUIRE(s);
        CHECK(s->T == T);
        CHECK(s->E == E);
        CHECK(s->K == K);
        CHECK(std::accumulate(s->load.begin(), s->load.end(), 0) == T * K);
        total += T * K;
        const std::vector<float> scale = load_f32(ck.tensor(ck.config.text_prefix() + "layers." + std::to_string(l) + ".router.per_expert_scale"));
        const Tensor* probs = r.probe(Probe::text_moe_router_probs, l);
        REQUIRE(probs);
        REQUIRE(s->weights.size() == size_t(T) * K);
        REQUIRE(s->entropy.size() == size_t(T));
        REQUIRE(s->shared_norm.size() == size_t(T));
        REQUIRE(s->routed_norm.size() == size_t(T));
        for (int t = 0; t < T; ++t) {
            // weights = top-k probabilities renormalised to 1, times the chosen expert's scale
            double topk_sum = 0, renorm = 0;
            for (int k = 0; k < K; ++k) {
                const int id = s->ids[t * K + k];
                CHECK(id >= 0);
                CHECK(id < E);
                topk_sum += probs->data[t * E + id];
            }
            for (int k = 0; k < K; ++k) {
                const int id = s->ids[t * K + k];
                CHECK(s->weights[t * K + k] / scale[id] == doctest::Approx(probs->data[t * E + id] / topk_sum).epsilon(1e-5));
                renorm += s->weights[t * K + k] / scale[id];
            }
            CHECK(renorm == doctest::Approx(1.0).epsilon(1e-5));
            CHECK(s->entropy[t] >= 0.0f);
            CHECK(s->entropy[t] <= std::log(16.0) + 1e-5);
            CHECK(s->shared_norm[t] > 0.0f);
            CHECK(s->routed_norm[t] > 0.0f);
        }
    }
    const std::vector<int> all = moe_total_load(r);
    REQUIRE(all.size() == size_t(E));
    CHECK(std::accumulate(all.begin(), all.end(), 0) == total);

    // The recorded rope_inv_freq of a global layer is what rope_pairs gives (the decoder's table).
    const Tensor* inv = r.probe(Probe::text_rope_inv_freq, 5);
    REQUIRE(inv);
    const std::vector<RopePair> pairs = rope_pairs(r.layers()[5]);
    REQUIRE(inv->data.size() == pairs.size());
    for (size_t i = 0; i < pairs.size(); ++i) CHECK(pairs[i].inv_freq == inv->data[i]);

    // Attention maps: zero exactly where the mask forbids, rows summing to 1.
    for (int l : {0, 5}) {
        const std::optional<AttentionMap> m = attention_map(r, l, 3);
        REQUIRE(m);
        CHECK(m->T == T);
        CHECK(m->S == T);
        for (int t = 0; t < T; ++t) {
            double row = 0;
            for (int s = 0; s < T; ++s) {
                if (!mask_allows(r.layers()[l], t, s)) CHECK(m->at(t, s) == 0.0f);
                row += m->at(t, s);
            }
            CHECK(row == doctest::Approx(1.0).epsilon(1e-5));
        }
    }
    CHECK_FALSE(attention_map(r, 0, 8));   // no head 8
    CHECK_FALSE(attention_map(r, 40, 0));  // no layer 40
    CHECK_FALSE(ple_maps(r));              // 26B has no PLE
    CHECK_FALSE(vision_grid(r));
    CHECK_FALSE(audio_summary(r));
}

TEST_CASE("recording: PLE maps of a live tiny-e2b run") {
    G4_SKIP_WITHOUT_PROBES();
    const Recording r = live_run("tiny-e2b");
    const std::optional<PleMaps> m = ple_maps(r);
    REQUIRE(m);
    const int T = static_cast<int>(kTokens.size());
    CHECK(m->L == 10);
    CHECK(m->T == T);
    REQUIRE(m->gate_mean_abs.size() == size_t(10) * T);
    REQUIRE(m->contribution_norm.size() == size_t(10) * T);
    CHECK(m->recorded == std::vector<uint8_t>(10, 1));
    for (int l = 0; l < 10; ++l) {
        const Tensor* gate = r.probe(Probe::text_ple_gate, l);
        const Tensor* out = r.probe(Probe::text_ple_out, l);
        REQUIRE(gate);
        REQUIRE(out);
        const int64_t P = gate->dim(1), D = out->dim(1);
        CHECK(P == 16);
        for (int t = 0; t < T; ++t) {
            double g = 0, n = 0;
            for (int64_t p = 0; p < P; ++p) g += std::fabs(gate->data[t * P + p]);
            for (int64_t d = 0; d < D; ++d) n += double(out->data[t * D + d]) * out->data[t * D + d];
            CHECK(m->gate_mean_abs[l * T + t] == static_cast<float>(g / P));
            CHECK(m->contribution_norm[l * T + t] == static_cast<float>(std::sqrt(n)));
        }
    }
    CHECK_FALSE(moe_stats(r, 0));
    CHECK(moe_total_load(r).empty());
}

TEST_CASE("recording: vision grid of the tiny-e2b photo golden") {
    const Recording r = Recording::from_trace(golden("tiny-e2b-photo70.npz"));
    CHECK(r.config().name == "tiny-e2b");
    const std::optional<VisionGrid> g = vision_grid(r);
    REQUIRE(g);
    CHECK(g->patch_rows == 21);
    CHECK(g->patch_cols == 27);
    CHECK(g->pool == 3);
    CHECK(g->cells_rows == 7);
    CHECK(g->cells_cols == 9);
    CHECK(g->patch_px == 16);
    const Tensor* pooled = r.probe(Probe::vision_pooled);
    REQUIRE(pooled);
    CHECK(pooled->dim(0) == g->cells_rows * g->cells_cols);
    CHECK(r.probe(Probe::vision_patches)->dim(0) == g->patch_rows * g->patch_cols);
    CHECK(r.tokens() == 0);  // the golden holds the tower's probes only
    CHECK(r.token_labels.empty());
}

TEST_CASE("recording: audio summary and windows of the tiny-e2b goldens") {
    const Recording speech = Recording::from_trace(golden("tiny-e2b-speech.npz"));
    const std::optional<AudioSummary> a = audio_summary(speech);
    REQUIRE(a);
    CHECK(a->mel_frames == 291);
    CHECK(a->steps == 73);
    CHECK(a->soft_tokens == 73);
    CHECK(a->chunk == 12);
    CHECK(a->left == 12);
    CHECK(a->right == 0);
    CHECK(audio_window(*a, 0) == std::pair<int, int>{0, 0});
    CHECK(audio_window(*a, 5) == std::pair<int, int>{0, 5});
    CHECK(audio_window(*a, 20) == std::pair<int, int>{9, 20});
    CHECK(audio_window(*a, 72) == std::pair<int, int>{61, 72});
    AudioSummary lookahead = *a;
    lookahead.right = 3;
    CHECK(audio_window(lookahead, 20) == std::pair<int, int>{9, 22});
    CHECK(audio_window(lookahead, 72) == std::pair<int, int>{61, 72});

    // The window is where the recorded chunked attention puts its weight: probe slot m is key t − (left − 1) + m.
    const Recording audio = Recording::from_trace(golden("tiny-e2b-audio.npz"));
    const std::optional<AudioSummary> b = audio_summary(audio);
    REQUIRE(b);
    CHECK(b->mel_frames == 150);
    CHECK(b->steps == 38);
    const Tensor* w = audio.probe(Probe::audio_attn_weights, 0);
    REQUIRE(w);
    REQUIRE(w->dim(2) == b->left);
    for (int h = 0; h < w->dim(0); ++h)
        for (int t = 0; t < b->steps; ++t) {
            const auto [first, last] = audio_window(*b, t);
            for (int m = 0; m < b->left; ++m) {
                const int key = t - (b->left - 1) + m;
                const float weight = w->data[(int64_t(h) * b->steps + t) * b->left + m];
                CAPTURE(t);
                CAPTURE(key);
                CHECK((weight > 0.0f) == (key >= first && key <= last));
            }
        }
}

TEST_CASE("recording: attention_tile max-pools blocks, repeats cells when enlarging, clamps the range") {
    // w[t, s] = 10·t + s on a 4 × 6 map, so each block's max is its bottom-right cell.
    std::vector<float> w(24);
    for (int t = 0; t < 4; ++t)
        for (int s = 0; s < 6; ++s) w[t * 6 + s] = float(10 * t + s);
    const AttentionMap m{4, 6, w.data()};
    CHECK(attention_tile(m, 0, 4, 0, 6, 2, 3) == std::vector<float>{11, 13, 15, 31, 33, 35});
    CHECK(attention_tile(m, 0, 4, 0, 6, 1, 1) == std::vector<float>{35});
    CHECK(attention_tile(m, 0, 4, 0, 6, 4, 6) == w);  // one cell per block
    // Uneven split: row edges ⌊r·4/3⌋ = 0, 1, 2, 4; column edges ⌊c·6/4⌋ = 0, 1, 3, 4, 6.
    CHECK(attention_tile(m, 0, 4, 0, 6, 3, 4) == std::vector<float>{0, 2, 3, 5, 10, 12, 13, 15, 30, 32, 33, 35});
    // Enlarging: rows [1, 3) onto 4 rows, columns [4, 6) onto 4 columns: every cell repeated twice.
    CHECK(attention_tile(m, 1, 3, 4, 6, 4, 4) == std::vector<float>{14, 14, 15, 15, 14, 14, 15, 15, 24, 24, 25, 25, 24, 24, 25, 25});
    // Out-of-range requests are clamped to the map; an empty range gives zeros.
    CHECK(attention_tile(m, -5, 100, -1, 100, 2, 3) == std::vector<float>{11, 13, 15, 31, 33, 35});
    CHECK(attention_tile(m, 3, 3, 0, 6, 2, 2) == std::vector<float>(4, 0.0f));
    CHECK(attention_tile(m, 0, 4, 0, 6, 0, 3).empty());
}

TEST_CASE("recording: save and from_trace round trip and errors that name the file") {
    test::TempDir dir("recording");
    const Recording r = live_run("tiny-e2b");
    const std::string path = dir.file("run.npz");
    r.save(path);
    const Recording back = Recording::from_trace(path);  // config found from meta.model
    CHECK(back.config().name == "tiny-e2b");
    CHECK(back.meta().model == "tiny-e2b");
    CHECK(back.meta().prompt == "live");
    CHECK(back.meta().backend == "ref");
    CHECK(back.meta().tokens == r.meta().tokens);
    CHECK(back.token_labels == r.token_labels);
    REQUIRE(back.tensors().size() == r.tensors().size());
    for (size_t i = 0; i < r.tensors().size(); ++i) {
        CHECK(back.tensors()[i].name == r.tensors()[i].name);
        CHECK(back.tensors()[i].shape == r.tensors()[i].shape);
        CHECK(back.tensors()[i].data == r.tensors()[i].data);
    }
    CHECK_FALSE(compare_recordings(back, r, 0.0).any_over());
    CHECK(Recording::from_trace(path, "tiny-e2b").tensors().size() == r.tensors().size());

    const std::string missing = dir.file("nothing-here.npz");
    try {
        Recording::from_trace(missing);
        FAIL("expected an Error");
    } catch (const Error& e) {
        CHECK(test::contains(e.what(), missing));
    }
    const std::string anonymous = dir.file("anonymous.npz");
    {
        NpzWriter out(anonymous);
        const float x[2] = {1, 2};
        out.add_f32("text.logits", x, {1, 2});
        out.close();
    }
    try {
        Recording::from_trace(anonymous);
        FAIL("expected an Error");
    } catch (const Error& e) {
        CHECK(test::contains(e.what(), anonymous));
        CHECK(test::contains(e.what(), "meta.model"));
    }
    CHECK(Recording::from_trace(anonymous, "tiny-e2b").tokens() == 1);  // a model given on the side works
    const std::string unknown = dir.file("unknown.npz");
    write_trace(unknown, {{"text.logits", {1, 2}, {1, 2}}}, TraceMeta{"no-such-model", "", "", {5}, "ref", kToolVersion});
    try {
        Recording::from_trace(unknown);
        FAIL("expected an Error");
    } catch (const Error& e) {
        CHECK(test::contains(e.what(), unknown));
        CHECK(test::contains(e.what(), "no-such-model"));
    }
    CHECK_THROWS_AS(Recording::from_trace(anonymous, "no-such-model"), Error);
}

TEST_CASE("recording: compare_recordings names the first divergence and layer_of_probe") {
    G4_SKIP_WITHOUT_PROBES();
    const Recording r = live_run("tiny-e2b");
    std::vector<RecordingSink::Entry> perturbed = entries_of(r);
    for (RecordingSink::Entry& e : perturbed)
        if (e.name == "text.3.attn_o") e.data[5] += 1.0f;
    const Recording bad = Recording::from_probes(r.config(), perturbed, r.meta());
    const TraceDiff diff = compare_recordings(bad, r, 1e-6);
    REQUIRE(diff.any_over());
    CHECK(diff.probes[diff.first_over].name == "text.3.attn_o");
    CHECK(layer_of_probe(diff.probes[diff.first_over].name) == 3);
    CHECK(diff.only_in_candidate.empty());
    CHECK(diff.only_in_reference.empty());

    CHECK(layer_of_probe("text.7.attn_q") == 7);
    CHECK(layer_of_probe("text.logits") == -1);
    CHECK(layer_of_probe("vision.12.attn_v") == 12);
    CHECK(layer_of_probe("audio.mel") == -1);
    CHECK(layer_of_probe("text.x.attn_q") == -1);
    CHECK(layer_of_probe("meta.model") == -1);
}

TEST_CASE("recording: attention computed from recorded q and k equals the recorded weights (tiny-e2b)") {
    G4_SKIP_WITHOUT_PROBES();
    // 20 tokens: longer than tiny-e2b's sliding window (8), so the band shows; layers 6-9 are KV-shared (they read
    // layer 3's or layer 4's keys), layers 4 and 9 global.
    std::vector<int32_t> tokens;
    for (int i = 0; i < 20; ++i) tokens.push_back(static_cast<int32_t>(2 + (i * 37) % 500));
    const Checkpoint ck = Checkpoint::open("tiny-e2b");
    std::vector<NpyArray> arrays =
        trace_forward(ck, TextInput{tokens, {}, {}, {}}, {"text.*.attn_weights", "text.*.attn_q_rope", "text.*.attn_k_rope"}, {});
    const Recording with_weights = Recording::from_arrays(ck.config, arrays, "test");
    std::vector<NpyArray> qk;
    for (NpyArray& a : arrays)
        if (a.name.find("attn_weights") == std::string::npos) qk.push_back(a);
    const Recording lazy = Recording::from_arrays(ck.config, qk, "test");
    const int T = static_cast<int>(tokens.size());
    const int L = ck.config.text.num_hidden_layers, H = ck.config.text.num_attention_heads;
    for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h) {
            CAPTURE(l);
            CAPTURE(h);
            const std::optional<AttentionSource> rec = attention_source(with_weights, l, h);
            const std::optional<AttentionSource> comp = attention_source(lazy, l, h);
            REQUIRE(rec);
            REQUIRE(comp);
            CHECK_FALSE(rec->computed);
            CHECK(comp->computed);
            CHECK(comp->T == T);
            CHECK(comp->S == T);
            CHECK(comp->key_layer == lazy.layers()[l].kv_source);
            const std::vector<float> a = attention_rows(with_weights, l, h, 0, T);
            const std::vector<float> b = attention_rows(lazy, l, h, 0, T);
            REQUIRE(a.size() == size_t(T) * T);
            REQUIRE(b.size() == a.size());
            double err = 0, ref = 0;
            for (int t = 0; t < T; ++t)
                for (int s = 0; s < T; ++s) {
                    const double x = a[size_t(t) * T + s], y = b[size_t(t) * T + s];
                    err += (x - y) * (x - y);
                    ref += x * x;
                    if (!mask_allows(lazy.layers()[l], t, s)) CHECK(y == 0.0);
                }
            CHECK(err / ref < 1e-12);
            // tiles: every row (rows_per_block 0) is attention_tile of the recorded map; sampled rows never exceed it
            const std::vector<float> ta = attention_tile(*rec, 0, T, 0, T, 7, 5);
            const std::vector<float> tb = attention_tile(*comp, 0, T, 0, T, 7, 5);
            const std::vector<float> tc = attention_tile(*comp, 0, T, 0, T, 7, 5, 1);
            REQUIRE(ta.size() == tb.size());
            for (size_t i = 0; i < ta.size(); ++i) {
                CHECK(tb[i] == doctest::Approx(ta[i]).epsilon(1e-5));
                CHECK(tc[i] <= tb[i]);
            }
        }
    CHECK_FALSE(attention_source(lazy, 0, H));  // no such head
    CHECK(attention_rows(lazy, 0, H, 0, T).empty());
    // Without the keys there is nothing to compute from.
    std::vector<NpyArray> q_only;
    for (const NpyArray& a : qk)
        if (a.name.find("attn_q_rope") != std::string::npos) q_only.push_back(a);
    CHECK_FALSE(attention_source(Recording::from_arrays(ck.config, q_only, "test"), 0, 0));
}

TEST_CASE("recording: a computed attention source on hand-made q and k") {
    // One head, Dh 2, T = S = 3 on a global layer: row 2's scores are q2·k = (0, 1, 2) → softmax e^(s−2) / Σ.
    const ModelConfig cfg = config_for_variant("tiny-e2b");
    const int g = 4;  // a global layer of tiny-e2b with its own keys
    REQUIRE(cfg.text.is_global(g));
    const int H = cfg.text.num_attention_heads, Dh = 2;
    std::vector<float> q(size_t(3) * H * Dh, 0.0f), k = {0, 0, 1, 0, 2, 0};
    for (int t = 0; t < 3; ++t) q[size_t(t) * H * Dh] = 1.0f;  // head 0: q = (1, 0)
    TraceMeta meta;
    meta.model = "tiny-e2b";
    const Recording r = Recording::from_probes(
        cfg, {{"text.4.attn_q_rope", {3, H, Dh}, q}, {"text.4.attn_k_rope", {3, 1, Dh}, k}}, meta);
    const std::vector<float> w = attention_rows(r, g, 0, 0, 3);
    REQUIRE(w.size() == 9);
    const double z1 = 1 + std::exp(1.0), z2 = 1 + std::exp(1.0) + std::exp(2.0);
    const std::vector<double> want = {1, 0, 0, 1 / z1, std::exp(1.0) / z1, 0, 1 / z2, std::exp(1.0) / z2, std::exp(2.0) / z2};
    for (int i = 0; i < 9; ++i) CHECK(w[i] == doctest::Approx(want[i]).epsilon(1e-6));
    // a sliding layer with its window: tiny-e2b layer 0 (window 8) on 3 tokens sees everything causal; head 1 has q = 0
    CHECK(attention_rows(r, 0, 0, 0, 3).empty());  // layer 0 has no probes
    const std::vector<float> uniform = attention_rows(r, g, 1, 2, 3);
    REQUIRE(uniform.size() == 3);
    for (float v : uniform) CHECK(v == doctest::Approx(1.0 / 3));
}
