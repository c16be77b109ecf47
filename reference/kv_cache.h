// kv_cache.h — keys and values kept between forward steps, one entry per layer that computes its own K/V.
// Full-attention layers keep every position; sliding layers keep only their window (trimmed at the end of each step,
// so that a prefill longer than the window still sees all of its own keys). KV-shared layers store nothing: they read
// their source layer's entry (TextConfig::kv_source_layer). Values are float32.
// k and v are storage with room to spare (capacity doubles as the cache grows); the first rows() rows are the cache.
// Rows move only through Backend::copy (append, trim, growth), so on the OpenCL backend the cache lives on the device
// and its host vectors are never read.
#pragma once

#include <cstdint>
#include <vector>

#include "backend.h"
#include "config.h"

namespace gemma4 {

struct LayerKv {
    int kv_heads = 0, head_dim = 0;
    std::vector<float> k;            // [capacity, Hkv, Dh], rows [0, S) after k_norm and RoPE
    std::vector<float> v;            // [capacity, Hkv, Dh], rows [0, S) after v_norm
    std::vector<int64_t> positions;  // [S] absolute position of each row
    int64_t rows() const { return static_cast<int64_t>(positions.size()); }
    int64_t row_floats() const { return int64_t(kv_heads) * head_dim; }
};

struct KvCache {
    std::vector<LayerKv> layers;  // indexed by layer; empty for KV-shared layers
    int64_t length = 0;           // tokens processed so far = position of the next token
    std::vector<int32_t> image_block_of_position;  // image run of each position so far, −1 for text (bidirectional mask)
    bool has_image_blocks = false;                 // any entry above is >= 0

    explicit KvCache(const TextConfig& cfg);
    // Appends T rows to layer l (k, v: [T, Hkv, Dh]), copied by `be`.
    void append(int l, const float* k, const float* v, const int64_t* positions, int T, Backend& be);
    // After a step: sliding layers drop rows no future query can see (they keep the last `window` positions).
    void trim(const TextConfig& cfg, Backend& be);
    int64_t bytes() const;  // float32 storage in use
};

}  // namespace gemma4
