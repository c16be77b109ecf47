// moe.h — the mixture-of-experts branch of a 26B-A4B layer (Gemma4TextRouter + Gemma4TextExperts): a router over all
// experts, top-k, renormalisation, per-expert scale, and the chosen experts' gated MLPs, summed. The dense MLP beside
// it (the "shared expert") is mlp_forward; OpenCL dispatch lives in kernels/.
#pragma once

#include "text_model.h"

namespace gemma4 {

// Reads a.x (the residual stream after attention: the router does NOT read the normed MLP input) and a.mlp_out (the
// dense branch); writes a.moe_combined = post_feedforward_layernorm_1(mlp_out) + post_feedforward_layernorm_2(experts).
void moe_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts);

// The router's selection (top-k, renormalise, per-expert scale) is moe_route in ops.h.

}  // namespace gemma4
