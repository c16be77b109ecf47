// attention.cpp — Gemma4TextAttention.forward plus eager_attention_forward (modeling_gemma4.py), for one layer.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gemma4 {

void attention_forward(const TextConfig& cfg, const TextWeights& w, int l, TextActivations& a, KvCache& cache,
                       const int64_t* positions, const ForwardOptions& opts) {
    const TextLayerWeights& lw = w.layers[l];
    const int T = a.T, D = cfg.hidden_size;
    const int H = cfg.num_attention_heads, Hkv = cfg.kv_heads(l), Dh = cfg.layer_head_dim(l);
    const float eps = static_cast<float>(cfg.rms_norm_eps);
    const float* inv_freq = (cfg.is_global(l) ? w.inv_freq_full : w.inv_freq_sliding).data();
    ProbeSink* probes = opts.probes;

    // Queries: project, RMSNorm over each head's Dh (with weight), rotate.
    matmul(a.attn_q.data(), a.attn_norm.data(), lw.q_proj, T, opts.backend);
    G4_PROBE(probes, Probe::text_attn_q, l, probe_view(a.attn_q, {T, H, Dh}));
    rms_norm(a.attn_q.data(), a.attn_q.data(), lw.q_norm.data(), int64_t(T) * H, Dh, eps);
    G4_PROBE(probes, Probe::text_attn_q_normed, l, probe_view(a.attn_q, {T, H, Dh}));
    rope_rotate_half(a.attn_q.data(), T, H, Dh, positions, inv_freq);
    G4_PROBE(probes, Probe::text_attn_q_rope, l, probe_view(a.attn_q, {T, H, Dh}));

    // Keys and values of this layer's own (non-shared) cache. With K=V the value is the raw key projection, taken
    // before k_norm and RoPE; values get the weightless v_norm and no rotation.
    if (!cfg.is_kv_shared(l)) {
        const int64_t kv_floats = int64_t(T) * Hkv * Dh;
        matmul(a.attn_k.data(), a.attn_norm.data(), lw.k_proj, T, opts.backend);
        G4_PROBE(probes, Probe::text_attn_k, l, probe_view(a.attn_k, {T, Hkv, Dh}));
        if (cfg.k_eq_v(l)) std::copy_n(a.attn_k.data(), kv_floats, a.attn_v.data());
        else matmul(a.attn_v.data(), a.attn_norm.data(), lw.v_proj, T, opts.backend);
        rms_norm(a.attn_k.data(), a.attn_k.data(), lw.k_norm.data(), int64_t(T) * Hkv, Dh, eps);
        G4_PROBE(probes, Probe::text_attn_k_normed, l, probe_view(a.attn_k, {T, Hkv, Dh}));
        rope_rotate_half(a.attn_k.data(), T, Hkv, Dh, positions, inv_freq);
        G4_PROBE(probes, Probe::text_attn_k_rope, l, probe_view(a.attn_k, {T, Hkv, Dh}));
        rms_norm(a.attn_v.data(), a.attn_v.data(), nullptr, int64_t(T) * Hkv, Dh, eps);
        G4_PROBE(probes, Probe::text_attn_v, l, probe_view(a.attn_v, {T, Hkv, Dh}));
        cache.append(l, a.attn_k.data(), a.attn_v.data(), positions, T);
    }

    // A KV-shared layer attends over its source layer's keys (same kind, already updated this step).
    const LayerKv& kv = cache.layers[cfg.kv_source_layer(l)];
    const int64_t S = kv.rows();
    const int window = cfg.window(l);
    const int group = H / Hkv;  // GQA: query head h reads KV head h / group
    const bool want_weights = probes != nullptr && probes->wants(Probe::text_attn_weights, l);
    // Image blocks matter only on the "vision" bidirectional models, and only if this step holds an image.
    const std::vector<int32_t>& block = cache.image_block_of_position;
    const bool use_blocks = cfg.use_bidirectional_attention == "vision" && opts.image_mask != ImageMask::causal && cache.has_image_blocks;
    if (want_weights) a.attn_weights.assign(int64_t(H) * T * S, 0.0f);

#pragma omp parallel
    {
        std::vector<float> scores(static_cast<size_t>(S));
#pragma omp for collapse(2) schedule(static)
        for (int h = 0; h < H; ++h) {
            for (int t = 0; t < T; ++t) {
                const float* q = a.attn_q.data() + (int64_t(t) * H + h) * Dh;
                const int kvh = h / group;
                // scores = q·k (scale 1.0) where the mask allows, −inf elsewhere; softmax in float32
                for (int64_t s = 0; s < S; ++s) {
                    const bool allowed =
                        use_blocks ? attention_allowed(positions[t], kv.positions[s], window,
                                                       block[positions[t]] >= 0 && block[positions[t]] == block[kv.positions[s]],
                                                       opts.image_mask)
                                   : attention_allowed(positions[t], kv.positions[s], window);
                    if (!allowed) {
                        scores[s] = -std::numeric_limits<float>::infinity();
                        continue;
                    }
                    const float* k = kv.k.data() + (s * Hkv + kvh) * Dh;
                    float dot = 0.0f;
                    for (int d = 0; d < Dh; ++d) dot += q[d] * k[d];
                    scores[s] = dot;
                }
                softmax(scores.data(), static_cast<int>(S));
                // out[t, h] = Σ_s p[s] · v[s, kvh]
                float* out = a.attn_out.data() + (int64_t(t) * H + h) * Dh;
                std::fill(out, out + Dh, 0.0f);
                for (int64_t s = 0; s < S; ++s) {
                    if (scores[s] == 0.0f) continue;
                    const float* v = kv.v.data() + (s * Hkv + kvh) * Dh;
                    for (int d = 0; d < Dh; ++d) out[d] += scores[s] * v[d];
                }
                if (want_weights) std::copy(scores.begin(), scores.end(), a.attn_weights.begin() + (int64_t(h) * T + t) * S);
            }
        }
    }
    if (want_weights) G4_PROBE(probes, Probe::text_attn_weights, l, probe_view(a.attn_weights, {H, T, S}));
    G4_PROBE(probes, Probe::text_attn_out, l, probe_view(a.attn_out, {T, int64_t(H) * Dh}));

    matmul(a.attn_o.data(), a.attn_out.data(), lw.o_proj, T, opts.backend);
    G4_PROBE(probes, Probe::text_attn_o, l, probe_view(a.attn_o, {T, D}));
}

}  // namespace gemma4
