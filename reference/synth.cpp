// synth.cpp — synthetic checkpoints (synth.h). Values come from a counter-based hash, so any chunk of any tensor can
// be produced independently (in parallel, in any order) and two runs with the same seed write the same bytes.
#include "synth.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "error.h"
#include "registry.h"
#include "safe_write.h"
#include "safetensors.h"

namespace fs = std::filesystem;

namespace gemma4 {

namespace {

uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

uint64_t name_hash(const std::string& s) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    return h;
}

// Approximately standard normal: the sum of four 16-bit uniforms (Irwin-Hall), centred and scaled to unit variance.
float unit_normal(uint64_t bits) {
    float sum = 0;
    for (int k = 0; k < 4; ++k) sum += static_cast<float>((bits >> (16 * k)) & 0xFFFF) / 65535.0f;
    return (sum - 2.0f) * 1.7320508f;  // sqrt(12 / 4)
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

SynthRule synth_rule(const std::string& name, const std::vector<int64_t>& shape, uint64_t seed) {
    SynthRule r;
    r.key = name_hash(name) ^ mix64(seed);
    // Clip bounds of clippable linears: finite, wide enough to clip only outliers.
    if (ends_with(name, "input_min") || ends_with(name, "output_min")) return r.constant(-8.0f);
    if (ends_with(name, "input_max") || ends_with(name, "output_max")) return r.constant(8.0f);
    if (shape.size() <= 1) {
        if (name.find("bias") != std::string::npos) return r.normal(0.02f);
        if (ends_with(name, "per_dim_scale")) return r.normal(0.1f);
        return r.uniform(0.95f, 1.05f);  // norm weights, layer scalars, router scales, std_scale: about 1
    }
    if (name.find("position_embedding_table") != std::string::npos) return r.normal(0.02f);
    // Weights: std 1/sqrt(fan-in) keeps every projection's output O(1). The PLE table is looked up, then scaled by
    // sqrt(P): its fan-in is P, not its row length L·P.
    int64_t fan_in = 1;
    for (size_t d = 1; d < shape.size(); ++d) fan_in *= shape[d];
    if (shape.size() == 3 && name.find("experts") != std::string::npos) fan_in = shape[2];  // [E, out, in]
    if (name.find("embed_tokens_per_layer") != std::string::npos) fan_in = 256;
    return r.normal(1.0f / std::sqrt(static_cast<float>(fan_in)));
}

float SynthRule::value(uint64_t i) const {
    if (kind == Kind::Constant) return a;
    const uint64_t bits = mix64(key ^ (i * 0xD6E8FEB86659FD93ULL));
    if (kind == Kind::Uniform) return a + (b - a) * static_cast<float>(bits >> 40) / static_cast<float>(1ULL << 24);
    return a * unit_normal(bits);
}

uint64_t write_synthetic_checkpoint(const ModelConfig& cfg, const std::string& dir, const SynthOptions& opts,
                                    const SynthProgress& progress) {
    if (opts.dtype != DType::BF16 && opts.dtype != DType::F32) throw Error("synthetic checkpoints are written in bf16 or f32");
    std::error_code ec;
    if (fs::exists(fs::path(dir) / "config.json", ec))
        throw Error(dir + ": already holds a config.json; choose an empty directory (nothing was overwritten)");
    fs::create_directories(dir, ec);
    if (ec) throw Error(dir + ": cannot create directory: " + ec.message());

    // Tensors in registry order, cut into shards of at most max_shard_bytes (a tensor is never split).
    const size_t elem = dtype_size(opts.dtype);
    std::vector<std::vector<TensorToWrite>> shards(1);
    uint64_t shard_bytes = 0, total = 0;
    for_each_tensor(cfg, [&](const TensorSpec& s) {
        const uint64_t bytes = static_cast<uint64_t>(s.numel()) * elem;
        if (shard_bytes > 0 && shard_bytes + bytes > opts.max_shard_bytes) {
            shards.emplace_back();
            shard_bytes = 0;
        }
        shards.back().push_back(TensorToWrite{s.name, opts.dtype, s.shape, {}});
        shard_bytes += bytes;
        total += bytes;
    });

    auto write_text = [&](const std::string& name, const std::string& text) {
        const std::string path = (fs::path(dir) / name).string();
        write_file_safely(path, [&](const std::string& tmp) {
            std::ofstream out(tmp, std::ios::binary);
            out << text;
            out.close();
            if (!out) throw Error(path + ": write failed (disk full?)");
        });
    };

    const int n = static_cast<int>(shards.size());
    nlohmann::json weight_map = nlohmann::json::object();
    uint64_t done = 0;
    for (int k = 0; k < n; ++k) {
        char file[64];
        if (n == 1) std::snprintf(file, sizeof file, "model.safetensors");
        else std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", k + 1, n);
        const std::vector<TensorToWrite>& tensors = shards[k];
        write_safetensors_streamed((fs::path(dir) / file).string(), tensors, {{"format", "pt"}},
                                   [&](size_t i, uint64_t offset, std::byte* dst, size_t nbytes) {
                                       const SynthRule rule = synth_rule(tensors[i].name, tensors[i].shape, opts.seed);
                                       const int64_t first = static_cast<int64_t>(offset / elem), count = static_cast<int64_t>(nbytes / elem);
#pragma omp parallel for schedule(static)
                                       for (int64_t j = 0; j < count; ++j) {
                                           const float v = rule.value(static_cast<uint64_t>(first + j));
                                           if (opts.dtype == DType::F32) {
                                               std::memcpy(dst + j * 4, &v, 4);
                                           } else {
                                               const uint16_t h = f32_to_bf16(v);
                                               std::memcpy(dst + j * 2, &h, 2);
                                           }
                                       }
                                       done += nbytes;
                                       if (progress) progress(done, total, file);
                                   });
        for (const TensorToWrite& t : tensors) weight_map[t.name] = file;
    }
    if (n > 1)
        write_text("model.safetensors.index.json",
                   nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) + "\n");
    write_text("generation_config.json", nlohmann::json{{"bos_token_id", cfg.text.bos_token_id},
                                                        {"eos_token_id", cfg.text.eos_token_ids},
                                                        {"pad_token_id", cfg.text.pad_token_id}}
                                                 .dump(2) + "\n");
    write_text("config.json", config_to_json(cfg));  // last: a directory with config.json is complete
    return total;
}

}  // namespace gemma4
