// long_trace.cpp — the synthetic long trace of long_trace.h.
#include "long_trace.h"

#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "config.h"
#include "error.h"
#include "ops.h"
#include "trace.h"

namespace gemma4::viz {

namespace {

// Uniform in [−1, 1) from mt19937, whose sequence the standard fixes (the distributions are implementation-defined).
float uniform(std::mt19937& gen) { return static_cast<float>(gen()) / 2147483648.0f - 1.0f; }

// [T, heads, Dh]: per head a fixed direction u (norm ≈ `strength`) rotated to each position, plus noise.
std::vector<float> rotated(std::mt19937& gen, int T, int heads, int Dh, const std::vector<float>& inv_freq, float strength,
                           float noise) {
    std::vector<float> base(static_cast<size_t>(heads) * Dh);
    for (float& v : base) v = uniform(gen) * strength * std::sqrt(3.0f / Dh);
    std::vector<float> x(static_cast<size_t>(T) * heads * Dh);
    for (int64_t t = 0; t < T; ++t)
        for (int i = 0; i < heads * Dh; ++i) x[t * heads * Dh + i] = base[i] + noise * uniform(gen);
    std::vector<int64_t> positions(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) positions[t] = t;
    rope_rotate_half(x.data(), T, heads, Dh, positions.data(), inv_freq.data());
    return x;
}

}  // namespace

long long make_long_trace(const std::string& path, int tokens) {
    if (tokens < 1 || tokens > (1 << 20)) throw Error("--tokens must be between 1 and 1048576, got " + std::to_string(tokens));
    const ModelConfig cfg = config_for_variant("tiny-e2b");
    const TextConfig& text = cfg.text;
    const int T = tokens, H = text.num_attention_heads;
    std::mt19937 gen(20250417u);
    std::vector<RecordingSink::Entry> entries;
    for (int l : {0, 4, 9}) {
        if (l >= text.num_hidden_layers) continue;
        const int Dh = text.layer_head_dim(l), Hkv = text.kv_heads(l);
        const RopeParams rope = text.rope(l);
        const std::vector<float> inv = rope_inv_freq(Dh, rope.theta, text.rotated_pairs(l), rope.factor);
        const std::string prefix = "text." + std::to_string(l) + ".";
        entries.push_back({prefix + "attn_q_rope", {T, H, Dh}, rotated(gen, T, H, Dh, inv, 2.5f, 0.6f)});
        if (!text.is_kv_shared(l)) {
            std::vector<float> k = rotated(gen, T, Hkv, Dh, inv, 2.5f, 0.6f);
            for (int i = 0; i < Hkv * Dh; ++i) k[i] *= 4.0f;  // token 0: a strong key, the sink many heads rest on
            entries.push_back({prefix + "attn_k_rope", {T, Hkv, Dh}, std::move(k)});
        }
    }
    TraceMeta meta;
    meta.model = "tiny-e2b";
    meta.prompt = "synthetic " + std::to_string(T) + "-token trace (gemma4-inspector --make-long-trace)";
    meta.backend = "synthetic";
    meta.tool_version = kToolVersion;
    meta.tokens.resize(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) meta.tokens[t] = 2 + (int64_t(t) * 37) % (text.vocab_size - 2);
    write_trace(path, entries, meta);
    return static_cast<long long>(std::filesystem::file_size(path));
}

}  // namespace gemma4::viz
