// footprint.cpp — KV-cache size per layer kind (footprint.h). Sliding layers keep only their window; KV-shared layers
// keep nothing of their own; K=V layers still cache V separately (V is v_norm of the raw projection, K is normed and
// rotated, so they differ).
#include "footprint.h"

#include <algorithm>

namespace gemma4 {

Footprint kv_footprint(const TextConfig& t, int64_t context) {
    Footprint f;
    f.context = context;
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        if (t.is_kv_shared(l)) continue;
        KvFootprint& k = t.is_global(l) ? f.full : f.sliding;
        const int64_t tokens = t.is_global(l) ? context : std::min<int64_t>(context, t.window(l));
        const int64_t per_token = 2LL * t.kv_heads(l) * t.layer_head_dim(l);
        k.layers_with_cache += 1;
        k.tokens_cached = tokens;
        k.elems_per_token = per_token;
        k.total_elems += tokens * per_token;
    }
    return f;
}

}  // namespace gemma4
