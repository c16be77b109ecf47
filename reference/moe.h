// moe.h — the mixture-of-experts branch of a 26B-A4B layer (Gemma4TextRouter + Gemma4TextExperts): a router over all
// experts, top-k, renormalisation, per-expert scale, and the chosen experts' gated MLPs, summed. The dense MLP beside
// it (the "shared expert") is mlp_forward; OpenCL dispatch lives in kernels/.
#pragma once

#include "text_model.h"

namespace gemma4 {

// Reads a.x (the residual stream after attention: the router does NOT read the normed MLP input) and a.mlp_out (the
// dense branch); writes a.moe_combined = post_feedforward_layernorm_1(mlp_out) + post_feedforward_layernorm_2(experts).
void moe_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts);

// Router for one token: probs[E] = softmax(proj(rmsnorm(x) · scale · D^-1/2)); the K largest (ties: lower index
// first, as torch.topk returns them), renormalised to sum 1, times per_expert_scale[id].
void moe_route(const float* probs, int E, int K, const float* per_expert_scale, int32_t* ids, float* weights);

}  // namespace gemma4
