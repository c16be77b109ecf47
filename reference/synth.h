// synth.h — full-width synthetic checkpoints: the registry's every tensor filled with deterministic pseudo-random
// values (scaled by fan-in so activations stay O(1) through all layers), written in the Hugging Face layout
// (config.json, generation_config.json, bf16 safetensors shards + model.safetensors.index.json). For speed and memory
// measurements of real-size models without downloading one; the values mean nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config.h"
#include "dtype.h"

namespace gemma4 {

struct SynthOptions {
    DType dtype = DType::BF16;
    uint64_t seed = 1;
    uint64_t max_shard_bytes = 5'000'000'000;  // transformers' classic "5GB" shards; one file (no index) if it all fits
};

// Progress callback: bytes written so far, total bytes, the file being written.
using SynthProgress = std::function<void(uint64_t done, uint64_t total, const std::string& file)>;

// Writes cfg's checkpoint into dir (created if missing; refuses a directory that already holds config.json).
// Returns the number of bytes of tensor data written.
uint64_t write_synthetic_checkpoint(const ModelConfig& cfg, const std::string& dir, const SynthOptions& opts,
                                    const SynthProgress& progress);

// How one tensor's values are drawn: a constant (clip bounds), uniform (norm weights and scales, about 1) or normal
// with std 1/sqrt(fan-in) (weights). value(i) is element i; rules are cheap to evaluate in any order.
struct SynthRule {
    enum class Kind { Constant, Uniform, Normal } kind = Kind::Normal;
    uint64_t key = 0;
    float a = 0, b = 0;  // constant a; uniform [a, b); normal with std a
    SynthRule& constant(float v) { kind = Kind::Constant; a = v; return *this; }
    SynthRule& uniform(float lo, float hi) { kind = Kind::Uniform; a = lo; b = hi; return *this; }
    SynthRule& normal(float std) { kind = Kind::Normal; a = std; return *this; }
    float value(uint64_t i) const;
};
SynthRule synth_rule(const std::string& tensor_name, const std::vector<int64_t>& shape, uint64_t seed);

}  // namespace gemma4
