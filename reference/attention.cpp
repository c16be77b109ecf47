// attention.cpp — Gemma4TextAttention.forward plus eager_attention_forward (modeling_gemma4.py), for one layer.
#include "attention.h"

#include <algorithm>
#include <vector>

namespace gemma4 {

void attention_forward(const TextConfig& cfg, const TextWeights& w, int l, TextActivations& a, KvCache& cache,
                       const int64_t* positions, const ForwardOptions& opts) {
    const TextLayerWeights& lw = w.layers[l];
    const int T = a.T, D = cfg.hidden_size;
    const int H = cfg.num_attention_heads, Hkv = cfg.kv_heads(l), Dh = cfg.layer_head_dim(l);
    const float eps = static_cast<float>(cfg.rms_norm_eps);
    const float* inv_freq = (cfg.is_global(l) ? w.inv_freq_full : w.inv_freq_sliding).data();
    ProbeSink* probes = opts.probes;
    Backend& be = *opts.backend;

    // Project q, and k and v for a layer with its own cache (with K=V, v is k's copy below), all from the normed
    // input: one call, since a backend may run projections that share their input as one pass over the weights.
    const bool own_kv = !cfg.is_kv_shared(l);
    std::vector<MatmulOut> projections = {{a.attn_q.data(), &lw.q_proj}};
    if (own_kv) projections.push_back({a.attn_k.data(), &lw.k_proj});
    if (own_kv && !cfg.k_eq_v(l)) projections.push_back({a.attn_v.data(), &lw.v_proj});
    be.matmul_group(a.attn_norm.data(), T, projections);

    // Queries: RMSNorm over each head's Dh (with weight), rotate.
    G4_PROBE_BE(be, probes, Probe::text_attn_q, l, probe_view(a.attn_q, {T, H, Dh}));
    be.rms_norm(a.attn_q.data(), a.attn_q.data(), lw.q_norm.data(), int64_t(T) * H, Dh, eps);
    G4_PROBE_BE(be, probes, Probe::text_attn_q_normed, l, probe_view(a.attn_q, {T, H, Dh}));
    be.rope(a.attn_q.data(), T, H, Dh, positions, inv_freq);
    G4_PROBE_BE(be, probes, Probe::text_attn_q_rope, l, probe_view(a.attn_q, {T, H, Dh}));

    // Keys and values of this layer's own (non-shared) cache. With K=V the value is the raw key projection, taken
    // before k_norm and RoPE; values get the weightless v_norm and no rotation.
    if (own_kv) {
        const int64_t kv_floats = int64_t(T) * Hkv * Dh;
        G4_PROBE_BE(be, probes, Probe::text_attn_k, l, probe_view(a.attn_k, {T, Hkv, Dh}));
        if (cfg.k_eq_v(l)) be.copy(a.attn_v.data(), a.attn_k.data(), kv_floats);
        be.rms_norm(a.attn_k.data(), a.attn_k.data(), lw.k_norm.data(), int64_t(T) * Hkv, Dh, eps);
        G4_PROBE_BE(be, probes, Probe::text_attn_k_normed, l, probe_view(a.attn_k, {T, Hkv, Dh}));
        be.rope(a.attn_k.data(), T, Hkv, Dh, positions, inv_freq);
        G4_PROBE_BE(be, probes, Probe::text_attn_k_rope, l, probe_view(a.attn_k, {T, Hkv, Dh}));
        be.rms_norm(a.attn_v.data(), a.attn_v.data(), nullptr, int64_t(T) * Hkv, Dh, eps);
        G4_PROBE_BE(be, probes, Probe::text_attn_v, l, probe_view(a.attn_v, {T, Hkv, Dh}));
        cache.append(l, a.attn_k.data(), a.attn_v.data(), positions, T, be);
    }

    // A KV-shared layer attends over its source layer's keys (same kind, already updated this step).
    const LayerKv& kv = cache.layers[cfg.kv_source_layer(l)];
    const int64_t S = kv.rows();
    const int window = cfg.window(l);
    const bool want_weights = probes != nullptr && probes->wants(Probe::text_attn_weights, l);
    // Image blocks matter only on the "vision" bidirectional models, and only if the context holds an image: then
    // each query and key carries the index of its image run (−1 for text).
    const bool use_blocks = cfg.use_bidirectional_attention == "vision" && opts.image_mask != ImageMask::causal && cache.has_image_blocks;
    std::vector<int32_t> q_block, k_block;
    if (use_blocks) {
        for (int t = 0; t < T; ++t) q_block.push_back(cache.image_block_of_position[positions[t]]);
        for (int64_t s = 0; s < S; ++s) k_block.push_back(cache.image_block_of_position[kv.positions[s]]);
    }
    if (want_weights) {
        a.attn_weights.assign(int64_t(H) * T * S, 0.0f);
        be.on_alloc(a.attn_weights);
    }
    const AttentionShape shape{T, static_cast<int>(S), H, Hkv, Dh, window};
    be.attention(a.attn_out.data(), want_weights ? a.attn_weights.data() : nullptr, a.attn_q.data(), kv.k.data(), kv.v.data(), positions,
                 kv.positions.data(), use_blocks ? q_block.data() : nullptr, use_blocks ? k_block.data() : nullptr, opts.image_mask, shape);
    if (want_weights) G4_PROBE_BE(be, probes, Probe::text_attn_weights, l, probe_view(a.attn_weights, {H, T, S}));
    G4_PROBE_BE(be, probes, Probe::text_attn_out, l, probe_view(a.attn_out, {T, int64_t(H) * Dh}));

    be.matmul(a.attn_o.data(), a.attn_out.data(), lw.o_proj, T);
    G4_PROBE_BE(be, probes, Probe::text_attn_o, l, probe_view(a.attn_o, {T, D}));
}

}  // namespace gemma4
