// kv_cache.cpp — the per-layer K/V store (kv_cache.h).
#include "kv_cache.h"

#include <algorithm>

namespace gemma4 {

KvCache::KvCache(const TextConfig& cfg) : layers(cfg.num_hidden_layers) {
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
        if (cfg.is_kv_shared(l)) continue;
        layers[l].kv_heads = cfg.kv_heads(l);
        layers[l].head_dim = cfg.layer_head_dim(l);
    }
}

void KvCache::append(int l, const float* k, const float* v, const int64_t* positions, int T) {
    LayerKv& kv = layers.at(l);
    const int64_t n = kv.row_floats() * T;
    kv.k.insert(kv.k.end(), k, k + n);
    kv.v.insert(kv.v.end(), v, v + n);
    kv.positions.insert(kv.positions.end(), positions, positions + T);
}

void KvCache::trim(const TextConfig& cfg) {
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
        LayerKv& kv = layers[l];
        const int window = cfg.window(l);
        if (cfg.is_kv_shared(l) || window == 0 || kv.rows() <= window) continue;
        // The next query sits at position `length`; it sees keys > length − window, i.e. at most window − 1 cached
        // rows. Keeping `window` rows is one more than needed and keeps the rule easy to state.
        const int64_t drop = kv.rows() - window;
        kv.k.erase(kv.k.begin(), kv.k.begin() + drop * kv.row_floats());
        kv.v.erase(kv.v.begin(), kv.v.begin() + drop * kv.row_floats());
        kv.positions.erase(kv.positions.begin(), kv.positions.begin() + drop);
    }
}

int64_t KvCache::bytes() const {
    int64_t b = 0;
    for (const LayerKv& kv : layers) b += int64_t(kv.k.size() + kv.v.size()) * 4;
    return b;
}

}  // namespace gemma4
