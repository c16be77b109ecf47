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

namespace {

// Storage for at least `need` floats whose first `used` are those of `buf` (moved by the backend, not the host).
void reserve_rows(std::vector<float>& buf, int64_t used, int64_t need, Backend& be) {
    if (need <= static_cast<int64_t>(buf.size())) return;
    std::vector<float> bigger(static_cast<size_t>(std::max<int64_t>(need, 2 * static_cast<int64_t>(buf.size()))));
    be.on_alloc(bigger);
    be.copy(bigger.data(), buf.data(), used);
    be.on_free(buf);
    buf.swap(bigger);
}

}  // namespace

void KvCache::append(int l, const float* k, const float* v, const int64_t* positions, int T, Backend& be) {
    LayerKv& kv = layers.at(l);
    const int64_t used = kv.rows() * kv.row_floats(), n = kv.row_floats() * T;
    reserve_rows(kv.k, used, used + n, be);
    reserve_rows(kv.v, used, used + n, be);
    be.copy(kv.k.data() + used, k, n);
    be.copy(kv.v.data() + used, v, n);
    kv.positions.insert(kv.positions.end(), positions, positions + T);
}

void KvCache::trim(const TextConfig& cfg, Backend& be) {
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
        LayerKv& kv = layers[l];
        const int window = cfg.window(l);
        if (cfg.is_kv_shared(l) || window == 0 || kv.rows() <= window) continue;
        // The next query sits at position `length`; it sees keys > length − window, i.e. at most window − 1 cached
        // rows. Keeping `window` rows is one more than needed and keeps the rule easy to state.
        const int64_t drop = kv.rows() - window;
        const int64_t keep = int64_t(window) * kv.row_floats(), from = drop * kv.row_floats();
        be.copy(kv.k.data(), kv.k.data() + from, keep);
        be.copy(kv.v.data(), kv.v.data() + from, keep);
        kv.positions.erase(kv.positions.begin(), kv.positions.begin() + drop);
    }
}

int64_t KvCache::bytes() const {
    int64_t b = 0;
    for (const LayerKv& kv : layers) b += 2 * kv.rows() * kv.row_floats() * 4;
    return b;
}

}  // namespace gemma4
