// moe.cpp — router and experts (moe.h), mirroring Gemma4TextRouter.forward and Gemma4TextExperts.forward.
#include "moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace gemma4 {

void moe_route(const float* probs, int E, int K, const float* per_expert_scale, int32_t* ids, float* weights) {
    std::vector<int32_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + K, order.end(),
                      [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
    float sum = 0.0f;
    for (int j = 0; j < K; ++j) sum += probs[order[j]];
    for (int j = 0; j < K; ++j) {
        ids[j] = order[j];
        weights[j] = probs[order[j]] / sum * per_expert_scale[order[j]];
    }
}

void moe_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts) {
    const int T = a.T, D = cfg.hidden_size, E = cfg.num_experts, K = cfg.top_k_experts, I = cfg.moe_intermediate_size;
    const float eps = static_cast<float>(cfg.rms_norm_eps);
    ProbeSink* probes = opts.probes;

    // Dense branch's own post-norm.
    rms_norm(a.moe_dense_post.data(), a.mlp_out.data(), lw.post_feedforward_layernorm_1.data(), T, D, eps);
    G4_PROBE(probes, Probe::text_moe_dense_post, l, probe_view(a.moe_dense_post, {T, D}));

    // Router: weightless RMSNorm of the residual, × scale × D^-1/2, project to E logits, softmax over all experts.
    rms_norm(a.moe_router_in.data(), a.x.data(), nullptr, T, D, eps);
    const float root = static_cast<float>(std::pow(static_cast<double>(D), -0.5));
    for (int t = 0; t < T; ++t)
        for (int d = 0; d < D; ++d) a.moe_router_in[int64_t(t) * D + d] *= lw.router_scale[d] * root;
    matmul(a.moe_router_logits.data(), a.moe_router_in.data(), lw.router_proj, T, opts.backend);
    G4_PROBE(probes, Probe::text_moe_router_logits, l, probe_view(a.moe_router_logits, {T, E}));
    a.moe_router_probs = a.moe_router_logits;
    for (int t = 0; t < T; ++t) softmax(a.moe_router_probs.data() + int64_t(t) * E, E);
    G4_PROBE(probes, Probe::text_moe_router_probs, l, probe_view(a.moe_router_probs, {T, E}));
    for (int t = 0; t < T; ++t)
        moe_route(a.moe_router_probs.data() + int64_t(t) * E, E, K, lw.router_per_expert_scale.data(),
                  a.moe_topk_ids.data() + int64_t(t) * K, a.moe_topk_weights.data() + int64_t(t) * K);
    for (int64_t i = 0; i < int64_t(T) * K; ++i) a.moe_topk_ids_f32[i] = static_cast<float>(a.moe_topk_ids[i]);
    G4_PROBE(probes, Probe::text_moe_topk_ids, l, probe_view(a.moe_topk_ids_f32, {T, K}));
    G4_PROBE(probes, Probe::text_moe_topk_weights, l, probe_view(a.moe_topk_weights, {T, K}));

    // Experts read pre_feedforward_layernorm_2 of the residual.
    rms_norm(a.moe_experts_in.data(), a.x.data(), lw.pre_feedforward_layernorm_2.data(), T, D, eps);
    G4_PROBE(probes, Probe::text_moe_experts_in, l, probe_view(a.moe_experts_in, {T, D}));

    // Each expert runs once on the tokens that chose it (experts in ascending order, as transformers loops):
    // y = down_e(gelu_tanh(gate) ⊙ up) with [gate; up] = gate_up_e(u), added to the output with the token's weight.
    std::fill(a.moe_experts_out.begin(), a.moe_experts_out.end(), 0.0f);
    std::vector<float> u, gate_up, hidden, y;
    for (int e = 0; e < E; ++e) {
        std::vector<int> tokens;
        std::vector<float> token_weight;
        for (int t = 0; t < T; ++t)
            for (int j = 0; j < K; ++j)
                if (a.moe_topk_ids[int64_t(t) * K + j] == e) {
                    tokens.push_back(t);
                    token_weight.push_back(a.moe_topk_weights[int64_t(t) * K + j]);
                }
        if (tokens.empty()) continue;
        const int n = static_cast<int>(tokens.size());
        u.resize(int64_t(n) * D);
        for (int i = 0; i < n; ++i) std::copy_n(a.moe_experts_in.data() + int64_t(tokens[i]) * D, D, u.data() + int64_t(i) * D);
        gate_up.resize(int64_t(n) * 2 * I);
        matmul(gate_up.data(), u.data(), expert_slice(*lw.experts_gate_up, e), n, opts.backend);
        hidden.resize(int64_t(n) * I);
        for (int i = 0; i < n; ++i)
            for (int k = 0; k < I; ++k) {
                const float gate = gate_up[int64_t(i) * 2 * I + k], up = gate_up[int64_t(i) * 2 * I + I + k];
                hidden[int64_t(i) * I + k] = gelu_tanh(gate) * up;
            }
        y.resize(int64_t(n) * D);
        matmul(y.data(), hidden.data(), expert_slice(*lw.experts_down, e), n, opts.backend);
        for (int i = 0; i < n; ++i)
            for (int d = 0; d < D; ++d) a.moe_experts_out[int64_t(tokens[i]) * D + d] += y[int64_t(i) * D + d] * token_weight[i];
    }
    G4_PROBE(probes, Probe::text_moe_experts_out, l, probe_view(a.moe_experts_out, {T, D}));

    rms_norm(a.moe_experts_post.data(), a.moe_experts_out.data(), lw.post_feedforward_layernorm_2.data(), T, D, eps);
    G4_PROBE(probes, Probe::text_moe_experts_post, l, probe_view(a.moe_experts_post, {T, D}));
    add(a.moe_combined.data(), a.moe_dense_post.data(), a.moe_experts_post.data(), int64_t(T) * D);
}

}  // namespace gemma4
