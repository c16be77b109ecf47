// moe.cpp — router and experts (moe.h), mirroring Gemma4TextRouter.forward and Gemma4TextExperts.forward.
#include "moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace gemma4 {

void moe_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts) {
    const int T = a.T, D = cfg.hidden_size, E = cfg.num_experts, K = cfg.top_k_experts, I = cfg.moe_intermediate_size;
    const float eps = static_cast<float>(cfg.rms_norm_eps);
    ProbeSink* probes = opts.probes;
    Backend& be = *opts.backend;

    // Dense branch's own post-norm.
    be.rms_norm(a.moe_dense_post.data(), a.mlp_out.data(), lw.post_feedforward_layernorm_1.data(), T, D, eps);
    G4_PROBE_BE(be, probes, Probe::text_moe_dense_post, l, probe_view(a.moe_dense_post, {T, D}));

    // Router: weightless RMSNorm of the residual, × scale × D^-1/2, project to E logits, softmax over all experts.
    be.rms_norm(a.moe_router_in.data(), a.x.data(), nullptr, T, D, eps);
    be.mul_cols(a.moe_router_in.data(), T, D, lw.router_scale.data(), static_cast<float>(std::pow(static_cast<double>(D), -0.5)));
    be.matmul(a.moe_router_logits.data(), a.moe_router_in.data(), lw.router_proj, T);
    G4_PROBE_BE(be, probes, Probe::text_moe_router_logits, l, probe_view(a.moe_router_logits, {T, E}));
    be.copy(a.moe_router_probs.data(), a.moe_router_logits.data(), int64_t(T) * E);
    be.softmax_rows(a.moe_router_probs.data(), T, E);
    G4_PROBE_BE(be, probes, Probe::text_moe_router_probs, l, probe_view(a.moe_router_probs, {T, E}));
    be.moe_route(a.moe_router_probs.data(), T, E, K, lw.router_per_expert_scale.data(), a.moe_topk_ids.data(), a.moe_topk_weights.data());
    // Which tokens go to which expert is host control flow: the ids and weights come back (T·K each).
    be.to_host(a.moe_topk_ids);
    be.to_host(a.moe_topk_weights);
    for (int64_t i = 0; i < int64_t(T) * K; ++i) a.moe_topk_ids_f32[i] = static_cast<float>(a.moe_topk_ids[i]);
    G4_PROBE(probes, Probe::text_moe_topk_ids, l, probe_view(a.moe_topk_ids_f32, {T, K}));
    G4_PROBE_BE(be, probes, Probe::text_moe_topk_weights, l, probe_view(a.moe_topk_weights, {T, K}));

    // Experts read pre_feedforward_layernorm_2 of the residual.
    be.rms_norm(a.moe_experts_in.data(), a.x.data(), lw.pre_feedforward_layernorm_2.data(), T, D, eps);
    G4_PROBE_BE(be, probes, Probe::text_moe_experts_in, l, probe_view(a.moe_experts_in, {T, D}));

    // Each expert runs once on the tokens that chose it (experts in ascending order, as transformers loops):
    // y = down_e(gelu_tanh(gate) ⊙ up) with [gate; up] = gate_up_e(u), added to the output with the token's weight.
    // Which tokens go where is control flow (the ids are on the host); the loop is Backend::moe_experts (backend.cpp).
    MoeExpertsShape shape{T, D, E, K, I, lw.experts_gate_up, lw.experts_down,
                          a.moe_u.data(), a.moe_gate_up.data(), a.moe_hidden.data(), a.moe_y.data()};
    be.moe_experts(a.moe_experts_out.data(), a.moe_experts_in.data(), a.moe_topk_ids.data(), a.moe_topk_weights.data(), shape);
    G4_PROBE_BE(be, probes, Probe::text_moe_experts_out, l, probe_view(a.moe_experts_out, {T, D}));

    be.rms_norm(a.moe_experts_post.data(), a.moe_experts_out.data(), lw.post_feedforward_layernorm_2.data(), T, D, eps);
    G4_PROBE_BE(be, probes, Probe::text_moe_experts_post, l, probe_view(a.moe_experts_post, {T, D}));
    be.add(a.moe_combined.data(), a.moe_dense_post.data(), a.moe_experts_post.data(), int64_t(T) * D);
}

}  // namespace gemma4
