// footprint.h — what a model needs in memory at a given context: weights as stored, the PLE table (which can stay
// on disk, memory-mapped), and the KV cache per layer kind. The "which variant fits my laptop" numbers of
// `gemma4 info --context N`. Counts elements; the caller picks bytes per element.
#pragma once

#include <cstdint>

#include "config.h"

namespace gemma4 {

struct KvFootprint {
    int layers_with_cache = 0;     // layers that store K/V (KV-shared layers read another layer's cache)
    int64_t tokens_cached = 0;     // per layer: min(context, window) for sliding, context for full
    int64_t elems_per_token = 0;   // per layer: K and V, Hkv x Dh each
    int64_t total_elems = 0;       // over all such layers at this context
};

struct Footprint {
    int64_t context = 0;
    KvFootprint sliding;
    KvFootprint full;
    int64_t kv_elems() const { return sliding.total_elems + full.total_elems; }
};

Footprint kv_footprint(const TextConfig& t, int64_t context);

}  // namespace gemma4
